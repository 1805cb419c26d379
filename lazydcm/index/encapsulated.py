"""Frame tables of encapsulated pixel data (PS3.5 A.4), one builder per case.

The value is a Basic Offset Table item, then one item per fragment, then a
sequence delimiter.  :func:`encapsulated_index` chooses, by plain branching:

* :func:`eot_index` - the Extended Offset Table (PS3.3 C.7.6.3.1.8): 64-bit
  offsets and lengths, one fragment a frame;
* :func:`bot_index` - the Basic Offset Table: 32-bit offsets of each frame's first
  item, frames of several fragments joined;
* :func:`scan_index` - one walk over the item headers, 8 bytes each, payloads
  skipped, fragments grouped into frames by their codec markers when a frame
  spans several.

A table from the file is trusted only as far as it is checked.  At open: its
first offset is 0, it increases (so a BOT whose 32-bit offsets wrapped past
4 GiB is caught), it stays inside the file, and its first and last frames are
walked.  Every other entry is checked when its frame is read: its offset must
land on an item tag and its items must end where the next frame begins.  A table
that fails at open is rejected with a :class:`~lazydcm.errors.LazyDcmWarning`
and the items are scanned instead; one that fails later raises
:class:`~lazydcm.errors.FrameIndexError` from :meth:`FrameIndex.pieces`, for the
sequence to rescan.  Checking entries as they are used keeps opening a
20,000-frame file to the cost of its header.

Only item headers, and for marker grouping a few bytes at fragment starts and
ends, are read at open; never a payload.

The item headers that check a table entry when its frame is read are read with
``read_into`` (``pread`` for a mapped file), never through the memory map: a file
truncated by another process after it was opened then gives a short read and a
:class:`~lazydcm.errors.TruncatedFileError`, not a SIGBUS.
"""

from __future__ import annotations

import struct
import warnings
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from lazydcm.errors import FrameIndexError, InvalidDicomError, LazyDcmWarning, TruncatedFileError
from lazydcm.header import ParsedHeader
from lazydcm.index.table import FrameIndex, IndexKind, Pieces
from lazydcm.source import ByteSource, whole_view
from lazydcm.tags import format_tag

__all__ = ["bot_index", "encapsulated_index", "eot_index", "scan_index"]

# Item headers read as two little-endian uint32: the tag, then the length.
_ITEM = 0xE000FFFE  # (FFFE,E000)
_DELIMITER = 0xE0DDFFFE  # (FFFE,E0DD)
_HEADER = struct.Struct("<II")
#: Extended Offset Table values at or above this are beyond any file.
_BEYOND = 1 << 62

# Codec markers that start and end a frame's codestream, by transfer syntax.
_JPEG = (b"\xff\xd8",)
_J2K = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
_JXL = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")
_EOI = b"\xff\xd9"
_END_WINDOW = 10  # an end marker may be followed by a little padding
_START_MARKERS: dict[str, tuple[bytes, ...]] = {
    **dict.fromkeys(
        [f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 57, 70, 80, 81)],
        _JPEG,
    ),
    **dict.fromkeys(
        [f"1.2.840.10008.1.2.4.{n}" for n in (90, 91, 92, 93, 201, 202, 203)],
        _J2K,
    ),
    **dict.fromkeys([f"1.2.840.10008.1.2.4.{n}" for n in (110, 111, 112)], _JXL),
}


def _tag_text(tag: int) -> str:
    """A little-endian uint32 tag as '(gggg,eeee) ...'."""
    return format_tag((tag & 0xFFFF) << 16 | tag >> 16)


