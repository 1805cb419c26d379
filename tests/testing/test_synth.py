"""Tests for lazydcm.testing.synth, with pydicom as the independent reader."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.encaps import generate_fragmented_frames, get_frame
from pydicom.pixels import pixel_array
from pydicom.pixels.encoders import RLELosslessEncoder

from lazydcm.testing import synth
from lazydcm.testing.synth import ImagePixel
from lazydcm.uids import DEFLATED_EXPLICIT_LE, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
NATIVE = [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED_EXPLICIT_LE]
PIXEL_HEADER = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"


def read(data: bytes, transfer_syntax_uid: str | None = None) -> pydicom.Dataset:
    """Parse `data` with pydicom; give a bare dataset the transfer syntax it lacks."""
    ds = pydicom.dcmread(io.BytesIO(data), force=transfer_syntax_uid is not None)
    if transfer_syntax_uid is not None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = transfer_syntax_uid
    return ds


def padded(frame: bytes) -> bytes:
    return frame + b"\0" * (len(frame) % 2)


def rle_frames(array: np.ndarray, image: ImagePixel) -> list[bytes]:
    """Encode each frame of `array` with pydicom's own RLE encoder."""
    kwargs = {
        "rows": image.rows,
        "columns": image.columns,
        "samples_per_pixel": image.samples_per_pixel,
        "bits_allocated": image.bits_allocated,
        "bits_stored": image.bits_stored or image.bits_allocated,
        "pixel_representation": image.pixel_representation,
        "photometric_interpretation": image.photometric_interpretation,
        "number_of_frames": len(array),
    }
    if len(array) == 1:  # pydicom wants a single frame without the frame axis
        return [RLELosslessEncoder.encode(array[0], encoding_plugin="pydicom", **kwargs)]
    return [
        RLELosslessEncoder.encode(array, index=i, encoding_plugin="pydicom", **kwargs)
        for i in range(len(array))
    ]


def jpeg_frames(n: int) -> list[bytes]:
    imagecodecs = pytest.importorskip("imagecodecs")
    rng = np.random.default_rng(7)
    return [
        imagecodecs.jpeg8_encode(rng.integers(0, 255, (16, 24), dtype=np.uint8), level=90)
        for _ in range(n)
    ]


@pytest.fixture
def rle_case() -> tuple[np.ndarray, ImagePixel, list[bytes]]:
    image = ImagePixel(8, 9, bits_stored=12, number_of_frames=3)
    array = np.random.default_rng(0).integers(0, 4096, (3, 8, 9), dtype=np.uint16)
    return array, image, rle_frames(array, image)


# --- element encoding --------------------------------------------------------


def test_encode_element_explicit_short_and_long_headers() -> None:
    assert synth.encode_element(0x00280010, "US", 512) == b"\x28\x00\x10\x00US\x02\x00\x00\x02"
    assert synth.encode_element(0x7FE00010, "OB", b"\x01\x02\x03") == (
        b"\xe0\x7f\x10\x00OB\x00\x00\x04\x00\x00\x00\x01\x02\x03\x00"
    )


def test_encode_element_padding_follows_the_vr() -> None:
    assert synth.encode_element(0x00080018, "UI", "1.2.3").endswith(b"1.2.3\x00")
    assert synth.encode_element(0x00080060, "CS", "OTH").endswith(b"OTH ")
    assert synth.encode_element(0x00100010, None, "Doe", implicit=True) == (
        b"\x10\x00\x10\x00\x04\x00\x00\x00Doe "
    )


def test_encode_element_big_endian_and_numbers_as_text() -> None:
    assert synth.encode_element(0x00280010, "US", [1, 2], little_endian=False) == (
        b"\x00\x28\x00\x10US\x00\x04\x00\x01\x00\x02"
    )
    assert synth.encode_element(0x00281050, "DS", [40.5, 2]).endswith(b"\x06\x0040.5\\2")
    assert synth.encode_element(0x00200013, "IS", 7).endswith(b"\x02\x007 ")


def test_encode_element_length_override_writes_value_unchanged() -> None:
    element = synth.encode_element(0x7FE00010, "OB", b"abc", length=0xFFFFFFFF)
    assert element == b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xffabc"


