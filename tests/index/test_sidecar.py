"""Reusing parsed headers and frame tables across opens (lazydcm.index.sidecar)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import real_file

import lazydcm
from lazydcm.index import sidecar as index_cache
from lazydcm.testing import synth

J2K = "1.2.840.10008.1.2.4.90"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    lazydcm.clear_index_cache()
    yield
    lazydcm.clear_index_cache()


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    """A J2K file with an empty BOT, whose frame table needs a scan of its items."""
    with lazydcm.FrameSequence(real_file("emri_small_jpeg_2k_lossless.dcm")) as frames:
        streams = [bytes(frames.encoded_frame(i)) for i in range(len(frames))]
    image = synth.ImagePixel(64, 64, bits_stored=12, number_of_frames=len(streams))
    path = tmp_path / "scanned.dcm"
    synth.write_encapsulated(path, streams, image, transfer_syntax_uid=J2K, bot="empty")
    return path


def _forbid_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any header walk or frame-table build fail: only a cache hit can open."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr("lazydcm.opening.read_meta", refuse)
    monkeypatch.setattr("lazydcm.opening.read_dataset", refuse)
    monkeypatch.setattr("lazydcm.opening.build_index", refuse)


def test_opening_an_unchanged_file_again_reuses_its_table(
    scanned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lazydcm.FrameSequence(scanned) as first:
        expected = first[:]
        assert first.offset_table == "scan"

    _forbid_walks(monkeypatch)
    with lazydcm.FrameSequence(scanned) as again:
        assert again.offset_table == "scan"
        assert again.header["Rows"] == 64
        np.testing.assert_array_equal(again[:], expected)
        assert not again.reader.index.offsets.flags.writeable  # shared, so read-only


def test_a_changed_file_is_parsed_again(scanned: Path) -> None:
    with lazydcm.FrameSequence(scanned) as first:
        assert len(first) == 10
    # Rewrite the file with one frame fewer (a new size and modification time).
    with lazydcm.FrameSequence(scanned) as frames:
        streams = [bytes(frames.encoded_frame(i)) for i in range(9)]
    time.sleep(0.01)
    image = synth.ImagePixel(64, 64, bits_stored=12, number_of_frames=9)
    synth.write_encapsulated(scanned, streams, image, transfer_syntax_uid=J2K, bot="empty")

    with lazydcm.FrameSequence(scanned) as again:
        assert len(again) == 9


def test_clear_index_cache_forgets(scanned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lazydcm.FrameSequence(scanned).close()
    lazydcm.clear_index_cache()
    _forbid_walks(monkeypatch)

    with pytest.raises(AssertionError, match="parsed again"):
        lazydcm.FrameSequence(scanned)


def test_tables_checked_as_frames_are_read_are_not_kept(tmp_path: Path) -> None:
    with lazydcm.FrameSequence(real_file("emri_small_jpeg_2k_lossless.dcm")) as frames:
        streams = [bytes(frames.encoded_frame(i)) for i in range(3)]
    path = tmp_path / "bot.dcm"
    image = synth.ImagePixel(64, 64, bits_stored=12, number_of_frames=3)
    synth.write_encapsulated(path, streams, image, transfer_syntax_uid=J2K, bot="full")

    with lazydcm.FrameSequence(path) as frames:
        assert frames.offset_table == "bot"
        key = index_cache.file_key(str(path.resolve()), frames.reader.opened.source)
    assert key is not None
    assert index_cache.load(key, None) is None


def test_bytes_and_file_objects_are_not_cached(scanned: Path) -> None:
    data = scanned.read_bytes()
    with lazydcm.FrameSequence(data) as frames:
        assert index_cache.file_key(None, frames.reader.opened.source) is None


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = index_cache._Cache(max_entries=2, max_bytes=100)

    def entry(nbytes: int) -> index_cache._Entry:
        offsets = np.zeros(nbytes // 16, dtype=np.int64)
        table = lazydcm.index.FrameIndex("scan", offsets, offsets, len(offsets))
        return (None, table)  # type: ignore[return-value]

    for k in range(3):
        cache.put(("f", 0, k, 0, 0), entry(32))
    assert cache.get(("f", 0, 0, 0, 0)) is None  # the oldest went: 2 entries at most
    cache.put(("big", 0, 0, 0, 0), entry(160))  # larger than the budget: not kept
    assert cache.get(("big", 0, 0, 0, 0)) is None
    cache.put(("f", 0, 9, 0, 0), entry(96))  # 96 + 32 > 100: the older one goes
    assert cache.get(("f", 0, 2, 0, 0)) is None
    assert cache.get(("f", 0, 9, 0, 0)) is not None


def test_a_sidecar_index_lets_a_new_process_skip_the_scan(scanned: Path, tmp_path: Path) -> None:
    # Arrange: the first process writes the sidecar into a folder of its own.
    folder = tmp_path / "index"
    with lazydcm.FrameSequence(scanned, index_dir=folder) as frames:
        expected = frames[-1]
    assert len(list(folder.glob("lazydcm-*.npz"))) == 1
    assert not list(scanned.parent.glob("*.npz"))  # never next to the data

    # Act: a new process whose scan would fail opens the file through the sidecar.
    code = (
        "import sys, numpy as np, lazydcm.index as e\n"
        "def refuse(*a, **k): raise SystemExit('scanned again')\n"
        "e.scan_index = refuse\n"
        "import lazydcm\n"
        f"with lazydcm.FrameSequence({str(scanned)!r}, index_dir={str(folder)!r}) as f:\n"
        "    np.save(sys.stdout.buffer, f[-1])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)

    # Assert
    assert result.returncode == 0, result.stderr.decode()
    got = np.load(__import__("io").BytesIO(result.stdout))
    np.testing.assert_array_equal(got, expected)


def test_a_stale_or_broken_sidecar_is_ignored(scanned: Path, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    lazydcm.FrameSequence(scanned, index_dir=folder).close()
    sidecar = next(folder.glob("lazydcm-*.npz"))
    sidecar.write_bytes(b"not an npz file")
    lazydcm.clear_index_cache()

    with lazydcm.FrameSequence(scanned, index_dir=folder) as frames:
        assert len(frames) == 10
    assert os.path.getsize(sidecar) > 100  # rewritten whole


def test_a_sidecar_cut_short_is_ignored(scanned: Path, tmp_path: Path) -> None:
    # Arrange: half of a sidecar (a copy interrupted, a disk that filled up).
    folder = tmp_path / "index"
    lazydcm.FrameSequence(scanned, index_dir=folder).close()
    sidecar = next(folder.glob("lazydcm-*.npz"))
    sidecar.write_bytes(sidecar.read_bytes()[: os.path.getsize(sidecar) // 2])
    lazydcm.clear_index_cache()

    # Act
    with lazydcm.FrameSequence(scanned, index_dir=folder) as frames:
        count = len(frames)

    # Assert
    assert count == 10
    assert not list(folder.glob("*.tmp"))


def test_a_sidecar_pointing_past_the_file_is_ignored(scanned: Path, tmp_path: Path) -> None:
    # Arrange: a well-formed sidecar whose frame lengths reach past the file's end.
    folder = tmp_path / "index"
    with lazydcm.FrameSequence(scanned, index_dir=folder) as frames:
        expected = frames[-1]
    sidecar = next(folder.glob("lazydcm-*.npz"))
    with np.load(sidecar) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["lengths"] = arrays["lengths"] + os.path.getsize(scanned)
    with open(sidecar, "wb") as out:
        np.savez(out, **arrays)
    lazydcm.clear_index_cache()

    # Act: the file is scanned again rather than read by the bad table.
    with lazydcm.FrameSequence(scanned, index_dir=folder) as frames:
        got = frames[-1]

    # Assert
    np.testing.assert_array_equal(got, expected)


def test_a_sidecar_that_cannot_be_written_warns_and_the_file_still_opens(
    scanned: Path, tmp_path: Path
) -> None:
    # Arrange: the cache folder's place is taken by a file, so it cannot be created.
    folder = tmp_path / "not-a-folder"
    folder.write_bytes(b"")

    # Act
    with pytest.warns(lazydcm.LazyDcmWarning, match="could not be kept in"):
        frames = lazydcm.FrameSequence(scanned, index_dir=folder)

    # Assert: the file opened and reads; the process-wide cache still has it.
    with frames:
        assert frames[0].shape == frames.frame_shape
    with lazydcm.FrameSequence(scanned, index_dir=None) as again:
        assert again.offset_table == frames.offset_table
