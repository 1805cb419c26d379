"""Damaged and hostile files (issue 5): a clear error every time, every frame that is there.

A corpus of damaged files, built here from a good native and a good encapsulated
multi-frame file, each with the exact error type expected and the frames that
must still read:

* truncation at every structural boundary (and one byte either side, and in the
  middle of every value): the preamble, each File Meta and dataset element's
  header and value, a sequence's items and delimiters, the Basic Offset Table,
  each item header and payload, the sequence delimiter;
* wrong lengths, wrong Basic and Extended Offset Table entries, hostile group
  0028 values, garbage item tags, items longer than their parent;
* a file truncated by another process after it was opened (in a child process,
  so that a SIGBUS would be seen as such);
* codestreams whose SOF / SIZ disagrees with the header, checked before the codec
  runs, and RLE frames too short for the frame the header describes;
* a regression test for every failure the fuzzers (tests/test_fuzz.py) found.

The encapsulated files hold lossless JPEG (Process 14, SV1) frames, so a frame
cut short is told from a whole one by its EOI marker and frames compare exactly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm.errors import (
    DecodeError,
    FrameIndexError,
    InvalidDicomError,
    LazyDcmError,
    LazyDcmWarning,
    PixelDataNotFoundError,
    TruncatedFileError,
)
from lazydcm.header import read_header
from lazydcm.sources import MemorySource
from lazydcm.testing import synth
from lazydcm.uids import lookup

imagecodecs = pytest.importorskip("imagecodecs")

JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_2000 = "1.2.840.10008.1.2.4.90"
JPEG_LS = "1.2.840.10008.1.2.4.80"
RLE = "1.2.840.10008.1.2.5"
UNDEFINED = 0xFFFFFFFF
ITEM_TAG = b"\xfe\xff\x00\xe0"
DELIMITER_TAG = b"\xfe\xff\xdd\xe0"

RNG = np.random.default_rng(20260705)
FRAMES = RNG.integers(0, 4096, (4, 6, 5), dtype=np.uint16)
FRAME_BYTES = FRAMES[0].nbytes
IMAGE = synth.ImagePixel(6, 5, bits_stored=12, number_of_frames=4)
# Elements before the pixel data: a kept sequence, a skipped one, a plain element.
LUT_ITEM = synth.encode_element(0x00281050, "DS", "40") + synth.encode_element(
    0x00281051, "DS", "400"
)
EXTRA = [
    synth.encode_sequence(0x00283010, [LUT_ITEM]),
    synth.encode_sequence(0x00081115, [synth.encode_element(0x00081150, "UI", "1.2.3")]),
    (0x00100010, "PN", "Doe^Jane"),
]  # fmt: skip


def _jpeg(frames: np.ndarray) -> list[bytes]:
    return [
        bytes(imagecodecs.jpeg8_encode(f, lossless=True, predictor=1, bitspersample=12))
        for f in frames
    ]


STREAMS = _jpeg(FRAMES)


def native_file(image: synth.ImagePixel = IMAGE, frames: np.ndarray = FRAMES) -> bytes:
    return synth.dicom_file(image, synth.native_pixels(frames, image), extra=EXTRA)


def encapsulated_file(
    layout: str, image: synth.ImagePixel = IMAGE, streams: list[bytes] = STREAMS
) -> bytes:
    """ "bot": a full BOT, two fragments a frame; "eot": an EOT; "scan": an empty BOT."""
    kwargs: dict[str, Any] = {}
    if layout == "bot":
        value = synth.encapsulate(streams, fragments_per_frame=2, bot="full")
    else:
        value = synth.encapsulate(streams)
    if layout == "eot":
        kwargs["extended_offsets"] = synth.frame_table(streams)
    return synth.dicom_file(image, value, transfer_syntax_uid=JPEG_SV1, extra=EXTRA, **kwargs)


LAYOUTS = {
    "native": native_file,
    "bot": lambda: encapsulated_file("bot"),
    "eot": lambda: encapsulated_file("eot"),
    "scan": lambda: encapsulated_file("scan"),
}


# -- the structure of a file, as offsets -------------------------------------------------

_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


@dataclass
class Layout:
    """Where things are in an Explicit VR Little Endian file built above."""

    boundaries: set[int] = field(default_factory=set)
    #: Offsets where a top-level dataset element starts (the file may end there cleanly).
    top_level: set[int] = field(default_factory=set)
    pixel_tag: int = 0
    pixel_value: int = 0
    #: (header offset, end of payload) of every item of the encapsulated value.
    items: list[tuple[int, int]] = field(default_factory=list)


def layout_of(data: bytes) -> Layout:
    """Walk the file (a small independent walker) and record every structural boundary."""
    out = Layout(boundaries={0, 128, 132, len(data)})
    pos, depth, in_pixels = 132, 0, False
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        out.boundaries |= {pos, pos + 4}
        if group == 0xFFFE:
            (length,) = struct.unpack_from("<I", data, pos + 4)
            out.boundaries.add(pos + 8)
            if elem == 0xE000 and length != UNDEFINED:
                out.boundaries |= {pos + 8 + length // 2, pos + 8 + length}
                if in_pixels:
                    out.items.append((pos, pos + 8 + length))
                pos += 8 + length
                continue
            depth += {0xE000: 1, 0xE00D: -1, 0xE0DD: -1}.get(elem, 0)
            pos += 8
            continue
        if depth == 0 and group != 0x0002:
            out.top_level.add(pos)
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", data, pos + 8)
            value = pos + 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            value = pos + 8
        out.boundaries |= {pos + 6, value}
        if (group, elem) == (0x7FE0, 0x0010):
            out.pixel_tag, out.pixel_value = pos, value
            in_pixels = length == UNDEFINED
        if length == UNDEFINED:
            depth += 0 if in_pixels else 1
            pos = value
            continue
        out.boundaries |= {value + length // 2, value + length}
        if (group, elem) == (0x7FE0, 0x0010):  # native: every frame's end too
            out.boundaries |= {value + k * FRAME_BYTES for k in range(5)}
        pos = value + length
    return out


# -- reading a damaged file ----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What opening a file and reading every frame gave."""

    error: type[LazyDcmError] | None  # the error opening raised, if any
    frames: tuple[str, ...] = ()  # per frame: "ok" or the error class name
    warned: bool = False
    table: str | None = None