@pytest.mark.parametrize(
    ("vr", "value", "kwargs"),
    [(None, "x", {}), ("US", b"\0" * 0x10000, {}), ("OB", b"", {"length": 2**32}), ("X", 1, {})],
)
def test_encode_element_rejects_what_cannot_be_encoded(
    vr: str | None, value: bytes | str | int, kwargs: dict[str, int]
) -> None:
    with pytest.raises(ValueError, match=r"\(0028,0010\)"):
        synth.encode_element(0x00280010, vr, value, **kwargs)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_ds_is_at_most_16_characters_and_close(number: float) -> None:
    element = synth.encode_element(0x00180050, "DS", number)
    text = element[8:].decode("ascii").strip()
    assert len(text) <= 16
    assert float(text) == pytest.approx(number, rel=1e-7)  # 16 characters: >= 8 digits


# --- native files through pydicom --------------------------------------------


@pytest.mark.parametrize("uid", NATIVE)
def test_native_multiframe_reads_back(uid: str) -> None:
    image = ImagePixel(4, 5, number_of_frames=3)
    frames = np.arange(60, dtype=np.uint16).reshape(3, 4, 5) * 1000
    value = synth.native_pixels(frames, image, little_endian=uid != EXPLICIT_BE)

    ds = read(synth.dicom_file(image, value, transfer_syntax_uid=uid))

    assert ds.file_meta.TransferSyntaxUID == uid
    assert ds.file_meta.ImplementationClassUID == synth.IMPLEMENTATION_CLASS_UID
    assert (ds.Rows, ds.Columns, ds.NumberOfFrames, ds.BitsStored) == (4, 5, 3, 16)
    np.testing.assert_array_equal(ds.pixel_array, frames)


@pytest.mark.parametrize("uid", [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE])
def test_values_of_many_vrs_read_back(uid: str) -> None:
    extra = [
        (0x00100010, "PN", "Doe^Jane"),
        (0x00200013, "IS", 7),
        (0x00281050, "DS", [40.5, 1e-7]),
        (0x00181320, "FL", 1.5),
        (0x00081163, "FD", [0.25, 1e300]),
        (0x00186020, "SL", -7),
        (0x00189219, "SS", -3),
        (0x0008040C, "UV", 2**40),
        (0x00720082, "SV", [-(2**40), 5]),
        (0x00209165, "AT", 0x00280010),
        (0x00080119, "UC", "x" * 70),
        (0x00660040, "OL", [1, 2, 3]),
    ]
    image = ImagePixel(2, 2, number_of_frames=None)

    ds = read(synth.dicom_file(image, b"\0" * 8, transfer_syntax_uid=uid, extra=extra))

    order = "<" if uid != EXPLICIT_BE else ">"
    assert str(ds.PatientName) == "Doe^Jane"
    assert ds.InstanceNumber == 7
    assert list(ds.WindowCenter) == [40.5, 1e-7]
    assert ds.B1rms == 1.5
    assert list(ds.TimeRange) == [0.25, 1e300]
    assert (ds.ReferencePixelX0, ds.TagAngleSecondAxis) == (-7, -3)
    assert ds.FileOffsetInContainer == 2**40
    assert list(ds.SelectorSVValue) == [-(2**40), 5]
    assert ds.DimensionIndexPointer == 0x00280010
    assert ds.LongCodeValue == "x" * 70
    assert ds.LongPrimitivePointIndexList == struct.pack(f"{order}3I", 1, 2, 3)
    assert "NumberOfFrames" not in ds


def test_dataset_without_preamble_and_meta() -> None:
    image = ImagePixel(3, 3, bits_allocated=8, number_of_frames=2)
    frames = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    data = synth.dicom_file(image, synth.native_pixels(frames, image), preamble_and_meta=False)

    assert data[:4] == b"\x08\x00\x16\x00"
    ds = read(data, EXPLICIT_LE)
    np.testing.assert_array_equal(ds.pixel_array, frames)


def test_meta_without_group_length_and_file_meta_layout() -> None:
    meta = synth.file_meta(RLE, group_length=False)
    with_length = synth.file_meta(RLE)

    assert meta[:4] == b"\x02\x00\x01\x00"
    assert with_length[:12] == b"\x02\x00\x00\x00UL\x04\x00" + struct.pack("<I", len(meta))
    ds = read(synth.preamble() + meta + synth.dataset(ImagePixel(2, 2), b"\0" * 8))
    assert ds.file_meta.TransferSyntaxUID == RLE
    assert "FileMetaInformationGroupLength" not in ds.file_meta


