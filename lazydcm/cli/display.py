"""What the commands share: optional packages, progress bars, frames made viewable.

* :func:`require` imports a package of the ``cli`` extra, or raises
  :class:`CommandError` naming the extra to install.
* :func:`error_message` is an error as the commands print it: naming the file it
  is about (a wrong argument or a missing package is about no file).
* :func:`progress` shows a tqdm bar (frames/s, ETA) on stderr when stderr is a
  terminal, and nothing when it is piped or redirected.
* :func:`display_frame` turns a frame into unsigned 8- or 16-bit values for a
  screen or a PNG.  Grey frames go through the modality LUT, then the VOI LUT or
  window of the header (the grayscale pipeline of PS3.4 N.2), or, when the header
  has none, the frame's own minimum to maximum; MONOCHROME1 is inverted, its
  minimum being white (PS3.3 C.7.6.3.1.2).  A Presentation LUT Shape in an
  image's header only says that again (the DX and MG image modules require
  INVERSE with MONOCHROME1, IDENTITY with MONOCHROME2), so it is not applied on
  top.  Colour frames come out as RGB, PALETTE COLOR through its palette.

Nothing here is imported by ``import lazydcm``; the packages of the ``cli`` extra
(tqdm, Pillow, tifffile, psutil) are imported when a command needs them.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import TypeVar

import numpy as np

from lazydcm.sequence import FrameSequence

__all__ = [
    "CLI_EXTRA",
    "CommandError",
    "DisplayError",
    "display_frame",
    "error_message",
    "progress",
    "require",
    "shows_progress",
]

#: What installs the packages the commands use.
CLI_EXTRA = 'pip install "lazydcm[cli]"'

# The distribution that provides a module, where the names differ.
_DISTRIBUTIONS = {"PIL": "Pillow"}

# Modality values far outside any real range: the VOI transform maps them to the
# ends of its output range, or returns them unchanged when the header has no VOI.
_PROBE = np.array([-(1 << 40), 1 << 40], dtype=np.int64)

_GREY = ("MONOCHROME1", "MONOCHROME2")

T = TypeVar("T")


class CommandError(Exception):
    """A wrong argument or a missing package: the command prints it as one line."""


class DisplayError(CommandError):
    """A file's frames cannot be made viewable (a missing palette, an odd colour space)."""


def error_message(exc: BaseException, path: str | None) -> str:
    """What `exc`, raised while working on the file `path`, says, naming the file.

    A :class:`CommandError` (other than a :class:`DisplayError`) is about the
    command line, not the file, and is left as it is; so is a message that
    starts with the file already.  An ``OSError`` names the file it is about,
    which may be an output file.
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    message = str(exc)
    about_the_arguments = isinstance(exc, CommandError) and not isinstance(exc, DisplayError)
    if path is None or about_the_arguments or message.startswith(f"{path}:"):
        return message
    return f"{path}: {message}"


def require(module: str) -> ModuleType:
    """Import `module`, one of the ``cli`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        name = _DISTRIBUTIONS.get(top, top)
        raise CommandError(
            f"this command needs {name}, which is not installed: {CLI_EXTRA}"
        ) from exc


def shows_progress() -> bool:
    """True when a progress bar has somewhere to go: stderr is a terminal."""
    stream = sys.stderr
    return stream is not None and stream.isatty()


def progress(items: Iterable[T], *, total: int, desc: str) -> Iterator[T]:
    """`items`, with a progress bar in frames/s and time left when stderr is a terminal."""
    if not shows_progress():
        yield from items
        return
    tqdm = require("tqdm").tqdm
    size = {} if _sized_terminal() else {"ncols": 80, "nrows": 24}
    yield from tqdm(items, total=total, desc=desc, unit="frame", file=sys.stderr, **size)


def _sized_terminal() -> bool:
    """True when stderr's terminal reports its size, as tqdm needs to draw.

    A pseudo-terminal without a size (``docker exec -t``, ``script``) says 0
    by 0, and tqdm would then draw nothing.
    """
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):  # no descriptor, or not a terminal's
        return False
    return size.columns > 0 and size.lines > 0


def display_frame(
    frame: np.ndarray, frames: FrameSequence, index: int, bits: int = 8
) -> np.ndarray:
    """Frame `index` of `frames` (the array `frame`) as unsigned `bits`-bit display values.

    Returns ``(rows, columns)`` for grey frames and ``(rows, columns, 3)`` RGB for
    colour ones (PALETTE COLOR through its palette; RGBA when the palette has an
    alpha table), ``uint8`` for 8 bits and ``uint16`` for 16.
    """
    if bits not in (8, 16):
        raise CommandError(f"display values have 8 or 16 bits, not {bits}")
    pi = frames.photometric_interpretation
    try:
        if pi in _GREY and frame.ndim == 2:
            levels = _grey_levels(frame, frames, index)
            if pi == "MONOCHROME1":
                levels = 1.0 - levels
        else:
            levels = _rgb_levels(frame, frames)
    except NotImplementedError as exc:  # a LUT the processing functions do not support
        raise DisplayError(f"frame {index} cannot be shown: {exc}") from exc
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    shown: np.ndarray = np.rint(levels * top).astype(dtype)
    return shown


def _grey_levels(frame: np.ndarray, frames: FrameSequence, index: int) -> np.ndarray:
    """Grey values scaled to 0..1: windowed from the header, else the frame's range."""
    from lazydcm import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(frame, frames, frame=index)
    # Where the VOI transform sends the far ends of the input is its output range
    # (for a window: y_min and y_max of PS3.3 C.11.2.1.2); this reuses the
    # header lookup of apply_voi_lut, functional groups included.
    with np.errstate(over="ignore", invalid="ignore"):
        ends = np.asarray(apply_voi_lut(_PROBE.copy(), frames, frame=index), dtype=np.float64)
    if np.array_equal(ends, _PROBE):  # no VOI LUT and no window in the header
        shown = np.asarray(values, dtype=np.float64)
        finite = shown[np.isfinite(shown)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    else:
        shown = np.asarray(apply_voi_lut(values, frames, frame=index), dtype=np.float64)
        low, high = float(ends[0]), float(ends[1])
    return _unit_range(shown, low, high)


def _rgb_levels(frame: np.ndarray, frames: FrameSequence) -> np.ndarray:
    """Colour values scaled to 0..1, as RGB."""
    pi = frames.photometric_interpretation
    if pi == "PALETTE COLOR":
        from lazydcm import apply_color_lut

        try:
            rgb = np.asarray(apply_color_lut(frame, frames))
        except ValueError as exc:  # no usable palette in the header
            raise DisplayError(f"the palette cannot be applied: {exc}") from exc
        # The palette's entries are 8 or 16 bits (PS3.3 C.7.6.3.1.5), as its dtype says.
        return _unit_range(rgb.astype(np.float64), 0.0, float(np.iinfo(rgb.dtype).max))
    if pi != "RGB" or frame.ndim != 3 or frame.shape[-1] != 3:
        raise DisplayError(
            f"{pi} frames of shape {frame.shape} cannot be shown as an image; "
            "export them with --format npy or tiff"
        )
    if frame.dtype.kind == "f":
        return _unit_range(frame.astype(np.float64), float(frame.min()), float(frame.max()))
    top = (1 << frames.info.bits_stored) - 1
    return _unit_range(frame.astype(np.float64), 0.0, float(top))


def _unit_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`values` mapped linearly from low..high to 0..1 and clipped (NaN to 0)."""
    if high == low:
        return np.zeros(values.shape, dtype=np.float64)
    scaled = (values - low) / (high - low)
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0)
