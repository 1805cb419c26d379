"""Reference readers for slide regions: OpenSlide 4, wsidicom and highdicom, one call shape.

Contract: each reader's ``read_region(location, level, size)`` takes OpenSlide's
arguments -- `location` (x, y) in level-0 pixels, `level` an index into the
levels ordered largest first, `size` (w, h) in pixels of that level -- and
returns a (h, w, 3) uint8 RGB array, with pixels outside the image or in
missing tiles set to `background` (default white).  What each library does
natively, and how it is mapped here:

- OpenSlide returns un-premultiplied RGBA (openslide-python converts Cairo's
  premultiplied ARGB); pixels past the edge or in missing TILED_SPARSE tiles are
  (0, 0, 0, 0).  It is composited over `background` (alpha is 0 or 255 in
  these slides).  OpenSlide opens any one file of the pyramid and finds the
  others in the same folder.  At level > 0 a location that is not a multiple
  of the downsample is resampled (half-pixel shifts are interpolated): use
  multiples to compare exactly.
- wsidicom numbers levels by log2 of the downsample (``Level.level``), takes the
  location in that level's pixels, refuses regions past the edge
  (WsiDicomOutOfBoundsError) and fills missing tiles with white.  The request
  is mapped, clipped to the level and padded with `background`.
- highdicom reads one instance (``Image.get_total_pixel_matrix``): no pyramid,
  so `level` selects the instance by size; it refuses regions that touch a
  missing tile, applies the ICC profile unless told not to (here: not), reads a
  concatenation part as if it were the whole image, and decodes JPEG through
  pydicom's plugins (pylibjpeg's libjpeg 9 first), which differ from
  libjpeg-turbo by up to about a dozen levels on 4:2:2 tiles.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]
WHITE = (255, 255, 255)


def spread(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> int:
    """The largest absolute difference between two arrays of one shape."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max(initial=0))


def _volume_instances(folder: Path) -> list[tuple[int, Path]]:
    """(Total Pixel Matrix Columns, path) of the VOLUME instances, largest first."""
    import pydicom

    found = []
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if "ImageType" in ds and ds.ImageType[2] == "VOLUME":
            found.append((int(ds.TotalPixelMatrixColumns), path))
    return sorted(found, reverse=True)


class _Reader:
    def __enter__(self) -> _Reader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the library's handles."""


class OpenSlideReference(_Reader):
    """OpenSlide 4 (openslide-bin) on the DICOM pyramid in a folder."""

    def __init__(self, folder: Path, background: tuple[int, int, int] = WHITE) -> None:
        import openslide

        # Any instance opens the whole pyramid: libdicom scans the file's folder.
        self.slide = openslide.OpenSlide(_volume_instances(folder)[0][1])
        self.background = np.asarray(background, np.uint16)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return tuple(self.slide.level_dimensions)

    def read_rgba(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> RGB:
        """OpenSlide's own answer: (h, w, 4) un-premultiplied RGBA."""
        return np.asarray(self.slide.read_region(location, level, size))

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> RGB:
        rgba = self.read_rgba(location, level, size).astype(np.uint16)
        alpha = rgba[..., 3:]
        # Straight-alpha "over": the alpha here is 0 or 255, so this is exact.
        out = (rgba[..., :3] * alpha + self.background * (255 - alpha) + 127) // 255
        return out.astype(np.uint8)

    def close(self) -> None:
        self.slide.close()


class WsiDicomReference(_Reader):
    """wsidicom on the DICOM pyramid in a folder, called with OpenSlide's arguments."""

    def __init__(self, folder: Path, background: tuple[int, int, int] = WHITE) -> None:
        from wsidicom import WsiDicom

        self.slide = WsiDicom.open(folder)
        self.background = background

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return tuple((lv.size.width, lv.size.height) for lv in self.slide.levels)

    def read_region(
        self,
        location: tuple[int, int],
        level: int,
        size: tuple[int, int],
        z: float | None = None,
    ) -> RGB:
        wsi_level = list(self.slide.levels)[level]
        downsample = 2**wsi_level.level
        x, y = location[0] // downsample, location[1] // downsample
        w, h = size
        width, height = wsi_level.size.width, wsi_level.size.height
        out = np.empty((h, w, 3), np.uint8)
        out[...] = self.background
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 > x0 and y1 > y0:
            inside = self.slide.read_region((x0, y0), wsi_level.level, (x1 - x0, y1 - y0), z=z)
            out[y0 - y : y1 - y, x0 - x : x1 - x] = np.asarray(inside.convert("RGB"))
        return out

    def close(self) -> None:
        self.slide.close()


class HighdicomReference(_Reader):
    """highdicom's total pixel matrix of one instance per level (no edges, no gaps)."""

    def __init__(self, folder: Path) -> None:
        self.paths = [path for _, path in _volume_instances(folder)]
        self._images: dict[int, Any] = {}

    def image(self, level: int) -> Any:
        """The level's highdicom Image, read lazily (frames on demand)."""
        import highdicom

        if level not in self._images:
            self._images[level] = highdicom.imread(self.paths[level], lazy_frame_retrieval=True)
        return self._images[level]

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> RGB:
        image = self.image(level)
        downsample = round(
            int(self.image(0).TotalPixelMatrixColumns) / int(image.TotalPixelMatrixColumns)
        )
        x, y = location[0] // downsample, location[1] // downsample
        array = image.get_total_pixel_matrix(
            row_start=y,
            row_end=y + size[1],
            column_start=x,
            column_end=x + size[0],
            as_indices=True,
            dtype=np.uint8,
            apply_icc_profile=False,
        )
        return np.asarray(array, np.uint8)
