"""Ranged reads of one remote object, checked, one request per call.

Contract: a :class:`Fetcher` reads one object of an fsspec filesystem.  Its
coroutines run on the filesystem's event loop and never raise for what a
server or a network does: they return :class:`Failed` (what happened, as a
status line, and whether trying again may help), so that the caller decides
about retries without catching exceptions.

* :meth:`Fetcher.probe` reads the first bytes and learns the object's size and
  version (:class:`ObjectVersion`) in the same request where the protocol
  allows it (HTTP and S3: a ranged GET whose ``Content-Range`` gives the size).
* :meth:`Fetcher.get` fills a caller's buffer with exactly its length of bytes
  from an offset, in one request, checking what the server says it sent: the
  status (206), the ``Content-Range`` and the body length, and that the object
  is still the version that was probed (HTTP ``If-Match`` / S3 ``IfMatch`` with
  the ETag, and the ETag and size of each answer).  A server that ignores the
  range (200 with the whole object) is refused before its body is read.

Three implementations: HTTP(S) (:class:`HTTPFetcher`, aiohttp through the
session of fsspec's ``HTTPFileSystem``), S3 (:class:`S3Fetcher`, ``get_object``
through s3fs) and any other fsspec filesystem (:class:`FsFetcher`:
``info`` + ``cat_file``, which can check the length of an answer but not its
version).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Failed",
    "Failure",
    "Fetcher",
    "FsFetcher",
    "HTTPFetcher",
    "ObjectVersion",
    "Probe",
    "S3Fetcher",
    "display_url",
    "fetcher_for",
]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\Z")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)\Z")
_CHUNK = 1 << 20  # bytes copied per step from a response body into the caller's buffer


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """What identifies one version of a remote object."""

    size: int
    etag: str | None = None
    last_modified: str | None = None
    version_id: str | None = None

    def status(self) -> tuple[str | int, ...] | None:
        """The source status: the size, then the ETag (or else the modification time)."""
        if self.etag is not None:
            return (self.size, "etag", self.etag)
        if self.last_modified is not None:
            return (self.size, "last-modified", self.last_modified)
        return None

    def differs(self, other: ObjectVersion) -> bool:
        """Whether `other` (seen in an answer) is certainly another version."""
        return (
            self.size != other.size
            or (self.etag is not None and other.etag is not None and self.etag != other.etag)
            or (
                self.version_id is not None
                and other.version_id is not None
                and self.version_id != other.version_id
            )
        )


class Failure(enum.Enum):
    """Why a request failed."""

    NOT_FOUND = "not found"
    FORBIDDEN = "access denied"
    CHANGED = "the object changed since it was opened"
    NO_RANGES = "the server does not serve byte ranges"
    TRANSIENT = "transient failure"
    OTHER = "request failed"


@dataclass(frozen=True, slots=True)
class Failed:
    """A failed request: what went wrong and the server's or the network's words."""

    kind: Failure
    status: str

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed if tried again."""
        return self.kind is Failure.TRANSIENT


@dataclass(frozen=True, slots=True)
class Probe:
    """The first bytes of an object and its version."""

    data: bytes
    version: ObjectVersion


class Fetcher(Protocol):
    """Ranged reads of one object (coroutines run on :attr:`loop`)."""

    @property
    def name(self) -> str:
        """The object's URL, without query string or credentials."""
        ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the coroutines run on."""
        ...

    async def probe(self, n: int) -> Probe | Failed:
        """Read the first `n` bytes (fewer if the object is smaller) and the version."""
        ...

    async def get(self, start: int, out: memoryview, expect: ObjectVersion) -> Failed | None:
        """Fill `out` with the bytes from `start`; None when done."""
        ...


def display_url(url: str) -> str:
    """`url` for messages: no user information, and the query string shown as ``?...``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


