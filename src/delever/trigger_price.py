"""Trigger prices: the fast path for books whose cross accounts hold one position each.

A position's trigger is the price at which its equity first falls below its maintenance requirement; the engine
keeps the triggers sorted (:mod:`delever.trigger_index`) so a step reads only the positions the mark reached
(:class:`delever.engine.Simulation`). The requirement is the scenario's (:mod:`delever.requirement`): the tier of
the notional at the price (the default), of the size, an MM on the entry value, a size-linear rate; the fee rate
added to the MMR is in the tier table. Each keeps ``equity - MM`` monotone in the price where
:func:`delever.engine.invariants.trigger_mode` lets the run use triggers, so the bisection on the exact integer
``equity - MM`` finds the same set the full sweep (:func:`delever.sweep.margin_sweep`) lists (tested for every
rule).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .columns import KERNEL
from .margin import tier_requirement_compiled
from .requirement import ENTRY_CROSS, ENTRY_ISOLATED

NEVER_SHORT = np.iinfo(np.int64).max
"""Trigger of a short that no representable price liquidates."""
NEVER_LONG = -1
"""Trigger of a long that no positive price liquidates (and of liquidity-provider positions)."""
_LIMIT = 2**62


@njit(**KERNEL)
def _excess(
    p: int, s: int, c: int, b: int, v: int, m: int, floors, mmr, cum, k: int, basis: int, rate: int, entry: bool
) -> int:  # fmt: skip
    """``equity - MM`` (money) of a position at ``p`` ticks: ``b + s*p*V - c - MM``, the MM of ``|s|*p*V`` (or of
    the entry value ``|c|`` when ``entry``) on the tier basis ``basis`` with the size rate ``rate``
    (:func:`delever.margin.tier_requirement_compiled`)."""
    lots = s if s > 0 else -s
    value = (c if c > 0 else -c) if entry else lots * p * v
    return b + s * p * v - c - tier_requirement_compiled(value, lots, floors[m], mmr[m], cum[m], k, basis, rate)


@njit(**KERNEL)
def trigger_price(
    s: int, c: int, b: int, v: int, m: int, floors, mmr, cum, k: int, basis: int = 0, rate: int = 0, entry: bool = False
) -> int:  # fmt: skip
    """Exact trigger price (ticks) of a single position backed by collateral ``b`` (money), on instrument ``m``'s
    row of the (M, k) tier tables; ``basis``, ``rate``, ``entry`` the margin rule (:func:`_excess`; defaults: the
    notional tiers at the price).

    A long is liquidatable at mark ``P`` iff ``P <= trigger`` (the highest price with equity < MM); a short
    iff ``P >= trigger`` (the lowest such price). ``equity - MM`` is strictly monotone in ``P`` when
    ``V * (1 - MMR_max) > 1`` (checked by the engine), so the comparison is exact: the trigger is found by a
    float estimate per tier (the root of ``b + P*V*(s - |s| MMR) - c + cum = 0``), then bracketed and
    bisected on the exact integer ``equity - MM``. Under another rule the float estimate is skipped and the
    bisection spans every price (62 halvings at most).
    """
    if s == 0:
        return NEVER_LONG
    a = s if s > 0 else -s
    pmax = _LIMIT // (a * v)
    lowest = np.int64(1)  # the lowest price (ticks), typed int64: a literal 1 made numba compile _excess twice
    est = -1.0
    for j in range(k if basis == 0 and rate == 0 and not entry else 0):
        r_j = mmr[m, j] * 1e-6
        den = v * (s - a * r_j)
        if den == 0.0:
            continue
        p = (c - b - cum[m, j]) / den
        n = a * p * v
        if p > 0 and n >= floors[m, j] and (j == k - 1 or n < floors[m, j + 1]):
            est = p
            break
    if s > 0:
        # largest P with excess(P) < 0; excess increases with P
        if _excess(lowest, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
            return NEVER_LONG
        lo = 1
        hi = pmax
        if est > 0:
            guess = min(max(int(est), 1), pmax)
            step = 2
            lo2 = max(guess - step, 1)
            while lo2 > 1 and _excess(lo2, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
                step *= 4
                lo2 = max(guess - step, 1)
            hi2 = min(guess + 2, pmax)
            step = 2
            while hi2 < pmax and _excess(hi2, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) < 0:
                step *= 4
                hi2 = min(guess + step, pmax)
            lo, hi = lo2, hi2
        if _excess(hi, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) < 0:
            return hi
        while hi - lo > 1:  # invariant: excess(lo) < 0 <= excess(hi)
            mid = (lo + hi) // 2
            if _excess(mid, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) < 0:
                lo = mid
            else:
                hi = mid
        return lo
    # short: smallest P with excess(P) < 0; excess decreases with P
    if _excess(lowest, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) < 0:
        return 1
    if est < 0 or est >= pmax:
        if _excess(pmax, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
            return NEVER_SHORT
        est = pmax / 2.0
    lo = 1
    hi = pmax
    guess = min(max(int(est), 1), pmax)
    step = 2
    lo2 = max(guess - step, 1)
    while lo2 > 1 and _excess(lo2, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) < 0:
        step *= 4
        lo2 = max(guess - step, 1)
    hi2 = min(guess + 2, pmax)
    step = 2
    while hi2 < pmax and _excess(hi2, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
        step *= 4
        hi2 = min(guess + step, pmax)
    lo, hi = lo2, hi2
    if _excess(hi, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
        return NEVER_SHORT
    while hi - lo > 1:  # invariant: excess(lo) >= 0 > excess(hi)
        mid = (lo + hi) // 2
        if _excess(mid, s, c, b, v, m, floors, mmr, cum, k, basis, rate, entry) >= 0:
            lo = mid
        else:
            hi = mid
    return hi


@njit(**KERNEL)
def update_triggers(idx, book, val, trigger) -> None:
    """Recompute ``trigger[i]`` (int64 (n,), ticks; :func:`trigger_price`) for the positions ``idx`` (after a change
    to them or their account) of ``book`` (:class:`delever.columns.BookCols`: the position's size, cost and
    margin, or its account's wallet; exempt accounts never trigger) at the tier tables and margin rule of ``val``
    (:class:`delever.columns.AccountValuation`; its marks are not read)."""
    size, account, exempt = book.size, book.account, book.exempt
    for t in range(idx.shape[0]):
        i = idx[t]
        s = size[i]
        if s == 0 or exempt[account[i]]:
            trigger[i] = NEVER_LONG if s >= 0 else NEVER_SHORT
            continue
        m = book.instrument[i]
        iso = book.isolated[i]
        b = book.collateral[i] if iso else book.wallet[account[i]]
        basis = val.tier_basis[m] if val.general else 0
        rate = val.rate_per_lot[m] if val.general else 0
        entry = (val.mm_entry & (ENTRY_ISOLATED if iso else ENTRY_CROSS)) != 0
        trigger[i] = trigger_price(s, book.cost[i], b, val.vpls[m], m, val.floors, val.mmr, val.cum, val.n_tiers[m],
                                   basis, rate, entry)  # fmt: skip


@njit(**KERNEL)
def trigger_sweep(book, trigger, val, out) -> int:
    """List positions of ``book`` (:class:`delever.columns.BookCols`; sizes and instruments read) whose
    ``trigger`` (int64 (n,), ticks) the marks of ``val`` (:class:`delever.columns.AccountValuation`) have
    reached (long: mark <= trigger; short: mark >= trigger).

    Exactly the set :func:`margin_sweep` lists when every cross account holds one position (tested); one
    comparison per position, no arithmetic on money. Returns how many were written to ``out``.
    """
    size, instrument, marks = book.size, book.instrument, val.marks
    count = 0
    for i in range(size.shape[0]):
        s = size[i]
        px = marks[instrument[i]]
        if (s > 0 and px <= trigger[i]) or (s < 0 and px >= trigger[i]):
            out[count] = i
            count += 1
    return count
