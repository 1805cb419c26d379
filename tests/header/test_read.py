"""Tests for lazydcm.header: the walk from the first byte to the pixel element.

Inputs are synthetic files from :mod:`lazydcm.testing.synth` (every structure the walk
must skip, in the three byte-order/VR encodings) and real files from pydicom's
test data, with pydicom's ``dcmread(force=True)`` as the oracle where it helps.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np
import pydicom
import pytest
from helpers import real_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazydcm
from lazydcm.errors import (
    InvalidDicomError,
    LazyDcmError,
    PixelDataNotFoundError,
    TruncatedFileError,
    UnsupportedTransferSyntaxError,
)
from lazydcm.header import ParsedHeader, read_header
from lazydcm.header.walker import MAX_DEPTH
from lazydcm.sources import FileObjectSource, LocalFileSource, MemorySource
from lazydcm.testing import synth
from lazydcm.testing.synth import ImagePixel
from lazydcm.uids import EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
RLE = "1.2.840.10008.1.2.5"
ENCODINGS = [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]
ENCODING_IDS = ["explicit-le", "implicit-le", "explicit-be"]
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD

IMAGE = ImagePixel(rows=4, columns=3, bits_allocated=16, bits_stored=12)
PIXELS = bytes(range(24))  # one 4 x 3 frame of 16-bit samples
NAME = "test.dcm"


# -- builders ---------------------------------------------------------------------------


def style(ts: str) -> dict[str, bool]:
    """encode_element / encode_sequence keywords for a transfer syntax."""
    return {"little_endian": ts != EXPLICIT_BE, "implicit": ts == IMPLICIT_LE}


def el(tag: int, vr: str | None, value: Any, ts: str = EXPLICIT_LE, **kwargs: Any) -> bytes:
    return synth.encode_element(tag, vr, value, **style(ts), **kwargs)


def sq(tag: int, items: Sequence[bytes], ts: str = EXPLICIT_LE, **kwargs: Any) -> bytes:
    return synth.encode_sequence(tag, items, **style(ts), **kwargs)


def delimiter(tag: int, ts: str = EXPLICIT_LE) -> bytes:
    """An item or sequence delimiter (or item) header, 8 bytes, in the dataset's byte order."""
    order = "<" if ts != EXPLICIT_BE else ">"
    return struct.pack(f"{order}HHI", tag >> 16, tag & 0xFFFF, 0)


def make(
    ts: str = EXPLICIT_LE,
    *,
    image: ImagePixel = IMAGE,
    pixels: bytes = PIXELS,
    extra: Sequence[Any] = (),
    meta: bool = True,
    **kwargs: Any,
) -> bytes:
    """A whole file (preamble, File Meta, dataset), or the bare dataset."""
    return synth.dicom_file(
        image, pixels, transfer_syntax_uid=ts, extra=list(extra), preamble_and_meta=meta, **kwargs
    )


def parse(data: bytes) -> ParsedHeader:
    return read_header(MemorySource(data, name=NAME))


def pixel_start(data: bytes, ts: str, nbytes: int = len(PIXELS)) -> int:
    """Where the tag of the pixel element is, when it is the last element of `data`."""
    header = 8 if ts == IMPLICIT_LE else 12
    return len(data) - nbytes - header


def without(data: bytes, element: bytes) -> bytes:
    """`data` with the one copy of the encoded `element` removed."""
    assert data.count(element) == 1
    return data.replace(element, b"")


def image_element(tag: int, vr: str, value: Any, ts: str = EXPLICIT_LE) -> tuple[int, bytes]:
    """(offset in a default file of `ts`, encoding) of a built-in element of IMAGE."""
    encoded = el(tag, vr, value, ts)
    data = make(ts)
    assert data.count(encoded) == 1
    return data.index(encoded), encoded


def pydicom_read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data), force=True)


# -- File Meta, preamble and sniffing ---------------------------------------------------


