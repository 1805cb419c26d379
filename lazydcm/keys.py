"""Frame keys: what ``frames[key]`` selects, with NumPy's rules, before anything is read.

Contract: :func:`select` turns a key into the frames it needs and how to index
what they make, exactly as NumPy would index the stacked array of all frames:

* an int (or NumPy integer) selects one frame and drops the frame axis;
* a slice, an array of ints (any shape; its shape leads the result) or a boolean
  mask of one value a frame selects frames and keeps the axis (or axes);
* a tuple indexes frames with its first item and each returned frame with the
  rest (``frames[0:2, 10:20]``, ``frames[5, ::2, ::2]``);
* an Ellipsis or ``None`` first leaves nothing to select lazily: every frame is
  needed, and the whole key is applied to the stack.

Anything else -- a float, a string -- is a ``TypeError`` naming the type given;
an index out of range is an ``IndexError``.  Nothing here reads a file.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Selection", "normalise", "select"]


@dataclass(frozen=True)
class Selection:
    """The frames a key needs, and how to index what they make."""

    #: Frame indices, in the order they are stacked (non-negative, in range); a
    #: ``range`` for a slice, so that a huge one costs nothing until it is read.
    indices: Sequence[int]
    #: The leading shape of the result (``()``: one frame, its axis dropped).
    shape: tuple[int, ...]
    #: What indexes the stacked frames afterwards (``()``: nothing).
    rest: tuple[object, ...]
    #: True when the key needs every frame and is applied whole to their stack.
    whole: bool = False

    def finish(self, frames: np.ndarray) -> np.ndarray:
        """Index `frames` -- the frames at :attr:`indices`, stacked -- as the key says."""
        frame_shape = frames.shape[1:]
        if not self.shape:
            out: np.ndarray = frames[0]
        else:
            out = frames.reshape(self.shape + frame_shape)
        if not self.rest:
            return out
        rest: Any = (
            self.rest
            if self.whole or not self.shape
            else ((slice(None),) * len(self.shape) + self.rest)
        )
        indexed: np.ndarray = out[rest]
        return indexed


def normalise(i: object, count: int) -> int:
    """Frame index `i` as a non-negative int below `count` (negative counts from the end)."""
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        try:
            index = operator.index(i)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"frame indices must be integers, not {type(i).__name__} ({i!r})"
            ) from None
    else:
        index = int(i)
    if 0 <= index < count:
        return index
    if -count <= index < 0:
        return index + count
    raise IndexError(f"frame index {index} is out of range for {count} frames")


def select(key: object, count: int) -> Selection:
    """What `key` selects among `count` frames (see the module docstring)."""
    first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
    if isinstance(key, tuple) and not key:
        first = slice(None)
    if first is Ellipsis or first is None:
        whole = key if isinstance(key, tuple) else (key,)
        return Selection(range(count), (count,), whole, whole=True)
    if isinstance(first, (int, np.integer)) and not isinstance(first, (bool, np.bool_)):
        return Selection([normalise(first, count)], (), rest)
    if isinstance(first, slice):
        indices = range(*first.indices(count))
        return Selection(indices, (len(indices),), rest)
    if isinstance(first, (str, bytes, float, complex)):
        raise TypeError(f"frame indices must be integers, not {type(first).__name__} ({first!r})")
    keys = np.asarray(first)
    if keys.dtype == np.bool_:
        if keys.shape != (count,):
            raise IndexError(f"a boolean mask of shape {keys.shape} does not match {count} frames")
        keys = np.flatnonzero(keys)
    elif keys.size and not np.issubdtype(keys.dtype, np.integer):
        raise TypeError(f"frame indices must be integers, not {keys.dtype}")
    listed = [normalise(i, count) for i in keys.reshape(-1).tolist()]
    return Selection(listed, keys.shape, rest)
