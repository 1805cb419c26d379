"""Tests for lazydcm.sources: every source passes the shipped contract suite
(lazydcm.testing.SourceTests), and what is particular to each is checked here."""

from __future__ import annotations

import gc
import io
import os
import random
import sys
import threading
import tracemalloc
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lazydcm.errors import InvalidDicomError, TruncatedFileError
from lazydcm.opening import source_for
from lazydcm.sources import (
    ByteSource,
    FileObjectSource,
    LocalFileSource,
    MemorySource,
    SourceStatus,
    inflate,
)
from lazydcm.testing import SourceTests

# 200 KiB: larger than FileObjectSource's 64 KiB block, so both of its read paths run.
DATA = np.random.default_rng(20240611).integers(0, 256, 200 * 1024, dtype=np.uint8).tobytes()
SIZE = len(DATA)


def open_fds() -> int:
    """The number of file descriptors this process has open (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def is_mapped(path: Path) -> bool:
    """True while some part of `path` is memory-mapped into this process (Linux)."""
    return str(path) in Path("/proc/self/maps").read_text()


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


# -- the contract suite, for every source --------------------------------------------


class TestLocalFileSource(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        path = tmp_path / "data.bin"
        path.write_bytes(data)
        return LocalFileSource(path)


class TestMemorySourceOfBytes(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        return MemorySource(data)


class TestMemorySourceOfABytearray(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        return MemorySource(bytearray(data))


class TestMemorySourceOfAMemoryview(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        return MemorySource(memoryview(data))


class TestMemorySourceOfAnArray(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        # A 2-D uint16 array: the source must see its bytes, not its items.
        return MemorySource(np.frombuffer(data, dtype=np.uint16).reshape(-1, 64))


class TestFileObjectSourceOfAFile(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        path = tmp_path / "data.bin"
        path.write_bytes(data)
        self.file = path.open("rb")
        return FileObjectSource(self.file)

    def release(self, source: ByteSource) -> None:
        source.close()
        self.file.close()


class TestFileObjectSourceOfBytesIO(SourceTests):
    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        return FileObjectSource(io.BytesIO(data))


class TestMemorySourceOfAPartOfAFile(SourceTests):
    """A part of a file held in memory, read at the file's offsets (its start included)."""

    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        return MemorySource(data, "part", origin=0)


def test_a_part_of_a_file_is_read_at_the_files_offsets() -> None:
    source = MemorySource(DATA[1000:2000], "part", origin=1000)

    assert source.size == 2000
    assert bytes(source.view(1500, 10)) == DATA[1500:1510]
    assert [bytes(v) for v in source.read_many([(1000, 4), (1996, 4)])] == [
        DATA[1000:1004],
        DATA[1996:2000],
    ]
    with pytest.raises(ValueError, match="before the part held in memory"):
        source.view(999, 2)
    with pytest.raises(TruncatedFileError, match="ends at byte 2000"):
        source.view(1999, 2)


# -- LocalFileSource -----------------------------------------------------------------------


def test_mmap_source_is_named_by_its_path(data_file: Path) -> None:
    source = LocalFileSource(data_file)

    assert source.name == str(data_file)
    source.close()


def test_mmap_view_stays_valid_after_close(data_file: Path) -> None:
    source = LocalFileSource(data_file)
    view = source.view(1000, 5000)

    source.close()

    assert bytes(view) == DATA[1000:6000]
    assert view[0] == DATA[1000]


def test_mmap_is_unmapped_when_the_last_view_goes(data_file: Path) -> None:
    source = LocalFileSource(data_file)
    view = source.view(0, 100)
    source.close()
    assert is_mapped(data_file)  # the view still needs it

    del view
    gc.collect()

    assert not is_mapped(data_file)  # while `source` is still alive


def test_mmap_close_without_views_unmaps_and_closes_the_fd(data_file: Path) -> None:
    before = open_fds()
    source = LocalFileSource(data_file)
    bytes(source.view(0, 10))

    source.close()

    assert not is_mapped(data_file)
    assert open_fds() == before


