"""What the parallel pools share: small helpers about frames and shared memory."""

from __future__ import annotations

import math
import os

from lazydcm.decoders import FrameSpec

__all__ = ["frame_bytes", "shm_room"]


def frame_bytes(spec: FrameSpec) -> int:
    """Bytes of one decoded frame (at least 1)."""
    return max(1, math.prod(spec.shape) * spec.dtype.itemsize)


def shm_room() -> int | None:
    """Bytes free for shared memory (the /dev/shm file system), None where unknown."""
    try:
        status = os.statvfs("/dev/shm")
    except (OSError, AttributeError):  # no /dev/shm, no statvfs (Windows)
        return None
    return status.f_bavail * status.f_frsize