def fetcher_for(fs: Any, path: str) -> Fetcher:
    """The fetcher for `path` on the fsspec filesystem `fs`."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if getattr(fs, "async_impl", False) and getattr(fs, "asynchronous", False):
        raise ValueError("pass a filesystem made with asynchronous=False (its loop runs in fsspec)")
    if "http" in protocols and hasattr(fs, "set_session") and hasattr(fs, "encode_url"):
        return HTTPFetcher(fs, path)
    if "s3" in protocols and hasattr(fs, "_call_s3") and hasattr(fs, "split_path"):
        return S3Fetcher(fs, path)
    return FsFetcher(fs, path)


def _fs_loop(fs: Any) -> asyncio.AbstractEventLoop:
    import fsspec.asyn

    loop = getattr(fs, "loop", None) if getattr(fs, "async_impl", False) else None
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else fsspec.asyn.get_loop()


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """(first, last, total) of ``bytes first-last/total`` (RFC 9110 14.4), None if absent."""
    match = _CONTENT_RANGE.match(value.strip()) if value else None
    if match is None:
        return None
    first, last, total = match.groups()
    return int(first), int(last), None if total == "*" else int(total)


def _check_range(
    start: int, n: int, got: tuple[int, int, int | None] | None, expect: ObjectVersion
) -> Failed | None:
    """A Failed unless `got` (a parsed Content-Range) is exactly the range asked for."""
    if got is None:
        return Failed(Failure.OTHER, f"answer without a Content-Range for bytes {start}-")
    first, last, total = got
    if total is not None and total != expect.size:
        return Failed(Failure.CHANGED, f"size is now {total}, was {expect.size}")
    if (first, last) != (start, start + n - 1):
        # A partial answer (or another range) is a server fault that a retry may cure.
        return Failed(
            Failure.TRANSIENT,
            f"asked for bytes {start}-{start + n - 1}, the server sent bytes {first}-{last}",
        )
    return None


# --- HTTP -------------------------------------------------------------------------------


class HTTPFetcher:
    """HTTP(S) ranged GETs with the aiohttp session of an fsspec ``HTTPFileSystem``."""

    def __init__(self, fs: Any, url: str) -> None:
        self._fs = fs
        self._url = url
        self._name = display_url(url)
        self._loop = _fs_loop(fs)

    @property
    def name(self) -> str:
        return self._name

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _request_options(self, headers: dict[str, str]) -> dict[str, Any]:
        # The filesystem's own request options (auth, ssl, proxy, headers...) apply.
        options = dict(self._fs.kwargs)
        merged = dict(options.pop("headers", None) or {})
        merged.update(headers)
        # A range of an encoded body would be a range of the compressed bytes.
        merged["Accept-Encoding"] = "identity"
        options["headers"] = merged
        return options

    async def probe(self, n: int) -> Probe | Failed:
        import aiohttp

        options = self._request_options({"Range": f"bytes=0-{n - 1}"})
        try:
            session = await self._fs.set_session()
            async with session.get(self._fs.encode_url(self._url), **options) as r:
                failed = _http_status_failure(r.status, r.reason, r.headers)
                if r.status == 416:
                    # RFC 9110 15.5.17: "bytes */0" is how an empty object answers.
                    match = _UNSATISFIED_RANGE.match(r.headers.get("Content-Range", ""))
                    if match is not None and int(match.group(1)) == 0:
                        return Probe(b"", _http_version(r.headers, 0))
                if failed is not None:
                    return failed
                if r.status == 206:
                    got = _content_range(r.headers.get("Content-Range"))
                    if got is None or got[0] != 0 or got[2] is None:
                        return Failed(Failure.OTHER, f"unusable Content-Range {got!r} for bytes=0-")
                    size = got[2]
                    want = min(n, size)
                else:  # 200: the whole object, acceptable only if it is small
                    length = r.content_length
                    if length is None or length > n:
                        return Failed(
                            Failure.NO_RANGES,
                            f"HTTP {r.status} with {length} bytes to a request for bytes 0-{n - 1}",
                        )
                    size = want = length
                data = bytearray(want)
                failed = await _copy_body(r.content.read, memoryview(data))
                if failed is not None:
                    return failed
                return Probe(bytes(data), _http_version(r.headers, size))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return Failed(Failure.TRANSIENT, _describe(exc))

    async def get(self, start: int, out: memoryview, expect: ObjectVersion) -> Failed | None:
        import aiohttp

        n = out.nbytes
        headers = {"Range": f"bytes={start}-{start + n - 1}"}
        if expect.etag is not None and not expect.etag.startswith("W/"):
            # RFC 9110 13.1.1: the server answers 412 if the object is another version.
            headers["If-Match"] = expect.etag
        elif expect.last_modified is not None:
            headers["If-Unmodified-Since"] = expect.last_modified
        options = self._request_options(headers)
        try:
            session = await self._fs.set_session()
            async with session.get(self._fs.encode_url(self._url), **options) as r:
                failed = _http_status_failure(r.status, r.reason, r.headers)
                if failed is None and r.status != 206:
                    whole = r.status == 200 and start == 0 and n == expect.size
                    if not whole:
                        failed = Failed(
                            Failure.NO_RANGES,
                            f"HTTP {r.status} with {r.content_length} bytes to a request for "
                            f"bytes {start}-{start + n - 1}",
                        )
                elif failed is None:
                    got = _content_range(r.headers.get("Content-Range"))
                    failed = _check_range(start, n, got, expect)
                seen = _http_version(r.headers, expect.size)
                if failed is None and expect.differs(seen):
                    failed = Failed(Failure.CHANGED, f"ETag is now {seen.etag}, was {expect.etag}")
                if failed is not None:
                    return failed  # the body is not read: the connection is closed instead
                return await _copy_body(r.content.read, out)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return Failed(Failure.TRANSIENT, _describe(exc))


def _http_version(headers: Any, size: int) -> ObjectVersion:
    return ObjectVersion(size, headers.get("ETag"), headers.get("Last-Modified"))


def _http_status_failure(status: int, reason: str | None, headers: Any) -> Failed | None:
    """The Failed for an HTTP status that is not a success, else None."""
    line = f"HTTP {status} {reason or ''}".rstrip()
    encoding = headers.get("Content-Encoding", "identity")
    if status in (200, 206):
        if encoding not in ("identity", ""):
            return Failed(Failure.OTHER, f"{line} with Content-Encoding {encoding}")
        return None
    if status == 404 or status == 410:
        return Failed(Failure.NOT_FOUND, line)
    if status in (401, 403):
        return Failed(Failure.FORBIDDEN, line)
    if status in (412, 416):
        return Failed(Failure.CHANGED, line)
    if status in (408, 425, 429) or status >= 500:
        return Failed(Failure.TRANSIENT, line)
    return Failed(Failure.OTHER, line)


async def _copy_body(read: Any, out: memoryview) -> Failed | None:
    """Copy a response body of exactly ``out.nbytes`` bytes into `out`."""
    n = out.nbytes
    pos = 0
    while pos < n:
        chunk = await read(min(n - pos, _CHUNK))
        if not chunk:
            return Failed(Failure.TRANSIENT, f"the body ended after {pos} of {n} bytes")
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    if await read(1):
        return Failed(Failure.TRANSIENT, f"the body is longer than the {n} bytes asked for")
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- S3 ---------------------------------------------------------------------------------


class S3Fetcher:
    """S3 ``GetObject`` with a ``Range`` and ``IfMatch``, through an ``s3fs.S3FileSystem``.

    Requests go through ``S3FileSystem._call_s3`` so that the filesystem's own
    settings apply (requester pays, SSE-C keys, the bucket's region); the
    retries of botocore and s3fs apply to them.  Only a body cut mid-way is
    left to the caller to retry.
    """

    def __init__(self, fs: Any, path: str) -> None:
        self._fs = fs
        bucket, key, version_id = fs.split_path(path)
        self._bucket: str = bucket
        self._key: str = key
        self._version_id: str | None = version_id
        self._name = f"s3://{bucket}/{key}"
        self._loop = _fs_loop(fs)

    @property
    def name(self) -> str:
        return self._name

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _params(self, first: int, last: int, expect: ObjectVersion | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Bucket": self._bucket, "Key": self._key, "Range": f"bytes={first}-{last}",
        }  # fmt: skip
        version_id = self._version_id or (expect.version_id if expect is not None else None)
        if version_id is not None:
            params["VersionId"] = version_id
        if expect is not None and expect.etag is not None:
            params["IfMatch"] = expect.etag
        return params

    async def probe(self, n: int) -> Probe | Failed:
        try:
            response = await self._fs._call_s3("get_object", **self._params(0, n - 1, None))
        except Exception as exc:  # s3fs turns botocore errors into OSError kinds
            failed = _s3_failure(exc)
            if failed.kind is Failure.CHANGED and _s3_code(exc) == "InvalidRange":
                return Probe(b"", ObjectVersion(0))  # only an empty object has no byte 0
            return failed
        body = response["Body"]
        try:
            got = _content_range(response.get("ContentRange"))
            if got is not None and got[0] == 0 and got[2] is not None:
                size = got[2]
            elif got is None and int(response.get("ContentLength", -1)) <= n:
                size = int(response["ContentLength"])
            else:
                return Failed(Failure.OTHER, f"unusable ContentRange {got!r} for bytes=0-")
            data = bytearray(min(n, size))
            cut = await _read_s3_body(body, memoryview(data))
            return cut if cut is not None else Probe(bytes(data), _s3_version(response, size))
        finally:
            body.close()

    async def get(self, start: int, out: memoryview, expect: ObjectVersion) -> Failed | None:
        n = out.nbytes
        try:
            response = await self._fs._call_s3(
                "get_object", **self._params(start, start + n - 1, expect)
            )
        except Exception as exc:  # s3fs turns botocore errors into OSError kinds
            failed = _s3_failure(exc)
            # botocore and s3fs retried what they consider transient: the answer is final.
            return Failed(Failure.OTHER, failed.status) if failed.transient else failed
        body = response["Body"]
        try:
            got = _content_range(response.get("ContentRange"))
            wrong = _check_range(start, n, got, expect)
            seen = _s3_version(response, expect.size)
            if wrong is None and expect.differs(seen):
                wrong = Failed(Failure.CHANGED, f"ETag is now {seen.etag}, was {expect.etag}")
            if wrong is not None:
                return wrong
            return await _read_s3_body(body, out)
        finally:
            body.close()


async def _read_s3_body(body: Any, out: memoryview) -> Failed | None:
    try:
        return await _copy_body(body.read, out)
    except Exception as exc:  # botocore, aiohttp, socket errors
        return Failed(Failure.TRANSIENT, _describe(exc))


def _s3_version(response: dict[str, Any], size: int) -> ObjectVersion:
    version_id = response.get("VersionId")
    return ObjectVersion(
        size,
        response.get("ETag"),
        _text(response.get("LastModified")),
        version_id if version_id not in (None, "null") else None,
    )


def _text(value: object) -> str | None:
    """A version value as text (datetimes in ISO 8601)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value)


