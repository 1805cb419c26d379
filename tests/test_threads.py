"""One FrameSequence shared by many threads: no wrong frame, one decode per miss."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm import frames as frames_module
from lazydcm.decoders import select
from lazydcm.testing import synth
from lazydcm.uids import J2K_LOSSLESS, lookup
from lazydcm.uids import JPEG_LOSSLESS_SV1 as JPEG_SV1

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


def test_two_threads_asking_for_one_frame_decode_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: a decoder that counts its calls and holds the first one until a
    # second thread is waiting for the same frame.
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    inner = select(lookup(J2K_LOSSLESS))
    calls: list[int] = []
    release = threading.Event()

    class Counting:
        name = inner.name

        def decode(self, encoded: memoryview, spec: object, first_bit: int = 0) -> object:
            calls.append(1)
            release.wait(timeout=10)
            return inner.decode(encoded, spec, first_bit)  # type: ignore[arg-type]

    monkeypatch.setattr(frames_module, "choose", lambda ts, name: Counting())
    seq = lazydcm.FrameSequence(path, cache_bytes=1 << 20)
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


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("workers", [0, 4])
def test_the_colour_space_the_codestream_decides_never_changes(
    tmp_path: Path, workers: int
) -> None:
    # Arrange: RGB lossless JPEG frames (component IDs 'R', 'G', 'B') under a header
    # that says YBR_FULL: the codestream decides, and raw frames come out RGB.
    imagecodecs = pytest.importorskip("imagecodecs")
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 255, (24, 16, 20, 3), dtype=np.uint8)
    streams = [bytes(imagecodecs.jpeg8_encode(f, lossless=True, predictor=1)) for f in truth]
    image = synth.ImagePixel(16, 20, 3, bits_allocated=8, number_of_frames=24,
                             photometric_interpretation="YBR_FULL")  # fmt: skip
    path = tmp_path / "rgb-ids.dcm"
    synth.write_encapsulated(path, streams, image, transfer_syntax_uid=JPEG_SV1)
    seen: list[str] = []
    wrong: list[int] = []
    start = threading.Barrier(8)

    # Act
    with lazydcm.FrameSequence(path, raw=True, cache_bytes=0, workers=workers) as seq:
        before = seq.photometric_interpretation
        state = dict(vars(seq))

        def read(k: int) -> None:
            start.wait()
            for i in range(k, 24, 8):
                if not np.array_equal(seq[i], truth[i]):
                    wrong.append(i)
                seen.append(seq.photometric_interpretation)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        iterated = list(seq)
        after = seq.photometric_interpretation
        state_after = dict(vars(seq))

    # Assert: "RGB" before any frame, while frames are read, and after; and reading
    # frames wrote nothing of the sequence's own (the pool, started by iteration, aside).
    assert before == after == "RGB"
    assert set(seen) == {"RGB"}
    assert len(seen) == 24
    assert wrong == []
    np.testing.assert_array_equal(np.stack(iterated), truth)
    assert state_after.keys() == state.keys()
    changed = {k for k in state if state_after[k] is not state[k]}
    assert changed <= {"_pool"}
