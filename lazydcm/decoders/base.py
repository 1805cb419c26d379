"""The decoder contract: what a backend is given and what it returns.

Contract every backend keeps (:class:`FrameDecoder`):

* ``decode(encoded, spec, first_bit=0) -> Decoded`` turns one frame's encoded
  bytes into an array and says what it produced (colour space, planar
  configuration, packed bits, subsampling) in the returned :class:`Decoded`.  It
  never writes shared state, so one decoder serves many threads.
* ``encoded`` is a ``memoryview``.  A decoder may return an array that views it
  only when it is writable (the caller then hands its ownership over); a
  read-only ``encoded`` must be copied.
* Whatever a codec raises becomes :class:`~lazydcm.errors.DecodeError`.

:class:`FrameSpec` is what a decoder knows of every frame of a file (from its
header); the contract suite :class:`lazydcm.testing.DecoderTests` checks every
backend against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from lazydcm.errors import InvalidDicomError
from lazydcm.header import ParsedHeader
from lazydcm.uids import TransferSyntax

__all__ = ["Decoded", "FrameDecoder", "FrameSpec"]


@dataclass(frozen=True)
class FrameSpec:
    """What a decoder needs to know about every frame of one file."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    transfer_syntax: TransferSyntax
    pixel_keyword: str
    #: 8-bit samples stored as big-endian OW words (see ParsedHeader.words_swapped).
    words_swapped: bool
    #: The dtype of returned frames, in native byte order.
    dtype: np.dtype[np.generic]
    #: The dtype of native samples as stored (the transfer syntax's byte order).
    stored_dtype: np.dtype[np.generic]
    #: True when YBR_FULL and YBR_FULL_422 frames are to be returned as RGB (the
    #: caller did not ask for ``raw``): a backend whose codec converts colour itself
    #: (libjpeg-turbo) may decode to RGB and say so; the pipeline converts the rest.
    rgb: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one returned frame: (rows, columns[, samples])."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    @property
    def frame_pixels(self) -> int:
        """Samples in one decoded frame."""
        return self.rows * self.columns * self.samples_per_pixel

    @property
    def stored_samples(self) -> int:
        """Samples one native frame stores: fewer than decoded for YBR_FULL_422."""
        if self.photometric_interpretation == "YBR_FULL_422":
            return self.frame_pixels // 3 * 2
        return self.frame_pixels

    @classmethod
    def from_header(cls, parsed: ParsedHeader, *, rgb: bool = False) -> FrameSpec:
        """Build the spec of a parsed file; raise if NumPy has no dtype for its samples."""
        info = parsed.info
        dtype = _dtype(info.pixel_keyword, info.bits_allocated, info.pixel_representation)
        return cls(
            rows=info.rows,
            columns=info.columns,
            samples_per_pixel=info.samples_per_pixel,
            bits_allocated=info.bits_allocated,
            bits_stored=info.bits_stored,
            pixel_representation=info.pixel_representation,
            photometric_interpretation=info.photometric_interpretation,
            planar_configuration=info.planar_configuration,
            transfer_syntax=parsed.transfer_syntax,
            pixel_keyword=info.pixel_keyword,
            words_swapped=parsed.words_swapped,
            dtype=dtype,
            stored_dtype=dtype.newbyteorder("<" if parsed.transfer_syntax.little_endian else ">"),
            rgb=rgb,
        )


def _dtype(keyword: str, bits_allocated: int, representation: int) -> np.dtype[np.generic]:
    """The dtype pydicom gives the same samples (native byte order)."""
    if keyword == "FloatPixelData":
        return np.dtype(np.float32)
    if keyword == "DoubleFloatPixelData":
        return np.dtype(np.float64)
    if bits_allocated == 1:
        return np.dtype(np.uint8)
    if bits_allocated not in (8, 16, 32, 64):
        raise InvalidDicomError(
            f"(0028,0100) 'Bits Allocated' value {bits_allocated} has no NumPy integer type; "
            "lazydcm reads 1, 8, 16, 32 and 64"
        )
    return np.dtype(f"{'ui'[representation]}{bits_allocated // 8}")


class Decoded(NamedTuple):
    """One decoded frame and what the decoder produced.

    ``array`` is one of: packed bits (``first_bit`` is set), a 1-D run of samples,
    ``(rows, columns[, samples])`` colour-by-pixel, or ``(samples, rows, columns)``
    colour-by-plane (``planar_configuration`` 1).  The pixel pipeline
    (:func:`lazydcm.pixels.finish_frame`) turns any of them into the returned frame.
    """

    array: np.ndarray
    photometric_interpretation: str
    planar_configuration: int = 0
    #: Packed 1-bit data: the frame's first pixel is this bit (LSB first) of array[0].
    first_bit: int | None = None
    #: Native YBR_FULL_422: two samples a pixel, to be expanded (PS3.3 C.7.6.3.1.2).
    subsampled: bool = False
    #: Set by codecs that know the signedness of their samples (JPEG 2000 from its SIZ
    #: marker, JPEG-LS always unsigned): when it differs from Pixel Representation the
    #: pipeline sign-extends (or zero-extends) from `precision` bits, as pydicom does;
    #: when set, the unused high bits are left as the codec wrote them.
    signed: bool | None = None
    #: Bits per sample in the codestream (with `signed`).
    precision: int | None = None


class FrameDecoder(Protocol):
    """Decodes the frames of one transfer syntax."""

    name: str
    #: True when the codec releases the GIL while it decodes, so that threads sharing
    #: the decoder decode in parallel; False when they would take turns.
    releases_gil: bool

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one frame (see the module docstring for the contract)."""
        ...