def test_big_endian_8_bit_ow_swaps_byte_pairs() -> None:
    image = ImagePixel(3, 3, bits_allocated=8, number_of_frames=3)
    frames = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    value = synth.native_pixels(frames, image, little_endian=False, ow_swap=True)

    ds = read(synth.dicom_file(image, value, transfer_syntax_uid=EXPLICIT_BE))

    assert value[:4] == b"\x01\x00\x03\x02"
    assert ds["PixelData"].VR == "OW"
    np.testing.assert_array_equal(ds.pixel_array, frames)


def test_one_bit_frames_are_packed_across_frame_boundaries() -> None:
    image = ImagePixel(3, 3, bits_allocated=1, number_of_frames=3)
    frames = np.random.default_rng(3).integers(0, 2, (3, 3, 3), dtype=np.uint8)

    value = synth.native_pixels(frames, image)
    data = synth.dicom_file(image, value)

    assert len(value) == 4  # 27 bits; frame 1 starts at bit 9
    bits = np.unpackbits(np.frombuffer(value, np.uint8), bitorder="little")[:27]
    np.testing.assert_array_equal(bits.reshape(3, 3, 3), frames)
    # pydicom is only right about frame 0 when frames do not start on a byte
    np.testing.assert_array_equal(pixel_array(io.BytesIO(data), index=0), frames[0])
    assert read(data)["PixelData"].VR == "OB"


def test_one_bit_byte_aligned_frames_match_pydicom() -> None:
    image = ImagePixel(4, 6, bits_allocated=1, number_of_frames=2)
    frames = np.random.default_rng(4).integers(0, 2, (2, 4, 6), dtype=np.uint8)

    ds = read(synth.dicom_file(image, synth.native_pixels(frames, image)))

    np.testing.assert_array_equal(ds.pixel_array, frames)


def test_planar_configuration_1_writes_colour_by_plane() -> None:
    image = ImagePixel(
        4, 5, samples_per_pixel=3, bits_allocated=8, photometric_interpretation="RGB",
        planar_configuration=1, number_of_frames=2,
    )  # fmt: skip
    frames = np.random.default_rng(5).integers(0, 255, (2, 4, 5, 3), dtype=np.uint8)

    value = synth.native_pixels(frames, image)
    ds = read(synth.dicom_file(image, value))

    assert value[:20] == frames[0, ..., 0].tobytes()
    assert ds.PlanarConfiguration == 1
    np.testing.assert_array_equal(ds.pixel_array, frames)


@pytest.mark.parametrize(
    ("keyword", "dtype", "vr"),
    [("FloatPixelData", np.float32, "OF"), ("DoubleFloatPixelData", np.float64, "OD")],
)
def test_float_and_double_float_pixel_data(keyword: str, dtype: type, vr: str) -> None:
    bits = np.dtype(dtype).itemsize * 8
    image = ImagePixel(3, 4, bits_allocated=bits, number_of_frames=2)
    frames = np.random.default_rng(6).normal(size=(2, 3, 4)).astype(dtype)

    ds = read(synth.dicom_file(image, synth.native_pixels(frames, image), pixel_keyword=keyword))

    assert str(ds[keyword].VR) == vr
    np.testing.assert_array_equal(ds.pixel_array, frames)


def test_signed_samples_are_cast_to_bits_allocated() -> None:
    image = ImagePixel(2, 3, bits_stored=12, pixel_representation=1, number_of_frames=1)
    frames = np.array([[[-2048, -1, 0], [1, 2047, 5]]])

    ds = read(synth.dicom_file(image, synth.native_pixels(frames, image)))

    assert ds.HighBit == 11
    np.testing.assert_array_equal(ds.pixel_array, frames[0])


# --- sequences ---------------------------------------------------------------


