"""FrameSequence.to_dask (lazydcm/interop/dask.py): same values as NumPy, on any scheduler.

Files: real ones (JPEG 2000 lossless, RLE, JPEG Baseline YBR, native little and
big endian) and synthetic ones from :mod:`lazydcm.testing.synth` (native, and JPEG 2000
lossless with a Basic Offset Table).  Reductions computed by Dask (threads, the
synchronous scheduler, a ``dask.distributed.LocalCluster`` of two worker
processes) are compared with the same reductions over ``frames[:]``.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import real_file

import lazydcm
from lazydcm.frames import FrameReader
from lazydcm.interop import dask as dask_array
from lazydcm.opening import Opened
from lazydcm.testing import synth

da = pytest.importorskip("dask.array")

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
REAL = [
    "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000 lossless, 10 frames
    "emri_small_RLE.dcm",  # RLE Lossless
    "examples_ybr_color.dcm",  # JPEG Baseline YBR_FULL_422, 30 frames, returned as RGB
    "emri_small.dcm",  # native Explicit VR Little Endian
    "emri_small_big_endian.dcm",  # native Explicit VR Big Endian
]


def _frames(k: int, shape: tuple[int, ...] = (48, 40)) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 1 << 12, shape, dtype=np.uint16)


@pytest.fixture(scope="module")
def native_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 distinct 48x40 uint16 frames, Explicit VR Little Endian."""
    path = tmp_path_factory.mktemp("dask") / "native.dcm"
    image = synth.ImagePixel(48, 40, bits_allocated=16, bits_stored=12, number_of_frames=25)
    synth.write_native(path, np.stack([_frames(k) for k in range(25)]), image)
    return path


@pytest.fixture(scope="module")
def j2k_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """17 distinct 48x40 12-bit frames, JPEG 2000 lossless, with a full BOT."""
    from openjpeg.utils import encode_array

    codestreams = [
        encode_array(_frames(k), bits_stored=12, photometric_interpretation=2) for k in range(17)
    ]
    path = tmp_path_factory.mktemp("dask") / "j2k.dcm"
    image = synth.ImagePixel(48, 40, bits_allocated=16, bits_stored=12, number_of_frames=17)
    synth.write_encapsulated(path, codestreams, image, transfer_syntax_uid=J2K_LOSSLESS, bot="full")
    return path


@pytest.fixture
def decoded() -> Iterator[list[int]]:
    """The frames this process decodes, in order (FrameReader.decode counted)."""
    calls: list[int] = []
    original = FrameReader.decode

    def counting(self: FrameReader, i: int) -> np.ndarray:
        calls.append(i)
        return original(self, i)

    FrameReader.decode = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        FrameReader.decode = original  # type: ignore[method-assign]


def _reductions(stack: np.ndarray) -> dict[str, np.ndarray]:
    """What each test computes, with NumPy: per-frame mean, sum over frames, maximum."""
    axes = tuple(range(1, stack.ndim))
    return {
        "mean": stack.mean(axis=axes),
        "sum": stack.sum(axis=0, dtype=np.int64),
        "max": np.asarray(stack.max()),
    }


def _lazy_reductions(array: da.Array) -> dict[str, da.Array]:
    axes = tuple(range(1, array.ndim))
    return {
        "mean": array.mean(axis=axes),
        "sum": array.sum(axis=0, dtype=np.int64),
        "max": array.max(),
    }


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        # Means are summed in another order by chunk: equal to rounding.
        np.testing.assert_allclose(got[name], value, rtol=1e-12, err_msg=name)


# -- the array ------------------------------------------------------------------------


@pytest.mark.parametrize(("per_chunk", "chunks"), [(1, (1,) * 10), (3, (3, 3, 3, 1)), (25, (10,))])
def test_the_array_has_the_sequences_shape_dtype_and_frame_chunks(
    per_chunk: int, chunks: tuple[int, ...]
) -> None:
    # Arrange
    path = real_file("emri_small_jpeg_2k_lossless.dcm")

    # Act
    with lazydcm.FrameSequence(path) as seq:
        array = seq.to_dask(frames_per_chunk=per_chunk)
        shape, dtype = seq.shape, seq.dtype

    # Assert
    assert array.shape == shape
    assert array.dtype == dtype
    assert array.chunks == (chunks, (64,), (64,))


