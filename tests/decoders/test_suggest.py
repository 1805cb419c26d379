"""Caller corrections of a non-conformant header: opening with overrides=... and
lazydcm.decoders.suggest.suggest_overrides (issue 5)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
from helpers import REAL_FILES, file_id

import lazydcm
from lazydcm import opening
from lazydcm.decoders.suggest import suggest_overrides
from lazydcm.errors import DecodeError, InvalidDicomError, LazyDcmError, LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.header import ParsedHeader, read_header
from lazydcm.header.tags import OVERRIDABLE
from lazydcm.opening import Opened, OpenOptions
from lazydcm.sources import MemorySource
from lazydcm.testing import synth
from lazydcm.uids import DEFLATED_EXPLICIT_LE, IMPLICIT_LE

imagecodecs = pytest.importorskip("imagecodecs")

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_2000 = "1.2.840.10008.1.2.4.90"

RNG = np.random.default_rng(55)
FRAMES = RNG.integers(0, 4096, (4, 6, 5), dtype=np.uint16)
IMAGE = synth.ImagePixel(6, 5, bits_stored=12, number_of_frames=4)


def parse(data: bytes, **overrides: Any) -> Opened:
    """The file opened (header and index), with `overrides`."""
    source = MemorySource(data, name="test.dcm")
    return opening.open(source, OpenOptions(overrides=overrides or None))


def native(**image: Any) -> bytes:
    header = synth.ImagePixel(**{**IMAGE.__dict__, **image})
    return synth.dicom_file(header, synth.native_pixels(FRAMES, IMAGE))


def header_of(data: bytes, **overrides: Any) -> ParsedHeader:
    """The header walk alone (no frame index)."""
    return read_header(MemorySource(data, name="test.dcm"), overrides=overrides or None)


def decode_first(parsed: Opened) -> np.ndarray:
    """Frame 0 through the index, the decoder and nothing else (no FrameSequence)."""
    return FrameReader(parsed).decode(0)


# -- read_header(overrides=...) ------------------------------------------------------


def test_number_of_frames_override_replaces_the_file_value() -> None:
    # The file says 2 frames but holds 4: overridden, the table is quiet and complete.
    data = native(number_of_frames=2)

    parsed = parse(data, NumberOfFrames=4)
    index = parsed.index

    assert parsed.header.info.number_of_frames == 4
    assert parsed.header.header["NumberOfFrames"] == 4
    assert parsed.header.header.offset("NumberOfFrames") is None
    assert header_of(data).header.offset("NumberOfFrames") is not None
    assert (index.count, index.present) == (4, 4)


def test_photometric_interpretation_override() -> None:
    rgb = RNG.integers(0, 255, (1, 4, 4, 3), dtype=np.uint8)
    image = synth.ImagePixel(4, 4, samples_per_pixel=3, bits_allocated=8,
                             photometric_interpretation="RGB", number_of_frames=1)  # fmt: skip
    data = synth.dicom_file(image, synth.native_pixels(rgb, image))

    parsed = parse(data, PhotometricInterpretation="YBR_FULL")

    assert parsed.header.info.photometric_interpretation == "YBR_FULL"
    assert parsed.header.header["PhotometricInterpretation"] == "YBR_FULL"


def test_an_override_may_add_a_missing_element() -> None:
    rgb = RNG.integers(0, 255, (1, 4, 4, 3), dtype=np.uint8)
    image = synth.ImagePixel(4, 4, samples_per_pixel=3, bits_allocated=8,
                             photometric_interpretation="RGB", number_of_frames=1)  # fmt: skip
    data = synth.dicom_file(image, synth.native_pixels(rgb, image))
    element = synth.encode_element(0x00280006, "US", 0)
    missing = data.replace(element, b"")
    assert len(missing) == len(data) - len(element)
    with pytest.warns(LazyDcmWarning, match="'Planar Configuration' is missing"):
        parse(missing)

    parsed = parse(missing, PlanarConfiguration=0)  # and no warning

    assert parsed.header.info.planar_configuration == 0


def test_several_overrides_at_once_and_numpy_integers() -> None:
    data = native(rows=3, columns=10, bits_stored=16)

    parsed = parse(data, Rows=np.uint16(6), Columns=np.int64(5), BitsStored=12, HighBit=11)

    info = parsed.header.info
    assert (info.rows, info.columns, info.bits_stored, info.high_bit) == (6, 5, 12, 11)
    assert type(parsed.header.header["Rows"]) is int


def test_overrides_in_a_deflated_file() -> None:
    data = synth.dicom_file(
        synth.ImagePixel(**{**IMAGE.__dict__, "number_of_frames": 2}),
        synth.native_pixels(FRAMES, IMAGE),
        transfer_syntax_uid=DEFLATED_EXPLICIT_LE,
    )

    parsed = parse(data, NumberOfFrames=4)
    try:
        assert parsed.header.info.number_of_frames == 4
        assert parsed.index.present == 4
    finally:
        parsed.close()


def test_pixel_representation_override_decodes_us_or_ss_values_again() -> None:
    # Implicit VR: (0028,0106) Smallest Image Pixel Value is "US or SS" by the dictionary.
    extra = [(0x00280106, "US", 0xFFFF)]
    data = synth.dicom_file(
        IMAGE, synth.native_pixels(FRAMES, IMAGE), extra=extra, transfer_syntax_uid=IMPLICIT_LE
    )
    assert header_of(data).header["SmallestImagePixelValue"] == 0xFFFF

    parsed = parse(data, PixelRepresentation=1)

    assert parsed.header.header["SmallestImagePixelValue"] == -1
    assert parsed.header.info.pixel_representation == 1


@pytest.mark.parametrize("keyword", sorted(OVERRIDABLE))
def test_every_overridable_keyword_is_accepted(keyword: str) -> None:
    values: dict[str, Any] = {
        "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME1", "NumberOfFrames": 4,
        "Rows": 6, "Columns": 5, "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11,
        "PixelRepresentation": 0, "PlanarConfiguration": 0,
    }  # fmt: skip
    value = values.get(keyword, 7)

    parsed = parse(native(), **{keyword: value})

    assert parsed.header.header[keyword] == value


@pytest.mark.parametrize(
    "keyword", ["PatientName", "TransferSyntaxUID", "rows", "ExtendedOffsetTable", "PixelData"]
)
def test_a_keyword_that_cannot_be_overridden_is_a_value_error_naming_it(keyword: str) -> None:
    with pytest.raises(ValueError, match=f"'{keyword}' cannot be overridden") as info:
        parse(native(), **{keyword: 1})

    assert not isinstance(info.value, LazyDcmError)  # the caller's mistake, not the file's


@pytest.mark.parametrize(
    ("keyword", "value", "says"),
    [
        ("Rows", 0, r"\(0028,0010\) 'Rows' value 0 \(given in overrides\) is invalid"),
        ("Rows", 70000, r"'Rows' value 70000 \(given in overrides\)"),
        ("Rows", "6", r"'Rows' value '6' \(given in overrides\)"),
        ("Rows", 6.0, r"'Rows' value 6.0"),
        ("Rows", True, r"'Rows' value True"),
        ("Rows", None, r"\(0028,0010\) 'Rows' is missing"),
        ("BitsAllocated", 3, r"'Bits Allocated' value 3 \(given in overrides\)"),
        ("BitsAllocated", 128, r"'Bits Allocated' value 128"),
        ("BitsStored", 17, r"'Bits Stored' value 17"),
        ("HighBit", 16, r"'High Bit' value 16"),
        ("SamplesPerPixel", 2, r"'Samples per Pixel' value 2 \(given in overrides\)"),
        ("PixelRepresentation", 2, r"'Pixel Representation' value 2"),
        ("PhotometricInterpretation", "XYZ", r"'Photometric Interpretation' value 'XYZ'"),
        ("PhotometricInterpretation", 5, r"'Photometric Interpretation' value 5"),
        ("PhotometricInterpretation", "YBR_FULL_422", r"'Samples per Pixel' value 1 at byte"),
        ("NumberOfFrames", -1, r"'Number of Frames' value -1 \(given in overrides\)"),
        ("NumberOfFrames", 2**31, r"'Number of Frames' value 2147483648"),
        ("NumberOfFrames", "6", r"'Number of Frames' value '6'"),
        ("NumberOfFrames", 6.5, r"'Number of Frames' value 6.5"),
    ],
)
def test_a_bad_override_value_is_invalid_dicom(keyword: str, value: Any, says: str) -> None:
    with pytest.raises(InvalidDicomError, match=says):
        parse(native(), **{keyword: value})


def test_overrides_are_validated_like_the_files_values() -> None:
    with pytest.raises(InvalidDicomError) as from_file:
        parse(native(rows=0))
    with pytest.raises(InvalidDicomError) as from_override:
        parse(native(), Rows=0)

    def reason(error: pytest.ExceptionInfo[InvalidDicomError]) -> str:
        return str(error.value).split(" is invalid")[1]

    assert reason(from_file) == reason(from_override)


def test_number_of_frames_override_0_is_taken_as_1_with_a_warning_as_from_the_file() -> None:
    with pytest.warns(LazyDcmWarning, match=r"'Number of Frames' value 0 \(given in overrides\)"):
        parsed = header_of(native(), NumberOfFrames=0)

    assert parsed.info.number_of_frames == 1


def test_no_overrides_is_the_file_as_it_is() -> None:
    data = native()

    assert (
        header_of(data).info == read_header(MemorySource(data, name="test.dcm"), overrides={}).info
    )


# -- suggest_overrides ---------------------------------------------------------------


def _jpeg_rgb() -> tuple[np.ndarray, bytes]:
    rgb = RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return rgb, bytes(imagecodecs.jpeg8_encode(rgb, lossless=True, predictor=1))


def _one_frame(stream: bytes, ts: str, **image: Any) -> bytes:
    header = synth.ImagePixel(**{"rows": 8, "columns": 8, "bits_allocated": 8, **image})
    return synth.dicom_file(header, synth.encapsulate([stream]), transfer_syntax_uid=ts)


def test_a_file_that_matches_its_codestream_gets_no_suggestion() -> None:
    _, stream = _jpeg_rgb()
    data = _one_frame(stream, JPEG_SV1, samples_per_pixel=3, photometric_interpretation="RGB")

    assert suggest_overrides(parse(data)) == {}


def test_jpeg_components_disagreeing_with_samples_per_pixel() -> None:
    # Arrange: an RGB codestream in a file whose header says one sample a pixel.
    rgb, stream = _jpeg_rgb()
    data = _one_frame(stream, JPEG_SV1)
    parsed = parse(data)
    with pytest.raises(DecodeError, match=r"3 components, but .* 'Samples per Pixel' is 1"):
        decode_first(parsed)

    # Act
    suggested = suggest_overrides(parsed)

    # Assert: the suggestion is valid, and with it the frame decodes right.
    assert suggested == {
        "SamplesPerPixel": 3, "PhotometricInterpretation": "RGB", "PlanarConfiguration": 0
    }  # fmt: skip
    np.testing.assert_array_equal(decode_first(parse(data, **suggested)), rgb)


def test_baseline_jpeg_colour_is_suggested_as_ybr_full_422() -> None:
    rgb = RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    stream = bytes(imagecodecs.jpeg8_encode(rgb, level=95))
    data = _one_frame(stream, JPEG_BASELINE)

    suggested = suggest_overrides(parse(data))

    assert suggested["SamplesPerPixel"] == 3
    assert suggested["PhotometricInterpretation"] == "YBR_FULL_422"


def test_jpeg_2000_components_disagreeing_with_samples_per_pixel() -> None:
    gray = RNG.integers(0, 255, (8, 8), dtype=np.uint8)
    stream = bytes(imagecodecs.jpeg2k_encode(gray, codecformat="J2K", level=0))
    data = _one_frame(stream, JPEG_2000, samples_per_pixel=3, photometric_interpretation="RGB")

    suggested = suggest_overrides(parse(data))

    assert suggested == {"SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2"}
    np.testing.assert_array_equal(decode_first(parse(data, **suggested)), gray)


@pytest.mark.parametrize(
    ("bits_allocated", "bits_stored", "expected"),
    [
        (16, 10, {"BitsStored": 12, "HighBit": 11}),  # high bits would be cleared
        (8, 8, {"BitsStored": 12, "HighBit": 11, "BitsAllocated": 16}),  # does not fit
        (16, 16, {}),  # a 12-bit codestream in 16 bits stored: every sample fits
    ],
)
def test_precision_above_bits_stored(
    bits_allocated: int, bits_stored: int, expected: dict[str, int]
) -> None:
    frame = RNG.integers(0, 4096, (8, 8), dtype=np.uint16)
    stream = bytes(imagecodecs.jpeg8_encode(frame, lossless=True, predictor=1, bitspersample=12))
    data = _one_frame(stream, JPEG_SV1, bits_allocated=bits_allocated, bits_stored=bits_stored)

    suggested = suggest_overrides(parse(data))

    assert suggested == expected
    np.testing.assert_array_equal(decode_first(parse(data, **suggested)), frame)


def test_jpeg_ls_rows_and_columns() -> None:
    frame = RNG.integers(0, 4096, (8, 8), dtype=np.uint16)
    stream = bytes(imagecodecs.jpegls_encode(frame))
    data = _one_frame(stream, JPEG_LS, rows=16, columns=4, bits_allocated=16, bits_stored=16)

    suggested = suggest_overrides(parse(data))

    assert suggested == {"Rows": 8, "Columns": 8}


@pytest.mark.parametrize(
    ("declared", "holds", "expected"),
    [(6, 4, {"NumberOfFrames": 4}), (2, 4, {"NumberOfFrames": 4}), (4, 4, {})],
)
def test_number_of_frames_from_the_data(
    declared: int, holds: int, expected: dict[str, int]
) -> None:
    native_data = native(number_of_frames=declared)
    streams = [
        bytes(imagecodecs.jpeg8_encode(f, lossless=True, predictor=1, bitspersample=12))
        for f in FRAMES[:holds]
    ]
    image = synth.ImagePixel(**{**IMAGE.__dict__, "number_of_frames": declared})
    encapsulated = synth.dicom_file(
        image, synth.encapsulate(streams, fragments_per_frame=2), transfer_syntax_uid=JPEG_SV1
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LazyDcmWarning)
        assert suggest_overrides(parse(native_data)) == expected
        assert suggest_overrides(parse(encapsulated)) == expected


def test_a_file_cut_short_is_not_a_wrong_frame_count() -> None:
    data = native()[:-100]

    with pytest.warns(LazyDcmWarning, match="the file ends at byte"):
        parsed = parse(data)

    assert suggest_overrides(parsed) == {}


def test_suggestions_for_real_files_are_valid_overrides() -> None:
    # Every suggestion for a real file is accepted by read_header (and most are empty).
    suggested_for = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LazyDcmWarning)
        for path in REAL_FILES:
            try:
                parsed = parse(path.read_bytes())
            except LazyDcmError:
                continue
            if parsed.header.transfer_syntax.native:
                continue
            suggested = suggest_overrides(parsed)
            if suggested:
                suggested_for[file_id(path)] = suggested
                parse(path.read_bytes(), **suggested)
    assert len(suggested_for) < 10, suggested_for


@pytest.mark.skipif(
    "overrides" not in inspect.signature(lazydcm.FrameSequence).parameters,
    reason="FrameSequence(overrides=...) is not plumbed yet",
)
def test_frame_sequence_passes_overrides_to_read_header() -> None:
    rgb, stream = _jpeg_rgb()
    data = _one_frame(stream, JPEG_SV1)
    suggested = suggest_overrides(parse(data))

    with lazydcm.FrameSequence(data, overrides=suggested) as frames:
        assert frames.info.samples_per_pixel == 3
        np.testing.assert_array_equal(frames[0], rgb)
