"""Layout steps of the pixel pipeline: YBR_FULL_422 expansion and frame shape.

Pure NumPy functions with explicit parameters (PS3.3 C.7.6.3.1.2 and 3.1.3).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["expand_ybr422", "to_frame_shape"]


def expand_ybr422(samples: NDArray[np.generic]) -> NDArray[np.generic]:
    """Expand YBR_FULL_422 samples (Y1 Y2 Cb Cr per two pixels) to Y Cb Cr per pixel."""
    quads = samples[: len(samples) // 4 * 4].reshape(-1, 4)
    out = np.empty((len(quads), 2, 3), dtype=samples.dtype)
    out[:, 0, 0] = quads[:, 0]
    out[:, 1, 0] = quads[:, 1]
    out[:, :, 1] = quads[:, 2:3]
    out[:, :, 2] = quads[:, 3:4]
    return out.reshape(-1)


def to_frame_shape(
    arr: NDArray[np.generic], rows: int, columns: int, samples: int, planar: int
) -> NDArray[np.generic]:
    """Shape samples as ``(rows, columns)`` or ``(rows, columns, samples)``, C-contiguous.

    Colour-by-plane data (Planar Configuration 1) is reordered to colour-by-pixel.
    """
    if samples == 1:
        return arr.reshape(rows, columns)
    if planar == 0:
        return arr.reshape(rows, columns, samples)
    return np.ascontiguousarray(arr.reshape(samples, rows, columns).transpose(1, 2, 0))
