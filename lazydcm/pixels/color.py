"""Colour space conversion between RGB and YBR_FULL, fast and in bounded memory.

The transforms are the ITU-R BT.601 full-range ones of PS3.3 C.7.6.3.1.2 (and
ISO/IEC 10918-5 section 7), computed as ``pydicom.pixels.convert_color_space``
computes them -- float32, rounded half up, clipped to 0..255 -- so the results
are pydicom's: RGB to YBR_FULL exactly, YBR_FULL to RGB within 1, and equal but
for the few inputs where the two float32 sums round to either side of a half
(tests/test_color.py checks all 2**24 inputs).  They are faster than pydicom's and than
Pillow's ``YCbCr`` to ``RGB`` conversion (benchmarks/test_color.py) because:

* the array is converted in blocks of :data:`BLOCK_PIXELS` pixels, so every
  intermediate stays in the CPU's L2 cache and the extra memory is a few hundred
  KiB whatever the image size;
* the chroma offset costs nothing: XOR-ing every byte with 0x80 and reading the
  bytes as int8 gives ``Y - 128``, ``Cb - 128`` and ``Cr - 128`` in one pass, and
  since the luma column of the matrix is all ones, the ``+ 128`` (and the
  ``+ 0.5`` of the rounding) is one scalar add on the result;
* the 3x3 matrix product runs on four pixels at a time, ``(n/4, 12) @ (12, 12)``
  with a block-diagonal matrix, which BLAS computes about twice as fast as
  ``(n, 3) @ (3, 3)``; each product is kept to :data:`_MATMUL_ROWS` rows, below
  the size at which BLAS starts threads (slower here, and oversubscribing the
  frame workers).

Only 8-bit samples are converted, as pydicom does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BLOCK_PIXELS",
    "COLOR_SPACES",
    "rgb_to_ybr_full",
    "ybr_full_to_rgb",
    "ybr_full_to_rgb_u8",
]

#: Pixels converted at a time: 3 x 4 bytes x 16,384 = 192 KiB of float32 a buffer.
BLOCK_PIXELS = 16384

# Rows of one matrix product (4 pixels a row): small enough for single-threaded BLAS.
_MATMUL_ROWS = 1024

_F32 = np.float32

# PS3.3 C.7.6.3.1.2, as pydicom writes the matrices: rows are the input channels.
_YBR_TO_RGB = np.array(
    [
        [1.000, 1.000, 1.000],
        [0.000, -0.114 * 1.772 / 0.587, 1.772],
        [1.402, -0.299 * 1.402 / 0.587, 0.000],
    ],
    dtype=_F32,
)
_RGB_TO_YBR = np.array(
    [
        [+0.299, -0.299 / 1.772, +0.701 / 1.402],
        [+0.587, -0.587 / 1.772, -0.587 / 1.402],
        [+0.114, +0.886 / 1.772, -0.114 / 1.402],
    ],
    dtype=_F32,
)
# Four pixels a row: the 12 x 12 block-diagonal matrices.
_YBR_TO_RGB_4 = np.kron(np.eye(4, dtype=_F32), _YBR_TO_RGB).astype(_F32)
_RGB_TO_YBR_4 = np.kron(np.eye(4, dtype=_F32), _RGB_TO_YBR).astype(_F32)
# Added after the product: the rounding half (both ways) and the chroma offset.
_YBR_OFFSET = np.tile(np.array([0.5, 128.5, 128.5], dtype=_F32), BLOCK_PIXELS)

#: The colour spaces the conversions know (Photometric Interpretation values).
COLOR_SPACES = ("RGB", "YBR_FULL", "YBR_FULL_422")


def _product(x: NDArray[np.float32], out: NDArray[np.float32], forward: bool) -> None:
    """``x @ matrix`` for flat pixel triplets, four pixels a row where possible."""
    matrix, matrix4 = (_RGB_TO_YBR, _RGB_TO_YBR_4) if forward else (_YBR_TO_RGB, _YBR_TO_RGB_4)
    whole = len(x) // 12 * 12
    step = _MATMUL_ROWS * 12
    for start in range(0, whole, step):
        stop = min(start + step, whole)
        np.matmul(x[start:stop].reshape(-1, 12), matrix4, out=out[start:stop].reshape(-1, 12))
    if whole < len(x):  # the last one to three pixels
        np.matmul(x[whole:].reshape(-1, 3), matrix, out=out[whole:].reshape(-1, 3))


def _convert(arr: NDArray[np.uint8], out: NDArray[np.uint8], to_rgb: bool) -> None:
    """Convert the flat uint8 triplets of `arr` into `out` (which may be `arr`)."""
    n = min(len(arr), BLOCK_PIXELS * 3)
    if not n:  # an empty image: nothing to convert (and no block size to step by)
        return
    signed = np.empty(n, dtype=np.uint8)
    x = np.empty(n, dtype=_F32)
    y = np.empty(n, dtype=_F32)
    for start in range(0, len(arr), n):
        stop = min(start + n, len(arr))
        m = stop - start
        xs, ys = x[:m], y[:m]
        if to_rgb:
            # Y - 128, Cb - 128, Cr - 128 as int8, in one pass (see the module docstring).
            np.bitwise_xor(arr[start:stop], 0x80, out=signed[:m])
            np.copyto(xs, signed[:m].view(np.int8), casting="unsafe")
            _product(xs, ys, forward=False)
            ys += _F32(128.5)  # the luma column is all ones: + 128 to every channel
        else:
            np.copyto(xs, arr[start:stop], casting="unsafe")
            _product(xs, ys, forward=True)
            ys += _YBR_OFFSET[:m]
        # Clipped to 0..255, the cast's truncation is pydicom's floor.
        np.clip(ys, 0, 255, out=ys)
        np.copyto(out[start:stop], ys, casting="unsafe")


def ybr_full_to_rgb_u8(arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Convert 8-bit YBR_FULL samples ``(..., 3)`` to RGB (PS3.3 C.7.6.3.1.2).

    Parameters
    ----------
    arr : numpy.ndarray
        uint8, last axis Y, Cb, Cr.
    out : numpy.ndarray, optional
        Where to write the result (uint8, C-contiguous, same shape; may be `arr`).

    Returns
    -------
    numpy.ndarray
        The RGB samples: ``out``, or a new array.
    """
    return _convert_into(arr, out, to_rgb=True)


