"""FrameReader: one frame of an opened file, read and decoded into a new array.

Contract: a :class:`FrameReader` is built from an :class:`~lazydcm.opening.Opened`
and composes the stages after it -- frame index → source → decoder → pixel
pipeline -- for one frame at a time:

* ``decode(i)`` reads frame *i*'s bytes (with ``read_into``: ``pread`` for a local
  file, so no page stays mapped and a file truncated under the reader gives
  :class:`~lazydcm.errors.TruncatedFileError`, never a SIGBUS), decodes them with
  the backend chosen once, at construction (:func:`lazydcm.decoders.choose`), and
  finishes them (:func:`lazydcm.pixels.finish_frame`).  The array returned is new
  and the caller's; native frames that need no step of the pipeline are read
  straight into it.
* Everything a frame depends on is decided at construction, from the header
  and, where the codestream decides the colour space (a 3-sample JPEG), from the
  first frame's markers: :attr:`photometric_interpretation` never changes, and
  no read writes state -- but for a rescan: an offset table entry that proves
  wrong when its frame is read (:class:`~lazydcm.index.Rejected`) makes the reader
  scan the item headers once, with a :class:`~lazydcm.errors.LazyDcmWarning`, and
  use that table from then on.
* Reads are counted (:class:`~lazydcm.inflight.ReadsInFlight`): :meth:`close`
  waits for those in flight before it closes the file, and later reads raise
  ``ValueError``.

A reader is shared by threads; worker processes and Dask tasks build their own
from the same :class:`~lazydcm.opening.OpenOptions`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np

from lazydcm.decoders import FrameDecoder, FrameSpec, Unavailable, choose
from lazydcm.decoders.markers import decoded_photometric, needs_codestream
from lazydcm.errors import DecodeError, FrameIndexError, TruncatedFileError
from lazydcm.index import (
    FrameIndex,
    ItemReader,
    Pieces,
    Rejected,
    build_index,
    frame_pieces,
    warn_rejected,
)
from lazydcm.inflight import ReadsInFlight
from lazydcm.opening import Opened
from lazydcm.pixels import finish_frame, output_photometric, stored_as_returned
from lazydcm.sources.base import read_exactly

__all__ = ["ADVISE_BYTES", "FrameReader"]

#: Frames at least this large are asked for ahead of their read (``advise``).
ADVISE_BYTES = 1 << 18
#: Bytes of the first frame read to decide its colour space: enough for the SOF after
#: a few large APPn segments (an ICC profile takes up to 64 KiB a segment).
_HEAD = 1 << 18


class FrameReader:
    """Reads and decodes the frames of one opened file (see the module docstring).

    Parameters
    ----------
    opened : Opened
        The file; the reader closes it when closed.
    """

    def __init__(self, opened: Opened) -> None:
        self._opened = opened
        self._index = opened.index
        options = opened.options
        self._spec = FrameSpec.from_header(opened.header, rgb=not options.raw)
        self._raw = options.raw
        self._decoder = choose(opened.header.transfer_syntax, options.decoder)
        self._direct = stored_as_returned(self._spec, self._raw)
        self._reads = ReadsInFlight()
        self._rescan_lock = threading.Lock()
        # Item headers read with pread, to check BOT/EOT entries as frames are read.
        self._checker = ItemReader(opened.source, self._spec.transfer_syntax.uid, pread=True)
        head = self.head(0, _HEAD) if needs_codestream(self._spec) else None
        decoded = decoded_photometric(self._spec, head)
        self._photometric = output_photometric(decoded, self._spec, self._raw)

    # -- what it reads ------------------------------------------------------------

    @property
    def opened(self) -> Opened:
        """The opened file (its source, header, the index it was opened with, options)."""
        return self._opened

    @property
    def index(self) -> FrameIndex:
        """The frame index in use (a scan, once an offset table entry proved wrong)."""
        return self._index

    @property
    def spec(self) -> FrameSpec:
        """What every frame is: shape, dtype, samples, transfer syntax."""
        return self._spec

    @property
    def decoder(self) -> FrameDecoder | Unavailable:
        """The backend that decodes the frames, or why there is none."""
        return self._decoder

    @property
    def photometric_interpretation(self) -> str:
        """The colour space of returned frames ("RGB" after a YBR conversion)."""
        return self._photometric

    @property
    def name(self) -> str:
        """The source's name, for messages."""
        return self._opened.source.name

    def reading(self) -> AbstractContextManager[None]:
        """A context in which the file may be read (``ValueError`` once closed)."""
        return self._reads

    # -- frames -------------------------------------------------------------------

    def pieces(self, i: int) -> Pieces:
        """Where frame `i`'s stored bytes are; rescans if an offset table entry proves wrong.

        Raises
        ------
        TruncatedFileError
            The frame is not in the file: it ends early (or has shrunk since).
        FrameIndexError
            The complete data holds fewer frames than the header declares.
        """
        index = self._index
        if i >= index.present:
            error = TruncatedFileError if index.missing == "truncated" else FrameIndexError
            raise error(
                f"{self.name}: frame {i} is not in the file: it holds {index.present} "
                f"complete frames of the {index.count} its header declares"
            )
        if index.kind == "native":  # the hot path: one span
            return [int(index.offsets[i])], [int(index.lengths[i])]
        if not index.checked_on_read:  # the whole table is in memory
            return index.pieces(i)
        # A table read from the file checks its entry against the item headers: a
        # read of the file, so close() must wait for it (as for a rescan).
        with self._reads:
            found = frame_pieces(index, i, self._checker)
            if not isinstance(found, Rejected):
                return found
            self._rescan(index, found)
        return self.pieces(i)

    def head(self, i: int, n: int) -> bytes | None:
        """Up to `n` bytes of the start of frame `i`'s first piece; None if it is not there."""
        if i >= self._index.present:
            return None
        offsets, lengths = self.pieces(i)
        size = min(n, lengths[0], self._opened.source.size - offsets[0])
        with self._reads:
            return bytes(read_exactly(self._opened.source, offsets[0], size))

    def encoded(self, i: int) -> np.ndarray:
        """Frame `i`'s stored bytes in a new buffer (uint8; fragments joined)."""
        offsets, lengths = self.pieces(i)
        buffer = np.empty(sum(lengths), dtype=np.uint8)
        source = self._opened.source
        with self._reads:
            start = 0
            for file_offset, n in zip(offsets, lengths, strict=True):
                got = source.read_into(file_offset, buffer.data[start : start + n])
                if got != n:
                    self._missing_bytes(i, file_offset, n, got)
                start += n
        return buffer

    def decode(self, i: int) -> np.ndarray:
        """Frame `i` (``0 <= i < count``), decoded and finished into a new array.

        Raises
        ------
        DecodeError
            The codec failed on this frame.
        UnsupportedTransferSyntaxError, DecoderUnavailableError
            No backend decodes the file's frames here.
        """
        if self._direct:
            return self._read_direct(i)
        decoder = self._decoder
        if isinstance(decoder, Unavailable):
            raise decoder.exception()
        buffer = self.encoded(i)
        return self.finish(i, buffer, decoder)

    def finish(self, i: int, buffer: np.ndarray, decoder: FrameDecoder) -> np.ndarray:
        """Decode frame `i` from its stored bytes (`buffer`, which the decode may reuse)."""
        first_bit = 0
        index = self._index
        if index.frame_bits:
            # Where the frame starts inside its first byte(s): 1-bit frames are packed
            # bit to bit, and swapped OW words are read from an even byte.
            start = int(index.offsets[i]) - int(index.offsets[0])
            first_bit = i * index.frame_bits - start * 8
        try:
            decoded = decoder.decode(buffer.data, self._spec, first_bit)
        except DecodeError as exc:
            # Keep the codec's own error as the cause, as the decoder gave it.
            raise DecodeError(f"{self.name}: frame {i}: {exc}") from (exc.__cause__ or exc)
        return finish_frame(decoded, self._spec, self._raw)[0]

    def advise(self, i: int) -> None:
        """Ask the OS to start reading frame `i` when it is large enough to gain from it.

        Not for tables that check entries on use, nor for frames under
        :data:`ADVISE_BYTES`: the kernel's own read-ahead serves small sequential
        reads, and the call would cost more than it saves.
        """
        index = self._index
        if i < index.present and not index.checked_on_read and index.lengths[i] >= ADVISE_BYTES:
            offsets, lengths = self.pieces(i)
            with self._reads:  # never advise a closed, perhaps reused, descriptor
                self._opened.source.advise(offsets[0], sum(lengths), needed=True)

    def check_present(self, indices: Sequence[int]) -> None:
        """Raise the missing-frame error of the first of `indices` not in the file."""
        present = self._index.present
        absent = next((i for i in indices if i >= present), None)
        if absent is not None:
            self.pieces(absent)

    # -- inside ---------------------------------------------------------------------

    def _read_direct(self, i: int) -> np.ndarray:
        """A native frame read straight into the returned array (nothing to convert)."""
        index = self._index
        if i >= index.present:
            self.pieces(i)  # raises the missing-frame error
        offset = int(index.offsets[i])
        frame = np.empty(self._spec.shape, dtype=self._spec.dtype)
        with self._reads:
            got = self._opened.source.read_into(offset, frame.data)
        if got != frame.nbytes:
            self._missing_bytes(i, offset, frame.nbytes, got)
        return frame

    def _missing_bytes(self, i: int, offset: int, n: int, got: int) -> None:
        raise TruncatedFileError(
            f"{self.name}: frame {i} needs bytes {offset}..{offset + n}, but the file "
            f"now ends at byte {offset + got}"
        )

    def _rescan(self, failed: FrameIndex, why: Rejected) -> None:
        """Replace an offset table that failed its check by a scan of the item headers."""
        with self._rescan_lock:
            if self._index is not failed:
                return  # another thread did it
            warn_rejected(why)
            opened = self._opened
            self._index = build_index(opened.header, opened.source, trust_tables=False)

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> bool:
        """Wait for the reads in flight, then close the file; False if already closed."""
        if not self._reads.close():
            return False
        self._opened.close()
        return True

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._reads.closed
