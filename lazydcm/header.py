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
Little Endian, PS3.5 6.2.2).  Only the elements of :data:`lazydcm.tags.KEPT` are
decoded.

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

import struct
import warnings
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import (
    InvalidDicomError,
    LazyDcmWarning,
    PixelDataNotFoundError,
    TruncatedFileError,
)
from lazydcm.source import ByteSource, inflate, whole_view
from lazydcm.tags import (
    AMBIGUOUS_US_SS,
    KEPT,
    OVERRIDABLE,
    PIXEL_KEYWORDS,
    SEQUENCE_ITEM_KEPT,
    format_tag,
)

__all__ = ["Header", "ParsedHeader", "PixelElement", "PixelInfo", "read_header"]

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
#: Sequences and items (counted together) nest at most this deep in a valid file.
MAX_DEPTH = 128
#: The largest Integer String (PS3.5 6.2): Number of Frames cannot be more.
MAX_IS = 2**31 - 1

# PS3.5 7.1.2: these VRs have 2 reserved bytes and a 32-bit length.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
_STRUCTS = {
    "<": (struct.Struct("<HHI"), struct.Struct("<HH2sH"), struct.Struct("<I")),
    ">": (struct.Struct(">HHI"), struct.Struct(">HH2sH"), struct.Struct(">I")),
}
_NUMERIC = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
_BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "UN"})
_MULTI_VALUED_TEXT = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI"}
)

# Encapsulated syntaxes whose frames are native samples (PS3.5 A.4.11, 8.2.16).
_NATIVE_FRAMES = frozenset({uids.ENCAPSULATED_UNCOMPRESSED, uids.DEFLATED_IMAGE_FRAME})

_PHOTOMETRIC = frozenset(
    {
        "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK",
        "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT",
        "YBR_RCT", "XYB",
    }
)  # fmt: skip


@dataclass(frozen=True)
class PixelInfo:
    """The Image Pixel module as stored in the file.

    For Float and Double Float Pixel Data, which have no Bits Stored, High Bit or
    Pixel Representation (PS3.3 C.7.6.24), those read as ``bits_allocated``,
    ``bits_allocated - 1`` and 0.
    """

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    number_of_frames: int
    transfer_syntax_uid: str
    pixel_keyword: str

    @property
    def frame_pixels(self) -> int:
        """Samples in one frame: rows x columns x samples per pixel."""
        return self.rows * self.columns * self.samples_per_pixel


@dataclass(frozen=True)
class PixelElement:
    """Where the pixel element is and how it is encoded."""

    keyword: str
    tag: int
    #: The explicit VR ('OB', 'OW', ...), or None in an Implicit VR dataset.
    vr: str | None
    #: Byte offset of the element's tag, and of its value.
    offset: int
    value_offset: int
    #: The value length as written; None for undefined length (encapsulated data).
    length: int | None


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
class ParsedHeader:
    """What :func:`read_header` found."""

    info: PixelInfo
    header: Header
    pixel: PixelElement
    transfer_syntax: uids.TransferSyntax
    #: The source that ``pixel.value_offset`` refers to: the file itself, or the
    #: inflated dataset of a Deflated Explicit VR Little Endian file.
    source: ByteSource

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


@dataclass
class _Raw:
    """A kept element before decoding."""

    tag: int
    vr: str
    value: bytes | list[dict[str, Any]]
    offset: int
    little: bool

    @classmethod
    def of(
        cls, tag: int, found: bytes | None, dictionary_vr: str, value: bytes, at: int, little: bool
    ) -> _Raw:
        """Keep a value, decoded later with the explicit VR, else (implicit or UN) the
        dictionary's; a UN value is little endian whatever the dataset (PS3.5 6.2.2)."""
        if found is None or found == b"UN":
            return cls(tag, dictionary_vr, value, at, little or found == b"UN")
        return cls(tag, found.decode("ascii"), value, at, little)


def _looks_explicit(vr: bytes) -> bool:
    return vr in _SHORT_VRS or vr in _LONG_VRS