def read_all(data: bytes | Path, *, check: bool = True) -> Outcome:
    """Open `data`, read every frame, compare the ones that read with FRAMES."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frames = lazydcm.FrameSequence(data, cache_bytes=0)
        except LazyDcmError as exc:
            return Outcome(type(exc))
        results = []
        with frames:
            for i in range(min(len(frames), 8)):
                try:
                    frame = frames[i]
                except LazyDcmError as exc:
                    results.append(type(exc).__name__)
                    continue
                if check:
                    np.testing.assert_array_equal(frame, FRAMES[i % len(FRAMES)])
                results.append("ok")
            table = frames.offset_table
    warned = any(issubclass(w.category, LazyDcmWarning) for w in caught)
    return Outcome(None, tuple(results), warned, table)


def cuts(data: bytes) -> list[int]:
    """Every structural boundary, one byte either side, and the middle of every value."""
    points = {b + d for b in layout_of(data).boundaries for d in (-1, 0, 1)}
    return sorted(c for c in points if 0 <= c < len(data))


def expected_cut(data: bytes, cut: int, kind: str) -> Outcome:
    """The outcome the contract requires for `data[:cut]`."""
    where = layout_of(data)
    if cut < 132 + 8:
        return Outcome(InvalidDicomError)  # no DICM prefix, or nothing after it
    if cut < where.pixel_tag:
        # At a top-level element boundary the file ends cleanly, without pixel data;
        # anywhere else it ends inside something whose length says it goes on.
        return Outcome(PixelDataNotFoundError if cut in where.top_level else TruncatedFileError)
    if cut == where.pixel_tag:
        return Outcome(PixelDataNotFoundError)
    if cut < where.pixel_value:
        return Outcome(TruncatedFileError)  # inside the pixel element's header
    if kind == "native":
        whole = (cut - where.pixel_value) // FRAME_BYTES
        frames = tuple("ok" if i < whole else "TruncatedFileError" for i in range(4))
        return Outcome(None, frames, warned=True)
    bot_end = where.items[0][1]
    if cut < bot_end:
        return Outcome(TruncatedFileError)  # inside the Basic Offset Table item
    fragments = 2 if kind == "bot" else 1
    frame_ends = [where.items[1 + fragments * (i + 1) - 1][1] for i in range(4)]
    frames = tuple("ok" if end <= cut else "TruncatedFileError" for end in frame_ends)
    return Outcome(None, frames, warned=frames[-1] != "ok")


@pytest.mark.parametrize("kind", list(LAYOUTS))
def test_truncation_at_every_structural_boundary(kind: str) -> None:
    # Arrange
    data = LAYOUTS[kind]()
    assert read_all(data) == Outcome(None, ("ok",) * 4, False, kind)

    for cut in cuts(data):
        # Act
        got = read_all(data[:cut])

        # Assert: the exact error, and every whole frame before the cut.
        want = expected_cut(data, cut, kind)
        assert got.error is want.error, (cut, got, want)
        assert got.frames == want.frames, (cut, got, want)
        if want.warned:
            assert got.warned, (cut, got)


def test_every_boundary_kind_is_cut() -> None:
    # The corpus reaches every structure: sequence items and delimiters, the BOT,
    # every fragment's header and payload, and the sequence delimiter.
    data = encapsulated_file("bot")
    where = layout_of(data)
    points = set(cuts(data))
    assert len(where.items) == 1 + 8  # the BOT and 2 fragments a frame
    for header, end in where.items:
        assert {header, header + 4, header + 8, end} <= points
    delimiter = data.rindex(DELIMITER_TAG)
    assert {delimiter, delimiter + 4, delimiter + 7} <= points
    assert data.index(b"\xfe\xff\x0d\xe0") in points  # an item delimiter in a sequence


def test_truncated_native_message_names_the_frame_and_the_bytes(tmp_path: Path) -> None:
    data = native_file()
    cut = len(data) - FRAME_BYTES - 10
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:cut])

    with pytest.warns(LazyDcmWarning, match="2 of 4 frames are complete"):
        frames = lazydcm.FrameSequence(path, cache_bytes=0)
    with frames, pytest.raises(TruncatedFileError, match="frame 2"):
        frames[2]


# -- wrong lengths -----------------------------------------------------------------------


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, old
    return data.replace(old, new)


def _pixel_header(data: bytes) -> int:
    return layout_of(data).pixel_tag


def _set_u32(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack("<I", value) + data[at + 4 :]


def _native_pixel_length(value: int) -> bytes:
    data = native_file()
    return _set_u32(data, _pixel_header(data) + 8, value)


def _item(data: bytes, k: int) -> tuple[int, int]:
    """(header offset, payload end) of item k of the encapsulated value (0: the BOT)."""
    return layout_of(data).items[k]


def _item_length(layout: str, k: int, value: int) -> bytes:
    data = encapsulated_file(layout)
    return _set_u32(data, _item(data, k)[0] + 4, value)


OK4 = ("ok",) * 4
T = "TruncatedFileError"
F = "FrameIndexError"
D = "DecodeError"

WRONG_LENGTHS: dict[str, tuple[Callable[[], bytes], Outcome]] = {
    # The pixel value claims more than the file holds: every frame is there.
    "native length past the end": (
        lambda: _native_pixel_length(8 * FRAME_BYTES),
        Outcome(None, OK4, True),
    ),
    # A whole value that holds 2.5 frames: the header's frame count is wrong.
    "native length of 2.5 frames": (
        lambda: _native_pixel_length(FRAME_BYTES * 5 // 2),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    "native length undefined": (
        lambda: _native_pixel_length(UNDEFINED),
        Outcome(InvalidDicomError),
    ),
    "native length 0": (lambda: _native_pixel_length(0), Outcome(None, (F,) * 4, True)),
    # An element of the header that claims to run past the end of the file.
    "element length past the end": (
        lambda: _replace_once(native_file(), b"PN\x08\x00Doe^Jane", b"PN\xff\xffDoe^Jane"),
        Outcome(TruncatedFileError),
    ),
    # The first fragment of frame 2 runs past the end of the file (scan).
    "fragment length past the end": (
        lambda: _item_length("scan", 3, 1 << 30),
        Outcome(None, ("ok", "ok", T, T), True),
    ),
    "fragment length undefined": (
        lambda: _item_length("scan", 3, UNDEFINED),
        Outcome(None, ("ok", "ok", T, T), True),
    ),
    # An empty fragment where frame 2 was: its payload is read as item headers.
    "fragment length 0": (
        lambda: _item_length("scan", 3, 0),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    "BOT length past the end": (
        lambda: _item_length("bot", 0, 1 << 30),
        Outcome(TruncatedFileError),
    ),
    "BOT length not a multiple of 4": (
        lambda: _item_length("bot", 0, 6),
        Outcome(InvalidDicomError),
    ),
}


@pytest.mark.parametrize("case", list(WRONG_LENGTHS))
def test_wrong_lengths(case: str) -> None:
    build, want = WRONG_LENGTHS[case]

    got = read_all(build())

    assert (got.error, got.frames) == (want.error, want.frames), got
    assert got.warned == want.warned


# -- wrong Basic and Extended Offset Table entries ---------------------------------------


def _bot(values: list[int]) -> bytes:
    value = synth.encapsulate(STREAMS, fragments_per_frame=2, bot="full", bot_values=values)
    return synth.dicom_file(IMAGE, value, transfer_syntax_uid=JPEG_SV1)


def _bot_offsets() -> list[int]:
    return synth.frame_table(STREAMS, 2)[0]


def _eot(offsets: list[int] | None = None, lengths: list[int] | None = None) -> bytes:
    good_offsets, good_lengths = synth.frame_table(STREAMS)
    table = (offsets or good_offsets, lengths or good_lengths)
    value = synth.encapsulate(STREAMS)
    return synth.dicom_file(IMAGE, value, transfer_syntax_uid=JPEG_SV1, extended_offsets=table)


def _shift(values: list[int], k: int, by: int) -> list[int]:
    return [v + by if i == k else v for i, v in enumerate(values)]


# Every case reads every frame: a table that fails its check is replaced by a scan
# of the item headers (at open, or when the frame whose entry is wrong is read).
WRONG_TABLES: dict[str, Callable[[], bytes]] = {
    "BOT first entry not 0": lambda: _bot(_shift(_bot_offsets(), 0, 8)),
    "BOT decreasing": lambda: _bot([0, 400, 200, 600]),
    "BOT entry into a payload": lambda: _bot(_shift(_bot_offsets(), 2, -20)),
    "BOT entry past the end": lambda: _bot(_shift(_bot_offsets(), 3, 1 << 20)),
    "BOT last entry past the end": lambda: _bot(_shift(_bot_offsets(), 3, 1 << 31)),
    "BOT entry on the second fragment": lambda: _bot(_shift(_bot_offsets(), 1, 8 + 60)),
    "BOT with fewer entries": lambda: _bot(_bot_offsets()[:3]),
    "BOT with more entries": lambda: _bot([*_bot_offsets(), 10_000]),
    "EOT entry into a payload": lambda: _eot(offsets=_shift(synth.frame_table(STREAMS)[0], 2, -30)),
    "EOT length too long": lambda: _eot(lengths=_shift(synth.frame_table(STREAMS)[1], 1, 10)),
    "EOT length too short": lambda: _eot(lengths=_shift(synth.frame_table(STREAMS)[1], 1, -10)),
    "EOT length 0": lambda: _eot(lengths=_shift(synth.frame_table(STREAMS)[1], 3, -120)),
    "EOT offset 2**63": lambda: _eot(offsets=_shift(synth.frame_table(STREAMS)[0], 3, 1 << 63)),
    "EOT length 2**64 - 1": lambda: _eot(lengths=[(1 << 64) - 1] * 4),
    "EOT with fewer entries": lambda: _eot(*(t[:3] for t in synth.frame_table(STREAMS))),
    "EOT offsets and lengths disagree": lambda: _eot(lengths=synth.frame_table(STREAMS)[1][:3]),
}


@pytest.mark.parametrize("case", list(WRONG_TABLES))
def test_wrong_table_entries_lose_no_frame(case: str) -> None:
    data = WRONG_TABLES[case]()

    got = read_all(data)

    assert got == Outcome(None, OK4, True, "scan")


# -- hostile group 0028 values -----------------------------------------------------------


def _native_with(**changes: Any) -> bytes:
    image = synth.ImagePixel(**{**IMAGE.__dict__, **changes})
    pixels = synth.native_pixels(FRAMES, IMAGE)  # the data stays what it was
    return synth.dicom_file(image, pixels, extra=EXTRA)


def _encapsulated_with(layout: str, **changes: Any) -> bytes:
    return encapsulated_file(layout, synth.ImagePixel(**{**IMAGE.__dict__, **changes}))


HUGE = 2**31 - 1
HOSTILE_0028: dict[str, tuple[Callable[[], bytes], Outcome]] = {
    "Rows 0": (lambda: _native_with(rows=0), Outcome(InvalidDicomError)),
    "Columns 0": (lambda: _native_with(columns=0), Outcome(InvalidDicomError)),
    # 65535 rows over 240 bytes of data: the frames are not there, and nothing is
    # allocated for them.
    "Rows 65535": (lambda: _native_with(rows=65535), Outcome(None, (F,) * 4, True)),
    "Columns 65535": (lambda: _native_with(columns=65535), Outcome(None, (F,) * 4, True)),
    "65535 x 65535 x 3 x 64 bits": (
        lambda: _native_with(
            rows=65535,
            columns=65535,
            samples_per_pixel=3,
            bits_allocated=64,
            photometric_interpretation="RGB",
        ),
        Outcome(None, (F,) * 4, True),
    ),
    "Bits Allocated 0": (
        lambda: _native_with(bits_allocated=0, bits_stored=0, high_bit=0),
        Outcome(InvalidDicomError),
    ),
    "Bits Allocated 3": (
        lambda: _native_with(bits_allocated=3, bits_stored=3),
        Outcome(InvalidDicomError),
    ),
    "Bits Allocated 24": (lambda: _native_with(bits_allocated=24), Outcome(InvalidDicomError)),
    "Bits Allocated 128": (lambda: _native_with(bits_allocated=128), Outcome(InvalidDicomError)),
    "Bits Stored 0": (lambda: _native_with(bits_stored=0, high_bit=0), Outcome(InvalidDicomError)),
    "Bits Stored 17": (lambda: _native_with(bits_stored=17), Outcome(InvalidDicomError)),
    "High Bit 16": (lambda: _native_with(high_bit=16), Outcome(InvalidDicomError)),
    "Samples per Pixel 0": (lambda: _native_with(samples_per_pixel=0), Outcome(InvalidDicomError)),
    "Samples per Pixel 2": (lambda: _native_with(samples_per_pixel=2), Outcome(InvalidDicomError)),
    "Samples per Pixel 65535": (
        lambda: _native_with(samples_per_pixel=65535),
        Outcome(InvalidDicomError),
    ),
    "Pixel Representation 2": (
        lambda: _native_with(pixel_representation=2),
        Outcome(InvalidDicomError),
    ),
    "Planar Configuration 2": (
        lambda: _native_with(
            samples_per_pixel=3, photometric_interpretation="RGB", planar_configuration=2
        ),
        Outcome(InvalidDicomError),
    ),
    "Photometric Interpretation XYZ": (
        lambda: _native_with(photometric_interpretation="XYZ"),
        Outcome(InvalidDicomError),
    ),
    "YBR_FULL_422 with 1 sample": (
        lambda: _native_with(photometric_interpretation="YBR_FULL_422"),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames 2**31 - 1": (
        lambda: _native_with(number_of_frames=HUGE),
        Outcome(None, (*OK4, F, F, F, F), True),
    ),
    "Number of Frames 2**31": (
        lambda: _native_with(number_of_frames=2**31),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames 1e99": (
        lambda: _native_with(number_of_frames="1e99"),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames -1": (
        lambda: _native_with(number_of_frames="-1"),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames nan": (
        lambda: _native_with(number_of_frames="nan"),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames 7.5": (
        lambda: _native_with(number_of_frames="7.5"),
        Outcome(InvalidDicomError),
    ),
    "Number of Frames 0": (lambda: _native_with(number_of_frames=0), Outcome(None, OK4, True)),
    "Number of Frames 2, data for 4": (
        lambda: _native_with(number_of_frames=2),
        Outcome(None, OK4, True),
    ),
    "Number of Frames 6, data for 4": (
        lambda: _native_with(number_of_frames=6),
        Outcome(None, (*OK4, F, F), True),
    ),
    "encapsulated, scan, Number of Frames 2**31 - 1": (
        lambda: _encapsulated_with("scan", number_of_frames=HUGE),
        Outcome(None, (*OK4, F, F, F, F), True),
    ),
    "encapsulated, BOT, Number of Frames 2**31 - 1": (
        lambda: _encapsulated_with("bot", number_of_frames=HUGE),
        Outcome(None, (*OK4, F, F, F, F), True),
    ),
    "encapsulated, Number of Frames 6, data for 4": (
        lambda: _encapsulated_with("scan", number_of_frames=6),
        Outcome(None, (*OK4, F, F), True),
    ),
    "encapsulated, Rows 65535": (
        lambda: _encapsulated_with("scan", rows=65535),
        Outcome(None, (D,) * 4, False),
    ),
    "encapsulated, Samples per Pixel 3": (
        lambda: _encapsulated_with("scan", samples_per_pixel=3, photometric_interpretation="RGB"),
        Outcome(None, (D,) * 4, False),
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_0028))
def test_hostile_group_0028_values(case: str) -> None:
    build, want = HOSTILE_0028[case]

    tracemalloc.start()
    try:
        got = read_all(build(), check=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (got.error, got.frames) == (want.error, want.frames), got
    assert got.warned == want.warned
    assert peak < 4 << 20  # nothing sized by the header's claims


def test_frames_that_read_under_hostile_frame_counts_are_right() -> None:
    with pytest.warns(LazyDcmWarning):
        frames = lazydcm.FrameSequence(_native_with(number_of_frames=HUGE), cache_bytes=0)
    with frames:
        assert len(frames) == HUGE
        np.testing.assert_array_equal(frames[3], FRAMES[3])
        with pytest.raises(FrameIndexError, match=f"holds 4 complete frames of the {HUGE}"):
            frames[-1]
        with pytest.raises(IndexError):
            frames[HUGE]


def test_hostile_values_are_named_in_the_message() -> None:
    with pytest.raises(InvalidDicomError) as info:
        lazydcm.FrameSequence(_native_with(bits_allocated=3, bits_stored=3))
    message = str(info.value)
    assert "(0028,0100) 'Bits Allocated' value 3" in message
    assert "at byte" in message

    with pytest.raises(InvalidDicomError, match=r"'Number of Frames' value .*2147483648"):
        lazydcm.FrameSequence(_native_with(number_of_frames=2**31))


# -- garbage item tags -------------------------------------------------------------------


def _garbage_tag(layout: str, k: int, tag: bytes = b"\x08\x00\x18\x00") -> bytes:
    data = encapsulated_file(layout)
    at = _item(data, k)[0]
    return data[:at] + tag + data[at + 4 :]


GARBAGE_TAGS: dict[str, tuple[Callable[[], bytes], Outcome]] = {
    "BOT item tag": (lambda: _garbage_tag("bot", 0), Outcome(InvalidDicomError)),
    # The scan keeps the fragments before the garbage: frames 2 and 3 are not there.
    "scan: frame 2's item tag": (
        lambda: _garbage_tag("scan", 3),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    "scan: an item delimiter for frame 2's item": (
        lambda: _garbage_tag("scan", 3, b"\xfe\xff\x0d\xe0"),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    "scan: the sequence delimiter for frame 2's item": (
        lambda: _garbage_tag("scan", 3, DELIMITER_TAG),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    # A BOT entry lands on garbage: the frame's read finds it, the rescan keeps the
    # frames before it.
    "BOT: frame 2's first item tag": (
        lambda: _garbage_tag("bot", 5),
        Outcome(None, ("ok", "ok", F, F), True),
    ),
    "BOT: frame 1's second item tag": (
        lambda: _garbage_tag("bot", 4),
        Outcome(None, ("ok", F, F, F), True),
    ),
    "EOT: frame 3's item tag": (
        lambda: _garbage_tag("eot", 4),
        Outcome(None, ("ok", "ok", "ok", F), True),
    ),
    "sequence delimiter": (
        lambda: _last_delimiter_replaced(b"\x00" * 4),
        Outcome(None, OK4, True),
    ),
}


@pytest.mark.parametrize("case", list(GARBAGE_TAGS))
def test_garbage_item_tags(case: str) -> None:
    build, want = GARBAGE_TAGS[case]

    got = read_all(build())

    assert (got.error, got.frames, got.warned) == (want.error, want.frames, want.warned), got


def _last_delimiter_replaced(tag: bytes) -> bytes:
    data = encapsulated_file("scan")
    at = data.rindex(DELIMITER_TAG)
    return data[:at] + tag + data[at + 4 :]


# -- depth and loops ---------------------------------------------------------------------


def _lut_sequence(
    item: bytes, *, item_length: int | None = None, seq_length: int | None = None
) -> bytes:
    """A kept (0028,3010) VOI LUT Sequence of defined length holding one item."""
    length = len(item) if item_length is None else item_length
    body = struct.pack("<HHI", 0xFFFE, 0xE000, length) + item
    head = struct.pack(
        "<HH2s2xI", 0x0028, 0x3010, b"SQ", len(body) if seq_length is None else seq_length
    )
    return head + body


@pytest.mark.parametrize(
    ("case", "sequence"),
    [
        ("item longer than its sequence", _lut_sequence(LUT_ITEM, item_length=len(LUT_ITEM) + 8)),
        ("element longer than its item", _lut_sequence(LUT_ITEM, item_length=len(LUT_ITEM) - 2)),
        ("sequence shorter than its item", _lut_sequence(LUT_ITEM, seq_length=8)),
    ],
)  # fmt: skip
def test_items_that_claim_more_than_their_parent_are_invalid(case: str, sequence: bytes) -> None:
    image_bytes = synth.native_pixels(FRAMES, IMAGE)
    padding = (0x00291010, "OB", bytes(64))  # after the sequence, so nothing runs off the end
    data = synth.dicom_file(IMAGE, image_bytes, extra=[sequence, padding])

    with pytest.raises(InvalidDicomError, match="past the end of the") as info:
        read_header(MemorySource(data))
    assert not isinstance(info.value, TruncatedFileError)


def test_100000_zero_length_items_are_walked_quickly() -> None:
    items = [b""] * 100_000
    sequence = synth.encode_sequence(0x00081115, items, undefined_item_length=False)
    data = synth.dicom_file(IMAGE, synth.native_pixels(FRAMES, IMAGE), extra=[sequence])

    started = time.perf_counter()
    got = read_all(data)

    assert got == Outcome(None, OK4, False, "native")
    assert time.perf_counter() - started < 2.0


def test_items_of_zero_length_in_a_kept_sequence_terminate() -> None:
    sequence = synth.encode_sequence(0x00283010, [b""] * 1000, undefined_item_length=False)
    data = synth.dicom_file(IMAGE, synth.native_pixels(FRAMES, IMAGE), extra=[sequence])

    parsed = read_header(MemorySource(data))

    assert len(parsed.header["VOILUTSequence"]) == 1000


# -- a file truncated by another process after it was opened -----------------------------

_CHILD = textwrap.dedent(
    """
    import json, os, sys, warnings
    import numpy as np
    import lazydcm
    path, cut, order = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    warnings.simplefilter("ignore")
    frames = lazydcm.FrameSequence(path, cache_bytes=0)
    table = frames.offset_table
    os.truncate(path, cut)  # another process cuts the file short
    results = {}
    for i in order:
        try:
            results[i] = [int(x) for x in np.asarray(frames[i]).reshape(-1)[:3]]
        except lazydcm.LazyDcmError as exc:
            results[i] = type(exc).__name__
    frames.close()
    print(json.dumps({"table": table, "results": results}))
    """
)


def _truncate_while_open(path: Path, cut: int, order: list[int]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(cut), json.dumps(order)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # A SIGBUS would show as returncode -7.
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    out: dict[str, Any] = json.loads(result.stdout)
    return out


# Frames of several pages each, so that the pages past the cut are gone from the map.
BIG_FRAMES = RNG.integers(0, 4096, (4, 96, 96), dtype=np.uint16)
BIG_IMAGE = synth.ImagePixel(96, 96, bits_stored=12, number_of_frames=4)
BIG_STREAMS = _jpeg(BIG_FRAMES)
BIG = {
    "native": lambda: native_file(BIG_IMAGE, BIG_FRAMES),
    "bot": lambda: encapsulated_file("bot", BIG_IMAGE, BIG_STREAMS),
    "eot": lambda: encapsulated_file("eot", BIG_IMAGE, BIG_STREAMS),
    "scan": lambda: encapsulated_file("scan", BIG_IMAGE, BIG_STREAMS),
}


@pytest.mark.parametrize("kind", list(BIG))
@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0]], ids=["forward", "backward"])
@pytest.mark.parametrize("into", [0, 4, 9, 200], ids=lambda n: f"+{n}")
def test_a_file_truncated_after_it_was_opened(
    tmp_path: Path, kind: str, order: list[int], into: int
) -> None:
    # Arrange: cut `into` bytes into frame 2 (native) or its first item
    # (encapsulated: at, inside the header, just inside the payload, further in);
    # frame 3 and its item headers are on pages past the new end.
    data = BIG[kind]()
    where = layout_of(data)
    if kind == "native":
        cut = where.pixel_value + 2 * BIG_FRAMES[0].nbytes + into
    else:
        fragments = 2 if kind == "bot" else 1
        cut = where.items[1 + 2 * fragments][0] + into
    assert len(data) - cut > 2 * 4096
    path = tmp_path / f"{kind}.dcm"
    path.write_bytes(data)

    # Act
    got = _truncate_while_open(path, cut, order)

    # Assert: whole frames read, the others raise TruncatedFileError; no SIGBUS.
    assert got["table"] == kind
    results = got["results"]
    for i in (0, 1):
        assert results[str(i)] == BIG_FRAMES[i].reshape(-1)[:3].tolist()
    assert results["2"] == results["3"] == "TruncatedFileError"


@pytest.mark.parametrize("kind", ["bot", "eot"])
def test_a_file_truncated_before_its_items_after_it_was_opened(tmp_path: Path, kind: str) -> None:
    # Even the item headers that check the table entries are gone.
    data = BIG[kind]()
    path = tmp_path / f"{kind}.dcm"
    path.write_bytes(data)

    got = _truncate_while_open(path, layout_of(data).items[1][0], [2, 1, 3, 0])

    assert got["table"] == kind
    assert set(got["results"].values()) == {"TruncatedFileError"}


def test_a_wrong_bot_entry_found_after_truncation_rescans_safely(tmp_path: Path) -> None:
    # Entry 2 points into frame 1's payload (found only when frame 1 is read), and
    # the file is cut inside frame 3 after it was opened: the rescan that follows
    # reads item headers with pread too.
    offsets = synth.frame_table(BIG_STREAMS, 2)[0]
    offsets[2] -= 100
    value = synth.encapsulate(BIG_STREAMS, fragments_per_frame=2, bot="full", bot_values=offsets)
    data = synth.dicom_file(BIG_IMAGE, value, transfer_syntax_uid=JPEG_SV1)
    path = tmp_path / "wrong-bot.dcm"
    path.write_bytes(data)

    got = _truncate_while_open(path, layout_of(data).items[7][0] + 100, [0, 1, 2, 3])

    results = got["results"]
    for i in (0, 1, 2):
        assert results[str(i)] == BIG_FRAMES[i].reshape(-1)[:3].tolist()
    assert results["3"] == "TruncatedFileError"


def test_reading_the_mapping_of_a_truncated_file_would_sigbus(tmp_path: Path) -> None:
    # The control: touching a mapped page past the new end of the file kills the
    # process, so the tests above would see it if lazydcm read through the map.
    path = tmp_path / "control.dcm"
    path.write_bytes(bytes(5 * 4096))
    code = textwrap.dedent(
        f"""
        import os
        from lazydcm.sources import LocalFileSource
        source = LocalFileSource({str(path)!r})
        view = source.view(4 * 4096, 16)
        os.truncate({str(path)!r}, 4096)
        print(bytes(view))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == -7  # SIGBUS


