"""lazydcm.pixels.color and lazydcm.convert_color_space against pydicom.pixels.convert_color_space.

All 2**24 8-bit inputs are converted both ways: RGB to YBR_FULL must equal
pydicom's exactly, YBR_FULL to RGB within 1 (a float32 rounding either side of a
half, on a handful of inputs).  Also: shapes, in-place conversion, errors, and
the memory a conversion takes (blocks, never a float copy of the image).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from helpers import real_file
from pydicom.pixels import convert_color_space as pydicom_convert

import lazydcm
from lazydcm.pixels.color import BLOCK_PIXELS, ybr_full_to_rgb_u8


def _all_inputs(first: int) -> np.ndarray:
    """Every triplet whose first sample is in ``first .. first + 15``."""
    grid = np.meshgrid(np.arange(first, first + 16), np.arange(256), np.arange(256), indexing="ij")
    return np.stack(grid, axis=-1).astype(np.uint8).reshape(16 * 256, 256, 3)


def test_every_input_converts_as_pydicom_converts() -> None:
    # Arrange
    differing = 0
    for first in range(0, 256, 16):
        arr = _all_inputs(first)
        # Act
        to_rgb = lazydcm.convert_color_space(arr, "YBR_FULL", "RGB")
        to_ybr = lazydcm.convert_color_space(arr, "RGB", "YBR_FULL")
        # Assert
        np.testing.assert_array_equal(to_ybr, pydicom_convert(arr, "RGB", "YBR_FULL"))
        diff = np.abs(to_rgb.astype(np.int16) - pydicom_convert(arr, "YBR_FULL", "RGB"))
        assert diff.max() <= 1
        differing += int(np.count_nonzero(diff))
    assert differing < 100  # of 50 million values: rounding at a half, nothing systematic


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (7, 5, 3), (600, 800, 3), (3, 33, 17, 3), (1, BLOCK_PIXELS + 5, 3)]
)
@pytest.mark.parametrize(
    ("current", "desired"),
    [("YBR_FULL", "RGB"), ("YBR_FULL_422", "RGB"), ("RGB", "YBR_FULL"), ("RGB", "YBR_FULL_422")],
)
def test_shapes_convert_as_pydicom_converts(
    shape: tuple[int, ...], current: str, desired: str
) -> None:
    # Arrange
    arr = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    # Act
    got = lazydcm.convert_color_space(arr, current, desired)
    # Assert
    expected = pydicom_convert(arr, current, desired)
    assert got.shape == expected.shape
    assert got.dtype == np.uint8
    assert np.abs(got.astype(np.int16) - expected).max() <= 1
    assert got is not arr


def test_a_non_contiguous_array_converts() -> None:
    # Arrange: every other column of a frame
    arr = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)[:, ::2]
    # Act
    got = lazydcm.convert_color_space(arr, "RGB", "YBR_FULL")
    # Assert
    np.testing.assert_array_equal(got, pydicom_convert(arr, "RGB", "YBR_FULL"))


def test_per_frame_converts_in_place() -> None:
    # Arrange
    arr = np.random.default_rng(2).integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    expected = lazydcm.convert_color_space(arr, "YBR_FULL", "RGB")
    # Act
    got = lazydcm.convert_color_space(arr, "YBR_FULL", "RGB", per_frame=True)
    # Assert
    assert got is arr
    np.testing.assert_array_equal(arr, expected)


def test_per_frame_leaves_a_single_frame_alone_as_pydicom_does() -> None:
    # Arrange: pydicom converts in place only an array of several frames
    arr = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    before = arr.copy()
    expected = pydicom_convert(arr.copy(), "RGB", "YBR_FULL", per_frame=True)
    # Act
    got = lazydcm.convert_color_space(arr, "RGB", "YBR_FULL", per_frame=True)
    # Assert
    assert got is not arr
    np.testing.assert_array_equal(arr, before)
    np.testing.assert_array_equal(got, expected)


def test_an_out_array_of_the_wrong_layout_is_refused() -> None:
    arr = np.zeros((4, 6, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        ybr_full_to_rgb_u8(arr, np.zeros((4, 12, 3), dtype=np.uint8)[:, ::2])


@pytest.mark.parametrize(("current", "desired"), [("RGB", "RGB"), ("YBR_FULL", "YBR_FULL_422"),
                                                  ("YBR_FULL_422", "YBR_FULL")])  # fmt: skip
def test_nothing_to_convert_returns_the_array(current: str, desired: str) -> None:
    arr = np.zeros((2, 2, 3), dtype=np.uint8)
    assert lazydcm.convert_color_space(arr, current, desired) is arr


@pytest.mark.parametrize(("current", "desired"), [("YBR_FULL", "RGB"), ("RGB", "YBR_FULL")])
def test_an_empty_image_converts_to_an_empty_image(current: str, desired: str) -> None:
    arr = np.zeros((0, 4, 3), dtype=np.uint8)
    got = lazydcm.convert_color_space(arr, current, desired)
    assert got.shape == pydicom_convert(arr, current, desired).shape == (0, 4, 3)


def test_only_uint8_converts() -> None:
    with pytest.raises(ValueError, match="uint8"):
        lazydcm.convert_color_space(np.zeros((2, 2, 3), np.uint16), "YBR_FULL", "RGB")


def test_other_colour_spaces_are_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="YBR_ICT to RGB"):
        lazydcm.convert_color_space(np.zeros((2, 2, 3), np.uint8), "YBR_ICT", "RGB")


def test_a_conversion_allocates_its_output_and_a_few_blocks() -> None:
    # Arrange: a 2048 x 2048 frame, 12 MiB; a float32 copy would be 48 MiB
    arr = np.full((2048, 2048, 3), 100, dtype=np.uint8)
    tracemalloc.start()
    try:
        # Act
        out = lazydcm.convert_color_space(arr, "YBR_FULL", "RGB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Assert: the output plus three block buffers and change
    assert peak < out.nbytes + 3 * 4 * 3 * BLOCK_PIXELS + (256 << 10)


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("name", ["SC_ybr_full_uncompressed.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm"])
def test_frames_of_ybr_files_are_pydicoms_rgb(name: str) -> None:
    # Arrange: the raw YBR samples, converted by pydicom (the returned frames must agree)
    path = real_file(name)
    with lazydcm.FrameSequence(path, raw=True) as raw, lazydcm.FrameSequence(path) as frames:
        ybr, rgb = raw[0], frames[0]
    # Act
    expected = pydicom_convert(ybr, "YBR_FULL", "RGB")
    # Assert
    assert frames.photometric_interpretation == "RGB"
    assert np.abs(rgb.astype(np.int16) - expected).max() <= 1
