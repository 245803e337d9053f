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
    if capacity.size == 0 or need <= 0:
        return np.zeros_like(capacity)
    top = int(capacity.max())
    # a Python-int sum only when an int64 one could pass 2**63
    total = int(capacity.sum()) if top * capacity.size < 2**63 else int(capacity.astype(object).sum())
    if need <= 0 or total <= 0:
        return np.zeros_like(capacity)
    if need >= total:
        return capacity.copy()
    cap = capacity.astype(np.int64)
    eps = 0.0  # error bound of the float remainders below (0: exact)
    if need < 2**50:
        # float64 gets floor(need * c / total) right wherever its fraction is not within the float error of an
        # integer; the few that are get Python integers. Exact, and far faster than integers for every winner.
        share = cap * (need / total)
        base = np.floor(share)
        frac = share - base
        eps = need * 2e-15 + 1e-9
        doubt = np.flatnonzero((frac < eps) | (frac > 1 - eps))
        base = base.astype(np.int64)
        for i in doubt.tolist():
            base[i] = int(cap[i]) * need // total
        frac[doubt] = [(int(cap[i]) * need - int(base[i]) * total) / total for i in doubt.tolist()]
        rem = frac
    else:
        obj = cap.astype(object)  # Python ints: need * capacity can exceed int64
        prod = obj * need
        base = prod // total
        rem = (prod - base * total).astype(np.int64)  # < total, fits
    out = base.astype(np.int64)
    short = need - int(out.sum())
    if short:
        # the ``short`` largest remainders, ties to the lower index (a partition, not a sort of every winner)
        neg = -rem
        kth = np.partition(neg, short - 1)[short - 1]
        if eps == 0.0:
            above = np.flatnonzero(neg < kth)
            equal = np.flatnonzero(neg == kth)[: short - above.size]
        else:
            # float remainders are within ``eps`` of the exact ones: those clearly above the boundary are in; the
            # ones within 2 eps of it are ranked on their exact remainders (Python integers), ties to the lower index
            above = np.flatnonzero(neg < kth - 2 * eps)
            near = np.flatnonzero(np.abs(neg - kth) <= 2 * eps)
            exact = [int(cap[i]) * need - int(base[i]) * total for i in near.tolist()]
            pick = sorted(range(near.size), key=lambda j: (-exact[j], int(near[j])))[: short - above.size]
            equal = near[pick]
        out[above] += 1
        out[equal] += 1
    return out
