"""Reuse a file's parsed header and frame table when the same file is opened again.

A server opens the same file for request after request.  The first open walks
the header and, for encapsulated data without a usable offset table, every item
header; this module keeps what that produced so that later opens skip both:

* a process-wide cache, keyed by the file's location and the version its source
  reports (:attr:`~lazydcm.sources.ByteSource.status`: for a local file its real
  path, device, inode, size and modification time), so a file that changes is
  parsed again -- bounded in entries and in the bytes of the frame tables it
  holds (:func:`clear_index_cache` empties it);
* opt-in, a sidecar index in a folder of the caller's choice (``index_dir=``),
  never next to the data, so that a new process skips the scan too.  It is an
  ``.npz`` file of the frame table's arrays with the header in JSON; nothing in it
  is executed on load (no pickles).

Only tables that are whole once built are kept (native arithmetic, scans): a
BOT or EOT table is checked entry by entry as frames are read, and opening it
again is as cheap as its header.  Deflated datasets (inflated into a temporary
file) and files opened with header overrides are not cached.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from lazydcm.errors import LazyDcmError, LazyDcmWarning
from lazydcm.header import Header, ParsedHeader, PixelElement, PixelInfo, SequenceSpan
from lazydcm.index.table import FrameIndex
from lazydcm.sources.base import ByteSource
from lazydcm.uids import lookup

__all__ = ["FileKey", "clear_index_cache", "file_key", "load", "store"]

#: (location, *status): where the file is, and which version of it.
FileKey = tuple[str | int, ...]

_MAX_ENTRIES = 256
_MAX_BYTES = 256 << 20
_FORMAT = 3  # bump when the sidecar layout changes
#: The frame table's arrays (kept read-only, and saved in the sidecar).
_ARRAYS = ("offsets", "lengths", "fragment_offsets", "fragment_lengths", "fragment_starts")

_Entry = tuple[ParsedHeader, FrameIndex]


class _Cache:
    """An LRU of parsed files, bounded in entries and bytes; thread-safe."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[FileKey, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: FileKey) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: FileKey, entry: _Entry) -> None:
        if entry[1].nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1].nbytes
            self._entries[key] = entry
            self._bytes += entry[1].nbytes
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted[1].nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_CACHE = _Cache(_MAX_ENTRIES, _MAX_BYTES)


def clear_index_cache() -> None:
    """Forget every parsed header and frame table kept by this process."""
    _CACHE.clear()


def file_key(location: str | None, source: ByteSource) -> FileKey | None:
    """The identity of the file behind `source`, or None when nothing identifies it.

    `location` is where the file was opened from (a path, or a URL), None for
    bytes and file objects.
    """
    status = source.status
    if location is None or status is None:
        return None
    return (location, *status)


def load(key: FileKey, index_dir: str | os.PathLike[str] | None) -> _Entry | None:
    """The parsed header and frame table kept for `key`, from the process or a sidecar."""
    entry = _CACHE.get(key)
    if entry is None and index_dir is not None:
        entry = _read_sidecar(_sidecar_path(index_dir, key), key)
        if entry is not None:
            _CACHE.put(key, entry)
    return entry


def store(
    key: FileKey,
    parsed: ParsedHeader,
    index: FrameIndex,
    index_dir: str | os.PathLike[str] | None,
    name: str,
) -> None:
    """Keep a file's parsed header and frame table, in the process and the sidecar."""
    if index.checked_on_read or parsed.transfer_syntax.deflated:
        return
    entry = (parsed, _frozen(index))
    _CACHE.put(key, entry)
    if index_dir is not None:
        path = _sidecar_path(index_dir, key)
        try:
            _write_sidecar(path, key, entry)
        except OSError as exc:
            # A cache that cannot be written (read-only or full folder) costs only
            # the next process a scan: the file itself opened fine.
            warnings.warn(
                f"the index of {name} could not be kept in {path}: {exc}",
                LazyDcmWarning,
                stacklevel=4,
            )


