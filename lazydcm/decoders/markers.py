"""Codestream headers, and what pydicom 3 makes of them, shared by the codec backends.

Contract: pure functions of an encoded frame's bytes and the file's
:class:`~lazydcm.decoders.FrameSpec`; no codec library is imported here.

* :func:`jpeg_info` parses a JPEG (ISO/IEC 10918-1) or JPEG-LS (ISO/IEC 14495-1)
  header up to its SOF (and, for JPEG-LS, its first SOS) segment;
  :func:`j2k_info` reads the image size, the component count and the first
  component's precision and signedness from a JPEG 2000 SIZ segment (ISO/IEC
  15444-1 A.5.1).  Both reproduce pydicom's
  ``_get_jpg_parameters`` and ``get_j2k_parameters``, failure modes included:
  they return None wherever pydicom's parser gives up (pydicom then falls back
  on the header's values, and so do the backends), and never loop forever.
* :func:`jpeg_photometric` is pydicom's ``_conform_jpg_colorspace``: what the
  component IDs and a JFIF APP0 segment say about the decoded colour space.
* :func:`container` is the dtype pydicom reads a codec's output with: an
  itemsize from the codestream precision, the signedness of Pixel
  Representation (the pipeline then casts it to the frame's dtype, so a signed
  8-bit container sign-extends into int16, as in pydicom).
* :func:`check_codestream` compares what a codestream header says it will
  produce -- rows, columns, components, precision -- with the file's header
  *before* the codec runs, so a hostile codestream never makes a codec allocate
  what the header does not describe; :func:`call_codec` runs a codec and turns
  anything it raises -- Rust panics (``BaseException`` subclasses) included --
  into :class:`DecodeError`; :func:`check_size` rejects output of the wrong size
  before it is reshaped.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from lazydcm.decoders.base import FrameSpec
from lazydcm.errors import DecodeError, LazyDcmWarning
from lazydcm.uids import (
    J2K_SYNTAXES,
    JPEG_BASELINE,
    JPEG_SYNTAXES,
    JPEG_XL_JPEG_RECOMPRESSION,
)

__all__ = [
    "J2kInfo",
    "JpegInfo",
    "call_codec",
    "check_codestream",
    "check_j2k",
    "check_jpeg",
    "check_size",
    "container",
    "decoded_photometric",
    "j2k_info",
    "jpeg_info",
    "jpeg_photometric",
    "needs_codestream",
]


# Start Of Frame markers: JPEG SOF0-SOF15 less DHT (C4), JPG (C8) and DAC (CC),
# and the JPEG-LS SOF55 (F7) -- the set pydicom stops at.
_SOF = frozenset({*range(0xFFC0, 0xFFD0)} - {0xFFC4, 0xFFC8, 0xFFCC} | {0xFFF7})
_SOF_LS = 0xFFF7
_SOS = 0xFFDA
_APP = range(0xFFE0, 0xFFF0)


@dataclass(frozen=True)
class JpegInfo:
    """The SOF (and JPEG-LS SOS) parameters of a JPEG or JPEG-LS codestream."""

    marker: int
    precision: int
    rows: int
    columns: int
    components: int
    component_ids: tuple[int, ...]
    #: APPn marker -> segment payload (the last segment of each marker, as pydicom keeps).
    app: Mapping[int, bytes] = field(default_factory=dict)
    #: JPEG-LS only: NEAR (0 is lossless) and the interleave mode (ILV) of the first scan.
    near: int | None = None
    interleave: int | None = None


def jpeg_info(encoded: memoryview | bytes) -> JpegInfo | None:
    """Parse the header of a JPEG or JPEG-LS codestream; None where pydicom gives up.

    Segments are skipped by their length fields up to the first SOF marker (APP
    segments are kept, PS3.5 8.2.1 and the JFIF specification); nothing before
    the SOF is otherwise validated, exactly as pydicom does.  Every read is
    bounds-checked: a codestream cut short inside what is read gives None.  (This
    runs before every JPEG frame is decoded: it reads bytes inline rather than
    through helpers.)
    """
    buf = memoryview(encoded).cast("B")
    n = len(buf)
    if n < 2 or buf[0] != 0xFF or buf[1] != 0xD8:  # SOI
        return None
    offset = 2
    app: dict[int, bytes] = {}
    while True:
        if offset + 4 > n:  # no marker and length here: pydicom gives up
            return None
        marker = buf[offset] << 8 | buf[offset + 1]
        if marker in _SOF:
            break
        length = buf[offset + 2] << 8 | buf[offset + 3]
        if marker in _APP:
            app[marker] = bytes(buf[offset + 4 : offset + 2 + length])
        offset += length + 2
    offset += 2  # the SOF length field
    if offset + 8 > n:
        return None
    precision = buf[offset + 2]
    rows = buf[offset + 3] << 8 | buf[offset + 4]
    columns = buf[offset + 5] << 8 | buf[offset + 6]
    components = buf[offset + 7]
    offset += 8
    if offset + 3 * (components - 1) >= n and components:
        return None
    ids = tuple(buf[offset + 3 * k] for k in range(components))
    offset += 3 * components
    near = interleave = None
    if marker == _SOF_LS:
        while True:
            if offset + 4 > n:
                return None
            if buf[offset] << 8 | buf[offset + 1] == _SOS:
                break
            offset += (buf[offset + 2] << 8 | buf[offset + 3]) + 2
        if offset + 5 > n:
            return None
        offset += 5 + buf[offset + 4] * 2
        if offset + 2 > n:
            return None
        near, interleave = buf[offset], buf[offset + 1]
    return JpegInfo(marker, precision, rows, columns, components, ids, app, near, interleave)


@dataclass(frozen=True)
class J2kInfo:
    """The first component's sample format, and the image size, from a JPEG 2000 SIZ segment."""

    precision: int
    signed: bool
    #: The codestream is wrapped in a JP2 file (not conformant, PS3.5 A.4.4).
    jp2: bool = False
    #: Ysiz - YOsiz, Xsiz - XOsiz and Csiz (15444-1 A.5.1); None if the segment is cut short.
    rows: int | None = None
    columns: int | None = None
    components: int | None = None


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def j2k_info(encoded: memoryview | bytes) -> J2kInfo | None:
    """Return Ssiz of the first component (ISO/IEC 15444-1 A.5.1), or None.

    SOC must be followed at once by SIZ (15444-1 Figure A.3); a JP2 wrapper is
    walked box by box to its contiguous codestream box, as pydicom does.
    """
    buf = memoryview(encoded).cast("B")
    offset, jp2 = 0, False
    if bytes(buf[:8]) == _JP2_SIGNATURE:
        jp2, offset = True, 12
        while offset < len(buf):
            box = int.from_bytes(buf[offset : offset + 4], "big")
            if bytes(buf[offset + 4 : offset + 8]) == b"jp2c":
                offset += 8
                break
            if box < 8:
                # 0 (to the end of the file) or 1 (64-bit length) before jp2c, or
                # garbage: pydicom would loop forever or read past it.
                return None
            offset += box
    if bytes(buf[offset : offset + 4]) != b"\xff\x4f\xff\x51":  # SOC, SIZ
        return None
    if offset + 42 >= len(buf):
        return None
    ssiz = buf[offset + 42]
    # Xsiz, Ysiz, XOsiz, YOsiz (4 bytes each from byte 8 of SOC), then Csiz at 40.
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">4I", buf, offset + 8)
    components = buf[offset + 40] << 8 | buf[offset + 41]
    return J2kInfo(
        precision=(ssiz & 0x7F) + 1,
        signed=bool(ssiz & 0x80),
        jp2=jp2,
        rows=ysiz - yosiz,
        columns=xsiz - xosiz,
        components=components,
    )