@dataclass(frozen=True)
class _Items:
    """The encapsulated value: its Basic Offset Table and where its items start."""

    parsed: ParsedHeader
    source: ByteSource
    #: Absolute offset of the first item after the Basic Offset Table: the origin of
    #: BOT and EOT offsets (PS3.5 A.4, PS3.3 C.7.6.3.1.8).
    first: int
    bot: NDArray[np.int64]
    #: The whole source, zero-copy, when it is mapped or in memory (and not `pread`);
    #: else None.
    buf: memoryview | None
    #: Read every byte with ``read_into``, never through a mapping: for the walks made
    #: after a file was opened, when it may have been truncated since.
    pread: bool = False

    @classmethod
    def open(cls, parsed: ParsedHeader, *, pread: bool = False) -> _Items:
        source, pixel = parsed.source, parsed.pixel
        pos = pixel.value_offset
        if pos + 8 > source.size:
            raise TruncatedFileError(
                f"{source.name}: the file ends at byte {source.size}, before the Basic Offset "
                f"Table item of {format_tag(pixel.tag)} at byte {pos}"
            )
        reader = cls(parsed, source, pos, np.zeros(0, np.int64), None, pread)
        tag, length = _HEADER.unpack(reader.read(pos, 8))
        if tag != _ITEM:
            raise InvalidDicomError(
                f"{source.name}: expected the Basic Offset Table item (FFFE,E000) at byte {pos}, "
                f"the start of encapsulated {format_tag(pixel.tag)}, found {_tag_text(tag)}"
            )
        if pos + 8 + length > source.size:
            raise TruncatedFileError(
                f"{source.name}: the Basic Offset Table item at byte {pos} has length {length}, "
                f"but the file ends at byte {source.size}"
            )
        if length % 4:
            raise InvalidDicomError(
                f"{source.name}: the Basic Offset Table item at byte {pos} has length {length}, "
                "which is not a multiple of 4 (PS3.5 A.4)"
            )
        bot = np.frombuffer(reader.read(pos + 8, length), dtype="<u4").astype(np.int64)
        buf = None if pread else whole_view(source)
        return cls(parsed, source, pos + 8 + length, bot, buf, pread)

    def read(self, pos: int, n: int, *, pread: bool = False) -> memoryview:
        """Exactly `n` bytes at `pos` (inside the file as opened).

        With `pread` (or the `pread` field), read with ``read_into``: a file that has
        shrunk since it was opened raises TruncatedFileError.
        """
        if not (pread or self.pread):
            return self.source.view(pos, n)
        out = bytearray(n)
        got = self.source.read_into(pos, memoryview(out))
        if got < n:
            raise TruncatedFileError(
                f"{self.name}: needed bytes {pos}..{pos + n}, but the file now ends at byte "
                f"{pos + got}: it has shrunk since it was opened"
            )
        return memoryview(out)

    @property
    def name(self) -> str:
        return self.source.name

    def header_now(self, pos: int) -> tuple[int, int] | None:
        """The (tag, length) of the item header at `pos`, read with ``read_into``.

        None when the 8 bytes are not there -- past the end of the file as opened,
        or of a file that has shrunk since -- so a read never touches a mapped
        page that may have gone.
        """
        if pos < 0 or pos + 8 > self.source.size:
            return None
        out = bytearray(8)
        if self.source.read_into(pos, memoryview(out)) < 8:
            return None
        tag, length = _HEADER.unpack(out)
        return tag, length

    def _readable(self, pos: int) -> bool:
        """Whether the byte at `pos` can still be read (the file may have shrunk)."""
        return self.source.read_into(pos, memoryview(bytearray(1))) == 1

    def walk(
        self, pos: int, stop: int | None, *, warn: bool = True, pread: bool = False
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], str]:
        """Walk item headers from `pos` to `stop`, or to the sequence delimiter.

        Returns the payload offsets and lengths of the complete items, and how the
        walk ended: "delimiter", "stop" (at `stop`), "overrun" (an item runs past
        `stop`), "eof" (the file ends after the last item), "cut" (it ends inside an
        item), "garbage" (a tag that is neither an item nor the delimiter) or, with
        `pread`, "shrunk" (a header that was inside the file is no longer there).

        `pread` reads each header with :meth:`header_now` instead of through the
        mapping: the walks made when a frame is read, after the file was opened.
        """
        pread = pread or self.pread
        if stop is None and self.buf is not None and not pread:
            offsets, pos, how, tag = self._run(pos)
        else:
            offsets, pos, how, tag = self._steps(pos, stop, pread)
        if how == "garbage" and warn:
            warnings.warn(
                f"{self.name}: expected an item (FFFE,E000) or the sequence delimiter "
                f"(FFFE,E0DD) at byte {pos} of the encapsulated pixel data, found "
                f"{_tag_text(tag)}; the {len(offsets)} fragments before it are used",
                LazyDcmWarning,
                stacklevel=5,
            )
        starts = np.frombuffer(offsets, dtype=np.int64).copy() if offsets else np.zeros(0, np.int64)
        # Items are contiguous: each payload ends 8 bytes before the next header.
        ends = np.append(starts[1:] - 8, pos).astype(np.int64)
        return starts, ends - starts, how

    def _run(self, pos: int) -> tuple[array[int], int, str, int]:
        """Walk a mapped value to its delimiter: the hot loop of opening a many-frame file.

        No bounds test per item: reading a header past the end of the buffer raises
        struct.error, and only the last item can run past the end of the file.
        """
        offsets = array("q")
        append, unpack, buf = offsets.append, _HEADER.unpack_from, self.buf
        tag = _ITEM
        try:
            while True:
                tag, length = unpack(buf, pos)  # type: ignore[arg-type]
                if tag != _ITEM:
                    break
                pos += 8
                append(pos)
                pos += length
            how = "delimiter" if tag == _DELIMITER else "garbage"
        except struct.error:
            size = self.source.size
            if pos > size:  # the last item's payload runs past the end: not there
                pos = offsets.pop() - 8
            how = "eof" if pos == size else "cut"
        return offsets, pos, how, tag

    def _steps(
        self, pos: int, stop: int | None, pread: bool = False
    ) -> tuple[array[int], int, str, int]:
        """Walk item headers one bounded step at a time (to `stop`, or any source)."""
        size = self.source.size
        end = size if stop is None else min(stop, size)
        offsets = array("q")
        append = offsets.append
        unpack, buf, view = _HEADER.unpack_from, self.buf, self.source.view
        how, tag = "eof", _ITEM
        while pos + 8 <= end:
            if pread:
                found = self.header_now(pos)
                if found is None:
                    how = "shrunk"
                    break
                tag, length = found
            else:
                tag, length = unpack(buf, pos) if buf is not None else unpack(view(pos, 8))
            if tag != _ITEM:
                how = "delimiter" if tag == _DELIMITER else "garbage"
                break
            if pos + 8 + length > size:
                how = "cut"
                break
            if self.pread and length and not self._readable(pos + 7 + length):
                # A rescan keeps only whole items: their ends are peeked at for markers.
                how = "shrunk"  # the payload's last byte is gone
                break
            append(pos + 8)
            pos += 8 + length
        else:
            if stop is not None and pos == stop:
                how = "stop"
            elif stop is not None and pos > stop:
                how = "overrun"  # the last item runs past `stop`
            elif pos < size:
                how = "cut"  # the file ends inside an item header
        return offsets, pos, how, tag

    def peek(self, positions: NDArray[np.int64], n: int) -> list[bytes]:
        """The `n` bytes at each absolute position (clipped to the file)."""
        size = self.source.size
        out = []
        for p in positions.tolist():
            start, stop = max(0, p), min(size, p + n)
            out.append(bytes(self.read(start, stop - start)) if stop > start else b"")
        return out

    def starts_codestream(self, offsets: NDArray[np.int64], *, pread: bool = False) -> bool:
        """Whether every fragment at `offsets` begins with the syntax's start marker
        (always, for syntaxes without markers); `pread` reads with ``read_into``."""
        markers = _START_MARKERS.get(self.parsed.transfer_syntax.uid)
        if markers is None:
            return True
        for pos in offsets.tolist():
            n = max(0, min(12, self.source.size - pos))
            head = bytes(self.read(pos, n, pread=pread))
            if not head.startswith(markers):
                return False
        return True

    def ends_cleanly(self, offset: int, length: int) -> bool:
        """Whether a fragment ends a codestream (always, for syntaxes without end marker)."""
        markers = _START_MARKERS.get(self.parsed.transfer_syntax.uid)
        if markers is None or markers is _JXL or length <= 0:
            return True
        window = min(length, _END_WINDOW)
        return _EOI in self.peek(np.array([offset + length - window]), window)[0]

    def reject(self, table: str, why: str) -> None:
        warnings.warn(
            f"{self.name}: the {table} is not used because {why}; the item headers are "
            "scanned instead",
            LazyDcmWarning,
            stacklevel=5,
        )

    def reject_because(self, error: FrameIndexError) -> None:
        warnings.warn(
            f"{error}; the item headers are scanned instead", LazyDcmWarning, stacklevel=5
        )