def test_mmap_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    source = LocalFileSource(path)

    assert source.size == 0
    assert bytes(source.view(0, 0)) == b""
    assert source.read_into(0, memoryview(bytearray(4))) == 0
    with pytest.raises(TruncatedFileError):
        source.view(0, 1)
    source.close()


def test_mmap_source_of_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LocalFileSource(tmp_path / "missing.dcm")


# -- MemorySource ---------------------------------------------------------------------


def test_buffer_source_never_writes_to_its_input() -> None:
    data = bytearray(DATA[:64])
    source = MemorySource(data)

    view = source.view(0, 8)

    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 1


def test_buffer_source_view_stays_valid_after_close() -> None:
    source = MemorySource(DATA)
    view = source.view(10, 20)

    source.close()

    assert bytes(view) == DATA[10:30]


# -- FileObjectSource -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_file_object_position_is_restored_after_every_read(data_file: Path, kind: str) -> None:
    f = data_file.open("rb") if kind == "file" else io.BytesIO(DATA)
    f.seek(1234)
    source = FileObjectSource(f)
    assert f.tell() == 1234

    small = bytes(source.view(100, 10))
    assert f.tell() == 1234
    large = bytes(source.view(50000, 40000))
    assert f.tell() == 1234
    count = source.read_into(SIZE - 10, memoryview(bytearray(100)))
    assert f.tell() == 1234

    assert small == DATA[100:110]
    assert large == DATA[50000:90000]
    assert count == 10
    assert f.read(6) == DATA[1234:1240]  # the caller reads on from where it was
    f.close()


def test_file_object_is_never_closed(data_file: Path) -> None:
    with data_file.open("rb") as f:
        source = FileObjectSource(f)
        bytes(source.view(0, 10))

        source.close()
        source.close()

        assert not f.closed
        assert f.read(4) == DATA[:4]


def test_file_object_that_shrank_gives_truncated_not_a_short_view() -> None:
    # Arrange: the object loses its tail after the source took its size.
    f = io.BytesIO(DATA)
    source = FileObjectSource(f)
    f.truncate(SIZE - 100)

    # Act / Assert: a small view (served from a block) and a large one alike.
    with pytest.raises(TruncatedFileError):
        source.view(SIZE - 50, 10)
    with pytest.raises(TruncatedFileError):
        source.view(SIZE - 50_000, 49_990)


def test_file_object_source_names(data_file: Path) -> None:
    with data_file.open("rb") as f:
        assert FileObjectSource(f).name == str(data_file)
    assert FileObjectSource(io.BytesIO(b"abc")).name == "<BytesIO>"


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_concurrent_reads_from_8_threads(data_file: Path, kind: str) -> None:
    f = data_file.open("rb") if kind == "file" else io.BytesIO(DATA)
    f.seek(77)
    source = FileObjectSource(f)
    failures: list[str] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            offset = rng.randrange(0, SIZE - 1)
            n = rng.choice([1, 8, 12, 200, 20000, 70000])
            n = min(n, SIZE - offset)
            how = rng.choice(["view", "read_into"])
            if how == "view":
                got = bytes(source.view(offset, n))
            else:
                out = bytearray(n)
                got = bytes(out[: source.read_into(offset, memoryview(out))])
            if got != DATA[offset : offset + n]:
                failures.append(f"{how}({offset}, {n})")

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, to interleave the reads
    try:
        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)

    assert failures == []
    assert f.tell() == 77
    f.close()


