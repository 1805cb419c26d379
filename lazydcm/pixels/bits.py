"""Bit-level steps of the pixel pipeline: unpacking, masking and sign (PS3.5 8.1.1).

Pure NumPy functions with explicit parameters; each returns an array the caller
owns and works in place where the input is writable.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["extend_sign", "mask_unused_bits", "unpack_bits"]


def unpack_bits(packed: NDArray[np.uint8], first_bit: int, count: int) -> NDArray[np.uint8]:
    """Unpack `count` 1-bit pixels starting at bit `first_bit` of ``packed[0]``.

    Bits are taken least significant first (PS3.5 8.1.1 and D.1), so pixel 0 of a
    byte-aligned frame is bit 0 of its first byte.
    """
    bits = np.unpackbits(packed, bitorder="little", count=first_bit + count)
    return bits[first_bit:] if first_bit else bits


def mask_unused_bits(
    arr: NDArray[np.generic], bits_stored: int, signed: bool
) -> NDArray[np.generic]:
    """Clear the bits above `bits_stored`; sign-extend from bit ``bits_stored - 1`` if signed.

    PS3.5 8.1.1: the unused high bits of a sample may hold anything, so they are
    never trusted.  Works in place when `arr` is writable.
    """
    if arr.dtype.itemsize * 8 <= bits_stored:
        return arr
    if signed:  # the shifts that sign-extend also clear what is above the sign bit
        return extend_sign(arr, bits_stored)
    if not arr.flags.writeable:
        arr = arr.copy()
    np.bitwise_and(arr, arr.dtype.type((1 << bits_stored) - 1), out=arr)
    return arr


def extend_sign(arr: NDArray[np.generic], precision: int) -> NDArray[np.generic]:
    """Reinterpret `precision`-bit samples in the signedness of `arr`'s dtype.

    For a codec that decoded signed samples as unsigned (or the reverse), shifting
    left and back sign-extends into a signed dtype and zero-extends into an
    unsigned one.  Works in place when `arr` is writable.
    """
    shift = arr.dtype.itemsize * 8 - precision
    if shift <= 0:
        return arr
    if not arr.flags.writeable:
        arr = arr.copy()
    np.left_shift(arr, shift, out=arr)
    np.right_shift(arr, shift, out=arr)
    return arr