def referenced_images(uid: str, defined: bool) -> bytes:
    le, implicit = uid != EXPLICIT_BE, uid == IMPLICIT_LE

    def element(tag: int, vr: str, value: str) -> bytes:
        return synth.encode_element(tag, vr, value, little_endian=le, implicit=implicit)

    code = element(0x00080100, "SH", "121327") + element(0x00080104, "LO", "Full fidelity")
    nested = synth.encode_sequence(
        0x00089215, [code], little_endian=le, implicit=implicit,
        undefined_length=not defined, undefined_item_length=defined,
    )  # fmt: skip
    items = [
        element(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.7")
        + element(0x00081155, "UI", f"1.2.{i}")
        for i in range(3)
    ]
    items[1] += nested
    return synth.encode_sequence(
        0x00081140, items, little_endian=le, implicit=implicit,
        undefined_length=not defined, undefined_item_length=not defined,
    )  # fmt: skip


@pytest.mark.parametrize("defined", [True, False])
@pytest.mark.parametrize("uid", [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED_EXPLICIT_LE])
def test_nested_sequences_read_back(uid: str, defined: bool) -> None:
    extra = [referenced_images(uid, defined), (0x00100010, "PN", "After^Sequence")]

    ds = read(synth.dicom_file(ImagePixel(2, 2), b"\0" * 8, transfer_syntax_uid=uid, extra=extra))

    sequence = ds.ReferencedImageSequence
    assert [item.ReferencedSOPInstanceUID for item in sequence] == ["1.2.0", "1.2.1", "1.2.2"]
    assert sequence[1].DerivationCodeSequence[0].CodeMeaning == "Full fidelity"
    assert str(ds.PatientName) == "After^Sequence"
    assert ds.Rows == 2


def test_un_sequence_of_undefined_length_is_implicit_little_endian_inside() -> None:
    item = synth.encode_element(0x00081155, "UI", "1.2.3", implicit=True)
    element = synth.encode_sequence(0x00081140, [item, item], vr="UN", little_endian=False)

    assert element[:12] == b"\x00\x08\x11\x40UN\x00\x00\xff\xff\xff\xff"
    assert element[12:16] == b"\xfe\xff\x00\xe0"  # item tags stay little endian (PS3.5 6.2.2)
    # pydicom reads such an element as SQ (but only gets the little-endian case right)
    le_element = synth.encode_sequence(0x00081140, [item, item], vr="UN")
    ds = read(synth.dicom_file(ImagePixel(2, 2), b"\0" * 8, extra=[le_element]))
    assert ds.ReferencedImageSequence[1].ReferencedSOPInstanceUID == "1.2.3"


# --- encapsulation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("bot", "fragments"), [("empty", 1), ("full", 1), ("full", 3), ("full", [1, 2, 3])]
)
def test_encapsulated_rle_frames_read_back(
    rle_case: tuple[np.ndarray, ImagePixel, list[bytes]],
    bot: Literal["empty", "full"],
    fragments: int | list[int],
) -> None:
    array, image, frames = rle_case
    value = synth.encapsulate(frames, fragments_per_frame=fragments, bot=bot)

    data = synth.dicom_file(image, value, transfer_syntax_uid=RLE)
    ds = read(data)

    assert ds["PixelData"].is_undefined_length
    found = [b"".join(f) for f in generate_fragmented_frames(ds.PixelData, number_of_frames=3)]
    assert found == [padded(frame) for frame in frames]
    for i in range(3):
        np.testing.assert_array_equal(pixel_array(io.BytesIO(data), index=i), array[i])


def test_empty_bot_with_three_jpeg_fragments_per_frame() -> None:
    frames = jpeg_frames(4)
    image = ImagePixel(
        16, 24, bits_allocated=8, number_of_frames=4, photometric_interpretation="MONOCHROME2"
    )

    value = synth.encapsulate(frames, fragments_per_frame=3)
    ds = read(synth.dicom_file(image, value, transfer_syntax_uid=JPEG_BASELINE))

    assert value[:8] == b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    fragmented = list(generate_fragmented_frames(ds.PixelData, number_of_frames=4))
    assert [len(f) for f in fragmented] == [3] * 4
    assert [b"".join(f) for f in fragmented] == [padded(frame) for frame in frames]
    assert all(len(part) % 2 == 0 for frame in fragmented for part in frame)


