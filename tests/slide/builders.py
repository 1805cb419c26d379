"""Small, real whole-slide pyramids for the slide tests, built by third-party tools.

Contract: every builder writes into a folder the caller gives and returns what it
wrote; pixel content is deterministic (seeded), and so are the UIDs (derived from
the seed), so two builds of the same recipe are the same slide.  Builds take
seconds: level 0 is 2000 x 1500 by default, never a multiple of the tile size,
so the right and bottom tiles are partial.

Who writes what (the peers installed by the ``test`` extra):

- ``tifffile`` writes an Aperio-style pyramidal TIFF (JPEG tiles, a thumbnail, a
  label and a macro image), the input of the converter (:func:`write_svs`);
- ``wsidicomizer`` converts it to DICOM (:func:`dicomize`): VOLUME levels,
  LABEL, OVERVIEW and THUMBNAIL instances, TILED_FULL, JPEG baseline, JPEG 2000
  or HTJ2K tiles of 256 or 512 pixels, a filled Basic Offset Table;
- ``wsidicom`` saves a slide again (:func:`resave`) with a filled BOT, an empty
  BOT or an Extended Offset Table, and transcodes on the way.

No installed tool writes TILED_SPARSE, concatenations or several focal planes
(highdicom 0.28 writes Segmentation and Parametric Map pyramids only; wsidicom
and wsidicomizer always write TILED_FULL, one instance per level).  Those are
rewritten from a wsidicomizer instance with pydicom (:func:`sparsify`,
:func:`split_concatenation`, :func:`stack_focal_planes`): the same tiles and
metadata, the structure the Standard prescribes (PS3.3 C.7.6.16, C.7.6.17.3,
C.8.12.6) -- OpenSlide and wsidicom read them, so they remain references.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]
Encoding = Literal["jpeg", "jpeg2000", "jpeg2000-lossless", "htj2k", "htj2k-lossless"]

#: Level 0 of the default test slide: not a multiple of 256 or 512 either way.
SIZE = (2000, 1500)  # (width, height)
MPP = 0.25
#: The peers each builder needs, for skip messages.
PEERS = {
    "svs": ("tifffile", "imagecodecs"),
    "dicomize": ("wsidicomizer", "wsidicom", "tiffslide"),
    "resave": ("wsidicom",),
    "pydicom": ("pydicom",),
    "htj2k": ("wsidicom", "imagecodecs"),
}


def missing_peers(kind: str) -> list[str]:
    """The distributions `kind`'s builders need that are not installed."""
    return [name for name in PEERS[kind] if importlib.util.find_spec(name) is None]


# -- pixels ---------------------------------------------------------------------------------


