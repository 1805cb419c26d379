"""Tests for the compressed-data backends of lazydcm.decoders, with pydicom 3 as the oracle.

The contract test decodes the same small frames with every backend registered
for their transfer syntax (the pairs come from :data:`lazydcm.decoders.BACKENDS`)
and compares each frame with ``pydicom.pixels.pixel_array(path, index=i, raw=raw,
decoding_plugin="pylibjpeg")``: exactly, except that

* after a YBR to RGB conversion values may differ by 1 (lazydcm's and pydicom's
  conversions round differently);
* lossy JPEG decoded by imagecodecs (libjpeg-turbo) may differ from pylibjpeg's
  libjpeg by up to :data:`LOSSY_JPEG_TOLERANCE` grey levels: the two libraries use
  different IDCTs and chroma upsampling (on the real test files the largest
  difference is 3 before and 5 after the RGB conversion).

Syntaxes pydicom 3.0 cannot decode (JPEG XL, Deflated Image Frame Compression,
Encapsulated Uncompressed) are compared with the array the frames were encoded
from.  The frames are encoded here, with imagecodecs, pyjpegls (through
pydicom's encoder), pylibjpeg-rle and zlib; cases whose encoder is missing skip.
"""

from __future__ import annotations

import functools
import re
import struct
import subprocess
import sys
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from helpers import REAL_FILES, assert_same_frame, file_id, real_file
from pydicom.pixels import pixel_array as pydicom_pixel_array
from pydicom.pixels.utils import _get_jpg_parameters, get_j2k_parameters

import lazydcm
from lazydcm.decoders import BACKENDS, Backend, select
from lazydcm.decoders.markers import j2k_info, jpeg_info
from lazydcm.errors import DecodeError, DecoderUnavailableError, LazyDcmWarning
from lazydcm.testing import synth
from lazydcm.testing.synth import ImagePixel
from lazydcm.uids import lookup

RNG = np.random.default_rng(20260611)

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
JPEG_XL_LOSSLESS = "1.2.840.10008.1.2.4.110"
JPEG_XL_RECOMPRESSION = "1.2.840.10008.1.2.4.111"
JPEG_XL = "1.2.840.10008.1.2.4.112"
RLE = "1.2.840.10008.1.2.5"
DEFLATE = "1.2.840.10008.1.2.8.1"
UNCOMPRESSED = "1.2.840.10008.1.2.1.98"

#: Syntaxes pydicom 3.0 does not decode: their frames are checked against the truth.
NOT_IN_PYDICOM = frozenset({JPEG_XL_LOSSLESS, JPEG_XL, DEFLATE, UNCOMPRESSED})
LOSSY_JPEG = frozenset({JPEG_BASELINE, JPEG_EXTENDED})
#: Largest difference allowed between libjpeg and libjpeg-turbo on lossy JPEG.
LOSSY_JPEG_TOLERANCE = 6
#: Largest difference allowed between a lossy JPEG XL frame and what was encoded.
LOSSY_JXL_TOLERANCE = 12


# -- the frames ----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """Encoded frames, the Image Pixel module that describes them, and what was encoded."""

    image: ImagePixel
    frames: list[bytes]
    truth: np.ndarray  # (frames, rows, columns[, samples]), in the returned dtype
    lossy: bool = False


def _image(truth: np.ndarray, **kwargs: Any) -> ImagePixel:
    rows, columns = truth.shape[1:3]
    samples = truth.shape[3] if truth.ndim == 4 else 1
    kwargs.setdefault("photometric_interpretation", "RGB" if samples == 3 else "MONOCHROME2")
    return ImagePixel(rows, columns, samples, number_of_frames=len(truth), **kwargs)


def _gradient(frames: int, rows: int, columns: int, top: int, samples: int = 1) -> np.ndarray:
    """Smooth frames (lossy codecs keep them close), different from each other."""
    y, x = np.mgrid[0:rows, 0:columns]
    out = []
    for f in range(frames):
        planes = [(x * (s + 1) + y * (f + 2) * 3) % (top + 1) for s in range(samples)]
        out.append(np.stack(planes, -1) if samples > 1 else planes[0])
    return np.array(out)


def _noise(shape: tuple[int, ...], low: int, high: int, dtype: str) -> np.ndarray:
    return RNG.integers(low, high, shape, endpoint=True).astype(dtype)


def _ic() -> Any:
    return pytest.importorskip("imagecodecs")


def _jpeg(arrays: np.ndarray, **options: Any) -> list[bytes]:
    ic = _ic()
    return [bytes(ic.jpeg8_encode(a, **options)) for a in arrays]


def _j2k(arrays: np.ndarray, **options: Any) -> list[bytes]:
    ic = _ic()
    return [bytes(ic.jpeg2k_encode(a, codecformat="J2K", **options)) for a in arrays]


def _htj2k(arrays: np.ndarray, **options: Any) -> list[bytes]:
    ic = _ic()
    return [bytes(ic.htj2k_encode(a, **options)) for a in arrays]


def _rle(arrays: np.ndarray, image: ImagePixel) -> list[bytes]:
    from rle.utils import encode_pixel_data

    out = []
    for a in arrays:
        data = np.packbits(a, bitorder="little").tobytes() if image.bits_allocated == 1 else a
        out.append(
            encode_pixel_data(
                bytes(data),
                rows=image.rows,
                columns=image.columns,
                samples_per_pixel=image.samples_per_pixel,
                bits_allocated=image.bits_allocated,
                byteorder="<",
            )
        )
    return out


def _native(arrays: np.ndarray, image: ImagePixel) -> list[bytes]:
    if image.bits_allocated == 1:
        return [np.packbits(a, bitorder="little").tobytes() for a in arrays]
    return [a.astype(a.dtype.newbyteorder("<")).tobytes() for a in arrays]


