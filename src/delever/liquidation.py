"""The liquidation stage: close liquidatable positions against the book, settle against the bankruptcy
price through the insurance fund, and auto-deleverage what the fund cannot cover.

For each liquidatable position, in the order given (most under water first, see :mod:`delever.engine`):

1. Its bankruptcy price ``BP`` (:func:`delever.margin.bankruptcy_price`: up for a long, down for a short) with
   the money that backs it: an isolated position's margin, or for a cross position its account
   (:func:`delever.margin.cross_backing`: the wallet plus the uPnL of the account's other cross positions at
   their marks, Binance's ``WB + UPNL1``; or dYdX v4's share of the account's equity), so that the price
   follows the whole account (issue #11).
2. A market order for the whole position walks the book (:mod:`delever.liquidity`); the VWAP is rounded to
   a tick against the liquidated account (down for a sell, up for a buy). The liquidity-provider accounts
   take the other side, pro rata to their share of the book (largest remainder for the odd lots).
3. After the close, the margin's equity (an isolated margin, or the account's wallet plus its other cross
   positions at their marks) decides: >= 0, the liquidation fee, ``ceil(rate * closed notional)`` capped at
   that equity, goes to the insurance fund (Binance: the fund "accumulates from liquidations above BP",
   ../shared/specs/venues.md section 1; TV-10, TV-11); a solvent account never receives fund money. < 0, the
   fund pays the deficit, once the account is flat: while it still holds other cross positions (which the
   same step closes) the deficit is carried to their closes.
4. If the fund cannot pay, only the largest part ``k`` of the order whose shortfall the fund can cover goes
   to the book; the rest is closed against profitable opposite positions in ADL-queue order, at ``BP``,
   across as many counterparties as needed, partially for the last (BitMEX, Binance: "at the bankruptcy
   price of the initial liquidated order", venues.md sections 1-2; TV-02). That is the default ADL trigger
   and fill; the others (negative equity, fund drawdown; fill at the mark or the previous mark) and where the
   money of a fill away from ``BP`` goes are in :mod:`delever.adl.trigger`. Each counterparty gives at most
   the lots that keep its own margin's equity >= 0 at the mark after the fill (dYdX v4's non-overlapping
   bankruptcy check, engines.md section 1; :func:`winner_capacity`); one capped at this price stays queued
   for a later bankrupt position. Closing at ``BP`` leaves the bankrupt account at >= 0, so ADL ends the
   loss. What no counterparty can take goes to the book, and whatever the fund cannot pay then stays as
   unrecovered bad debt on the account (a ``bad_debt`` event), never hidden.
5. An isolated position's remaining margin returns to its account's wallet (an ADL'd isolated counterparty's
   too, once it is flat); a negative one stays with the closed position (isolated margin limits the loss to
   the position).

:func:`liquidate` is a driver over one small kernel per step: :func:`margin_backing` (1),
:func:`partial_fill` and :func:`charge_fee` (a partial liquidation, if asked for and solvent), :func:`fund_budget`
and :func:`fundable_book_lots` (4: what the fund may pay, the largest part of the close it covers),
:func:`book_execute` (2: the book close and the liquidity providers' split), :func:`adl_fills` (4: ADL fills with
the counterparty check :func:`winner_capacity`) and :func:`settle_balance` (3, 5: fee, insurance payout, bad
debt, isolated margin). They take the bundles of columns of :mod:`delever.columns`. Those that only the driver
calls are inlined into it at numba's IR level (``inline="always"``): the stage compiles as one unit, as before
the split (a separate kernel costs a fixed share of a first run's compilation, and its own optimization of every
kernel it calls), yet each is a function with its own docstring and mutation range. The formulas they share with
the rest of the project (bankruptcy price, maintenance margin, cross backing, the largest-remainder split) are
:mod:`delever.margin`'s and :mod:`delever.allocation`'s compiled twins.

The kernel is resumable: it stops and returns a status when the ADL queue of a side must be extended or the
event buffer grown, and the engine calls it again from the same position (nothing of that position has
been touched when it stops).
"""

from __future__ import annotations

from numba import njit

