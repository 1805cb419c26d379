"""The frame table from the Extended Offset Table (PS3.3 C.7.6.3.1.8).

64-bit offsets and lengths, one fragment a frame.  Checked at open: one entry a
frame, offsets that start at 0 and increase, values below 2**62, and the first
and last frames' items walked.  Every other entry is checked when its frame is
read (:func:`eot_pieces`): it must point at an item of its length.
"""

from __future__ import annotations

import numpy as np

from lazydcm.errors import TruncatedFileError
from lazydcm.index.checks import check_count, check_offsets, rejected, settle
from lazydcm.index.items import ITEM, ItemReader
from lazydcm.index.table import FrameIndex, Pieces, Rejected

__all__ = ["TABLE", "eot_index", "eot_pieces"]

TABLE = "Extended Offset Table (7FE0,0001)"
#: Extended Offset Table values at or above this are beyond any file.
_BEYOND = 1 << 62


def eot_index(
    reader: ItemReader,
    first: int,
    offsets: object,
    lengths: object,
    declared: int,
) -> FrameIndex | Rejected:
    """Build the frame table from the EOT, or say why the EOT cannot be used.

    `first` is the first item after the Basic Offset Table, the origin of the
    offsets; `declared` is Number of Frames.
    """
    name = reader.name
    if not isinstance(offsets, np.ndarray) or not isinstance(lengths, np.ndarray):
        return rejected(name, TABLE, "(7FE0,0002) 'Extended Offset Table Lengths' is missing")
    if len(offsets) != len(lengths) or not len(offsets):
        return rejected(name, TABLE, f"it has {len(offsets)} offsets and {len(lengths)} lengths")
    if found := check_count(name, TABLE, len(offsets), declared):
        return found
    if max(int(offsets.max()), int(lengths.max())) >= _BEYOND:
        # No file is that large; as int64 such values would wrap negative.
        return rejected(name, TABLE, "it holds an offset or a length of 2**62 bytes or more")
    relative = offsets.astype(np.int64)
    if found := check_offsets(name, TABLE, relative):
        return found
    positions = first + relative
    frame_lengths = lengths.astype(np.int64)
    inside = positions + 8 + frame_lengths <= reader.size
    # Frames are present up to the first one that runs past the end of the file.
    complete = len(inside) if inside.all() else int(np.argmin(inside))
    index = FrameIndex(
        kind="eot", origin=first, offsets=positions, lengths=frame_lengths, count=declared
    )
    for k in sorted({0, complete - 1}) if complete else []:
        checked = eot_pieces(reader, index, k)
        if isinstance(checked, Rejected):
            return checked
    count, missing = settle(name, reader.size, declared, len(positions), complete)
    return FrameIndex(
        kind="eot",
        origin=first,
        offsets=positions[:complete],
        lengths=frame_lengths[:complete],
        count=count,
        missing=missing,
    )


def eot_pieces(reader: ItemReader, index: FrameIndex, i: int) -> Pieces | Rejected:
    """Frame `i`'s one fragment, after checking that its entry points at an item.

    Raises
    ------
    TruncatedFileError
        The frame's bytes are not in the file (any more).
    """
    pos, length = int(index.offsets[i]), int(index.lengths[i])
    first = index.origin
    size, name = reader.size, reader.name
    found = reader.header_now(pos)
    if found is None and pos + 8 <= size:
        raise TruncatedFileError(
            f"{name}: frame {i} is not there any more: the item header at byte "
            f"{pos} cannot be read (the file has shrunk since it was opened)"
        )
    # The length is the item's, or one less (an odd frame's pad byte left out).
    if found is None or found[0] != ITEM or not 0 <= found[1] - length <= 1:
        return Rejected(
            f"{name}: entry {i} ({pos - first}, length {length}) of the {TABLE} "
            f"does not point at an item of that length (byte {pos})"
        )
    if pos + 8 + length > size:
        raise TruncatedFileError(
            f"{name}: frame {i} needs bytes {pos + 8}..{pos + 8 + length}, but the "
            f"file ends at byte {size}"
        )
    return [pos + 8], [length]
