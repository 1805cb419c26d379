"""Opening a file whose header holds a 5,000-item undefined-length Per-Frame
Functional Groups Sequence, and reading frame 0.

pydicom parses every item of the sequence; lazydcm walks its element headers
without building anything.  Contenders:

* lazydcm ``FrameSequence(path)[0]`` (a first open + first frame: the process-wide
  index cache is emptied before each round);
* pydicom ``pydicom.pixels.pixel_array(path, index=0)``;
* highdicom ``ImageFileReader(path)`` opened and ``read_frame(0)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import lazydcm
from lazydcm.testing import synth

FRAMES = 5000

pytestmark = pytest.mark.benchmark(group="open + frame 0, 5,000-item per-frame functional groups")


def _per_frame_item(i: int) -> bytes:
    """One Per-Frame Functional Groups item: a few nested undefined-length sequences."""
    content = synth.encode_sequence(
        0x00209111,  # Frame Content Sequence
        [
            synth.encode_element(0x00209157, "UL", [1, i + 1])  # Dimension Index Values
            + synth.encode_element(0x00209128, "UL", i + 1)  # Temporal Position Index
        ],
    )
    position = synth.encode_sequence(
        0x00209113,  # Plane Position Sequence
        [synth.encode_element(0x00200032, "DS", [-125.0, -125.0, float(i)])],
    )
    measures = synth.encode_sequence(
        0x00289110,  # Pixel Measures Sequence
        [
            synth.encode_element(0x00180050, "DS", 1.0)
            + synth.encode_element(0x00280030, "DS", [0.5, 0.5])
        ],
    )
    voi = synth.encode_sequence(
        0x00289132,  # Frame VOI LUT Sequence
        [
            synth.encode_element(0x00281050, "DS", 40.0)
            + synth.encode_element(0x00281051, "DS", 400.0)
        ],
    )
    return content + position + measures + voi


@pytest.fixture(scope="module")
def enhanced_file(data_dir: Path) -> Path:
    path = data_dir / "per-frame-groups-5000.dcm"
    per_frame = synth.encode_sequence(0x52009230, [_per_frame_item(i) for i in range(FRAMES)])
    image = synth.ImagePixel(32, 32, bits_allocated=16, number_of_frames=FRAMES)
    frames = np.arange(FRAMES * 32 * 32, dtype=np.uint16).reshape(FRAMES, 32, 32)
    path.write_bytes(
        synth.dicom_file(
            image,
            synth.native_pixels(frames, image),
            extra=[(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2.1"), per_frame],  # Enhanced CT
        )
    )
    os.sync()  # no writeback of the new file while it is measured
    return path


def test_lazydcm(benchmark: BenchmarkFixture, enhanced_file: Path) -> None:
    def open_and_read() -> np.ndarray:
        with lazydcm.FrameSequence(enhanced_file) as frames:
            return frames[0]

    # A first open each round: the process-wide index cache is emptied before it.
    result = benchmark.pedantic(
        open_and_read, setup=lazydcm.clear_index_cache, rounds=30, iterations=1
    )
    assert result.shape == (32, 32)


def test_pydicom(benchmark: BenchmarkFixture, enhanced_file: Path) -> None:
    from pydicom.pixels import pixel_array

    result = benchmark.pedantic(
        pixel_array, args=(enhanced_file,), kwargs={"index": 0}, rounds=5, iterations=1
    )
    assert result.shape == (32, 32)


def test_highdicom(benchmark: BenchmarkFixture, enhanced_file: Path) -> None:
    from highdicom.io import ImageFileReader

    def open_and_read() -> np.ndarray:
        with ImageFileReader(enhanced_file) as reader:
            return reader.read_frame(0)

    result = benchmark.pedantic(open_and_read, rounds=5, iterations=1)
    assert result.shape == (32, 32)
