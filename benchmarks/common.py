"""Helpers shared by the benchmark modules."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

NATIVE_FRAMES = 1000
NATIVE_SIZE = 512


def random_indices(count: int, seed: int = 1) -> Iterator[int]:
    """An endless, reproducible stream of random frame indices."""
    rng = random.Random(seed)
    return itertools.cycle([rng.randrange(count) for _ in range(4096)])


def per_frame(indices: Iterator[int], read: Callable[[int], object]) -> Callable[[], object]:
    """A benchmark body that reads the next random frame."""
    return lambda: read(next(indices))
