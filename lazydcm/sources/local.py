"""A local file: memory-mapped for the header walk, read with ``pread`` after it.

:class:`LocalFileSource` keeps the file open and mapped read-only.  ``view``
returns zero-copy slices of the map: the header walk and the item-header scan
read through it, while the file is being opened.  Everything read after that --
frames, the item headers that check an offset table entry, functional groups --
goes through ``read_into`` / ``read_many``, which use ``pread``: they neither touch
mapped pages (a file truncated by another process gives a short read, not a
SIGBUS) nor leave pages resident, so reading a 40 GB file keeps nothing of it in
the process.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
from collections.abc import Sequence

from lazydcm.errors import InvalidDicomError
from lazydcm.sources.base import ByteRange, SourceStatus, byte_view, check_range, read_exactly

__all__ = ["LocalFileSource"]

_PAGE = mmap.PAGESIZE
_MAX_PREAD = 1 << 30  # the largest single pread (Linux caps one call near 2 GiB)


class LocalFileSource:
    """A read-only memory map of a local file, read with ``pread`` after opening.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Raises
    ------
    OSError
        The file cannot be opened.
    InvalidDicomError
        The path is not a regular file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        self._init(fd, os.fspath(path))

    @classmethod
    def from_fd(cls, fd: int, name: str) -> LocalFileSource:
        """Map an open file descriptor; the source closes it when closed (or on failure)."""
        self = cls.__new__(cls)
        self._init(fd, name)
        return self

    def _init(self, fd: int, name: str) -> None:
        self._fd = fd
        self._name = name
        self._closed = True  # until everything below is in place
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidDicomError(f"{name!r} is not a regular file")
            self._size = st.st_size
            self._status: SourceStatus = (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
            self._mmap = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self._size else None
        except BaseException:
            os.close(fd)
            raise
        self._view = memoryview(self._mmap) if self._mmap is not None else memoryview(b"")
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    @property
    def status(self) -> SourceStatus:
        """(size, modification time in ns, device, inode) of the file as opened."""
        return self._status

    @property
    def zero_copy(self) -> bool:
        """True: views are slices of the memory map."""
        return True

    def view(self, offset: int, n: int) -> memoryview:
        check_range(self._name, self._size, offset, n)
        return self._view[offset : offset + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        if out.nbytes <= _MAX_PREAD:
            done = os.preadv(self._fd, [out], offset)
            if done == out.nbytes or done <= 0:
                return max(done, 0)
        else:
            done = 0
        # A short read: the end of the file, a signal, or a huge request.
        target = byte_view(out)
        while done < len(target):
            got = os.preadv(self._fd, [target[done : done + _MAX_PREAD]], offset + done)
            if got <= 0:
                break
            done += got
        return done

    def read_many(self, ranges: Sequence[ByteRange]) -> list[memoryview]:
        return [read_exactly(self, offset, n) for offset, n in ranges]

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

    def __del__(self) -> None:
        # A source dropped unclosed (a reader a Dask worker let go) closes its file.
        if not getattr(self, "_closed", True):
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._view.release()
        if self._mmap is not None:
            # A caller may still hold a view of the map; it is then unmapped when
            # the last view goes away.
            with contextlib.suppress(BufferError):
                self._mmap.close()
            self._mmap = None
        os.close(self._fd)
