"""The liquidation stage: close liquidatable positions against the book, settle against the bankruptcy
price through the insurance fund, and auto-deleverage what the fund cannot cover.

For each liquidatable position, in the order given (most under water first, see :mod:`delever.engine`):

1. Its bankruptcy price ``BP`` (:func:`delever.margin.bankruptcy_price`: up for a long, down for a short) with
   the money that backs it: an isolated position's margin, or for a cross position its account
   (:func:`delever.sweep.cross_backing`: the wallet plus the uPnL of the account's other cross positions at
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

The kernel is resumable: it stops and returns a status when the ADL queue of a side must be extended or the
event buffer grown, and the engine calls it again from the same position (nothing of that position has
been touched when it stops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .events import (
    ADL_COUNTERPARTY_FILL,
    ADL_FILL,
    BAD_DEBT,
    BOOK,
    INSURANCE_FUND,
    INSURANCE_PAYOUT,
    LIQUIDATION_FEE,
    LIQUIDATION_FILL,
    LP_FILL,
)
from .adl.trigger import (
    CTL_DRAWDOWN_ON,
    CTL_START_AT,
    CTL_STOP_ABOVE,
    CTL_TRIGGER,
    CTL_WHOLE,
    TRIGGER_FUND_DRAWDOWN,
    TRIGGER_NEGATIVE_EQUITY,
    default_control,
)
from .liquidity import vwap
from .margin import BACKING_WHOLE_ACCOUNT
from .sweep import account_cross_sums, cross_backing, maintenance_margin, mul_ppm_ceil

DONE = 0
NEED_QUEUE_LONGS = 1
"""The queue of long counterparties (for a bankrupt short) must be extended."""
NEED_QUEUE_SHORTS = 2
"""The queue of short counterparties (for a bankrupt long) must be extended."""
NEED_EVENTS = 3
NEED_ALLOC_LONGS = 4
"""Allocation policy: prepare the long counterparties' lots for the bankrupt short at the returned index."""
NEED_ALLOC_SHORTS = 5
"""Allocation policy: prepare the short counterparties' lots for the bankrupt long at the returned index."""


@njit(cache=True, nogil=True)
def apply_trade(
    p: int,
    delta: int,
    price: int,
    size: np.ndarray,
    cost: np.ndarray,
    collateral: np.ndarray,
    isolated: np.ndarray,
    account: np.ndarray,
    wallet: np.ndarray,
    v: int,
) -> int:
    """Trade ``delta`` lots (> 0 buy) at ``price`` ticks on position ``p``; return the realized PnL (money),
    already credited to the position's isolated margin or its account's wallet.

    Increasing adds ``delta * price * V`` to the cost. Reducing by ``k`` lots releases the cost share
    ``ceil(cost * k / size)``, which rounds the realized PnL down (against the account); the rest of the cost
    stays with the position. A trade through zero closes, then opens the remainder at ``price``.
    ``balance - cost`` changes by exactly ``-delta * price * V`` in every case, which is what makes trades
    conserve money between the two sides.
    """
    if delta == 0:
        return 0
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
    if isolated[p]:
        collateral[p] += realized
    else:
        wallet[account[p]] += realized
    return realized


@njit(cache=True, nogil=True)
def book_fill_price(centre: float, net: float, delta: int, curve: tuple) -> int:
    """VWAP of an order of ``delta`` lots rounded to a tick against the taker (a sell down, a buy up), >= 1."""
    px = vwap(centre, net, float(delta), curve)
    t = np.floor(px) if delta < 0 else np.ceil(px)
    return max(int(t), 1)


_EVENT_COLUMNS_TYPES = ["int8[::1]"] + ["int64[::1]"] * 6 + ["int8[::1]", "int64[::1]"]
EMIT_SIGNATURE = "void(" + ", ".join(_EVENT_COLUMNS_TYPES + ["int64"] * 8) + ")"
"""The one signature :func:`_emit` is compiled for: the event columns of :class:`delever.events.EventBuffer`
(``kind`` and ``indicator`` int8, the others int64) and eight int64 values. Without it numba compiled one
specialization per combination of literal constants at the call sites (seven, about 0.5 s each on a first run;
README "Scale and Monte Carlo", first run)."""


