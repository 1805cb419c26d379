"""pydicom Dataset input (lazydcm/dataset_input.py): its file when that holds it, else memory.

The oracle is the dataset itself: whatever lazydcm reads -- the file named by
``ds.filename`` or the dataset written out to memory -- its frames are what
``ds.pixel_array`` gives.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_frame, real_file

import lazydcm
from lazydcm.interop.dataset import is_dataset

pydicom = pytest.importorskip("pydicom")

MULTI_FRAME = [
    "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000 lossless
    "emri_small_RLE.dcm",  # RLE Lossless
    "emri_small.dcm",  # native Explicit VR Little Endian
    "emri_small_big_endian.dcm",  # native Explicit VR Big Endian
    "OBXXXX1A_expb_2frame.dcm",  # 8-bit OW in big endian: swapped byte pairs
]
SINGLE_FRAME = ["CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm"]
PIXEL_DATA = 0x7FE00010


def _all_frames(source: object, **options: object) -> np.ndarray:
    """Every frame, stacked (a single frame too), read by lazydcm."""
    with lazydcm.FrameSequence(source, **options) as seq:  # type: ignore[arg-type]
        return seq[:]


def _pydicom_frames(ds: object) -> np.ndarray:
    """``ds.pixel_array`` with a frame axis (pydicom drops it for one frame)."""
    array = ds.pixel_array  # type: ignore[attr-defined]
    frames = int(ds.get("NumberOfFrames", 1) or 1)  # type: ignore[attr-defined]
    return array if frames > 1 else array[None]


def _read_from(ds: object) -> str | None:
    """Where lazydcm reads a dataset from: its file's path, or None (memory)."""
    with lazydcm.FrameSequence(ds) as seq:  # type: ignore[arg-type]
        return seq.location


def _copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(real_file(name).read_bytes())
    return path


