"""The pixel pipeline: a decoder's output made into the frame lazydcm returns.

:func:`finish_frame` takes the steps, in the same order, as
``pydicom.pixels.pixel_array``:

1. unpack bit-packed 1-bit data (PS3.5 8.1.1, least significant bit first);
2. expand native YBR_FULL_422 (PS3.3 C.7.6.3.1.2) to one Y, Cb and Cr a pixel;
3. shape to ``(rows, columns[, samples])``, colour-by-plane data made colour-by-pixel;
4. clear the bits above Bits Stored and sign-extend signed samples (PS3.5 8.1.1),
   or, for codecs that report their samples' signedness (JPEG 2000, JPEG-LS),
   sign-correct samples whose signedness differs from Pixel Representation;
5. unless ``raw``, convert YBR_FULL and YBR_FULL_422 to RGB (PS3.3 C.7.6.3.1.2).

It works in place on the decoder's array when it can; the result is the caller's.
:func:`output_photometric` says what colour space :func:`finish_frame` gives for
what a decoder produced, so that a sequence can say it before any frame is read.
"""

from __future__ import annotations

import numpy as np

from lazydcm.decoders import Decoded, FrameSpec
from lazydcm.pixels.bits import extend_sign, mask_unused_bits, unpack_bits
from lazydcm.pixels.color import ybr_full_to_rgb
from lazydcm.pixels.layout import expand_ybr422, to_frame_shape

__all__ = ["finish_frame", "output_photometric", "stored_as_returned"]

# Photometric Interpretations whose frames are returned as RGB unless ``raw``.
_CONVERTED_TO_RGB = frozenset({"YBR_FULL", "YBR_FULL_422"})


def output_photometric(decoded: str, spec: FrameSpec, raw: bool) -> str:
    """The colour space of returned frames, for a decoder that produced `decoded`."""
    pi = decoded
    if pi == "YBR_FULL_422" and spec.transfer_syntax.native:
        pi = "YBR_FULL"  # native YBR_FULL_422 is expanded (step 2)
    if not raw and pi in _CONVERTED_TO_RGB and spec.samples_per_pixel == 3:
        return "RGB"
    return pi


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
