"""``convert_color_space``, as ``pydicom.pixels`` users know it.

The conversions themselves are :mod:`lazydcm.pixels.color`'s (fast, blocked,
pydicom's values); this is the public function with pydicom's signature.
"""

from __future__ import annotations

import numpy as np

from lazydcm.pixels.color import COLOR_SPACES, rgb_to_ybr_full, ybr_full_to_rgb_u8

__all__ = ["convert_color_space"]


def convert_color_space(
    arr: np.ndarray, current: str, desired: str, *, per_frame: bool = False
) -> np.ndarray:
    """Convert the image(s) in `arr` from one colour space to another.

    The same conversions, with the same results, as
    ``pydicom.pixels.convert_color_space``: YBR_FULL or YBR_FULL_422 (whose
    samples, once decoded or expanded, are YBR_FULL) to RGB and back, by the
    transforms of PS3.3 C.7.6.3.1.2; between the two YBR spaces, or to the same
    space, nothing changes.

    Parameters
    ----------
    arr : numpy.ndarray
        ``(rows, columns, 3)`` or ``(frames, rows, columns, 3)``, uint8.
    current, desired : str
        ``"RGB"``, ``"YBR_FULL"`` or ``"YBR_FULL_422"`` (Photometric Interpretation
        values, PS3.3 C.7.6.3.1.2).
    per_frame : bool, optional
        If True and `arr` holds several frames (4 dimensions), convert it in place
        and return it, as pydicom does (a read-only or non-contiguous `arr` is
        converted into a new array instead); otherwise return a new array.  The
        conversion works in blocks either way, so it never needs more than a few
        hundred KiB extra.

    Returns
    -------
    numpy.ndarray
        The converted image(s); `arr` itself when nothing changes.

    Raises
    ------
    ValueError
        `arr` is not uint8, or its last axis is not 3 samples.
    NotImplementedError
        The conversion is not one of those above.
    """
    if arr.dtype != np.uint8:
        raise ValueError(
            f"Invalid ndarray.dtype '{arr.dtype}' for color space conversion, must be 'uint8' "
            "or an equivalent"
        )
    if current not in COLOR_SPACES or desired not in COLOR_SPACES:
        raise NotImplementedError(f"Conversion from {current} to {desired} is not supported.")
    to_rgb = desired == "RGB" and current != "RGB"
    to_ybr = current == "RGB" and desired != "RGB"
    if not (to_rgb or to_ybr):
        return arr
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"Expected samples of 3 channels on the last axis, got shape {arr.shape}")
    in_place = per_frame and arr.ndim == 4 and arr.flags.c_contiguous and arr.flags.writeable
    out = arr if in_place else None
    return ybr_full_to_rgb_u8(arr, out) if to_rgb else rgb_to_ybr_full(arr, out)