def test_extended_offset_table_locates_frames(
    rle_case: tuple[np.ndarray, ImagePixel, list[bytes]],
) -> None:
    array, image, frames = rle_case
    table = synth.frame_table(frames)

    data = synth.dicom_file(
        image, synth.encapsulate(frames), transfer_syntax_uid=RLE, extended_offsets=table
    )
    ds = read(data)

    assert ds["ExtendedOffsetTable"].VR == "OV"
    eot = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    assert struct.unpack("<3Q", eot[0]) == tuple(table[0])
    for i, frame in enumerate(frames):
        assert get_frame(ds.PixelData, i, extended_offsets=eot) == padded(frame)
        np.testing.assert_array_equal(pixel_array(io.BytesIO(data), index=i), array[i])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=1, max_size=41), st.integers(1, 4)), min_size=1, max_size=6
    )
)
def test_bot_frame_table_and_items_agree(layout: list[tuple[bytes, int]]) -> None:
    frames = [frame for frame, _ in layout]
    counts = [count for _, count in layout]

    value = synth.encapsulate(frames, fragments_per_frame=counts, bot="full")
    offsets, lengths = synth.frame_table(frames, counts)

    bot_length = struct.unpack("<I", value[4:8])[0]
    assert struct.unpack(f"<{len(frames)}I", value[8 : 8 + bot_length]) == tuple(offsets)
    first = 8 + bot_length
    for offset, length, frame, count in zip(offsets, lengths, frames, counts, strict=True):
        assert value[first + offset : first + offset + 4] == b"\xfe\xff\x00\xe0"
        assert length == len(padded(frame))
        assert len(value) >= first + offset + 8 * count + length
    found = list(generate_fragmented_frames(value, number_of_frames=len(frames)))
    assert [len(f) for f in found] == counts
    assert [b"".join(f) for f in found] == [padded(frame) for frame in frames]
    assert value[-8:] == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def test_hostile_bot_values_and_missing_bot() -> None:
    frames = [b"ab", b"cde"]

    overridden = synth.encapsulate(frames, bot_values=[7, 2**32 - 1, 0])
    missing = synth.encapsulate(frames, bot="none")

    assert overridden[:20] == b"\xfe\xff\x00\xe0\x0c\x00\x00\x00" + struct.pack(
        "<3I", 7, 2**32 - 1, 0
    )
    assert missing[:10] == b"\xfe\xff\x00\xe0\x02\x00\x00\x00ab"
    with pytest.raises(ValueError, match="bot_values"):
        synth.encapsulate(frames, bot="none", bot_values=[0])


def test_hostile_header_values_are_written_as_given() -> None:
    image = ImagePixel(2, 2, number_of_frames="1A")

    data = synth.dataset(image, b"\0" * 8, pixel_vr="OB", pixel_length=1000)
    empty = synth.dataset(ImagePixel(2, 2, number_of_frames=""), b"")

    assert b"\x28\x00\x08\x00IS\x02\x001A" in data
    assert data.endswith(b"\xe0\x7f\x10\x00OB\x00\x00\xe8\x03\x00\x00" + b"\0" * 8)
    assert b"\x28\x00\x08\x00IS\x00\x00" in empty


# --- streaming writers -------------------------------------------------------


@pytest.mark.parametrize("uid", [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE])
def test_write_native_streams_what_dicom_file_builds(tmp_path: Path, uid: str) -> None:
    image = ImagePixel(5, 7, number_of_frames=4)
    frames = np.random.default_rng(8).integers(0, 65535, (4, 5, 7), dtype=np.uint16)
    path = tmp_path / "native.dcm"

    size = synth.write_native(path, (frame for frame in frames), image, transfer_syntax_uid=uid)

    expected = synth.dicom_file(
        image, synth.native_pixels(frames, image, little_endian=uid != EXPLICIT_BE),
        transfer_syntax_uid=uid,
    )  # fmt: skip
    assert path.read_bytes() == expected
    assert size == len(expected)
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, frames)


def test_write_native_deflated_and_odd_length(tmp_path: Path) -> None:
    image = ImagePixel(3, 3, bits_allocated=8, number_of_frames=3)
    frames = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    path = tmp_path / "deflated.dcm"

    size = synth.write_native(path, frames, image, transfer_syntax_uid=DEFLATED_EXPLICIT_LE)

    data = path.read_bytes()
    assert size == len(data)
    assert size % 2 == 0
    head = synth.preamble() + synth.file_meta(DEFLATED_EXPLICIT_LE)
    inflated = zlib.decompressobj(-15).decompress(data[len(head) :])
    assert inflated == synth.dataset(image, synth.native_pixels(frames, image))
    assert len(inflated) % 2 == 0
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, frames)


def test_write_native_rejects_a_wrong_frame_count(tmp_path: Path) -> None:
    image = ImagePixel(2, 2, number_of_frames=3)
    frames = np.zeros((2, 2, 2), np.uint16)

    with pytest.raises(ValueError, match="3 announced"):
        synth.write_native(tmp_path / "x.dcm", iter(frames), image)
    with pytest.raises(ValueError, match="sized"):
        synth.write_native(
            tmp_path / "x.dcm", iter(frames), ImagePixel(2, 2, number_of_frames=None)
        )


