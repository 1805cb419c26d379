"""The pylibjpeg-libjpeg backend: JPEG (PS3.5 A.4.1) and JPEG-LS (PS3.5 A.4.3) frames.

Frames decode exactly as ``pydicom.pixels.pixel_array(..., decoding_plugin="pylibjpeg")``
decodes them:

* libjpeg runs with no colour transform (colourspace 0), so YCbCr frames come
  out as YCbCr and the pixel pipeline converts them to RGB unless ``raw``; the
  colour space is the header's unless the codestream's component IDs or a JFIF
  segment say otherwise (:func:`~lazydcm.decoders.markers.jpeg_photometric`).
* The output is read with a container of 1 byte for precision <= 8 and 2 up to
  16, in the signedness of Pixel Representation; the pipeline casts it to the
  frame's dtype.  For JPEG-LS the precision is the SOF55 one, as in pydicom.  For
  JPEG pydicom uses Bits Allocated, which gives the same container whenever it
  decodes at all; when it does not because the codestream is narrower (an 8-bit
  codestream in a 16-bit file), lazydcm reads the frame with the codestream's
  container rather than fail.
* JPEG-LS output is colour-by-pixel whatever the header says, unsigned, and the
  pipeline sign-extends it from the SOF55 precision when Pixel Representation is 1
  (JPEG-LS has no signed samples).  JPEG output keeps the header's Planar
  Configuration and its unused high bits are cleared, as pydicom does.

libjpeg's decoder holds the GIL while it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.markers import (
    JpegInfo,
    call_codec,
    check_jpeg,
    check_size,
    container,
    jpeg_info,
    jpeg_photometric,
)
from lazydcm.uids import JPEG_LS_SYNTAXES

__all__ = ["LibjpegDecoder", "decoder", "jpeg_decoded"]


class LibjpegDecoder:
    """Decodes JPEG and JPEG-LS frames with pylibjpeg-libjpeg; see the module docstring."""

    name = "pylibjpeg"
    releases_gil = False  # libjpeg's decoder holds the GIL

    def __init__(self) -> None:
        from libjpeg.utils import decode_pixel_data

        self._decode: Any = decode_pixel_data

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one JPEG or JPEG-LS frame."""
        # libjpeg's Cython entry point takes bytes (or bytearray) only.
        src = bytes(encoded)
        info = jpeg_info(src)
        check_jpeg(spec, info)
        pi = jpeg_photometric(spec, info)
        out = call_codec("libjpeg", spec, lambda: self._decode(src, version=2))
        return jpeg_decoded(np.frombuffer(out, dtype=np.uint8), info, pi, spec, "libjpeg")


def jpeg_decoded(
    raw: np.ndarray, info: JpegInfo | None, pi: str, spec: FrameSpec, what: str
) -> Decoded:
    """Wrap a JPEG or JPEG-LS decoder's output bytes as pydicom reads them.

    `raw` is the decoder's colour-by-pixel output as bytes (uint8), `pi` the
    colour space :func:`~lazydcm.decoders.markers.jpeg_photometric` chose.
    """
    if spec.transfer_syntax.uid in JPEG_LS_SYNTAXES:
        precision = info.precision if info is not None else spec.bits_stored
        dtype = container(precision, spec, widest=2)
        check_size(raw.nbytes, spec.frame_pixels * dtype.itemsize, what, spec)
        return Decoded(raw.view(dtype), pi, 0, signed=False, precision=precision)
    dtype = container(spec.bits_allocated, spec)
    if raw.nbytes != spec.frame_pixels * dtype.itemsize and info is not None:
        # pydicom fails here; a narrower codestream still fits the frame's dtype.
        narrower = container(info.precision, spec, widest=2)
        if narrower.itemsize < dtype.itemsize:
            dtype = narrower
    check_size(raw.nbytes, spec.frame_pixels * dtype.itemsize, what, spec)
    return Decoded(raw.view(dtype), pi, spec.planar_configuration)


def decoder() -> LibjpegDecoder:
    """Return the pylibjpeg-libjpeg decoder (the registry's entry point)."""
    return LibjpegDecoder()
