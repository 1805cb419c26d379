"""Walk a DICOM file's header just far enough to find its pixel element.

Two steps, each reading through the :class:`~lazydcm.sources.ByteSource`
protocol:

* :func:`read_meta` reads the preamble and File Meta group (PS3.10 7.1) when the
  file has them, or sniffs a bare dataset's encoding from its first element, and
  returns a :class:`~lazydcm.header.parsed.FileMeta`: the transfer syntax and
  where the dataset starts;
* :func:`read_dataset` walks the top-level elements in Implicit VR Little
  Endian, Explicit VR Little or Big Endian (a Deflated Explicit VR Little Endian
  dataset is inflated first, by the caller: :mod:`lazydcm.opening`), and stops
  at the first of (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float Pixel
  Data and (7FE0,0010) Pixel Data.

Everything lazydcm does not need is skipped by its length, without being decoded:
sequences and items of defined length are jumped over; sequences and items of
undefined length (PS3.5 7.5) are walked element header by element header, also
when nested, also when private or encoded as ``UN`` (whose content is Implicit VR
Little Endian, PS3.5 6.2.2) -- by :class:`~lazydcm.header.walker.Walker`.  Only
the elements of :data:`~lazydcm.header.tags.KEPT` are decoded
(:mod:`~lazydcm.header.values`).  Every length read from the file is checked
against the file's size before it is used.

The result is a :class:`~lazydcm.header.parsed.ParsedHeader`.  A caller may
correct a non-conformant Image Pixel module with ``overrides`` (keyword -> value,
:data:`~lazydcm.header.tags.OVERRIDABLE`): the values replace the file's before
:class:`PixelInfo` is built, and are validated exactly as the file's values are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import InvalidDicomError, PixelDataNotFoundError, TruncatedFileError
from lazydcm.header.parsed import (
    PER_FRAME_GROUPS,
    SHARED_GROUPS,
    FileMeta,
    Header,
    ParsedHeader,
    SequenceSpan,
)
from lazydcm.header.pixel_info import PixelElement, pixel_info
from lazydcm.header.tags import KEPT, OVERRIDABLE, PIXEL_KEYWORDS, format_tag
from lazydcm.header.values import Raw, decode
from lazydcm.header.walker import UNDEFINED, Walker, looks_explicit
from lazydcm.sources.base import ByteSource

__all__ = ["check_overrides", "read_dataset", "read_header", "read_meta"]


def read_meta(source: ByteSource) -> FileMeta:
    """Read the preamble and File Meta group, or sniff a bare dataset's encoding.

    Raises
    ------
    InvalidDicomError
        The bytes are not DICOM, or the File Meta group is malformed.
    TruncatedFileError
        The file ends inside the File Meta group.
    lazydcm.errors.UnsupportedTransferSyntaxError
        The File Meta names a transfer syntax lazydcm does not know.
    """
    walker = Walker(source)
    kept: dict[int, Raw] = {}
    pos = _read_meta(walker, kept)
    ts_raw = kept.get(0x00020010)
    ts_uid = decode(ts_raw, False) if ts_raw is not None else ""
    transfer_syntax = uids.lookup(str(ts_uid)) if ts_uid else _sniff(walker, pos)
    values, offsets = _decode_all(kept)
    return FileMeta(transfer_syntax, pos, values, offsets)


def read_dataset(
    source: ByteSource,
    meta: FileMeta,
    *,
    start: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ParsedHeader:
    """Walk the dataset of `source` from `start` to its pixel element.

    Parameters
    ----------
    source : ByteSource
        The file, or the inflated dataset of a deflated one.
    meta : FileMeta
        What :func:`read_meta` read from the file.
    start : int, optional
        Where the dataset begins in `source` (default: ``meta.dataset_offset``; 0
        for an inflated dataset).
    overrides : mapping, optional
        Keyword -> value of Image Pixel module elements (and (0028,0008) Number of
        Frames) that replace the file's values, or add missing ones, before
        :class:`PixelInfo` is built (:data:`~lazydcm.header.tags.OVERRIDABLE`).
        Values are given as the header walk decodes them (``int`` for US and IS,
        ``str`` for CS) and validated exactly like values read from the file.  The
        returned :class:`Header` holds them, with no byte offset.

    Raises
    ------
    ValueError
        An override names a keyword that cannot be overridden (the message names it).
    InvalidDicomError
        The bytes are malformed (the message says where), or an override's value
        is invalid.
    TruncatedFileError
        The file ends inside the header.
    PixelDataNotFoundError
        The dataset has no pixel element.
    """
    replaced = check_overrides(overrides)
    pos = meta.dataset_offset if start is None else start
    walker = Walker(source)
    kept: dict[int, Raw] = {}
    spans: dict[int, SequenceSpan] = {}
    transfer_syntax = meta.transfer_syntax
    pixel = _walk_dataset(walker, pos, transfer_syntax, kept, spans)
    values, offsets = _decode_all(kept, replaced.get("PixelRepresentation"))
    values = {**meta.values, **values}
    offsets = {**meta.offsets, **offsets}
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
        spans.get(SHARED_GROUPS),
        spans.get(PER_FRAME_GROUPS),
    )


def read_header(source: ByteSource, *, overrides: Mapping[str, Any] | None = None) -> ParsedHeader:
    """:func:`read_meta` then :func:`read_dataset`, for a dataset that is not deflated.

    A deflated dataset (PS3.5 A.5) must be inflated into a source of its own
    first, as :func:`lazydcm.opening.open` does.

    Raises
    ------
    ValueError
        The dataset is deflated.
    """
    meta = read_meta(source)
    if meta.transfer_syntax.deflated:
        raise ValueError(
            f"{source.name}: the dataset is deflated (PS3.5 A.5); lazydcm.opening.open "
            "inflates it before its header is walked"
        )
    return read_dataset(source, meta, overrides=overrides)


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
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
    place is recorded in `spans`: :mod:`lazydcm.header.groups` reads them when asked.
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
        at = pos
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
        if tag in (SHARED_GROUPS, PER_FRAME_GROUPS):
            defined = None if length == UNDEFINED else length
            spans[tag] = SequenceSpan(tag, at, vpos, defined, inner_implicit, inner_little, pos)
    if pos < size:
        raise TruncatedFileError(
            f"{walker.name}: the file ends at byte {size}, inside the element header at byte {pos}"
        )
    return None


def _decode_all(
    kept: Mapping[int, Raw], representation: Any = None
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
