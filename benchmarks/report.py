"""Run the benchmarks and write their ratios into docs/benchmarks.md.

Usage (from the repository root)::

    python benchmarks/report.py            # runs pytest-benchmark, rewrites the page
    python benchmarks/report.py --json F   # rewrites the page from a saved run

Each benchmark group holds lazydcm and its contenders measured in the same run;
the page lists the median time of each and the ratio to lazydcm, and checks the
targets the issues set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"

#: (issue, group, contender, "faster"|"within"|"within a share", factor): lazydcm
#: must be `factor` times faster than the contender, within `factor` times its
#: time, or within `factor` times its time divided among the machine's cores.
TARGETS = [
    (2, "native random access", "pydicom", "faster", 3.0),
    (2, "native random access", "highdicom", "faster", 1.5),
    (2, "native random access", "memmap_copy_floor", "within", 1.33),
    (2, "native random access", "pread_floor", "within", 1.33),
    (3, "open + last frame, 20,000 JPEG frames, empty BOT", "pydicom", "faster", 4.0),
    (3, "open + last frame, 20,000 JPEG frames, empty BOT", "highdicom", "faster", 5.0),
    (3, "open + last frame, 20,000 JPEG frames, BOT", "pydicom", "faster", 1.0),
    (3, "open + last frame, 20,000 JPEG frames, BOT", "highdicom", "faster", 1.0),
    (4, "open + frame 0, 5,000-item", "pydicom", "faster", 20.0),
    (4, "request: open + one random frame", "pydicom", "faster", 50.0),
    (4, "parallel iteration", "pydicom", "faster", 1.6),
    (4, "parallel iteration", "lazydcm_serial", "within a share", 1.15),
    (6, "ybr to rgb 800x600", "pillow", "faster", 1.0),
    (6, "ybr to rgb 800x600", "pydicom", "faster", 2.0),
]


NOTES = """## Notes

- **The two floors of native random access.**  The `numpy.memmap` copy keeps every
  page it has touched mapped: after the run its process holds the whole 500 MiB
  file resident.  lazydcm must not (its memory is bounded whatever the file size),
  so it reads a frame with `pread`, and the kernel's copy out of the page cache is
  slower than a user-space `memcpy` from pages already mapped: measured in C on
  this machine, 70 µs against 45-56 µs for 512 KiB (1.25-1.55x).  Mapping the
  frame and releasing its pages after the copy (`madvise(MADV_DONTNEED)`, with or
  without `MADV_POPULATE_READ` first) measured 82-100 µs, slower than `pread`.
  `pread_floor` is therefore the physical floor of a bounded-memory reader, and
  lazydcm's overhead over it is about 4 µs a frame.  Against the memmap floor
  the ratio moved between 1.28x and 1.52x over seven runs on 2026-11-24 (median
  1.37x; 1.46x and 1.31x in the last two): the 1.33x target of issue 2 is not met
  reliably; against the `pread` floor it was 1.02x-1.07x.
