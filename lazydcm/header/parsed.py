"""What the header walk produces: frozen values that hold no live resource.

:class:`ParsedHeader` is everything later stages need from a file's header --
the Image Pixel module (:class:`~lazydcm.header.pixel_info.PixelInfo`), the kept
elements (:class:`Header`), where the pixel element is, the transfer syntax,
and where the functional groups sequences are.  It refers to byte offsets in the
source it was read from but holds no source, so it can be cached, compared,
pickled and shared between threads and sequences.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lazydcm import uids
from lazydcm.header.pixel_info import PixelElement, PixelInfo

__all__ = [
    "PER_FRAME_GROUPS",
    "SHARED_GROUPS",
    "FileMeta",
    "Header",
    "ParsedHeader",
    "SequenceSpan",
]

#: The sequences whose place the header walk records (PS3.3 C.7.6.16).
SHARED_GROUPS = 0x52009229
PER_FRAME_GROUPS = 0x52009230


class Header(Mapping[str, Any]):
    """A read-only mapping, DICOM keyword -> value, of what the header walk kept.

    Values are Python scalars or tuples (US, IS, DS, ...), ``str`` (text VRs),
    ``bytes`` (OB, OW), a tuple of read-only item mappings (sequences), or a
    read-only NumPy array (the 64-bit Extended Offset Table).
    """

    __slots__ = ("_items", "_offsets")

    def __init__(self, items: Mapping[str, Any], offsets: Mapping[str, int]) -> None:
        self._items = dict(items)
        self._offsets = dict(offsets)

    def __getitem__(self, keyword: str) -> Any:
        return self._items[keyword]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def offset(self, keyword: str) -> int | None:
        """Return the byte offset of the element's tag in the file, when known."""
        return self._offsets.get(keyword)

    def __reduce__(self) -> tuple[type[Header], tuple[dict[str, Any], dict[str, int]]]:
        return Header, (self._items, self._offsets)

    def __repr__(self) -> str:
        def short(value: Any) -> str:
            text = repr(value)
            return text if len(text) <= 60 else text[:57] + "..."

        body = ", ".join(f"{key}={short(value)}" for key, value in self._items.items())
        return f"Header({body})"


@dataclass(frozen=True)
class SequenceSpan:
    """Where a top-level sequence the header walk skipped is, to be read later."""

    tag: int
    #: Byte offset of the element's tag, and of its value.
    offset: int
    value_offset: int
    #: The value length as written; None for undefined length.
    length: int | None
    #: How its items are encoded (a UN sequence is Implicit VR Little Endian inside).
    implicit: bool
    little_endian: bool
    #: Where the sequence ends (after its delimiter, for undefined length).
    end: int


@dataclass(frozen=True)
class FileMeta:
    """The File Meta group (PS3.10 7.1), or what a bare dataset's first element says."""

    transfer_syntax: uids.TransferSyntax
    #: Where the dataset begins (after the File Meta group).
    dataset_offset: int
    #: Keyword -> value of the kept File Meta elements, and their byte offsets.
    values: Mapping[str, Any]
    offsets: Mapping[str, int]


@dataclass(frozen=True)
class ParsedHeader:
    """What the header walk found (see the module docstring)."""

    info: PixelInfo
    header: Header
    pixel: PixelElement
    transfer_syntax: uids.TransferSyntax
    #: Where the (5200,9229) Shared and (5200,9230) Per-Frame Functional Groups
    #: Sequences are, when the dataset has them (read by :mod:`lazydcm.header.groups`).
    shared_groups: SequenceSpan | None = None
    per_frame_groups: SequenceSpan | None = None

    @property
    def words_swapped(self) -> bool:
        """True for 8-bit native samples written as OW in Explicit VR Big Endian.

        OW is a stream of 16-bit words, so in big endian each pair of 8-bit
        samples is stored swapped (PS3.5 7.3 and 8.2): byte *k* is at *k* xor 1.
        """
        return (
            not self.transfer_syntax.little_endian
            and self.info.bits_allocated == 8
            and self.pixel.keyword == "PixelData"
            and self.pixel.vr == "OW"
        )
