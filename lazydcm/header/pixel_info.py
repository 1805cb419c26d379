"""The Image Pixel module: its values, where the pixel element is, and their validation.

:func:`pixel_info` checks the Image Pixel module values a header walk found
(PS3.3 C.7.6.3; Number of Frames, C.7.6.6) against each other, the pixel element
and the transfer syntax, and returns them as a frozen :class:`PixelInfo`.  It
raises :class:`~lazydcm.errors.InvalidDicomError` naming the element, the value
found, what was expected and the byte offset of the element; values given in
``overrides`` are named as such.  It reads its input through the small
:class:`HeaderValues` protocol, so this module imports nothing from
:mod:`lazydcm.header` (which imports it).
"""

from __future__ import annotations

import warnings
from collections.abc import Set
from dataclasses import dataclass
from typing import Any, Protocol

from lazydcm import uids
from lazydcm.errors import InvalidDicomError, LazyDcmWarning
from lazydcm.header.tags import format_tag

__all__ = ["MAX_IS", "HeaderValues", "PixelElement", "PixelInfo", "pixel_info"]

#: The largest Integer String (PS3.5 6.2): Number of Frames cannot be more.
MAX_IS = 2**31 - 1


class HeaderValues(Protocol):
    """What :func:`pixel_info` reads: keyword -> value, and where each element was."""

    def __getitem__(self, keyword: str, /) -> Any: ...

    def __contains__(self, keyword: object, /) -> bool: ...

    def offset(self, keyword: str) -> int | None: ...


# Encapsulated syntaxes whose frames are native samples (PS3.5 A.4.11, 8.2.16).
_NATIVE_FRAMES = frozenset({uids.ENCAPSULATED_UNCOMPRESSED, uids.DEFLATED_IMAGE_FRAME})

_PHOTOMETRIC = frozenset(
    {
        "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK",
        "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT",
        "YBR_RCT", "XYB",
    }
)  # fmt: skip


@dataclass(frozen=True)
class PixelInfo:
    """The Image Pixel module as stored in the file.

    For Float and Double Float Pixel Data, which have no Bits Stored, High Bit or
    Pixel Representation (PS3.3 C.7.6.24), those read as ``bits_allocated``,
    ``bits_allocated - 1`` and 0.
    """

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    number_of_frames: int
    transfer_syntax_uid: str
    pixel_keyword: str

    @property
    def frame_pixels(self) -> int:
        """Samples in one frame: rows x columns x samples per pixel."""
        return self.rows * self.columns * self.samples_per_pixel


@dataclass(frozen=True)
class PixelElement:
    """Where the pixel element is and how it is encoded."""

    keyword: str
    tag: int
    #: The explicit VR ('OB', 'OW', ...), or None in an Implicit VR dataset.
    vr: str | None
    #: Byte offset of the element's tag, and of its value.
    offset: int
    value_offset: int
    #: The value length as written; None for undefined length (encapsulated data).
    length: int | None