def _s3_code(exc: BaseException) -> str:
    """The S3 error code of an s3fs error (its cause is botocore's ClientError)."""
    for error in (exc, exc.__cause__):
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


def _s3_http_status(exc: BaseException) -> int:
    for error in (exc, exc.__cause__):
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return 0


def _s3_failure(exc: BaseException) -> Failed:
    code, status = _s3_code(exc), _s3_http_status(exc)
    line = f"HTTP {status} {code}".strip() if status else _describe(exc)
    if code in ("NoSuchKey", "NoSuchBucket", "NotFound") or status == 404:
        return Failed(Failure.NOT_FOUND, line)
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status in (
        401,
        403,
    ):
        return Failed(Failure.FORBIDDEN, line)
    if code in ("PreconditionFailed", "InvalidRange") or status in (412, 416):
        return Failed(Failure.CHANGED, line)
    if status and status < 500 and status not in (408, 429):
        return Failed(Failure.OTHER, line)
    return Failed(Failure.TRANSIENT, line)


# --- any fsspec filesystem --------------------------------------------------------------


class FsFetcher:
    """``info`` and ``cat_file`` of any fsspec filesystem (two requests to probe).

    Lengths are checked; versions are not (a generic filesystem does not say
    which version answered), so the status only serves caches.
    """

    def __init__(self, fs: Any, path: str) -> None:
        self._fs = fs
        self._path = path
        self._name = display_url(fs.unstrip_protocol(path))
        self._async = bool(getattr(fs, "async_impl", False))
        self._loop = _fs_loop(fs)

    @property
    def name(self) -> str:
        return self._name

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._async:
            return await getattr(self._fs, "_" + method)(*args, **kwargs)
        # A blocking filesystem runs in the loop's thread pool, so ranges still overlap.
        return await self._loop.run_in_executor(
            None, lambda: getattr(self._fs, method)(*args, **kwargs)
        )

    async def probe(self, n: int) -> Probe | Failed:
        try:
            info = await self._call("info", self._path)
        except Exception as exc:  # each filesystem has its own
            return _fs_failure(exc)
        if info.get("type", "file") != "file" or info.get("size") is None:
            return Failed(Failure.OTHER, f"not a file of known size: {info.get('type')!r}")
        version = _fs_version(info)
        data = bytearray(min(n, version.size))
        failed = await self.get(0, memoryview(data), version)
        return failed if failed is not None else Probe(bytes(data), version)

    async def get(self, start: int, out: memoryview, expect: ObjectVersion) -> Failed | None:
        n = out.nbytes
        try:
            data = await self._call("cat_file", self._path, start=start, end=start + n)
        except Exception as exc:  # each filesystem has its own
            return _fs_failure(exc)
        if len(data) != n:
            return Failed(
                Failure.TRANSIENT,
                f"received {len(data)} bytes for bytes {start}-{start + n - 1}",
            )
        out[:] = data
        return None