def _deflate(frames: list[bytes], wrapped: bool = False) -> list[bytes]:
    if wrapped:
        return [zlib.compress(f) for f in frames]
    out = []
    for f in frames:
        deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        out.append(deflater.compress(f) + deflater.flush())
    return out


def _jpeg_baseline_mono() -> Built:
    truth = _gradient(2, 16, 24, 255).astype(np.uint8)
    return Built(_image(truth, bits_allocated=8), _jpeg(truth, level=90), truth, lossy=True)


def _jpeg_baseline_ybr() -> Built:
    # libjpeg-turbo writes JFIF YCbCr with 4:2:0 chroma from an RGB array.
    truth = _gradient(2, 16, 24, 255, samples=3).astype(np.uint8)
    image = _image(truth, bits_allocated=8, photometric_interpretation="YBR_FULL_422")
    return Built(image, _jpeg(truth, level=95), truth, lossy=True)


def _jpeg_extended_12() -> Built:
    truth = _gradient(2, 16, 24, 4095).astype(np.uint16)
    image = _image(truth, bits_stored=12)
    return Built(image, _jpeg(truth, level=90, bitspersample=12), truth, lossy=True)


def _jpeg_lossless_16() -> Built:
    truth = _noise((2, 16, 24), 0, 65535, "u2")
    frames = _jpeg(truth, lossless=True, predictor=7, bitspersample=16)
    return Built(_image(truth), frames, truth)


def _jpeg_sv1_12() -> Built:
    truth = _noise((2, 16, 24), 0, 4095, "u2")
    frames = _jpeg(truth, lossless=True, predictor=1, bitspersample=12)
    return Built(_image(truth, bits_stored=12), frames, truth)


def _jpeg_sv1_rgb() -> Built:
    # An RGB lossless stream: component IDs 'R', 'G', 'B' and an Adobe APP14 segment.
    truth = _noise((2, 9, 11, 3), 0, 255, "u1")
    frames = _jpeg(truth, lossless=True, predictor=1)
    return Built(_image(truth, bits_allocated=8), frames, truth)


def _jpeg_ls_signed() -> Built:
    # JPEG-LS has no signed samples: the 12-bit codestream holds two's complement
    # samples as unsigned, and the pipeline sign-extends them (pydicom does too).
    pytest.importorskip("jpeg_ls")
    from pydicom.pixels.encoders import JPEGLSLosslessEncoder

    truth = _noise((2, 16, 24), -2048, 2047, "i2")
    image = _image(truth, bits_stored=12, pixel_representation=1)
    options = {
        "rows": 16,
        "columns": 24,
        "samples_per_pixel": 1,
        "bits_allocated": 16,
        "bits_stored": 12,
        "pixel_representation": 1,
        "photometric_interpretation": "MONOCHROME2",
        "number_of_frames": 1,
    }
    frames = [JPEGLSLosslessEncoder.encode(a, encoding_plugin="pyjpegls", **options) for a in truth]
    return Built(image, frames, truth)


def _jpeg_ls_near_rgb() -> Built:
    ic = _ic()
    truth = _gradient(2, 16, 24, 255, samples=3).astype(np.uint8)
    frames = [bytes(ic.jpegls_encode(a, level=2)) for a in truth]
    return Built(_image(truth, bits_allocated=8), frames, truth, lossy=True)


def _j2k_signed() -> Built:
    truth = _noise((2, 16, 24), -2048, 2047, "i2")
    frames = _j2k(truth, bitspersample=12, reversible=True)
    return Built(_image(truth, bits_stored=12, pixel_representation=1), frames, truth)


def _j2k_unsigned_in_signed() -> Built:
    # Pixel Representation 1 but an unsigned 13-bit codestream (as in pydicom's
    # J2K_pixelrep_mismatch.dcm): pydicom sign-corrects from the SIZ precision.
    truth = _noise((2, 16, 24), -4096, 4095, "i2")
    unsigned = (truth & 0x1FFF).astype(np.uint16)
    frames = _j2k(unsigned, bitspersample=13, reversible=True)
    return Built(_image(truth, bits_stored=13, pixel_representation=1), frames, truth)


def _j2k_8bit_in_16() -> Built:
    # A signed 8-bit codestream in a 16-bit file: read with a signed 8-bit
    # container, then widened, so negative samples stay negative.
    truth = _noise((2, 16, 24), -128, 127, "i2")
    frames = _j2k(truth.astype(np.int8), reversible=True)
    return Built(_image(truth, bits_stored=8, pixel_representation=1), frames, truth)


def _j2k_rct() -> Built:
    truth = _noise((2, 16, 24, 3), 0, 255, "u1")
    frames = _j2k(truth, reversible=True, mct=True)
    image = _image(truth, bits_allocated=8, photometric_interpretation="YBR_RCT")
    return Built(image, frames, truth)


def _j2k_lossy() -> Built:
    truth = _gradient(2, 32, 40, 4095).astype(np.uint16)
    frames = _j2k(truth, bitspersample=12, level=60)
    return Built(_image(truth, bits_stored=12), frames, truth, lossy=True)


def _htj2k_signed() -> Built:
    truth = _noise((2, 16, 24), -32768, 32767, "i2")
    frames = _htj2k(truth, reversible=True)
    return Built(_image(truth, pixel_representation=1), frames, truth)


def _htj2k_rgb() -> Built:
    # Labelled HTJ2K with RPCL: the decoders do not depend on the progression order.
    truth = _noise((2, 16, 24, 3), 0, 255, "u1")
    frames = _htj2k(truth, reversible=True)
    return Built(_image(truth, bits_allocated=8), frames, truth)


def _htj2k_lossy() -> Built:
    truth = _gradient(2, 32, 40, 255).astype(np.uint8)
    frames = _htj2k(truth, reversible=False)
    return Built(_image(truth, bits_allocated=8), frames, truth, lossy=True)


