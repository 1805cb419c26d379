"""``lazydcm montage FILE -o sheet.png``: a contact sheet of evenly spaced frames.

``--count`` frames (16 by default; all of them when the file has fewer), from the
first to the last at even steps, are made viewable
(:func:`~lazydcm.cli.display.display_frame`: windowed from the header) and laid
out in a near-square grid on a dark grey ground, each with its frame number
below it, outside the image.  Frames are read one at a time.

Tile size:

* small frames are enlarged by a whole factor, pixel for pixel (nearest
  neighbour), until their longer side is at least :data:`LEGIBLE` pixels, so a
  5 x 7 frame shows as 5 x 7 blocks and binary data stays binary;
* large frames are shrunk (Lanczos) so the sheet is at most ``--width`` pixels
  wide; tiles stay at least :data:`SMALLEST` pixels wide, so many frames may need
  a wider sheet.

A frame the file lacks (it was cut short) or that fails to decode is drawn as a
placeholder -- grey, crossed out, labelled ``N missing`` -- and named on stderr;
the sheet is written and the status is 1.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lazydcm.cli.display import CommandError, DisplayError, display_frame, progress, require
from lazydcm.cli.frames import Skipped, frames_or_errors, report_skipped, skipped_frame
from lazydcm.cli.output import write_whole
from lazydcm.sequence import FrameSequence

__all__ = ["Montage", "add_parser", "evenly_spaced", "run", "write_montage"]

#: The gap between cells, in pixels.
GAP = 2

#: Small frames are enlarged until their longer side is at least this many pixels.
LEGIBLE = 64

#: The narrowest tile when frames are shrunk to fit the sheet's width.
SMALLEST = 16

#: The grey between and below the tiles: a black frame shows against it.
BACKGROUND = 40

#: The grey of a missing frame's placeholder, and of the cross over it.
PLACEHOLDER, CROSS = 96, 176

#: Space around a label, in pixels.
PAD = 2


@dataclass(frozen=True)
class Montage:
    """What :func:`write_montage` drew: the frames shown, those missing, the sheet's size."""

    shown: tuple[int, ...]
    missing: tuple[Skipped, ...]
    size: tuple[int, int]


