"""Decoding ahead in threads: for backends that release the GIL, or sources without a path.

A task is a batch of consecutive frames of the order (:func:`~lazydcm.parallel.plan`
sizes it: about a MiB of decoded frames, at least one), decoded by one thread
into new arrays that go to the caller as they are: no copy, and the caller's
thread does no more than wait and yield.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
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
        Frames in flight, or decoded and not yet yielded (at least one task a worker).
    batch : int
        Frames a task decodes.
    """

    def __init__(self, reader: FrameReader, workers: int, depth: int, batch: int = 1) -> None:
        self._reader = reader
        self._batch = max(1, batch)
        self._tasks = max(workers, depth // self._batch)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="lazydcm-decoder")
        self._closed = False
        # Held to check _closed and submit in one step: a submit after shutdown raises.
        self._lock = threading.Lock()

    def _decode(self, indices: Sequence[int]) -> tuple[list[np.ndarray], Exception | None]:
        """The frames at `indices`, up to the first that fails, and its error."""
        decode = self._reader.decode  # a new array on every call: the caller's to keep
        frames: list[np.ndarray] = []
        try:
            # extend() keeps what was decoded before a frame fails.
            frames.extend(decode(i) for i in indices)
        except Exception as exc:  # raised by the caller when it reaches that frame
            return frames, exc
        return frames, None

    def frames(self, order: list[int]) -> Iterator[np.ndarray]:
        """Yield the frames at `order` in order, decoded in batches ahead of the caller."""
        if self._closed:
            raise ValueError(CLOSED)
        batch = self._batch
        pending: deque[Future[tuple[list[np.ndarray], Exception | None]]] = deque()
        starts = iter(range(0, len(order), batch))

        def submit() -> None:
            for start in starts:
                with self._lock:
                    if self._closed:
                        raise ValueError(CLOSED)
                    task = order[start : start + batch]
                    pending.append(self._executor.submit(self._decode, task))
                return

        try:
            for _ in range(self._tasks):
                submit()
            while pending:
                future = pending.popleft()
                try:
                    frames, error = future.result()
                except CancelledError:  # close() in another thread dropped it
                    raise ValueError(CLOSED) from None
                submit()
                yield from frames
                if error is not None:
                    raise error
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Drop the queued frames, wait for those being decoded, stop the threads."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
