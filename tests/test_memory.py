"""Bounded memory: iterating a 1.5 GB file raises the peak resident set by the cache
budget and a little more, whatever the file size (measured in child processes).

The peak is ``VmHWM`` of ``/proc/self/status``, read after the imports and again
after iterating every frame; each run is a fresh process, so the peaks do not mix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lazydcm.testing import synth

MIB = 1 << 20
FRAMES = 3000  # x 512 x 512 uint16 = 1.5 GiB

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs Linux's /proc/self/status"
)

_RUN = """
import json, sys

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

kind, path, cache = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy
if kind == "lazydcm":
    import lazydcm
    before = peak()
    total = 0
    with lazydcm.FrameSequence(path, cache_bytes=cache) as frames:
        for frame in frames:
            total += int(frame[0, 0])
else:
    from pydicom.pixels import iter_pixels
    before = peak()
    total = 0
    for frame in iter_pixels(path):
        total += int(frame[0, 0])
print(json.dumps({"before": before, "after": peak(), "checksum": total}))
"""


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "big.dcm"
    image = synth.ImagePixel(512, 512, number_of_frames=FRAMES)
    frame = np.arange(512 * 512, dtype=np.uint16).reshape(512, 512)
    synth.write_native(path, (frame + i for i in range(FRAMES)), image)
    return path


def _peak_increase(kind: str, path: Path, cache: int = 0) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-c", _RUN, kind, str(path), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    values = json.loads(result.stdout)
    return values["after"] - values["before"], values["checksum"]


@pytest.mark.slow
def test_iterating_with_a_64_mib_cache_stays_within_the_cache_and_48_mib(big_file: Path) -> None:
    increase, checksum = _peak_increase("lazydcm", big_file, 64 * MIB)

    assert checksum == sum(range(FRAMES))  # every frame was read, and read right
    assert increase <= 64 * MIB + 48 * MIB, f"peak rose by {increase / MIB:.1f} MiB"


@pytest.mark.slow
def test_iterating_without_a_cache_needs_no_more_than_pydicom_and_16_mib(big_file: Path) -> None:
    ours, checksum = _peak_increase("lazydcm", big_file, 0)
    theirs, their_checksum = _peak_increase("pydicom", big_file)

    assert checksum == their_checksum == sum(range(FRAMES))
    assert ours <= theirs + 16 * MIB, (
        f"lazydcm's peak rose by {ours / MIB:.1f} MiB, pydicom's by {theirs / MIB:.1f} MiB"
    )
