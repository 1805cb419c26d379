"""What an offset table must pass at open, and how many frames a table gives.

Contract: pure checks that return a :class:`~lazydcm.index.table.Rejected` (the
reason) or None, never raise to choose a way; and :func:`settle`, which turns
"`found` frames in the data, the first `complete` of them whole" into the
sequence's frame count, with one :class:`~lazydcm.errors.LazyDcmWarning` when it
differs from (0028,0008) Number of Frames.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from lazydcm.errors import LazyDcmWarning
from lazydcm.index.table import Rejected

__all__ = ["check_count", "check_offsets", "rejected", "settle"]


def rejected(name: str, table: str, why: str) -> Rejected:
    """A table that is not used, and why."""
    return Rejected(f"{name}: the {table} is not used because {why}")


def check_count(name: str, table: str, entries: int, declared: int) -> Rejected | None:
    """A table has one entry a frame (PS3.5 A.4, PS3.3 C.7.6.3.1.8): a count that is not
    Number of Frames means the table, or the header, is wrong, and a scan tells which."""
    if entries != declared:
        why = f"it has {entries} entries but (0028,0008) 'Number of Frames' is {declared}"
        return rejected(name, table, why)
    return None


def check_offsets(name: str, table: str, relative: NDArray[np.int64]) -> Rejected | None:
    """The checks a table passes at open: it starts at 0 and increases."""
    if relative[0] != 0:
        return rejected(name, table, f"its first offset is {relative[0]}, not 0")
    steps = np.diff(relative)
    if len(steps) and steps.min() < 8:
        k = int(np.argmax(steps < 8)) + 1
        wrapped = " (32-bit offsets that wrapped past 4 GiB)" if table.startswith("Basic") else ""
        why = f"it does not increase: offset {k} is {relative[k]} after {relative[k - 1]}{wrapped}"
        return rejected(name, table, why)
    return None


def settle(
    name: str, size: int, declared: int, found: int, complete: int
) -> tuple[int, Literal["truncated", "absent"]]:
    """The sequence's frame count and why frames are missing; warn about a mismatch.

    `found` frames are in the data, the first `complete` of them whole: fewer means
    the file was cut short (it ends at byte `size`).
    """
    truncated = complete < found
    if truncated:
        message = (
            f"{name}: the file ends at byte {size}, before the end of the encapsulated pixel "
            f"data; {min(complete, declared)} of {declared} frames are complete"
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