def test_the_input_file_is_never_written_or_locked(tmp_path: Path) -> None:
    data = encapsulated_file("bot")[:-150]  # damaged: the last frame is cut
    path = tmp_path / "damaged.dcm"
    path.write_bytes(data)
    os.chmod(path, 0o444)  # read-only: any attempt to write would fail loudly
    before = path.stat()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LazyDcmWarning)
        frames = lazydcm.FrameSequence(path, cache_bytes=0)
    with frames:
        for i in range(len(frames)):
            with contextlib.suppress(LazyDcmError):
                frames[i]
        # Another process can take an exclusive lock while the file is open.
        with open(path, "rb") as other:
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(other.fileno(), fcntl.LOCK_UN)

    after = path.stat()
    assert path.read_bytes() == data
    assert (after.st_mtime_ns, after.st_size, after.st_mode) == (
        before.st_mtime_ns, before.st_size, before.st_mode,
    )  # fmt: skip


# -- codestreams that disagree with the header: checked before the codec runs ------------


def _backends(ts: str) -> list[str]:
    from lazydcm.decoders import available_backends

    return available_backends(lookup(ts))


def _one_frame(stream: bytes, ts: str, **image: Any) -> bytes:
    pixel = synth.ImagePixel(**{**IMAGE.__dict__, "number_of_frames": 1, **image})
    return synth.dicom_file(pixel, synth.encapsulate([stream]), transfer_syntax_uid=ts)


