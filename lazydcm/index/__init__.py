"""The frame index: where each frame's bytes are, built once when a file opens.

A :class:`FrameIndex` holds int64 NumPy arrays of frame offsets and lengths, so a
200,000-frame file costs a few MB.  :func:`build_index` picks one builder per
case, by the value each returns (a table, or :class:`Rejected` with the reason),
never by catching an error:

* native data: arithmetic (:mod:`~lazydcm.index.native`);
* encapsulated data (PS3.5 A.4): the Extended Offset Table
  (:mod:`~lazydcm.index.eot`), else the Basic Offset Table
  (:mod:`~lazydcm.index.bot`), else a scan of the item headers
  (:mod:`~lazydcm.index.scan`), all reading items through
  :mod:`~lazydcm.index.items`.

A table from the file is trusted only as far as it is checked.  At open: one
entry a frame, a first offset of 0, increasing offsets (a BOT whose 32-bit
offsets wrapped past 4 GiB is caught), and its first and last frames walked.
Every other entry is checked when its frame is read (:func:`frame_pieces`); one
that fails gives :class:`Rejected`, for the reader to rescan
(``build_index(..., trust_tables=False)``).  A table rejected at open is named in a
:class:`~lazydcm.errors.LazyDcmWarning` and the next way is taken.  Checking
entries as they are used keeps opening a 20,000-frame file to the cost of its
header.

Only item headers, and for marker grouping a few bytes at fragment starts and
ends, are read at open; never a payload.  Frames the header promises but the
file does not hold stay in the count: reading one raises
:class:`~lazydcm.errors.TruncatedFileError` when the file ends early,
:class:`~lazydcm.errors.FrameIndexError` when complete data holds fewer frames
than Number of Frames.  Frames the data holds beyond Number of Frames are added
with a warning, as pydicom does.  :mod:`~lazydcm.index.sidecar` keeps built
tables for the next open of the same file.
"""

from __future__ import annotations

import warnings

from lazydcm.errors import LazyDcmWarning
from lazydcm.header import ParsedHeader
from lazydcm.index.bot import TABLE as BOT
from lazydcm.index.bot import bot_index, bot_pieces
from lazydcm.index.checks import rejected
from lazydcm.index.eot import eot_index, eot_pieces
from lazydcm.index.items import ItemReader, read_basic_offset_table
from lazydcm.index.native import native_frame_bits, native_index
from lazydcm.index.scan import scan_index
from lazydcm.index.table import FrameIndex, IndexKind, Pieces, Rejected
from lazydcm.sources.base import ByteSource

__all__ = [
    "FrameIndex",
    "IndexKind",
    "ItemReader",
    "Pieces",
    "Rejected",
    "build_index",
    "frame_pieces",
    "native_frame_bits",
    "native_index",
    "warn_rejected",
]


def build_index(
    parsed: ParsedHeader, source: ByteSource, *, trust_tables: bool = True
) -> FrameIndex:
    """Build the frame table of a parsed file with the builder its data needs.

    ``trust_tables=False`` ignores the BOT and EOT of encapsulated data and scans
    its items instead, reading them with ``read_into`` (the way back when a table
    fails its check while frames are read, when the file may have changed since).
    """
    if parsed.transfer_syntax.native:
        return native_index(parsed, source.name, source.size)
    reader = ItemReader(source, parsed.transfer_syntax.uid, pread=not trust_tables)
    first, bot = read_basic_offset_table(parsed, reader)
    declared = parsed.info.number_of_frames
    header = parsed.header
    if trust_tables and "ExtendedOffsetTable" in header:
        if len(bot):
            # PS3.3 C.7.6.3.1.8: the Basic Offset Table shall be empty beside an EOT.
            warn_rejected(rejected(source.name, BOT, "an Extended Offset Table is present"))
        eot = eot_index(
            reader,
            first,
            header["ExtendedOffsetTable"],
            header.get("ExtendedOffsetTableLengths"),
            declared,
        )
        if isinstance(eot, FrameIndex):
            return eot
        warn_rejected(eot)
    if trust_tables and len(bot):
        table = bot_index(reader, first, bot, declared)
        if isinstance(table, FrameIndex):
            return table
        warn_rejected(table)
    return scan_index(reader, first, declared)


def frame_pieces(index: FrameIndex, i: int, checker: ItemReader) -> Pieces | Rejected:
    """Where frame `i`'s stored bytes are (`i` < ``index.present``).

    A table read from the file has its entry checked against the item headers,
    read by `checker` (an :class:`ItemReader` made with ``pread=True``): a wrong
    entry gives :class:`Rejected`.
    """
    if index.kind == "eot":
        return eot_pieces(checker, index, i)
    if index.kind == "bot":
        return bot_pieces(checker, index, i)
    return index.pieces(i)


def warn_rejected(why: Rejected) -> None:
    """Say that a table (or an entry of one) is not used, and that items are scanned."""
    warnings.warn(
        f"{why.reason}; the item headers are scanned instead", LazyDcmWarning, stacklevel=4
    )
