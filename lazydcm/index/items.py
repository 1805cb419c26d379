"""The item headers of encapsulated pixel data (PS3.5 A.4), read and walked.

The value of encapsulated pixel data is a Basic Offset Table item, then one
item per fragment, then a sequence delimiter; every item header is 8 bytes (the
tag (FFFE,E000) and a 32-bit length).  :class:`ItemReader` reads them through the
:class:`~lazydcm.sources.ByteSource` protocol:

* :func:`read_basic_offset_table` - the BOT item, checked (inside the file, a
  multiple of 4 bytes);
* :meth:`ItemReader.walk` - item headers from a position to a stop or to the
  sequence delimiter, payloads skipped, and how the walk ended;
* :meth:`ItemReader.starts_codestream`, :meth:`ItemReader.ends_cleanly` - the few
  bytes at fragment starts and ends that tell which fragments start a frame.

At open, the walks read through ``view``: a zero-copy source (a mapped file, a
buffer) in one view of all that follows, any other one header at a time, 8
bytes a read.  A reader made with ``pread=True`` reads every byte with
``read_into`` instead: the walks made after a file was opened (checking an offset
table entry when its frame is read, a rescan), when another process may have
truncated the file since -- a short read then, never a SIGBUS.
"""

from __future__ import annotations

import struct
import warnings
from array import array
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lazydcm import uids
from lazydcm.errors import InvalidDicomError, LazyDcmWarning, TruncatedFileError
from lazydcm.header import ParsedHeader
from lazydcm.header.tags import format_tag
from lazydcm.sources.base import ByteSource, read_exactly

__all__ = [
    "DELIMITER",
    "EOI",
    "ITEM",
    "JXL_MARKERS",
    "ItemReader",
    "Walked",
    "read_basic_offset_table",
    "start_markers",
    "tag_text",
]

# Item headers read as two little-endian uint32: the tag, then the length.
ITEM = 0xE000FFFE  # (FFFE,E000)
DELIMITER = 0xE0DDFFFE  # (FFFE,E0DD)
_HEADER = struct.Struct("<II")

# Codec markers that start a frame's codestream, by family.
_JPEG_MARKERS = (b"\xff\xd8",)
_J2K_MARKERS = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
JXL_MARKERS = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")
#: JPEG's End Of Image, also JPEG 2000's End Of Codestream (FF D9).
EOI = b"\xff\xd9"
_END_WINDOW = 10  # an end marker may be followed by a little padding


def start_markers(uid: str) -> tuple[bytes, ...] | None:
    """The byte strings one of which starts every codestream of `uid`; None: no markers."""
    if uid in uids.JPEG_SYNTAXES:
        return _JPEG_MARKERS
    if uid in uids.J2K_SYNTAXES or uid in uids.J2K_PART2_SYNTAXES:
        return _J2K_MARKERS
    if uid in uids.JPEG_XL_SYNTAXES:
        return JXL_MARKERS
    return None


def tag_text(tag: int) -> str:
    """A little-endian uint32 tag as '(gggg,eeee) ...'."""
    return format_tag((tag & 0xFFFF) << 16 | tag >> 16)


@dataclass(frozen=True)
class Walked:
    """What a walk over item headers found."""

    #: Payload offsets and lengths of the complete items.
    offsets: NDArray[np.int64]
    lengths: NDArray[np.int64]
    #: How the walk ended: "delimiter", "stop" (at the stop asked for), "overrun" (an
    #: item runs past the stop), "eof" (the file ends after the last item), "cut" (it
    #: ends inside an item), "garbage" (a tag that is neither an item nor the
    #: delimiter) or, reading with ``pread``, "shrunk" (a header that was inside the
    #: file is no longer there).
    how: str
    #: Where the walk stopped, and the tag found there.
    end: int
    tag: int


