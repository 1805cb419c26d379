"""Shared fixtures."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

import lazydcm


@pytest.fixture
def quiet() -> Iterator[None]:
    """Ignore LazyDcmWarning inside the test (files whose oddities are tested elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lazydcm.LazyDcmWarning)
        yield
