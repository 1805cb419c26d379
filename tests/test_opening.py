"""Opening: input → source → (inflate) → header → index, each stage once (lazydcm.opening)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from helpers import real_file

import lazydcm
from lazydcm import opening
from lazydcm.errors import InvalidDicomError
from lazydcm.opening import Opened, OpenOptions
from lazydcm.sources import LocalFileSource, MemorySource
from lazydcm.testing import synth
from lazydcm.testing.synth import ImagePixel
from lazydcm.uids import DEFLATED_EXPLICIT_LE, EXPLICIT_LE

IMAGE = ImagePixel(rows=4, columns=3, bits_allocated=16, bits_stored=12)
PIXELS = bytes(range(24))  # one 4 x 3 frame of 16-bit samples
NAME = "test.dcm"


def make(ts: str, **kwargs: Any) -> bytes:
    return synth.dicom_file(IMAGE, PIXELS, transfer_syntax_uid=ts, **kwargs)


def parse(data: bytes) -> Opened:
    return opening.open(MemorySource(data, name=NAME))


# -- each stage once ---------------------------------------------------------------------


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each stage of an open runs (the stages opening.open calls)."""
    counts = {"read_meta": 0, "inflate": 0, "read_dataset": 0, "build_index": 0}

    def counting(name: str) -> Callable[..., Any]:
        real = getattr(opening, name)

        def stage(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return stage

    for name in counts:
        monkeypatch.setattr(opening, name, counting(name))
    lazydcm.clear_index_cache()
    return counts


def test_a_plain_file_is_walked_once(stages: dict[str, int]) -> None:
    with lazydcm.FrameSequence(real_file("emri_small.dcm")) as frames:
        frames[0]

    assert stages == {"read_meta": 1, "inflate": 0, "read_dataset": 1, "build_index": 1}


def test_a_deflated_file_is_inflated_and_walked_once(stages: dict[str, int]) -> None:
    with lazydcm.FrameSequence(real_file("image_dfl.dcm")) as frames:
        frames[0]

    assert stages == {"read_meta": 1, "inflate": 1, "read_dataset": 1, "build_index": 1}


def test_a_dataset_read_from_a_file_is_walked_once(stages: dict[str, int]) -> None:
    ds = pydicom.dcmread(real_file("emri_small_jpeg_2k_lossless.dcm"))

    with lazydcm.FrameSequence(ds) as frames:
        frames[0]
        assert frames.location == str(real_file("emri_small_jpeg_2k_lossless.dcm"))

    assert stages == {"read_meta": 1, "inflate": 0, "read_dataset": 1, "build_index": 1}


def test_a_dataset_built_in_memory_is_walked_once(stages: dict[str, int]) -> None:
    ds = pydicom.dcmread(real_file("emri_small.dcm"))
    ds.filename = None  # as if built in memory: written out, then read

    with lazydcm.FrameSequence(ds) as frames:
        np.testing.assert_array_equal(frames[:], ds.pixel_array)
        assert frames.location is None

    assert stages == {"read_meta": 1, "inflate": 0, "read_dataset": 1, "build_index": 1}


def test_a_file_opened_again_is_not_walked_again(stages: dict[str, int]) -> None:
    path = real_file("emri_small.dcm")
    opening.open(path).close()

    again = opening.open(path)
    again.close()

    assert stages == {"read_meta": 1, "inflate": 0, "read_dataset": 1, "build_index": 1}
    assert again.walked == 0


def test_opened_holds_what_made_it(tmp_path: Path) -> None:
    path = real_file("emri_small.dcm")
    options = OpenOptions(cache_bytes=0, decoder="pylibjpeg", overrides={"NumberOfFrames": 10})

    opened = opening.open(path, options)

    assert opened.options == options
    assert opened.location == str(path)
    assert opened.owned
    assert opened.header.info.number_of_frames == 10
    assert opened.index.count == 10
    opened.close()


def test_open_options_are_values_that_pickle() -> None:
    import pickle

    options = OpenOptions(overrides={"Rows": 4}, index_dir=Path("x"), cache_bytes=5)

    assert pickle.loads(pickle.dumps(options)) == options
    assert options.index_dir == "x"
    with pytest.raises(ValueError, match="a cache budget must be >= 0 bytes, got -1"):
        OpenOptions(cache_bytes=-1)


def test_a_callers_source_is_never_closed() -> None:
    source = MemorySource(make(EXPLICIT_LE), name=NAME)

    opened = opening.open(source)
    opened.close()

    assert not opened.owned
    assert bytes(source.view(0, 4)) == make(EXPLICIT_LE)[:4]


# -- Deflated Explicit VR Little Endian ------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_deflated_dataset_is_read_from_an_inflated_source(private_tempdir: Path) -> None:
    data = make(DEFLATED_EXPLICIT_LE)
    inflated_dataset = synth.dataset(IMAGE, PIXELS, transfer_syntax_uid=DEFLATED_EXPLICIT_LE)
    source = MemorySource(data, name=NAME)

    opened = opening.open(source)
    parsed = opened.header

    assert opened.source is not source
    assert opened.owned  # the inflated copy is lazydcm's own
    assert isinstance(opened.source, LocalFileSource)
    assert opened.source.size == len(inflated_dataset)
    assert parsed.pixel.offset == len(inflated_dataset) - len(PIXELS) - 12
    assert bytes(opened.source.view(parsed.pixel.value_offset, len(PIXELS))) == PIXELS
    assert parsed.transfer_syntax.deflated
    assert parsed.info.rows == IMAGE.rows
    opened.close()


def test_real_deflated_file_pixels_match_pydicom() -> None:
    path = real_file("image_dfl.dcm")
    ds = pydicom.dcmread(path)

    opened = opening.open(path)
    parsed = opened.header

    assert parsed.pixel.length == len(ds.PixelData)
    assert bytes(opened.source.view(parsed.pixel.value_offset, parsed.pixel.length)) == (
        ds.PixelData
    )
    assert "(inflated)" in opened.source.name
    opened.close()


def test_inflated_temporary_file_leaves_nothing_behind(private_tempdir: Path) -> None:
    data = make(DEFLATED_EXPLICIT_LE)
    before = open_fds()

    opened = parse(data)
    during = os.listdir(private_tempdir)
    opened.close()

    assert during == []  # unlinked as soon as it was created
    assert os.listdir(private_tempdir) == []
    assert open_fds() == before


def test_failed_walk_after_inflating_closes_the_temporary_file(private_tempdir: Path) -> None:
    data = make(DEFLATED_EXPLICIT_LE, extra=[(0x00280010, "US", 0)])  # Rows 0: invalid
    with pytest.raises(InvalidDicomError):
        parse(data)  # warm up: first use may open descriptors of its own
    before = open_fds()

    for _ in range(3):
        with pytest.raises(InvalidDicomError, match=r"\(0028,0010\) 'Rows' value 0"):
            parse(data)

    assert open_fds() == before
    assert os.listdir(private_tempdir) == []


def test_corrupt_deflate_stream_is_invalid_dicom(private_tempdir: Path) -> None:
    data = synth.preamble() + synth.file_meta(DEFLATED_EXPLICIT_LE) + b"\xff" * 64
    before = open_fds()

    with pytest.raises(InvalidDicomError, match=rf"{NAME}: the deflated dataset is corrupt"):
        parse(data)

    assert open_fds() == before
    assert os.listdir(private_tempdir) == []
