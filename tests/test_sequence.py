"""FrameSequence and the function-style API: the public contract of DESIGN.md."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file
from pydicom.pixels import pixel_array as pydicom_pixel_array

import lazydcm
from lazydcm.sources import MemorySource
from lazydcm.testing import synth

RNG = np.random.default_rng(7)
FRAMES = RNG.integers(0, 4096, (12, 6, 5), dtype=np.uint16)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    image = synth.ImagePixel(6, 5, bits_stored=12, number_of_frames=len(FRAMES))
    out = tmp_path / "frames.dcm"
    out.write_bytes(synth.dicom_file(image, synth.native_pixels(FRAMES, image)))
    return out


def test_len_shape_dtype_and_description(path: Path) -> None:
    with lazydcm.FrameSequence(path) as frames:
        assert len(frames) == 12
        assert frames.shape == (12, 6, 5)
        assert frames.frame_shape == (6, 5)
        assert frames.dtype == np.uint16
        assert frames.nbytes == FRAMES.nbytes
        assert frames.offset_table == "native"
        assert frames.photometric_interpretation == "MONOCHROME2"
        assert frames.info.bits_stored == 12
        assert frames.info.number_of_frames == 12
        assert frames.header["Rows"] == 6
        assert frames.decoder == "native"
        assert "12 frames" in repr(frames)


def test_int_negative_slice_and_list_indexing(path: Path) -> None:
    with lazydcm.FrameSequence(path) as frames:
        np.testing.assert_array_equal(frames[3], FRAMES[3])
        np.testing.assert_array_equal(frames[-1], FRAMES[-1])
        np.testing.assert_array_equal(frames[np.int64(2)], FRAMES[2])
        np.testing.assert_array_equal(frames[2:9:3], FRAMES[2:9:3])
        np.testing.assert_array_equal(frames[::-1], FRAMES[::-1])
        np.testing.assert_array_equal(frames[[5, 0, -2]], FRAMES[[5, 0, -2]])
        np.testing.assert_array_equal(frames[np.array([1, 1])], FRAMES[[1, 1]])
        assert frames[5:5].shape == (0, 6, 5)
        assert frames[[]].shape == (0, 6, 5)


def test_arrays_of_indices_and_masks_index_as_in_numpy(path: Path) -> None:
    mask = np.arange(12) % 5 == 1
    with lazydcm.FrameSequence(path) as frames:
        np.testing.assert_array_equal(frames[[[0, 1], [11, -1]]], FRAMES[[[0, 1], [11, -1]]])
        np.testing.assert_array_equal(frames[mask], FRAMES[mask])
        np.testing.assert_array_equal(frames[list(mask)], FRAMES[mask])
        with pytest.raises(IndexError, match=r"mask of shape \(3,\) does not match 12 frames"):
            frames[np.array([True, False, True])]
        with pytest.raises(TypeError, match="must be integers, not float64"):
            frames[np.array([1.0, 2.0])]


@pytest.mark.parametrize("bad", [12, -13, 10**30])
def test_out_of_range_is_index_error(path: Path, bad: int) -> None:
    with lazydcm.FrameSequence(path) as frames, pytest.raises(IndexError, match="out of range"):
        frames[bad]


def test_non_integer_index_is_type_error(path: Path) -> None:
    with lazydcm.FrameSequence(path) as frames, pytest.raises(TypeError):
        frames[1.5]  # type: ignore[call-overload]


def test_iteration_is_in_order(path: Path) -> None:
    with lazydcm.FrameSequence(path) as frames:
        got = list(frames)
        some = list(frames.iter_frames([7, 2, -1]))

    np.testing.assert_array_equal(np.stack(got), FRAMES)
    np.testing.assert_array_equal(np.stack(some), FRAMES[[7, 2, -1]])


@pytest.mark.parametrize("cache_bytes", [0, 1 << 20])
def test_returned_arrays_belong_to_the_caller(path: Path, cache_bytes: int) -> None:
    with lazydcm.FrameSequence(path, cache_bytes=cache_bytes) as frames:
        first = frames[4]
        first[:] = 0  # the caller may write to what it got...
        again = frames[4]  # ...and never sees it in a later read
        assert again.flags.writeable

    np.testing.assert_array_equal(again, FRAMES[4])
    np.testing.assert_array_equal(first, 0)  # still valid after close()


def test_cache_counts_hits_misses_and_stays_within_budget(path: Path) -> None:
    frame_bytes = FRAMES[0].nbytes
    with lazydcm.FrameSequence(path, cache_bytes=3 * frame_bytes) as frames:
        for i in [0, 1, 0, 2, 3, 0]:
            frames[i]
        info = frames.cache_info()

    assert (info.hits, info.misses) == (2, 4)
    assert info.current_bytes == 3 * frame_bytes == info.max_bytes
    assert info.evictions == 1


def test_cache_disabled_holds_nothing(path: Path) -> None:
    with lazydcm.FrameSequence(path, cache_bytes=0) as frames:
        frames[0], frames[0]
        assert frames.cache_info().current_bytes == 0


def test_closed_sequence_refuses_reads(path: Path) -> None:
    frames = lazydcm.FrameSequence(path)
    frames.close()
    frames.close()  # idempotent
    assert frames.closed
    with pytest.raises(ValueError, match="closed"):
        frames[0]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_negative_cache_budget_leaves_no_file_open(path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))

    with pytest.raises(ValueError, match=">= 0") as caught:
        lazydcm.FrameSequence(path, cache_bytes=-1)

    assert caught.value is not None  # the traceback (and its frames) are still held
    assert len(os.listdir("/proc/self/fd")) == before


def test_sources_bytes_file_object_and_bytesource(path: Path) -> None:
    data = path.read_bytes()
    with open(path, "rb") as handle:
        handle.seek(17)
        with lazydcm.FrameSequence(handle) as from_file:
            np.testing.assert_array_equal(from_file[3], FRAMES[3])
        assert handle.tell() == 17
        assert not handle.closed
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data), MemorySource(data)):
        with lazydcm.FrameSequence(source) as frames:
            np.testing.assert_array_equal(frames[-1], FRAMES[-1])


def test_encoded_frame_is_a_zero_copy_view(path: Path) -> None:
    with lazydcm.FrameSequence(path) as frames:
        encoded = frames.encoded_frame(2)
        assert encoded.readonly
        assert len(encoded) == FRAMES[2].nbytes
        np.testing.assert_array_equal(np.frombuffer(encoded, "<u2").reshape(6, 5), FRAMES[2])
    encoded.release()


def test_one_sequence_shared_by_threads(path: Path) -> None:
    errors: list[int] = []
    with lazydcm.FrameSequence(path, cache_bytes=2 * FRAMES[0].nbytes) as frames:

        def worker(seed: int) -> None:
            rng = np.random.default_rng(seed)
            wanted = rng.integers(0, 12, 300).tolist()
            errors.extend(i for i in wanted if not np.array_equal(frames[i], FRAMES[i]))

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_pixel_array_and_iter_pixels_have_pydicoms_shapes(path: Path) -> None:
    one = real_file("CT_small.dcm")
    assert lazydcm.pixel_array(one).shape == pydicom_pixel_array(one).shape == (128, 128)
    assert lazydcm.pixel_array(path).shape == pydicom_pixel_array(path).shape == (12, 6, 5)
    np.testing.assert_array_equal(lazydcm.pixel_array(path, index=4), FRAMES[4])
    got = list(lazydcm.iter_pixels(path, indices=[3, 1]))
    np.testing.assert_array_equal(np.stack(got), FRAMES[[3, 1]])
    assert len(list(lazydcm.iter_pixels(path))) == 12


def test_truncated_file_gives_every_complete_frame(path: Path, tmp_path: Path) -> None:
    # Arrange: cut the file in the middle of frame 7.
    data = path.read_bytes()
    frame_bytes = FRAMES[0].nbytes
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 4 * frame_bytes - frame_bytes // 2])

    # Act
    with pytest.warns(lazydcm.LazyDcmWarning, match="7 of 12 frames are complete"):
        frames = lazydcm.FrameSequence(cut)

    # Assert
    with frames:
        assert len(frames) == 12
        np.testing.assert_array_equal(frames[:7], FRAMES[:7])
        with pytest.raises(lazydcm.TruncatedFileError, match="frame 7"):
            frames[7]


def test_opening_a_1000_frame_file_reads_no_pixel_bytes(tmp_path: Path) -> None:
    # Arrange: a byte source that records every byte range it hands out.
    class Counting:
        def __init__(self, data: bytes) -> None:
            self.inner = MemorySource(data, name="counting")
            self.name, self.size = self.inner.name, self.inner.size
            self.ranges: list[tuple[int, int]] = []

        def view(self, offset: int, n: int) -> memoryview:
            self.ranges.append((offset, offset + n))
            return self.inner.view(offset, n)

        @property
        def status(self) -> None:
            return None

        @property
        def zero_copy(self) -> bool:
            return False

        def read_into(self, offset: int, out: memoryview) -> int:
            self.ranges.append((offset, offset + out.nbytes))
            return self.inner.read_into(offset, out)

        def read_many(self, ranges: list[tuple[int, int]]) -> list[memoryview]:
            self.ranges.extend((offset, offset + n) for offset, n in ranges)
            return self.inner.read_many(ranges)

        def advise(self, offset: int, n: int, needed: bool) -> None:
            pass

        def close(self) -> None:
            pass

    image = synth.ImagePixel(16, 16, number_of_frames=1000)
    frames = np.arange(1000 * 256, dtype=np.uint16).reshape(1000, 16, 16)
    data = synth.dicom_file(image, synth.native_pixels(frames, image))
    pixel_start = len(data) - frames.nbytes
    source = Counting(data)

    # Act
    with lazydcm.FrameSequence(source) as seq:
        opened = list(source.ranges)
        np.testing.assert_array_equal(seq[999], frames[999])
        after = source.ranges[len(opened) :]

    # Assert: the walk asked for header bytes only, and one frame read for frame 999.
    assert opened
    assert max(end for _, end in opened) <= pixel_start
    assert after == [(pixel_start + 999 * 512, pixel_start + 1000 * 512)]


def test_import_lazydcm_imports_no_codec() -> None:
    code = (
        "import sys, lazydcm\n"
        "heavy = {'pydicom', 'pylibjpeg', 'libjpeg', 'openjpeg', 'rle', 'imagecodecs', "
        "'PIL', 'highdicom'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_real_multiframe_file_streams_like_pydicom() -> None:
    path = real_file("emri_small.dcm")
    with lazydcm.FrameSequence(path) as frames:
        for i, frame in enumerate(frames):
            np.testing.assert_array_equal(frame, pydicom_pixel_array(path, index=i))


def test_truncated_file_direct_path(tmp_path: Path) -> None:
    # 16 of 16 bits stored: frames are read straight into the returned array.
    frames = RNG.integers(0, 1 << 16, (5, 4, 3), dtype=np.uint16)
    image = synth.ImagePixel(4, 3, number_of_frames=5)
    data = synth.dicom_file(image, synth.native_pixels(frames, image))
    cut = tmp_path / "cut16.dcm"
    cut.write_bytes(data[:-30])

    with pytest.warns(lazydcm.LazyDcmWarning, match="3 of 5 frames are complete"):
        seq = lazydcm.FrameSequence(cut, cache_bytes=0)
    with seq:
        np.testing.assert_array_equal(seq[:3], frames[:3])
        with pytest.raises(lazydcm.TruncatedFileError, match="frame 3"):
            seq[3]
