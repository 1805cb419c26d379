"""Decoding ahead in worker processes that open the file themselves (GIL-holding backends).

See :mod:`lazydcm.parallel` for the contract.  How the pool works:

* Each worker opens the file with :func:`lazydcm.opening.open` and the caller's
  :class:`~lazydcm.opening.OpenOptions` (no cache, no workers of its own, the
  caller's backend), checks that it is the version the caller opened, and says
  it is ready on its own control pipe.  No encoded byte crosses a process
  boundary.
* Tasks go out on ONE task pipe that every worker reads, and answers come back
  on ONE result pipe that the caller reads: fixed-size records of a few bytes
  (generation, frame, slot; and worker, status), each written whole (writes up to
  ``PIPE_BUF`` bytes are atomic, POSIX), so an idle worker takes the next task,
  and the caller reads the answers of many frames in one call and waits on one
  descriptor (and the workers' sentinels) with a selector kept for the pool.
* Decoded frames come back through a ring of slots in one
  :class:`~multiprocessing.shared_memory.SharedMemory` segment, copied into the
  caller's array when their turn comes.  The segment's header holds the current
  generation (tasks of an abandoned iteration are skipped) and the frame each
  worker is decoding (so that a worker that dies names its frame).
* An error in a worker goes to the caller pickled, on the worker's control pipe,
  before its status record; the caller raises it at its frame.
* Workers start lazily, with the "forkserver" method ("spawn" where there is
  none; never "fork", which is unsafe once the caller has threads); the fork
  server preloads NumPy, lazydcm and the pylibjpeg codecs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import selectors
import signal
import struct
import threading
import traceback
import warnings
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from lazydcm import opening
from lazydcm.decoders import Unavailable
from lazydcm.errors import DecodeError, LazyDcmError, LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.header import PixelInfo
from lazydcm.inflight import CLOSED
from lazydcm.opening import OpenOptions
from lazydcm.parallel.shared import frame_bytes, shm_room
from lazydcm.sources import SourceStatus

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerContext, SpawnContext
    from multiprocessing.process import BaseProcess

__all__ = ["ProcessPool", "StartError"]
#: What the fork server imports once for all its workers: lazydcm and the
#: pylibjpeg codecs (missing ones are skipped).  "__main__" is multiprocessing's
#: default, kept.
_PRELOAD = (
    "__main__",
    "lazydcm.frames",
    "lazydcm.decoders.libjpeg",
    "lazydcm.decoders.openjpeg",
    "lazydcm.decoders.rle",
    "libjpeg.utils",
    "openjpeg.utils",
    "rle.rle",
)
#: Slots start on cache-line boundaries; the header takes the first lines.
_ALIGN = 64
#: How long a worker may take to open the file before it counts as failed.
_START_TIMEOUT = 60.0
#: How long close() lets a worker finish its frame before it is terminated.
_STOP_TIMEOUT = 1.0
#: A task: generation, frame, slot.  An answer: generation, frame, slot, worker, status.
_TASK = struct.Struct("<qii")
_ANSWER = struct.Struct("<qiihh")
_OK, _ERROR, _SKIP = 0, 1, 2
#: Answers read at most at once (a whole number of records, so none is split).
_READ = _ANSWER.size * 1024
#: Tasks written at once: whole records within PIPE_BUF (POSIX: such a write is atomic).
_WRITE = max(_TASK.size, getattr(select, "PIPE_BUF", 512) // _TASK.size * _TASK.size)


class StartError(Exception):
    """Worker processes did not start (the caller falls back to threads)."""


@dataclass(frozen=True)
class _Job:
    """What a worker process needs to open the file and serve frames."""

    path: str
    options: OpenOptions
    status: SourceStatus
    info: PixelInfo
    count: int
    shape: tuple[int, ...]
    dtype: str
    shm_name: str
    slots: int
    slot_bytes: int
    header_bytes: int


def _context() -> SpawnContext | ForkServerContext:
    """The "forkserver" context where there is one (preloading lazydcm), else "spawn"."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    # Only read when the server starts: add ours to what the program asked for.
    current = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
    context.set_forkserver_preload(current + [m for m in _PRELOAD if m not in current])
    return context