def _rle_signed() -> Built:
    truth = _noise((3, 7, 9), -2048, 2047, "i2")
    image = _image(truth, bits_stored=12, pixel_representation=1)
    return Built(image, _rle(truth, image), truth)


def _rle_ybr() -> Built:
    truth = _noise((2, 7, 9, 3), 0, 255, "u1")
    image = _image(truth, bits_allocated=8, photometric_interpretation="YBR_FULL")
    return Built(image, _rle(truth, image), truth)


def _rle_rgb_32() -> Built:
    truth = _noise((2, 5, 6, 3), 0, 2**32 - 1, "u4")
    image = _image(truth, bits_allocated=32)
    return Built(image, _rle(truth, image), truth)


def _rle_1bit() -> Built:
    truth = _noise((2, 5, 7), 0, 1, "u1")
    image = _image(truth, bits_allocated=1)
    return Built(image, _rle(truth, image), truth)


def _jxl_lossless_12() -> Built:
    ic = _ic()
    truth = _noise((2, 16, 24), 0, 4095, "u2")
    frames = [bytes(ic.jpegxl_encode(a, lossless=True, bitspersample=12)) for a in truth]
    return Built(_image(truth, bits_stored=12), frames, truth)


def _jxl_lossless_rgb() -> Built:
    ic = _ic()
    truth = _noise((2, 16, 24, 3), 0, 255, "u1")
    frames = [bytes(ic.jpegxl_encode(a, lossless=True)) for a in truth]
    return Built(_image(truth, bits_allocated=8), frames, truth)


def _jxl_lossy() -> Built:
    ic = _ic()
    truth = _gradient(2, 32, 40, 255).astype(np.uint8)
    frames = [bytes(ic.jpegxl_encode(a, distance=0.5)) for a in truth]
    return Built(_image(truth, bits_allocated=8), frames, truth, lossy=True)


def _deflate_signed() -> Built:
    truth = _noise((2, 5, 7), -32768, 32767, "i2")
    image = _image(truth, pixel_representation=1)
    return Built(image, _deflate(_native(truth, image)), truth)


def _deflate_1bit_odd() -> Built:
    # 35 bits a frame: five bytes, the last one part-used.
    truth = _noise((3, 5, 7), 0, 1, "u1")
    image = _image(truth, bits_allocated=1)
    return Built(image, _deflate(_native(truth, image)), truth)


def _deflate_zlib_rgb() -> Built:
    # A zlib-wrapped stream (RFC 1950) of an odd-length frame: accepted too.
    truth = _noise((2, 3, 5, 3), 0, 255, "u1")
    image = _image(truth, bits_allocated=8)
    return Built(image, _deflate(_native(truth, image), wrapped=True), truth)


def _uncompressed_odd() -> Built:
    # 15 bytes a frame: each fragment carries one pad byte.
    truth = _noise((3, 3, 5), 0, 255, "u1")
    image = _image(truth, bits_allocated=8)
    return Built(image, _native(truth, image), truth)


def _uncompressed_1bit() -> Built:
    truth = _noise((3, 3, 5), 0, 1, "u1")
    image = _image(truth, bits_allocated=1)
    return Built(image, _native(truth, image), truth)


def _uncompressed_signed_rgb() -> Built:
    truth = _noise((2, 3, 4, 3), -32768, 32767, "i2")
    image = _image(truth, pixel_representation=1)
    return Built(image, _native(truth, image), truth)


#: case id -> (transfer syntax, builder)
CASES: dict[str, tuple[str, Callable[[], Built]]] = {
    "jpeg-baseline-mono": (JPEG_BASELINE, _jpeg_baseline_mono),
    "jpeg-baseline-ybr422": (JPEG_BASELINE, _jpeg_baseline_ybr),
    "jpeg-extended-12bit": (JPEG_EXTENDED, _jpeg_extended_12),
    "jpeg-lossless-16bit": (JPEG_LOSSLESS, _jpeg_lossless_16),
    "jpeg-sv1-12bit": (JPEG_SV1, _jpeg_sv1_12),
    "jpeg-sv1-rgb": (JPEG_SV1, _jpeg_sv1_rgb),
    "jpeg-ls-signed-12bit": (JPEG_LS, _jpeg_ls_signed),
    "jpeg-ls-near-rgb": (JPEG_LS_NEAR, _jpeg_ls_near_rgb),
    "j2k-signed-12bit": (J2K_LOSSLESS, _j2k_signed),
    "j2k-unsigned-in-signed": (J2K_LOSSLESS, _j2k_unsigned_in_signed),
    "j2k-8bit-in-16bit": (J2K_LOSSLESS, _j2k_8bit_in_16),
    "j2k-ybr-rct": (J2K_LOSSLESS, _j2k_rct),
    "j2k-lossy": (J2K, _j2k_lossy),
    "htj2k-signed": (HTJ2K_LOSSLESS, _htj2k_signed),
    "htj2k-rpcl-rgb": (HTJ2K_RPCL, _htj2k_rgb),
    "htj2k-lossy": (HTJ2K, _htj2k_lossy),
    "rle-signed-12bit": (RLE, _rle_signed),
    "rle-ybr-full": (RLE, _rle_ybr),
    "rle-rgb-32bit": (RLE, _rle_rgb_32),
    "rle-1bit": (RLE, _rle_1bit),
    "jxl-lossless-12bit": (JPEG_XL_LOSSLESS, _jxl_lossless_12),
    "jxl-lossless-rgb": (JPEG_XL_LOSSLESS, _jxl_lossless_rgb),
    "jxl-lossy": (JPEG_XL, _jxl_lossy),
    "deflate-signed": (DEFLATE, _deflate_signed),
    "deflate-1bit-odd": (DEFLATE, _deflate_1bit_odd),
    "deflate-zlib-rgb": (DEFLATE, _deflate_zlib_rgb),
    "uncompressed-odd": (UNCOMPRESSED, _uncompressed_odd),
    "uncompressed-1bit": (UNCOMPRESSED, _uncompressed_1bit),
    "uncompressed-signed-rgb": (UNCOMPRESSED, _uncompressed_signed_rgb),
}

