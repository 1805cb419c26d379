"""Header overrides suggested by the pixel data itself, for files whose header is wrong.

Contract: :func:`suggest_overrides` takes an opened file and returns the
``overrides`` (keyword -> value, as :func:`lazydcm.header.read_dataset` takes
them) that would make the Image Pixel module describe the pixel data; an empty
dict when nothing disagrees.  It reads only the start of the first frame (with
``read_into``, never through a memory map), imports no codec, and never writes
anything.

What it compares:

* JPEG and JPEG-LS: the SOF segment's component count, precision, rows and
  columns (ISO/IEC 10918-1 B.2.2, 14495-1 C.2.2); JPEG 2000 and HTJ2K: the SIZ
  segment's (15444-1 A.5.1) -- with Samples per Pixel, Rows, Columns and Bits
  Stored.  A changed Samples per Pixel comes with the Photometric Interpretation
  and Planar Configuration that go with it (PS3.3 C.7.6.3.1.2, PS3.5 8.2).  A
  precision above Bits Stored suggests Bits Stored and High Bit (the samples'
  high bits would be cleared), and Bits Allocated too when the samples do not fit
  it (no frame decodes); a precision below Bits Stored is common and harmless
  (every sample fits) and suggests nothing.
* Any syntax: Number of Frames, when the data holds complete frames in another
  number than the header declares (a file cut short is not a wrong header).
"""

from __future__ import annotations

from lazydcm.errors import LazyDcmError
from lazydcm.header import ParsedHeader
from lazydcm.index import ItemReader, Rejected, frame_pieces
from lazydcm.opening import Opened
from lazydcm.sources.base import read_exactly
from lazydcm.uids import J2K_SYNTAXES, JPEG_LOSSY_SYNTAXES, JPEG_LS_SYNTAXES, JPEG_SYNTAXES

__all__ = ["suggest_overrides"]

#: Bytes read from the start of the first frame: enough for the SOF after a few
#: large APPn segments (an ICC profile takes up to 64 KiB a segment).
_HEAD = 1 << 18
_RGB_IDS = ((82, 71, 66), (114, 103, 98))  # 'RGB', 'rgb'


def suggest_overrides(opened: Opened) -> dict[str, object]:
    """The overrides that would make the header match the pixel data (see the module docstring).

    Returns
    -------
    dict
        Keyword -> suggested value; empty when the header matches what was checked,
        or when the first frame is not there to be checked.
    """
    parsed, index = opened.header, opened.index
    suggested: dict[str, object] = {}
    declared = parsed.info.number_of_frames
    if index.count > declared:
        suggested["NumberOfFrames"] = index.count  # the data holds more frames
    elif index.missing == "absent" and 0 < index.present < declared:
        suggested["NumberOfFrames"] = index.present  # whole data, fewer frames
    uid = parsed.transfer_syntax.uid
    if uid in JPEG_SYNTAXES or uid in J2K_SYNTAXES:
        head = _first_frame_head(opened)
        if head:
            suggested.update(_from_codestream(parsed, head))
    return suggested


def _first_frame_head(opened: Opened) -> bytes:
    """Up to :data:`_HEAD` bytes of the first frame's first fragment (b"" if not there)."""
    index, source = opened.index, opened.source
    if not index.present:
        return b""
    checker = ItemReader(source, opened.header.transfer_syntax.uid, pread=True)
    try:
        pieces = frame_pieces(index, 0, checker)
    except LazyDcmError:
        return b""  # the first frame is cut off: nothing to suggest from
    if isinstance(pieces, Rejected):
        return b""  # a wrong offset table entry: nothing to suggest from
    offsets, lengths = pieces
    n = min(lengths[0], _HEAD, source.size - offsets[0])
    return bytes(read_exactly(source, offsets[0], n)) if n > 0 else b""


def _from_codestream(parsed: ParsedHeader, head: bytes) -> dict[str, object]:
    from lazydcm.decoders.markers import j2k_info, jpeg_info

    info = parsed.info
    uid = parsed.transfer_syntax.uid
    said: tuple[int | None, int | None, int | None, int | None]
    if uid in J2K_SYNTAXES:
        j2k = j2k_info(head)
        if j2k is None:
            return {}
        said = (j2k.rows, j2k.columns, j2k.components, j2k.precision)
        colour = "RGB"  # decoders apply the inverse component transform (PS3.5 8.2.4)
    else:
        jpeg = jpeg_info(head)
        if jpeg is None:
            return {}
        said = (jpeg.rows, jpeg.columns, jpeg.components, jpeg.precision)
        lossy = uid in JPEG_LOSSY_SYNTAXES and uid not in JPEG_LS_SYNTAXES
        # Baseline and extended JPEG colour is YCbCr, subsampled as JFIF writes it.
        colour = "RGB" if jpeg.component_ids in _RGB_IDS or not lossy else "YBR_FULL_422"
    rows, columns, components, precision = said
    suggested: dict[str, object] = {}
    if rows and rows > 0 and rows != info.rows and rows <= 0xFFFF:
        suggested["Rows"] = rows
    if columns and 0 < columns <= 0xFFFF and columns != info.columns:
        suggested["Columns"] = columns
    if components in (1, 3) and components != info.samples_per_pixel:
        suggested["SamplesPerPixel"] = components
        if components == 1:
            if info.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2"):
                suggested["PhotometricInterpretation"] = "MONOCHROME2"
        else:
            suggested["PhotometricInterpretation"] = colour
            suggested["PlanarConfiguration"] = 0
    if precision is not None and info.bits_stored < precision <= 32:
        suggested["BitsStored"] = precision
        suggested["HighBit"] = precision - 1
        if precision > info.bits_allocated:
            suggested["BitsAllocated"] = next(b for b in (8, 16, 32) if precision <= b)
    return suggested
