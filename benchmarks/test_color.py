"""YBR_FULL to RGB on one 800x600 8-bit frame (issue 6).

Contenders, same frame, each returning a new uint8 ``(600, 800, 3)`` array:

* lazydcm ``convert_color_space(arr, "YBR_FULL", "RGB")`` (blocked float32, see
  :mod:`lazydcm.color`), the conversion ``FrameSequence`` applies to YBR frames;
* Pillow ``Image.frombuffer("YCbCr", ...).convert("RGB")``, back to an array;
* pydicom ``pydicom.pixels.convert_color_space``, whose values lazydcm matches.
"""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import lazydcm

pytestmark = pytest.mark.benchmark(group="ybr to rgb 800x600")

ROWS, COLUMNS = 600, 800


@pytest.fixture(scope="module")
def ybr() -> np.ndarray:
    """A YBR_FULL frame: smooth luma and chroma with noise, as a photograph has."""
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    planes = [x * 255 / COLUMNS, 128 + 100 * np.sin(y / 50), 128 + 100 * np.cos(x / 70)]
    frame = np.stack(planes, axis=-1) + rng.normal(0, 8, (ROWS, COLUMNS, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def test_lazydcm(benchmark: BenchmarkFixture, ybr: np.ndarray) -> None:
    rgb = benchmark(lazydcm.convert_color_space, ybr, "YBR_FULL", "RGB")
    assert rgb.shape == (ROWS, COLUMNS, 3)


def test_pillow(benchmark: BenchmarkFixture, ybr: np.ndarray) -> None:
    from PIL import Image

    def convert() -> np.ndarray:
        image = Image.frombuffer("YCbCr", (COLUMNS, ROWS), ybr, "raw", "YCbCr", 0, 1)
        return np.asarray(image.convert("RGB"))

    rgb = benchmark(convert)
    assert np.abs(rgb.astype(int) - lazydcm.convert_color_space(ybr, "YBR_FULL", "RGB")).max() <= 2


def test_pydicom(benchmark: BenchmarkFixture, ybr: np.ndarray) -> None:
    from pydicom.pixels import convert_color_space

    rgb = benchmark(convert_color_space, ybr, "YBR_FULL", "RGB")
    ours = lazydcm.convert_color_space(ybr, "YBR_FULL", "RGB")
    assert np.abs(rgb.astype(int) - ours).max() <= 1
