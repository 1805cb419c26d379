"""The zlib backend: Deflated Image Frame Compression (PS3.5 8.2.16 and A.4.13).

Each frame is one Deflate bitstream (RFC 1951) in its own fragment; inflated,
it is a native little-endian frame, bit-packed from bit 0 of its first byte when
Bits Allocated is 1.  The standard's streams are raw Deflate (as pydicom 3.1 and
dicom-rs read them); a stream with a zlib wrapper (RFC 1950) is accepted too.
Inflation stops one byte past the frame's size, so a hostile stream cannot
make lazydcm allocate more than one frame.  Standard library only; ``zlib``
releases the GIL while it inflates.
"""

from __future__ import annotations

import zlib

from lazydcm.decoders.base import Decoded, FrameSpec
from lazydcm.decoders.uncompressed import frame_nbytes, native_frame
from lazydcm.errors import DecodeError

__all__ = ["DeflateDecoder", "decoder", "inflate"]

_RAW, _ZLIB = -zlib.MAX_WBITS, zlib.MAX_WBITS


def inflate(encoded: memoryview | bytes, limit: int) -> bytes:
    """Inflate one raw Deflate (or zlib-wrapped) stream to at most `limit` + 1 bytes.

    Raises
    ------
    zlib.error
        The data is neither a complete raw Deflate stream nor a zlib stream.
    """
    wbits = _ZLIB if _is_zlib(encoded) else _RAW
    try:
        return _inflate(encoded, wbits, limit)
    except zlib.error:
        if wbits == _RAW:
            raise
        # Two bytes that look like a zlib header may still open a raw stream.
        return _inflate(encoded, _RAW, limit)


def _is_zlib(data: memoryview | bytes) -> bool:
    # RFC 1950 2.2: CM 8 (deflate), CINFO <= 7, and CMF * 256 + FLG a multiple of 31.
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


def _inflate(data: memoryview | bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, limit + 1)
    if len(out) <= limit and not inflater.eof:
        raise zlib.error("the Deflate stream ends before its last block")
    return out


class DeflateDecoder:
    """Inflates Deflated Image Frame Compression frames; see the module docstring."""

    name = "zlib"
    releases_gil = True  # zlib releases the GIL while it inflates

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Inflate one frame and read it as native samples."""
        expected = frame_nbytes(spec)
        try:
            data = inflate(encoded, expected + expected % 2)
        except zlib.error as exc:
            raise DecodeError(
                f"Unable to decode a {spec.transfer_syntax} frame: zlib failed to inflate "
                f"its {len(encoded)} bytes: {exc}"
            ) from exc
        return native_frame(memoryview(data), spec, "the inflated frame")


def decoder() -> DeflateDecoder:
    """Return the Deflate decoder (the registry's entry point)."""
    return DeflateDecoder()
