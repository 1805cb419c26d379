"""The frame table builders of lazydcm.index."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import lazydcm
from lazydcm import synth
from lazydcm.header import ParsedHeader, read_header
from lazydcm.index import build_index, native_index
from lazydcm.source import BufferSource
from lazydcm.uids import EXPLICIT_BE


def _parsed(image: synth.ImagePixel, value: bytes, **kwargs: Any) -> ParsedHeader:
    return read_header(BufferSource(synth.dicom_file(image, value, **kwargs)))


# -- native ------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "columns"), [(3, 3), (1, 1), (5, 7), (8, 8)])
def test_native_1_bit_spans_are_bit_exact(rows: int, columns: int) -> None:
    # Frame i of n bits spans bytes [floor(i*n/8), ceil((i+1)*n/8)).
    frames = 11
    n = rows * columns
    image = synth.ImagePixel(rows, columns, bits_allocated=1, number_of_frames=frames)
    parsed = _parsed(image, bytes(-(-frames * n // 8)))

    index = build_index(parsed)

    start = parsed.pixel.value_offset
    i = np.arange(frames)
    np.testing.assert_array_equal(index.offsets, start + i * n // 8)
    np.testing.assert_array_equal(index.lengths, -(-(i + 1) * n // 8) - i * n // 8)
    assert (index.kind, index.count, index.present, index.frame_bits) == ("native", 11, 11, n)


def test_native_multi_byte_spans_are_arithmetic() -> None:
    image = synth.ImagePixel(4, 6, samples_per_pixel=3, bits_allocated=16,
                             photometric_interpretation="RGB", number_of_frames=5)  # fmt: skip
    parsed = _parsed(image, bytes(5 * 4 * 6 * 3 * 2))

    index = build_index(parsed)

    assert index.lengths.tolist() == [144] * 5
    assert np.diff(index.offsets).tolist() == [144] * 4
    assert index.offsets.dtype == np.int64


def test_big_endian_ow_8_bit_spans_are_word_aligned() -> None:
    # 3x3 8-bit frames stored as swapped OW words: every span starts and ends on a
    # word boundary, so frame 1 (bytes 9..17) is read as bytes 8..18.
    image = synth.ImagePixel(3, 3, bits_allocated=8, number_of_frames=3)
    parsed = _parsed(image, bytes(28), transfer_syntax_uid=EXPLICIT_BE, pixel_vr="OW")

    index = build_index(parsed)

    relative = index.offsets - parsed.pixel.value_offset
    assert relative.tolist() == [0, 8, 18]
    assert index.lengths.tolist() == [10, 10, 10]


def test_excess_frames_extend_the_count() -> None:
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=2)
    parsed = _parsed(image, bytes(4 * 5))

    with pytest.warns(lazydcm.LazyDcmWarning, match="5 whole frames"):
        index = native_index(parsed, parsed.source.size)

    assert (index.count, index.present) == (5, 5)


def test_trailing_padding_is_ignored_with_a_warning() -> None:
    image = synth.ImagePixel(2, 3, bits_allocated=16, number_of_frames=2)
    parsed = _parsed(image, bytes(24 + 10))

    with pytest.warns(lazydcm.LazyDcmWarning, match="10 bytes of padding"):
        index = build_index(parsed)

    assert (index.count, index.present) == (2, 2)


def test_odd_length_value_with_its_pad_byte_is_quiet() -> None:
    image = synth.ImagePixel(3, 3, bits_allocated=8, number_of_frames=1)
    parsed = _parsed(image, bytes(9))  # written as 10 bytes: one pad byte

    index = build_index(parsed)

    assert index.lengths.tolist() == [9]


def test_too_few_frames_in_the_value_are_missing() -> None:
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=6)
    parsed = _parsed(image, bytes(4 * 4))

    with pytest.warns(lazydcm.LazyDcmWarning, match="fewer than the 24"):
        index = build_index(parsed)

    assert (index.count, index.present) == (6, 4)


def test_a_hostile_frame_count_allocates_nothing_big() -> None:
    # 2**31 - 1 frames declared over 16 bytes: the table must stay tiny.
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=2**31 - 1)
    parsed = _parsed(image, bytes(16))

    with pytest.warns(lazydcm.LazyDcmWarning):
        index = build_index(parsed)

    assert (index.count, index.present) == (2**31 - 1, 4)
    assert index.nbytes < 1024
