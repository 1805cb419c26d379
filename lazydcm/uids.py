"""The transfer syntax table.

One :class:`TransferSyntax` per UID that lazydcm knows (PS3.5 section 10 and
Annex A, PS3.6 Annex A): its name, byte order, whether the dataset is encoded
with implicit or explicit VR, whether the pixel data is encapsulated
(PS3.5 A.4) and whether the dataset after the File Meta group is deflated
(PS3.5 A.5).  Nothing here depends on the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass

from lazydcm.errors import UnsupportedTransferSyntaxError

__all__ = [
    "DEFLATED_EXPLICIT_LE",
    "DEFLATED_IMAGE_FRAME",
    "ENCAPSULATED_UNCOMPRESSED",
    "EXPLICIT_BE",
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "TransferSyntax",
    "lookup",
]


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

    def __str__(self) -> str:
        return f"'{self.name}' ({self.uid})"


IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_LE = "1.2.840.10008.1.2.1.99"
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
DEFLATED_IMAGE_FRAME = "1.2.840.10008.1.2.8.1"

# Encapsulated syntaxes (PS3.5 A.4): (UID, name, decodable by lazydcm).
_ENCAPSULATED = (
    (ENCAPSULATED_UNCOMPRESSED, "Encapsulated Uncompressed Explicit VR Little Endian", True),
    (DEFLATED_IMAGE_FRAME, "Deflated Image Frame Compression", True),
    ("1.2.840.10008.1.2.5", "RLE Lossless", True),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", True),
    ("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", True),
    ("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", True),
    (
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
        True,
    ),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", True),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", True),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", True),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", True),
    (
        "1.2.840.10008.1.2.4.92",
        "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
        False,
    ),
    ("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", False),
    (
        "1.2.840.10008.1.2.4.201",
        "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
        True,
    ),
    (
        "1.2.840.10008.1.2.4.202",
        "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
        True,
    ),
    ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", True),
    ("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", True),
    ("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", True),
    ("1.2.840.10008.1.2.4.112", "JPEG XL", True),
    ("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", False),
    ("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", False),
    ("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", False),
    ("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", False),
    ("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", False),
    ("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", False),
    ("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", False),
    ("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", False),
    ("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", False),
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
    try:
        return _BY_UID[uid]
    except KeyError:
        raise UnsupportedTransferSyntaxError(
            f"(0002,0010) 'Transfer Syntax UID' value '{uid}' is not a transfer syntax "
            "lazydcm knows"
        ) from None