def test_colour_frames_are_chunked_whole_with_their_samples() -> None:
    # Arrange
    path = real_file("examples_ybr_color.dcm")

    # Act
    with lazydcm.FrameSequence(path) as seq:
        array = seq.to_dask(frames_per_chunk=4)

    # Assert
    assert array.chunks == ((4,) * 7 + (2,), (240,), (320,), (3,))


@pytest.mark.parametrize("name", REAL)
def test_reductions_on_the_threaded_scheduler_equal_numpy_on_real_files(name: str) -> None:
    # Arrange
    with lazydcm.FrameSequence(real_file(name)) as seq:
        expected = _reductions(seq[:])

        # Act
        lazy = _lazy_reductions(seq.to_dask(frames_per_chunk=3))
        got = dict(zip(lazy, da.compute(*lazy.values(), scheduler="threads"), strict=True))

    # Assert
    _assert_same(got, expected)


@pytest.mark.parametrize("fixture", ["native_file", "j2k_file"])
@pytest.mark.parametrize("per_chunk", [1, 4])
def test_reductions_on_the_threaded_scheduler_equal_numpy_on_synthetic_files(
    request: pytest.FixtureRequest, fixture: str, per_chunk: int
) -> None:
    # Arrange
    path = request.getfixturevalue(fixture)
    with lazydcm.FrameSequence(path) as seq:
        expected = _reductions(seq[:])
        array = seq.to_dask(per_chunk)

    # Act: the sequence is closed; the tasks open the file themselves.
    lazy = _lazy_reductions(array)
    got = dict(zip(lazy, da.compute(*lazy.values(), scheduler="threads"), strict=True))

    # Assert
    _assert_same(got, expected)


def test_raw_and_the_decoder_are_those_the_sequence_was_opened_with() -> None:
    # Arrange: YBR_FULL_422 JPEG, as stored (raw) and as RGB.
    path = real_file("examples_ybr_color.dcm")
    with lazydcm.FrameSequence(path, raw=True) as seq:
        raw = seq.to_dask(8)
        expected_raw = seq[:]
    with lazydcm.FrameSequence(path) as seq:
        rgb = seq.to_dask(8)
        expected_rgb = seq[:]

    # Act
    got_raw, got_rgb = da.compute(raw, rgb, scheduler="threads")

    # Assert
    np.testing.assert_array_equal(got_raw, expected_raw)
    np.testing.assert_array_equal(got_rgb, expected_rgb)
    assert not np.array_equal(got_raw, got_rgb)


def test_overrides_reach_the_tasks(tmp_path: Path) -> None:
    # Arrange: a header that declares 1 frame of 3 (Number of Frames wrong).
    path = tmp_path / "wrong.dcm"
    image = synth.ImagePixel(8, 8, bits_allocated=8, number_of_frames=3)
    frames = np.arange(3 * 64, dtype=np.uint8).reshape(3, 8, 8)
    pixels = synth.native_pixels(frames, image)
    image = synth.ImagePixel(8, 8, bits_allocated=8, number_of_frames=1)
    path.write_bytes(synth.dicom_file(image, pixels))

    # Act
    with lazydcm.FrameSequence(path, overrides={"NumberOfFrames": 3}) as seq:
        array = seq.to_dask(2)

    # Assert
    assert array.shape == (3, 8, 8)
    np.testing.assert_array_equal(array.compute(scheduler="threads"), frames)


