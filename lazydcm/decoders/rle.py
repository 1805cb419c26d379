"""The pylibjpeg-rle backend: RLE Lossless frames (PS3.5 A.4.2 and Annex G).

Frames decode exactly as ``pydicom.pixels.pixel_array(..., decoding_plugin="pylibjpeg")``
decodes them: one segment per byte of each sample, most significant byte first
(PS3.5 G.2), turned into little-endian samples of Bits Allocated, colour-by-plane
(pydicom sets Planar Configuration 1 after RLE decoding).  For Bits Allocated 1
pylibjpeg-rle gives one byte per pixel.

pylibjpeg-rle is written in Rust and panics (``pyo3_runtime.PanicException``, a
``BaseException``) on some corrupt streams, so the 64-byte RLE header is checked
first (:func:`check_header`, PS3.5 G.3.1) and anything the codec still raises
becomes :class:`~lazydcm.errors.DecodeError`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.markers import call_codec, check_size
from lazydcm.errors import DecodeError

__all__ = ["RleDecoder", "check_header", "decoder"]

_HEADER = struct.Struct("<16I")


def check_header(encoded: memoryview | bytes, spec: FrameSpec) -> tuple[int, ...]:
    """Return the segment offsets of an RLE frame after checking its header (PS3.5 G.3.1).

    The header is 16 little-endian 32-bit values: the number of segments (1 to
    15), then each segment's offset from the start of the header.  There must be
    one segment per byte of each sample, the first must start right after the
    header (byte 64), the offsets must increase within the frame, and each
    segment must be long enough to decode to one byte a pixel (a run of 2 bytes
    gives at most 128), so no codec allocates a frame its bytes cannot fill.

    Raises
    ------
    DecodeError
        Naming what is wrong with the header.
    """
    size = len(encoded)
    where = f"Unable to decode a {spec.transfer_syntax} frame of {size} bytes"
    if size < _HEADER.size:
        raise DecodeError(f"{where}: it is shorter than the 64-byte RLE header (PS3.5 G.3.1)")
    count, *offsets = _HEADER.unpack_from(encoded, 0)
    per_sample = max(spec.bits_allocated // 8, 1)
    expected = spec.samples_per_pixel * per_sample
    if count != expected or not 1 <= count <= 15:
        raise DecodeError(
            f"{where}: its RLE header declares {count} segments, but (0028,0002) 'Samples "
            f"per Pixel' {spec.samples_per_pixel} with (0028,0100) 'Bits Allocated' "
            f"{spec.bits_allocated} needs {expected} (one a byte of each sample, 1 to 15)"
        )
    used = tuple(offsets[:count])
    if used[0] != _HEADER.size:
        raise DecodeError(
            f"{where}: its first RLE segment starts at byte {used[0]}, not right after the "
            "64-byte header"
        )
    for k in range(1, count):
        if used[k] <= used[k - 1]:
            raise DecodeError(
                f"{where}: RLE segment {k + 1} starts at byte {used[k]}, not after segment "
                f"{k} (byte {used[k - 1]}); segment offsets must increase"
            )
    if used[-1] >= size:
        raise DecodeError(
            f"{where}: RLE segment {count} starts at byte {used[-1]}, beyond the end of the frame"
        )
    # PS3.5 G.3.1: a replicate run of 2 bytes decodes to at most 128, so a segment
    # shorter than this cannot hold the frame: checked before the codec allocates
    # a frame the header may make any size.
    pixels = spec.rows * spec.columns
    needed = pixels if spec.bits_allocated != 1 else -(-pixels // 8)
    least = 2 * -(-needed // 128)
    for k, (start, stop) in enumerate(zip(used, (*used[1:], size), strict=True), start=1):
        if stop - start < least:
            raise DecodeError(
                f"{where}: RLE segment {k} has {stop - start} bytes, but (0028,0010) 'Rows' "
                f"{spec.rows} x (0028,0011) 'Columns' {spec.columns} needs {needed} bytes "
                f"from it, which takes at least {least} (PS3.5 G.3.1)"
            )
    return used


class RleDecoder:
    """Decodes RLE Lossless frames with pylibjpeg-rle; see the module docstring."""

    name = "pylibjpeg"
    releases_gil = False  # pylibjpeg-rle's decoder holds the GIL

    def __init__(self) -> None:
        from rle.rle import decode_frame

        self._decode: Any = decode_frame

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one RLE frame."""
        check_header(encoded, spec)
        # pylibjpeg-rle takes bytes only.
        src = bytes(encoded)
        pixels = spec.rows * spec.columns
        out = call_codec(
            "pylibjpeg-rle", spec, lambda: self._decode(src, pixels, spec.bits_allocated, "<")
        )
        dtype = np.dtype(np.uint8) if spec.bits_allocated == 1 else spec.dtype.newbyteorder("<")
        check_size(len(out), spec.frame_pixels * dtype.itemsize, "pylibjpeg-rle", spec)
        arr = np.frombuffer(out, dtype=dtype)
        return Decoded(arr, spec.photometric_interpretation, 1)


def decoder() -> RleDecoder:
    """Return the pylibjpeg-rle decoder (the registry's entry point)."""
    return RleDecoder()
