"""FrameSequence: lazy, thread-safe, byte-bounded access to the frames of one file.

Opening a :class:`FrameSequence` opens the input once (:func:`lazydcm.opening.open`:
source, header, frame index; no pixel bytes are read) and builds a
:class:`~lazydcm.frames.FrameReader` on it.  ``frames[i]`` asks the byte-bounded,
single-flight cache (:mod:`lazydcm.cache`) for frame *i*, which the reader
decodes on a miss; iteration decodes ahead, in parallel where ``workers`` asks for
it (:mod:`lazydcm.parallel`).

Returned arrays belong to the caller: they are never the cached object, so
changing one never changes a later ``frames[i]``, and they stay valid after
:meth:`FrameSequence.close`.  One sequence may be shared by many threads; reading
frames writes nothing of the sequence's own.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import DTypeLike

from lazydcm import keys
from lazydcm.cache import CacheInfo, FrameCache
from lazydcm.decoders import Unavailable
from lazydcm.errors import LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.header import Header, PixelInfo
from lazydcm.header.groups import FunctionalGroups
from lazydcm.index import IndexKind, Pieces
from lazydcm.inflight import CLOSED
from lazydcm.opening import (
    DEFAULT_ARRAY_WARN_BYTES,
    DEFAULT_CACHE_BYTES,
    Input,
    OpenOptions,
)
from lazydcm.opening import open as open_input

if TYPE_CHECKING:
    import dask.array

__all__ = [
    "DEFAULT_ARRAY_WARN_BYTES", "DEFAULT_CACHE_BYTES", "FrameSequence", "iter_pixels",
    "pixel_array",
]  # fmt: skip


class _Pool(Protocol):
    """What a sequence asks of its parallel decoders (:mod:`lazydcm.parallel`)."""

    def frames(self, order: list[int]) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


class FrameSequence:
    """The frames of one DICOM file, decoded on demand.

    Parameters
    ----------
    source : path, bytes-like, binary file object, byte source or pydicom Dataset
        The DICOM file.  A path is memory-mapped for the header walk and read with
        ``pread`` after it; a file object is read under a lock with its position
        restored, and never closed by lazydcm.  A Dataset read from a file is read
        from that file when the file still holds what the dataset does, else
        written out to memory and read from there (:mod:`lazydcm.interop.dataset`).
    cache_bytes : int, optional
        Budget of the decoded-frame cache in bytes (default 128 MiB); 0 disables it.
    raw : bool, optional
        If True, return frames as decoded, without the YBR to RGB conversion.
    decoder : str, optional
        Name of the backend to decode compressed frames with (default: the first
        one installed for the transfer syntax).
    workers : int, optional
        How many workers iteration decodes ahead with.  By default (None), threads,
        one a CPU this process may use, where the backend releases the GIL while it
        decodes (imagecodecs), and serially otherwise: the default never starts a
        process.  0 or 1: serially.  N > 1: N workers; -1: one a usable CPU, -k: all
        but k - 1.  Asked-for workers of a backend that holds the GIL (pylibjpeg) are
        processes that open the file by path (a script needs an
        ``if __name__ == "__main__":`` guard); the others are threads.
        See :mod:`lazydcm.parallel`.
    overrides : mapping, optional
        Image Pixel module values (keyword -> value) that replace the file's
        before the frame table is built, for files whose header does not match
        their pixel data; validated like values read from the file.
    index_dir : path, optional
        A folder where the parsed header and frame table of a file opened by path
        are kept between processes (they are always kept in this process while
        the file is unchanged; see :func:`lazydcm.clear_index_cache`).
    array_warn_bytes : int or None, optional
        ``np.asarray(frames)`` warns (:class:`~lazydcm.LazyDcmWarning`) when all
        frames together take more bytes than this (default 1 GiB); None: never.

    Examples
    --------
    >>> with FrameSequence("cine.dcm", cache_bytes=64 << 20) as frames:  # doctest: +SKIP
    ...     first, last = frames[0], frames[-1]
    """

    def __init__(
        self,
        source: Input,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        raw: bool = False,
        decoder: str | None = None,
        workers: int | None = None,
        overrides: Mapping[str, object] | None = None,
        index_dir: str | os.PathLike[str] | None = None,
        array_warn_bytes: int | None = DEFAULT_ARRAY_WARN_BYTES,
    ) -> None:
        # Checked before the file is opened, so that a wrong option leaves nothing open.
        options = OpenOptions(
            overrides=overrides,
            index_dir=None if index_dir is None else os.fspath(index_dir),
            decoder=decoder,
            raw=raw,
            cache_bytes=cache_bytes,
            workers=workers,
            array_warn_bytes=array_warn_bytes,
        )
        opened = open_input(source, options)
        try:
            reader = FrameReader(opened)
        except BaseException:
            opened.close()
            raise
        self._start(reader)

    def _start(self, reader: FrameReader) -> None:
        """Everything but the open: the reader's cache, workers and functional groups."""
        opened = reader.opened
        self._reader = reader
        self._options = opened.options
        self._cache: FrameCache[int] = FrameCache(opened.options.cache_bytes)
        self._pool: _Pool | None = None  # the parallel decoders, started on first use
        self._pool_lock = threading.Lock()  # so that one pool starts, and none after close()
        # Read when first asked for (frame_header), never on open.
        self._groups = FunctionalGroups(opened.header, opened.source)
        # Let go of the pages the walks touched: the header, and all item headers
        # after a scan (the pages of a many-frame file, nearly all of it).
        opened.source.advise(0, opened.walked, needed=False)

    @classmethod
    def from_reader(cls, reader: FrameReader) -> FrameSequence:
        """A sequence over a reader built elsewhere (it closes the reader when closed)."""
        self = cls.__new__(cls)
        self._start(reader)
        return self

    # -- description -------------------------------------------------------------

    @property
    def info(self) -> PixelInfo:
        """The Image Pixel module as stored in the file."""
        return self._reader.opened.header.info

    @property
    def header(self) -> Header:
        """The elements the header walk kept, by keyword (read-only)."""
        return self._reader.opened.header.header

    @property
    def location(self) -> str | None:
        """The path the sequence reads, which worker processes and pickles open again;
        None when it was opened from bytes, a file object or a dataset in memory."""
        return self._reader.opened.location

    @property
    def options(self) -> OpenOptions:
        """The options the sequence was opened with."""
        return self._options

    @property
    def reader(self) -> FrameReader:
        """The reader that reads and decodes the frames (what worker threads call)."""
        return self._reader

    def frame_header(self, i: int | None) -> Header:
        """The header as it applies to frame `i`, with its functional groups merged in.

        For an enhanced multi-frame file, the values of the macros lazydcm reads
        (Pixel Value Transformation, Frame VOI LUT, Pixel Measures) come from frame
        `i`'s item of the Per-Frame Functional Groups Sequence, else from the Shared
        Functional Groups Sequence, else from the top level (PS3.3 C.7.6.16); `i`
        None takes the shared ones only.  A file without functional groups gives
        :attr:`header`.  The groups are read when first asked for, never on open
        (see :mod:`lazydcm.header.groups`), with ``read_into``: never through a
        memory map.

        Raises
        ------
        IndexError
            `i` is out of range.
        InvalidDicomError
            The functional groups are malformed, or frame `i` has no item.
        TruncatedFileError
            The groups are not in the file any more (it has shrunk since it was opened).
        """
        frame = None if i is None else keys.normalise(i, len(self))
        with self._reader.reading():
            return self._groups.header(frame)

    @property
    def offset_table(self) -> IndexKind:
        """How the frame table was built: "native", "bot", "eot" or "scan"."""
        return self._reader.index.kind

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """The shape of one frame: (rows, columns) or (rows, columns, samples)."""
        return self._reader.spec.shape

    @property
    def shape(self) -> tuple[int, ...]:
        """(frames, rows, columns[, samples])."""
        return (len(self), *self.frame_shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions of :attr:`shape`."""
        return len(self.frame_shape) + 1

    @property
    def size(self) -> int:
        """The number of samples in all frames (as ``ndarray.size`` of the stack)."""
        return math.prod(self.shape)

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The dtype of returned frames."""
        return self._reader.spec.dtype

    @property
    def nbytes(self) -> int:
        """Bytes that all frames take once decoded."""
        return self.size * self.dtype.itemsize

    @property
    def photometric_interpretation(self) -> str:
        """The colour space of returned frames ("RGB" after a YBR conversion).

        Decided at open, from the header and, for 3-sample JPEG, from the first
        frame's markers; it never changes.
        """
        return self._reader.photometric_interpretation

    @property
    def decoder(self) -> str:
        """The name of the backend that decodes this file's frames ("" if none here)."""
        chosen = self._reader.decoder
        return "" if isinstance(chosen, Unavailable) else chosen.name

    def suggest_overrides(self) -> dict[str, object]:
        """Header values that would make the Image Pixel module match the pixel data.

        Compares the first frame's codestream header (JPEG SOF, JPEG 2000 SIZ) and the
        frames the data holds with the header; empty when nothing disagrees.  Pass the
        result as ``overrides=`` to open the file with a corrected header.
        """
        from lazydcm.decoders.suggest import suggest_overrides

        with self._reader.reading():
            return suggest_overrides(self._reader.opened)

    def cache_info(self) -> CacheInfo:
        """Hits, misses, evictions, current bytes and max bytes of the frame cache."""
        return self._cache.info()

    # -- other array libraries ---------------------------------------------------

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """All frames, stacked as ``frames[:]``: ``np.asarray(frames)`` (NumPy protocol).

        Warns (:class:`~lazydcm.LazyDcmWarning`) when they take more than the
        ``array_warn_bytes`` the sequence was opened with.  Frames are decoded into
        a new array, so ``copy=False`` cannot be honoured (``ValueError``).
        """
        if copy is False:
            raise ValueError("frames are decoded into a new array: np.asarray cannot avoid a copy")
        limit = self._options.array_warn_bytes
        if limit is not None and self.nbytes > limit:
            warnings.warn(
                f"{self._reader.name}: np.asarray decodes all {len(self)} frames into one "
                f"array of {self.nbytes:,} bytes (more than array_warn_bytes={limit:,}); "
                "iterate over the frames, slice them, or use to_dask() instead",
                LazyDcmWarning,
                stacklevel=2,
            )
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype, copy=False)

    def to_dask(self, frames_per_chunk: int = 1) -> dask.array.Array:
        """The frames as a Dask array whose tasks open the file by path where they run.

        Shaped :attr:`shape`, of :attr:`dtype`, in chunks of `frames_per_chunk`
        frames; for the threaded, process and ``dask.distributed`` schedulers alike
        (see :mod:`lazydcm.interop.dask`).  Needs the ``dask`` extra.

        Raises
        ------
        ValueError
            The sequence was not opened from a path (bytes, a file object, an
            in-memory Dataset), or `frames_per_chunk` is not a positive int.
        ImportError
            Dask is not installed (``pip install "lazydcm[dask]"``).
        """
        from lazydcm.interop.dask import to_dask

        if self.closed:
            raise ValueError(CLOSED)
        return to_dask(self._reader.opened, self.shape, self.dtype, frames_per_chunk)

    def __len__(self) -> int:
        return self._reader.index.count

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} frames of {self.frame_shape}"
        return f"<FrameSequence {self._reader.name!r}: {state}, {self.dtype}>"

    # -- frames ------------------------------------------------------------------

    def __getitem__(self, key: object) -> np.ndarray:
        """Frames as NumPy would index the stack of all frames (see :mod:`lazydcm.keys`).

        An int gives one frame; a slice, an array of ints (its shape leading) or a
        boolean mask gives stacked frames; a tuple indexes frames with its first
        item and the returned frames with the rest (``frames[0:2, 10:20]``).
        """
        if isinstance(key, int) or isinstance(key, np.integer):  # noqa: SIM101 (faster)
            frame = self._frame(keys.normalise(key, len(self)))
            return frame.copy() if self._options.cache_bytes else frame
        selection = keys.select(key, len(self))
        return selection.finish(self._stack(selection.indices))

    def _stack(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at `indices` in one new array; nothing allocated for absent frames."""
        self._reader.check_present(indices)
        out = np.empty((len(indices), *self.frame_shape), dtype=self.dtype)
        for k, i in enumerate(indices):
            out[k] = self._frame(i)
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        """Frames in order, decoded ahead (see :meth:`iter_frames`)."""
        return self.iter_frames()

    def iter_frames(self, indices: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """Frames at `indices` (default: all), in the order given.

        Compressed frames are decoded ahead by the sequence's workers (``workers=``);
        otherwise the next frame's bytes are requested while one is returned.
        Iteration streams: a frame in the cache is served from it, any other is
        decoded for the caller and not kept (the cache is for frames read again,
        and keeping a copy of each would cost a copy a frame).
        """
        count = len(self)
        wanted = range(count) if indices is None else indices
        order = [keys.normalise(i, count) for i in wanted]
        pool = self._pool_for(len(order))
        if pool is not None:
            yield from pool.frames(order)
            return
        reader, cache = self._reader, self._cache
        for k, i in enumerate(order):
            if k + 1 < len(order):
                reader.advise(order[k + 1])
            cached = cache.get(i) if i in cache else None
            yield cached.copy() if cached is not None else reader.decode(i)

    def encoded_frame(self, i: int) -> memoryview:
        """Frame `i`'s stored bytes, in a new buffer that belongs to the caller.

        Fragments are joined; for native 1-bit data the bytes span every byte the
        frame touches.  The bytes are read with ``read_into`` (``pread``), so the
        buffer stays valid whatever happens to the file afterwards.
        """
        return memoryview(self._reader.encoded(keys.normalise(i, len(self))).data).toreadonly()

    def stored_pieces(self, i: int) -> Pieces:
        """Where frame `i`'s stored bytes are: the offsets and lengths of its pieces.

        A piece is one fragment's value for encapsulated data (PS3.5 A.4), or the
        frame's one span for native data.  Offsets are in the file (in the inflated
        dataset for a deflated file).  Reads item headers, never pixel bytes.
        """
        return self._reader.pieces(keys.normalise(i, len(self)))

    def _frame(self, i: int) -> np.ndarray:
        """Frame `i`, possibly the cached object itself (callers copy)."""
        if not self._options.cache_bytes:
            return self._reader.decode(i)
        return self._cache.get_or_load(i, partial(self._reader.decode, i))

    def _pool_for(self, frames: int) -> _Pool | None:
        """The workers that decode an iteration over `frames` frames ahead, or None.

        Serial without importing :mod:`lazydcm.parallel` where nothing could run in
        parallel; else the plan decides (once), and the pool starts on first use.
        A few frames decode sooner serially: workers pay a start-up cost.
        """
        workers = self._options.workers
        chosen = self._reader.decoder
        if (
            workers in (0, 1)
            or self._reader.spec.transfer_syntax.native
            or isinstance(chosen, Unavailable)
            or (workers is None and not chosen.releases_gil)
        ):
            return None
        from lazydcm import parallel

        with self._pool_lock:
            if self.closed:  # workers open the file by path: they would not notice
                raise ValueError(CLOSED)
            if self._pool is None:
                decided = parallel.plan(
                    self._reader, workers, cache_bytes=self._options.cache_bytes
                )
                if decided.kind == "serial" or frames <= 2 * decided.workers:
                    return None
                self._pool = parallel.start(self._reader, decided)
            return self._pool

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Release the file and the cache; frames already returned stay valid."""
        if self._reader.closed:
            return
        with self._pool_lock:  # waits for a pool being started, which is then closed
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._reader.close()  # waits for the reads in flight
        self._cache.clear()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._reader.closed

    def __enter__(self) -> FrameSequence:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pixel_array(
    src: Input,
    *,
    index: int | None = None,
    raw: bool = False,
    decoder: str | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Decode the pixel data of `src`, as ``pydicom.pixels.pixel_array`` does.

    Returns frame `index`, ``(rows, columns[, samples])``; or, when `index` is
    None, every frame, ``(frames, rows, columns[, samples])`` — or one frame's
    shape for a single-frame file.  All frames are decoded as an iteration is, with
    ``workers`` (see :class:`FrameSequence`), into the returned array.
    """
    with FrameSequence(src, cache_bytes=0, raw=raw, decoder=decoder, workers=workers) as frames:
        if index is not None:
            return frames[index]
        if len(frames) == 1:
            return frames[0]
        frames.reader.check_present(range(len(frames)))
        out = np.empty(frames.shape, dtype=frames.dtype)
        for k, frame in enumerate(frames):
            out[k] = frame
        return out


def iter_pixels(
    src: Input,
    *,
    indices: Iterable[int] | None = None,
    raw: bool = False,
    decoder: str | None = None,
    workers: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of `src` one at a time (all, or those at `indices`, in order).

    ``workers`` as for :class:`FrameSequence`: by default threads where the backend
    releases the GIL, else serially -- never a process unless asked for.
    """
    with FrameSequence(src, cache_bytes=0, raw=raw, decoder=decoder, workers=workers) as frames:
        yield from frames.iter_frames(indices)
