"""The VOI LUT and windowing (PS3.3 C.11.2), as ``pydicom.pixels``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lazydcm.errors import InvalidDicomError
from lazydcm.header.tags import format_tag
from lazydcm.processing.lookup import (
    Source,
    attributes,
    descriptor,
    little_endian,
    lut_data,
    lut_indices,
    number,
    rescale_of,
)

__all__ = ["apply_voi_lut", "apply_windowing"]


def apply_voi_lut(
    arr: np.ndarray,
    source: Source,
    *,
    index: int = 0,
    prefer_lut: bool = True,
    frame: int | None = None,
) -> np.ndarray:
    """Apply the VOI LUT or the windowing operation to `arr` (PS3.3 C.11.2).

    Parameters
    ----------
    arr : numpy.ndarray
        Modality values (after :func:`apply_modality_lut`).
    source : FrameSequence or mapping
        Where the VOI LUT module's values come from.
    index : int, optional
        Which of several VOI LUTs, or of several windows, to apply (default 0).
    prefer_lut : bool, optional
        When the module has both a (0028,3010) VOI LUT Sequence and a window,
        apply the LUT (default) rather than the window.
    frame : int, optional
        The frame `arr` is; its Frame VOI LUT functional group (PS3.3
        C.7.6.16.2.10) applies, when the file has one.  Needs a FrameSequence.

    Returns
    -------
    numpy.ndarray
        The VOI LUT's values (uint8 or uint16, as its LUT Descriptor says), or
        the windowed values (float64, :func:`apply_windowing`), or `arr`
        unchanged when the module holds neither.

    Raises
    ------
    NotImplementedError
        VOI LUT entries of fewer than 8 bits, or of 9 (PS3.3 C.8.11.3.1.5 allows 8
        and 10 to 16).
    InvalidDicomError
        A malformed LUT Descriptor (entries of more than 16 bits, for one) or LUT
        Data; the message names the sequence.
    ValueError
        As :func:`apply_windowing`, when the window is applied.
    """
    values = attributes(source, frame)
    sequence: Any = values.get("VOILUTSequence")
    valid_lut = bool(sequence) and all(
        sequence[0].get(key) is not None for key in ("LUTDescriptor", "LUTData")
    )
    valid_window = values.get("WindowCenter") is not None and values.get("WindowWidth") is not None
    if valid_lut and (prefer_lut or not valid_window):
        return _apply_voi_sequence(arr, values, index)
    if valid_window:
        return _windowing(arr, values, index)
    return arr


def _apply_voi_sequence(arr: np.ndarray, values: Mapping[str, Any], index: int) -> np.ndarray:
    """Apply item `index` of the VOI LUT Sequence (PS3.3 C.11.2.1.1)."""
    tag = format_tag(0x00283010)
    item = values["VOILUTSequence"][index]
    entries, first_map, bits = descriptor(item, tag)
    # PS3.3 C.8.11.3.1.5: 8 or 10 to 16 bits an entry.
    if bits == 8:
        dtype = "uint8"
    elif 10 <= bits <= 16:
        dtype = "uint16"
    else:
        raise NotImplementedError(
            f"'{bits}' bits per LUT entry is not supported (the third value of the "
            f"'LUT Descriptor' in item {index} of {tag})"
        )
    lut = lut_data(item, entries, dtype, little_endian(values), tag)
    return np.take(lut, lut_indices(arr, first_map, len(lut)))


def apply_windowing(
    arr: np.ndarray, source: Source, *, index: int = 0, frame: int | None = None
) -> np.ndarray:
    """Apply the window of (0028,1050) Window Center and (0028,1051) Window Width.

    The VOI LUT Function (0028,1056) chooses the transform: LINEAR (the default,
    PS3.3 C.11.2.1.2.1), LINEAR_EXACT (C.11.2.1.3.2) or SIGMOID (C.11.2.1.3.1).
    The output spans the range of the modality values: that of the Modality LUT's
    entries, else of the stored values (Bits Stored, Pixel Representation)
    rescaled by Rescale Slope and Intercept when present.

    Parameters
    ----------
    arr : numpy.ndarray
        Modality values (after :func:`apply_modality_lut`).
    source : FrameSequence or mapping
        Where the VOI LUT and Image Pixel modules' values come from.
    index : int, optional
        Which window, when Window Center and Width hold several (default 0).
    frame : int, optional
        The frame `arr` is; its Frame VOI LUT and Pixel Value Transformation
        functional groups apply, when the file has them.  Needs a FrameSequence.

    Returns
    -------
    numpy.ndarray
        float64 windowed values; `arr` unchanged when there is no window.

    Raises
    ------
    ValueError
        The image is not MONOCHROME1 or MONOCHROME2, the width is out of range
        for the function, or the function is not one of the three.
    InvalidDicomError
        Only one of Window Center and Width, or a value that is not a number,
        or no (0028,0101) Bits Stored to give the output range.
    """
    return _windowing(arr, attributes(source, frame), index)


def _windowing(arr: np.ndarray, values: Mapping[str, Any], index: int) -> np.ndarray:
    if "WindowWidth" not in values and "WindowCenter" not in values:
        return arr
    for keyword, tag in (("WindowCenter", 0x00281050), ("WindowWidth", 0x00281051)):
        if values.get(keyword) is None:
            raise InvalidDicomError(f"{format_tag(tag)} is missing or empty")
    photometric = values.get("PhotometricInterpretation")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            "When performing a windowing operation only 'MONOCHROME1' and 'MONOCHROME2' are "
            "allowed for (0028,0004) Photometric Interpretation"
        )
    function = str(values.get("VOILUTFunction", "LINEAR")).upper()
    center = number(values["WindowCenter"], 0x00281050, index)
    width = number(values["WindowWidth"], 0x00281051, index)
    y_min, y_max = _output_range(values)
    y_range = y_max - y_min
    x = np.asarray(arr, dtype=np.float64)
    if function in ("LINEAR", "LINEAR_EXACT"):
        if function == "LINEAR":  # PS3.3 C.11.2.1.2.1
            if width < 1:
                raise ValueError(
                    "The (0028,1051) Window Width must be greater than or equal to 1 for a "
                    "'LINEAR' windowing operation"
                )
            center -= 0.5
            width -= 1
        elif width <= 0:  # PS3.3 C.11.2.1.3.2
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'LINEAR_EXACT' "
                "windowing operation"
            )
        # The same operations, in the same order, as pydicom's (same float64 values);
        # a LINEAR width of 1 leaves no input between the ends, so no division counts.
        out = x - center
        with np.errstate(divide="ignore", invalid="ignore"):
            out /= width
        out += 0.5
        out *= y_range
        out += y_min
        np.copyto(out, y_min, where=x <= center - width / 2)
        np.copyto(out, y_max, where=x > center + width / 2)
        return out
    if function == "SIGMOID":  # PS3.3 C.11.2.1.3.1
        if width <= 0:
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'SIGMOID' "
                "windowing operation"
            )
        out = x - center
        out *= -4
        out /= width
        with np.errstate(over="ignore"):  # exp overflows to inf, giving y_min as it should
            np.exp(out, out=out)
        out += 1
        np.divide(y_range, out, out=out)
        out += y_min
        return out
    raise ValueError(f"Unsupported (0028,1056) VOI LUT Function value '{function}'")


def _output_range(values: Mapping[str, Any]) -> tuple[float, float]:
    """The range of the modality values the window maps from (PS3.3 C.11.2.1.2)."""
    sequence = values.get("ModalityLUTSequence")
    if sequence:
        bits = descriptor(sequence[0], format_tag(0x00283000))[2]
        y_min, y_max = 0.0, float(2**bits - 1)  # unsigned, C.11.1.1.1
    else:
        stored = values.get("BitsStored")
        if not isinstance(stored, int) or isinstance(stored, bool) or not 1 <= stored <= 64:
            raise InvalidDicomError(
                f"{format_tag(0x00280101)} value {stored!r} is invalid; expected 1 to 64"
            )
        if values.get("PixelRepresentation") == 1:
            y_min, y_max = float(-(2 ** (stored - 1))), float(2 ** (stored - 1) - 1)
        else:
            y_min, y_max = 0.0, float(2**stored - 1)
    rescale = rescale_of(values)
    if rescale is not None:
        slope, intercept = rescale
        y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max
