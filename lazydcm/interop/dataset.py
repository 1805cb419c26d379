"""pydicom ``Dataset`` input: what lazydcm reads when it is given a dataset.

Contract: :func:`is_dataset` recognises a pydicom ``Dataset`` by its class's
module and name, so that pydicom is never imported for other input, and never
required.  :meth:`DatasetInput.of` says what to read instead, so that frames are
what ``ds.pixel_array`` gives; :func:`lazydcm.opening.open` carries it out, and
walks the header once:

* **Read from a file** (``ds.filename`` names a regular file): the file, so it is
  memory-mapped, read a frame at a time, and worker processes and Dask tasks can
  open it themselves -- provided the file still holds what the dataset holds.
  Before the file is opened, its modification time is compared with the one
  pydicom recorded (``ds.timestamp``); after its header is walked,
  :meth:`DatasetInput.differs` compares the transfer syntax and the Image Pixel
  module (PS3.3 C.7.6.3) with the dataset's, and, when the dataset holds its
  pixel data as a value that may have been changed (read and converted, or
  assigned), that value with the file's bytes (one pass over them, at memory
  speed when the file is in the page cache).  A dataset whose pixel data were
  never read (``stop_before_pixels``, a deferred read) or never converted is as
  its file.  Other attributes (windowing, rescale, LUTs) are the file's.
* **Changed in memory, or read from a buffer, or built in memory**:
  :meth:`DatasetInput.in_memory` writes the dataset with ``pydicom.dcmwrite`` to
  memory, keeping its transfer syntax (File Meta is completed where it lacks
  one), and that is read.  This costs one copy of the pixel data for as long as
  the sequence is open; it is what keeps the header -- which lazydcm walks
  itself -- and the pixels consistent.
* **Its file changed and its pixel data were not read** (a deferred read): a
  :class:`~lazydcm.errors.LazyDcmError`, since neither the file nor the dataset
  holds what it held when it was read.

This bridge feeds the opening stage: it imports only :mod:`lazydcm.sources` and
:mod:`lazydcm.header`, never what comes after them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazydcm import uids
from lazydcm.errors import InvalidDicomError, LazyDcmError
from lazydcm.header import ParsedHeader
from lazydcm.header.tags import PIXEL_KEYWORDS
from lazydcm.sources.base import ByteSource

__all__ = ["DatasetInput", "is_dataset"]

#: Image Pixel module keywords (PS3.3 C.7.6.3) and Number of Frames: what must
#: agree between a dataset and its file for the file to be read instead.
_DESCRIBING = (
    "Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration",
    "NumberOfFrames",
)  # fmt: skip
_SEQUENCE_DELIMITER = {True: b"\xfe\xff\xdd\xe0", False: b"\xff\xfe\xe0\xdd"}
_COMPARE_CHUNK = 64 << 20  # bytes of pixel data compared at a time
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def is_dataset(obj: object) -> bool:
    """True for a pydicom ``Dataset`` (or subclass), without importing pydicom."""
    return any(
        cls.__name__ == "Dataset" and cls.__module__ == "pydicom.dataset"
        for cls in type(obj).__mro__
    )


@dataclass(frozen=True)
class DatasetInput:
    """What to read for one pydicom Dataset (see the module docstring)."""

    #: The dataset's file, to be opened and checked; None: read it from memory.
    path: str | None
    #: Why the file cannot hold what the dataset holds, known before opening it.
    stale: str | None
    dataset: Any

    @classmethod
    def of(cls, ds: object) -> DatasetInput:
        """What to read for `ds` (a pydicom Dataset)."""
        path = _file_path(ds)
        stale = None
        if path is not None:
            recorded = getattr(ds, "timestamp", None)
            with contextlib.suppress(OSError):  # gone meanwhile: opening it says so
                if recorded is not None and os.stat(path).st_mtime != recorded:
                    stale = "the file was modified after the dataset was read from it"
        return cls(path, stale, ds)

    def differs(
        self, parsed: ParsedHeader, source: ByteSource, overridden: Set[str] = frozenset()
    ) -> str | None:
        """What differs between the dataset and the file opened as `parsed` and `source`
        (keywords in `overridden` were given by the caller, not read); None if nothing."""
        return _header_differs(self.dataset, parsed, overridden) or _pixels_differ(
            self.dataset, parsed, source
        )

    def in_memory(self, reason: str) -> memoryview:
        """The dataset written out to memory, since its file differs for `reason`.

        Raises
        ------
        LazyDcmError
            The dataset's pixel data were never read from its file, which has changed.
        InvalidDicomError
            pydicom cannot write the dataset.
        """
        if self.path is not None and not _pixels_in_memory(self.dataset):
            raise LazyDcmError(
                f"{self.path}: {reason}, and the dataset's pixel data were not read from it "
                "(a deferred read or stop_before_pixels): read the dataset again"
            )
        return _serialized(self.dataset)


def _file_path(ds: object) -> str | None:
    """The dataset's file, when it names a regular file."""
    filename = getattr(ds, "filename", None)
    if not isinstance(filename, (str, os.PathLike)):
        return None
    path = os.fspath(filename)
    return path if os.path.isfile(path) else None