def jpeg_photometric(spec: FrameSpec, info: JpegInfo | None, *, warn: bool = True) -> str:
    """The colour space of a decoded 3-sample JPEG or JPEG-LS frame, as pydicom decides it.

    Component IDs 'R', 'G', 'B' (or 'r', 'g', 'b') mean RGB; otherwise a JFIF
    APP0 segment means YCbCr (JFIF 1.02), which DICOM calls YBR_FULL_422 for
    baseline JPEG and YBR_FULL for the others.  Either overrides a header that
    says otherwise, with a :class:`~lazydcm.errors.LazyDcmWarning`.
    """
    pi = spec.photometric_interpretation
    if spec.samples_per_pixel != 3 or info is None:
        return pi
    if info.component_ids in ((82, 71, 66), (114, 103, 98)):
        if pi != "RGB" and warn:
            _warn(
                f"(0028,0004) 'Photometric Interpretation' value '{pi}' does not match "
                "the codestream's component IDs, which say 'RGB'; decoding as 'RGB'"
            )
        return "RGB"
    if "YBR" not in pi and any(payload.startswith(b"JFIF") for payload in info.app.values()):
        ybr = "YBR_FULL_422" if spec.transfer_syntax.uid == JPEG_BASELINE else "YBR_FULL"
        if warn:
            _warn(
                f"(0028,0004) 'Photometric Interpretation' value '{pi}' does not match the "
                f"codestream's JFIF APP0 segment, which says YCbCr; decoding as '{ybr}'"
            )
        return ybr
    return pi


