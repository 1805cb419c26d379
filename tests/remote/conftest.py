"""Fixtures: the servers of :mod:`servers` and one store interface over both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from servers import HTTPStore, RangeServer, S3Server, S3Store


@pytest.fixture
def http_server() -> Iterator[RangeServer]:
    """A fresh HTTP/1.1 range server (new port, no objects, no counts)."""
    with RangeServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server_session() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_server(s3_server_session: S3Server) -> Iterator[S3Server]:
    """The session's moto S3 server, with counts, faults and latency reset."""
    server = s3_server_session
    yield server
    server.clear_faults()
    server.latency = 0.0
    server.reset_counts()


@pytest.fixture(params=["http", "s3"])
def store(request: pytest.FixtureRequest) -> HTTPStore | S3Store:
    """A store on each real server: the HTTP range server, and a new bucket of moto's S3."""
    if request.param == "http":
        return HTTPStore(request.getfixturevalue("http_server"))
    server: S3Server = request.getfixturevalue("s3_server")
    store = S3Store(server, f"bucket-{uuid.uuid4().hex[:12]}")
    server.reset_counts()
    return store