@njit(EMIT_SIGNATURE, cache=True, nogil=True)
def _emit(
    ev_kind, ev_acc, ev_cp, ev_pos, ev_size, ev_price, ev_amount, ev_ind, ev_n, kind, acc, cp, pos, sz, px, amount, ind
) -> None:
    j = ev_n[0]
    ev_kind[j] = kind
    ev_acc[j] = acc
    ev_cp[j] = cp
    ev_pos[j] = pos
    ev_size[j] = sz
    ev_price[j] = px
    ev_amount[j] = amount
    ev_ind[j] = ind
    ev_n[0] = j + 1


@njit(cache=True, nogil=True)
def _book_execute(
    p,
    delta,
    price,
    book_state,
    size,
    cost,
    collateral,
    isolated,
    account,
    wallet,
    v,
    lp_pos,
    lp_weight,
    lp_share,
    lp_rem,
    ev_kind,
    ev_acc,
    ev_cp,
    ev_pos,
    ev_size,
    ev_price,
    ev_amount,
    ev_ind,
    ev_n,
    kind=LIQUIDATION_FILL,
) -> None:
    """Position ``p`` trades ``delta`` at ``price`` against the book: the LP positions take ``-delta`` pro rata
    and the book's absorbed quantity ``book_state[0]`` moves by ``delta``."""
    realized = apply_trade(p, delta, price, size, cost, collateral, isolated, account, wallet, v)
    book_state[0] += delta
    _emit(
        ev_kind,
        ev_acc,
        ev_cp,
        ev_pos,
        ev_size,
        ev_price,
        ev_amount,
        ev_ind,
        ev_n,
        kind,
        account[p],
        BOOK,
        p,
        delta,
        price,
        realized,
        0,
    )
    total = abs(delta)
    sign = -1 if delta > 0 else 1
    n_lp = lp_pos.shape[0]
    wsum = 0
    for j in range(n_lp):
        wsum += lp_weight[j]
    given = 0
    for j in range(n_lp):
        prod = total * lp_weight[j]
        lp_share[j] = prod // wsum
        lp_rem[j] = prod - lp_share[j] * wsum
        given += lp_share[j]
    for _ in range(total - given):  # largest remainder gets the odd lots; ties go to the lower index
        best = 0
        for j in range(1, n_lp):
            if lp_rem[j] > lp_rem[best]:
                best = j
        lp_share[best] += 1
        lp_rem[best] = -1
    for j in range(n_lp):
        lots = lp_share[j]
        if lots == 0:
            continue
        q = lp_pos[j]
        r = apply_trade(q, sign * lots, price, size, cost, collateral, isolated, account, wallet, v)
        _emit(
            ev_kind,
            ev_acc,
            ev_cp,
            ev_pos,
            ev_size,
            ev_price,
            ev_amount,
            ev_ind,
            ev_n,
            LP_FILL,
            account[q],
            account[p],
            q,
            sign * lots,
            price,
            r,
            0,
        )


@njit(cache=True, nogil=True)
def margin_equity(p, size, cost, collateral, isolated, account, wallet, instrument, acc_start, acc_positions, marks,
                  vpls) -> int:  # fmt: skip
    """Equity (money) of position ``p``'s margin at the marks: its isolated margin plus uPnL, or its account's
    wallet plus the uPnL of every cross position of the account."""
    m = instrument[p]
    if isolated[p]:
        return collateral[p] + size[p] * marks[m] * vpls[m] - cost[p]
    a = account[p]
    eq = wallet[a]
    for j in range(acc_start[a], acc_start[a + 1]):
        x = acc_positions[j]
        if size[x] != 0 and not isolated[x]:
            eq += size[x] * marks[instrument[x]] * vpls[instrument[x]] - cost[x]
    return eq


