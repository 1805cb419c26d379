"""Deflated datasets (PS3.5 A.5), inflated once into an unlinked temporary file.

Deflated Explicit VR Little Endian deflates everything after the File Meta
group.  :func:`inflate` streams the raw-deflate data through ``zlib`` in chunks
into a temporary file that is unlinked at once and memory-mapped, so memory
stays bounded whatever the size of the dataset (a deflate bomb inflates
1,000:1), and nothing is left on disk whatever happens.
"""

from __future__ import annotations

import os
import tempfile
import zlib

from lazydcm.errors import InvalidDicomError
from lazydcm.sources.base import ByteSource
from lazydcm.sources.local import LocalFileSource

__all__ = ["inflate"]

_CHUNK = 1 << 20  # of input read, and of output held, at a time


def inflate(source: ByteSource, offset: int) -> LocalFileSource:
    """Inflate the raw-deflate stream at `offset` into a new source of its own.

    An unterminated stream keeps what was inflated; the header walk reports
    anything that is missing from it.

    Raises
    ------
    InvalidDicomError
        The stream is corrupt (the message says near which byte).
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    fd, tmp_name = tempfile.mkstemp(prefix="lazydcm-inflated-")
    os.unlink(tmp_name)  # nothing is left behind, whatever happens next
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            pos = offset
            while pos < source.size and not inflater.eof:
                n = min(_CHUNK, source.size - pos)
                pending: bytes | memoryview = source.view(pos, n)
                try:
                    # max_length bounds the output of each call, however well the
                    # input compresses.
                    while pending and not inflater.eof:
                        out.write(inflater.decompress(pending, _CHUNK))
                        pending = inflater.unconsumed_tail
                except zlib.error as exc:
                    raise InvalidDicomError(
                        f"{source.name}: the deflated dataset is corrupt near byte {pos}: {exc}"
                    ) from None
                pos += n
            out.write(inflater.flush())
    except BaseException:
        os.close(fd)
        raise
    # Outside the try: from_fd closes the descriptor itself if it fails.
    return LocalFileSource.from_fd(fd, f"{source.name} (inflated)")
