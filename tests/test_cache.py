"""Tests for lazydcm.cache: LRU order, byte budget, counters and single-flight."""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from numpy.typing import NDArray

import lazydcm.cache as cache_module
from lazydcm.cache import CacheInfo, FrameCache

TIMEOUT = 10.0  # seconds; only reached when a bug makes a thread hang


def _array(nbytes: int, fill: int = 0) -> NDArray[Any]:
    return np.full(nbytes, fill, dtype=np.uint8)


class _LoadError(Exception):
    """What the failing load functions raise."""


# --- a model and a stateful comparison ---------------------------------------------------------


class _Model:
    """The cache's contract, written as plainly as possible: a dict and a recency list."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.values: dict[int, NDArray[Any]] = {}
        self.order: list[int] = []  # least recently used first
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def current_bytes(self) -> int:
        return sum(v.nbytes for v in self.values.values())

    def lookup(self, key: int) -> NDArray[Any] | None:
        if key not in self.values:
            self.misses += 1
            return None
        self.hits += 1
        self.order.remove(key)
        self.order.append(key)
        return self.values[key]

    def put(self, key: int, value: NDArray[Any]) -> bool:
        if key in self.values:
            del self.values[key]
            self.order.remove(key)
        if value.nbytes > self.max_bytes:
            return False
        self.values[key] = value
        self.order.append(key)
        self.evict()
        return True

    def resize(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.evict()

    def evict(self) -> None:
        while self.current_bytes > self.max_bytes:
            del self.values[self.order.pop(0)]
            self.evictions += 1


KEYS = range(6)
keys = st.sampled_from(KEYS)
budgets = st.integers(0, 128)
sizes = st.integers(0, 72)  # often larger than a small budget


class CacheMachine(RuleBasedStateMachine):
    """Drive FrameCache and _Model with the same operations; they must agree."""

    cache: FrameCache[int]
    model: _Model

    @initialize(max_bytes=budgets)
    def create(self, max_bytes: int) -> None:
        self.cache = FrameCache(max_bytes)
        self.model = _Model(max_bytes)

    @rule(key=keys, size=sizes)
    def put(self, key: int, size: int) -> None:
        value = _array(size)
        assert self.cache.put(key, value) == self.model.put(key, value)

    @rule(key=keys)
    def get(self, key: int) -> None:
        assert self.cache.get(key) is self.model.lookup(key)

    @rule(key=keys, size=sizes)
    def get_or_load(self, key: int, size: int) -> None:
        loaded: list[NDArray[Any]] = []

        def load() -> NDArray[Any]:
            loaded.append(_array(size))
            return loaded[-1]

        expected = self.model.lookup(key)
        result = self.cache.get_or_load(key, load)
        if expected is not None:
            assert result is expected
            assert loaded == []
        else:
            assert len(loaded) == 1
            assert result is loaded[0]
            self.model.put(key, loaded[0])

    @rule(key=keys)
    def get_or_load_failing(self, key: int) -> None:
        def load() -> NDArray[Any]:
            raise _LoadError

        expected = self.model.lookup(key)
        if expected is not None:
            assert self.cache.get_or_load(key, load) is expected
        else:
            with pytest.raises(_LoadError):
                self.cache.get_or_load(key, load)

    @rule(max_bytes=budgets)
    def resize(self, max_bytes: int) -> None:
        self.cache.resize(max_bytes)
        self.model.resize(max_bytes)

    @rule(keep=st.integers(0, len(KEYS)))
    def shrink_to_most_recent(self, keep: int) -> None:
        # A budget that fits exactly the `keep` most recent entries: which keys survive
        # shows whether the cache's recency order is the model's.
        recent = self.model.order[len(self.model.order) - keep :]
        max_bytes = sum(self.model.values[k].nbytes for k in recent)
        self.cache.resize(max_bytes)
        self.model.resize(max_bytes)

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.values.clear()
        self.model.order.clear()

    @invariant()
    def same_state(self) -> None:
        # `in` must not refresh entries, or checking every key here would reorder them.
        assert [k for k in KEYS if k in self.cache] == sorted(self.model.values)
        assert len(self.cache) == len(self.model.values)
        assert self.cache.max_bytes == self.model.max_bytes
        assert self.cache.info() == CacheInfo(
            hits=self.model.hits,
            misses=self.model.misses,
            evictions=self.model.evictions,
            current_bytes=self.model.current_bytes,
            max_bytes=self.model.max_bytes,
            entries=len(self.model.values),
        )
        assert self.model.current_bytes <= self.model.max_bytes


CacheMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestCacheModel = CacheMachine.TestCase


# --- unit tests --------------------------------------------------------------------------------


def test_evicts_least_recently_used_and_get_refreshes() -> None:
    # Arrange
    cache: FrameCache[str] = FrameCache(30)
    for key in "abc":
        cache.put(key, _array(10))
    cache.get("a")  # now b is the least recently used

    # Act
    cache.put("d", _array(10))

    # Assert
    assert [k for k in "abcd" if k in cache] == ["a", "c", "d"]
    assert cache.info().evictions == 1


def test_contains_does_not_refresh() -> None:
    cache: FrameCache[str] = FrameCache(20)
    cache.put("a", _array(10))
    cache.put("b", _array(10))

    assert "a" in cache
    cache.put("c", _array(10))

    assert "a" not in cache
    assert cache.info().hits == 0
    assert cache.info().misses == 0


def test_put_and_get_return_the_same_object_without_copying() -> None:
    cache: FrameCache[int] = FrameCache(100)
    value = _array(10)

    stored = cache.put(1, value)

    assert stored is True
    assert cache.get(1) is value
    assert value.flags.writeable  # the caller's array is left as it was


def test_oversize_value_is_not_stored_and_drops_the_old_entry() -> None:
    # Arrange
    cache: FrameCache[str] = FrameCache(16)
    cache.put("a", _array(8))
    cache.put("b", _array(8))

    # Act
    stored = cache.put("a", _array(17))

    # Assert
    assert stored is False
    assert "a" not in cache
    assert "b" in cache
    assert cache.info() == CacheInfo(0, 0, 0, current_bytes=8, max_bytes=16, entries=1)


def test_replacement_adjusts_size_without_counting_an_eviction() -> None:
    cache: FrameCache[str] = FrameCache(100)
    cache.put("a", _array(40))
    new = _array(10)

    cache.put("a", new)

    assert cache.get("a") is new
    assert cache.info().current_bytes == 10
    assert cache.info().evictions == 0


def test_value_exactly_the_budget_is_stored_and_evicts_everything_else() -> None:
    cache: FrameCache[str] = FrameCache(16)
    cache.put("a", _array(8))
    cache.put("b", _array(8))

    assert cache.put("c", _array(16)) is True

    assert len(cache) == 1
    assert cache.info().evictions == 2


def test_resize_evicts_least_recently_used_until_it_fits() -> None:
    # Arrange
    cache: FrameCache[str] = FrameCache(100)
    for key in "abcd":
        cache.put(key, _array(10))
    cache.get("a")

    # Act
    cache.resize(20)

    # Assert
    assert [k for k in "abcd" if k in cache] == ["a", "d"]
    assert cache.info() == CacheInfo(1, 0, 2, current_bytes=20, max_bytes=20, entries=2)


def test_resize_larger_keeps_everything() -> None:
    cache: FrameCache[str] = FrameCache(20)
    cache.put("a", _array(20))

    cache.resize(1000)

    assert "a" in cache
    assert cache.max_bytes == 1000


def test_zero_budget_stores_nothing_but_get_or_load_works() -> None:
    cache: FrameCache[str] = FrameCache(0)
    value = _array(1)

    assert cache.put("a", value) is False
    assert cache.get_or_load("b", lambda: value) is value

    assert len(cache) == 0
    assert cache.info().current_bytes == 0


def test_zero_budget_stores_zero_byte_values() -> None:
    cache: FrameCache[str] = FrameCache(0)

    assert cache.put("a", _array(0)) is True
    assert "a" in cache


def test_clear_drops_entries_and_keeps_counters() -> None:
    cache: FrameCache[str] = FrameCache(10)
    cache.put("a", _array(10))
    cache.put("b", _array(10))
    cache.get("b")
    cache.get("a")

    cache.clear()

    assert cache.info() == CacheInfo(1, 1, 1, current_bytes=0, max_bytes=10, entries=0)


@pytest.mark.parametrize("max_bytes", [-1, -(1 << 40)])
def test_negative_budget_raises(max_bytes: int) -> None:
    with pytest.raises(ValueError, match="cache budget must be >= 0 bytes"):
        FrameCache(max_bytes)
    with pytest.raises(ValueError, match="cache budget must be >= 0 bytes"):
        FrameCache(10).resize(max_bytes)


def test_failed_load_stores_nothing_and_a_later_call_loads_again() -> None:
    cache: FrameCache[str] = FrameCache(100)
    value = _array(5)

    def fail() -> NDArray[Any]:
        raise _LoadError

    with pytest.raises(_LoadError):
        cache.get_or_load("a", fail)
    result = cache.get_or_load("a", lambda: value)

    assert result is value
    assert cache.get("a") is value
    assert cache.info().misses == 2


# --- single-flight -----------------------------------------------------------------------------


def _blocked_in_get_or_load(frame: FrameType | None) -> bool:
    """True if a thread is waiting on a threading primitive from inside get_or_load."""
    if frame is None or frame.f_code.co_filename != threading.__file__:
        return False
    if frame.f_code.co_name != "wait":
        return False
    f: FrameType | None = frame
    while f is not None:
        if f.f_code.co_name == "get_or_load" and f.f_code.co_filename == cache_module.__file__:
            return True
        f = f.f_back
    return False


def _wait_until_blocked(threads: list[threading.Thread]) -> None:
    """Wait until every thread is blocked inside get_or_load (on a flight or in its load)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        frames = sys._current_frames()
        if all(
            t.ident is not None and _blocked_in_get_or_load(frames.get(t.ident)) for t in threads
        ):
            return
        time.sleep(0.001)
    raise AssertionError("the threads did not all block in get_or_load")


