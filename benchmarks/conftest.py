"""Files the benchmarks build for themselves (once per session), and shared helpers.

Every benchmark group measures lazydcm side by side with pydicom and highdicom
in the same run; ``python benchmarks/report.py`` runs them and writes the ratios
into docs/benchmarks.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from common import NATIVE_FRAMES, NATIVE_SIZE

from lazydcm.testing import synth


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("benchmark-files")


@pytest.fixture(scope="session")
def native_file(data_dir: Path) -> Path:
    """1,000 frames of 512x512 uint16, Explicit VR Little Endian (500 MiB)."""
    path = data_dir / "native-1000x512x512.dcm"
    rng = np.random.default_rng(0)
    image = synth.ImagePixel(
        NATIVE_SIZE, NATIVE_SIZE, bits_allocated=16, bits_stored=16, number_of_frames=NATIVE_FRAMES
    )
    frames = (
        rng.integers(0, 1 << 16, (NATIVE_SIZE, NATIVE_SIZE), dtype=np.uint16)
        for _ in range(NATIVE_FRAMES)
    )
    synth.write_native(path, frames, image)
    os.sync()  # no writeback of the new file while it is measured
    return path