def _warn(message: str) -> None:
    warnings.warn(message, LazyDcmWarning, stacklevel=4)


def container(precision: int, spec: FrameSpec, *, widest: int = 4) -> np.dtype[np.generic]:
    """The dtype a codec's output is read with: itemsize by precision, header signedness.

    1 byte up to 8 bits, 2 up to 16, 4 up to 32 (`widest` caps it); a precision
    outside 1..8*`widest` keeps Bits Allocated, as pydicom does.
    """
    itemsize = spec.bits_allocated // 8
    for size in (1, 2, 4):
        if size <= widest and 0 < precision <= 8 * size:
            itemsize = size
            break
    return np.dtype(f"<{'ui'[spec.pixel_representation]}{itemsize}")


_T = TypeVar("_T")
_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit)


def call_codec(what: str, spec: FrameSpec, codec: Callable[[], _T]) -> _T:
    """Run `codec`; whatever it raises becomes a DecodeError naming `what` and the syntax.

    ``BaseException`` is caught on purpose: Rust codecs raise
    ``pyo3_runtime.PanicException`` on some corrupt input.  Interrupts and exits
    pass through.
    """
    try:
        return codec()
    except _FATAL:
        raise
    except BaseException as exc:
        detail = str(exc) or type(exc).__name__
        raise DecodeError(
            f"Unable to decode a {spec.transfer_syntax} frame: {what} failed: {detail}"
        ) from exc


def check_codestream(
    spec: FrameSpec,
    what: str,
    rows: int | None,
    columns: int | None,
    components: int | None,
    precision: int | None,
) -> None:
    """Raise DecodeError when a codestream's header does not describe the header's frame.

    Called before the codec runs, with what the codestream says (the JPEG or
    JPEG-LS SOF segment, ISO/IEC 10918-1 B.2.2 and 14495-1 C.2.2; the JPEG 2000
    SIZ segment, 15444-1 A.5.1): its rows and columns must be Rows and Columns,
    its component count Samples per Pixel, and its precision must fit Bits
    Allocated.  A value the codestream does not give is None and not checked.  A
    height of 0 -- lines counted later, by a DNL segment (10918-1 B.2.5) -- is
    refused: a codec then grows the frame as long as the data lets it (libjpeg
    did, without bound, on a corrupt JPEG-LS stream the fuzzer made).

    `what` names the codestream segment in the message, e.g. "the JPEG SOF segment".
    """
    problems = []
    if rows == 0:
        problems.append(
            f"0 rows (a height given later, in a DNL segment, which lazydcm does not "
            f"decode), but (0028,0010) 'Rows' is {spec.rows}"
        )
    elif rows is not None and rows != spec.rows:
        problems.append(f"{rows} rows, but (0028,0010) 'Rows' is {spec.rows}")
    if columns is not None and columns != spec.columns:
        problems.append(f"{columns} columns, but (0028,0011) 'Columns' is {spec.columns}")
    if components is not None and components != spec.samples_per_pixel:
        problems.append(
            f"{components} components, but (0028,0002) 'Samples per Pixel' is "
            f"{spec.samples_per_pixel}"
        )
    if precision is not None and not 0 < precision <= spec.bits_allocated:
        problems.append(
            f"a precision of {precision} bits, but (0028,0100) 'Bits Allocated' is "
            f"{spec.bits_allocated}"
        )
    if problems:
        raise DecodeError(
            f"Unable to decode a {spec.transfer_syntax} frame: {what} says "
            f"{'; and '.join(problems)}; the header does not describe this codestream "
            "(the file's Image Pixel module may be wrong: see overrides=)"
        )


