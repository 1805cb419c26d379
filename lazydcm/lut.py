"""The grayscale and palette pipelines of PS3.3 C.11, as pydicom users know them.

Each function takes an array and where its attributes come from -- a
:class:`~lazydcm.FrameSequence`, or a header mapping such as
:attr:`FrameSequence.header <lazydcm.FrameSequence.header>` -- and gives the
result of the ``pydicom.pixels`` function of the same name on the same input
(tests/test_lut.py compares them on real files):

* :func:`apply_modality_lut` (alias :func:`apply_rescale`): Modality LUT
  Sequence or Rescale Slope and Intercept, PS3.3 C.11.1;
* :func:`apply_voi_lut`, :func:`apply_windowing`: VOI LUT Sequence, or Window
  Center and Width with the VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID,
  PS3.3 C.11.2 (C.11.2.1.2, C.11.2.1.3);
* :func:`apply_presentation_lut`: Presentation LUT Sequence or Shape, C.11.6;
* :func:`apply_color_lut`: Palette Color Lookup Tables, segmented ones included
  (C.7.6.3.1.5, C.7.6.3.1.6, C.7.9.2), or a well-known palette (PS3.6 Annex B).

With a :class:`~lazydcm.FrameSequence` and ``frame=i``, the values are those of
frame *i*: from its Per-Frame Functional Groups item, else the Shared Functional
Groups, else the top level (PS3.3 C.7.6.16; :meth:`FrameSequence.frame_header
<lazydcm.FrameSequence.frame_header>`).  Without ``frame``, a file with
functional groups gives the shared values, else the top-level ones.

Where pydicom is wrong, lazydcm is right: LUT Data stored as OW is read in the
file's byte order also for the Presentation LUT, input values outside a LUT's
range map to its first or last entry whatever the array's dtype, and the
well-known palettes ``"FALL"`` and ``"WINTER"`` are not swapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import InvalidDicomError
from lazydcm.palettes import MAX_ENTRIES, expand_segmented, well_known_palette
from lazydcm.sequence import FrameSequence
from lazydcm.tags import format_tag

__all__ = [
    "apply_color_lut",
    "apply_modality_lut",
    "apply_presentation_lut",
    "apply_rescale",
    "apply_voi_lut",
    "apply_windowing",
]

#: Where processing values come from: a sequence, or a header mapping.
Source = FrameSequence | Mapping[str, Any]


def _values(source: Source, frame: int | None) -> Mapping[str, Any]:
    """The attributes that apply to `frame` (or to all frames when None)."""
    if isinstance(source, FrameSequence):
        return source.frame_header(frame)
    if frame is not None:
        raise TypeError(
            "frame= needs a FrameSequence, whose functional groups give that frame's values; "
            "for a header, pass frames.frame_header(i) instead"
        )
    return source


def _number(value: Any, tag: int, index: int = 0) -> float:
    """Value `index` of a DS value as a float (a single value whatever `index`);
    InvalidDicomError naming `tag` when it is not a number."""
    picked = value[index] if isinstance(value, tuple) and value else value
    if isinstance(picked, bool) or not isinstance(picked, (int, float)):
        raise InvalidDicomError(f"{format_tag(tag)} value {value!r} is invalid; expected a number")
    return float(picked)


def _rescale(values: Mapping[str, Any]) -> tuple[float, float] | None:
    """(slope, intercept) of the rescale operation (PS3.3 C.11.1.1.2), when it is given."""
    slope, intercept = values.get("RescaleSlope"), values.get("RescaleIntercept")
    if slope is None or intercept is None:
        return None
    return _number(slope, 0x00281053), _number(intercept, 0x00281052)


def _little_endian(values: Mapping[str, Any]) -> bool:
    """The byte order of OW values, from the Transfer Syntax UID (little when absent).

    Explicit VR Big Endian is the only big endian transfer syntax (PS3.5 A.3);
    every other one, known to lazydcm or not, is little endian.
    """
    return str(values.get("TransferSyntaxUID", "")).strip() != uids.EXPLICIT_BE


def _descriptor(item: Mapping[str, Any], tag: str) -> tuple[int, int, int]:
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


def _lut_data(
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


def _indices(arr: np.ndarray, first_map: int, entries: int) -> np.ndarray:
    """``arr - first_map`` as indices into `entries` entries: inputs below the first
    entry map to it and above the last to the last (PS3.3 C.11.1.1.1, C.11.2.1.1)."""
    index = np.asarray(arr).astype(np.int64)
    if first_map:
        index -= first_map
    np.clip(index, 0, entries - 1, out=index)
    return index


# -- C.11.1 Modality LUT ------------------------------------------------------------


def apply_modality_lut(arr: np.ndarray, source: Source, *, frame: int | None = None) -> np.ndarray:
    """Apply the Modality LUT or the rescale operation to `arr` (PS3.3 C.11.1).

    Parameters
    ----------
    arr : numpy.ndarray
        Stored values, e.g. ``frames[i]``.
    source : FrameSequence or mapping
        Where the Modality LUT module's values come from.
    frame : int, optional
        The frame `arr` is; its Pixel Value Transformation functional group
        (PS3.3 C.7.6.16.2.9) applies, when the file has one.  Needs a
        FrameSequence.

    Returns
    -------
    numpy.ndarray
        With a (0028,3000) Modality LUT Sequence, its LUT's values, uint8 or
        uint16 as the third value of (0028,3002) LUT Descriptor says; with
        (0028,1053) Rescale Slope and (0028,1052) Rescale Intercept,
        ``arr * slope + intercept`` in float64; else `arr` unchanged.

    Raises
    ------
    InvalidDicomError
        The module's values are malformed (the message names the element).
    """
    values = _values(source, frame)
    sequence = values.get("ModalityLUTSequence")
    if sequence:
        tag = format_tag(0x00283000)
        entries, first_map, bits = _descriptor(sequence[0], tag)
        dtype = "uint8" if bits <= 8 else "uint16"
        lut = _lut_data(sequence[0], entries, dtype, _little_endian(values), tag)
        return np.take(lut, _indices(arr, first_map, len(lut)))
    rescale = _rescale(values)
    if rescale is not None:
        out = arr.astype(np.float64) * rescale[0]
        out += rescale[1]
        return out
    return arr


#: pydicom's name for :func:`apply_modality_lut`.
apply_rescale = apply_modality_lut


# -- C.11.2 VOI LUT -----------------------------------------------------------------


def apply_voi_lut(
    arr: np.ndarray,
    source: Source,
    *,
    index: int = 0,
    prefer_lut: bool = True,
    frame: int | None = None,
) -> np.ndarray:
    """Apply the VOI LUT or the windowing operation to `arr` (PS3.3 C.11.2).

    Parameters
    ----------
    arr : numpy.ndarray
        Modality values (after :func:`apply_modality_lut`).
    source : FrameSequence or mapping
        Where the VOI LUT module's values come from.
    index : int, optional
        Which of several VOI LUTs, or of several windows, to apply (default 0).
    prefer_lut : bool, optional
        When the module has both a (0028,3010) VOI LUT Sequence and a window,
        apply the LUT (default) rather than the window.
    frame : int, optional
        The frame `arr` is; its Frame VOI LUT functional group (PS3.3
        C.7.6.16.2.10) applies, when the file has one.  Needs a FrameSequence.

    Returns
    -------
    numpy.ndarray
        The VOI LUT's values (uint8 or uint16, as its LUT Descriptor says), or
        the windowed values (float64, :func:`apply_windowing`), or `arr`
        unchanged when the module holds neither.

    Raises
    ------
    NotImplementedError
        VOI LUT entries of fewer than 8 bits, or of 9 (PS3.3 C.8.11.3.1.5 allows 8
        and 10 to 16).
    InvalidDicomError
        A malformed LUT Descriptor (entries of more than 16 bits, for one) or LUT
        Data; the message names the sequence.
    ValueError
        As :func:`apply_windowing`, when the window is applied.
    """
    values = _values(source, frame)
    sequence: Any = values.get("VOILUTSequence")
    valid_lut = bool(sequence) and all(
        sequence[0].get(key) is not None for key in ("LUTDescriptor", "LUTData")
    )
    valid_window = values.get("WindowCenter") is not None and values.get("WindowWidth") is not None
    if valid_lut and (prefer_lut or not valid_window):
        return _apply_voi_sequence(arr, values, index)
    if valid_window:
        return _windowing(arr, values, index)
    return arr


def _apply_voi_sequence(arr: np.ndarray, values: Mapping[str, Any], index: int) -> np.ndarray:
    """Apply item `index` of the VOI LUT Sequence (PS3.3 C.11.2.1.1)."""
    tag = format_tag(0x00283010)
    item = values["VOILUTSequence"][index]
    entries, first_map, bits = _descriptor(item, tag)
    # PS3.3 C.8.11.3.1.5: 8 or 10 to 16 bits an entry.
    if bits == 8:
        dtype = "uint8"
    elif 10 <= bits <= 16:
        dtype = "uint16"
    else:
        raise NotImplementedError(
            f"'{bits}' bits per LUT entry is not supported (the third value of the "
            f"'LUT Descriptor' in item {index} of {tag})"
        )
    lut = _lut_data(item, entries, dtype, _little_endian(values), tag)
    return np.take(lut, _indices(arr, first_map, len(lut)))


def apply_windowing(
    arr: np.ndarray, source: Source, *, index: int = 0, frame: int | None = None
) -> np.ndarray:
    """Apply the window of (0028,1050) Window Center and (0028,1051) Window Width.

    The VOI LUT Function (0028,1056) chooses the transform: LINEAR (the default,
    PS3.3 C.11.2.1.2.1), LINEAR_EXACT (C.11.2.1.3.2) or SIGMOID (C.11.2.1.3.1).
    The output spans the range of the modality values: that of the Modality LUT's
    entries, else of the stored values (Bits Stored, Pixel Representation)
    rescaled by Rescale Slope and Intercept when present.

    Parameters
    ----------
    arr : numpy.ndarray
        Modality values (after :func:`apply_modality_lut`).
    source : FrameSequence or mapping
        Where the VOI LUT and Image Pixel modules' values come from.
    index : int, optional
        Which window, when Window Center and Width hold several (default 0).
    frame : int, optional
        The frame `arr` is; its Frame VOI LUT and Pixel Value Transformation
        functional groups apply, when the file has them.  Needs a FrameSequence.

    Returns
    -------
    numpy.ndarray
        float64 windowed values; `arr` unchanged when there is no window.

    Raises
    ------
    ValueError
        The image is not MONOCHROME1 or MONOCHROME2, the width is out of range
        for the function, or the function is not one of the three.
    InvalidDicomError
        Only one of Window Center and Width, or a value that is not a number,
        or no (0028,0101) Bits Stored to give the output range.
    """
    return _windowing(arr, _values(source, frame), index)


def _windowing(arr: np.ndarray, values: Mapping[str, Any], index: int) -> np.ndarray:
    if "WindowWidth" not in values and "WindowCenter" not in values:
        return arr
    for keyword, tag in (("WindowCenter", 0x00281050), ("WindowWidth", 0x00281051)):
        if values.get(keyword) is None:
            raise InvalidDicomError(f"{format_tag(tag)} is missing or empty")
    photometric = values.get("PhotometricInterpretation")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            "When performing a windowing operation only 'MONOCHROME1' and 'MONOCHROME2' are "
            "allowed for (0028,0004) Photometric Interpretation"
        )
    function = str(values.get("VOILUTFunction", "LINEAR")).upper()
    center = _number(values["WindowCenter"], 0x00281050, index)
    width = _number(values["WindowWidth"], 0x00281051, index)
    y_min, y_max = _output_range(values)
    y_range = y_max - y_min
    x = np.asarray(arr, dtype=np.float64)
    if function in ("LINEAR", "LINEAR_EXACT"):
        if function == "LINEAR":  # PS3.3 C.11.2.1.2.1
            if width < 1:
                raise ValueError(
                    "The (0028,1051) Window Width must be greater than or equal to 1 for a "
                    "'LINEAR' windowing operation"
                )
            center -= 0.5
            width -= 1
        elif width <= 0:  # PS3.3 C.11.2.1.3.2
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'LINEAR_EXACT' "
                "windowing operation"
            )
        # The same operations, in the same order, as pydicom's (same float64 values);
        # a LINEAR width of 1 leaves no input between the ends, so no division counts.
        out = x - center
        with np.errstate(divide="ignore", invalid="ignore"):
            out /= width
        out += 0.5
        out *= y_range
        out += y_min
        np.copyto(out, y_min, where=x <= center - width / 2)
        np.copyto(out, y_max, where=x > center + width / 2)
        return out
    if function == "SIGMOID":  # PS3.3 C.11.2.1.3.1
        if width <= 0:
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'SIGMOID' "
                "windowing operation"
            )
        out = x - center
        out *= -4
        out /= width
        with np.errstate(over="ignore"):  # exp overflows to inf, giving y_min as it should
            np.exp(out, out=out)
        out += 1
        np.divide(y_range, out, out=out)
        out += y_min
        return out
    raise ValueError(f"Unsupported (0028,1056) VOI LUT Function value '{function}'")


def _output_range(values: Mapping[str, Any]) -> tuple[float, float]:
    """The range of the modality values the window maps from (PS3.3 C.11.2.1.2)."""
    sequence = values.get("ModalityLUTSequence")
    if sequence:
        bits = _descriptor(sequence[0], format_tag(0x00283000))[2]
        y_min, y_max = 0.0, float(2**bits - 1)  # unsigned, C.11.1.1.1
    else:
        stored = values.get("BitsStored")
        if not isinstance(stored, int) or isinstance(stored, bool) or not 1 <= stored <= 64:
            raise InvalidDicomError(
                f"{format_tag(0x00280101)} value {stored!r} is invalid; expected 1 to 64"
            )
        if values.get("PixelRepresentation") == 1:
            y_min, y_max = float(-(2 ** (stored - 1))), float(2 ** (stored - 1) - 1)
        else:
            y_min, y_max = 0.0, float(2**stored - 1)
    rescale = _rescale(values)
    if rescale is not None:
        slope, intercept = rescale
        y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max


# -- C.11.6 Presentation LUT ----------------------------------------------------------


def apply_presentation_lut(arr: np.ndarray, source: Source) -> np.ndarray:
    """Apply the Presentation LUT to `arr` and return P-values (PS3.3 C.11.6).

    Parameters
    ----------
    arr : numpy.ndarray
        Values after the modality and VOI transforms.
    source : FrameSequence or mapping
        Where the Presentation LUT module's values come from.

    Returns
    -------
    numpy.ndarray
        With a (2050,0010) Presentation LUT Sequence, `arr` scaled linearly to
        the LUT's entries and looked up (uint8 or uint16); with (2050,0020)
        Presentation LUT Shape INVERSE, ``arr.max() - arr``; else (IDENTITY, or
        neither) `arr` unchanged.

    Raises
    ------
    NotImplementedError
        A Presentation LUT Shape other than IDENTITY or INVERSE.
    """
    values = _values(source, None)
    sequence = values.get("PresentationLUTSequence")
    if sequence:
        tag = format_tag(0x20500010)
        entries, _, bits = _descriptor(sequence[0], tag)
        itemsize = 8 if bits <= 8 else 16
        little = _little_endian(values)
        # LUT Data is US or OW (C.11.6.1); US values come out as uint16 (as pydicom's,
        # which also masks them by the 8- or 16-bit item size, not by their type).
        dtype = f"uint{itemsize}" if isinstance(sequence[0].get("LUTData"), bytes) else "uint16"
        lut = _lut_data(sequence[0], entries, dtype, little, tag, bytes_8=bits <= 8)
        if shift := itemsize - bits:  # the unused high bits of an entry are not part of it
            lut = (lut << shift) >> shift
        # Quantise the input linearly to the LUT's entries, as pydicom does; a constant
        # input (or a one-entry LUT) has no range to scale and maps to the first entry,
        # where pydicom divides by zero (with a RuntimeWarning) to get the same.
        scaled = arr.astype(np.float32)
        scaled -= scaled.min()
        top = scaled.max()
        if top > 0 and entries > 1:
            scaled /= top / (entries - 1)
        return np.asarray(lut[scaled.astype(np.uint16)])
    shape = values.get("PresentationLUTShape")
    if shape is not None:
        transform = str(shape).strip().upper()
        if transform not in ("IDENTITY", "INVERSE"):
            raise NotImplementedError(
                f"A (2050,0020) 'Presentation LUT Shape' value of '{shape}' is not supported"
            )
        if transform == "INVERSE":
            return np.asarray(arr.max() - arr)
    return arr


# -- C.7.6.3.1.5/6 and C.7.9 Palette Color Lookup Tables -------------------------------


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
    values = _values(source, None)
    if values.get("PixelPresentation") in ("MIXED", "COLOR"):
        raise ValueError(
            "Use of this function with the Supplemental Palette Color Lookup Table Module is "
            "not currently supported"
        )
    if "RedPaletteColorLookupTableDescriptor" not in values:
        raise ValueError("No suitable Palette Color Lookup Table Module found")
    descriptor = values["RedPaletteColorLookupTableDescriptor"]
    tag = format_tag(0x00281101)
    entries, first_map, bits = _descriptor({"LUTDescriptor": descriptor}, tag)
    little = _little_endian(values)
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
    index = _indices(arr, first_map, min(entries, len(luts[0])))
    out = np.empty((*index.shape, len(luts)), dtype=luts[0].dtype)
    for channel, lut in enumerate(luts):
        np.take(lut, index, out=out[..., channel])
    return out
