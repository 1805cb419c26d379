"""A server's request: open a 20,000-frame empty-BOT JPEG file, read one random frame.

The first open scans the 20,000 item headers; lazydcm keeps the parsed header and
frame table for as long as the file is unchanged, so the requests after it do not.
Contenders, same file, same random frames:

* lazydcm ``FrameSequence(path)[i]`` per request (the process-wide index cache warm);
* pydicom ``pydicom.pixels.pixel_array(path, index=i, decoding_plugin="pylibjpeg")``;
* highdicom ``ImageFileReader(path)`` opened and ``read_frame(i)`` per request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from common import per_frame, random_indices
from pytest_benchmark.fixture import BenchmarkFixture
from test_encapsulated_open import FRAMES, _file

import lazydcm

pytestmark = pytest.mark.benchmark(group="request: open + one random frame, 20,000 JPEG frames")


@pytest.fixture(scope="module")
def jpeg_file(data_dir: Path) -> Path:
    return _file(data_dir, "empty")


def test_lazydcm(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    def request(i: int) -> np.ndarray:
        with lazydcm.FrameSequence(jpeg_file) as frames:
            return frames[i]

    lazydcm.clear_index_cache()
    assert benchmark(per_frame(random_indices(FRAMES), request)).shape == (64, 64)


def test_pydicom(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    from pydicom.pixels import pixel_array

    def request(i: int) -> np.ndarray:
        return pixel_array(jpeg_file, index=i, decoding_plugin="pylibjpeg")

    result = benchmark.pedantic(per_frame(random_indices(FRAMES), request), rounds=30)
    assert result.shape == (64, 64)


def test_highdicom(benchmark: BenchmarkFixture, jpeg_file: Path) -> None:
    from highdicom.io import ImageFileReader

    def request(i: int) -> np.ndarray:
        with ImageFileReader(jpeg_file) as reader:
            return reader.read_frame(i)

    result = benchmark.pedantic(per_frame(random_indices(FRAMES), request), rounds=30)
    assert result.shape == (64, 64)