def _settle(items: _Items, found: int, complete: int) -> tuple[int, Literal["truncated", "absent"]]:
    """The sequence's frame count and why frames are missing; warn about the mismatch.

    `found` frames are in the data, the first `complete` of them whole: fewer means
    the file was cut short.
    """
    truncated = complete < found
    declared = items.parsed.info.number_of_frames
    name = items.name
    if truncated:
        message = (
            f"{name}: the file ends at byte {items.source.size}, before the end of the "
            f"encapsulated pixel data; {min(complete, declared)} of {declared} frames are "
            "complete"
        )
    elif found > declared:
        message = (
            f"{name}: the encapsulated pixel data holds {found} frames, more than (0028,0008) "
            f"'Number of Frames' {declared}; the extra frames are returned too"
        )
    elif found < declared:
        message = (
            f"{name}: the encapsulated pixel data holds {found} frames, fewer than (0028,0008) "
            f"'Number of Frames' {declared}; frames {found} to {declared - 1} cannot be read"
        )
    else:
        return declared, "absent"
    warnings.warn(message, LazyDcmWarning, stacklevel=5)
    if truncated:
        return declared, "truncated"
    return max(declared, found), "absent"


def encapsulated_index(parsed: ParsedHeader, *, trust_tables: bool = True) -> FrameIndex:
    """Build the frame table of encapsulated pixel data (see the module docstring).

    With ``trust_tables=False`` the offset tables are ignored and the items scanned:
    the way back when a table fails its check while frames are read.
    """
    # A rescan (after a table failed while frames were read) reads with pread: the
    # file may have been truncated since it was opened.
    items = _Items.open(parsed, pread=not trust_tables)
    header = parsed.header
    if trust_tables and "ExtendedOffsetTable" in header:
        index = eot_index(
            items, header["ExtendedOffsetTable"], header.get("ExtendedOffsetTableLengths")
        )
        if index is not None:
            return index
    if trust_tables and len(items.bot):
        index = bot_index(items)
        if index is not None:
            return index
    return scan_index(items)


