"""The byte-source protocol, and the checks every implementation shares.

A byte source is where the bytes of one DICOM file come from.  Every source
offers the same protocol (:class:`ByteSource`), so that the header walk, the
frame tables and the frame reads never know whether the file is mapped, in
memory, behind a file object, inflated, or remote:

* ``name`` - what messages call it (the path, the URL, a description);
* ``size`` - the number of bytes, as opened;
* ``status`` - what identifies this version of the file (a local file's size,
  modification time, device and inode; an object's size and ETag), or None where
  nothing does: caches of parsed headers and frame tables are keyed by it;
* ``zero_copy`` - True when ``view`` hands out the source's own bytes without
  copying them (a memory map, a buffer): the header walk and the item scan then
  read it in large windows at no cost; other sources are asked for the bytes each
  step needs, and read ahead as suits them;
* ``view(offset, n)`` - exactly ``n`` bytes, zero-copy where the source allows
  it (used by the header walk), or :class:`~lazydcm.errors.TruncatedFileError`;
* ``read_into(offset, out)`` - copy bytes into a caller's buffer and return how
  many were available (short only at the end of the data);
* ``read_many(ranges)`` - several ``(offset, n)`` ranges at once, each into a
  new writable buffer of exactly ``n`` bytes that the caller owns (a local source
  loops; a remote one coalesces neighbours and fetches concurrently);
* ``advise(offset, n, needed)`` - a hint that a range will be needed soon, or is
  no longer needed;
* ``close()`` - idempotent.

Reads after a file was opened go through ``read_into`` or ``read_many``, which
copy: a file truncated by another process then gives a short read, never a
SIGBUS from a mapped page that has gone.  Sources never write to their input, and
none keeps a seek position that two threads could share.  The contract suite
:class:`lazydcm.testing.SourceTests` checks every implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from lazydcm.errors import TruncatedFileError

__all__ = ["ByteRange", "ByteSource", "SourceStatus", "byte_view", "check_range", "read_exactly"]

#: What identifies one version of a file: JSON-able scalars, its size first (a local
#: file: size, modification time, device, inode; an object: size, ETag ...).
SourceStatus: TypeAlias = tuple[str | int, ...]
#: A byte range: (offset, length).
ByteRange: TypeAlias = tuple[int, int]


@runtime_checkable
class ByteSource(Protocol):
    """The protocol every byte source implements (see the module docstring)."""

    @property
    def name(self) -> str:
        """A name for messages: the path, the URL, or a description of the object."""
        ...

    @property
    def size(self) -> int:
        """The number of bytes in the source."""
        ...

    @property
    def status(self) -> SourceStatus | None:
        """What identifies this version of the file, or None."""
        ...

    @property
    def zero_copy(self) -> bool:
        """True when ``view`` returns the source's own bytes without copying them."""
        ...

    def view(self, offset: int, n: int) -> memoryview:
        """Return exactly `n` bytes from `offset`; raise TruncatedFileError past the end."""
        ...

    def read_into(self, offset: int, out: memoryview) -> int:
        """Copy bytes from `offset` into `out`; return how many bytes were copied."""
        ...

    def read_many(self, ranges: Sequence[ByteRange]) -> list[memoryview]:
        """Each range's bytes in a new writable buffer; TruncatedFileError past the end."""
        ...

    def advise(self, offset: int, n: int, needed: bool) -> None:
        """Hint that a byte range will be needed soon, or is no longer needed."""
        ...

    def close(self) -> None:
        """Release what the source holds; idempotent."""
        ...


def check_range(name: str, size: int, offset: int, n: int) -> None:
    """Raise for a negative range, or TruncatedFileError for one that passes `size`."""
    if offset < 0 or n < 0:
        raise ValueError(f"invalid byte range: offset {offset}, length {n}")
    if offset + n > size:
        raise TruncatedFileError(
            f"{name}: needed bytes {offset}..{offset + n} but the data ends at byte {size}"
        )


def byte_view(out: object) -> memoryview:
    """`out` as a flat memoryview of bytes (format 'B', one dimension)."""
    view = memoryview(out)  # type: ignore[arg-type]
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def read_exactly(source: ByteSource, offset: int, n: int) -> memoryview:
    """`n` bytes at `offset` copied into a new writable buffer, read with ``read_into``.

    Raises TruncatedFileError, naming the range, when the source gives fewer: it
    ends there, or (a file changed by another process) it has shrunk since it was
    opened.
    """
    check_range(source.name, source.size, offset, n)
    out = memoryview(bytearray(n))
    got = source.read_into(offset, out)
    if got != n:
        raise TruncatedFileError(
            f"{source.name}: needed bytes {offset}..{offset + n}, but the file now ends at "
            f"byte {offset + got}: it has shrunk since it was opened"
        )
    return out
