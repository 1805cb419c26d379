"""``lazydcm info FILE...``: what each file holds, and what is wrong with it.

For each file: the transfer syntax (name and UID), frames, frame shape and dtype,
photometric interpretation (stored and returned), how the frame table was built
and how many fragments the encapsulated data holds, the file size and the pixel
bytes (stored and decoded), the problems found (the
:class:`~lazydcm.LazyDcmWarning` raised while opening and indexing, and frames
the header promises but the file lacks), and the ``overrides=`` that would make
the header match the pixel data.  A table by default; ``--json`` prints one JSON
document (an object, or a list of them for several files).

A file that cannot be read is reported (on stderr, and as ``{"file", "error"}``
in JSON) and the others are still described; the status is then 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

from lazydcm.cli.display import error_message
from lazydcm.errors import FrameIndexError, LazyDcmError, LazyDcmWarning, TruncatedFileError
from lazydcm.sequence import FrameSequence
from lazydcm.uids import lookup

__all__ = ["add_parser", "describe", "run"]


def add_parser(commands: Any) -> None:
    """Add the ``info`` command to the subparsers `commands`."""
    parser = commands.add_parser("info", help="describe DICOM files")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Describe ``args.files``; 1 if one of them could not be read."""
    reports = [_describe_or_fail(path) for path in args.files]
    if args.json:
        document: Any = reports[0] if len(reports) == 1 else reports
        print(json.dumps(document, indent=2, default=_plain))
    else:
        for report in reports:
            if "error" not in report:
                print(_table(report))
    return 1 if any("error" in report for report in reports) else 0


def _describe_or_fail(path: str) -> dict[str, Any]:
    """What `path` holds, or why it cannot be read (also printed on stderr)."""
    try:
        return describe(path)
    except (LazyDcmError, OSError) as exc:
        message = error_message(exc, path)
        print(f"lazydcm: error: {message}", file=sys.stderr)
        return {"file": path, "error": message}


def describe(path: str) -> dict[str, Any]:
    """What `path` holds, as JSON-ready values."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LazyDcmWarning)
        with FrameSequence(path, cache_bytes=0) as seq:
            fragments, stored, missing = _storage(seq)
            suggested = seq.suggest_overrides()
            ts = lookup(seq.info.transfer_syntax_uid)
            report: dict[str, Any] = {
                "file": path,
                "transfer_syntax": {"name": ts.name, "uid": ts.uid},
                "frames": len(seq),
                "number_of_frames": seq.info.number_of_frames,
                "frame_shape": list(seq.frame_shape),
                "dtype": str(seq.dtype),
                "photometric_interpretation": seq.info.photometric_interpretation,
                "returned_photometric_interpretation": seq.photometric_interpretation,
                "bits_allocated": seq.info.bits_allocated,
                "bits_stored": seq.info.bits_stored,
                "offset_table": seq.offset_table,
                "fragments": fragments,
                "decoder": seq.decoder,
                "file_size": os.path.getsize(path),
                "stored_pixel_bytes": stored,
                "decoded_pixel_bytes": seq.nbytes,
            }
    problems = [str(w.message) for w in caught if issubclass(w.category, LazyDcmWarning)]
    report["problems"] = [*problems, *missing]
    report["suggested_overrides"] = suggested
    return report


def _plain(value: Any) -> Any:
    """A NumPy scalar or array in a suggested override, as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _storage(seq: FrameSequence) -> tuple[int | None, int, list[str]]:
    """Fragments (None for native data), stored pixel bytes, and missing-frame problems.

    Walks the item headers of each frame (never the pixel bytes), which also checks
    a Basic or Extended Offset Table entry by entry.
    """
    fragments, stored, missing = 0, 0, []
    for i in range(len(seq)):
        try:
            _offsets, lengths = seq.stored_pieces(i)
        except (TruncatedFileError, FrameIndexError) as exc:
            missing = [str(exc)]
            break
        fragments += len(lengths)
        stored += sum(lengths)
    return (None if seq.offset_table == "native" else fragments), stored, missing


def _table(report: dict[str, Any]) -> str:
    """`report` as aligned ``key  value`` lines, then a blank line."""
    ts = report["transfer_syntax"]
    shape = tuple(report["frame_shape"])
    fragments = report["fragments"]
    rows = [
        ("file", report["file"]),
        ("transfer syntax", f"{ts['name']} ({ts['uid']})"),
        ("frames", f"{report['frames']} (Number of Frames {report['number_of_frames']})"),
        ("frame shape", f"{shape} {report['dtype']}"),
        ("stored as", report["photometric_interpretation"]),
        ("returned as", report["returned_photometric_interpretation"]),
        ("bits", f"{report['bits_stored']} stored of {report['bits_allocated']}"),
        ("offset table", report["offset_table"]),
        ("fragments", "none (native data)" if fragments is None else f"{fragments:,}"),
        ("decoder", report["decoder"]),
        ("file size", f"{report['file_size']:,} bytes"),
        (
            "pixel bytes",
            f"{report['stored_pixel_bytes']:,} stored, {report['decoded_pixel_bytes']:,} decoded",
        ),
    ]
    rows += [("problem", problem) for problem in report["problems"]]
    if report["suggested_overrides"]:
        suggested = report["suggested_overrides"]
        rows.append(("suggested fix", f"FrameSequence(path, overrides={suggested!r})"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:>{width}}  {value}" for key, value in rows) + "\n"
