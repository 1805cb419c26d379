"""Fuzzing (issue 5): every input ends in a result or a LazyDcmError / IndexError.

* A structure-aware Hypothesis test: files generated element by element --
  Image Pixel module values from plausible to hostile, skipped elements and
  sequences, native values of any length, encapsulated values with generated
  Basic and Extended Offset Tables, fragment lengths, item tags and delimiters,
  then perhaps cut short -- go through the header walk, the frame-table builders
  and a FrameSequence reading every frame.
* The mutation fuzzer of ``tests/fuzz_mutants.py`` over the real test files,
  a few thousand mutants in worker processes limited to 2 GiB, with a timeout;
  and a check that the harness does see a crash, a hang, a foreign exception and
  an exhausted memory.  Longer campaigns: ``python tests/fuzz_mutants.py --help``
  and docs/robustness.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import struct
import warnings
from pathlib import Path
from typing import Any

import fuzz_mutants
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazydcm
from lazydcm import opening
from lazydcm.errors import LazyDcmError, LazyDcmWarning
from lazydcm.frames import FrameReader
from lazydcm.sources import MemorySource
from lazydcm.testing import synth
from lazydcm.uids import ENCAPSULATED_UNCOMPRESSED, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

imagecodecs = pytest.importorskip("imagecodecs")

JPEG_SV1 = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"
ITEM, DELIMITER = 0xFFFEE000, 0xFFFEE0DD

# Real codestreams to wrap: 4 x 3 frames, lossless JPEG (12-bit) and RLE (16-bit).
_SOURCE = np.arange(12, dtype=np.uint16).reshape(4, 3) * 300
_JPEG = [
    bytes(imagecodecs.jpeg8_encode(_SOURCE + k, lossless=True, predictor=1, bitspersample=12))
    for k in range(3)
]


def _rle_streams() -> list[bytes]:
    try:
        from rle.utils import encode_pixel_data
    except ImportError:  # pragma: no cover - pylibjpeg-rle is a dependency
        return []
    return [
        encode_pixel_data(
            (_SOURCE + k).tobytes(),
            rows=4,
            columns=3,
            samples_per_pixel=1,
            bits_allocated=16,
            byteorder="<",
        )
        for k in range(3)
    ]


_RLE = _rle_streams()
_STREAMS = {JPEG_SV1: _JPEG, RLE: _RLE, ENCAPSULATED_UNCOMPRESSED: []}

# -- the generator -------------------------------------------------------------------

_US = st.one_of(st.integers(1, 8), st.sampled_from([0, 1, 2, 3, 4, 12, 16, 255, 256, 65535]))
_FRAMES = st.one_of(
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 5),
    st.sampled_from([0, 2**31 - 1, 2**31, "", "1e99", "-1", "nan", "3.5", "1\\2", " 7 "]),
    st.none(),
)
_PHOTOMETRIC = st.sampled_from(
    ["MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "", "X"]
)
_U32 = st.one_of(
    st.integers(0, 600),
    st.sampled_from([0, 1, 7, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]),
    st.integers(0, 2**32 - 1),
)


@st.composite
def image_pixel(draw: st.DrawFn, ts: str) -> synth.ImagePixel:
    """Mostly a small image the data can match; often one hostile value."""
    if ts == JPEG_SV1:
        plausible = {"rows": 4, "columns": 3, "bits_allocated": 16, "bits_stored": 12}
    elif ts == RLE:
        plausible = {"rows": 4, "columns": 3, "bits_allocated": 16, "bits_stored": 16}
    else:
        plausible = {
            "rows": draw(st.integers(1, 5)),
            "columns": draw(st.integers(1, 5)),
            "bits_allocated": draw(st.sampled_from([1, 8, 16, 32])),
        }
        plausible["bits_stored"] = plausible["bits_allocated"]
    values: dict[str, Any] = {**plausible, "number_of_frames": draw(_FRAMES)}
    if draw(st.booleans()):
        values["samples_per_pixel"] = 3
        values["photometric_interpretation"] = "RGB"
        values["planar_configuration"] = draw(st.sampled_from([0, 0, 1, 1, 2, None]))
    hostile = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
    for _ in range(hostile):
        field = draw(st.sampled_from(["rows", "columns", "samples_per_pixel", "bits_allocated",
                                      "bits_stored", "high_bit", "pixel_representation",
                                      "photometric_interpretation"]))  # fmt: skip
        values[field] = draw(_PHOTOMETRIC if field == "photometric_interpretation" else _US)
    if values.get("high_bit") is None and values["bits_stored"] == 0:
        values["high_bit"] = 0
    return synth.ImagePixel(**values)


@st.composite
def other_elements(draw: st.DrawFn, little: bool, implicit: bool) -> list[bytes]:
    """Skipped elements and sequences (defined and undefined lengths), maybe wrong lengths."""
    out = []
    for tag in sorted(
        draw(st.sets(st.sampled_from([0x00100010, 0x00181030, 0x00291010]), max_size=2))
    ):
        value = draw(st.binary(max_size=12))
        length = draw(st.one_of(st.none(), st.none(), _U32))
        out.append(synth.encode_element(tag, "OB", value, little_endian=little,
                                        implicit=implicit, length=length))  # fmt: skip
    if draw(st.booleans()):
        items = [
            synth.encode_element(0x00081150, "UI", "1.2.3", little_endian=little, implicit=implicit)
        ] * draw(st.integers(0, 3))
        out.append(
            synth.encode_sequence(
                0x00081115,
                items,
                little_endian=little,
                implicit=implicit,
                undefined_length=draw(st.booleans()),
                undefined_item_length=draw(st.booleans()),
            )
        )
    return out


def _item(tag: int, length: int, payload: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length) + payload


@st.composite
def encapsulated_value(
    draw: st.DrawFn, ts: str, image: synth.ImagePixel
) -> tuple[bytes, tuple[list[int], list[int]] | None, int]:
    """BOT, fragments and delimiter, each piece right or generated; and maybe an EOT."""
    streams = _STREAMS[ts]
    count = draw(st.integers(0, 4))
    if streams:
        frames = [streams[draw(st.integers(0, len(streams) - 1))] for _ in range(count)]
    else:
        nbytes = max(0, image.rows * image.columns * image.samples_per_pixel
                     * max(image.bits_allocated, 8) // 8)  # fmt: skip
        frames = [draw(st.binary(min_size=min(nbytes, 64), max_size=min(nbytes, 64) + 2))
                  for _ in range(count)]  # fmt: skip
    frames = [f + b"\0" * (len(f) % 2) for f in frames]
    eot_kind = draw(st.sampled_from(["none", "none", "none", "right", "generated"]))
    body = b""
    offsets, lengths = [], []
    for frame in frames:
        offsets.append(len(body))
        lengths.append(len(frame))
        pieces = 1 if eot_kind == "right" else draw(st.integers(1, 3))
        cuts = sorted(
            {0, len(frame), *(2 * (k * len(frame) // (2 * pieces)) for k in range(1, pieces))}
        )
        for start, stop in itertools.pairwise(cuts):
            tag = (
                ITEM
                if draw(st.integers(0, 15))
                else draw(st.sampled_from([0xFFFEE00D, DELIMITER, 0x00080018]))
            )
            length = stop - start if draw(st.integers(0, 15)) else draw(_U32)
            body += _item(tag, length, frame[start:stop])
    kind = draw(st.sampled_from(["empty", "right", "generated"]))
    if kind == "right":
        table = offsets
    elif kind == "generated":
        table = draw(st.lists(_U32, max_size=6))
    else:
        table = []
    bot = _item(ITEM, 4 * len(table), struct.pack(f"<{len(table)}I", *table))
    if draw(st.integers(0, 9)) == 0:
        bot = _item(ITEM, draw(_U32), bot[8:])
    end = _item(DELIMITER, 0, b"") if draw(st.integers(0, 5)) else b""
    eot = None
    big = st.one_of(st.integers(0, 600), st.sampled_from([2**62, 2**63, 2**64 - 1]))
    if eot_kind == "right":
        eot = (offsets, lengths)
    elif eot_kind == "generated":
        eot = (draw(st.lists(big, max_size=5)), draw(st.lists(big, max_size=5)))
    return bot + body + end, eot, count


@st.composite
def generated_file(draw: st.DrawFn) -> bytes:
    ts = draw(st.sampled_from([EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, ENCAPSULATED_UNCOMPRESSED,
                               JPEG_SV1, *([RLE] if _RLE else [])]))  # fmt: skip
    image = draw(image_pixel(ts))
    little, implicit = ts != EXPLICIT_BE, ts == IMPLICIT_LE
    extra = draw(other_elements(little, implicit))
    kwargs: dict[str, Any] = {}
    if ts in (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE):
        frames = draw(st.integers(0, 4))
        nbytes = max(1, image.rows * image.columns * image.samples_per_pixel
                     * max(image.bits_allocated, 1) // 8)  # fmt: skip
        value = draw(
            st.binary(min_size=min(frames * nbytes, 400), max_size=min(frames * nbytes, 400) + 3)
        )
        if draw(st.integers(0, 4)) == 0:
            kwargs["pixel_length"] = draw(_U32)
        kwargs["pixel_vr"] = "OW" if image.bits_allocated > 8 or not little else "OB"
    else:
        value, eot, count = draw(encapsulated_value(ts, image))
        if eot is not None:
            kwargs["extended_offsets"] = eot
        if draw(st.booleans()):  # a Number of Frames that matches the data, often
            image = dataclasses.replace(image, number_of_frames=count)
    try:
        data = synth.dicom_file(image, value, transfer_syntax_uid=ts, extra=extra,
                                preamble_and_meta=draw(st.booleans()) or ts not in
                                (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE), **kwargs)  # fmt: skip
    except (ValueError, struct.error, OverflowError):
        data = synth.dicom_file(synth.ImagePixel(2, 2), bytes(8))  # a value synth cannot write
    if draw(st.integers(0, 3)) == 0:
        data = data[: len(data) - draw(st.integers(1, len(data)))]  # cut short, mostly a little
    return data


def _exercise(data: bytes) -> None:
    """Everything lazydcm does with a file; only LazyDcmError and IndexError may escape."""
    try:
        opened = opening.open(MemorySource(data, name="generated"))
        reader = FrameReader(opened)
        for i in range(min(opened.index.present, 8)):
            reader.pieces(i)
        from lazydcm.decoders.suggest import suggest_overrides

        suggest_overrides(opened)
    except (LazyDcmError, IndexError):
        pass
    try:
        with lazydcm.FrameSequence(data, cache_bytes=0) as frames:
            _ = (frames.shape, frames.nbytes, frames.offset_table, repr(frames.header))
            for i in [*range(min(len(frames), 8)), -1]:
                with contextlib.suppress(LazyDcmError, IndexError):
                    frames[i]
    except (LazyDcmError, IndexError):
        pass


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(generated_file())
def test_generated_files_end_in_a_result_or_a_lazydcm_error(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a foreign warning (numpy overflow, ...) fails
        warnings.simplefilter("ignore", LazyDcmWarning)
        _exercise(data)


# -- the mutation fuzzer -------------------------------------------------------------

#: A fixed seed, so that CI runs the same mutants every time (campaigns use others).
CI_SEED = 20260705
CI_CASES = int(os.environ.get("LAZYDCM_FUZZ_CASES", "5000"))


def _report(report: fuzz_mutants.Report) -> str:
    files = fuzz_mutants.corpus()
    lines = []
    for case, failure in sorted(report.failures.items())[:10]:
        mutant = fuzz_mutants.make_mutant(report.seed, case, files)
        lines.append(
            f"{mutant.label} ({mutant.origin}: {'; '.join(mutant.steps)}): {failure}\n"
            f"  replay: python tests/fuzz_mutants.py --replay {mutant.label}"
        )
    return "\n".join(lines)


@pytest.fixture
def workers_tempdir(private_tempdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty temporary directory for this process and the worker processes it starts."""
    monkeypatch.setenv("TMPDIR", str(private_tempdir))
    return private_tempdir


