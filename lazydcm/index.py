"""The frame table: where each frame's bytes are, built once when a file opens.

A :class:`FrameIndex` holds int64 NumPy arrays of frame offsets and lengths, so a
200,000-frame file costs a few MB.  One builder per case, chosen by plain
branching in :func:`build_index`:

* :func:`native_index` - arithmetic on the Image Pixel module (PS3.5 8.1.1 and
  8.2), including Bits Allocated 1, where frames are packed bit to bit and frame
  *i* spans bytes ``[floor(i*n/8), ceil((i+1)*n/8))`` for *n* bits per frame;
* :func:`eot_index` - the Extended Offset Table (PS3.3 C.7.6.3.1.8), checked;
* :func:`bot_index` - the Basic Offset Table (PS3.5 A.4), checked: a table that is
  not increasing, whose 32-bit offsets wrapped past 4 GiB, or that points off the
  item tags is rejected with a warning, and the scan is used instead;
* :func:`scan_index` - one walk over the item headers (8 bytes each; payloads are
  skipped), with fragments grouped into frames by their codec markers when a
  frame spans several fragments.

Only item headers and, when frames must be grouped, a few bytes at fragment
starts and ends are read; never a payload.

Frames the header promises but the file does not hold stay in the table's
count: reading one raises :class:`~lazydcm.errors.TruncatedFileError` when the
file ends early, :class:`~lazydcm.errors.FrameIndexError` when complete data
holds fewer frames than Number of Frames.  Frames the data holds beyond Number of
Frames are added with a :class:`~lazydcm.errors.LazyDcmWarning`, as pydicom does.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from lazydcm.errors import InvalidDicomError, LazyDcmWarning, TruncatedFileError
from lazydcm.header import ParsedHeader
from lazydcm.source import ByteSource, whole_view
from lazydcm.tags import format_tag

__all__ = [
    "FrameIndex",
    "IndexKind",
    "bot_index",
    "build_index",
    "eot_index",
    "native_frame_bits",
    "native_index",
    "scan_index",
]

IndexKind = Literal["native", "bot", "eot", "scan"]


def _empty() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class FrameIndex:
    """Where each frame's bytes are.

    ``offsets[i]`` and ``lengths[i]`` give frame *i*'s bytes in the source: for
    native data the bytes the frame spans, for encapsulated data the first byte of
    its first fragment's value and the total length of its fragments.  Frames
    made of several fragments list them in ``fragment_offsets`` and
    ``fragment_lengths``, frame *i* owning ``fragment_starts[i]`` up to
    ``fragment_starts[i + 1]`` (empty arrays when every frame is one fragment).
    """

    kind: IndexKind
    offsets: NDArray[np.int64]
    lengths: NDArray[np.int64]
    #: How many frames the sequence has: Number of Frames, or more when the file
    #: holds excess frames.  Frames from ``len(offsets)`` up to ``count`` are missing.
    count: int
    #: Bits per frame for native data (to locate 1-bit frames inside a byte); 0 otherwise.
    frame_bits: int = 0
    fragment_offsets: NDArray[np.int64] = field(default_factory=_empty)
    fragment_lengths: NDArray[np.int64] = field(default_factory=_empty)
    fragment_starts: NDArray[np.int64] = field(default_factory=_empty)
    #: Why frames from ``present`` to ``count`` are missing: the file ends early
    #: ("truncated"), or the complete data holds fewer frames ("absent").
    missing: Literal["truncated", "absent"] = "truncated"
    #: How many fragments the encapsulated data holds (0 for native data).
    fragment_count: int = 0

    @property
    def present(self) -> int:
        """How many frames the file physically holds."""
        return len(self.offsets)

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        arrays = (
            self.offsets,
            self.lengths,
            self.fragment_offsets,
            self.fragment_lengths,
            self.fragment_starts,
        )
        return sum(a.nbytes for a in arrays)

    def fragments(self, i: int) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
        """Return the (offsets, lengths) of frame `i`'s fragments, or None for one fragment."""
        if not len(self.fragment_starts):
            return None
        start, stop = self.fragment_starts[i], self.fragment_starts[i + 1]
        return self.fragment_offsets[start:stop], self.fragment_lengths[start:stop]


