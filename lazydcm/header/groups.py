"""Read the Shared and Per-Frame Functional Groups of a multi-frame file, lazily.

Enhanced multi-frame objects keep the values that may differ from frame to frame
in functional groups (PS3.3 C.7.6.16): one item of the (5200,9229) Shared
Functional Groups Sequence holds the macros common to all frames, and item *i*
of the (5200,9230) Per-Frame Functional Groups Sequence those of frame *i*.  A
file may have thousands of per-frame items, so the header walk
(:mod:`lazydcm.header`) only records where the two sequences are; this module
reads them when asked:

* the shared item once, on first use;
* the per-frame item offsets in one pass over the item headers on the first
  per-frame request (an int64 array, 8 bytes a frame), then only the item of the
  frame asked for.

Only the macros the processing functions need are decoded
(:data:`lazydcm.header.tags.GROUP_SEQUENCES`, :data:`lazydcm.header.tags.GROUP_ELEMENTS`):
Pixel Value Transformation (rescale), Frame VOI LUT (windowing, or a VOI LUT
Sequence) and Pixel Measures.  :meth:`FunctionalGroups.header` merges them into
the top-level :class:`~lazydcm.header.Header` as PS3.3 C.7.6.16 defines: a macro
in the frame's per-frame item, else in the shared item, replaces the top-level
attributes it covers (all of them: a Frame VOI LUT macro without a VOI LUT
Function does not inherit the top-level one).

Every length is checked against the file's size and the container it is in;
malformed data raises :class:`~lazydcm.errors.InvalidDicomError` naming the tag,
the value and the byte offset.  A :class:`FunctionalGroups` is thread-safe and
keeps at most :data:`CACHED_FRAMES` merged frame headers.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from lazydcm.errors import InvalidDicomError
from lazydcm.header.parsed import Header, ParsedHeader, SequenceSpan
from lazydcm.header.tags import GROUP_ELEMENTS, GROUP_SEQUENCES, format_tag
from lazydcm.header.values import Raw, decode
from lazydcm.header.walker import ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER, UNDEFINED, Walker
from lazydcm.sources.base import ByteSource, read_exactly
from lazydcm.sources.memory import MemorySource

__all__ = ["CACHED_FRAMES", "MACRO_KEYWORDS", "FunctionalGroups"]

#: Merged frame headers a :class:`FunctionalGroups` keeps (least recently used go).
CACHED_FRAMES = 64

#: Known sequences nest at most this deep inside a functional groups item
#: (Frame VOI LUT Sequence > VOI LUT Sequence); anything deeper is skipped.
_MAX_NESTING = 4

#: Each macro and the top-level keywords it replaces when present (PS3.3
#: C.7.6.16.2.9, C.7.6.16.2.10 and 10b, C.7.6.16.2.1).  A Pixel Value
#: Transformation macro stands in for the whole Modality LUT module (C.11.1).
MACRO_KEYWORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "PixelValueTransformationSequence": frozenset(
            {"RescaleIntercept", "RescaleSlope", "RescaleType", "ModalityLUTSequence"}
        ),
        "FrameVOILUTSequence": frozenset(
            {
                "WindowCenter",
                "WindowWidth",
                "WindowCenterWidthExplanation",
                "VOILUTFunction",
                "VOILUTSequence",
            }
        ),
        "PixelMeasuresSequence": frozenset({"PixelSpacing"}),
    }
)

#: A decoded item: keyword -> (value, byte offset of the element's tag).
_Item = dict[str, tuple[Any, int]]


class FunctionalGroups:
    """The functional groups of one file, read on demand.

    Parameters
    ----------
    parsed : ParsedHeader
        The file's header walk, with where the sequences are.
    source : ByteSource
        The bytes the recorded offsets refer to.
    """

    def __init__(self, parsed: ParsedHeader, source: ByteSource) -> None:
        self._top = parsed.header
        self._shared_span = parsed.shared_groups
        self._frames_span = parsed.per_frame_groups
        self._frames = parsed.info.number_of_frames
        self._source = source
        self._signed = parsed.info.pixel_representation == 1
        self._lock = threading.Lock()
        self._shared: _Item | None = None
        # Where each per-frame item starts, and where the last one ends.
        self._item_offsets: np.ndarray | None = None
        self._headers: OrderedDict[int | None, Header] = OrderedDict()

    @property
    def present(self) -> bool:
        """True when the file has a Shared or a Per-Frame Functional Groups Sequence."""
        return self._shared_span is not None or self._frames_span is not None

    def header(self, frame: int | None) -> Header:
        """The top-level header with the shared and frame `frame`'s macros merged in.

        `frame` None merges the shared macros only.  `frame` must already be a
        valid, non-negative frame number.
        """
        if not self.present:
            return self._top
        with self._lock:
            cached = self._headers.get(frame)
            if cached is not None:
                self._headers.move_to_end(frame)
                return cached
        merged = self._merge(frame)
        with self._lock:
            self._headers[frame] = merged
            while len(self._headers) > CACHED_FRAMES:
                self._headers.popitem(last=False)
        return merged

    def _merge(self, frame: int | None) -> Header:
        values = dict(self._top)
        offsets = {key: at for key in values if (at := self._top.offset(key)) is not None}
        layers = [self._shared_item()]
        if frame is not None and self._frames_span is not None:
            layers.append(self._frame_item(self._frames_span, frame))
        chosen: dict[str, Any] = {}
        for layer in layers:  # the per-frame macro wins over the shared one
            for macro in MACRO_KEYWORDS:
                if macro in layer:
                    chosen[macro] = layer[macro][0]
        for macro, items in chosen.items():
            for keyword in MACRO_KEYWORDS[macro]:
                values.pop(keyword, None)
                offsets.pop(keyword, None)
            if items:
                for keyword, (value, at) in items[0].items():
                    values[keyword] = _plain(value)
                    offsets[keyword] = at
        return Header(values, offsets)

    # -- reading -------------------------------------------------------------------

    def _part(self, start: int, end: int) -> Walker:
        """A walker over bytes ``[start, end)`` of the file, copied into memory.

        One read (``read_into``) for what is walked: the walk never touches a
        memory map, so a file truncated since it was opened gives
        :class:`~lazydcm.errors.TruncatedFileError`, not a SIGBUS, and a remote file
        costs one request.
        """
        data = read_exactly(self._source, start, end - start)
        return Walker(MemorySource(data, self._source.name, origin=start))

    def _shared_item(self) -> _Item:
        span = self._shared_span
        if span is None:
            return {}
        with self._lock:
            if self._shared is None:
                walker = self._part(span.offset, span.end)
                items = self._read_items(walker, span, first_only=True)
                self._shared = items[0] if items else {}
            return self._shared

    def _frame_item(self, span: SequenceSpan, frame: int) -> _Item:
        offsets = self._offsets(span)
        if frame >= len(offsets) - 1:
            raise InvalidDicomError(
                f"{self._source.name}: {format_tag(span.tag)} at byte {span.offset} has "
                f"{len(offsets) - 1} items, so frame {frame} of the {self._frames} frames that "
                "(0028,0008) 'Number of Frames' declares has no per-frame functional groups"
            )
        start = int(offsets[frame])
        end = int(offsets[frame + 1])
        walker = self._part(start, end)
        return self._read_item(walker, start, span, span.tag, None, 0)[0]

    def _offsets(self, span: SequenceSpan) -> np.ndarray:
        """Where each per-frame item starts (and, last, where the items end): one pass
        over the item headers, once, in a copy of the sequence that is then dropped."""
        with self._lock:
            if self._item_offsets is None:
                walker = self._part(span.offset, span.end)
                found, end = self._scan(walker, span)
                self._item_offsets = np.asarray([*found, end], dtype=np.int64)
            return self._item_offsets

    def _scan(self, walker: Walker, span: SequenceSpan) -> tuple[list[int], int]:
        """The offsets of the items of `span`, and where the sequence ends."""
        found: list[int] = []
        if span.length is None:
            # The header walk's own skip: items laid out alike are skipped in one step.
            implicit, little = span.implicit, span.little_endian
            end = walker.skip_sequence(span.tag, span.value_offset, implicit, little, found)
            return found, end
        end = span.value_offset + span.length
        header = _item_struct(span.little_endian)
        pos = span.value_offset
        while pos < end:
            walker.fill(pos, 8, f"the items of {format_tag(span.tag)}")
            group, elem, length = header.unpack_from(walker.buf, pos - walker.base)
            tag = group << 16 | elem
            if tag != ITEM:
                self._not_an_item(span.tag, pos, tag)
            found.append(pos)
            if length != UNDEFINED:
                _check(walker, ITEM, pos, pos + 8, length, span.tag, end)
                pos += 8 + length
                continue
            pos = self._skip_item(walker, pos + 8, span, end)
        return found, pos

    def _skip_item(self, walker: Walker, pos: int, span: SequenceSpan, end: int) -> int:
        """Walk the element headers of an undefined-length item; return where it ends."""
        implicit, little = span.implicit, span.little_endian
        while True:
            tag, vr, length, vpos = walker.element(pos, implicit, little)
            if tag == ITEM_DELIMITER:
                return vpos
            if tag >> 16 == 0xFFFE:
                self._not_an_element(span.tag, pos, tag)
            at = pos
            if length == UNDEFINED:
                as_un = vr == b"UN"
                pos = walker.skip_sequence(tag, vpos, implicit or as_un, little or as_un)
            else:
                _check(walker, tag, pos, vpos, length, span.tag, end)
                pos = vpos + length
            walker.check_inside(tag, at, pos, span.tag, end)

    def _read_items(
        self, walker: Walker, span: SequenceSpan, *, first_only: bool = False
    ) -> list[_Item]:
        """Decode the items of a functional groups sequence (or only its first)."""
        end = None if span.length is None else span.value_offset + span.length
        items: list[_Item] = []
        pos = span.value_offset
        header = _item_struct(span.little_endian)
        while end is None or pos < end:
            walker.fill(pos, 8, f"the items of {format_tag(span.tag)}")
            group, elem, _ = header.unpack_from(walker.buf, pos - walker.base)
            if group << 16 | elem == SEQUENCE_DELIMITER and end is None:
                break
            item_at = pos
            item, pos = self._read_item(walker, pos, span, span.tag, end, 0)
            walker.check_inside(ITEM, item_at, pos, span.tag, end)
            items.append(item)
            if first_only:
                break
        return items

    def _read_item(
        self,
        walker: Walker,
        pos: int,
        span: SequenceSpan,
        parent: int,
        parent_end: int | None,
        depth: int,
        implicit: bool | None = None,
        little: bool | None = None,
    ) -> tuple[_Item, int]:
        """Decode the kept elements of the item whose header is at `pos`; return it
        and where it ends."""
        implicit = span.implicit if implicit is None else implicit
        little = span.little_endian if little is None else little
        walker.fill(pos, 8, f"the items of {format_tag(parent)}")
        group, elem, length = _item_struct(little).unpack_from(walker.buf, pos - walker.base)
        if group << 16 | elem != ITEM:
            self._not_an_item(parent, pos, group << 16 | elem)
        item_end = None
        if length != UNDEFINED:
            _check(walker, ITEM, pos, pos + 8, length, parent, parent_end)
            item_end = pos + 8 + length
        pos += 8
        values: _Item = {}
        while item_end is None or pos < item_end:
            tag, vr, el_len, vpos = walker.element(pos, implicit, little)
            if tag == ITEM_DELIMITER:
                return values, vpos
            if tag >> 16 == 0xFFFE:
                self._not_an_element(parent, pos, tag)
            as_un = vr == b"UN"
            inner_implicit, inner_little = implicit or as_un, little or as_un
            if tag in GROUP_SEQUENCES and depth < _MAX_NESTING:
                items, end = self._read_sequence(
                    walker, tag, pos, vpos, el_len, span, inner_implicit, inner_little, depth + 1
                )
                values[GROUP_SEQUENCES[tag]] = (items, pos)
                next_pos = end
            elif el_len == UNDEFINED:
                next_pos = walker.skip_sequence(tag, vpos, inner_implicit, inner_little)
            else:
                _check(walker, tag, pos, vpos, el_len, ITEM, item_end)
                if tag in GROUP_ELEMENTS:
                    keyword, dictionary_vr = GROUP_ELEMENTS[tag]
                    data = walker.bytes_at(vpos, el_len, tag)
                    raw = Raw.of(tag, vr, dictionary_vr, data, pos, little)
                    values[keyword] = (decode(raw, self._signed), pos)
                next_pos = vpos + el_len
            walker.check_inside(tag, pos, next_pos, ITEM, item_end)
            pos = next_pos
        return values, pos

    def _read_sequence(
        self,
        walker: Walker,
        tag: int,
        at: int,
        pos: int,
        length: int,
        span: SequenceSpan,
        implicit: bool,
        little: bool,
        depth: int,
    ) -> tuple[tuple[_Item, ...], int]:
        """Decode the items of a macro's sequence (element at `at`, value at `pos`)."""
        end = None if length == UNDEFINED else pos + length
        if end is not None:
            walker.check_value(tag, at, pos, length)
        items: list[_Item] = []
        header = _item_struct(little)
        while end is None or pos < end:
            walker.fill(pos, 8, f"the items of {format_tag(tag)}")
            group, elem, _ = header.unpack_from(walker.buf, pos - walker.base)
            if group << 16 | elem == SEQUENCE_DELIMITER:
                pos += 8
                break
            item_at = pos
            item, pos = self._read_item(walker, pos, span, tag, end, depth, implicit, little)
            walker.check_inside(ITEM, item_at, pos, tag, end)
            items.append(item)
        return tuple(items), pos

    # -- errors --------------------------------------------------------------------

    def _not_an_item(self, sequence: int, pos: int, found: int) -> None:
        raise InvalidDicomError(
            f"{self._source.name}: expected an item (FFFE,E000) in {format_tag(sequence)} at "
            f"byte {pos}, found {format_tag(found)}"
        )

    def _not_an_element(self, sequence: int, pos: int, found: int) -> None:
        raise InvalidDicomError(
            f"{self._source.name}: expected an element or an item delimiter (FFFE,E00D) in "
            f"an item of {format_tag(sequence)} at byte {pos}, found {format_tag(found)}"
        )


def _check(
    walker: Walker,
    tag: int,
    at: int,
    vpos: int,
    length: int,
    parent: int,
    parent_end: int | None,
) -> None:
    """The value of `tag` at `at` must end inside the file and inside its parent."""
    walker.check_value(tag, at, vpos, length)
    walker.check_inside(tag, at, vpos + length, parent, parent_end)


def _plain(value: Any) -> Any:
    """A decoded value as :class:`~lazydcm.header.Header` holds it: the items of a
    sequence as read-only mappings of values, without their offsets."""
    if isinstance(value, tuple) and value and isinstance(value[0], dict):
        return tuple(
            MappingProxyType({key: _plain(v) for key, (v, _) in item.items()}) for item in value
        )
    return value


def _item_struct(little: bool) -> struct.Struct:
    return _ITEM_LE if little else _ITEM_BE


_ITEM_LE = struct.Struct("<HHI")
_ITEM_BE = struct.Struct(">HHI")