def _check_count(items: _Items, table: str, entries: int) -> bool:
    """A table has one entry a frame (PS3.5 A.4, PS3.3 C.7.6.3.1.8): a count that is not
    Number of Frames means the table, or the header, is wrong, and a scan tells which."""
    declared = items.parsed.info.number_of_frames
    if entries != declared:
        items.reject(
            table, f"it has {entries} entries but (0028,0008) 'Number of Frames' is {declared}"
        )
        return False
    return True


def _check_offsets(items: _Items, table: str, relative: NDArray[np.int64]) -> bool:
    """The checks a table passes at open: starts at 0, increases, first item is an item."""
    if relative[0] != 0:
        items.reject(table, f"its first offset is {relative[0]}, not 0")
        return False
    steps = np.diff(relative)
    if len(steps) and steps.min() < 8:
        k = int(np.argmax(steps < 8)) + 1
        wrapped = " (32-bit offsets that wrapped past 4 GiB)" if table.startswith("Basic") else ""
        items.reject(
            table, f"it does not increase: offset {k} is {relative[k]} after {relative[k - 1]}"
            f"{wrapped}",
        )  # fmt: skip
        return False
    return True


def eot_index(items: _Items, offsets: object, lengths: object) -> FrameIndex | None:
    """Frame table from the Extended Offset Table: one fragment a frame, 64-bit offsets."""
    table = "Extended Offset Table (7FE0,0001)"
    if not isinstance(offsets, np.ndarray) or not isinstance(lengths, np.ndarray):
        items.reject(table, "(7FE0,0002) 'Extended Offset Table Lengths' is missing")
        return None
    if len(offsets) != len(lengths) or not len(offsets):
        items.reject(table, f"it has {len(offsets)} offsets and {len(lengths)} lengths")
        return None
    if len(items.bot):
        # PS3.3 C.7.6.3.1.8: the Basic Offset Table shall be empty beside an EOT.
        items.reject("Basic Offset Table", "an Extended Offset Table is present")
    if not _check_count(items, table, len(offsets)):
        return None
    if max(int(offsets.max()), int(lengths.max())) >= _BEYOND:
        # No file is that large; as int64 such values would wrap negative.
        items.reject(table, "it holds an offset or a length of 2**62 bytes or more")
        return None
    relative = offsets.astype(np.int64)
    frame_lengths = lengths.astype(np.int64)
    if not _check_offsets(items, table, relative):
        return None
    positions = items.first + relative
    size = items.source.size

    def resolve(i: int) -> Pieces:
        pos, length = int(positions[i]), int(frame_lengths[i])
        found = items.header_now(pos)
        if found is None and pos + 8 <= size:
            raise TruncatedFileError(
                f"{items.name}: frame {i} is not there any more: the item header at byte "
                f"{pos} cannot be read (the file has shrunk since it was opened)"
            )
        # The length is the item's, or one less (an odd frame's pad byte left out).
        if found is None or found[0] != _ITEM or not 0 <= found[1] - length <= 1:
            raise FrameIndexError(
                f"{items.name}: entry {i} ({relative[i]}, length {length}) of the {table} "
                f"does not point at an item of that length (byte {pos})"
            )
        if pos + 8 + length > size:
            raise TruncatedFileError(
                f"{items.name}: frame {i} needs bytes {pos + 8}..{pos + 8 + length}, but the "
                f"file ends at byte {size}"
            )
        return [pos + 8], [length]

    inside = positions + 8 + frame_lengths <= size
    # Frames are present up to the first one that runs past the end of the file.
    complete = len(inside) if inside.all() else int(np.argmin(inside))
    for k in sorted({0, complete - 1}) if complete else []:
        try:
            resolve(k)
        except FrameIndexError as exc:  # noqa: PERF203 (two iterations)
            items.reject_because(exc)
            return None
    return _lazy_index(items, "eot", positions, frame_lengths, complete, resolve)


