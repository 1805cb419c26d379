"""The frame table: where each frame's bytes are, built once when a file opens.

A :class:`FrameIndex` holds int64 NumPy arrays of frame offsets and lengths, so a
200,000-frame file costs a few MB.  :func:`build_index` picks one builder per
case by plain branching:

* native data: arithmetic (:mod:`lazydcm.index.native`);
* encapsulated data: the Extended Offset Table, the Basic Offset Table, or a scan
  of the item headers (:mod:`lazydcm.index.encapsulated`).

Frames the header promises but the file does not hold stay in the table's
count: reading one raises :class:`~lazydcm.errors.TruncatedFileError` when the
file ends early, :class:`~lazydcm.errors.FrameIndexError` when complete data
holds fewer frames than Number of Frames.  Frames the data holds beyond Number of
Frames are added with a :class:`~lazydcm.errors.LazyDcmWarning`, as pydicom does.
"""

from __future__ import annotations

from lazydcm.header import ParsedHeader
from lazydcm.index.encapsulated import encapsulated_index
from lazydcm.index.native import native_frame_bits, native_index
from lazydcm.index.table import FrameIndex, IndexKind, Pieces

__all__ = [
    "FrameIndex",
    "IndexKind",
    "Pieces",
    "build_index",
    "native_frame_bits",
    "native_index",
]


def build_index(parsed: ParsedHeader, *, trust_tables: bool = True) -> FrameIndex:
    """Build the frame table of a parsed file with the builder its data needs.

    ``trust_tables=False`` ignores the BOT and EOT of encapsulated data and scans
    its items instead.
    """
    if parsed.transfer_syntax.native:
        return native_index(parsed, parsed.source.size)
    return encapsulated_index(parsed, trust_tables=trust_tables)
