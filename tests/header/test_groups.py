"""lazydcm.header.groups: the functional groups, read lazily, merged per frame.

Synthetic enhanced files (lazydcm.testing.synth) cover the precedence of PS3.3 C.7.6.16
(per-frame over shared over top level), every encoding, defined and undefined
lengths, and malformed sequences; the real eCT_Supplemental.dcm (shared Pixel
Value Transformation and Frame VOI LUT macros) is checked against pydicom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from helpers import real_file
from pydicom.pixels import processing

import lazydcm
from lazydcm import uids
from lazydcm.header.groups import CACHED_FRAMES, FunctionalGroups
from lazydcm.testing import synth
from lazydcm.uids import lookup

SHARED, PER_FRAME = 0x52009229, 0x52009230
PIXEL_VALUE_TRANSFORMATION, FRAME_VOI_LUT = 0x00289145, 0x00289132
FRAME_CONTENT, PIXEL_MEASURES = 0x00209111, 0x00289110
FRAMES = 5
IMAGE = synth.ImagePixel(4, 6, bits_allocated=16, bits_stored=12, number_of_frames=FRAMES)
ENCODINGS = [uids.EXPLICIT_LE, uids.IMPLICIT_LE, uids.EXPLICIT_BE]


class _Builder:
    """Encodes elements, items and sequences in one transfer syntax."""

    def __init__(self, syntax: str, undefined: bool = True) -> None:
        ts = lookup(syntax)
        self.kw = {"little_endian": ts.little_endian, "implicit": ts.implicit_vr}
        self.undefined = undefined

    def element(self, tag: int, vr: str, value: Any) -> bytes:
        return synth.encode_element(tag, vr, value, **self.kw)

    def sequence(self, tag: int, *items: bytes) -> bytes:
        undefined = self.undefined
        return synth.encode_sequence(
            tag, items, **self.kw, undefined_length=undefined, undefined_item_length=undefined
        )

    def rescale(self, intercept: float, slope: float) -> bytes:
        item = self.element(0x00281052, "DS", intercept) + self.element(0x00281053, "DS", slope)
        return self.sequence(
            PIXEL_VALUE_TRANSFORMATION, item + self.element(0x00281054, "LO", "US")
        )

    def window(self, center: float, width: float, function: str | None = None) -> bytes:
        item = self.element(0x00281050, "DS", center) + self.element(0x00281051, "DS", width)
        if function:
            item += self.element(0x00281056, "CS", function)
        return self.sequence(FRAME_VOI_LUT, item)

    def content(self, i: int) -> bytes:
        # A macro lazydcm does not keep, with a nested sequence of its own.
        inner = self.sequence(0x00089215, self.element(0x00080100, "SH", f"code{i}"))
        return self.sequence(FRAME_CONTENT, self.element(0x00209157, "UL", [1, i + 1]) + inner)


def _write(
    path: Path,
    syntax: str = uids.EXPLICIT_LE,
    *,
    undefined: bool = True,
    shared: bytes | None = None,
    per_frame: list[bytes] | None = None,
    top: tuple[tuple[int, str, Any], ...] = (),
) -> Path:
    """A 5-frame 12-bit file with the given group items and top-level elements."""
    b = _Builder(syntax, undefined)
    extra: list[Any] = list(top)
    if shared is not None:
        extra.append(b.sequence(SHARED, shared))
    if per_frame is not None:
        extra.append(b.sequence(PER_FRAME, *per_frame))
    frames = np.arange(FRAMES * 24, dtype=np.uint16).reshape(FRAMES, 4, 6) * 30
    little = lookup(syntax).little_endian
    pixels = synth.native_pixels(frames, IMAGE, little_endian=little)
    path.write_bytes(synth.dicom_file(IMAGE, pixels, transfer_syntax_uid=syntax, extra=extra))
    return path


def _precedence_file(path: Path, syntax: str, undefined: bool) -> Path:
    b = _Builder(syntax, undefined)
    per_frame = [
        b.content(i) + (b.rescale(float(-i), 2.0) if i % 2 else b"") + b.window(100 + i, 50)
        for i in range(FRAMES)
    ]
    return _write(
        path,
        syntax,
        undefined=undefined,
        shared=b.rescale(-1024.0, 1.0) + b.window(40.0, 400.0, "SIGMOID"),
        per_frame=per_frame,
        top=((0x00281050, "DS", 1.0), (0x00281051, "DS", 2.0), (0x00281056, "CS", "LINEAR")),
    )


@pytest.mark.parametrize("syntax", ENCODINGS)
@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_per_frame_values_win_over_shared_over_top_level(
    tmp_path: Path, syntax: str, undefined: bool
) -> None:
    # Arrange: odd frames rescale per frame, even ones take the shared rescale;
    # every frame has its own window, without a VOI LUT Function
    path = _precedence_file(tmp_path / "enhanced.dcm", syntax, undefined)
    with lazydcm.FrameSequence(path) as frames:
        # Act
        headers = [frames.frame_header(i) for i in range(FRAMES)]
        shared = frames.frame_header(None)
        top = frames.header
    # Assert
    for i, header in enumerate(headers):
        assert header["RescaleIntercept"] == (float(-i) if i % 2 else -1024.0)
        assert header["RescaleSlope"] == (2.0 if i % 2 else 1.0)
        assert header["WindowCenter"] == 100 + i
        assert "VOILUTFunction" not in header  # the per-frame macro replaces it all
        assert header["Rows"] == 4
    assert (shared["RescaleIntercept"], shared["WindowCenter"]) == (-1024.0, 40.0)
    assert shared["VOILUTFunction"] == "SIGMOID"
    assert (top["WindowCenter"], top["VOILUTFunction"]) == (1.0, "LINEAR")
    assert "RescaleIntercept" not in top


def test_frame_header_records_where_each_value_was(tmp_path: Path) -> None:
    # Arrange
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    data = path.read_bytes()
    with lazydcm.FrameSequence(path) as frames:
        # Act
        header = frames.frame_header(3)
    # Assert: the offset is that of the element's tag in the file
    at = header.offset("WindowCenter")
    assert at is not None
    assert data[at : at + 4] == bytes.fromhex("28005010")
    assert data[at + 8 : at + 11] == b"103"


@pytest.mark.parametrize("frame", [0, 1, 4, -1])
def test_processing_a_frame_uses_its_groups_as_pydicom_would_at_top_level(
    tmp_path: Path,
    frame: int,
    request: pytest.FixtureRequest,
) -> None:
    # Arrange: pydicom reads no functional groups, so the oracle is a dataset with
    # that frame's values at the top level
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    frames = lazydcm.FrameSequence(path)
    request.addfinalizer(frames.close)
    i = frame % FRAMES
    ds = pydicom.dcmread(path)
    ds.RescaleIntercept, ds.RescaleSlope = (-i, 2.0) if i % 2 else (-1024.0, 1.0)
    ds.WindowCenter, ds.WindowWidth = 100 + i, 50
    del ds.VOILUTFunction
    arr = frames[frame]
    # Act
    values = lazydcm.apply_modality_lut(arr, frames, frame=frame)
    shown = lazydcm.apply_voi_lut(values, frames, frame=frame)
    # Assert
    expected = processing.apply_modality_lut(arr, ds)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(shown, processing.apply_voi_lut(expected, ds))


def test_shared_groups_apply_without_a_frame(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Arrange
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    frames = lazydcm.FrameSequence(path)
    request.addfinalizer(frames.close)
    ds = pydicom.dcmread(path)
    ds.RescaleIntercept, ds.RescaleSlope = -1024.0, 1.0
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40.0, 400.0, "SIGMOID"
    values = processing.apply_modality_lut(frames[0], ds)
    # Act
    got = lazydcm.apply_windowing(values, frames)
    # Assert
    np.testing.assert_array_equal(got, processing.apply_windowing(values, ds))


def test_real_shared_groups_are_pydicoms_with_the_values_at_top_level(
    request: pytest.FixtureRequest,
) -> None:
    # Arrange: eCT_Supplemental has its rescale and window in the shared groups only
    path = real_file("eCT_Supplemental.dcm")
    frames = lazydcm.FrameSequence(path)
    request.addfinalizer(frames.close)
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
        for element in shared[macro][0]:
            ds[element.tag] = element
    assert "WindowCenter" not in frames.header
    # Act / Assert
    for i in range(len(frames)):
        arr = frames[i]
        values = lazydcm.apply_modality_lut(arr, frames, frame=i)
        expected = processing.apply_modality_lut(arr, ds)
        np.testing.assert_array_equal(values, expected)
        windowed = lazydcm.apply_windowing(values, frames, frame=i)
        np.testing.assert_array_equal(windowed, processing.apply_windowing(expected, ds))


def test_a_file_without_groups_gives_its_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.dcm", top=((0x00281050, "DS", 7.0), (0x00281051, "DS", 9.0)))
    with lazydcm.FrameSequence(path) as frames:
        assert frames.frame_header(2) is frames.header
        assert frames.frame_header(None) is frames.header


def test_opening_reads_no_group_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: reading a groups item fails loudly
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a functional groups item was read")

    monkeypatch.setattr(FunctionalGroups, "_read_item", fail)
    monkeypatch.setattr(FunctionalGroups, "_scan", fail)
    # Act
    with lazydcm.FrameSequence(path) as frames:
        first = frames[0]
        header = frames.header
    # Assert
    assert first.shape == (4, 6)
    assert "RescaleIntercept" not in header


def test_item_headers_are_scanned_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    scans: list[int] = []
    scan = FunctionalGroups._scan

    def counting(self: FunctionalGroups, *args: Any) -> Any:
        scans.append(1)
        return scan(self, *args)

    monkeypatch.setattr(FunctionalGroups, "_scan", counting)
    with lazydcm.FrameSequence(path) as frames:
        # Act
        for i in (4, 0, 3, 1, 2, 4):
            frames.frame_header(i)
    # Assert
    assert len(scans) == 1


def test_merged_headers_kept_are_bounded(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # Arrange
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    frames = lazydcm.FrameSequence(path)
    request.addfinalizer(frames.close)
    groups = FunctionalGroups(frames.reader.opened.header, frames.reader.opened.source)
    # Act
    for _ in range(CACHED_FRAMES // FRAMES + 2):
        for i in range(FRAMES):
            groups.header(i)
    # Assert
    assert len(groups._headers) <= CACHED_FRAMES
    assert groups.header(2) is groups.header(2)


def test_fewer_items_than_frames_names_the_sequence(tmp_path: Path) -> None:
    # Arrange: 3 per-frame items for 5 frames
    b = _Builder(uids.EXPLICIT_LE)
    path = _write(tmp_path / "short.dcm", per_frame=[b.window(1.0, 2.0)] * 3)
    with lazydcm.FrameSequence(path) as frames:
        assert frames.frame_header(2)["WindowCenter"] == 1.0
        # Act / Assert
        with pytest.raises(
            lazydcm.InvalidDicomError, match=r"\(5200,9230\).* at byte \d+ has 3 items"
        ):
            frames.frame_header(3)


def test_frame_header_index_is_checked(tmp_path: Path) -> None:
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    with lazydcm.FrameSequence(path) as frames, pytest.raises(IndexError):
        frames.frame_header(FRAMES)


def _with_bad_item_length(path: Path, length: int) -> Path:
    """A defined-length per-frame sequence whose second item claims `length` bytes."""
    b = _Builder(uids.EXPLICIT_LE, undefined=False)
    items = [b.window(float(i), 10.0) for i in range(FRAMES)]
    _write(path, undefined=False, per_frame=items)
    data = bytearray(path.read_bytes())
    sequence = data.index(bytes.fromhex("00523092") + b"SQ\0\0")  # (5200,9230) SQ
    first = sequence + 12
    first_length = int.from_bytes(data[first + 4 : first + 8], "little")
    second = first + 8 + first_length
    data[second + 4 : second + 8] = length.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("length", [400, 0x7FFFFFF0], ids=["past-sequence", "past-file"])
def test_item_lengths_are_checked(tmp_path: Path, length: int) -> None:
    # Arrange: the header walk jumps over a defined-length sequence without
    # looking inside, so the file opens; its items are checked when read
    path = _with_bad_item_length(tmp_path / "bad.dcm", length)
    expected = r"\(FFFE,E000\) 'Item' at byte \d+"
    # Act / Assert
    with (
        lazydcm.FrameSequence(path) as frames,
        pytest.raises(lazydcm.InvalidDicomError, match=expected),
    ):
        frames.frame_header(0)


def test_an_element_where_an_item_should_be_is_invalid(tmp_path: Path) -> None:
    # Arrange: the second item's tag overwritten with (0028,1050)
    path = _with_bad_item_length(tmp_path / "bad.dcm", 34)
    data = bytearray(path.read_bytes())
    sequence = data.index(bytes.fromhex("00523092") + b"SQ\0\0")
    first = sequence + 12
    second = first + 8 + int.from_bytes(data[first + 4 : first + 8], "little")
    data[second : second + 4] = bytes.fromhex("28005010")
    path.write_bytes(bytes(data))
    expected = r"expected an item .* at byte \d+"
    # Act / Assert
    with (
        lazydcm.FrameSequence(path) as frames,
        pytest.raises(lazydcm.InvalidDicomError, match=expected),
    ):
        frames.frame_header(1)


@pytest.mark.parametrize("use_sidecar", [False, True])
def test_reopened_files_keep_where_the_groups_are(tmp_path: Path, use_sidecar: bool) -> None:
    # Arrange: the second open comes from the index cache (or its sidecar)
    path = _precedence_file(tmp_path / "enhanced.dcm", uids.EXPLICIT_LE, True)
    index_dir = tmp_path / "index" if use_sidecar else None
    lazydcm.clear_index_cache()
    lazydcm.FrameSequence(path, index_dir=index_dir).close()
    if use_sidecar:
        lazydcm.clear_index_cache()
    # Act
    with lazydcm.FrameSequence(path, index_dir=index_dir) as frames:
        header = frames.frame_header(3)
    # Assert
    assert header["RescaleIntercept"] == -3.0


def test_frame_voi_lut_with_a_lut_is_read(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # Arrange: a Frame VOI LUT macro holding a VOI LUT Sequence (PS3.3 C.7.6.16.2.10b)
    b = _Builder(uids.EXPLICIT_LE)
    lut = np.arange(0, 4096, 16, dtype=np.uint16)
    voi = b.element(0x00283002, "US", [256, 0, 12]) + b.element(0x00283006, "OW", lut)
    shared = b.sequence(FRAME_VOI_LUT, b.sequence(0x00283010, voi))
    path = _write(tmp_path / "lut.dcm", shared=shared)
    frames = lazydcm.FrameSequence(path)
    request.addfinalizer(frames.close)
    arr = np.array([0, 1, 255, 300], dtype=np.uint16)
    # Act
    got = lazydcm.apply_voi_lut(arr, frames, frame=1)
    # Assert
    np.testing.assert_array_equal(got, lut[[0, 1, 255, 255]])


@pytest.mark.parametrize("syntax", ENCODINGS)
@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_the_header_walk_records_where_the_sequences_are(
    tmp_path: Path, syntax: str, undefined: bool
) -> None:
    # Arrange
    path = _precedence_file(tmp_path / "enhanced.dcm", syntax, undefined)
    data = path.read_bytes()
    little = lookup(syntax).little_endian
    item_tag = (0xFFFEE000).to_bytes(4, "big")
    item_tag = bytes([item_tag[1], item_tag[0], item_tag[3], item_tag[2]]) if little else item_tag
    # Act
    with lazydcm.FrameSequence(path) as frames:
        shared, per_frame = (
            frames.reader.opened.header.shared_groups,
            frames.reader.opened.header.per_frame_groups,
        )
    # Assert: each value starts with its first item; the encoding is the dataset's
    assert shared is not None
    assert per_frame is not None
    for span, tag in ((shared, SHARED), (per_frame, PER_FRAME)):
        assert span.tag == tag
        assert data[span.value_offset : span.value_offset + 4] == item_tag
        assert span.little_endian == little
        assert span.implicit == (syntax == uids.IMPLICIT_LE)
        assert (span.length is None) == undefined
