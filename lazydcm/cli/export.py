"""``lazydcm export FILE -o DIR``: write frames as PNG, NumPy or TIFF files.

One file per frame, named after the input and the zero-padded frame number
(``cine_0007.png``).  ``--frames`` picks frames as Python indices and slices,
comma-separated (``0:100:5``, ``-1``, ``0,10:20``).  ``--format npy`` and
``--format tiff`` write the frames as :class:`~lazydcm.FrameSequence` returns
them; ``--format png`` (the default) writes what a viewer shows
(:func:`~lazydcm.cli.display.display_frame`): 8-bit by default, 16-bit grey
with ``--bits 16``.  A progress bar shows on a terminal.

A frame the file lacks (it was cut short) or that fails to decode is skipped:
the others are written, the skipped ones are named on stderr, and the status is
1.  Each file is written under a temporary name and renamed when complete
(:func:`~lazydcm.cli.output.write_whole`), so no half-written file is left.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from lazydcm.cli.display import CommandError, display_frame, progress, require
from lazydcm.cli.frames import Skipped, frames_or_errors, report_skipped, skipped_frame
from lazydcm.cli.output import write_whole
from lazydcm.sequence import FrameSequence

__all__ = ["Exported", "add_parser", "export", "parse_frames", "run"]

FORMATS = ("png", "npy", "tiff")

_INTEGER = re.compile(r"[+-]?\d+")

#: Writes frame `i` of a sequence (the array given) to a binary file: (frame, seq, i, file).
Writer = Callable[[np.ndarray, FrameSequence, int, BinaryIO], None]


@dataclass(frozen=True)
class Exported:
    """What :func:`export` did: the files written, in order, and the frames skipped."""

    written: tuple[Path, ...]
    skipped: tuple[Skipped, ...]


def add_parser(commands: Any) -> None:
    """Add the ``export`` command to the subparsers `commands`."""
    parser = commands.add_parser("export", help="write frames as image files")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write to")
    parser.add_argument("--frames", default=":", metavar="SPEC", help="e.g. 0:100:5 (default: all)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="png",
        help="png: windowed for display (default); npy, tiff: the frames as they are",
    )
    parser.add_argument("--bits", type=int, choices=(8, 16), help="PNG bits per sample (8)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export the frames ``args`` ask for."""
    if args.bits is not None and args.format != "png":
        raise CommandError(f"--bits is for PNG; {args.format} files hold the frames as they are")
    done = export(args.file, args.output, args.frames, args.format, args.bits or 8)
    print(f"Wrote {len(done.written)} {args.format} files to {args.output}")
    if done.skipped:
        asked = len(done.written) + len(done.skipped)
        report_skipped(args.file, done.skipped, asked, "exported")
        return 1
    return 0


def export(path: str, output: str, frames: str, fmt: str, bits: int = 8) -> Exported:
    """Write the frames of `path` selected by `frames` into the folder `output`.

    Frames that cannot be read (missing from the file, or failing to decode) are
    skipped; the folder is made when the first frame is written.
    """
    writer = _writer(fmt, bits)
    folder = Path(output)
    written: list[Path] = []
    skipped: list[Skipped] = []
    with FrameSequence(path, cache_bytes=0) as seq:
        indices = parse_frames(frames, len(seq))
        grey = seq.photometric_interpretation in ("MONOCHROME1", "MONOCHROME2")
        if fmt == "png" and bits == 16 and not grey:
            raise CommandError(
                f"16-bit PNG is for grey frames, not {seq.photometric_interpretation}; "
                "use --bits 8 or --format tiff"
            )
        digits = max(4, len(str(len(seq) - 1)))
        stem = Path(path).stem
        chosen = frames_or_errors(seq, indices)
        for i, frame in progress(chosen, total=len(indices), desc="export"):
            if not isinstance(frame, np.ndarray):
                skipped.append(skipped_frame(path, i, frame))
                continue
            if not written:
                folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{stem}_{i:0{digits}d}.{fmt}"
            write_whole(target, partial(writer, frame, seq, i))
            written.append(target)
    return Exported(tuple(written), tuple(skipped))


def parse_frames(spec: str, count: int) -> list[int]:
    """The frame numbers `spec` selects from `count` frames, in the order given.

    `spec` is comma-separated Python indices (``-1``) and slices (``0:100:5``).
    """
    chosen = [i for part in spec.split(",") for i in _frames_of(part.strip(), count)]
    if not chosen:
        raise CommandError(f"--frames {spec} selects none of the {count} frames")
    return chosen


def _frames_of(text: str, count: int) -> range:
    """The frames one index or slice of ``--frames`` selects."""
    fields = [field.strip() for field in text.split(":")]
    valid = (
        len(fields) <= 3
        and all(_INTEGER.fullmatch(field) for field in fields if field)
        and (len(fields) > 1 or fields[0] != "")
    )
    if not valid:
        raise CommandError(f"--frames: {text!r} is not a frame number or a slice like 0:100:5")
    if len(fields) == 1:
        index = int(fields[0])
        if not -count <= index < count:
            raise CommandError(f"--frames: frame {index} is not in a file of {count} frames")
        return range(index % count, index % count + 1)
    numbers = [int(field) if field else None for field in fields]
    if numbers[2:] == [0]:
        raise CommandError(f"--frames: {text!r} has a step of 0")
    return range(*slice(*numbers).indices(count))


def _writer(fmt: str, bits: int) -> Writer:
    """A function (frame, sequence, index, file) that writes one frame in `fmt`."""
    if fmt == "png":
        image = require("PIL.Image")

        def write_png(frame: np.ndarray, seq: FrameSequence, i: int, file: BinaryIO) -> None:
            image.fromarray(display_frame(frame, seq, i, bits)).save(file, format="PNG")

        return write_png
    if fmt == "tiff":
        tifffile = require("tifffile")

        def write_tiff(frame: np.ndarray, seq: FrameSequence, i: int, file: BinaryIO) -> None:
            colour = frame.ndim == 3 and frame.shape[-1] == 3
            tifffile.imwrite(file, frame, photometric="rgb" if colour else "minisblack")

        return write_tiff
    if fmt == "npy":

        def write_npy(frame: np.ndarray, seq: FrameSequence, i: int, file: BinaryIO) -> None:
            np.save(file, frame)

        return write_npy
    raise CommandError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
