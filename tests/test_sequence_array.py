"""np.asarray(frames): FrameSequence.__array__ (lazydcm/sequence.py), NumPy 2 protocol."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm.frames import FrameReader
from lazydcm.sequence import DEFAULT_ARRAY_WARN_BYTES
from lazydcm.testing import synth


@pytest.fixture(scope="module")
def native_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 distinct 16x12 uint16 frames (2,304 bytes decoded)."""
    path = tmp_path_factory.mktemp("array") / "native.dcm"
    frames = np.arange(6 * 16 * 12, dtype=np.uint16).reshape(6, 16, 12)
    synth.write_native(path, frames, synth.ImagePixel(16, 12, number_of_frames=6))
    return path


@pytest.mark.parametrize(
    "name",
    ["emri_small_jpeg_2k_lossless.dcm", "examples_ybr_color.dcm", "CT_small.dcm"],
)
def test_asarray_stacks_every_frame(name: str) -> None:
    # Arrange
    with lazydcm.FrameSequence(real_file(name)) as seq:
        expected = seq[:]

        # Act
        got = np.asarray(seq)
        shape = seq.shape

    # Assert: a single-frame file keeps its frame axis, as seq.shape does.
    assert got.shape == shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_array_with_a_dtype_converts(native_file: Path) -> None:
    # Act
    with lazydcm.FrameSequence(native_file) as seq:
        got = np.array(seq, dtype=np.float32)
        expected = seq[:].astype(np.float32)

    # Assert
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_the_array_belongs_to_the_caller(native_file: Path) -> None:
    # Arrange
    with lazydcm.FrameSequence(native_file) as seq:
        first = np.asarray(seq)
        before = first[0].copy()

        # Act
        first[0] = 0
        again = np.asarray(seq)

    # Assert
    assert first.flags.writeable
    np.testing.assert_array_equal(again[0], before)


def test_copy_true_is_a_copy_and_copy_false_is_refused(native_file: Path) -> None:
    with lazydcm.FrameSequence(native_file) as seq:
        np.testing.assert_array_equal(np.array(seq, copy=True), seq[:])
        with pytest.raises(ValueError, match="cannot avoid a copy"):
            np.array(seq, copy=False)


def test_asarray_warns_past_the_size_chosen(native_file: Path) -> None:
    # Arrange: 2,304 bytes of frames.
    seq = lazydcm.FrameSequence(native_file, array_warn_bytes=2000)

    # Act
    with seq, pytest.warns(lazydcm.LazyDcmWarning, match=r"2,304 bytes.*=2,000") as w:
        got = np.asarray(seq)

    # Assert: the warning points at the caller's line, and the frames still come.
    assert w[0].filename == __file__
    assert got.shape == (6, 16, 12)


@pytest.mark.parametrize("limit", [2304, None])
def test_asarray_is_quiet_at_the_size_or_with_no_limit(
    native_file: Path, limit: int | None
) -> None:
    # Act / Assert: pyproject turns LazyDcmWarning into an error.
    with lazydcm.FrameSequence(native_file, array_warn_bytes=limit) as seq:
        assert np.asarray(seq).nbytes == 2304


def test_the_warning_comes_before_any_frame_is_decoded(
    native_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a caller that makes the warning an error allocates and decodes nothing.
    decoded: list[int] = []
    original = FrameReader.decode

    def counting(self: FrameReader, i: int) -> np.ndarray:
        decoded.append(i)
        return original(self, i)

    monkeypatch.setattr(FrameReader, "decode", counting)

    # Act
    with lazydcm.FrameSequence(native_file, array_warn_bytes=0) as seq, warnings.catch_warnings():
        warnings.simplefilter("error", lazydcm.LazyDcmWarning)
        with pytest.raises(lazydcm.LazyDcmWarning):
            np.asarray(seq)

    # Assert
    assert decoded == []


def test_the_default_limit_is_one_gibibyte() -> None:
    assert DEFAULT_ARRAY_WARN_BYTES == 1 << 30


def test_a_closed_sequence_has_no_array(native_file: Path) -> None:
    seq = lazydcm.FrameSequence(native_file)
    seq.close()
    with pytest.raises(ValueError, match="closed"):
        np.asarray(seq)