def _j2k_stream() -> bytes:
    return bytes(imagecodecs.jpeg2k_encode(FRAMES[0], codecformat="J2K", level=0))


def _jls_stream() -> bytes:
    return bytes(imagecodecs.jpegls_encode(FRAMES[0]))


def _set_siz(stream: bytes, offset: int, value: int) -> bytes:
    assert stream[:4] == b"\xff\x4f\xff\x51"
    return stream[:offset] + struct.pack(">I", value) + stream[offset + 4 :]


PRECHECKS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "JPEG SOF rows": (
        JPEG_SV1,
        lambda: _one_frame(STREAMS[0], JPEG_SV1, rows=7),
        "6 rows, but (0028,0010) 'Rows' is 7",
    ),
    "JPEG SOF columns": (
        JPEG_SV1,
        lambda: _one_frame(STREAMS[0], JPEG_SV1, columns=4),
        "5 columns, but (0028,0011) 'Columns' is 4",
    ),
    "JPEG SOF components": (
        JPEG_SV1,
        lambda: _one_frame(
            STREAMS[0], JPEG_SV1, samples_per_pixel=3, photometric_interpretation="RGB"
        ),
        "1 components, but (0028,0002) 'Samples per Pixel' is 3",
    ),
    "JPEG SOF precision": (
        JPEG_SV1,
        lambda: _one_frame(STREAMS[0], JPEG_SV1, bits_allocated=8, bits_stored=8),
        "a precision of 12 bits, but (0028,0100) 'Bits Allocated' is 8",
    ),
    "JPEG-LS SOF55 rows": (
        JPEG_LS,
        lambda: _one_frame(_jls_stream(), JPEG_LS, rows=60000),
        "the JPEG-LS SOF55 segment says 6 rows, but (0028,0010) 'Rows' is 60000",
    ),
    "JPEG 2000 SIZ rows": (
        JPEG_2000,
        lambda: _one_frame(_set_siz(_j2k_stream(), 12, 1 << 24), JPEG_2000),
        "the JPEG 2000 SIZ segment says 16777216 rows, but (0028,0010) 'Rows' is 6",
    ),
    "JPEG 2000 SIZ columns": (
        JPEG_2000,
        lambda: _one_frame(_set_siz(_j2k_stream(), 8, 65536), JPEG_2000),
        "65536 columns, but (0028,0011) 'Columns' is 5",
    ),
}