@pytest.mark.parametrize(
    ("bot", "eot", "fragments"),
    [("empty", False, 1), ("full", True, 1), ("full", False, 2), ("empty", True, 3)],
)
def test_write_encapsulated_streams_what_dicom_file_builds(
    tmp_path: Path,
    rle_case: tuple[np.ndarray, ImagePixel, list[bytes]],
    bot: Literal["empty", "full"],
    eot: bool,
    fragments: int,
) -> None:
    array, image, frames = rle_case
    path = tmp_path / "rle.dcm"

    def generate() -> Iterator[bytes]:
        yield from frames

    size = synth.write_encapsulated(
        path, generate(), image, transfer_syntax_uid=RLE, bot=bot, eot=eot,
        fragments_per_frame=fragments,
    )  # fmt: skip

    value = synth.encapsulate(frames, fragments_per_frame=fragments, bot=bot)
    table = synth.frame_table(frames, fragments) if eot else None
    expected = synth.dicom_file(image, value, transfer_syntax_uid=RLE, extended_offsets=table)
    assert path.read_bytes() == expected
    assert size == len(expected)
    if eot and fragments > 1:
        return  # an EOT with several fragments per frame is not conformant: pydicom misreads it
    for i in range(3):
        np.testing.assert_array_equal(pixel_array(path, index=i), array[i])


def test_write_encapsulated_needs_a_count_for_offset_tables(tmp_path: Path) -> None:
    image = ImagePixel(2, 2, number_of_frames=None)

    with pytest.raises(ValueError, match="number_of_frames"):
        synth.write_encapsulated(
            tmp_path / "x.dcm", iter([b"ab"]), image, transfer_syntax_uid=RLE, bot="full"
        )
    with pytest.raises(ValueError, match="encapsulated"):
        synth.write_encapsulated(
            tmp_path / "x.dcm", [b"ab"], image, transfer_syntax_uid=EXPLICIT_LE
        )


def test_sparse_file_past_4_gib(tmp_path: Path) -> None:
    image = ImagePixel(8, 9, bits_stored=12, number_of_frames=1)
    array = np.random.default_rng(9).integers(0, 4096, (1, 8, 9), dtype=np.uint16)
    frame = rle_frames(array, image)[0]
    path = tmp_path / "sparse.dcm"
    gap = 2**32 + 2**16

    size = synth.write_sparse_encapsulated(
        path, frame, image, transfer_syntax_uid=RLE, gap=gap, frames_after_gap=2, eot=True
    )

    stat = os.stat(path)
    assert stat.st_size == size > 2**32 + 2**16
    assert stat.st_blocks * 512 < 1 << 20  # the holes use no disk
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.NumberOfFrames == 5  # frame 0, two holes, two copies
    offsets = struct.unpack("<5Q", ds.ExtendedOffsetTable)
    lengths = struct.unpack("<5Q", ds.ExtendedOffsetTableLengths)
    assert lengths == (len(padded(frame)), synth.MAX_HOLE_LENGTH, gap - synth.MAX_HOLE_LENGTH,
                       len(padded(frame)), len(padded(frame)))  # fmt: skip
    assert offsets[3] > 2**32
    with open(path, "rb") as f:
        head = f.read(4096)
        start = head.index(PIXEL_HEADER) + len(PIXEL_HEADER)
        f.seek(start)
        assert f.read(8) == b"\xfe\xff\x00\xe0\x14\x00\x00\x00"
        bot = struct.unpack("<5I", f.read(20))
        assert bot == tuple(offset % 2**32 for offset in offsets)
        found = []
        for index in (0, 3, 4):
            f.seek(start)
            found.append(get_frame(f, index, extended_offsets=(list(offsets), list(lengths))))
        f.seek(start + 28 + offsets[4] + 8 + len(padded(frame)))
        assert f.read() == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    assert found == [padded(frame)] * 3
    # the last frame, read past 4 GiB, decodes
    last = synth.dicom_file(image, synth.encapsulate(found[-1:]), transfer_syntax_uid=RLE)
    np.testing.assert_array_equal(pixel_array(io.BytesIO(last)), array[0])