# -- reading only what is needed ------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "frames"),
    [
        (lambda a: a[7], [7]),
        (lambda a: a[2:4], [2, 3]),
        (lambda a: a[-1], [16]),
        (lambda a: a[::5], [0, 5, 10, 15]),
        (lambda a: a[6:9, :10, 20:].sum(), [6, 7, 8]),  # within frames: whole frames
    ],
    ids=["one", "slice", "last", "step", "region"],
)
def test_slicing_the_array_decodes_only_the_frames_it_needs(
    j2k_file: Path,
    decoded: list[int],
    select: Callable[[da.Array], da.Array],
    frames: list[int],
) -> None:
    # Arrange: chunks of 6 frames, so a slice is smaller than its chunk.
    with lazydcm.FrameSequence(j2k_file) as seq:
        array = seq.to_dask(frames_per_chunk=6)
        expected = select(seq[:])  # type: ignore[arg-type]
    decoded.clear()

    # Act
    got = select(array).compute(scheduler="sync")

    # Assert
    assert sorted(decoded) == frames
    np.testing.assert_array_equal(got, expected)


def test_a_list_of_frames_decodes_the_chunks_that_hold_them(
    j2k_file: Path, decoded: list[int]
) -> None:
    # Arrange: dask does not fold a list of indices into the chunk reads.
    with lazydcm.FrameSequence(j2k_file) as seq:
        array = seq.to_dask(frames_per_chunk=1)
        expected = seq[[3, 11]]
    decoded.clear()

    # Act
    got = array[[3, 11]].compute(scheduler="sync")

    # Assert
    assert sorted(decoded) == [3, 11]
    np.testing.assert_array_equal(got, expected)


def test_a_process_opens_each_file_once_for_all_its_tasks(j2k_file: Path) -> None:
    # Arrange
    dask_array.forget_opened()
    opened: list[str] = []
    original = FrameReader.__init__

    def counting(self: FrameReader, file: Opened) -> None:
        opened.append(str(file.location))
        time.sleep(0.05)  # slow, so that the scheduler's threads all ask meanwhile
        original(self, file)

    with lazydcm.FrameSequence(j2k_file) as seq:
        array = seq.to_dask(frames_per_chunk=1)

    # Act
    FrameReader.__init__ = counting  # type: ignore[method-assign]
    try:
        array.sum().compute(scheduler="threads", num_workers=4)
        array.mean().compute(scheduler="threads", num_workers=4)
    finally:
        FrameReader.__init__ = original  # type: ignore[method-assign]

    # Assert: 17 chunks, twice, one open.
    assert opened == [str(j2k_file)]


# -- the graph ------------------------------------------------------------------------


def test_the_graph_holds_no_pixel_bytes_and_pickles_small(j2k_file: Path) -> None:
    # Arrange
    with lazydcm.FrameSequence(j2k_file) as seq:
        array = seq.to_dask(frames_per_chunk=1)

    # Act
    frames = next(v for v in dict(array.dask).values() if isinstance(v, dask_array.FileFrames))
    size = len(pickle.dumps(frames))

    # Assert
    assert frames.path == str(j2k_file.resolve())
    assert size < 1024
    assert j2k_file.stat().st_size > 8 * size


def test_the_same_file_and_options_give_the_same_keys(j2k_file: Path) -> None:
    # Arrange
    with lazydcm.FrameSequence(j2k_file) as seq:
        first = seq.to_dask(2)
    with lazydcm.FrameSequence(j2k_file) as seq:
        again, other = seq.to_dask(2), seq.to_dask(3)
    with lazydcm.FrameSequence(j2k_file, raw=True) as seq:
        raw = seq.to_dask(2)

    # Assert
    assert first.name == again.name
    assert len({first.name, other.name, raw.name}) == 3


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "file object"])
def test_a_sequence_without_a_path_cannot_make_a_dask_array(j2k_file: Path, kind: str) -> None:
    # Arrange
    data = j2k_file.read_bytes()
    source = data if kind == "bytes" else io.BytesIO(data)

    # Act / Assert
    with (
        lazydcm.FrameSequence(source) as seq,
        pytest.raises(ValueError, match="needs a sequence opened from a path"),
    ):
        seq.to_dask()


@pytest.mark.parametrize("per_chunk", [0, -1, 1.5, True, "2"])
def test_frames_per_chunk_must_be_a_positive_int(j2k_file: Path, per_chunk: object) -> None:
    with (
        lazydcm.FrameSequence(j2k_file) as seq,
        pytest.raises(ValueError, match="frames_per_chunk must be a positive int"),
    ):
        seq.to_dask(per_chunk)  # type: ignore[arg-type]


