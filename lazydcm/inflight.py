"""Reads in flight, so that closing a file never happens under a read.

Contract: :class:`ReadsInFlight` is entered (``with reads:``) around every read of
a file that may be closed from another thread.  Entering raises ``ValueError``
once :meth:`ReadsInFlight.close` has been called; ``close`` refuses new reads and
waits until those in flight are done, so that the caller may then close the
file: a descriptor closed under a read could meanwhile be reused by another file,
whose bytes the read would return.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

__all__ = ["CLOSED", "ReadsInFlight"]

#: The message of the ``ValueError`` raised for a read after close.
CLOSED = "I/O operation on a closed FrameSequence"


class ReadsInFlight:
    """A count of reads in flight, and whether new ones are still allowed."""

    __slots__ = ("_count", "_lock", "closed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        #: True once :meth:`close` has been called.
        self.closed = False

    def __enter__(self) -> None:
        with self._lock:
            if self.closed:
                raise ValueError(CLOSED)
            self._count += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._count -= 1

    def close(self) -> bool:
        """Refuse new reads and wait for those in flight; False if already closed."""
        with self._lock:
            if self.closed:
                return False
            self.closed = True
        while self._count:  # reads in flight finish in microseconds
            time.sleep(0.001)
        return True
