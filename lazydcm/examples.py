"""Sample DICOM files for trying lazydcm, as ``pydicom.examples`` offers pydicom's.

Each module attribute named in :data:`NAMES` is the path of a small file,
written on first use (nothing is downloaded) and kept for later sessions::

    import lazydcm
    from lazydcm import examples

    with lazydcm.FrameSequence(examples.cine) as frames:
        print(frames.shape)   # (60, 128, 128)

=============== ================================================================
``ct``          one CT slice, 64 x 64, signed 12 bits stored in 16, with Rescale
                Intercept -1024 (Hounsfield units) and a 40 / 400 window; native
``cine``        an X-ray angiography cine: 60 frames of 128 x 128, 12 bits stored
                in 16, a diagonal ramp moving 4 pixels a frame; native
``us``          a colour ultrasound loop: 10 frames of 64 x 64, stored as YCbCr
                (``YBR_FULL``) and RLE Lossless, with a Basic Offset Table
``mislabelled`` 2 RGB frames of 32 x 32, JPEG 2000 lossless, under a header that says
                one sample per pixel: a file whose header is wrong
``enhanced``    an Enhanced CT object of 3 frames of 32 x 32 whose window changes
                from frame to frame (functional groups), rescale and spacing
                shared; native
=============== ================================================================

Every file is built with :mod:`lazydcm.testing.synth` and the codecs lazydcm
installs (``pip install lazydcm`` is enough), so its content is the same
everywhere.  The files are kept in a folder of the user's cache:
``$LAZYDCM_EXAMPLES_DIR`` when set, else ``$XDG_CACHE_HOME/lazydcm`` (or
``~/.cache/lazydcm``) on Linux, ``~/Library/Caches/lazydcm`` on macOS and
``%LOCALAPPDATA%\\lazydcm\\Cache`` on Windows, in a subfolder named after
:data:`REVISION`.  Each is written to a temporary name in that folder and
renamed into place, so processes that ask for the same example at once each
see a complete file.  Nothing here is imported by ``import lazydcm``.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["NAMES", "REVISION", "folder", "get_path"]

#: The examples, by attribute name.
NAMES = ("ct", "cine", "us", "mislabelled", "enhanced")

#: Bumped whenever a builder changes what it writes, so that files from an
#: older lazydcm are not used (they stay in their own subfolder).
REVISION = 1

#: The environment variable that names the folder to keep the examples in.
FOLDER_VARIABLE = "LAZYDCM_EXAMPLES_DIR"


def folder() -> Path:
    """The folder the example files are kept in (see the module docstring); not created."""
    chosen = os.environ.get(FOLDER_VARIABLE)
    if chosen:
        return Path(chosen).expanduser() / f"examples-{REVISION}"
    return _user_cache() / "lazydcm" / f"examples-{REVISION}"


def get_path(name: str) -> Path:
    """The path of the example file `name` (one of :data:`NAMES`), written if not there yet.

    Raises
    ------
    ValueError
        When `name` is not one of :data:`NAMES`.
    OSError
        When the file cannot be written; the message names the folder and
        ``LAZYDCM_EXAMPLES_DIR``, which chooses another.
    """
    if name not in NAMES:
        raise ValueError(f"there is no example called {name!r}; there are {', '.join(NAMES)}")
    path = folder() / f"{name}.dcm"
    if not path.is_file():
        _write(path, _BUILDERS[name])
    return path


def __getattr__(name: str) -> Path:
    # PEP 562: `examples.ct` is get_path("ct"); other names are not attributes.
    if name in NAMES:
        return get_path(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *NAMES])


def _user_cache() -> Path:
    """The platform's folder for a user's cached files."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG Base Directory Specification ignores a relative path.
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def _write(path: Path, build: Callable[[Path], None]) -> None:
    """Build the file `path` under a temporary name in its folder, then rename it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            build(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot write the example {path.name} in {path.parent}: {exc.strerror}; "
            f"set {FOLDER_VARIABLE} to a folder that can be written",
        ) from exc


# -- the builders ---------------------------------------------------------------------
# Each writes one file to the path given, from arrays computed here (no randomness
# that depends on the platform), with lazydcm.testing.synth.

# Window Center and Width (PS3.3 C.11.2), Rescale Intercept, Slope and Type (C.11.1).
_WINDOW_CENTER, _WINDOW_WIDTH = 0x00281050, 0x00281051
_INTERCEPT, _SLOPE, _RESCALE_TYPE = 0x00281052, 0x00281053, 0x00281054
_MODALITY = 0x00080060


def _ct(path: Path) -> None:
    from lazydcm.testing import synth

    y, x = np.mgrid[0:64, 0:64]
    # Stored 0 to 2036 from the centre out: -1024 to 1012 HU after the rescale.
    ct = (np.hypot(x - 32, y - 32) * 45).astype(np.int16)
    image = synth.ImagePixel(64, 64, bits_stored=12, pixel_representation=1)
    extra = [
        (_MODALITY, "CS", "CT"),
        (_WINDOW_CENTER, "DS", "40"),
        (_WINDOW_WIDTH, "DS", "400"),
        (_INTERCEPT, "DS", "-1024"),
        (_SLOPE, "DS", "1"),
        (_RESCALE_TYPE, "LO", "HU"),
    ]
    synth.write_native(path, ct[None], image, extra=extra)


def _cine(path: Path) -> None:
    from lazydcm.testing import synth

    t = np.arange(60)[:, None, None]
    y, x = np.mgrid[0:128, 0:128]
    cine = ((x + y + 4 * t) % 256 * 16 + 1).astype(np.uint16)  # 1 to 4081
    image = synth.ImagePixel(128, 128, bits_stored=12, number_of_frames=60)
    frame_time = (0x00181063, "DS", "33.3")  # Frame Time, ms: 30 frames a second
    synth.write_native(path, cine, image, extra=[(_MODALITY, "CS", "XA"), frame_time])


def _us(path: Path) -> None:
    from rle.utils import encode_pixel_data

    from lazydcm.processing import convert_color_space
    from lazydcm.testing import synth
    from lazydcm.uids import RLE_LOSSLESS

    ramp = np.arange(64)
    frames = []
    for i in range(10):
        rgb = np.zeros((64, 64, 3), np.uint8)
        rgb[..., 0] = (ramp * 4 + i * 8) % 256
        rgb[..., 1] = 128
        rgb[..., 2] = 255 - ramp[:, None] * 4
        ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
        frames.append(
            encode_pixel_data(
                ybr.tobytes(),
                byteorder="<",
                rows=64,
                columns=64,
                samples_per_pixel=3,
                bits_allocated=8,
            )
        )
    image = synth.ImagePixel(
        64,
        64,
        3,
        bits_allocated=8,
        number_of_frames=10,
        photometric_interpretation="YBR_FULL",
        planar_configuration=0,
    )
    modality = [(_MODALITY, "CS", "US")]
    synth.write_encapsulated(
        path, frames, image, transfer_syntax_uid=RLE_LOSSLESS, bot="full", extra=modality
    )


def _mislabelled(path: Path) -> None:
    from openjpeg.utils import encode_array

    from lazydcm.testing import synth
    from lazydcm.uids import J2K_LOSSLESS

    rgb = (np.arange(32 * 32 * 3).reshape(32, 32, 3) * 7 % 256).astype(np.uint8)
    stream = encode_array(rgb, photometric_interpretation=1, use_mct=False)
    # The header says one sample per pixel; the codestream holds three.
    image = synth.ImagePixel(32, 32, bits_allocated=8, number_of_frames=2)
    synth.write_encapsulated(path, [stream, stream], image, transfer_syntax_uid=J2K_LOSSLESS)


def _enhanced(path: Path) -> None:
    from lazydcm.testing import synth

    element, sequence = synth.encode_element, synth.encode_sequence
    rescale: list[tuple[int, str, float | str]] = [
        (_INTERCEPT, "DS", -1024),
        (_SLOPE, "DS", 1),
        (_RESCALE_TYPE, "LO", "HU"),
    ]
    pixel_measures = sequence(0x00289110, [element(0x00280030, "DS", [0.5, 0.5])])
    value_transformation = sequence(0x00289145, [b"".join(element(*e) for e in rescale)])
    windows = [(40, 400), (300, 1500), (-600, 1200)]
    frame_voi = [
        sequence(0x00289132, [element(_WINDOW_CENTER, "DS", c) + element(_WINDOW_WIDTH, "DS", w)])
        for c, w in windows
    ]
    groups = [
        sequence(0x52009229, [pixel_measures + value_transformation]),  # Shared Functional Groups
        sequence(0x52009230, frame_voi),  # Per-Frame Functional Groups
    ]
    volume = (np.arange(3 * 32 * 32).reshape(3, 32, 32) % 2000).astype(np.int16)
    image = synth.ImagePixel(32, 32, pixel_representation=1, number_of_frames=3)
    synth.write_native(path, volume, image, extra=[(_MODALITY, "CS", "CT"), *groups])


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "ct": _ct,
    "cine": _cine,
    "us": _us,
    "mislabelled": _mislabelled,
    "enhanced": _enhanced,
}