def test_a_closed_sequence_cannot_make_a_dask_array(j2k_file: Path) -> None:
    seq = lazydcm.FrameSequence(j2k_file)
    seq.close()
    with pytest.raises(ValueError, match="closed"):
        seq.to_dask()


def test_a_file_changed_after_to_dask_raises_when_computed(tmp_path: Path, j2k_file: Path) -> None:
    # Arrange
    path = tmp_path / "changing.dcm"
    path.write_bytes(j2k_file.read_bytes())
    with lazydcm.FrameSequence(path) as seq:
        array = seq.to_dask()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    # Act / Assert
    with pytest.raises(lazydcm.LazyDcmError, match="changed after to_dask"):
        array[0].compute(scheduler="sync")


def test_a_file_replaced_after_opening_cannot_make_a_dask_array(
    tmp_path: Path, j2k_file: Path, native_file: Path
) -> None:
    # Arrange
    path = tmp_path / "replaced.dcm"
    path.write_bytes(j2k_file.read_bytes())
    with lazydcm.FrameSequence(path) as seq:
        (tmp_path / "new.dcm").write_bytes(native_file.read_bytes())
        os.replace(tmp_path / "new.dcm", path)

        # Act / Assert
        with pytest.raises(lazydcm.LazyDcmError, match="another file now"):
            seq.to_dask()


def test_without_dask_to_dask_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, j2k_file: Path
) -> None:
    # Arrange: None in sys.modules makes an import fail.
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)

    # Act / Assert
    with (
        lazydcm.FrameSequence(j2k_file) as seq,
        pytest.raises(ImportError, match=r'pip install "lazydcm\[dask\]"'),
    ):
        seq.to_dask()


def test_import_lazydcm_does_not_import_dask() -> None:
    # Act
    code = "import sys, lazydcm; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
        "('dask', 'distributed', 'lazydcm.interop.dask')))"  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    # Assert
    assert result.stdout.strip() == "[]"


# -- a dask.distributed cluster of worker processes ------------------------------------


def _descendants() -> set[int]:
    """This process's descendants, but multiprocessing's own helpers.

    The resource tracker (started by the first process that multiprocessing
    spawns) and the fork server live as long as this process, by design.
    """
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in command and "forkserver" not in command:
            pids.add(child.pid)
    return pids


def _wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """The processes of `pids` still alive (not zombies) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {pid for pid in alive if psutil.pid_exists(pid) and not _zombie(pid)}
    return alive


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _worker_state() -> tuple[int, list[str]]:
    """Run on each worker: its process id and the files it has open for tasks."""
    return os.getpid(), sorted(key[1] for key in dask_array._OPEN)


@pytest.mark.slow
def test_reductions_on_a_local_cluster_of_two_processes_equal_numpy(
    native_file: Path, j2k_file: Path
) -> None:
    # Arrange
    distributed = pytest.importorskip("distributed")
    paths = [native_file, j2k_file, real_file("examples_ybr_color.dcm")]
    arrays, expected = [], []
    for path in paths:
        with lazydcm.FrameSequence(path) as seq:
            expected.append(_reductions(seq[:]))
            arrays.append(seq.to_dask(frames_per_chunk=2))
    before = _descendants()

    # Act
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        workers = _descendants() - before
        lazy = [_lazy_reductions(array) for array in arrays]
        computed = client.compute([list(r.values()) for r in lazy], sync=True)
        states = client.run(_worker_state)

    # Assert: the values, computed in both worker processes, each file opened by path.
    for got, names, want in zip(computed, lazy, expected, strict=True):
        _assert_same(dict(zip(names, got, strict=True)), want)
    pids = {pid for pid, _ in states.values()}
    assert len(pids) == 2
    assert os.getpid() not in pids
    opened = [name for _, names in states.values() for name in names]
    assert sorted(set(opened)) == sorted(str(p.resolve()) for p in paths)
    # And no process is left behind.
    assert workers
    assert _wait_gone(_descendants() - before) == set()
