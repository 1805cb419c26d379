"""What pydicom users know from ``pydicom.pixels``: the processing functions.

Each function takes an array and where its attributes come from -- a
:class:`~lazydcm.FrameSequence`, or a header mapping such as
:attr:`FrameSequence.header <lazydcm.FrameSequence.header>` -- and gives the
result of the ``pydicom.pixels`` function of the same name on the same input
(tests/test_lut.py compares them on real files):

* :func:`apply_modality_lut` (alias :func:`apply_rescale`): Modality LUT
  Sequence or Rescale Slope and Intercept, PS3.3 C.11.1;
* :func:`apply_voi_lut`, :func:`apply_windowing`: VOI LUT Sequence, or Window
  Center and Width with the VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID,
  PS3.3 C.11.2 (C.11.2.1.2, C.11.2.1.3);
* :func:`apply_presentation_lut`: Presentation LUT Sequence or Shape, C.11.6;
* :func:`apply_color_lut`: Palette Color Lookup Tables, segmented ones included
  (C.7.6.3.1.5, C.7.6.3.1.6, C.7.9.2), or a well-known palette (PS3.6 Annex B).

With a :class:`~lazydcm.FrameSequence` and ``frame=i``, the values are those of
frame *i*: from its Per-Frame Functional Groups item, else the Shared Functional
Groups, else the top level (PS3.3 C.7.6.16; :meth:`FrameSequence.frame_header
<lazydcm.FrameSequence.frame_header>`).  Without ``frame``, a file with
functional groups gives the shared values, else the top-level ones.

Where pydicom is wrong, lazydcm is right: LUT Data stored as OW is read in the
file's byte order also for the Presentation LUT, input values outside a LUT's
range map to its first or last entry whatever the array's dtype, and the
well-known palettes ``"FALL"`` and ``"WINTER"`` are not swapped.
"""

from lazydcm.processing.color import convert_color_space
from lazydcm.processing.modality import apply_modality_lut, apply_rescale
from lazydcm.processing.palette import apply_color_lut
from lazydcm.processing.presentation import apply_presentation_lut
from lazydcm.processing.voi import apply_voi_lut, apply_windowing

__all__ = [
    "apply_color_lut",
    "apply_modality_lut",
    "apply_presentation_lut",
    "apply_rescale",
    "apply_voi_lut",
    "apply_windowing",
    "convert_color_space",
]
