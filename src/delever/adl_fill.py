"""ADL fills: closing a bankrupt position against the counterparties of an ADL queue at one price, each capped by
the counterparty check (dYdX v4's non-overlapping bankruptcy check, ../shared/specs/engines.md section 1).

Moved out of :mod:`delever.liquidation` (which re-exports the names) so that both liquidation order kinds (the
market order of :func:`delever.liquidation.liquidate` and the fillable-price IOC of :mod:`delever.ioc_order`)
share them.
"""

from __future__ import annotations

from numba import njit

from .book_trade import apply_trade, emit_event
from .columns import KERNEL
from .events import ADL_COUNTERPARTY_FILL, ADL_FILL

__all__ = ["adl_fills", "margin_equity", "usable_queue_lots", "winner_capacity"]


@njit(**KERNEL)
def margin_equity(p, book, val) -> int:
    """Equity (money) of position ``p``'s margin at the marks of ``val`` (:class:`delever.columns.AccountValuation`):
    its isolated margin plus uPnL, or its account's wallet plus the uPnL of every cross position of the account."""
    m = book.instrument[p]
    if book.isolated[p]:
        return book.collateral[p] + book.size[p] * val.marks[m] * val.vpls[m] - book.cost[p]
    a = book.account[p]
    eq = book.wallet[a]
    for j in range(book.acc_start[a], book.acc_start[a + 1]):
        x = book.acc_positions[j]
        if book.size[x] != 0 and not book.isolated[x]:
            mx = book.instrument[x]
            eq += book.size[x] * val.marks[mx] * val.vpls[mx] - book.cost[x]
    return eq


@njit(**KERNEL)
def winner_capacity(p2, sg, price, book, val, v) -> int:
    """Lots ADL counterparty ``p2`` can give at ``price`` against a bankrupt position of sign ``sg`` while its
    margin's equity at the mark stays >= 0 (dYdX v4's non-overlapping bankruptcy check, engines.md section
    1; as :func:`delever.settlement.final_settlement`): each lot closed at ``price`` instead of the mark
    costs it ``sg * (price - mark) * V``. Its whole position when that is not a cost."""
    s2 = book.size[p2]
    lots = s2 if s2 > 0 else -s2
    gap = sg * (price - val.marks[book.instrument[p2]]) * v
    if gap <= 0:
        return lots
    eq = margin_equity(p2, book, val)
    if eq <= 0:
        return 0
    return min(lots, eq // gap)


@njit(cache=True, nogil=True, inline="always")
def usable_queue_lots(side, sg, need, price, queue, book, val, v) -> int:
    """Lots the queued counterparties of ``queue`` (:class:`delever.columns.QueueCols`) from
    ``queue.pointer[side]`` on can give at ``price`` (each capped by :func:`winner_capacity`), counted until
    ``need`` is reached."""
    total = 0
    e = queue.pointer[side]
    while e < queue.length[side] and total < need:
        p2 = queue.queue[side, e]
        s2 = book.size[p2]
        if s2 != 0 and (s2 > 0) != (sg > 0) and queue.take[side, e] > 0:
            give = winner_capacity(p2, sg, price, book, val, v)
            total += min(abs(s2), queue.take[side, e], give)
        e += 1
    return total


@njit(cache=True, nogil=True, inline="always")
def adl_fills(p, sg, lots, price, side, book, val, queue, events, v):
    """Close up to ``lots`` of bankrupt position ``p`` (sign ``sg``) against the counterparties of ``queue``'s
    ``side`` in queue order at ``price`` ticks, across as many as needed, partially for the last; each gives
    at most what :func:`winner_capacity` allows (the counterparty check). Returns ``(lots left, notional
    closed)`` (lots, money). An ADL'd isolated winner closed flat gets its margin back in its wallet.

    Entries used up (flat, or their allowance taken) leave the queue; a counterparty capped by the
    non-overlapping check at this price stays in it for a later bankrupt position at another price."""
    a = book.account[p]
    rem = lots
    notional = 0
    e = queue.pointer[side]
    while rem > 0 and e < queue.length[side]:
        p2 = queue.queue[side, e]
        s2 = book.size[p2]
        if s2 == 0 or (s2 > 0) == (sg > 0) or queue.take[side, e] <= 0:
            if e == queue.pointer[side]:
                queue.pointer[side] += 1
            e += 1
            continue
        give = winner_capacity(p2, sg, price, book, val, v)
        x = min(abs(s2), rem, queue.take[side, e], give)
        if x <= 0:  # giving a lot at BP would leave its account below zero (non-overlapping check)
            e += 1
            continue
        queue.take[side, e] -= x
        r1 = apply_trade(p, -sg * x, price, book, v)
        r2 = apply_trade(p2, sg * x, price, book, v)
        if book.isolated[p2] and book.size[p2] == 0 and book.collateral[p2] >= 0:
            book.wallet[book.account[p2]] += book.collateral[p2]  # an ADL'd isolated winner closed flat: margin home
            book.collateral[p2] = 0
        ind = queue.indicator[side, e]
        a2 = book.account[p2]
        emit_event(events, ADL_FILL, a, a2, p, -sg * x, price, r1, ind)
        emit_event(events, ADL_COUNTERPARTY_FILL, a2, a, p2, sg * x, price, r2, ind)
        queue.available[side] -= x
        rem -= x
        notional += x * price * v
        if book.size[p2] == 0 or queue.take[side, e] == 0:
            if e == queue.pointer[side]:
                queue.pointer[side] += 1
            e += 1
        elif x == give:
            e += 1
    return rem, notional