def synthetic_rgb(width: int, height: int, seed: int = 0) -> RGB:
    """A (height, width, 3) uint8 image with structure everywhere.

    Horizontal and vertical ramps in red and green (a misplaced tile shows as a
    step), a blue checkerboard of 37 x 23 pixel cells (not aligned with any tile
    size), twenty filled discs of seeded colours and seeded noise of 0-15.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(height)[:, None]
    x = np.arange(width)[None, :]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = x * 239 // max(width - 1, 1)
    image[..., 1] = y * 239 // max(height - 1, 1)
    image[..., 2] = ((x // 37 + y // 23) % 2) * 160 + 40
    for _ in range(20):
        cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
        r = int(rng.integers(20, max(21, min(width, height) // 6)))
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r, height), max(cx - r, 0), min(cx + r, width)
        disc = (y[y0:y1] - cy) ** 2 + (x[:, x0:x1] - cx) ** 2 < r * r
        image[y0:y1, x0:x1][disc] = rng.integers(0, 240, 3)
    image += rng.integers(0, 16, image.shape, dtype=np.uint8)  # at most 239 + 15
    return image


def halve(image: RGB) -> RGB:
    """The 2 x 2 box-filter downsample (floor of odd sizes), as pyramid levels are made."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    blocks = image[: 2 * h, : 2 * w].reshape(h, 2, w, 2, -1).astype(np.uint16)
    return (blocks.sum(axis=(1, 3)) // 4).astype(np.uint8)


def pyramid(image: RGB, levels: int) -> list[RGB]:
    """`image` and its `levels - 1` successive halvings."""
    out = [image]
    for _ in range(levels - 1):
        out.append(halve(out[-1]))
    return out


# -- tifffile: the converter's input --------------------------------------------------------


def write_svs(
    path: Path,
    *,
    size: tuple[int, int] = SIZE,
    tile: int = 256,
    levels: int = 3,
    mpp: float = MPP,
    seed: int = 0,
    quality: int = 90,
) -> Path:
    """Write an Aperio-style pyramidal TIFF with JPEG tiles; return `path`.

    Page order and ImageDescription as OpenSlide's and tiffslide's ``aperio``
    readers expect: level 0 ("Aperio ...|MPP = ..."), a stripped thumbnail, the
    other levels, then the label (LZW) and the macro.  ``metadata=None`` keeps
    tifffile from writing its own second ImageDescription, which would hide the
    Aperio one.
    """
    import tifffile

    images = pyramid(synthetic_rgb(*size, seed=seed), levels)
    width, height = size
    head = "Aperio Image Library v10.0.0\r\n"
    common: dict[str, Any] = {"photometric": "rgb", "metadata": None}
    jpeg: dict[str, Any] = {"compression": "jpeg", "compressionargs": {"level": quality}, **common}
    label = np.full((300, 400, 3), 230, np.uint8)
    label[100:200, 50:350] = (20, 20, 200)
    macro = np.full((400, 1000, 3), 200, np.uint8)
    thumb = images[-1][::2, ::2]
    macro[100 : 100 + thumb.shape[0], 300 : 300 + thumb.shape[1]] = thumb
    with tifffile.TiffWriter(path) as tw:
        desc = f"{head}{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) JPEG/RGB Q={quality}"
        tw.write(
            images[0], tile=(tile, tile), description=f"{desc}|AppMag = 40|MPP = {mpp}", **jpeg
        )
        tw.write(thumb, rowsperstrip=16, description=f"{head}thumbnail", **jpeg)
        for image in images[1:]:
            tw.write(image, tile=(tile, tile), description=f"{head}level", **jpeg)
        tw.write(label, compression="lzw", subfiletype=1, description=f"{head}label", **common)
        tw.write(macro, subfiletype=9, description=f"{head}macro", **jpeg)
    return path


# -- wsidicomizer and wsidicom ---------------------------------------------------------------


def uid_factory(seed: int | str) -> Callable[[], Any]:
    """A generator of UIDs that are the same for the same seed (pydicom's hashed UIDs).

    Give each slide its own seed: two slides built with one seed share Study,
    Series, Pyramid and SOP Instance UIDs (and so file names).
    """
    from pydicom.uid import generate_uid

    counter = iter(range(1 << 30))
    return lambda: generate_uid(entropy_srcs=["lazydcm-slide-tests", str(seed), str(next(counter))])


def _htj2k_encoder(lossless: bool) -> Any:
    """A wsidicom Encoder writing real HTJ2K (Part 15) codestreams with imagecodecs.

    wsidicom 0.31's own HTJ2K settings run the Part 1 JPEG 2000 encoder and label
    the result with the HTJ2K transfer syntax; OpenJPH (imagecodecs.htj2k_encode)
    writes HT code-blocks and the CAP marker.
    """
    import imagecodecs
    from wsidicom.codec.encoder import Encoder
    from wsidicom.codec.settings import Channels, HTJpeg2000Settings, Settings

    class HtJ2kEncoder(Encoder[HTJpeg2000Settings]):
        def encode(self, image: Any) -> bytes:
            array = np.ascontiguousarray(np.asarray(image))
            if lossless:
                return bytes(imagecodecs.htj2k_encode(array, reversible=True))
            return bytes(imagecodecs.htj2k_encode(array, level=0.002))

        @property
        def lossy(self) -> bool:
            return not lossless

        @classmethod
        def supports_settings(cls, settings: Settings) -> bool:
            return isinstance(settings, HTJpeg2000Settings)

        @classmethod
        def is_available(cls) -> bool:
            return True

    return HtJ2kEncoder(HTJpeg2000Settings(levels=[0] if lossless else [80], channels=Channels.YBR))


def encoder_for(encoding: Encoding, quality: int = 90) -> Any:
    """The wsidicom encoder (or encoder settings) that writes `encoding` tiles."""
    from wsidicom.codec.settings import Channels, Jpeg2kSettings, JpegSettings, Subsampling

    if encoding == "jpeg":
        return JpegSettings(quality=quality, subsampling=Subsampling.R422)
    if encoding == "jpeg2000":
        return Jpeg2kSettings(levels=[45], channels=Channels.YBR)
    if encoding == "jpeg2000-lossless":
        return Jpeg2kSettings(levels=[0], channels=Channels.YBR)
    return _htj2k_encoder(lossless=encoding == "htj2k-lossless")


def dicomize(
    tiff: Path,
    out: Path,
    *,
    tile: int = 256,
    encoding: Encoding = "jpeg",
    seed: int | str = 0,
) -> list[Path]:
    """Convert `tiff` with wsidicomizer into the empty folder `out`; return the files.

    The tiffslide source decodes the TIFF and wsidicom's encoders write `tile`
    square tiles in `encoding` (the opentile source would copy the JPEG tiles
    as they are, but needs the system libturbojpeg).  Levels, label, macro
    (OVERVIEW) and thumbnail are all converted; the BOT is filled.
    """
    import pydicom.config

    future, enforce = pydicom.config._use_future, pydicom.config.enforce_valid_values
    try:
        # Importing wsidicomizer turns pydicom's future (4.0) behaviour and strict
        # reading on for the whole process (config.future_behavior(),
        # config.enforce_valid_values), which changes what every later pydicom user
        # sees (no Dataset.convert_pixel_data, errors for what pydicom warns about):
        # keep it to the build.
        from wsidicomizer import SourceIdentifier, WsiDicomizer

        out.mkdir(parents=True, exist_ok=True)
        files = WsiDicomizer.convert(
            tiff,
            out,
            tile_size=tile,
            encoding=encoder_for(encoding),
            preferred_source=SourceIdentifier.TIFFSLIDE,
            uid_generator=uid_factory(seed),
            workers=1,
        )
    finally:
        pydicom.config.future_behavior(future)
        pydicom.config.enforce_valid_values = enforce
    return sorted(Path(f) for f in files)


def resave(
    src: Path,
    out: Path,
    *,
    offset_table: Literal["bot", "empty", "eot"] = "bot",
    encoding: Encoding | None = None,
    seed: int | str = 1,
) -> list[Path]:
    """Save the slide in folder `src` again with wsidicom into `out`; return the files.

    `offset_table` is wsidicom's: "bot" a filled Basic Offset Table, "empty" an
    empty one (a reader must walk the items), "eot" an empty BOT and an Extended
    Offset Table with its lengths (PS3.5 A.4, PS3.3 C.7.6.3.1.8).  `encoding`
    transcodes every tile; None copies the encoded tiles as they are.
    """
    from wsidicom import WsiDicom

    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if encoding is not None:
        options = {"transcoding": encoder_for(encoding), "force_transcoding": True}
    with WsiDicom.open(src) as slide:
        files = slide.save(
            out, uid_generator=uid_factory(seed), workers=1, offset_table=offset_table, **options
        )
    return sorted(Path(f) for f in files)


# -- pydicom rewrites for what no tool writes -------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """What a rewrite needs of a TILED_FULL instance: its dataset and encoded tiles."""

    dataset: Any  # pydicom.Dataset
    tiles: list[bytes]
    across: int
    down: int


def read_instance(path: Path) -> Instance:
    """Read one single-plane TILED_FULL instance with pydicom."""
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    count = int(ds.NumberOfFrames)
    tiles = list(generate_frames(ds.PixelData, number_of_frames=count))
    across = -(-int(ds.TotalPixelMatrixColumns) // int(ds.Columns))
    down = -(-int(ds.TotalPixelMatrixRows) // int(ds.Rows))
    if ds.DimensionOrganizationType != "TILED_FULL" or count != across * down:
        raise ValueError(f"{path}: not a single-plane TILED_FULL instance ({count} frames)")
    return Instance(ds, tiles, across, down)


def level_files(folder: Path) -> dict[int, Path]:
    """The VOLUME instances of a folder by Total Pixel Matrix Columns (largest is level 0)."""
    import pydicom

    out = {}
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.ImageType[2] == "VOLUME":
            out[int(ds.TotalPixelMatrixColumns)] = path
    return out


def _plane_position(ds: Any, column: int, row: int, z_um: float) -> Any:
    """A Plane Position (Slide) item for the tile whose top left pixel is (column, row), 0-based.

    Column/Row Position In Total Image Pixel Matrix are 1-based (PS3.3
    C.8.12.6.1); the X/Y offsets follow the Total Pixel Matrix Origin and Image
    Orientation (Slide), with Pixel Spacing = (row spacing, column spacing) in mm.
    """
    from pydicom.dataset import Dataset

    origin = ds.TotalPixelMatrixOriginSequence[0]
    spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    orientation = [float(v) for v in ds.ImageOrientationSlide]
    dx = column * float(spacing[1])  # along a row: the spacing between columns
    dy = row * float(spacing[0])
    x = float(origin.XOffsetInSlideCoordinateSystem) + dx * orientation[0] + dy * orientation[3]
    y = float(origin.YOffsetInSlideCoordinateSystem) + dx * orientation[1] + dy * orientation[4]
    item = Dataset()
    item.ColumnPositionInTotalImagePixelMatrix = column + 1
    item.RowPositionInTotalImagePixelMatrix = row + 1
    item.XOffsetInSlideCoordinateSystem = round(x, 6)
    item.YOffsetInSlideCoordinateSystem = round(y, 6)
    item.ZOffsetInSlideCoordinateSystem = z_um
    return item


def position_dimensions(ds: Any) -> list[Any]:
    """Dimension Index Sequence items for the tile position (PS3.3 C.7.6.17.1).

    highdicom indexes a TILED_SPARSE total pixel matrix only through these:
    Column and Row Position In Total Image Pixel Matrix in the Plane Position
    (Slide) Sequence, with the instance's Dimension Organization UID.
    """
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    uid = ds.DimensionOrganizationSequence[0].DimensionOrganizationUID
    items = []
    for keyword, label in (
        ("ColumnPositionInTotalImagePixelMatrix", "Column Position"),
        ("RowPositionInTotalImagePixelMatrix", "Row Position"),
    ):
        item = Dataset()
        item.DimensionOrganizationUID = uid
        item.DimensionIndexPointer = Tag(keyword)
        item.FunctionalGroupPointer = Tag("PlanePositionSlideSequence")
        item.DimensionDescriptionLabel = label
        items.append(item)
    return items


def _write(ds: Any, frames: Sequence[bytes], path: Path, uid: Any) -> Path:
    from pydicom.encaps import encapsulate

    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(list(frames), has_bot=True)
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)
    return path


def _copy_others(src: Path, out: Path, skip: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path != skip:
            shutil.copy2(path, out / path.name)


def sparsify(
    folder: Path,
    out: Path,
    *,
    missing: Iterable[tuple[int, int]],
    shuffle_seed: int | None = 7,
    seed: int | str = 2,
) -> Path:
    """Copy the slide in `folder` to `out` with level 0 rewritten as TILED_SPARSE; return it.

    The tiles at the (column, row) grid positions in `missing` are dropped, the
    rest are stored in a seeded random order (a reader must not assume any,
    PS3.3 C.7.6.17.3), each with its Plane Position (Slide) in the Per-Frame
    Functional Groups Sequence (C.8.12.6).
    """
    from pydicom.dataset import Dataset

    source = level_files(folder)[max(level_files(folder))]
    inst = read_instance(source)
    gone = set(missing)
    keep = [
        (row * inst.across + col, col, row)
        for row in range(inst.down)
        for col in range(inst.across)
        if (col, row) not in gone
    ]
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(keep))
        keep = [keep[i] for i in order]
    ds = inst.dataset
    ds.DimensionOrganizationType = "TILED_SPARSE"
    ds.DimensionIndexSequence = position_dimensions(ds)
    items = []
    for _, col, row in keep:
        item = Dataset()
        position = _plane_position(ds, col * int(ds.Columns), row * int(ds.Rows), 0.0)
        item.PlanePositionSlideSequence = [position]
        content = Dataset()
        content.DimensionIndexValues = [
            position.ColumnPositionInTotalImagePixelMatrix,
            position.RowPositionInTotalImagePixelMatrix,
        ]
        item.FrameContentSequence = [content]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items
    _copy_others(folder, out, source)
    frames = [inst.tiles[index] for index, _, _ in keep]
    return _write(ds, frames, out / source.name, uid_factory(seed)())


def split_concatenation(
    folder: Path, out: Path, *, parts: int = 3, seed: int | str = 3
) -> list[Path]:
    """Copy the slide in `folder` to `out` with level 0 split into a `parts`-instance concatenation.

    Each part holds a run of consecutive frames and shares Concatenation UID and
    SOP Instance UID of Concatenation Source; In-concatenation Number counts from
    1, Concatenation Frame Offset Number from 0 (PS3.3 C.7.6.16.2.2).  The frames
    of all parts together are TILED_FULL (C.7.6.17.3).  Returns the parts.
    """
    source = level_files(folder)[max(level_files(folder))]
    inst = read_instance(source)
    uids = uid_factory(seed)
    ds = inst.dataset
    ds.SOPInstanceUIDOfConcatenationSource = ds.SOPInstanceUID
    ds.ConcatenationUID = uids()
    ds.InConcatenationTotalNumber = parts
    _copy_others(folder, out, source)
    bounds = np.linspace(0, len(inst.tiles), parts + 1).astype(int)
    written = []
    for k in range(parts):
        ds.InConcatenationNumber = k + 1
        ds.ConcatenationFrameOffsetNumber = int(bounds[k])
        frames = inst.tiles[bounds[k] : bounds[k + 1]]
        written.append(_write(ds, frames, out / f"concatenation-{k + 1}.dcm", uids()))
    return written


def stack_focal_planes(
    folder: Path,
    out: Path,
    *,
    planes: int = 3,
    spacing_um: float = 2.0,
    seed: int | str = 4,
) -> tuple[Path, list[RGB]]:
    """Write `out`/focal-planes.dcm: level 0 of `folder` as a TILED_FULL stack of `planes`.

    Plane 0 is level 0's own tiles; plane k > 0 is the decoded level 0 with its
    channels rolled by k and re-encoded as JPEG (so each plane differs).  Frames
    follow the implied TILED_FULL order: column fastest, then row, then focal
    plane (PS3.3 C.7.6.17.3).  Total Pixel Matrix Focal Planes holds the count and
    Spacing Between Slices (Pixel Measures) the plane spacing in mm.  Returns the
    file and the planes' expected images (as decoded by imagecodecs).
    """
    import imagecodecs

    source = level_files(folder)[max(level_files(folder))]
    inst = read_instance(source)
    ds = inst.dataset
    rows, cols = int(ds.Rows), int(ds.Columns)
    height, width = int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)
    canvas = np.zeros((inst.down * rows, inst.across * cols, 3), np.uint8)
    for index, tile in enumerate(inst.tiles):
        row, col = divmod(index, inst.across)
        canvas[row * rows : (row + 1) * rows, col * cols : (col + 1) * cols] = (
            imagecodecs.jpeg8_decode(tile)
        )
    frames = list(inst.tiles)
    expected = [canvas[:height, :width].copy()]
    for k in range(1, planes):
        plane = np.roll(canvas, k, axis=2)
        decoded = np.empty_like(plane)
        for row in range(inst.down):
            for col in range(inst.across):
                box = (slice(row * rows, (row + 1) * rows), slice(col * cols, (col + 1) * cols))
                tile = imagecodecs.jpeg8_encode(plane[box], level=90, subsampling="422")
                frames.append(bytes(tile))
                decoded[box] = imagecodecs.jpeg8_decode(tile)
        expected.append(decoded[:height, :width])
    ds.TotalPixelMatrixFocalPlanes = planes
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = (
        spacing_um / 1000
    )
    out.mkdir(parents=True, exist_ok=True)
    return _write(ds, frames, out / "focal-planes.dcm", uid_factory(seed)()), expected
