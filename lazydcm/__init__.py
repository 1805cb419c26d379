"""lazydcm: read DICOM pixel data one frame at a time, with bounded memory.

>>> import lazydcm
>>> with lazydcm.FrameSequence("cine.dcm") as frames:  # doctest: +SKIP
...     frame = frames[10]

``import lazydcm`` imports NumPy and nothing heavier: codec libraries are
imported when a file needs them.
"""

from lazydcm.cache import CacheInfo
from lazydcm.errors import (
    DecodeError,
    DecoderUnavailableError,
    FrameIndexError,
    InvalidDicomError,
    LazyDcmError,
    LazyDcmWarning,
    PixelDataNotFoundError,
    TruncatedFileError,
    UnsupportedTransferSyntaxError,
)
from lazydcm.header import Header, PixelInfo
from lazydcm.index_cache import clear_index_cache
from lazydcm.sequence import FrameSequence, iter_pixels, pixel_array

__version__ = "0.1.0"

__all__ = [
    "CacheInfo",
    "DecodeError",
    "DecoderUnavailableError",
    "FrameIndexError",
    "FrameSequence",
    "Header",
    "InvalidDicomError",
    "LazyDcmError",
    "LazyDcmWarning",
    "PixelDataNotFoundError",
    "PixelInfo",
    "TruncatedFileError",
    "UnsupportedTransferSyntaxError",
    "__version__",
    "clear_index_cache",
    "iter_pixels",
    "pixel_array",
]
