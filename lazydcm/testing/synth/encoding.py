"""Encode DICOM elements, sequences, File Meta, datasets and pixel data in memory.

See :mod:`lazydcm.testing.synth` for the contract: every structural value can be
overridden, nothing is validated beyond what encoding needs.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from lazydcm.uids import DEFLATED_EXPLICIT_LE, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

__all__ = [
    "IMPLEMENTATION_CLASS_UID", "MAX_HOLE_LENGTH", "SOP_CLASS_UID", "SOP_INSTANCE_UID",
    "Extra", "ImagePixel", "Value", "dataset", "dicom_file", "encapsulate", "encode_element",
    "encode_sequence", "file_meta", "frame_table", "native_pixels", "preamble",
]  # fmt: skip

Value: TypeAlias = (
    "bytes | bytearray | memoryview | str | int | float | Sequence[int] | Sequence[float]"
    " | npt.NDArray[Any]"
)
#: Extra dataset elements: ``(tag, vr, value)`` tuples or pre-encoded element bytes.
Extra: TypeAlias = "Sequence[tuple[int, str | None, Value] | bytes]"

SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
SOP_INSTANCE_UID = "1.2.3.4.5.6.7.8.9"
IMPLEMENTATION_CLASS_UID = "2.25.255487102357924469498407162916366315066"  # PS3.5 B.2
IMPLEMENTATION_VERSION_NAME = "LAZYDCM_SYNTH"
#: The largest value length of one hole of :func:`write_sparse_encapsulated`.
MAX_HOLE_LENGTH = 0xFFFFFFF0

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_TAGS = {"PixelData": 0x7FE00010, "FloatPixelData": 0x7FE00008,
              "DoubleFloatPixelData": 0x7FE00009}  # fmt: skip
# PS3.5 7.1.2: explicit VRs with two reserved bytes and a 32-bit length field.
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
# Binary VRs and their struct codes (PS3.5 6.2); AT is a pair of US.
_BINARY = {
    "US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q", "FL": "f", "FD": "d",
    "OW": "H", "OL": "I", "OV": "Q", "OF": "f", "OD": "d", "AT": "H",
}  # fmt: skip
# Character-string VRs are padded with a space (PS3.5 6.2), the others with NUL.
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)


class _Syntax(NamedTuple):
    little_endian: bool
    implicit: bool
    encapsulated: bool
    deflated: bool


def _syntax(uid: str) -> _Syntax:
    """How a dataset in transfer syntax `uid` is encoded (PS3.5 section 10, Annex A)."""
    if uid == IMPLICIT_LE:
        return _Syntax(True, True, False, False)
    if uid == EXPLICIT_BE:
        return _Syntax(False, False, False, False)
    if uid in (EXPLICIT_LE, DEFLATED_EXPLICIT_LE):
        return _Syntax(True, False, False, uid == DEFLATED_EXPLICIT_LE)
    return _Syntax(True, False, True, False)


def _order(little_endian: bool) -> Literal["<", ">"]:
    return "<" if little_endian else ">"


def _tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _item_header(tag: int, length: int, little_endian: bool = True) -> bytes:
    """An Item, Item Delimitation or Sequence Delimitation header (PS3.5 7.5)."""
    return struct.pack(_order(little_endian) + "HHI", tag >> 16, tag & 0xFFFF, length)


def _ds(number: float) -> str:
    """`number` as a Decimal String of at most 16 characters (PS3.5 6.2)."""
    text, precision = repr(number), 16
    # Rounding may overflow near the float maximum: keep what still reads back finite.
    while (len(text) > 16 or math.isinf(float(text))) and precision > 1:
        text, precision = f"{number:.{precision}g}", precision - 1
    return text


def _value_bytes(vr: str | None, value: Value, little_endian: bool) -> bytes:
    order = _order(little_endian)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("ascii")
    if isinstance(value, np.ndarray):
        code = "" if vr == "AT" else _BINARY.get(vr or "", "")
        dtype = np.dtype(order + code) if code else value.dtype.newbyteorder(order)
        return np.ascontiguousarray(value, dtype=dtype).tobytes()
    numbers: list[float] = [value] if isinstance(value, int | float) else list(value)
    if vr == "AT":  # PS3.5 6.2: a tag is an ordered pair of 16-bit unsigned integers
        numbers = [half for tag in numbers for half in (int(tag) >> 16, int(tag) & 0xFFFF)]
    if vr in _BINARY:
        return struct.pack(f"{order}{len(numbers)}{_BINARY[vr]}", *numbers)
    if vr is None:
        raise ValueError("a numeric value needs a VR to be encoded")
    texts = [
        str(int(n)) if vr == "IS" else _ds(n) if isinstance(n, float | np.floating) else str(n)
        for n in numbers
    ]
    return "\\".join(texts).encode("ascii")


def _element_header(
    tag: int, vr: str | None, length: int, little_endian: bool, implicit: bool
) -> bytes:
    """Tag, VR and length field of a data element (PS3.5 7.1.2, 7.1.3)."""
    order = _order(little_endian)
    if not 0 <= length <= UNDEFINED_LENGTH:
        raise ValueError(f"{_tag_str(tag)} length {length} does not fit 32 bits")
    head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack(order + "I", length)
    if vr is None or len(vr.encode("ascii")) != 2:
        raise ValueError(f"{_tag_str(tag)} needs a two-letter VR in explicit VR, got {vr!r}")
    if vr in LONG_VRS:
        return head + vr.encode("ascii") + b"\0\0" + struct.pack(order + "I", length)
    if length > 0xFFFF:
        raise ValueError(f"{_tag_str(tag)} length {length} does not fit the 16 bits of {vr}")
    return head + vr.encode("ascii") + struct.pack(order + "H", length)


def encode_element(
    tag: int,
    vr: str | None,
    value: Value,
    *,
    little_endian: bool = True,
    implicit: bool = False,
    length: int | None = None,
) -> bytes:
    """Encode one data element, header and value (PS3.5 7.1), tag as ``0xGGGGEEEE``.

    Parameters
    ----------
    vr : str or None
        Written in explicit VR, and converts `value` in both VR styles; None
        only with `implicit` (then `value` must be bytes, str or an array).
    value : bytes, str, int, float, sequence of numbers or ndarray
        Bytes as-is; str as ASCII; numbers in binary for the binary VRs (US, SS,
        UL, SL, UV, SV, FL, FD, AT, O[WLVFD]) in `little_endian` order, else as
        backslash-separated text (DS at most 16 characters); arrays in the
        element's byte order (cast to the VR's type for binary VRs).
    length : int, optional
        Written in the length field instead (0xFFFFFFFF, or a wrong value), and
        the value is then not padded.  Otherwise an odd value gets one pad byte:
        a space for text VRs (and implicit without VR), NUL for the others.
    """
    if vr is None and not implicit:
        raise ValueError(f"{_tag_str(tag)} needs a VR in explicit VR")
    data = _value_bytes(vr, value, little_endian)
    if length is None:
        if len(data) % 2:
            data += b" " if vr is None or vr in _TEXT_VRS else b"\0"
        length = len(data)
    return _element_header(tag, vr, length, little_endian, implicit) + data


def encode_sequence(
    tag: int,
    items: Sequence[bytes],
    *,
    little_endian: bool = True,
    implicit: bool = False,
    undefined_length: bool = True,
    undefined_item_length: bool = True,
    vr: str = "SQ",
) -> bytes:
    """Encode a sequence whose `items` are each item's already-encoded elements (PS3.5 7.5).

    `undefined_length` and `undefined_item_length` choose, for the sequence and
    for every item, undefined length with a Sequence (Item) Delimitation Item or
    the defined length.  ``vr="UN"`` writes a UN element whose item and
    delimiter headers are little endian whatever `little_endian` says, as the
    value of a UN element of undefined length stays Implicit VR Little Endian
    (PS3.5 6.2.2): pass items encoded that way.
    """
    inner = True if vr == "UN" else little_endian
    body = b"".join(
        _item_header(ITEM, UNDEFINED_LENGTH, inner) + item + _item_header(ITEM_DELIMITER, 0, inner)
        if undefined_item_length
        else _item_header(ITEM, len(item), inner) + item
        for item in items
    )
    if undefined_length:
        body += _item_header(SEQUENCE_DELIMITER, 0, inner)
    length = UNDEFINED_LENGTH if undefined_length else len(body)
    return _element_header(tag, vr, length, little_endian, implicit) + body


def preamble() -> bytes:
    """The 128-byte preamble and the ``DICM`` prefix (PS3.10 7.1)."""
    return b"\0" * 128 + b"DICM"


def file_meta(
    transfer_syntax_uid: str,
    *,
    sop_class_uid: str = SOP_CLASS_UID,
    sop_instance_uid: str = SOP_INSTANCE_UID,
    group_length: bool = True,
) -> bytes:
    """The File Meta Information group, in Explicit VR Little Endian (PS3.10 7.1).

    (0002,0000) when `group_length` (Type 1: False makes a non-conformant file),
    (0002,0001), (0002,0002), (0002,0003), (0002,0010), (0002,0012), (0002,0013).
    """
    body = b"".join(
        (
            encode_element(0x00020001, "OB", b"\x00\x01"),
            encode_element(0x00020002, "UI", sop_class_uid),
            encode_element(0x00020003, "UI", sop_instance_uid),
            encode_element(0x00020010, "UI", transfer_syntax_uid),
            encode_element(0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
            encode_element(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
        )
    )
    if group_length:
        body = encode_element(0x00020000, "UL", len(body)) + body
    return body


def _frame_items(frame: bytes, count: int, little_endian: bool = True) -> bytes:
    """`frame` as `count` fragment items (see the module docstring)."""
    if count < 1:
        raise ValueError(f"a frame needs at least one fragment, got {count}")
    size = len(frame)
    cuts = [0, *(2 * (i * size // (2 * count)) for i in range(1, count)), size]
    parts = [bytes(frame[start:stop]) for start, stop in itertools.pairwise(cuts)]
    parts[-1] += b"\0" * (size % 2)  # PS3.5 A.4: item values have even length
    return b"".join(_item_header(ITEM, len(part), little_endian) + part for part in parts)


def _counts(n_frames: int, fragments_per_frame: int | Sequence[int]) -> list[int]:
    if isinstance(fragments_per_frame, int):
        return [fragments_per_frame] * n_frames
    if len(fragments_per_frame) != n_frames:
        raise ValueError(f"{len(fragments_per_frame)} fragment counts given for {n_frames} frames")
    return list(fragments_per_frame)


def frame_table(
    frames: Sequence[bytes], fragments_per_frame: int | Sequence[int] = 1
) -> tuple[list[int], list[int]]:
    """The Extended Offset Table (offsets, lengths) of what :func:`encapsulate` writes.

    Offsets are not wrapped; see the module docstring for what they count.
    """
    offsets: list[int] = []
    lengths: list[int] = []
    position = 0
    for frame, count in zip(frames, _counts(len(frames), fragments_per_frame), strict=True):
        padded = len(frame) + len(frame) % 2
        offsets.append(position)
        lengths.append(padded)
        position += padded + 8 * count
    return offsets, lengths


def _basic_offset_table(values: Sequence[int], little_endian: bool = True) -> bytes:
    entries = struct.pack(f"{_order(little_endian)}{len(values)}I", *values)
    return _item_header(ITEM, len(entries), little_endian) + entries


def encapsulate(
    frames: Sequence[bytes],
    *,
    fragments_per_frame: int | Sequence[int] = 1,
    bot: Literal["empty", "full", "none"] = "empty",
    bot_values: Sequence[int] | None = None,
    little_endian: bool = True,
) -> bytes:
    """The value of an encapsulated Pixel Data element (PS3.5 A.4).

    The Basic Offset Table item, each frame's fragment items, the Sequence
    Delimitation Item.

    Parameters
    ----------
    fragments_per_frame : int or sequence of int
        Fragments of every frame, or one count per frame.
    bot : {"empty", "full", "none"}
        An empty BOT item, one with every frame's offset modulo 2**32 (as a
        32-bit writer wraps), or no BOT item at all (invalid).
    bot_values : sequence of int, optional
        Written as the BOT entries, exactly (not with ``bot="none"``).
    little_endian : bool
        Byte order of item headers and BOT entries (the standard's is little).
    """
    counts = _counts(len(frames), fragments_per_frame)
    if bot == "none":
        if bot_values is not None:
            raise ValueError("bot_values needs a BOT item; bot='none' omits it")
        table = b""
    else:
        if bot_values is None:
            offsets = frame_table(frames, counts)[0] if bot == "full" else []
            bot_values = [offset % 2**32 for offset in offsets]
        table = _basic_offset_table(bot_values, little_endian)
    items = b"".join(
        _frame_items(frame, count, little_endian)
        for frame, count in zip(frames, counts, strict=True)
    )
    return table + items + _item_header(SEQUENCE_DELIMITER, 0, little_endian)


@dataclass(frozen=True)
class ImagePixel:
    """The Image Pixel module values written into a file (PS3.3 C.7.6.3).

    ``bits_stored`` defaults to ``bits_allocated`` and ``high_bit`` to
    ``bits_stored - 1``; ``planar_configuration`` is written only when
    ``samples_per_pixel > 1`` (default 0); ``number_of_frames`` is written as IS
    unless None (a str as-is, e.g. ``"1A"`` or ``""``).
    """

    rows: int
    columns: int
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    bits_stored: int | None = None
    high_bit: int | None = None
    pixel_representation: int = 0
    photometric_interpretation: str = "MONOCHROME2"
    planar_configuration: int | None = None
    number_of_frames: int | str | None = 1

    @property
    def frame_bits(self) -> int:
        """The number of bits of one native frame."""
        return self.rows * self.columns * self.samples_per_pixel * self.bits_allocated


def _extra_tag(entry: tuple[int, str | None, Value] | bytes, little_endian: bool) -> int:
    if isinstance(entry, tuple):
        return entry[0]
    group, element = struct.unpack(_order(little_endian) + "HH", bytes(entry[:4]))
    return int(group << 16 | element)


def dataset(
    image: ImagePixel,
    pixel_value: bytes,
    *,
    transfer_syntax_uid: str = EXPLICIT_LE,
    pixel_keyword: Literal["PixelData", "FloatPixelData", "DoubleFloatPixelData"] = "PixelData",
    pixel_vr: str | None = None,
    pixel_length: int | None = None,
    extra: Extra = (),
    extended_offsets: tuple[Sequence[int], Sequence[int]] | None = None,
) -> bytes:
    """Encode a dataset (no preamble, no meta) as a transfer syntax would.

    Elements in ascending tag order: (0008,0016), (0008,0018), `extra`, the
    Image Pixel module, (7FE0,0001) and (7FE0,0002) OV when `extended_offsets`
    is given, and the pixel element.  An `extra` element replaces a built-in one
    with the same tag.

    Parameters
    ----------
    pixel_value : bytes
        Native bytes (padded to even length with one 0x00 unless `pixel_length`
        is given) or, for an encapsulated syntax, :func:`encapsulate`'s output.
    transfer_syntax_uid : str
        Selects byte order and VR style; deflated and encapsulated syntaxes are
        encoded as Explicit VR Little Endian (:func:`dicom_file` deflates).
    pixel_keyword : str
        Pixel Data (7FE0,0010), Float Pixel Data (7FE0,0008, OF) or Double
        Float Pixel Data (7FE0,0009, OD).
    pixel_vr, pixel_length : optional
        Override the pixel VR (default OB when encapsulated or bits allocated
        <= 8 in little endian, else OW; PS3.5 A.1 to A.4) and its length field
        (default: undefined when encapsulated, else the padded value length).
    extra : sequence
        ``(tag, vr, value)`` for :func:`encode_element`, or pre-encoded elements
        (e.g. :func:`encode_sequence`'s) whose tag is read from their first
        four bytes in the dataset's byte order.
    extended_offsets : (offsets, lengths), optional
        The Extended Offset Table and its lengths (e.g. :func:`frame_table`'s).
    """
    ts = _syntax(transfer_syntax_uid)
    bits_stored = image.bits_allocated if image.bits_stored is None else image.bits_stored
    high_bit = bits_stored - 1 if image.high_bit is None else image.high_bit
    spec: list[tuple[int, str | None, Value]] = [
        (0x00080016, "UI", SOP_CLASS_UID),
        (0x00080018, "UI", SOP_INSTANCE_UID),
        (0x00280002, "US", image.samples_per_pixel),
        (0x00280004, "CS", image.photometric_interpretation),
        (0x00280010, "US", image.rows),
        (0x00280011, "US", image.columns),
        (0x00280100, "US", image.bits_allocated),
        (0x00280101, "US", bits_stored),
        (0x00280102, "US", high_bit),
        (0x00280103, "US", image.pixel_representation),
    ]
    if image.samples_per_pixel > 1:
        spec.append((0x00280006, "US", image.planar_configuration or 0))
    if image.number_of_frames is not None:
        spec.append((0x00280008, "IS", image.number_of_frames))
    if extended_offsets is not None:
        spec.append((0x7FE00001, "OV", list(extended_offsets[0])))
        spec.append((0x7FE00002, "OV", list(extended_offsets[1])))
    if pixel_vr is None:
        byte_data = ts.encapsulated or (image.bits_allocated <= 8 and ts.little_endian)
        floats = {"FloatPixelData": "OF", "DoubleFloatPixelData": "OD"}
        pixel_vr = floats.get(pixel_keyword, "OB" if byte_data else "OW")
    if pixel_length is None and ts.encapsulated:
        pixel_length = UNDEFINED_LENGTH

    def encode(tag: int, vr: str | None, value: Value, length: int | None = None) -> bytes:
        return encode_element(
            tag, vr, value, little_endian=ts.little_endian, implicit=ts.implicit, length=length
        )

    elements = {tag: encode(tag, vr, value) for tag, vr, value in spec}
    pixel_tag = PIXEL_TAGS[pixel_keyword]
    elements[pixel_tag] = encode(pixel_tag, pixel_vr, pixel_value, pixel_length)
    for entry in extra:
        tag = _extra_tag(entry, ts.little_endian)
        elements[tag] = encode(*entry) if isinstance(entry, tuple) else bytes(entry)
    return b"".join(elements[tag] for tag in sorted(elements))


def dicom_file(
    image: ImagePixel,
    pixel_value: bytes,
    *,
    transfer_syntax_uid: str = EXPLICIT_LE,
    preamble_and_meta: bool = True,
    meta_group_length: bool = True,
    **dataset_kwargs: Any,
) -> bytes:
    """A whole file: :func:`preamble`, :func:`file_meta` and :func:`dataset`.

    `preamble_and_meta` False writes the dataset alone; `meta_group_length` is
    :func:`file_meta`'s `group_length`; `dataset_kwargs` go to :func:`dataset`.
    For Deflated Explicit VR Little Endian the dataset is raw-deflated (PS3.5
    A.5), with or without the meta group.
    """
    body = dataset(image, pixel_value, transfer_syntax_uid=transfer_syntax_uid, **dataset_kwargs)
    if _syntax(transfer_syntax_uid).deflated:  # raw deflate, padded to even length (PS3.5 A.5)
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        body = compressor.compress(body) + compressor.flush()
        body += b"\0" * (len(body) % 2)
    if not preamble_and_meta:
        return body
    return preamble() + file_meta(transfer_syntax_uid, group_length=meta_group_length) + body


def native_pixels(
    frames: npt.ArrayLike, image: ImagePixel, *, little_endian: bool = True, ow_swap: bool = False
) -> bytes:
    """The native Pixel Data value of `frames`, not padded (PS3.5 8.1, 8.2).

    `frames` is shaped (frames, rows, columns) or (frames, rows, columns,
    samples), and cast to an integer of ``bits_allocated`` bits (signed when
    ``pixel_representation`` is 1) unless its items have that size already
    (float32 / float64 stay floats).  Planar configuration 1 writes each frame
    colour-by-plane.  Bits allocated 1 packs the low bit of each sample
    continuously across frames, in little-endian bit order, so frames need not
    start on a byte (PS3.5 8.1.1).  `little_endian` is the byte order of
    multi-byte samples; `ow_swap` pads to even length and swaps every byte pair,
    as 8-bit or 1-bit data stored as OW in Explicit VR Big Endian is (PS3.5 A.3).
    """
    array = np.asarray(frames)
    spp = image.samples_per_pixel
    if spp == 1 and array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    expected = (image.rows, image.columns) + ((spp,) if spp > 1 else ())
    if array.shape[1:] != expected:
        raise ValueError(f"frames shaped {array.shape} do not match (n, *{expected})")
    if spp > 1 and image.planar_configuration == 1:
        array = array.transpose(0, 3, 1, 2)
    if image.bits_allocated == 1:
        data = np.packbits(array.astype(np.uint8).ravel() & 1, bitorder="little").tobytes()
    else:
        dtype = array.dtype
        if dtype.itemsize * 8 != image.bits_allocated:
            if image.bits_allocated not in (8, 16, 32, 64):
                raise ValueError(f"bits allocated {image.bits_allocated} is not 1, 8, 16, 32, 64")
            kind = "i" if image.pixel_representation else "u"
            dtype = np.dtype(f"{kind}{image.bits_allocated // 8}")
        dtype = dtype.newbyteorder(_order(little_endian))
        data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    if ow_swap:
        data += b"\0" * (len(data) % 2)
        data = np.frombuffer(data, "<u2").byteswap().tobytes()
    return data
