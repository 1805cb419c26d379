"""The test slides are what builders.py says, and the reference readers agree as references.py says.

These check the peers, not lazydcm: the slide tests compare lazydcm with
OpenSlide, wsidicom and highdicom, and rely on the spreads pinned here (OpenSlide
and wsidicom equal everywhere they both read; highdicom equal on JPEG 2000 and
HTJ2K, within JPEG_DECODER_SPREAD on JPEG, whose 4:2:2 tiles it decodes with
libjpeg 9 through pydicom where the others use libjpeg-turbo).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from builders import SIZE
from cases import CASES, SPARSE_MISSING
from references import (
    HighdicomReference,
    OpenSlideReference,
    WsiDicomReference,
    spread,
)

JPEG_DECODER_SPREAD = 16
TILE = 256


def regions(width: int, height: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(location, size) in one level's pixels: aligned, unaligned, 1 x 1, tile corners, edges."""
    return [
        ((0, 0), (TILE, TILE)),
        ((100, 130), (700, 500)),
        ((TILE - 1, TILE - 1), (2, 2)),
        ((0, 0), (1, 1)),
        ((width - 300, height - 200), (300, 200)),
        ((width - 1, height - 1), (1, 1)),
        ((width - 50, height - 40), (100, 90)),
        ((-20, -10), (64, 64)),
    ]


def _inside(location: tuple[int, int], size: tuple[int, int], dims: tuple[int, int]) -> bool:
    return min(location) >= 0 and all(location[i] + size[i] <= dims[i] for i in range(2))


def _touches(
    location: tuple[int, int], size: tuple[int, int], tiles: tuple[tuple[int, int], ...]
) -> bool:
    cols = range(location[0] // TILE, (location[0] + size[0] - 1) // TILE + 1)
    rows = range(location[1] // TILE, (location[1] + size[1] - 1) // TILE + 1)
    return any((c, r) in tiles for c in cols for r in rows)


def _is_jpeg_baseline(folder: Path) -> bool:
    import pydicom
    from pydicom.uid import JPEGBaseline8Bit

    path = next(folder.iterdir())
    return bool(
        pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        == JPEGBaseline8Bit
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_references_agree(name: str, slide_folder: Callable[[str], Path]) -> None:
    folder = slide_folder(name)
    case = CASES[name]
    tolerance = JPEG_DECODER_SPREAD if _is_jpeg_baseline(folder) else 0
    with WsiDicomReference(folder) as wsi:
        dims = wsi.level_dimensions
        assert dims[0] == SIZE
        openslide = OpenSlideReference(folder) if case.openslide else None
        highdicom = HighdicomReference(folder) if case.highdicom else None
        for level, (width, height) in enumerate(dims):
            downsample = 2**level
            for location, size in regions(width, height):
                at = (location[0] * downsample, location[1] * downsample)
                expected = wsi.read_region(at, level, size)
                if openslide is not None:
                    assert openslide.level_dimensions == dims
                    assert spread(openslide.read_region(at, level, size), expected) == 0
                missing = case.missing_tiles if level == 0 else ()
                if (
                    highdicom is not None
                    and _inside(location, size, (width, height))
                    and not _touches(location, size, missing)
                ):
                    assert spread(highdicom.read_region(at, level, size), expected) <= tolerance
        if openslide is not None:
            openslide.close()


def test_sparse_missing_tiles(slide_folder: Callable[[str], Path]) -> None:
    """OpenSlide leaves missing tiles transparent, wsidicom paints them white."""
    folder = slide_folder("sparse")
    col, row = SPARSE_MISSING[1]
    at = (col * TILE + 10, row * TILE + 10)
    with OpenSlideReference(folder) as openslide, WsiDicomReference(folder) as wsi:
        assert (openslide.read_rgba(at, 0, (8, 8)) == 0).all()
        assert (wsi.read_region(at, 0, (8, 8)) == 255).all()


def test_past_the_edge(slide_folder: Callable[[str], Path]) -> None:
    """OpenSlide returns (0, 0, 0, 0) past the edge; wsidicom refuses the region."""
    from wsidicom.errors import WsiDicomOutOfBoundsError

    folder = slide_folder("jpeg-256")
    with OpenSlideReference(folder) as openslide, WsiDicomReference(folder) as wsi:
        rgba = openslide.read_rgba((SIZE[0] - 2, SIZE[1] - 2), 0, (4, 4))
        assert (rgba[:2, :2, 3] == 255).all()
        assert (rgba[2:, :] == 0).all()
        assert (rgba[:, 2:] == 0).all()
        with pytest.raises(WsiDicomOutOfBoundsError):
            wsi.slide.read_region((SIZE[0] - 2, SIZE[1] - 2), 0, (4, 4))


def test_focal_planes(slide_folder: Callable[[str], Path], tmp_path: Path) -> None:
    """wsidicom reads the stacked planes at their Z (µm), and picks the middle one by default."""
    from builders import stack_focal_planes

    _, expected = stack_focal_planes(slide_folder("jpeg-256"), tmp_path)
    with WsiDicomReference(slide_folder("focal-planes")) as wsi:
        assert list(wsi.slide.levels[0].focal_planes) == [0.0, 2.0, 4.0]
        for z, plane in zip((0.0, 2.0, 4.0), expected, strict=True):
            region = wsi.read_region((0, 0), 0, SIZE, z=z)
            assert np.array_equal(region, plane)
        assert np.array_equal(wsi.read_region((0, 0), 0, SIZE), expected[1])
