"""Frame decoders: a registry keyed by transfer syntax, one thin module per backend.

The contract every backend keeps (:class:`FrameDecoder`):

* ``decode(encoded, spec, first_bit=0) -> Decoded`` turns one frame's encoded
  bytes into an array and says what it produced (colour space, planar
  configuration, packed bits, subsampling) in the returned :class:`Decoded`.  It
  never writes shared state, so one decoder serves many threads.
* ``encoded`` is a ``memoryview``.  A decoder may return an array that views it
  only when it is writable (the caller then hands its ownership over); a
  read-only ``encoded`` (a memory map) must be copied.
* Whatever a codec raises becomes :class:`~lazydcm.errors.DecodeError`.

A backend is chosen once per sequence by :func:`select`: the first available in
the fixed order of :data:`BACKENDS`, or the one named, so every frame of a file is
decoded by the same library.  Backend modules are imported only when a file
needs them; ``import lazydcm`` imports no codec.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from lazydcm.errors import (
    DecoderUnavailableError,
    InvalidDicomError,
    UnsupportedTransferSyntaxError,
)
from lazydcm.header import ParsedHeader
from lazydcm.uids import TransferSyntax

__all__ = [
    "BACKENDS",
    "Backend",
    "Decoded",
    "FrameDecoder",
    "FrameSpec",
    "available_backends",
    "select",
]


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
    def from_header(cls, parsed: ParsedHeader) -> FrameSpec:
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

    def decode(self, encoded: memoryview, spec: FrameSpec, first_bit: int = 0) -> Decoded:
        """Decode one frame (see the module docstring for the contract)."""
        ...


@dataclass(frozen=True)
class Backend:
    """A decoding backend: which syntaxes it serves and what it needs installed."""

    name: str
    module: str
    syntaxes: frozenset[str]
    #: Importable modules that must be present, and the pip requirements they come from.
    imports: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    install: str = "pip install lazydcm"

    def available(self) -> bool:
        """True when every module the backend needs can be imported."""
        return all(importlib.util.find_spec(name) is not None for name in self.imports)

    def load(self) -> FrameDecoder:
        """Import the backend module and return its decoder."""
        factory: Callable[[], FrameDecoder] = importlib.import_module(self.module).decoder
        return factory()


NATIVE_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
    }
)

#: Encapsulated Uncompressed Explicit VR Little Endian: one native frame a fragment.
ENCAPSULATED_NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.98"})
#: JPEG-LS lossless and near-lossless (PS3.5 A.4.3).
JPEG_LS_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
#: JPEG (PS3.5 A.4.1) and JPEG-LS, decoded by libjpeg.
JPEG_SYNTAXES = (
    frozenset(
        {
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.51",
            "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.4.70",
        }
    )
    | JPEG_LS_SYNTAXES
)
#: JPEG 2000 (PS3.5 A.4.4) and High-Throughput JPEG 2000 (A.4.11).
J2K_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)
RLE_SYNTAXES = frozenset({"1.2.840.10008.1.2.5"})
DEFLATE_SYNTAXES = frozenset({"1.2.840.10008.1.2.8.1"})
#: JPEG XL (PS3.5 A.4.12): lossless, JPEG recompression, and lossy.
JPEG_XL_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"}
)

_PYLIBJPEG = "pip install lazydcm"
_IMAGECODECS = "pip install lazydcm[imagecodecs]"

#: Every backend, in the order of preference used when none is named.
BACKENDS: tuple[Backend, ...] = (
    Backend("native", "lazydcm.decoders.native", NATIVE_SYNTAXES),
    Backend("native", "lazydcm.decoders.uncompressed", ENCAPSULATED_NATIVE_SYNTAXES),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.libjpeg",
        JPEG_SYNTAXES,
        imports=("pylibjpeg", "libjpeg"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-libjpeg>=2.1"),
        install=_PYLIBJPEG,
    ),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.openjpeg",
        J2K_SYNTAXES,
        imports=("pylibjpeg", "openjpeg"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"),
        install=_PYLIBJPEG,
    ),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.rle",
        RLE_SYNTAXES,
        imports=("pylibjpeg", "rle"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-rle>=2.0"),
        install=_PYLIBJPEG,
    ),
    Backend("zlib", "lazydcm.decoders.deflate", DEFLATE_SYNTAXES, imports=("zlib",)),
    Backend(
        "imagecodecs",
        "lazydcm.decoders.imagecodecs",
        JPEG_SYNTAXES | J2K_SYNTAXES | RLE_SYNTAXES | JPEG_XL_SYNTAXES,
        imports=("imagecodecs",),
        requires=("imagecodecs>=2024.1.1",),
        install=_IMAGECODECS,
    ),
)


def available_backends(ts: TransferSyntax) -> list[str]:
    """Names of the installed backends that can decode `ts`, in order of preference."""
    return [b.name for b in BACKENDS if ts.uid in b.syntaxes and b.available()]


def select(ts: TransferSyntax, name: str | None = None) -> FrameDecoder:
    """Return the decoder for `ts`: the named backend, else the first one available.

    Raises
    ------
    UnsupportedTransferSyntaxError
        No backend of lazydcm decodes this transfer syntax.
    DecoderUnavailableError
        Backends exist but none is installed, or the named one is not installed
        (the message lists what to install, or what is installed).
    """
    candidates = [b for b in BACKENDS if ts.uid in b.syntaxes]
    if ts.native:
        # Native data has one decoder; naming a codec backend does not apply to it.
        return candidates[0].load()
    if not candidates or not ts.decodable:
        raise UnsupportedTransferSyntaxError(
            f"Unable to decode {ts} pixel data: lazydcm has no decoder for this transfer syntax"
        )
    if name is not None:
        named = [b for b in candidates if b.name == name]
        if not named:
            known = sorted({b.name for b in candidates})
            raise DecoderUnavailableError(
                f"Unable to decode {ts} pixel data with {name!r}: that backend does not decode "
                f"this transfer syntax; the backends that do are {', '.join(known)}"
            )
        if not named[0].available():
            installed = available_backends(ts)
            raise DecoderUnavailableError(
                f"Unable to decode {ts} pixel data with {name!r}: it is not installed "
                f"({_needs(named[0])}); installed backends for it: "
                f"{', '.join(installed) if installed else 'none'}"
            )
        return named[0].load()
    for backend in candidates:
        if backend.available():
            return backend.load()
    options = "; ".join(f"{b.name} - {_needs(b)}" for b in candidates)
    raise DecoderUnavailableError(
        f"Unable to decode {ts.name!r} pixel data: no decoder is installed. {options}"
    )


def _needs(backend: Backend) -> str:
    return f"requires {' and '.join(backend.requires)} ({backend.install})"
