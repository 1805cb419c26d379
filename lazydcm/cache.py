"""A thread-safe least-recently-used cache of frames, bounded in bytes.

:class:`FrameCache` maps keys to numpy arrays and keeps the sum of their
``nbytes`` at or below a budget, ``max_bytes``:

* An entry costs exactly ``value.nbytes``; ``current_bytes`` is the exact sum over
  the stored entries.  Zero-byte arrays are allowed.
* After every change the least-recently-used entries are evicted until the total
  fits.  Reading an entry (:meth:`FrameCache.get`, or a hit in
  :meth:`FrameCache.get_or_load`) makes it the most recently used; a membership
  test (``key in cache``) does not.
* A value larger than the whole budget is never stored.  With ``max_bytes == 0``
  nothing is stored, but :meth:`FrameCache.get_or_load` still works.
* The cache never copies and never changes an array: it stores and returns the
  very object it was given.  Callers must not mutate a value once it is in the
  cache (copy it first if it is handed to code that might).
* :meth:`FrameCache.get_or_load` is single-flight: when several threads ask for
  the same missing key at once, one of them runs the load function and the
  others wait for its result (or its exception).  Loads of different keys run
  concurrently; no lock is held while a load runs.

Counters (:class:`CacheInfo`): every call to ``get`` or ``get_or_load`` counts
exactly once, as a hit or a miss.  A lookup that finds the key stored is a hit;
the thread that runs a load counts a miss; a thread that waited for another
thread's load counts a hit if it received a value and a miss if it received the
load's exception.  An eviction is an entry removed to make room (by ``put``,
``get_or_load`` or ``resize``); replacing a key's value, dropping a key whose new
value is too large, and ``clear`` are not evictions.  ``clear`` keeps the
counters.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, TypeVar

from numpy.typing import NDArray

__all__ = ["CacheInfo", "FrameCache"]

K = TypeVar("K", bound=Hashable)


class CacheInfo(NamedTuple):
    """A snapshot of a cache's counters and size.

    Attributes
    ----------
    hits, misses : int
        Lookups that found a value / did not (see the module docstring).
    evictions : int
        Entries removed to keep ``current_bytes <= max_bytes``.
    current_bytes : int
        Sum of ``nbytes`` over the stored entries.
    max_bytes : int
        The budget.
    entries : int
        Number of stored entries.
    """

    hits: int
    misses: int
    evictions: int
    current_bytes: int
    max_bytes: int
    entries: int


class _Flight:
    """One load in progress: the loader sets `outcome`, then sets `done`."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Event()
        # The value, or what load() raised; read only after `done` is set.
        self.outcome: NDArray[Any] | BaseException = RuntimeError("the load did not finish")


def _check_budget(max_bytes: int) -> None:
    if max_bytes < 0:
        raise ValueError(f"a cache budget must be >= 0 bytes, got {max_bytes}")


class FrameCache(Generic[K]):
    """A thread-safe LRU mapping of keys to arrays, bounded by total ``nbytes``.

    Parameters
    ----------
    max_bytes : int
        The budget: the most bytes of array data the cache holds at once.

    Raises
    ------
    ValueError
        If `max_bytes` is negative.
    """

    def __init__(self, max_bytes: int) -> None:
        _check_budget(max_bytes)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, NDArray[Any]] = OrderedDict()  # LRU first
        self._flights: dict[K, _Flight] = {}
        self._current = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    @property
    def max_bytes(self) -> int:
        """The budget, in bytes."""
        return self._max_bytes

    def get(self, key: K) -> NDArray[Any] | None:
        """Return the value stored for `key`, or None.

        A hit makes `key` the most recently used.  Never waits for a load of
        `key` in progress in another thread.
        """
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: K, value: NDArray[Any]) -> bool:
        """Store `value` for `key`, as the most recently used entry.

        Any old value for `key` is replaced, then least-recently-used entries
        are evicted until the total fits the budget.

        Returns
        -------
        bool
            True if stored; False if ``value.nbytes > max_bytes``, in which case
            nothing is stored and any old value for `key` is dropped.
        """
        with self._lock:
            return self._put_locked(key, value)

    def get_or_load(self, key: K, load: Callable[[], NDArray[Any]]) -> NDArray[Any]:
        """Return the value for `key`, calling `load` once to produce it if missing.

        If another thread is already loading `key`, wait for its result instead
        of loading again.  The loaded value is stored (if it fits the budget) and
        returned to the loading thread and every waiting thread alike.

        Parameters
        ----------
        key : K
            The key.
        load : callable
            Called with no arguments, without any lock held; returns the value.

        Returns
        -------
        numpy.ndarray
            The stored (or freshly loaded) array itself, not a copy.

        Raises
        ------
        BaseException
            Whatever `load` raised, in the loading thread and in every thread
            that waited for it.  Nothing is stored, and a later call loads again.
        """
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return value
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
                self._misses += 1
                loader = True
            else:
                loader = False
        if loader:
            return self._run(key, flight, load)
        flight.done.wait()
        outcome = flight.outcome
        with self._lock:
            if isinstance(outcome, BaseException):
                self._misses += 1
            else:
                self._hits += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def resize(self, max_bytes: int) -> None:
        """Change the budget, evicting least-recently-used entries until it fits.

        Raises
        ------
        ValueError
            If `max_bytes` is negative.
        """
        _check_budget(max_bytes)
        with self._lock:
            self._max_bytes = max_bytes
            self._evict_locked()

    def clear(self) -> None:
        """Drop every entry; keep the hit, miss and eviction counters."""
        with self._lock:
            self._entries.clear()
            self._current = 0

    def info(self) -> CacheInfo:
        """Return a consistent snapshot of the counters and size."""
        with self._lock:
            return CacheInfo(
                self._hits,
                self._misses,
                self._evictions,
                self._current,
                self._max_bytes,
                len(self._entries),
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        # Neither a hit nor a use: testing membership must not change eviction order.
        with self._lock:
            return key in self._entries

    def _run(self, key: K, flight: _Flight, load: Callable[[], NDArray[Any]]) -> NDArray[Any]:
        try:
            value = load()
        except BaseException as exc:
            self._land(key, flight, exc)
            raise
        self._land(key, flight, value)
        return value

    def _land(self, key: K, flight: _Flight, outcome: NDArray[Any] | BaseException) -> None:
        # Waiters are woken whatever happens here, so none of them can hang.
        try:
            with self._lock:
                del self._flights[key]
                if not isinstance(outcome, BaseException):
                    self._put_locked(key, outcome)
        finally:
            flight.outcome = outcome
            flight.done.set()

    def _put_locked(self, key: K, value: NDArray[Any]) -> bool:
        old = self._entries.pop(key, None)
        if old is not None:
            self._current -= old.nbytes
        if value.nbytes > self._max_bytes:
            return False
        self._entries[key] = value
        self._current += value.nbytes
        self._evict_locked()
        return True

    def _evict_locked(self) -> None:
        while self._current > self._max_bytes:
            _, old = self._entries.popitem(last=False)
            self._current -= old.nbytes
            self._evictions += 1
