"""Parallel read-ahead (lazydcm/parallel.py): same frames as serial, errors, no leftovers.

Worker processes start with "forkserver": they are children of the fork
server, not of the test process, so "no process left behind" is checked on the
pool's own process ids (and on multiprocessing's list of active children); the
fork server and the resource tracker are multiprocessing's, and live as long as
the test process.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import real_file

import lazydcm
from lazydcm import parallel
from lazydcm.testing import synth

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
ROWS, COLUMNS, FRAMES = 48, 40, 24


def _image(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return rng.integers(0, 1 << 12, (ROWS, COLUMNS), dtype=np.uint16)


def _write_j2k(path: Path, frames: list[bytes]) -> Path:
    image = synth.ImagePixel(
        ROWS, COLUMNS, bits_allocated=16, bits_stored=12, number_of_frames=len(frames)
    )
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=J2K_LOSSLESS, bot="full")
    return path


@pytest.fixture(scope="module")
def codestreams() -> list[bytes]:
    from openjpeg.utils import encode_array

    return [
        encode_array(_image(k), bits_stored=12, photometric_interpretation=2) for k in range(FRAMES)
    ]


@pytest.fixture(scope="module")
def j2k_file(tmp_path_factory: pytest.TempPathFactory, codestreams: list[bytes]) -> Path:
    """24 distinct 48x40 12-bit frames, J2K lossless."""
    return _write_j2k(tmp_path_factory.mktemp("parallel") / "j2k.dcm", codestreams)


@pytest.fixture(scope="module")
def broken_file(tmp_path_factory: pytest.TempPathFactory, codestreams: list[bytes]) -> Path:
    """The same frames, but frame 5's codestream is cut in half."""
    frames = list(codestreams)
    frames[5] = frames[5][: len(frames[5]) // 2]
    return _write_j2k(tmp_path_factory.mktemp("parallel") / "broken.dcm", frames)


def _serial(source: object, **options: object) -> list[np.ndarray]:
    with lazydcm.FrameSequence(source, workers=0, **options) as seq:  # type: ignore[arg-type]
        return list(seq)


def _gone(pids: list[int]) -> bool:
    """True when none of `pids` is a live process (zombies count as alive)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
        return False
    return True


def _segment_exists(name: str) -> bool:
    try:
        segment = SharedMemory(name=name)
    except FileNotFoundError:
        return False
    segment.close()
    return True


def _assert_same(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


# -- the same frames as serial iteration ------------------------------------------------


def test_j2k_frames_decoded_in_processes_equal_serial_ones(j2k_file: Path) -> None:
    # Arrange
    expected = _serial(j2k_file)

    # Act
    with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
        got = list(seq)
        pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ProcessPool)
    _assert_same(got, expected)
    assert [f.flags.writeable and f.flags.owndata for f in got] == [True] * FRAMES


def test_frames_at_given_indices_come_in_the_order_given(j2k_file: Path) -> None:
    # Arrange
    expected = _serial(j2k_file)
    order = [7, 3, 3, 23, 0, -1, 12, 5, 6]

    # Act
    with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
        got = list(seq.iter_frames(order))

    # Assert
    _assert_same(got, [expected[i] for i in order])


def test_frames_decoded_in_threads_by_imagecodecs_equal_serial_ones(j2k_file: Path) -> None:
    # Arrange
    pytest.importorskip("imagecodecs")
    expected = _serial(j2k_file)

    # Act
    with lazydcm.FrameSequence(j2k_file, workers=2, decoder="imagecodecs") as seq:
        got = list(seq)
        pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ThreadPool)
    _assert_same(got, expected)


@pytest.mark.parametrize(
    "name",
    [
        "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000, openjpeg
        "emri_small_jpeg_ls_lossless.dcm",  # JPEG-LS, libjpeg
        "emri_small_RLE.dcm",  # RLE, pylibjpeg-rle
        "examples_ybr_color.dcm",  # JPEG Baseline YBR_FULL_422, returned as RGB
    ],
)
def test_real_files_give_the_same_frames_in_parallel(name: str) -> None:
    # Arrange
    path = real_file(name)
    with lazydcm.FrameSequence(path, workers=0) as seq:
        expected = list(seq)
        photometric = seq.photometric_interpretation

    # Act
    with lazydcm.FrameSequence(path, workers=2) as seq:
        got = list(seq)
        pool = seq._pool

        # Assert
        assert seq.photometric_interpretation == photometric
    assert isinstance(pool, parallel.ProcessPool)
    _assert_same(got, expected)


@pytest.mark.parametrize("kind", ["bytes", "file object"])
def test_sources_without_a_path_decode_in_threads(j2k_file: Path, kind: str) -> None:
    # Arrange
    expected = _serial(j2k_file)
    data = j2k_file.read_bytes()
    source = data if kind == "bytes" else io.BytesIO(data)

    # Act
    with lazydcm.FrameSequence(source, workers=2) as seq:
        got = list(seq)
        pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ThreadPool)
    _assert_same(got, expected)


def test_a_path_that_now_names_another_file_decodes_the_opened_one_in_threads(
    tmp_path: Path, j2k_file: Path, broken_file: Path
) -> None:
    # Arrange: open a file, then put another one in its place.
    path = tmp_path / "moving.dcm"
    path.write_bytes(j2k_file.read_bytes())
    expected = _serial(path)
    seq = lazydcm.FrameSequence(path, workers=2)
    replacement = tmp_path / "new.dcm"
    replacement.write_bytes(broken_file.read_bytes())
    os.replace(replacement, path)

    # Act
    with seq:
        got = list(seq)
        pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ThreadPool)
    _assert_same(got, expected)


def test_two_interleaved_iterations_share_one_sequence(j2k_file: Path) -> None:
    # Arrange
    expected = _serial(j2k_file)

    # Act: the second iteration finds the workers busy and decodes in its thread.
    with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
        pairs = list(zip(iter(seq), seq.iter_frames(range(FRAMES - 1, -1, -1)), strict=True))

    # Assert
    _assert_same([a for a, _ in pairs], expected)
    _assert_same([b for _, b in pairs], expected[::-1])


def test_read_ahead_is_bounded_by_the_cache_budget(j2k_file: Path) -> None:
    frame = ROWS * COLUMNS * 2

    def depth(cache_bytes: int, decoder: str = "pylibjpeg") -> int:
        with lazydcm.FrameSequence(j2k_file, decoder=decoder) as seq:
            return parallel.plan(seq.reader, 2, cache_bytes=cache_bytes).depth

    # Processes: a frame a task, at least one a worker, two a worker at most.
    assert depth(0) == 2
    assert depth(3 * frame) == 3
    assert depth(1 << 30) == 4
    # Threads: tasks of about a MiB of frames (here all 24 of them fit one task).
    assert depth(0, "imagecodecs") == FRAMES
    with lazydcm.FrameSequence(j2k_file, decoder="imagecodecs") as seq:
        batch = parallel.plan(seq.reader, 2, cache_bytes=0).batch
    assert batch == min(16, parallel.TASK_BYTES // frame)


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 0])
def test_a_decode_error_surfaces_at_its_frame_as_in_serial(broken_file: Path, workers: int) -> None:
    # Arrange
    with (
        lazydcm.FrameSequence(broken_file, workers=0) as seq,
        pytest.raises(lazydcm.DecodeError) as serial,
    ):
        seq[5]
    got: list[np.ndarray] = []

    # Act
    with lazydcm.FrameSequence(broken_file, workers=workers) as seq:
        with pytest.raises(lazydcm.DecodeError) as parallel_error:
            got.extend(seq)
        # The workers go on serving the next iteration.
        after = list(seq.iter_frames([6, 7]))

    # Assert: frames 0-4 came out, then frame 5's error, same type and message.
    assert len(got) == 5
    assert type(parallel_error.value) is type(serial.value)
    assert str(parallel_error.value) == str(serial.value)
    assert "frame 5" in str(parallel_error.value)
    assert len(after) == 2


def test_errors_and_abandoned_iterations_give_every_slot_back(broken_file: Path) -> None:
    # Arrange
    with lazydcm.FrameSequence(broken_file, workers=2) as seq:
        # Act: more errors and abandoned iterations than the ring has slots.
        for _ in range(6):
            with pytest.raises(lazydcm.DecodeError):
                list(seq)
            frames = iter(seq)
            next(frames)
            next(frames)
            frames.close()  # type: ignore[attr-defined]
        got = list(seq.iter_frames([0, 1, 2, 3, 4] * 4))
        pool = seq._pool

        # Assert
        assert isinstance(pool, parallel.ProcessPool)
        assert len(got) == 20
        assert sorted(pool._free) == list(range(pool.slots))
        assert pool._sent == {}
        assert pool._answers == {}


def test_a_worker_killed_midway_gives_a_decode_error_then_new_workers(
    j2k_file: Path,
) -> None:
    # Arrange
    expected = _serial(j2k_file)
    with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
        frames = iter(seq)
        next(frames)
        pool = seq._pool
        assert isinstance(pool, parallel.ProcessPool)
        killed = pool.pids[0]

        # Act
        os.kill(killed, signal.SIGKILL)
        with pytest.raises(lazydcm.LazyDcmError, match=r"stopped \(killed by SIGKILL\)"):
            list(frames)
        again = list(seq)

        # Assert
        assert killed not in pool.pids
        assert len(pool.pids) == 2
    _assert_same(again, expected)


@pytest.mark.parametrize(
    ("name", "replacement", "warning"),
    [
        # /dev/shm full (a worker writing past it would die of SIGBUS)
        ("shm_room", lambda: 0, "shared memory"),
    ],
    ids=["no-shared-memory"],
)
def test_workers_that_cannot_start_fall_back_to_threads(
    j2k_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    replacement: Callable[..., object],
    warning: str,
) -> None:
    # Arrange
    monkeypatch.setattr(parallel.processes, name, replacement)
    expected = _serial(j2k_file)

    # Act
    with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
        with pytest.warns(lazydcm.LazyDcmWarning, match=warning):
            got = list(seq)
        pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ThreadPool)
    assert multiprocessing.active_children() == []
    _assert_same(got, expected)


def test_workers_that_find_another_file_fall_back_to_threads(
    j2k_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: the file is replaced between the caller's check and the workers' open.
    path = tmp_path / "replaced.dcm"
    path.write_bytes(j2k_file.read_bytes())
    expected = _serial(path)
    monkeypatch.setattr(parallel, "_same_file", lambda reader: True)

    # Act
    with lazydcm.FrameSequence(path, workers=2) as seq:
        path.unlink()
        path.write_bytes(real_file("emri_small_jpeg_2k_lossless.dcm").read_bytes())
        with pytest.warns(lazydcm.LazyDcmWarning, match="no longer the file"):
            got = list(seq)
        pool = seq._pool

    # Assert: the frames of the file the caller opened, decoded in threads.
    assert isinstance(pool, parallel.ThreadPool)
    _assert_same(got, expected)


def test_a_daemonic_process_decodes_in_threads(
    j2k_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: as in a multiprocessing.Pool or PyTorch DataLoader worker, which
    # may not start processes of its own.
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)

    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lazydcm.FrameSequence(j2k_file, workers=2) as seq:
            got = list(seq)
            pool = seq._pool

    # Assert
    assert isinstance(pool, parallel.ThreadPool)
    assert len(got) == FRAMES


# -- lifetime -------------------------------------------------------------------------


def _started(path: Path) -> tuple[lazydcm.FrameSequence, Iterator[np.ndarray]]:
    seq = lazydcm.FrameSequence(path, workers=2)
    frames = iter(seq)
    next(frames)
    return seq, frames


def test_closing_a_sequence_stops_its_workers(j2k_file: Path) -> None:
    # Arrange
    seq, frames = _started(j2k_file)
    list(frames)
    pool = seq._pool
    assert isinstance(pool, parallel.ProcessPool)
    pids, segment = pool.pids, pool.shm_name
    assert len(pids) == 2
    assert not _gone(pids)

    # Act
    seq.close()
    seq.close()  # idempotent

    # Assert
    assert _gone(pids)
    assert multiprocessing.active_children() == []
    assert not _segment_exists(segment)


def test_an_abandoned_iteration_leaves_nothing_behind(j2k_file: Path) -> None:
    # Arrange
    expected = _serial(j2k_file)
    seq, frames = _started(j2k_file)
    pool = seq._pool
    assert isinstance(pool, parallel.ProcessPool)
    pids, segment = pool.pids, pool.shm_name

    # Act: give up after two frames; the next iteration gets every frame right
    # (the abandoned one's answers are dropped), then close.
    next(frames)
    frames.close()  # type: ignore[attr-defined]
    again = list(seq)
    partial = iter(seq)
    next(partial)
    seq.close()

    # Assert
    _assert_same(again, expected)
    assert _gone(pids)
    assert multiprocessing.active_children() == []
    assert not _segment_exists(segment)
    with pytest.raises(ValueError, match="closed"):
        next(partial)


def test_workers_do_not_repeat_the_warnings_of_opening(j2k_file: Path, tmp_path: Path) -> None:
    # Arrange: a cut file warns when opened; a script of its own, since workers
    # write to the stderr of the fork server, which pytest does not capture.
    data = j2k_file.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) * 3 // 4])
    script = tmp_path / "iterate.py"
    script.write_text(
        "import sys, lazydcm\n"
        "if __name__ == '__main__':\n"
        "    with lazydcm.FrameSequence(sys.argv[1], workers=2) as seq:\n"
        "        frames = list(seq.iter_frames(range(seq.reader.index.present)))\n"
        "        print(type(seq._pool).__name__, len(frames))\n"
    )

    # Act
    result = subprocess.run(
        [sys.executable, str(script), str(cut)], capture_output=True, text=True, check=False
    )

    # Assert: the caller's one warning, none from the two workers.
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "ProcessPool"
    assert result.stderr.count("frames are complete") == 1, result.stderr


def test_a_closed_sequence_starts_no_workers(j2k_file: Path) -> None:
    # Arrange: workers open the file by path, so they would read it after close().
    seq = lazydcm.FrameSequence(j2k_file, workers=2)
    seq.close()

    # Act / Assert
    with pytest.raises(ValueError, match="closed"):
        list(seq)
    assert seq._pool is None
    assert multiprocessing.active_children() == []


def test_a_sequence_dropped_unclosed_stops_its_workers(j2k_file: Path) -> None:
    # Arrange
    seq, frames = _started(j2k_file)
    pool = seq._pool
    assert isinstance(pool, parallel.ProcessPool)
    pids, segment = pool.pids, pool.shm_name

    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del seq, frames, pool
        import gc

        gc.collect()

    # Assert
    assert _gone(pids)
    assert not _segment_exists(segment)


# -- how many workers, of which kind (issue 11, items 1 and 2) -----------------------


def test_the_default_never_starts_a_process_and_a_script_runs_once(
    j2k_file: Path, tmp_path: Path
) -> None:
    # Arrange: a script without an `if __name__ == "__main__":` guard, whose side
    # effect (a line printed) would happen again in every worker process.
    script = tmp_path / "script.py"
    script.write_text(
        "import sys, multiprocessing, lazydcm\n"
        "print('side effect', flush=True)\n"
        "for frame in lazydcm.iter_pixels(sys.argv[1]):\n"
        "    pass\n"
        "print('children', len(multiprocessing.active_children()))\n"
    )

    # Act
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script), str(j2k_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    # Assert
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["side effect", "children 0"]
    assert "Warning" not in result.stderr


@pytest.mark.parametrize(
    ("decoder", "workers", "kind"),
    [
        ("pylibjpeg", None, None),  # holds the GIL: serial unless asked
        ("imagecodecs", None, parallel.ThreadPool),  # releases it: threads by default
        ("pylibjpeg", 2, parallel.ProcessPool),  # asked for: processes
        ("imagecodecs", 2, parallel.ThreadPool),
        ("pylibjpeg", 0, None),
        ("pylibjpeg", 1, None),
    ],
)
def test_the_kind_of_workers_follows_the_backend_and_the_request(
    j2k_file: Path,
    decoder: str,
    workers: int | None,
    kind: type | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "available_cpus", lambda: 2)
    expected = _serial(j2k_file)

    with lazydcm.FrameSequence(j2k_file, decoder=decoder, workers=workers) as seq:
        got = list(seq)
        pool = seq._pool

    assert (pool is None) if kind is None else isinstance(pool, kind)
    _assert_same(got, expected)


def test_workers_minus_one_is_every_usable_cpu(
    j2k_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "available_cpus", lambda: 6)
    with lazydcm.FrameSequence(j2k_file) as seq:
        assert parallel.plan(seq.reader, -1, cache_bytes=0).workers == 6
        assert parallel.plan(seq.reader, -2, cache_bytes=0).workers == 5
        assert parallel.plan(seq.reader, None, cache_bytes=0).kind == "serial"  # pylibjpeg
    with lazydcm.FrameSequence(j2k_file, decoder="imagecodecs") as seq:
        default = parallel.plan(seq.reader, None, cache_bytes=0)
    assert (default.kind, default.workers) == ("threads", 6)


def test_the_cpus_counted_are_those_the_process_may_use(tmp_path: Path) -> None:
    # Affinity: pinned to one core by taskset, in a process of its own.
    code = "from lazydcm.parallel import available_cpus; print(available_cpus())"
    pinned = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert pinned.stdout.strip() == "1"
    # A cgroup CPU quota (v2 and v1 layouts), as a container runtime writes it.
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    unlimited = tmp_path / "max"
    unlimited.mkdir()
    (unlimited / "cpu.max").write_text("max 100000\n")
    cpus = len(os.sched_getaffinity(0))

    assert parallel.available_cpus(v2) == min(cpus, 2)  # 1.5 CPUs: two may run
    assert parallel.available_cpus(v1) == 1
    assert parallel.available_cpus(unlimited) == cpus
    assert parallel.available_cpus(tmp_path / "none") == cpus
