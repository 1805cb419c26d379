"""``lazydcm demo``: build a sample cine, stream it, and show what it holds.

Writes a multi-frame 12-bit file in a temporary folder (no download), streams
every frame through :class:`~lazydcm.FrameSequence` with a progress bar, checks
them against what was written, prints frames per second and the peak memory of
the process while streaming (psutil), and writes a contact sheet PNG of the cine
(to ``--output``, by default ``lazydcm-demo.png`` in the current folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lazydcm.cli.display import CommandError, progress, require
from lazydcm.cli.montage import write_montage
from lazydcm.sequence import FrameSequence
from lazydcm.testing import synth

__all__ = ["add_parser", "demo", "run"]

MIB = 1 << 20

#: Window Center and Width written into the sample's header, so its montage is windowed.
WINDOW = (2500.0, 3500.0)


def add_parser(commands: Any) -> None:
    """Add the ``demo`` command to the subparsers `commands`."""
    parser = commands.add_parser("demo", help="build a sample file, stream it, draw it")
    parser.add_argument("--frames", type=int, default=600, help="frames in the sample (600)")
    parser.add_argument("--size", type=int, default=256, help="rows and columns (256)")
    parser.add_argument(
        "-o", "--output", default="lazydcm-demo.png", metavar="PNG", help="the montage to write"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo with the sizes ``args`` give."""
    return demo(args.frames, args.size, Path(args.output))


class _Pattern:
    """A moving 12-bit test pattern: rings drifting over a gradient."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.y, self.x = np.mgrid[0:size, 0:size].astype(np.float32) / size

    def frame(self, i: int) -> np.ndarray:
        phase = 2 * np.pi * i / self.count
        dx, dy = self.x - 0.5 - 0.3 * np.cos(phase), self.y - 0.5 - 0.3 * np.sin(phase)
        frame: np.ndarray = 2047 + 1000 * np.cos(40 * np.hypot(dx, dy)) + 1000 * self.x
        return frame.astype(np.uint16)


def demo(frames: int, size: int, output: Path, cache_mib: int = 16) -> int:
    """Build a sample cine, stream it, report speed and memory, and draw its montage."""
    if frames < 1 or size < 1:
        raise CommandError(f"--frames and --size must be positive, not {frames} and {size}")
    psutil = require("psutil")
    require("PIL.Image")  # before the work, so a missing package fails at once
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="lazydcm-demo-") as folder:
        path = Path(folder) / "cine.dcm"
        image = synth.ImagePixel(size, size, bits_stored=12, number_of_frames=frames)
        pattern = _Pattern(frames, size)
        window = [(0x00281050, "DS", WINDOW[0]), (0x00281051, "DS", WINDOW[1])]
        synth.write_native(path, (pattern.frame(i) for i in range(frames)), image, extra=window)
        print(
            f"Built {path.name}: {frames} frames of {size}x{size} uint16, "
            f"{path.stat().st_size / MIB:.1f} MiB"
        )

        started = time.perf_counter()
        with FrameSequence(path, cache_bytes=cache_mib << 20) as seq:
            opened = time.perf_counter()
            peak = process.memory_info().rss
            for i, _frame in enumerate(progress(seq, total=len(seq), desc="stream")):
                if i % 25 == 0:
                    peak = max(peak, process.memory_info().rss)
            finished = time.perf_counter()
            peak = max(peak, process.memory_info().rss)
            cache = seq.cache_info()
            mismatches = sum(not np.array_equal(seq[i], pattern.frame(i)) for i in range(frames))
            sheet = write_montage(seq, output)
    rate = frames / max(finished - opened, 1e-9)
    print(f"Opened in {(opened - started) * 1e3:.2f} ms (frame table: {seq.offset_table})")
    print(
        f"Streamed {frames} frames in {finished - opened:.3f} s: {rate:,.0f} frames/s, "
        f"{rate * size * size * 2 / MIB:,.0f} MiB/s"
    )
    print(
        f"Memory: peak {peak / MIB:.0f} MiB resident while streaming; cache "
        f"{cache.current_bytes / MIB:.1f} of {cache.max_bytes / MIB:.0f} MiB, "
        f"{cache.evictions} evictions"
    )
    if mismatches:
        raise CommandError(f"{mismatches} frames differ from what was written")
    print(f"Checked: all {frames} frames match what was written.")
    print(
        f"Montage of {len(sheet.shown)} frames ({sheet.size[0]}x{sheet.size[1]} px, windowed at "
        f"{WINDOW[0]:g}/{WINDOW[1]:g}) written to {output.resolve()}"
    )
    return 0