def bot_index(items: _Items) -> FrameIndex | None:
    """Frame table from the Basic Offset Table; several fragments a frame are joined."""
    table = "Basic Offset Table"
    if not _check_count(items, table, len(items.bot)):
        return None
    if not _check_offsets(items, table, items.bot):
        return None
    positions = items.first + items.bot
    nframes = len(positions)

    def walk(i: int) -> tuple[NDArray[np.int64], NDArray[np.int64], str]:
        stop = int(positions[i + 1]) if i + 1 < nframes else None
        offsets, lengths, how = items.walk(int(positions[i]), stop, warn=False, pread=True)
        if how == "shrunk":
            raise TruncatedFileError(
                f"{items.name}: frame {i} is not there any more: an item header of the frame "
                f"starting at byte {positions[i]} cannot be read (the file has shrunk since "
                "it was opened)"
            )
        if how == "cut" and stop is None and len(offsets):
            # The last frame's items end inside a header (the delimiter's, or one more
            # item's): whether the frame is whole is up to its codestream (see below).
            how = "eof"
        if how == "cut" or (how == "eof" and stop is not None):
            raise TruncatedFileError(
                f"{items.name}: frame {i} is cut off: the file ends at byte "
                f"{items.source.size}, inside the items of the frame starting at byte "
                f"{positions[i]}"
            )
        if not len(offsets) or offsets[0] != positions[i] + 8 or how == "garbage":
            raise FrameIndexError(
                f"{items.name}: entry {i} ({items.bot[i]}) of the {table} points to byte "
                f"{positions[i]}, which is not an item tag (FFFE,E000)"
            )
        if stop is not None and how != "stop":
            raise FrameIndexError(
                f"{items.name}: entry {i + 1} ({items.bot[i + 1]}) of the {table} is not "
                f"where the items of frame {i} end"
            )
        if lengths[0] and not items.starts_codestream(offsets[:1], pread=True):
            raise FrameIndexError(
                f"{items.name}: entry {i} ({items.bot[i]}) of the {table} points to an item "
                "that does not start a codestream"
            )
        return offsets, lengths, how

    def resolve(i: int) -> Pieces:
        offsets, lengths, _ = walk(i)
        return offsets.tolist(), lengths.tolist()

    inside = int(np.count_nonzero(positions + 8 <= items.source.size))
    present = inside
    for k in sorted({0, inside - 1} - {-1}):
        try:
            offsets, lengths, how = walk(k)
        except FrameIndexError as exc:
            items.reject_because(exc)
            return None
        except TruncatedFileError:
            present = min(present, k)
            continue
        if how == "eof" and not items.ends_cleanly(int(offsets[-1]), int(lengths[-1])):
            present = min(present, k)  # no delimiter, and the codestream is cut short
    spans = np.append(np.diff(positions), -1)
    return _lazy_index(items, "bot", positions, spans, present, resolve)


