"""The pure ndarray functions of lazydcm.pixels, against pydicom's and against truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.pixels.processing import convert_color_space
from pydicom.pixels.utils import expand_ybr422 as pydicom_expand_ybr422

from lazydcm import pixels

RNG = np.random.default_rng(3)


@given(st.binary(min_size=1, max_size=64), st.integers(0, 7), st.integers(0, 400))
def test_unpack_bits_reads_lsb_first_from_any_bit(data: bytes, first_bit: int, count: int) -> None:
    count = min(count, len(data) * 8 - first_bit)
    packed = np.frombuffer(data, dtype=np.uint8)

    got = pixels.unpack_bits(packed, first_bit, count)

    expected = [(data[(first_bit + k) // 8] >> ((first_bit + k) % 8)) & 1 for k in range(count)]
    assert got.tolist() == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_expand_ybr422_matches_pydicom(dtype: type) -> None:
    samples = RNG.integers(0, 255, 4 * 30).astype(dtype)

    got = pixels.expand_ybr422(samples)

    bits = np.dtype(dtype).itemsize * 8
    expected = np.frombuffer(pydicom_expand_ybr422(samples.tobytes(), bits), dtype=dtype)
    np.testing.assert_array_equal(got, expected)


def test_to_frame_shape_makes_planar_data_interleaved_and_contiguous() -> None:
    planes = np.arange(2 * 3 * 3).astype(np.uint8)  # R plane, G plane, B plane

    got = pixels.to_frame_shape(planes, rows=2, columns=3, samples=3, planar=1)

    assert got.shape == (2, 3, 3)
    assert got.flags.c_contiguous
    assert got[1, 2].tolist() == [5, 11, 17]


@pytest.mark.parametrize(
    ("dtype", "bits", "signed", "value", "expected"),
    [
        (np.uint16, 12, False, 0xF123, 0x0123),
        (np.int16, 12, True, 0x0800, -2048),
        (np.int16, 12, True, 0x07FF, 2047),
        (np.int16, 5, True, np.int16(-1) & 0x7FE0 | 0x0F, 15),
        (np.uint32, 31, False, 0xFFFFFFFF, 0x7FFFFFFF),
        (np.uint8, 8, False, 0xFF, 0xFF),
    ],
)
def test_mask_unused_bits(dtype: type, bits: int, signed: bool, value: int, expected: int) -> None:
    arr = np.array([value]).astype(dtype)

    got = pixels.mask_unused_bits(arr, bits, signed)

    assert got.tolist() == [expected]


@pytest.mark.parametrize(
    ("dtype", "signed", "value", "expected"),
    [(np.uint16, False, 0xFFFF, 0xFF), (np.int16, True, 0x7F80, -128)],
)
def test_mask_unused_bits_copies_a_read_only_array(
    dtype: type, signed: bool, value: int, expected: int
) -> None:
    arr = np.array([value], dtype=dtype)
    arr.flags.writeable = False

    got = pixels.mask_unused_bits(arr, 8, signed=signed)

    assert got.tolist() == [expected]
    assert arr.tolist() == [value]


@pytest.mark.parametrize(
    ("dtype", "precision", "value", "expected"),
    [(np.int16, 13, 0x1830, -2000), (np.uint16, 13, 0xF830, 0x1830), (np.int8, 8, -5, -5)],
)
def test_extend_sign(dtype: type, precision: int, value: int, expected: int) -> None:
    arr = np.array([value]).astype(dtype)

    assert pixels.extend_sign(arr, precision).tolist() == [expected]


def test_ybr_full_to_rgb_is_within_1_of_pydicom() -> None:
    ybr = RNG.integers(0, 256, (64, 48, 3), dtype=np.uint8)

    got = pixels.ybr_full_to_rgb(ybr, bits=8)

    expected = convert_color_space(ybr, "YBR_FULL", "RGB")
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_ybr_full_to_rgb_keeps_greys_grey() -> None:
    grey = np.zeros((1, 256, 3), dtype=np.uint8)
    grey[..., 0] = np.arange(256)
    grey[..., 1:] = 128

    got = pixels.ybr_full_to_rgb(grey, bits=8)

    np.testing.assert_array_equal(got[..., 0], np.arange(256)[None])
    np.testing.assert_array_equal(got[..., 0], got[..., 2])
