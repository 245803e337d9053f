"""The Python driver of the liquidation stage (:func:`run_stage`): runs the resumable kernel
:func:`delever.liquidation.liquidate` over an order to the end, extending the ADL queue, growing the event buffer
and splitting an order that holds several positions of one account into consecutive parts
(:func:`one_per_account`), so each part sees the account as the previous one left it.
"""

from __future__ import annotations

import numpy as np

from .adl.trigger import default_control
from .columns import AccountValuation, AdlControl, BookCols, EventCols, LiquidityCols, QueueCols
from .ioc_order import LiquidationOrder
from .liquidation import liquidate
from .stage_status import DONE, NEED_ALLOC_LONGS, NEED_ALLOC_SHORTS, NEED_EVENTS, NEED_QUEUE_LONGS

__all__ = ["one_per_account", "run_stage"]


def one_per_account(order: np.ndarray, account: np.ndarray, single: bool = False) -> list[slice]:
    """Consecutive slices of ``order`` in which no account appears twice (the whole order when no account
    does: the usual case), so that each kernel call values an account with its other positions as they are.
    ``single``: every account holds at most one position (nothing to check)."""
    acc = account[order]
    if single or np.unique(acc).size == acc.size:
        return [slice(0, order.shape[0])]
    cuts, seen, lo = [], set(), 0
    for i, a in enumerate(acc.tolist()):
        if a in seen:
            cuts.append(slice(lo, i))
            lo, seen = i, set()
        seen.add(a)
    cuts.append(slice(lo, order.shape[0]))
    return cuts


def run_stage(
    order,
    book,
    v,
    fee_ppm,
    centre,
    book_state,
    curve,
    lp_pos,
    lp_weight,
    fund,
    queue,
    buf,
    partial,
    adl_on,
    valuation: AccountValuation,
    adl_ctl=None,
    fill_px=None,
    order_rule=None,
) -> None:
    """Drive :func:`liquidate` over ``order`` to the end: extend the ADL queue (queue policies), prepare an
    allocation (allocation policies) or grow the event buffer each time the kernel asks, and resume.

    ``book`` is a :class:`delever.book.Book` (mutated), ``queue`` an :class:`delever.adl.queue.AdlQueue`,
    ``buf`` an :class:`delever.events.EventBuffer` (rows appended), ``fund`` the instrument's one-element
    insurance-fund array, ``valuation`` the marks and tiers of every instrument (:class:`AccountValuation`);
    ``v`` money per lot-tick, ``fee_ppm`` the liquidation fee rate, ``centre`` the book centre (ticks),
    ``book_state`` float64 (1,) the lots the book has absorbed (mutated), ``curve`` from
    :meth:`delever.liquidity.DepthCurve.arrays`, ``lp_pos``/``lp_weight`` the liquidity providers' positions and
    shares, ``partial`` int64 lots per order entry (:func:`liquidate`), ``adl_on`` 0 to send everything to the
    book. An order with several positions of one account runs in consecutive parts (:func:`one_per_account`).
    ``adl_ctl``/``fill_px``: the ADL trigger and fill rule (:meth:`delever.adl.trigger.AdlTriggerState.control`;
    default: the fund cannot pay, fill at the bankruptcy price). ``order_rule``: a
    :class:`delever.ioc_order.LiquidationOrder` (default: market orders).
    """
    if adl_ctl is None:
        adl_ctl = default_control()
    if fill_px is None:
        fill_px = np.array([-1], dtype=np.int64)
    if order_rule is None:
        order_rule = LiquidationOrder(False)
    cols = BookCols.of(book)
    depth = LiquidityCols.make(centre, book_state, curve, lp_pos, lp_weight)
    adl = AdlControl(int(adl_on), adl_ctl, fill_px)
    valuation = valuation._replace(backing_rule=int(valuation.backing_rule))
    single = book.one_position_per_account()
    for part in one_per_account(order, book.account, single):
        queue.prepared_for[:] = -1
        ioc = order_rule.columns(order[part], cols, valuation, v, book.n_accounts)
        _run_part(order[part], cols, depth, fund, queue, buf, partial[part], adl, ioc, valuation, v, fee_ppm)


def _run_part(order, cols, depth, fund, queue, buf, partial, adl, ioc, valuation, v, fee_ppm) -> None:
    n_lp = depth.lp_pos.shape[0]
    start = 0
    buf.ensure(2 * order.shape[0] + 16)  # every order writes at least two rows: grow once, not by doubling
    while True:
        events = EventCols.of(buf)
        status, start = liquidate(
            order, start, partial, cols, valuation, depth, fund, QueueCols.of(queue), events, adl, ioc, v, fee_ppm
        )
        buf.n = events.rows()
        if status == DONE:
            return
        if status == NEED_EVENTS:
            buf.ensure(buf.capacity + 4 * n_lp + 64)
        elif status in (NEED_ALLOC_LONGS, NEED_ALLOC_SHORTS):
            side = 0 if status == NEED_ALLOC_LONGS else 1
            queue.prepare(side, start)
            buf.ensure(2 * int(queue.length[side]) + 4 * n_lp + 16)
        else:
            side = 0 if status == NEED_QUEUE_LONGS else 1
            queue.extend(side)
            buf.ensure(2 * int(queue.length[side] - queue.pointer[side]) + 4 * n_lp + 16)
