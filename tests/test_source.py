"""Tests for lazydcm.source: the byte sources behind the ByteSource protocol."""

from __future__ import annotations

import gc
import io
import os
import random
import sys
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lazydcm.errors import InvalidDicomError, TruncatedFileError
from lazydcm.source import (
    BufferSource,
    ByteSource,
    FileObjectSource,
    MmapSource,
    inflate,
    open_source,
    whole_view,
)

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


class Opened:
    """A source under test and what it was made from (closed by the fixture)."""

    def __init__(self, source: ByteSource, keep: Any = None) -> None:
        self.source = source
        self.keep = keep


def _mmap(path: Path) -> Opened:
    return Opened(MmapSource(path))


def _bytes(path: Path) -> Opened:
    return Opened(BufferSource(path.read_bytes()))


def _bytearray(path: Path) -> Opened:
    return Opened(BufferSource(bytearray(path.read_bytes())))


def _memoryview(path: Path) -> Opened:
    return Opened(BufferSource(memoryview(path.read_bytes())))


def _ndarray(path: Path) -> Opened:
    # A 2-D uint16 array: the source must see its bytes, not its items.
    array = np.frombuffer(path.read_bytes(), dtype=np.uint16).reshape(-1, 64)
    return Opened(BufferSource(array))


def _open_file(path: Path) -> Opened:
    f = path.open("rb")
    return Opened(FileObjectSource(f), keep=f)


def _bytesio(path: Path) -> Opened:
    f = io.BytesIO(path.read_bytes())
    return Opened(FileObjectSource(f), keep=f)


FACTORIES: dict[str, Callable[[Path], Opened]] = {
    "mmap": _mmap,
    "bytes": _bytes,
    "bytearray": _bytearray,
    "memoryview": _memoryview,
    "ndarray": _ndarray,
    "file": _open_file,
    "bytesio": _bytesio,
}


@pytest.fixture(params=list(FACTORIES))
def opened(request: pytest.FixtureRequest, data_file: Path) -> Iterator[Opened]:
    result = FACTORIES[request.param](data_file)
    yield result
    result.source.close()
    if result.keep is not None:
        result.keep.close()


# -- the protocol, for every source ------------------------------------------------


def test_every_source_implements_the_protocol(opened: Opened) -> None:
    assert isinstance(opened.source, ByteSource)
    assert isinstance(opened.source.name, str)
    assert opened.source.name


def test_size_is_the_number_of_bytes(opened: Opened) -> None:
    assert opened.source.size == SIZE


@pytest.mark.parametrize(
    ("offset", "n"),
    [
        (0, 0),
        (0, 1),
        (17, 100),
        (SIZE - 5, 5),
        (SIZE, 0),
        (65530, 20),  # across FileObjectSource's block boundary
        (1000, 16 * 1024 + 1),  # larger than the block path of FileObjectSource
        (0, SIZE),
    ],
)
def test_view_returns_exactly_n_bytes(opened: Opened, offset: int, n: int) -> None:
    view = opened.source.view(offset, n)

    assert isinstance(view, memoryview)
    assert view.readonly
    assert view.nbytes == n
    assert bytes(view) == DATA[offset : offset + n]


@pytest.mark.parametrize(
    ("offset", "n"), [(SIZE - 4, 5), (SIZE, 1), (SIZE + 100, 0), (0, SIZE + 1)]
)
def test_view_past_the_end_raises_truncated(opened: Opened, offset: int, n: int) -> None:
    with pytest.raises(TruncatedFileError, match=rf"ends at byte {SIZE}") as info:
        opened.source.view(offset, n)

    assert isinstance(info.value, InvalidDicomError)
    assert opened.source.name in str(info.value)