@pytest.mark.parametrize("group_length", [True, False], ids=["group-length", "no-group-length"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_file_meta_names_the_transfer_syntax(ts: str, group_length: bool) -> None:
    data = make(ts, meta_group_length=group_length)
    ts_element = synth.encode_element(0x00020010, "UI", ts)

    parsed = parse(data)

    assert parsed.transfer_syntax.uid == ts
    assert parsed.info.transfer_syntax_uid == ts
    assert parsed.header["TransferSyntaxUID"] == ts
    assert parsed.header["MediaStorageSOPClassUID"] == synth.SOP_CLASS_UID
    assert parsed.header.offset("TransferSyntaxUID") == data.index(ts_element)
    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows
    assert pydicom_read(data).file_meta.TransferSyntaxUID == ts


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_file_meta_without_preamble(ts: str) -> None:
    data = synth.file_meta(ts) + synth.dataset(IMAGE, PIXELS, transfer_syntax_uid=ts)

    parsed = parse(data)

    assert parsed.transfer_syntax.uid == ts
    assert parsed.pixel.offset == pixel_start(data, ts)


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_bare_dataset_encoding_is_sniffed(ts: str) -> None:
    data = make(ts, meta=False)
    ds = pydicom_read(data)

    parsed = parse(data)

    assert parsed.transfer_syntax.uid == ts
    assert (parsed.transfer_syntax.implicit_vr, parsed.transfer_syntax.little_endian) == tuple(
        ds.original_encoding
    )
    assert parsed.header["TransferSyntaxUID"] == ts
    assert parsed.header.offset("TransferSyntaxUID") is None  # not in the file
    assert parsed.pixel.value_offset == ds.get_item("PixelData").value_tell
    assert (parsed.info.rows, parsed.info.columns) == (ds.Rows, ds.Columns)
    assert parsed.info.bits_stored == ds.BitsStored


@pytest.mark.parametrize(
    "name", ["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm", "no_meta_group_length.dcm"]
)
def test_real_files_without_pixel_data(name: str) -> None:
    source = LocalFileSource(real_file(name))

    with pytest.raises(PixelDataNotFoundError) as info:
        read_header(source)

    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, LazyDcmError)
    assert str(info.value).startswith(str(real_file(name)))
    assert "(7FE0,0010) 'Pixel Data'" in str(info.value)
    source.close()


@pytest.mark.parametrize(
    "name", ["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm", "no_meta_group_length.dcm"]
)
def test_real_files_are_walked_to_the_end_in_the_sniffed_encoding(name: str) -> None:
    # Append an Image Pixel module and Pixel Data in the encoding pydicom reads the file
    # in: lazydcm finds them only if it sniffed the same encoding and skipped every element.
    original = real_file(name).read_bytes()
    implicit, little = pydicom.dcmread(real_file(name), force=True).original_encoding
    ts = IMPLICIT_LE if implicit else EXPLICIT_LE if little else EXPLICIT_BE
    data = original + synth.dataset(IMAGE, PIXELS, transfer_syntax_uid=ts)

    parsed = parse(data)

    assert parsed.transfer_syntax.uid == ts
    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows
    assert parsed.header.offset("Rows") > len(original)


def test_ot_pal_8_face_has_no_meta_and_is_implicit_le() -> None:
    path = real_file("OT-PAL-8-face.dcm")
    ds = pydicom.dcmread(path, force=True)
    source = LocalFileSource(path)

    parsed = read_header(source)

    assert parsed.transfer_syntax.uid == IMPLICIT_LE
    assert tuple(ds.original_encoding) == (True, True)
    assert parsed.pixel.value_offset == ds.get_item("PixelData").value_tell
    assert parsed.pixel.vr is None
    assert parsed.pixel.length == len(ds.PixelData)
    assert parsed.info.photometric_interpretation == ds.PhotometricInterpretation
    assert (parsed.info.rows, parsed.info.columns) == (ds.Rows, ds.Columns)
    assert parsed.info.bits_allocated == ds.BitsAllocated
    assert parsed.header["RedPaletteColorLookupTableDescriptor"] == tuple(
        ds.RedPaletteColorLookupTableDescriptor
    )
    assert parsed.header["GreenPaletteColorLookupTableData"] == ds.GreenPaletteColorLookupTableData
    source.close()


def test_file_object_source_gives_the_same_header() -> None:
    data = make(
        EXPLICIT_BE,
        extra=[sq(0x00081115, [el(0x00081150, "UI", "1.2", EXPLICIT_BE)] * 3, EXPLICIT_BE)],
    )
    expected = parse(data)

    parsed = read_header(FileObjectSource(io.BytesIO(data)))

    assert parsed.info == expected.info
    assert parsed.pixel == expected.pixel
    assert dict(parsed.header) == dict(expected.header)


# -- skipping what is not kept ----------------------------------------------------------


def decoy_item(ts: str) -> bytes:
    """An item with kept tags that must not be taken for the top-level ones."""
    return b"".join(
        (
            el(0x00080100, "SH", "CODE1", ts),
            el(0x00280010, "US", 999, ts),
            el(0x00280100, "US", 8, ts),
            el(0x00280004, "CS", "RGB", ts),
        )
    )


@pytest.mark.parametrize("item_undefined", [True, False], ids=["item-undef", "item-def"])
@pytest.mark.parametrize("seq_undefined", [True, False], ids=["seq-undef", "seq-def"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_sequences_are_skipped(ts: str, seq_undefined: bool, item_undefined: bool) -> None:
    lengths = {"undefined_length": seq_undefined, "undefined_item_length": item_undefined}
    inner = sq(0x0008114A, [decoy_item(ts), b""], ts, **lengths)
    outer = sq(0x00081115, [decoy_item(ts) + inner, b"", decoy_item(ts)], ts, **lengths)
    data = make(ts, extra=[outer])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows
    assert parsed.info.bits_allocated == 16
    assert parsed.info.photometric_interpretation == "MONOCHROME2"
    assert "ReferencedSeriesSequence" not in parsed.header
    assert parsed.header.offset("Rows") > data.index(outer) + len(outer)


def nested_sequence(depth: int, ts: str, index: int = 0) -> bytes:
    """`depth` nested sequences alternating undefined and defined lengths."""
    if depth == 0:
        return decoy_item(ts)
    inner = nested_sequence(depth - 1, ts, index + 1)
    undefined = index % 2 == 0
    return sq(
        0x00081115 if index % 3 else 0x00400275,
        [el(0x00081150, "UI", "1.2.3", ts) + inner, decoy_item(ts)],
        ts,
        undefined_length=undefined,
        undefined_item_length=not undefined,
    )


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_nested_sequences_are_skipped(ts: str) -> None:
    data = make(ts, extra=[nested_sequence(12, ts)])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_icon_image_pixel_data_is_not_the_image(ts: str, undefined: bool) -> None:
    icon = ImagePixel(rows=8, columns=8, bits_allocated=8, photometric_interpretation="RGB")
    icon_item = synth.dataset(icon, bytes(64), transfer_syntax_uid=ts, pixel_vr="OB")
    icon_sequence = sq(
        0x00880200, [icon_item], ts, undefined_length=undefined, undefined_item_length=undefined
    )
    data = make(ts, extra=[icon_sequence])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.pixel.length == len(PIXELS)
    assert (parsed.info.rows, parsed.info.columns) == (IMAGE.rows, IMAGE.columns)
    assert parsed.info.photometric_interpretation == "MONOCHROME2"


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_private_elements_are_skipped(ts: str) -> None:
    private = [
        el(0x00290010, "LO", "ACME 1.0", ts),
        el(0x00291010, "OB", bytes(range(256)) * 40, ts),
        sq(0x00291020, [decoy_item(ts), el(0x00291001, "LO", "x" * 99, ts)], ts),
        el(0x00291030, "UT", "long text " * 500, ts),
        el(0x00091001, "UL", [1, 2, 3], ts),
    ]
    data = make(ts, extra=private)

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows
    assert all(keyword[0].isalpha() for keyword in parsed.header)  # no private keyword


def implicit_le_items() -> list[bytes]:
    """Items of a UN sequence: Implicit VR LE whatever the dataset (PS3.5 6.2.2)."""
    inner = synth.encode_sequence(0x0008114A, [decoy_item(IMPLICIT_LE)], implicit=True)
    deeper = synth.encode_sequence(
        0x00400275, [decoy_item(IMPLICIT_LE) + inner], implicit=True, undefined_length=False
    )
    return [decoy_item(IMPLICIT_LE) + inner, deeper, b""]


@pytest.mark.parametrize("ts", [EXPLICIT_LE, EXPLICIT_BE], ids=["explicit-le", "explicit-be"])
def test_un_sequence_of_undefined_length_is_implicit_le_inside(ts: str) -> None:
    un = synth.encode_sequence(
        0x00291040, implicit_le_items(), vr="UN", little_endian=ts != EXPLICIT_BE
    )
    data = make(ts, extra=[un])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows
    assert parsed.info.bits_allocated == IMAGE.bits_allocated


@pytest.mark.parametrize("ts", [EXPLICIT_LE, EXPLICIT_BE], ids=["explicit-le", "explicit-be"])
def test_un_sequence_inside_an_item_is_implicit_le_inside(ts: str) -> None:
    un = synth.encode_sequence(
        0x00291040, implicit_le_items(), vr="UN", little_endian=ts != EXPLICIT_BE
    )
    outer = sq(0x00081115, [el(0x00081150, "UI", "1.2", ts) + un, decoy_item(ts)], ts)
    data = make(ts, extra=[outer])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.info.rows == IMAGE.rows


@pytest.mark.parametrize("stray", [SEQUENCE_DELIMITER, ITEM_DELIMITER], ids=["seq", "item"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_stray_delimiter_at_the_top_level_is_skipped(ts: str, stray: int) -> None:
    data = make(ts)
    rows_at, _ = image_element(0x00280010, "US", IMAGE.rows, ts)
    data = data[:rows_at] + delimiter(stray, ts) + data[rows_at:]

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)
    assert parsed.header.offset("Rows") == rows_at + 8
    assert parsed.info.rows == IMAGE.rows


def test_5000_item_sequence_before_the_pixel_data() -> None:
    # Per-frame functional groups of a large enhanced multi-frame file, in miniature.
    item = b"".join(
        (
            sq(0x00209111, [el(0x00209157, "UL", [1, 2], EXPLICIT_LE)]),
            sq(0x00289110, [el(0x00280030, "DS", "0.5\\0.5") + el(0x00180050, "DS", "1")]),
            sq(0x00209113, [el(0x00200032, "DS", "1\\2\\3")], undefined_item_length=False),
            el(0x00289132, "LO", "decoy"),
        )
    )
    groups = sq(0x52009230, [item] * 5000)
    data = make(
        extra=[groups, el(0x00280030, "DS", "0.25\\0.125")],
        image=ImagePixel(4, 3, number_of_frames=5000),
        pixels=PIXELS,
    )

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, EXPLICIT_LE)
    assert parsed.info.number_of_frames == 5000
    assert parsed.header["PixelSpacing"] == (0.25, 0.125)  # the top-level one


def deeply_nested(levels: int, ts: str = EXPLICIT_LE) -> bytes:
    """`levels` sequences of undefined length, each in an item of the one before."""
    opener = el(0x00081115, "SQ", b"", ts, length=UNDEFINED)
    order = "<" if ts != EXPLICIT_BE else ">"
    item = struct.pack(f"{order}HHI", 0xFFFE, 0xE000, UNDEFINED)
    return (opener + item) * levels + (
        delimiter(ITEM_DELIMITER, ts) + delimiter(SEQUENCE_DELIMITER, ts)
    ) * levels


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_deep_but_allowed_nesting_is_walked(ts: str) -> None:
    data = make(ts, extra=[deeply_nested(MAX_DEPTH // 2, ts)])

    parsed = parse(data)

    assert parsed.pixel.offset == pixel_start(data, ts)


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 20_000])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_nesting_deeper_than_max_depth_is_invalid(ts: str, levels: int) -> None:
    data = make(ts, extra=[deeply_nested(levels, ts)])

    with pytest.raises(InvalidDicomError, match=rf"{NAME}: .*nest more than {MAX_DEPTH} deep"):
        parse(data)


def test_nesting_inside_a_kept_sequence_is_limited_too() -> None:
    item = el(0x00283002, "US", [4, 0, 16]) + deeply_nested(MAX_DEPTH + 1)
    data = make(extra=[sq(0x00283010, [item])])

    with pytest.raises(InvalidDicomError, match=f"nest more than {MAX_DEPTH} deep"):
        parse(data)


# -- values kept ------------------------------------------------------------------------

VALUES_IMAGE = ImagePixel(
    rows=5,
    columns=7,
    bits_allocated=16,
    bits_stored=10,
    high_bit=9,
    pixel_representation=0,
    number_of_frames=3,
)
VALUES_PIXELS = bytes(5 * 7 * 2 * 3)
VALUE_ELEMENTS = [
    (0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
    (0x00080060, "CS", "CT "),
    (0x00280009, "AT", [0x00181063]),
    (0x00280030, "DS", "0.5\\0.25"),
    (0x00281040, "CS", "LIN"),
    (0x00281041, "SS", [-1]),
    (0x00281050, "DS", "40\\400"),
    (0x00281051, "DS", " 350 \\1500"),
    (0x00281052, "DS", "-1024"),
    (0x00281053, "DS", "1.5"),
    (0x00281054, "LO", "HU"),
    (0x00281056, "CS", "LINEAR"),
    (0x00282110, "CS", "00"),
    (0x00480006, "UL", [70000]),
    (0x00480007, "UL", [3]),
    (0x20500020, "CS", "IDENTITY"),
    (0x00100010, "PN", "Not^Kept"),  # not a kept element
]
EXPECTED_VALUES = {
    "ImageType": ("ORIGINAL", "PRIMARY", "AXIAL"),
    "Modality": "CT",
    "FrameIncrementPointer": 0x00181063,
    "PixelSpacing": (0.5, 0.25),
    "PixelIntensityRelationship": "LIN",
    "PixelIntensityRelationshipSign": -1,
    "WindowCenter": (40.0, 400.0),
    "WindowWidth": (350.0, 1500.0),
    "RescaleIntercept": -1024.0,
    "RescaleSlope": 1.5,
    "RescaleType": "HU",
    "VOILUTFunction": "LINEAR",
    "LossyImageCompression": "00",
    "TotalPixelMatrixColumns": 70000,
    "TotalPixelMatrixRows": 3,
    "PresentationLUTShape": "IDENTITY",
    "Rows": 5,
    "Columns": 7,
    "SamplesPerPixel": 1,
    "BitsAllocated": 16,
    "BitsStored": 10,
    "HighBit": 9,
    "PixelRepresentation": 0,
    "PhotometricInterpretation": "MONOCHROME2",
    "NumberOfFrames": 3,
    "SOPClassUID": synth.SOP_CLASS_UID,
    "SOPInstanceUID": synth.SOP_INSTANCE_UID,
}


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_kept_values_are_decoded(ts: str) -> None:
    data = make(ts, image=VALUES_IMAGE, pixels=VALUES_PIXELS, extra=VALUE_ELEMENTS)

    header = parse(data).header

    assert {key: header[key] for key in EXPECTED_VALUES} == EXPECTED_VALUES
    assert "PatientName" not in header
    assert isinstance(header["Rows"], int)
    assert isinstance(header["RescaleIntercept"], float)
    assert isinstance(header["NumberOfFrames"], int)


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_kept_values_agree_with_pydicom(ts: str) -> None:
    data = make(ts, image=VALUES_IMAGE, pixels=VALUES_PIXELS, extra=VALUE_ELEMENTS)
    ds = pydicom_read(data)

    header = parse(data).header

    for keyword in (
        "Rows",
        "Columns",
        "BitsStored",
        "NumberOfFrames",
        "RescaleSlope",
        "RescaleIntercept",
        "Modality",
        "PixelIntensityRelationshipSign",
        "TotalPixelMatrixColumns",
    ):
        assert header[keyword] == ds[keyword].value, keyword
    for keyword in ("ImageType", "PixelSpacing", "WindowCenter", "WindowWidth"):
        assert header[keyword] == tuple(ds[keyword].value), keyword


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_pixel_info_is_the_image_pixel_module(ts: str) -> None:
    image = ImagePixel(
        rows=6,
        columns=5,
        samples_per_pixel=3,
        bits_allocated=8,
        photometric_interpretation="YBR_FULL",
        planar_configuration=1,
        number_of_frames=2,
    )
    pixels = bytes(6 * 5 * 3 * 2)
    if ts == EXPLICIT_BE:  # 8-bit data is OW, swapped, in big endian
        pixels = synth.native_pixels(np.zeros((2, 6, 5, 3), np.uint8), image, ow_swap=True)
    data = make(ts, image=image, pixels=pixels)

    parsed = parse(data)

    assert parsed.info == lazydcm.PixelInfo(
        rows=6,
        columns=5,
        samples_per_pixel=3,
        bits_allocated=8,
        bits_stored=8,
        high_bit=7,
        pixel_representation=0,
        photometric_interpretation="YBR_FULL",
        planar_configuration=1,
        number_of_frames=2,
        transfer_syntax_uid=ts,
        pixel_keyword="PixelData",
    )
    assert parsed.info.frame_pixels == 90
    assert parsed.pixel.keyword == "PixelData"
    assert parsed.pixel.tag == 0x7FE00010
    assert parsed.pixel.length == len(pixels)
    assert parsed.pixel.value_offset == len(data) - len(pixels)
    assert parsed.pixel.vr == (None if ts == IMPLICIT_LE else "OB" if ts == EXPLICIT_LE else "OW")
    assert parsed.words_swapped == (ts == EXPLICIT_BE)


def test_pixel_info_is_frozen() -> None:
    info = parse(make()).info

    with pytest.raises(AttributeError):
        info.rows = 10  # type: ignore[misc]


def test_high_bit_defaults_to_bits_stored_minus_one() -> None:
    _, high_bit = image_element(0x00280102, "US", 11)
    data = without(make(), high_bit)

    info = parse(data).info

    assert (info.bits_stored, info.high_bit) == (12, 11)
    assert "HighBit" not in parse(data).header


def test_missing_planar_configuration_warns_and_assumes_0() -> None:
    image = ImagePixel(
        rows=2, columns=2, samples_per_pixel=3, bits_allocated=8, photometric_interpretation="RGB"
    )
    data = without(make(image=image, pixels=bytes(12)), el(0x00280006, "US", 0))

    with pytest.warns(lazydcm.LazyDcmWarning, match=r"\(0028,0006\) 'Planar Configuration'"):
        info = parse(data).info

    assert info.planar_configuration == 0


def test_header_is_a_read_only_mapping() -> None:
    header = parse(make(image=VALUES_IMAGE, pixels=VALUES_PIXELS, extra=VALUE_ELEMENTS)).header

    assert isinstance(header, Mapping)
    assert not isinstance(header, MutableMapping)
    with pytest.raises(TypeError):
        header["Rows"] = 10  # type: ignore[index]
    with pytest.raises(TypeError):
        del header["Rows"]  # type: ignore[attr-defined]
    for method in ("update", "pop", "popitem", "setdefault", "clear", "__setitem__"):
        assert not hasattr(header, method), method
    assert header["Rows"] == 5
    assert header.get("PatientName") is None
    assert len(header) == len(list(header)) == len(dict(header))
    assert "Rows" in repr(header)


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_offset_is_where_the_tag_is(ts: str) -> None:
    data = make(ts, image=VALUES_IMAGE, pixels=VALUES_PIXELS, extra=VALUE_ELEMENTS)
    window = el(0x00281050, "DS", "40\\400", ts)

    header = parse(data).header

    assert header.offset("WindowCenter") == data.index(window)
    assert header.offset("Rows") == data.index(el(0x00280010, "US", 5, ts))
    assert header.offset("PatientName") is None


@pytest.mark.parametrize(
    ("representation", "expected"), [(1, (-2000, -100, 300)), (0, (63536, 65436, 300))]
)
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_us_or_ss_values_follow_pixel_representation(
    ts: str, representation: int, expected: tuple[int, int, int]
) -> None:
    # Written as the bytes of signed values, with the VR pydicom's writer would choose
    # (SS for signed data, US otherwise); implicit VR has no VR, so the walk must decide.
    order = "<" if ts != EXPLICIT_BE else ">"
    vr = "SS" if representation else "US"
    extra = [
        (tag, vr, struct.pack(f"{order}h", value))
        for tag, value in ((0x00280120, -2000), (0x00280106, -100), (0x00280107, 300))
    ]
    image = ImagePixel(rows=4, columns=3, pixel_representation=representation)

    header = parse(make(ts, image=image, extra=extra)).header

    padding, smallest, largest = expected
    assert header["PixelPaddingValue"] == padding
    assert header["SmallestImagePixelValue"] == smallest
    assert header["LargestImagePixelValue"] == largest


def lut_items(ts: str) -> tuple[bytes, bytes]:
    modality = b"".join(
        (
            el(0x00080100, "SH", "NOTKEPT", ts),
            el(0x00283002, "US", [4, 0, 16], ts),
            el(0x00283004, "LO", "HU", ts),
            el(0x00283006, "OW", [10, 20, 30, 40], ts),
        )
    )
    voi = b"".join(
        (
            el(0x00283002, "US", [3, 5, 8], ts),
            el(0x00283003, "LO", "SOFT TISSUE", ts),
            el(0x00283006, "OW", [1, 2, 3], ts),
            sq(0x0008114A, [decoy_item(ts)], ts),
        )
    )
    return modality, voi


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_lut_sequences_are_kept_as_item_dicts(ts: str, undefined: bool) -> None:
    modality, voi = lut_items(ts)
    lengths = {"undefined_length": undefined, "undefined_item_length": undefined}
    extra = [sq(0x00283000, [modality], ts, **lengths), sq(0x00283010, [voi, voi], ts, **lengths)]
    order = "<" if ts != EXPLICIT_BE else ">"

    parsed = parse(make(ts, extra=extra))

    assert parsed.header["ModalityLUTSequence"] == (
        {
            "LUTDescriptor": (4, 0, 16),
            "ModalityLUTType": "HU",
            "LUTData": struct.pack(f"{order}4H", 10, 20, 30, 40),
        },
    )
    voi_item = {
        "LUTDescriptor": (3, 5, 8),
        "LUTExplanation": "SOFT TISSUE",
        "LUTData": struct.pack(f"{order}3H", 1, 2, 3),
    }
    assert parsed.header["VOILUTSequence"] == (voi_item, voi_item)
    assert parsed.pixel.offset == pixel_start(make(ts, extra=extra), ts)


@pytest.mark.parametrize("ts", [EXPLICIT_LE, EXPLICIT_BE], ids=["explicit-le", "explicit-be"])
def test_kept_sequence_encoded_as_un_is_read_as_implicit_le(ts: str) -> None:
    modality, _ = lut_items(IMPLICIT_LE)
    un = synth.encode_sequence(0x00283000, [modality], vr="UN", little_endian=ts != EXPLICIT_BE)

    parsed = parse(make(ts, extra=[un]))

    assert parsed.header["ModalityLUTSequence"] == (
        {
            "LUTDescriptor": (4, 0, 16),
            "ModalityLUTType": "HU",
            "LUTData": struct.pack("<4H", 10, 20, 30, 40),
        },
    )


def test_un_values_in_big_endian_are_little_endian() -> None:
    modality, _ = lut_items(IMPLICIT_LE)
    un_sequence = synth.encode_sequence(
        0x00283000,
        [modality],
        vr="UN",
        little_endian=False,
        undefined_length=False,
        undefined_item_length=False,
    )
    un_slope = synth.encode_element(0x00281053, "UN", "2", little_endian=False)
    un_rows = synth.encode_element(0x00280010, "UN", struct.pack("<H", 4), little_endian=False)

    parsed = parse(make(EXPLICIT_BE, extra=[un_sequence, un_slope, un_rows]))

    assert parsed.header["RescaleSlope"] == 2.0
    assert parsed.info.rows == 4
    assert parsed.header["ModalityLUTSequence"][0]["LUTDescriptor"] == (4, 0, 16)


def test_lut_descriptor_in_an_item_follows_the_top_level_pixel_representation() -> None:
    # (0028,3002) is US or SS (PS3.3 C.11.1.1): with signed pixels, the first value mapped
    # is signed.  (pydicom 3 reads it as US inside an item but as SS at the top level.)
    item = synth.encode_element(0x00283002, "SS", [4096, -1024, 16], implicit=True)
    image = ImagePixel(rows=4, columns=3, pixel_representation=1)
    data = make(IMPLICIT_LE, image=image, extra=[sq(0x00283000, [item], IMPLICIT_LE)])

    header = parse(data).header

    assert header["ModalityLUTSequence"][0]["LUTDescriptor"] == (4096, -1024, 16)


def test_kept_sequence_items_are_read_only() -> None:
    modality, _ = lut_items(EXPLICIT_LE)
    header = parse(make(extra=[sq(0x00283000, [modality])])).header

    with pytest.raises(TypeError):
        header["ModalityLUTSequence"][0]["LUTData"] = b""


def test_extended_offset_table_is_a_read_only_uint64_array() -> None:
    frames = [b"\x01" * 24, b"\x02" * 24, b"\x03" * 24]
    offsets, lengths = synth.frame_table(frames)
    image = ImagePixel(rows=4, columns=3, number_of_frames=3)
    data = make(
        ENCAPSULATED_UNCOMPRESSED,
        image=image,
        pixels=synth.encapsulate(frames),
        extended_offsets=(offsets, lengths),
    )

    parsed = parse(data)

    table = parsed.header["ExtendedOffsetTable"]
    assert isinstance(table, np.ndarray)
    assert table.dtype == np.uint64
    assert table.dtype.isnative
    assert table.tolist() == offsets == [0, 32, 64]
    assert parsed.header["ExtendedOffsetTableLengths"].tolist() == lengths
    assert not table.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        table[0] = 5
    assert parsed.pixel.length is None
    assert parsed.info.number_of_frames == 3


def test_extended_offset_table_of_a_bad_length_is_invalid_dicom() -> None:
    data = make(
        ENCAPSULATED_UNCOMPRESSED,
        pixels=synth.encapsulate([PIXELS]),
        extra=[(0x7FE00001, "OV", bytes(12))],
    )

    with pytest.raises(InvalidDicomError, match=r"\(7FE0,0001\)"):
        parse(data)


def test_explicit_un_values_of_a_real_file_use_the_dictionary_vr() -> None:
    path = real_file("explicit_VR-UN.dcm")
    raw = path.read_bytes()
    ds = pydicom.dcmread(path)  # pydicom replaces UN by the dictionary VR too
    source = LocalFileSource(path)

    header = read_header(source).header

    for keyword in (
        "ImageType",
        "SOPClassUID",
        "Modality",
        "PixelSpacing",
        "RescaleIntercept",
        "RescaleSlope",
    ):
        offset = header.offset(keyword)
        assert offset is not None
        assert raw[offset + 4 : offset + 6] == b"UN", keyword
        expected = ds[keyword].value
        if isinstance(expected, pydicom.multival.MultiValue):
            expected = tuple(expected)
        assert header[keyword] == expected, keyword
    assert header["RescaleSlope"] == 1.0
    assert header["ImageType"] == ("ORIGINAL", "PRIMARY", "AXIAL")
    source.close()


def test_explicit_un_values_use_the_dictionary_vr() -> None:
    extra = [
        (0x00280010, "UN", struct.pack("<H", 9)),
        (0x00280030, "UN", "0.5\\0.75"),
        (0x00280120, "UN", struct.pack("<h", -5)),
    ]
    image = ImagePixel(rows=4, columns=3, pixel_representation=1)

    parsed = parse(make(image=image, extra=extra))

    assert parsed.info.rows == 9
    assert parsed.header["PixelSpacing"] == (0.5, 0.75)
    assert parsed.header["PixelPaddingValue"] == -5


# -- Float and Double Float Pixel Data --------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "tag", "bits", "vr"),
    [("FloatPixelData", 0x7FE00008, 32, "OF"), ("DoubleFloatPixelData", 0x7FE00009, 64, "OD")],
)
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_float_pixel_data(ts: str, keyword: str, tag: int, bits: int, vr: str) -> None:
    image = ImagePixel(rows=2, columns=3, bits_allocated=bits, bits_stored=12)
    order = "<" if ts != EXPLICIT_BE else ">"
    values = np.linspace(-1, 1, 6).astype(f"{order}f{bits // 8}").tobytes()
    data = make(ts, image=image, pixels=values, pixel_keyword=keyword)

    parsed = parse(data)

    assert parsed.info.pixel_keyword == keyword
    assert parsed.pixel.keyword == keyword
    assert parsed.pixel.tag == tag
    assert parsed.pixel.vr == (None if ts == IMPLICIT_LE else vr)
    assert parsed.pixel.length == len(values)
    assert parsed.pixel.offset == pixel_start(data, ts, len(values))
    # No Bits Stored, High Bit or Pixel Representation for float data (PS3.3 C.7.6.24).
    assert (parsed.info.bits_allocated, parsed.info.bits_stored) == (bits, bits)
    assert (parsed.info.high_bit, parsed.info.pixel_representation) == (bits - 1, 0)
    assert not parsed.words_swapped


@pytest.mark.parametrize(
    ("keyword", "tag_text", "bits", "needs"),
    [
        ("FloatPixelData", "(7FE0,0008) 'Float Pixel Data'", 64, 32),
        ("FloatPixelData", "(7FE0,0008) 'Float Pixel Data'", 16, 32),
        ("DoubleFloatPixelData", "(7FE0,0009) 'Double Float Pixel Data'", 32, 64),
    ],
)
def test_float_pixel_data_needs_matching_bits_allocated(
    keyword: str, tag_text: str, bits: int, needs: int
) -> None:
    data = make(
        image=ImagePixel(rows=2, columns=2, bits_allocated=bits),
        pixels=bytes(32),
        pixel_keyword=keyword,
    )

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert f"(0028,0100) 'Bits Allocated' value {bits}" in message
    assert tag_text in message
    assert str(needs) in message


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "vr", "value", "tag_text"),
    [
        (0x00280010, "US", 4, "(0028,0010) 'Rows'"),
        (0x00280011, "US", 3, "(0028,0011) 'Columns'"),
        (0x00280100, "US", 16, "(0028,0100) 'Bits Allocated'"),
        (0x00280004, "CS", "MONOCHROME2", "(0028,0004) 'Photometric Interpretation'"),
        (0x00280101, "US", 12, "(0028,0101) 'Bits Stored'"),
        (0x00280103, "US", 0, "(0028,0103) 'Pixel Representation'"),
    ],
)
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_missing_required_element(ts: str, tag: int, vr: str, value: Any, tag_text: str) -> None:
    data = without(make(ts), el(tag, vr, value, ts))

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    assert str(info.value) == f"{NAME}: the required element {tag_text} is missing"


@pytest.mark.parametrize(
    ("tag", "vr", "value", "expected"),
    [
        (0x00280100, "US", 12, "(0028,0100) 'Bits Allocated' value 12"),
        (0x00280100, "US", 0, "(0028,0100) 'Bits Allocated' value 0"),
        (0x00280101, "US", 17, "(0028,0101) 'Bits Stored' value 17"),
        (0x00280102, "US", 16, "(0028,0102) 'High Bit' value 16"),
        (0x00280002, "US", 2, "(0028,0002) 'Samples per Pixel' value 2"),
        (0x00280103, "US", 2, "(0028,0103) 'Pixel Representation' value 2"),
        (
            0x00280004,
            "CS",
            "MONOCHROME3",
            "(0028,0004) 'Photometric Interpretation' value 'MONOCHROME3'",
        ),
        (0x00280010, "US", 0, "(0028,0010) 'Rows' value 0"),
        (0x00280011, "US", 0, "(0028,0011) 'Columns' value 0"),
        (0x00280008, "IS", "-2", "(0028,0008) 'Number of Frames' value -2"),
        (0x00280008, "IS", "2.5", "(0028,0008) 'Number of Frames' value 2.5"),
    ],
)
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_invalid_value_names_the_tag_the_value_and_the_offset(
    ts: str, tag: int, vr: str, value: Any, expected: str
) -> None:
    data = make(ts, extra=[(tag, vr, value)])
    offset = data.index(el(tag, vr, value, ts))

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert message.startswith(f"{NAME}: ")
    assert f"{expected} at byte {offset}" in message


@pytest.mark.parametrize(
    ("extra", "tag_text"),
    [
        ([(0x00280002, "US", 0)], "(0028,0002) 'Samples per Pixel'"),
        (
            [synth.encode_element(0x00283010, "SQ", el(0x00080100, "SH", "X"), length=UNDEFINED)],
            "(0028,3010) 'VOI LUT Sequence'",
        ),
    ],
    ids=["samples-per-pixel", "voi-lut-sequence"],
)
def test_messages_use_the_attribute_names_of_ps3_6(extra: list[Any], tag_text: str) -> None:
    with pytest.raises(InvalidDicomError) as info:
        parse(make(extra=extra))

    assert tag_text in str(info.value)


def test_number_of_frames_1a_in_a_real_file() -> None:
    path = real_file("badVR.dcm")
    tag_offset = pydicom.dcmread(path).get_item(0x00280008).value_tell - 8
    source = LocalFileSource(path)

    with pytest.raises(InvalidDicomError) as info:
        read_header(source)

    message = str(info.value)
    assert f"(0028,0008) 'Number of Frames' value '1A' at byte {tag_offset}" in message
    assert message.startswith(str(path))
    source.close()


@pytest.mark.parametrize("value", ["", "0", "00"], ids=["empty", "zero", "zero-zero"])
def test_number_of_frames_empty_or_zero_warns_and_assumes_1(value: str) -> None:
    data = make(image=ImagePixel(rows=4, columns=3, number_of_frames=value))
    offset = data.index(el(0x00280008, "IS", value))

    with pytest.warns(
        lazydcm.LazyDcmWarning,
        match=rf"\(0028,0008\) 'Number of Frames' value .* at byte {offset} .*assuming 1",
    ):
        info = parse(data).info

    assert info.number_of_frames == 1


def test_an_empty_number_of_frames_override_warns_and_assumes_1() -> None:
    # An override given as an empty tuple: no first value to read
    source = MemorySource(make(), name=NAME)
    with pytest.warns(lazydcm.LazyDcmWarning, match=r"value None \(given in overrides\)"):
        info = read_header(source, overrides={"NumberOfFrames": ()}).info

    assert info.number_of_frames == 1


def test_absent_number_of_frames_is_one_frame_without_warning() -> None:
    info = parse(make(image=ImagePixel(rows=4, columns=3, number_of_frames=None))).info

    assert info.number_of_frames == 1


@pytest.mark.parametrize("vr", ["LO", "US", "DS"])
@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_element_running_past_the_end_is_truncated(ts: str, vr: str) -> None:
    head = make(ts)
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID, ts))]
    data = head + el(0x00081030, vr, b"ab", ts, length=200) + b"x" * 50

    with pytest.raises(TruncatedFileError) as info:
        parse(data)

    assert isinstance(info.value, InvalidDicomError)
    message = str(info.value)
    assert f"(0008,1030) at byte {len(head)}" in message
    assert f"200 bytes from byte {len(head) + 8}" in message
    assert f"ends at byte {len(data)}" in message


