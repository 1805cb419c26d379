"""``lazydcm montage FILE -o sheet.png``: a contact sheet of evenly spaced frames.

``--count`` frames (16 by default; all of them when the file has fewer), from the
first to the last at even steps, are made viewable
(:func:`~lazydcm.cli.display.display_frame`: windowed from the header), shrunk so
the sheet is at most ``--width`` pixels wide (tiles stay at least 16 pixels wide,
so many frames may need a wider sheet), laid out in a near-square grid, and
labelled with their frame numbers.  Frames are read one at a time.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from lazydcm.cli.display import CommandError, display_frame, progress, require
from lazydcm.sequence import FrameSequence

__all__ = ["add_parser", "evenly_spaced", "run", "write_montage"]

#: The gap between tiles, in pixels.
GAP = 2


def add_parser(commands: Any) -> None:
    """Add the ``montage`` command to the subparsers `commands`."""
    parser = commands.add_parser("montage", help="a contact sheet of evenly spaced frames")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("-o", "--output", required=True, metavar="PNG", help="the sheet to write")
    parser.add_argument("--count", type=int, default=16, help="how many frames (16)")
    parser.add_argument("--width", type=int, default=2048, help="largest sheet width (2048 px)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the contact sheet ``args`` ask for."""
    with FrameSequence(args.file, cache_bytes=0) as seq:
        shown, size = write_montage(seq, args.output, count=args.count, width=args.width)
    print(f"Wrote {args.output}: {len(shown)} of {len(seq)} frames, {size[0]}x{size[1]} px")
    return 0


def evenly_spaced(count: int, total: int) -> list[int]:
    """`count` frame numbers from 0 to ``total - 1`` at even steps (all when fewer)."""
    if count < 1:
        raise CommandError(f"--count must be at least 1, not {count}")
    if count >= total:
        return list(range(total))
    return [round(k * (total - 1) / max(count - 1, 1)) for k in range(count)]


def write_montage(
    seq: FrameSequence, target: str | Path, *, count: int = 16, width: int = 2048
) -> tuple[list[int], tuple[int, int]]:
    """Write a contact sheet of `count` frames of `seq` to the PNG `target`.

    Returns the frame numbers shown and the sheet's (width, height) in pixels.
    """
    if width < 16:
        raise CommandError(f"--width must be at least 16 pixels, not {width}")
    image = require("PIL.Image")
    draw = require("PIL.ImageDraw")
    indices = evenly_spaced(count, len(seq))
    columns = math.ceil(math.sqrt(len(indices)))
    rows = math.ceil(len(indices) / columns)
    frame_rows, frame_columns = seq.frame_shape[:2]
    # Shrink tiles (never enlarge them) so that the sheet fits in `width`.
    tile_width = max(16, min(frame_columns, (width - GAP * (columns - 1)) // columns))
    scale = tile_width / frame_columns
    tile_height = max(1, round(frame_rows * scale))
    colour = seq.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2")
    mode = "RGB" if colour else "L"
    size = (columns * tile_width + GAP * (columns - 1), rows * tile_height + GAP * (rows - 1))
    sheet = image.new(mode, size)
    pen = draw.Draw(sheet)
    pen.fontmode = "1"  # crisp labels: antialiased text blurs on small tiles
    font = _font(max(10, min(tile_width, tile_height) // 16))
    white = (255, 255, 255) if colour else 255
    chosen = seq.iter_frames(indices)
    shown = progress(zip(indices, chosen, strict=True), total=len(indices), desc="montage")
    for k, (i, frame) in enumerate(shown):
        tile = image.fromarray(display_frame(frame, seq, i))
        if tile.size != (tile_width, tile_height):
            tile = tile.resize((tile_width, tile_height), image.Resampling.LANCZOS)
        left = (k % columns) * (tile_width + GAP)
        top = (k // columns) * (tile_height + GAP)
        sheet.paste(tile, (left, top))
        # The frame number on a black box, so it reads on any image.
        box = pen.textbbox((left + 3, top + 2), str(i), font=font)
        pen.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=0)
        pen.text((left + 3, top + 2), str(i), fill=white, font=font)
    sheet.save(target, format="PNG")
    return indices, size


def _font(size: int) -> Any:
    """Pillow's default font at `size` pixels (its fixed size before Pillow 10.1)."""
    fonts = require("PIL.ImageFont")
    try:
        return fonts.load_default(size=size)
    except TypeError:
        return fonts.load_default()
