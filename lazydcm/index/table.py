"""FrameIndex: where each frame's bytes are, as int64 NumPy arrays; pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["FrameIndex", "IndexKind", "Pieces", "Rejected"]

IndexKind = Literal["native", "bot", "eot", "scan"]

#: Where one frame's stored bytes are: (offsets, lengths) of its pieces, in order.
Pieces = tuple[list[int], list[int]]


@dataclass(frozen=True)
class Rejected:
    """An offset table, or one of its entries, that failed a check: the reason why.

    Builders and entry checks return it instead of raising, so that the caller
    chooses the way on (the next table, or a scan of the item headers) by value.
    """

    reason: str


def _empty() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class FrameIndex:
    """Where each frame's bytes are.

    For native data and scanned encapsulated data, ``offsets[i]`` and ``lengths[i]``
    are frame *i*'s bytes (for encapsulated data: the first byte of its first
    fragment's value and the total length of its fragments).  Frames made of
    several fragments list them in ``fragment_offsets`` and ``fragment_lengths``,
    frame *i* owning ``fragment_starts[i]`` up to ``fragment_starts[i + 1]``.

    A table read from the file (``kind`` "bot" or "eot") is checked entry by entry
    when its frame is read (:func:`lazydcm.index.frame_pieces`): ``offsets[i]`` is
    then the position of the frame's first item, and ``lengths[i]`` the frame's
    length (EOT) or the distance to the next frame's first item (BOT; -1 for the
    last frame).
    """

    kind: IndexKind
    offsets: NDArray[np.int64]
    lengths: NDArray[np.int64]
    #: How many frames the sequence has: Number of Frames, or more when the data
    #: holds excess frames.  Frames from ``present`` up to ``count`` are missing.
    count: int
    #: Bits per frame for native data (to locate 1-bit frames inside a byte); 0 otherwise.
    frame_bits: int = 0
    fragment_offsets: NDArray[np.int64] = field(default_factory=_empty)
    fragment_lengths: NDArray[np.int64] = field(default_factory=_empty)
    fragment_starts: NDArray[np.int64] = field(default_factory=_empty)
    #: Why frames from ``present`` to ``count`` are missing: the file ends early
    #: ("truncated"), or the complete data holds fewer frames ("absent").
    missing: Literal["truncated", "absent"] = "truncated"
    #: How many fragments the encapsulated data holds, when known (a scan counts them).
    fragment_count: int | None = None
    #: Where BOT and EOT offsets count from: the first item after the Basic Offset
    #: Table (PS3.5 A.4); 0 for other kinds.
    origin: int = 0

    @property
    def present(self) -> int:
        """How many frames the file holds."""
        return len(self.offsets)

    @property
    def checked_on_read(self) -> bool:
        """True for tables read from the file, whose entries are checked as frames are read."""
        return self.kind in ("bot", "eot")

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        arrays = (
            self.offsets,
            self.lengths,
            self.fragment_offsets,
            self.fragment_lengths,
            self.fragment_starts,
        )
        return sum(a.nbytes for a in arrays)

    def pieces(self, i: int) -> Pieces:
        """The (offsets, lengths) of frame `i`'s stored bytes; `i` < ``present``.

        A table checked on read gives them through :func:`lazydcm.index.frame_pieces`,
        which checks the entry against the item headers first.

        Raises
        ------
        ValueError
            The table is a BOT or EOT one.
        """
        if self.checked_on_read:
            raise ValueError(
                f"a {self.kind.upper()} table's frames are found by lazydcm.index.frame_pieces"
            )
        if len(self.fragment_starts):
            start, stop = self.fragment_starts[i], self.fragment_starts[i + 1]
            return (
                self.fragment_offsets[start:stop].tolist(),
                self.fragment_lengths[start:stop].tolist(),
            )
        return [int(self.offsets[i])], [int(self.lengths[i])]
