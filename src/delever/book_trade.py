"""Trade primitives shared by every stage that moves positions: a trade on one position with its realized PnL
(:func:`apply_trade`), a book fill's price rounded against the taker (:func:`book_fill_price`), one event row
(:func:`emit_event`) and a fill against the order book split among the liquidity providers (:func:`book_execute`).

Moved out of :mod:`delever.liquidation` (which re-exports them) so that the liquidation order kinds
(:mod:`delever.ioc_order`) can share them without an import cycle.
"""

from __future__ import annotations

import numpy as np
from numba import int64, njit, void

from .allocation import split_into_scratch
from .columns import EVENT_COLS_TYPE, KERNEL, BookCols
from .events import BOOK, LIQUIDATION_FILL, LP_FILL
from .liquidity import vwap

__all__ = ["EMIT_SIGNATURE", "apply_trade", "book_execute", "book_fill_price", "emit_event"]


@njit(**KERNEL)
def apply_trade(p: int, delta: int, price: int, book: BookCols, v: int) -> int:
    """Trade ``delta`` lots (> 0 buy) at ``price`` ticks on position ``p`` of ``book``; return the realized PnL
    (money), already credited to the position's isolated margin or its account's wallet.

    Increasing adds ``delta * price * V`` to the cost. Reducing by ``k`` lots releases the cost share
    ``ceil(cost * k / size)``, which rounds the realized PnL down (against the account); the rest of the cost
    stays with the position. A trade through zero closes, then opens the remainder at ``price``.
    ``balance - cost`` changes by exactly ``-delta * price * V`` in every case, which is what makes trades
    conserve money between the two sides.
    """
    if delta == 0:
        return 0
    size, cost = book.size, book.cost
    s = size[p]
    c = cost[p]
    if s == 0 or (s > 0) == (delta > 0):
        size[p] = s + delta
        cost[p] = c + delta * price * v
        return 0
    k = -delta if abs(delta) <= abs(s) else s  # lots closed, with the sign of the position
    if k == s:
        ck = c
    else:
        q = c // s  # split cost * k / size so that it cannot overflow int64
        r = c - q * s
        ck = q * k - ((-(r * k)) // s)
    realized = k * price * v - ck
    rest = delta + k
    size[p] = s - k + rest
    cost[p] = c - ck + rest * price * v
    if book.isolated[p]:
        book.collateral[p] += realized
    else:
        book.wallet[book.account[p]] += realized
    return realized


@njit(**KERNEL)
def book_fill_price(centre: float, net: float, delta: int, curve: tuple) -> int:
    """VWAP of an order of ``delta`` lots rounded to a tick against the taker (a sell down, a buy up), >= 1."""
    px = vwap(centre, net, float(delta), curve)
    t = np.floor(px) if delta < 0 else np.ceil(px)
    return max(int(t), 1)


EMIT_SIGNATURE = void(EVENT_COLS_TYPE, int64, int64, int64, int64, int64, int64, int64, int64)
"""The one signature :func:`emit_event` is compiled for: the event columns (:data:`delever.columns.EVENT_COLS_TYPE`)
and eight int64 values. Without it numba compiled one specialization per combination of literal constants at
the call sites (seven, about 0.5 s each on a first run; README "Scale and Monte Carlo", first run)."""


@njit(EMIT_SIGNATURE, **KERNEL)
def emit_event(events, kind, acc, cp, pos, sz, px, amount, ind) -> None:
    """Append one row to ``events`` (:class:`delever.columns.EventCols`; the caller ensures room): ``kind``,
    account ``acc``, counterparty ``cp``, position ``pos``, lots ``sz``, ticks ``px``, money ``amount``, ADL
    light ``ind``."""
    j = events.n[0]
    events.kind[j] = kind
    events.account[j] = acc
    events.counterparty[j] = cp
    events.position[j] = pos
    events.size[j] = sz
    events.price[j] = px
    events.amount[j] = amount
    events.indicator[j] = ind
    events.n[0] = j + 1


@njit(**KERNEL)
def book_execute(p, delta, price, book, depth, events, v, kind=LIQUIDATION_FILL) -> None:
    """Position ``p`` trades ``delta`` lots at ``price`` ticks against the order book ``depth``
    (:class:`delever.columns.LiquidityCols`): the liquidity-provider positions take ``-delta``, split pro rata to
    their weights by the one largest-remainder split (:func:`delever.allocation.split_into`: ties to the lower
    index), and the book's absorbed quantity ``depth.net[0]`` moves by ``delta``. One ``kind`` row
    for ``p`` and one ``LP_FILL`` row per provider that trades."""
    realized = apply_trade(p, delta, price, book, v)
    depth.net[0] += delta
    emit_event(events, kind, book.account[p], BOOK, p, delta, price, realized, 0)
    sign = -1 if delta > 0 else 1
    split_into_scratch(abs(delta), depth.lp_weight, depth.lp_share, depth.lp_rem)
    for j in range(depth.lp_pos.shape[0]):
        lots = depth.lp_share[j]
        if lots == 0:
            continue
        q = depth.lp_pos[j]
        r = apply_trade(q, sign * lots, price, book, v)
        emit_event(events, LP_FILL, book.account[q], book.account[p], q, sign * lots, price, r, 0)
