"""Write small synthetic DICOM files from scratch, right or deliberately wrong.

Contract: numpy and the standard library only (no pydicom; from lazydcm only the
UID constants of :mod:`lazydcm.uids`).  Each function writes the bytes the DICOM
Standard prescribes for its arguments -- elements and sequences (PS3.5 7.1, 7.5),
File Meta (PS3.10 7.1), native pixels (PS3.5 8.1, 8.2), encapsulated pixels and
offset tables (PS3.5 A.4), deflate (PS3.5 A.5) -- and every structural value
(VR, length field, offset table entries, Number of Frames, preamble and meta)
can be overridden: nothing is validated beyond what encoding needs (else
``ValueError``), so tests can build hostile files.  Implicit VR LE, Explicit VR
LE and BE and Deflated Explicit VR LE are native; any other UID is encapsulated,
with an Explicit VR LE dataset.  The ``write_*`` functions stream to disk with
one frame in memory and return the file size.

Encapsulated layout (:func:`encapsulate`, :func:`frame_table`, the writers): a
frame of ``n`` fragments is cut at the even offsets ``2 * (i * len(frame) //
(2 * n))``, so every fragment but the last has even length, and an odd frame
gets one 0x00 at the end of its last fragment (a frame shorter than ``2 * n``
bytes has empty fragments).  A frame's offset is its first Item tag's, from the
first byte of the first Item after the Basic Offset Table; its length is the sum
of its fragments' padded value lengths (with one fragment, the Extended Offset
Table Lengths value of PS3.3 C.7.6.3.1.9).
"""

from lazydcm.testing.synth.encoding import (
    IMPLEMENTATION_CLASS_UID,
    MAX_HOLE_LENGTH,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    ImagePixel,
    dataset,
    dicom_file,
    encapsulate,
    encode_element,
    encode_sequence,
    file_meta,
    frame_table,
    native_pixels,
    preamble,
)
from lazydcm.testing.synth.writers import (
    write_encapsulated,
    write_native,
    write_sparse_encapsulated,
)

__all__ = [
    "IMPLEMENTATION_CLASS_UID", "MAX_HOLE_LENGTH", "SOP_CLASS_UID", "SOP_INSTANCE_UID",
    "ImagePixel", "dataset", "dicom_file", "encapsulate", "encode_element", "encode_sequence",
    "file_meta", "frame_table", "native_pixels", "preamble", "write_encapsulated",
    "write_native", "write_sparse_encapsulated",
]  # fmt: skip