- **Memory (issue 4).**  `tests/test_memory.py` iterates every frame of a 1.5 GB
  native file (3,000 x 512x512 uint16) in a fresh process and reads `VmHWM`: with
  `cache_bytes=64 MiB` the peak grows by the cache and a few MiB (+65.4 MiB
  measured, bound 64 + 48 MiB); with `cache_bytes=0` by +1.4 MiB, against +1.6 MiB
  for `pydicom.pixels.iter_pixels` (bound: pydicom's + 16 MiB).  Frames are read
  with `pread`, so the file's pages are never mapped into the process while
  frames are read; mapping them and releasing them with `madvise` measured slower
  (see the first note).
- **Parallel iteration (issue 4).**  pylibjpeg's codecs hold the GIL, so
  `workers=2` decodes in two worker processes that open the file by path and
  return frames through a shared-memory ring (311 µs a frame of transport against
  1,116 µs pickled: see `lazydcm/parallel/__init__.py`).  On an idle machine the
  ratio to serial/2 was 1.06-1.11x; it needs both cores, and a run that shares
  them with other work is slower in proportion.
- **Opening a 5,000-item Per-Frame Functional Groups Sequence (issue 4).**  The
  header walk reads each element header once, and an item whose element headers
  are byte for byte those of an item before it is skipped in one comparison
  (`lazydcm/header/walker.py`, `_Layout`): 10 ms instead of 45 ms for this file.  Files
  whose items differ in layout (varying value lengths) are walked header by
  header, at about 0.35 µs a header.  Each round empties the process-wide index
  cache first; with it warm, opening again takes 0.05-0.09 ms.
- **YBR_FULL -> RGB (issue 6).**  8-bit frames are converted in blocks of 16,384
  pixels in float32 (`lazydcm/pixels/color.py`), within 1 of pydicom for every one of
  the 2**24 inputs; Pillow's C conversion is the reference.
- **Noise.**  This is a 2-core virtual machine on a shared host: absolute times vary
  by up to 1.5x between runs (and within a run for the slow contenders); the
  ratios compare contenders measured in the same run.
"""


def run(json_path: Path) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "-q",
            "--benchmark-only", f"--benchmark-json={json_path}",
            "--benchmark-columns=min,median,mean,rounds",
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip


def _groups(results: dict[str, object]) -> dict[str, dict[str, float]]:
    groups: dict[str, dict[str, float]] = {}
    for bench in results["benchmarks"]:  # type: ignore[attr-defined]
        name = bench["name"].removeprefix("test_").split("[")[0]
        groups.setdefault(bench["group"], {})[name] = bench["stats"]["median"]
    return groups


def _fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def write(results: dict[str, object]) -> str:
    groups = _groups(results)
    machine = results.get("machine_info", {})
    lines = [
        "# Benchmarks",
        "",
        "Measured with pytest-benchmark, lazydcm side by side with pydicom and highdicom",
        "in the same run, on files the benchmarks build themselves (`benchmarks/`).",
        "Times are medians; a ratio is the contender's time over lazydcm's (above 1:",
        "lazydcm is faster).  Reproduce with `python benchmarks/report.py`.",
        "",
        f"Run on {date.today().isoformat()}: {machine.get('cpu', {}).get('brand_raw', '?')}, "  # type: ignore[union-attr]
        f"Python {platform.python_version()}, {platform.system()}.",
        "",
    ]
    for group, times in groups.items():
        lazy = times.get("lazydcm")
        lines += [f"## {group}", "", "| contender | median | ratio to lazydcm |", "|---|---|---|"]
        for name, seconds in sorted(times.items(), key=lambda kv: kv[1]):
            ratio = f"{seconds / lazy:.2f}" if lazy else "-"
            lines.append(f"| {name} | {_fmt(seconds)} | {ratio} |")
        lines.append("")
    lines += [
        "## Targets",
        "",
        "| issue | group | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    notes = NOTES
    for issue, prefix, contender, kind, factor in TARGETS:
        match = next((g for g in groups if g.startswith(prefix)), None)
        if match is None or contender not in groups[match] or "lazydcm" not in groups[match]:
            continue
        ratio = groups[match][contender] / groups[match]["lazydcm"]
        if kind == "faster":
            target, met = f"≥ {factor}x faster than {contender}", ratio >= factor
            measured = f"{ratio:.2f}x"
        elif kind == "within a share":
            cores = os.cpu_count() or 1
            share = ratio / cores  # lazydcm's time over (the contender's / cores)
            target, met = f"within {factor}x of {contender} / {cores} cores", 1 / share <= factor
            measured = f"{1 / share:.2f}x its share"
        else:
            target, met = f"within {factor}x of {contender}", 1 / ratio <= factor
            measured = f"{1 / ratio:.2f}x its time"
        verdict = "yes" if met else "NO"
        lines.append(f"| #{issue} | {match} | {target} | {measured} | {verdict} |")
    return "\n".join([*lines, "", notes]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="use a saved pytest-benchmark JSON run")
    args = parser.parse_args()
    json_path = args.json
    if json_path is None:
        json_path = Path(tempfile.mkdtemp()) / "benchmarks.json"
        run(json_path)
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(write(json.loads(json_path.read_text())))
    print(PAGE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
