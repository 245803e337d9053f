"""Auto-deleveraging: ranking scores, the ADL indicator, and the ranked queue of counterparties."""

from .queue import AdlQueue
from .ranking import adl_indicator, bitmex_score

__all__ = ["AdlQueue", "adl_indicator", "bitmex_score"]