@pytest.mark.parametrize("case", list(PRECHECKS))
def test_codestream_header_is_checked_before_the_codec_runs(case: str) -> None:
    ts, build, says = PRECHECKS[case]
    data = build()

    for backend in _backends(ts):
        frames = lazydcm.FrameSequence(data, cache_bytes=0, decoder=backend)
        with frames, pytest.raises(DecodeError) as info:
            frames[0]
        assert says in str(info.value), (backend, str(info.value))
        # Raised by lazydcm itself: no codec ran, so no codec error is its cause.
        assert info.value.__cause__ is None or isinstance(info.value.__cause__, DecodeError)
        assert info.value.__cause__ is None or info.value.__cause__.__cause__ is None


def _rle_frame() -> bytes:
    rle = pytest.importorskip("rle.utils")
    stream: bytes = rle.encode_pixel_data(
        FRAMES[0].tobytes(), rows=6, columns=5, samples_per_pixel=1, bits_allocated=16,
        byteorder="<",
    )  # fmt: skip
    return stream


@pytest.mark.parametrize("rows", [65535, 1000])
def test_rle_segment_too_short_for_the_header_is_caught_before_the_codec(rows: int) -> None:
    # 65535 x 65535 x 2 bytes would be 8.6 GB: no codec is asked to allocate it.
    data = _one_frame(_rle_frame(), RLE, rows=rows, columns=65535)
    for backend in _backends(RLE):
        frames = lazydcm.FrameSequence(data, cache_bytes=0, decoder=backend)
        with frames, pytest.raises(DecodeError, match=r"RLE segment 1 has \d+ bytes, but"):
            frames[0]


