"""The few DICOM elements lazydcm keeps, and how to name a tag in a message.

The header walk keeps only what the frame pipeline and the processing
functions need; everything else is skipped without being decoded.  The table
gives each kept element its keyword and its VR as PS3.6 defines it, which is
what an Implicit VR dataset (or an explicit ``UN``) is decoded with.
"""

from __future__ import annotations

__all__ = [
    "FUNCTIONAL_GROUPS",
    "GROUP_ELEMENTS",
    "GROUP_SEQUENCES",
    "KEPT",
    "OVERRIDABLE",
    "SEQUENCE_ITEM_KEPT",
    "format_tag",
    "keyword_of",
]

# VR "US or SS" (PS3.6): decoded as US, then as SS when Pixel Representation is 1.
AMBIGUOUS_US_SS = "xs"

#: tag -> (keyword, VR) of the top-level elements the header walk keeps.
KEPT: dict[int, tuple[str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "UI"),
    0x00020010: ("TransferSyntaxUID", "UI"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080060: ("Modality", "CS"),
    0x00089205: ("PixelPresentation", "CS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280006: ("PlanarConfiguration", "US"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280009: ("FrameIncrementPointer", "AT"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280102: ("HighBit", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00280106: ("SmallestImagePixelValue", AMBIGUOUS_US_SS),
    0x00280107: ("LargestImagePixelValue", AMBIGUOUS_US_SS),
    0x00280120: ("PixelPaddingValue", AMBIGUOUS_US_SS),
    0x00280121: ("PixelPaddingRangeLimit", AMBIGUOUS_US_SS),
    0x00281040: ("PixelIntensityRelationship", "CS"),
    0x00281041: ("PixelIntensityRelationshipSign", "SS"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
    0x00281054: ("RescaleType", "LO"),
    0x00281055: ("WindowCenterWidthExplanation", "LO"),
    0x00281056: ("VOILUTFunction", "CS"),
    0x00281101: ("RedPaletteColorLookupTableDescriptor", AMBIGUOUS_US_SS),
    0x00281102: ("GreenPaletteColorLookupTableDescriptor", AMBIGUOUS_US_SS),
    0x00281103: ("BluePaletteColorLookupTableDescriptor", AMBIGUOUS_US_SS),
    0x00281104: ("AlphaPaletteColorLookupTableDescriptor", "US"),
    0x00281199: ("PaletteColorLookupTableUID", "UI"),
    0x00281201: ("RedPaletteColorLookupTableData", "OW"),
    0x00281202: ("GreenPaletteColorLookupTableData", "OW"),
    0x00281203: ("BluePaletteColorLookupTableData", "OW"),
    0x00281204: ("AlphaPaletteColorLookupTableData", "OW"),
    0x00281221: ("SegmentedRedPaletteColorLookupTableData", "OW"),
    0x00281222: ("SegmentedGreenPaletteColorLookupTableData", "OW"),
    0x00281223: ("SegmentedBluePaletteColorLookupTableData", "OW"),
    0x00282110: ("LossyImageCompression", "CS"),
    0x00283000: ("ModalityLUTSequence", "SQ"),
    0x00283010: ("VOILUTSequence", "SQ"),
    0x00480006: ("TotalPixelMatrixColumns", "UL"),
    0x00480007: ("TotalPixelMatrixRows", "UL"),
    0x20500020: ("PresentationLUTShape", "CS"),
    0x20500010: ("PresentationLUTSequence", "SQ"),
    0x7FE00001: ("ExtendedOffsetTable", "OV"),
    0x7FE00002: ("ExtendedOffsetTableLengths", "OV"),
}

#: The keywords ``read_header(overrides=...)`` may replace: the kept elements of the
#: Image Pixel module (PS3.3 C.7.6.3) and (0028,0008) Number of Frames (C.7.6.6).
OVERRIDABLE: frozenset[str] = frozenset(
    {
        "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
        "NumberOfFrames", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
        "PixelRepresentation", "SmallestImagePixelValue", "LargestImagePixelValue",
        "PixelPaddingRangeLimit", "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
        "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
    }
)  # fmt: skip

#: tag -> (keyword, VR) of the elements kept inside the items of a kept sequence.
SEQUENCE_ITEM_KEPT: dict[int, tuple[str, str]] = {
    0x00283002: ("LUTDescriptor", AMBIGUOUS_US_SS),
    0x00283003: ("LUTExplanation", "LO"),
    0x00283004: ("ModalityLUTType", "LO"),
    0x00283006: ("LUTData", "OW"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
}

#: The Shared and Per-Frame Functional Groups Sequences (PS3.3 C.7.6.16), whose
#: place the header walk records without reading them.
FUNCTIONAL_GROUPS: dict[int, str] = {
    0x52009229: "SharedFunctionalGroupsSequence",
    0x52009230: "PerFrameFunctionalGroupsSequence",
}

#: tag -> keyword of the sequences :mod:`lazydcm.header.groups` reads inside a functional
#: groups item: the macros the processing functions need (PS3.3 C.7.6.16.2.9
#: Pixel Value Transformation, C.7.6.16.2.10 Frame VOI LUT and its "with LUT"
#: variant holding a VOI LUT Sequence, C.7.6.16.2.1 Pixel Measures).
GROUP_SEQUENCES: dict[int, str] = {
    0x00289145: "PixelValueTransformationSequence",
    0x00289132: "FrameVOILUTSequence",
    0x00289110: "PixelMeasuresSequence",
    0x00283010: "VOILUTSequence",
}

#: tag -> (keyword, VR) of the elements kept inside those macros' items: the same
#: elements as at the top level or in a VOI LUT Sequence item.
GROUP_ELEMENTS: dict[int, tuple[str, str]] = {
    tag: KEPT.get(tag) or SEQUENCE_ITEM_KEPT[tag]
    for tag in (
        0x00280030, 0x00281050, 0x00281051, 0x00281052, 0x00281053, 0x00281054, 0x00281055,
        0x00281056, 0x00283002, 0x00283003, 0x00283006,
    )
}  # fmt: skip


#: The pixel elements (PS3.3 C.7.6.3, C.7.6.24), in the order a header walk may meet them.
PIXEL_KEYWORDS: dict[int, str] = {
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
    0x7FE00010: "PixelData",
}

_NAMES: dict[int, str] = {
    **{tag: kw for tag, (kw, _) in KEPT.items()},
    **{tag: kw for tag, (kw, _) in SEQUENCE_ITEM_KEPT.items()},
    **PIXEL_KEYWORDS,
    **FUNCTIONAL_GROUPS,
    **GROUP_SEQUENCES,
    0xFFFEE000: "Item",
    0xFFFEE00D: "Item Delimitation Item",
    0xFFFEE0DD: "Sequence Delimitation Item",
}

# PS3.6 names that splitting the keyword at capitals does not give.
_SPACED: dict[str, str] = {
    "SamplesPerPixel": "Samples per Pixel",
    "NumberOfFrames": "Number of Frames",
    "WindowCenterWidthExplanation": "Window Center & Width Explanation",
    "VOILUTFunction": "VOI LUT Function",
    "VOILUTSequence": "VOI LUT Sequence",
    "PerFrameFunctionalGroupsSequence": "Per-Frame Functional Groups Sequence",
    "FrameVOILUTSequence": "Frame VOI LUT Sequence",
}


def keyword_of(tag: int) -> str | None:
    """Return the keyword of a tag lazydcm knows, else None."""
    return _NAMES.get(tag)


def _spaced(keyword: str) -> str:
    """'BitsAllocated' -> 'Bits Allocated', 'SOPClassUID' -> 'SOP Class UID'."""
    if keyword not in _SPACED:
        words: list[str] = []
        for i, ch in enumerate(keyword):
            prev = keyword[i - 1] if i else ""
            nxt = keyword[i + 1] if i + 1 < len(keyword) else ""
            if i and ch.isupper() and (prev.islower() or (nxt.islower() and prev.isupper())):
                words.append(" ")
            words.append(ch)
        _SPACED[keyword] = "".join(words)
    return _SPACED[keyword]


def format_tag(tag: int) -> str:
    """Return the tag as ``(0028,0010) 'Rows'``, or ``(0009,1001)`` when unknown."""
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    name = _NAMES.get(tag)
    if name is None:
        return text
    return f"{text} '{name if ' ' in name else _spaced(name)}'"