#: Encapsulated syntaxes no case covers, and why.
UNCOVERED = {
    JPEG_XL_RECOMPRESSION: "no encoder here turns a JPEG into a JPEG XL recompression stream",
}


@functools.cache
def _built(case: str) -> Built:
    return CASES[case][1]()


def _backends(syntax: str) -> list[str]:
    return list(dict.fromkeys(b.name for b in BACKENDS if syntax in b.syntaxes))


PAIRS = [(backend, case) for case, (ts, _) in CASES.items() for backend in _backends(ts)]


def _needs(backend: str) -> None:
    if backend == "imagecodecs":
        _ic()


def _write(tmp_path: Path, built: Built, syntax: str, name: str = "frames.dcm") -> Path:
    path = tmp_path / name
    synth.write_encapsulated(path, built.frames, built.image, transfer_syntax_uid=syntax)
    return path


def _pydicom(path: Path, index: int, raw: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own warnings about odd files
        return pydicom_pixel_array(path, index=index, raw=raw, decoding_plugin="pylibjpeg")


def _expected(path: Path, syntax: str, built: Built, index: int, raw: bool) -> np.ndarray:
    if syntax in NOT_IN_PYDICOM:
        return built.truth[index]
    return _pydicom(path, index, raw)


def _tolerance(backend: str, syntax: str, built: Built, converted: bool) -> int:
    if syntax in NOT_IN_PYDICOM and built.lossy:
        return LOSSY_JXL_TOLERANCE
    if backend == "imagecodecs" and syntax in LOSSY_JPEG:
        return LOSSY_JPEG_TOLERANCE
    return 1 if converted else 0


# -- the contract test ---------------------------------------------------------------


def test_every_encapsulated_syntax_has_a_case() -> None:
    registered = {uid for b in BACKENDS for uid in b.syntaxes if lookup(uid).encapsulated}
    covered = {ts for ts, _ in CASES.values()}
    assert registered - covered == set(UNCOVERED)


@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
@pytest.mark.parametrize(("backend", "case"), PAIRS, ids=[f"{b}-{c}" for b, c in PAIRS])
def test_backend_matches_pydicom(tmp_path: Path, backend: str, case: str, raw: bool) -> None:
    # Arrange
    _needs(backend)
    syntax = CASES[case][0]
    built = _built(case)
    path = _write(tmp_path, built, syntax)

    # Act
    with lazydcm.FrameSequence(path, decoder=backend, raw=raw, cache_bytes=0) as frames:
        got = [frames[i] for i in range(len(frames))]
        converted = frames.photometric_interpretation != frames.info.photometric_interpretation
        name, shape, dtype = frames.decoder, frames.frame_shape, frames.dtype

    # Assert
    assert name == backend
    assert len(got) == len(built.frames)
    tolerance = _tolerance(backend, syntax, built, converted and not raw)
    for i, frame in enumerate(got):
        assert (frame.shape, frame.dtype) == (shape, dtype)
        assert frame.flags.writeable  # the caller's own array
        assert_same_frame(frame, _expected(path, syntax, built, i, raw), tolerance)


@pytest.mark.parametrize("case", list(CASES))
def test_lossless_cases_give_back_what_was_encoded(case: str, tmp_path: Path) -> None:
    # The frames themselves are checked: a lossless case decodes to what was encoded.
    syntax = CASES[case][0]
    built = _built(case)
    if built.lossy:
        pytest.skip("lossy: compared with pydicom and between decoders only")
    path = _write(tmp_path, built, syntax)

    with lazydcm.FrameSequence(path, raw=True) as frames:
        for i in range(len(frames)):
            np.testing.assert_array_equal(frames[i], built.truth[i])


# -- real files, decoded by the optional backend --------------------------------------


def _encapsulated_real_files() -> list[Path]:
    found = []
    for path in REAL_FILES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LazyDcmWarning)
                frames = lazydcm.FrameSequence(path)
        except lazydcm.LazyDcmError:
            continue
        with frames:
            ts = lookup(frames.info.transfer_syntax_uid)
        if ts.encapsulated and "imagecodecs" in _backends(ts.uid):
            found.append(path)
    return found


REAL_ENCAPSULATED = _encapsulated_real_files()
#: Real files pydicom's pixel_array(path) cannot decode that lazydcm decodes; each
#: has a test below that says what it is compared with instead.
DECODED_WHERE_PYDICOM_FAILS = {"JPEG-lossy.dcm", "SC_rgb_jpeg.dcm"}


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
@pytest.mark.parametrize(
    "path",
    [p for p in REAL_ENCAPSULATED if file_id(p) not in DECODED_WHERE_PYDICOM_FAILS],
    ids=file_id,
)
def test_imagecodecs_matches_pydicom_on_real_files(path: Path, raw: bool) -> None:
    # Arrange: the first and last frames of every real compressed file.
    _ic()
    with lazydcm.FrameSequence(path, decoder="imagecodecs", raw=raw, cache_bytes=0) as frames:
        syntax = frames.info.transfer_syntax_uid
        converted = frames.photometric_interpretation != frames.info.photometric_interpretation
        for i in sorted({0, len(frames) - 1}):
            try:
                expected = _pydicom(path, i, raw)
            except Exception:
                # pydicom cannot decode it: neither may imagecodecs return a guess.
                with pytest.raises(lazydcm.LazyDcmError):
                    frames[i]
                continue
            # Act
            got = frames[i]
            # Assert
            tolerance = LOSSY_JPEG_TOLERANCE if syntax in LOSSY_JPEG else int(converted and not raw)
            assert_same_frame(got, expected, tolerance)
            assert got.flags.writeable


