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

The small helpers are plain compiled functions, not ``inline="always"``: numba's IR inlining types and lowers
the callee again at every call site, which made the first run's compilation about a third longer, while LLVM
inlines them in the linked module anyway (the peer benchmarks measured no difference; README "Scale and Monte
Carlo", first run).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .columns import KERNEL
from .intops import mul_div_floor, mul_ppm_ceil  # noqa: F401 (kernels import them from here)
from .margin import (
    cross_backing_compiled,
    margin_at_tier_compiled,
    maintenance_margin_compiled,
    tier_index_compiled,
)

# the shared formulas, under the names the kernels here and in liquidation.py call them by
tier_of = tier_index_compiled
maintenance_margin = maintenance_margin_compiled
cross_backing = cross_backing_compiled


@njit(**KERNEL)
def account_cross_sums(a, book, val, with_mm):
    """``(uPnL, MM, open positions)`` summed over account ``a``'s open cross positions at the marks (money,
    money, count); the MM only when ``with_mm`` (0 otherwise). ``book`` a :class:`delever.columns.BookCols`,
    ``val`` a :class:`delever.columns.AccountValuation` (marks, values per lot-tick and tier tables)."""
    u = 0
    mm = 0
    n_open = 0
    for j in range(book.acc_start[a], book.acc_start[a + 1]):
        q = book.acc_positions[j]
        s = book.size[q]
        if s == 0 or book.isolated[q]:
            continue
        m = book.instrument[q]
        value = s * val.marks[m] * val.vpls[m]
        u += value - book.cost[q]
        n_open += 1
        if with_mm:
            mm += maintenance_margin(value if value > 0 else -value, m, val.floors, val.mmr, val.cum, val.n_tiers[m])
    return u, mm, n_open


@njit(cache=True, nogil=True)
def margin_sweep(book, val, sw, out) -> int:
    """Mark the whole book to market and list the liquidatable positions.

    ``book`` a :class:`delever.columns.BookCols` (read: ``size, cost, collateral, isolated, account, instrument``
    per position, ``wallet, exempt`` per account; exempt accounts, the liquidity providers, are never listed);
    ``val`` a :class:`delever.columns.AccountValuation` (marks, money per lot-tick and tier tables of the M
    instruments); ``sw`` a :class:`delever.columns.SweepCols` (written); ``out`` int (n,) the list.

    Writes, exactly: ``sw.pos_equity`` (n,) (isolated: margin + uPnL; cross: the position's uPnL) and
    ``sw.acc_equity`` (a,) (cross wallet + cross uPnL) for every row; ``sw.pos_mm`` for listed positions and
    ``sw.acc_mm`` for accounts with a listed cross position (elsewhere a float estimate, rounded). Lists into
    ``out`` an isolated position when its margin + uPnL < its MM, and every non-flat cross position of an
    account whose cross equity < the sum of its positions' MM. Returns how many were listed.
    """
    size, cost, collateral, isolated = book.size, book.cost, book.collateral, book.isolated
    account, instrument, wallet, exempt = book.account, book.instrument, book.wallet, book.exempt
    marks, value_per_lot_tick, floors, mmr, cum, n_tiers = (
        val.marks,
        val.vpls,
        val.floors,
        val.mmr,
        val.cum,
        val.n_tiers,
    )
    pos_equity, pos_mm, acc_equity, acc_mm = sw.pos_equity, sw.pos_mm, sw.acc_equity, sw.acc_mm
    n = size.shape[0]
    na = acc_equity.shape[0]
    # scratch of this call (allocated here, so a run holds it only while it sweeps: issue #17's memory per
    # position); the bundles' fields are read once above, so reference counting costs nothing per row
    acc_mm_f = np.zeros(na, dtype=np.float64)
    acc_count = np.zeros(na, dtype=np.int64)
    status = np.zeros(na, dtype=np.int64)
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
            if eq < mm_f - guard:
                pos_mm[i] = margin_at_tier_compiled(notional, mmr[m, j], cum[m, j])
                out[count] = i
                count += 1
            elif eq <= mm_f + guard:
                mm = margin_at_tier_compiled(notional, mmr[m, j], cum[m, j])
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
    # accounts: 0 safe, 1 liquidatable by the screen, 2 too close to call in floats
    any_cross = False
    for a in range(na):
        if acc_count[a] == 0 or exempt[a]:
            acc_mm[a] = int(acc_mm_f[a])
            continue
        guard = acc_count[a] + 1.0 + 1e-9 * abs(acc_mm_f[a])
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
            if acc_equity[a] < acc_mm[a]:
                status[a] = 1
            else:
                status[a] = 0
    for i in range(n):
        if size[i] != 0 and not isolated[i] and status[account[i]] == 1:
            out[count] = i
            count += 1
    return count


# ---------------------------------------------------------------------------------------------------------
# Trigger prices: the fast path for books whose cross accounts hold one position each
# ---------------------------------------------------------------------------------------------------------

NEVER_SHORT = np.iinfo(np.int64).max
"""Trigger of a short that no representable price liquidates."""
NEVER_LONG = -1
"""Trigger of a long that no positive price liquidates (and of liquidity-provider positions)."""
_LIMIT = 2**62


@njit(**KERNEL)
def _excess(p: int, s: int, c: int, b: int, v: int, m: int, floors, mmr, cum, k: int) -> int:
    """``equity - MM`` (money) of a position at ``p`` ticks: ``b + s*p*V - c - MM(|s|*p*V)``."""
    notional = (s if s > 0 else -s) * p * v
    return b + s * p * v - c - maintenance_margin(notional, m, floors, mmr, cum, k)


@njit(**KERNEL)
def trigger_price(s: int, c: int, b: int, v: int, m: int, floors, mmr, cum, k: int) -> int:
    """Exact trigger price (ticks) of a single position backed by collateral ``b`` (money).

    A long is liquidatable at mark ``P`` iff ``P <= trigger`` (the highest price with equity < MM); a short
    iff ``P >= trigger`` (the lowest such price). ``equity - MM`` is strictly monotone in ``P`` when
    ``V * (1 - MMR_max) > 1`` (checked by the engine), so the comparison is exact: the trigger is found by a
    float estimate per tier (the root of ``b + P*V*(s - |s| MMR) - c + cum = 0``), then bracketed and
    bisected on the exact integer ``equity - MM``.
    """
    if s == 0:
        return NEVER_LONG
    a = s if s > 0 else -s
    pmax = _LIMIT // (a * v)
    lowest = np.int64(1)  # the lowest price (ticks), typed int64: a literal 1 made numba compile _excess twice
    est = -1.0
    for j in range(k):
        rate = mmr[m, j] * 1e-6
        den = v * (s - a * rate)
        if den == 0.0:
            continue
        p = (c - b - cum[m, j]) / den
        n = a * p * v
        if p > 0 and n >= floors[m, j] and (j == k - 1 or n < floors[m, j + 1]):
            est = p
            break
    if s > 0:
        # largest P with excess(P) < 0; excess increases with P
        if _excess(lowest, s, c, b, v, m, floors, mmr, cum, k) >= 0:
            return NEVER_LONG
        lo = 1
        hi = pmax
        if est > 0:
            guess = min(max(int(est), 1), pmax)
            step = 2
            lo2 = max(guess - step, 1)
            while lo2 > 1 and _excess(lo2, s, c, b, v, m, floors, mmr, cum, k) >= 0:
                step *= 4
                lo2 = max(guess - step, 1)
            hi2 = min(guess + 2, pmax)
            step = 2
            while hi2 < pmax and _excess(hi2, s, c, b, v, m, floors, mmr, cum, k) < 0:
                step *= 4
                hi2 = min(guess + step, pmax)
            lo, hi = lo2, hi2
        if _excess(hi, s, c, b, v, m, floors, mmr, cum, k) < 0:
            return hi
        while hi - lo > 1:  # invariant: excess(lo) < 0 <= excess(hi)
            mid = (lo + hi) // 2
            if _excess(mid, s, c, b, v, m, floors, mmr, cum, k) < 0:
                lo = mid
            else:
                hi = mid
        return lo
    # short: smallest P with excess(P) < 0; excess decreases with P
    if _excess(lowest, s, c, b, v, m, floors, mmr, cum, k) < 0:
        return 1
    if est < 0 or est >= pmax:
        if _excess(pmax, s, c, b, v, m, floors, mmr, cum, k) >= 0:
            return NEVER_SHORT
        est = pmax / 2.0
    lo = 1
    hi = pmax
    guess = min(max(int(est), 1), pmax)
    step = 2
    lo2 = max(guess - step, 1)
    while lo2 > 1 and _excess(lo2, s, c, b, v, m, floors, mmr, cum, k) < 0:
        step *= 4
        lo2 = max(guess - step, 1)
    hi2 = min(guess + 2, pmax)
    step = 2
    while hi2 < pmax and _excess(hi2, s, c, b, v, m, floors, mmr, cum, k) >= 0:
        step *= 4
        hi2 = min(guess + step, pmax)
    lo, hi = lo2, hi2
    if _excess(hi, s, c, b, v, m, floors, mmr, cum, k) >= 0:
        return NEVER_SHORT
    while hi - lo > 1:  # invariant: excess(lo) >= 0 > excess(hi)
        mid = (lo + hi) // 2
        if _excess(mid, s, c, b, v, m, floors, mmr, cum, k) >= 0:
            lo = mid
        else:
            hi = mid
    return hi


@njit(**KERNEL)
def update_triggers(idx, book, val, trigger) -> None:
    """Recompute ``trigger[i]`` (int64 (n,), ticks; :func:`trigger_price`) for the positions ``idx`` (after a change
    to them or their account) of ``book`` (:class:`delever.columns.BookCols`: the position's size, cost and
    margin, or its account's wallet; exempt accounts never trigger) at the tier tables of ``val``
    (:class:`delever.columns.AccountValuation`; its marks are not read)."""
    size, account, exempt = book.size, book.account, book.exempt
    for t in range(idx.shape[0]):
        i = idx[t]
        s = size[i]
        if s == 0 or exempt[account[i]]:
            trigger[i] = NEVER_LONG if s >= 0 else NEVER_SHORT
            continue
        m = book.instrument[i]
        b = book.collateral[i] if book.isolated[i] else book.wallet[account[i]]
        trigger[i] = trigger_price(s, book.cost[i], b, val.vpls[m], m, val.floors, val.mmr, val.cum, val.n_tiers[m])


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


@njit(**KERNEL)
def position_health(order, book, val, equity_out, mm_out) -> None:
    """Exact equity and MM (money, into ``equity_out``/``mm_out`` int64 (len(order),)) of the single-position
    accounts' positions ``order`` of ``book`` (:class:`delever.columns.BookCols`) at the marks of ``val``
    (:class:`delever.columns.AccountValuation`), for ordering: the position's isolated margin or its account's
    wallet, plus its uPnL; its own MM."""
    for t in range(order.shape[0]):
        i = order[t]
        s = book.size[i]
        m = book.instrument[i]
        v = val.vpls[m]
        px = val.marks[m]
        b = book.collateral[i] if book.isolated[i] else book.wallet[book.account[i]]
        equity_out[t] = b + s * px * v - book.cost[i]
        mm_out[t] = maintenance_margin((s if s > 0 else -s) * px * v, m, val.floors, val.mmr, val.cum, val.n_tiers[m])


@njit(**KERNEL)
def single_position_sweep(book, val, out) -> int:
    """The full mark-to-market sweep for a one-instrument book whose accounts hold one position each (the
    engine's generated books): exactly :func:`margin_sweep`'s liquidatable set (tested), with nothing written
    but the list, so it reads only what it must of ``book`` (a :class:`delever.columns.BookCols`): size, cost,
    collateral, isolated and account of every position with its account's wallet, and the exempt flag only for
    positions within the float guard of their requirement. ``val`` a
    :class:`delever.columns.AccountValuation` of the one instrument (its mark, money per lot-tick and tier
    table, row 0). Returns how many positions were written to ``out``.
    """
    size, cost, collateral, isolated = book.size, book.cost, book.collateral, book.isolated
    account, wallet, exempt = book.account, book.wallet, book.exempt
    mark, v, k = val.marks[0], val.vpls[0], val.n_tiers[0]
    floors, mmr, cum = val.floors[0], val.mmr[0], val.cum[0]
    count = 0
    first_cap = floors[1] if k > 1 else np.iinfo(np.int64).max
    first_rate = mmr[0] * 1e-6
    for i in range(size.shape[0]):
        s = size[i]
        a = account[i]
        notional = (s if s > 0 else -s) * mark * v
        # the account's wallet is loaded for every row, isolated or not: loaded only for cross rows it becomes a
        # branch that mispredicts on a book of mixed margin modes (1.7x slower on a generated 30%-isolated book)
        eq = (collateral[i] if isolated[i] else wallet[a]) + s * mark * v - cost[i]
        if notional < first_cap:  # most positions sit in the first tier (its maintenance amount is 0)
            j = 0
            mm_f = notional * first_rate
        else:
            j = 1
            while j + 1 < k and notional >= floors[j + 1]:
                j += 1
            mm_f = notional * (mmr[j] * 1e-6) - cum[j]
        # one comparison settles almost every position: clearly above its requirement (float guard as in
        # margin_sweep); the rest, flat and exempt rows aside, are decided exactly in integers
        if eq > mm_f + 2.0 + 1e-9 * mm_f:
            continue
        if s == 0 or exempt[a]:
            continue
        if eq < margin_at_tier_compiled(notional, mmr[j], cum[j]):
            out[count] = i
            count += 1
    return count


@njit(**KERNEL)
def account_health(order, book, val, equity_out, mm_out, own_mm_out) -> None:
    """Exact account-level margin of positions ``order`` as the book stands now (issue #11), money, into
    ``equity_out``/``mm_out``/``own_mm_out`` (len(order),): an isolated position's margin plus its uPnL and its own
    MM; a cross position's account equity (the cross wallet plus the uPnL of every open cross position of the
    account, each at its instrument's mark) and the sum of those positions' MM (:func:`account_cross_sums`, as
    :func:`margin_sweep` decides). ``own_mm_out`` the position's own MM. ``book`` a
    :class:`delever.columns.BookCols`, ``val`` a :class:`delever.columns.AccountValuation`."""
    for t in range(order.shape[0]):
        i = order[t]
        s = book.size[i]
        m = book.instrument[i]
        value = s * val.marks[m] * val.vpls[m]
        own = maintenance_margin(value if value > 0 else -value, m, val.floors, val.mmr, val.cum, val.n_tiers[m])
        own_mm_out[t] = own
        if book.isolated[i]:
            equity_out[t] = book.collateral[i] + value - book.cost[i]
            mm_out[t] = own
        else:
            a = book.account[i]
            u, mm, _ = account_cross_sums(a, book, val, True)
            equity_out[t] = book.wallet[a] + u
            mm_out[t] = mm
