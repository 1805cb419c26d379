"""The frame table builders of lazydcm.index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm.header import ParsedHeader, read_header
from lazydcm.index import build_index, native_index
from lazydcm.sources import MemorySource
from lazydcm.testing import synth
from lazydcm.uids import EXPLICIT_BE


@dataclass(frozen=True)
class _Parsed:
    """A parsed header and the source its offsets refer to."""

    header: ParsedHeader
    source: MemorySource

    def __getattr__(self, name: str) -> Any:
        return getattr(self.header, name)


def _parsed(image: synth.ImagePixel, value: bytes, **kwargs: Any) -> _Parsed:
    source = MemorySource(synth.dicom_file(image, value, **kwargs))
    return _Parsed(read_header(source), source)


# -- native ------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "columns"), [(3, 3), (1, 1), (5, 7), (8, 8)])
def test_native_1_bit_spans_are_bit_exact(rows: int, columns: int) -> None:
    # Frame i of n bits spans bytes [floor(i*n/8), ceil((i+1)*n/8)).
    frames = 11
    n = rows * columns
    image = synth.ImagePixel(rows, columns, bits_allocated=1, number_of_frames=frames)
    parsed = _parsed(image, bytes(-(-frames * n // 8)))

    index = build_index(parsed.header, parsed.source)

    start = parsed.pixel.value_offset
    i = np.arange(frames)
    np.testing.assert_array_equal(index.offsets, start + i * n // 8)
    np.testing.assert_array_equal(index.lengths, -(-(i + 1) * n // 8) - i * n // 8)
    assert (index.kind, index.count, index.present, index.frame_bits) == ("native", 11, 11, n)


def test_native_multi_byte_spans_are_arithmetic() -> None:
    image = synth.ImagePixel(4, 6, samples_per_pixel=3, bits_allocated=16,
                             photometric_interpretation="RGB", number_of_frames=5)  # fmt: skip
    parsed = _parsed(image, bytes(5 * 4 * 6 * 3 * 2))

    index = build_index(parsed.header, parsed.source)

    assert index.lengths.tolist() == [144] * 5
    assert np.diff(index.offsets).tolist() == [144] * 4
    assert index.offsets.dtype == np.int64


def test_big_endian_ow_8_bit_spans_are_word_aligned() -> None:
    # 3x3 8-bit frames stored as swapped OW words: every span starts and ends on a
    # word boundary, so frame 1 (bytes 9..17) is read as bytes 8..18.
    image = synth.ImagePixel(3, 3, bits_allocated=8, number_of_frames=3)
    parsed = _parsed(image, bytes(28), transfer_syntax_uid=EXPLICIT_BE, pixel_vr="OW")

    index = build_index(parsed.header, parsed.source)

    relative = index.offsets - parsed.pixel.value_offset
    assert relative.tolist() == [0, 8, 18]
    assert index.lengths.tolist() == [10, 10, 10]


def test_excess_frames_extend_the_count() -> None:
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=2)
    parsed = _parsed(image, bytes(4 * 5))

    with pytest.warns(lazydcm.LazyDcmWarning, match="5 whole frames"):
        index = native_index(parsed.header, parsed.source.name, parsed.source.size)

    assert (index.count, index.present) == (5, 5)


def test_trailing_padding_is_ignored_with_a_warning() -> None:
    image = synth.ImagePixel(2, 3, bits_allocated=16, number_of_frames=2)
    parsed = _parsed(image, bytes(24 + 10))

    with pytest.warns(lazydcm.LazyDcmWarning, match="10 bytes of padding"):
        index = build_index(parsed.header, parsed.source)

    assert (index.count, index.present) == (2, 2)


def test_odd_length_value_with_its_pad_byte_is_quiet() -> None:
    image = synth.ImagePixel(3, 3, bits_allocated=8, number_of_frames=1)
    parsed = _parsed(image, bytes(9))  # written as 10 bytes: one pad byte

    index = build_index(parsed.header, parsed.source)

    assert index.lengths.tolist() == [9]


def test_too_few_frames_in_the_value_are_missing() -> None:
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=6)
    parsed = _parsed(image, bytes(4 * 4))

    with pytest.warns(lazydcm.LazyDcmWarning, match="fewer than the 24"):
        index = build_index(parsed.header, parsed.source)

    assert (index.count, index.present) == (6, 4)


def test_a_hostile_frame_count_allocates_nothing_big() -> None:
    # 2**31 - 1 frames declared over 16 bytes: the table must stay tiny.
    image = synth.ImagePixel(2, 2, bits_allocated=8, number_of_frames=2**31 - 1)
    parsed = _parsed(image, bytes(16))

    with pytest.warns(lazydcm.LazyDcmWarning):
        index = build_index(parsed.header, parsed.source)

    assert (index.count, index.present) == (2**31 - 1, 4)
    assert index.nbytes < 1024


# -- encapsulated ------------------------------------------------------------------
#
# Real codestreams (taken from pydicom's and pydicom-data's files) are re-wrapped into
# synthetic files with the layouts no real file has; the index is checked through
# the encoded bytes it hands out, so no decoder is involved.

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_2000 = "1.2.840.10008.1.2.4.90"
RLE = "1.2.840.10008.1.2.5"

SOURCES = {
    JPEG_BASELINE: "examples_ybr_color.dcm",
    JPEG_LS: "emri_small_jpeg_ls_lossless.dcm",
    JPEG_2000: "emri_small_jpeg_2k_lossless.dcm",
    RLE: "emri_small_RLE.dcm",
}


def _codestreams(ts: str, count: int) -> tuple[list[bytes], synth.ImagePixel]:
    """`count` real encoded frames of syntax `ts` (cycled), trailing pad removed."""
    with lazydcm.FrameSequence(real_file(SOURCES[ts])) as frames:
        info = frames.info
        streams = [bytes(frames.encoded_frame(i % len(frames))) for i in range(count)]
    image = synth.ImagePixel(
        info.rows, info.columns, samples_per_pixel=info.samples_per_pixel,
        bits_allocated=info.bits_allocated, bits_stored=info.bits_stored,
        photometric_interpretation=info.photometric_interpretation,
        planar_configuration=info.planar_configuration if info.samples_per_pixel > 1 else None,
        number_of_frames=count,
    )  # fmt: skip
    return streams, image


def _originals(ts: str, count: int) -> np.ndarray:
    """The decoded frames of the source file, cycled to `count` (the oracle checks them)."""
    with lazydcm.FrameSequence(real_file(SOURCES[ts])) as frames:
        return np.stack([frames[i % len(frames)] for i in range(count)])


def _padded(stream: bytes) -> bytes:
    return stream + b"\x00" * (len(stream) % 2)


def _open(data: bytes) -> lazydcm.FrameSequence:
    return lazydcm.FrameSequence(data, cache_bytes=0)


@pytest.mark.parametrize("ts", [JPEG_BASELINE, JPEG_LS, JPEG_2000])
@pytest.mark.parametrize("fragments", [2, 3, 6, [1, 4, 2, 6, 3]])
def test_empty_bot_with_several_fragments_a_frame_is_grouped_by_markers(
    ts: str, fragments: int | list[int]
) -> None:
    # Arrange: an empty Basic Offset Table and 2-6 fragments a frame.
    streams, image = _codestreams(ts, 5)
    data = synth.dicom_file(
        image,
        synth.encapsulate(streams, fragments_per_frame=fragments, bot="empty"),
        transfer_syntax_uid=ts,
    )

    # Act
    with _open(data) as frames:
        encoded = [bytes(frames.encoded_frame(i)) for i in range(len(frames))]
        decoded = frames[:]
        kind, count = frames.offset_table, len(frames)

    # Assert: every frame is its whole codestream again, and decodes as the original.
    assert (kind, count) == ("scan", 5)
    assert encoded == [_padded(s) for s in streams]
    np.testing.assert_array_equal(decoded, _originals(ts, 5))


@pytest.mark.parametrize("ts", [JPEG_BASELINE, JPEG_2000])
def test_filled_bot_with_several_fragments_a_frame_joins_them(ts: str) -> None:
    streams, image = _codestreams(ts, 4)
    data = synth.dicom_file(
        image,
        synth.encapsulate(streams, fragments_per_frame=[3, 1, 2, 4], bot="full"),
        transfer_syntax_uid=ts,
    )

    with _open(data) as frames:
        assert frames.offset_table == "bot"
        assert [bytes(frames.encoded_frame(i)) for i in range(4)] == [_padded(s) for s in streams]
        np.testing.assert_array_equal(frames[:], _originals(ts, 4))


@pytest.mark.parametrize("bot", ["empty", "full"])
def test_extended_offset_table_is_used_first(bot: str) -> None:
    streams, image = _codestreams(JPEG_2000, 6)
    offsets, lengths = synth.frame_table(streams)
    data = synth.dicom_file(
        image,
        synth.encapsulate(streams, bot=bot),  # type: ignore[arg-type]
        transfer_syntax_uid=JPEG_2000,
        extended_offsets=(offsets, lengths),
    )

    if bot == "full":  # PS3.3 C.7.6.3.1.8: the BOT shall be empty beside an EOT
        with pytest.warns(lazydcm.LazyDcmWarning, match="Extended Offset Table is present"):
            frames = _open(data)
    else:
        frames = _open(data)
    with frames:
        assert frames.offset_table == "eot"
        assert [bytes(frames.encoded_frame(i)) for i in range(6)] == [_padded(s) for s in streams]
        np.testing.assert_array_equal(frames[:], _originals(JPEG_2000, 6))


def test_an_eot_that_points_off_item_tags_is_rejected_for_the_scan() -> None:
    streams, image = _codestreams(JPEG_2000, 3)
    offsets, lengths = synth.frame_table(streams)
    offsets[2] += 2
    data = synth.dicom_file(
        image,
        synth.encapsulate(streams),
        transfer_syntax_uid=JPEG_2000,
        extended_offsets=(offsets, lengths),
    )

    with pytest.warns(lazydcm.LazyDcmWarning, match="entry 2 .* does not point at an item"):
        frames = _open(data)
    with frames:
        assert frames.offset_table == "scan"
        assert bytes(frames.encoded_frame(2)) == _padded(streams[2])


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([0, 400, 200], "does not increase"),
        ([0, 10, 20], "is not where the items of frame 0 end"),
        ([8], "not 0"),
    ],
)
def test_a_bad_bot_is_rejected_for_the_scan(values: list[int], why: str) -> None:
    streams, image = _codestreams(JPEG_LS, 3)
    bot_values = values if values != [8] else [8, 16, 24]
    data = synth.dicom_file(
        image,
        synth.encapsulate(streams, bot="full", bot_values=bot_values),
        transfer_syntax_uid=JPEG_LS,
    )

    with pytest.warns(lazydcm.LazyDcmWarning, match=why):
        frames = _open(data)
    with frames:
        assert frames.offset_table == "scan"
        assert [bytes(frames.encoded_frame(i)) for i in range(3)] == [_padded(s) for s in streams]


def test_one_frame_of_many_fragments_without_markers_needed() -> None:
    streams, image = _codestreams(RLE, 1)
    data = synth.dicom_file(
        image, synth.encapsulate(streams, fragments_per_frame=4), transfer_syntax_uid=RLE
    )

    with _open(data) as frames:
        assert len(frames) == 1
        assert bytes(frames.encoded_frame(0)) == _padded(streams[0])


def test_excess_frames_found_by_markers_are_returned_with_a_warning() -> None:
    streams, image = _codestreams(JPEG_LS, 6)
    image = synth.ImagePixel(**{**image.__dict__, "number_of_frames": 4})
    data = synth.dicom_file(
        image, synth.encapsulate(streams, fragments_per_frame=2), transfer_syntax_uid=JPEG_LS
    )

    with pytest.warns(lazydcm.LazyDcmWarning, match="holds 6 frames, more than"):
        frames = _open(data)
    with frames:
        assert len(frames) == 6
        assert bytes(frames.encoded_frame(5)) == _padded(streams[5])


def test_missing_frames_raise_frame_index_error_naming_the_counts() -> None:
    streams, image = _codestreams(JPEG_LS, 3)
    image = synth.ImagePixel(**{**image.__dict__, "number_of_frames": 5})
    data = synth.dicom_file(
        image, synth.encapsulate(streams, fragments_per_frame=2), transfer_syntax_uid=JPEG_LS
    )

    with pytest.warns(lazydcm.LazyDcmWarning, match="holds 3 frames, fewer than"):
        frames = _open(data)
    with frames:
        assert len(frames) == 5
        assert bytes(frames.encoded_frame(2)) == _padded(streams[2])
        with pytest.raises(lazydcm.FrameIndexError, match="holds 3 complete frames of the 5"):
            frames.encoded_frame(3)


@pytest.mark.parametrize("bot", ["empty", "full"])
def test_truncated_encapsulated_data_keeps_the_complete_frames(bot: str) -> None:
    streams, image = _codestreams(JPEG_2000, 4)
    data = synth.dicom_file(
        image, synth.encapsulate(streams, fragments_per_frame=2, bot=bot),  # type: ignore[arg-type]
        transfer_syntax_uid=JPEG_2000,
    )  # fmt: skip
    cut = data[: len(data) - 8 - len(_padded(streams[3])) // 2 - 3]  # inside frame 3

    with pytest.warns(lazydcm.LazyDcmWarning, match="3 of 4 frames are complete"):
        frames = _open(cut)
    with frames:
        assert [bytes(frames.encoded_frame(i)) for i in range(3)] == [
            _padded(s) for s in streams[:3]
        ]
        with pytest.raises(lazydcm.TruncatedFileError, match="frame 3"):
            frames.encoded_frame(3)


def test_garbage_after_the_fragments_keeps_what_came_before() -> None:
    streams, image = _codestreams(JPEG_2000, 2)
    value = synth.encapsulate(streams)
    value = value[:-8] + b"\x00\x00\x00\x00\x00\x00\x00\x00"  # delimiter replaced
    data = synth.dicom_file(image, value, transfer_syntax_uid=JPEG_2000)

    with pytest.warns(lazydcm.LazyDcmWarning, match=r"found \(0000,0000\)"):
        frames = _open(data)
    with frames:
        assert bytes(frames.encoded_frame(1)) == _padded(streams[1])


def test_a_bot_wrapped_past_4_gib_is_detected(tmp_path: Path) -> None:
    # Arrange: a sparse file of more than 4 GiB (it costs no disk) whose last frames
    # start past 2**32, so their 32-bit BOT offsets wrapped.
    streams, image = _codestreams(JPEG_2000, 1)
    path = tmp_path / "huge.dcm"
    size = synth.write_sparse_encapsulated(
        path, streams[0], image, transfer_syntax_uid=JPEG_2000, gap=(1 << 32) + (1 << 20)
    )
    assert size > 1 << 32
    assert path.stat().st_blocks * 512 < 1 << 24

    # Act
    with pytest.warns(lazydcm.LazyDcmWarning, match="wrapped past 4 GiB"):
        frames = lazydcm.FrameSequence(path)

    # Assert: the scan finds every frame, the real ones past 4 GiB included.
    with frames:
        assert frames.offset_table == "scan"
        assert int(frames.reader.index.offsets[-1]) > 1 << 32
        assert bytes(frames.encoded_frame(len(frames) - 1)) == _padded(streams[0])
        assert bytes(frames.encoded_frame(0)) == _padded(streams[0])
        np.testing.assert_array_equal(frames[-1], _originals(JPEG_2000, 1)[0])


def test_an_eot_reaches_past_4_gib(tmp_path: Path) -> None:
    streams, image = _codestreams(JPEG_2000, 1)
    path = tmp_path / "huge-eot.dcm"
    synth.write_sparse_encapsulated(
        path, streams[0], image, transfer_syntax_uid=JPEG_2000, gap=(1 << 32) + 64,
        bot="empty", eot=True,
    )  # fmt: skip

    with lazydcm.FrameSequence(path) as frames:
        assert frames.offset_table == "eot"
        assert bytes(frames.encoded_frame(-1)) == _padded(streams[0])


def test_opening_20000_empty_bot_frames_reads_only_item_headers() -> None:
    # Arrange: a byte source that counts every byte it hands out.
    streams, image = _codestreams(JPEG_2000, 1)
    count = 20_000
    image = synth.ImagePixel(**{**image.__dict__, "number_of_frames": count})
    value = synth.encapsulate(streams * count)
    data = synth.dicom_file(image, value, transfer_syntax_uid=JPEG_2000)
    source = _CountingSource(data)

    # Act
    with lazydcm.FrameSequence(source, cache_bytes=0) as frames:
        at_open = source.handed_out
        source.handed_out = 0
        last = frames[19_999]

    # Assert: the header, then 8 bytes an item (BOT, 20,000 fragments, delimiter);
    # then the last frame's bytes and nothing else.
    header_bytes = len(data) - len(value)
    assert at_open <= header_bytes + 8 * (count + 2)
    assert source.handed_out == len(_padded(streams[0]))
    np.testing.assert_array_equal(last, _originals(JPEG_2000, 1)[0])


class _CountingSource:
    """A ByteSource over bytes that counts what it hands out (and is not zero-copy)."""

    def __init__(self, data: bytes) -> None:
        self._inner = MemorySource(data)
        self.name, self.size = "counting", len(data)
        self.handed_out = 0

    def view(self, offset: int, n: int) -> memoryview:
        self.handed_out += n
        return self._inner.view(offset, n)

    @property
    def status(self) -> None:
        return None

    @property
    def zero_copy(self) -> bool:
        return False

    def read_into(self, offset: int, out: memoryview) -> int:
        got = self._inner.read_into(offset, out)
        self.handed_out += got
        return got

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
        out = self._inner.read_many(ranges)
        self.handed_out += sum(len(view) for view in out)
        return out

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.mark.parametrize("table", ["bot", "eot"])
def test_a_wrong_entry_in_the_middle_is_caught_when_its_frame_is_read(table: str) -> None:
    # Arrange: offsets checked at open (first, last, increasing) are right; entry 2
    # points into the payload of frame 1.
    streams, image = _codestreams(JPEG_2000, 5)
    offsets, lengths = synth.frame_table(streams)
    offsets[2] -= 100
    if table == "bot":
        value = synth.encapsulate(streams, bot="full", bot_values=offsets)
        data = synth.dicom_file(image, value, transfer_syntax_uid=JPEG_2000)
    else:
        value = synth.encapsulate(streams)
        data = synth.dicom_file(
            image, value, transfer_syntax_uid=JPEG_2000, extended_offsets=(offsets, lengths)
        )

    with _open(data) as frames:
        assert frames.offset_table == table
        first = bytes(frames.encoded_frame(0))
        # Act: the first read that uses the wrong entry finds it out...
        with pytest.warns(lazydcm.LazyDcmWarning, match="entry 2 .*scanned instead"):
            second = frames[2] if table == "eot" else frames[1]
        # Assert: ...and the sequence carries on with a scan, every frame right.
        assert frames.offset_table == "scan"
        np.testing.assert_array_equal(frames[:], _originals(JPEG_2000, 5))
    assert first == _padded(streams[0])
    np.testing.assert_array_equal(second, _originals(JPEG_2000, 5)[2 if table == "eot" else 1])
