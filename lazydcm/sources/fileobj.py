"""A binary file object given by the caller, read under a lock with its position restored."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from typing import IO

from lazydcm.errors import TruncatedFileError
from lazydcm.sources.base import ByteRange, SourceStatus, byte_view, check_range, read_exactly

__all__ = ["FileObjectSource"]


class FileObjectSource:
    """A binary file object, read with ``seek``/``readinto`` under a lock.

    The object's own position is restored after every read, so the caller's view
    of the file is undisturbed; lazydcm never closes it.  Small reads (the header
    walk) are served from a block buffer so that walking a header costs few calls
    into the object.

    Raises
    ------
    TypeError
        The object is a text stream (its reads return ``str``).
    """

    _BLOCK = 1 << 16

    def __init__(self, fileobj: IO[bytes]) -> None:
        if isinstance(fileobj, io.TextIOBase):
            raise TypeError(
                f"{getattr(fileobj, 'name', type(fileobj).__name__)!r} is open in text mode; "
                "open DICOM files in binary mode ('rb')"
            )
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

    @property
    def status(self) -> SourceStatus | None:
        """None: a file object does not say which version of a file it reads."""
        return None

    @property
    def zero_copy(self) -> bool:
        """False: every view is a copy read from the object."""
        return False

    def _read(self, offset: int, n: int) -> bytes:
        buffer = bytearray(n)
        return bytes(buffer[: self.read_into(offset, memoryview(buffer))])

    def view(self, offset: int, n: int) -> memoryview:
        check_range(self._name, self._size, offset, n)
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
        target = byte_view(out)
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

    def read_many(self, ranges: Sequence[ByteRange]) -> list[memoryview]:
        return [read_exactly(self, offset, n) for offset, n in ranges]

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self._block = (0, b"")
