"""Byte sources: where the bytes of a DICOM file come from.

Every source offers the same small protocol (:class:`ByteSource`):

* ``size`` - the number of bytes;
* ``view(offset, n)`` - a read-only ``memoryview`` of exactly ``n`` bytes, zero-copy
  where the source allows it (a memory map, an in-memory buffer);
* ``read_into(offset, out)`` - copy bytes into a caller's buffer and return how many
  were available (short at the end of the data, never an error);
* ``advise(offset, n, needed)`` - a hint that a range will be needed soon, or is no
  longer needed (its mapped pages may be released);
* ``close()``.

Sources never write to their input, and none of them keeps a seek position that
two threads could share: a memory map and a buffer need none, a path is read with
``pread``, and a file object is read under a lock.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import threading
import zlib
from typing import IO, Any, Protocol, runtime_checkable

from lazydcm.errors import InvalidDicomError, TruncatedFileError

__all__ = [
    "BufferSource",
    "ByteSource",
    "FileObjectSource",
    "MmapSource",
    "identity",
    "inflate",
    "open_source",
    "whole_view",
]

_PAGE = mmap.PAGESIZE
_MAX_PREAD = 1 << 30  # the largest single pread (Linux caps one call near 2 GiB)


@runtime_checkable
class ByteSource(Protocol):
    """The protocol every byte source implements."""

    @property
    def name(self) -> str:
        """A name for messages: the path, or a description of the object."""
        ...

    @property
    def size(self) -> int:
        """The number of bytes in the source."""
        ...

    def view(self, offset: int, n: int) -> memoryview:
        """Return exactly `n` bytes from `offset`; raise TruncatedFileError past the end."""
        ...

    def read_into(self, offset: int, out: memoryview) -> int:
        """Copy bytes from `offset` into `out`; return how many bytes were copied."""
        ...

    def advise(self, offset: int, n: int, needed: bool) -> None:
        """Hint that a byte range will be needed soon, or is no longer needed."""
        ...

    def close(self) -> None:
        """Release what the source holds; idempotent."""
        ...


def identity(status: os.stat_result) -> tuple[int, int, int, int]:
    """What tells two versions of a file apart: device, inode, size, modification time."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _check_range(source: ByteSource, offset: int, n: int) -> None:
    if offset < 0 or n < 0:
        raise ValueError(f"invalid byte range: offset {offset}, length {n}")
    if offset + n > source.size:
        raise TruncatedFileError(
            f"{source.name}: needed bytes {offset}..{offset + n} but the data ends at "
            f"byte {source.size}"
        )