@pytest.mark.parametrize("vr", ["OB", "UT", "UN", "SQ"])
@pytest.mark.parametrize("ts", [EXPLICIT_LE, EXPLICIT_BE], ids=["explicit-le", "explicit-be"])
def test_long_vr_element_running_past_the_end_is_truncated(ts: str, vr: str) -> None:
    head = make(ts)
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID, ts))]
    data = head + el(0x00291010, vr, b"", ts, length=200) + b"x" * 50

    with pytest.raises(TruncatedFileError) as info:
        parse(data)

    message = str(info.value)
    assert "(0029,1010)" in message
    assert f"200 bytes from byte {len(head) + 12}" in message
    assert f"ends at byte {len(data)}" in message


@pytest.mark.parametrize("vr", ["OB", "UT", "UN", "SQ"])
def test_truncated_long_vr_element_message_names_its_tag_offset(vr: str) -> None:
    head = make()
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID))]
    data = head + el(0x00291010, vr, b"", length=200) + b"x" * 50

    with pytest.raises(TruncatedFileError, match=rf"\(0029,1010\) at byte {len(head)} "):
        parse(data)


def test_truncated_file_meta_ob_element_names_its_tag_offset() -> None:
    data = make()
    at = data.index(synth.encode_element(0x00020001, "OB", b"\x00\x01"))

    with pytest.raises(TruncatedFileError, match=rf"\(0002,0001\) at byte {at} "):
        parse(data[: at + 13])


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_item_running_past_the_end_is_truncated(ts: str) -> None:
    head = make(ts)
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID, ts))]
    order = "<" if ts != EXPLICIT_BE else ">"
    sequence = el(0x00081115, "SQ", b"", ts, length=UNDEFINED)
    data = head + sequence + struct.pack(f"{order}HHI", 0xFFFE, 0xE000, 500) + bytes(40)

    with pytest.raises(TruncatedFileError) as info:
        parse(data)

    message = str(info.value)
    assert f"(FFFE,E000) 'Item' at byte {len(head) + len(sequence)}" in message
    assert f"ends at byte {len(data)}" in message


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_undefined_length_sequence_without_its_delimiter_is_truncated(ts: str) -> None:
    head = make(ts)
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID, ts))]
    sequence = sq(0x00081115, [decoy_item(ts)], ts)
    data = head + sequence[:-8]  # no Sequence Delimitation Item

    with pytest.raises(TruncatedFileError, match=rf"ends at byte {len(data)}"):
        parse(data)


