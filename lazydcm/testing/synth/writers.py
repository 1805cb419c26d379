"""Stream synthetic DICOM files to disk with one frame in memory.

See :mod:`lazydcm.testing.synth` for the contract; the files are those the encoders of
:mod:`lazydcm.testing.synth.encoding` build in memory, and sparse files reach offsets
past 4 GiB without writing the bytes in between.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lazydcm.testing.synth.encoding import (
    ITEM,
    MAX_HOLE_LENGTH,
    SEQUENCE_DELIMITER,
    Extra,
    ImagePixel,
    _basic_offset_table,
    _extra_tag,
    _frame_items,
    _item_header,
    _syntax,
    dataset,
    file_meta,
    native_pixels,
    preamble,
)
from lazydcm.uids import EXPLICIT_LE

__all__ = ["write_encapsulated", "write_native", "write_sparse_encapsulated"]


def _known_count(frames: object, image: ImagePixel) -> int | None:
    """The number of frames, if it is known before iterating."""
    if hasattr(frames, "__len__"):
        return len(frames)
    return image.number_of_frames if isinstance(image.number_of_frames, int) else None


def write_native(
    path: str | os.PathLike[str],
    frames: npt.NDArray[Any] | Iterable[npt.NDArray[Any]],
    image: ImagePixel,
    *,
    transfer_syntax_uid: str = EXPLICIT_LE,
    extra: Extra = (),
) -> int:
    """Stream a native file to disk with one frame in memory; return the file size.

    The file is what :func:`dicom_file` writes for ``native_pixels(frames, image)``
    (deflated: the same after inflating).  `frames` is an array of frames or an
    iterable of per-frame arrays; their count must be known up front, from
    ``len(frames)`` or else an int ``image.number_of_frames``, which is written
    as given.  Bits allocated 8, 16, 32 or 64 only; Explicit VR Big Endian only
    with 16 or more.  ``ValueError`` if `frames` yields another count or frame
    size than announced (the file is left incomplete).
    """
    ts = _syntax(transfer_syntax_uid)
    bits_allocated = image.bits_allocated
    if ts.encapsulated or bits_allocated % 8 or (not ts.little_endian and bits_allocated < 16):
        raise ValueError(f"cannot stream bits allocated {bits_allocated} in {transfer_syntax_uid}")
    count = _known_count(frames, image)
    if count is None:
        raise ValueError("pass a sized sequence of frames or an int image.number_of_frames")
    frame_nbytes = image.frame_bits // 8
    total = count * frame_nbytes
    header = dataset(
        image, b"", transfer_syntax_uid=transfer_syntax_uid, pixel_length=total + total % 2,
        extra=extra,
    )  # fmt: skip
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    with open(path, "wb") as f:

        def emit(data: bytes) -> None:
            f.write(compressor.compress(data) if ts.deflated else data)

        f.write(preamble() + file_meta(transfer_syntax_uid))
        start = f.tell()
        emit(header)
        written = 0
        for frame in frames:
            data = native_pixels(np.asarray(frame)[None], image, little_endian=ts.little_endian)
            if len(data) != frame_nbytes:
                raise ValueError(f"frame {written} has {len(data)} bytes, not {frame_nbytes}")
            emit(data)
            written += 1
        if written != count:
            raise ValueError(f"{written} frames written, {count} announced")
        emit(b"\0" * (total % 2))
        if ts.deflated:
            f.write(compressor.flush())
            f.write(b"\0" * ((f.tell() - start) % 2))  # PS3.5 A.5
        return f.tell()


def _write_items(
    path: str | os.PathLike[str],
    entries: Iterable[bytes | int],
    count: int | None,
    image: ImagePixel,
    transfer_syntax_uid: str,
    bot: Literal["empty", "full"],
    eot: bool,
    fragments_per_frame: int | Sequence[int],
    extra: Extra,
) -> int:
    """Write frames (bytes) and holes (int: one fragment of that many unwritten bytes).

    Offset tables are written as zeros first and patched once every frame's
    position is known, so frames can come from a generator.
    """
    if not _syntax(transfer_syntax_uid).encapsulated:
        raise ValueError(f"{transfer_syntax_uid} is not an encapsulated transfer syntax")
    if any(_extra_tag(entry, True) >= 0x7FE00000 for entry in extra):
        raise ValueError("a streamed file takes no extra elements from (7FE0,0000) on")
    if count is None and (bot == "full" or eot):
        raise ValueError("a full BOT or an EOT needs a sequence or an int number_of_frames")
    n = count or 0
    zeros = [0] * n
    header = dataset(
        image, b"", transfer_syntax_uid=transfer_syntax_uid, extra=extra,
        extended_offsets=(zeros, zeros) if eot else None,
    )  # fmt: skip
    offsets: list[int] = []
    lengths: list[int] = []
    with open(path, "wb") as f:
        f.write(preamble() + file_meta(transfer_syntax_uid) + header)
        # The header ends with (7FE0,0001) OV, (7FE0,0002) OV and the pixel element header.
        eot_at = f.tell() - 12 - (12 + 8 * n) - 8 * n
        f.write(_basic_offset_table(zeros if bot == "full" else []))
        first = f.tell()
        for index, entry in enumerate(entries):
            offsets.append(f.tell() - first)
            if isinstance(entry, int):
                f.write(_item_header(ITEM, entry))
                f.seek(entry, os.SEEK_CUR)  # never written: a hole in a sparse file
                lengths.append(entry)
                continue
            fragments = fragments_per_frame
            if not isinstance(fragments, int):
                fragments = fragments[index]
            f.write(_frame_items(entry, fragments))
            lengths.append(len(entry) + len(entry) % 2)
        f.write(_item_header(SEQUENCE_DELIMITER, 0))
        size = f.tell()
        if (bot == "full" or eot) and len(offsets) != n:
            raise ValueError(f"{len(offsets)} frames written, {n} announced")
        if bot == "full":
            f.seek(first - 4 * n)
            f.write(struct.pack(f"<{n}I", *(offset % 2**32 for offset in offsets)))
        if eot:
            f.seek(eot_at)
            f.write(struct.pack(f"<{n}Q", *offsets))
            f.seek(eot_at + 8 * n + 12)
            f.write(struct.pack(f"<{n}Q", *lengths))
    return size


def write_encapsulated(
    path: str | os.PathLike[str],
    frames: Iterable[bytes] | Sequence[bytes],
    image: ImagePixel,
    *,
    transfer_syntax_uid: str,
    bot: Literal["empty", "full"] = "empty",
    eot: bool = False,
    fragments_per_frame: int | Sequence[int] = 1,
    extra: Extra = (),
) -> int:
    """Stream an encapsulated file to disk with one frame in memory; return the file size.

    The file is byte for byte :func:`dicom_file` of ``encapsulate(frames,
    fragments_per_frame=..., bot=bot)``, with ``extended_offsets=frame_table(...)``
    when `eot`.  `frames` may be a generator; a full BOT or an EOT then needs
    an int ``image.number_of_frames`` (``ValueError`` if the counts differ).
    `image` is written as given; `extra` takes no tags from (7FE0,0000) on.
    """
    return _write_items(
        path, frames, _known_count(frames, image), image, transfer_syntax_uid, bot, eot,
        fragments_per_frame, extra,
    )  # fmt: skip


def write_sparse_encapsulated(
    path: str | os.PathLike[str],
    frame: bytes,
    image: ImagePixel,
    *,
    transfer_syntax_uid: str,
    gap: int,
    frames_after_gap: int = 2,
    bot: Literal["empty", "full"] = "full",
    eot: bool = False,
) -> int:
    """Write a file with frames past `gap` bytes of holes, using almost no disk.

    One fragment per frame:

    - frame 0 is `frame` (real, decodable);
    - frames 1 to ``k = ceil(gap / MAX_HOLE_LENGTH)`` are holes: real item
      headers whose values (``MAX_HOLE_LENGTH`` bytes each, the last one the
      rest of `gap`) are never written, so they read as zeros, take no disk
      blocks and do not decode;
    - frames ``k + 1`` to ``k + frames_after_gap`` are copies of `frame` (real).

    Number of Frames is written as ``1 + k + frames_after_gap`` (replacing
    `image`'s).  Past a 4 GiB gap the last frames start beyond 2**32: a "full"
    BOT holds their offsets modulo 2**32, as a 32-bit writer would, and the EOT
    (`eot`) the true 64-bit offsets.  `gap` must be even and >= 0.  Returns the
    apparent file size.
    """
    if gap < 0 or gap % 2:
        raise ValueError(f"gap must be even and >= 0, got {gap}")
    k = -(-gap // MAX_HOLE_LENGTH)
    holes = [MAX_HOLE_LENGTH] * (k - 1) + [gap - MAX_HOLE_LENGTH * (k - 1)] if k else []
    entries: list[bytes | int] = [frame, *holes, *([frame] * frames_after_gap)]
    image = dataclasses.replace(image, number_of_frames=len(entries))
    return _write_items(path, entries, len(entries), image, transfer_syntax_uid, bot, eot, 1, ())
