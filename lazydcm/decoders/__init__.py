"""Frame decoders: a registry keyed by transfer syntax, one thin module per backend.

* :mod:`~lazydcm.decoders.base` - the contract: :class:`FrameSpec` (what a
  decoder knows of a file's frames), :class:`Decoded` (what it returns) and
  :class:`FrameDecoder`;
* :mod:`~lazydcm.decoders.registry` - :data:`BACKENDS`, :func:`choose` and
  :func:`select`;
* one module per backend: ``native``, ``uncompressed``, ``deflate``, ``libjpeg``,
  ``openjpeg``, ``rle``, ``imagecodecs``; :mod:`~lazydcm.decoders.markers` reads
  codestream headers and checks them against the file's before a codec runs.
"""

from lazydcm.decoders.base import Decoded, FrameDecoder, FrameSpec
from lazydcm.decoders.registry import (
    BACKENDS,
    Backend,
    Unavailable,
    available_backends,
    choose,
    select,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "Decoded",
    "FrameDecoder",
    "FrameSpec",
    "Unavailable",
    "available_backends",
    "choose",
    "select",
]