@dataclass(frozen=True)
class _Layout:
    """Where everything goes: tiles of ``tile`` (width, height) in cells of ``cell``."""

    columns: int
    rows: int
    tile: tuple[int, int]
    cell: tuple[int, int]
    label_size: int

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.cell
        return (
            self.columns * width + GAP * (self.columns - 1),
            self.rows * height + GAP * (self.rows - 1),
        )

    def corner(self, k: int) -> tuple[int, int]:
        """The top-left corner of cell `k`'s tile."""
        width, height = self.cell
        return (k % self.columns) * (width + GAP), (k // self.columns) * (height + GAP)


def add_parser(commands: Any) -> None:
    """Add the ``montage`` command to the subparsers `commands`."""
    parser = commands.add_parser("montage", help="a contact sheet of evenly spaced frames")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("-o", "--output", required=True, metavar="PNG", help="the sheet to write")
    parser.add_argument("--count", type=int, default=16, help="how many frames (16)")
    parser.add_argument("--width", type=int, default=2048, help="largest sheet width (2048 px)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the contact sheet ``args`` ask for; 1 if frames were missing."""
    with FrameSequence(args.file, cache_bytes=0) as seq:
        sheet = write_montage(seq, args.output, count=args.count, width=args.width, name=args.file)
    width, height = sheet.size
    print(f"Wrote {args.output}: {len(sheet.shown)} of {len(seq)} frames, {width}x{height} px")
    if sheet.missing:
        asked = len(sheet.shown) + len(sheet.missing)
        report_skipped(args.file, sheet.missing, asked, "shown")
        return 1
    return 0


def evenly_spaced(count: int, total: int) -> list[int]:
    """`count` frame numbers from 0 to ``total - 1`` at even steps (all when fewer)."""
    if count < 1:
        raise CommandError(f"--count must be at least 1, not {count}")
    if count >= total:
        return list(range(total))
    return [round(k * (total - 1) / max(count - 1, 1)) for k in range(count)]


def write_montage(
    seq: FrameSequence,
    target: str | Path,
    *,
    count: int = 16,
    width: int = 2048,
    name: str | None = None,
) -> Montage:
    """Write a contact sheet of `count` frames of `seq` to the PNG `target`.

    Frames that cannot be read are drawn as placeholders and listed in the
    result's ``missing``, with their errors' messages naming the file as `name`.
    """
    if width < SMALLEST:
        raise CommandError(f"--width must be at least {SMALLEST} pixels, not {width}")
    image = require("PIL.Image")
    draw = require("PIL.ImageDraw")
    indices = evenly_spaced(count, len(seq))
    if not indices:
        raise DisplayError("the file has no frames to show")
    labels = [str(i) for i in indices] + [f"{i} missing" for i in indices]
    frame_rows, frame_columns = seq.frame_shape[:2]
    layout = _layout(len(indices), (frame_rows, frame_columns), width, labels)
    colour = seq.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2")
    mode = "RGB" if colour else "L"
    sheet = image.new(mode, layout.size, (BACKGROUND,) * 3 if colour else BACKGROUND)
    pen = draw.Draw(sheet)
    pen.fontmode = "1"  # crisp labels: antialiased text blurs at small sizes
    font = _font(layout.label_size)
    white = (255, 255, 255) if colour else 255
    shown: list[int] = []
    missing: list[Skipped] = []
    read = frames_or_errors(seq, indices)
    for k, (i, frame) in enumerate(progress(read, total=len(indices), desc="montage")):
        left, top = layout.corner(k)
        if isinstance(frame, np.ndarray):
            sheet.paste(_tile(image, display_frame(frame, seq, i), layout.tile), (left, top))
            label = str(i)
            shown.append(i)
        else:
            _placeholder(pen, (left, top), layout.tile, colour)
            label = f"{i} missing"
            missing.append(skipped_frame(name, i, frame))
        pen.text((left + PAD, top + layout.tile[1] + PAD), label, fill=white, font=font)
    write_whole(Path(target), partial(_save_png, sheet))
    return Montage(tuple(shown), tuple(missing), layout.size)


def _layout(count: int, frame: tuple[int, int], width: int, labels: list[str]) -> _Layout:
    """The grid of `count` tiles of `frame` (rows, columns) in a sheet `width` wide."""
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    frame_rows, frame_columns = frame
    fits = max(1, (width - GAP * (columns - 1)) // columns)  # the widest tile that fits
    factor = min(math.ceil(LEGIBLE / max(frame_rows, frame_columns)), fits // frame_columns)
    if factor > 1:  # enlarged pixel for pixel
        tile = (frame_columns * factor, frame_rows * factor)
    else:  # shrunk to fit, or as it is
        tile_width = max(SMALLEST, min(frame_columns, fits))
        tile = (tile_width, max(1, round(frame_rows * tile_width / frame_columns)))
    label_size = max(12, min(24, tile[0] // 10))
    font = _font(label_size)
    # Each cell holds its tile, and below it the widest label, on one line.
    boxes = [font.getbbox(label) for label in labels]
    label_width = max(box[2] for box in boxes) + 2 * PAD
    label_height = max(box[3] for box in boxes) + 2 * PAD
    cell = (max(tile[0], label_width), tile[1] + label_height)
    return _Layout(columns, rows, tile, cell, label_size)


def _tile(image: Any, shown: np.ndarray, size: tuple[int, int]) -> Any:
    """The displayed frame `shown` as a Pillow image of `size` (width, height).

    Enlarged by nearest neighbour (each stored pixel a block, binary data kept
    binary), shrunk by Lanczos (which does not alias).
    """
    tile = image.fromarray(shown)
    if tile.size == size:
        return tile
    enlarging = size[0] > tile.size[0]
    method = image.Resampling.NEAREST if enlarging else image.Resampling.LANCZOS
    return tile.resize(size, method)


def _placeholder(pen: Any, corner: tuple[int, int], size: tuple[int, int], colour: bool) -> None:
    """A grey tile crossed out from corner to corner: a frame that is not there."""
    left, top = corner
    right, bottom = left + size[0] - 1, top + size[1] - 1
    fill = (PLACEHOLDER,) * 3 if colour else PLACEHOLDER
    cross = (CROSS,) * 3 if colour else CROSS
    pen.rectangle((left, top, right, bottom), fill=fill)
    pen.line((left, top, right, bottom), fill=cross)
    pen.line((left, bottom, right, top), fill=cross)


def _save_png(sheet: Any, file: Any) -> None:
    sheet.save(file, format="PNG")


def _font(size: int) -> Any:
    """Pillow's default font at `size` pixels (its fixed size before Pillow 10.1)."""
    fonts = require("PIL.ImageFont")
    try:
        return fonts.load_default(size=size)
    except TypeError:
        return fonts.load_default()
