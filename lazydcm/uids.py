"""The transfer syntax table: every UID lazydcm knows, by name and by family.

One :class:`TransferSyntax` per UID (PS3.5 section 10 and Annex A, PS3.6 Annex
A): its name, byte order, whether the dataset is encoded with implicit or
explicit VR, whether the pixel data is encapsulated (PS3.5 A.4) and whether the
dataset after the File Meta group is deflated (PS3.5 A.5).  Every module names a
transfer syntax by one of the constants below, or a family of them
(:data:`JPEG_SYNTAXES`, :data:`J2K_SYNTAXES`, ...), never by a literal UID.
Nothing here depends on the rest of the package but its errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from lazydcm.errors import UnsupportedTransferSyntaxError

__all__ = [
    "DEFLATED_EXPLICIT_LE",
    "DEFLATED_IMAGE_FRAME",
    "DEFLATE_SYNTAXES",
    "ENCAPSULATED_UNCOMPRESSED",
    "EXPLICIT_BE",
    "EXPLICIT_LE",
    "H264_2D",
    "H264_3D",
    "H264_BD",
    "H264_HIGH",
    "H264_STEREO",
    "HEVC_MAIN",
    "HEVC_MAIN10",
    "HTJ2K",
    "HTJ2K_LOSSLESS",
    "HTJ2K_LOSSLESS_RPCL",
    "HTJ2K_SYNTAXES",
    "IMPLICIT_LE",
    "J2K",
    "J2K_LOSSLESS",
    "J2K_PART2",
    "J2K_PART2_LOSSLESS",
    "J2K_PART2_SYNTAXES",
    "J2K_SYNTAXES",
    "JPEG_BASELINE",
    "JPEG_EXTENDED",
    "JPEG_LOSSLESS",
    "JPEG_LOSSLESS_SV1",
    "JPEG_LOSSY_SYNTAXES",
    "JPEG_LS_LOSSLESS",
    "JPEG_LS_NEAR_LOSSLESS",
    "JPEG_LS_SYNTAXES",
    "JPEG_PROCESS_SYNTAXES",
    "JPEG_SYNTAXES",
    "JPEG_XL",
    "JPEG_XL_JPEG_RECOMPRESSION",
    "JPEG_XL_LOSSLESS",
    "JPEG_XL_SYNTAXES",
    "MPEG2_HIGH",
    "MPEG2_MAIN",
    "NATIVE_SYNTAXES",
    "RLE_LOSSLESS",
    "RLE_SYNTAXES",
    "VIDEO_SYNTAXES",
    "TransferSyntax",
    "lookup",
]

# -- native (PS3.5 A.1-A.3, A.5) -------------------------------------------------------
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_LE = "1.2.840.10008.1.2.1.99"

# -- encapsulated (PS3.5 A.4) -----------------------------------------------------------
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
DEFLATED_IMAGE_FRAME = "1.2.840.10008.1.2.8.1"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
J2K_PART2_LOSSLESS = "1.2.840.10008.1.2.4.92"
J2K_PART2 = "1.2.840.10008.1.2.4.93"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
JPEG_XL_LOSSLESS = "1.2.840.10008.1.2.4.110"
JPEG_XL_JPEG_RECOMPRESSION = "1.2.840.10008.1.2.4.111"
JPEG_XL = "1.2.840.10008.1.2.4.112"
MPEG2_MAIN = "1.2.840.10008.1.2.4.100"
MPEG2_HIGH = "1.2.840.10008.1.2.4.101"
H264_HIGH = "1.2.840.10008.1.2.4.102"
H264_BD = "1.2.840.10008.1.2.4.103"
H264_2D = "1.2.840.10008.1.2.4.104"
H264_3D = "1.2.840.10008.1.2.4.105"
H264_STEREO = "1.2.840.10008.1.2.4.106"
HEVC_MAIN = "1.2.840.10008.1.2.4.107"
HEVC_MAIN10 = "1.2.840.10008.1.2.4.108"

# -- families -------------------------------------------------------------------------------
#: Native pixel data, whatever the dataset encoding (PS3.5 8.1.1).
NATIVE_SYNTAXES = frozenset({IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED_EXPLICIT_LE})
#: JPEG processes 1, 2 and 4 (lossy; PS3.5 A.4.1).
JPEG_LOSSY_SYNTAXES = frozenset({JPEG_BASELINE, JPEG_EXTENDED})
#: Every JPEG process of ISO/IEC 10918-1 in DICOM, lossy and lossless (PS3.5 A.4.1).
JPEG_PROCESS_SYNTAXES = JPEG_LOSSY_SYNTAXES | {JPEG_LOSSLESS, JPEG_LOSSLESS_SV1}
#: JPEG-LS lossless and near-lossless (PS3.5 A.4.3).
JPEG_LS_SYNTAXES = frozenset({JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS})
#: JPEG and JPEG-LS: codestreams that start with SOI (FF D8) and end with EOI.
JPEG_SYNTAXES = JPEG_PROCESS_SYNTAXES | JPEG_LS_SYNTAXES
#: High-Throughput JPEG 2000 (PS3.5 A.4.11).
HTJ2K_SYNTAXES = frozenset({HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL, HTJ2K})
#: JPEG 2000 Part 1 (PS3.5 A.4.4) and HTJ2K: the syntaxes lazydcm's J2K decoders read.
J2K_SYNTAXES = frozenset({J2K_LOSSLESS, J2K}) | HTJ2K_SYNTAXES
#: JPEG 2000 Part 2 multi-component (PS3.5 A.4.4): recognised, not decoded.
J2K_PART2_SYNTAXES = frozenset({J2K_PART2_LOSSLESS, J2K_PART2})
RLE_SYNTAXES = frozenset({RLE_LOSSLESS})
DEFLATE_SYNTAXES = frozenset({DEFLATED_IMAGE_FRAME})
#: JPEG XL (PS3.5 A.4.12): lossless, JPEG recompression, and lossy.
JPEG_XL_SYNTAXES = frozenset({JPEG_XL_LOSSLESS, JPEG_XL_JPEG_RECOMPRESSION, JPEG_XL})
#: MPEG-2, H.264 and HEVC video (PS3.5 8.2.5-8.2.8): the pixel data is one stream.
VIDEO_SYNTAXES = frozenset(
    {MPEG2_MAIN, MPEG2_HIGH, H264_HIGH, H264_BD, H264_2D, H264_3D, H264_STEREO}
    | {HEVC_MAIN, HEVC_MAIN10}
)


@dataclass(frozen=True)
class TransferSyntax:
    """One transfer syntax: how the dataset and its pixel data are encoded."""

    uid: str
    name: str
    little_endian: bool = True
    implicit_vr: bool = False
    encapsulated: bool = False
    deflated: bool = False
    #: False for syntaxes lazydcm recognises but cannot decode (MPEG video ...)
    decodable: bool = True

    @property
    def native(self) -> bool:
        """True when the pixel data is stored uncompressed, not encapsulated."""
        return not self.encapsulated

    @property
    def video(self) -> bool:
        """True for the video syntaxes, whose pixel data is one stream (PS3.5 8.2.5-8.2.8)."""
        return self.uid in VIDEO_SYNTAXES

    def __str__(self) -> str:
        return f"'{self.name}' ({self.uid})"


# Encapsulated syntaxes (PS3.5 A.4): (UID, name, decodable by lazydcm).
_ENCAPSULATED = (
    (ENCAPSULATED_UNCOMPRESSED, "Encapsulated Uncompressed Explicit VR Little Endian", True),
    (DEFLATED_IMAGE_FRAME, "Deflated Image Frame Compression", True),
    (RLE_LOSSLESS, "RLE Lossless", True),
    (JPEG_BASELINE, "JPEG Baseline (Process 1)", True),
    (JPEG_EXTENDED, "JPEG Extended (Process 2 and 4)", True),
    (JPEG_LOSSLESS, "JPEG Lossless, Non-Hierarchical (Process 14)", True),
    (
        JPEG_LOSSLESS_SV1,
        "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
        True,
    ),
    (JPEG_LS_LOSSLESS, "JPEG-LS Lossless Image Compression", True),
    (JPEG_LS_NEAR_LOSSLESS, "JPEG-LS Lossy (Near-Lossless) Image Compression", True),
    (J2K_LOSSLESS, "JPEG 2000 Image Compression (Lossless Only)", True),
    (J2K, "JPEG 2000 Image Compression", True),
    (
        J2K_PART2_LOSSLESS,
        "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
        False,
    ),
    (J2K_PART2, "JPEG 2000 Part 2 Multi-component Image Compression", False),
    (HTJ2K_LOSSLESS, "High-Throughput JPEG 2000 Image Compression (Lossless Only)", True),
    (
        HTJ2K_LOSSLESS_RPCL,
        "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
        True,
    ),
    (HTJ2K, "High-Throughput JPEG 2000 Image Compression", True),
    (JPEG_XL_LOSSLESS, "JPEG XL Lossless", True),
    (JPEG_XL_JPEG_RECOMPRESSION, "JPEG XL JPEG Recompression", True),
    (JPEG_XL, "JPEG XL", True),
    (MPEG2_MAIN, "MPEG2 Main Profile / Main Level", False),
    (MPEG2_HIGH, "MPEG2 Main Profile / High Level", False),
    (H264_HIGH, "MPEG-4 AVC/H.264 High Profile / Level 4.1", False),
    (H264_BD, "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", False),
    (H264_2D, "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", False),
    (H264_3D, "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", False),
    (H264_STEREO, "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", False),
    (HEVC_MAIN, "HEVC/H.265 Main Profile / Level 5.1", False),
    (HEVC_MAIN10, "HEVC/H.265 Main 10 Profile / Level 5.1", False),
)

_TABLE = (
    TransferSyntax(IMPLICIT_LE, "Implicit VR Little Endian", implicit_vr=True),
    TransferSyntax(EXPLICIT_LE, "Explicit VR Little Endian"),
    TransferSyntax(EXPLICIT_BE, "Explicit VR Big Endian", little_endian=False),
    TransferSyntax(DEFLATED_EXPLICIT_LE, "Deflated Explicit VR Little Endian", deflated=True),
    *(
        TransferSyntax(uid, name, encapsulated=True, decodable=decodable)
        for uid, name, decodable in _ENCAPSULATED
    ),
)

_BY_UID = {ts.uid: ts for ts in _TABLE}


def lookup(uid: str) -> TransferSyntax:
    """Return the :class:`TransferSyntax` for `uid`.

    Raises
    ------
    UnsupportedTransferSyntaxError
        When lazydcm does not know the UID.
    """
    found = _BY_UID.get(uid)
    if found is None:
        raise UnsupportedTransferSyntaxError(
            f"(0002,0010) 'Transfer Syntax UID' value '{uid}' is not a transfer syntax "
            "lazydcm knows"
        )
    return found