class ProcessPool:
    """Decodes ahead in worker processes that open the file by path.

    Parameters
    ----------
    reader : FrameReader
        The reader of a file opened from a path.
    workers : int
        Number of processes.
    depth : int
        Number of shared-memory slots: frames in flight, or decoded and not yet
        yielded.

    Raises
    ------
    StartError
        The processes did not start, or could not open the file as `reader` has it.
    """

    def __init__(self, reader: FrameReader, workers: int, depth: int) -> None:
        opened = reader.opened
        path, status = opened.location, opened.source.status
        if path is None or status is None:
            raise StartError(f"{reader.name} was not opened from a path that workers can open")
        self._reader = reader
        self._name = path
        self._count = workers
        self._slots = depth
        shape, dtype = reader.spec.shape, reader.spec.dtype
        slot_bytes = -(-frame_bytes(reader.spec) // _ALIGN) * _ALIGN
        header_bytes = -(-(1 + workers) * 8 // _ALIGN) * _ALIGN
        size = header_bytes + depth * slot_bytes
        room = shm_room()
        if room is not None and size > room:
            # Writing past a full tmpfs kills the writer with SIGBUS.
            raise StartError(f"{size} bytes of shared memory are needed, {room} are free")
        try:
            shm = SharedMemory(create=True, size=size)
        except OSError as exc:
            raise StartError(f"no shared memory: {exc}") from exc
        self._processes: list[BaseProcess] = []
        self._conns: list[Connection] = []  # control pipes, one a worker
        self._pipes: list[Connection] = []  # [tasks, answers] (the caller's ends)
        # Every array that views the segment is in this list, which the finalizer
        # empties before it closes the segment: [header, slot 0, slot 1, ...].
        self._arrays: list[np.ndarray] = []
        # However this object goes (from here on), the processes stop and the
        # segment is unlinked.
        self._finalizer = weakref.finalize(
            self, _shutdown, self._processes, self._conns, self._pipes, shm, self._arrays
        )
        # Workers decode serially, cache nothing, and use the backend this reader uses.
        chosen = reader.decoder
        backend = opened.options.decoder if isinstance(chosen, Unavailable) else chosen.name
        options = dataclasses.replace(opened.options, cache_bytes=0, workers=0, decoder=backend)
        self._job = _Job(
            path=path,
            options=options,
            status=status,
            info=opened.header.info,
            count=reader.index.count,
            shape=shape,
            dtype=dtype.str,
            shm_name=shm.name,
            slots=depth,
            slot_bytes=slot_bytes,
            header_bytes=header_bytes,
        )
        # header[0]: the generation; header[1 + k]: the frame worker k decodes, or -1.
        self._arrays.append(np.ndarray((1 + workers,), np.int64, buffer=shm.buf))
        self._arrays.extend(
            np.ndarray(shape, dtype, buffer=shm.buf, offset=header_bytes + k * slot_bytes)
            for k in range(depth)
        )
        self._generation = 0
        self._busy = threading.Lock()  # one iteration at a time has the workers
        self._closed = False
        self._sent: dict[int, tuple[int, int]] = {}  # by slot: (generation, frame), unanswered
        self._answers: dict[int, int] = {}  # by slot: status, answered and not yielded
        self._errors: dict[int, tuple[Exception, str]] = {}  # by slot: a worker's error
        self._free = list(range(depth))
        self._selector: selectors.BaseSelector | None = None
        try:
            self._start_workers()
        except BaseException:
            self._finalizer()
            raise

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        return [p.pid for p in self._processes if p.pid is not None]

    @property
    def shm_name(self) -> str:
        """The name of the shared-memory segment (for tests and diagnostics)."""
        return self._job.shm_name

    @property
    def slots(self) -> int:
        """Frames in flight, or decoded and not yet yielded, at most."""
        return self._slots

    # -- workers -------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Start the processes and wait until each has opened the file."""
        try:
            context = _context()
            tasks_out, tasks_in = context.Pipe(duplex=False)  # (reader, writer)
            answers_out, answers_in = context.Pipe(duplex=False)
            self._pipes[:] = [tasks_in, answers_out]
            self._header[0] = self._generation
            self._header[1:] = -1
            for k in range(self._count):
                mine, theirs = context.Pipe(duplex=True)
                self._conns.append(mine)
                process = context.Process(
                    target=_serve,
                    args=(theirs, tasks_out, answers_in, k, self._job),
                    name=f"lazydcm-decoder-{k}",
                )
                process.daemon = True  # stopped when the caller exits, whatever happens
                self._processes.append(process)
                try:
                    process.start()
                finally:
                    theirs.close()
            # The workers hold their ends now: the caller keeps only its own.
            tasks_out.close()
            answers_in.close()
            for k in range(self._count):
                self._await_ready(k)
            os.set_blocking(answers_out.fileno(), False)  # read only what is there
            selector = selectors.DefaultSelector()
            selector.register(answers_out.fileno(), selectors.EVENT_READ, -1)
            for k, started in enumerate(self._processes):
                selector.register(started.sentinel, selectors.EVENT_READ, k)
            self._selector = selector
        except Exception as exc:  # whatever it is, the fallback is threads
            self._stop_workers()
            raise StartError(str(exc) or type(exc).__name__) from exc

    @property
    def _header(self) -> np.ndarray:
        return self._arrays[0]

    def _await_ready(self, k: int) -> None:
        conn, process = self._conns[k], self._processes[k]
        ready = multiprocessing.connection.wait([conn, process.sentinel], _START_TIMEOUT)
        if not ready:
            raise StartError(f"worker process {k} did not open the file in {_START_TIMEOUT} s")
        if conn in ready:
            with contextlib.suppress(EOFError, OSError):
                status, detail = conn.recv()
                if status == "ready":
                    return
                raise StartError(detail)
        process.join(_STOP_TIMEOUT)
        raise StartError(f"worker process {k} stopped ({_exit_status(process)})")

    def _stop_workers(self) -> None:
        """Stop every worker and forget their tasks (the next iteration starts new ones)."""
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        _shutdown(self._processes, self._conns, self._pipes, None, None)
        self._sent.clear()
        self._answers.clear()
        self._errors.clear()
        self._free = list(range(self._slots))

    # -- iteration -----------------------------------------------------------------

    def frames(self, order: list[int]) -> Iterator[np.ndarray]:
        """Yield the frames at `order` in order, decoded ahead by the processes."""
        if not self._busy.acquire(blocking=False):
            # Another iteration (another thread, or an enclosing loop) has the
            # workers: this one decodes in the calling thread.
            for i in order:
                yield self._live().decode(i)
            return
        try:
            yield from self._frames(order)
        finally:
            self._busy.release()

    def _live(self) -> FrameReader:
        """The reader, or ValueError once the pool or its file is closed."""
        if self._closed or self._reader.closed:
            raise ValueError(CLOSED)
        return self._reader

    def _frames(self, order: list[int]) -> Iterator[np.ndarray]:
        self._live()
        if not all(p.is_alive() for p in self._processes):
            self._stop_workers()  # a worker died since the last iteration
        if not self._processes:  # stopped after a worker died: start again
            try:
                self._start_workers()
            except StartError as exc:
                raise DecodeError(f"{self._name}: decoder processes did not start: {exc}") from exc
        # A new generation: answers to an abandoned iteration's tasks are told apart.
        generation = self._next_generation()
        todo = deque(order)
        queue: deque[int] = deque()  # slots of the frames sent, in the order to yield
        finished = False
        try:
            while todo or queue:
                self._dispatch(todo, queue, generation)
                if not queue:
                    self._receive()  # every slot is held by an abandoned iteration's task
                    continue
                slot = queue[0]
                while slot not in self._answers:
                    self._receive()
                status = self._answers.pop(slot)
                queue.popleft()
                if status == _ERROR:
                    self._free.append(slot)
                    error, remote = self._errors.pop(slot)
                    raise error from _RemoteError(remote)
                frame = self._arrays[1 + slot].copy()
                self._free.append(slot)
                self._dispatch(todo, queue, generation)
                yield frame
                self._live()  # raises if the file was closed meanwhile
            finished = True
        finally:
            if not finished:
                # Abandoned (generator closed, error): the workers skip what is
                # queued, the slots of answered frames are free now, and those of
                # the others when their answers arrive.
                self._next_generation()
                for slot in queue:
                    if self._answers.pop(slot, None) is not None:
                        self._errors.pop(slot, None)
                        self._free.append(slot)

    def _dispatch(self, todo: deque[int], queue: deque[int], generation: int) -> None:
        """Send frames out while slots are free: one write for all of them."""
        if not (todo and self._free):
            return
        records = []
        while todo and self._free:
            slot = self._free.pop()
            i = todo.popleft()
            self._sent[slot] = (generation, i)
            queue.append(slot)
            records.append(_TASK.pack(generation, i, slot))
        data = b"".join(records)
        fd = self._pipes[0].fileno()
        try:
            # _WRITE bytes at a time: each write lands whole, so no record is split.
            for start in range(0, len(data), _WRITE):
                os.write(fd, data[start : start + _WRITE])
        except OSError:
            self._worker_died(None)

    def _receive(self) -> None:
        """Wait for answers, or for a worker to stop, and record them."""
        self._live()
        selector = self._selector
        if selector is None:  # stopped meanwhile
            raise ValueError(CLOSED)
        events = selector.select()
        self._live()  # close() in another thread stops the workers
        # What a worker answered before it stopped is recorded first.
        self._read_answers()
        dead = [key.data for key, _ in events if key.data >= 0]
        if dead:
            self._worker_died(dead[0])

    def _read_answers(self) -> None:
        """Record every answer the result pipe holds (one read for many)."""
        try:
            data = os.read(self._pipes[1].fileno(), _READ)  # non-blocking: see _start_workers
        except BlockingIOError:
            return
        for generation, frame, slot, worker, status in _ANSWER.iter_unpack(data):
            sent = self._sent.pop(slot, None)
            if status == _ERROR:
                with contextlib.suppress(EOFError, OSError):
                    error, remote = self._conns[worker].recv()
                    self._errors[slot] = (error, remote)
            if status == _SKIP or sent is None or generation != self._generation:
                self._errors.pop(slot, None)
                self._free.append(slot)  # an abandoned iteration's frame
            else:
                self._answers[slot] = status
            del frame  # the slot says which frame it is

    def _worker_died(self, k: int | None) -> NoReturn:
        """Stop every worker (the next iteration starts new ones); raise for the frame."""
        frame = -1
        how = "its pipe broke"
        if k is not None:
            process = self._processes[k]
            process.join(_STOP_TIMEOUT)
            how = _exit_status(process)
            frame = int(self._header[1 + k])
        lost = frame >= 0 and any(sent == (self._generation, frame) for sent in self._sent.values())
        self._stop_workers()
        if lost:
            raise DecodeError(
                f"{self._name}: frame {frame}: the worker process decoding it stopped ({how})"
            )
        raise DecodeError(f"{self._name}: a worker process decoding frames stopped ({how})")

    # -- lifetime ------------------------------------------------------------------

    def close(self) -> None:
        """Stop the processes and release the shared memory; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._next_generation()  # the workers skip what is queued
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._finalizer()

    def _next_generation(self) -> int:
        """Start a new generation: tasks of earlier ones are skipped, their answers dropped."""
        self._generation += 1
        if self._arrays:  # else the segment is already released
            self._header[0] = self._generation
        return self._generation


def _exit_status(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _shutdown(
    processes: list[BaseProcess],
    conns: list[Connection],
    pipes: list[Connection],
    shm: SharedMemory | None,
    arrays: list[np.ndarray] | None,
) -> None:
    """Stop `processes` (asked first, then terminated), close the pipes, unlink `shm`."""
    # Closing the task pipe is the request to stop: each worker reads its end.
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.close()
    for process in processes:
        with contextlib.suppress(ValueError, AssertionError):  # never started
            process.join(_STOP_TIMEOUT)
            if process.exitcode is None:
                process.terminate()
                process.join(_STOP_TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
            process.close()
    for conn in conns:
        conn.close()
    processes.clear()
    conns.clear()
    pipes.clear()
    if shm is not None:
        if arrays is not None:
            arrays.clear()  # no array may view the buffer when it is closed
        with contextlib.suppress(BufferError):
            shm.close()
        with contextlib.suppress(FileNotFoundError):
            shm.unlink()


class _RemoteError(Exception):
    """The traceback of an error raised in a worker process (shown as its cause)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


# -- the worker process -----------------------------------------------------------


def _serve(
    conn: Connection, tasks: Connection, answers: Connection, worker: int, job: _Job
) -> None:
    """A worker process: open the file, then decode the frames asked for until told to stop."""
    # Ctrl-C is the caller's to handle: it stops the workers (or they see it gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with warnings.catch_warnings():
            # The caller was warned when it opened this very file: once is enough.
            warnings.simplefilter("ignore", LazyDcmWarning)
            reader = FrameReader(opening.open(job.path, job.options))
        if reader.opened.source.status != job.status:
            reader.close()
            raise LazyDcmError(f"{job.path} is no longer the file that was opened")
        if reader.opened.header.info != job.info or reader.index.count != job.count:
            reader.close()
            raise LazyDcmError(
                f"{job.path} opens with another Image Pixel module: {reader.opened.header.info}"
            )
        shm = SharedMemory(name=job.shm_name)
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", None))
        _serve_frames(conn, tasks, answers, worker, job, reader, shm)
    except (EOFError, OSError):
        pass  # the caller has gone
    finally:
        reader.close()
        shm.close()


def _serve_frames(
    conn: Connection,
    tasks: Connection,
    answers: Connection,
    worker: int,
    job: _Job,
    reader: FrameReader,
    shm: SharedMemory,
) -> None:
    dtype = np.dtype(job.dtype)
    header = np.ndarray((1 + worker + 1,), np.int64, buffer=shm.buf)
    slots = [
        np.ndarray(job.shape, dtype, buffer=shm.buf, offset=job.header_bytes + k * job.slot_bytes)
        for k in range(job.slots)
    ]
    task_fd, answer_fd = tasks.fileno(), answers.fileno()
    try:
        # A read of one record takes one whole record (writes are whole records).
        while task := os.read(task_fd, _TASK.size):
            generation, i, slot = _TASK.unpack(task)
            if generation != header[0]:  # its iteration was abandoned
                os.write(answer_fd, _ANSWER.pack(generation, i, slot, worker, _SKIP))
                continue
            header[1 + worker] = i
            status = _OK
            try:
                frame = reader.decode(i)
                if frame.shape != job.shape or frame.dtype != dtype:
                    raise DecodeError(
                        f"{job.path}: frame {i} decoded to {frame.dtype} {frame.shape}, "
                        f"not {dtype} {job.shape}"
                    )
                slots[slot][...] = frame
            except Exception as exc:
                # The error first, then its status: the caller reads it on the status.
                conn.send(_portable(exc))
                status = _ERROR
            header[1 + worker] = -1
            os.write(answer_fd, _ANSWER.pack(generation, i, slot, worker, status))
    finally:
        header = header[:0]
        slots.clear()


def _portable(exc: Exception) -> tuple[Exception, str]:
    """`exc` as it can cross to the caller (pickled), and its traceback as text."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = DecodeError(f"{type(exc).__name__}: {exc}")
    return exc, text
