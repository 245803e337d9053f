"""The compiled full-book margin sweep: one pass over the columnar book at the mark prices.

Same decisions as the reference :mod:`delever.margin` (tested equal on random books), exact in int64:

- equity and unrealized PnL are exact integer products (no division);
- the maintenance margin ``ceil(notional * MMR) - cum`` needs a division, which costs more than the rest of
  the sweep together, so the sweep first screens with a float64 estimate and decides exactly (integers)
  only the accounts whose equity lies within a guard band of the estimate (the float error is below 1e-3
  money units; the guard is the account's position count, which bounds the per-position ceil, plus a
  relative 1e-9). Liquidatable accounts get their exact MM too (the engine orders them by ``equity / MM``).

Tier tables are 2-D arrays padded per instrument; a notional's tier is found by a linear scan (tables have
at most a few dozen brackets, and most positions sit in the first).
"""

from __future__ import annotations

import numpy as np
from numba import njit

PPM = 1_000_000


@njit(cache=True, nogil=True, inline="always")
def mul_ppm_ceil(amount: int, rate: int) -> int:
    """``ceil(amount * rate / 1e6)`` for int64 without overflow (compiled twin of ``units.mul_ppm_ceil``)."""
    q = amount // PPM
    r = amount - q * PPM
    return q * rate - ((-(r * rate)) // PPM)


@njit(cache=True, nogil=True, inline="always")
def tier_of(notional: int, m: int, floors: np.ndarray, k: int) -> int:
    """Index of the bracket of instrument ``m`` (row of ``floors``) that a notional falls in."""
    j = 0
    while j + 1 < k and notional >= floors[m, j + 1]:
        j += 1
    return j


@njit(cache=True, nogil=True, inline="always")
def maintenance_margin(notional: int, m: int, floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, k: int) -> int:
    """Exact tiered MM (money units, rounded up) of a notional on instrument ``m``."""
    j = tier_of(notional, m, floors, k)
    return mul_ppm_ceil(notional, mmr[m, j]) - cum[m, j]


@njit(cache=True, nogil=True)
def margin_sweep(
    size: np.ndarray,
    cost: np.ndarray,
    collateral: np.ndarray,
    isolated: np.ndarray,
    account: np.ndarray,
    instrument: np.ndarray,
    wallet: np.ndarray,
    marks: np.ndarray,
    value_per_lot_tick: np.ndarray,
    floors: np.ndarray,
    mmr: np.ndarray,
    cum: np.ndarray,
    n_tiers: np.ndarray,
    exempt: np.ndarray,
    pos_equity: np.ndarray,
    pos_mm: np.ndarray,
    acc_equity: np.ndarray,
    acc_mm: np.ndarray,
    out: np.ndarray,
    safe_move: np.ndarray,
) -> int:
    """Mark the whole book to market and list the liquidatable positions.

    Shapes: positions (n,) for ``size, cost, collateral`` (int64 lots / money / money), ``isolated`` (bool),
    ``account`` (int64), ``instrument`` (int64); accounts (a,) for ``wallet`` (int64 money) and ``exempt`` (bool:
    liquidity-provider accounts, never liquidated); instruments (m,) for ``marks`` (int64 ticks) and
    ``value_per_lot_tick``; tier tables (m, k) ``floors, mmr, cum`` with ``n_tiers`` (m,).

    Writes, exactly: ``pos_equity`` (n,) (isolated: margin + uPnL; cross: the position's uPnL) and
    ``acc_equity`` (a,) (cross wallet + cross uPnL) for every row; ``pos_mm`` for listed positions and
    ``acc_mm`` for accounts with a listed cross position (elsewhere a float estimate, rounded). Lists into
    ``out`` (n,) an isolated position when its margin + uPnL < its MM, and every non-flat cross position of
    an account whose cross equity < the sum of its positions' MM. Returns how many were listed.

    Also writes ``safe_move[m]`` (float64 ticks) for each instrument: a move of instrument ``m``'s mark by less
    than this, in either direction, with the book unchanged, cannot make any account liquidatable. A move of
    ``d`` ticks changes a position's equity by at most ``|size| * V * d`` and its MM by at most ``MMR_max`` times
    that (MM is continuous across tiers thanks to the maintenance amount), so the bound is an account's
    headroom ``equity - MM`` (less the float guard) over ``(1 + MMR_max) * sum |size| * V``. The engine
    skips the sweep while the mark stays within it (single-instrument accounts; with several instruments
    every position's headroom is charged to each instrument it holds, which stays conservative).
    """
    n = size.shape[0]
    na = acc_equity.shape[0]
    acc_mm_f = np.zeros(na, dtype=np.float64)
    acc_count = np.zeros(na, dtype=np.int64)
    acc_exposure = np.zeros(na, dtype=np.float64)
    n_inst = marks.shape[0]
    slope = np.zeros(n_inst, dtype=np.float64)
    for mi in range(n_inst):
        top = 0
        for j in range(n_tiers[mi]):
            top = max(top, mmr[mi, j])
        slope[mi] = 1.0 + top * 1e-6
        safe_move[mi] = np.inf
    for a in range(na):
        acc_equity[a] = wallet[a]
    count = 0
    for i in range(n):
        s = size[i]
        if s == 0:
            pos_equity[i] = collateral[i]
            pos_mm[i] = 0
            continue
        m = instrument[i]
        v = value_per_lot_tick[m]
        px = marks[m]
        notional = (s if s > 0 else -s) * px * v
        upnl = s * px * v - cost[i]
        j = tier_of(notional, m, floors, n_tiers[m])
        mm_f = notional * (mmr[m, j] * 1e-6) - cum[m, j]
        if isolated[i]:
            eq = collateral[i] + upnl
            pos_equity[i] = eq
            pos_mm[i] = int(mm_f)
            if exempt[account[i]]:
                continue
            guard = 2.0 + 1e-9 * abs(mm_f)
            room = (eq - mm_f - guard) / (slope[m] * (s if s > 0 else -s) * v)
            if room < safe_move[m]:
                safe_move[m] = max(room, 0.0)
            if eq < mm_f - guard:
                pos_mm[i] = mul_ppm_ceil(notional, mmr[m, j]) - cum[m, j]
                out[count] = i
                count += 1
            elif eq <= mm_f + guard:
                mm = mul_ppm_ceil(notional, mmr[m, j]) - cum[m, j]
                pos_mm[i] = mm
                if eq < mm:
                    out[count] = i
                    count += 1
        else:
            pos_equity[i] = upnl
            a = account[i]
            acc_equity[a] += upnl
            acc_mm_f[a] += mm_f
            acc_count[a] += 1
            acc_exposure[a] += slope[m] * (s if s > 0 else -s) * v
    # accounts: 0 safe, 1 liquidatable by the screen, 2 too close to call in floats
    status = np.zeros(na, dtype=np.int8)
    any_cross = False
    for a in range(na):
        if acc_count[a] == 0 or exempt[a]:
            acc_mm[a] = int(acc_mm_f[a])
            continue
        guard = acc_count[a] + 1.0 + 1e-9 * abs(acc_mm_f[a])
        room = max((acc_equity[a] - acc_mm_f[a] - guard) / acc_exposure[a], 0.0)
        for mi in range(n_inst):
            if room < safe_move[mi]:
                safe_move[mi] = room
        if acc_equity[a] < acc_mm_f[a] - guard:
            status[a] = 1
            acc_mm[a] = 0
            any_cross = True
        elif acc_equity[a] <= acc_mm_f[a] + guard:
            status[a] = 2
            acc_mm[a] = 0
            any_cross = True
        else:
            acc_mm[a] = int(acc_mm_f[a])
    if not any_cross:
        return count
    for i in range(n):
        s = size[i]
        if s == 0 or isolated[i] or status[account[i]] == 0:
            continue
        m = instrument[i]
        notional = (s if s > 0 else -s) * marks[m] * value_per_lot_tick[m]
        mm = maintenance_margin(notional, m, floors, mmr, cum, n_tiers[m])
        pos_mm[i] = mm
        acc_mm[account[i]] += mm
    for a in range(na):
        if status[a] == 2:
            status[a] = 1 if acc_equity[a] < acc_mm[a] else 0
    for i in range(n):
        if size[i] != 0 and not isolated[i] and status[account[i]] == 1:
            out[count] = i
            count += 1
    return count