class _Trickle(io.RawIOBase):
    """A raw binary stream that returns at most 100 bytes per read, as raw I/O may."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._data)}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), 100, len(self._data) - self._pos))
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_file_object_read_into_loops_over_short_reads() -> None:
    source = FileObjectSource(_Trickle(DATA))
    out = bytearray(1000)

    count = source.read_into(5, memoryview(out))

    assert count == 1000
    assert bytes(out) == DATA[5:1005]


@pytest.mark.parametrize("n", [300, 40000])
def test_file_object_view_is_exact_over_short_reads(n: int) -> None:
    source = FileObjectSource(_Trickle(DATA))

    view = source.view(1000, n)

    assert bytes(view) == DATA[1000 : 1000 + n]


# -- source_for: the input a user gives, as a source -----------------------------------


def test_source_for_a_path_is_an_owned_local_file(data_file: Path) -> None:
    for src in (data_file, str(data_file)):
        source, owned, location = source_for(src)

        assert isinstance(source, LocalFileSource)
        assert owned is True
        assert location == str(data_file)
        assert source.size == SIZE
        source.close()


@pytest.mark.parametrize(
    "src", [DATA, bytearray(DATA), memoryview(DATA), np.frombuffer(DATA, np.uint8)]
)
def test_source_for_a_buffer_is_an_owned_memory_source(src: Any) -> None:
    source, owned, location = source_for(src)

    assert isinstance(source, MemorySource)
    assert owned is True
    assert location is None
    assert bytes(source.view(SIZE - 3, 3)) == DATA[-3:]


def test_source_for_a_file_object_is_not_owned() -> None:
    f = io.BytesIO(DATA)

    source, owned, location = source_for(f)

    assert isinstance(source, FileObjectSource)
    assert owned is False
    assert location is None
    assert source.size == SIZE


def test_source_for_a_file_object_in_text_mode_says_so(data_file: Path) -> None:
    with (
        data_file.open("r", encoding="latin-1") as f,
        pytest.raises(TypeError, match=r"text mode; open DICOM files in binary mode \('rb'\)"),
    ):
        source_for(f)


def test_source_for_a_directory_raises_invalid_dicom(tmp_path: Path) -> None:
    before = open_fds()

    with pytest.raises(InvalidDicomError, match="is not a regular file"):
        source_for(tmp_path)

    assert open_fds() == before  # the descriptor opened to check it is closed again


def test_source_for_a_fifo_raises_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    outcome: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            source_for(fifo)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=1.0)
    blocked = thread.is_alive()
    if blocked:  # open a writer so the blocked open() returns and no thread is left behind
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        thread.join(timeout=5.0)
        os.close(fd)

    assert not blocked, "source_for blocked on a FIFO"
    assert isinstance(outcome.get("error"), InvalidDicomError)


class _MySource:
    """A caller's own implementation of the ByteSource protocol."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.closed = False

    @property
    def name(self) -> str:
        return "<mine>"

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def status(self) -> SourceStatus | None:
        return None

    @property
    def zero_copy(self) -> bool:
        return False

    def view(self, offset: int, n: int) -> memoryview:
        return memoryview(self._data)[offset : offset + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        chunk = self._data[offset : offset + len(out)]
        out[: len(chunk)] = chunk
        return len(chunk)

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
        return [memoryview(bytearray(self._data[o : o + n])) for o, n in ranges]

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_source_for_a_byte_source_passes_it_through() -> None:
    mine = _MySource(DATA)

    source, owned, location = source_for(mine)

    assert source is mine
    assert owned is False
    assert location is None
    assert not mine.closed


@pytest.mark.parametrize("src", [42, 4.5, None, object()])
def test_source_for_something_else_is_a_type_error(src: Any) -> None:
    with pytest.raises(TypeError, match=f"not {type(src).__name__}"):
        source_for(src)


# -- zero-copy views ------------------------------------------------------------------


def test_a_view_of_a_local_file_is_zero_copy(data_file: Path) -> None:
    source = LocalFileSource(data_file)

    view = source.view(0, source.size)
    fd = os.open(data_file, os.O_WRONLY)
    os.pwrite(fd, b"\x01\x02\x03", 10)  # the shared mapping shows writes to the file
    os.close(fd)

    assert view is not None
    assert view.nbytes == SIZE
    assert bytes(view[10:13]) == b"\x01\x02\x03"
    del view
    source.close()


def test_a_view_of_a_buffer_is_zero_copy() -> None:
    data = bytearray(DATA)
    source = MemorySource(data)

    view = source.view(0, source.size)
    data[5] ^= 0xFF

    assert view is not None
    assert view.nbytes == SIZE
    assert view[5] == DATA[5] ^ 0xFF


def test_local_file_reads_after_open_never_touch_the_map(data_file: Path) -> None:
    # read_into and read_many use pread: bytes written to the file since show, and
    # nothing of the file is mapped by them.
    source = LocalFileSource(data_file)
    fd = os.open(data_file, os.O_WRONLY)
    os.pwrite(fd, b"\x07\x08", 20)
    os.close(fd)

    (copied,) = source.read_many([(20, 2)])
    out = bytearray(2)
    source.read_into(20, memoryview(out))

    assert bytes(copied) == bytes(out) == b"\x07\x08"
    source.close()


# -- inflate --------------------------------------------------------------------------


def _compressible(n: int) -> bytes:
    """`n` bytes that deflate well but not trivially."""
    rng = np.random.default_rng(3)
    return rng.choice(np.frombuffer(b"ACGT\x00\x01", np.uint8), n).astype(np.uint8).tobytes()


@pytest.mark.parametrize("wrap", ["buffer", "fileobj"])
def test_inflate_round_trips_a_few_megabytes(private_tempdir: Path, wrap: str) -> None:
    raw = _compressible(3 << 20)
    prefix = b"META" * 33
    data = prefix + raw_deflate(raw) + b"\x00"  # PS3.5 A.5 pads the stream to even length
    source: ByteSource = (
        MemorySource(data) if wrap == "buffer" else FileObjectSource(io.BytesIO(data))
    )

    inflated = inflate(source, len(prefix))

    assert isinstance(inflated, LocalFileSource)
    assert inflated.size == len(raw)
    assert bytes(inflated.view(0, inflated.size)) == raw
    assert "(inflated)" in inflated.name
    assert os.listdir(private_tempdir) == []  # the temporary file is already unlinked
    inflated.close()


def test_inflate_leaves_nothing_behind(private_tempdir: Path) -> None:
    before = open_fds()
    inflated = inflate(MemorySource(raw_deflate(b"x" * 1000)), 0)
    assert os.listdir(private_tempdir) == []

    inflated.close()

    assert os.listdir(private_tempdir) == []
    assert open_fds() == before


def test_inflate_of_a_corrupt_stream_raises_invalid_dicom(private_tempdir: Path) -> None:
    before = open_fds()
    source = MemorySource(b"\x00" * 10 + b"\xff" * 64, name="corrupt.dcm")

    with pytest.raises(InvalidDicomError, match=r"corrupt\.dcm: the deflated dataset is corrupt"):
        inflate(source, 10)

    assert os.listdir(private_tempdir) == []
    assert open_fds() == before


def test_inflate_of_an_unterminated_stream_keeps_what_was_inflated(
    private_tempdir: Path,
) -> None:
    raw = _compressible(100_000)
    stream = raw_deflate(raw)

    inflated = inflate(MemorySource(stream[: len(stream) // 2]), 0)

    assert 0 < inflated.size < len(raw)
    assert bytes(inflated.view(0, inflated.size)) == raw[: inflated.size]
    inflated.close()


def test_inflate_memory_is_bounded_for_highly_compressible_data(private_tempdir: Path) -> None:
    raw_size = 32 << 20
    stream = raw_deflate(bytes(raw_size))  # ~32 KiB of deflate for 32 MiB of zeros
    source = MemorySource(stream)

    tracemalloc.start()
    try:
        inflated = inflate(source, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert inflated.size == raw_size
    inflated.close()
    assert peak < 8 << 20, f"peak {peak / 2**20:.0f} MiB while inflating"