@pytest.mark.parametrize("wrap", ["buffer", "fileobj"])
@pytest.mark.parametrize("cut", [8, 9, 10, 11])
def test_file_ending_inside_a_long_element_header_in_a_sequence(cut: int, wrap: str) -> None:
    head = make()
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID))]
    sequence = sq(0x00081115, [el(0x00291010, "OB", b"abcd")])
    element_at = 12 + 8  # after the sequence header and the item header
    data = head + sequence[: element_at + cut]
    source = MemorySource(data) if wrap == "buffer" else FileObjectSource(io.BytesIO(data))

    with pytest.raises(TruncatedFileError, match=f"ends at byte {len(data)}"):
        read_header(source)


META_END = len(synth.preamble() + synth.file_meta(EXPLICIT_LE))


def meta_value_cuts() -> list[int]:
    """Cut points strictly inside the value of each File Meta element."""
    cuts = []
    pos = 132
    meta = synth.file_meta(EXPLICIT_LE)
    while pos < META_END:
        vr = meta[pos - 132 + 4 : pos - 132 + 6]
        long = vr in (b"OB", b"UN", b"SQ")
        header = 12 if long else 8
        length_bytes = meta[pos - 132 + header - (4 if long else 2) : pos - 132 + header]
        length = int.from_bytes(length_bytes, "little")
        cuts.append(pos + header + length // 2)
        pos += header + length
    return cuts


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 64, 127, 128, 130, 131, 132, 133, 139])
def test_file_ending_inside_the_preamble_is_invalid(cut: int) -> None:
    data = make()[:cut]

    with pytest.raises(InvalidDicomError, match=rf"{NAME}: .*(too short|not a DICOM file)"):
        parse(data)


