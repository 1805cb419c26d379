"""Decoding ahead in worker processes that open the file by path (GIL-holding backends).

See :mod:`lazydcm.parallel` for the contract and the measurements behind it: the
workers return frames through a ring of shared-memory slots, and each opens the
file itself, so no encoded byte crosses a process boundary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import threading
import traceback
import warnings
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING, Any, NoReturn

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

__all__ = ["GIL_HOLDING_BACKENDS", "ProcessPool", "StartError"]

#: Backends whose codecs hold the GIL while they decode (measured, see above).
GIL_HOLDING_BACKENDS = frozenset({"pylibjpeg"})
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
#: Slots start on cache-line boundaries; the first line holds the generation.
_ALIGN = 64
#: How long a worker may take to open the file before it counts as failed.
_START_TIMEOUT = 60.0
#: How long close() lets a worker finish its frame before it is terminated.
_STOP_TIMEOUT = 1.0


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


@dataclass(frozen=True)
class _Task:
    """A frame sent to a worker, to be written into a slot."""

    generation: int
    frame: int
    worker: int


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
        size = _ALIGN + depth * slot_bytes
        room = shm_room()
        if room is not None and size > room:
            # Writing past a full tmpfs kills the writer with SIGBUS.
            raise StartError(f"{size} bytes of shared memory are needed, {room} are free")
        try:
            shm = SharedMemory(create=True, size=size)
        except OSError as exc:
            raise StartError(f"no shared memory: {exc}") from exc
        self._processes: list[BaseProcess] = []
        self._conns: list[Connection] = []
        # Every array that views the segment is in this list, which the finalizer
        # empties before it closes the segment: [generation, slot 0, slot 1, ...].
        self._arrays: list[np.ndarray] = []
        # However this object goes (from here on), the processes stop and the
        # segment is unlinked.
        self._finalizer = weakref.finalize(
            self, _shutdown, self._processes, self._conns, shm, self._arrays
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
        )
        self._arrays.append(np.ndarray((1,), np.int64, buffer=shm.buf))
        self._arrays.extend(
            np.ndarray(shape, dtype, buffer=shm.buf, offset=_ALIGN + k * slot_bytes)
            for k in range(depth)
        )
        self._generation = 0
        self._busy = threading.Lock()  # one iteration at a time has the workers
        self._closed = False
        self._tasks: dict[int, _Task] = {}  # by slot: sent, not answered yet
        self._results: dict[int, tuple[str, Any]] = {}  # by slot: answered, not yielded
        self._free = list(range(depth))
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

    # -- workers -------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Start the processes and wait until each has opened the file."""
        try:
            context = _context()
            for k in range(self._count):
                mine, theirs = context.Pipe(duplex=True)
                self._conns.append(mine)
                process = context.Process(
                    target=_serve, args=(theirs, self._job), name=f"lazydcm-decoder-{k}"
                )
                process.daemon = True  # stopped when the caller exits, whatever happens
                self._processes.append(process)
                try:
                    process.start()
                finally:
                    theirs.close()
            for k in range(self._count):
                self._await_ready(k)
        except Exception as exc:  # whatever it is, the fallback is threads
            _shutdown(self._processes, self._conns, None, None)
            raise StartError(str(exc) or type(exc).__name__) from exc

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
            self._reset()  # a worker died since the last iteration
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
                while slot not in self._results:
                    self._receive()
                status, payload = self._results.pop(slot)
                queue.popleft()
                if status == "error":
                    self._free.append(slot)
                    error, remote = payload
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
                    if self._results.pop(slot, None) is not None:
                        self._free.append(slot)

    def _dispatch(self, todo: deque[int], queue: deque[int], generation: int) -> None:
        """Send frames to the least busy workers while slots are free."""
        if not (todo and self._free):
            return
        load = [0] * self._count
        for task in self._tasks.values():
            load[task.worker] += 1
        while todo and self._free:
            worker = load.index(min(load))
            slot = self._free.pop()
            i = todo.popleft()
            self._tasks[slot] = _Task(generation, i, worker)
            load[worker] += 1
            queue.append(slot)
            try:
                self._conns[worker].send((generation, i, slot))
            except OSError:
                self._worker_died(worker)

    def _receive(self) -> None:
        """Wait for answers, or for a worker to stop, and record them."""
        self._live()
        waited: list[Connection | int] = [*self._conns, *(p.sentinel for p in self._processes)]
        ready = multiprocessing.connection.wait(waited)
        self._live()  # close() in another thread stops the workers
        for k, conn in enumerate(self._conns):
            if conn in ready:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._worker_died(k)
                self._answer(message)
        for k, process in enumerate(self._processes):
            if process.sentinel in ready:
                self._drain(k)
                self._worker_died(k)

    def _drain(self, k: int) -> None:
        """Record what worker `k` sent before it stopped."""
        conn = self._conns[k]
        with contextlib.suppress(EOFError, OSError):
            while conn.poll():
                self._answer(conn.recv())

    def _answer(self, message: tuple[str, int, Any]) -> None:
        status, slot, payload = message
        task = self._tasks.pop(slot)
        if status == "skip" or task.generation != self._generation:
            self._free.append(slot)  # an abandoned iteration's frame
        else:
            self._results[slot] = (status, payload)

    def _worker_died(self, k: int) -> NoReturn:
        """Stop every worker (the next iteration starts new ones); raise for the frame."""
        process = self._processes[k]
        process.join(_STOP_TIMEOUT)
        how = _exit_status(process)
        # Tasks are kept in the order they were sent: its first is the one it was on.
        lost = [
            t.frame
            for t in self._tasks.values()
            if t.generation == self._generation and t.worker == k
        ]
        self._reset()
        if lost:
            raise DecodeError(
                f"{self._name}: frame {lost[0]}: the worker process decoding it stopped ({how})"
            )
        raise DecodeError(f"{self._name}: a worker process decoding frames stopped ({how})")

    def _reset(self) -> None:
        """Stop every worker and forget their tasks (the next iteration starts new ones)."""
        _shutdown(self._processes, self._conns, None, None)
        self._tasks.clear()
        self._results.clear()
        self._free = list(range(self._slots))

    # -- lifetime ------------------------------------------------------------------

    def close(self) -> None:
        """Stop the processes and release the shared memory; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._next_generation()  # the workers skip what is queued
        self._finalizer()

    def _next_generation(self) -> int:
        """Start a new generation: tasks of earlier ones are skipped, their answers dropped."""
        self._generation += 1
        if self._arrays:  # else the segment is already released
            self._arrays[0][0] = self._generation
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
    shm: SharedMemory | None,
    arrays: list[np.ndarray] | None,
) -> None:
    """Stop `processes` (asked first, then terminated), close `conns`, unlink `shm`."""
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
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


def _serve(conn: Connection, job: _Job) -> None:
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
        _serve_frames(conn, job, reader, shm)
    except (EOFError, OSError):
        pass  # the caller has gone
    finally:
        reader.close()
        shm.close()


def _serve_frames(conn: Connection, job: _Job, reader: FrameReader, shm: SharedMemory) -> None:
    dtype = np.dtype(job.dtype)
    arrays = [np.ndarray((1,), np.int64, buffer=shm.buf)] + [
        np.ndarray(job.shape, dtype, buffer=shm.buf, offset=_ALIGN + k * job.slot_bytes)
        for k in range(job.slots)
    ]
    try:
        while (task := conn.recv()) is not None:
            generation, i, slot = task
            if generation != arrays[0][0]:  # its iteration was abandoned
                conn.send(("skip", slot, None))
                continue
            try:
                frame = reader.decode(i)
                if frame.shape != job.shape or frame.dtype != dtype:
                    raise DecodeError(
                        f"{job.path}: frame {i} decoded to {frame.dtype} {frame.shape}, "
                        f"not {dtype} {job.shape}"
                    )
                arrays[1 + slot][...] = frame
            except Exception as exc:
                conn.send(("error", slot, _portable(exc)))
                continue
            conn.send(("ok", slot, None))
    finally:
        arrays.clear()


def _portable(exc: Exception) -> tuple[Exception, str]:
    """`exc` as it can cross to the caller (pickled), and its traceback as text."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = DecodeError(f"{type(exc).__name__}: {exc}")
    return exc, text