def _touch(path: Path) -> None:
    """Give the file another modification time (its bytes unchanged)."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))


# -- read from a file: the file is read ----------------------------------------------


@pytest.mark.parametrize("name", MULTI_FRAME + SINGLE_FRAME)
def test_a_dataset_read_from_a_file_is_read_from_that_file(name: str) -> None:
    # Arrange
    path = real_file(name)
    ds = pydicom.dcmread(path)

    # Act
    with lazydcm.FrameSequence(ds) as seq:
        got = seq[:]
        opened = seq.location

    # Assert
    assert opened == str(path)
    assert_same_frame(got, _pydicom_frames(ds))


@pytest.mark.parametrize("name", MULTI_FRAME)
def test_a_dataset_whose_pixels_were_read_by_pydicom_is_still_read_from_its_file(
    name: str,
) -> None:
    # Arrange: pixel_array converts the raw Pixel Data element, which could then
    # have been changed; lazydcm compares it with the file's bytes.
    path = real_file(name)
    ds = pydicom.dcmread(path)
    expected = _pydicom_frames(ds)

    # Act
    resolved = _read_from(ds)
    got = _all_frames(ds)

    # Assert
    assert resolved == str(path)
    assert_same_frame(got, expected)


def test_a_dataset_read_from_an_open_file_is_read_by_the_files_name() -> None:
    # Arrange
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    with open(path, "rb") as f:
        ds = pydicom.dcmread(f)

    # Act / Assert
    assert _read_from(ds) == str(path)
    assert_same_frame(_all_frames(ds), ds.pixel_array)


def test_pixel_array_and_iter_pixels_take_a_dataset() -> None:
    # Arrange
    ds = pydicom.dcmread(real_file("emri_small_RLE.dcm"))
    expected = ds.pixel_array

    # Act
    whole = lazydcm.pixel_array(ds)
    third = lazydcm.pixel_array(ds, index=3)
    some = list(lazydcm.iter_pixels(ds, indices=[1, 7]))

    # Assert
    assert_same_frame(whole, expected)
    assert_same_frame(third, expected[3])
    assert_same_frame(np.stack(some), expected[[1, 7]])


def test_a_dataset_read_without_its_pixels_is_read_from_its_file() -> None:
    # Arrange: the header from pydicom, the pixels from lazydcm.
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)

    # Act
    got = _all_frames(ds)

    # Assert
    assert _read_from(ds) == str(path)
    assert_same_frame(got, pydicom.dcmread(path).pixel_array)


def test_a_deferred_read_is_read_from_the_file_and_stays_deferred() -> None:
    # Arrange
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    ds = pydicom.dcmread(path, defer_size=256)

    # Act
    got = _all_frames(ds)

    # Assert
    assert ds.get_item(PIXEL_DATA, keep_deferred=True).value is None
    assert_same_frame(got, pydicom.dcmread(path).pixel_array)


def test_workers_and_dask_open_the_datasets_file_by_path() -> None:
    # Arrange
    pytest.importorskip("dask.array")
    ds = pydicom.dcmread(real_file("emri_small_jpeg_2k_lossless.dcm"))
    expected = ds.pixel_array

    # Act
    with lazydcm.FrameSequence(ds) as seq:
        array = seq.to_dask(frames_per_chunk=4)
    got = array.compute(scheduler="threads")

    # Assert
    assert_same_frame(got, expected)


# -- changed, or never a file: the dataset is read from memory ------------------------


@pytest.mark.parametrize("name", MULTI_FRAME + SINGLE_FRAME)
def test_a_dataset_read_from_a_buffer_is_read_from_memory(name: str) -> None:
    # Arrange
    ds = pydicom.dcmread(io.BytesIO(real_file(name).read_bytes()))

    # Act
    with lazydcm.FrameSequence(ds) as seq:
        got = seq[:]
        opened = seq.location
        syntax = seq.info.transfer_syntax_uid

    # Assert: the same transfer syntax, the same frames.
    assert opened is None
    assert syntax == ds.file_meta.TransferSyntaxUID
    assert_same_frame(got, _pydicom_frames(ds))


def test_pixel_data_changed_in_memory_is_what_is_read(tmp_path: Path) -> None:
    # Arrange: a region blanked, as a de-identification tool would.
    path = _copy(tmp_path, "emri_small.dcm")
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.copy()
    frames[:, :8, :8] = 0
    ds.PixelData = frames.astype(frames.dtype.newbyteorder("<")).tobytes()

    # Act
    resolved = _read_from(ds)
    got = _all_frames(ds)

    # Assert
    assert resolved is None
    assert_same_frame(got, frames)
    assert_same_frame(got, ds.pixel_array)


def test_a_dataset_decompressed_in_memory_is_what_is_read() -> None:
    # Arrange: decompress() changes the transfer syntax and the pixel data.
    ds = pydicom.dcmread(real_file("emri_small_jpeg_2k_lossless.dcm"))
    ds.decompress()

    # Act
    with lazydcm.FrameSequence(ds) as seq:
        got = seq[:]
        syntax = seq.info.transfer_syntax_uid

    # Assert
    assert syntax == "1.2.840.10008.1.2.1"
    assert_same_frame(got, ds.pixel_array)


def test_a_changed_pixel_description_is_what_is_read() -> None:
    # Arrange: the same bytes seen as 128 x 32 frames instead of 64 x 64.
    ds = pydicom.dcmread(real_file("emri_small.dcm"))
    ds.Rows, ds.Columns = 128, 32

    # Act
    resolved = _read_from(ds)
    got = _all_frames(ds)

    # Assert
    assert resolved is None
    assert got.shape == (10, 128, 32)
    assert_same_frame(got, ds.pixel_array)


def test_a_dataset_whose_file_changed_is_read_from_memory(tmp_path: Path) -> None:
    # Arrange
    path = _copy(tmp_path, "emri_small_jpeg_2k_lossless.dcm")
    ds = pydicom.dcmread(path)
    _touch(path)

    # Act
    resolved = _read_from(ds)

    # Assert
    assert resolved is None
    assert_same_frame(_all_frames(ds), ds.pixel_array)


def test_a_dataset_whose_file_is_gone_is_read_from_memory(tmp_path: Path) -> None:
    # Arrange
    path = _copy(tmp_path, "emri_small_RLE.dcm")
    ds = pydicom.dcmread(path)
    path.unlink()

    # Act / Assert
    assert_same_frame(_all_frames(ds), ds.pixel_array)


def test_a_dataset_built_in_memory_without_file_meta_is_read() -> None:
    # Arrange
    frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    ds = pydicom.Dataset()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4, 5, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = frames.astype("<u2").tobytes()

    # Act
    got = _all_frames(ds)

    # Assert
    assert_same_frame(got, frames)


def test_the_callers_dataset_is_left_as_it_was() -> None:
    # Arrange: File Meta without the SOP Class and Instance, which lazydcm completes.
    ds = pydicom.Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 2, 2, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"\x01\x02\x03\x04"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    before, meta_before = list(ds.keys()), list(ds.file_meta.keys())

    # Act
    got = lazydcm.pixel_array(ds)

    # Assert
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])
    assert list(ds.keys()) == before
    assert list(ds.file_meta.keys()) == meta_before


# -- errors ---------------------------------------------------------------------------


def test_a_deferred_read_whose_file_changed_is_an_error(tmp_path: Path) -> None:
    # Arrange: neither the file nor the dataset holds what was read.
    path = _copy(tmp_path, "emri_small_jpeg_2k_lossless.dcm")
    ds = pydicom.dcmread(path, defer_size=256)
    _touch(path)

    # Act / Assert
    with pytest.raises(lazydcm.LazyDcmError, match="modified after the dataset was read"):
        lazydcm.FrameSequence(ds)


def test_a_header_only_dataset_whose_file_changed_is_an_error(tmp_path: Path) -> None:
    # Arrange
    path = _copy(tmp_path, "emri_small.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    _touch(path)

    # Act / Assert
    with pytest.raises(lazydcm.LazyDcmError, match="read the dataset again"):
        lazydcm.pixel_array(ds)


def test_a_dataset_without_pixel_data_raises_pixel_data_not_found() -> None:
    # Arrange
    ds = pydicom.Dataset()
    ds.Rows = 4

    # Act / Assert
    with pytest.raises(lazydcm.PixelDataNotFoundError):
        lazydcm.FrameSequence(ds)


def test_a_dataset_pydicom_cannot_write_is_an_invalid_dicom_error() -> None:
    # Arrange
    ds = pydicom.Dataset()
    ds.add_new(0x00280010, "US", "not a number")

    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match=r"could not be written.*\(0028,0010\)"):
        lazydcm.FrameSequence(ds)


def test_an_in_memory_dataset_cannot_make_a_dask_array() -> None:
    # Arrange
    pytest.importorskip("dask.array")
    ds = pydicom.dcmread(io.BytesIO(real_file("emri_small_RLE.dcm").read_bytes()))

    # Act / Assert
    with (
        lazydcm.FrameSequence(ds) as seq,
        pytest.raises(ValueError, match="needs a sequence opened from a path"),
    ):
        seq.to_dask()


# -- recognising a dataset ------------------------------------------------------------


def test_datasets_are_recognised_by_class_not_by_import() -> None:
    # Arrange
    class Dataset:  # the same name, another module
        pass

    # Act / Assert
    assert is_dataset(pydicom.Dataset())
    assert is_dataset(pydicom.dcmread(real_file("CT_small.dcm")))  # FileDataset
    assert not is_dataset(Dataset())
    assert not is_dataset(b"DICM")


def test_path_and_bytes_input_never_import_pydicom() -> None:
    # Arrange
    path = real_file("emri_small_RLE.dcm")
    code = (
        "import sys, lazydcm\n"
        f"lazydcm.pixel_array({str(path)!r})\n"
        f"lazydcm.pixel_array(open({str(path)!r}, 'rb').read())\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'pydicom'])\n"
    )

    # Act
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    # Assert
    assert result.stdout.strip() == "[]"
