"""Bytes held in memory: a bytes-like object, read without copying it.

A :class:`MemorySource` may also stand for part of a larger file read into memory
(``origin``): its offsets are then the file's, so that what is walked in it is
reported at the file's byte offsets.
"""

from __future__ import annotations

from collections.abc import Sequence

from lazydcm.sources.base import ByteRange, SourceStatus, byte_view, check_range

__all__ = ["MemorySource"]


class MemorySource:
    """An in-memory bytes-like object, viewed in place (never written).

    Parameters
    ----------
    data : bytes-like
        Anything that exposes the buffer protocol.
    name : str, optional
        What messages call it.
    origin : int, optional
        The file offset of ``data[0]``, when `data` is part of a file: offsets below
        it are not in the source.
    """

    def __init__(self, data: object, name: str = "<buffer>", origin: int = 0) -> None:
        self._view = byte_view(data).toreadonly()
        self._name = name
        self._origin = origin

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._origin + len(self._view)

    @property
    def status(self) -> SourceStatus | None:
        """None: nothing identifies a version of bytes in memory."""
        return None

    @property
    def zero_copy(self) -> bool:
        """True: views are slices of the buffer."""
        return True

    def _start(self, offset: int, n: int) -> int:
        """Where `offset` is in the buffer; checks the range."""
        check_range(self._name, self.size, offset, n)
        start = offset - self._origin
        if start < 0:
            raise ValueError(
                f"{self._name}: byte {offset} is before the part held in memory, which "
                f"starts at byte {self._origin}"
            )
        return start

    def view(self, offset: int, n: int) -> memoryview:
        start = self._start(offset, n)
        return self._view[start : start + n]

    def read_into(self, offset: int, out: memoryview) -> int:
        target = byte_view(out)
        n = max(0, min(len(target), self.size - offset))
        if n == 0:
            return 0
        start = self._start(offset, n)
        target[:n] = self._view[start : start + n]
        return n

    def read_many(self, ranges: Sequence[ByteRange]) -> list[memoryview]:
        out = []
        for offset, n in ranges:
            start = self._start(offset, n)
            out.append(memoryview(bytearray(self._view[start : start + n])))
        return out

    def advise(self, offset: int, n: int, needed: bool) -> None:
        return None

    def close(self) -> None:
        self._view.release()
