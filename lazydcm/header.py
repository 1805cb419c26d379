"""Walk a DICOM file's header just far enough to find its pixel element.

:func:`read_header` reads the preamble and File Meta group (PS3.10 7.1) when the
file has them, or sniffs a bare dataset's encoding from its first element, then
walks the top-level elements in Implicit VR Little Endian, Explicit VR Little or
Big Endian, or Deflated Explicit VR Little Endian (inflated to a temporary file
first, PS3.5 A.5).  It stops at the first of (7FE0,0008) Float Pixel Data,
(7FE0,0009) Double Float Pixel Data and (7FE0,0010) Pixel Data.

Everything lazydcm does not need is skipped by its length, without being decoded:
sequences and items of defined length are jumped over; sequences and items of
undefined length (PS3.5 7.5) are walked element header by element header, also
when nested, also when private or encoded as ``UN`` (whose content is Implicit VR
Little Endian, PS3.5 6.2.2) -- by :class:`lazydcm.walker.Walker`.  Only the
elements of :data:`lazydcm.tags.KEPT` are decoded (:mod:`lazydcm.values`).

The result is a :class:`ParsedHeader`: a frozen :class:`PixelInfo`, a read-only
:class:`Header` mapping (keyword -> value), where the pixel element's value starts
and how long it is, and the byte source that offset refers to.  Every length read
from the file is checked against the file's size before it is used.

A caller may correct a non-conformant Image Pixel module with ``overrides``
(keyword -> value, :data:`lazydcm.tags.OVERRIDABLE`): the values replace the
file's before :class:`PixelInfo` is built, and are validated exactly as the
file's values are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import (
    InvalidDicomError,
    PixelDataNotFoundError,
    TruncatedFileError,
)
from lazydcm.pixel_info import PixelElement, PixelInfo, pixel_info
from lazydcm.source import ByteSource, inflate
from lazydcm.tags import (
    KEPT,
    OVERRIDABLE,
    PIXEL_KEYWORDS,
    format_tag,
)
from lazydcm.values import Raw, decode
from lazydcm.walker import UNDEFINED, Walker, looks_explicit

__all__ = [
    "PER_FRAME_GROUPS",
    "SHARED_GROUPS",
    "Header",
    "ParsedHeader",
    "PixelElement",
    "PixelInfo",
    "SequenceSpan",
    "read_header",
]


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


#: The sequences whose place the header walk records (PS3.3 C.7.6.16).
SHARED_GROUPS = 0x52009229
PER_FRAME_GROUPS = 0x52009230


@dataclass(frozen=True)
class ParsedHeader:
    """What :func:`read_header` found."""

    info: PixelInfo
    header: Header
    pixel: PixelElement
    transfer_syntax: uids.TransferSyntax
    #: The source that ``pixel.value_offset`` refers to: the file itself, or the
    #: inflated dataset of a Deflated Explicit VR Little Endian file.
    source: ByteSource
    #: Where the (5200,9229) Shared and (5200,9230) Per-Frame Functional Groups
    #: Sequences are, when the dataset has them (read by :mod:`lazydcm.groups`).
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


def read_header(source: ByteSource, *, overrides: Mapping[str, Any] | None = None) -> ParsedHeader:
    """Walk `source` to its pixel element and return what the frame pipeline needs.

    Parameters
    ----------
    source : ByteSource
        The file.
    overrides : mapping, optional
        Keyword -> value of Image Pixel module elements (and (0028,0008) Number of
        Frames) that replace the file's values, or add missing ones, before
        :class:`PixelInfo` is built (:data:`lazydcm.tags.OVERRIDABLE`).  Values are
        given as the header walk decodes them (``int`` for US and IS, ``str`` for
        CS) and validated exactly like values read from the file.  The returned
        :class:`Header` holds them, with no byte offset.

    Raises
    ------
    ValueError
        An override names a keyword that cannot be overridden (the message names it).
    InvalidDicomError
        The bytes are not DICOM, or are malformed (the message says where), or an
        override's value is invalid.
    TruncatedFileError
        The file ends inside the header.
    PixelDataNotFoundError
        The dataset has no pixel element.
    lazydcm.errors.UnsupportedTransferSyntaxError
        The File Meta names a transfer syntax lazydcm does not know.
    """
    replaced = _check_overrides(overrides)
    walker = Walker(source)
    kept: dict[int, Raw] = {}
    pos = _read_meta(walker, kept)
    ts_raw = kept.get(0x00020010)
    ts_uid = decode(ts_raw, False) if ts_raw is not None else ""
    transfer_syntax = uids.lookup(str(ts_uid)) if ts_uid else _sniff(walker, pos)
    if not transfer_syntax.deflated:
        return _finish(source, walker, pos, transfer_syntax, kept, replaced)
    inflated = inflate(source, pos)
    try:
        return _finish(inflated, Walker(inflated), 0, transfer_syntax, kept, replaced)
    except BaseException:
        inflated.close()
        raise


def _check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The overrides as a dict; ValueError for a keyword that cannot be overridden."""
    if not overrides:
        return {}
    replaced: dict[str, Any] = {}
    for keyword, value in overrides.items():
        if keyword not in OVERRIDABLE:
            raise ValueError(
                f"{keyword!r} cannot be overridden: overrides take the keywords of the Image "
                f"Pixel module and NumberOfFrames ({', '.join(sorted(OVERRIDABLE))})"
            )
        # NumPy integers read as the Python ints the header walk decodes.
        replaced[keyword] = int(value) if isinstance(value, np.integer) else value
    return replaced


