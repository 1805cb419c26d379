"""Walk element and item headers through a byte source, without decoding values.

Contract: a :class:`Walker` reads element headers (PS3.5 7.1) in any of the
three encodings, skips sequences and items of undefined length (PS3.5 7.5) by
walking their headers with an explicit stack -- nested, private, or ``UN`` of
undefined length (Implicit VR Little Endian inside, PS3.5 6.2.2) -- and reads the
items of the few sequences the header keeps.  Every length is checked against
the file's size (:class:`~lazydcm.errors.TruncatedFileError`) and against the
sequence or item that contains it (:class:`~lazydcm.errors.InvalidDicomError`),
nesting is bounded by :data:`MAX_DEPTH`, and nothing but headers is read while
skipping.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from lazydcm.errors import InvalidDicomError, TruncatedFileError
from lazydcm.header.tags import SEQUENCE_ITEM_KEPT, format_tag
from lazydcm.header.values import Raw
from lazydcm.sources.base import ByteSource

__all__ = [
    "ITEM",
    "ITEM_DELIMITER",
    "MAX_DEPTH",
    "SEQUENCE_DELIMITER",
    "UNDEFINED",
    "Walker",
    "looks_explicit",
]

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
#: Sequences and items (counted together) nest at most this deep in a valid file.
MAX_DEPTH = 128

# PS3.5 7.1.2: these VRs have 2 reserved bytes and a 32-bit length.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
_STRUCTS = {
    "<": (struct.Struct("<HHI"), struct.Struct("<HH2sH"), struct.Struct("<I")),
    ">": (struct.Struct(">HHI"), struct.Struct(">HH2sH"), struct.Struct(">I")),
}


def looks_explicit(vr: bytes) -> bool:
    """Whether two bytes at a VR's place are a VR of PS3.5 6.2 (so the encoding is explicit)."""
    return vr in _SHORT_VRS or vr in _LONG_VRS


#: Items that may fail to match a learnt layout, beyond those that matched,
#: before :meth:`Walker.skip_sequence` stops learning layouts.
_LAYOUT_TRIES = 4


class _Layout:
    """The element headers of one undefined-length item, to skip items laid out alike.

    The walk through an item reads only its element and item headers (8 bytes, or
    12 for an explicit VR with a 32-bit length) and goes where their lengths say.
    An item that starts in the same state (the sequence's own level) and holds the
    same bytes at every header position of a learnt item is therefore walked along
    exactly the same path, and ends at the same distance from its start: no header
    needs to be read again.  Values in between may differ (positions, indices).
    """

    __slots__ = ("expected", "length", "where")

    def __init__(self, data: np.ndarray, marks: list[tuple[int, int]], base: int) -> None:
        # `data` holds the bytes from file offset `base`; marks are file offsets.
        start = marks[0][0] - base
        #: From the item tag to the end of its delimiter.
        self.length = marks[-1][0] + 8 - marks[0][0]
        self.where = np.concatenate(
            [np.arange(p - base - start, p - base - start + n) for p, n in marks]
        )
        self.expected = data[start + self.where].tobytes()

    def matches(self, data: np.ndarray, pos: int) -> bool:
        """Whether the item at `pos` of `data` is laid out like this one (and fits in it)."""
        return pos + self.length <= len(data) and (
            data[pos + self.where].tobytes() == self.expected
        )