def test_mutants_of_real_files_never_crash_hang_or_exhaust_memory(workers_tempdir: Path) -> None:
    report = fuzz_mutants.campaign(CI_SEED, CI_CASES, timeout=30)

    assert report.cases == CI_CASES
    assert not report.failures, _report(report)
    assert report.outcomes["opened"] > CI_CASES // 4  # mutants reach the frames
    assert report.outcomes["frame"] > CI_CASES // 4
    assert os.listdir(workers_tempdir) == []  # the mutants' folder is gone


def test_the_harness_sees_crashes_hangs_foreign_errors_and_memory_exhaustion(
    monkeypatch: pytest.MonkeyPatch, workers_tempdir: Path
) -> None:
    monkeypatch.setenv(fuzz_mutants.SELFTEST, "2:crash,4:hang,6:error,8:memory")

    report = fuzz_mutants.campaign(1, 10, workers=2, batch=5, timeout=2)

    assert report.cases == 10
    assert sorted(report.failures) == [2, 4, 6, 8]
    assert report.failures[2].startswith("crash: killed by SIGSEGV")
    assert report.failures[4].startswith("hang")
    assert report.failures[6].startswith("ValueError")
    assert report.failures[8].startswith("MemoryError")
    # Workers killed by a signal or for hanging run no clean-up of their own:
    # the campaign's folder, which they share, is removed by the campaign.
    assert os.listdir(workers_tempdir) == []
