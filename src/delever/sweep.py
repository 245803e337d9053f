"""The compiled full-book margin sweep: one pass over the columnar book at the mark prices.

Same decisions as the reference :mod:`delever.margin` (tested equal on random books), exact in int64:

- equity and unrealized PnL are exact integer products (no division);
- the maintenance margin ``ceil(notional * MMR) - cum`` needs a division, which costs more than the rest of
  the sweep together, so the sweep first screens with a float64 estimate and decides exactly (integers)
  only the accounts whose equity lies within a guard band of the estimate (the float error is below 1e-3
  money units; the guard is the account's position count, which bounds the per-position ceil, plus a
  relative 1e-9). Liquidatable accounts get their exact MM too (the engine orders them by ``equity / MM``).

Tier tables are 2-D arrays padded per instrument; a notional's tier is found by a linear scan (tables have
at most a few dozen brackets, and most positions sit in the first). Under a margin rule other than the default
(size tiers, a size-linear rate, MM on entry value: :mod:`delever.requirement`) the screen's estimate is the exact
requirement itself. The trigger-price kernels are in :mod:`delever.trigger_price` (names re-exported here).

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
from .requirement import position_requirement
from .trigger_price import NEVER_LONG, NEVER_SHORT, trigger_price, trigger_sweep, update_triggers  # noqa: F401

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
            mm += position_requirement(s, book.cost[q], val.marks[m], val.vpls[m], False, m, val)
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
        if val.general:  # another margin rule (delever.requirement): the exact requirement is the estimate
            mm_f = float(position_requirement(s, cost[i], px, v, isolated[i], m, val))
        else:
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
                pos_mm[i] = position_requirement(s, cost[i], px, v, True, m, val)
                out[count] = i
                count += 1
            elif eq <= mm_f + guard:
                mm = position_requirement(s, cost[i], px, v, True, m, val)
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
        mm = position_requirement(s, cost[i], marks[m], value_per_lot_tick[m], False, m, val)
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
        mm_out[t] = position_requirement(s, book.cost[i], px, v, book.isolated[i], m, val)


@njit(**KERNEL)
def single_position_sweep(book, val, out) -> int:
    """The full mark-to-market sweep for a one-instrument book whose accounts hold one position each (the
    engine's generated books) under the default margin rule (notional tiers at the mark): exactly
    :func:`margin_sweep`'s liquidatable set (tested), with nothing written but the list, so it reads only what it
    must of ``book`` (a :class:`delever.columns.BookCols`): size, cost, collateral, isolated and account of every
    position with its account's wallet, and the exempt flag only for positions within the float guard of their
    requirement. ``val`` a :class:`delever.columns.AccountValuation` of the one instrument (its mark, money per lot-
    tick and tier table, row 0). Returns how many positions were written to ``out``.
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
        own = position_requirement(s, book.cost[i], val.marks[m], val.vpls[m], book.isolated[i], m, val)
        own_mm_out[t] = own
        if book.isolated[i]:
            equity_out[t] = book.collateral[i] + value - book.cost[i]
            mm_out[t] = own
        else:
            a = book.account[i]
            u, mm, _ = account_cross_sums(a, book, val, True)
            equity_out[t] = book.wallet[a] + u
            mm_out[t] = mm
