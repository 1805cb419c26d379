"""Every decoder backend passes the shipped contract suite (lazydcm.testing.DecoderTests)."""

from __future__ import annotations

from lazydcm.decoders import BACKENDS
from lazydcm.testing import DecoderTests


def test_every_registered_backend_is_tested_here() -> None:
    tested = {cls.backend for cls in DecoderTests.__subclasses__()}
    assert {backend.name for backend in BACKENDS} <= tested


class TestNative(DecoderTests):
    backend = "native"


class TestZlib(DecoderTests):
    backend = "zlib"


class TestPylibjpeg(DecoderTests):
    backend = "pylibjpeg"


class TestImagecodecs(DecoderTests):
    backend = "imagecodecs"
