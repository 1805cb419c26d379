"""lazydcm.examples: sample files written on first use, as pydicom.examples offers its own."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array as pydicom_pixel_array

import lazydcm
from lazydcm import examples
from lazydcm.uids import lookup


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder for the examples, named by LAZYDCM_EXAMPLES_DIR."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LAZYDCM_EXAMPLES_DIR", str(folder))
    return folder


def test_each_example_is_a_path_to_a_file_written_on_first_use(cache: Path) -> None:
    assert not cache.exists()  # nothing yet

    paths = {name: getattr(examples, name) for name in examples.NAMES}

    assert paths == {name: examples.get_path(name) for name in examples.NAMES}
    for name, path in paths.items():
        assert path == cache / f"examples-{examples.REVISION}" / f"{name}.dcm"
        assert path.is_file()
    assert sorted(os.listdir(paths["ct"].parent)) == sorted(f"{n}.dcm" for n in examples.NAMES)


def test_an_example_is_written_once(cache: Path) -> None:
    first = examples.get_path("cine")
    written = first.stat()

    again = examples.cine

    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


EXPLICIT = "Explicit VR Little Endian"
GREY = "MONOCHROME2"


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "stored", "returned", "syntax"),
    [
        ("ct", (64, 64), "int16", GREY, GREY, EXPLICIT),
        ("cine", (60, 128, 128), "uint16", GREY, GREY, EXPLICIT),
        ("us", (10, 64, 64, 3), "uint8", "YBR_FULL", "RGB", "RLE Lossless"),
        ("enhanced", (3, 32, 32), "int16", GREY, GREY, EXPLICIT),
    ],
)
def test_examples_read_as_pydicom_reads_them(
    cache: Path,
    name: str,
    shape: tuple[int, ...],
    dtype: str,
    stored: str,
    returned: str,
    syntax: str,
) -> None:
    path = examples.get_path(name)

    with lazydcm.FrameSequence(path) as frames:
        ours = frames[:] if len(frames) > 1 else frames[0]
        info, pi = frames.info, frames.photometric_interpretation
        ts = lookup(info.transfer_syntax_uid)

    assert (ours.shape, str(ours.dtype)) == (shape, dtype)
    assert (info.photometric_interpretation, pi, ts.name) == (stored, returned, syntax)
    np.testing.assert_array_equal(ours, pydicom_pixel_array(str(path)))


def test_the_ct_example_has_its_rescale_and_window(cache: Path) -> None:
    ds = pydicom.dcmread(examples.ct)

    assert (ds.Modality, ds.RescaleIntercept, ds.RescaleSlope) == ("CT", -1024, 1)
    assert (ds.WindowCenter, ds.WindowWidth) == (40, 400)
    hu = lazydcm.apply_rescale(lazydcm.pixel_array(examples.ct), ds)
    assert (hu.min(), hu.max()) == (-1024.0, 1012.0)


def test_the_mislabelled_example_needs_the_overrides_it_suggests(cache: Path) -> None:
    with lazydcm.FrameSequence(examples.mislabelled) as frames:
        fix = frames.suggest_overrides()
        with pytest.raises(lazydcm.DecodeError, match="SIZ segment says 3 components"):
            frames[0]

    with lazydcm.FrameSequence(examples.mislabelled, overrides=fix) as frames:
        assert frames.shape == (2, 32, 32, 3)
    assert fix == {
        "SamplesPerPixel": 3,
        "PhotometricInterpretation": "RGB",
        "PlanarConfiguration": 0,
    }


def test_the_enhanced_example_has_a_window_per_frame(cache: Path) -> None:
    with lazydcm.FrameSequence(examples.enhanced) as frames:
        windows = [
            (h["WindowCenter"], h["WindowWidth"]) for h in map(frames.frame_header, range(3))
        ]

    assert windows == [(40.0, 400.0), (300.0, 1500.0), (-600.0, 1200.0)]


def test_an_unknown_example_is_refused(cache: Path) -> None:
    with pytest.raises(ValueError, match="no example called 'mri'; there are ct, cine, us"):
        examples.get_path("mri")
    with pytest.raises(AttributeError, match="has no attribute 'mri'"):
        examples.mri  # noqa: B018 (the attribute lookup is the test)
    assert not hasattr(examples, "__path__")  # a module, not a package: importers ask this
    assert set(examples.NAMES) <= set(dir(examples))
    assert not cache.exists()


def test_the_cache_folder_follows_the_platform_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAZYDCM_EXAMPLES_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    revision = f"examples-{examples.REVISION}"
    if sys.platform != "linux":
        pytest.skip("the XDG folders are Linux's")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert examples.folder() == tmp_path / "xdg" / "lazydcm" / revision

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # as the XDG specification says
    assert examples.folder() == tmp_path / "home" / ".cache" / "lazydcm" / revision

    monkeypatch.delenv("XDG_CACHE_HOME")
    assert examples.folder() == tmp_path / "home" / ".cache" / "lazydcm" / revision

    monkeypatch.setenv("LAZYDCM_EXAMPLES_DIR", str(tmp_path / "mine"))
    assert examples.folder() == tmp_path / "mine" / revision


def test_threads_asking_at_once_all_get_the_whole_file(cache: Path) -> None:
    barrier = threading.Barrier(6)
    digests: list[str] = []

    def ask() -> None:
        barrier.wait()
        digests.append(hashlib.sha256(examples.get_path("cine").read_bytes()).hexdigest())

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(digests) == 6
    assert len(set(digests)) == 1
    assert os.listdir(cache / f"examples-{examples.REVISION}") == ["cine.dcm"]  # no .part left
    with lazydcm.FrameSequence(examples.cine) as frames:
        assert frames[59].max() == 4081


def test_processes_asking_at_once_all_get_the_whole_file(cache: Path) -> None:
    code = (
        "import hashlib, lazydcm.examples as e; "
        "print(hashlib.sha256(e.get_path('us').read_bytes()).hexdigest())"
    )
    env = dict(os.environ, LAZYDCM_EXAMPLES_DIR=str(cache))

    started = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    digests = [process.communicate(timeout=120)[0].strip() for process in started]

    assert [process.returncode for process in started] == [0, 0, 0]
    assert len(set(digests)) == 1
    assert os.listdir(cache / f"examples-{examples.REVISION}") == ["us.dcm"]


def test_a_folder_that_cannot_be_written_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LAZYDCM_EXAMPLES_DIR", str(blocker))

    with pytest.raises(OSError, match=r"cannot write the example ct\.dcm in .*a file") as caught:
        examples.get_path("ct")

    assert "LAZYDCM_EXAMPLES_DIR" in str(caught.value)


def test_importing_lazydcm_leaves_the_examples_alone(tmp_path: Path) -> None:
    # Arrange: a cache folder that must stay untouched.
    code = (
        "import sys, lazydcm; print('lazydcm.examples' in sys.modules, 'lazydcm.synth' in "
        "sys.modules); import lazydcm.examples; print(lazydcm.examples.folder().exists())"
    )
    env = dict(os.environ, LAZYDCM_EXAMPLES_DIR=str(tmp_path / "cache"))

    # Act
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    # Assert: not imported by lazydcm; imported, it writes nothing until asked.
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]