def check_jpeg(spec: FrameSpec, info: JpegInfo | None) -> None:
    """:func:`check_codestream` with a JPEG or JPEG-LS SOF segment (if it was parsed)."""
    if info is not None:
        segment = "the JPEG-LS SOF55 segment" if info.marker == _SOF_LS else "the JPEG SOF segment"
        check_codestream(spec, segment, info.rows, info.columns, info.components, info.precision)


def check_j2k(spec: FrameSpec, info: J2kInfo | None) -> None:
    """:func:`check_codestream` with a JPEG 2000 SIZ segment (if it was parsed)."""
    if info is not None:
        check_codestream(
            spec, "the JPEG 2000 SIZ segment", info.rows, info.columns, info.components,
            info.precision,
        )  # fmt: skip


def check_size(got: int, expected: int, what: str, spec: FrameSpec) -> None:
    """Raise DecodeError unless a codec produced exactly `expected` bytes."""
    if got != expected:
        itemsize = expected // max(spec.frame_pixels, 1)
        raise DecodeError(
            f"Unable to decode a {spec.transfer_syntax} frame: {what} produced {got} bytes "
            f"but (0028,0010) 'Rows' {spec.rows} x (0028,0011) 'Columns' {spec.columns} x "
            f"(0028,0002) 'Samples per Pixel' {spec.samples_per_pixel} samples of {itemsize} "
            f"byte(s) need {expected}"
        )


#: The colour spaces a JPEG 2000 decoder's inverse component transform gives RGB for.
_J2K_TRANSFORMED = frozenset({"YBR_ICT", "YBR_RCT"})


def needs_codestream(spec: FrameSpec) -> bool:
    """Whether the colour space frames decode to depends on the codestream (a JPEG's)."""
    return spec.transfer_syntax.uid in JPEG_SYNTAXES and spec.samples_per_pixel == 3


def decoded_photometric(spec: FrameSpec, head: bytes | None) -> str:
    """The colour space every backend decodes a frame to, as its :class:`Decoded` says.

    `head` is the start of the frame's codestream, where :func:`needs_codestream`
    (else unused): JPEG component IDs and a JFIF segment may override the header
    (:func:`jpeg_photometric`, without its warning).  JPEG 2000 decoders apply the inverse component
    transform (PS3.5 8.2.4), and JPEG XL recompression reconstructs RGB.
    """
    uid, pi = spec.transfer_syntax.uid, spec.photometric_interpretation
    if uid in J2K_SYNTAXES and pi in _J2K_TRANSFORMED:
        return "RGB"
    if uid == JPEG_XL_JPEG_RECOMPRESSION and pi.startswith("YBR"):
        return "RGB"
    if needs_codestream(spec):
        info = jpeg_info(head) if head else None
        if info is None or info.components != spec.samples_per_pixel:
            return pi  # frames that do not match the header fail to decode anyway
        # Predicted quietly: the decoder warns when it decodes the frame.
        return jpeg_photometric(spec, info, warn=False)
    return pi
