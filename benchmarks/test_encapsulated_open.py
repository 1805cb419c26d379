"""Open a 20,000-frame file of 64x64 JPEG Baseline frames and read its last frame.

With an empty Basic Offset Table every reader must walk the 20,000 item headers
to find the last frame; with a filled one it may jump there.  Contenders, same
files:

* lazydcm ``FrameSequence(path)[19999]`` (a first open + last frame: the
  process-wide index cache is emptied before each round);
* pydicom ``pydicom.pixels.pixel_array(path, index=19999, decoding_plugin="pylibjpeg")``;
* highdicom ``ImageFileReader(path)`` opened, then ``read_frame(19999)``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import lazydcm
from lazydcm.testing import synth

FRAMES = 20_000
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def _jpeg_frames(count: int) -> list[bytes]:
    """A few distinct 64x64 8-bit JPEG Baseline codestreams, repeated."""
    from PIL import Image

    rng = np.random.default_rng(5)
    streams = []
    for k in range(8):
        y, x = np.mgrid[0:64, 0:64]
        pixels = ((x * 3 + y * k) % 256).astype(np.uint8) ^ rng.integers(0, 16, (64, 64), np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(out, format="JPEG", quality=90)
        streams.append(out.getvalue())
    return [streams[i % len(streams)] for i in range(count)]


def _file(data_dir: Path, bot: str) -> Path:
    path = data_dir / f"jpeg-20000-{bot}-bot.dcm"
    if not path.exists():
        image = synth.ImagePixel(64, 64, bits_allocated=8, number_of_frames=FRAMES)
        synth.write_encapsulated(
            path,
            _jpeg_frames(FRAMES),
            image,
            transfer_syntax_uid=JPEG_BASELINE,
            bot=bot,  # type: ignore[arg-type]
        )
    return path


@pytest.fixture(scope="module", params=["empty", "full"])
def jpeg_file(request: pytest.FixtureRequest, data_dir: Path) -> Path:
    return _file(data_dir, request.param)


def _group(benchmark: BenchmarkFixture, path: Path) -> None:
    bot = "empty BOT" if "empty" in path.name else "BOT"
    benchmark.group = f"open + last frame, 20,000 JPEG frames, {bot}"


def test_lazydcm(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    _group(benchmark, jpeg_file)

    def open_and_read() -> np.ndarray:
        with lazydcm.FrameSequence(jpeg_file) as frames:
            return frames[FRAMES - 1]

    # A first open each round: the process-wide index cache is emptied before it.
    result = benchmark.pedantic(
        open_and_read, setup=lazydcm.clear_index_cache, rounds=100, iterations=1
    )
    assert result.shape == (64, 64)


def test_pydicom(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    from pydicom.pixels import pixel_array

    _group(benchmark, jpeg_file)
    kwargs = {"index": FRAMES - 1, "decoding_plugin": "pylibjpeg"}
    result = benchmark.pedantic(pixel_array, args=(jpeg_file,), kwargs=kwargs, rounds=30)
    assert result.shape == (64, 64)


def test_highdicom(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    from highdicom.io import ImageFileReader

    _group(benchmark, jpeg_file)

    def open_and_read() -> np.ndarray:
        with ImageFileReader(jpeg_file) as reader:
            return reader.read_frame(FRAMES - 1)

    assert benchmark.pedantic(open_and_read, rounds=30).shape == (64, 64)