@pytest.mark.parametrize("cut", meta_value_cuts())
def test_file_ending_inside_a_file_meta_element_is_truncated(cut: int) -> None:
    data = make()[:cut]

    with pytest.raises(TruncatedFileError, match=rf"{NAME}: .*\(0002,00..\).*ends at byte {cut}"):
        parse(data)


def test_file_ending_between_file_meta_elements_is_truncated() -> None:
    data = make()
    cut = data.index(synth.encode_element(0x00020012, "UI", synth.IMPLEMENTATION_CLASS_UID))

    with pytest.raises(TruncatedFileError):
        parse(data[:cut])


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_file_ending_inside_the_pixel_element_header_is_truncated(ts: str) -> None:
    data = make(ts)
    cut = pixel_start(data, ts) + 6

    with pytest.raises(TruncatedFileError):
        parse(data[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"DICM",
        b"Hello, this is a text file and not a DICOM file at all.\n" * 20,
        bytes(1024),
        bytes(128) + b"DIC",
        b"\x89PNG\r\n\x1a\n" + bytes(200),
    ],
    ids=["empty", "dicm-only", "text", "zeros", "preamble-and-half-prefix", "png"],
)
def test_not_a_dicom_file(data: bytes) -> None:
    with pytest.raises(InvalidDicomError, match=rf"^{NAME}: "):
        parse(data)


