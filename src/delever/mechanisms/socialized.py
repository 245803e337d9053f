"""Socialized loss (clawback) instead of ADL, and negative-balance protection.

When the insurance fund cannot cover a bankrupt account, Deribit socializes the loss "among the winning
traders for that day" (../shared/specs/venues.md section 5; old OKX and Huobi did the same). Here, at the end
of each step, the deficits of the protected bankrupt accounts of that step are clawed back from every winner
(a position with unrealized profit at the mark, not liquidated this step, not a liquidity provider or vault)
pro rata to its unrealized profit, capped at it: ``h_i = need * upnl_i / sum(upnl)``, split exactly by largest
remainder. Winners pay from their wallet (cross) or isolated margin into a pool; the pool pays the bankrupt
accounts back to zero. An account without negative-balance protection keeps its negative balance: a debt
the venue would collect from the user, reported as unrecovered bad debt.
"""

from __future__ import annotations

import numpy as np

from ..allocation import split
from ..units import exact_sum


def pro_rata(need: int, capacity: np.ndarray) -> np.ndarray:
    """Integer split of ``need`` (money) in proportion to ``capacity`` (int64 >= 0), capped at it, summing to
    ``min(need, capacity.sum())`` exactly: the one largest-remainder rule (:func:`delever.allocation.split`,
    ties to the lower index; exact for any int64 values). Below the total every share is under its capacity,
    so the split needs no caps (and no cap enters a tie); at or above it every winner pays its capacity."""
    capacity = np.asarray(capacity)
    if capacity.size == 0 or need <= 0:
        return np.zeros_like(capacity)
    if int(need) >= exact_sum(capacity):
        return capacity.copy()
    return split(int(need), capacity)
