"""The exceptions and warnings lazydcm raises.

Every error is a :class:`LazyDcmError`, and each one also derives from the
standard exception a caller would expect (``ValueError`` for malformed data,
``KeyError`` for a missing element, ...), so code can catch either.

Messages name the element as ``(0028,0010) 'Rows'``, the value found, what was
expected, and the byte offset in the file when there is one.  An index out of
range is a plain :class:`IndexError`, as for any Python sequence.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "DecoderUnavailableError",
    "FrameIndexError",
    "InvalidDicomError",
    "LazyDcmError",
    "LazyDcmWarning",
    "PixelDataNotFoundError",
    "SourceError",
    "TruncatedFileError",
    "UnsupportedTransferSyntaxError",
]


class LazyDcmError(Exception):
    """Base class of every error raised by lazydcm."""


class InvalidDicomError(LazyDcmError, ValueError):
    """The input is not DICOM, or it is malformed (says what and where)."""


class TruncatedFileError(InvalidDicomError):
    """The file ends before what its header promises."""


class PixelDataNotFoundError(LazyDcmError, KeyError):
    """The dataset has no (7FE0,0008), (7FE0,0009) or (7FE0,0010) element."""

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; show it as written.
        return str(self.args[0]) if self.args else ""


class FrameIndexError(LazyDcmError, ValueError):
    """Offset tables, fragments and Number of Frames disagree."""


class UnsupportedTransferSyntaxError(LazyDcmError, NotImplementedError):
    """The transfer syntax is unknown, or known but not decodable by lazydcm."""


class DecoderUnavailableError(LazyDcmError, RuntimeError):
    """No installed backend can decode the pixel data (names what to install)."""


class DecodeError(LazyDcmError, RuntimeError):
    """A codec failed on one frame; the other frames stay readable."""


class SourceError(LazyDcmError, OSError):
    """A remote or file source failed (names the status, the URL and the byte range)."""


class LazyDcmWarning(UserWarning):
    """A recoverable oddity in the input, filterable by class."""
