"""Shared fixtures."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import lazydcm


@pytest.fixture
def quiet() -> Iterator[None]:
    """Ignore LazyDcmWarning inside the test (files whose oddities are tested elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lazydcm.LazyDcmWarning)
        yield


@pytest.fixture
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make tempfile create its files in an empty directory of the test's own."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path