def _lazy_index(
    items: _Items,
    kind: IndexKind,
    positions: NDArray[np.int64],
    lengths: NDArray[np.int64],
    present: int,
    resolve: Callable[[int], Pieces],
) -> FrameIndex:
    """A FrameIndex over a table whose entries are checked as their frames are read."""
    count, missing = _settle(items, len(positions), present)
    return FrameIndex(
        kind=kind,
        offsets=positions[:present],
        lengths=lengths[:present],
        count=count,
        missing=missing,
        resolve=resolve,
    )


def scan_index(items: _Items) -> FrameIndex:
    """Frame table from one walk over the item headers, fragments grouped into frames."""
    offsets, lengths, how = items.walk(items.first, None)
    truncated = how in ("eof", "cut", "shrunk")
    found, declared = len(offsets), items.parsed.info.number_of_frames
    if not found or (found == declared and not _continued(items, offsets, lengths)):
        starts = np.arange(found, dtype=np.int64)
    elif declared == 1 and not truncated:
        starts = np.zeros(1, dtype=np.int64)  # every fragment makes the only frame
    else:
        starts = _group_by_markers(items, offsets, lengths)
    if (truncated or how == "garbage") and len(starts):
        last = int(starts[-1])
        if not items.ends_cleanly(int(offsets[-1]), int(lengths[-1])):
            # The file (or what could be read of the items) ends inside the last
            # frame's codestream: it is not there.
            offsets, lengths, starts = offsets[:last], lengths[:last], starts[:-1]
    count, missing = _settle(items, len(starts) + truncated, len(starts))
    used = len(offsets) if len(starts) <= count else int(starts[count])
    starts = starts[:count]
    bounds = np.append(starts, used).astype(np.int64)
    frame_lengths = np.add.reduceat(lengths[:used], starts) if len(starts) else starts
    # The fragment lists are kept only when some frame has more than one fragment.
    multi = bool(len(starts)) and bool((np.diff(bounds) != 1).any())
    empty = np.zeros(0, dtype=np.int64)
    return FrameIndex(
        kind="scan",
        offsets=offsets[starts],
        lengths=frame_lengths.astype(np.int64),
        count=count,
        fragment_offsets=offsets[:used] if multi else empty,
        fragment_lengths=lengths[:used] if multi else empty,
        fragment_starts=bounds if multi else empty,
        missing=missing,
        fragment_count=len(offsets),
    )


def _continued(items: _Items, offsets: NDArray[np.int64], lengths: NDArray[np.int64]) -> bool:
    """Whether the first frame's codestream goes on in the second fragment.

    As many fragments as frames is one fragment a frame, unless the first fragment
    does not end its codestream and the second does not start one: then the count
    is a coincidence (a scan that stopped early) and frames are grouped by markers.
    """
    return (
        len(offsets) > 1
        and not items.ends_cleanly(int(offsets[0]), int(lengths[0]))
        and not items.starts_codestream(offsets[1:2])
    )


def _group_by_markers(
    items: _Items, offsets: NDArray[np.int64], lengths: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Indices of the fragments that start a frame, found from codec markers.

    A fragment starts a frame when it begins with the syntax's start marker and
    the fragment before it ends with the end marker (EOI/EOC, FF D9) within its
    last few bytes.  Syntaxes without markers (RLE, deflate, uncompressed) have one
    fragment a frame (PS3.5 A.4.2, A.4.11).
    """
    markers = _START_MARKERS.get(items.parsed.transfer_syntax.uid)
    if markers is None:
        return np.arange(len(offsets), dtype=np.int64)
    # A head is clipped to its fragment: an empty fragment starts nothing.
    heads = [h[:n] for h, n in zip(items.peek(offsets, 12), lengths.tolist(), strict=True)]
    starts = np.array([head.startswith(markers) for head in heads], dtype=bool)
    if markers is not _JXL:
        window = np.minimum(lengths, _END_WINDOW)
        tails = items.peek(offsets + lengths - window, _END_WINDOW)
        ends = np.array(
            [_EOI in tail[:w] for tail, w in zip(tails, window.tolist(), strict=True)], dtype=bool
        )
        starts[1:] &= ends[:-1]
    starts[0] = True
    return np.flatnonzero(starts).astype(np.int64)