def _fs_version(info: dict[str, Any]) -> ObjectVersion:
    lowered = {str(key).lower(): value for key, value in info.items()}
    etag = lowered.get("etag") or lowered.get("md5hash") or lowered.get("generation")
    modified = next(
        (lowered[key] for key in ("last-modified", "lastmodified", "last_modified", "updated",
                                  "mtime", "created") if lowered.get(key) is not None),
        None,
    )  # fmt: skip
    return ObjectVersion(
        int(info["size"]),
        _text(etag),
        _text(modified),
    )


def _fs_failure(exc: BaseException) -> Failed:
    if isinstance(exc, FileNotFoundError):
        return Failed(Failure.NOT_FOUND, _describe(exc))
    if isinstance(exc, PermissionError):
        return Failed(Failure.FORBIDDEN, _describe(exc))
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return Failed(Failure.TRANSIENT, _describe(exc))
    status = getattr(exc, "code", None) or getattr(exc, "status", None)
    if isinstance(status, int) and (status >= 500 or status in (408, 429)):
        return Failed(Failure.TRANSIENT, f"HTTP {status}: {_describe(exc)}")
    if isinstance(exc, OSError):
        return Failed(Failure.TRANSIENT, _describe(exc))
    return Failed(Failure.OTHER, _describe(exc))
