"""The Presentation LUT (PS3.3 C.11.6), as ``pydicom.pixels``."""

from __future__ import annotations

import numpy as np

from lazydcm.header.tags import format_tag
from lazydcm.processing.lookup import (
    Source,
    attributes,
    descriptor,
    little_endian,
    lut_data,
)

__all__ = ["apply_presentation_lut"]


def apply_presentation_lut(arr: np.ndarray, source: Source) -> np.ndarray:
    """Apply the Presentation LUT to `arr` and return P-values (PS3.3 C.11.6).

    Parameters
    ----------
    arr : numpy.ndarray
        Values after the modality and VOI transforms.
    source : FrameSequence or mapping
        Where the Presentation LUT module's values come from.

    Returns
    -------
    numpy.ndarray
        With a (2050,0010) Presentation LUT Sequence, `arr` scaled linearly to
        the LUT's entries and looked up (uint8 or uint16); with (2050,0020)
        Presentation LUT Shape INVERSE, ``arr.max() - arr``; else (IDENTITY, or
        neither) `arr` unchanged.

    Raises
    ------
    NotImplementedError
        A Presentation LUT Shape other than IDENTITY or INVERSE.
    """
    values = attributes(source, None)
    sequence = values.get("PresentationLUTSequence")
    if sequence:
        tag = format_tag(0x20500010)
        entries, _, bits = descriptor(sequence[0], tag)
        itemsize = 8 if bits <= 8 else 16
        little = little_endian(values)
        # LUT Data is US or OW (C.11.6.1); US values come out as uint16 (as pydicom's,
        # which also masks them by the 8- or 16-bit item size, not by their type).
        dtype = f"uint{itemsize}" if isinstance(sequence[0].get("LUTData"), bytes) else "uint16"
        lut = lut_data(sequence[0], entries, dtype, little, tag, bytes_8=bits <= 8)
        if shift := itemsize - bits:  # the unused high bits of an entry are not part of it
            lut = (lut << shift) >> shift
        # Quantise the input linearly to the LUT's entries, as pydicom does; a constant
        # input (or a one-entry LUT) has no range to scale and maps to the first entry,
        # where pydicom divides by zero (with a RuntimeWarning) to get the same.
        scaled = arr.astype(np.float32)
        scaled -= scaled.min()
        top = scaled.max()
        if top > 0 and entries > 1:
            scaled /= top / (entries - 1)
        return np.asarray(lut[scaled.astype(np.uint16)])
    shape = values.get("PresentationLUTShape")
    if shape is not None:
        transform = str(shape).strip().upper()
        if transform not in ("IDENTITY", "INVERSE"):
            raise NotImplementedError(
                f"A (2050,0020) 'Presentation LUT Shape' value of '{shape}' is not supported"
            )
        if transform == "INVERSE":
            return np.asarray(arr.max() - arr)
    return arr
