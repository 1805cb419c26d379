"""Iterate over every frame of a 200-frame 512x512 uint16 JPEG 2000 lossless file.

pylibjpeg's openjpeg holds the GIL, so lazydcm decodes ahead in worker processes
(``workers=2`` on this 2-core machine).  Contenders, same file, every frame
decoded by openjpeg unless said otherwise:

* lazydcm ``for frame in FrameSequence(path, workers=2)``: open, start the two
  worker processes, iterate;
* lazydcm serial, ``workers=0``: the serial decode time;
* pydicom ``pydicom.pixels.iter_pixels(path, decoding_plugin="pylibjpeg")``;
* highdicom ``ImageFileReader(path).read_frame(i)`` for every frame (decoded by
  the plugin pydicom chooses).

Issue 4's targets: lazydcm at least 1.6x faster than pydicom, and within 1.15x
of (serial time / number of cores), i.e. ``serial / lazydcm >= cores / 1.15``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import lazydcm
from lazydcm import parallel
from lazydcm.testing import synth

pytestmark = pytest.mark.benchmark(group="parallel iteration, 200 J2K lossless 512x512 frames")

FRAMES = 200
SIZE = 512
WORKERS = 2
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
#: Distinct codestreams in the file (encoding takes ~85 ms a frame); decoding
#: costs the same whatever repeats.
DISTINCT = 25
#: Every round iterates 200 frames (~9 s serially here).
ROUNDS = 3


def _phantom(k: int) -> np.ndarray:
    """A CT-like 12-bit slice: a body, an organ that moves with `k`, and noise."""
    rng = np.random.default_rng(k)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE - 0.5
    body = np.where(np.hypot(x, y) < 0.42, 1000.0 + 200 * np.cos(8 * x + k / 20) * np.sin(6 * y), 0)
    organ = np.where(np.hypot(x - 0.1, y + 0.05 * np.sin(k / 10)) < 0.1, 300.0, 0)
    pixels = body + organ + rng.normal(0, 20, (SIZE, SIZE))
    return np.clip(pixels, 0, 4095).astype(np.uint16)


@pytest.fixture(scope="module")
def j2k_file(data_dir: Path) -> Path:
    """200 frames of 512x512 uint16 (12 bits stored), J2K lossless, one fragment each."""
    from openjpeg.utils import encode_array

    path = data_dir / f"j2k-lossless-{FRAMES}x{SIZE}.dcm"
    if not path.exists():
        streams = [
            encode_array(_phantom(k), bits_stored=12, photometric_interpretation=2)
            for k in range(DISTINCT)
        ]
        image = synth.ImagePixel(
            SIZE, SIZE, bits_allocated=16, bits_stored=12, number_of_frames=FRAMES
        )
        frames = (streams[k % DISTINCT] for k in range(FRAMES))
        synth.write_encapsulated(path, frames, image, transfer_syntax_uid=J2K_LOSSLESS, bot="full")
        os.sync()  # no writeback of the new file while it is measured
    return path


def _iterate(frames: Iterable[np.ndarray]) -> int:
    """Consume frames; return how many there were."""
    count = 0
    for frame in frames:
        assert frame.shape == (SIZE, SIZE)
        count += 1
    return count


def test_lazydcm(benchmark: BenchmarkFixture, j2k_file: Path) -> None:
    def iterate() -> int:
        with lazydcm.FrameSequence(j2k_file, workers=WORKERS) as frames:
            count = _iterate(frames)
            assert isinstance(frames._pool, parallel.ProcessPool)  # not a fallback
            return count

    assert benchmark.pedantic(iterate, rounds=ROUNDS, iterations=1) == FRAMES


def test_lazydcm_serial(benchmark: BenchmarkFixture, j2k_file: Path) -> None:
    def iterate() -> int:
        with lazydcm.FrameSequence(j2k_file, workers=0) as frames:
            return _iterate(frames)

    assert benchmark.pedantic(iterate, rounds=ROUNDS, iterations=1) == FRAMES


def test_pydicom(benchmark: BenchmarkFixture, j2k_file: Path) -> None:
    from pydicom.pixels import iter_pixels

    def iterate() -> int:
        return _iterate(iter_pixels(j2k_file, decoding_plugin="pylibjpeg"))

    assert benchmark.pedantic(iterate, rounds=ROUNDS, iterations=1) == FRAMES


def test_highdicom(benchmark: BenchmarkFixture, j2k_file: Path) -> None:
    from highdicom.io import ImageFileReader

    def iterate() -> int:
        with ImageFileReader(j2k_file) as reader:
            return _iterate(reader.read_frame(i) for i in range(reader.number_of_frames))

    assert benchmark.pedantic(iterate, rounds=ROUNDS, iterations=1) == FRAMES
