"""The backend registry: which backend decodes which transfer syntax, chosen once.

A backend is chosen once per sequence by :func:`choose` (a value: the decoder,
or :class:`Unavailable` saying why there is none) or :func:`select` (which
raises): the first available in the fixed order of :data:`BACKENDS`, or the one
named, so every frame of a file is decoded by the same library.  Backend modules
are imported only when a file needs them; ``import lazydcm`` imports no codec.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from lazydcm import uids
from lazydcm.decoders.base import FrameDecoder
from lazydcm.errors import DecoderUnavailableError, LazyDcmError, UnsupportedTransferSyntaxError
from lazydcm.uids import TransferSyntax

__all__ = ["BACKENDS", "Backend", "Unavailable", "available_backends", "choose", "select"]


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


_PYLIBJPEG = "pip install lazydcm"
_IMAGECODECS = "pip install lazydcm[imagecodecs]"

#: Every backend, in the order of preference used when none is named.
BACKENDS: tuple[Backend, ...] = (
    Backend("native", "lazydcm.decoders.native", uids.NATIVE_SYNTAXES),
    Backend("native", "lazydcm.decoders.uncompressed", frozenset({uids.ENCAPSULATED_UNCOMPRESSED})),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.libjpeg",
        uids.JPEG_SYNTAXES,
        imports=("pylibjpeg", "libjpeg"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-libjpeg>=2.1"),
        install=_PYLIBJPEG,
    ),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.openjpeg",
        uids.J2K_SYNTAXES,
        imports=("pylibjpeg", "openjpeg"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"),
        install=_PYLIBJPEG,
    ),
    Backend(
        "pylibjpeg",
        "lazydcm.decoders.rle",
        uids.RLE_SYNTAXES,
        imports=("pylibjpeg", "rle"),
        requires=("pylibjpeg>=2.0", "pylibjpeg-rle>=2.0"),
        install=_PYLIBJPEG,
    ),
    Backend("zlib", "lazydcm.decoders.deflate", uids.DEFLATE_SYNTAXES, imports=("zlib",)),
    Backend(
        "imagecodecs",
        "lazydcm.decoders.imagecodecs",
        uids.JPEG_SYNTAXES | uids.J2K_SYNTAXES | uids.RLE_SYNTAXES | uids.JPEG_XL_SYNTAXES,
        imports=("imagecodecs",),
        requires=("imagecodecs>=2024.1.1",),
        install=_IMAGECODECS,
    ),
)


def available_backends(ts: TransferSyntax) -> list[str]:
    """Names of the installed backends that can decode `ts`, in order of preference."""
    return [b.name for b in BACKENDS if ts.uid in b.syntaxes and b.available()]


@dataclass(frozen=True)
class Unavailable:
    """Why no backend decodes a file's frames: raised when a frame is decoded."""

    error: type[LazyDcmError]
    message: str

    def exception(self) -> LazyDcmError:
        """The error to raise."""
        return self.error(self.message)


def choose(ts: TransferSyntax, name: str | None = None) -> FrameDecoder | Unavailable:
    """The decoder for `ts`: the named backend, else the first one available.

    Returns :class:`Unavailable` -- an :class:`~lazydcm.errors.UnsupportedTransferSyntaxError`
    when no backend of lazydcm decodes the syntax, a
    :class:`~lazydcm.errors.DecoderUnavailableError` when backends exist but none is
    installed, or the named one is not (the message lists what to install, or what is
    installed) -- so that a file whose frames cannot be decoded here still opens.
    """
    candidates = [b for b in BACKENDS if ts.uid in b.syntaxes]
    if ts.native:
        # Native data has one decoder; naming a codec backend does not apply to it.
        return candidates[0].load()
    if not candidates or not ts.decodable:
        return Unavailable(
            UnsupportedTransferSyntaxError,
            f"Unable to decode {ts} pixel data: lazydcm has no decoder for this transfer syntax",
        )
    if name is not None:
        named = [b for b in candidates if b.name == name]
        if not named:
            known = sorted({b.name for b in candidates})
            return Unavailable(
                DecoderUnavailableError,
                f"Unable to decode {ts} pixel data with {name!r}: that backend does not decode "
                f"this transfer syntax; the backends that do are {', '.join(known)}",
            )
        if not named[0].available():
            installed = available_backends(ts)
            return Unavailable(
                DecoderUnavailableError,
                f"Unable to decode {ts} pixel data with {name!r}: it is not installed "
                f"({_needs(named[0])}); installed backends for it: "
                f"{', '.join(installed) if installed else 'none'}",
            )
        return named[0].load()
    for backend in candidates:
        if backend.available():
            return backend.load()
    options = "; ".join(f"{b.name} - {_needs(b)}" for b in candidates)
    return Unavailable(
        DecoderUnavailableError,
        f"Unable to decode {ts.name!r} pixel data: no decoder is installed. {options}",
    )


def select(ts: TransferSyntax, name: str | None = None) -> FrameDecoder:
    """Return the decoder for `ts`, as :func:`choose`, raising where there is none.

    Raises
    ------
    UnsupportedTransferSyntaxError
        No backend of lazydcm decodes this transfer syntax.
    DecoderUnavailableError
        Backends exist but none is installed, or the named one is not installed.
    """
    chosen = choose(ts, name)
    if isinstance(chosen, Unavailable):
        raise chosen.exception()
    return chosen


def _needs(backend: Backend) -> str:
    return f"requires {' and '.join(backend.requires)} ({backend.install})"
