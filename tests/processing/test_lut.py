"""lazydcm.processing against pydicom.pixels on real files, and on synthetic headers.

Every function is given the same input array as its pydicom counterpart (the
file's frame) and must return the same dtype and the same values; the header
comes from ``FrameSequence`` (or its ``header``), the dataset from ``dcmread``.
Synthetic headers cover what no real file has: SIGMOID and LINEAR_EXACT
windows, several windows, a Presentation LUT Sequence, OW LUT Data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pydicom
import pytest
from helpers import real_file
from pydicom.pixels import processing

import lazydcm
from lazydcm.header import Header
from lazydcm.processing.palettes import PALETTES

pytestmark = pytest.mark.usefixtures("quiet")


def _both(name: str) -> tuple[lazydcm.FrameSequence, pydicom.Dataset, np.ndarray]:
    path: Path = real_file(name)
    frames = lazydcm.FrameSequence(path)
    return frames, pydicom.dcmread(path), frames[0]


def _same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype.newbyteorder("="), (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got, expected)


# -- modality LUT ---------------------------------------------------------------------

RESCALED = [
    "CT_small.dcm",
    "693_UNCR.dcm",
    "MR2_UNCR.dcm",
    "dicomdirtests/77654033/CR1/6154",
    "dicomdirtests/77654033/CT2/17106",
    "mlut_18.dcm",
    "MR_small.dcm",  # neither: unchanged
]


@pytest.mark.parametrize("name", RESCALED)
@pytest.mark.parametrize("from_header", [False, True], ids=["sequence", "header"])
def test_apply_modality_lut_is_pydicoms(name: str, from_header: bool) -> None:
    # Arrange
    frames, ds, arr = _both(name)
    source = frames.header if from_header else frames
    # Act
    got = lazydcm.apply_modality_lut(arr, source)
    # Assert
    _same(got, processing.apply_modality_lut(arr, ds))


def test_apply_rescale_is_apply_modality_lut() -> None:
    assert lazydcm.apply_rescale is lazydcm.apply_modality_lut


def test_modality_lut_maps_values_outside_it_to_its_ends() -> None:
    # Arrange: mlut_18's LUT maps -2048..2047 (descriptor [4096, -2048, 16])
    frames, _, _ = _both("mlut_18.dcm")
    item = frames.header["ModalityLUTSequence"][0]
    lut = np.asarray(item["LUTData"], dtype=np.uint16)
    arr = np.array([-30000, -2049, -2048, 2047, 2048, 30000], dtype=np.int16)
    # Act
    got = lazydcm.apply_modality_lut(arr, frames)
    # Assert
    np.testing.assert_array_equal(got, lut[[0, 0, 0, 4095, 4095, 4095]])


# -- VOI LUT and windowing ------------------------------------------------------------

WINDOWED = [
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "693_UNCR.dcm",
    "MR2_UNCR.dcm",
    "RG1_UNCR.dcm",
    "dicomdirtests/77654033/CR1/6154",
    "dicomdirtests/98892001/CT2N/6293",
    "vlut_04.dcm",
    "CT_small.dcm",  # neither: unchanged
]


@pytest.mark.parametrize("name", WINDOWED)
@pytest.mark.parametrize("prefer_lut", [True, False])
def test_apply_voi_lut_is_pydicoms(name: str, prefer_lut: bool) -> None:
    # Arrange: the modality values, as the VOI LUT takes them
    frames, ds, arr = _both(name)
    values = processing.apply_modality_lut(arr, ds)
    # Act
    got = lazydcm.apply_voi_lut(values, frames, prefer_lut=prefer_lut)
    # Assert
    _same(got, processing.apply_voi_lut(values, ds, prefer_lut=prefer_lut))


@pytest.mark.parametrize("name", [n for n in WINDOWED if n != "vlut_04.dcm"])
def test_apply_windowing_is_pydicoms(name: str) -> None:
    # Arrange
    frames, ds, arr = _both(name)
    values = processing.apply_modality_lut(arr, ds)
    # Act
    got = lazydcm.apply_windowing(values, frames.header)
    # Assert
    _same(got, processing.apply_windowing(values, ds))


def test_vlut_04_voi_lut_sequence_is_applied() -> None:
    # Arrange: a 256-entry 16-bit VOI LUT on 8-bit data
    frames, _, arr = _both("vlut_04.dcm")
    lut = np.asarray(frames.header["VOILUTSequence"][0]["LUTData"])
    # Act
    got = lazydcm.apply_voi_lut(arr, frames)
    # Assert
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, lut[arr])


def _dataset(values: dict[str, Any]) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


_MONO = {"PhotometricInterpretation": "MONOCHROME2", "BitsStored": 12, "PixelRepresentation": 0}


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # pydicom's
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(
    ("center", "width"), [(2048.0, 4096.0), (100.0, 1.0), (-50.5, 300.25), (4000.0, 0.5)]
)
@pytest.mark.parametrize("rescale", [False, True])
def test_window_functions_are_pydicoms(
    function: str, center: float, width: float, rescale: bool
) -> None:
    # Arrange: every 12-bit value, and the header as the header walk decodes it
    arr = np.arange(-100, 4200, dtype=np.int32)
    values: dict[str, Any] = {
        **_MONO,
        "WindowCenter": center,
        "WindowWidth": width,
        "VOILUTFunction": function,
    }
    if rescale:
        values |= {"RescaleSlope": 0.5, "RescaleIntercept": -1024.0}
    expected: np.ndarray | type[Exception]
    try:
        expected = processing.apply_windowing(arr, _dataset(values))
    except ValueError:
        expected = ValueError
    # Act / Assert
    if expected is ValueError:
        with pytest.raises(ValueError, match="Window Width"):
            lazydcm.apply_windowing(arr, Header(values, {}))
    else:
        assert isinstance(expected, np.ndarray)
        _same(lazydcm.apply_windowing(arr, Header(values, {})), expected)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_window_index_picks_one_of_several(index: int) -> None:
    # Arrange
    arr = np.arange(0, 4096, 7, dtype=np.uint16)
    values = {**_MONO, "WindowCenter": (100.0, 2000.0, 3000.0), "WindowWidth": (50.0, 400, 10)}
    ds = _dataset({**_MONO, "WindowCenter": [100.0, 2000.0, 3000.0], "WindowWidth": [50, 400, 10]})
    # Act
    got = lazydcm.apply_voi_lut(arr, Header(values, {}), index=index)
    # Assert
    _same(got, processing.apply_voi_lut(arr, ds, index=index))


def test_windowing_a_colour_image_is_a_value_error() -> None:
    values = {**_MONO, "PhotometricInterpretation": "RGB", "WindowCenter": 1.0, "WindowWidth": 2.0}
    with pytest.raises(ValueError, match="MONOCHROME1"):
        lazydcm.apply_windowing(np.zeros(3), Header(values, {}))


def test_unknown_voi_lut_function_is_a_value_error() -> None:
    values = {**_MONO, "WindowCenter": 1.0, "WindowWidth": 2.0, "VOILUTFunction": "CUBIC"}
    with pytest.raises(ValueError, match="'CUBIC'"):
        lazydcm.apply_windowing(np.zeros(3), Header(values, {}))


@pytest.mark.parametrize("little", [True, False])
def test_ow_voi_lut_data_is_read_in_the_files_byte_order(little: bool) -> None:
    # Arrange: an OW VOI LUT of 10-bit entries, first value mapped 100
    lut = (np.arange(64, dtype=np.uint16) * 16) % 1024
    data = lut.astype("<u2" if little else ">u2").tobytes()
    syntax = "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"
    item = MappingProxyType({"LUTDescriptor": (64, 100, 10), "LUTData": data})
    values = {**_MONO, "VOILUTSequence": (item,), "TransferSyntaxUID": syntax}
    arr = np.array([0, 100, 101, 163, 164, 5000], dtype=np.uint16)
    # Act
    got = lazydcm.apply_voi_lut(arr, Header(values, {}))
    # Assert
    np.testing.assert_array_equal(got, lut[[0, 0, 1, 63, 63, 63]])


# -- presentation LUT -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["JPGLosslessP14SV1_1s_1f_8b.dcm", "emri_small.dcm", "OBXXXX1A.dcm", "CT_small.dcm"]
)
def test_apply_presentation_lut_shape_is_pydicoms(name: str) -> None:
    frames, ds, arr = _both(name)
    _same(lazydcm.apply_presentation_lut(arr, frames), processing.apply_presentation_lut(arr, ds))


def test_inverse_presentation_lut_shape_inverts() -> None:
    # Arrange
    arr = np.array([[0, 10], [20, 255]], dtype=np.uint8)
    # Act
    got = lazydcm.apply_presentation_lut(arr, Header({"PresentationLUTShape": "INVERSE"}, {}))
    # Assert
    _same(
        got, processing.apply_presentation_lut(arr, _dataset({"PresentationLUTShape": "INVERSE"}))
    )
    np.testing.assert_array_equal(got, [[255, 245], [235, 0]])


def test_unknown_presentation_lut_shape_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="LOG"):
        lazydcm.apply_presentation_lut(np.zeros(2), Header({"PresentationLUTShape": "LOG"}, {}))


def _presentation_lut(
    descriptor: tuple[int, int, int], vr: str, data: bytes | tuple[int, ...]
) -> tuple[Header, pydicom.Dataset]:
    """One Presentation LUT Sequence item, as a lazydcm header and as a pydicom dataset."""
    item = pydicom.Dataset()
    item.LUTDescriptor = list(descriptor)
    item.add_new(0x00283006, vr, data if isinstance(data, bytes) else list(data))
    ds = pydicom.Dataset()
    ds.PresentationLUTSequence = [item]
    lut_item = MappingProxyType({"LUTDescriptor": descriptor, "LUTData": data})
    return Header({"PresentationLUTSequence": (lut_item,)}, {}), ds


@pytest.mark.parametrize(("entries", "bits"), [(256, 8), (4096, 12), (1024, 16)])
def test_presentation_lut_sequence_is_pydicoms(entries: int, bits: int) -> None:
    # Arrange: an OW Presentation LUT, with junk in the unused high bits of 12-bit entries
    rng = np.random.default_rng(entries)
    itemsize = 8 if bits <= 8 else 16
    lut = rng.integers(0, 1 << itemsize, entries, dtype=f"u{itemsize // 8}")
    data = lut.astype(f"<u{itemsize // 8}").tobytes()
    arr = rng.integers(-500, 3000, (16, 16)).astype(np.int16)
    header, ds = _presentation_lut((entries, 0, bits), "OW", data)
    # Act
    got = lazydcm.apply_presentation_lut(arr, header)
    # Assert
    _same(got, processing.apply_presentation_lut(arr, ds))


@pytest.mark.parametrize(("entries", "bits"), [(256, 8), (256, 6), (1024, 12)])
def test_presentation_lut_sequence_with_us_data_is_pydicoms(entries: int, bits: int) -> None:
    # Arrange: LUT Data as US values (pydicom returns them as uint16 whatever the depth,
    # junk above the entry's bits included)
    rng = np.random.default_rng(bits)
    lut = tuple(int(v) for v in rng.integers(0, 1 << 16, entries))
    arr = rng.integers(0, 4096, (16, 16)).astype(np.uint16)
    header, ds = _presentation_lut((entries, 0, bits), "US", lut)
    # Act
    got = lazydcm.apply_presentation_lut(arr, header)
    # Assert
    _same(got, processing.apply_presentation_lut(arr, ds))


# -- palettes -------------------------------------------------------------------------

PALETTE_FILES = [
    "OBXXXX1A.dcm",
    "OBXXXX1A_2frame.dcm",
    "examples_palette.dcm",
    "gdcm-US-ALOKA-16.dcm",
    "gdcm-US-ALOKA-16_big.dcm",
]


@pytest.mark.parametrize("name", PALETTE_FILES)
def test_apply_color_lut_is_pydicoms(name: str) -> None:
    # Arrange
    frames, ds, arr = _both(name)
    # Act
    got = lazydcm.apply_color_lut(arr, frames)
    # Assert
    _same(got, processing.apply_color_lut(arr, ds))


@pytest.mark.parametrize("name", ["OBXXXX1A_expb.dcm", "OBXXXX1A_expb_2frame.dcm"])
def test_big_endian_palette_data_is_read_big_endian(name: str) -> None:
    # pydicom 3.0 reads OW palette data in the machine's byte order (PS3.5 7.3: the
    # file's); the little endian twin of the file is the oracle.
    frames, ds, arr = _both(name)
    twin = pydicom.dcmread(real_file(name.replace("_expb", "")))
    got = lazydcm.apply_color_lut(arr, frames)
    _same(got, processing.apply_color_lut(arr, twin))
    assert not np.array_equal(got, processing.apply_color_lut(arr, ds))


def test_segmented_palette_is_expanded_to_its_descriptors_length() -> None:
    # Arrange: gdcm-US-ALOKA-16 has segmented 16-bit tables of 65536 entries
    frames, _, arr = _both("gdcm-US-ALOKA-16.dcm")
    # Act
    rgb = lazydcm.apply_color_lut(arr, frames)
    # Assert
    assert rgb.shape == (*arr.shape, 3)
    assert rgb.dtype == np.uint16
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 1


def test_supplemental_palette_is_refused_as_pydicom_does() -> None:
    frames, ds, arr = _both("eCT_Supplemental.dcm")
    with pytest.raises(ValueError, match="Supplemental"):
        processing.apply_color_lut(arr, ds)
    with pytest.raises(ValueError, match="Supplemental"):
        lazydcm.apply_color_lut(arr, frames)


def test_no_palette_is_a_value_error() -> None:
    frames, _, arr = _both("CT_small.dcm")
    with pytest.raises(ValueError, match="No suitable Palette"):
        lazydcm.apply_color_lut(arr, frames)
    with pytest.raises(ValueError, match="Either"):
        lazydcm.apply_color_lut(arr)


@pytest.mark.parametrize("uid", sorted(PALETTES))
def test_well_known_palettes_by_uid_are_pydicoms(uid: str) -> None:
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    _same(lazydcm.apply_color_lut(arr, palette=uid), processing.apply_color_lut(arr, palette=uid))


@pytest.mark.parametrize("name", ["HOT_IRON", "PET", "HOT_METAL_BLUE", "PET_20_STEP", "SPRING"])
def test_well_known_palettes_by_name_are_pydicoms(name: str) -> None:
    arr = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    got = lazydcm.apply_color_lut(arr, palette=name)
    _same(got, processing.apply_color_lut(arr, palette=name))


@pytest.mark.parametrize(("name", "uid"), [("FALL", "1.2.840.10008.1.5.7"),
                                           ("WINTER", "1.2.840.10008.1.5.8")])  # fmt: skip
def test_fall_and_winter_are_not_swapped(name: str, uid: str) -> None:
    # pydicom 3.0 maps the name FALL to WINTER's UID and back; PS3.6 Annex B does not.
    arr = np.arange(256, dtype=np.uint8)
    got = lazydcm.apply_color_lut(arr, palette=name)
    _same(got, processing.apply_color_lut(arr, palette=uid))


def test_unknown_palette_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Unknown palette 'RAINBOW'"):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), palette="RAINBOW")


def test_segmented_palette_that_expands_without_bound_is_invalid() -> None:
    # Arrange: an indirect segment pointing at itself, the other tables discrete
    loop = np.array([0, 1, 7, 2, 100, 0, 0], dtype="<u2").tobytes()
    discrete = np.array([0, 1, 7], dtype="<u2").tobytes()
    values = {
        "RedPaletteColorLookupTableDescriptor": (256, 0, 16),
        "SegmentedRedPaletteColorLookupTableData": loop,
        "SegmentedGreenPaletteColorLookupTableData": discrete,
        "SegmentedBluePaletteColorLookupTableData": discrete,
    }
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), Header(values, {}))


def test_segmented_palette_that_repeats_empty_segments_is_refused_quickly() -> None:
    # Arrange: an indirect segment repeating 20,000 indirect segments that each
    # repeat 20,000 empty linear segments: 4e8 segments and no entries, which
    # neither the entry nor the depth limit stops.  (A nested expansion cannot
    # start with an indirect segment: each one follows a one-entry discrete one.)
    n = 20_000
    inner_at = 7 + 7 * n
    segments = [0, 1, 7, 2, 2 * n, 7, 0]
    segments += [0, 1, 7, 2, n, inner_at & 0xFFFF, inner_at >> 16] * n
    segments += [1, 0, 7] * n
    discrete = np.array([0, 1, 7], dtype="<u2").tobytes()
    values = {
        "RedPaletteColorLookupTableDescriptor": (256, 0, 16),
        "SegmentedRedPaletteColorLookupTableData": np.array(segments, "<u2").tobytes(),
        "SegmentedGreenPaletteColorLookupTableData": discrete,
        "SegmentedBluePaletteColorLookupTableData": discrete,
    }

    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match="expands more than 262144 segments"):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), Header(values, {}))


# -- sources --------------------------------------------------------------------------

FUNCTIONS: list[Callable[..., np.ndarray]] = [
    lazydcm.apply_modality_lut,
    lazydcm.apply_voi_lut,
    lazydcm.apply_windowing,
]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_frame_needs_a_frame_sequence(function: Callable[..., np.ndarray]) -> None:
    frames, _, arr = _both("CT_small.dcm")
    with pytest.raises(TypeError, match="frame_header"):
        function(arr, frames.header, frame=0)


def test_malformed_rescale_slope_names_the_element() -> None:
    values = {"RescaleSlope": "1,5", "RescaleIntercept": 0.0}
    with pytest.raises(
        lazydcm.InvalidDicomError, match=r"\(0028,1053\) 'Rescale Slope' value '1,5'"
    ):
        lazydcm.apply_modality_lut(np.zeros(2), Header(values, {}))


@pytest.mark.parametrize(
    "segments",
    [[0, 1, 7, 1, 4], [0, 1, 7, 2, 1, 0], [9, 1, 7], [1, 2, 7]],
    ids=["linear-cut-short", "indirect-cut-short", "unknown-opcode", "linear-first"],
)
def test_malformed_segmented_palette_is_invalid(segments: list[int]) -> None:
    # Arrange: a red table that is malformed, green and blue discrete
    discrete = np.array([0, 1, 7], dtype="<u2").tobytes()
    values = {
        "RedPaletteColorLookupTableDescriptor": (256, 0, 16),
        "SegmentedRedPaletteColorLookupTableData": np.array(segments, "<u2").tobytes(),
        "SegmentedGreenPaletteColorLookupTableData": discrete,
        "SegmentedBluePaletteColorLookupTableData": discrete,
    }
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match="segmented palette"):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), Header(values, {}))


@pytest.mark.parametrize("segmented", [False, True])
def test_a_missing_palette_table_is_named(segmented: bool) -> None:
    # Arrange: red and blue tables, no green one
    prefix = "Segmented" if segmented else ""
    table = np.array([0, 2, 7, 9] if segmented else [7, 9], dtype="<u2").tobytes()
    values = {
        "RedPaletteColorLookupTableDescriptor": (2, 0, 16),
        f"{prefix}RedPaletteColorLookupTableData": table,
        f"{prefix}BluePaletteColorLookupTableData": table,
    }
    tag = r"\(0028,1222\)" if segmented else r"\(0028,1202\) 'Green Palette"
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match=tag):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), Header(values, {}))


def test_palette_tables_of_different_lengths_are_invalid() -> None:
    # Arrange: a green table with an odd byte more than the others
    table = np.array([7, 9], dtype="<u2").tobytes()
    values = {
        "RedPaletteColorLookupTableDescriptor": (2, 0, 16),
        "RedPaletteColorLookupTableData": table,
        "GreenPaletteColorLookupTableData": table + b"\x00",
        "BluePaletteColorLookupTableData": table,
    }
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match="same length"):
        lazydcm.apply_color_lut(np.zeros(2, np.uint8), Header(values, {}))


def test_lut_data_of_an_odd_length_is_invalid() -> None:
    # Arrange: an OW VOI LUT of 3 entries whose data stops half way through the last
    item = MappingProxyType({"LUTDescriptor": (3, 0, 16), "LUTData": b"\x01\x00\x02\x00\x03"})
    values = {**_MONO, "VOILUTSequence": (item,)}
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match="holds 2 values"):
        lazydcm.apply_voi_lut(np.zeros(2, np.uint16), Header(values, {}))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # pydicom's
def test_a_constant_image_takes_the_first_presentation_lut_entry_without_warnings() -> None:
    # Arrange: pydicom divides 0 by 0 here, and warns; the values agree
    header, ds = _presentation_lut((256, 0, 8), "OW", bytes(range(255, -1, -1)))
    arr = np.full((2, 3), 7, dtype=np.uint16)
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = lazydcm.apply_presentation_lut(arr, header)
    # Assert
    _same(got, processing.apply_presentation_lut(arr, ds))
    np.testing.assert_array_equal(got, 255)


@pytest.mark.parametrize("descriptor", [(256, 0), (256, 0, 2000), (256, 0, "16"), None], ids=str)
def test_a_malformed_lut_descriptor_names_the_sequence(descriptor: Any) -> None:
    # Arrange: a Modality LUT whose descriptor is short, too wide or not numbers
    item = MappingProxyType({"LUTDescriptor": descriptor, "LUTData": bytes(512)})
    values = {**_MONO, "ModalityLUTSequence": (item,)}
    # Act / Assert
    with pytest.raises(lazydcm.InvalidDicomError, match=r"\(0028,3000\) 'Modality LUT Sequence'"):
        lazydcm.apply_modality_lut(np.zeros(2, np.uint16), Header(values, {}))


def test_a_window_needs_a_sane_bits_stored() -> None:
    values = {**_MONO, "BitsStored": 4000, "WindowCenter": 1.0, "WindowWidth": 2.0}
    with pytest.raises(lazydcm.InvalidDicomError, match=r"\(0028,0101\) 'Bits Stored' value 4000"):
        lazydcm.apply_windowing(np.zeros(2), Header(values, {}))
