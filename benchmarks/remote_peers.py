"""Requests and bytes that readers spend on DICOM frames over HTTP; prints one table.

Usage::

    python benchmarks/remote_peers.py [--latency 0.02] [--frames 20000] [--native-frames 400]

Files are built with :mod:`lazydcm.testing.synth` in a temporary folder and served by
the HTTP/1.1 range server of ``tests/remote/servers.py`` on 127.0.0.1, which
counts requests and body bytes and waits ``--latency`` seconds per request:

* native: 256x256 16-bit MONOCHROME2 frames;
* jpeg empty BOT / jpeg BOT / jpeg EOT: 64x64 8-bit JPEG Baseline frames.

Readers, each on a new ``fsspec.open(url, block_size=B).open()`` file (B =
fsspec's HTTP default, and 512 KiB as highdicom's documentation suggests):

* ``pydicom``: ``pydicom.pixels.pixel_array(f, index=i)`` per frame (frames in
  order: ``pydicom.pixels.iter_pixels(f, indices=...)``);
* ``highdicom``: ``highdicom.io.ImageFileReader(DicomFileLike(f))`` opened once,
  then ``read_frame(i)``;
* ``lazydcm file``: ``lazydcm.FrameSequence(f)[i]`` (a binary file object);
* ``RemoteSource``: the reference of what the bytes cost: open
  ``lazydcm.sources.remote.RemoteSource`` and ``read_many`` the frames' stored
  ranges (taken from the local file), no decoding.

Scenarios: open + frame 0, open + last frame, open + 20 random frames, open +
the first 100 frames in order.  "needed" is the bytes before the first frame
plus the frames' stored bytes.  Seconds are wall time on this machine: compare
them within one run only.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "remote"))

from servers import RangeServer

import lazydcm
from lazydcm.sources.remote import RemoteSource
from lazydcm.testing import synth

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
KIB = 1024


@dataclass(frozen=True)
class Built:
    name: str
    path: Path
    frames: int
    pieces: list[tuple[int, int]]  # (offset, length) of each frame's one piece
    header: int  # bytes before the first frame


def _jpeg_frames(count: int) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(5)
    streams = []
    for k in range(8):
        y, x = np.mgrid[0:64, 0:64]
        pixels = ((x * 3 + y * k) % 256).astype(np.uint8) ^ rng.integers(0, 16, (64, 64), np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(out, format="JPEG", quality=90)
        streams.append(out.getvalue())
    return [streams[i % len(streams)] for i in range(count)]


def _build(folder: Path, frames: int, native_frames: int) -> list[Built]:
    files: list[tuple[str, Path]] = []
    native = folder / "native.dcm"
    image = synth.ImagePixel(256, 256, bits_allocated=16, number_of_frames=native_frames)
    pixels = np.random.default_rng(1).integers(0, 4096, (native_frames, 256, 256), np.uint16)
    synth.write_native(native, pixels, image)
    files.append(("native", native))
    jpeg = synth.ImagePixel(64, 64, bits_allocated=8, number_of_frames=frames)
    streams = _jpeg_frames(frames)
    for name, bot, eot in (("jpeg empty BOT", "empty", False), ("jpeg BOT", "full", False),
                           ("jpeg EOT", "empty", True)):  # fmt: skip
        path = folder / (name.replace(" ", "-") + ".dcm")
        synth.write_encapsulated(
            path, streams, jpeg, transfer_syntax_uid=JPEG_BASELINE, bot=bot, eot=eot
        )  # type: ignore[arg-type]
        files.append((name, path))
    built = []
    for name, path in files:
        with lazydcm.FrameSequence(path) as seq:
            pieces = []
            for i in range(len(seq)):
                offsets, lengths = seq.stored_pieces(i)
                pieces.append((int(offsets[0]), int(lengths[0])))
        built.append(Built(name, path, len(pieces), pieces, pieces[0][0]))
    return built


def _scenarios(count: int) -> dict[str, list[int]]:
    rng = random.Random(7)
    return {
        "open + frame 0": [0],
        "open + last frame": [count - 1],
        "open + 20 random": [rng.randrange(count) for _ in range(20)],
        "open + 100 in order": list(range(min(100, count))),
    }


def _pydicom(url: str, block: int | None, indices: Sequence[int]) -> None:
    import fsspec
    import pydicom.pixels

    with fsspec.open(url, "rb", **_block(block)) as f:
        if len(indices) > 1 and list(indices) == sorted(indices):
            # In order: pydicom's iterator parses the header once.
            for _ in pydicom.pixels.iter_pixels(f, indices=indices):
                pass
        else:
            for i in indices:
                pydicom.pixels.pixel_array(f, index=i)


def _highdicom(url: str, block: int | None, indices: Sequence[int]) -> None:
    import fsspec
    import highdicom.io
    from pydicom.filebase import DicomFileLike

    with (
        fsspec.open(url, "rb", **_block(block)) as f,
        highdicom.io.ImageFileReader(DicomFileLike(f)) as reader,
    ):
        for i in indices:
            reader.read_frame(i)


def _lazydcm_file(url: str, block: int | None, indices: Sequence[int]) -> None:
    import fsspec

    with fsspec.open(url, "rb", **_block(block)) as f, lazydcm.FrameSequence(f) as frames:
        for i in indices:
            frames[i]


def _block(block: int | None) -> dict[str, int]:
    return {} if block is None else {"block_size": block}


Reader = Callable[[str, "int | None", Sequence[int]], None]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--frames", type=int, default=20_000, help="JPEG frames per file")
    parser.add_argument("--native-frames", type=int, default=400)
    parser.add_argument("--files", default="", help="comma-separated names to run (default all)")
    args = parser.parse_args(argv)
    readers: list[tuple[str, int | None, Reader | None]] = [
        ("RemoteSource", None, None),
        ("pydicom", None, _pydicom), ("pydicom", 512 * KIB, _pydicom),
        ("highdicom", None, _highdicom), ("highdicom", 512 * KIB, _highdicom),
        ("lazydcm file", None, _lazydcm_file), ("lazydcm file", 512 * KIB, _lazydcm_file),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, RangeServer(latency=args.latency) as server:
        built = _build(Path(folder), args.frames, args.native_frames)
        wanted = {name.strip() for name in args.files.split(",") if name.strip()}
        print(f"latency {args.latency * 1000:g} ms per request; fsspec HTTP default block "
              f"{_default_block() // KIB} KiB")  # fmt: skip
        print(f"{'file':16} {'reader':13} {'block':>7} {'scenario':20} {'requests':>8} "
              f"{'MB':>8} {'x needed':>9} {'seconds':>8}")  # fmt: skip
        for item in built:
            if wanted and item.name not in wanted:
                continue
            server.put(item.path.name, item.path)
            url = server.url(item.path.name)
            size_mb = item.path.stat().st_size / 1e6
            print(f"-- {item.name}: {item.frames} frames, {size_mb:.1f} MB")
            for scenario, indices in _scenarios(item.frames).items():
                needed = item.header + sum(item.pieces[i][1] for i in set(indices))
                for label, block, reader in readers:
                    server.reset_counts()
                    start = time.perf_counter()
                    error = ""
                    try:
                        if reader is None:
                            source = RemoteSource.from_url(url)
                            source.read_many([item.pieces[i] for i in indices])
                        else:
                            reader(url, block, indices)
                    except Exception as exc:  # a peer failing is a result of the table
                        error = f"  {type(exc).__name__}: {str(exc)[:60]}"
                    seconds = time.perf_counter() - start
                    block_text = "default" if block is None else f"{block // KIB}K"
                    if reader is None:
                        block_text = "-"
                    print(
                        f"{'':16} {label:13} {block_text:>7} {scenario:20} "
                        f"{server.request_count:8d} {server.bytes_sent / 1e6:8.2f} "
                        f"{server.bytes_sent / needed:9.1f} {seconds:8.2f}{error}"
                    )


def _default_block() -> int:
    from fsspec.utils import DEFAULT_BLOCK_SIZE

    return int(DEFAULT_BLOCK_SIZE)


if __name__ == "__main__":
    main()