def _pixel_element(ds: Any) -> Any:
    """The dataset's pixel element without reading a deferred value, or None."""
    for tag in PIXEL_KEYWORDS:  # in the order the header walk meets them
        if tag in ds:
            return ds.get_item(tag, keep_deferred=True)
    return None


def _pixels_in_memory(ds: Any) -> bool:
    element = _pixel_element(ds)
    return element is not None and element.value is not None


def _header_differs(ds: Any, parsed: ParsedHeader, overridden: Set[str]) -> str | None:
    meta = getattr(ds, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if syntax is not None and str(syntax) != parsed.transfer_syntax.uid:
        return f"the dataset's transfer syntax is {syntax}, the file's {parsed.transfer_syntax.uid}"
    for keyword in _DESCRIBING:
        if keyword not in ds or keyword in overridden:
            continue
        mine, theirs = _plain(ds.get(keyword)), _plain(parsed.header.get(keyword))
        if mine != theirs:
            return f"the dataset's {keyword} is {mine!r}, the file's {theirs!r}"
    return None


def _plain(value: Any) -> Any:
    """A header value as plain Python, so pydicom's and lazydcm's compare equal."""
    if value is None or isinstance(value, (str, bytes)):
        return value.strip() if isinstance(value, str) else value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return tuple(_plain(v) for v in value)
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return value


def _pixels_differ(ds: Any, parsed: ParsedHeader, source: ByteSource) -> str | None:
    """Compare a pixel value the dataset holds (and may have changed) with the file's."""
    element = _pixel_element(ds)
    if element is None or type(element).__name__ == "RawDataElement":
        return None  # never read, deferred, or as read from the file
    if PIXEL_KEYWORDS.get(int(element.tag)) != parsed.pixel.keyword:
        return (
            f"the dataset's pixel element is {element.keyword}, the file's {parsed.pixel.keyword}"
        )
    value = element.value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return f"the dataset's {element.keyword} is not bytes"
    mine = memoryview(value).cast("B")
    start = parsed.pixel.value_offset
    if parsed.pixel.length is None:
        # Encapsulated (PS3.5 A.4): pydicom's value ends where the Sequence Delimiter starts.
        end = start + len(mine)
        delimiter = _SEQUENCE_DELIMITER[parsed.transfer_syntax.little_endian]
        if end + 4 > source.size or bytes(source.view(end, 4)) != delimiter:
            return "the dataset's pixel data differ from the file's"
    elif len(mine) != parsed.pixel.length:
        return "the dataset's pixel data differ from the file's"
    for offset in range(0, len(mine), _COMPARE_CHUNK):
        n = min(_COMPARE_CHUNK, len(mine) - offset)
        theirs = np.frombuffer(source.view(start + offset, n), np.uint8)
        same = np.array_equal(np.frombuffer(mine[offset : offset + n], np.uint8), theirs)
        source.advise(start + offset, n, needed=False)
        if not same:
            return "the dataset's pixel data differ from the file's"
    return None


def _serialized(ds: Any) -> memoryview:
    """The dataset as a DICOM file in memory, in its own transfer syntax."""
    import copy
    import io

    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    # A shallow copy shares the elements, which are only read; the File Meta is
    # copied whole (a few elements), since it may be completed below.
    clone = copy.copy(ds)
    meta = copy.deepcopy(getattr(ds, "file_meta", None) or FileMetaDataset())
    if "TransferSyntaxUID" not in meta:
        implicit, little = getattr(ds, "original_encoding", (None, None))
        meta.TransferSyntaxUID = UID(
            uids.IMPLICIT_LE if implicit
            else uids.EXPLICIT_BE if little is False
            else uids.EXPLICIT_LE
        )  # fmt: skip
    # File Meta must name the SOP Class and Instance (PS3.10 7.1); placeholders when
    # the dataset has none, which lazydcm does not read anyway.
    if "MediaStorageSOPClassUID" not in meta:
        meta.MediaStorageSOPClassUID = UID(ds.get("SOPClassUID") or _SECONDARY_CAPTURE)
    if "MediaStorageSOPInstanceUID" not in meta:
        meta.MediaStorageSOPInstanceUID = UID(ds.get("SOPInstanceUID") or "2.25.0")
    clone.file_meta = meta
    buffer = io.BytesIO()
    try:
        pydicom.dcmwrite(buffer, clone, enforce_file_format=True)
    except Exception as exc:  # pydicom's writer raises many kinds; the cause is kept
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InvalidDicomError(
            f"the pydicom Dataset could not be written out to be read: {first_line}"
        ) from exc
    return buffer.getbuffer()
