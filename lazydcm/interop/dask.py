"""Dask arrays of a file's frames, read by path wherever the tasks run.

Contract: :func:`to_dask` (``FrameSequence.to_dask``) returns a
``dask.array.Array`` of the sequence's shape and dtype, in chunks of
``frames_per_chunk`` frames along axis 0 and whole frames along the others.

* **What the graph holds.** One small picklable object, :class:`FileFrames`: the
  file's path and version (its source's ``status``: size, modification time,
  device, inode) and the :class:`~lazydcm.opening.OpenOptions` the sequence was
  opened with (``raw``, the backend that decodes it, ``overrides``,
  ``index_dir``), and one read task a chunk.  No encoded or
  decoded byte is in the graph, so it runs on any scheduler: threads, processes,
  or a ``dask.distributed`` cluster whose workers see the same file at the same
  path.
* **Where the file is opened.** A task reads its frames with a
  :class:`~lazydcm.frames.FrameReader` that the process running it opens by path
  (:func:`lazydcm.opening.open`), with no frame cache (a chunk is read once) and
  no read-ahead workers (the scheduler is the parallelism).  The process keeps
  what it opened in a small table (up to :data:`MAX_OPEN` files, the least
  recently used dropped first), so a worker opens
  each file once, not once a chunk.  Reopening is cheap -- the process-wide index
  cache (:mod:`lazydcm.index.sidecar`) keeps the parsed header and frame table --
  but not free (docs/benchmarks.md: a reopen a chunk would make chunks of small
  native frames several times slower).
* **The same file, or an error.** The graph records the identity of the file the
  sequence opened; a task that finds another file at the path (rewritten,
  replaced, touched) raises :class:`~lazydcm.errors.LazyDcmError` rather than
  return other pixels.
* **Reads only the frames needed.** dask fuses a slice of the array into the read
  of its chunk, so ``arr[5]`` or ``arr[::5]`` decodes those frames alone whatever
  the chunking; a slice inside frames still decodes whole frames (the unit a codec
  decodes); a list of frames (``arr[[3, 11]]``) reads the chunks that hold them.
* **No path, no array.** A sequence opened from bytes, a file object or an
  in-memory pydicom Dataset raises ``ValueError``: embedding the file's bytes in
  the graph would ship them to every worker that runs a chunk, and hold them in
  the scheduler, which is what a file on a shared file system avoids.  Write them
  to a file first.

Dask is imported only by :func:`to_dask`, never by ``import lazydcm``; a missing
Dask raises ``ImportError`` naming ``pip install "lazydcm[dask]"``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from lazydcm import keys, opening
from lazydcm.errors import LazyDcmError
from lazydcm.frames import FrameReader
from lazydcm.opening import Opened, OpenOptions
from lazydcm.sources import SourceStatus

if TYPE_CHECKING:
    import dask.array

__all__ = ["MAX_OPEN", "FileFrames", "file_frames", "forget_opened", "to_dask"]

#: How many files one process keeps open for Dask tasks.
MAX_OPEN = 16


@dataclass(frozen=True)
class FileFrames:
    """The frames of a file, opened by path in the process that reads them.

    What a Dask graph holds in place of a :class:`~lazydcm.FrameSequence`:
    array-like (``shape``, ``dtype``, ``ndim``, NumPy-style indexing on the frame
    axis and within frames), picklable, and a few hundred bytes.
    """

    path: str
    status: SourceStatus
    options: OpenOptions
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __dask_tokenize__(self) -> tuple[object, ...]:
        # The same file with the same options always gives the same graph keys.
        return (type(self).__name__, self.path, self.status, repr(self.options),
                self.shape, self.dtype.str)  # fmt: skip

    def __getitem__(self, key: object) -> np.ndarray:
        """The frames at ``key[0]`` (int, slice or ints), indexed within frames by the rest."""
        reader = _opened(self)
        selection = keys.select(key, self.shape[0])
        reader.check_present(selection.indices)
        out = np.empty((len(selection.indices), *self.shape[1:]), dtype=self.dtype)
        for k, i in enumerate(selection.indices):
            out[k] = reader.decode(i)
        return selection.finish(out)


def to_dask(
    opened: Opened, shape: tuple[int, ...], dtype: np.dtype[Any], frames_per_chunk: int = 1
) -> dask.array.Array:
    """The frames of `opened` as a Dask array (see the module docstring)."""
    try:
        import dask.array as da
        from dask.base import tokenize
    except ImportError as exc:
        raise ImportError(
            f'FrameSequence.to_dask needs Dask: pip install "lazydcm[dask]" ({exc})'
        ) from exc
    if isinstance(frames_per_chunk, bool) or not isinstance(frames_per_chunk, (int, np.integer)):
        raise ValueError(f"frames_per_chunk must be a positive int, not {frames_per_chunk!r}")
    if frames_per_chunk < 1:
        raise ValueError(f"frames_per_chunk must be a positive int, not {frames_per_chunk}")
    frames = file_frames(opened, shape, dtype)
    chunks = (int(frames_per_chunk), *frames.shape[1:])
    meta = np.empty((0,) * frames.ndim, dtype=frames.dtype)
    # Named for dashboards and deterministic: the same file and options, the same keys.
    name = f"lazydcm-frames-{tokenize(frames, chunks)}"
    array = da.from_array(  # type: ignore[no-untyped-call]
        frames, chunks=chunks, name=name, lock=False, asarray=False, meta=meta
    )
    return cast("dask.array.Array", array)


def file_frames(opened: Opened, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FileFrames:
    """What tasks need to open `opened`'s file as it was opened.

    Raises ``ValueError`` when it has no path, and LazyDcmError when its path no
    longer names the file it opened.
    """
    path, status = opened.location, opened.source.status
    if path is None or status is None:
        raise ValueError(
            f"{opened.source.name}: to_dask() needs a sequence opened from a path, since its "
            "tasks open the file where they run; this one was opened from bytes, a file "
            "object or an in-memory pydicom Dataset. Write the data to a file first."
        )
    _check_identity(path, _stat(path), status, "after it was opened")
    options = opened.options
    index_dir = options.index_dir
    return FileFrames(
        path=os.path.abspath(path),  # workers may run elsewhere in the tree
        status=status,
        options=dataclasses.replace(
            options,
            cache_bytes=0,  # a chunk is read once
            workers=0,  # the scheduler is the parallelism
            index_dir=None if index_dir is None else os.path.abspath(index_dir),
        ),
        shape=shape,
        dtype=dtype,
    )


def _stat(path: str) -> SourceStatus | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


def _check_identity(
    path: str, status: SourceStatus | None, expected: SourceStatus, when: str
) -> None:
    if status is None or status != expected:
        state = "is gone" if status is None else "is another file now"
        raise LazyDcmError(
            f"{path}: the file {state} (it changed {when}); open it again and make a new Dask array"
        )


# -- the files this process has open for tasks ---------------------------------------

_OPEN: OrderedDict[tuple[object, ...], FrameReader] = OrderedDict()
#: One lock per file being opened, so that the threads of a worker wait for the
#: file their task needs (opened once) and not for the others.
_OPENING: dict[tuple[object, ...], threading.Lock] = {}
_OPEN_LOCK = threading.Lock()  # guards both tables


def _kept(key: tuple[object, ...]) -> FrameReader | None:
    """The open reader kept for `key`, marked as just used (call with the lock held)."""
    reader = _OPEN.get(key)
    if reader is None or reader.closed:
        return None
    _OPEN.move_to_end(key)
    return reader


def _opened(frames: FileFrames) -> FrameReader:
    """The reader this process has open for `frames`, opening it on first use."""
    key = frames.__dask_tokenize__()
    with _OPEN_LOCK:
        reader = _kept(key)
        if reader is not None:
            return reader
        opening_lock = _OPENING.setdefault(key, threading.Lock())
    with opening_lock:
        with _OPEN_LOCK:
            reader = _kept(key)  # opened by the thread this one waited for
        if reader is not None:
            return reader
        try:
            reader = _open(frames)
        except BaseException:
            with _OPEN_LOCK:
                _OPENING.pop(key, None)
            raise
        with _OPEN_LOCK:  # kept and no longer opening in one step: never opened twice
            _OPEN[key] = reader
            _OPENING.pop(key, None)
            while len(_OPEN) > MAX_OPEN:
                # Dropped, not closed: a task may still be reading it; its file is
                # closed when the last reference goes.
                _OPEN.popitem(last=False)
    return reader


def _open(frames: FileFrames) -> FrameReader:
    """Open `frames`'s file as the graph describes it; LazyDcmError if it is another file."""
    opened = opening.open(frames.path, frames.options)
    try:
        _check_identity(frames.path, opened.source.status, frames.status, "after to_dask()")
        return FrameReader(opened)
    except BaseException:
        opened.close()
        raise


def forget_opened() -> None:
    """Drop the files this process opened for Dask tasks (each closes once unused)."""
    with _OPEN_LOCK:
        _OPEN.clear()
