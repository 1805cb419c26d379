"""The native backend: uncompressed frames (PS3.5 8.1.1, 8.2, A.1-A.3).

A native frame is already its samples; "decoding" it means reading them in the
file's byte order.  Big-endian samples are byte-swapped into native order, 8-bit
samples stored as big-endian OW words are unswapped, and bit-packed 1-bit frames
are handed on packed, with the bit they start at, for the pixel pipeline to
unpack.  No codec library is involved.
"""

from __future__ import annotations

import numpy as np

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.errors import DecodeError

__all__ = ["NativeDecoder", "decoder"]


class NativeDecoder:
    """Reads native samples; see the module docstring."""

    name = "native"
    releases_gil = True  # a copy in NumPy; nothing holds the GIL for long

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Return the frame's samples as a 1-D array in native byte order."""
        pi = spec.photometric_interpretation
        planar = spec.planar_configuration
        needed = -(-(first_bit + spec.stored_samples * spec.bits_allocated) // 8)
        if len(encoded) < needed:
            raise DecodeError(
                f"Unable to decode a {spec.transfer_syntax} frame: it holds {len(encoded)} "
                f"bytes, fewer than the {needed} its (0028,0010) 'Rows', (0028,0011) "
                "'Columns', (0028,0002) 'Samples per Pixel' and (0028,0100) 'Bits Allocated' need"
            )
        if spec.bits_allocated == 1:
            packed = np.frombuffer(encoded, dtype=np.uint8)
            return Decoded(packed, pi, planar, first_bit=first_bit)
        writable = not encoded.readonly
        if spec.words_swapped:
            # Swap each 16-bit word back, then drop the byte that belongs to a
            # neighbouring frame when the frame starts on an odd byte.
            words = np.frombuffer(encoded, dtype=">u2")
            samples = words.byteswap().view(np.uint8)
            start = first_bit // 8
            arr = samples[start : start + spec.stored_samples]
        else:
            stored = spec.stored_dtype
            arr = np.frombuffer(encoded[: spec.stored_samples * stored.itemsize], dtype=stored)
            if not stored.isnative:
                arr = arr.byteswap(inplace=writable).view(spec.dtype)
            elif not writable:
                arr = arr.copy()
        return Decoded(arr, pi, planar, subsampled=pi == "YBR_FULL_422")


def decoder() -> NativeDecoder:
    """Return the native decoder (the registry's entry point)."""
    return NativeDecoder()
