"""Test helpers: the real test files (pydicom's and pydicom-data's) and frame comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _real_files() -> list[Path]:
    """Every file of pydicom's bundled test data and of the pydicom-data package."""
    import data_store
    import pydicom.data

    roots = [
        Path(pydicom.data.__file__).parent / "test_files",
        Path(data_store.__file__).parent / "data",
    ]
    files = [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]
    return [p for p in files if p.suffix not in (".py", ".pyc", ".txt", ".json", ".gz", ".icc")]


REAL_FILES = _real_files()


def file_id(path: Path) -> str:
    """A readable test id: the path below the data folder."""
    parts = path.parts
    anchor = max(i for i, part in enumerate(parts) if part in ("test_files", "data"))
    return "/".join(parts[anchor + 1 :])


def real_file(name: str) -> Path:
    """The real test file called `name` (its path below the data folder)."""
    for path in REAL_FILES:
        if file_id(path) == name:
            return path
    raise LookupError(name)


def native_order(arr: np.ndarray) -> np.ndarray:
    """`arr` with its dtype in native byte order (pydicom keeps big-endian dtypes)."""
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def assert_same_frame(got: np.ndarray, expected: np.ndarray, tolerance: int = 0) -> None:
    """Same shape, same dtype (byte order aside) and values equal within `tolerance`."""
    expected = native_order(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if tolerance:
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        assert diff.max(initial=0) <= tolerance
    else:
        np.testing.assert_array_equal(got, expected)