def test_rle_frames_that_fit_still_decode() -> None:
    data = _one_frame(_rle_frame(), RLE)
    for backend in _backends(RLE):
        with lazydcm.FrameSequence(data, cache_bytes=0, decoder=backend) as frames:
            np.testing.assert_array_equal(frames[0], FRAMES[0])


def test_sizes_use_python_integers_so_nothing_overflows() -> None:
    # 65535 x 65535 x 3 samples x 64 bits x (2**31 - 1) frames is about 2**76 bits.
    data = _native_with(rows=65535, columns=65535, samples_per_pixel=3, bits_allocated=64,
                        photometric_interpretation="RGB", number_of_frames=HUGE)  # fmt: skip
    with pytest.warns(LazyDcmWarning):
        frames = lazydcm.FrameSequence(data, cache_bytes=0)
    with frames:
        assert frames.nbytes == HUGE * 65535 * 65535 * 3 * 8
        assert frames.shape == (HUGE, 65535, 65535, 3)
        assert frames.reader.index.nbytes < 1024
        with pytest.raises(FrameIndexError):
            frames[0]
        # A stack of absent frames is refused before its memory is asked for.
        with pytest.raises(FrameIndexError, match="frame 0 is not in the file"):
            frames[:]
        with pytest.raises(FrameIndexError, match="frame 5 is not in the file"):
            frames[[5, 6]]


