"""What tests -- lazydcm's and its users' -- need to build files and check parts.

* :mod:`lazydcm.testing.synth` writes synthetic DICOM files, right or
  deliberately wrong, for cases no real corpus has;
* :class:`SourceTests` (:mod:`lazydcm.testing.sources`) and :class:`DecoderTests`
  (:mod:`lazydcm.testing.decoders`) are contract suites, in the manner of
  ``zarr.testing.store.StoreTests``: subclass one in a pytest module, say what to
  test, and every check the protocol promises runs against it.  They need pytest,
  and are imported only when asked for.

Nothing here is imported by ``import lazydcm``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DecoderTests", "SourceTests"]


def __getattr__(name: str) -> Any:
    # The suites import pytest: only when a test asks for them.
    if name == "SourceTests":
        from lazydcm.testing.sources import SourceTests

        return SourceTests
    if name == "DecoderTests":
        from lazydcm.testing.decoders import DecoderTests

        return DecoderTests
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