from .events import (
    BAD_DEBT,
    INSURANCE_FUND,
    INSURANCE_PAYOUT,
    LIQUIDATION_FEE,
)
from .adl.trigger import (
    CTL_DRAWDOWN_ON,
    CTL_START_AT,
    CTL_STOP_ABOVE,
    CTL_TRIGGER,
    CTL_WHOLE,
    TRIGGER_FUND_DRAWDOWN,
    TRIGGER_NEGATIVE_EQUITY,
)
from .adl_fill import adl_fills, margin_equity, usable_queue_lots, winner_capacity
from .book_trade import EMIT_SIGNATURE, apply_trade, book_execute, book_fill_price, emit_event
from .columns import (
    KERNEL,
    AccountValuation,
)
from .intops import mul_ppm_ceil
from .ioc_order import IocCols, LiquidationOrder, ioc_liquidate
from .margin import bankruptcy_price_compiled, cross_backing_compiled
from .stage_status import (
    DONE,
    NEED_ALLOC_LONGS,
    NEED_ALLOC_SHORTS,
    NEED_EVENTS,
    NEED_QUEUE_LONGS,
    NEED_QUEUE_SHORTS,
)
from .sweep import account_cross_sums, position_requirement

__all__ = [
    "AccountValuation",
    "DONE",
    "EMIT_SIGNATURE",
    "adl_fills",
    "apply_trade",
    "book_execute",
    "book_fill_price",
    "emit_event",
    "IocCols",
    "LiquidationOrder",
    "liquidate",
    "margin_equity",
    "usable_queue_lots",
    "winner_capacity",
]


@njit(cache=True, nogil=True, inline="always")
def margin_backing(p, book, val, v):
    """``(backing, other uPnL, other open positions)`` of position ``p`` (money, money, count): the money that
    backs it against its bankruptcy price. An isolated position's margin; the wallet of an account with one
    position; else :func:`delever.margin.cross_backing_compiled` of its account (its other cross positions at their
    marks), so the bankruptcy price follows the account (issue #11)."""
    a = book.account[p]
    if book.isolated[p]:
        return book.collateral[p], 0, 0
    if book.acc_start[a + 1] - book.acc_start[a] == 1:  # the account's only position: its wallet backs it
        return book.wallet[a], 0, 0
    s = book.size[p]
    m = book.instrument[p]
    mark_p = val.marks[m]
    share_rule = val.backing_rule == 1
    u_all, mm_all, n_open = account_cross_sums(a, book, val, share_rule)
    own_upnl = s * mark_p * v - book.cost[p]
    other_upnl = u_all - own_upnl
    own_mm = 0
    if share_rule:
        own_mm = position_requirement(s, book.cost[p], mark_p, v, False, m, val)
    backing = cross_backing_compiled(val.backing_rule, book.wallet[a], own_upnl, other_upnl, own_mm, mm_all)
    return backing, other_upnl, n_open - 1


@njit(cache=True, nogil=True, inline="always")
def fund_budget(fund, ctl):
    """``(budget, whole)``: what the fund may pay before ADL (money) under the trigger ``ctl``
    (:class:`delever.columns.AdlControl` ``.ctl``, its drawdown state switched here as the fund moves): all of
    it (fund cannot pay), nothing (negative equity, or a fund drawdown while on); ``whole`` a drawdown while
    on deleverages the whole position (OKX)."""
    budget = fund[0]
    whole = False
    trig = ctl[CTL_TRIGGER]
    if trig == TRIGGER_FUND_DRAWDOWN:
        if ctl[CTL_DRAWDOWN_ON] == 0:
            if fund[0] <= ctl[CTL_START_AT]:
                ctl[CTL_DRAWDOWN_ON] = 1
        elif fund[0] > ctl[CTL_STOP_ABOVE]:
            ctl[CTL_DRAWDOWN_ON] = 0
        if ctl[CTL_DRAWDOWN_ON] == 1:
            if ctl[CTL_WHOLE] == 1:
                whole = True
            else:
                budget = 0
    elif trig == TRIGGER_NEGATIVE_EQUITY:
        budget = 0
    return budget, whole


