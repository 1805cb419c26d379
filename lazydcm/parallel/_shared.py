"""What the parallel pools share: small helpers about frames, files and shared memory."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from lazydcm.inflight import CLOSED
from lazydcm.source import identity

if TYPE_CHECKING:
    from lazydcm.sequence import FrameSequence

__all__ = ["CLOSED", "frame_bytes", "identity", "shm_room"]


def frame_bytes(seq: FrameSequence) -> int:
    """Bytes of one decoded frame (at least 1)."""
    return max(1, math.prod(seq.frame_shape) * seq.dtype.itemsize)


def shm_room() -> int | None:
    """Bytes free for shared memory (the /dev/shm file system), None where unknown."""
    try:
        status = os.statvfs("/dev/shm")
    except (OSError, AttributeError):  # no /dev/shm, no statvfs (Windows)
        return None
    return status.f_bavail * status.f_frsize
