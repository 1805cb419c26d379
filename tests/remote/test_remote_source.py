"""RemoteSource against real servers on 127.0.0.1: bytes, request counts, faults.

Each test runs against the HTTP/1.1 range server and against moto's S3 server
(``store``), unless it is about one protocol.  Counts are what the servers
received; bytes are the body bytes they sent.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from servers import HTTPStore, RangeServer, S3Server, S3Store

import lazydcm
from lazydcm import synth
from lazydcm.errors import SourceError, TruncatedFileError
from lazydcm.sources.fetchers import Failed, FsFetcher, Probe
from lazydcm.sources.remote import RemoteOptions, RemoteSource, Span, coalesce
from lazydcm.uids import ENCAPSULATED_UNCOMPRESSED

Store = HTTPStore | S3Store

#: No waiting between retries: the tests count requests, never time.
FAST = RemoteOptions(backoff=0.0)


def _data(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _open(store: Store, name: str, options: RemoteOptions = FAST) -> RemoteSource:
    return RemoteSource.from_url(store.url(name), store.storage_options, options=options)


def _gets(store: Store) -> list[str | None]:
    return [entry.range for entry in store.server.log if entry.method == "GET"]


# --- bytes ----------------------------------------------------------------------------------


def test_every_byte_equals_the_object(store: Store) -> None:
    data = _data(3_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    assert source.size == len(data)
    rng = np.random.default_rng(1)
    for _ in range(20):
        offset = int(rng.integers(0, len(data) - 5000))
        n = int(rng.integers(0, 5000))
        assert bytes(source.view(offset, n)) == data[offset : offset + n]
        out = bytearray(n)
        assert source.read_into(offset, memoryview(out)) == n
        assert out == data[offset : offset + n]
    offsets, lengths = rng.integers(0, 2_900_000, 300), rng.integers(0, 70_000, 300)
    ranges = [(int(o), int(n)) for o, n in zip(offsets, lengths, strict=True)]
    for (offset, n), got in zip(ranges, source.read_many(ranges), strict=True):
        assert got.nbytes == n
        assert bytes(got) == data[offset : offset + n]


def test_frames_equal_the_local_read(store: Store, tmp_path: Path) -> None:
    """Every frame's stored bytes, read remotely, equal lazydcm's local read."""
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, 1024, dtype=np.uint8).tobytes() for _ in range(300)]
    image = synth.ImagePixel(rows=32, columns=32, bits_allocated=8, number_of_frames=300)
    path = tmp_path / "frames.dcm"
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=ENCAPSULATED_UNCOMPRESSED)
    store.put("frames.dcm", path.read_bytes())
    source = _open(store, "frames.dcm")
    with lazydcm.FrameSequence(path) as local:
        pieces = [local.stored_pieces(i) for i in range(len(local))]
        expected = [bytes(local.encoded_frame(i)) for i in range(len(local))]
    ranges = [(int(p[0][0]), int(p[1][0])) for p in pieces]
    got = source.read_many(ranges)
    assert [bytes(g) for g in got] == expected
    for i in (0, 17, 299):
        out = bytearray(ranges[i][1])
        source.read_into(ranges[i][0], memoryview(out))
        assert out == expected[i]


# --- requests -------------------------------------------------------------------------------


def test_open_is_one_request_of_the_first_64_kib(store: Store) -> None:
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin")
    assert _gets(store) == ["bytes=0-65535"]
    assert store.server.request_count == 1
    assert source.status is not None
    assert source.status[1] == "etag"
    assert source.status[0] == 1_000_000
    # Views inside the first 64 KiB cost nothing more.
    source.view(0, 132)
    source.view(60_000, 5536)
    assert store.server.request_count == 1


def test_a_1_mib_header_costs_at_most_4_requests(store: Store) -> None:
    data = _data(20_000_000)
    store.put("big.bin", data)
    source = _open(store, "big.bin")
    offset = 0
    while offset < 1 << 20:  # a header walk: small views in order
        n = 100 + offset % 900
        assert bytes(source.view(offset, n)) == data[offset : offset + n]
        offset += n
    gets = _gets(store)
    assert gets[0] == "bytes=0-65535"
    assert len(gets) <= 4
    # Read-ahead is bounded: far less than the object was fetched.
    assert store.server.bytes_sent <= 5 << 20


def test_read_into_is_one_request_of_exactly_its_bytes(store: Store) -> None:
    data = _data(2_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    out = bytearray(123_457)
    assert source.read_into(1_000_001, memoryview(out)) == len(out)
    assert out == data[1_000_001 : 1_000_001 + len(out)]
    assert _gets(store) == [f"bytes=1000001-{1_000_001 + len(out) - 1}"]
    assert store.server.bytes_sent == len(out)


def test_read_into_is_short_only_at_the_end(store: Store) -> None:
    data = _data(500_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    out = bytearray(1000)
    assert source.read_into(499_500, memoryview(out)) == 500
    assert out[:500] == data[499_500:]
    assert source.read_into(500_000, memoryview(out)) == 0
    assert source.read_into(600_000, memoryview(out)) == 0


def test_read_many_coalesces_neighbouring_frames(store: Store) -> None:
    """500 frames separated by 8-byte item headers: few requests, few extra bytes."""
    data = _data(2_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    frame, start = 1000, 100_000
    ranges = [(start + i * (frame + 8) + 8, frame) for i in range(500)]
    got = source.read_many(ranges)
    assert all(bytes(g) == data[o : o + n] for g, (o, n) in zip(got, ranges, strict=True))
    assert store.server.request_count <= 500 / 8
    assert store.server.bytes_sent <= 1.1 * 500 * frame


def test_read_many_in_random_order_returns_input_order(store: Store) -> None:
    data = _data(1_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, first_read=1024))
    ranges = [(200_000 + i * 1000, 1000) for i in range(100)]
    np.random.default_rng(3).shuffle(ranges)
    store.server.reset_counts()
    got = source.read_many(ranges)
    assert [bytes(g) for g in got] == [data[o : o + n] for o, n in ranges]
    assert store.server.request_count == 1


def test_read_many_splits_large_spans(store: Store) -> None:
    data = _data(3_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, max_span=256 << 10))
    store.server.reset_counts()
    (got,) = source.read_many([(1_000_000, 1 << 20)])
    assert bytes(got) == data[1_000_000 : 1_000_000 + (1 << 20)]
    assert store.server.request_count == 4
    assert store.server.bytes_sent == 1 << 20


def test_read_many_leaves_distant_ranges_apart(store: Store) -> None:
    data = _data(8_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    ranges = [(i * 1_500_000 + 100_000, 10_000) for i in range(5)]
    got = source.read_many(ranges)
    assert [bytes(g) for g in got] == [data[o : o + n] for o, n in ranges]
    assert store.server.request_count == 5
    assert store.server.bytes_sent == 50_000


def test_read_many_requests_run_concurrently(store: Store) -> None:
    data = _data(4_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    store.server.latency = 0.2  # each request waits; concurrent ones wait together
    ranges = [(i * 1_000_000 + 100_000, 1000) for i in range(4)]
    got = source.read_many(ranges)
    assert [bytes(g) for g in got] == [data[o : o + n] for o, n in ranges]
    assert store.server.peak_in_flight >= 2


def test_read_many_buffers_are_the_callers_own(store: Store) -> None:
    data = _data(300_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, first_read=1024))
    first, overlapping, inside_window = source.read_many([(100_000, 100), (100_050, 100), (0, 10)])
    for buffer in (first, overlapping, inside_window):
        assert not buffer.readonly
    first[:] = b"\0" * 100
    inside_window[:] = b"\0" * 10
    assert bytes(overlapping) == data[100_050:100_150]
    assert bytes(source.view(0, 10)) == data[:10]


def test_read_many_past_the_end_is_truncated_without_a_request(store: Store) -> None:
    store.put("blob.bin", _data(100_000))
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    with pytest.raises(TruncatedFileError, match=r"bytes 99000\.\.101000 .* ends at byte 100000"):
        source.read_many([(0, 10), (99_000, 2000)])
    with pytest.raises(TruncatedFileError, match=r"blob\.bin"):
        source.view(99_999, 2)
    assert store.server.request_count == 0


def test_an_empty_object_opens(store: Store) -> None:
    store.put("empty.bin", b"")
    source = _open(store, "empty.bin")
    assert source.size == 0
    assert source.read_many([(0, 0)])[0].nbytes == 0
    assert source.read_into(0, memoryview(bytearray(10))) == 0


def test_status_tells_versions_apart(store: Store) -> None:
    store.put("blob.bin", _data(100_000))
    before = _open(store, "blob.bin").status
    assert before == _open(store, "blob.bin").status
    store.put("blob.bin", _data(100_000, seed=9))
    assert _open(store, "blob.bin").status != before


def test_many_threads_read_at_once(store: Store) -> None:
    data = _data(3_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, first_read=4096))
    errors: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(15):
            offset, n = int(rng.integers(0, 2_900_000)), int(rng.integers(1, 50_000))
            out = bytearray(n)
            source.read_into(offset, memoryview(out))
            header = bytes(source.view(int(rng.integers(0, 200_000)), 16))
            many = source.read_many([(offset, n), (offset + n, 100)])
            if out != data[offset : offset + n] or bytes(many[0]) != out or len(header) != 16:
                errors.append(f"thread {seed}: wrong bytes at {offset}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- failures -------------------------------------------------------------------------------


def test_a_missing_object_is_one_clear_line(store: Store) -> None:
    with pytest.raises(SourceError) as caught:
        _open(store, "missing.dcm")
    message = str(caught.value)
    assert "\n" not in message
    assert store.url("missing.dcm") in message
    assert "not found" in message
    assert "404" in message


def test_a_forbidden_object_is_one_clear_line(store: Store) -> None:
    store.put("secret.dcm", _data(1000))
    store.server.forbid("secret.dcm" if store.kind == "http" else f"{store.bucket}/secret.dcm")
    with pytest.raises(SourceError) as caught:
        _open(store, "secret.dcm")
    message = str(caught.value)
    assert "\n" not in message
    assert store.url("secret.dcm") in message
    assert "access denied" in message
    assert "403" in message


def test_a_dropped_connection_is_retried(store: Store) -> None:
    data = _data(1_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    store.server.inject("drop")
    out = bytearray(200_000)
    source.read_into(300_000, memoryview(out))
    assert out == data[300_000:500_000]
    assert _gets(store) == ["bytes=300000-499999"] * 2


def test_503_twice_then_success(store: Store) -> None:
    data = _data(1_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    store.server.inject("503", "503")
    (got,) = source.read_many([(700_000, 5000)])
    assert bytes(got) == data[700_000:705_000]
    assert [entry.status for entry in store.server.log] == [503, 503, 206]


def test_503_at_open_is_retried(store: Store) -> None:
    store.put("blob.bin", _data(100_000))
    store.server.inject("503", "503")
    assert _open(store, "blob.bin").size == 100_000
    assert [entry.status for entry in store.server.log][-3:] == [503, 503, 206]


def test_a_replaced_object_is_an_error_never_other_bytes(store: Store) -> None:
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin")
    store.put("blob.bin", _data(1_000_000, seed=5))  # same size, new ETag
    out = bytearray(1000)
    with pytest.raises(SourceError, match=r"bytes 500000-500999: the object changed") as caught:
        source.read_into(500_000, memoryview(out))
    assert store.url("blob.bin") in str(caught.value)
    with pytest.raises(SourceError, match="changed"):
        source.read_many([(600_000, 10), (900_000, 10)])


def test_http_persistent_503_names_url_range_and_status(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, retries=2))
    http_server.inject("503", "503", "503", "503")
    with pytest.raises(SourceError) as caught:
        source.read_into(100_000, memoryview(bytearray(100)))
    message = str(caught.value)
    assert store.url("blob.bin") in message
    assert "bytes 100000-100099" in message
    assert "HTTP 503" in message
    assert "3 attempts" in message
    assert http_server.pending_faults == 1  # 1 try + 2 retries, then no more


def test_http_whole_object_for_a_range_is_refused(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin")
    http_server.inject("whole")
    with pytest.raises(
        SourceError,
        match=r"ranges \(HTTP 200 with 1000000 bytes to a request for bytes 100000-100099\)",
    ):
        source.read_into(100_000, memoryview(bytearray(100)))


def test_http_server_without_ranges_is_refused_at_open(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    store.put("blob.bin", _data(1_000_000))
    http_server.inject("whole")
    with pytest.raises(SourceError, match="does not serve byte ranges"):
        _open(store, "blob.bin")


def test_http_small_object_without_ranges_opens(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    data = _data(30_000)
    store.put("small.bin", data)
    http_server.inject("whole")
    source = _open(store, "small.bin")
    assert bytes(source.view(0, 30_000)) == data
    assert http_server.request_count == 1


def test_http_fewer_bytes_than_asked_are_retried(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    data = _data(1_000_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    http_server.reset_counts()
    http_server.inject("short")
    out = bytearray(10_000)
    source.read_into(200_000, memoryview(out))
    assert out == data[200_000:210_000]
    assert http_server.request_count == 2


def test_http_fewer_bytes_every_time_is_an_error(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, retries=1))
    http_server.inject("short", "short")
    with pytest.raises(SourceError, match=r"bytes 200000-209999.*sent bytes 200000-204999"):
        source.read_into(200_000, memoryview(bytearray(10_000)))


def test_http_stalled_request_times_out_and_is_retried(http_server: RangeServer) -> None:
    http_server.stall_seconds = 1.0
    store = HTTPStore(http_server)
    data = _data(200_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, request_timeout=0.25))
    http_server.inject("stall")
    out = bytearray(1000)
    source.read_into(100_000, memoryview(out))
    assert out == data[100_000:101_000]


def test_http_url_query_and_credentials_stay_out_of_messages(http_server: RangeServer) -> None:
    url = http_server.url("missing.dcm").replace("http://", "http://user:pw@")
    with pytest.raises(SourceError) as caught:
        RemoteSource.from_url(url + "?X-Amz-Signature=s3cr3t", options=FAST)
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert "pw" not in message
    assert http_server.url("missing.dcm") + "?..." in message


def test_s3_dropped_connections_every_time_is_an_error(s3_server: S3Server) -> None:
    store = S3Store(s3_server, "bucket-drops")
    store.put("blob.bin", _data(1_000_000))
    source = _open(store, "blob.bin", RemoteOptions(backoff=0, retries=1))
    s3_server.inject("drop", "drop")
    with pytest.raises(SourceError, match=r"s3://bucket-drops/blob.bin: bytes 1000-100999"):
        source.read_into(1000, memoryview(bytearray(100_000)))


# --- other filesystems ------------------------------------------------------------------------


def test_memory_and_file_urls(tmp_path: Path) -> None:
    import fsspec

    data = _data(300_000)
    (tmp_path / "blob.bin").write_bytes(data)
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/remote-tests/blob.bin", data)
    for url in ("memory://remote-tests/blob.bin", (tmp_path / "blob.bin").as_uri()):
        source = RemoteSource.from_url(url)
        assert source.size == len(data)
        assert source.status is not None
        assert bytes(source.view(100, 1000)) == data[100:1100]
        out = bytearray(5000)
        source.read_into(250_000, memoryview(out))
        assert out == data[250_000:255_000]
        got = source.read_many([(70_000, 10), (290_000, 10_000)])
        assert [bytes(g) for g in got] == [data[70_000:70_010], data[290_000:]]
    with pytest.raises(SourceError, match="not found"):
        RemoteSource.from_url("memory://remote-tests/missing.bin")


def test_a_pickled_source_reopens_without_a_request(store: Store) -> None:
    data = _data(500_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    store.server.reset_counts()
    copy = pickle.loads(pickle.dumps(source))
    assert store.server.request_count == 0
    assert (copy.name, copy.size, copy.status) == (source.name, source.size, source.status)
    out = bytearray(1000)
    copy.read_into(400_000, memoryview(out))
    assert out == data[400_000:401_000]
    store.put("blob.bin", _data(500_000, seed=3))
    with pytest.raises(SourceError, match="changed"):
        pickle.loads(pickle.dumps(source)).read_into(400_000, memoryview(out))


def test_advise_not_needed_drops_the_header_window(store: Store) -> None:
    data = _data(500_000)
    store.put("blob.bin", data)
    source = _open(store, "blob.bin")
    source.view(0, 100)
    source.advise(0, source.size, needed=False)
    store.server.reset_counts()
    assert bytes(source.view(0, 100)) == data[:100]
    assert store.server.request_count == 1


def test_generic_fetcher_on_an_async_filesystem(http_server: RangeServer) -> None:
    """The fetcher for filesystems without their own (gcsfs, adlfs...): checked lengths."""
    import fsspec
    import fsspec.asyn

    data = _data(300_000)
    http_server.put("blob.bin", data)
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    fetcher = FsFetcher(fs, http_server.url("blob.bin"))
    probe = fsspec.asyn.sync(fetcher.loop, fetcher.probe, 1000)
    assert isinstance(probe, Probe)
    assert probe.data == data[:1000]
    assert probe.version.size == len(data)
    assert probe.version.etag is not None
    out = bytearray(5000)
    assert (
        fsspec.asyn.sync(fetcher.loop, fetcher.get, 100_000, memoryview(out), probe.version) is None
    )
    assert out == data[100_000:105_000]
    http_server.inject("whole")  # fsspec returns the whole body: the length gives it away
    failed = fsspec.asyn.sync(fetcher.loop, fetcher.get, 100_000, memoryview(out), probe.version)
    assert isinstance(failed, Failed)
    assert "received 300000 bytes for bytes 100000-104999" in failed.status


def test_close_is_idempotent_and_ends_reads(http_server: RangeServer) -> None:
    store = HTTPStore(http_server)
    store.put("blob.bin", _data(1000))
    source = _open(store, "blob.bin")
    source.close()
    source.close()
    with pytest.raises(ValueError, match="closed"):
        source.view(0, 1)


def test_import_lazydcm_imports_no_fsspec() -> None:
    code = "import sys, lazydcm; print(sorted({'fsspec', 'aiohttp', 's3fs'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(Path(lazydcm.__file__).parents[1])},
    )  # fmt: skip
    assert result.stdout.strip() == "[]"


# --- coalescing -------------------------------------------------------------------------------


def test_coalesce_rules() -> None:
    options = RemoteOptions(merge_gap=100, max_gap=10_000, max_waste=0.1)
    # Touching, overlapping and small gaps merge; empty ranges are left out.
    assert coalesce([(0, 10), (10, 10), (15, 10), (125, 5), (500, 0)], options) == [
        Span(0, 130, (0, 1, 2, 3))
    ]
    # A gap over merge_gap merges only while the gaps stay under 10% of the useful bytes.
    assert coalesce([(0, 5000), (5400, 5000)], options) == [Span(0, 10_400, (0, 1))]
    assert coalesce([(0, 1000), (1400, 1000)], options) == [
        Span(0, 1000, (0,)), Span(1400, 2400, (1,))
    ]  # fmt: skip
    # Never across more than max_gap.
    assert coalesce([(0, 1_000_000), (1_010_001, 10)], options) == [
        Span(0, 1_000_000, (0,)), Span(1_010_001, 1_010_011, (1,))
    ]  # fmt: skip
    # File order, whatever the input order.
    assert coalesce([(50, 10), (0, 10)], options) == [Span(0, 60, (1, 0))]