def test_real_files_are_found() -> None:
    names = {file_id(p) for p in REAL_ENCAPSULATED}
    assert {"MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm", "JPEG-LL.dcm"} <= names


def test_imagecodecs_reads_jpeg_lossy_as_its_fixed_copy() -> None:
    # JPEG-lossy.dcm's SOS segment gives a spectral selection other than 0..63,
    # which libjpeg (and so pydicom) rejects for a sequential JPEG; libjpeg-turbo
    # ignores it.  pydicom's JPGExtended.dcm is the same image with the SOS fixed.
    _ic()
    broken, fixed = real_file("JPEG-lossy.dcm"), real_file("JPGExtended.dcm")
    with pytest.raises(DecodeError, match="libjpeg"):
        lazydcm.pixel_array(broken, decoder="pylibjpeg")

    got = lazydcm.pixel_array(broken, decoder="imagecodecs")

    assert_same_frame(got, _pydicom(fixed, 0, False), LOSSY_JPEG_TOLERANCE)
    np.testing.assert_array_equal(got, lazydcm.pixel_array(fixed, decoder="imagecodecs"))


@pytest.mark.parametrize("backend", ["pylibjpeg", "imagecodecs"])
@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
def test_implicit_vr_jpeg_file_matches_pydicom_dataset_route(backend: str, raw: bool) -> None:
    # SC_rgb_jpeg.dcm says JPEG Baseline (explicit VR) but its dataset is implicit
    # VR: pydicom's pixel_array(path) then misreads the Basic Offset Table, while
    # dcmread() falls back to implicit VR and decodes it; lazydcm's header walk
    # does the same.  Its Adobe APP14 segment (transform 0) means RGB, no transform.
    _needs(backend)
    path = real_file("SC_rgb_jpeg.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        expected = pydicom_pixel_array(ds, raw=raw, decoding_plugin="pylibjpeg")

    got = lazydcm.pixel_array(path, raw=raw, decoder=backend)

    tolerance = LOSSY_JPEG_TOLERANCE if backend == "imagecodecs" else 0
    assert_same_frame(got, expected, tolerance)


# -- hostile input ---------------------------------------------------------------------

_RLE_HEADER = struct.Struct("<16I")


def _rle_frame() -> tuple[ImagePixel, bytes, bytes]:
    """An RGB 8-bit RLE image of two frames: the frame to spoil, and a good one."""
    pytest.importorskip("rle")
    truth = _noise((2, 4, 5, 3), 0, 255, "u1")
    image = _image(truth, bits_allocated=8)
    first, second = _rle(truth, image)
    return image, first, second


def _header(frame: bytes, count: int, offsets: list[int]) -> bytes:
    return _RLE_HEADER.pack(count, *offsets, *[0] * (15 - len(offsets))) + frame[64:]


def _spoil(kind: str, frame: bytes) -> bytes:
    count, *offsets = _RLE_HEADER.unpack_from(frame)
    used = offsets[:count]
    a, b, c = used
    return {
        "no-segments": lambda: _header(frame, 0, []),
        "sixteen-segments": lambda: _header(frame, 16, [*used, *[c + 1] * 12]),
        "wrong-segment-count": lambda: _header(frame, 2, [a, b]),
        "first-offset-not-64": lambda: _header(frame, 3, [60, b, c]),
        "offsets-out-of-order": lambda: _header(frame, 3, [a, c, b]),
        "repeated-offset": lambda: _header(frame, 3, [a, b, b]),
        "offset-beyond-frame": lambda: _header(frame, 3, [a, b, len(frame) + 100]),
        "shorter-than-header": lambda: frame[:40],
        "truncated-segment": lambda: frame[: c + 2],
        "garbage-segments": lambda: frame[:c] + b"\x80" * 20,
    }[kind]()


_RLE_PROBLEMS = {
    "no-segments": "declares 0 segments",
    "sixteen-segments": "declares 16 segments",
    "wrong-segment-count": "declares 2 segments.*needs 3",
    "first-offset-not-64": "first RLE segment starts at byte 60",
    "offsets-out-of-order": "segment 3 starts at byte .* not after segment 2",
    "repeated-offset": "segment 3 starts at byte .* not after segment 2",
    "offset-beyond-frame": "segment 3 starts at byte .* beyond the end",
    "shorter-than-header": "shorter than the 64-byte RLE header",
    "truncated-segment": "failed|produced",
    "garbage-segments": "failed|produced",
}


@pytest.mark.parametrize("backend", _backends(RLE))
@pytest.mark.parametrize("kind", list(_RLE_PROBLEMS))
def test_hostile_rle_frame_gives_decode_error(tmp_path: Path, kind: str, backend: str) -> None:
    # Arrange: frame 0 spoiled, frame 1 intact.
    _needs(backend)
    image, first, second = _rle_frame()
    path = tmp_path / "hostile.dcm"
    synth.write_encapsulated(path, [_spoil(kind, first), second], image, transfer_syntax_uid=RLE)

    with lazydcm.FrameSequence(path, decoder=backend) as frames:
        # Act / Assert: a clear error naming the syntax and the problem ...
        with pytest.raises(DecodeError, match="RLE Lossless") as error:
            frames[0]
        assert error.match(_RLE_PROBLEMS[kind])
        # ... and the other frames stay readable.
        assert frames[1].shape == (4, 5, 3)


class _Panic(BaseException):
    """Stands for pyo3_runtime.PanicException, which derives from BaseException."""


def test_codec_panic_becomes_decode_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image, first, second = _rle_frame()
    path = tmp_path / "rle.dcm"
    synth.write_encapsulated(path, [first, second], image, transfer_syntax_uid=RLE)

    def panic(*args: object) -> bytes:
        raise _Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr("rle.rle.decode_frame", panic)

    with pytest.raises(DecodeError, match="pylibjpeg-rle failed: called `Option::unwrap"):
        lazydcm.pixel_array(path, index=0, decoder="pylibjpeg")


def test_real_rle_panic_becomes_decode_error(tmp_path: Path) -> None:
    # pylibjpeg-rle 2.2 panics ("index out of bounds") when a replicate run starts
    # a segment that then overflows its output; the header itself is valid.
    pytest.importorskip("rle")
    with lazydcm.FrameSequence(real_file("MR_small_RLE.dcm")) as real:
        frame = bytearray(real.encoded_frame(0))
    frame[64] = 0x81
    image = ImagePixel(64, 64, bits_allocated=16, pixel_representation=1)
    path = tmp_path / "panic.dcm"
    synth.write_encapsulated(path, [bytes(frame)], image, transfer_syntax_uid=RLE)

    with pytest.raises(DecodeError, match="pylibjpeg-rle failed: index out of bounds") as error:
        lazydcm.pixel_array(path, index=0, decoder="pylibjpeg")
    assert not isinstance(error.value.__cause__, Exception)  # a BaseException: a panic


def test_interrupt_in_codec_is_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, first, second = _rle_frame()
    path = tmp_path / "rle.dcm"
    synth.write_encapsulated(path, [first, second], image, transfer_syntax_uid=RLE)

    def interrupt(*args: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr("rle.rle.decode_frame", interrupt)

    with pytest.raises(KeyboardInterrupt):
        lazydcm.pixel_array(path, index=0, decoder="pylibjpeg")


def _wrong_size_frames(syntax: str) -> list[bytes]:
    """Frames of 16 x 16 pixels, for a file that says 16 x 24."""
    truth = _noise((1, 16, 16), 0, 255, "u1")
    if syntax == JPEG_BASELINE:
        return _jpeg(truth, level=90)
    if syntax == JPEG_LS:
        return [bytes(_ic().jpegls_encode(truth[0]))]
    if syntax == J2K_LOSSLESS:
        return _j2k(truth, reversible=True)
    if syntax == RLE:
        return _rle(truth, _image(truth, bits_allocated=8))
    if syntax == JPEG_XL_LOSSLESS:
        return [bytes(_ic().jpegxl_encode(truth[0], lossless=True))]
    if syntax == DEFLATE:
        return _deflate([truth.tobytes()])
    return [truth.tobytes()]


@pytest.mark.parametrize(
    ("backend", "syntax"),
    [
        (b, ts)
        for ts in (
            JPEG_BASELINE,
            JPEG_LS,
            J2K_LOSSLESS,
            RLE,
            JPEG_XL_LOSSLESS,
            DEFLATE,
            UNCOMPRESSED,
        )
        for b in _backends(ts)
    ],
)
def test_frame_of_the_wrong_size_gives_decode_error(
    tmp_path: Path, backend: str, syntax: str
) -> None:
    # Arrange: the codestream holds 16 x 16 pixels, the header says 16 x 24.
    _needs(backend)
    frames = _wrong_size_frames(syntax)
    image = ImagePixel(16, 24, bits_allocated=8)
    path = tmp_path / "wrong-size.dcm"
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=syntax)

    # Act / Assert
    with pytest.raises(DecodeError, match=re.escape(lookup(syntax).name)):
        lazydcm.pixel_array(path, index=0, decoder=backend)


@pytest.mark.parametrize("backend", _backends(JPEG_SV1))
def test_jpeg_narrower_than_bits_allocated_is_decoded(tmp_path: Path, backend: str) -> None:
    # An 8-bit codestream in a file of Bits Allocated 16: pydicom reads libjpeg's
    # 1-byte samples as 2-byte ones and fails; lazydcm reads them as 1-byte samples.
    _needs(backend)
    truth = _noise((1, 16, 24), 0, 255, "u1")
    image = ImagePixel(16, 24, bits_allocated=16, bits_stored=8)
    path = tmp_path / "narrow.dcm"
    frames = _jpeg(truth, lossless=True, predictor=1)
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=JPEG_SV1)
    with pytest.raises(ValueError, match="broadcast"):
        _pydicom(path, 0, False)

    got = lazydcm.pixel_array(path, index=0, decoder=backend)

    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, truth[0])


