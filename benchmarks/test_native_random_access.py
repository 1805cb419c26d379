"""Random access to one uncached frame of a 1,000 x 512x512 uint16 native file.

Contenders, same file, same random frame order:

* lazydcm ``FrameSequence(path, cache_bytes=0)[i]``;
* pydicom ``pydicom.pixels.pixel_array(path, index=i)``;
* highdicom ``ImageFileReader(path).read_frame(i)`` (opened once);
* a ``numpy.memmap`` copy of the frame: the physical floor (it keeps every page
  it touched mapped, which lazydcm must not do);
* ``os.preadv`` of the frame into a new array: the floor of a reader that keeps
  no file pages mapped (the kernel's copy is slower than a user-space memcpy from
  pages already mapped).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from common import NATIVE_FRAMES, NATIVE_SIZE, per_frame, random_indices
from pytest_benchmark.fixture import BenchmarkFixture

import lazydcm

pytestmark = pytest.mark.benchmark(group="native random access (one 512x512 uint16 frame)")


def test_lazydcm(benchmark: BenchmarkFixture, native_file: Path) -> None:
    with lazydcm.FrameSequence(native_file, cache_bytes=0) as frames:
        result = benchmark(per_frame(random_indices(NATIVE_FRAMES), frames.__getitem__))
    assert isinstance(result, np.ndarray)
    assert result.shape == (NATIVE_SIZE, NATIVE_SIZE)


def test_pydicom(benchmark: BenchmarkFixture, native_file: Path) -> None:
    from pydicom.pixels import pixel_array

    def read(i: int) -> np.ndarray:
        return pixel_array(native_file, index=i)

    result = benchmark(per_frame(random_indices(NATIVE_FRAMES), read))
    assert result.shape == (NATIVE_SIZE, NATIVE_SIZE)


def test_highdicom(benchmark: BenchmarkFixture, native_file: Path) -> None:
    from highdicom.io import ImageFileReader

    with ImageFileReader(native_file) as reader:
        result = benchmark(per_frame(random_indices(NATIVE_FRAMES), reader.read_frame))
    assert result.shape == (NATIVE_SIZE, NATIVE_SIZE)


def test_memmap_copy_floor(benchmark: BenchmarkFixture, native_file: Path) -> None:
    with lazydcm.FrameSequence(native_file) as frames:
        offset = int(frames.stored_pieces(0)[0][0])  # where the first frame starts
    mapped = np.memmap(
        native_file, dtype="<u2", mode="r", offset=offset,
        shape=(NATIVE_FRAMES, NATIVE_SIZE, NATIVE_SIZE),
    )  # fmt: skip

    def read(i: int) -> np.ndarray:
        return np.array(mapped[i])

    result = benchmark(per_frame(random_indices(NATIVE_FRAMES), read))
    assert result.shape == (NATIVE_SIZE, NATIVE_SIZE)


def test_pread_floor(benchmark: BenchmarkFixture, native_file: Path) -> None:
    with lazydcm.FrameSequence(native_file) as frames:
        offset = int(frames.stored_pieces(0)[0][0])
    fd = os.open(native_file, os.O_RDONLY)
    size = NATIVE_SIZE * NATIVE_SIZE * 2

    def read(i: int) -> np.ndarray:
        out = np.empty((NATIVE_SIZE, NATIVE_SIZE), dtype="<u2")
        os.preadv(fd, [out], offset + i * size)
        return out

    try:
        result = benchmark(per_frame(random_indices(NATIVE_FRAMES), read))
    finally:
        os.close(fd)
    assert result.shape == (NATIVE_SIZE, NATIVE_SIZE)
