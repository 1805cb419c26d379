"""Byte sources: where the bytes of a DICOM file come from, behind one protocol.

See :mod:`lazydcm.sources.base` for the protocol every source keeps.  The
implementations: :class:`LocalFileSource` (a path: memory-mapped for the header
walk, ``pread`` after it), :class:`MemorySource` (bytes-like objects),
:class:`FileObjectSource` (a binary file object) and :func:`inflate` (a deflated
dataset, inflated into a temporary file).
"""

from lazydcm.sources.base import ByteRange, ByteSource, SourceStatus, read_exactly
from lazydcm.sources.fileobj import FileObjectSource
from lazydcm.sources.inflated import inflate
from lazydcm.sources.local import LocalFileSource
from lazydcm.sources.memory import MemorySource

__all__ = [
    "ByteRange",
    "ByteSource",
    "FileObjectSource",
    "LocalFileSource",
    "MemorySource",
    "SourceStatus",
    "inflate",
    "read_exactly",
]