class _Walker:
    """Reads element headers from a byte source.

    A memory map or a buffer is read directly (one zero-copy view of it all);
    any other source is asked for exactly the bytes each step needs.
    """

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.size = source.size
        self.name = source.name
        whole = whole_view(source)
        self.base = 0
        self.buf = whole if whole is not None else memoryview(b"")
        self.wend = len(self.buf)

    def fill(self, pos: int, n: int, what: str) -> None:
        """Make bytes ``[pos, pos + n)`` available in ``buf``."""
        if pos + n > self.size:
            raise TruncatedFileError(
                f"{self.name}: the file ends at byte {self.size} inside {what} at byte {pos}"
            )
        if pos >= self.base and pos + n <= self.wend:
            return
        self.buf = self.source.view(pos, n)
        self.base, self.wend = pos, pos + n

    def bytes_at(self, pos: int, n: int, what: str | int) -> bytes:
        """`n` bytes at `pos`; `what` (a description or a tag) names them in errors."""
        if pos < self.base or pos + n > self.wend:
            self.fill(pos, n, what if isinstance(what, str) else format_tag(what))
        rel = pos - self.base
        return bytes(self.buf[rel : rel + n])

    def check_value(self, tag: int, at: int, vpos: int, length: int) -> None:
        """Raise TruncatedFileError if the value of the element at `at` runs past the end."""
        if vpos + length > self.size:
            raise TruncatedFileError(
                f"{self.name}: {format_tag(tag)} at byte {at} has a value of {length} "
                f"bytes from byte {vpos}, but the file ends at byte {self.size}"
            )

    def element(self, pos: int, implicit: bool, little: bool) -> tuple[int, bytes | None, int, int]:
        """Return (tag, explicit VR or None, length, value offset) of the element at `pos`."""
        tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
        need = 8 if implicit else 12  # a long explicit VR header is 12 bytes
        if pos < self.base or pos + need > self.wend:
            self.fill(pos, min(need, max(8, self.size - pos)), "an element header")
        rel = pos - self.base
        group, elem, length = tag_len.unpack_from(self.buf, rel)
        tag = group << 16 | elem
        if implicit or group == 0xFFFE:
            return tag, None, length, pos + 8
        _, _, vr, short_length = short_hdr.unpack_from(self.buf, rel)
        if vr in _LONG_VRS:
            self.fill(pos, 12, f"{format_tag(tag)}")
            return tag, vr, long_len.unpack_from(self.buf, pos - self.base + 8)[0], pos + 12
        if vr in _SHORT_VRS:
            return tag, vr, short_length, pos + 8
        # Not a VR: a non-conformant file that switched to implicit VR here.
        return tag, None, length, pos + 8

    def skip_sequence(self, tag: int, pos: int, implicit: bool, little: bool) -> int:
        """Skip an undefined-length sequence whose items start at `pos`; return its end.

        One loop over element and item headers with an explicit stack of the open
        sequences and items (no recursion, no objects built): this is the hot path
        of files with thousands of per-frame functional group items, so it reads
        each header with one struct call where it can.
        """
        size = self.size
        # The open containers around the current one: (implicit, little, is an item).
        outer: list[tuple[bool, bool, bool]] = []
        in_item = False
        tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
        buf, base, wend = self.buf, self.base, self.wend
        while True:
            if pos < base or pos + 12 > wend:
                self.fill(pos, min(12, max(8, size - pos)), f"the items of {format_tag(tag)}")
                buf, base, wend = self.buf, self.base, self.wend
            rel = pos - base
            if implicit:
                group, elem, length = tag_len.unpack_from(buf, rel)
                vr = None
            else:
                group, elem, vr, length = short_hdr.unpack_from(buf, rel)
            if group == 0xFFFE:
                if elem == 0xE000 and not in_item:
                    length = tag_len.unpack_from(buf, rel)[2]
                    if length != UNDEFINED:
                        if pos + 8 + length > size:
                            self.check_value(ITEM, pos, pos + 8, length)
                        pos += 8 + length
                        continue
                    if len(outer) >= MAX_DEPTH:
                        self._too_deep(pos)
                    outer.append((implicit, little, in_item))
                    in_item = True
                elif (elem == 0xE00D and in_item) or (elem == 0xE0DD and not in_item):
                    if not outer:
                        return pos + 8
                    implicit, little, in_item = outer.pop()
                    tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
                else:
                    self._unexpected(tag, group << 16 | elem, pos, in_item)
                pos += 8
                continue
            if not in_item:
                self._unexpected(tag, group << 16 | elem, pos, in_item)
            vpos = pos + 8
            if vr is not None and vr not in _SHORT_VRS:
                if vr in _LONG_VRS:
                    if pos + 12 > wend:
                        self.fill(pos, 12, f"{format_tag(group << 16 | elem)}")
                        buf, base, wend = self.buf, self.base, self.wend
                        rel = pos - base
                    length = long_len.unpack_from(buf, rel + 8)[0]
                    vpos = pos + 12
                else:  # not a VR: a non-conformant switch to implicit VR here
                    length = tag_len.unpack_from(buf, rel)[2]
            if length != UNDEFINED:
                if vpos + length > size:
                    self.check_value(group << 16 | elem, pos, vpos, length)
                pos = vpos + length
                continue
            if len(outer) >= MAX_DEPTH:
                self._too_deep(pos)
            outer.append((implicit, little, in_item))
            # PS3.5 6.2.2: a UN sequence of undefined length is Implicit VR LE inside.
            as_un = vr == b"UN"
            implicit, little, in_item = implicit or as_un, little or as_un, False
            tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
            pos = vpos

    def _too_deep(self, pos: int) -> None:
        raise InvalidDicomError(
            f"{self.name}: sequences and items nest more than {MAX_DEPTH} deep at byte {pos}"
        )

    def _unexpected(self, tag: int, found: int, pos: int, in_item: bool) -> None:
        if in_item:
            expected = "an element or an item delimiter (FFFE,E00D)"
        else:
            expected = "an item (FFFE,E000) or a sequence delimiter (FFFE,E0DD)"
        raise InvalidDicomError(
            f"{self.name}: expected {expected} in {format_tag(tag)} at byte {pos}, found "
            f"{format_tag(found)}"
        )

    def read_items(
        self, tag: int, at: int, pos: int, length: int, implicit: bool, little: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """Read the items of a kept sequence (one level deep); return them and the end."""
        end = None if length == UNDEFINED else pos + length
        if end is not None:
            self.check_value(tag, at, pos, length)
        items: list[dict[str, Any]] = []
        tag_len = _STRUCTS["<" if little else ">"][0]
        while end is None or pos < end:
            self.fill(pos, 8, f"the items of {format_tag(tag)}")
            group, elem, item_length = tag_len.unpack_from(self.buf, pos - self.base)
            item_tag = group << 16 | elem
            if item_tag == SEQUENCE_DELIMITER:
                return items, pos + 8
            if item_tag != ITEM:
                raise InvalidDicomError(
                    f"{self.name}: expected an item (FFFE,E000) in {format_tag(tag)} at byte "
                    f"{pos}, found {format_tag(item_tag)}"
                )
            item_end = None if item_length == UNDEFINED else pos + 8 + item_length
            if item_end is not None:
                self.check_value(ITEM, pos, pos + 8, item_length)
                self._inside(ITEM, pos, item_end, tag, end)
            item_at = pos
            pos += 8
            values: dict[str, Any] = {}
            while item_end is None or pos < item_end:
                el_tag, vr, el_len, vpos = self.element(pos, implicit, little)
                if el_tag == ITEM_DELIMITER:
                    pos = vpos
                    break
                if el_len == UNDEFINED:
                    as_un = vr == b"UN"
                    pos = self.skip_sequence(el_tag, vpos, implicit or as_un, little or as_un)
                    self._inside(el_tag, vpos, pos, ITEM, item_end)
                    continue
                self.check_value(el_tag, pos, vpos, el_len)
                self._inside(el_tag, pos, vpos + el_len, ITEM, item_end)
                if el_tag in SEQUENCE_ITEM_KEPT:
                    keyword, dict_vr = SEQUENCE_ITEM_KEPT[el_tag]
                    raw = self.bytes_at(vpos, el_len, el_tag)
                    values[keyword] = _Raw.of(el_tag, vr, dict_vr, raw, pos, little)
                pos = vpos + el_len
            self._inside(ITEM, item_at, pos, tag, end)
            items.append(values)
        return items, pos

    def _inside(self, tag: int, at: int, stop: int, parent: int, parent_end: int | None) -> None:
        """Raise InvalidDicomError if what starts at `at` ends past its parent's end.

        A sequence or item of defined length contains its items and elements
        (PS3.5 7.5.1): one that claims to reach past its parent is malformed, and
        reading on would walk bytes that belong to something else.
        """
        if parent_end is not None and stop > parent_end:
            raise InvalidDicomError(
                f"{self.name}: {format_tag(tag)} at byte {at} ends at byte {stop}, past the end "
                f"of the {format_tag(parent)} that contains it (byte {parent_end})"
            )


def _decode(raw: _Raw, signed: bool) -> Any:
    """Decode a kept element's value into a Python value."""
    if isinstance(raw.value, list):
        # Read-only all the way down: the header is shared by every user of a file.
        return tuple(
            MappingProxyType({key: _decode(value, signed) for key, value in item.items()})
            for item in raw.value
        )
    vr, data = raw.vr, raw.value
    if vr == AMBIGUOUS_US_SS:
        vr = "SS" if signed else "US"
    order = "<" if raw.little else ">"
    if vr in _NUMERIC:
        code = _NUMERIC[vr]
        count = len(data) // struct.calcsize(code)
        values = struct.unpack(f"{order}{count}{code}", data[: count * struct.calcsize(code)])
        return values[0] if count == 1 else tuple(values)
    if vr in ("OV", "UV"):
        if len(data) % 8:
            raise InvalidDicomError(
                f"{format_tag(raw.tag)} at byte {raw.offset} holds {len(data)} bytes, not a "
                "whole number of 64-bit values"
            )
        arr = np.frombuffer(data, dtype=f"{order}u8").astype(np.uint64)
        arr.flags.writeable = False
        return arr
    if vr == "AT":
        pairs = struct.unpack(f"{order}{len(data) // 2}H", data[: len(data) // 2 * 2])
        tags = tuple(pairs[i] << 16 | pairs[i + 1] for i in range(0, len(pairs) - 1, 2))
        return tags[0] if len(tags) == 1 else tags
    if vr in _BINARY_VRS:
        return bytes(data)
    text = data.decode("latin-1").rstrip("\x00 ").lstrip(" ")
    if vr not in _MULTI_VALUED_TEXT:
        return text
    parts = [part.strip(" \x00") for part in text.split("\\")]
    if vr in ("IS", "DS"):
        return _numbers(parts, vr)
    return parts[0] if len(parts) == 1 else tuple(parts)


def _numbers(parts: list[str], vr: str) -> Any:
    """IS/DS strings -> int/float, kept as the string when they do not parse."""
    out: list[Any] = []
    for part in parts:
        if not part:
            out.append(None)
            continue
        try:
            number = float(part)
            out.append(int(number) if vr == "IS" and number.is_integer() else number)
        except ValueError:
            out.append(part)
    return out[0] if len(out) == 1 else tuple(out)


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
    walker = _Walker(source)
    kept: dict[int, _Raw] = {}
    pos = _read_meta(walker, kept)
    ts_raw = kept.get(0x00020010)
    ts_uid = _decode(ts_raw, False) if ts_raw is not None else ""
    transfer_syntax = uids.lookup(str(ts_uid)) if ts_uid else _sniff(walker, pos)
    if not transfer_syntax.deflated:
        return _finish(source, walker, pos, transfer_syntax, kept, replaced)
    inflated = inflate(source, pos)
    try:
        return _finish(inflated, _Walker(inflated), 0, transfer_syntax, kept, replaced)
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
    walker: _Walker,
    pos: int,
    transfer_syntax: uids.TransferSyntax,
    kept: dict[int, _Raw],
    replaced: dict[str, Any],
) -> ParsedHeader:
    """Walk the dataset from `pos` and build the result."""
    pixel = _walk_dataset(walker, pos, transfer_syntax, kept)
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
    info = _pixel_info(header, pixel, transfer_syntax, source.name, replaced.keys())
    return ParsedHeader(info, header, pixel, transfer_syntax, source)


def _read_meta(walker: _Walker, kept: dict[int, _Raw]) -> int:
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
        explicit = _looks_explicit(walker.bytes_at(pos + 4, 2, "the File Meta group"))
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
            kept[tag] = _Raw.of(tag, vr, KEPT[tag][1], raw, pos, True)
        pos = vpos + length
    if group_end is not None and pos < group_end and pos + 8 > size:
        raise TruncatedFileError(
            f"{walker.name}: the file ends at byte {size}, inside the File Meta group whose "
            f"(0002,0000) 'File Meta Information Group Length' says it ends at byte {group_end}"
        )
    if pos == 132 and size == 132:
        raise InvalidDicomError(f"{walker.name}: the file ends after its preamble")
    return pos


def _sniff(walker: _Walker, pos: int) -> uids.TransferSyntax:
    """Guess the encoding of a dataset with no Transfer Syntax UID from its first element."""
    if walker.size < pos + 8:
        raise InvalidDicomError(f"{walker.name}: no dataset after byte {pos}")
    head = walker.bytes_at(pos, 6, "the first element")
    group_le = int.from_bytes(head[:2], "little")
    group_be = int.from_bytes(head[:2], "big")
    explicit = _looks_explicit(head[4:6])
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
    walker: _Walker, pos: int, ts: uids.TransferSyntax, kept: dict[int, _Raw]
) -> PixelElement | None:
    """Walk the top-level elements from `pos`; keep what lazydcm needs; find the pixels."""
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
        if tag in KEPT and KEPT[tag][1] == "SQ":
            items, end = walker.read_items(tag, pos, vpos, length, inner_implicit, inner_little)
            kept[tag] = _Raw(tag, "SQ", items, pos, inner_little)
            pos = end
        elif length == UNDEFINED:
            pos = walker.skip_sequence(tag, vpos, inner_implicit, inner_little)
        else:
            if tag in KEPT:
                raw = walker.bytes_at(vpos, length, tag)
                kept[tag] = _Raw.of(tag, vr, KEPT[tag][1], raw, pos, inner_little)
            pos = vpos + length
    if pos < size:
        raise TruncatedFileError(
            f"{walker.name}: the file ends at byte {size}, inside the element header at byte {pos}"
        )
    return None


def _decode_all(
    kept: dict[int, _Raw], representation: Any = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Decode every kept element; US-or-SS values follow Pixel Representation
    (`representation` when it is overridden)."""
    signed_raw = kept.get(0x00280103)
    if representation is not None:
        signed = representation == 1
    else:
        signed = signed_raw is not None and _decode(signed_raw, False) == 1
    values: dict[str, Any] = {}
    offsets: dict[str, int] = {}
    for tag in sorted(kept):
        keyword = KEPT[tag][0]
        values[keyword] = _decode(kept[tag], signed)
        offsets[keyword] = kept[tag].offset
    return values, offsets


def _pixel_info(
    header: Header,
    pixel: PixelElement,
    ts: uids.TransferSyntax,
    name: str,
    overridden: Set[str] = frozenset(),
) -> PixelInfo:
    """Build and validate the PixelInfo (PS3.3 C.7.6.3, PS3.5 8.1.1)."""

    def where(keyword: str) -> str:
        if keyword in overridden:
            return " (given in overrides)"
        offset = header.offset(keyword)
        return f" at byte {offset}" if offset is not None else ""

    def required(keyword: str, tag: int) -> Any:
        value = header.get(keyword)
        if value is None or (isinstance(value, (str, tuple)) and not value):
            raise InvalidDicomError(f"{name}: the required element {format_tag(tag)} is missing")
        return header[keyword]

    def integer(keyword: str, tag: int, low: int, high: int, value: Any = None) -> int:
        value = required(keyword, tag) if value is None else value
        if isinstance(value, tuple):
            value = value[0]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidDicomError(
                f"{name}: {format_tag(tag)} value {value!r}{where(keyword)} is invalid; "
                f"expected an integer from {low} to {high}"
            )
        return value

    is_float = pixel.keyword != "PixelData"
    rows = integer("Rows", 0x00280010, 1, 0xFFFF)
    columns = integer("Columns", 0x00280011, 1, 0xFFFF)
    samples = integer("SamplesPerPixel", 0x00280002, 1, 0xFFFF)
    if samples not in (1, 3):
        raise InvalidDicomError(
            f"{name}: (0028,0002) 'Samples per Pixel' value {samples}{where('SamplesPerPixel')} "
            "is not supported; expected 1 or 3"
        )
    bits_allocated = integer("BitsAllocated", 0x00280100, 1, 64)
    if bits_allocated != 1 and bits_allocated % 8:
        raise InvalidDicomError(
            f"{name}: (0028,0100) 'Bits Allocated' value {bits_allocated}"
            f"{where('BitsAllocated')} is invalid; expected 1 or a multiple of 8 up to 64"
        )
    if is_float:
        expected = 32 if pixel.keyword == "FloatPixelData" else 64
        if bits_allocated != expected:
            raise InvalidDicomError(
                f"{name}: (0028,0100) 'Bits Allocated' value {bits_allocated} does not match "
                f"{format_tag(pixel.tag)}, which needs {expected}"
            )
        bits_stored, high_bit, representation = bits_allocated, bits_allocated - 1, 0
    else:
        bits_stored = integer("BitsStored", 0x00280101, 1, bits_allocated)
        high_bit = (
            integer("HighBit", 0x00280102, 0, bits_allocated - 1)
            if header.get("HighBit") is not None
            else bits_stored - 1
        )
        representation = integer("PixelRepresentation", 0x00280103, 0, 1)
    photometric = required("PhotometricInterpretation", 0x00280004)
    if isinstance(photometric, tuple):
        photometric = photometric[0]
    if not isinstance(photometric, str) or photometric.strip() not in _PHOTOMETRIC:
        raise InvalidDicomError(
            f"{name}: (0028,0004) 'Photometric Interpretation' value {photometric!r}"
            f"{where('PhotometricInterpretation')} is not a defined term (PS3.3 C.7.6.3.1.2)"
        )
    photometric = photometric.strip()
    planar = 0
    if samples > 1:
        if header.get("PlanarConfiguration") is None:
            warnings.warn(
                f"{name}: (0028,0006) 'Planar Configuration' is missing for a {samples}-sample "
                "image; assuming 0 (colour-by-pixel)",
                LazyDcmWarning,
                stacklevel=4,
            )
        else:
            planar = integer("PlanarConfiguration", 0x00280006, 0, 1)
    native_layout = ts.native or ts.uid in _NATIVE_FRAMES
    if photometric == "YBR_FULL_422" and native_layout and samples != 3:
        raise InvalidDicomError(
            f"{name}: (0028,0002) 'Samples per Pixel' value {samples}"
            f"{where('SamplesPerPixel')} does not match (0028,0004) 'Photometric "
            "Interpretation' 'YBR_FULL_422', which has 3 samples a pixel (PS3.3 C.7.6.3.1.2)"
        )
    if photometric == "YBR_FULL_422" and ts.native and columns % 2:
        raise InvalidDicomError(
            f"{name}: (0028,0011) 'Columns' value {columns}{where('Columns')} is odd, but "
            "native 'YBR_FULL_422' pixel data shares each chroma pair between two pixels of "
            "a row, so Columns must be even (PS3.3 C.7.6.3.1.2)"
        )
    frames = _number_of_frames(header, name, where("NumberOfFrames"))
    if ts.encapsulated != (pixel.length is None):
        state = "an undefined (encapsulated)" if pixel.length is None else "a defined (native)"
        raise InvalidDicomError(
            f"{name}: {format_tag(pixel.tag)} at byte {pixel.offset} has {state} length, "
            f"which does not match the transfer syntax {ts}"
        )
    return PixelInfo(
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        high_bit=high_bit,
        pixel_representation=representation,
        photometric_interpretation=photometric,
        planar_configuration=planar,
        number_of_frames=frames,
        transfer_syntax_uid=ts.uid,
        pixel_keyword=pixel.keyword,
    )


def _number_of_frames(header: Header, name: str, where: str) -> int:
    """(0028,0008) Number of Frames: absent means 1; 0 or empty is taken as 1 with a warning."""
    if "NumberOfFrames" not in header:
        return 1
    value = header["NumberOfFrames"]
    if isinstance(value, tuple):
        value = value[0]
    if value in (None, 0):
        warnings.warn(
            f"{name}: (0028,0008) 'Number of Frames' value {value!r}{where} is invalid; "
            "assuming 1 frame",
            LazyDcmWarning,
            stacklevel=4,
        )
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_IS:
        raise InvalidDicomError(
            f"{name}: (0028,0008) 'Number of Frames' value {value!r}{where} is invalid; "
            f"expected a positive integer string of at most {MAX_IS} (PS3.5 6.2)"
        )
    return value
