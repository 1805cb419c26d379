"""Decode the values of the elements the header walk keeps.

Contract: a :class:`Raw` is a kept element as found (tag, VR, bytes, byte offset,
byte order); :func:`decode` turns it into a Python value -- numbers for the
binary numeric VRs (PS3.5 6.2), a read-only uint64 array for OV/UV, tags for AT,
bytes for the other binary VRs, text stripped of its padding, and int/float for
IS/DS (the string itself when it is not a number as PS3.5 6.2 writes one).  A
sequence decodes to a tuple of read-only mappings, since one header is shared by
every user of a file.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from lazydcm.errors import InvalidDicomError
from lazydcm.header.tags import AMBIGUOUS_US_SS, format_tag

__all__ = ["Raw", "decode"]

_NUMERIC = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
_BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "UN"})
# PS3.5 6.2: a DS is a fixed or floating point number, an IS an integer, in ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MULTI_VALUED_TEXT = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI"}
)


@dataclass(frozen=True)
class Raw:
    """A kept element before decoding."""

    tag: int
    vr: str
    value: bytes | list[dict[str, Any]]
    offset: int
    little: bool

    @classmethod
    def of(
        cls, tag: int, found: bytes | None, dictionary_vr: str, value: bytes, at: int, little: bool
    ) -> Raw:
        """Keep a value, decoded later with the explicit VR, else (implicit or UN) the
        dictionary's; a UN value is little endian whatever the dataset (PS3.5 6.2.2)."""
        if found is None or found == b"UN":
            return cls(tag, dictionary_vr, value, at, little or found == b"UN")
        return cls(tag, found.decode("ascii"), value, at, little)


def decode(raw: Raw, signed: bool) -> Any:
    """Decode a kept element's value into a Python value."""
    if isinstance(raw.value, list):
        # Read-only all the way down: the header is shared by every user of a file.
        return tuple(
            MappingProxyType({key: decode(value, signed) for key, value in item.items()})
            for item in raw.value
        )
    vr, data = raw.vr, raw.value
    if vr == AMBIGUOUS_US_SS:
        vr = "SS" if signed else "US"
    order = "<" if raw.little else ">"
    if vr in _NUMERIC:
        code = _NUMERIC[vr]
        count = len(data) // struct.calcsize(code)
        values = struct.unpack(f"{order}{count}{code}", data[: count * struct.calcsize(code)])
        return values[0] if count == 1 else tuple(values)
    if vr in ("OV", "UV"):
        if len(data) % 8:
            raise InvalidDicomError(
                f"{format_tag(raw.tag)} at byte {raw.offset} holds {len(data)} bytes, not a "
                "whole number of 64-bit values"
            )
        arr = np.frombuffer(data, dtype=f"{order}u8").astype(np.uint64)
        arr.flags.writeable = False
        return arr
    if vr == "AT":
        pairs = struct.unpack(f"{order}{len(data) // 2}H", data[: len(data) // 2 * 2])
        tags = tuple(pairs[i] << 16 | pairs[i + 1] for i in range(0, len(pairs) - 1, 2))
        return tags[0] if len(tags) == 1 else tags
    if vr in _BINARY_VRS:
        return bytes(data)
    text = data.decode("latin-1").rstrip("\x00 ").lstrip(" ")
    if vr not in _MULTI_VALUED_TEXT:
        return text
    parts = [part.strip(" \x00") for part in text.split("\\")]
    if vr in ("IS", "DS"):
        return _numbers(parts, vr)
    return parts[0] if len(parts) == 1 else tuple(parts)


def _numbers(parts: list[str], vr: str) -> Any:
    """IS/DS strings -> int/float; an empty value is None, and one that is not a number
    is kept as written."""
    out: list[Any] = []
    for part in parts:
        if not part:
            out.append(None)
        elif _DECIMAL.fullmatch(part) is None:
            out.append(part)
        else:
            number = float(part)
            out.append(int(number) if vr == "IS" and number.is_integer() else number)
    return out[0] if len(out) == 1 else tuple(out)