@njit(cache=True, nogil=True, inline="always")
def partial_fill(p, want, backing, book, depth, v, fee_ppm):
    """``(price, fee)`` of a partial liquidation of ``want`` lots of position ``p`` against the book (ticks, the
    VWAP rounded against the account; money, ``ceil(rate x notional)``), if the account stays solvent after the
    fill and the fee: the balance left plus the rest of the position valued at the fill, ``backing`` as
    :func:`margin_backing`, is >= 0 (:mod:`delever.mechanisms.partial`). ``(0, 0)`` when it would not: the
    position is then liquidated whole. Reads only; the driver trades."""
    s = book.size[p]
    c = book.cost[p]
    sg = 1 if s > 0 else -1
    vk = book_fill_price(depth.centre, depth.net[0], -sg * want, depth.curve)
    k = sg * want  # lots closed, signed as the position
    qq = c // s
    ck = qq * k - ((-((c - qq * s) * k)) // s)
    after = backing + k * vk * v - ck
    fee = mul_ppm_ceil(want * vk * v, fee_ppm)
    # solvent after the partial: the balance left plus the rest of the position valued at the fill
    rest_value = (s - k) * vk * v - (c - ck)
    if after - fee + rest_value < 0:
        return 0, 0
    return vk, fee


@njit(cache=True, nogil=True, inline="always")
def charge_fee(p, fee, book, fund, events) -> None:
    """Move a liquidation fee of ``fee`` (money, >= 0) from position ``p``'s margin (its isolated margin or its
    account's wallet) to the insurance fund, with a ``LIQUIDATION_FEE`` row."""
    if fee <= 0:
        return
    a = book.account[p]
    if book.isolated[p]:
        book.collateral[p] -= fee
    else:
        book.wallet[a] -= fee
    fund[0] += fee
    emit_event(events, LIQUIDATION_FEE, a, INSURANCE_FUND, p, 0, 0, -fee, 0)


@njit(cache=True, nogil=True, inline="always")
def fundable_book_lots(q, sg, base, p_adl, budget, depth, v) -> int:
    """The largest part ``k`` of a close of ``q`` lots (sign ``sg`` of the position) whose shortfall the fund
    covers: ``k`` lots to the book at their VWAP and the rest by ADL at ``p_adl`` leave the balance
    ``base + sg * (k * VWAP(k) + (q - k) * p_adl) * V`` (money; ``base`` = backing - cost) at >= ``-budget``.
    Deeper lots only fill worse, so the balance falls with ``k`` and a binary search finds it."""
    net = depth.net[0]
    lo = 0
    hi = q - 1
    # the book's first lot already fills beyond the ADL price and the fund may pay nothing: deeper lots
    # only fill worse, so nothing can go to the book (saves the search in a wholesale ADL)
    v1 = book_fill_price(depth.centre, net, -sg, depth.curve)
    if budget == 0 and sg * (v1 - p_adl) < 0:
        hi = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        vm = book_fill_price(depth.centre, net, -sg * mid, depth.curve)
        fin = base + sg * (mid * vm + (q - mid) * p_adl) * v
        if -fin <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, nogil=True, inline="always")
def settle_balance(p, closed_notional, other_upnl, other_open, book, fund, events, fee_ppm, seize=0) -> None:
    """Settle position ``p``'s margin after its close (step 3 of the module docstring): its equity (an
    isolated margin, or the account's wallet plus ``other_upnl``, its other cross positions at their marks)
    >= 0 pays the liquidation fee ``ceil(rate x closed_notional)`` capped at that equity to the fund, or the
    better fill's surplus ``seize`` (money) if that is more (``[liquidation] surplus = "insurance-fund"``); < 0 with
    no other open cross position (``other_open`` 0) receives the deficit from the fund, as far as it goes, and
    what is left is a ``BAD_DEBT`` row; while other cross positions are open the deficit is carried to their
    closes. An isolated margin left >= 0 returns to the wallet; a negative one stays with the position."""
    a = book.account[p]
    bal = book.collateral[p] if book.isolated[p] else book.wallet[a] + other_upnl
    if bal >= 0:
        fee = min(mul_ppm_ceil(closed_notional, fee_ppm), bal)
        fee = max(fee, min(seize, bal))
        if fee > 0:
            bal -= fee
            fund[0] += fee
            emit_event(events, LIQUIDATION_FEE, a, INSURANCE_FUND, p, 0, 0, -fee, 0)
    elif other_open == 0:
        pay = min(-bal, fund[0])
        if pay > 0:
            bal += pay
            fund[0] -= pay
            emit_event(events, INSURANCE_PAYOUT, a, INSURANCE_FUND, p, 0, 0, pay, 0)
        if bal < 0:
            emit_event(events, BAD_DEBT, a, INSURANCE_FUND, p, 0, 0, bal, 0)
    if book.isolated[p]:
        if bal >= 0:
            book.wallet[a] += bal
            book.collateral[p] = 0
        else:
            book.collateral[p] = bal
    else:
        book.wallet[a] = bal - other_upnl


