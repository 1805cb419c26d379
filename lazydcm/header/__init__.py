"""The header stage: walk a file to its pixel element and describe its pixels.

* :mod:`~lazydcm.header.read` - :func:`read_meta` and :func:`read_dataset`, the
  header walk (with :mod:`~lazydcm.header.walker` for element and item headers,
  :mod:`~lazydcm.header.values` for the values kept, :mod:`~lazydcm.header.tags`
  for which ones);
* :mod:`~lazydcm.header.pixel_info` - the Image Pixel module and its checks;
* :mod:`~lazydcm.header.parsed` - the frozen result, :class:`ParsedHeader`;
* :mod:`~lazydcm.header.groups` - the functional groups, read lazily after open.
"""

from lazydcm.header.parsed import (
    PER_FRAME_GROUPS,
    SHARED_GROUPS,
    FileMeta,
    Header,
    ParsedHeader,
    SequenceSpan,
)
from lazydcm.header.pixel_info import PixelElement, PixelInfo
from lazydcm.header.read import check_overrides, read_dataset, read_header, read_meta

__all__ = [
    "PER_FRAME_GROUPS",
    "SHARED_GROUPS",
    "FileMeta",
    "Header",
    "ParsedHeader",
    "PixelElement",
    "PixelInfo",
    "SequenceSpan",
    "check_overrides",
    "read_dataset",
    "read_header",
    "read_meta",
]
