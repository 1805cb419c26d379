"""The slides the slide tests run on: name -> how it is built, and which references read it.

Contract: :func:`build_case` builds a case (and the case it derives from) once
per root folder; the recipes are those of builders.py, the references'
limits those of references.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from builders import (
    Encoding,
    dicomize,
    resave,
    sparsify,
    split_concatenation,
    stack_focal_planes,
    write_svs,
)

#: Tiles dropped from level 0 of the "sparse" case: corners, an inner tile and two
#: neighbours on the partial bottom row (grid 8 x 6 at 256).
SPARSE_MISSING = ((0, 0), (3, 2), (6, 5), (7, 5))


@dataclass(frozen=True)
class Case:
    """One test slide: how it is built, and which references can read it.

    `source` is another case whose folder this one is derived from (None: from
    the Aperio TIFF); `openslide` and `highdicom` say whether that reference
    reads the case (see references.py for what each one refuses).
    """

    name: str
    peers: tuple[str, ...]
    build: Callable[[Path, Path], object]  # (source folder or TIFF, out folder)
    source: str | None = None
    openslide: bool = True
    highdicom: bool = True
    missing_tiles: tuple[tuple[int, int], ...] = ()


def _dicomize(tile: int, encoding: Encoding) -> Callable[[Path, Path], object]:
    return lambda tiff, out: dicomize(tiff, out, tile=tile, encoding=encoding, seed=out.name)


def _resave(offset_table: Literal["bot", "empty", "eot"]) -> Callable[[Path, Path], object]:
    return lambda src, out: resave(src, out, offset_table=offset_table, seed=out.name)


CASES = {
    case.name: case
    for case in (
        Case("jpeg-256", ("dicomize",), _dicomize(256, "jpeg")),
        Case("jpeg-512", ("dicomize",), _dicomize(512, "jpeg")),
        Case("jpeg2000-256", ("dicomize",), _dicomize(256, "jpeg2000")),
        Case("jpeg2000-lossless-512", ("dicomize",), _dicomize(512, "jpeg2000-lossless")),
        # OpenSlide 4.0 refuses the HTJ2K transfer syntaxes ("Unsupported transfer syntax").
        Case("htj2k-256", ("dicomize", "htj2k"), _dicomize(256, "htj2k"), openslide=False),
        Case(
            "htj2k-lossless-512",
            ("dicomize", "htj2k"),
            _dicomize(512, "htj2k-lossless"),
            openslide=False,
        ),
        Case("bot", ("resave",), _resave("bot"), source="jpeg-256"),
        Case("empty-bot", ("resave",), _resave("empty"), source="jpeg-256"),
        Case("eot", ("resave",), _resave("eot"), source="jpeg-256"),
        Case(
            "sparse",
            ("pydicom",),
            lambda src, out: sparsify(src, out, missing=SPARSE_MISSING, seed=out.name),
            source="jpeg-256",
            missing_tiles=SPARSE_MISSING,
        ),
        # highdicom reads each part of a concatenation as a whole image.
        Case(
            "concatenation",
            ("pydicom",),
            lambda src, out: split_concatenation(src, out, seed=out.name),
            source="jpeg-256",
            highdicom=False,
        ),
        # OpenSlide 4.0 refuses Total Pixel Matrix Focal Planes != 1; highdicom
        # cannot tell the planes apart by the dimension indices of a TILED_FULL file.
        Case(
            "focal-planes",
            ("pydicom", "svs"),
            lambda src, out: stack_focal_planes(src, out, seed=out.name),
            source="jpeg-256",
            openslide=False,
            highdicom=False,
        ),
    )
}


def build_case(name: str, root: Path, built: dict[str, Path]) -> Path:
    """Build case `name` (and the case it derives from) under `root`; memoised in `built`."""
    if name in built:
        return built[name]
    case = CASES[name]
    if case.source is None:
        source = root / "aperio-256.svs"
        if not source.exists():
            write_svs(source)
    else:
        source = build_case(case.source, root, built)
    out = root / name
    case.build(source, out)
    built[name] = out
    return out