@njit(**KERNEL)
def liquidate(order, start, partial_lots, book, val, depth, fund, queue, events, adl, ioc, v, fee_ppm):
    """Liquidate ``order[start:]`` (position indices, one instrument; at most one position per account,
    :func:`delever.liquidation_stage.run_stage` splits it) in the steps of the module docstring. Returns
    ``(status, next_index)``.

    Arguments (bundles of :mod:`delever.columns`, mutated where the step moves money): ``book``
    :class:`~delever.columns.BookCols`; ``val`` :class:`~delever.columns.AccountValuation` (marks and tiers of
    every instrument); ``depth`` :class:`~delever.columns.LiquidityCols` (the instrument's order book and its
    liquidity providers); ``fund`` int64 (1,) the instrument's insurance fund (money); ``queue``
    :class:`~delever.columns.QueueCols`; ``events`` :class:`~delever.columns.EventCols` (rows appended);
    ``adl`` :class:`~delever.columns.AdlControl`; ``ioc`` :class:`~delever.ioc_order.IocCols` (``on``: each
    position gets a fillable-price IOC order, :func:`delever.ioc_order.ioc_liquidate`, instead of the market
    order below; ``surplus_to_fund``: a whole close's surplus over its bankruptcy price goes to the fund, BitMEX
    and Bybit's "better than BP -> surplus / remaining margin to IF", venues.md sections 2-3, instead of staying
    with the trader after the fee); ``v`` money per lot-tick; ``fee_ppm`` the liquidation fee rate.

    ``partial_lots[idx]`` > 0 asks for a partial liquidation of that many lots of ``order[idx]`` (tier-by-tier
    or sliced, :mod:`delever.mechanisms.partial`): done if :func:`partial_fill` finds the account solvent after it,
    else the position is liquidated whole.

    A queue policy takes whole positions, capped by ``queue.take``; an allocation policy
    (``queue.alloc_mode`` 1) gets the queue prepared per bankrupt position: the kernel stops with
    ``NEED_ALLOC_*``, ``queue.request[side]`` = lots to close, and resumes once ``queue.prepared_for[side]``
    names it. It stops with ``NEED_QUEUE_*`` when a queue policy's queue must be extended and ``NEED_EVENTS``
    when the event buffer must grow; nothing of the position at ``next_index`` has been touched then.
    """
    cap = events.kind.shape[0]
    n_lp = depth.lp_pos.shape[0]
    for idx in range(start, order.shape[0]):
        p = order[idx]
        s = book.size[p]
        if s == 0:
            continue
        sg = 1 if s > 0 else -1
        q = abs(s)
        backing, other_upnl, other_open = margin_backing(p, book, val, v)
        budget, whole = fund_budget(fund, adl.ctl)
        if ioc.on != 0:  # a fillable-price IOC order instead of the market order (delever.ioc_order)
            st, flat = ioc_liquidate(idx, p, partial_lots[idx], backing, budget, whole, book, val, depth, fund, queue,
                                     events, adl, ioc, v, fee_ppm)  # fmt: skip
            if st != DONE:
                return st, idx
            if flat:  # closed by ADL: its margin settles, no fee
                settle_balance(p, 0, other_upnl, other_open, book, fund, events, fee_ppm)
            continue
        want = partial_lots[idx]
        if 0 < want < q and not (whole and adl.on != 0):  # OKX while on: no more market liquidation orders
            if events.n[0] + n_lp + 4 > cap:
                return NEED_EVENTS, idx
            vk, fee = partial_fill(p, want, backing, book, depth, v, fee_ppm)
            if vk > 0:
                book_execute(p, -sg * want, vk, book, depth, events, v)
                charge_fee(p, fee, book, fund, events)
                continue
        base = backing - book.cost[p]
        # ADL closes at the bankruptcy price backed by ``backing``, rounded against the account, >= 1 tick
        p_adl = max(bankruptcy_price_compiled(s, book.cost[p], backing, v), 1)
        if adl.fill_px[0] > 0:  # ADL at the mark or the previous mark; the bankrupt account settles the difference
            p_adl = adl.fill_px[0]
        k_book = q
        need_adl = False
        v_full = 0
        if adl.on != 0 and whole:
            k_book = 0
            need_adl = True
        else:
            wholesale = False
            if adl.on != 0 and budget == 0:
                # the book's first lot fills beyond the ADL price and the whole close would leave a deficit even
                # at that lot's price (a VWAP of more lots only fills worse): everything goes to ADL, as
                # fundable_book_lots would find, without pricing the whole close
                v1 = book_fill_price(depth.centre, depth.net[0], -sg, depth.curve)
                wholesale = sg * (v1 - p_adl) < 0 and base + sg * q * v1 * v < 0
            if wholesale:
                k_book = 0
                need_adl = True
            else:
                v_full = book_fill_price(depth.centre, depth.net[0], -sg * q, depth.curve)
                final_full = base + sg * q * v_full * v
                if adl.on != 0 and final_full < 0 and -final_full > budget:
                    k_book = fundable_book_lots(q, sg, base, p_adl, budget, depth, v)
                    need_adl = True
        r = q - k_book
        side = 1 if sg > 0 else 0
        if need_adl and queue.alloc_mode != 0 and queue.prepared_for[side] != idx:
            queue.request[side] = r
            return (NEED_ALLOC_SHORTS if side == 1 else NEED_ALLOC_LONGS), idx
        if need_adl and queue.alloc_mode == 0 and queue.complete[side] == 0:
            if usable_queue_lots(side, sg, r, p_adl, queue, book, val, v) < r:
                return (NEED_QUEUE_SHORTS if side == 1 else NEED_QUEUE_LONGS), idx
        need_rows = 2 * n_lp + 6
        if need_adl:
            need_rows += 2 * (queue.length[side] - queue.pointer[side])
        if events.n[0] + need_rows + n_lp > cap:
            return NEED_EVENTS, idx

        closed_notional = 0
        seize = 0
        if k_book > 0:
            vk = v_full if k_book == q else book_fill_price(depth.centre, depth.net[0], -sg * k_book, depth.curve)
            book_execute(p, -sg * k_book, vk, book, depth, events, v)
            closed_notional += k_book * vk * v
            if ioc.surplus_to_fund != 0 and k_book == q:  # the whole close's surplus over its bankruptcy price
                seize = max(base + sg * q * vk * v, 0)
        if need_adl:
            rem, notional = adl_fills(p, sg, r, p_adl, side, book, val, queue, events, v)
            closed_notional += notional
            if rem > 0:  # the queue ran dry: the rest goes to the book, whatever it costs
                vr = book_fill_price(depth.centre, depth.net[0], -sg * rem, depth.curve)
                book_execute(p, -sg * rem, vr, book, depth, events, v)
                closed_notional += rem * vr * v
        # the account's equity after the close, its other cross positions at their marks: a solvent account
        # pays its fee and never receives fund money. A deficit while the account still holds other cross
        # positions is carried to their closes (the same step closes them all), so the fund pays only what the
        # account owes once it is flat, never an account that its other positions would leave solvent
        settle_balance(p, closed_notional, other_upnl, other_open, book, fund, events, fee_ppm, seize)
    return DONE, order.shape[0]
