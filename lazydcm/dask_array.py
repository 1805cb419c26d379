"""Dask arrays of a file's frames, read by path wherever the tasks run.

Contract: :func:`to_dask` (``FrameSequence.to_dask``) returns a
``dask.array.Array`` of the sequence's shape and dtype, in chunks of
``frames_per_chunk`` frames along axis 0 and whole frames along the others.

* **What the graph holds.** One small picklable object, :class:`FileFrames`: the
  file's path and identity (device, inode, size, modification time) and the
  options the sequence was opened with (``raw``, the backend that decodes it,
  ``overrides``, ``index_dir``), and one read task a chunk.  No encoded or
  decoded byte is in the graph, so it runs on any scheduler: threads, processes,
  or a ``dask.distributed`` cluster whose workers see the same file at the same
  path.
* **Where the file is opened.** A task reads its frames with a
  :class:`~lazydcm.FrameSequence` that the process running it opens by path, with
  no frame cache (a chunk is read once) and no read-ahead workers (the scheduler
  is the parallelism).  The process keeps what it opened in a small table (up to
  :data:`MAX_OPEN` files, the least recently used dropped first), so a worker opens
  each file once, not once a chunk.  Reopening is cheap -- the process-wide index
  cache (:mod:`lazydcm.index_cache`) keeps the parsed header and frame table --
  but not free: measured on this project's machine, a table hit costs 4-10 us, a
  reopen with the index cache warm 80-100 us (an open, an fstat, a mapping), a
  first open 0.7-1.9 ms; reading a native 64x64 uint16 frame costs 14 us, so a
  reopen a chunk would make such chunks six times slower.
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

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from lazydcm.errors import LazyDcmError
from lazydcm.inflight import CLOSED
from lazydcm.source import identity as _identity

if TYPE_CHECKING:
    import dask.array

    from lazydcm.sequence import FrameSequence

__all__ = ["MAX_OPEN", "FileFrames", "file_frames", "forget_opened", "to_dask"]

#: How many files one process keeps open for Dask tasks.
MAX_OPEN = 16

#: (device, inode, size, modification time in ns) of a file.
Identity = tuple[int, int, int, int]


@dataclass(frozen=True)
class FileFrames:
    """The frames of a file, opened by path in the process that reads them.

    What a Dask graph holds in place of a :class:`~lazydcm.FrameSequence`:
    array-like (``shape``, ``dtype``, ``ndim``, NumPy-style indexing on the frame
    axis and within frames), picklable, and a few hundred bytes.
    """

    path: str
    identity: Identity
    raw: bool
    decoder: str
    overrides: tuple[tuple[str, Any], ...] | None
    index_dir: str | None
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __dask_tokenize__(self) -> Any:
        # The same file with the same options always gives the same graph keys.
        return (type(self).__name__, self.path, self.identity, self.raw, self.decoder,
                repr(self.overrides), self.index_dir, self.shape, self.dtype.str)  # fmt: skip

    def __getitem__(self, key: Any) -> np.ndarray:
        """The frames at ``key[0]`` (int, slice or ints), indexed within frames by the rest."""
        key = key if isinstance(key, tuple) else (key,)
        seq = _opened(self)
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        if first is Ellipsis or first is None:
            # Not made by dask's slicing; correct, if not lazy.
            indexed: np.ndarray = seq[:][key]
            return indexed
        frames: np.ndarray = seq[first]
        if not rest:
            return frames
        # An int first drops the frame axis; otherwise it stays in front.
        is_int = isinstance(first, (int, np.integer))
        within: np.ndarray = frames[rest] if is_int else frames[(slice(None), *rest)]
        return within


def to_dask(seq: FrameSequence, frames_per_chunk: int = 1) -> dask.array.Array:
    """`seq`'s frames as a Dask array (see the module docstring)."""
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
    frames = file_frames(seq)
    chunks = (int(frames_per_chunk), *frames.shape[1:])
    meta = np.empty((0,) * frames.ndim, dtype=frames.dtype)
    # Named for dashboards and deterministic: the same file and options, the same keys.
    name = f"lazydcm-frames-{tokenize(frames, chunks)}"
    array = da.from_array(  # type: ignore[no-untyped-call]
        frames, chunks=chunks, name=name, lock=False, asarray=False, meta=meta
    )
    return cast("dask.array.Array", array)


