"""FrameSequence: lazy, thread-safe, byte-bounded access to the frames of one file.

Opening a :class:`FrameSequence` reads the header (:mod:`lazydcm.header`) and builds
the frame table (:mod:`lazydcm.index`); no pixel bytes are read.  ``frames[i]``
reads frame *i*'s bytes only (with ``pread``, so no file pages stay mapped),
decodes them with the backend chosen once for the file (:mod:`lazydcm.decoders`),
finishes them (:mod:`lazydcm.pixels`) and keeps the result in an LRU cache
bounded in bytes (:mod:`lazydcm.cache`).

Returned arrays belong to the caller: they are never the cached object, so
changing one never changes a later ``frames[i]``, and they stay valid after
:meth:`FrameSequence.close`.  One sequence may be shared by many threads.
"""

from __future__ import annotations

import operator
import os
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from lazydcm import index_cache
from lazydcm.cache import CacheInfo, FrameCache
from lazydcm.dataset_input import resolve
from lazydcm.decoders import J2K_SYNTAXES, FrameDecoder, FrameSpec, select
from lazydcm.errors import DecodeError, FrameIndexError, LazyDcmWarning, TruncatedFileError
from lazydcm.groups import FunctionalGroups
from lazydcm.header import Header, ParsedHeader, PixelInfo, read_header
from lazydcm.index import FrameIndex, IndexKind, Pieces, build_index
from lazydcm.inflight import CLOSED, ReadsInFlight
from lazydcm.pixels import finish_frame, stored_as_returned
from lazydcm.source import ByteSource, open_source

if TYPE_CHECKING:
    import dask.array

__all__ = [
    "DEFAULT_ARRAY_WARN_BYTES", "DEFAULT_CACHE_BYTES", "FrameSequence", "iter_pixels",
    "pixel_array",
]  # fmt: skip

#: The default budget of a sequence's frame cache.
DEFAULT_CACHE_BYTES = 128 << 20
#: The default size past which ``np.asarray(frames)`` warns (1 GiB).
DEFAULT_ARRAY_WARN_BYTES = 1 << 30

#: What a sequence can read: a path, a bytes-like object, a binary file object or a
#: pydicom Dataset.
Source = Any


