"""Reading the frames a command shows or writes, past those a damaged file lacks.

A file cut short holds fewer frames than its header declares, and a damaged
codestream fails to decode; the other frames are still readable (see
docs/robustness.md).  :func:`frames_or_errors` gives each frame asked for, or
the error that frame raised, and goes on with the next: a command writes what
there is, then :func:`report_skipped` names the frames it skipped, and the
command exits with status 1.  Errors about the whole file (not DICOM, no decoder)
are raised as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from lazydcm.cli.display import error_message
from lazydcm.errors import DecodeError, FrameIndexError, LazyDcmError, TruncatedFileError
from lazydcm.sequence import FrameSequence

__all__ = [
    "FRAME_ERRORS",
    "Skipped",
    "frame_list",
    "frames_or_errors",
    "report_skipped",
    "skipped_frame",
]

#: What reading one frame raises when that frame, not the file, is at fault: the
#: file lacks it (cut short, or fewer fragments than frames) or its codec failed.
FRAME_ERRORS = (TruncatedFileError, FrameIndexError, DecodeError)

#: Skipped frames whose errors are printed one by one; the others are counted.
LISTED_ERRORS = 3

#: Runs of frame numbers written out in a list of frames; the others are counted.
LISTED_RUNS = 10


@dataclass(frozen=True)
class Skipped:
    """A frame a command could not read, and why (the error's message)."""

    index: int
    reason: str


def frames_or_errors(
    seq: FrameSequence, indices: Sequence[int]
) -> Iterator[tuple[int, np.ndarray | LazyDcmError]]:
    """``(i, frame)`` for each frame number `i` of `indices`, in order.

    A frame that cannot be read comes as ``(i, error)`` and the frames after it
    are read still, decoded ahead as :meth:`~lazydcm.FrameSequence.iter_frames`
    does; errors about the whole file propagate.
    """
    done = 0
    # Each pass reads at least one frame or yields one error: at most one pass
    # per frame.
    while done < len(indices):
        try:
            for frame in seq.iter_frames(indices[done:]):
                yield indices[done], frame
                done += 1
        except FRAME_ERRORS as exc:  # noqa: PERF203 (a pass per failed frame, not per frame)
            # Frames come in the order asked for, so the one that failed is the next.
            yield indices[done], exc
            done += 1


def frame_list(numbers: Sequence[int]) -> str:
    """`numbers` as a short list: runs of consecutive numbers as ``first-last``."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:LISTED_RUNS]]
    if len(runs) > LISTED_RUNS:
        rest = sum(b - a + 1 for a, b in runs[LISTED_RUNS:])
        shown.append(f"and {rest} more")
    return ", ".join(shown)


def report_skipped(path: str, skipped: Sequence[Skipped], asked: int, what: str) -> None:
    """Print on stderr why frames of `path` were skipped, then which ones.

    `asked` is how many frames the command was asked for, and `what` what it did
    with the others ("exported", "shown").
    """
    for item in skipped[:LISTED_ERRORS]:
        print(f"lazydcm: error: {item.reason}", file=sys.stderr)
    numbers = [item.index for item in skipped]
    print(
        f"lazydcm: error: {path}: {len(skipped)} of the {asked} frames asked for could not be "
        f"read and were not {what}: {frame_list(numbers)}",
        file=sys.stderr,
    )


def skipped_frame(path: str | None, index: int, exc: LazyDcmError) -> Skipped:
    """Frame `index` of the file `path`, skipped for `exc`, its reason naming both."""
    message = error_message(exc, path)
    if f"frame {index}" not in message:
        named = "" if path is None else f"{path}: "
        message = f"{named}frame {index}: {message.removeprefix(named)}"
    return Skipped(index, message)
