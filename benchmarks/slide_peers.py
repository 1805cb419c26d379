"""Whole-slide reading side by side: OpenSlide, wsidicom and (when it exists) lazydcm.Slide.

A plain script (``python benchmarks/slide_peers.py``), not a pytest-benchmark
module: it builds its slides once, then times every reader on the same files in
one run, so the ratios hold even where the absolute times drift.

Slides (built under ``--workdir``, reused when present):

- a 6000 x 4000 JPEG pyramid with 256 x 256 tiles (4 levels, TILED_FULL, filled
  BOT), converted by wsidicomizer from an Aperio-style TIFF (tests/slide/builders.py);
- a single-level TILED_SPARSE instance of 100,000 tiles (a 320 x 320 grid with
  2,400 seeded gaps), every frame the same small JPEG, each with its Plane
  Position (Slide) in the Per-Frame Functional Groups Sequence.

Cases (issue 12): (a) open + one 256 x 256 region at level 0, (b) 500 seeded
random 224 x 224 level-0 patches on an open slide, (c) one 2048 x 2048 region
at level 0 on an open slide, (d) opening the 100,000-tile sparse instance (and
its first region).  "Warm" means the slide is open, one region has been read
and the files are in the page cache; each reader keeps its own default tile
cache, and (b) and (c) are also timed a second time on the same requests
(``*_second_pass``, ``*_again``), where a reader's tile cache may answer.
Results go to stdout and, with ``--json``, to a file for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "slide"))
import builders

SIZE = (6000, 4000)
TILE = 256
SPARSE_GRID = 320
SPARSE_FRAMES = 100_000


class Reader(Protocol):
    """What a benchmarked library offers: OpenSlide's read_region call shape."""

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Any: ...

    def close(self) -> None: ...


def _first_volume(folder: Path) -> Path:
    return builders.level_files(folder)[max(builders.level_files(folder))]


def open_openslide(folder: Path) -> Reader:
    """OpenSlide on any file of the folder: libdicom finds the rest of the series there.

    No header is parsed here to choose the file: pydicom takes longer on the
    100,000-item sequence of case (d) than OpenSlide does.
    """
    import openslide

    return openslide.OpenSlide(min(folder.iterdir()))  # type: ignore[no-any-return]


class _WsiDicom:
    """wsidicom with OpenSlide's arguments (level 0 only here: same coordinates)."""

    def __init__(self, folder: Path) -> None:
        from wsidicom import WsiDicom

        self.slide = WsiDicom.open(folder)

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Any:
        return self.slide.read_region(location, level, size)

    def close(self) -> None:
        self.slide.close()


def open_lazydcm(folder: Path) -> Reader:
    """THE SLOT FOR LAZYDCM: ``lazydcm.Slide`` once lazydcm/slide/ exists (issue 12)."""
    import lazydcm

    return lazydcm.Slide(folder)  # type: ignore[attr-defined,no-any-return]


def readers() -> dict[str, Callable[[Path], Reader]]:
    import lazydcm

    found: dict[str, Callable[[Path], Reader]] = {
        "openslide": open_openslide,
        "wsidicom": _WsiDicom,
    }
    if hasattr(lazydcm, "Slide"):
        found["lazydcm"] = open_lazydcm
    return found


# -- slides -------------------------------------------------------------------------------------


def build_pyramid(workdir: Path) -> Path:
    """The 6000 x 4000 JPEG pyramid (wsidicomizer), reused if already there."""
    folder = workdir / "pyramid-6000x4000"
    if folder.exists():
        return folder
    tiff = builders.write_svs(workdir / "pyramid.svs", size=SIZE, tile=TILE, levels=4)
    builders.dicomize(tiff, folder, tile=TILE)
    return folder


def build_sparse(workdir: Path, template_folder: Path) -> Path:
    """The 100,000-tile TILED_SPARSE instance, in a folder of its own.

    pydicom writes the header of a wsidicomizer instance (every WSI attribute
    the readers require); the Per-Frame Functional Groups Sequence and the
    encapsulated Pixel Data are appended as bytes by lazydcm.testing.synth, which takes
    a second where 100,000 pydicom Datasets would take a minute.  The two
    elements follow every other one in tag order, as PS3.5 7.1 requires.
    """
    import io

    import imagecodecs
    import pydicom
    from pydicom.tag import Tag

    from lazydcm.testing.synth import encapsulate, encode_element, encode_sequence

    folder = workdir / "sparse-100k"
    path = folder / "sparse.dcm"
    if path.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(_first_volume(template_folder), stop_before_pixels=True)
    rng = np.random.default_rng(12)
    gaps = set(rng.choice(SPARSE_GRID**2, SPARSE_GRID**2 - SPARSE_FRAMES, replace=False).tolist())
    positions = [i for i in range(SPARSE_GRID**2) if i not in gaps]
    tile = np.full((TILE, TILE, 3), (230, 180, 200), np.uint8)
    tile[64:192, 64:192] = (90, 40, 120)
    frame = bytes(imagecodecs.jpeg8_encode(tile, level=80, subsampling="422"))
    ds.SOPInstanceUID = builders.uid_factory(100)()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.TotalPixelMatrixColumns = ds.TotalPixelMatrixRows = SPARSE_GRID * TILE
    ds.Columns = ds.Rows = TILE
    ds.NumberOfFrames = len(positions)
    ds.DimensionOrganizationType = "TILED_SPARSE"
    ds.DimensionIndexSequence = builders.position_dimensions(ds)
    spacing = float(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[0])
    items = []
    for index in positions:
        row, col = divmod(index, SPARSE_GRID)
        x, y = col * TILE + 1, row * TILE + 1
        plane = b"".join(
            (
                encode_element(0x0040072A, "DS", round(x * spacing, 6)),
                encode_element(0x0040073A, "DS", round(y * spacing, 6)),
                encode_element(0x0040074A, "DS", 0),
                encode_element(0x0048021E, "SL", x),
                encode_element(0x0048021F, "SL", y),
            )
        )
        content = encode_element(0x00209157, "UL", [x, y])
        items.append(encode_sequence(0x00209111, [content]) + encode_sequence(0x0048021A, [plane]))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    per_frame = encode_sequence(int(Tag("PerFrameFunctionalGroupsSequence")), items)
    pixels = encapsulate([frame] * len(positions), bot="full")
    pixel_element = encode_element(0x7FE00010, "OB", pixels, length=0xFFFFFFFF)
    path.write_bytes(buffer.getvalue() + per_frame + pixel_element)
    return folder