class FrameSequence:
    """The frames of one DICOM file, decoded on demand.

    Parameters
    ----------
    source : path, bytes-like, binary file object or pydicom Dataset
        The DICOM file.  A path is memory-mapped; a file object is read under a
        lock with its position restored, and never closed by lazydcm.  A Dataset
        read from a file is read from that file when the file still holds what the
        dataset does, else written out to memory and read from there
        (:mod:`lazydcm.dataset_input`).
    cache_bytes : int, optional
        Budget of the decoded-frame cache in bytes (default 128 MiB); 0 disables it.
    raw : bool, optional
        If True, return frames as decoded, without the YBR to RGB conversion.
    decoder : str, optional
        Name of the backend to decode compressed frames with (default: the first
        one installed for the transfer syntax).
    workers : int, optional
        How many frames iteration decodes ahead in parallel (default: the number
        of CPUs; 0 or 1: serially).  Backends that hold the GIL decode in worker
        processes that open the file by path, the others in threads.
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
        source: Source,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        raw: bool = False,
        decoder: str | None = None,
        workers: int | None = None,
        overrides: Mapping[str, Any] | None = None,
        index_dir: str | os.PathLike[str] | None = None,
        array_warn_bytes: int | None = DEFAULT_ARRAY_WARN_BYTES,
    ) -> None:
        # Checked before the file is opened, so that a wrong budget leaves nothing open.
        self._cache: FrameCache[int] = FrameCache(cache_bytes)
        source = resolve(source)
        src, owned = open_source(source)
        #: What the file was when opened (device, inode, ...), None if not a local file.
        self._status: os.stat_result | None = getattr(src, "status", None)
        self._array_warn_bytes = array_warn_bytes
        #: The file's path, when it has one: worker processes open it themselves.
        self._path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        self._workers = (os.cpu_count() or 1) if workers is None else max(0, workers)
        self._pool: Any = None  # the parallel decoding workers, started on first use
        self._pool_lock = threading.Lock()  # so that one pool starts, and none after close()
        # What worker processes need to open the file the same way.
        self._overrides = dict(overrides) if overrides else None
        self._index_dir = index_dir
        self._owned = owned
        self._source: ByteSource = src
        self._lock = threading.Lock()  # for the functional groups and a rescan
        # Reads in flight, so that close() never closes the file under a read.
        self._reads = ReadsInFlight()
        try:
            parsed, self._index, walked = self._open(src, overrides, index_dir)
            self._info = parsed.info
            self._header = parsed.header
            self._parsed = parsed
            self._groups: FunctionalGroups | None = None  # read on first frame_header()
            self._spec = FrameSpec.from_header(parsed)
            self._decoder: FrameDecoder = select(parsed.transfer_syntax, decoder)
        except BaseException:
            if self._owned:
                self._source.close()
            raise
        self._raw = raw
        self._caching = cache_bytes > 0
        self._photometric = self._output_photometric()
        self._direct = stored_as_returned(self._spec, raw)
        # Let go of the pages the walks touched: the header, and all item headers
        # after a scan (the pages of a many-frame file, nearly all of it).
        self._source.advise(0, walked, needed=False)

    def _open(
        self,
        src: ByteSource,
        overrides: Mapping[str, Any] | None,
        index_dir: str | os.PathLike[str] | None,
    ) -> tuple[ParsedHeader, FrameIndex, int]:
        """Parse the header and build the frame table, or reuse them from an earlier open.

        Returns them and how many bytes from the start the walks touched.
        """
        key = None if overrides else index_cache.file_key(self._path, src)
        if key is not None and (kept := index_cache.load(key, src, index_dir)) is not None:
            return kept[0], kept[1], 0
        parsed = read_header(src, overrides=overrides) if overrides else read_header(src)
        if parsed.source is not src:
            # A deflated dataset was inflated into a temporary file of our own.
            if self._owned:
                src.close()
            self._source, self._owned = parsed.source, True
        index = build_index(parsed)
        if key is not None:
            index_cache.store(key, parsed, index, index_dir)
        walked = parsed.source.size if index.kind == "scan" else parsed.pixel.value_offset
        return parsed, index, walked

    # -- description -------------------------------------------------------------

    @property
    def info(self) -> PixelInfo:
        """The Image Pixel module as stored in the file."""
        return self._info

    @property
    def header(self) -> Header:
        """The elements the header walk kept, by keyword (read-only)."""
        return self._header

    def frame_header(self, i: int | None) -> Header:
        """The header as it applies to frame `i`, with its functional groups merged in.

        For an enhanced multi-frame file, the values of the macros lazydcm reads
        (Pixel Value Transformation, Frame VOI LUT, Pixel Measures) come from frame
        `i`'s item of the Per-Frame Functional Groups Sequence, else from the Shared
        Functional Groups Sequence, else from the top level (PS3.3 C.7.6.16); `i`
        None takes the shared ones only.  A file without functional groups gives
        :attr:`header`.  The groups are read when first asked for, never on open
        (see :mod:`lazydcm.groups`).

        Raises
        ------
        IndexError
            `i` is out of range.
        InvalidDicomError
            The functional groups are malformed, or frame `i` has no item.
        """
        frame = None if i is None else self._normalise(i)
        with self._lock:
            if self._groups is None:
                self._groups = FunctionalGroups(self._parsed, self._parsed.source)
            groups = self._groups
        with self._reads:
            return groups.header(frame)

    @property
    def offset_table(self) -> IndexKind:
        """How the frame table was built: "native", "bot", "eot" or "scan"."""
        return self._index.kind

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """The shape of one frame: (rows, columns) or (rows, columns, samples)."""
        return self._spec.shape

    @property
    def shape(self) -> tuple[int, ...]:
        """(frames, rows, columns[, samples])."""
        return (len(self), *self._spec.shape)

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The dtype of returned frames."""
        return self._spec.dtype

    @property
    def nbytes(self) -> int:
        """Bytes that all frames take once decoded."""
        return len(self) * int(np.prod(self._spec.shape)) * self._spec.dtype.itemsize

    @property
    def photometric_interpretation(self) -> str:
        """The colour space of returned frames ("RGB" after a YBR conversion)."""
        return self._photometric

    @property
    def decoder(self) -> str:
        """The name of the backend that decodes this file's frames."""
        return self._decoder.name

    def suggest_overrides(self) -> dict[str, object]:
        """Header values that would make the Image Pixel module match the pixel data.

        Compares the first frame's codestream header (JPEG SOF, JPEG 2000 SIZ) and the
        frames the data holds with the header; empty when nothing disagrees.  Pass the
        result as ``overrides=`` to open the file with a corrected header.
        """
        from lazydcm.decoders.suggest import suggest_overrides

        with self._reads:
            return suggest_overrides(self._parsed, self._index)

    def cache_info(self) -> CacheInfo:
        """Hits, misses, evictions, current bytes and max bytes of the frame cache."""
        return self._cache.info()

    # -- other array libraries ---------------------------------------------------

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """All frames, stacked as ``frames[:]``: ``np.asarray(frames)`` (NumPy protocol).

        Warns (:class:`~lazydcm.LazyDcmWarning`) when they take more than the
        ``array_warn_bytes`` the sequence was opened with.  Frames are decoded into
        a new array, so ``copy=False`` cannot be honoured (``ValueError``).
        """
        if copy is False:
            raise ValueError("frames are decoded into a new array: np.asarray cannot avoid a copy")
        limit = self._array_warn_bytes
        if limit is not None and self.nbytes > limit:
            warnings.warn(
                f"{self._source.name}: np.asarray decodes all {len(self)} frames into one "
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
        (see :mod:`lazydcm.dask_array`).  Needs the ``dask`` extra.

        Raises
        ------
        ValueError
            The sequence was not opened from a path (bytes, a file object, an
            in-memory Dataset), or `frames_per_chunk` is not a positive int.
        ImportError
            Dask is not installed (``pip install "lazydcm[dask]"``).
        """
        from lazydcm.dask_array import to_dask

        return to_dask(self, frames_per_chunk)

    def __len__(self) -> int:
        return self._index.count

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} frames of {self.frame_shape}"
        return f"<FrameSequence {self._source.name!r}: {state}, {self.dtype}>"

    # -- frames ------------------------------------------------------------------

    @overload
    def __getitem__(self, key: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, key: slice) -> np.ndarray: ...

    def __getitem__(self, key: Any) -> np.ndarray:
        """One frame for an int; stacked frames for a slice, an array of ints or a mask.

        As in NumPy, an array of ints gives its own shape followed by the frame
        shape, and a boolean mask (one value a frame) the frames where it is true.
        """
        if isinstance(key, int) or isinstance(key, np.integer):  # noqa: SIM101 (faster)
            frame = self._frame(self._normalise(key))
            return frame.copy() if self._caching else frame
        indices: Sequence[int]
        shape: tuple[int, ...]
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
            shape = (len(indices),)
        else:
            keys = np.asarray(key)
            if keys.dtype == np.bool_:
                if keys.shape != (len(self),):
                    raise IndexError(
                        f"a boolean mask of shape {keys.shape} does not match {len(self)} frames"
                    )
                keys = np.flatnonzero(keys)
            elif keys.size and not np.issubdtype(keys.dtype, np.integer):
                raise TypeError(f"frame indices must be integers, not {keys.dtype}")
            indices = [self._normalise(i) for i in keys.reshape(-1).tolist()]
            shape = keys.shape
        present = self._index.present
        absent = next((i for i in indices if i >= present), None)
        if absent is not None:
            self._pieces(absent)  # raises before a stack is allocated for absent frames
        out = np.empty((len(indices), *self._spec.shape), dtype=self._spec.dtype)
        for k, i in enumerate(indices):
            out[k] = self._frame(i)
        return out.reshape(shape + self._spec.shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Frames in order, decoded ahead (see :meth:`iter_frames`)."""
        return self.iter_frames()

    def iter_frames(self, indices: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """Frames at `indices` (default: all), in the order given.

        Compressed frames are decoded ahead by the sequence's workers (``workers=``);
        otherwise the next frame's bytes are requested while one is returned.
        """
        wanted = range(len(self)) if indices is None else indices
        order = [self._normalise(i) for i in wanted]
        # Workers pay a start-up cost (tens of ms); a few frames decode sooner serially.
        many = len(order) > 2 * self._workers
        if self._workers > 1 and many and not self._spec.transfer_syntax.native:
            yield from self._parallel(order)
            return
        for k, i in enumerate(order):
            if k + 1 < len(order) and order[k + 1] < self._index.present:
                self._advise(order[k + 1])
            yield self[i]

    def encoded_frame(self, i: int) -> memoryview:
        """Frame `i`'s stored bytes, zero-copy where possible.

        A frame held in one place (native data, one fragment) is a view of the
        memory-mapped file, which keeps the mapping alive until the view is
        released; a frame of several fragments is joined into a new buffer.  For
        native 1-bit data the bytes span every byte the frame touches.
        """
        i = self._normalise(i)
        offsets, lengths = self._pieces(i)
        if len(offsets) > 1:
            return self._read(i).data.toreadonly()
        with self._reads:
            return self._source.view(offsets[0], lengths[0])

    def stored_pieces(self, i: int) -> Pieces:
        """Where frame `i`'s stored bytes are: the offsets and lengths of its pieces.

        A piece is one fragment's value for encapsulated data (PS3.5 A.4), or the
        frame's one span for native data.  Offsets are in the file (in the inflated
        dataset for a deflated file).  Reads item headers, never pixel bytes.
        """
        return self._pieces(self._normalise(i))

    def _normalise(self, i: Any) -> int:
        n = self._index.count
        index = operator.index(i)
        if 0 <= index < n:
            return index
        if -n <= index < 0:
            return index + n
        raise IndexError(f"frame index {index} is out of range for {n} frames")

    def _pieces(self, i: int) -> Pieces:
        """Where frame `i`'s stored bytes are; rescans if an offset table proves wrong."""
        index = self._index
        if i >= index.present:
            error = TruncatedFileError if index.missing == "truncated" else FrameIndexError
            raise error(
                f"{self._source.name}: frame {i} is not in the file: it holds {index.present} "
                f"complete frames of the {index.count} its header declares"
            )
        if index.kind == "native":  # the hot path: one span
            return [int(index.offsets[i])], [int(index.lengths[i])]
        if index.resolve is None:  # the whole table is in memory
            return index.pieces(i)
        # A table read from the file checks its entry against the item headers: a
        # read of the file, so close() must wait for it (as for a rescan).
        with self._reads:
            try:
                return index.pieces(i)
            except FrameIndexError as exc:
                self._rescan(index, exc)
        return self._pieces(i)

    def _rescan(self, failed: FrameIndex, error: FrameIndexError) -> None:
        """Replace an offset table that failed its check by a scan of the item headers."""
        with self._lock:
            if self._index is not failed:
                return  # another thread did it
            warnings.warn(
                f"{error}; the item headers are scanned instead", LazyDcmWarning, stacklevel=5
            )
            self._index = build_index(self._parsed, trust_tables=False)

    def _advise(self, i: int) -> None:
        """Ask the OS to start reading frame `i` (not for tables that check entries on use)."""
        if self._index.kind == "native" or self._index.resolve is None:
            offsets, lengths = self._pieces(i)
            with self._reads:  # never advise a closed, perhaps reused, descriptor
                self._source.advise(offsets[0], sum(lengths), needed=True)

    def _frame(self, i: int) -> np.ndarray:
        """Frame `i`, possibly the cached object itself (callers copy)."""
        if not self._caching:
            return self._decode(i)
        return self._cache.get_or_load(i, partial(self._decode, i))

    def _read(self, i: int) -> np.ndarray:
        """Frame `i`'s stored bytes, in a new buffer (fragments joined)."""
        offsets, lengths = self._pieces(i)
        buffer = np.empty(sum(lengths), dtype=np.uint8)
        with self._reads:
            if len(offsets) == 1:
                got = self._source.read_into(offsets[0], buffer.data)
                if got != lengths[0]:
                    self._missing_bytes(i, offsets[0], lengths[0], got)
            else:
                start = 0
                for file_offset, n in zip(offsets, lengths, strict=True):
                    got = self._source.read_into(file_offset, buffer.data[start : start + n])
                    if got != n:
                        self._missing_bytes(i, file_offset, n, got)
                    start += n
        return buffer

    def _read_direct(self, i: int) -> np.ndarray:
        """A native frame read straight into the returned array (nothing to convert)."""
        index = self._index
        if i >= index.present:
            self._pieces(i)  # raises the missing-frame error
        offset = int(index.offsets[i])
        frame = np.empty(self._spec.shape, dtype=self._spec.dtype)
        with self._reads:
            got = self._source.read_into(offset, frame.data)
        if got != frame.nbytes:
            self._missing_bytes(i, offset, frame.nbytes, got)
        return frame

    def _missing_bytes(self, i: int, offset: int, n: int, got: int) -> None:
        raise TruncatedFileError(
            f"{self._source.name}: frame {i} needs bytes {offset}..{offset + n}, but the file "
            f"now ends at byte {offset + got}"
        )

    def _decode(self, i: int) -> np.ndarray:
        if self._direct:
            return self._read_direct(i)
        buffer = self._read(i)
        first_bit = 0
        if self._index.frame_bits:
            # Where the frame starts inside its first byte(s): 1-bit frames are packed
            # bit to bit, and swapped OW words are read from an even byte.
            start = int(self._index.offsets[i]) - int(self._index.offsets[0])
            first_bit = i * self._index.frame_bits - start * 8
        try:
            decoded = self._decoder.decode(buffer.data, self._spec, first_bit)
        except DecodeError as exc:
            # Keep the codec's own error as the cause, as the decoder gave it.
            raise DecodeError(f"{self._source.name}: frame {i}: {exc}") from (exc.__cause__ or exc)
        frame, self._photometric = finish_frame(decoded, self._spec, self._raw)
        return frame

    def _parallel(self, order: list[int]) -> Iterator[np.ndarray]:
        """Frames at `order`, decoded ahead by the workers, in order."""
        from lazydcm import parallel

        with self._pool_lock:
            if self.closed:  # workers open the file by path: they would not notice
                raise ValueError(CLOSED)
            if self._pool is None:
                self._pool = parallel.start(self)
            pool = self._pool
        yield from pool.frames(order)

    def _output_photometric(self) -> str:
        """The colour space frames come out in, predicted from the header.

        The first decoded frame corrects it when the codestream overrides the
        header (a JFIF segment or RGB component IDs in a JPEG).
        """
        pi = self._info.photometric_interpretation
        if pi in ("YBR_ICT", "YBR_RCT") and self._spec.transfer_syntax.uid in J2K_SYNTAXES:
            return "RGB"  # the JPEG 2000 decoder applies the inverse component transform
        if self._raw:
            return "YBR_FULL" if pi == "YBR_FULL_422" and self._spec.transfer_syntax.native else pi
        return "RGB" if pi in ("YBR_FULL", "YBR_FULL_422") else pi

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Release the file and the cache; frames already returned stay valid."""
        if not self._reads.close():  # waits for the reads in flight
            return
        with self._pool_lock:  # waits for a pool being started, which is then closed
            pool = self._pool
        if pool is not None:
            pool.close()
        if self._owned:
            self._source.close()
        self._cache.clear()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._reads.closed

    def __enter__(self) -> FrameSequence:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        reads = getattr(self, "_reads", None)  # absent when __init__ failed early
        if reads is not None and self._owned and not reads.closed:
            self._source.close()


def pixel_array(
    src: Source, *, index: int | None = None, raw: bool = False, decoder: str | None = None
) -> np.ndarray:
    """Decode the pixel data of `src`, as ``pydicom.pixels.pixel_array`` does.

    Returns frame `index`, ``(rows, columns[, samples])``; or, when `index` is
    None, every frame, ``(frames, rows, columns[, samples])`` — or one frame's
    shape for a single-frame file.
    """
    with FrameSequence(src, cache_bytes=0, raw=raw, decoder=decoder) as frames:
        if index is not None:
            return frames[index]
        return frames[0] if len(frames) == 1 else frames[:]


def iter_pixels(
    src: Source,
    *,
    indices: Iterable[int] | None = None,
    raw: bool = False,
    decoder: str | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of `src` one at a time (all, or those at `indices`, in order)."""
    with FrameSequence(src, cache_bytes=0, raw=raw, decoder=decoder) as frames:
        yield from frames.iter_frames(indices)
