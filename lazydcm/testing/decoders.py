"""DecoderTests: the contract every decoder backend keeps, as a pytest suite to subclass.

Subclass :class:`DecoderTests` in a test module and name the backend (its name in
:data:`lazydcm.decoders.BACKENDS`); every check then runs for each transfer
syntax the backend serves and this suite can encode::

    from lazydcm.testing import DecoderTests

    class TestImagecodecs(DecoderTests):
        backend = "imagecodecs"

What is checked, on frames generated here (seeded; 8- and 16-bit, one and three
samples) and encoded with imagecodecs, pylibjpeg-rle or zlib:

* **round trip** - a frame decoded and finished (:func:`lazydcm.pixels.finish_frame`)
  equals the frame encoded, exactly for lossless syntaxes and within a few grey
  levels for lossy ones; the colour space the backend reports is the one
  :func:`lazydcm.decoders.markers.decoded_photometric` predicts;
* **corrupt input** - a codestream cut short, or replaced by noise, gives
  :class:`~lazydcm.errors.DecodeError` (or a frame of the right size), never
  another exception or a crash;
* **no shared state** - decoding leaves the decoder's attributes as they were, and
  eight threads decoding at once get the frames one thread gets;
* **the registry** - the backend is registered for the syntaxes it is tested for.

Syntaxes whose encoder is not installed are skipped with the reason.  Needs pytest.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from lazydcm import uids
from lazydcm.decoders import BACKENDS, Decoded, FrameDecoder, FrameSpec, Unavailable, choose
from lazydcm.decoders.markers import decoded_photometric
from lazydcm.errors import DecodeError
from lazydcm.pixels import finish_frame

__all__ = ["Case", "DecoderTests", "cases_for"]

_RNG_SEED = 20260611


@dataclass(frozen=True)
class Case:
    """One frame encoded in one transfer syntax, and what it must decode to."""

    name: str
    uid: str
    spec: FrameSpec
    encoded: bytes
    expected: np.ndarray
    #: The largest difference allowed from `expected` (0: lossless).
    tolerance: int = 0


def _spec(uid: str, frame: np.ndarray, photometric: str, planar: int = 0) -> FrameSpec:
    samples = frame.shape[2] if frame.ndim == 3 else 1
    bits = frame.dtype.itemsize * 8
    signed = frame.dtype.kind == "i"
    dtype = np.dtype(frame.dtype.str.replace(">", "<").replace("=", "<")).newbyteorder("=")
    return FrameSpec(
        rows=frame.shape[0],
        columns=frame.shape[1],
        samples_per_pixel=samples,
        bits_allocated=bits,
        bits_stored=bits,
        pixel_representation=int(signed),
        photometric_interpretation=photometric,
        planar_configuration=planar,
        transfer_syntax=uids.lookup(uid),
        pixel_keyword="PixelData",
        words_swapped=False,
        dtype=dtype,
        stored_dtype=dtype.newbyteorder("<"),
    )


def _frames() -> dict[str, np.ndarray]:
    """The frames every syntax encodes: smooth (lossy codecs keep them close)."""
    rng = np.random.default_rng(_RNG_SEED)
    y, x = np.mgrid[0:24, 0:40]
    smooth = (x * 5 + y * 3).astype(np.uint8)
    rgb = np.stack([smooth, (smooth // 2 + 40).astype(np.uint8), 255 - smooth], -1)
    return {
        "u8": smooth,
        "u16": (x * 1500 + y * 700 + rng.integers(0, 4, x.shape)).astype(np.uint16),
        "i16": (x * 300 - y * 900 - 5000).astype(np.int16),
        "rgb8": rgb.astype(np.uint8),
    }


def _native(frame: np.ndarray) -> bytes:
    return frame.astype(frame.dtype.newbyteorder("<")).tobytes()


def _raw_deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


def _rle(frame: np.ndarray) -> bytes:
    from rle.utils import encode_pixel_data

    samples = frame.shape[2] if frame.ndim == 3 else 1
    encoded: bytes = encode_pixel_data(
        _native(frame),
        rows=frame.shape[0],
        columns=frame.shape[1],
        samples_per_pixel=samples,
        bits_allocated=frame.dtype.itemsize * 8,
        byteorder="<",
    )
    return encoded


def _codecs() -> Any:
    return pytest.importorskip("imagecodecs", reason="the suite encodes with imagecodecs")


#: uid -> [(frame key, photometric, encode(frame) -> bytes, tolerance)]
_Encoder = Callable[[np.ndarray], bytes]
_CATALOGUE: dict[str, list[tuple[str, str, _Encoder, int]]] = {
    uids.EXPLICIT_LE: [
        ("u16", "MONOCHROME2", _native, 0),
        ("i16", "MONOCHROME2", _native, 0),
        ("rgb8", "RGB", _native, 0),
    ],
    uids.ENCAPSULATED_UNCOMPRESSED: [("u16", "MONOCHROME2", _native, 0)],
    uids.DEFLATED_IMAGE_FRAME: [
        ("u16", "MONOCHROME2", lambda f: _raw_deflate(_native(f)), 0),
        ("rgb8", "RGB", lambda f: _raw_deflate(_native(f)), 0),
    ],
    uids.RLE_LOSSLESS: [
        ("u16", "MONOCHROME2", _rle, 0),
        ("i16", "MONOCHROME2", _rle, 0),
        ("rgb8", "RGB", _rle, 0),
    ],
    uids.JPEG_BASELINE: [
        ("u8", "MONOCHROME2", lambda f: bytes(_codecs().jpeg8_encode(f, level=95)), 4),
    ],
    uids.JPEG_LOSSLESS_SV1: [
        (
            "u16",
            "MONOCHROME2",
            lambda f: bytes(
                _codecs().jpeg8_encode(f, lossless=True, predictor=1, bitspersample=16)
            ),
            0,
        ),
        (
            "rgb8",
            "RGB",
            lambda f: bytes(_codecs().jpeg8_encode(f, lossless=True, predictor=1)),
            0,
        ),
    ],
    uids.JPEG_LS_LOSSLESS: [
        ("u16", "MONOCHROME2", lambda f: bytes(_codecs().jpegls_encode(f)), 0),
    ],
    uids.J2K_LOSSLESS: [
        (
            "u16",
            "MONOCHROME2",
            lambda f: bytes(_codecs().jpeg2k_encode(f, codecformat="J2K", level=0)),
            0,
        ),
        (
            "i16",
            "MONOCHROME2",
            lambda f: bytes(_codecs().jpeg2k_encode(f, codecformat="J2K", level=0)),
            0,
        ),
    ],
    uids.HTJ2K_LOSSLESS: [
        ("u16", "MONOCHROME2", lambda f: bytes(_codecs().htj2k_encode(f)), 0),
    ],
    uids.JPEG_XL_LOSSLESS: [
        ("u16", "MONOCHROME2", lambda f: bytes(_codecs().jpegxl_encode(f, lossless=True)), 0),
    ],
}


def cases_for(uid: str) -> Iterator[Case]:
    """The cases this suite has for `uid` (encoded on demand; may skip)."""
    frames = _frames()
    for key, photometric, encode, tolerance in _CATALOGUE.get(uid, []):
        frame = frames[key]
        yield Case(
            f"{uid}-{key}", uid, _spec(uid, frame, photometric), encode(frame), frame, tolerance
        )


class DecoderTests:
    """The decoder contract; subclasses set :attr:`backend`."""

    #: The backend's name in :data:`lazydcm.decoders.BACKENDS`.
    backend: str = ""

    def syntaxes(self) -> list[str]:
        """The transfer syntaxes tested: those the backend serves that the suite encodes."""
        served = set().union(*(b.syntaxes for b in BACKENDS if b.name == self.backend))
        return sorted(uid for uid in served if uid in _CATALOGUE)

    def decoder(self, uid: str) -> FrameDecoder:
        """The backend's decoder for `uid` (skips when it is not installed)."""
        chosen = choose(uids.lookup(uid), self.backend)
        if isinstance(chosen, Unavailable):
            pytest.skip(chosen.message)
        return chosen

    def cases(self) -> Iterator[tuple[FrameDecoder, Case]]:
        for uid in self.syntaxes():
            decoder = self.decoder(uid)
            for case in cases_for(uid):
                yield decoder, case

    @staticmethod
    def decode(decoder: FrameDecoder, case: Case) -> tuple[np.ndarray, Decoded]:
        # A writable buffer the decoder may keep, as a frame read from a file is.
        decoded = decoder.decode(memoryview(bytearray(case.encoded)), case.spec)
        frame, _ = finish_frame(decoded, case.spec, raw=False)
        return frame, decoded

    # -- the checks ----------------------------------------------------------------

    def test_the_backend_is_registered(self) -> None:
        assert self.backend
        assert self.syntaxes(), f"the suite has no case for the syntaxes of {self.backend!r}"

    def test_round_trip(self) -> None:
        for decoder, case in self.cases():
            frame, decoded = self.decode(decoder, case)

            assert frame.shape == case.spec.shape, case.name
            assert frame.dtype == case.spec.dtype, case.name
            difference = np.abs(frame.astype(np.int64) - case.expected.astype(np.int64))
            assert int(difference.max()) <= case.tolerance, case.name
            predicted = decoded_photometric(case.spec, case.encoded)
            assert decoded.photometric_interpretation == predicted, case.name

    def test_a_read_only_buffer_is_not_kept(self) -> None:
        for decoder, case in self.cases():
            data = bytes(case.encoded)
            decoded = decoder.decode(memoryview(data), case.spec)
            frame, _ = finish_frame(decoded, case.spec, raw=False)

            frame[...] = 0  # the caller owns it: this must not write into `data`
            assert data == case.encoded, case.name

    def test_corrupt_input_is_a_decode_error(self) -> None:
        rng = np.random.default_rng(_RNG_SEED)
        for decoder, case in self.cases():
            cut = case.encoded[: max(1, len(case.encoded) // 3)]
            noise = rng.integers(0, 256, len(case.encoded), dtype=np.uint8).tobytes()
            for spoiled in (cut, noise, b""):
                try:
                    decoded = decoder.decode(memoryview(bytearray(spoiled)), case.spec)
                    frame, _ = finish_frame(decoded, case.spec, raw=False)
                except DecodeError:
                    continue
                # Some codecs decode what they can: then it is a frame of the right size.
                assert frame.shape == case.spec.shape, case.name

    def test_decoding_leaves_the_decoder_as_it_was(self) -> None:
        for decoder, case in self.cases():
            before = dict(vars(decoder))

            self.decode(decoder, case)

            after = vars(decoder)
            assert before.keys() == after.keys(), case.name
            assert all(after[k] is before[k] for k in before), case.name

    def test_threads_decoding_at_once_get_what_one_thread_gets(self) -> None:
        work = list(self.cases())
        alone = [self.decode(decoder, case)[0] for decoder, case in work]
        results: dict[tuple[int, int], np.ndarray] = {}
        errors: list[BaseException] = []

        def decode_all(thread: int) -> None:
            try:
                for k, (decoder, case) in enumerate(work):
                    results[thread, k] = self.decode(decoder, case)[0]
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=decode_all, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

        assert not errors, errors[0]
        for (_, k), frame in results.items():
            np.testing.assert_array_equal(frame, alone[k])
