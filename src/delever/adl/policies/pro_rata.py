"""The pro-rata family: haircuts in proportion to PnL, equity, notional or contracts, capped at each winner's
capacity (specs/adl_policies.md "Pro-rata"; Chitra 2025).
"""

from __future__ import annotations


import numpy as np

from .winners import Allocation, Winners, check_need, make_allocation
from .splits import capped_split, lot_haircut


def pro_rata_pnl(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on profit: ``h_i = min(u_i, tau * pnl_i)``, ``sum h = B`` (capped pro rata with the capped
    excess redistributed; with the default capacity ``u = pnl`` simply ``h_i = B pnl_i / sum(pnl)``).

    Source: specs/adl_policies.md "Pro-rata"; Chitra 2025 (arXiv:2512.01112): capped pro rata is the unique
    rule that is Sybil-resistant, monotone and scale-invariant. Exact integer split (largest remainder).
    Units: money.
    """
    need = check_need(need)
    h, tau = capped_split(need, w.cap, w.pnl)
    return make_allocation("pro-rata-pnl", need, h, tau=tau)


def pro_rata_equity(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on equity: ``h_i = min(u_i, tau * max(e_i, 0))``, ``sum h = B``; a winner with equity <= 0
    pays nothing. Source: specs/adl_policies.md "Pro-rata" (variants by capacity); Chitra 2025. Units: money.
    """
    need = check_need(need)
    h, tau = capped_split(need, w.cap, np.maximum(w.equity, 0))
    return make_allocation("pro-rata-equity", need, h, tau=tau)


def pro_rata_notional(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on notional: ``h_i = min(u_i, tau * notional_i)``, ``sum h = B``. Source: specs/adl_policies.md
    "Pro-rata" (variants by capacity). Units: money."""
    need = check_need(need)
    h, tau = capped_split(need, w.cap, w.notional)
    return make_allocation("pro-rata-notional", need, h, tau=tau)


def pro_rata_contracts(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on contracts (exchange style, whole contracts): every winner closes the same fraction
    ``theta`` of its ``c_i`` contracts, ``k_i = floor(theta c_i)``, with ``theta`` the largest fraction whose
    haircuts ``sum_i ceil(k_i u_i / c_i)`` stay <= ``B``; then one more contract each to the largest
    remainders ``theta c_i - k_i`` (ties: more capacity, lower index, as :mod:`delever.allocation`) until
    ``B`` is covered. Capped at ``c_i`` (all contracts = the whole capacity ``u_i``). Overshoot < the last
    added contract's value.

    Winners with ``c_i = 0`` have no lots and are split as money (pro rata on capacity).
    Source: specs/adl_policies.md "Pro-rata" (integer contracts); the paper's ``contract_pr``
    (Chitra 2025, policy_per_wave_metrics.csv). Units: contracts (lots) and money.
    """
    need = check_need(need)
    cap, c = w.cap, w.contracts
    n = w.n
    # a winner with lots but no capacity closes nothing (it could not pay); c == 0 -> divisible in money
    lots = np.where(cap > 0, c, 0)
    units = np.where(lots > 0, lots, np.where(cap > 0, cap, 0))  # the "contracts" to split pro rata
    if need == 0 or int(units.sum()) == 0:
        return make_allocation("pro-rata-contracts", need, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    if int(cap[units > 0].sum()) <= need:
        h = np.where(units > 0, cap, 0)
        return make_allocation("pro-rata-contracts", need, h, lots.copy(), theta=1.0)

    def cost(k: np.ndarray, sel=slice(None)) -> np.ndarray:
        return np.where(lots[sel] > 0, lot_haircut(k, cap[sel], lots[sel]), k)

    lo, hi = 0.0, 1.0  # cost(floor(lo * units)) <= need < cost(floor(hi * units)) (hi: all, > need)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if int(cost(np.floor(mid * units).astype(np.int64)).sum()) <= need:
            lo = mid
        else:
            hi = mid
    k = np.minimum(np.floor(lo * units).astype(np.int64), units)
    h = cost(k)
    missing = need - int(h.sum())
    if missing > 0:
        frac = lo * units - k
        room = np.flatnonzero(k < units)
        order = room[np.lexsort((room, -cap[room], -frac[room]))]  # delever.allocation's tie rule
        extra = cost(k[order] + 1, order) - h[order]
        cum = np.cumsum(extra)
        j = int(np.searchsorted(cum, missing, side="left"))
        add = order[: j + 1]
        k[add] += 1
        h = cost(k)
    closed = np.where(lots > 0, k, 0)
    return make_allocation("pro-rata-contracts", need, h, closed, theta=lo)