# -- regressions: failures the fuzzers found -------------------------------------------


def test_regression_ybr_full_422_with_one_sample_is_invalid_at_open() -> None:
    # Mutation fuzzer: a native file whose (0028,0004) was changed to YBR_FULL_422
    # kept Samples per Pixel 1; reading frame 0 raised a bare ValueError from
    # numpy's reshape ("cannot reshape array of size 252 into shape (16,16)").
    data = _native_with(photometric_interpretation="YBR_FULL_422")

    with pytest.raises(
        InvalidDicomError,
        match=r"'Samples per Pixel' value 1 at byte \d+ does not match .*YBR_FULL_422",
    ):
        lazydcm.FrameSequence(data)


_DECODE_IN_CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    import lazydcm
    data = sys.stdin.buffer.read()
    with lazydcm.FrameSequence(data, cache_bytes=0, decoder=sys.argv[1] or None) as frames:
        try:
            frames[0]
            print("decoded")
        except lazydcm.DecodeError as exc:
            chain, cause = [], exc.__cause__
            while cause is not None:
                chain.append(type(cause).__name__)
                cause = cause.__cause__ or cause.__context__
            print(chain, exc)
    """
)


def _decode_first_in_child(data: bytes, decoder: str = "") -> str:
    """Frame 0 of `data` read in a child limited to 2 GiB: what happened, as text."""
    result = subprocess.run(
        [sys.executable, "-c", _DECODE_IN_CHILD, decoder],
        input=data, capture_output=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.decode()


def _first_fragment(data: bytes) -> int:
    """Where frame 0's first fragment starts in `data`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LazyDcmWarning)
        with lazydcm.FrameSequence(data) as frames:
            return frames.stored_pieces(0)[0][0]


