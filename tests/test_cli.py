"""The lazydcm command: info, export, montage, demo, and their errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers import real_file
from PIL import Image

import lazydcm
from lazydcm.cli import main
from lazydcm.testing import synth

JPEG_SV1 = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"
WINDOW_CENTER, WINDOW_WIDTH = (0x00281050, "DS"), (0x00281051, "DS")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def grey_file(
    path: Path,
    frames: np.ndarray,
    *,
    window: tuple[float, float] | None = None,
    photometric: str = "MONOCHROME2",
) -> Path:
    """A native 12-bit grey file of `frames`, with a Window Center/Width when given."""
    extra = [] if window is None else [(*WINDOW_CENTER, window[0]), (*WINDOW_WIDTH, window[1])]
    count, rows, columns = frames.shape
    image = synth.ImagePixel(
        rows,
        columns,
        bits_stored=12,
        number_of_frames=count,
        photometric_interpretation=photometric,
    )
    synth.write_native(path, frames, image, extra=extra)
    return path


def ramp(count: int = 1, rows: int = 4, columns: int = 16) -> np.ndarray:
    """Frames of 12-bit values rising from 0 to 4095 along each frame."""
    values = np.linspace(0, 4095, rows * columns).round().astype(np.uint16)
    return np.stack([values.reshape(rows, columns)] * count)


def read_png(path: Path) -> tuple[str, tuple[int, int], np.ndarray]:
    with Image.open(path) as image:
        return image.mode, image.size, np.asarray(image)


# -- info --------------------------------------------------------------------------


def test_info_describes_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["info", str(real_file("emri_small.dcm"))])

    out = capsys.readouterr().out
    assert status == 0
    assert "Explicit VR Little Endian (1.2.840.10008.1.2.1)" in out
    assert "10 (Number of Frames 10)" in out
    assert "(64, 64) uint16" in out
    assert re.search(r"fragments  none \(native data\)", out)
    assert re.search(r"pixel bytes  81,920 stored, 81,920 decoded", out)


def test_info_json_counts_fragments_of_an_offset_table_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: 3 frames of 2 fragments each, found through a full Basic Offset Table.
    imagecodecs = pytest.importorskip("imagecodecs")
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    streams = [bytes(imagecodecs.jpeg8_encode(grey + k, lossless=True)) for k in range(3)]
    image = synth.ImagePixel(8, 8, bits_allocated=8, number_of_frames=3)
    value = synth.encapsulate(streams, fragments_per_frame=2, bot="full")
    path = tmp_path / "bot.dcm"
    path.write_bytes(synth.dicom_file(image, value, transfer_syntax_uid=JPEG_SV1))

    # Act
    status = main(["info", "--json", str(path)])

    # Assert: one JSON object, the fragments counted from the items.
    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["offset_table"] == "bot"
    assert report["fragments"] == 6
    assert report["frames"] == 3
    assert report["stored_pixel_bytes"] == sum(len(s) + len(s) % 2 for s in streams)
    assert report["decoded_pixel_bytes"] == 3 * 64
    assert report["transfer_syntax"]["uid"] == JPEG_SV1
    assert report["problems"] == []


def test_info_json_lists_several_files_and_reports_the_unreadable_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(real_file("emri_small_RLE.dcm"))
    missing = str(tmp_path / "missing.dcm")

    status = main(["info", "--json", good, missing])

    captured = capsys.readouterr()
    reports = json.loads(captured.out)
    assert status == 1
    assert [r["file"] for r in reports] == [good, missing]
    assert reports[0]["frames"] == 10
    assert reports[0]["fragments"] == 10
    assert reports[0]["frame_shape"] == [64, 64]
    assert "No such file" in reports[1]["error"]
    assert captured.err.startswith("lazydcm: error: ")
    assert captured.err.count("\n") == 1


def test_info_reports_missing_frames_as_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: a native file cut short in its third frame of four.
    path = cut_file(tmp_path / "cut.dcm")

    # Act
    status = main(["info", str(path)])

    # Assert
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"problem  .*frame 2 is not in the file: it holds 2 complete frames", out)


def test_info_reports_problems_and_suggests_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: an RGB JPEG codestream under a header that says one sample, 2 frames.
    imagecodecs = pytest.importorskip("imagecodecs")
    rgb = np.random.default_rng(3).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    stream = bytes(imagecodecs.jpeg8_encode(rgb, lossless=True, predictor=1))
    image = synth.ImagePixel(8, 8, bits_allocated=8, number_of_frames=2)
    path = tmp_path / "wrong.dcm"
    path.write_bytes(
        synth.dicom_file(image, synth.encapsulate([stream]), transfer_syntax_uid=JPEG_SV1)
    )

    # Act
    status = main(["info", str(path)])

    # Assert: the warning is a problem line, and the suggestion is one that works.
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"problem  .*Number of Frames", out)
    suggested = {
        "NumberOfFrames": 1,
        "SamplesPerPixel": 3,
        "PhotometricInterpretation": "RGB",
        "PlanarConfiguration": 0,
    }
    assert f"suggested fix  FrameSequence(path, overrides={suggested!r})" in out
    with lazydcm.FrameSequence(path, overrides=suggested) as frames:
        np.testing.assert_array_equal(frames[0], rgb)


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not.dcm"
    bad.write_text("hello, this is not DICOM at all" * 10)

    status = main(["info", str(bad)])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("lazydcm: error: ")
    assert "not a DICOM file" in err
    assert err.count("\n") == 1


def test_info_names_each_file_it_cannot_read_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: a good file between three that cannot be read, for three reasons.
    good = str(real_file("emri_small.dcm"))
    not_dicom = tmp_path / "not.dcm"
    not_dicom.write_text("hello, this is not DICOM at all" * 10)
    missing, folder = tmp_path / "missing.dcm", tmp_path / "folder.dcm"
    folder.mkdir()
    names = [str(not_dicom), good, str(missing), str(folder)]

    # Act
    status = main(["info", *names])

    # Assert: the good file is described; each error line starts with its file
    # (never twice over), in the order given; the status says something failed.
    captured = capsys.readouterr()
    assert status == 1
    assert f"file  {good}" in captured.out
    errors = captured.err.splitlines()
    assert len(errors) == 3, errors
    for line, name in zip(errors, [names[0], names[2], names[3]], strict=True):
        assert line.startswith(f"lazydcm: error: {name}: "), line
        assert f"{name}: {name}" not in line, line
    assert errors[1] == f"lazydcm: error: {missing}: No such file or directory"


def test_an_unviewable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: PALETTE COLOR frames without their palette.
    image = synth.ImagePixel(
        4, 4, bits_allocated=8, number_of_frames=2, photometric_interpretation="PALETTE COLOR"
    )
    path = tmp_path / "palette.dcm"
    synth.write_native(path, np.zeros((2, 4, 4), np.uint8), image)

    for command in (["montage", "-o", str(tmp_path / "s.png")], ["export", "-o", str(tmp_path)]):
        # Act
        status = main([*command, str(path)])

        # Assert
        err = capsys.readouterr().err
        assert status == 1
        assert err.startswith(f"lazydcm: error: {path}: the palette cannot be applied"), err
        assert err.count("\n") == 1


def cut_file(path: Path) -> Path:
    """A native file of four 4x16 frames, cut short inside its third frame."""
    grey_file(path, ramp(4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4 * 16 * 2 - 10])
    return path


def test_warnings_print_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cut_file(tmp_path / "cut.dcm")

    status = main(["export", str(path), "-o", str(tmp_path), "--frames", ":2", "--format", "npy"])

    err = capsys.readouterr().err
    assert status == 0
    assert err.startswith("lazydcm: warning: ")
    assert "2 of 4 frames are complete" in err
    assert err.count("\n") == 1


def test_export_of_a_cut_file_writes_the_frames_it_holds_and_names_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cut_file(tmp_path / "cut.dcm")
    out = tmp_path / "out"

    status = main(["export", str(path), "-o", str(out), "--format", "npy"])

    # Assert: frames 0 and 1 written whole, 2 and 3 named (each, then together), status 1.
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["cut_0000.npy", "cut_0001.npy"]
    np.testing.assert_array_equal(np.load(out / "cut_0001.npy"), ramp(4)[1])
    assert captured.out == f"Wrote 2 npy files to {out}\n"
    assert err[0].startswith(f"lazydcm: warning: {path}: ")  # at open: 2 of 4 frames
    assert err[1].startswith(f"lazydcm: error: {path}: frame 2 is not in the file")
    assert err[2].startswith(f"lazydcm: error: {path}: frame 3 is not in the file")
    assert err[3] == (
        f"lazydcm: error: {path}: 2 of the 4 frames asked for could not be read and were "
        "not exported: 2-3"
    )
    assert len(err) == 4


def test_many_skipped_frames_are_summed_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: 40 frames, of which the file holds the first 2.
    path = grey_file(tmp_path / "short.dcm", ramp(40))
    path.write_bytes(path.read_bytes()[: -38 * 4 * 16 * 2])

    status = main(["export", str(path), "-o", str(tmp_path / "out"), "--frames", "::2"])

    # Assert: the opening warning, three reasons, then every skipped frame counted.
    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert len(err) == 1 + 3 + 1, err
    assert err[-1].endswith("19 of the 20 frames asked for could not be read and were not "
                            "exported: 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, and 9 more")  # fmt: skip


def test_frame_lists_are_short() -> None:
    from lazydcm.cli.frames import frame_list

    assert frame_list([3]) == "3"
    assert frame_list([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert frame_list(list(range(0, 40, 2))) == "0, 2, 4, 6, 8, 10, 12, 14, 16, 18, and 10 more"


def jpeg_file(path: Path, frames: list[np.ndarray], damaged: set[int]) -> Path:
    """8-bit lossless JPEG frames, those in `damaged` without an image, with a full BOT."""
    imagecodecs = pytest.importorskip("imagecodecs")
    streams = [bytes(imagecodecs.jpeg8_encode(frame, lossless=True)) for frame in frames]
    no_image = b"\xff\xd8\xff\xd9"  # SOI then EOI
    streams = [no_image if k in damaged else s for k, s in enumerate(streams)]
    rows, columns = frames[0].shape
    image = synth.ImagePixel(rows, columns, bits_allocated=8, number_of_frames=len(frames))
    synth.write_encapsulated(path, streams, image, transfer_syntax_uid=JPEG_SV1, bot="full")
    return path


def test_export_skips_a_frame_that_fails_to_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [np.full((8, 8), 40 * k, np.uint8) for k in range(4)]
    path = jpeg_file(tmp_path / "damaged.dcm", frames, damaged={1})
    out = tmp_path / "out"

    status = main(["export", str(path), "-o", str(out), "--format", "npy"])

    err = capsys.readouterr().err.splitlines()
    assert status == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == ["damaged_0000.npy", "damaged_0002.npy", "damaged_0003.npy"]
    for k in (0, 2, 3):
        np.testing.assert_array_equal(np.load(out / f"damaged_{k:04d}.npy"), frames[k])
    assert err[0].startswith(f"lazydcm: error: {path}: frame 1: Unable to decode"), err
    assert err[1].endswith("could not be read and were not exported: 1")
    assert len(err) == 2


def test_export_of_missing_frames_only_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cut_file(tmp_path / "cut.dcm")
    out = tmp_path / "out"

    status = main(["export", str(path), "-o", str(out), "--frames", "2:", "--format", "npy"])

    assert status == 1
    assert not out.exists()
    assert capsys.readouterr().out == f"Wrote 0 npy files to {out}\n"


def test_a_write_that_fails_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: a disk that fills up in the middle of the second file.
    path = grey_file(tmp_path / "cine.dcm", ramp(3))
    out = tmp_path / "out"
    save = np.save
    calls = []

    def save_then_fill_the_disk(file: io.BufferedWriter | Path, frame: np.ndarray) -> None:
        calls.append(file)
        if len(calls) == 1:
            save(file, frame)
            return
        with contextlib.ExitStack() as stack:
            if isinstance(file, Path):
                file = stack.enter_context(file.open("wb"))
            file.write(b"\x93NUMPY half a header")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", save_then_fill_the_disk)

    # Act
    status = main(["export", str(path), "-o", str(out), "--format", "npy"])

    # Assert: the first file whole, nothing of the second, not even under another name.
    assert status == 1
    assert [p.name for p in out.iterdir()] == ["cine_0000.npy"]
    err = capsys.readouterr().err
    assert err == f"lazydcm: error: {out / 'cine_0001.npy'}: No space left on device\n"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "not.dcm"
    bad.write_text("not DICOM" * 40)

    with pytest.raises(lazydcm.InvalidDicomError, match="not a DICOM file"):
        main(["--debug", "export", str(bad), "-o", str(tmp_path / "out")])


# -- export ------------------------------------------------------------------------


def test_export_npy_round_trips_the_selected_frames(tmp_path: Path) -> None:
    source = real_file("emri_small_RLE.dcm")
    out = tmp_path / "out"

    status = main(["export", str(source), "-o", str(out), "--frames", "1:10:4", "--format", "npy"])

    written = sorted(out.iterdir())
    assert status == 0
    assert [p.name for p in written] == [f"emri_small_RLE_{i:04d}.npy" for i in (1, 5, 9)]
    with lazydcm.FrameSequence(source) as frames:
        for path, i in zip(written, (1, 5, 9), strict=True):
            saved = np.load(path)
            assert saved.dtype == frames.dtype
            np.testing.assert_array_equal(saved, frames[i])


def test_export_tiff_round_trips_colour_frames(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    source = real_file("SC_rgb_rle_16bit_2frame.dcm")

    status = main(["export", str(source), "-o", str(tmp_path), "--format", "tiff"])

    assert status == 0
    with lazydcm.FrameSequence(source) as frames:
        for i in range(2):
            saved = tifffile.imread(tmp_path / f"SC_rgb_rle_16bit_2frame_{i:04d}.tiff")
            assert saved.dtype == np.uint16
            np.testing.assert_array_equal(saved, frames[i])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("-1", [9]), ("0,8:", [0, 8, 9]), ("::-4", [9, 5, 1]), (":2, 7", [0, 1, 7])],
)
def test_export_frames_takes_indices_and_slices(
    spec: str, expected: list[int], tmp_path: Path
) -> None:
    status = main(
        ["export", str(real_file("emri_small.dcm")), "-o", str(tmp_path), "--frames=" + spec,
         "--format", "npy"]
    )  # fmt: skip

    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"emri_small_{i:04d}.npy" for i in expected
    )


def test_export_png_applies_the_header_window(tmp_path: Path) -> None:
    # Arrange: 0..4095 under a window of centre 2048, width 1024 (LINEAR, PS3.3 C.11.2.1.2.1).
    frames = ramp()
    path = grey_file(tmp_path / "w.dcm", frames, window=(2048, 1024))

    # Act
    status = main(["export", str(path), "-o", str(tmp_path / "png")])

    # Assert: 8-bit grey; below the window black, above it white, linear inside.
    mode, size, shown = read_png(tmp_path / "png" / "w_0000.png")
    x = frames[0].astype(np.float64)
    expected = np.clip((x - (2048 - 0.5)) / (1024 - 1) + 0.5, 0, 1) * 255
    assert status == 0
    assert (mode, size) == ("L", (16, 4))
    assert shown.dtype == np.uint8
    assert np.all(shown[x <= 1536] == 0)
    assert np.all(shown[x >= 2560] == 255)
    np.testing.assert_allclose(shown, expected, atol=1)


def test_export_png_16_bits(tmp_path: Path) -> None:
    frames = ramp(rows=64, columns=64)
    path = grey_file(tmp_path / "w.dcm", frames, window=(2048, 1024))

    status = main(["export", str(path), "-o", str(tmp_path), "--bits", "16"])

    mode, _size, shown = read_png(tmp_path / "w_0000.png")
    x = frames[0].astype(np.float64)
    expected = np.clip((x - (2048 - 0.5)) / (1024 - 1) + 0.5, 0, 1) * 65535
    assert status == 0
    assert mode == "I;16"
    assert shown.max() == 65535
    assert len(np.unique(shown)) > 256  # more levels than 8 bits hold
    np.testing.assert_allclose(shown, expected, atol=1)


def test_export_png_without_a_window_stretches_the_frame(tmp_path: Path) -> None:
    frames = (ramp() // 4 + 1000).astype(np.uint16)  # 1000..2024
    path = grey_file(tmp_path / "plain.dcm", frames)

    status = main(["export", str(path), "-o", str(tmp_path)])

    _mode, _size, shown = read_png(tmp_path / "plain_0000.png")
    expected = (frames[0] - 1000.0) / 1024 * 255
    assert status == 0
    assert (shown.min(), shown.max()) == (0, 255)
    np.testing.assert_allclose(shown, expected, atol=1)


def test_export_png_inverts_monochrome1(tmp_path: Path) -> None:
    frames = ramp()
    path = grey_file(tmp_path / "m1.dcm", frames, photometric="MONOCHROME1")

    status = main(["export", str(path), "-o", str(tmp_path)])

    _mode, _size, shown = read_png(tmp_path / "m1_0000.png")
    assert status == 0
    assert shown[0, 0] == 255  # the smallest value is white
    assert shown[-1, -1] == 0
    np.testing.assert_allclose(shown, 255 - frames[0] / 4095 * 255, atol=1)


def test_export_png_of_a_real_file_matches_pydicom_windowing(tmp_path: Path) -> None:
    # Arrange: the oracle: pydicom's modality LUT and window, scaled from the
    # window's output range (signed 16 bits stored here) to 0..255.
    source = real_file("MR_small.dcm")
    ds = pydicom.dcmread(source)
    windowed = pydicom.pixels.apply_voi_lut(
        pydicom.pixels.apply_modality_lut(ds.pixel_array, ds), ds
    )
    expected = (windowed + 32768.0) / 65535 * 255

    # Act
    status = main(["export", str(source), "-o", str(tmp_path)])

    # Assert
    _mode, _size, shown = read_png(tmp_path / "MR_small_0000.png")
    assert status == 0
    np.testing.assert_allclose(shown, expected, atol=1)
    assert shown.min() < 64  # the window spreads the image
    assert shown.max() > 192


def test_export_png_colour_frames_as_rgb(tmp_path: Path) -> None:
    source = real_file("SC_rgb_rle_2frame.dcm")

    status = main(["export", str(source), "-o", str(tmp_path), "--frames", "1"])

    mode, size, shown = read_png(tmp_path / "SC_rgb_rle_2frame_0001.png")
    assert status == 0
    assert (mode, size) == ("RGB", (100, 100))
    with lazydcm.FrameSequence(source) as frames:
        np.testing.assert_array_equal(shown, frames[1])


def test_export_png_palette_colour_through_its_palette(tmp_path: Path) -> None:
    source = real_file("OT-PAL-8-face.dcm")
    ds = pydicom.dcmread(source, force=True)  # the oracle's palette; it has no file meta
    with lazydcm.FrameSequence(source) as frames:
        expected = pydicom.pixels.apply_color_lut(frames[0], ds)

    status = main(["export", str(source), "-o", str(tmp_path)])

    mode, _size, shown = read_png(tmp_path / "OT-PAL-8-face_0000.png")
    scale = 255 / np.iinfo(expected.dtype).max
    assert status == 0
    assert mode == "RGB"
    np.testing.assert_allclose(shown, expected * scale, atol=1)


def test_export_shows_no_progress_bar_when_piped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["export", str(real_file("emri_small.dcm")), "-o", str(tmp_path)])

    captured = capsys.readouterr()
    assert status == 0
    assert captured.err == ""
    assert captured.out == f"Wrote 10 png files to {tmp_path}\n"


def test_export_shows_a_progress_bar_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    status = main(["export", str(real_file("emri_small.dcm")), "-o", str(tmp_path)])

    bar = terminal.getvalue()
    assert status == 0
    assert "10/10" in bar
    assert "frame/s" in bar


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "a:b"], "--frames: 'a:b' is not a frame number or a slice"),
        (["--frames", "0:10:0"], "--frames: '0:10:0' has a step of 0"),
        (["--frames", "1:2:3:4"], "--frames: '1:2:3:4' is not a frame number or a slice"),
        (["--frames", "3,"], "--frames: '' is not a frame number or a slice"),
        (["--frames", "10"], "--frames: frame 10 is not in a file of 10 frames"),
        (["--frames", "20:"], "selects none of the 10 frames"),
        (["--format", "npy", "--bits", "16"], "--bits is for PNG"),
    ],
)
def test_export_argument_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    status = main(["export", str(real_file("emri_small.dcm")), "-o", str(out), *args])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("lazydcm: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()  # nothing written, not even the folder


def test_export_16_bit_png_of_colour_frames_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["export", str(real_file("SC_rgb.dcm")), "-o", str(tmp_path), "--bits", "16"])

    assert status == 1
    assert "16-bit PNG is for grey frames, not RGB" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "command", "named"),
    [
        ("tifffile", ["export", "--format", "tiff", "-o", "out"], "tifffile"),
        ("PIL.Image", ["montage", "-o", "sheet.png"], "Pillow"),
        ("psutil", ["demo"], "psutil"),
    ],
)
def test_a_missing_cli_package_names_the_extra(
    module: str,
    command: list[str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    source = [] if command == ["demo"] else [str(real_file("emri_small.dcm"))]

    status = main([*command, *source])

    err = capsys.readouterr().err
    assert status == 1
    assert err == (
        f"lazydcm: error: this command needs {named}, which is not installed: "
        'pip install "lazydcm[cli]"\n'
    )
    assert list(tmp_path.iterdir()) == []


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())

    status = main(["info", str(real_file("emri_small.dcm"))])

    assert status == 1
    assert capsys.readouterr().err == ""


# -- montage -----------------------------------------------------------------------


def cells(size: tuple[int, int], grid: tuple[int, int], gap: int = 2) -> tuple[int, int]:
    """The (width, height) of a cell of a sheet of `size` laid out as `grid` (columns, rows)."""
    (width, height), (columns, rows) = size, grid
    assert (width - gap * (columns - 1)) % columns == 0, size
    assert (height - gap * (rows - 1)) % rows == 0, size
    return (width - gap * (columns - 1)) // columns, (height - gap * (rows - 1)) // rows


def test_montage_tiles_evenly_spaced_frames_in_order(tmp_path: Path) -> None:
    # Arrange: 30 flat frames of 40 rows by 60 columns, frame k at 100 k, under a
    # window spanning 0..4095.
    frames = np.stack([np.full((40, 60), 100 * k, dtype=np.uint16) for k in range(30)])
    path = grey_file(tmp_path / "flat.dcm", frames, window=(2048, 4096))
    sheet = tmp_path / "sheet.png"

    # Act
    status = main(["montage", str(path), "-o", str(sheet), "--count", "9"])

    # Assert: a 3x3 grid, 2-pixel gaps; each cell a tile of 120x80 (the frame twice
    # over, as 60 pixels is less than legible) above its label; tile t shows frame
    # round(t * 29 / 8), windowed, and its number is written in white below it.
    mode, size, shown = read_png(sheet)
    width, height = cells(size, (3, 3))
    assert status == 0
    assert mode == "L"
    assert width == 120
    assert 12 <= height - 80 <= 40  # one line of text
    for t, k in enumerate([0, 4, 7, 11, 14, 18, 22, 25, 29]):
        top, left = (t // 3) * (height + 2), (t % 3) * (width + 2)
        expected = round(np.clip((100 * k - 2047.5) / 4095 + 0.5, 0, 1) * 255)
        tile = shown[top : top + 80, left : left + 120].astype(int)
        assert np.abs(tile - expected).max() <= 1  # the label is not on it
        assert shown[top + 80 : top + height, left : left + width].max() == 255  # the label


def test_montage_of_tiny_binary_frames_is_legible(tmp_path: Path) -> None:
    # Arrange: three 1-bit frames of 5 rows by 7 columns.
    bits = np.random.default_rng(7).integers(0, 2, (3, 5, 7), dtype=np.uint8)
    bits[:, 0, 0], bits[:, 0, 1] = 0, 1  # each frame has both values
    image = synth.ImagePixel(5, 7, bits_allocated=1, number_of_frames=3)
    path = tmp_path / "bits.dcm"
    path.write_bytes(synth.dicom_file(image, synth.native_pixels(bits, image)))
    sheet = tmp_path / "sheet.png"

    # Act
    status = main(["montage", str(path), "-o", str(sheet)])

    # Assert: each frame enlarged 10 times pixel for pixel (to 70x50: legible), so
    # the tiles hold only black and white; the labels are below the tiles.
    mode, size, shown = read_png(sheet)
    width, height = cells(size, (2, 2))
    assert status == 0
    assert mode == "L"
    for t in range(3):
        top, left = (t // 2) * (height + 2), (t % 2) * (width + 2)
        tile = shown[top : top + 50, left : left + 70]
        np.testing.assert_array_equal(tile, np.kron(bits[t], np.ones((10, 10), np.uint8)) * 255)
        assert shown[top + 50 : top + height, left : left + width].max() == 255  # the label


def test_montage_shrinks_tiles_to_the_sheet_width(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = ramp(count=20, rows=300, columns=500)
    path = grey_file(tmp_path / "big.dcm", frames)
    sheet = tmp_path / "sheet.png"

    status = main(["montage", str(path), "-o", str(sheet), "--width", "800"])

    _mode, size, _shown = read_png(sheet)
    width, height = cells(size, (4, 4))
    assert status == 0
    assert size[0] <= 800
    assert width == 198  # 16 tiles of 198x119 (300:500 kept), each above its label
    assert 12 <= height - 119 <= 40
    assert capsys.readouterr().out == f"Wrote {sheet}: 16 of 20 frames, {size[0]}x{size[1]} px\n"


def test_montage_of_colour_frames_is_rgb_and_takes_all_when_fewer(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"

    status = main(["montage", str(real_file("SC_rgb_rle_2frame.dcm")), "-o", str(sheet)])

    mode, size, _shown = read_png(sheet)
    width, height = cells(size, (2, 1))
    assert status == 0
    assert mode == "RGB"
    assert width == 100
    assert 12 <= height - 100 <= 40


def test_montage_of_a_cut_file_marks_the_missing_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: four frames of 4 rows by 16 columns, the last two cut off.
    path = cut_file(tmp_path / "cut.dcm")
    sheet = tmp_path / "sheet.png"

    # Act
    status = main(["montage", str(path), "-o", str(sheet)])

    # Assert: frames 0 and 1 shown (enlarged to 64x16), 2 and 3 a crossed-out grey
    # placeholder labelled "N missing", wider than the labels of frames shown;
    # both named on stderr; the sheet written; status 1.
    captured = capsys.readouterr()
    _mode, size, shown = read_png(sheet)
    width, height = cells(size, (2, 2))
    assert status == 1
    assert captured.out == f"Wrote {sheet}: 2 of 4 frames, {size[0]}x{size[1]} px\n"
    err = captured.err.splitlines()
    assert err[-1] == (
        f"lazydcm: error: {path}: 2 of the 4 frames asked for could not be read and were "
        "not shown: 2-3"
    )
    assert f"{path}: frame 2 is not in the file" in err[1]
    labels = []
    for t in range(4):
        top, left = (t // 2) * (height + 2), (t % 2) * (width + 2)
        tile = shown[top : top + 16, left : left + 64]
        label = shown[top + 16 : top + height, left : left + width]
        labels.append(int((label == 255).sum()))
        if t < 2:
            np.testing.assert_array_equal(tile[::4, ::4], np.rint(ramp()[0] / 4095 * 255))
        else:
            values, counts = np.unique(tile, return_counts=True)
            assert len(values) == 2  # the grey, and the cross over it
            assert counts.min() >= 64  # two diagonals of a 64x16 tile
    assert min(labels[2:]) > 2 * max(labels[:2])  # "2 missing" against "0"


def test_montage_skips_a_frame_that_fails_to_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [np.full((8, 8), 40 * k, np.uint8) for k in range(4)]
    path = jpeg_file(tmp_path / "damaged.dcm", frames, damaged={2})
    sheet = tmp_path / "sheet.png"

    status = main(["montage", str(path), "-o", str(sheet)])

    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert sheet.is_file()
    assert err[0].startswith(f"lazydcm: error: {path}: frame 2: Unable to decode"), err
    assert err[1].endswith("could not be read and were not shown: 2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be at least 1, not 0"),
        (["--width", "8"], "--width must be at least 16 pixels, not 8"),
    ],
)
def test_montage_argument_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "s.png"

    status = main(["montage", str(real_file("emri_small.dcm")), "-o", str(sheet), *args])

    assert status == 1
    assert capsys.readouterr().err == f"lazydcm: error: {message}\n"
    assert not sheet.exists()


# -- demo --------------------------------------------------------------------------


def test_demo_builds_streams_checks_and_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    status = main(["demo", "--frames", "40", "--size", "64"])

    captured = capsys.readouterr()
    out = captured.out
    assert status == 0
    assert "40 frames of 64x64" in out
    assert re.search(r"Streamed 40 frames in [\d.]+ s: [\d,]+ frames/s", out)
    assert re.search(r"Memory: peak \d+ MiB resident while streaming", out)
    assert "Checked: all 40 frames match" in out
    sheet = tmp_path / "lazydcm-demo.png"
    assert f"written to {sheet}" in out
    mode, size, shown = read_png(sheet)
    width, height = cells(size, (4, 4))
    assert mode == "L"
    assert width >= 64  # 64x64 tiles, and labels as wide as "39 missing"
    assert height > 64
    assert shown.std() > 30  # a picture, not a blank
    assert captured.err == ""  # no progress bar when stderr is not a terminal


def test_demo_writes_its_montage_where_asked_with_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sheet = tmp_path / "here" / "demo.png"
    sheet.parent.mkdir()

    status = main(["demo", "--frames", "30", "--size", "32", "--output", str(sheet)])

    assert status == 0
    assert sheet.is_file()
    assert "30/30" in terminal.getvalue()
    assert "frame/s" in terminal.getvalue()


def test_demo_runs_as_the_installed_command(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("lazydcm")
    if not command.exists():
        pytest.skip("the lazydcm script is not installed next to this Python")

    done = subprocess.run(
        [str(command), "demo", "--frames", "20", "--size", "32"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Checked: all 20 frames match" in done.stdout
    assert (tmp_path / "lazydcm-demo.png").is_file()


# -- packaging ---------------------------------------------------------------------


def test_the_entry_point_is_main() -> None:
    (script,) = entry_points(group="console_scripts", name="lazydcm")

    assert script.value == "lazydcm.cli:main"
    assert script.load() is main


def test_importing_lazydcm_and_its_cli_leaves_the_cli_extra_unimported() -> None:
    code = (
        "import sys, lazydcm, lazydcm.cli; "
        "print(sorted(m for m in ('tqdm', 'PIL', 'tifffile', 'psutil') if m in sys.modules))"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "[]"
