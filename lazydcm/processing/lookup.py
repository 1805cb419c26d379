"""What the processing functions share: where values come from, and LUT data.

Contract: :func:`attributes` gives the attributes that apply to an array -- a
:class:`~lazydcm.FrameSequence`'s (per frame, from its functional groups, PS3.3
C.7.6.16) or a header mapping's -- and the helpers read LUT Descriptors and LUT
Data (PS3.3 C.11.1.1) and numbers, raising
:class:`~lazydcm.errors.InvalidDicomError` that names the element for malformed
values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import InvalidDicomError
from lazydcm.header.tags import format_tag
from lazydcm.processing.palettes import MAX_ENTRIES
from lazydcm.sequence import FrameSequence

__all__ = [
    "Source",
    "attributes",
    "descriptor",
    "little_endian",
    "lut_data",
    "lut_indices",
    "number",
    "rescale_of",
]

#: Where processing values come from: a sequence, or a header mapping.
Source = FrameSequence | Mapping[str, Any]


def attributes(source: Source, frame: int | None) -> Mapping[str, Any]:
    """The attributes that apply to `frame` (or to all frames when None)."""
    if isinstance(source, FrameSequence):
        return source.frame_header(frame)
    if frame is not None:
        raise TypeError(
            "frame= needs a FrameSequence, whose functional groups give that frame's values; "
            "for a header, pass frames.frame_header(i) instead"
        )
    return source


def number(value: Any, tag: int, index: int = 0) -> float:
    """Value `index` of a DS value as a float (a single value whatever `index`);
    InvalidDicomError naming `tag` when it is not a number."""
    picked = value[index] if isinstance(value, tuple) and value else value
    if isinstance(picked, bool) or not isinstance(picked, (int, float)):
        raise InvalidDicomError(f"{format_tag(tag)} value {value!r} is invalid; expected a number")
    return float(picked)


def rescale_of(values: Mapping[str, Any]) -> tuple[float, float] | None:
    """(slope, intercept) of the rescale operation (PS3.3 C.11.1.1.2), when it is given."""
    slope, intercept = values.get("RescaleSlope"), values.get("RescaleIntercept")
    if slope is None or intercept is None:
        return None
    return number(slope, 0x00281053), number(intercept, 0x00281052)


def little_endian(values: Mapping[str, Any]) -> bool:
    """The byte order of OW values, from the Transfer Syntax UID (little when absent).

    Explicit VR Big Endian is the only big endian transfer syntax (PS3.5 A.3);
    every other one, known to lazydcm or not, is little endian.
    """
    return str(values.get("TransferSyntaxUID", "")).strip() != uids.EXPLICIT_BE


def descriptor(item: Mapping[str, Any], tag: str) -> tuple[int, int, int]:
    """(entries, first value mapped, bits per entry) of a LUT Descriptor (C.11.1.1.1).

    The first value is always unsigned (a US or SS descriptor read as SS gives it
    negative past 32767), 0 meaning 2**16; the second follows Pixel Representation.
    """
    descriptor: Any = item.get("LUTDescriptor")
    valid = (
        isinstance(descriptor, (tuple, list))
        and len(descriptor) == 3
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in descriptor)
    )
    if not valid or not 1 <= descriptor[2] <= 16:  # 8 or 16; VOI LUTs also 10 to 15
        raise InvalidDicomError(
            f"{tag} 'LUT Descriptor' value {descriptor!r} is invalid; expected 3 integers, "
            "the third (the bits an entry) from 1 to 16"
        )
    entries, first_map, bits = (int(v) for v in descriptor)
    return (entries & 0xFFFF) or MAX_ENTRIES, first_map, bits


def lut_data(
    item: Mapping[str, Any],
    entries: int,
    dtype: str,
    little: bool,
    tag: str,
    *,
    bytes_8: bool = False,
) -> np.ndarray:
    """The `entries` values of an item's LUT Data, US or OW (C.11.1.1.2), as `dtype`.

    OW data holds a 16-bit word an entry, or with `bytes_8` a byte an entry (as
    pydicom reads the 8-bit entries of a Presentation LUT).
    """
    data = item.get("LUTData")
    if isinstance(data, bytes):
        size = 1 if bytes_8 else 2
        count = min(entries, len(data) // size)  # an odd trailing byte is no entry
        words = np.frombuffer(
            data, dtype="u1" if bytes_8 else ("<u2" if little else ">u2"), count=count
        )
    elif isinstance(data, (int, tuple)):
        words = np.asarray(data if isinstance(data, tuple) else (data,), dtype=np.int64)
    else:
        raise InvalidDicomError(f"{tag} 'LUT Data' value {data!r} is missing or invalid")
    if len(words) < entries:
        raise InvalidDicomError(
            f"{tag} 'LUT Data' holds {len(words)} values, but its 'LUT Descriptor' says {entries}"
        )
    return words[:entries].astype(dtype)


def lut_indices(arr: np.ndarray, first_map: int, entries: int) -> np.ndarray:
    """``arr - first_map`` as indices into `entries` entries: inputs below the first
    entry map to it and above the last to the last (PS3.3 C.11.1.1.1, C.11.2.1.1)."""
    index = np.asarray(arr).astype(np.int64)
    if first_map:
        index -= first_map
    np.clip(index, 0, entries - 1, out=index)
    return index