# -- timing -------------------------------------------------------------------------------------


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def case_a(open_reader: Callable[[Path], Reader], folder: Path, repeats: int) -> float:
    """Open + one 256 x 256 level-0 region, median ms over fresh opens."""
    rng = random.Random(1)
    samples = []
    for _ in range(repeats):
        x = rng.randrange(0, SIZE[0] - 256)
        y = rng.randrange(0, SIZE[1] - 256)
        start = time.perf_counter()
        reader = open_reader(folder)
        reader.read_region((x, y), 0, (256, 256))
        samples.append(time.perf_counter() - start)
        reader.close()
    return _median_ms(samples)


def case_b(
    open_reader: Callable[[Path], Reader], folder: Path, count: int = 500
) -> tuple[float, float]:
    """Seeded random 224 x 224 level-0 patches on an open slide: patches per second.

    Returns (first pass, second pass over the same patches): the first pass
    decodes most tiles (the file is in the page cache, one region has been
    read), the second finds them in the reader's tile cache where it holds them
    all (wsidicom's does at this size, OpenSlide's 32 MiB default does not).
    """
    rng = random.Random(2)
    spots = [(rng.randrange(SIZE[0] - 224), rng.randrange(SIZE[1] - 224)) for _ in range(count)]
    reader = open_reader(folder)
    reader.read_region((0, 0), 0, (224, 224))
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        for spot in spots:
            reader.read_region(spot, 0, (224, 224))
        rates.append(count / (time.perf_counter() - start))
    reader.close()
    return rates[0], rates[1]


def case_c(
    open_reader: Callable[[Path], Reader], folder: Path, repeats: int
) -> tuple[float, float]:
    """One 2048 x 2048 level-0 region on an open slide, median ms: (first read, same again).

    A fresh reader per repeat, opened and warmed on a far corner, so the first
    read decodes all of its 64+ tiles; the second may find them in the cache.
    """
    rng = random.Random(3)
    first, again = [], []
    for _ in range(repeats):
        reader = open_reader(folder)
        reader.read_region((SIZE[0] - 64, SIZE[1] - 64), 0, (64, 64))
        x, y = rng.randrange(0, SIZE[0] - 2048 - 64), rng.randrange(0, SIZE[1] - 2048 - 64)
        for samples in (first, again):
            start = time.perf_counter()
            reader.read_region((x, y), 0, (2048, 2048))
            samples.append(time.perf_counter() - start)
        reader.close()
    return _median_ms(first), _median_ms(again)


def case_d(
    open_reader: Callable[[Path], Reader], folder: Path, repeats: int
) -> tuple[float, float]:
    """Open the 100,000-tile sparse instance; then its first 256 x 256 region. Median ms each."""
    opens, firsts = [], []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        reader = open_reader(folder)
        opened = time.perf_counter()
        reader.read_region((TILE * 100, TILE * 100), 0, (256, 256))
        opens.append(opened - start)
        firsts.append(time.perf_counter() - opened)
        reader.close()
    return _median_ms(opens), _median_ms(firsts)


ISSUE_FIGURES = {
    "a_open_region_ms": {"openslide": 2.2, "wsidicom": 11.4},
    "b_patches_per_s": {"openslide": 673, "wsidicom": 3332},
    "c_region_2048_ms": {"openslide": 115, "wsidicom": 35},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lazydcm-slide-bench"))
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--only", nargs="*", help="reader names (default: every one available)")
    parser.add_argument("--no-sparse", action="store_true", help="skip case (d)")
    parser.add_argument("--sparse-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    pyramid_folder = build_pyramid(args.workdir)
    sparse_folder = pyramid_folder if args.no_sparse else build_sparse(args.workdir, pyramid_folder)
    print(f"slides ready in {time.perf_counter() - start:.1f} s under {args.workdir}")

    results: dict[str, dict[str, float]] = {}
    for name, open_reader in readers().items():
        if args.only and name not in args.only:
            continue
        row = {"a_open_region_ms": case_a(open_reader, pyramid_folder, args.repeats)}
        row["b_patches_per_s"], row["b_patches_per_s_second_pass"] = case_b(
            open_reader, pyramid_folder
        )
        row["c_region_2048_ms"], row["c_region_2048_ms_again"] = case_c(
            open_reader, pyramid_folder, max(3, args.repeats // 2)
        )
        if not args.no_sparse:
            row["d_sparse_open_ms"], row["d_sparse_first_region_ms"] = case_d(
                open_reader, sparse_folder, args.sparse_repeats
            )
        results[name] = row
        print(name, {key: round(value, 2) for key, value in row.items()}, flush=True)
    if "lazydcm" not in results:
        print("lazydcm: no lazydcm.Slide yet -- its row appears here once issue 12 lands")
    print("issue 12's figures:", ISSUE_FIGURES)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "issue": ISSUE_FIGURES}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
