"""A byte source over any fsspec URL, read with few, exact, coalesced range requests.

Contract (:class:`RemoteSource`, the byte-source protocol):

* Opening makes one request where the protocol allows it (HTTP(S), S3): a
  ranged GET of the first :attr:`RemoteOptions.first_read` bytes, whose answer
  also gives the object's size and version (ETag, Last-Modified, S3 version
  id).  Other filesystems take an ``info`` and a ``cat_file``.  A missing or
  forbidden object is a one-line :class:`~lazydcm.errors.SourceError`.
* ``view`` serves the header walk from a read-ahead window that starts at byte
  0 and grows by :attr:`RemoteOptions.growth` times per request, so a header
  of ``first_read * growth**k`` bytes costs ``k + 1`` requests; a view far
  beyond it opens a second window of ``first_read`` bytes there.  Windows only
  serve views (and reads that fall inside them); ``advise(..., needed=False)``
  over a window drops it.
* ``read_into`` is one request of exactly the bytes asked for (clipped to the
  size), unless a window already holds them.
* ``read_many`` sorts the ranges, merges neighbours (always across gaps up to
  ``merge_gap``; up to ``max_gap`` while the gaps stay under ``max_waste`` of
  the useful bytes), splits merged spans into requests of at most
  ``max_span`` bytes and runs up to ``max_concurrency`` requests at once.
* Every request is checked (status, ``Content-Range``, length, version: see
  :mod:`lazydcm.sources.fetchers`); transient failures (connection reset,
  body cut short, 5xx, 408/429, timeouts) are tried again up to ``retries``
  times with exponential backoff, then raise ``SourceError`` naming the URL,
  the byte range and the last status.  An object replaced since it was opened
  is a ``SourceError`` at once, never bytes of another version.
* A pickled source (for a worker process) opens again without a request: it
  keeps the version it saw, and every read stays conditional on it.
* No fsspec file object and no block cache is used; the source holds no seek
  position, and may be used by many threads at once (requests run on
  fsspec's event loop thread).  ``import lazydcm`` does not import fsspec:
  this module imports it when a source is made.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lazydcm.errors import SourceError, TruncatedFileError
from lazydcm.sources.base import SourceStatus
from lazydcm.sources.fetchers import (
    Failed,
    Failure,
    Fetcher,
    ObjectVersion,
    Probe,
    fetcher_for,
)

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["RemoteOptions", "RemoteSource", "Span", "coalesce"]

#: What identifies one version of a source (as in :mod:`lazydcm.sources`).

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """How a :class:`RemoteSource` reads.

    Attributes
    ----------
    first_read : int
        Bytes of the first request (the header read-ahead starts there).
    growth : int
        Each further header read-ahead request makes the window this many times longer.
    max_readahead : int
        The most bytes a header read-ahead request fetches beyond what was asked.
    merge_gap : int
        ``read_many`` always merges ranges separated by at most this many bytes.
    max_gap : int
        ``read_many`` never merges across a larger gap.
    max_waste : float
        Between ``merge_gap`` and ``max_gap``, merge while the gap bytes of a span
        stay at most this share of its useful bytes.
    max_span : int
        The most bytes one ``read_many`` request fetches (larger spans are split).
    max_concurrency : int
        The most requests one ``read_many`` call has in flight.
    retries : int
        How many times a transient failure is tried again.
    backoff, max_backoff : float
        Seconds before the first retry (doubling after each), and their cap.
    request_timeout : float or None
        Seconds after which one request is abandoned (a transient failure); None
        leaves timeouts to the filesystem's client.
    """

    first_read: int = 64 << 10
    growth: int = 4
    max_readahead: int = 8 << 20
    merge_gap: int = 4 << 10
    max_gap: int = 1 << 20
    max_waste: float = 0.1
    max_span: int = 32 << 20
    max_concurrency: int = 16
    retries: int = 3
    backoff: float = 0.1
    max_backoff: float = 5.0
    request_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.first_read < 1 or self.growth < 2 or self.max_span < 1:
            raise ValueError("first_read and max_span must be positive and growth at least 2")
        if self.max_concurrency < 1 or self.retries < 0 or self.backoff < 0:
            raise ValueError("max_concurrency must be positive, retries and backoff not negative")


@dataclass(frozen=True, slots=True)
class Span:
    """Consecutive bytes ``[start, stop)`` read for the ranges ``members`` (input indices)."""

    start: int
    stop: int
    members: tuple[int, ...]


def coalesce(ranges: Sequence[tuple[int, int]], options: RemoteOptions) -> list[Span]:
    """Merge ``(offset, n)`` ranges into spans, in file order (empty ranges left out).

    Neighbours separated by at most ``options.merge_gap`` bytes are always
    merged (overlapping and touching ones too); up to ``options.max_gap`` they
    are merged while the gaps of the span stay at most ``options.max_waste``
    of its useful bytes.
    """
    order = sorted((i for i, (_, n) in enumerate(ranges) if n > 0), key=lambda i: ranges[i][0])
    spans: list[Span] = []
    start = stop = useful = waste = 0
    members: list[int] = []
    for i in order:
        offset, n = ranges[i]
        gap = offset - stop
        new_useful = useful + max(offset + n - max(offset, stop), 0)
        merge = members and (
            gap <= options.merge_gap
            or (gap <= options.max_gap and waste + gap <= options.max_waste * new_useful)
        )
        if merge:
            members.append(i)
            waste += max(gap, 0)
            useful = new_useful
            stop = max(stop, offset + n)
            continue
        if members:
            spans.append(Span(start, stop, tuple(members)))
        start, stop, useful, waste, members = offset, offset + n, n, 0, [i]
    if members:
        spans.append(Span(start, stop, tuple(members)))
    return spans


@dataclass(frozen=True, slots=True)
class _Window:
    """Bytes ``[start, start + len(data))`` kept for the header walk."""

    start: int
    data: bytes

    @property
    def stop(self) -> int:
        return self.start + len(self.data)

    def holds(self, offset: int, n: int) -> bool:
        return self.start <= offset and offset + n <= self.stop


class RemoteSource:
    """The bytes of one object of an fsspec filesystem, read with range requests.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem (made with ``asynchronous=False``, fsspec's default).
    path : str
        The object's path on `fs` (for HTTP, its URL).
    options : RemoteOptions, optional
        How to read; the defaults suit object storage.

    Raises
    ------
    SourceError
        The object is missing or forbidden, the server does not serve byte
        ranges, or the first request failed after its retries.
    """

    def __init__(
        self, fs: AbstractFileSystem, path: str, *, options: RemoteOptions | None = None
    ) -> None:
        self._setup(fs, path, options)
        probe = self._run(self._probe())
        self._version = probe.version
        if probe.data:
            self._windows.append(_Window(0, probe.data))

    def _setup(self, fs: AbstractFileSystem, path: str, options: RemoteOptions | None) -> None:
        import fsspec.asyn

        self._sync = fsspec.asyn.sync
        self._options = options or RemoteOptions()
        self._fetcher: Fetcher = fetcher_for(fs, path)
        self._fs = fs
        self._path = path
        self._lock = threading.Lock()
        self._closed = False
        self._windows: list[_Window] = []

    @classmethod
    def from_url(
        cls,
        url: str,
        storage_options: Mapping[str, object] | None = None,
        *,
        options: RemoteOptions | None = None,
    ) -> RemoteSource:
        """Open the object at an fsspec `url` (``s3://``, ``gs://``, ``https://``...).

        Parameters
        ----------
        url : str
            The URL; fsspec chooses the filesystem from its protocol.
        storage_options : mapping, optional
            Passed to the filesystem (credentials, endpoint, ...).
        options : RemoteOptions, optional
            How to read.
        """
        import fsspec.core

        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        return cls(fs, path, options=options)

    # --- the protocol ---------------------------------------------------------------------

    @classmethod
    def restored(
        cls, fs: AbstractFileSystem, path: str, options: RemoteOptions, version: ObjectVersion
    ) -> RemoteSource:
        """A source for the version of `path` that another process opened (no request)."""
        self = cls.__new__(cls)
        self._setup(fs, path, options)
        self._version = version
        return self

    @property
    def name(self) -> str:
        """The object's URL (without query string or credentials)."""
        return self._fetcher.name

    @property
    def size(self) -> int:
        """The object's size when it was opened."""
        return self._version.size

    @property
    def status(self) -> SourceStatus | None:
        """The object's version: ``(size, "etag", etag)``, or its modification time."""
        return self._version.status()

    @property
    def zero_copy(self) -> bool:
        """False: every byte is fetched."""
        return False

    @property
    def filesystem(self) -> AbstractFileSystem:
        """The fsspec filesystem read."""
        return self._fs

    @property
    def path(self) -> str:
        """The object's path on :attr:`filesystem`."""
        return self._path

    def view(self, offset: int, n: int) -> memoryview:
        """Exactly `n` bytes from `offset` (read-only), from the read-ahead windows."""
        self._check(offset, n)
        with self._lock:
            window = self._window_for(offset, n)
            if window is None:
                window = self._grow(offset, n)
        return memoryview(window.data)[offset - window.start : offset - window.start + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        """Copy the bytes from `offset` into `out` with one request; return how many."""
        self._check(offset, 0, clip=True)
        target = _byte_view(out)
        n = max(min(target.nbytes, self.size - offset), 0)
        if n == 0:
            return 0
        with self._lock:
            window = self._window_for(offset, n)
        if window is not None:
            target[:n] = memoryview(window.data)[offset - window.start : offset - window.start + n]
            return n
        self._run(self._fetch(offset, target[:n]))
        return n

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
        """One new writable buffer of exactly `n` bytes per ``(offset, n)``, in input order."""
        for offset, n in ranges:
            self._check(offset, n)
        results: list[memoryview | None] = [None] * len(ranges)
        with self._lock:
            for i, (offset, n) in enumerate(ranges):
                window = self._window_for(offset, n) if n else None
                if n == 0 or window is not None:
                    start = offset - window.start if window else 0
                    data = memoryview(window.data if window else b"")[start : start + n]
                    results[i] = memoryview(bytearray(data))
        pending = [(o, n) if results[i] is None else (o, 0) for i, (o, n) in enumerate(ranges)]
        spans = coalesce(pending, self._options)
        buffers = [bytearray(span.stop - span.start) for span in spans]
        requests = [
            (start, memoryview(buffer)[start - span.start : stop - span.start])
            for span, buffer in zip(spans, buffers, strict=True)
            for start, stop in _split(span.start, span.stop, self._options.max_span)
        ]
        if requests:
            self._run(self._fetch_all(requests))
        for span, buffer in zip(spans, buffers, strict=True):
            covered = span.start
            for i in span.members:
                offset, n = ranges[i]
                part = memoryview(buffer)[offset - span.start : offset - span.start + n]
                # Overlapping ranges must not share memory: each buffer is the caller's own.
                results[i] = part if offset >= covered else memoryview(bytearray(part))
                covered = max(covered, offset + n)
        return [result if result is not None else memoryview(bytearray()) for result in results]

    def advise(self, offset: int, n: int, needed: bool) -> None:
        """Drop the read-ahead windows inside ``[offset, offset + n)`` when not `needed`."""
        if needed:
            return
        with self._lock:
            self._windows = [
                w for w in self._windows if not (offset <= w.start and w.stop <= offset + n)
            ]

    def close(self) -> None:
        """Forget the read-ahead windows; the filesystem stays open (fsspec shares it)."""
        with self._lock:
            self._closed = True
            self._windows = []

    def __repr__(self) -> str:
        return f"RemoteSource({self.name!r}, size={self.size})"

    def __reduce__(self) -> tuple[Callable[..., RemoteSource], tuple[object, ...]]:
        # Unpickled (in a worker process), the source makes no request to open: it
        # keeps the version seen here, and every read is conditional on it.
        return (_restore, (self._fs, self._path, self._options, self._version))

    # --- internals ------------------------------------------------------------------------

    def _check(self, offset: int, n: int, clip: bool = False) -> None:
        if self._closed:
            raise ValueError(f"{self.name}: the source is closed")
        if offset < 0 or n < 0:
            raise ValueError(f"invalid byte range: offset {offset}, length {n}")
        if offset + n > self.size and not clip:
            raise TruncatedFileError(
                f"{self.name}: needed bytes {offset}..{offset + n} but the data ends at "
                f"byte {self.size}"
            )

    def _window_for(self, offset: int, n: int) -> _Window | None:
        return next((w for w in self._windows if w.holds(offset, n)), None)

    def _grow(self, offset: int, n: int) -> _Window:
        """Extend the window that `offset` continues, or open one there (lock held)."""
        options = self._options
        for index, window in enumerate(self._windows):
            reach = window.start + len(window.data) * options.growth
            if window.start <= offset <= max(reach, window.stop):
                target = min(reach, offset + n + options.max_readahead)
                stop = min(max(offset + n, target), self.size)
                extra = bytearray(stop - window.stop)
                self._run(self._fetch(window.stop, memoryview(extra)))
                grown = _Window(window.start, window.data + bytes(extra))
                self._windows[index] = grown
                return grown
        stop = min(offset + max(n, options.first_read), self.size)
        data = bytearray(stop - offset)
        self._run(self._fetch(offset, memoryview(data)))
        # One window at byte 0 (the header) and one elsewhere: a far view replaces the latter.
        self._windows = [w for w in self._windows if w.start == 0][:1]
        far = _Window(offset, bytes(data))
        self._windows.append(far)
        return far

    def _run(self, coroutine: Awaitable[_T]) -> _T:
        async def run() -> _T:
            return await coroutine

        result: _T = self._sync(self._fetcher.loop, run)
        return result

    async def _probe(self) -> Probe:
        n = self._options.first_read
        result = await self._retrying(lambda: self._fetcher.probe(n))
        if isinstance(result, Probe):
            return result
        raise self._error(result, 0, n, opening=True)

    async def _fetch(self, start: int, out: memoryview) -> None:
        n = out.nbytes
        failed = await self._retrying(lambda: self._fetcher.get(start, out, self._version))
        if failed is not None:
            raise self._error(failed, start, n, opening=False)

    async def _fetch_all(self, requests: list[tuple[int, memoryview]]) -> None:
        limit = asyncio.Semaphore(self._options.max_concurrency)

        async def one(start: int, out: memoryview) -> None:
            async with limit:
                await self._fetch(start, out)

        tasks = [asyncio.ensure_future(one(start, out)) for start, out in requests]
        try:
            await asyncio.gather(*tasks)
        finally:
            # The first failure ends the call: the other requests are not left running.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _retrying(self, attempt: Callable[[], Awaitable[_T | Failed]]) -> _T | Failed:
        options = self._options
        result: _T | Failed = Failed(Failure.OTHER, "not tried")
        for tries in range(options.retries + 1):
            if tries:
                await asyncio.sleep(min(options.backoff * 2 ** (tries - 1), options.max_backoff))
            result = await self._timed(attempt)
            if not (isinstance(result, Failed) and result.transient):
                return result
        return result

    async def _timed(self, attempt: Callable[[], Awaitable[_T | Failed]]) -> _T | Failed:
        timeout = self._options.request_timeout
        if timeout is None:
            return await attempt()
        try:
            return await asyncio.wait_for(attempt(), timeout)
        except asyncio.TimeoutError:
            return Failed(Failure.TRANSIENT, f"no answer within {timeout:g} s")

    def _error(self, failed: Failed, start: int, n: int, opening: bool) -> SourceError:
        where = f"bytes {start}-{start + n - 1}"
        tries = f" after {self._options.retries + 1} attempts" if failed.transient else ""
        if opening and failed.kind in (Failure.NOT_FOUND, Failure.FORBIDDEN):
            return SourceError(f"{self.name}: {failed.kind.value} ({failed.status})")
        if failed.kind is Failure.NO_RANGES:
            return SourceError(
                f"{self.name}: {failed.kind.value} ({failed.status}); download the file "
                "and open it locally"
            )
        if failed.kind is Failure.CHANGED:
            return SourceError(
                f"{self.name}: {where}: {failed.kind.value} ({failed.status}); open it again"
            )
        return SourceError(f"{self.name}: {where}: {failed.kind.value}{tries} ({failed.status})")


def _restore(
    fs: AbstractFileSystem, path: str, options: RemoteOptions, version: ObjectVersion
) -> RemoteSource:
    """A source for the version of `path` that another process opened (no request)."""
    return RemoteSource.restored(fs, path, options, version)


def _split(start: int, stop: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into consecutive pieces of at most `size` bytes."""
    return [(s, min(s + size, stop)) for s in range(start, stop, size)]


def _byte_view(out: Any) -> memoryview:
    view = memoryview(out)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")
