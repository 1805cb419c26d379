"""Deprecated alias of :mod:`lazydcm.testing.synth` (kept for one release)."""

from lazydcm.testing.synth import *  # noqa: F403
from lazydcm.testing.synth import __all__ as __all__
