"""The frame table of native pixel data, by arithmetic (PS3.5 8.1.1 and 8.2).

Frame *i* of *n* bits spans bytes ``[floor(i*n/8), ceil((i+1)*n/8))`` of the value,
which also covers Bits Allocated 1, where frames are packed bit to bit and need
not start on a byte.  8-bit samples stored as big-endian OW words are read in
whole words, so their spans are aligned to 2 bytes.
"""

from __future__ import annotations

import warnings

import numpy as np

from lazydcm.errors import InvalidDicomError, LazyDcmWarning
from lazydcm.header import ParsedHeader
from lazydcm.header.tags import format_tag
from lazydcm.index.table import FrameIndex

__all__ = ["native_frame_bits", "native_index"]


def native_frame_bits(parsed: ParsedHeader) -> int:
    """Bits one native frame occupies (PS3.5 8.1.1; YBR_FULL_422 per PS3.3 C.7.6.3.1.2)."""
    info = parsed.info
    bits = info.rows * info.columns * info.samples_per_pixel * info.bits_allocated
    if info.photometric_interpretation == "YBR_FULL_422":
        # Two luminance samples share one pair of chrominance samples: 2 samples a pixel.
        bits = bits // 3 * 2
    return bits


def native_index(parsed: ParsedHeader, name: str, size: int) -> FrameIndex:
    """Build the frame table of native pixel data by arithmetic.

    Parameters
    ----------
    parsed : ParsedHeader
        The header walk's result; its pixel element has a defined length.
    name : str
        The source's name, for messages.
    size : int
        The size of the source the pixel value is in.
    """
    info, pixel = parsed.info, parsed.pixel
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
            stacklevel=4,
        )
    elif claimed < expected:
        warnings.warn(
            f"{name}: {format_tag(pixel.tag)} holds {claimed} bytes, fewer than the {expected} "
            f"that (0028,0008) 'Number of Frames' {declared} needs; {min(whole, declared)} "
            "frames are complete",
            LazyDcmWarning,
            stacklevel=4,
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
                stacklevel=4,
            )
            count = whole
        else:
            warnings.warn(
                f"{name}: {format_tag(pixel.tag)} holds {claimed - expected} bytes of padding "
                "after the last frame; they are ignored",
                LazyDcmWarning,
                stacklevel=4,
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
        # A whole value that holds fewer frames than Number of Frames says is a
        # wrong header, not a file cut short.
        missing="truncated" if available < claimed else "absent",
    )