@njit(cache=True, nogil=True)
def winner_capacity(p2, sg, price, size, cost, collateral, isolated, account, wallet, instrument, acc_start,
                    acc_positions, marks, vpls, v) -> int:  # fmt: skip
    """Lots ADL counterparty ``p2`` can give at ``price`` against a bankrupt position of sign ``sg`` while its
    margin's equity at the mark stays >= 0 (dYdX v4's non-overlapping bankruptcy check, engines.md section
    1; as :func:`delever.settlement.final_settlement`): each lot closed at ``price`` instead of the mark
    costs it ``sg * (price - mark) * V``. Its whole position when that is not a cost."""
    s2 = size[p2]
    lots = s2 if s2 > 0 else -s2
    gap = sg * (price - marks[instrument[p2]]) * v
    if gap <= 0:
        return lots
    eq = margin_equity(p2, size, cost, collateral, isolated, account, wallet, instrument, acc_start, acc_positions,
                       marks, vpls)  # fmt: skip
    if eq <= 0:
        return 0
    return min(lots, eq // gap)


@njit(cache=True, nogil=True)
def _usable_lots(side, sg, need, price, queue, q_len, q_ptr, q_take, size, cost, collateral, isolated, account,
                 wallet, instrument, acc_start, acc_positions, marks, vpls, v) -> int:  # fmt: skip
    """Lots the queued counterparties from ``q_ptr[side]`` can give at ``price`` (capped by
    :func:`winner_capacity`), counted until ``need`` is reached."""
    total = 0
    e = q_ptr[side]
    while e < q_len[side] and total < need:
        p2 = queue[side, e]
        s2 = size[p2]
        if s2 != 0 and (s2 > 0) != (sg > 0) and q_take[side, e] > 0:
            give = winner_capacity(p2, sg, price, size, cost, collateral, isolated, account, wallet, instrument,
                                   acc_start, acc_positions, marks, vpls, v)  # fmt: skip
            total += min(abs(s2), q_take[side, e], give)
        e += 1
    return total


@njit(cache=True, nogil=True)
def liquidate(
    order,
    start,
    size,
    cost,
    collateral,
    isolated,
    account,
    wallet,
    v,
    fee_ppm,
    centre,
    book_state,
    curve,
    lp_pos,
    lp_weight,
    fund,
    queue,
    queue_ind,
    q_len,
    q_ptr,
    q_avail,
    q_complete,
    ev_kind,
    ev_acc,
    ev_cp,
    ev_pos,
    ev_size,
    ev_price,
    ev_amount,
    ev_ind,
    ev_n,
    partial_lots,
    adl_on,
    q_take,
    alloc_mode,
    q_for,
    request,
    marks,
    vpls,
    instrument,
    acc_start,
    acc_positions,
    floors,
    mmr,
    cum,
    n_tiers,
    backing_rule,
    adl_ctl,
    fill_px,
):
    """Liquidate ``order[start:]`` (position indices, one instrument). Returns ``(status, next_index)``.

    Arguments: book columns as in :func:`delever.sweep.margin_sweep` (mutated); ``v`` money per lot-tick;
    ``fee_ppm`` liquidation fee rate; ``centre`` book centre (index price, float ticks); ``book_state[0]``
    net absorbed lots (mutated); ``curve`` from :meth:`DepthCurve.arrays`; ``lp_pos``/``lp_weight`` the LP
    positions and their integer shares of the book; ``fund[0]`` insurance fund balance (mutated).
    ADL queues: ``queue[side, :q_len[side]]`` position indices in rank order (side 0 = longs, 1 = shorts),
    ``queue_ind`` their ADL indicator (1..5), ``q_ptr`` next entry, ``q_avail`` lots left in the queue,
    ``q_complete`` 1 once every eligible position is queued. ``ev_*`` event columns, ``ev_n[0]`` rows used.

    ``partial_lots[idx]`` > 0 asks for a partial liquidation of that many lots of ``order[idx]`` (tier-by-tier
    or sliced, :mod:`delever.mechanisms.partial`); it is done only if the account stays solvent after the
    fill and the fee, else the position is liquidated whole. ``adl_on`` 0 sends everything to the book (the
    fund pays what it can, the rest stays as bad debt for socialized loss to recover).

    ``q_take[side, e]`` caps the lots taken from queue entry ``e`` (a queue policy takes whole positions;
    an allocation policy, ``alloc_mode`` 1, gets the queue prepared per bankrupt position: the kernel stops
    with ``NEED_ALLOC_*``, ``request[side]`` = lots to close, and resumes once ``q_for[side]`` names it).

    Accounts (issue #11): ``marks``/``vpls`` int64 (instruments,) every instrument's mark (ticks) and value per
    lot-tick, ``instrument`` the book's instrument column, ``acc_start``/``acc_positions`` the positions of each
    account (:meth:`delever.book.Book.positions_by_account`), ``floors``/``mmr``/``cum``/``n_tiers`` the tier
    tables (instruments, k) and ``backing_rule`` (:data:`delever.margin.BACKING_WHOLE_ACCOUNT` or
    ``BACKING_MM_SHARE``): a cross position is backed by :func:`delever.sweep.cross_backing` of its account
    (its other cross positions at their marks), so its bankruptcy price follows the account. ``order`` holds
    at most one position per account (:func:`run_stage` splits it).

    ADL trigger and fill rule (:mod:`delever.adl.trigger`): ``adl_ctl`` int64 (``CTL_SIZE``,) the trigger code,
    the drawdown state (switched here as the fund moves) and its thresholds; ``fill_px[0]`` the ADL fill price
    (ticks), or -1 for the bankrupt position's bankruptcy price.
    """
    cap = ev_kind.shape[0]
    n_lp = lp_pos.shape[0]
    lp_rem = np.zeros(n_lp, dtype=np.int64)
    lp_share = np.zeros(n_lp, dtype=np.int64)
    for idx in range(start, order.shape[0]):
        p = order[idx]
        s = size[p]
        if s == 0:
            continue
        sg = 1 if s > 0 else -1
        q = abs(s)
        a = account[p]
        c = cost[p]
        mark_p = marks[instrument[p]]
        other_upnl = 0
        other_open = 0
        if isolated[p]:
            b0 = collateral[p]
        elif acc_start[a + 1] - acc_start[a] == 1:  # the account's only position: its wallet backs it
            b0 = wallet[a]
        else:
            u_all, mm_all, n_open = account_cross_sums(a, size, cost, isolated, instrument, acc_start,
                                                        acc_positions, marks, vpls, floors, mmr, cum, n_tiers,
                                                        backing_rule == 1)  # fmt: skip
            own_upnl = s * mark_p * v - c
            other_upnl = u_all - own_upnl
            other_open = n_open - 1
            own_mm = 0
            if backing_rule == 1:
                own_mm = maintenance_margin(q * mark_p * v, instrument[p], floors, mmr, cum, n_tiers[instrument[p]])
            b0 = cross_backing(backing_rule, wallet[a], own_upnl, other_upnl, own_mm, mm_all)
        # what the fund may pay before ADL: all of it (fund cannot pay), nothing (negative equity, or a fund
        # drawdown while on); a drawdown while on may deleverage the whole position (OKX)
        budget = fund[0]
        whole = False
        trig = adl_ctl[CTL_TRIGGER]
        if trig == TRIGGER_FUND_DRAWDOWN:
            if adl_ctl[CTL_DRAWDOWN_ON] == 0:
                if fund[0] <= adl_ctl[CTL_START_AT]:
                    adl_ctl[CTL_DRAWDOWN_ON] = 1
            elif fund[0] > adl_ctl[CTL_STOP_ABOVE]:
                adl_ctl[CTL_DRAWDOWN_ON] = 0
            if adl_ctl[CTL_DRAWDOWN_ON] == 1:
                if adl_ctl[CTL_WHOLE] == 1:
                    whole = True
                else:
                    budget = 0
        elif trig == TRIGGER_NEGATIVE_EQUITY:
            budget = 0
        want = partial_lots[idx]
        if 0 < want < q and not (whole and adl_on != 0):  # OKX while on: no more market liquidation orders
            if ev_n[0] + n_lp + 4 > cap:
                return NEED_EVENTS, idx
            net = book_state[0]
            vk = book_fill_price(centre, net, -sg * want, curve)
            k = sg * want  # lots closed, signed as the position
            qq = c // s
            ck = qq * k - ((-((c - qq * s) * k)) // s)
            after = b0 + k * vk * v - ck
            fee = mul_ppm_ceil(want * vk * v, fee_ppm)
            # solvent after the partial: the balance left plus the rest of the position valued at the fill
            rest_value = (s - k) * vk * v - (c - ck)
            if after - fee + rest_value >= 0:
                _book_execute(
                    p,
                    -k,
                    vk,
                    book_state,
                    size,
                    cost,
                    collateral,
                    isolated,
                    account,
                    wallet,
                    v,
                    lp_pos,
                    lp_weight,
                    lp_share,
                    lp_rem,
                    ev_kind,
                    ev_acc,
                    ev_cp,
                    ev_pos,
                    ev_size,
                    ev_price,
                    ev_amount,
                    ev_ind,
                    ev_n,
                )
                if fee > 0:
                    if isolated[p]:
                        collateral[p] -= fee
                    else:
                        wallet[a] -= fee
                    fund[0] += fee
                    _emit(
                        ev_kind,
                        ev_acc,
                        ev_cp,
                        ev_pos,
                        ev_size,
                        ev_price,
                        ev_amount,
                        ev_ind,
                        ev_n,
                        LIQUIDATION_FEE,
                        a,
                        INSURANCE_FUND,
                        p,
                        0,
                        0,
                        -fee,
                        0,
                    )
                continue
        base = b0 - c
        num = c - b0
        den = s * v
        p_adl = -((-num) // den) if sg > 0 else num // den
        if p_adl < 1:
            p_adl = 1
        if fill_px[0] > 0:  # ADL at the mark or the previous mark; the bankrupt account settles the difference
            p_adl = fill_px[0]
        net = book_state[0]
        v_full = book_fill_price(centre, net, -sg * q, curve)
        final_full = base + sg * q * v_full * v
        k_book = q
        need_adl = False
        if adl_on != 0 and whole:
            k_book = 0
            need_adl = True
        elif adl_on != 0 and final_full < 0 and -final_full > budget:
            lo = 0
            hi = q - 1
            # the book's first lot already fills beyond the ADL price and the fund may pay nothing: deeper lots
            # only fill worse, so nothing can go to the book (saves the search in a wholesale ADL)
            v1 = book_fill_price(centre, net, -sg, curve)
            if budget == 0 and sg * (v1 - p_adl) < 0:
                hi = 0
            while lo < hi:
                mid = (lo + hi + 1) // 2
                vm = book_fill_price(centre, net, -sg * mid, curve)
                fin = base + sg * (mid * vm + (q - mid) * p_adl) * v
                if -fin <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            k_book = lo
            need_adl = True
        r = q - k_book
        side = 1 if sg > 0 else 0
        if need_adl and alloc_mode != 0 and q_for[side] != idx:
            request[side] = r
            return (NEED_ALLOC_SHORTS if side == 1 else NEED_ALLOC_LONGS), idx
        if need_adl and alloc_mode == 0 and q_complete[side] == 0:
            usable = _usable_lots(side, sg, r, p_adl, queue, q_len, q_ptr, q_take, size, cost, collateral, isolated,
                                  account, wallet, instrument, acc_start, acc_positions, marks, vpls, v)  # fmt: skip
            if usable < r:
                return (NEED_QUEUE_SHORTS if side == 1 else NEED_QUEUE_LONGS), idx
        need_rows = 2 * n_lp + 6
        if need_adl:
            need_rows += 2 * (q_len[side] - q_ptr[side])
        if ev_n[0] + need_rows + n_lp > cap:
            return NEED_EVENTS, idx

        closed_notional = 0
        if k_book > 0:
            vk = v_full if k_book == q else book_fill_price(centre, net, -sg * k_book, curve)
            _book_execute(
                p,
                -sg * k_book,
                vk,
                book_state,
                size,
                cost,
                collateral,
                isolated,
                account,
                wallet,
                v,
                lp_pos,
                lp_weight,
                lp_share,
                lp_rem,
                ev_kind,
                ev_acc,
                ev_cp,
                ev_pos,
                ev_size,
                ev_price,
                ev_amount,
                ev_ind,
                ev_n,
            )
            closed_notional += k_book * vk * v
        if need_adl:
            rem = r
            # entries used up (flat, or their allowance taken) leave the queue; a counterparty capped by the
            # non-overlapping check at this price stays in it for a later bankrupt position at another price
            e = q_ptr[side]
            while rem > 0 and e < q_len[side]:
                p2 = queue[side, e]
                s2 = size[p2]
                if s2 == 0 or (s2 > 0) == (sg > 0) or q_take[side, e] <= 0:
                    if e == q_ptr[side]:
                        q_ptr[side] += 1
                    e += 1
                    continue
                give = winner_capacity(p2, sg, p_adl, size, cost, collateral, isolated, account, wallet, instrument,
                                       acc_start, acc_positions, marks, vpls, v)  # fmt: skip
                x = min(abs(s2), rem, q_take[side, e], give)
                if x <= 0:  # giving a lot at BP would leave its account below zero (non-overlapping check)
                    e += 1
                    continue
                q_take[side, e] -= x
                r1 = apply_trade(p, -sg * x, p_adl, size, cost, collateral, isolated, account, wallet, v)
                r2 = apply_trade(p2, sg * x, p_adl, size, cost, collateral, isolated, account, wallet, v)
                if isolated[p2] and size[p2] == 0 and collateral[p2] >= 0:
                    wallet[account[p2]] += collateral[p2]  # an ADL'd isolated winner closed flat: margin home
                    collateral[p2] = 0
                ind = queue_ind[side, e]
                _emit(
                    ev_kind,
                    ev_acc,
                    ev_cp,
                    ev_pos,
                    ev_size,
                    ev_price,
                    ev_amount,
                    ev_ind,
                    ev_n,
                    ADL_FILL,
                    a,
                    account[p2],
                    p,
                    -sg * x,
                    p_adl,
                    r1,
                    ind,
                )
                _emit(
                    ev_kind,
                    ev_acc,
                    ev_cp,
                    ev_pos,
                    ev_size,
                    ev_price,
                    ev_amount,
                    ev_ind,
                    ev_n,
                    ADL_COUNTERPARTY_FILL,
                    account[p2],
                    a,
                    p2,
                    sg * x,
                    p_adl,
                    r2,
                    ind,
                )
                q_avail[side] -= x
                rem -= x
                closed_notional += x * p_adl * v
                if size[p2] == 0 or q_take[side, e] == 0:
                    if e == q_ptr[side]:
                        q_ptr[side] += 1
                    e += 1
                elif x == give:
                    e += 1
            if rem > 0:  # the queue ran dry: the rest goes to the book, whatever it costs
                net = book_state[0]
                vr = book_fill_price(centre, net, -sg * rem, curve)
                _book_execute(
                    p,
                    -sg * rem,
                    vr,
                    book_state,
                    size,
                    cost,
                    collateral,
                    isolated,
                    account,
                    wallet,
                    v,
                    lp_pos,
                    lp_weight,
                    lp_share,
                    lp_rem,
                    ev_kind,
                    ev_acc,
                    ev_cp,
                    ev_pos,
                    ev_size,
                    ev_price,
                    ev_amount,
                    ev_ind,
                    ev_n,
                )
                closed_notional += rem * vr * v

        # the account's equity after the close, its other cross positions at their marks: a solvent account
        # pays its fee and never receives fund money. A deficit while the account still holds other cross
        # positions is carried to their closes (the same step closes them all), so the fund pays only what the
        # account owes once it is flat, never an account that its other positions would leave solvent
        bal = collateral[p] if isolated[p] else wallet[a] + other_upnl
        if bal >= 0:
            fee = min(mul_ppm_ceil(closed_notional, fee_ppm), bal)
            if fee > 0:
                bal -= fee
                fund[0] += fee
                _emit(ev_kind, ev_acc, ev_cp, ev_pos, ev_size, ev_price, ev_amount, ev_ind, ev_n, LIQUIDATION_FEE, a,
                      INSURANCE_FUND, p, 0, 0, -fee, 0)  # fmt: skip
        elif other_open == 0:
            pay = min(-bal, fund[0])
            if pay > 0:
                bal += pay
                fund[0] -= pay
                _emit(ev_kind, ev_acc, ev_cp, ev_pos, ev_size, ev_price, ev_amount, ev_ind, ev_n, INSURANCE_PAYOUT, a,
                      INSURANCE_FUND, p, 0, 0, pay, 0)  # fmt: skip
            if bal < 0:
                _emit(ev_kind, ev_acc, ev_cp, ev_pos, ev_size, ev_price, ev_amount, ev_ind, ev_n, BAD_DEBT, a,
                      INSURANCE_FUND, p, 0, 0, bal, 0)  # fmt: skip
        if isolated[p]:
            if bal >= 0:
                wallet[a] += bal
                collateral[p] = 0
            else:
                collateral[p] = bal
        else:
            wallet[a] = bal - other_upnl
    return DONE, order.shape[0]


@dataclass(frozen=True)
class AccountValuation:
    """What the liquidation stage reads to value an account across its instruments (issue #11): ``marks`` and
    ``vpls`` int64 (instruments,) every instrument's mark (ticks) and value per lot-tick, the tier tables
    ``floors``/``mmr``/``cum`` int64 (instruments, k) with ``n_tiers`` (instruments,), and the cross backing
    rule (:data:`delever.margin.BACKING_WHOLE_ACCOUNT`, Binance, or ``BACKING_MM_SHARE``, dYdX v4)."""

    marks: np.ndarray
    vpls: np.ndarray
    floors: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    n_tiers: np.ndarray
    backing_rule: int = BACKING_WHOLE_ACCOUNT

    @classmethod
    def single(cls, mark: int, v: int, tiers=None, backing_rule: int = BACKING_WHOLE_ACCOUNT) -> AccountValuation:
        """One instrument at ``mark`` ticks, ``v`` money per lot-tick, ``tiers`` a
        :class:`delever.tiers.RiskTiers` (needed by the dYdX share rule only)."""
        if tiers is None:
            floors = mmr = cum = np.zeros((1, 1), dtype=np.int64)
        else:
            floors, mmr, cum = tiers.floors[None, :], tiers.mmr_ppm[None, :], tiers.cum[None, :]
        return cls(np.array([mark], dtype=np.int64), np.array([v], dtype=np.int64), floors, mmr, cum,
                   np.array([floors.shape[1]], dtype=np.int64), backing_rule)  # fmt: skip


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


def run_stage(order, book, v, fee_ppm, centre, book_state, curve, lp_pos, lp_weight, fund, queue, buf, partial,
              adl_on, valuation: AccountValuation, adl_ctl=None, fill_px=None) -> None:  # fmt: skip
    """Drive :func:`liquidate` over ``order`` to the end: extend the ADL queue (queue policies), prepare an
    allocation (allocation policies) or grow the event buffer each time the kernel asks, and resume.

    ``book`` is a :class:`delever.book.Book` (mutated), ``queue`` an :class:`delever.adl.queue.AdlQueue`,
    ``buf`` an :class:`delever.events.EventBuffer` (rows appended), ``fund`` the instrument's one-element
    insurance-fund array, ``valuation`` the marks and tiers of every instrument (:class:`AccountValuation`);
    the rest as :func:`liquidate`. An order with several positions of one account runs in consecutive parts
    (:func:`one_per_account`). ``adl_ctl``/``fill_px``: the ADL trigger and fill rule
    (:meth:`delever.adl.trigger.AdlTriggerState.control`; default: the fund cannot pay, fill at the bankruptcy
    price).
    """
    if adl_ctl is None:
        adl_ctl = default_control()
    if fill_px is None:
        fill_px = np.array([-1], dtype=np.int64)
    acc_start, acc_positions = book.positions_by_account()
    single = book.one_position_per_account()
    for part in one_per_account(order, book.account, single):
        queue.prepared_for[:] = -1
        _run_part(order[part], book, v, fee_ppm, centre, book_state, curve, lp_pos, lp_weight, fund, queue, buf,
                  partial[part], adl_on, valuation, acc_start, acc_positions, adl_ctl, fill_px)  # fmt: skip


def _run_part(order, book, v, fee_ppm, centre, book_state, curve, lp_pos, lp_weight, fund, queue, buf, partial,
              adl_on, w, acc_start, acc_positions, adl_ctl, fill_px) -> None:  # fmt: skip
    n_lp = lp_pos.shape[0]
    start = 0
    buf.ensure(2 * order.shape[0] + 16)  # every order writes at least two rows: grow once, not by doubling
    while True:
        c = buf.cols
        ev_n = np.array([buf.n], dtype=np.int64)
        status, start = liquidate(
            order, start, book.size, book.cost, book.collateral, book.isolated, book.account, book.wallet, v,
            fee_ppm, centre, book_state, curve, lp_pos, lp_weight, fund, queue.queue, queue.indicator,
            queue.length, queue.pointer, queue.available, queue.complete, c["kind"], c["account"],
            c["counterparty"], c["position"], c["size"], c["price"], c["amount"], c["indicator"], ev_n, partial,
            adl_on, queue.take, queue.alloc_mode, queue.prepared_for, queue.request, w.marks, w.vpls,
            book.instrument, acc_start, acc_positions, w.floors, w.mmr, w.cum, w.n_tiers, w.backing_rule, adl_ctl,
            fill_px,
        )  # fmt: skip
        buf.n = int(ev_n[0])
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
