"""The frame table from one walk over the item headers (no usable offset table).

Item headers are 8 bytes each and payloads are skipped; only where a frame spans
several fragments are a few bytes read at fragment starts and ends: a fragment
starts a frame when it begins with the syntax's start marker and the fragment
before it ends with the end marker (EOI/EOC, FF D9) within its last few bytes.
Syntaxes without markers (RLE, deflate, uncompressed) have one fragment a frame
(PS3.5 A.4.2, A.4.11).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lazydcm.index.checks import settle
from lazydcm.index.items import JXL_MARKERS, ItemReader, start_markers
from lazydcm.index.table import FrameIndex

__all__ = ["scan_index"]


def scan_index(reader: ItemReader, first: int, declared: int) -> FrameIndex:
    """Frame table from one walk over the item headers from `first`, grouped into frames."""
    walked = reader.walk(first, None)
    offsets, lengths, how = walked.offsets, walked.lengths, walked.how
    truncated = how in ("eof", "cut", "shrunk")
    found = len(offsets)
    if not found or (found == declared and not _continued(reader, offsets, lengths)):
        starts = np.arange(found, dtype=np.int64)
    elif declared == 1 and not truncated:
        starts = np.zeros(1, dtype=np.int64)  # every fragment makes the only frame
    else:
        starts = _group_by_markers(reader, offsets, lengths)
    if (truncated or how == "garbage") and len(starts):
        last = int(starts[-1])
        if not reader.ends_cleanly(int(offsets[-1]), int(lengths[-1])):
            # The file (or what could be read of the items) ends inside the last
            # frame's codestream: it is not there.
            offsets, lengths, starts = offsets[:last], lengths[:last], starts[:-1]
    count, missing = settle(
        reader.name, reader.size, declared, len(starts) + truncated, len(starts)
    )
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


def _continued(reader: ItemReader, offsets: NDArray[np.int64], lengths: NDArray[np.int64]) -> bool:
    """Whether the first frame's codestream goes on in the second fragment.

    As many fragments as frames is one fragment a frame, unless the first fragment
    does not end its codestream and the second does not start one: then the count
    is a coincidence (a scan that stopped early) and frames are grouped by markers.
    """
    return (
        len(offsets) > 1
        and not reader.ends_cleanly(int(offsets[0]), int(lengths[0]))
        and not reader.starts_codestream(offsets[1:2])
    )


def _group_by_markers(
    reader: ItemReader, offsets: NDArray[np.int64], lengths: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Indices of the fragments that start a frame, found from codec markers."""
    markers = start_markers(reader.uid)
    if markers is None:
        return np.arange(len(offsets), dtype=np.int64)
    # A head is clipped to its fragment: an empty fragment starts nothing.
    heads = [h[:n] for h, n in zip(reader.peek(offsets, 12), lengths.tolist(), strict=True)]
    starts = np.array([head.startswith(markers) for head in heads], dtype=bool)
    if markers is not JXL_MARKERS:
        starts[1:] &= reader.ends(offsets, lengths)[:-1]
    starts[0] = True
    return np.flatnonzero(starts).astype(np.int64)
