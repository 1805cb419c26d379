"""Real servers on 127.0.0.1 for the remote-source tests and benchmarks.

:class:`RangeServer` is a small HTTP/1.1 server (standard library, one thread per
connection, keep-alive) serving named objects with single byte ranges (RFC 9110
14.2: ``Range``, 206, ``Content-Range``, 416), ``ETag``, ``Last-Modified``,
``If-Match`` (412) and ``If-Range``.  :class:`S3Server` is moto's S3 API server
(``moto[server]``: the werkzeug application ``ThreadedMotoServer`` runs) behind a
WSGI middleware.  Both count what they receive and send (requests by method,
body bytes), can add latency to every request and inject faults into the next
GET requests, in order:

``"drop"``
    send the headers and half the body, then close the connection;
``"503"``
    answer 503 Service Unavailable (S3: ``SlowDown``);
``"whole"`` (HTTP only)
    ignore the ``Range`` header: 200 with the whole object;
``"short"`` (HTTP only)
    a consistent 206 for fewer bytes than asked (``Content-Range`` says so);
``"stall"`` (HTTP only)
    wait ``stall_seconds`` before answering (for client timeouts).

Faults apply to GET requests only (a HEAD is never faulted), one fault per request.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import http.server
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAULTS = ("drop", "503", "whole", "short", "stall")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")


@dataclass(frozen=True)
class Logged:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int


@dataclass
class _Traffic:
    """What a server received and sent (guarded by its lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[Logged] = field(default_factory=list)
    faults: collections.deque[str] = field(default_factory=collections.deque)
    forbidden: set[str] = field(default_factory=set)
    in_flight: int = 0
    peak_in_flight: int = 0

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def record(self, entry: Logged) -> None:
        with self.lock:
            self.log.append(entry)

    def next_fault(self, method: str) -> str | None:
        with self.lock:
            return self.faults.popleft() if method == "GET" and self.faults else None


class _Counting:
    """Request counts and bytes, shared by both servers."""

    _traffic: _Traffic

    @property
    def log(self) -> list[Logged]:
        """Every request so far (a copy)."""
        with self._traffic.lock:
            return list(self._traffic.log)

    @property
    def requests(self) -> collections.Counter[str]:
        """Requests so far by method (``"GET"``, ``"HEAD"``, ...)."""
        return collections.Counter(entry.method for entry in self.log)

    @property
    def request_count(self) -> int:
        """All requests so far."""
        return len(self.log)

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent so far (headers not counted)."""
        return sum(entry.body_bytes for entry in self.log)

    @property
    def peak_in_flight(self) -> int:
        """The most requests handled at the same time since the last reset."""
        with self._traffic.lock:
            return self._traffic.peak_in_flight

    def reset_counts(self) -> None:
        """Forget the requests so far (and the peak of requests in flight)."""
        with self._traffic.lock:
            self._traffic.log.clear()
            self._traffic.peak_in_flight = self._traffic.in_flight

    def clear_faults(self) -> None:
        """Drop the faults not yet applied."""
        with self._traffic.lock:
            self._traffic.faults.clear()

    def forbid(self, name: str) -> None:
        """Answer 403 to every request for `name` (HTTP: the object's name; S3: bucket/key)."""
        with self._traffic.lock:
            self._traffic.forbidden.add(name.strip("/"))

    def _is_forbidden(self, name: str) -> bool:
        with self._traffic.lock:
            return name.strip("/") in self._traffic.forbidden

    def inject(self, *faults: str) -> None:
        """Apply `faults` to the next GET requests, one each, in order."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        with self._traffic.lock:
            self._traffic.faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        """Faults not yet applied."""
        with self._traffic.lock:
            return len(self._traffic.faults)


@dataclass(frozen=True)
class _Object:
    data: bytes | Path
    size: int
    etag: str
    last_modified: str

    def read(self, start: int, stop: int) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[start:stop]
        with self.data.open("rb") as f:
            f.seek(start)
            return f.read(stop - start)


class RangeServer(_Counting):
    """An HTTP/1.1 server on 127.0.0.1 with byte ranges, counts and faults.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, latency: float = 0.0, stall_seconds: float = 1.0) -> None:
        self.latency = latency
        self.stall_seconds = stall_seconds
        self._traffic = _Traffic()
        self._objects: dict[str, _Object] = {}
        self._generation = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RangeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (open keep-alive connections end with their clients)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        """The URL of the object called `name`."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def put(self, name: str, data: bytes | Path) -> str:
        """Serve `data` (bytes, or a file read at each request) as `name`; return its ETag.

        Putting a name again replaces the object: new ETag, new Last-Modified.
        """
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        with self._traffic.lock:
            self._generation += 1
            tag = hashlib.sha1(f"{self._generation}".encode()).hexdigest()[:16]
            stamp = email.utils.formatdate(1_700_000_000 + self._generation, usegmt=True)
            self._objects[name] = _Object(data, size, f'"{tag}"', stamp)
        return f'"{tag}"'

    def delete(self, name: str) -> None:
        """Stop serving `name` (404 from now on)."""
        with self._traffic.lock:
            self._objects.pop(name, None)

    def _lookup(self, name: str) -> tuple[_Object | None, bool]:
        forbidden = self._is_forbidden(name)
        with self._traffic.lock:
            return self._objects.get(name), forbidden

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(_RangeHandler):
            owner = server

        return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    # Many clients connect at once (concurrent ranges): a backlog of 5 would drop
    # their SYNs, and each dropped one costs a 1 s retransmission.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets its connection is no error of the server's."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: RangeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the server's own log."""

    def do_HEAD(self) -> None:
        self.owner._traffic.enter()
        try:
            self._answer(body=False)
        finally:
            self.owner._traffic.leave()

    def do_GET(self) -> None:
        self.owner._traffic.enter()
        try:
            self._answer(body=True)
        finally:
            self.owner._traffic.leave()

    def _answer(self, body: bool) -> None:
        owner = self.owner
        name = self.path.lstrip("/").split("?", 1)[0]
        range_header = self.headers.get("Range")
        fault = owner._traffic.next_fault(self.command)
        if owner.latency:
            time.sleep(owner.latency)
        if fault == "stall":
            time.sleep(owner.stall_seconds)
        obj, forbidden = owner._lookup(name)
        if forbidden:
            return self._status(403, name, range_header)
        if obj is None:
            return self._status(404, name, range_header)
        if fault == "503":
            return self._status(503, name, range_header)
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match.strip() not in ("*", obj.etag):
            return self._status(412, name, range_header)
        start, stop, status = 0, obj.size, 200
        use_range = range_header is not None and fault != "whole"
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range.strip() not in (obj.etag, obj.last_modified):
            use_range = False  # RFC 9110 13.1.5: a changed representation is sent whole
        if use_range and range_header is not None:
            parsed = _parse_range(range_header, obj.size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{obj.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                owner._traffic.record(Logged(self.command, name, range_header, 416, 0))
                return None
            start, stop = parsed
            status = 206
            if fault == "short" and stop - start > 1:
                stop = start + (stop - start) // 2
        self.send_response(status)
        self.send_header("Content-Type", "application/dicom")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", obj.etag)
        self.send_header("Last-Modified", obj.last_modified)
        self.send_header("Content-Length", str(stop - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{obj.size}")
        self.end_headers()
        payload = obj.read(start, stop) if body else b""
        if fault == "drop":
            payload = payload[: len(payload) // 2]
        # Recorded before the body goes out: a client may act on the last byte at once.
        owner._traffic.record(Logged(self.command, name, range_header, status, len(payload)))
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        return None

    def _status(self, status: int, name: str, range_header: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.owner._traffic.record(Logged(self.command, name, range_header, status, 0))


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, stop) of one ``bytes=`` range (RFC 9110 14.1.2), None if unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None:
        return (0, size)  # several ranges, or another unit: answered whole (allowed)
    first, last = match.groups()
    if first == "":
        if last == "" or int(last) == 0:
            return None
        return (max(size - int(last), 0), size)
    start = int(first)
    stop = size if last == "" else min(int(last) + 1, size)
    return (start, stop) if start < size and start < stop else None


# --- S3 -------------------------------------------------------------------------------

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)

_StartResponse = Callable[..., Callable[[bytes], object]]
_App = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]


class S3Server(_Counting):
    """moto's S3 API on 127.0.0.1, counting requests and body bytes, with faults.

    The counting is a WSGI middleware around moto's own application, so it sees
    exactly the HTTP requests the server receives (a client's retries included).
    """

    region = "eu-west-1"  # us-east-1 takes no LocationConstraint, s3fs sends one

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self._traffic = _Traffic()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):  # type: ignore[misc]
            def log_request(self, *args: Any) -> None:
                """The tests read the server's own log."""

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            "127.0.0.1", 0, self._middleware(app), threaded=True, request_handler=QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """fsspec storage options for s3fs that reach this server (fixed test keys)."""
        options: dict[str, Any] = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }
        options.update(extra)
        return options

    def filesystem(self, **extra: Any) -> Any:
        """A new s3fs filesystem for this server."""
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options(**extra))

    def _middleware(self, app: _App) -> _App:
        traffic = self._traffic

        def counting(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
            traffic.enter()
            try:
                return answer(environ, start_response)
            finally:
                traffic.leave()

        def answer(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
            method = str(environ["REQUEST_METHOD"])
            path = str(environ.get("PATH_INFO", ""))
            range_header = environ.get("HTTP_RANGE")
            # moto's own API (/moto-api/...) and bucket listings are not object reads.
            is_object = method == "GET" and path.count("/") >= 2 and "moto-api" not in path
            fault = traffic.next_fault(method) if is_object else None
            if self.latency:
                time.sleep(self.latency)
            if self._is_forbidden(path):
                entry = Logged(method, path, range_header, 403, len(_ACCESS_DENIED))
                return _error(start_response, "403 Forbidden", _ACCESS_DENIED, traffic, entry)
            if fault == "503":
                entry = Logged(method, path, range_header, 503, len(_SLOW_DOWN))
                return _error(start_response, "503 Service Unavailable", _SLOW_DOWN, traffic, entry)
            status: list[int] = [0]

            def recording_start(code: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                status[0] = int(code.split()[0])
                return start_response(code, headers, *rest)

            body = app(environ, recording_start)
            chunks = list(body)
            closer = getattr(body, "close", None)
            if closer is not None:
                closer()
            total = sum(len(chunk) for chunk in chunks)
            budget = total // 2 if fault == "drop" else total
            # Recorded before the body goes out: a client may act on the last byte at once.
            traffic.record(Logged(method, path, range_header, status[0], budget))
            return _sent(chunks, budget, drop=fault == "drop")

        return counting


def _error(
    start_response: _StartResponse, status: str, body: bytes, traffic: _Traffic, entry: Logged
) -> list[bytes]:
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    traffic.record(entry)
    return [body]


def _sent(chunks: list[bytes], budget: int, drop: bool) -> Iterator[bytes]:
    """Yield the first `budget` bytes of `chunks`; with `drop`, then break the stream."""
    sent = 0
    for chunk in chunks:
        part = chunk[: max(budget - sent, 0)]
        if part:
            sent += len(part)
            yield part
        if sent >= budget:
            break
    if drop:
        # An exception after the headers makes werkzeug close the connection mid-body.
        raise ConnectionAbortedError("fault injected: connection dropped mid-body")


# --- one interface for the tests ---------------------------------------------------------


class HTTPStore:
    """Objects served by a :class:`RangeServer`, addressed by ``http://`` URLs."""

    kind = "http"

    def __init__(self, server: RangeServer) -> None:
        self.server = server
        self.storage_options: dict[str, Any] = {}

    def put(self, name: str, data: bytes) -> None:
        """Store (or replace) `name`; the server's counts start again after it."""
        self.server.put(name, data)
        self.server.reset_counts()

    def url(self, name: str) -> str:
        """The URL of `name`."""
        return self.server.url(name)


class S3Store:
    """Objects in a bucket of an :class:`S3Server`, addressed by ``s3://`` URLs.

    botocore's own retries are off (``max_attempts`` 1) so that faults reach
    s3fs's and the reader's retries, which wait tenths of seconds, not seconds.
    """

    kind = "s3"

    def __init__(self, server: S3Server, bucket: str) -> None:
        self.server = server
        self.bucket = bucket
        self.storage_options = server.storage_options(
            config_kwargs={"retries": {"max_attempts": 1, "mode": "standard"}}
        )
        import fsspec

        self.fs = fsspec.filesystem("s3", **self.storage_options)
        self.fs.mkdir(bucket)

    def put(self, name: str, data: bytes) -> None:
        """Store (or replace) `name`; the server's counts start again after it."""
        self.fs.pipe_file(f"{self.bucket}/{name}", data)
        self.fs.invalidate_cache()
        self.server.reset_counts()

    def url(self, name: str) -> str:
        """The URL of `name`."""
        return f"s3://{self.bucket}/{name}"