@dataclass(frozen=True)
class ItemReader:
    """Reads the item headers of one file's encapsulated pixel data."""

    source: ByteSource
    #: The transfer syntax, whose codec markers group fragments into frames.
    uid: str
    #: Read with ``read_into`` only, never through ``view`` (after open).
    pread: bool = False

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def size(self) -> int:
        return self.source.size

    def read(self, pos: int, n: int, *, pread: bool = False) -> memoryview:
        """Exactly `n` bytes at `pos`: a view, or a copy made with ``read_into``."""
        if pread or self.pread:
            return read_exactly(self.source, pos, n)
        return self.source.view(pos, n)

    def header_now(self, pos: int) -> tuple[int, int] | None:
        """The (tag, length) of the item header at `pos`, read with ``read_into``.

        None when the 8 bytes are not there -- past the end of the file as opened,
        or of a file that has shrunk since -- so a read never touches a mapped
        page that may have gone.
        """
        if pos < 0 or pos + 8 > self.size:
            return None
        out = bytearray(8)
        if self.source.read_into(pos, memoryview(out)) < 8:
            return None
        tag, length = _HEADER.unpack(out)
        return tag, length

    def _readable(self, pos: int) -> bool:
        """Whether the byte at `pos` can still be read (the file may have shrunk)."""
        return self.source.read_into(pos, memoryview(bytearray(1))) == 1

    def walk(self, pos: int, stop: int | None, *, warn: bool = True) -> Walked:
        """Walk item headers from `pos` to `stop`, or to the sequence delimiter.

        A walk to the delimiter that finds a tag that is neither an item nor the
        delimiter warns (:class:`~lazydcm.errors.LazyDcmWarning`) unless `warn` is
        False: the fragments before it are used.
        """
        if stop is None and not self.pread and self.source.zero_copy:
            offsets, end, how, tag = self._run(pos)
        else:
            offsets, end, how, tag = self._steps(pos, stop)
        if how == "garbage" and warn:
            warnings.warn(
                f"{self.name}: expected an item (FFFE,E000) or the sequence delimiter "
                f"(FFFE,E0DD) at byte {end} of the encapsulated pixel data, found "
                f"{tag_text(tag)}; the {len(offsets)} fragments before it are used",
                LazyDcmWarning,
                stacklevel=5,
            )
        starts = np.frombuffer(offsets, dtype=np.int64).copy() if offsets else np.zeros(0, np.int64)
        # Items are contiguous: each payload ends 8 bytes before the next header.
        ends = np.append(starts[1:] - 8, end).astype(np.int64)
        return Walked(starts, ends - starts, how, end, tag)

    def _run(self, pos: int) -> tuple[array[int], int, str, int]:
        """Walk a zero-copy source to the delimiter: the hot loop of opening a
        many-frame file without an offset table.

        No bounds test per item (it costs a sixth of the walk): a header read past
        the end of the view raises ``struct.error``, which only a file that ends
        inside its items reaches, and only the last item can run past the end.
        """
        offsets = array("q")
        append, unpack = offsets.append, _HEADER.unpack_from
        buf = self.source.view(0, self.size)
        tag = ITEM
        try:
            while True:
                tag, length = unpack(buf, pos)
                if tag != ITEM:
                    break
                pos += 8
                append(pos)
                pos += length
            how = "delimiter" if tag == DELIMITER else "garbage"
        except struct.error:
            size = self.size
            if pos > size:  # the last item's payload runs past the end: not there
                pos = offsets.pop() - 8
            how = "eof" if pos == size else "cut"
        return offsets, pos, how, tag

    def _steps(self, pos: int, stop: int | None) -> tuple[array[int], int, str, int]:
        """Walk item headers one bounded step at a time (to `stop`, or with ``pread``)."""
        size = self.size
        end = size if stop is None else min(stop, size)
        offsets = array("q")
        append = offsets.append
        how, tag = "eof", ITEM
        while pos + 8 <= end:
            if self.pread:
                found = self.header_now(pos)
                if found is None:
                    how = "shrunk"
                    break
                tag, length = found
            else:
                tag, length = _HEADER.unpack(self.source.view(pos, 8))
            if tag != ITEM:
                how = "delimiter" if tag == DELIMITER else "garbage"
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
        size = self.size
        out = []
        for p in positions.tolist():
            start, stop = max(0, p), min(size, p + n)
            out.append(bytes(self.read(start, stop - start)) if stop > start else b"")
        return out

    def starts_codestream(self, offsets: NDArray[np.int64], *, pread: bool = False) -> bool:
        """Whether every fragment at `offsets` begins with the syntax's start marker
        (always, for syntaxes without markers); `pread` reads with ``read_into``."""
        markers = start_markers(self.uid)
        if markers is None:
            return True
        for pos in offsets.tolist():
            n = max(0, min(12, self.size - pos))
            head = bytes(self.read(pos, n, pread=pread))
            if not head.startswith(markers):
                return False
        return True

    def ends_cleanly(self, offset: int, length: int) -> bool:
        """Whether a fragment ends a codestream (always, for syntaxes without end marker)."""
        markers = start_markers(self.uid)
        if markers is None or markers is JXL_MARKERS or length <= 0:
            return True
        window = min(length, _END_WINDOW)
        return EOI in self.peek(np.array([offset + length - window]), window)[0]

    def ends(self, offsets: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.bool_]:
        """For each fragment, whether an end marker is in its last few bytes."""
        window = np.minimum(lengths, _END_WINDOW)
        tails = self.peek(offsets + lengths - window, _END_WINDOW)
        found = [EOI in tail[:w] for tail, w in zip(tails, window.tolist(), strict=True)]
        return np.array(found, dtype=bool)


def read_basic_offset_table(
    parsed: ParsedHeader, reader: ItemReader
) -> tuple[int, NDArray[np.int64]]:
    """Where the first item after the Basic Offset Table is, and the table's offsets.

    That first item is the origin of BOT and EOT offsets (PS3.5 A.4, PS3.3
    C.7.6.3.1.8).

    Raises
    ------
    TruncatedFileError
        The file ends before or inside the BOT item.
    InvalidDicomError
        There is no BOT item, or its length is not a multiple of 4.
    """
    pixel, name, size = parsed.pixel, reader.name, reader.size
    pos = pixel.value_offset
    if pos + 8 > size:
        raise TruncatedFileError(
            f"{name}: the file ends at byte {size}, before the Basic Offset "
            f"Table item of {format_tag(pixel.tag)} at byte {pos}"
        )
    tag, length = _HEADER.unpack(reader.read(pos, 8))
    if tag != ITEM:
        raise InvalidDicomError(
            f"{name}: expected the Basic Offset Table item (FFFE,E000) at byte {pos}, "
            f"the start of encapsulated {format_tag(pixel.tag)}, found {tag_text(tag)}"
        )
    if pos + 8 + length > size:
        raise TruncatedFileError(
            f"{name}: the Basic Offset Table item at byte {pos} has length {length}, "
            f"but the file ends at byte {size}"
        )
    if length % 4:
        raise InvalidDicomError(
            f"{name}: the Basic Offset Table item at byte {pos} has length {length}, "
            "which is not a multiple of 4 (PS3.5 A.4)"
        )
    bot = np.frombuffer(reader.read(pos + 8, length), dtype="<u4").astype(np.int64)
    return pos + 8 + length, bot