def _frozen(index: FrameIndex) -> FrameIndex:
    """The same table with read-only arrays, so sequences can share it safely."""
    arrays = {}
    for name in _ARRAYS:
        array = getattr(index, name).copy()
        array.flags.writeable = False
        arrays[name] = array
    return dataclasses.replace(index, **arrays)


# -- the sidecar ----------------------------------------------------------------------


def _sidecar_path(index_dir: str | os.PathLike[str], key: FileKey) -> Path:
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32]
    return Path(index_dir) / f"lazydcm-{digest}.npz"


def _write_sidecar(path: Path, key: FileKey, entry: _Entry) -> None:
    parsed, index = entry
    header = parsed.header
    meta = {
        "format": _FORMAT,
        "key": list(key),
        "info": dataclasses.asdict(parsed.info),
        "pixel": dataclasses.asdict(parsed.pixel),
        "transfer_syntax": parsed.transfer_syntax.uid,
        "groups": [
            None if span is None else dataclasses.asdict(span)
            for span in (parsed.shared_groups, parsed.per_frame_groups)
        ],
        "header": {k: _to_json(v) for k, v in header.items()},
        "offsets": {k: header.offset(k) for k in header},
        "index": {
            "kind": index.kind,
            "count": index.count,
            "frame_bits": index.frame_bits,
            "missing": index.missing,
            "fragment_count": index.fragment_count,
            "origin": index.origin,
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temporary, "wb") as out:
            np.savez(out, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     **{name: getattr(index, name) for name in _ARRAYS})  # fmt: skip
        os.replace(temporary, path)  # readers never see half a file
    except BaseException:
        temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def _read_sidecar(path: Path, key: FileKey) -> _Entry | None:
    """The entry in a sidecar file, or None when it is missing, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("format") != _FORMAT or tuple(meta["key"]) != key:
                return None
            arrays = {name: data[name].astype(np.int64) for name in _ARRAYS}
        if not _within(arrays, size=_size(key)):
            return None  # frames are read by these numbers: never trust them blindly
        header = Header(
            {k: _from_json(v) for k, v in meta["header"].items()},
            {k: v for k, v in meta["offsets"].items() if v is not None},
        )
        parsed = ParsedHeader(
            PixelInfo(**meta["info"]),
            header,
            PixelElement(**meta["pixel"]),
            lookup(meta["transfer_syntax"]),
            *(None if span is None else SequenceSpan(**span) for span in meta["groups"]),
        )
        return parsed, _frozen(FrameIndex(**meta["index"], **arrays))
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, LazyDcmError):
        return None  # written by another version, cut short, or not a sidecar at all


def _size(key: FileKey) -> int:
    """The file size a key records (every status starts with the size)."""
    size = key[1]
    return size if isinstance(size, int) else -1


def _within(arrays: dict[str, np.ndarray], size: int) -> bool:
    """True when every span of the table lies inside a file of `size` bytes."""
    for offsets, lengths in (("offsets", "lengths"), ("fragment_offsets", "fragment_lengths")):
        start, n = arrays[offsets], arrays[lengths]
        if len(start) != len(n):
            return False
        if len(start) and (start.min() < 0 or n.min() < 0 or (start + n).max() > size):
            return False
    return True


def _to_json(value: Any) -> Any:
    """A header value as JSON, tagged so that it comes back as the same type."""
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, np.ndarray):
        return {"uint64": value.tolist()}
    if isinstance(value, tuple):
        return {"tuple": [_to_json(v) for v in value]}
    if isinstance(value, MappingProxyType):
        return {"item": {k: _to_json(v) for k, v in value.items()}}
    return value


def _from_json(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "bytes" in value:
        return base64.b64decode(value["bytes"])
    if "uint64" in value:
        array = np.array(value["uint64"], dtype=np.uint64)
        array.flags.writeable = False
        return array
    if "tuple" in value:
        return tuple(_from_json(v) for v in value["tuple"])
    return MappingProxyType({k: _from_json(v) for k, v in value["item"].items()})