def file_frames(seq: FrameSequence) -> FileFrames:
    """What tasks need to open `seq`'s file as `seq` has it.

    Raises ``ValueError`` when `seq` has no path, and LazyDcmError when its path
    no longer names the file it opened.
    """
    if seq.closed:
        raise ValueError(CLOSED)
    path, status = seq._path, seq._status
    if path is None or status is None:
        raise ValueError(
            f"{seq._source.name}: to_dask() needs a sequence opened from a path, since its "
            "tasks open the file where they run; this one was opened from bytes, a file "
            "object or an in-memory pydicom Dataset. Write the data to a file first."
        )
    expected = _identity(status)
    _check_identity(path, _stat(path), expected, "after it was opened")
    overrides = seq._overrides
    index_dir = seq._index_dir
    return FileFrames(
        path=os.path.abspath(path),  # workers may run elsewhere in the tree
        identity=expected,
        raw=seq._raw,
        decoder=seq.decoder,
        overrides=tuple(sorted(overrides.items())) if overrides else None,
        index_dir=None if index_dir is None else os.path.abspath(index_dir),
        shape=seq.shape,
        dtype=seq.dtype,
    )


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _check_identity(
    path: str, status: os.stat_result | None, expected: Identity, when: str
) -> None:
    if status is None or _identity(status) != expected:
        state = "is gone" if status is None else "is another file now"
        raise LazyDcmError(
            f"{path}: the file {state} (it changed {when}); open it again and make a new Dask array"
        )


# -- the files this process has open for tasks ---------------------------------------

_OPEN: OrderedDict[tuple[Any, ...], FrameSequence] = OrderedDict()
#: One lock per file being opened, so that the threads of a worker wait for the
#: file their task needs (opened once) and not for the others.
_OPENING: dict[tuple[Any, ...], threading.Lock] = {}
_OPEN_LOCK = threading.Lock()  # guards both tables


def _kept(key: tuple[Any, ...]) -> FrameSequence | None:
    """The open sequence kept for `key`, marked as just used (call with the lock held)."""
    seq = _OPEN.get(key)
    if seq is None or seq.closed:
        return None
    _OPEN.move_to_end(key)
    return seq


def _opened(frames: FileFrames) -> FrameSequence:
    """The sequence this process has open for `frames`, opening it on first use."""
    key = frames.__dask_tokenize__()
    with _OPEN_LOCK:
        seq = _kept(key)
        if seq is not None:
            return seq
        opening = _OPENING.setdefault(key, threading.Lock())
    with opening:
        with _OPEN_LOCK:
            seq = _kept(key)  # opened by the thread this one waited for
        if seq is not None:
            return seq
        try:
            seq = _open(frames)
        except BaseException:
            with _OPEN_LOCK:
                _OPENING.pop(key, None)
            raise
        with _OPEN_LOCK:  # kept and no longer opening in one step: never opened twice
            _OPEN[key] = seq
            _OPENING.pop(key, None)
            while len(_OPEN) > MAX_OPEN:
                # Dropped, not closed: a task may still be reading it, and a
                # sequence closes its file when the last reference goes.
                _OPEN.popitem(last=False)
    return seq


def _open(frames: FileFrames) -> FrameSequence:
    """Open `frames`'s file as the graph describes it; LazyDcmError if it is another file."""
    from lazydcm.sequence import FrameSequence

    seq = FrameSequence(
        frames.path,
        cache_bytes=0,  # a chunk is read once
        raw=frames.raw,
        decoder=frames.decoder,
        workers=0,  # the scheduler is the parallelism
        overrides=dict(frames.overrides) if frames.overrides else None,
        index_dir=frames.index_dir,
    )
    try:
        _check_identity(frames.path, seq._status, frames.identity, "after to_dask()")
    except BaseException:
        seq.close()
        raise
    return seq


def forget_opened() -> None:
    """Drop the files this process opened for Dask tasks (each closes once unused)."""
    with _OPEN_LOCK:
        _OPEN.clear()
