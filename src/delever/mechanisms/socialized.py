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


def pro_rata(need: int, capacity: np.ndarray) -> np.ndarray:
    """Integer split of ``need`` (money) in proportion to ``capacity`` (int64 >= 0), capped at it, summing to
    ``min(need, capacity.sum())`` exactly (largest remainder; ties to the lower index)."""
    total = int(capacity.astype(object).sum())  # Python int: the sum can pass 2**63
    if need <= 0 or total <= 0:
        return np.zeros_like(capacity)
    if need >= total:
        return capacity.copy()
    cap = capacity.astype(object)  # Python ints: need * capacity can exceed int64
    prod = cap * need
    base = prod // total
    rem = (prod - base * total).astype(np.int64)  # < total, fits
    out = base.astype(np.int64)
    short = need - int(out.sum())
    if short:
        order = np.lexsort((np.arange(out.shape[0]), -rem))
        out[order[:short]] += 1
    return out