@pytest.mark.parametrize("backend", _backends(JPEG_SV1))
def test_jpeg_wider_than_bits_allocated_gives_decode_error(tmp_path: Path, backend: str) -> None:
    # A 12-bit codestream in an 8-bit file would not fit: an error, as in pydicom,
    # found from the SOF segment before the codec runs.
    _needs(backend)
    truth = _noise((1, 16, 24), 0, 4095, "u2")
    image = ImagePixel(16, 24, bits_allocated=8)
    path = tmp_path / "wide.dcm"
    frames = _jpeg(truth, lossless=True, predictor=1, bitspersample=12)
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=JPEG_SV1)

    with pytest.raises(
        DecodeError, match=r"precision of 12 bits, but \(0028,0100\) 'Bits Allocated' is 8"
    ):
        lazydcm.pixel_array(path, index=0, decoder=backend)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("garbage", "zlib failed to inflate"),
        ("truncated", "ends before its last block"),
        ("too-long", "inflated frame holds 385 bytes"),
        ("too-short", "inflated frame holds 100 bytes"),
    ],
)
def test_hostile_deflate_frame_gives_decode_error(tmp_path: Path, kind: str, problem: str) -> None:
    # Arrange: a 16 x 24 8-bit frame is 384 bytes; inflation stops at one byte
    # past it (plus its pad byte), so a stream of a gigabyte of zeros would too.
    whole = _deflate([bytes(384)])[0]
    frame = {
        "garbage": b"\xff" * 50,
        "truncated": whole[: len(whole) // 2],
        "too-long": _deflate([bytes(100_000)])[0],
        "too-short": _deflate([bytes(100)])[0],
    }[kind]
    path = tmp_path / "deflate.dcm"
    image = ImagePixel(16, 24, bits_allocated=8)
    synth.write_encapsulated(path, [frame], image, transfer_syntax_uid=DEFLATE)

    # Act / Assert
    with pytest.raises(DecodeError, match="Deflated Image Frame Compression") as error:
        lazydcm.pixel_array(path, index=0)
    assert error.match(problem)


# -- the registry and its messages ----------------------------------------------------


def _unavailable(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = Backend.available
    monkeypatch.setattr(Backend, "available", lambda self: self.name not in names and real(self))


def test_first_available_backend_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    _ic()
    assert select(lookup(J2K)).name == "pylibjpeg"
    _unavailable(monkeypatch, "pylibjpeg")
    assert select(lookup(J2K)).name == "imagecodecs"


def test_no_installed_backend_names_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    _unavailable(monkeypatch, "pylibjpeg", "imagecodecs")

    with pytest.raises(DecoderUnavailableError) as error:
        select(lookup(JPEG_LS))

    message = str(error.value)
    assert "'JPEG-LS Lossless Image Compression' pixel data: no decoder is installed" in message
    assert (
        "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1 (pip install lazydcm)"
        in message
    )
    assert (
        "imagecodecs - requires imagecodecs>=2024.1.1 (pip install lazydcm[imagecodecs])" in message
    )


@pytest.mark.parametrize(
    ("syntax", "packages"),
    [
        (JPEG_BASELINE, "pylibjpeg-libjpeg"),
        (J2K_LOSSLESS, "pylibjpeg-openjpeg"),
        (HTJ2K, "pylibjpeg-openjpeg"),
        (RLE, "pylibjpeg-rle"),
        (JPEG_XL, "imagecodecs>=2024.1.1"),
    ],
)
def test_a_file_without_its_backend_opens_and_decoding_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syntax: str, packages: str
) -> None:
    _unavailable(monkeypatch, "pylibjpeg", "imagecodecs")
    path = tmp_path / "any.dcm"
    synth.write_encapsulated(
        path, [b"\xff\xd8\xff\xd9"], ImagePixel(2, 2), transfer_syntax_uid=syntax
    )

    with lazydcm.FrameSequence(path) as frames:
        # Everything but the pixels is there: the header, the table, the stored bytes.
        assert frames.info.transfer_syntax_uid == syntax
        assert bytes(frames.encoded_frame(0)) == b"\xff\xd8\xff\xd9"
        assert frames.decoder == ""
        with pytest.raises(DecoderUnavailableError, match=re.escape(lookup(syntax).name)) as error:
            frames[0]
    assert packages in str(error.value)
    assert "pip install lazydcm" in str(error.value)


def test_named_backend_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    _unavailable(monkeypatch, "imagecodecs")

    with pytest.raises(DecoderUnavailableError) as error:
        select(lookup(RLE), "imagecodecs")

    message = str(error.value)
    assert "with 'imagecodecs': it is not installed" in message
    assert "requires imagecodecs>=2024.1.1 (pip install lazydcm[imagecodecs])" in message
    assert "installed backends for it: pylibjpeg" in message


def test_named_backend_that_does_not_decode_the_syntax() -> None:
    with pytest.raises(
        DecoderUnavailableError, match="the backends that do are imagecodecs, pylibjpeg"
    ):
        select(lookup(RLE), "zlib")


def test_backend_modules_import_no_codec() -> None:
    # import lazydcm and every backend module: the codecs load only when a decoder
    # is created for a file (DESIGN.md, "No import-time cost").
    code = (
        "import sys, lazydcm, lazydcm.decoders.libjpeg, lazydcm.decoders.openjpeg, "
        "lazydcm.decoders.rle, lazydcm.decoders.deflate, lazydcm.decoders.uncompressed, "
        "lazydcm.decoders.imagecodecs; "
        "codecs = {'libjpeg', 'openjpeg', 'rle', 'imagecodecs', 'pylibjpeg'}; "
        "print(sorted(codecs & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- colour spaces the codestream overrides -------------------------------------------


@pytest.mark.parametrize("backend", _backends(JPEG_BASELINE))
@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
@pytest.mark.parametrize(
    ("header", "stream", "decoded"),
    [
        # A JFIF (YCbCr) stream in a file that says RGB is YBR_FULL_422 (baseline).
        ("RGB", {}, "YBR_FULL_422"),
        # Component IDs 'R', 'G', 'B' in a file that says YBR_FULL_422 are RGB.
        ("YBR_FULL_422", {"colorspace": "RGB", "outcolorspace": "RGB"}, "RGB"),
    ],
    ids=["jfif-says-ybr", "component-ids-say-rgb"],
)
def test_codestream_colour_space_overrides_the_header(
    tmp_path: Path, backend: str, raw: bool, header: str, stream: dict[str, str], decoded: str
) -> None:
    # Arrange
    _needs(backend)
    truth = _gradient(1, 16, 24, 255, samples=3).astype(np.uint8)
    image = _image(truth, bits_allocated=8, photometric_interpretation=header)
    path = tmp_path / "colour.dcm"
    frames = _jpeg(truth, level=95, **stream)
    synth.write_encapsulated(path, frames, image, transfer_syntax_uid=JPEG_BASELINE)
    expected = _pydicom(path, 0, raw)

    # Act
    with pytest.warns(LazyDcmWarning, match=f"decoding as '{decoded}'"):
        got = lazydcm.pixel_array(path, index=0, raw=raw, decoder=backend)

    # Assert: as pydicom decodes it; close to what was encoded once in RGB.
    converted = decoded.startswith("YBR") and not raw
    tolerance = LOSSY_JPEG_TOLERANCE if backend == "imagecodecs" else int(converted)
    assert_same_frame(got, expected, tolerance)
    if not raw:
        assert np.abs(got.astype(int) - truth[0]).max() <= 12


# -- codestream headers, against pydicom's parsers ------------------------------------


def _jpeg_ls_stream() -> bytes:
    return bytes(_ic().jpegls_encode(_noise((16, 24, 3), 0, 255, "u1"), level=2))


def _j2k_stream(codecformat: str) -> bytes:
    data = _noise((16, 24), -2048, 2047, "i2")
    return bytes(_ic().jpeg2k_encode(data, codecformat=codecformat, bitspersample=12))


@pytest.mark.parametrize("source", ["jpeg-ls", "jpeg-jfif"])
def test_jpeg_header_parser_agrees_with_pydicom_on_every_prefix(source: str) -> None:
    # Every truncation of a header either parses as in pydicom or, where pydicom
    # gives up (an empty dict), gives None.
    if source == "jpeg-ls":
        stream = _jpeg_ls_stream()
    else:
        stream = _jpeg(_noise((1, 16, 24, 3), 0, 255, "u1"), level=90)[0]
    for n in range(300):
        prefix = stream[:n]
        ours, theirs = jpeg_info(prefix), _get_jpg_parameters(prefix)
        if not theirs:
            assert ours is None, n
            continue
        assert ours is not None, n
        assert ours.precision == theirs["precision"]
        assert (ours.rows, ours.columns) == (theirs["height"], theirs["width"])
        assert list(ours.component_ids) == theirs["component_ids"]
        app = {k.to_bytes(2, "big"): v for k, v in ours.app.items()}
        assert app == theirs.get("app", {})
        assert ours.near == theirs.get("lossy_error")
        assert ours.interleave == theirs.get("interleave_mode")


def test_j2k_header_parser_agrees_with_pydicom_on_every_prefix() -> None:
    stream = _j2k_stream("J2K")
    for n in range(len(stream) // 2):
        prefix = stream[:n]
        ours, theirs = j2k_info(prefix), get_j2k_parameters(prefix)
        if "precision" not in theirs:
            assert ours is None, n
            continue
        assert ours is not None, n
        assert (ours.precision, ours.signed) == (theirs["precision"], theirs["is_signed"])


def test_j2k_header_parser_reads_through_a_jp2_wrapper() -> None:
    # A JP2 file (not conformant, PS3.5 A.4.4) is walked box by box to its codestream.
    # pydicom is asked about the whole stream only: it loops forever on some prefixes.
    stream = _j2k_stream("JP2")
    theirs = get_j2k_parameters(stream)

    ours = j2k_info(stream)

    assert ours is not None
    assert (ours.precision, ours.signed, ours.jp2) == (12, True, True)
    assert (ours.precision, ours.signed) == (theirs["precision"], theirs["is_signed"])
    assert all(j2k_info(stream[:n]) is None for n in range(60))


def test_j2k_header_parser_does_not_hang_on_an_empty_box() -> None:
    # A JP2 box of length 0 before the codestream box would loop pydicom forever.
    stream = _j2k_stream("JP2")
    spoiled = stream[:12] + b"\x00\x00\x00\x00ftyp" + stream[20:]

    assert j2k_info(spoiled) is None


# -- threads ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["pylibjpeg", "imagecodecs"])
def test_one_decoder_serves_many_threads(backend: str) -> None:
    # Arrange: one sequence, no cache, eight threads decoding every frame at once.
    _needs(backend)
    path = real_file("emri_small_jpeg_2k_lossless.dcm")
    with lazydcm.FrameSequence(path, decoder=backend, cache_bytes=0) as frames:
        expected = [frames[i] for i in range(len(frames))]
        results: dict[tuple[int, int], np.ndarray] = {}
        barrier = threading.Barrier(8)

        def work(worker: int) -> None:
            barrier.wait()
            for i in range(len(frames)):
                results[worker, i] = frames[i]

        # Act
        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Assert
    assert len(results) == 8 * len(expected)
    for (_, i), frame in results.items():
        np.testing.assert_array_equal(frame, expected[i])


def test_jpeg_xl_recompression_is_returned_as_rgb() -> None:
    # libjxl rebuilds a recompressed JPEG's pixels in RGB (it applies the JPEG's
    # YCbCr transform), so a YBR_FULL_422 header is not converted a second time.
    _ic()
    from lazydcm.decoders import FrameSpec
    from lazydcm.decoders.imagecodecs import ImagecodecsDecoder

    rgb = _noise((4, 6, 3), 0, 255, "u1")

    class Libjxl:
        @staticmethod
        def jpegxl_decode(data: object) -> np.ndarray:
            return rgb

    decoder = ImagecodecsDecoder()
    decoder._codecs = Libjxl()
    spec = FrameSpec(
        rows=4,
        columns=6,
        samples_per_pixel=3,
        bits_allocated=8,
        bits_stored=8,
        pixel_representation=0,
        photometric_interpretation="YBR_FULL_422",
        planar_configuration=0,
        transfer_syntax=lookup(JPEG_XL_RECOMPRESSION),
        pixel_keyword="PixelData",
        words_swapped=False,
        dtype=np.dtype(np.uint8),
        stored_dtype=np.dtype(np.uint8),
    )

    decoded = decoder.decode(memoryview(b"\xff\x0a"), spec)

    assert decoded.photometric_interpretation == "RGB"
    np.testing.assert_array_equal(decoded.array.reshape(4, 6, 3), rgb)