@pytest.mark.parametrize(
    "data", [b"Hello, world! Not DICOM.\n" * 20, bytes(1024)], ids=["text", "zeros"]
)
def test_not_a_dicom_file_says_so(data: bytes) -> None:
    with pytest.raises(InvalidDicomError, match="not a DICOM file: there is no 'DICM' prefix"):
        parse(data)


def test_unknown_transfer_syntax() -> None:
    data = synth.preamble() + synth.file_meta("1.2.3.4.5.6") + synth.dataset(IMAGE, PIXELS)

    with pytest.raises(UnsupportedTransferSyntaxError) as info:
        parse(data)

    assert isinstance(info.value, NotImplementedError)
    assert "(0002,0010) 'Transfer Syntax UID' value '1.2.3.4.5.6'" in str(info.value)


@pytest.mark.parametrize("ts", ENCODINGS, ids=ENCODING_IDS)
def test_element_where_an_item_should_be_is_invalid(ts: str) -> None:
    head = make(ts)
    head = head[: head.index(el(0x00080018, "UI", synth.SOP_INSTANCE_UID, ts))]
    sequence = el(0x00081115, "SQ", b"", ts, length=UNDEFINED)
    rest = make(ts)[len(head) :]
    data = head + sequence + el(0x00081150, "UI", "1.2.3", ts) + rest

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert "expected an item (FFFE,E000)" in message
    assert f"in (0008,1115) at byte {len(head) + len(sequence)}" in message
    assert message.endswith("found (0008,1150)")


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_element_where_an_item_should_be_in_a_kept_sequence_is_invalid(undefined: bool) -> None:
    body = el(0x00283002, "US", [4, 0, 16])
    length = UNDEFINED if undefined else len(body)
    sequence = synth.encode_element(0x00283000, "SQ", body, length=length)
    data = make(extra=[sequence])

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert "expected an item (FFFE,E000) in (0028,3000) 'Modality LUT Sequence'" in message
    assert f"at byte {data.index(sequence) + 12}" in message
    assert "found (0028,3002) 'LUT Descriptor'" in message


