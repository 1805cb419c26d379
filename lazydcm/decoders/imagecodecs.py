"""The imagecodecs backend (``pip install lazydcm[imagecodecs]``).

One backend for JPEG (libjpeg-turbo), JPEG-LS (CharLS), JPEG 2000 and HTJ2K
(OpenJPEG), RLE Lossless (imagecodecs' DICOM RLE codec) and JPEG XL (libjxl).
imagecodecs releases the GIL while a codec runs, so threads sharing a
:class:`~lazydcm.FrameSequence` decode in parallel.

For every syntax the pylibjpeg backends also decode, it returns the same
:class:`~lazydcm.decoders.Decoded` they do -- same colour space, planar
configuration, container dtype and sign handling (the post-decode rules live in
:func:`lazydcm.decoders.libjpeg.jpeg_decoded`,
:func:`lazydcm.decoders.openjpeg.j2k_decoded` and
:func:`lazydcm.decoders.rle.check_header`) -- so returned frames are identical
for the lossless syntaxes.  Lossy JPEG frames may differ by a few grey levels
(libjpeg-turbo and libjpeg use different IDCTs and chroma upsampling).  JPEG is
decoded with no colour transform -- 3-component frames are read as YCbCr to
YCbCr, which libjpeg-turbo copies through unchanged, as libjpeg's colourspace 0
does -- except where the caller wants RGB from 8-bit YBR_FULL(_422) frames
(:attr:`~lazydcm.decoders.FrameSpec.rgb`): libjpeg-turbo then converts them
itself, within 1 of the pipeline's conversion, and the frame says RGB.

JPEG XL frames (PS3.5 A.4.12; pydicom 3.0 has no decoder to compare with) are
returned as libjxl produces them; a JPEG XL JPEG Recompression frame comes out
as RGB, which libjxl reconstructs from the original JPEG's YCbCr.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.libjpeg import jpeg_decoded
from lazydcm.decoders.markers import (
    call_codec,
    check_j2k,
    check_jpeg,
    check_size,
    j2k_info,
    jpeg_info,
    jpeg_photometric,
)
from lazydcm.decoders.openjpeg import j2k_decoded
from lazydcm.decoders.rle import check_header
from lazydcm.errors import DecodeError
from lazydcm.uids import (
    J2K_SYNTAXES,
    JPEG_LS_SYNTAXES,
    JPEG_XL_JPEG_RECOMPRESSION,
    JPEG_XL_SYNTAXES,
    RLE_SYNTAXES,
)

__all__ = ["ImagecodecsDecoder", "decoder"]

#: The colour spaces libjpeg-turbo converts to RGB itself when RGB is wanted.
_YBR = frozenset({"YBR_FULL", "YBR_FULL_422"})


class ImagecodecsDecoder:
    """Decodes compressed frames with imagecodecs; see the module docstring."""

    name = "imagecodecs"
    releases_gil = True  # imagecodecs releases the GIL while a codec runs

    def __init__(self) -> None:
        import imagecodecs

        self._codecs: Any = imagecodecs

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one frame."""
        uid = spec.transfer_syntax.uid
        codecs = self._codecs
        if uid in RLE_SYNTAXES:
            return self._rle(encoded, spec)
        if uid in J2K_SYNTAXES:
            check_j2k(spec, j2k_info(encoded))
            out = call_codec(
                "imagecodecs.jpeg2k_decode", spec, lambda: codecs.jpeg2k_decode(encoded)
            )
            return j2k_decoded(_bytes(out), encoded, spec, "imagecodecs.jpeg2k_decode")
        if uid in JPEG_XL_SYNTAXES:
            return self._jpeg_xl(encoded, spec)
        info = jpeg_info(encoded)
        check_jpeg(spec, info)
        pi = jpeg_photometric(spec, info)
        if uid in JPEG_LS_SYNTAXES:
            what = "imagecodecs.jpegls_decode"
            out = call_codec(what, spec, lambda: codecs.jpegls_decode(encoded))
        else:
            what = "imagecodecs.jpeg8_decode"
            components = info.components if info is not None else spec.samples_per_pixel
            options: dict[str, str] = {}
            if components == 3:
                # YCbCr in, YCbCr out: libjpeg-turbo applies no colour transform ...
                options = {"colorspace": "YCBCR", "outcolorspace": "YCBCR"}
                if spec.rgb and pi in _YBR and info is not None and info.precision == 8:
                    # ... unless RGB is wanted: its own conversion (PS3.3 C.7.6.3.1.2,
                    # fixed point) is within 1 of the pipeline's and costs less.
                    options["outcolorspace"] = "RGB"
                    pi = "RGB"
            out = call_codec(what, spec, lambda: codecs.jpeg8_decode(encoded, **options))
        return jpeg_decoded(_bytes(out), info, pi, spec, what)

    def _rle(self, encoded: memoryview, spec: FrameSpec) -> Decoded:
        check_header(encoded, spec)
        dtype = np.dtype(np.uint8) if spec.bits_allocated == 1 else spec.dtype.newbyteorder("<")
        what = "imagecodecs.dicomrle_decode"
        expected = spec.frame_pixels * dtype.itemsize
        # Into a buffer of our own (writable, and the codec stops at the frame's size);
        # one byte more to tell a frame that decodes too long from one that fits.
        buffer = bytearray(expected + 1)
        out = call_codec(
            what, spec, lambda: self._codecs.dicomrle_decode(encoded, dtype, out=buffer)
        )
        check_size(len(out), expected, what, spec)
        # Colour-by-plane, as pylibjpeg-rle gives it.
        return Decoded(np.frombuffer(out, dtype=dtype), spec.photometric_interpretation, 1)

    def _jpeg_xl(self, encoded: memoryview, spec: FrameSpec) -> Decoded:
        what = "imagecodecs.jpegxl_decode"
        out = call_codec(what, spec, lambda: self._codecs.jpegxl_decode(encoded))
        arr = np.ascontiguousarray(out).reshape(-1)
        if arr.dtype.kind not in "ui":
            raise DecodeError(
                f"Unable to decode a {spec.transfer_syntax} frame: {what} produced "
                f"{arr.dtype} samples; lazydcm reads integer JPEG XL samples only"
            )
        check_size(arr.nbytes, spec.frame_pixels * arr.dtype.itemsize, what, spec)
        pi = spec.photometric_interpretation
        if spec.transfer_syntax.uid == JPEG_XL_JPEG_RECOMPRESSION and pi.startswith("YBR"):
            pi = "RGB"
        return Decoded(arr, pi, 0)


def _bytes(out: Any) -> np.ndarray:
    """A codec's colour-by-pixel output array as its bytes (uint8, C order)."""
    return np.ascontiguousarray(out).reshape(-1).view(np.uint8)


def decoder() -> ImagecodecsDecoder:
    """Return the imagecodecs decoder (the registry's entry point)."""
    return ImagecodecsDecoder()
