"""Every frame of every real test file against pydicom 3, the oracle.

The files are pydicom's bundled test data and the pydicom-data package: none
written here.  For each file and each frame, default and ``raw=True``, lazydcm's
frame must equal ``pydicom.pixels.pixel_array(path, index=i, raw=raw)`` (with
``decoding_plugin="pylibjpeg"`` for compressed data): same shape, same dtype (in
native byte order: pydicom keeps big-endian dtypes), same values — within 1 only
after a YBR to RGB conversion.

Where pydicom cannot decode a file, lazydcm must raise a LazyDcmError too, or the
file is listed in :data:`DECODED_WHERE_PYDICOM_FAILS` and checked by a test of its
own that says why lazydcm's answer is right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers import REAL_FILES, assert_same_frame, file_id, real_file
from pydicom.pixels import pixel_array as pydicom_pixel_array
from pydicom.uid import ImplicitVRLittleEndian

import lazydcm

#: Files pydicom's pixel_array cannot decode but lazydcm can; each has a test below.
DECODED_WHERE_PYDICOM_FAILS = {
    "image_dfl.dcm": "pixel_array(path) does not inflate Deflated Explicit VR Little Endian",
    "OT-PAL-8-face.dcm": "pixel_array(path) needs a Transfer Syntax UID the file lacks",
    "SC_rgb_jpeg.dcm": "pixel_array(path) reads the Implicit VR pixel element as explicit",
}

_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


def _pydicom(path: Path, index: int, raw: bool, transfer_syntax: str) -> np.ndarray:
    plugin = {} if transfer_syntax in _NATIVE else {"decoding_plugin": "pylibjpeg"}
    return pydicom_pixel_array(path, index=index, raw=raw, **plugin)


def _pydicom_fails(path: Path, index: int, raw: bool) -> bool:
    try:
        pydicom_pixel_array(path, index=index, raw=raw)
    except Exception:
        return True
    return False


def _tolerance(frames: lazydcm.FrameSequence) -> int:
    converted = frames.photometric_interpretation != frames.info.photometric_interpretation
    return 1 if converted and frames.photometric_interpretation == "RGB" else 0


GENERIC = [p for p in REAL_FILES if file_id(p) not in DECODED_WHERE_PYDICOM_FAILS]


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
@pytest.mark.parametrize("path", GENERIC, ids=file_id)
def test_every_frame_matches_pydicom(path: Path, raw: bool) -> None:
    # Arrange / Act: open lazily, as a user would.
    try:
        frames = lazydcm.FrameSequence(path, raw=raw, cache_bytes=0)
    except lazydcm.LazyDcmError:
        # Assert: lazydcm refuses only what pydicom cannot decode either.
        assert _pydicom_fails(path, 0, raw), "lazydcm refused a file pydicom decodes"
        return
    with frames:
        ts = frames.info.transfer_syntax_uid
        for i in range(len(frames)):
            try:
                expected = _pydicom(path, i, raw, ts)
            except Exception:
                # pydicom cannot decode this frame: lazydcm must say why, not guess.
                with pytest.raises(lazydcm.LazyDcmError):
                    frames[i]
                continue
            got = frames[i]
            # Assert
            assert_same_frame(got, expected, _tolerance(frames))
            assert (got.shape, got.dtype) == (frames.frame_shape, frames.dtype)


def test_the_corpus_is_real() -> None:
    # The oracle test is only as good as its corpus: both packages must be found.
    names = {file_id(p) for p in REAL_FILES}
    assert {"CT_small.dcm", "liver.dcm", "emri_small.dcm", "SC_rgb_expb_32bit_2frame.dcm"} <= names
    assert len(REAL_FILES) > 100


@pytest.mark.parametrize("raw", [False, True])
def test_deflated_file_matches_pydicom_dataset(raw: bool) -> None:
    # pydicom.pixels.pixel_array(path) reads the file without inflating it and
    # finds no Pixel Data; pydicom's dataset route inflates, so it is the oracle.
    path = real_file("image_dfl.dcm")
    assert _pydicom_fails(path, 0, raw)
    ds = pydicom.dcmread(path)

    got = lazydcm.pixel_array(path, raw=raw)

    assert_same_frame(got, pydicom_pixel_array(ds, raw=raw))


@pytest.mark.parametrize("raw", [False, True])
def test_file_without_transfer_syntax_is_sniffed(raw: bool) -> None:
    # The file has no File Meta; pydicom needs to be told its transfer syntax,
    # lazydcm reads the encoding off the first element.
    path = real_file("OT-PAL-8-face.dcm")
    assert _pydicom_fails(path, 0, raw)
    expected = pydicom_pixel_array(
        path, index=0, raw=raw, transfer_syntax_uid=ImplicitVRLittleEndian
    )

    with lazydcm.FrameSequence(path, raw=raw) as frames:
        assert frames.info.transfer_syntax_uid == ImplicitVRLittleEndian
        assert_same_frame(frames[0], expected)


@pytest.mark.parametrize("raw", [False, True])
def test_dataset_encoded_in_implicit_vr_under_an_explicit_syntax(raw: bool) -> None:
    # The File Meta says JPEG Baseline (Explicit VR) but the dataset is written in
    # Implicit VR.  pydicom's file route then misreads the Pixel Data element's
    # header; its dataset route (dcmread warns, then reads it as implicit) is right,
    # and so is lazydcm, which falls back to implicit VR element by element.
    path = real_file("SC_rgb_jpeg.dcm")
    assert _pydicom_fails(path, 0, raw)
    with pytest.warns(UserWarning, match="Expected explicit VR, but found implicit VR"):
        ds = pydicom.dcmread(path)
    expected = pydicom_pixel_array(ds, raw=raw, decoding_plugin="pylibjpeg")

    with lazydcm.FrameSequence(path, raw=raw) as frames:
        assert frames.header["Rows"] == 256
        assert_same_frame(frames[0], expected, _tolerance(frames))