def test_undefined_length_pixel_data_in_a_native_transfer_syntax() -> None:
    data = make(pixel_length=UNDEFINED)
    offset = pixel_start(data, EXPLICIT_LE)

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert f"(7FE0,0010) 'Pixel Data' at byte {offset}" in message
    assert "undefined (encapsulated) length" in message
    assert "'Explicit VR Little Endian'" in message


def test_defined_length_pixel_data_in_an_encapsulated_transfer_syntax() -> None:
    value = synth.encapsulate([PIXELS])
    data = make(RLE, pixels=value, pixel_length=len(value))
    offset = pixel_start(data, EXPLICIT_LE, len(value))

    with pytest.raises(InvalidDicomError) as info:
        parse(data)

    message = str(info.value)
    assert f"(7FE0,0010) 'Pixel Data' at byte {offset}" in message
    assert "defined (native) length" in message
    assert "'RLE Lossless'" in message


@pytest.mark.parametrize(
    "ts",
    [
        EXPLICIT_LE,
        IMPLICIT_LE,
        EXPLICIT_BE,
    ],
    ids=ENCODING_IDS,
)
def test_every_truncation_is_a_lazydcm_error(ts: str) -> None:
    modality, voi = lut_items(ts)
    data = make(ts, extra=[sq(0x00283000, [modality], ts), sq(0x00081115, [voi], ts)])
    pixel_value_at = len(data) - len(PIXELS)

    for cut in range(0, pixel_value_at):
        try:
            parse(data[:cut])
        except LazyDcmError:
            continue
        pytest.fail(f"cut at {cut} parsed without an error")


# -- property: random datasets ----------------------------------------------------------

# Tags the walk does not keep, for random elements; sequences get tags of their own.
UNKEPT = [
    0x00080005,
    0x00080020,
    0x00080090,
    0x00100010,
    0x00100020,
    0x00181030,
    0x00200013,
    0x00280034,
    0x00290010,
    0x00291010,
    0x00091001,
    0x00431028,
    0x00540081,
]
SEQUENCE_TAGS = [0x00081115, 0x00081140, 0x00400275, 0x52009229, 0x00291020, 0x00880200]
VALUE_VRS = ["LO", "SH", "US", "UL", "OB", "UT", "UN", "DS"]


@st.composite
def unkept_element(draw: st.DrawFn, tags: Sequence[int]) -> tuple[Any, ...]:
    tag = draw(st.sampled_from(tags))
    vr = draw(st.sampled_from(VALUE_VRS))
    value = draw(st.binary(max_size=40))
    return ("element", tag, vr, value)


DECOYS = [
    ("element", 0x00280010, "US", b"\xe7\x03"),
    ("element", 0x00280004, "CS", b"RGB "),
    ("element", 0x7FE00010, "OB", b"\x00" * 6),
]