def test_regression_j2k_siz_claiming_16m_rows_is_not_decoded() -> None:
    # Mutation fuzzer, RG3_J2KI.dcm with Ysiz set to 0x01000000: openjpeg tried to
    # allocate 1760 x 16,777,216 samples and raised MemoryError under the 2 GiB
    # limit (then wrapped in a DecodeError).  Now the SIZ segment is compared
    # with the header first.
    data = bytearray(real_file("RG3_J2KI.dcm").read_bytes())
    first = _first_fragment(bytes(data))
    assert data[first : first + 4] == b"\xff\x4f\xff\x51"
    data[first + 12 : first + 16] = struct.pack(">I", 1 << 24)

    out = _decode_first_in_child(bytes(data))

    assert out.startswith("['DecodeError'] "), out  # lazydcm's own, no MemoryError behind
    assert "16777216 rows, but (0028,0010) 'Rows' is 1760" in out


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("SC_rgb_jls_lossy_line.dcm", "pylibjpeg"),  # campaign seed 1, case 85541: a hang
        ("JPEGLSNearLossless_16.dcm", "pylibjpeg"),  # campaign seed 1, case 87920: an abort
        ("SC_rgb_jls_lossy_line.dcm", "imagecodecs"),
        ("JPEGLSNearLossless_16.dcm", "imagecodecs"),
    ],
)
def test_regression_jpeg_ls_sof_with_0_rows_is_not_decoded(name: str, backend: str) -> None:
    # Mutation fuzzer campaign: a JPEG-LS SOF55 segment whose height (Y) was set to
    # 0 -- "lines given later by a DNL segment" -- made libjpeg grow the frame
    # without bound: a hang, then "cannot allocate memory for thread-local data:
    # ABORT" under the 2 GiB limit.  A height of 0 is now refused before decoding.
    data = bytearray(real_file(name).read_bytes())
    first = _first_fragment(bytes(data))
    sof = data.index(b"\xff\xf7", first)
    assert sof - first < 64
    data[sof + 5 : sof + 7] = b"\x00\x00"  # FF F7, Lf (2), P (1), Y (2)

    out = _decode_first_in_child(bytes(data), backend)

    assert out.startswith("['DecodeError'] "), out
    assert "the JPEG-LS SOF55 segment says 0 rows (a height given later, in a DNL" in out


def test_a_jpeg_sof_with_0_rows_is_refused_by_every_backend() -> None:
    stream = bytearray(STREAMS[0])
    sof = stream.index(b"\xff\xc3")  # lossless SOF3: FF C3, Lf, P, Y
    stream[sof + 5 : sof + 7] = b"\x00\x00"
    data = _one_frame(bytes(stream), JPEG_SV1)

    for backend in _backends(JPEG_SV1):
        frames = lazydcm.FrameSequence(data, cache_bytes=0, decoder=backend)
        with frames, pytest.raises(DecodeError, match="says 0 rows"):
            frames[0]
