"""The frame table from the Basic Offset Table (PS3.5 A.4).

32-bit offsets of each frame's first item; a frame of several fragments is the
items up to the next frame's first.  Checked at open: one entry a frame, offsets
that start at 0 and increase (32-bit offsets that wrapped past 4 GiB are caught
here), and the first and last frames' items walked.  Every other entry is
checked when its frame is read (:func:`bot_pieces`): its offset must land on an
item tag, its items must end where the next frame begins, and its first
fragment must start a codestream.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lazydcm.errors import TruncatedFileError
from lazydcm.index.checks import check_count, check_offsets, settle
from lazydcm.index.items import ItemReader, Walked
from lazydcm.index.table import FrameIndex, Pieces, Rejected

__all__ = ["TABLE", "bot_index", "bot_pieces"]

TABLE = "Basic Offset Table"


def bot_index(
    reader: ItemReader, first: int, bot: NDArray[np.int64], declared: int
) -> FrameIndex | Rejected:
    """Build the frame table from the BOT, or say why the BOT cannot be used.

    `first` is the first item after the BOT, the origin of its offsets.
    """
    name = reader.name
    if found := check_count(name, TABLE, len(bot), declared):
        return found
    if found := check_offsets(name, TABLE, bot):
        return found
    positions = first + bot
    spans = np.append(np.diff(positions), -1)
    whole = FrameIndex(kind="bot", origin=first, offsets=positions, lengths=spans, count=declared)
    inside = int(np.count_nonzero(positions + 8 <= reader.size))
    present = inside
    for k in sorted({0, inside - 1} - {-1}):
        walked = _walk(reader, whole, k)
        if isinstance(walked, Rejected):
            return walked
        if walked.how in _GONE or (
            walked.how == "eof"
            and not reader.ends_cleanly(int(walked.offsets[-1]), int(walked.lengths[-1]))
        ):
            present = min(present, k)  # cut off, or no delimiter and the codestream cut short
    count, missing = settle(name, reader.size, declared, len(positions), present)
    return FrameIndex(
        kind="bot",
        origin=first,
        offsets=positions[:present],
        lengths=spans[:present],
        count=count,
        missing=missing,
    )


def bot_pieces(reader: ItemReader, index: FrameIndex, i: int) -> Pieces | Rejected:
    """Frame `i`'s fragments, after checking its entry against the item headers.

    Raises
    ------
    TruncatedFileError
        The frame's items are not in the file (any more).
    """
    walked = _walk(reader, index, i)
    if isinstance(walked, Rejected):
        return walked
    pos = int(index.offsets[i])
    if walked.how == "shrunk":
        raise TruncatedFileError(
            f"{reader.name}: frame {i} is not there any more: an item header of the frame "
            f"starting at byte {pos} cannot be read (the file has shrunk since it was opened)"
        )
    if walked.how == "truncated":
        raise TruncatedFileError(
            f"{reader.name}: frame {i} is cut off: the file ends at byte {reader.size}, inside "
            f"the items of the frame starting at byte {pos}"
        )
    return walked.offsets.tolist(), walked.lengths.tolist()


#: How a walk of a frame's items ends when the frame is not (all) in the file.
_GONE = frozenset({"shrunk", "truncated"})


def _walk(reader: ItemReader, index: FrameIndex, i: int) -> Walked | Rejected:
    """Walk frame `i`'s items, from its entry to the next frame's (or the delimiter).

    A frame not (all) in the file ends "shrunk" (a header that was there is gone)
    or "truncated" (the file ends inside its items); the callers decide what that
    means.
    """
    positions, name, first = index.offsets, reader.name, index.origin
    pos = int(positions[i])
    # The next entry bounds this frame: ``lengths`` holds the distance to it (-1: last).
    span = int(index.lengths[i])
    stop = pos + span if span >= 0 else None
    walked = reader.walk(pos, stop, warn=False)
    how = walked.how
    if how == "cut" and stop is None and len(walked.offsets):
        # The last frame's items end inside a header (the delimiter's, or one more
        # item's): whether the frame is whole is up to its codestream.
        how = "eof"
    if how == "cut" or (how == "eof" and stop is not None):
        how = "truncated"
    if how in _GONE:
        return Walked(walked.offsets, walked.lengths, how, walked.end, walked.tag)
    if not len(walked.offsets) or walked.offsets[0] != pos + 8 or how == "garbage":
        return Rejected(
            f"{name}: entry {i} ({pos - first}) of the {TABLE} points to byte "
            f"{pos}, which is not an item tag (FFFE,E000)"
        )
    if stop is not None and how != "stop":
        return Rejected(
            f"{name}: entry {i + 1} ({stop - first}) of the {TABLE} is not "
            f"where the items of frame {i} end"
        )
    if walked.lengths[0] and not reader.starts_codestream(walked.offsets[:1], pread=True):
        return Rejected(
            f"{name}: entry {i} ({pos - first}) of the {TABLE} points to an item "
            "that does not start a codestream"
        )
    return Walked(walked.offsets, walked.lengths, how, walked.end, walked.tag)
