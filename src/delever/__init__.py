"""delever: an exact, fast, deterministic engine for the deleveraging stack of a perpetual-futures venue.

Money is integer fixed point (see :mod:`delever.units`), positions live in a columnar book
(:mod:`delever.book`), and a run is a pure function of (scenario, seed) (:mod:`delever.engine`).
"""

__version__ = "0.1.0"

from .kernel_cache import configure as _configure_kernel_cache

_configure_kernel_cache()