def _finish(
    source: ByteSource,
    walker: Walker,
    pos: int,
    transfer_syntax: uids.TransferSyntax,
    kept: dict[int, Raw],
    replaced: dict[str, Any],
) -> ParsedHeader:
    """Walk the dataset from `pos` and build the result."""
    spans: dict[int, SequenceSpan] = {}
    pixel = _walk_dataset(walker, pos, transfer_syntax, kept, spans)
    values, offsets = _decode_all(kept, replaced.get("PixelRepresentation"))
    for keyword, value in replaced.items():
        values[keyword] = value
        offsets.pop(keyword, None)
    values.setdefault("TransferSyntaxUID", transfer_syntax.uid)
    header = Header(values, offsets)
    if pixel is None:
        raise PixelDataNotFoundError(
            f"{source.name}: the dataset has no (7FE0,0010) 'Pixel Data', (7FE0,0008) "
            "'Float Pixel Data' or (7FE0,0009) 'Double Float Pixel Data' element"
        )
    info = pixel_info(header, pixel, transfer_syntax, source.name, replaced.keys())
    return ParsedHeader(
        info,
        header,
        pixel,
        transfer_syntax,
        source,
        spans.get(SHARED_GROUPS),
        spans.get(PER_FRAME_GROUPS),
    )


def _read_meta(walker: Walker, kept: dict[int, Raw]) -> int:
    """Read the preamble and File Meta group, when present; return where the dataset starts."""
    size = walker.size
    pos = 0
    if size >= 132 and walker.bytes_at(128, 4, "the preamble") == b"DICM":
        pos = 132
    elif size >= 4 and walker.bytes_at(0, 4, "the file") == b"DICM":
        pos = 4  # a file that kept the DICM prefix but dropped the preamble
    if size < pos + 8:
        raise InvalidDicomError(f"{walker.name}: {size} bytes is too short to be a DICOM file")
    group_end: int | None = None
    while pos + 8 <= size:
        group = int.from_bytes(walker.bytes_at(pos, 2, "the File Meta group"), "little")
        if group != 0x0002:
            break
        explicit = looks_explicit(walker.bytes_at(pos + 4, 2, "the File Meta group"))
        tag, vr, length, vpos = walker.element(pos, not explicit, True)
        if length == UNDEFINED:
            raise InvalidDicomError(
                f"{walker.name}: File Meta element {format_tag(tag)} at byte {pos} has an "
                "undefined length"
            )
        walker.check_value(tag, pos, vpos, length)
        if tag == 0x00020000 and length == 4:
            group_end = vpos + 4 + int.from_bytes(walker.bytes_at(vpos, 4, "(0002,0000)"), "little")
        if tag in KEPT:
            raw = walker.bytes_at(vpos, length, tag)
            kept[tag] = Raw.of(tag, vr, KEPT[tag][1], raw, pos, True)
        pos = vpos + length
    if group_end is not None and pos < group_end and pos + 8 > size:
        raise TruncatedFileError(
            f"{walker.name}: the file ends at byte {size}, inside the File Meta group whose "
            f"(0002,0000) 'File Meta Information Group Length' says it ends at byte {group_end}"
        )
    return pos


