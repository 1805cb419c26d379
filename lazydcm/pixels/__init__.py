"""The pixel pipeline: pure NumPy functions with explicit parameters.

* :mod:`~lazydcm.pixels.bits` - bit unpacking, masking, sign;
* :mod:`~lazydcm.pixels.layout` - YBR_FULL_422 expansion, planar configuration, shape;
* :mod:`~lazydcm.pixels.color` - YBR_FULL to RGB and back, fast and in bounded memory;
* :mod:`~lazydcm.pixels.pipeline` - :func:`finish_frame`, the steps in pydicom's order.
"""

from lazydcm.pixels.bits import extend_sign, mask_unused_bits, unpack_bits
from lazydcm.pixels.color import rgb_to_ybr_full, ybr_full_to_rgb, ybr_full_to_rgb_u8
from lazydcm.pixels.layout import expand_ybr422, to_frame_shape
from lazydcm.pixels.pipeline import finish_frame, output_photometric, stored_as_returned

__all__ = [
    "expand_ybr422",
    "extend_sign",
    "finish_frame",
    "mask_unused_bits",
    "output_photometric",
    "rgb_to_ybr_full",
    "stored_as_returned",
    "to_frame_shape",
    "unpack_bits",
    "ybr_full_to_rgb",
    "ybr_full_to_rgb_u8",
]