def rgb_to_ybr_full(arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Convert 8-bit RGB samples ``(..., 3)`` to YBR_FULL (PS3.3 C.7.6.3.1.2).

    Parameters are those of :func:`ybr_full_to_rgb_u8`.
    """
    return _convert_into(arr, out, to_rgb=False)


def _convert_into(arr: np.ndarray, out: np.ndarray | None, to_rgb: bool) -> np.ndarray:
    """Convert `arr` into `out` (or a new array) and return it."""
    if out is None:
        out = np.empty(arr.shape, dtype=np.uint8)
    elif out.shape != arr.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        # A reshaped non-contiguous `out` would be a copy, and the result would be lost.
        raise ValueError(
            f"'out' must be a C-contiguous uint8 array of shape {arr.shape}, got "
            f"{out.dtype} {out.shape}"
        )
    _convert(np.ascontiguousarray(arr).reshape(-1), out.reshape(-1), to_rgb)
    return out


def ybr_full_to_rgb(
    arr: NDArray[np.generic], bits: int, *, in_place: bool = False
) -> NDArray[np.generic]:
    """Convert YBR_FULL (``(..., 3)``) to RGB, rounded and clipped to `bits` bits.

    The ITU-R BT.601 full-range transform of PS3.3 C.7.6.3.1.2, with the chroma
    offset ``2**(bits - 1)``.  8-bit samples take the fast blocked conversion of
    :func:`ybr_full_to_rgb_u8`, which gives pydicom's values; wider ones are converted
    here in float32 (float64 past 16 bits).  With `in_place`, 8-bit samples are
    converted in `arr` when it is writable and C-contiguous.
    """
    if bits == 8 and arr.dtype == np.uint8:
        writable = in_place and arr.flags.writeable and arr.flags.c_contiguous
        return ybr_full_to_rgb_u8(arr, arr if writable else None)
    out_dtype = arr.dtype
    # float32 holds every 16-bit value exactly; wider samples need float64 (2**32 - 1
    # rounds up to 2**32 in float32, which no longer fits the samples' dtype).
    real: Any = np.float32 if bits <= 16 else np.float64
    offset = real(1 << (bits - 1))
    top = real((1 << bits) - 1)
    ybr = arr.astype(real)
    y = ybr[..., 0]
    cb = ybr[..., 1] - offset
    cr = ybr[..., 2] - offset
    rgb = np.empty_like(ybr)
    rgb[..., 0] = y + real(1.402) * cr
    rgb[..., 1] = y - real(0.114 * 1.772 / 0.587) * cb - real(0.299 * 1.402 / 0.587) * cr
    rgb[..., 2] = y + real(1.772) * cb
    rgb += real(0.5)
    np.floor(rgb, out=rgb)
    np.clip(rgb, 0, top, out=rgb)
    return rgb.astype(out_dtype)