def _sniff(walker: Walker, pos: int) -> uids.TransferSyntax:
    """Guess the encoding of a dataset with no Transfer Syntax UID from its first element."""
    if walker.size < pos + 8:
        raise InvalidDicomError(f"{walker.name}: no dataset after byte {pos}")
    head = walker.bytes_at(pos, 6, "the first element")
    group_le = int.from_bytes(head[:2], "little")
    group_be = int.from_bytes(head[:2], "big")
    explicit = looks_explicit(head[4:6])
    # Datasets begin with low group numbers (0008, ...): the reading that gives the
    # smaller group is the byte order the file was written in.
    if explicit and group_be < group_le:
        return uids.lookup(uids.EXPLICIT_BE)
    # A dataset without File Meta begins with a low group (0008 in practice); anything
    # else is not DICOM, and reading on would only produce a misleading length error.
    if group_le > 0x00FF or head[:4] == b"\x00\x00\x00\x00":
        raise InvalidDicomError(
            f"{walker.name}: not a DICOM file: there is no 'DICM' prefix at byte 128, and the "
            f"bytes at byte {pos} do not start a dataset (they read as tag "
            f"({group_le:04X},{int.from_bytes(head[2:4], 'little'):04X}))"
        )
    return uids.lookup(uids.EXPLICIT_LE if explicit else uids.IMPLICIT_LE)


def _walk_dataset(
    walker: Walker,
    pos: int,
    ts: uids.TransferSyntax,
    kept: dict[int, Raw],
    spans: dict[int, SequenceSpan],
) -> PixelElement | None:
    """Walk the top-level elements from `pos`; keep what lazydcm needs; find the pixels.

    The functional groups sequences are skipped like any other, and only their
    place is recorded in `spans`: :mod:`lazydcm.groups` reads them when asked.
    """
    implicit, little = ts.implicit_vr, ts.little_endian
    size = walker.size
    while pos + 8 <= size:
        tag, vr, length, vpos = walker.element(pos, implicit, little)
        if tag in PIXEL_KEYWORDS:
            vr_text = vr.decode("ascii") if vr is not None else None
            return PixelElement(
                PIXEL_KEYWORDS[tag],
                tag,
                vr_text,
                pos,
                vpos,
                None if length == UNDEFINED else length,
            )
        if tag >> 16 == 0xFFFE:
            # A stray delimiter at the top level: nothing to skip but its header.
            pos = vpos
            continue
        # PS3.5 6.2.2: a UN value is encoded as in Implicit VR Little Endian.
        as_un = vr == b"UN"
        inner_implicit, inner_little = implicit or as_un, little or as_un
        if length != UNDEFINED:
            walker.check_value(tag, pos, vpos, length)
        if tag in (SHARED_GROUPS, PER_FRAME_GROUPS):
            defined = None if length == UNDEFINED else length
            spans[tag] = SequenceSpan(tag, pos, vpos, defined, inner_implicit, inner_little)
        if tag in KEPT and KEPT[tag][1] == "SQ":
            items, end = walker.read_items(tag, pos, vpos, length, inner_implicit, inner_little)
            kept[tag] = Raw(tag, "SQ", items, pos, inner_little)
            pos = end
        elif length == UNDEFINED:
            pos = walker.skip_sequence(tag, vpos, inner_implicit, inner_little)
        else:
            if tag in KEPT:
                raw = walker.bytes_at(vpos, length, tag)
                kept[tag] = Raw.of(tag, vr, KEPT[tag][1], raw, pos, inner_little)
            pos = vpos + length
    if pos < size:
        raise TruncatedFileError(
            f"{walker.name}: the file ends at byte {size}, inside the element header at byte {pos}"
        )
    return None


def _decode_all(
    kept: dict[int, Raw], representation: Any = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Decode every kept element; US-or-SS values follow Pixel Representation
    (`representation` when it is overridden)."""
    signed_raw = kept.get(0x00280103)
    if representation is not None:
        signed = representation == 1
    else:
        signed = signed_raw is not None and decode(signed_raw, False) == 1
    values: dict[str, Any] = {}
    offsets: dict[str, int] = {}
    for tag in sorted(kept):
        keyword = KEPT[tag][0]
        values[keyword] = decode(kept[tag], signed)
        offsets[keyword] = kept[tag].offset
    return values, offsets
