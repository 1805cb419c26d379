"""Parallel read-ahead for iteration over compressed frames.

Contract: :meth:`lazydcm.FrameSequence.iter_frames` hands the frames it must
yield to the pool that :func:`start` returned for the sequence (once, on first
use):

* ``pool.frames(order)`` yields the frames at `order`, in that order, each a new
  array that belongs to the caller.  Workers decode ahead: at most
  :attr:`Plan.depth` frames are in flight or decoded and not yet yielded -- two
  tasks a worker, a task being about a MiB of decoded frames (at least one
  frame), and no more than the cache budget allows beyond one task a worker
  (parallel iteration does not fill the cache).
* An error raised while decoding frame *i* (a :class:`~lazydcm.errors.DecodeError`,
  any :class:`~lazydcm.errors.LazyDcmError`) is raised when the iteration reaches
  frame *i*, with the type and message a serial iteration gives.
* An iteration abandoned midway (its generator closed or dropped) leaves no work
  queued: queued frames are skipped, the one being decoded is dropped.
* ``pool.close()`` stops the workers and releases what the pool holds;
  idempotent.  A pool whose sequence is garbage-collected unclosed does the same.

How many workers, and which kind (:func:`plan`), from ``workers=``:

* ``None`` (the default): threads, one a CPU this process may use
  (:func:`available_cpus`), for backends that release the GIL while they decode
  (imagecodecs); serial for the others.  The default never starts a process.
* ``0`` or ``1``: serial.  ``N > 1``: N workers.  ``-1``: one a usable CPU, and
  ``-k`` all but ``k - 1`` of them (as joblib's ``n_jobs``).
* Asked-for workers are **processes** (:class:`ProcessPool`) for backends that
  hold the GIL (``releases_gil`` False: pylibjpeg's), where threads would take turns, and
  **threads** (:class:`ThreadPool`) for the others.  Processes open the file by
  path themselves; a sequence without a path (bytes, a file object), whose path
  no longer names the file that was opened, or in a daemonic process (a
  ``multiprocessing.Pool`` or PyTorch ``DataLoader`` worker may not start
  processes) decodes in threads.  When worker processes cannot start (no room in
  /dev/shm, a worker that cannot open the file as the caller has it) the sequence
  decodes in threads, with a :class:`~lazydcm.errors.LazyDcmWarning`.  Worker
  processes import the caller's main module again (multiprocessing's "spawn" and
  "forkserver" methods): a script that asks for them needs an
  ``if __name__ == "__main__":`` guard.

A worker process that dies (a crash in a codec, a kill) makes the iteration
raise a :class:`~lazydcm.errors.DecodeError` for the frame it was decoding, and
the next iteration starts new workers.  Process-wide effects of worker
processes: the fork server (and multiprocessing's resource tracker) are started
once and live as long as the caller; the preload list is added to the fork
server's before it starts; and the default start method of
:mod:`multiprocessing` gets fixed, as any start of a process fixes it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from lazydcm.decoders import Unavailable
from lazydcm.errors import LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.parallel.processes import ProcessPool, StartError
from lazydcm.parallel.shared import frame_bytes
from lazydcm.parallel.threads import ThreadPool

__all__ = [
    "TASK_BYTES",
    "Plan",
    "Pool",
    "ProcessPool",
    "ThreadPool",
    "available_cpus",
    "plan",
    "start",
]

#: Decoded bytes a task decodes at most (a task holds at least one frame).
TASK_BYTES = 1 << 20
#: Frames a task decodes at most, however small they are.
_MAX_BATCH = 16
#: Tasks in flight a worker: one being decoded, one waiting, so no worker waits.
_TASKS_PER_WORKER = 2


class Pool(Protocol):
    """What :class:`~lazydcm.FrameSequence` asks of its parallel decoders."""

    def frames(self, order: list[int]) -> Iterator[np.ndarray]:
        """Yield the frames at `order`, in order, each owned by the caller."""
        ...

    def close(self) -> None:
        """Stop the workers; idempotent."""
        ...


@dataclass(frozen=True)
class Plan:
    """How a sequence's frames are decoded ahead when it is iterated."""

    #: "serial", "threads" or "processes".
    kind: Literal["serial", "threads", "processes"]
    workers: int
    #: Frames a task decodes (threads).
    batch: int = 1
    #: Frames in flight, or decoded and not yet yielded, at most.
    depth: int = 0


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity, and the cgroup CPU quota if one is set.

    `cgroup` is where the cgroup file system is mounted (v2: ``cpu.max``; v1:
    ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us``).  A pod limited to 2
    CPUs on a 96-core node gets 2; a process pinned to one core (``taskset``) gets 1.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    count = count or os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


def _cgroup_quota(root: Path) -> float | None:
    """CPUs the cgroup may use, None where no quota is set (or none can be read)."""
    v2 = root / "cpu.max"
    v1, period = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
    try:
        if v2.is_file():
            quota, _, length = v2.read_text().strip().partition(" ")
            return None if quota == "max" else int(quota) / int(length or 100_000)
        if v1.is_file() and period.is_file():
            quota_us = int(v1.read_text())
            return quota_us / int(period.read_text()) if quota_us > 0 else None
    except (OSError, ValueError):  # unreadable, or not what the kernel writes
        return None
    return None


def plan(reader: FrameReader, workers: int | None, *, cache_bytes: int) -> Plan:
    """How `reader`'s frames are decoded when iterated with ``workers=`` (module docstring)."""
    chosen = reader.decoder
    if isinstance(chosen, Unavailable):
        return Plan("serial", 0)  # the first frame raises why
    holds_gil = not chosen.releases_gil
    native = reader.spec.transfer_syntax.native
    if workers is None:
        count = 0 if holds_gil or native else available_cpus()
    elif workers < 0:
        count = max(1, available_cpus() + 1 + workers)
    else:
        count = workers
    count = min(count, reader.index.count)
    if count < 2 or native:
        return Plan("serial", 0)
    size = frame_bytes(reader.spec)
    batch = max(1, min(_MAX_BATCH, TASK_BYTES // size))
    kind: Literal["threads", "processes"] = "processes" if holds_gil else "threads"
    if kind == "processes":
        batch = 1  # the shared-memory ring holds frames, not tasks
    # Two tasks a worker; beyond one task a worker, no more than the cache budget.
    least = count * batch
    depth = max(least, min(_TASKS_PER_WORKER * least, cache_bytes // size))
    return Plan(kind, count, batch, min(depth, reader.index.count))


def start(reader: FrameReader, decided: Plan) -> Pool:
    """Start the workers `decided` asks for; threads where processes cannot run."""
    opened = reader.opened
    path = opened.location
    # A daemonic process (a multiprocessing.Pool or DataLoader worker) may not start
    # processes.
    daemonic = multiprocessing.current_process().daemon
    if decided.kind == "processes" and path is not None and not daemonic and _same_file(reader):
        try:
            return ProcessPool(reader, decided.workers, decided.depth)
        except StartError as exc:
            warnings.warn(
                f"{path}: lazydcm's decoder processes did not start ({exc}); frames are "
                "decoded in threads instead. A script whose frames are decoded by worker "
                "processes needs an `if __name__ == '__main__':` guard, since every worker "
                "imports it again; workers=0 decodes serially.",
                LazyDcmWarning,
                stacklevel=4,
            )
    return ThreadPool(reader, decided.workers, decided.depth, decided.batch)


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
