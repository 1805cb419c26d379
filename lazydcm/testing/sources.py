"""SourceTests: the contract every byte source keeps, as a pytest suite to subclass.

Subclass :class:`SourceTests` in a test module and implement :meth:`~SourceTests.open`
(make a source over the bytes given); every check of the protocol of
:mod:`lazydcm.sources.base` then runs against it::

    from lazydcm.testing import SourceTests

    class TestMySource(SourceTests):
        def open(self, data: bytes, tmp_path: Path) -> ByteSource:
            return MySource(...)

What is checked: the protocol's members and types; ``view`` gives exactly the
bytes asked for, raises :class:`~lazydcm.errors.TruncatedFileError` naming the
source past the end and ``ValueError`` for a negative range; ``read_into``
copies, stops short only at the end and never writes past what it copied;
``read_many`` gives one new writable buffer of exactly each range (neighbouring,
overlapping, out of order, empty), and raises past the end; ``status`` is
stable; many threads reading at once get their own bytes; ``advise`` changes no
byte; ``close`` is idempotent.  Needs pytest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lazydcm.errors import InvalidDicomError, TruncatedFileError
from lazydcm.sources.base import ByteSource

__all__ = ["DATA", "SourceTests"]

#: The bytes every check reads: 200 KiB of seeded random bytes (larger than a 64 KiB
#: block, so that sources that read in blocks cross one).
DATA = np.random.default_rng(20240611).integers(0, 256, 200 * 1024, dtype=np.uint8).tobytes()
_SIZE = len(DATA)
_RANGES = [
    (0, 0),
    (0, 1),
    (17, 100),
    (_SIZE - 5, 5),
    (_SIZE, 0),
    (65530, 20),  # across a 64 KiB block boundary
    (1000, 16 * 1024 + 1),
    (0, _SIZE),
]


class SourceTests:
    """The byte-source contract; subclasses implement :meth:`open`."""

    def open(self, data: bytes, tmp_path: Path) -> ByteSource:
        """Make the source under test over `data` (`tmp_path` is the test's own folder)."""
        raise NotImplementedError

    def release(self, source: ByteSource) -> None:
        """Release what :meth:`open` made beyond the source (default: close the source)."""
        source.close()

    @pytest.fixture
    def source(self, tmp_path: Path) -> Iterator[ByteSource]:
        made = self.open(DATA, tmp_path)
        yield made
        self.release(made)

    # -- the protocol ------------------------------------------------------------------

    def test_implements_the_protocol(self, source: ByteSource) -> None:
        assert isinstance(source, ByteSource)
        assert isinstance(source.name, str)
        assert source.name

    def test_size_is_the_number_of_bytes(self, source: ByteSource) -> None:
        assert source.size == _SIZE

    def test_status_is_stable_and_starts_with_the_size(self, source: ByteSource) -> None:
        first, second = source.status, source.status

        assert first == second
        if first is not None:
            assert isinstance(first, tuple)
            assert first[0] == _SIZE
            assert all(isinstance(v, (str, int)) for v in first)

    @pytest.mark.parametrize(("offset", "n"), _RANGES)
    def test_view_returns_exactly_n_bytes(self, source: ByteSource, offset: int, n: int) -> None:
        view = source.view(offset, n)

        assert isinstance(view, memoryview)
        assert view.nbytes == n
        assert bytes(view) == DATA[offset : offset + n]

    @pytest.mark.parametrize(
        ("offset", "n"), [(_SIZE - 4, 5), (_SIZE, 1), (_SIZE + 100, 0), (0, _SIZE + 1)]
    )
    def test_view_past_the_end_raises_truncated(
        self, source: ByteSource, offset: int, n: int
    ) -> None:
        with pytest.raises(TruncatedFileError, match=rf"ends at byte {_SIZE}") as info:
            source.view(offset, n)

        assert isinstance(info.value, InvalidDicomError)
        assert source.name in str(info.value)

    @pytest.mark.parametrize(("offset", "n"), [(-1, 4), (0, -1)])
    def test_view_of_a_negative_range_is_a_value_error(
        self, source: ByteSource, offset: int, n: int
    ) -> None:
        with pytest.raises(ValueError, match="invalid byte range"):
            source.view(offset, n)

    def test_read_into_copies_the_bytes(self, source: ByteSource) -> None:
        out = bytearray(b"\xaa" * 3000)

        count = source.read_into(70000, memoryview(out))

        assert count == 3000
        assert bytes(out) == DATA[70000:73000]

    def test_read_into_returns_a_short_count_at_the_end(self, source: ByteSource) -> None:
        out = bytearray(b"\xaa" * 100)

        count = source.read_into(_SIZE - 30, memoryview(out))

        assert count == 30
        assert bytes(out[:30]) == DATA[-30:]
        assert bytes(out[30:]) == b"\xaa" * 70  # untouched

    def test_read_into_past_the_end_copies_nothing(self, source: ByteSource) -> None:
        out = bytearray(b"\xaa" * 16)

        count = source.read_into(_SIZE + 10, memoryview(out))

        assert count == 0
        assert bytes(out) == b"\xaa" * 16

    def test_read_into_a_multibyte_array(self, source: ByteSource) -> None:
        out = np.zeros(500, dtype=np.uint16)

        count = source.read_into(2, out.data)

        assert count == 1000
        assert out.tobytes() == DATA[2:1002]

    def test_read_into_does_not_disturb_later_views(self, source: ByteSource) -> None:
        source.read_into(5, memoryview(bytearray(64)))

        assert bytes(source.view(100, 10)) == DATA[100:110]

    def test_read_many_gives_each_range_in_a_new_writable_buffer(self, source: ByteSource) -> None:
        # Neighbours, a gap, an overlap, out of order, empty, the last byte, the whole.
        ranges = [(0, 10), (10, 20), (100, 5), (90, 30), (50_000, 0), (_SIZE - 1, 1), (0, _SIZE)]

        got = source.read_many(ranges)

        assert len(got) == len(ranges)
        for (offset, n), view in zip(ranges, got, strict=True):
            assert isinstance(view, memoryview)
            assert not view.readonly
            assert bytes(view) == DATA[offset : offset + n]
        got[0][:] = b"\x00" * 10  # the caller's to change
        assert bytes(got[1]) == DATA[10:30]
        assert bytes(source.read_many([(0, 10)])[0]) == DATA[:10]

    def test_read_many_of_nothing_is_empty(self, source: ByteSource) -> None:
        assert source.read_many([]) == []

    def test_read_many_past_the_end_raises_truncated(self, source: ByteSource) -> None:
        with pytest.raises(TruncatedFileError) as info:
            source.read_many([(0, 4), (_SIZE - 2, 4)])

        assert source.name in str(info.value)

    def test_threads_reading_at_once_get_their_own_bytes(self, source: ByteSource) -> None:
        rng = np.random.default_rng(7)
        starts = rng.integers(0, _SIZE - 4096, 64).tolist()
        errors: list[BaseException] = []

        def read(k: int) -> None:
            try:
                for start in starts[k::8]:
                    out = bytearray(4096)
                    assert source.read_into(start, memoryview(out)) == 4096
                    assert bytes(out) == DATA[start : start + 4096]
                    (view,) = source.read_many([(start, 1000)])
                    assert bytes(view) == DATA[start : start + 1000]
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert not errors, errors[0]
        assert not any(thread.is_alive() for thread in threads)

    def test_advise_keeps_the_data_readable(self, source: ByteSource) -> None:
        source.advise(0, _SIZE, True)
        source.advise(0, _SIZE, False)
        source.advise(_SIZE - 1, 100, False)

        assert bytes(source.view(4096, 64)) == DATA[4096:4160]

    def test_close_is_idempotent_and_earlier_bytes_stay_valid(self, source: ByteSource) -> None:
        (copied,) = source.read_many([(0, 16)])
        view = source.view(16, 16)

        source.close()
        source.close()

        assert bytes(copied) == DATA[:16]
        assert bytes(view) == DATA[16:32]