def native_frame_bits(parsed: ParsedHeader) -> int:
    """Bits one native frame occupies (PS3.5 8.1.1; YBR_FULL_422 per PS3.3 C.7.6.3.1.2)."""
    info = parsed.info
    bits = info.rows * info.columns * info.samples_per_pixel * info.bits_allocated
    if info.photometric_interpretation == "YBR_FULL_422":
        # Two luminance samples share one pair of chrominance samples: 2 samples a pixel.
        bits = bits // 3 * 2
    return bits


def native_index(parsed: ParsedHeader, size: int) -> FrameIndex:
    """Build the frame table of native pixel data by arithmetic.

    Parameters
    ----------
    parsed : ParsedHeader
        The header walk's result; its pixel element has a defined length.
    size : int
        The size of the source the pixel value is in.
    """
    info, pixel = parsed.info, parsed.pixel
    name = parsed.source.name
    if pixel.length is None:
        raise InvalidDicomError(f"{name}: native {format_tag(pixel.tag)} has no defined length")
    frame_bits = native_frame_bits(parsed)
    declared = info.number_of_frames
    start = pixel.value_offset
    # What the element claims, and what the file really holds of it.
    claimed: int = pixel.length
    available = max(0, min(claimed, size - start))
    expected = -(-declared * frame_bits // 8)
    padded = expected + expected % 2
    whole = available * 8 // frame_bits
    count = declared

    if available < claimed:
        warnings.warn(
            f"{name}: the file ends at byte {size}, inside {format_tag(pixel.tag)} whose value "
            f"of {claimed} bytes starts at byte {start}; {min(whole, declared)} of {declared} "
            "frames are complete",
            LazyDcmWarning,
            stacklevel=3,
        )
    elif claimed < expected:
        warnings.warn(
            f"{name}: {format_tag(pixel.tag)} holds {claimed} bytes, fewer than the {expected} "
            f"that (0028,0008) 'Number of Frames' {declared} needs; {min(whole, declared)} "
            "frames are complete",
            LazyDcmWarning,
            stacklevel=3,
        )
    elif claimed > padded:
        if info.photometric_interpretation == "YBR_FULL_422" and claimed >= expected // 2 * 3:
            raise InvalidDicomError(
                f"{name}: {format_tag(pixel.tag)} holds {claimed} bytes, a third more than the "
                f"{expected} that 'YBR_FULL_422' needs, so (0028,0004) 'Photometric "
                "Interpretation' should probably be 'RGB' or 'YBR_FULL'"
            )
        if whole > declared:
            warnings.warn(
                f"{name}: {format_tag(pixel.tag)} holds {whole} whole frames, more than "
                f"(0028,0008) 'Number of Frames' {declared}; the extra frames are returned too",
                LazyDcmWarning,
                stacklevel=3,
            )
            count = whole
        else:
            warnings.warn(
                f"{name}: {format_tag(pixel.tag)} holds {claimed - expected} bytes of padding "
                "after the last frame; they are ignored",
                LazyDcmWarning,
                stacklevel=3,
            )

    # Swapped 16-bit words are read whole, so spans are aligned to 2 bytes.
    align = 2 if parsed.words_swapped else 1
    # No frame past `whole` can be complete: never size arrays by an untrusted count.
    i = np.arange(min(count, whole + 1), dtype=np.int64)
    first = i * frame_bits // (8 * align) * align
    end = -(-(i + 1) * frame_bits // (8 * align)) * align
    present = int(np.count_nonzero(end <= available))
    first, end = first[:present], end[:present]
    return FrameIndex(
        kind="native",
        offsets=start + first,
        lengths=end - first,
        count=count,
        frame_bits=frame_bits,
    )


def build_index(parsed: ParsedHeader) -> FrameIndex:
    """Build the frame table of a parsed file with the builder its data needs."""
    source = parsed.source
    if parsed.transfer_syntax.native:
        return native_index(parsed, source.size)
    layout = _Encapsulated.open(parsed)
    header = parsed.header
    if "ExtendedOffsetTable" in header:
        index = eot_index(
            layout, header["ExtendedOffsetTable"], header.get("ExtendedOffsetTableLengths")
        )
        if index is not None:
            return index
    if len(layout.bot):
        index = bot_index(layout)
        if index is not None:
            return index
    return scan_index(layout)


# -- encapsulated data (PS3.5 A.4) ----------------------------------------------------

ITEM = 0xFFFEE000
SEQUENCE_DELIMITER = 0xFFFEE0DD
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_HEADER = struct.Struct("<HHI")

# Codec markers that start and end a frame's codestream, by transfer syntax.
_JPEG = (b"\xff\xd8",)
_J2K = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
_JXL = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")
_EOI = b"\xff\xd9"
_END_WINDOW = 10  # an end marker may be followed by a little padding
_START_MARKERS: dict[str, tuple[bytes, ...]] = {
    **dict.fromkeys(
        (
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.51",
            "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.81",
        ),
        _JPEG,
    ),
    **dict.fromkeys(
        (
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.92",
            "1.2.840.10008.1.2.4.93",
            "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.202",
            "1.2.840.10008.1.2.4.203",
        ),
        _J2K,
    ),
    **dict.fromkeys(
        ("1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"), _JXL
    ),
}


@dataclass(frozen=True)
class _Encapsulated:
    """The encapsulated Pixel Data value: its Basic Offset Table and where items start."""

    parsed: ParsedHeader
    source: ByteSource
    #: Absolute offset of the first item after the Basic Offset Table: the origin of
    #: BOT and EOT offsets (PS3.5 A.4, PS3.3 C.7.6.3.1.8).
    first: int
    bot: NDArray[np.int64]
    #: The whole source as bytes when it can be viewed without copying, else None.
    data: NDArray[np.uint8] | None

    @classmethod
    def open(cls, parsed: ParsedHeader) -> _Encapsulated:
        source = parsed.source
        name = source.name
        pos = parsed.pixel.value_offset
        if pos + 8 > source.size:
            raise TruncatedFileError(
                f"{name}: the file ends at byte {source.size}, before the Basic Offset Table "
                f"item of {format_tag(parsed.pixel.tag)} at byte {pos}"
            )
        group, element, length = _HEADER.unpack(source.view(pos, 8))
        tag = group << 16 | element
        if tag != ITEM:
            raise InvalidDicomError(
                f"{name}: expected the Basic Offset Table item (FFFE,E000) at byte {pos}, the "
                f"start of encapsulated {format_tag(parsed.pixel.tag)}, found {format_tag(tag)}"
            )
        if length % 4 or pos + 8 + length > source.size:
            raise InvalidDicomError(
                f"{name}: the Basic Offset Table item at byte {pos} has length {length}, which "
                f"is not a multiple of 4 inside the file (size {source.size})"
            )
        bot = np.frombuffer(source.view(pos + 8, length), dtype="<u4").astype(np.int64)
        whole = whole_view(source)
        data = np.frombuffer(whole, dtype=np.uint8) if whole is not None else None
        return cls(parsed, source, pos + 8 + length, bot, data)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def declared(self) -> int:
        return self.parsed.info.number_of_frames

    def headers(self, positions: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Tags and lengths of the items at absolute `positions` (all inside the file)."""
        if self.data is not None:
            gathered = self.data[positions[:, None] + np.arange(8)]
            words = gathered.view("<u4").astype(np.int64)
        else:
            words = np.array(
                [_HEADER.unpack(self.source.view(int(p), 8)) for p in positions], dtype=np.int64
            ).reshape(-1, 3)
            words = np.stack([words[:, 0] | words[:, 1] << 16, words[:, 2]], axis=1)
        tags = (words[:, 0] & 0xFFFF) << 16 | words[:, 0] >> 16
        return tags, words[:, 1]

    def peek(self, positions: NDArray[np.int64], n: int) -> list[bytes]:
        """The `n` bytes at each absolute position (clipped to the file)."""
        size = self.source.size
        out = []
        for p in positions.tolist():
            start, stop = max(0, p), min(size, p + n)
            out.append(bytes(self.source.view(start, stop - start)) if stop > start else b"")
        return out

    def walk(self, pos: int, stop: int | None) -> tuple[NDArray[np.int64], NDArray[np.int64], str]:
        """Walk item headers from `pos` to `stop` (or to the sequence delimiter).

        Returns the payload offsets and lengths of the complete items, and how the
        walk ended: "delimiter", "stop", "eof" (the file ended) or "garbage".
        """
        size = self.source.size
        buf = self.data.data if self.data is not None else None
        unpack = _HEADER.unpack_from
        offsets: list[int] = []
        lengths: list[int] = []
        end = size if stop is None else min(stop, size)
        how = "eof"
        while pos + 8 <= end:
            group, element, length = (
                unpack(buf, pos) if buf is not None else unpack(self.source.view(pos, 8))
            )
            if group != 0xFFFE or element != 0xE000:
                if group == 0xFFFE and element == 0xE0DD:
                    how = "delimiter"
                else:
                    self._garbage(pos, group << 16 | element, len(offsets))
                    how = "garbage"
                break
            if pos + 8 + length > size:
                break
            offsets.append(pos + 8)
            lengths.append(length)
            pos += 8 + length
        else:
            how = "stop" if stop is not None and pos == stop else "eof"
        return np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64), how

    def _garbage(self, pos: int, tag: int, found: int) -> None:
        warnings.warn(
            f"{self.name}: expected an item (FFFE,E000) or the sequence delimiter (FFFE,E0DD) "
            f"at byte {pos} of the encapsulated pixel data, found {format_tag(tag)}; the "
            f"{found} fragments before it are used",
            LazyDcmWarning,
            stacklevel=5,
        )

    def reject(self, table: str, why: str) -> None:
        warnings.warn(
            f"{self.name}: the {table} is not used because {why}; the item headers are "
            "scanned instead",
            LazyDcmWarning,
            stacklevel=4,
        )

    def finish(
        self,
        kind: IndexKind,
        fragments: tuple[NDArray[np.int64], NDArray[np.int64]],
        starts: NDArray[np.int64],
        truncated: bool,
    ) -> FrameIndex:
        """Build the FrameIndex and settle the frame count.

        `fragments` are the payload offsets and lengths of every complete fragment;
        frame *i* is made of fragments ``starts[i]`` up to ``starts[i + 1]`` (the
        last frame: up to the end).
        """
        if truncated and len(starts) and not _ends_cleanly(self, *fragments):
            # The file ends inside the last frame's codestream: it is not there.
            fragments = (fragments[0][: starts[-1]], fragments[1][: starts[-1]])
            starts = starts[:-1]
        found, declared = len(starts), self.declared
        count = declared
        if truncated:
            warnings.warn(
                f"{self.name}: the file ends at byte {self.source.size}, before the end of "
                f"the encapsulated pixel data; {min(found, declared)} of {declared} frames "
                "are complete",
                LazyDcmWarning,
                stacklevel=4,
            )
        elif found > declared:
            warnings.warn(
                f"{self.name}: the encapsulated pixel data holds {found} frames, more than "
                f"(0028,0008) 'Number of Frames' {declared}; the extra frames are returned too",
                LazyDcmWarning,
                stacklevel=4,
            )
            count = found
        elif found < declared:
            warnings.warn(
                f"{self.name}: the encapsulated pixel data holds {found} frames, fewer than "
                f"(0028,0008) 'Number of Frames' {declared}; frames {found} to {declared - 1} "
                "cannot be read",
                LazyDcmWarning,
                stacklevel=4,
            )
        fragment_offsets, fragment_lengths = fragments
        used = len(fragment_offsets) if found <= count else int(starts[count])
        starts = starts[:count]
        bounds = np.append(starts, used).astype(np.int64)
        lengths = np.add.reduceat(fragment_lengths[:used], starts) if len(starts) else starts
        # The fragment lists are kept only when some frame has more than one fragment.
        multi = bool(len(starts)) and bool((np.diff(bounds) != 1).any())
        return FrameIndex(
            kind=kind,
            offsets=fragment_offsets[starts],
            lengths=lengths.astype(np.int64),
            count=count,
            fragment_offsets=fragment_offsets[:used] if multi else _empty(),
            fragment_lengths=fragment_lengths[:used] if multi else _empty(),
            fragment_starts=bounds if multi else _empty(),
            missing="truncated" if truncated else "absent",
            fragment_count=len(fragment_offsets),
        )


def _check_table(
    layout: _Encapsulated, table: str, relative: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], int] | None:
    """Check offsets of a table; return (positions, item lengths, frames inside the file).

    Rejects (warns, returns None) a table that does not start at 0, is not strictly
    increasing, or whose offsets inside the file do not land on item tags.
    """
    if relative[0] != 0:
        layout.reject(table, f"its first offset is {relative[0]}, not 0")
        return None
    steps = np.diff(relative)
    if len(steps) and steps.min() < 8:
        k = int(np.argmax(steps < 8)) + 1
        wrapped = " (32-bit offsets that wrapped past 4 GiB)" if table.startswith("Basic") else ""
        layout.reject(
            table,
            f"it does not increase: offset {k} is {relative[k]} after {relative[k - 1]}{wrapped}",
        )
        return None
    positions = layout.first + relative
    inside = int(np.count_nonzero(positions + 8 <= layout.source.size))
    tags, lengths = layout.headers(positions[:inside])
    if inside and (tags != ITEM).any():
        k = int(np.argmax(tags != ITEM))
        layout.reject(
            table,
            f"offset {k} ({relative[k]}) points to byte {positions[k]}, which is not an item "
            f"tag (FFFE,E000)",
        )
        return None
    return positions, lengths, inside


def eot_index(layout: _Encapsulated, offsets: object, lengths: object) -> FrameIndex | None:
    """Frame table from the Extended Offset Table: one fragment a frame, 64-bit offsets."""
    table = "Extended Offset Table (7FE0,0001)"
    if not isinstance(offsets, np.ndarray) or not isinstance(lengths, np.ndarray):
        layout.reject(table, "(7FE0,0002) 'Extended Offset Table Lengths' is missing")
        return None
    if len(offsets) != len(lengths) or not len(offsets):
        layout.reject(
            table, f"it has {len(offsets)} offsets and {len(lengths)} lengths (7FE0,0002)"
        )
        return None
    if len(layout.bot):
        layout.reject("Basic Offset Table", "an Extended Offset Table is present")
    frame_lengths = lengths.astype(np.int64)
    checked = _check_table(layout, table, offsets.astype(np.int64))
    if checked is None:
        return None
    positions, item_lengths, inside = checked
    too_long = frame_lengths[:inside] > item_lengths
    if too_long.any():
        k = int(np.argmax(too_long))
        layout.reject(
            table,
            f"frame {k} is {frame_lengths[k]} bytes long but its item holds {item_lengths[k]}",
        )
        return None
    complete = positions[:inside] + 8 + item_lengths <= layout.source.size
    present = inside if complete.all() else int(np.argmin(complete))
    fragments = (positions[:present] + 8, frame_lengths[:present])
    starts = np.arange(present, dtype=np.int64)
    return layout.finish("eot", fragments, starts, present < len(positions))


def bot_index(layout: _Encapsulated) -> FrameIndex | None:
    """Frame table from a checked Basic Offset Table; several fragments a frame are joined."""
    table = "Basic Offset Table"
    checked = _check_table(layout, table, layout.bot)
    if checked is None:
        return None
    positions, item_lengths, inside = checked
    nframes = len(positions)
    # A frame is one fragment when its item ends where the next frame's begins; the
    # others (and the last frame, which runs to the delimiter) are walked.
    single = positions[: inside - 1] + 8 + item_lengths[: inside - 1] == positions[1:inside]
    walked = [*np.flatnonzero(~single).tolist(), inside - 1] if inside else []
    sizes = np.ones(inside, dtype=np.int64)
    parts_offsets: list[NDArray[np.int64]] = []
    parts_lengths: list[NDArray[np.int64]] = []
    truncated = inside < nframes
    present = inside
    done = 0
    for k in sorted(set(walked)):
        parts_offsets.append(positions[done:k] + 8)
        parts_lengths.append(item_lengths[done:k])
        done = k
        stop = int(positions[k + 1]) if k + 1 < nframes else None
        offsets, lengths, how = layout.walk(int(positions[k]), stop)
        if how == "eof":
            truncated = True
        if (stop is not None and how != "stop") or not len(offsets):
            if how not in ("eof", "garbage"):
                layout.reject(table, f"offset {k + 1} ({layout.bot[k + 1]}) is not on an item tag")
                return None
            present = k
            break
        parts_offsets.append(offsets)
        parts_lengths.append(lengths)
        sizes[k] = len(offsets)
        done = k + 1
    starts = np.concatenate([[0], np.cumsum(sizes[: present - 1])]).astype(np.int64)
    fragments = (_concat(parts_offsets), _concat(parts_lengths))
    return layout.finish("bot", fragments, starts[:present], truncated)


def scan_index(layout: _Encapsulated) -> FrameIndex:
    """Frame table from one walk over the item headers, fragments grouped into frames."""
    offsets, lengths, how = layout.walk(layout.first, None)
    truncated = how == "eof"
    count, declared = len(offsets), layout.declared
    if count == declared or not count:
        starts = np.arange(count, dtype=np.int64)
    elif declared == 1 and not truncated:
        starts = np.zeros(1, dtype=np.int64)  # every fragment makes the only frame
    else:
        starts = _group_by_markers(layout, offsets, lengths)
    return layout.finish("scan", (offsets, lengths), starts, truncated)


def _concat(parts: list[NDArray[np.int64]]) -> NDArray[np.int64]:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _ends_cleanly(
    layout: _Encapsulated, offsets: NDArray[np.int64], lengths: NDArray[np.int64]
) -> bool:
    """Whether the last complete fragment ends a codestream (for syntaxes with an end marker)."""
    markers = _START_MARKERS.get(layout.parsed.transfer_syntax.uid)
    if markers is None or markers is _JXL or not len(offsets):
        return True
    tail = layout.peek(offsets[-1:] + np.maximum(lengths[-1:] - _END_WINDOW, 0), _END_WINDOW)
    return _EOI in tail[0]


def _group_by_markers(
    layout: _Encapsulated,
    offsets: NDArray[np.int64],
    lengths: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Indices of the fragments that start a frame, found from codec markers.

    A fragment starts a frame when it begins with the syntax's start marker and
    the fragment before it ends with the end marker (EOI/EOC, FF D9) within its
    last few bytes.  Syntaxes without markers (RLE, deflate, uncompressed) have one
    fragment a frame (PS3.5 A.4.2, A.4.11).
    """
    markers = _START_MARKERS.get(layout.parsed.transfer_syntax.uid)
    if markers is None:
        return np.arange(len(offsets), dtype=np.int64)
    heads = layout.peek(offsets, 12)
    starts = np.array([head.startswith(markers) for head in heads], dtype=bool)
    if markers is not _JXL:
        window = np.minimum(lengths, _END_WINDOW)
        tails = layout.peek(offsets + lengths - window, _END_WINDOW)
        ends = np.array(
            [_EOI in tail[:w] for tail, w in zip(tails, window.tolist(), strict=True)], dtype=bool
        )
        starts[1:] &= ends[:-1]
    starts[0] = True
    return np.flatnonzero(starts).astype(np.int64)