class Walker:
    """Reads element headers from a byte source.

    A zero-copy source (a memory map, a buffer) is read through one view of all
    that follows the first position asked for; any other source is asked for
    exactly the bytes each step needs, and reads ahead as suits it (a file object
    in blocks, a remote object in requests that grow).
    """

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.size = source.size
        self.name = source.name
        self.base = 0
        self.buf = memoryview(b"")
        self.wend = 0
        self._whole = source.zero_copy

    def fill(self, pos: int, n: int, what: str) -> None:
        """Make bytes ``[pos, pos + n)`` available in ``buf``."""
        if pos + n > self.size:
            raise TruncatedFileError(
                f"{self.name}: the file ends at byte {self.size} inside {what} at byte {pos}"
            )
        if pos >= self.base and pos + n <= self.wend:
            return
        want = self.size - pos if self._whole else n
        self.buf = self.source.view(pos, want)
        self.base, self.wend = pos, pos + want

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
            self.fill(pos, 12, format_tag(tag))
            return tag, vr, long_len.unpack_from(self.buf, pos - self.base + 8)[0], pos + 12
        if vr in _SHORT_VRS:
            return tag, vr, short_length, pos + 8
        # Not a VR: a non-conformant file that switched to implicit VR here.
        return tag, None, length, pos + 8

    def skip_sequence(
        self, tag: int, pos: int, implicit: bool, little: bool, items: list[int] | None = None
    ) -> int:
        """Skip an undefined-length sequence whose items start at `pos`; return its end.

        `items`, when given, receives the offset of each of the sequence's own items
        (:mod:`lazydcm.header.groups` finds per-frame items this way).

        One loop over element and item headers with an explicit stack of the open
        sequences and items (no recursion, no objects built): this is the hot path
        of files with thousands of per-frame functional group items, so it reads
        each header with one struct call where it can.  An item whose element
        headers are byte for byte those of an item before it (the usual case in a
        Per-Frame Functional Groups Sequence) is skipped in one comparison: see
        :class:`_Layout`.
        """
        size = self.size
        # The open containers around the current one: (implicit, little, is an item).
        outer: list[tuple[bool, bool, bool]] = []
        in_item = False
        tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
        buf, base, wend = self.buf, self.base, self.wend
        # Layouts are matched against the bytes in view: a zero-copy source's only.
        whole = self._whole
        data = np.frombuffer(buf, np.uint8) if whole else None
        layout: _Layout | None = None
        # The headers of the item being learnt as a layout: (offset, bytes read).
        marks: list[tuple[int, int]] | None = None
        matched = missed = 0
        while True:
            if pos < base or pos + 12 > wend:
                self.fill(pos, min(12, max(8, size - pos)), f"the items of {format_tag(tag)}")
                buf, base, wend = self.buf, self.base, self.wend
                data = np.frombuffer(buf, np.uint8) if whole else None
            rel = pos - base
            if implicit:
                group, elem, length = tag_len.unpack_from(buf, rel)
                vr = None
            else:
                group, elem, vr, length = short_hdr.unpack_from(buf, rel)
            if marks is not None:
                marks.append((pos, 12 if vr in _LONG_VRS else 8))
            if group == 0xFFFE:
                if elem == 0xE000 and not in_item:
                    if items is not None and not outer:
                        items.append(pos)
                    length = tag_len.unpack_from(buf, rel)[2]
                    if length != UNDEFINED:
                        if pos + 8 + length > size:
                            self.check_value(ITEM, pos, pos + 8, length)
                        pos += 8 + length
                        continue
                    if not outer and data is not None:
                        if layout is not None:
                            if layout.matches(data, pos - base):
                                matched += 1
                                pos += layout.length
                                continue
                            missed += 1
                        if missed <= matched + _LAYOUT_TRIES:  # else items differ: stop learning
                            marks = [(pos, 8)]
                    if len(outer) >= MAX_DEPTH:
                        self._too_deep(pos)
                    outer.append((implicit, little, in_item))
                    in_item = True
                elif (elem == 0xE00D and in_item) or (elem == 0xE0DD and not in_item):
                    if not outer:
                        return pos + 8
                    implicit, little, in_item = outer.pop()
                    tag_len, short_hdr, long_len = _STRUCTS["<" if little else ">"]
                    if marks is not None and not outer and data is not None:
                        # A layout is learnt from an item whole in this view.
                        if marks[0][0] >= base and pos + 8 <= wend:
                            layout = _Layout(data, marks, base)
                        marks = None
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
                        self.fill(pos, 12, format_tag(group << 16 | elem))
                        buf, base, wend = self.buf, self.base, self.wend
                        data = np.frombuffer(buf, np.uint8) if whole else None
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
                self.check_inside(ITEM, pos, item_end, tag, end)
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
                    end_of = self.skip_sequence(el_tag, vpos, implicit or as_un, little or as_un)
                    self.check_inside(el_tag, pos, end_of, ITEM, item_end)
                    pos = end_of
                    continue
                self.check_value(el_tag, pos, vpos, el_len)
                self.check_inside(el_tag, pos, vpos + el_len, ITEM, item_end)
                if el_tag in SEQUENCE_ITEM_KEPT:
                    keyword, dict_vr = SEQUENCE_ITEM_KEPT[el_tag]
                    raw = self.bytes_at(vpos, el_len, el_tag)
                    values[keyword] = Raw.of(el_tag, vr, dict_vr, raw, pos, little)
                pos = vpos + el_len
            self.check_inside(ITEM, item_at, pos, tag, end)
            items.append(values)
        return items, pos

    def check_inside(
        self, tag: int, at: int, stop: int, parent: int, parent_end: int | None
    ) -> None:
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
