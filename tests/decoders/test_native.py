"""Native (uncompressed) pixel data that no real test file covers, built with lazydcm.testing.synth.

Each case is checked against the truth the file was built from and, where pydicom
reads it correctly, against pydicom 3 as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers import assert_same_frame
from pydicom.pixels import pixel_array as pydicom_pixel_array

import lazydcm
from lazydcm.testing import synth
from lazydcm.uids import DEFLATED_EXPLICIT_LE, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

RNG = np.random.default_rng(20261124)


def _write(tmp_path: Path, frames: np.ndarray, image: synth.ImagePixel, **kwargs: object) -> Path:
    ts = str(kwargs.pop("transfer_syntax_uid", EXPLICIT_LE))
    little = ts != EXPLICIT_BE
    value = synth.native_pixels(frames, image, little_endian=little)
    path = tmp_path / "synthetic.dcm"
    path.write_bytes(synth.dicom_file(image, value, transfer_syntax_uid=ts, **kwargs))
    return path


@pytest.mark.parametrize(
    ("rows", "columns", "frames"), [(3, 3, 7), (1, 1, 13), (1, 3, 8), (5, 7, 9)]
)
def test_unaligned_1_bit_frames(tmp_path: Path, rows: int, columns: int, frames: int) -> None:
    # Arrange: 1-bit frames whose size is not a multiple of 8 bits are packed bit
    # to bit (PS3.5 8.1.1), so frame 1 of a 3x3 image starts at bit 9.
    truth = RNG.integers(0, 2, (frames, rows, columns), dtype=np.uint8)
    image = synth.ImagePixel(rows, columns, bits_allocated=1, number_of_frames=frames)
    path = _write(tmp_path, truth, image)

    # Act
    with lazydcm.FrameSequence(path) as seq:
        got = [seq[i] for i in range(len(seq))]
        encoded = seq.encoded_frame(frames - 1)

    # Assert
    for i in range(frames):
        np.testing.assert_array_equal(got[i], truth[i])
    n = rows * columns
    assert len(encoded) == -(-frames * n // 8) - (frames - 1) * n // 8


@pytest.mark.parametrize(("rows", "columns", "frames"), [(1, 3, 8), (5, 7, 9), (3, 5, 9)])
def test_pydicom_gets_unaligned_1_bit_frames_wrong(
    tmp_path: Path, rows: int, columns: int, frames: int
) -> None:
    # pydicom 3.0 reads ceil(n/8) bytes from the frame's first byte, which misses
    # the frame's last bits when it starts late in its first byte; lazydcm reads
    # the byte span [floor(i*n/8), ceil((i+1)*n/8)).  Frame 0 is always right.
    truth = RNG.integers(0, 2, (frames, rows, columns), dtype=np.uint8)
    image = synth.ImagePixel(rows, columns, bits_allocated=1, number_of_frames=frames)
    path = _write(tmp_path, truth, image)

    wrong = []
    for i in range(frames):
        try:
            right = np.array_equal(pydicom_pixel_array(path, index=i), truth[i])
        except ValueError:
            right = False
        if not right:
            wrong.append(i)

    assert 0 not in wrong
    assert wrong, "pydicom is expected to misread a late-starting frame"
    with lazydcm.FrameSequence(path) as seq:
        for i in wrong:
            np.testing.assert_array_equal(seq[i], truth[i])


@pytest.mark.parametrize("signed", [0, 1])
def test_big_endian_32_bit_is_returned_in_native_byte_order(tmp_path: Path, signed: int) -> None:
    dtype = np.dtype("i4" if signed else "u4")
    info = np.iinfo(dtype)
    truth = RNG.integers(info.min, info.max, (4, 6, 5), dtype=dtype)
    image = synth.ImagePixel(
        6, 5, bits_allocated=32, pixel_representation=signed, number_of_frames=4
    )
    path = _write(tmp_path, truth, image, transfer_syntax_uid=EXPLICIT_BE)

    with lazydcm.FrameSequence(path) as seq:
        frames = seq[:]
        assert seq.dtype == dtype
        assert seq.dtype.isnative

    np.testing.assert_array_equal(frames, truth)
    for i in range(4):
        assert_same_frame(frames[i], pydicom_pixel_array(path, index=i))


def test_excess_frames_are_returned_with_a_warning(tmp_path: Path) -> None:
    # Arrange: the data holds 5 frames, Number of Frames says 3.
    truth = RNG.integers(0, 4096, (5, 4, 4), dtype=np.uint16)
    image = synth.ImagePixel(4, 4, bits_stored=12, number_of_frames=3)
    path = _write(tmp_path, truth, image)

    # Act
    with pytest.warns(lazydcm.LazyDcmWarning, match="5 whole frames"):
        seq = lazydcm.FrameSequence(path)

    # Assert: as pydicom does (its dataset route), the extra frames are returned.
    with seq:
        assert len(seq) == 5
        np.testing.assert_array_equal(seq[:], truth)
    with pytest.warns(UserWarning, match="5 frames"):
        expected = pydicom_pixel_array(pydicom.dcmread(path))
    np.testing.assert_array_equal(expected, truth)


@pytest.mark.parametrize("ts", [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE])
def test_bare_dataset_without_preamble_or_meta(tmp_path: Path, ts: str) -> None:
    truth = RNG.integers(-2000, 2000, (2, 8, 9), dtype=np.int16)
    image = synth.ImagePixel(8, 9, pixel_representation=1, number_of_frames=2)
    path = _write(tmp_path, truth, image, transfer_syntax_uid=ts, preamble_and_meta=False)
    assert path.read_bytes()[128:132] != b"DICM"

    with lazydcm.FrameSequence(path) as seq:
        assert seq.info.transfer_syntax_uid == ts
        np.testing.assert_array_equal(seq[:], truth)
    expected = pydicom_pixel_array(path, index=1, transfer_syntax_uid=ts)
    np.testing.assert_array_equal(expected, truth[1])


def test_deflated_dataset_is_inflated_to_a_temporary_file(tmp_path: Path) -> None:
    truth = RNG.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    image = synth.ImagePixel(
        32, 32, samples_per_pixel=3, bits_allocated=8, photometric_interpretation="RGB",
        number_of_frames=3,
    )  # fmt: skip
    path = _write(tmp_path, truth, image, transfer_syntax_uid=DEFLATED_EXPLICIT_LE)

    with lazydcm.FrameSequence(path) as seq:
        frames = seq[:]

    np.testing.assert_array_equal(frames, truth)
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, truth)


@pytest.mark.parametrize("bits_stored", [5, 12, 15])
@pytest.mark.parametrize("signed", [0, 1])
def test_unused_high_bits_are_cleared_and_signs_extended(
    tmp_path: Path, bits_stored: int, signed: int
) -> None:
    # Arrange: samples whose unused high bits hold garbage (PS3.5 8.1.1).
    raw = RNG.integers(0, 1 << 16, (2, 5, 6), dtype=np.uint16)
    image = synth.ImagePixel(
        5, 6, bits_stored=bits_stored, pixel_representation=signed, number_of_frames=2
    )
    path = _write(tmp_path, raw, image)
    value = raw & ((1 << bits_stored) - 1)
    if signed:
        value = value.astype(np.int32)
        value[value >= 1 << (bits_stored - 1)] -= 1 << bits_stored

    with lazydcm.FrameSequence(path) as seq:
        frames = seq[:]

    np.testing.assert_array_equal(frames, value)
    for i in range(2):
        assert_same_frame(frames[i], pydicom_pixel_array(path, index=i))


@pytest.mark.parametrize("planar", [0, 1])
def test_planar_configuration_gives_rows_columns_samples(tmp_path: Path, planar: int) -> None:
    truth = RNG.integers(0, 255, (2, 7, 5, 3), dtype=np.uint8)
    image = synth.ImagePixel(
        7, 5, samples_per_pixel=3, bits_allocated=8, photometric_interpretation="RGB",
        planar_configuration=planar, number_of_frames=2,
    )  # fmt: skip
    path = _write(tmp_path, truth, image)

    with lazydcm.FrameSequence(path) as seq:
        frames = seq[:]
        assert frames[0].flags.c_contiguous

    np.testing.assert_array_equal(frames, truth)
    assert_same_frame(frames[1], pydicom_pixel_array(path, index=1))


@pytest.mark.parametrize("keyword", ["FloatPixelData", "DoubleFloatPixelData"])
def test_float_pixel_data(tmp_path: Path, keyword: str) -> None:
    bits = 32 if keyword == "FloatPixelData" else 64
    truth = RNG.normal(size=(3, 4, 5)).astype(f"f{bits // 8}")
    image = synth.ImagePixel(4, 5, bits_allocated=bits, number_of_frames=3)
    path = _write(tmp_path, truth, image, pixel_keyword=keyword)

    with lazydcm.FrameSequence(path) as seq:
        assert seq.info.pixel_keyword == keyword
        frames = seq[:]

    np.testing.assert_array_equal(frames, truth)
    assert_same_frame(frames[2], pydicom_pixel_array(path, index=2))


@pytest.mark.parametrize("raw", [False, True])
def test_native_ybr_full_422_is_expanded(tmp_path: Path, raw: bool) -> None:
    # YBR_FULL_422 stores Y1 Y2 Cb Cr for each pair of pixels (PS3.3 C.7.6.3.1.2).
    rows, columns, frames_count = 3, 4, 2
    stored = RNG.integers(0, 255, (frames_count, rows * columns * 2), dtype=np.uint8)
    image = synth.ImagePixel(
        rows, columns, samples_per_pixel=3, bits_allocated=8,
        photometric_interpretation="YBR_FULL_422", number_of_frames=frames_count,
    )  # fmt: skip
    path = tmp_path / "ybr422.dcm"
    path.write_bytes(synth.dicom_file(image, stored.tobytes()))

    with lazydcm.FrameSequence(path, raw=raw) as seq:
        frames = seq[:]
        assert seq.photometric_interpretation == ("YBR_FULL" if raw else "RGB")

    if raw:  # each pixel pair shares its chroma samples
        quads = stored.reshape(frames_count, rows, columns // 2, 4)
        np.testing.assert_array_equal(frames[:, :, 0::2, 0], quads[..., 0])
        np.testing.assert_array_equal(frames[:, :, 1::2, 0], quads[..., 1])
        np.testing.assert_array_equal(frames[:, :, 1::2, 1:], quads[..., 2:])
    for i in range(frames_count):
        assert_same_frame(frames[i], pydicom_pixel_array(path, index=i, raw=raw), tolerance=1)


def test_native_ybr_full_422_with_odd_columns_is_refused(tmp_path: Path) -> None:
    # Two pixels share each chroma pair, so a row must hold an even number of them.
    image = synth.ImagePixel(
        3, 5, samples_per_pixel=3, bits_allocated=8, photometric_interpretation="YBR_FULL_422"
    )
    path = tmp_path / "odd.dcm"
    path.write_bytes(synth.dicom_file(image, bytes(30)))

    with pytest.raises(lazydcm.InvalidDicomError, match=r"\(0028,0011\) 'Columns' value 5"):
        lazydcm.FrameSequence(path)
    with pytest.raises(ValueError, match="broadcast"):
        pydicom_pixel_array(path, index=0)


def test_8_bit_ow_in_big_endian_is_unswapped(tmp_path: Path) -> None:
    # 8-bit samples written as OW in big endian are byte-swapped in pairs; with an
    # odd frame length every other frame starts in the middle of a word.
    truth = RNG.integers(0, 255, (4, 3, 3), dtype=np.uint8)
    image = synth.ImagePixel(3, 3, bits_allocated=8, number_of_frames=4)
    value = synth.native_pixels(truth, image, little_endian=False, ow_swap=True)
    path = tmp_path / "ow.dcm"
    path.write_bytes(synth.dicom_file(image, value, transfer_syntax_uid=EXPLICIT_BE, pixel_vr="OW"))

    with lazydcm.FrameSequence(path) as seq:
        frames = seq[:]

    np.testing.assert_array_equal(frames, truth)
    for i in range(4):
        assert_same_frame(frames[i], pydicom_pixel_array(path, index=i))
