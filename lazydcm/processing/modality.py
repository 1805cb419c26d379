"""The Modality LUT and the rescale operation (PS3.3 C.11.1), as ``pydicom.pixels``."""

from __future__ import annotations

import numpy as np

from lazydcm.header.tags import format_tag
from lazydcm.processing.lookup import (
    Source,
    attributes,
    descriptor,
    little_endian,
    lut_data,
    lut_indices,
    rescale_of,
)

__all__ = ["apply_modality_lut", "apply_rescale"]


def apply_modality_lut(arr: np.ndarray, source: Source, *, frame: int | None = None) -> np.ndarray:
    """Apply the Modality LUT or the rescale operation to `arr` (PS3.3 C.11.1).

    Parameters
    ----------
    arr : numpy.ndarray
        Stored values, e.g. ``frames[i]``.
    source : FrameSequence or mapping
        Where the Modality LUT module's values come from.
    frame : int, optional
        The frame `arr` is; its Pixel Value Transformation functional group
        (PS3.3 C.7.6.16.2.9) applies, when the file has one.  Needs a
        FrameSequence.

    Returns
    -------
    numpy.ndarray
        With a (0028,3000) Modality LUT Sequence, its LUT's values, uint8 or
        uint16 as the third value of (0028,3002) LUT Descriptor says; with
        (0028,1053) Rescale Slope and (0028,1052) Rescale Intercept,
        ``arr * slope + intercept`` in float64; else `arr` unchanged.

    Raises
    ------
    InvalidDicomError
        The module's values are malformed (the message names the element).
    """
    values = attributes(source, frame)
    sequence = values.get("ModalityLUTSequence")
    if sequence:
        tag = format_tag(0x00283000)
        entries, first_map, bits = descriptor(sequence[0], tag)
        dtype = "uint8" if bits <= 8 else "uint16"
        lut = lut_data(sequence[0], entries, dtype, little_endian(values), tag)
        return np.take(lut, lut_indices(arr, first_map, len(lut)))
    rescale = rescale_of(values)
    if rescale is not None:
        out = arr.astype(np.float64) * rescale[0]
        out += rescale[1]
        return out
    return arr


#: pydicom's name for :func:`apply_modality_lut`.
apply_rescale = apply_modality_lut
