"""Open a DICOM input: input → source → (inflate) → header → index, each stage once.

:func:`open` is the one place that composes an open.  It turns what the user
gave -- a path, bytes, a binary file object, a byte source, or a pydicom
``Dataset`` -- into a :class:`~lazydcm.sources.ByteSource`; reads the File Meta
(:func:`~lazydcm.header.read_meta`); inflates a deflated dataset into a source of
its own (PS3.5 A.5); walks the dataset to its pixel element
(:func:`~lazydcm.header.read_dataset`); and builds the frame index
(:func:`~lazydcm.index.build_index`) -- or takes the parsed header and index
kept from an earlier open of the same unchanged file
(:mod:`lazydcm.index.sidecar`).  It returns an :class:`Opened`: a frozen value of
the source it reads, the parsed header, the index and the
:class:`OpenOptions` that made them.

:class:`OpenOptions` is everything needed to make the same :class:`Opened`
again in another process, from its :attr:`Opened.location`: worker processes,
Dask tasks and unpickled sequences do exactly that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, TypeAlias

from lazydcm.errors import LazyDcmError
from lazydcm.header import ParsedHeader, read_dataset, read_meta
from lazydcm.index import FrameIndex, build_index, sidecar
from lazydcm.sources import (
    ByteSource,
    FileObjectSource,
    LocalFileSource,
    MemorySource,
    inflate,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from lazydcm.interop.dataset import DatasetInput

__all__ = [
    "DEFAULT_ARRAY_WARN_BYTES",
    "DEFAULT_CACHE_BYTES",
    "Input",
    "OpenOptions",
    "Opened",
    "open",
    "open_source",
    "source_for",
]

#: The default budget of a sequence's frame cache.
DEFAULT_CACHE_BYTES = 128 << 20
#: The default size past which ``np.asarray(frames)`` warns (1 GiB).
DEFAULT_ARRAY_WARN_BYTES = 1 << 30

#: What lazydcm can open: a path, a bytes-like object, a binary file object, a
#: byte source, or a pydicom Dataset.
Input: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | ByteSource | Dataset"
)


@dataclass(frozen=True)
class OpenOptions:
    """How a file is opened and read: what crosses to worker processes and pickles.

    Every field is a plain value, so an ``OpenOptions`` pickles.  The fields are
    the keywords of :class:`~lazydcm.FrameSequence` of the same names.
    """

    #: Image Pixel module values that replace the file's (keyword -> value).
    overrides: Mapping[str, object] | None = None
    #: A folder where parsed headers and frame tables are kept between processes.
    index_dir: str | None = None
    #: The decoder backend to use (None: the first installed for the syntax).
    decoder: str | None = None
    #: Return frames as decoded, without the YBR to RGB conversion.
    raw: bool = False
    #: The budget of the decoded-frame cache, in bytes.
    cache_bytes: int = DEFAULT_CACHE_BYTES
    #: Frames decoded ahead in parallel when iterating (None: the default).
    workers: int | None = None
    #: ``np.asarray(frames)`` warns past this many bytes (None: never).
    array_warn_bytes: int | None = DEFAULT_ARRAY_WARN_BYTES
    #: Keyword arguments of the input's filesystem, for URLs.
    storage_options: Mapping[str, object] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.cache_bytes < 0:
            raise ValueError(f"a cache budget must be >= 0 bytes, got {self.cache_bytes}")
        if self.overrides is not None:
            object.__setattr__(self, "overrides", dict(self.overrides) or None)
        if self.index_dir is not None:
            object.__setattr__(self, "index_dir", os.fspath(self.index_dir))


@dataclass(frozen=True, eq=False)
class Opened:
    """An opened file: its source, parsed header and frame index, and how it was opened."""

    #: The source frames are read from: the file itself, or the inflated dataset
    #: of a deflated file.
    source: ByteSource
    header: ParsedHeader
    index: FrameIndex
    options: OpenOptions
    #: Where the input can be opened again (a path), None when it cannot (bytes, a
    #: file object, a dataset held in memory).
    location: str | None
    #: Whether :meth:`close` closes the source (lazydcm opened it).
    owned: bool
    #: Bytes from the start of the source that the open walked (pages to release).
    walked: int

    def close(self) -> None:
        """Close the source if lazydcm opened it; a caller's source stays open."""
        if self.owned:
            self.source.close()