def item_contents(depth: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    children: st.SearchStrategy[tuple[Any, ...]] = st.one_of(
        unkept_element(UNKEPT), st.sampled_from(DECOYS)
    )
    if depth > 0:
        children = st.one_of(children, sequence_node(depth - 1))
    return st.lists(children, max_size=3)


def sequence_node(depth: int) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(
        st.just("sequence"),
        st.sampled_from(SEQUENCE_TAGS),
        st.lists(item_contents(depth), max_size=3),
        st.booleans(),  # undefined sequence length
        st.booleans(),  # undefined item length
        st.booleans(),  # encoded as UN (explicit VR only), Implicit VR LE inside
    )


def encode_node(node: tuple[Any, ...], little: bool, implicit: bool) -> bytes:
    if node[0] == "element":
        _, tag, vr, value = node
        return synth.encode_element(tag, vr, value, little_endian=little, implicit=implicit)
    _, tag, items, undefined, undefined_items, as_un = node
    if as_un and not implicit:
        encoded = [b"".join(encode_node(child, True, True) for child in item) for item in items]
        return synth.encode_sequence(
            tag,
            encoded,
            little_endian=little,
            vr="UN",
            undefined_length=True,
            undefined_item_length=undefined_items,
        )
    encoded = [b"".join(encode_node(child, little, implicit) for child in item) for item in items]
    return synth.encode_sequence(
        tag,
        encoded,
        little_endian=little,
        implicit=implicit,
        undefined_length=undefined,
        undefined_item_length=undefined_items,
    )


@st.composite
def kept_values(draw: st.DrawFn) -> dict[int, tuple[str, str, Any, Any]]:
    """tag -> (keyword, VR, value written, value expected)."""
    bits_allocated = draw(st.sampled_from([8, 16, 32]))
    bits_stored = draw(st.integers(1, bits_allocated))
    samples = draw(st.sampled_from([1, 3]))
    photometric = draw(
        st.sampled_from(
            ["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"] if samples == 1 else ["RGB", "YBR_FULL"]
        )
    )
    values = {
        0x00280002: ("SamplesPerPixel", "US", samples, samples),
        0x00280004: ("PhotometricInterpretation", "CS", photometric, photometric),
        0x00280010: ("Rows", "US", draw(st.integers(1, 0xFFFF)), None),
        0x00280011: ("Columns", "US", draw(st.integers(1, 0xFFFF)), None),
        0x00280100: ("BitsAllocated", "US", bits_allocated, bits_allocated),
        0x00280101: ("BitsStored", "US", bits_stored, bits_stored),
        0x00280102: ("HighBit", "US", bits_stored - 1, bits_stored - 1),
        0x00280103: ("PixelRepresentation", "US", draw(st.integers(0, 1)), None),
    }
    if samples == 3:
        values[0x00280006] = ("PlanarConfiguration", "US", draw(st.integers(0, 1)), None)
    if draw(st.booleans()):
        values[0x00280008] = ("NumberOfFrames", "IS", draw(st.integers(1, 10**6)), None)
    if draw(st.booleans()):
        center = draw(st.lists(st.integers(-5000, 5000), min_size=1, max_size=3))
        text = "\\".join(str(c) for c in center)
        expected = tuple(float(c) for c in center) if len(center) > 1 else float(center[0])
        values[0x00281050] = ("WindowCenter", "DS", text, expected)
    if draw(st.booleans()):
        modality = draw(st.sampled_from(["CT", "MR", "OT", "US"]))
        values[0x00080060] = ("Modality", "CS", modality, modality)
    return {
        tag: (keyword, vr, written, written if expected is None else expected)
        for tag, (keyword, vr, written, expected) in values.items()
    }


@st.composite
def random_dataset(draw: st.DrawFn) -> tuple[bytes, str, int, dict[str, tuple[Any, int]]]:
    """A file, its transfer syntax, the pixel element's offset, and keyword -> (value, offset)."""
    ts = draw(st.sampled_from(ENCODINGS))
    with_meta = draw(st.booleans())
    little, implicit = ts != EXPLICIT_BE, ts == IMPLICIT_LE
    kept = draw(kept_values())
    others = draw(
        st.lists(
            st.one_of(unkept_element(UNKEPT), sequence_node(2)),  # 3 levels deep
            max_size=6,
            unique_by=lambda node: node[1],
        )
    )
    elements: dict[int, bytes] = {}
    for node in others:
        elements[node[1]] = encode_node(node, little, implicit)
    for tag, (_, vr, written, _) in kept.items():
        elements[tag] = synth.encode_element(
            tag, vr, written, little_endian=little, implicit=implicit
        )
    # A bare dataset is sniffed from its first element: (0008,0005) as real files have.
    elements[0x00080005] = synth.encode_element(
        0x00080005, "CS", "ISO_IR 100", little_endian=little, implicit=implicit
    )
    prefix = synth.preamble() + synth.file_meta(ts) if with_meta else b""
    data = bytearray(prefix)
    expected: dict[str, tuple[Any, int]] = {}
    for tag in sorted(elements):
        if tag in kept:
            keyword, _, _, value = kept[tag]
            expected[keyword] = (value, len(data))
        data += elements[tag]
    pixel_at = len(data)
    pixel_vr = "OB" if little and kept[0x00280100][2] == 8 else "OW"
    data += synth.encode_element(
        0x7FE00010, pixel_vr, bytes(8), little_endian=little, implicit=implicit
    )
    return bytes(data), ts, pixel_at, expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dataset())
def test_random_datasets_are_walked_to_their_pixel_data(
    case: tuple[bytes, str, int, dict[str, tuple[Any, int]]],
) -> None:
    data, ts, pixel_at, expected = case

    parsed = parse(data)

    assert parsed.transfer_syntax.uid == ts
    assert parsed.pixel.offset == pixel_at
    assert parsed.pixel.length == 8
    for keyword, (value, offset) in expected.items():
        assert parsed.header[keyword] == value, keyword
        assert parsed.header.offset(keyword) == offset, keyword
    assert parsed.info.rows == expected["Rows"][0]
    assert parsed.info.columns == expected["Columns"][0]
    assert parsed.info.bits_stored == expected["BitsStored"][0]
    assert parsed.info.photometric_interpretation == expected["PhotometricInterpretation"][0]
    frames = expected.get("NumberOfFrames", (1, 0))[0]
    assert parsed.info.number_of_frames == frames


# -- items laid out alike are skipped in one comparison (_Layout) ---------------------


def _functional_group_item(kind: int, i: int, ts: str) -> bytes:
    """One of a few item layouts; `i` changes values, never lengths, within a kind."""
    position = el(0x00200032, "DS", [-125.0, -125.0, float(i % 10)], ts)
    content = sq(0x00209111, [el(0x00209128, "UL", i, ts)], ts)
    if kind == 0:
        return content + sq(0x00209113, [position], ts)
    if kind == 1:  # a longer Image Position value: same tags, other lengths
        longer = el(0x00200032, "DS", [-125.25, -125.0, float(i % 10)], ts)
        return content + sq(0x00209113, [longer], ts)
    if kind == 2:  # one more element
        return content + sq(0x00209113, [position], ts) + el(0x00189151, "DT", "20260101", ts)
    if kind == 3:  # an inner sequence of two items, one of them of defined length
        inner = sq(0x00209113, [position], ts, undefined_item_length=False)
        return content + sq(0x00289110, [position, position], ts) + inner
    if kind == 4:  # a value with a 32-bit length (in explicit VR) that changes with i
        return content + el(0x00420011, "OB", bytes(2 + 2 * (i % 2)), ts)
    return b""  # kind 5: an empty item


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.integers(0, 5), min_size=1, max_size=40),
    ts=st.sampled_from(ENCODINGS),
    cut=st.none() | st.integers(1, 400),
)
def test_items_laid_out_alike_are_skipped_as_the_walk_would(
    kinds: list[int], ts: str, cut: int | None
) -> None:
    # Arrange: runs of items laid out alike, other layouts between them, and
    # sometimes the file cut inside the sequence.
    items = [_functional_group_item(kind, i, ts) for i, kind in enumerate(kinds)]
    sequence = sq(0x52009230, items, ts)
    data = make(ts, extra=[sequence])
    if cut is not None:
        data = data[: data.index(sequence) + min(cut * 8, len(sequence))]

    def walk() -> tuple[str, int | str]:
        try:
            return "ok", parse(data).pixel.offset
        except lazydcm.LazyDcmError as exc:
            return type(exc).__name__, str(exc)

    # Act: with layouts, and with layout learning switched off.
    learnt = walk()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lazydcm.header.walker._LAYOUT_TRIES", -1)
        walked = walk()

    # Assert
    assert learnt == walked
    if cut is None:
        assert learnt == ("ok", pixel_start(data, ts))


def test_many_items_laid_out_alike_then_garbage_names_the_byte() -> None:
    items = [_functional_group_item(0, i, EXPLICIT_LE) for i in range(50)]
    sequence = sq(0x52009230, items, EXPLICIT_LE)
    garbage_at = len(sequence) - 8 - len(items[-1]) - 16  # where item 49 starts
    sequence = sequence[:garbage_at] + b"\x08\x00\x16\x00" + sequence[garbage_at + 4 :]
    data = make(extra=[sequence])
    offset = data.index(sequence) + garbage_at

    with pytest.raises(InvalidDicomError, match=rf"at byte {offset}, found \(0008,0016\)"):
        parse(data)
