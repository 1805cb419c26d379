"""Decoding ahead in threads: for backends that release the GIL, or sources without a path."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

import numpy as np

from lazydcm.frames import FrameReader
from lazydcm.inflight import CLOSED

__all__ = ["ThreadPool"]


class ThreadPool:
    """Decodes ahead in threads (backends that release the GIL, or no path).

    Parameters
    ----------
    reader : FrameReader
        What reads and decodes the frames.
    workers : int
        Number of threads.
    depth : int
        Frames submitted ahead of the one being yielded (at least `workers`).
    """

    def __init__(self, reader: FrameReader, workers: int, depth: int) -> None:
        self._reader = reader
        self._depth = max(depth, workers)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="lazydcm-decoder")
        self._closed = False
        # Held to check _closed and submit in one step: a submit after shutdown raises.
        self._lock = threading.Lock()

    def frames(self, order: list[int]) -> Iterator[np.ndarray]:
        """Yield the frames at `order` in order, decoded `depth` frames ahead."""
        if self._closed:
            raise ValueError(CLOSED)
        decode = self._reader.decode  # a new array on every call: the caller's to keep
        pending: deque[Future[np.ndarray]] = deque()
        ahead = iter(order)

        def submit() -> None:
            for i in ahead:
                with self._lock:
                    if self._closed:
                        raise ValueError(CLOSED)
                    pending.append(self._executor.submit(decode, i))
                return

        try:
            for _ in range(self._depth):
                submit()
            while pending:
                try:
                    frame = pending.popleft().result()
                except CancelledError:  # close() in another thread dropped it
                    raise ValueError(CLOSED) from None
                submit()
                yield frame
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Drop the queued frames, wait for those being decoded, stop the threads."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