def open(input: Input, options: OpenOptions | None = None) -> Opened:
    """Open `input`: source, header and index, each built once (see the module docstring).

    Raises
    ------
    TypeError
        `input` is none of the kinds lazydcm opens, or a file object in text mode.
    OSError
        A path cannot be opened.
    LazyDcmError
        The bytes are not DICOM, or are malformed, or have no pixel data (the
        subclass and the message say which, and where).
    """
    options = options or OpenOptions()
    from lazydcm.interop.dataset import DatasetInput, is_dataset

    if is_dataset(input):
        return _open_dataset(DatasetInput.of(input), options)
    source, owned, location = source_for(input)
    return open_source(source, options, owned=owned, location=location)


def source_for(input: Input) -> tuple[ByteSource, bool, str | None]:
    """The byte source for what the user gave: (source, owned, location).

    `owned` says whether lazydcm opened the source (and so closes it); a caller's
    file object or byte source is never closed by lazydcm.  `location` is where the
    input can be opened again (a path), or None.

    Raises
    ------
    TypeError
        `input` is none of a path, a bytes-like object, a binary file object and a
        byte source (a pydicom Dataset is opened by :func:`open`), or a file object
        in text mode.
    """
    if isinstance(input, (str, os.PathLike)):
        path = os.fspath(input)
        return LocalFileSource(path), True, path
    if isinstance(input, (bytes, bytearray, memoryview)):
        return MemorySource(input), True, None
    if isinstance(input, ByteSource):  # a structural check: after the common cases
        return input, False, None
    if hasattr(input, "read") and hasattr(input, "seek"):
        return FileObjectSource(input), False, None
    try:
        return MemorySource(input), True, None  # anything with the buffer protocol
    except TypeError:
        raise TypeError(
            "source must be a path, a bytes-like object, a binary file object or a "
            f"pydicom Dataset, not {type(input).__name__}"
        ) from None


def _open_path(path: str, options: OpenOptions) -> Opened:
    return open_source(LocalFileSource(path), options, owned=True, location=path)


def open_source(
    source: ByteSource,
    options: OpenOptions,
    *,
    owned: bool,
    location: str | None = None,
) -> Opened:
    """Read the header and build the index of an open `source` (closed on failure if owned).

    `location` is where the input can be opened again (a path: the index cache
    knows it by its real path).
    """
    try:
        key = None
        if not options.overrides and location is not None:
            key = sidecar.file_key(os.path.realpath(location), source)
        kept = sidecar.load(key, options.index_dir) if key is not None else None
        if kept is not None:
            return Opened(source, kept[0], kept[1], options, location, owned, walked=0)
        meta = read_meta(source)
        start = meta.dataset_offset
        if meta.transfer_syntax.deflated:
            inflated = inflate(source, start)
            if owned:
                source.close()
            source, owned, start = inflated, True, 0
        parsed = read_dataset(source, meta, start=start, overrides=options.overrides)
        index = build_index(parsed, source)
        if key is not None:
            sidecar.store(key, parsed, index, options.index_dir, source.name)
    except BaseException:
        if owned:
            source.close()
        raise
    # The walks touched the header, and after a scan every item header (the pages
    # of a many-frame file, nearly all of it).
    walked = source.size if index.kind == "scan" else parsed.pixel.value_offset
    return Opened(source, parsed, index, options, location, owned, walked)


def _open_dataset(given: DatasetInput, options: OpenOptions) -> Opened:
    """Open what a pydicom Dataset stands for: its file when that still holds it."""
    reason = given.stale
    if given.path is not None and reason is None:
        try:
            opened = _open_path(given.path, options)
        except (OSError, LazyDcmError) as exc:  # gone meanwhile, unreadable, changed
            reason = f"the file cannot be read as the dataset's ({exc})"
        else:
            overridden = frozenset(options.overrides or ())
            reason = given.differs(opened.header, opened.source, overridden)
            if reason is None:
                return opened
            opened.close()
    data = given.in_memory(reason or "")
    return open_source(MemorySource(data), options, owned=True)
