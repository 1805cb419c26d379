"""The pixel pipeline: pure NumPy functions with explicit parameters.

:func:`finish_frame` turns what a decoder produced (:class:`~lazydcm.decoders.Decoded`)
into the frame lazydcm returns, with the same steps, in the same order, as
``pydicom.pixels.pixel_array``:

1. unpack bit-packed 1-bit data (PS3.5 8.1.1, least significant bit first);
2. expand native YBR_FULL_422 (PS3.3 C.7.6.3.1.2) to one Y, Cb and Cr a pixel;
3. shape to ``(rows, columns[, samples])``, colour-by-plane data made colour-by-pixel;
4. clear the bits above Bits Stored and sign-extend signed samples (PS3.5 8.1.1),
   or, for codecs that report their samples' signedness (JPEG 2000, JPEG-LS),
   sign-correct samples whose signedness differs from Pixel Representation;
5. unless ``raw``, convert YBR_FULL and YBR_FULL_422 to RGB (PS3.3 C.7.6.3.1.2).

Every function returns an array the caller owns; ``finish_frame`` works in place
on the decoder's array when it can.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from lazydcm.color import ybr_full_to_rgb_u8
from lazydcm.decoders import Decoded, FrameSpec

__all__ = [
    "expand_ybr422",
    "extend_sign",
    "finish_frame",
    "mask_unused_bits",
    "stored_as_returned",
    "to_frame_shape",
    "unpack_bits",
    "ybr_full_to_rgb",
]

# Photometric Interpretations whose frames are returned as RGB unless ``raw``.
_CONVERTED_TO_RGB = frozenset({"YBR_FULL", "YBR_FULL_422"})


def unpack_bits(packed: NDArray[np.uint8], first_bit: int, count: int) -> NDArray[np.uint8]:
    """Unpack `count` 1-bit pixels starting at bit `first_bit` of ``packed[0]``.

    Bits are taken least significant first (PS3.5 8.1.1 and D.1), so pixel 0 of a
    byte-aligned frame is bit 0 of its first byte.
    """
    bits = np.unpackbits(packed, bitorder="little", count=first_bit + count)
    return bits[first_bit:] if first_bit else bits


def expand_ybr422(samples: NDArray[np.generic]) -> NDArray[np.generic]:
    """Expand YBR_FULL_422 samples (Y1 Y2 Cb Cr per two pixels) to Y Cb Cr per pixel."""
    quads = samples[: len(samples) // 4 * 4].reshape(-1, 4)
    out = np.empty((len(quads), 2, 3), dtype=samples.dtype)
    out[:, 0, 0] = quads[:, 0]
    out[:, 1, 0] = quads[:, 1]
    out[:, :, 1] = quads[:, 2:3]
    out[:, :, 2] = quads[:, 3:4]
    return out.reshape(-1)


def to_frame_shape(
    arr: NDArray[np.generic], rows: int, columns: int, samples: int, planar: int
) -> NDArray[np.generic]:
    """Shape samples as ``(rows, columns)`` or ``(rows, columns, samples)``, C-contiguous.

    Colour-by-plane data (Planar Configuration 1) is reordered to colour-by-pixel.
    """
    if samples == 1:
        return arr.reshape(rows, columns)
    if planar == 0:
        return arr.reshape(rows, columns, samples)
    return np.ascontiguousarray(arr.reshape(samples, rows, columns).transpose(1, 2, 0))


def mask_unused_bits(
    arr: NDArray[np.generic], bits_stored: int, signed: bool
) -> NDArray[np.generic]:
    """Clear the bits above `bits_stored`; sign-extend from bit ``bits_stored - 1`` if signed.

    PS3.5 8.1.1: the unused high bits of a sample may hold anything, so they are
    never trusted.  Works in place when `arr` is writable.
    """
    if arr.dtype.itemsize * 8 <= bits_stored:
        return arr
    if signed:  # the shifts that sign-extend also clear what is above the sign bit
        return extend_sign(arr, bits_stored)
    if not arr.flags.writeable:
        arr = arr.copy()
    np.bitwise_and(arr, arr.dtype.type((1 << bits_stored) - 1), out=arr)
    return arr


def extend_sign(arr: NDArray[np.generic], precision: int) -> NDArray[np.generic]:
    """Reinterpret `precision`-bit samples in the signedness of `arr`'s dtype.

    For a codec that decoded signed samples as unsigned (or the reverse), shifting
    left and back sign-extends into a signed dtype and zero-extends into an
    unsigned one.  Works in place when `arr` is writable.
    """
    shift = arr.dtype.itemsize * 8 - precision
    if shift <= 0:
        return arr
    if not arr.flags.writeable:
        arr = arr.copy()
    np.left_shift(arr, shift, out=arr)
    np.right_shift(arr, shift, out=arr)
    return arr


def ybr_full_to_rgb(
    arr: NDArray[np.generic], bits: int, *, in_place: bool = False
) -> NDArray[np.generic]:
    """Convert YBR_FULL (``(..., 3)``) to RGB, rounded and clipped to `bits` bits.

    The ITU-R BT.601 full-range transform of PS3.3 C.7.6.3.1.2, with the chroma
    offset ``2**(bits - 1)``.  8-bit samples take the fast blocked conversion of
    :mod:`lazydcm.color`, which gives pydicom's values; wider ones are converted
    here in float32 (float64 past 16 bits).  With `in_place`, 8-bit samples are
    converted in `arr` when it is writable and C-contiguous.
    """
    if bits == 8 and arr.dtype == np.uint8:
        writable = in_place and arr.flags.writeable and arr.flags.c_contiguous
        return ybr_full_to_rgb_u8(arr, arr if writable else None)
    out_dtype = arr.dtype
    # float32 holds every 16-bit value exactly; wider samples need float64 (2**32 - 1
    # rounds up to 2**32 in float32, which no longer fits the samples' dtype).
    real: Any = np.float32 if bits <= 16 else np.float64
    offset = real(1 << (bits - 1))
    top = real((1 << bits) - 1)
    ybr = arr.astype(real)
    y = ybr[..., 0]
    cb = ybr[..., 1] - offset
    cr = ybr[..., 2] - offset
    rgb = np.empty_like(ybr)
    rgb[..., 0] = y + real(1.402) * cr
    rgb[..., 1] = y - real(0.114 * 1.772 / 0.587) * cb - real(0.299 * 1.402 / 0.587) * cr
    rgb[..., 2] = y + real(1.772) * cb
    rgb += real(0.5)
    np.floor(rgb, out=rgb)
    np.clip(rgb, 0, top, out=rgb)
    return rgb.astype(out_dtype)


def stored_as_returned(spec: FrameSpec, raw: bool) -> bool:
    """True when native frames need no step of the pipeline: their stored bytes, in
    native byte order, are the returned frame (the fast path of uncompressed data)."""
    pi = spec.photometric_interpretation
    return (
        spec.transfer_syntax.native
        and spec.stored_dtype.isnative
        and not spec.words_swapped
        and spec.bits_allocated > 1
        and (spec.pixel_keyword != "PixelData" or spec.bits_stored == spec.bits_allocated)
        and (spec.samples_per_pixel == 1 or spec.planar_configuration == 0)
        and pi != "YBR_FULL_422"
        and (raw or pi != "YBR_FULL")
    )


def finish_frame(decoded: Decoded, spec: FrameSpec, raw: bool) -> tuple[np.ndarray, str]:
    """Turn a decoder's output into the returned frame; return it and its colour space."""
    arr = decoded.array
    pi = decoded.photometric_interpretation
    if decoded.first_bit is not None:
        arr = unpack_bits(arr, decoded.first_bit, spec.frame_pixels)
    if decoded.subsampled:
        arr = expand_ybr422(arr)
        pi = "YBR_FULL"
    if arr.ndim == 1:
        planar = decoded.planar_configuration
        arr = to_frame_shape(arr, spec.rows, spec.columns, spec.samples_per_pixel, planar)
    elif decoded.planar_configuration == 1 and arr.ndim == 3:
        arr = np.ascontiguousarray(arr.transpose(1, 2, 0))
    if arr.dtype != spec.dtype:
        arr = arr.astype(spec.dtype)
    if decoded.signed is not None:
        if decoded.signed != bool(spec.pixel_representation) and decoded.precision:
            arr = extend_sign(arr, decoded.precision)
    elif (
        spec.pixel_keyword == "PixelData"
        and spec.bits_allocated > spec.bits_stored
        and spec.bits_allocated > 1
    ):
        arr = mask_unused_bits(arr, spec.bits_stored, spec.pixel_representation == 1)
    if not raw and pi in _CONVERTED_TO_RGB and arr.ndim == 3:
        bits = min(spec.bits_stored, 8 * arr.dtype.itemsize)
        arr = ybr_full_to_rgb(arr, bits, in_place=True)  # the decoder's array is ours
        pi = "RGB"
    return arr, pi
