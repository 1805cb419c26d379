"""One FrameSequence shared by many threads: no wrong frame, one decode per miss."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file

import lazydcm

FILES = [
    "emri_small.dcm",  # native
    "examples_ybr_color.dcm",  # JPEG Baseline, YBR_FULL_422, 30 frames
    "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000
    "emri_small_RLE.dcm",  # RLE
]


@pytest.mark.parametrize("cache_bytes", [0, 3 * 320 * 240 * 3])
@pytest.mark.parametrize("name", FILES)
def test_eight_threads_reading_random_frames_get_the_right_ones(
    name: str, cache_bytes: int
) -> None:
    # Arrange: every frame decoded once, serially, by a sequence of its own.
    path: Path = real_file(name)
    with lazydcm.FrameSequence(path, cache_bytes=0) as reference:
        expected = [reference[i] for i in range(len(reference))]
    wrong: list[tuple[int, str]] = []
    start = threading.Barrier(8)

    # Act: 8 threads, 250 random reads each, on one shared sequence with a cache
    # smaller than the file (so frames are evicted and decoded again).
    with lazydcm.FrameSequence(path, cache_bytes=cache_bytes) as shared:

        def reader(seed: int) -> None:
            rng = np.random.default_rng(seed)
            start.wait(timeout=30)
            for i in rng.integers(0, len(expected), 250).tolist():
                try:
                    if not np.array_equal(shared[i], expected[i]):
                        wrong.append((i, "wrong pixels"))
                except Exception as exc:  # noqa: PERF203 (any failure counts as wrong)
                    wrong.append((i, repr(exc)))

        threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        info = shared.cache_info()

    # Assert
    assert wrong == []
    assert info.hits + info.misses == (2000 if cache_bytes else 0)
    assert info.current_bytes <= max(cache_bytes, 0)


def test_two_threads_asking_for_one_frame_decode_it_once() -> None:
    # Arrange: a decoder that counts its calls and holds the first one until a
    # second thread is waiting for the same frame.
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    seq = lazydcm.FrameSequence(path, cache_bytes=1 << 20)
    inner = seq._decoder
    calls: list[int] = []
    release = threading.Event()

    class Counting:
        name = inner.name

        def decode(self, encoded: memoryview, spec: object, first_bit: int = 0) -> object:
            calls.append(1)
            release.wait(timeout=10)
            return inner.decode(encoded, spec, first_bit)  # type: ignore[arg-type]

    seq._decoder = Counting()  # type: ignore[assignment]
    results: list[np.ndarray] = []

    def read() -> None:
        results.append(seq[3])

    # Act
    with seq:
        threads = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        while seq.cache_info().misses + seq.cache_info().hits < 1 or not calls:
            threading.Event().wait(0.001)
        threading.Event().wait(0.05)  # the second thread is now waiting for the first
        release.set()
        for thread in threads:
            thread.join(timeout=10)

    # Assert: one decode, two equal frames that are not the same object.
    assert len(calls) == 1
    assert len(results) == 2
    np.testing.assert_array_equal(results[0], results[1])
    assert results[0] is not results[1]
