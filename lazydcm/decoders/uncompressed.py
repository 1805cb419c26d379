"""The native backend for Encapsulated Uncompressed Explicit VR Little Endian (PS3.5 A.4.11).

Each fragment holds one frame of native little-endian samples, padded to an
even length (PS3.5 A.4.11, 8.2): the frame is checked against the size Rows x
Columns x Samples per Pixel x Bits Allocated gives, its pad byte dropped, and
its samples read by :class:`~lazydcm.decoders.native.NativeDecoder` (1-bit frames
start at bit 0 of their fragment).  :func:`native_frame` is shared with the
deflate backend, whose inflated frames are the same native bytes.  No codec
library is involved.
"""

from __future__ import annotations

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.native import NativeDecoder
from lazydcm.errors import DecodeError

__all__ = ["UncompressedDecoder", "decoder", "frame_nbytes", "native_frame"]

_NATIVE = NativeDecoder()


def frame_nbytes(spec: FrameSpec) -> int:
    """Bytes of one native frame: bit-packed for Bits Allocated 1 (PS3.5 8.1.1)."""
    if spec.bits_allocated == 1:
        return -(-spec.frame_pixels // 8)
    return spec.stored_samples * (spec.bits_allocated // 8)


def native_frame(data: memoryview, spec: FrameSpec, what: str) -> Decoded:
    """Read `data` as one native little-endian frame, allowing one trailing pad byte."""
    expected = frame_nbytes(spec)
    if len(data) != expected and len(data) != expected + expected % 2:
        raise DecodeError(
            f"Unable to decode a {spec.transfer_syntax} frame: {what} holds {len(data)} bytes "
            f"but a native frame of (0028,0010) 'Rows' {spec.rows} x (0028,0011) 'Columns' "
            f"{spec.columns} x (0028,0002) 'Samples per Pixel' {spec.samples_per_pixel} x "
            f"(0028,0100) 'Bits Allocated' {spec.bits_allocated} has {expected}"
        )
    return _NATIVE.decode(data[:expected], spec, 0)


class UncompressedDecoder:
    """Reads Encapsulated Uncompressed frames; see the module docstring."""

    name = "native"
    releases_gil = True  # a copy in NumPy; nothing holds the GIL for long

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Return the frame's samples (the fragment's pad byte dropped)."""
        return native_frame(encoded, spec, "the fragment")


def decoder() -> UncompressedDecoder:
    """Return the Encapsulated Uncompressed decoder (the registry's entry point)."""
    return UncompressedDecoder()