def pixel_info(
    header: HeaderValues,
    pixel: PixelElement,
    ts: uids.TransferSyntax,
    name: str,
    overridden: Set[str] = frozenset(),
) -> PixelInfo:
    """Build and validate the PixelInfo (PS3.3 C.7.6.3, PS3.5 8.1.1)."""

    def where(keyword: str) -> str:
        if keyword in overridden:
            return " (given in overrides)"
        offset = header.offset(keyword)
        return f" at byte {offset}" if offset is not None else ""

    def required(keyword: str, tag: int) -> Any:
        value = _get(header, keyword)
        if value is None or (isinstance(value, (str, tuple)) and not value):
            raise InvalidDicomError(f"{name}: the required element {format_tag(tag)} is missing")
        return header[keyword]

    def integer(keyword: str, tag: int, low: int, high: int) -> int:
        value = required(keyword, tag)
        if isinstance(value, tuple):
            value = value[0]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidDicomError(
                f"{name}: {format_tag(tag)} value {value!r}{where(keyword)} is invalid; "
                f"expected an integer from {low} to {high}"
            )
        return value

    is_float = pixel.keyword != "PixelData"
    rows = integer("Rows", 0x00280010, 1, 0xFFFF)
    columns = integer("Columns", 0x00280011, 1, 0xFFFF)
    samples = integer("SamplesPerPixel", 0x00280002, 1, 0xFFFF)
    if samples not in (1, 3):
        raise InvalidDicomError(
            f"{name}: (0028,0002) 'Samples per Pixel' value {samples}{where('SamplesPerPixel')} "
            "is not supported; expected 1 or 3"
        )
    bits_allocated = integer("BitsAllocated", 0x00280100, 1, 64)
    if bits_allocated != 1 and bits_allocated % 8:
        raise InvalidDicomError(
            f"{name}: (0028,0100) 'Bits Allocated' value {bits_allocated}"
            f"{where('BitsAllocated')} is invalid; expected 1 or a multiple of 8 up to 64"
        )
    if is_float:
        expected = 32 if pixel.keyword == "FloatPixelData" else 64
        if bits_allocated != expected:
            raise InvalidDicomError(
                f"{name}: (0028,0100) 'Bits Allocated' value {bits_allocated} does not match "
                f"{format_tag(pixel.tag)}, which needs {expected}"
            )
        bits_stored, high_bit, representation = bits_allocated, bits_allocated - 1, 0
    else:
        bits_stored = integer("BitsStored", 0x00280101, 1, bits_allocated)
        high_bit = (
            integer("HighBit", 0x00280102, 0, bits_allocated - 1)
            if _get(header, "HighBit") is not None
            else bits_stored - 1
        )
        representation = integer("PixelRepresentation", 0x00280103, 0, 1)
    photometric = required("PhotometricInterpretation", 0x00280004)
    if isinstance(photometric, tuple):
        photometric = photometric[0]
    if not isinstance(photometric, str) or photometric.strip() not in _PHOTOMETRIC:
        raise InvalidDicomError(
            f"{name}: (0028,0004) 'Photometric Interpretation' value {photometric!r}"
            f"{where('PhotometricInterpretation')} is not a defined term (PS3.3 C.7.6.3.1.2)"
        )
    photometric = photometric.strip()
    planar = 0
    if samples > 1:
        if _get(header, "PlanarConfiguration") is None:
            warnings.warn(
                f"{name}: (0028,0006) 'Planar Configuration' is missing for a {samples}-sample "
                "image; assuming 0 (colour-by-pixel)",
                LazyDcmWarning,
                stacklevel=4,
            )
        else:
            planar = integer("PlanarConfiguration", 0x00280006, 0, 1)
    native_layout = ts.native or ts.uid in _NATIVE_FRAMES
    if photometric == "YBR_FULL_422" and native_layout and samples != 3:
        raise InvalidDicomError(
            f"{name}: (0028,0002) 'Samples per Pixel' value {samples}"
            f"{where('SamplesPerPixel')} does not match (0028,0004) 'Photometric "
            "Interpretation' 'YBR_FULL_422', which has 3 samples a pixel (PS3.3 C.7.6.3.1.2)"
        )
    if photometric == "YBR_FULL_422" and ts.native and columns % 2:
        raise InvalidDicomError(
            f"{name}: (0028,0011) 'Columns' value {columns}{where('Columns')} is odd, but "
            "native 'YBR_FULL_422' pixel data shares each chroma pair between two pixels of "
            "a row, so Columns must be even (PS3.3 C.7.6.3.1.2)"
        )
    frames = _number_of_frames(header, name, where("NumberOfFrames"))
    if ts.encapsulated != (pixel.length is None):
        state = "an undefined (encapsulated)" if pixel.length is None else "a defined (native)"
        raise InvalidDicomError(
            f"{name}: {format_tag(pixel.tag)} at byte {pixel.offset} has {state} length, "
            f"which does not match the transfer syntax {ts}"
        )
    return PixelInfo(
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        high_bit=high_bit,
        pixel_representation=representation,
        photometric_interpretation=photometric,
        planar_configuration=planar,
        number_of_frames=frames,
        transfer_syntax_uid=ts.uid,
        pixel_keyword=pixel.keyword,
    )


def _get(header: HeaderValues, keyword: str) -> Any:
    return header[keyword] if keyword in header else None  # noqa: SIM401 (no .get in the protocol)


def _number_of_frames(header: HeaderValues, name: str, where: str) -> int:
    """(0028,0008) Number of Frames: absent means 1; 0 or empty is taken as 1 with a warning."""
    if "NumberOfFrames" not in header:
        return 1
    value = header["NumberOfFrames"]
    if isinstance(value, tuple):  # IS is multi-valued text; only the first value counts
        value = value[0] if value else None
    if value in (None, 0):
        warnings.warn(
            f"{name}: (0028,0008) 'Number of Frames' value {value!r}{where} is invalid; "
            "assuming 1 frame",
            LazyDcmWarning,
            stacklevel=4,
        )
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_IS:
        raise InvalidDicomError(
            f"{name}: (0028,0008) 'Number of Frames' value {value!r}{where} is invalid; "
            f"expected a positive integer string of at most {MAX_IS} (PS3.5 6.2)"
        )
    return value
