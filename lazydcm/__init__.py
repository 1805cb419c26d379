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
    SourceError,
    TruncatedFileError,
    UnsupportedTransferSyntaxError,
)
from lazydcm.header import Header, PixelInfo
from lazydcm.index.sidecar import clear_index_cache
from lazydcm.processing import (
    apply_color_lut,
    apply_modality_lut,
    apply_presentation_lut,
    apply_rescale,
    apply_voi_lut,
    apply_windowing,
    convert_color_space,
)
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
    "SourceError",
    "TruncatedFileError",
    "UnsupportedTransferSyntaxError",
    "__version__",
    "apply_color_lut",
    "apply_modality_lut",
    "apply_presentation_lut",
    "apply_rescale",
    "apply_voi_lut",
    "apply_windowing",
    "clear_index_cache",
    "convert_color_space",
    "iter_pixels",
    "pixel_array",
]


def __getattr__(name: str) -> object:
    # The sample files (lazydcm.examples) are imported when first asked for.
    if name == "examples":
        import importlib

        return importlib.import_module("lazydcm.examples")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