@pytest.mark.parametrize(("offset", "n"), [(-1, 4), (0, -1)])
def test_view_of_a_negative_range_is_a_value_error(opened: Opened, offset: int, n: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        opened.source.view(offset, n)


def test_read_into_copies_the_bytes(opened: Opened) -> None:
    out = bytearray(b"\xaa" * 3000)

    count = opened.source.read_into(70000, memoryview(out))

    assert count == 3000
    assert bytes(out) == DATA[70000:73000]


def test_read_into_returns_a_short_count_at_the_end(opened: Opened) -> None:
    out = bytearray(b"\xaa" * 100)

    count = opened.source.read_into(SIZE - 30, memoryview(out))

    assert count == 30
    assert bytes(out[:30]) == DATA[-30:]
    assert bytes(out[30:]) == b"\xaa" * 70  # untouched


def test_read_into_past_the_end_copies_nothing(opened: Opened) -> None:
    out = bytearray(b"\xaa" * 16)

    count = opened.source.read_into(SIZE + 10, memoryview(out))

    assert count == 0
    assert bytes(out) == b"\xaa" * 16


def test_read_into_a_multibyte_array(opened: Opened) -> None:
    out = np.zeros(500, dtype=np.uint16)

    count = opened.source.read_into(2, memoryview(out))

    assert count == 1000
    assert out.tobytes() == DATA[2:1002]


def test_read_into_does_not_disturb_later_views(opened: Opened) -> None:
    out = bytearray(64)
    opened.source.read_into(5, memoryview(out))

    assert bytes(opened.source.view(100, 10)) == DATA[100:110]


def test_close_is_idempotent(opened: Opened) -> None:
    view = opened.source.view(0, 16)

    first = opened.source.close()
    second = opened.source.close()

    assert first is None
    assert second is None
    assert bytes(view) == DATA[:16]  # views handed out before close stay valid


def test_advise_keeps_the_data_readable(opened: Opened) -> None:
    opened.source.advise(0, SIZE, True)
    opened.source.advise(0, SIZE, False)
    opened.source.advise(SIZE - 1, 100, False)

    assert bytes(opened.source.view(4096, 64)) == DATA[4096:4160]


# -- MmapSource -----------------------------------------------------------------------


def test_mmap_source_is_named_by_its_path(data_file: Path) -> None:
    source = MmapSource(data_file)

    assert source.name == str(data_file)
    source.close()


def test_mmap_view_stays_valid_after_close(data_file: Path) -> None:
    source = MmapSource(data_file)
    view = source.view(1000, 5000)

    source.close()

    assert bytes(view) == DATA[1000:6000]
    assert view[0] == DATA[1000]


def test_mmap_is_unmapped_when_the_last_view_goes(data_file: Path) -> None:
    source = MmapSource(data_file)
    view = source.view(0, 100)
    source.close()
    assert is_mapped(data_file)  # the view still needs it

    del view
    gc.collect()

    assert not is_mapped(data_file)  # while `source` is still alive


def test_mmap_close_without_views_unmaps_and_closes_the_fd(data_file: Path) -> None:
    before = open_fds()
    source = MmapSource(data_file)
    bytes(source.view(0, 10))

    source.close()

    assert not is_mapped(data_file)
    assert open_fds() == before


def test_mmap_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    source = MmapSource(path)

    assert source.size == 0
    assert bytes(source.view(0, 0)) == b""
    assert whole_view(source) is not None
    assert source.read_into(0, memoryview(bytearray(4))) == 0
    with pytest.raises(TruncatedFileError):
        source.view(0, 1)
    source.close()


def test_mmap_source_of_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        MmapSource(tmp_path / "missing.dcm")


# -- BufferSource ---------------------------------------------------------------------


def test_buffer_source_never_writes_to_its_input() -> None:
    data = bytearray(DATA[:64])
    source = BufferSource(data)

    view = source.view(0, 8)

    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 1


def test_buffer_source_view_stays_valid_after_close() -> None:
    source = BufferSource(DATA)
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


# -- open_source ----------------------------------------------------------------------


def test_open_source_of_a_path_is_an_owned_mmap(data_file: Path) -> None:
    for src in (data_file, str(data_file)):
        source, owned = open_source(src)

        assert isinstance(source, MmapSource)
        assert owned is True
        assert source.size == SIZE
        source.close()


@pytest.mark.parametrize(
    "src", [DATA, bytearray(DATA), memoryview(DATA), np.frombuffer(DATA, np.uint8)]
)
def test_open_source_of_a_buffer_is_an_owned_buffer_source(src: Any) -> None:
    source, owned = open_source(src)

    assert isinstance(source, BufferSource)
    assert owned is True
    assert bytes(source.view(SIZE - 3, 3)) == DATA[-3:]


def test_open_source_of_a_file_object_is_not_owned() -> None:
    f = io.BytesIO(DATA)

    source, owned = open_source(f)

    assert isinstance(source, FileObjectSource)
    assert owned is False
    assert source.size == SIZE


def test_open_source_of_a_directory_raises_invalid_dicom(tmp_path: Path) -> None:
    before = open_fds()

    with pytest.raises(InvalidDicomError, match="is not a regular file"):
        open_source(tmp_path)

    assert open_fds() == before  # the descriptor opened to check it is closed again


def test_open_source_of_a_fifo_raises_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    outcome: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            open_source(fifo)
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

    assert not blocked, "open_source blocked on a FIFO"
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

    def view(self, offset: int, n: int) -> memoryview:
        return memoryview(self._data)[offset : offset + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        chunk = self._data[offset : offset + len(out)]
        out[: len(chunk)] = chunk
        return len(chunk)

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_open_source_passes_a_byte_source_through() -> None:
    mine = _MySource(DATA)

    source, owned = open_source(mine)

    assert source is mine
    assert owned is False
    assert not mine.closed


@pytest.mark.parametrize("src", [42, 4.5, None, object()])
def test_open_source_of_something_else_is_a_type_error(src: Any) -> None:
    with pytest.raises(TypeError, match=f"not {type(src).__name__}"):
        open_source(src)


# -- whole_view -----------------------------------------------------------------------


def test_whole_view_of_an_mmap_is_zero_copy(data_file: Path) -> None:
    source = MmapSource(data_file)

    view = whole_view(source)
    fd = os.open(data_file, os.O_WRONLY)
    os.pwrite(fd, b"\x01\x02\x03", 10)  # the shared mapping shows writes to the file
    os.close(fd)

    assert view is not None
    assert view.nbytes == SIZE
    assert bytes(view[10:13]) == b"\x01\x02\x03"
    del view
    source.close()


def test_whole_view_of_a_buffer_is_zero_copy() -> None:
    data = bytearray(DATA)
    source = BufferSource(data)

    view = whole_view(source)
    data[5] ^= 0xFF

    assert view is not None
    assert view.nbytes == SIZE
    assert view[5] == DATA[5] ^ 0xFF


def test_whole_view_of_a_file_object_or_own_source_is_none() -> None:
    assert whole_view(FileObjectSource(io.BytesIO(DATA))) is None
    assert whole_view(_MySource(DATA)) is None


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
        BufferSource(data) if wrap == "buffer" else FileObjectSource(io.BytesIO(data))
    )

    inflated = inflate(source, len(prefix))

    assert isinstance(inflated, MmapSource)
    assert inflated.size == len(raw)
    assert bytes(inflated.view(0, inflated.size)) == raw
    assert "(inflated)" in inflated.name
    assert os.listdir(private_tempdir) == []  # the temporary file is already unlinked
    inflated.close()


def test_inflate_leaves_nothing_behind(private_tempdir: Path) -> None:
    before = open_fds()
    inflated = inflate(BufferSource(raw_deflate(b"x" * 1000)), 0)
    assert os.listdir(private_tempdir) == []

    inflated.close()

    assert os.listdir(private_tempdir) == []
    assert open_fds() == before


def test_inflate_of_a_corrupt_stream_raises_invalid_dicom(private_tempdir: Path) -> None:
    before = open_fds()
    source = BufferSource(b"\x00" * 10 + b"\xff" * 64, name="corrupt.dcm")

    with pytest.raises(InvalidDicomError, match=r"corrupt\.dcm: the deflated dataset is corrupt"):
        inflate(source, 10)

    assert os.listdir(private_tempdir) == []
    assert open_fds() == before


def test_inflate_of_an_unterminated_stream_keeps_what_was_inflated(
    private_tempdir: Path,
) -> None:
    raw = _compressible(100_000)
    stream = raw_deflate(raw)

    inflated = inflate(BufferSource(stream[: len(stream) // 2]), 0)

    assert 0 < inflated.size < len(raw)
    assert bytes(inflated.view(0, inflated.size)) == raw[: inflated.size]
    inflated.close()


def test_inflate_memory_is_bounded_for_highly_compressible_data(private_tempdir: Path) -> None:
    raw_size = 32 << 20
    stream = raw_deflate(bytes(raw_size))  # ~32 KiB of deflate for 32 MiB of zeros
    source = BufferSource(stream)

    tracemalloc.start()
    try:
        inflated = inflate(source, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert inflated.size == raw_size
    inflated.close()
    assert peak < 8 << 20, f"peak {peak / 2**20:.0f} MiB while inflating"
