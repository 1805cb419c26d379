"""The ``lazydcm`` command.

* ``lazydcm demo`` builds a sample multi-frame file in a temporary folder (no
  download), streams every frame through :class:`~lazydcm.FrameSequence`, checks
  them, and prints frames per second and peak memory.
* ``lazydcm info FILE...`` prints what a file holds: transfer syntax, frames,
  frame shape, dtype, colour space and how the frame table was built, the
  problems found, and the ``overrides=`` that would make a header match its
  pixel data.

Errors print one line and exit with status 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from lazydcm import synth
from lazydcm.errors import LazyDcmError, LazyDcmWarning
from lazydcm.sequence import FrameSequence
from lazydcm.uids import lookup

__all__ = ["main"]


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / (1 << 20)


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


def _progress(done: int, total: int, started: float, stream: TextIO) -> None:
    if not stream.isatty():
        return
    rate = done / max(time.perf_counter() - started, 1e-9)
    eta = (total - done) / rate if rate else 0.0
    bar = "#" * (30 * done // total)
    print(
        f"\r  [{bar:<30}] {done}/{total} frames  {rate:,.0f} frames/s  ETA {eta:4.1f}s",
        end="" if done < total else "\n",
        file=stream,
        flush=True,
    )


def demo(frames: int = 600, size: int = 256, cache_mib: int = 16) -> int:
    """Build a sample cine, stream it, and report speed and memory."""
    with tempfile.TemporaryDirectory(prefix="lazydcm-demo-") as folder:
        path = Path(folder) / "cine.dcm"
        image = synth.ImagePixel(size, size, bits_stored=12, number_of_frames=frames)
        pattern = _Pattern(frames, size)
        synth.write_native(path, (pattern.frame(i) for i in range(frames)), image)
        size_mib = path.stat().st_size / (1 << 20)
        print(f"Built {path.name}: {frames} frames of {size}x{size} uint16, {size_mib:.1f} MiB")

        started = time.perf_counter()
        with FrameSequence(path, cache_bytes=cache_mib << 20) as seq:
            opened = time.perf_counter()
            for i, _frame in enumerate(seq):
                if i % 25 == 0 or i + 1 == len(seq):
                    _progress(i + 1, len(seq), opened, sys.stderr)
            finished = time.perf_counter()
            info = seq.cache_info()
            mismatches = sum(not np.array_equal(seq[i], pattern.frame(i)) for i in range(frames))
        rate = frames / (finished - opened)
        print(f"Opened in {(opened - started) * 1e3:.2f} ms (frame table: {seq.offset_table})")
        print(
            f"Streamed {frames} frames in {finished - opened:.3f} s: {rate:,.0f} frames/s, "
            f"{rate * size * size * 2 / (1 << 20):,.0f} MiB/s"
        )
        print(
            f"Cache: {info.current_bytes / (1 << 20):.1f} of {info.max_bytes / (1 << 20):.0f} MiB "
            f"used, {info.evictions} evictions; peak memory of this process "
            f"{_peak_rss_mib():.0f} MiB"
        )
        if mismatches:
            print(f"ERROR: {mismatches} frames differ from what was written", file=sys.stderr)
            return 1
        print(f"Checked: all {frames} frames match what was written.")
    return 0


def info(paths: Sequence[str]) -> int:
    """Print a summary of each file, the problems found, and overrides that fix the header."""
    for path in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LazyDcmWarning)
            seq = FrameSequence(path, cache_bytes=0)
        with seq:
            problems = [str(w.message) for w in caught if issubclass(w.category, LazyDcmWarning)]
            suggested = seq.suggest_overrides()
            ts = lookup(seq.info.transfer_syntax_uid)
            rows = [
                ("file", path),
                ("transfer syntax", f"{ts.name} ({ts.uid})"),
                ("frames", f"{len(seq)} (Number of Frames {seq.info.number_of_frames})"),
                ("frame shape", f"{seq.frame_shape} {seq.dtype}"),
                ("stored as", seq.info.photometric_interpretation),
                ("returned as", seq.photometric_interpretation),
                ("bits", f"{seq.info.bits_stored} stored of {seq.info.bits_allocated}"),
                ("offset table", seq.offset_table),
                ("decoder", seq.decoder),
                ("file size", f"{os.path.getsize(path):,} bytes"),
            ]
        rows += [("problem", problem) for problem in problems]
        if suggested:
            rows.append(("suggested fix", f"FrameSequence(path, overrides={suggested!r})"))
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            print(f"{key:>{width}}  {value}")
        print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lazydcm`` command."""
    parser = argparse.ArgumentParser(prog="lazydcm", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="build a sample file and stream it")
    run_demo.add_argument("--frames", type=int, default=600)
    run_demo.add_argument("--size", type=int, default=256)
    run_info = commands.add_parser("info", help="describe DICOM files")
    run_info.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return demo(args.frames, args.size)
        return info(args.files)
    except (LazyDcmError, OSError) as exc:
        if args.debug:
            raise
        print(f"lazydcm: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
