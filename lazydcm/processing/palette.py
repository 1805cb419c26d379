"""Palette Color Lookup Tables (PS3.3 C.7.6.3.1.5, C.7.6.3.1.6, C.7.9), as ``pydicom.pixels``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lazydcm.errors import InvalidDicomError
from lazydcm.header.tags import format_tag
from lazydcm.processing.lookup import Source, attributes, descriptor, little_endian, lut_indices
from lazydcm.processing.palettes import expand_segmented, well_known_palette

__all__ = ["apply_color_lut"]


def apply_color_lut(
    arr: np.ndarray, source: Source | None = None, *, palette: str | None = None
) -> np.ndarray:
    """Apply a Palette Color Lookup Table to `arr`: RGB, or RGBA with an alpha table.

    Parameters
    ----------
    arr : numpy.ndarray
        Stored values of a PALETTE COLOR image (or any indices into the palette).
    source : FrameSequence or mapping, optional
        Where the Palette Color Lookup Table module comes from (PS3.3 C.7.6.3.1.5,
        C.7.6.3.1.6, C.7.9): plain LUT Data, or Segmented LUT Data (C.7.9.2).
        Required unless `palette` is given.
    palette : str, optional
        A well-known palette (PS3.6 Annex B) by Content Label -- ``"HOT_IRON"``,
        ``"PET"``, ``"HOT_METAL_BLUE"``, ``"PET_20_STEP"``, ``"SPRING"``,
        ``"SUMMER"``, ``"FALL"``, ``"WINTER"`` -- or SOP Instance UID.

    Returns
    -------
    numpy.ndarray
        ``arr.shape + (3,)`` (or ``(4,)``), uint8 or uint16 as the LUT Data's
        entries are 8 or 16 bits.

    Raises
    ------
    ValueError
        Neither a source nor a palette, an unknown palette, no palette in the
        source, or a Supplemental Palette Color LUT (C.8.16.2.1.1.1, which needs
        the grayscale pipeline first).
    InvalidDicomError
        A malformed table (also a ValueError, as pydicom raises): a missing red,
        green or blue table, tables of different lengths, entries that are not 8
        or 16 bits, or Segmented LUT Data that does not expand.
    """
    if palette:
        luts: list[np.ndarray] = list(well_known_palette(palette))
        return _stack(arr, luts, 0, 256)
    if source is None:
        raise ValueError("Either 'source' or 'palette' is required")
    values = attributes(source, None)
    if values.get("PixelPresentation") in ("MIXED", "COLOR"):
        raise ValueError(
            "Use of this function with the Supplemental Palette Color Lookup Table Module is "
            "not currently supported"
        )
    if "RedPaletteColorLookupTableDescriptor" not in values:
        raise ValueError("No suitable Palette Color Lookup Table Module found")
    red = values["RedPaletteColorLookupTableDescriptor"]
    tag = format_tag(0x00281101)
    entries, first_map, bits = descriptor({"LUTDescriptor": red}, tag)
    little = little_endian(values)
    if values.get("RedPaletteColorLookupTableData") is not None:
        tables = _palette_tables(values, segmented=False, little=little)
        depth = len(tables[0]) * 8 / entries
        if depth not in (8, 16):
            raise InvalidDicomError(
                f"The bit depth of the LUT data '{depth:.1f}' is invalid (only 8 or 16 bits "
                f"per entry allowed): {format_tag(0x00281201)} holds {len(tables[0])} bytes "
                f"for the {entries} entries of {tag}"
            )
        if any(len(t) != len(tables[0]) for t in tables):
            raise InvalidDicomError(
                "LUT data must be the same length: the tables hold "
                f"{', '.join(str(len(t)) for t in tables)} bytes"
            )
        dtype = np.dtype(f"{'<' if little else '>'}u{int(depth) // 8}")
        luts = [np.frombuffer(t, dtype=dtype).astype(dtype.newbyteorder("=")) for t in tables]
    elif values.get("SegmentedRedPaletteColorLookupTableData") is not None:
        if bits not in (8, 16):
            raise InvalidDicomError(
                f"The bit depth of the LUT data '{bits:.1f}' is invalid (only 8 or 16 bits per "
                f"entry allowed): the third value of {tag}"
            )
        size = bits // 8
        code = ("<" if little else ">") + f"u{size}"
        luts = []
        for table in _palette_tables(values, segmented=True, little=little):
            segments = np.frombuffer(table, dtype=code, count=len(table) // size)
            expanded = expand_segmented(segments.tolist(), little, bits == 8)
            luts.append(np.asarray(expanded, dtype=f"u{size}"))
        if not len(luts[0]):
            raise InvalidDicomError(f"{format_tag(0x00281221)} expands to no entries")
        if any(len(lut) != len(luts[0]) for lut in luts):
            raise InvalidDicomError(
                "LUT data must be the same length: the segmented tables expand to "
                f"{', '.join(str(len(lut)) for lut in luts)} entries"
            )
    else:
        raise ValueError("No suitable Palette Color Lookup Table Module found")
    return _stack(arr, luts, first_map, entries)


#: The (plain, segmented) LUT Data tags of each channel (PS3.3 C.7.6.3.1.6, C.7.9.2).
_CHANNEL_TAGS = {
    "Red": (0x00281201, 0x00281221),
    "Green": (0x00281202, 0x00281222),
    "Blue": (0x00281203, 0x00281223),
    "Alpha": (0x00281204, 0x00281224),
}


def _palette_tables(values: Mapping[str, Any], *, segmented: bool, little: bool) -> list[bytes]:
    """The stored bytes of the red, green and blue tables, and of the alpha table when
    there is one; InvalidDicomError naming the first of the three that is missing."""
    tables: list[bytes] = []
    for channel, tags in _CHANNEL_TAGS.items():
        prefix = "Segmented" if segmented else ""
        table = _table_bytes(values.get(f"{prefix}{channel}PaletteColorLookupTableData"), little)
        if table:
            tables.append(table)
        elif channel != "Alpha":
            raise InvalidDicomError(f"{format_tag(tags[segmented])} is missing or empty")
    return tables


def _table_bytes(value: Any, little: bool) -> bytes:
    """LUT Data as stored: OW bytes, or US/SS values (explicit VR) packed back as words."""
    if value is None or isinstance(value, bytes):
        return value or b""
    words = value if isinstance(value, tuple) else (value,)
    return np.asarray(words, dtype=np.int64).astype("<u2" if little else ">u2").tobytes()


def _stack(arr: np.ndarray, luts: list[np.ndarray], first_map: int, entries: int) -> np.ndarray:
    """Look `arr` up in each table (:func:`_indices`); channels last."""
    index = lut_indices(arr, first_map, min(entries, len(luts[0])))
    out = np.empty((*index.shape, len(luts)), dtype=luts[0].dtype)
    for channel, lut in enumerate(luts):
        np.take(lut, index, out=out[..., channel])
    return out
