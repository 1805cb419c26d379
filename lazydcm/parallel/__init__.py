"""Parallel read-ahead for iteration over compressed frames.

Contract: :meth:`lazydcm.FrameSequence.iter_frames` hands the frames it must
yield to the pool that :func:`start` returned for the sequence (once, on first
use):

* ``pool.frames(order)`` yields the frames at `order`, in that order, each a new
  array that belongs to the caller.  Workers decode ahead, with at most
  :func:`read_ahead` frames in flight or decoded and not yet yielded: the cache
  budget in frames (parallel iteration does not fill the cache), capped at two
  a worker, and never fewer than one a worker.
* An error raised while decoding frame *i* (a :class:`~lazydcm.errors.DecodeError`,
  any :class:`~lazydcm.errors.LazyDcmError`) is raised when the iteration reaches
  frame *i*, with the type and message a serial iteration gives.
* An iteration abandoned midway (its generator closed or dropped) leaves no work
  queued: queued frames are skipped, the one being decoded is dropped.
* ``pool.close()`` stops the workers and releases what the pool holds;
  idempotent.  A pool whose sequence is garbage-collected unclosed does the same.

Two kinds of pool, chosen by the sequence's backend (``seq.decoder``):

* **Processes** (:class:`ProcessPool`) for backends that hold the GIL while they
  decode, pylibjpeg's libjpeg, openjpeg and rle (:data:`GIL_HOLDING_BACKENDS`).
  Measured on this project's 2-core machine, two threads decode no faster than
  one: openjpeg 55.5 ms a 512x512 uint16 J2K lossless frame with one thread, 54.8
  ms with two; libjpeg 24.3 and 25.7 ms a 1024x1024 JPEG baseline frame.  Each
  worker process opens the file itself, by path, as ``FrameSequence(path,
  cache_bytes=0, raw=..., decoder=<the same backend>, workers=0)``, so no
  encoded byte crosses a process boundary: a task (generation, frame, slot)
  goes one way and a status (slot, colour space, or the error) the other.
  Decoded frames come back through a ring of :func:`read_ahead` slots in one
  :class:`~multiprocessing.shared_memory.SharedMemory` segment, from which the
  caller's array is copied.  Measured against pickling each frame through the
  worker's pipe (2 workers, 2,000 Encapsulated Uncompressed 512x512 uint16
  frames, so that decoding costs only a read): 311 us a frame and 93 us of the
  caller's CPU a frame through shared memory, against 1,116 us and 405 us
  pickled.  Workers start lazily, once per sequence, with the "forkserver"
  method ("spawn" where there is none; never "fork", which is unsafe once the
  caller has threads).  The fork server preloads NumPy, lazydcm and the
  pylibjpeg codecs, so that after the first sequence of a process (0.3 s) two
  workers are ready in 0.045 s; "spawn" takes 0.43 s every time.
* **Threads** (:class:`ThreadPool`) for backends that release the GIL
  (imagecodecs: 52.5 ms a J2K frame with one thread, 26.2 ms with two), and for
  every backend when the sequence has no path (bytes, a file object), when its
  path no longer names the file that was opened, or in a daemonic process (a
  ``multiprocessing.Pool`` or PyTorch ``DataLoader`` worker may not start
  processes).

Result (``benchmarks/test_parallel_iteration.py``: every frame of a 200-frame
512x512 uint16 J2K lossless file, 2 cores, medians of 3, two runs with the
machine otherwise idle): ``workers=2`` 5.33 and 4.72 s, serial (``workers=0``)
9.61 and 8.91 s, ``pydicom.pixels.iter_pixels`` 9.48 and 10.16 s -- 1.78x and
2.15x faster than pydicom, 1.11x and 1.06x of (serial / 2).  The caller spends
0.4 ms of CPU a frame, and the workers wait for it 1-3% of the time.  Runs
that share the cores with other work are slower in proportion (6.8 s against
9.8 s serially, with another process taking a core).

A worker process that dies (a crash in a codec, a kill) makes the iteration raise
a :class:`~lazydcm.errors.DecodeError` for the frame it was decoding, and the
next iteration starts new workers.  When worker processes cannot start (no room
for the ring in /dev/shm, a worker that cannot open the file as the caller has
it) the sequence decodes in threads, with a :class:`~lazydcm.errors.LazyDcmWarning`.
A script without an ``if __name__ == "__main__":`` guard still works, but
multiprocessing runs it once more, in the fork server (whose own iteration
decodes in threads, with that warning): give scripts the guard.

Process-wide effects: the fork server (and multiprocessing's resource tracker)
are started once and live as long as the caller; the preload list is added to
the fork server's before it starts; and the default start method of
:mod:`multiprocessing` gets fixed, as any start of a process fixes it.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from lazydcm.decoders import Unavailable
from lazydcm.errors import LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.parallel.processes import GIL_HOLDING_BACKENDS, ProcessPool, StartError
from lazydcm.parallel.shared import frame_bytes
from lazydcm.parallel.threads import ThreadPool

__all__ = ["GIL_HOLDING_BACKENDS", "Pool", "ProcessPool", "ThreadPool", "read_ahead", "start"]

#: Frames in flight per worker when the cache budget allows: one being decoded
#: and one queued or waiting to be yielded, so that no worker waits for the caller.
_AHEAD_PER_WORKER = 2


class Pool(Protocol):
    """What :class:`~lazydcm.FrameSequence` asks of its parallel decoders."""

    def frames(self, order: list[int]) -> Iterator[np.ndarray]:
        """Yield the frames at `order`, in order, each owned by the caller."""
        ...

    def close(self) -> None:
        """Stop the workers; idempotent."""
        ...


def start(reader: FrameReader, workers: int) -> Pool:
    """Start the workers that decode ahead for `reader` (at most one a frame).

    Processes when the backend holds the GIL and the file was opened from a path
    that still names the same file, threads otherwise (see the module docstring).
    """
    count = reader.index.count
    workers = max(1, min(workers, count))
    depth = read_ahead(reader, workers)
    opened = reader.opened
    path = opened.location
    # A daemonic process (a multiprocessing.Pool worker, a PyTorch DataLoader
    # worker) may not start processes.
    daemonic = multiprocessing.current_process().daemon
    chosen = reader.decoder
    backend = "" if isinstance(chosen, Unavailable) else chosen.name
    if backend in GIL_HOLDING_BACKENDS and path is not None and not daemonic and _same_file(reader):
        try:
            return ProcessPool(reader, workers, depth)
        except StartError as exc:
            warnings.warn(
                f"{path}: lazydcm's decoder processes did not start ({exc}); frames are "
                "decoded in threads instead. A script whose frames are decoded by worker "
                "processes needs an `if __name__ == '__main__':` guard, since every worker "
                "imports it again; workers=0 decodes serially.",
                LazyDcmWarning,
                stacklevel=4,
            )
    return ThreadPool(reader, workers, depth)


def read_ahead(reader: FrameReader, workers: int) -> int:
    """How many frames may be in flight, or decoded and not yet yielded.

    The cache budget in frames (parallel iteration uses it instead of the cache),
    capped at two frames a worker, never fewer than one frame a worker, and never
    more than the file's frames.
    """
    budget = reader.opened.options.cache_bytes // frame_bytes(reader.spec)
    depth = max(workers, min(budget, _AHEAD_PER_WORKER * workers))
    return max(1, min(depth, reader.index.count))


def _same_file(reader: FrameReader) -> bool:
    """True when the reader's path still names the file it has open, so workers read the same."""
    opened = reader.opened
    if opened.location is None or opened.source.status is None:
        return False
    try:
        now = os.stat(opened.location)
    except OSError:
        return False
    return (now.st_size, now.st_mtime_ns, now.st_dev, now.st_ino) == opened.source.status