def _byte_view(out: Any) -> memoryview:
    view = memoryview(out)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class MmapSource:
    """A read-only memory map of a local file (the default source).

    Header and item walks read the map directly; frames are copied out of the
    file with ``pread`` so they neither touch mapped pages nor leave them resident.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        self._init(fd, os.fspath(path))

    @classmethod
    def from_fd(cls, fd: int, name: str) -> MmapSource:
        """Map an open file descriptor; the source closes it when closed (or on failure)."""
        self = cls.__new__(cls)
        self._init(fd, name)
        return self

    def _init(self, fd: int, name: str) -> None:
        self._fd = fd
        self._name = name
        self._closed = False
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise InvalidDicomError(f"{name!r} is not a regular file")
            self._size = status.st_size
            #: What the file was when it was opened (identity and version, for caches).
            self.status = status
            self._mmap = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self._size else None
        except BaseException:
            os.close(fd)
            raise
        self._view = memoryview(self._mmap) if self._mmap is not None else memoryview(b"")

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    def view(self, offset: int, n: int) -> memoryview:
        _check_range(self, offset, n)
        return self._view[offset : offset + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        if out.nbytes <= _MAX_PREAD:
            done = os.preadv(self._fd, [out], offset)
            if done == out.nbytes or done <= 0:
                return max(done, 0)
        else:
            done = 0
        # A short read: the end of the file, a signal, or a huge request.
        target = _byte_view(out)
        while done < len(target):
            got = os.preadv(self._fd, [target[done : done + _MAX_PREAD]], offset + done)
            if got <= 0:
                break
            done += got
        return done

    def advise(self, offset: int, n: int, needed: bool) -> None:
        if self._mmap is None or n <= 0:
            return
        start = offset - offset % _PAGE
        end = min(offset + n, self._size)
        if end <= start:
            return
        if needed:
            os.posix_fadvise(self._fd, offset, n, os.POSIX_FADV_WILLNEED)
        else:
            self._mmap.madvise(mmap.MADV_DONTNEED, start, end - start)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._view.release()
        if self._mmap is not None:
            # A caller may still hold a zero-copy view (encoded_frame); the map is
            # then unmapped when the last view goes away.
            with contextlib.suppress(BufferError):
                self._mmap.close()
            self._mmap = None
        os.close(self._fd)


class BufferSource:
    """An in-memory bytes-like object, read without copying."""

    def __init__(self, data: Any, name: str = "<buffer>") -> None:
        self._view = _byte_view(data).toreadonly()
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return len(self._view)

    def view(self, offset: int, n: int) -> memoryview:
        _check_range(self, offset, n)
        return self._view[offset : offset + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        target = _byte_view(out)
        n = max(0, min(len(target), self.size - offset))
        target[:n] = self._view[offset : offset + n]
        return n

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self._view.release()


class FileObjectSource:
    """A binary file object, read with ``seek``/``readinto`` under a lock.

    The object's own position is restored after every read, so the caller's view
    of the file is undisturbed.  Small reads (the header walk) are served from a
    block buffer so that walking a header costs few calls into the object.
    """

    _BLOCK = 1 << 16

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._f = fileobj
        self._lock = threading.Lock()
        self._name = str(getattr(fileobj, "name", None) or f"<{type(fileobj).__name__}>")
        with self._lock:
            start = fileobj.tell()
            self._size = fileobj.seek(0, os.SEEK_END)
            fileobj.seek(start)
        # (offset, bytes) of the last block read; one tuple, replaced whole, so that
        # threads never see the offset of one block with the bytes of another.
        self._block: tuple[int, bytes] = (0, b"")

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, n: int) -> bytes:
        buffer = bytearray(n)
        return bytes(buffer[: self.read_into(offset, memoryview(buffer))])

    def view(self, offset: int, n: int) -> memoryview:
        _check_range(self, offset, n)
        if n <= self._BLOCK // 4:
            block_start, block = self._block
            if not (block_start <= offset and offset + n <= block_start + len(block)):
                block_start, block = offset, self._read(offset, self._BLOCK)
                self._block = (block_start, block)
            rel = offset - block_start
            data = memoryview(block)[rel : rel + n]
        else:
            data = memoryview(self._read(offset, n))
        # Short when the file has shrunk since its size was taken.
        if len(data) != n:
            raise TruncatedFileError(
                f"{self._name}: needed {n} bytes at byte {offset}, the file gave {len(data)}"
            )
        return data

    def read_into(self, offset: int, out: memoryview) -> int:
        target = _byte_view(out)
        with self._lock:
            start = self._f.tell()
            try:
                self._f.seek(offset)
                done = 0
                readinto = getattr(self._f, "readinto", None)
                while done < len(target):
                    # Raw streams may return fewer bytes than asked: keep reading.
                    if readinto is not None:
                        got = readinto(target[done:])
                    else:
                        chunk = self._f.read(len(target) - done)
                        got = len(chunk)
                        target[done : done + got] = chunk
                    if not got:
                        break
                    done += got
                return done
            finally:
                self._f.seek(start)

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self._block = (0, b"")


def whole_view(source: ByteSource) -> memoryview | None:
    """A zero-copy view of the whole source, for sources held in memory or mapped.

    Walks over such a source read it directly; other sources (file objects, or a
    caller's own ByteSource) are asked for exactly the bytes a walk needs.
    """
    if isinstance(source, (MmapSource, BufferSource)):
        return source.view(0, source.size)
    return None


def open_source(src: Any) -> tuple[ByteSource, bool]:
    """Return a byte source for a path, a bytes-like object or a binary file object.

    The second value says whether lazydcm opened the source itself (and so must
    close it); a caller's file object or ByteSource is never closed by lazydcm.
    """
    if isinstance(src, (str, os.PathLike)):
        return MmapSource(src), True
    if isinstance(src, (bytes, bytearray, memoryview)):
        return BufferSource(src), True
    if isinstance(src, ByteSource):  # a structural check: slower, so after the common cases
        return src, False
    if hasattr(src, "read") and hasattr(src, "seek"):
        return FileObjectSource(src), False
    try:
        return BufferSource(src), True
    except TypeError:
        raise TypeError(
            "source must be a path, a bytes-like object, a binary file object or a "
            f"pydicom Dataset, not {type(src).__name__}"
        ) from None


def inflate(source: ByteSource, offset: int) -> MmapSource:
    """Inflate the raw-deflate stream at `offset` into an unlinked temporary file.

    Deflated Explicit VR Little Endian (PS3.5 A.5) deflates everything after the
    File Meta group.  The stream is inflated in chunks to a temporary file that is
    then memory-mapped, so memory stays bounded whatever the size of the dataset.
    """
    import tempfile

    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    chunk = 1 << 20  # of input read, and of output held, at a time
    fd, tmp_name = tempfile.mkstemp(prefix="lazydcm-inflated-")
    os.unlink(tmp_name)  # nothing is left behind, whatever happens next
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            pos = offset
            while pos < source.size and not inflater.eof:
                n = min(chunk, source.size - pos)
                pending: bytes | memoryview = source.view(pos, n)
                try:
                    # max_length bounds the output of each call, however well the
                    # input compresses (a deflate bomb inflates 1,000:1).
                    while pending and not inflater.eof:
                        out.write(inflater.decompress(pending, chunk))
                        pending = inflater.unconsumed_tail
                except zlib.error as exc:
                    raise InvalidDicomError(
                        f"{source.name}: the deflated dataset is corrupt near byte {pos}: {exc}"
                    ) from None
                pos += n
            # An unterminated stream keeps what was inflated; the header walk
            # reports anything that is missing from it.
            out.write(inflater.flush())
    except BaseException:
        os.close(fd)
        raise
    # Outside the try: from_fd closes the descriptor itself if it fails.
    return MmapSource.from_fd(fd, f"{source.name} (inflated)")
