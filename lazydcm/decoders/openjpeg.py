"""The pylibjpeg-openjpeg backend: JPEG 2000 (PS3.5 A.4.4) and HTJ2K (PS3.5 A.4.11) frames.

Frames decode exactly as ``pydicom.pixels.pixel_array(..., decoding_plugin="pylibjpeg")``
decodes them:

* openjpeg applies the codestream's inverse component transform, so YBR_ICT and
  YBR_RCT frames come out as RGB (PS3.5 8.2.4).
* The output is read with a container of 1, 2 or 4 bytes for a precision of up
  to 8, 16 or 32 bits (the first component's, from the SIZ segment; the header's
  Bits Stored when there is none), in the signedness of Pixel Representation;
  the pipeline casts it to the frame's dtype.
* For MONOCHROME1 and MONOCHROME2 frames the SIZ signedness is reported, and the
  pipeline sign-corrects samples whose signedness differs from Pixel
  Representation (pydicom's ``apply_j2k_sign_correction``).  Other frames are
  reported in the header's signedness: pydicom neither sign-corrects nor masks
  them.
* The header's Planar Configuration is kept, as pydicom keeps it.

openjpeg's decoder holds the GIL while it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.markers import call_codec, check_j2k, check_size, container, j2k_info

__all__ = ["OpenjpegDecoder", "decoder", "j2k_decoded"]

_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
#: Colour spaces a JPEG 2000 decoder turns into RGB with the inverse ICT or RCT.
_TO_RGB = frozenset({"YBR_ICT", "YBR_RCT"})


class OpenjpegDecoder:
    """Decodes JPEG 2000 frames with pylibjpeg-openjpeg; see the module docstring."""

    name = "pylibjpeg"
    releases_gil = False  # pylibjpeg-openjpeg's decoder holds the GIL

    def __init__(self) -> None:
        from openjpeg.utils import decode_pixel_data

        self._decode: Any = decode_pixel_data

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one JPEG 2000 frame."""
        check_j2k(spec, j2k_info(encoded))
        out = call_codec("openjpeg", spec, lambda: self._decode(encoded, version=2))
        return j2k_decoded(np.frombuffer(out, dtype=np.uint8), encoded, spec, "openjpeg")


def j2k_decoded(raw: np.ndarray, encoded: memoryview, spec: FrameSpec, what: str) -> Decoded:
    """Wrap a JPEG 2000 decoder's output bytes as pydicom reads them (see the module docstring)."""
    info = j2k_info(encoded)
    precision = info.precision if info is not None else spec.bits_stored
    signed = info.signed if info is not None else bool(spec.pixel_representation)
    dtype = container(precision, spec)
    check_size(raw.nbytes, spec.frame_pixels * dtype.itemsize, what, spec)
    pi = spec.photometric_interpretation
    if pi in _TO_RGB:
        pi = "RGB"
    if spec.photometric_interpretation not in _MONOCHROME:
        # No sign correction and no masking for colour data in pydicom.
        signed = bool(spec.pixel_representation)
    return Decoded(
        raw.view(dtype), pi, spec.planar_configuration, signed=signed, precision=precision
    )


def decoder() -> OpenjpegDecoder:
    """Return the pylibjpeg-openjpeg decoder (the registry's entry point)."""
    return OpenjpegDecoder()