def _run_threads(n: int, target: Callable[[int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung"


@pytest.mark.parametrize("max_bytes", [0, 1 << 20])
def test_concurrent_get_or_load_loads_once(max_bytes: int) -> None:
    # Arrange: the load blocks until every thread has joined the flight.
    cache: FrameCache[str] = FrameCache(max_bytes)
    release = threading.Event()
    calls = 0

    def load() -> NDArray[Any]:
        nonlocal calls
        calls += 1
        release.wait(TIMEOUT)
        return _array(8)

    results: list[NDArray[Any] | None] = [None] * 8

    def worker(i: int) -> None:
        results[i] = cache.get_or_load("k", load)

    # Act
    threads = _run_threads(8, worker)
    try:
        _wait_until_blocked(threads)
    finally:
        release.set()
    _join(threads)

    # Assert
    assert calls == 1
    assert results[0] is not None
    assert all(r is results[0] for r in results)
    assert cache.info().hits == 7
    assert cache.info().misses == 1


def test_failed_load_raises_in_every_waiting_thread_then_loads_again() -> None:
    # Arrange
    cache: FrameCache[str] = FrameCache(100)
    release = threading.Event()
    error = _LoadError("codec failed")
    calls = 0

    def load() -> NDArray[Any]:
        nonlocal calls
        calls += 1
        release.wait(TIMEOUT)
        raise error

    raised: list[BaseException | None] = [None] * 8

    def worker(i: int) -> None:
        try:
            cache.get_or_load("k", load)
        except _LoadError as exc:
            raised[i] = exc

    # Act
    threads = _run_threads(8, worker)
    try:
        _wait_until_blocked(threads)
    finally:
        release.set()
    _join(threads)
    value = _array(3)
    later = cache.get_or_load("k", lambda: value)

    # Assert
    assert calls == 1
    assert all(exc is error for exc in raised)
    assert later is value
    assert cache.info().misses == 9  # the loader, 7 failed waiters, the later call


def test_loads_of_different_keys_run_concurrently() -> None:
    # Arrange
    cache: FrameCache[str] = FrameCache(100)
    a_started = threading.Event()
    a_release = threading.Event()

    def load_a() -> NDArray[Any]:
        a_started.set()
        a_release.wait(TIMEOUT)
        return _array(1)

    b_value = _array(2)
    b_result: list[NDArray[Any]] = []
    thread_a = threading.Thread(target=cache.get_or_load, args=("a", load_a), daemon=True)
    thread_b = threading.Thread(
        target=lambda: b_result.append(cache.get_or_load("b", lambda: b_value)), daemon=True
    )

    # Act
    thread_a.start()
    assert a_started.wait(TIMEOUT)
    thread_b.start()
    thread_b.join(TIMEOUT)
    b_done_while_a_blocked = not thread_b.is_alive() and thread_a.is_alive()
    a_release.set()
    _join([thread_a, thread_b])

    # Assert
    assert b_done_while_a_blocked
    assert b_result == [b_value]
    assert "a" in cache
    assert "b" in cache


def test_get_does_not_wait_for_a_load_in_flight() -> None:
    cache: FrameCache[str] = FrameCache(100)
    started = threading.Event()
    release = threading.Event()

    def load() -> NDArray[Any]:
        started.set()
        release.wait(TIMEOUT)
        return _array(1)

    loader = threading.Thread(target=cache.get_or_load, args=("a", load), daemon=True)
    loader.start()
    assert started.wait(TIMEOUT)

    result = cache.get("a")
    release.set()
    _join([loader])

    assert result is None
    assert "a" in cache


# --- smoke test under contention ---------------------------------------------------------------


def test_many_threads_keep_the_invariants() -> None:
    # Arrange: values are filled with their key, so a mix-up between keys shows.
    cache: FrameCache[int] = FrameCache(256)
    n_threads, n_ops = 8, 500
    barrier = threading.Barrier(n_threads, timeout=TIMEOUT)
    lookups = [0] * n_threads
    wrong: list[tuple[int, NDArray[Any]]] = []

    def load_for(key: int, rng: random.Random) -> Callable[[], NDArray[Any]]:
        def load() -> NDArray[Any]:
            if rng.random() < 0.05:
                raise _LoadError
            return _array(rng.randrange(0, 96), fill=key)

        return load

    def worker(i: int) -> None:
        rng = random.Random(i)
        barrier.wait()
        for _ in range(n_ops):
            key, op = rng.randrange(16), rng.randrange(4)
            value: NDArray[Any] | None = None
            if op == 0:
                cache.put(key, _array(rng.randrange(0, 96), fill=key))
            elif op == 1:
                lookups[i] += 1
                value = cache.get(key)
            elif op == 2:
                lookups[i] += 1
                with contextlib.suppress(_LoadError):
                    value = cache.get_or_load(key, load_for(key, rng))
            else:
                cache.resize(rng.choice([64, 128, 256]))
            if value is not None and not np.all(value == key):
                wrong.append((key, value))

    # Act
    _join(_run_threads(n_threads, worker))

    # Assert
    info = cache.info()
    stored = [cache.get(k) for k in range(16) if k in cache]
    assert wrong == []
    assert info.hits + info.misses == sum(lookups)
    assert info.current_bytes <= info.max_bytes
    assert info.current_bytes == sum(v.nbytes for v in stored if v is not None)
    assert info.entries == len(stored) == len(cache)
