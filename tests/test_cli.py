"""The lazydcm command, and the README commands that CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm import synth
from lazydcm.cli import main

ROOT = Path(__file__).resolve().parents[1]
JPEG_SV1 = "1.2.840.10008.1.2.4.70"


def test_demo_builds_streams_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--frames", "40", "--size", "64"])

    out = capsys.readouterr().out
    assert status == 0
    assert "40 frames of 64x64" in out
    assert re.search(r"Streamed 40 frames in [\d.]+ s: [\d,]+ frames/s", out)
    assert "Checked: all 40 frames match" in out


def test_info_describes_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["info", str(real_file("emri_small.dcm"))])

    out = capsys.readouterr().out
    assert status == 0
    assert "Explicit VR Little Endian (1.2.840.10008.1.2.1)" in out
    assert "10 (Number of Frames 10)" in out
    assert "(64, 64) uint16" in out


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not.dcm"
    bad.write_text("hello, this is not DICOM at all" * 10)

    status = main(["info", str(bad)])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("lazydcm: error: ")
    assert "not a DICOM file" in err
    assert err.count("\n") == 1


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert blocks[0] == "pip install . && lazydcm demo"
    assert blocks[1] in (ROOT / ".ci" / "run").read_text().splitlines()


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
