"""The IOC liquidation orders: at the fillable price (dYdX v4; ``[liquidation] order = "fillable-price-ioc"``)
or at the bankruptcy price (Kraken; ``[liquidation] order = "bankruptcy-ioc"``). One kernel, two limit rules.

Sources: ../shared/specs/engines.md section 1 (dydxprotocol/v4-chain 84d4664, ``protocol/x/clob/keeper/
liquidations.go``, ``deleveraging.go``, ``process_single_match.go``); ../shared/specs/venues.md section 7
(Kraken's Equity Protection Process, https://support.kraken.com/hc/en-us/articles/360022835671). Per
liquidated position, instead of the market order of :func:`delever.liquidation.liquidate`:

1. The order is an IOC for the position (or the lots the per-step limits allow, :mod:`delever.mechanisms.
   block_limits`) with the limit :func:`delever.fillable_price.fillable_limit_ticks` (computed per position by
   :class:`LiquidationOrder` before the kernel, from the account as it stands) or, for ``bankruptcy-ioc``
   (:data:`LIMIT_BANKRUPTCY`), the position's bankruptcy price ``(cost - backing) / (size x V)``
   (:func:`delever.margin.bankruptcy_price_compiled`, the backing of :func:`delever.liquidation.margin_backing`,
   rounded against the account: up for a long's sell, down for a short's buy; >= 1 tick). It takes the book up to the
   limit (:func:`delever.liquidity.lots_within_limit`; a discrete book, :mod:`delever.level_book`, level by
   level) and stops: it may fill partially or not at all. What it does not fill stays open (the position is
   liquidatable again next step). Its fill price is the VWAP rounded to a tick against the account
   (:func:`ioc_fill_price`) and never beyond the limit.
2. Insurance-fund delta of the fill (dYdX's ``fill quote - bankruptcy quote``): the position's equity ``E`` (its
   margin's backing, :func:`delever.liquidation.margin_backing`, plus its uPnL at the mark; dYdX's TNC for a
   single-position subaccount) is its share to keep: closing ``k`` of ``q`` lots at the bankruptcy price would
   leave ``E x (q - k) / q``. A fill at ``vk`` leaves ``E - sg x k x (mark - vk) x V``; the difference
   ``gap = E - sg x k x (mark - vk) x V - floor(E x (q - k) / q)`` (money; the floor rounds the kept share
   down, against the account) is settled at once:

   - ``gap < 0`` (the fill is worse than bankruptcy): the fund pays ``-gap`` to the position's margin (an
     ``insurance_payout`` row). dYdX rejects a fill the fund cannot pay, and one beyond the subaccount's
     ``MaxQuantumsInsuranceLost`` this block: the order fills only the largest ``k`` whose payout is within the
     fund's budget (:func:`delever.liquidation.fund_budget`) and within what is left of the per-step cap
     (``[liquidation] max_insurance_lost_per_step``, counted per account over the step, ``IocCols.lost``).
   - ``gap > 0`` (better): the account pays ``min(gap, ceil(fee rate x fill notional))`` to the fund (a
     ``liquidation_fee`` row; dYdX ``MaxLiquidationFeePpm``) and keeps the rest: the surplus stays with the
     trader (with ``[liquidation] surplus = "insurance-fund"`` the fund takes all of ``gap``).

3. Deleveraging. ``bankruptcy-ioc`` (Kraken's assignment and unwind): whatever the IOC did not fill is
   unwound at once against the opposing positions (the ADL queue) at the ADL fill price (the bankruptcy price
   by default), whatever the trigger, when ADL is on. A fill at or better than BP leaves ``gap = sg x k x
   (vk - BP) x V + (the floor's remainder) >= 0``, so the fund never pays. Otherwise, by the ADL trigger
   (:mod:`delever.adl.trigger`):

   - ``zero-fill`` (dYdX): only a position whose order filled **nothing** and whose equity ``E`` is < 0
     (TNC < 0) is deleveraged, the whole position, at the ADL fill price (the bankruptcy price by default); a
     partial fill blocks deleveraging for that account in that step. What no counterparty takes stays open.
   - the others: the part of the order the fund (or the cap) would not pay is deleveraged in the same step, as
     with a market order; a part the limit kept off the book stays open. ``negative-equity`` gives the fund no
     budget; ``fund-drawdown`` while on with ``whole-position`` deleverages the whole position.

   Once the position is flat its margin settles as every liquidation's (:func:`delever.liquidation.
   settle_balance` with no fee: an ADL fill pays none on dYdX). Money only moves between margins, the fund and
   counterparties, so it is conserved (the engine checks it every step).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .adl.trigger import CTL_TRIGGER, TRIGGER_ZERO_FILL
from .adl_fill import adl_fills, usable_queue_lots
from .book_trade import book_execute, emit_event
from .events import INSURANCE_FUND, INSURANCE_PAYOUT, LIQUIDATION_FEE
from .intops import mul_div_floor, mul_ppm_ceil
from .liquidity import lots_within_limit, vwap
from .margin import bankruptcy_price_compiled
from .stage_status import DONE, NEED_ALLOC_LONGS, NEED_ALLOC_SHORTS, NEED_EVENTS, NEED_QUEUE_LONGS, NEED_QUEUE_SHORTS
from .units import PPM

__all__ = [
    "LIMIT_BANKRUPTCY",
    "LIMIT_GIVEN",
    "NO_CAP",
    "IocCols",
    "LiquidationOrder",
    "ioc_fill_price",
    "ioc_gap",
    "ioc_liquidate",
]

NO_CAP = -1
"""``IocCols.max_lost`` when the fund's loss per account per step is not capped."""


LIMIT_GIVEN = 0
"""``IocCols.limit_rule``: each order's limit is given in ``IocCols.limit`` (the fillable price, dYdX)."""
LIMIT_BANKRUPTCY = 1
"""``IocCols.limit_rule``: each order's limit is its position's bankruptcy price, and the rest is unwound (Kraken)."""


class IocCols(NamedTuple):
    """The IOC order's inputs to the kernel (one stage call).

    - ``on`` int: 1 for IOC orders, 0 for the market order (the rest unused);
    - ``limit`` int64 (n,): each order entry's limit price, ticks (:func:`delever.fillable_price.fillable_limits`);
      unused under :data:`LIMIT_BANKRUPTCY`;
    - ``lost`` int64 (a,): money the fund has paid each account this step (mutated; the cap's count);
    - ``max_lost`` int: the cap per account per step (money), :data:`NO_CAP` for none;
    - ``surplus_to_fund`` int: 1 when a better fill's surplus goes to the fund (``[liquidation] surplus =
      "insurance-fund"``), 0 when the trader keeps it after the fee (market and IOC orders alike);
    - ``limit_rule`` int: :data:`LIMIT_GIVEN` (``limit``) or :data:`LIMIT_BANKRUPTCY` (the position's bankruptcy
      price from its backing in the kernel, the unfilled rest unwound in the same step; module docstring).
    """

    on: int
    limit: np.ndarray
    lost: np.ndarray
    max_lost: int
    surplus_to_fund: int = 0
    limit_rule: int = LIMIT_GIVEN

    @classmethod
    def off(cls, surplus_to_fund: bool = False) -> IocCols:
        """The market order's (no IOC)."""
        return cls(0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), NO_CAP, int(surplus_to_fund))


TICK_TOLERANCE = 1e-6
"""Ticks within which a VWAP counts as on a tick before rounding: a discrete level's price ``centre x (1 +-
distance)`` is a float64 that may miss its tick by ~1e-10 (500,000 x 1.001 = 500,499.99999999994)."""


@njit(cache=True, nogil=True, inline="always")
def ioc_fill_price(k, sg, limit, depth) -> int:
    """Ticks at which ``k`` lots of a position of sign ``sg`` close against ``depth``: the VWAP rounded to a tick
    against the account (a sell down, a buy up) once within :data:`TICK_TOLERANCE` of a tick, >= 1, and never
    beyond ``limit`` (every unit taken is within it; only float noise could put the average past it)."""
    px = vwap(depth.centre, depth.net[0], float(-sg * k), depth.curve)
    t = np.floor(px + TICK_TOLERANCE) if sg > 0 else np.ceil(px - TICK_TOLERANCE)
    vk = max(int(t), 1)
    return max(vk, limit) if sg > 0 else min(vk, limit)


@njit(cache=True, nogil=True)
def ioc_gap(equity, q, k, sg, mark, vk, v) -> int:
    """``E - sg x k x (mark - vk) x V - floor(E x (q - k) / q)`` (money): what a fill of ``k`` of ``q`` lots at
    ``vk`` ticks leaves the position beyond the share it keeps (module docstring, step 2); < 0 the fund pays it."""
    return equity - sg * k * (mark - vk) * v - mul_div_floor(equity, q - k, q)


@njit(cache=True, nogil=True, inline="always")
def _fundable_ioc_lots(k_lim, q, sg, equity, mark, limit, pay_cap, depth, v) -> int:
    """The largest ``k <= k_lim`` whose payout ``max(0, -gap)`` is <= ``pay_cap``: the payout per lot only grows
    with ``k`` (deeper lots fill worse), so a binary search finds it."""
    lo = 0
    hi = k_lim
    while lo < hi:
        mid = (lo + hi + 1) // 2
        vk = ioc_fill_price(mid, sg, limit, depth)
        if -ioc_gap(equity, q, mid, sg, mark, vk, v) <= pay_cap:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, nogil=True, inline="always")
def ioc_liquidate(idx, p, want, backing, budget, whole, book, val, depth, fund, queue, events, adl, ioc, v, fee_ppm):
    """One position's IOC liquidation (module docstring): ``idx`` its entry in the stage's order, ``p`` the
    position, ``want`` > 0 the lots the per-step limits allow (else the whole position), ``backing`` its margin's
    backing (money), ``budget``/``whole`` from :func:`delever.liquidation.fund_budget`; the bundles as
    :func:`delever.liquidation.liquidate`'s, ``ioc`` an :class:`IocCols`. Returns ``(status, flat)``: a
    ``NEED_*`` status with nothing touched, or ``DONE``; ``flat`` True when the position was closed by ADL and
    its margin is to be settled by the caller."""
    s = book.size[p]
    sg = 1 if s > 0 else -1
    q = abs(s)
    n = want if 0 < want < q else q
    m = book.instrument[p]
    mark = val.marks[m]
    bp = max(bankruptcy_price_compiled(s, book.cost[p], backing, v), 1)  # rounded against the account, >= 1 tick
    at_bankruptcy = ioc.limit_rule == LIMIT_BANKRUPTCY
    limit = bp if at_bankruptcy else ioc.limit[idx]
    equity = backing + s * mark * v - book.cost[p]
    a = book.account[p]
    pay_cap = budget
    if ioc.max_lost >= 0:
        pay_cap = min(pay_cap, max(ioc.max_lost - ioc.lost[a], 0))
    room = lots_within_limit(depth.centre, depth.net[0], -sg, limit, depth.curve)
    k_lim = n if room >= n else int(np.floor(room + TICK_TOLERANCE))  # whole lots; float noise of a level's sum
    zero_fill_rule = adl.ctl[CTL_TRIGGER] == TRIGGER_ZERO_FILL
    if adl.on != 0 and whole:
        k = 0
    else:
        k = _fundable_ioc_lots(k_lim, q, sg, equity, mark, limit, pay_cap, depth, v)
    r = 0
    if adl.on != 0:
        if whole:
            r = q
        elif at_bankruptcy:  # Kraken: what the IOC at BP did not fill is unwound (assigned) in the same step
            r = n - k
        elif zero_fill_rule:
            r = q if (k == 0 and equity < 0) else 0
        else:
            r = k_lim - k
    p_adl = bp
    if adl.fill_px[0] > 0:
        p_adl = adl.fill_px[0]
    side = 1 if sg > 0 else 0
    if r > 0 and queue.alloc_mode != 0 and queue.prepared_for[side] != idx:
        queue.request[side] = r
        return (NEED_ALLOC_SHORTS if side == 1 else NEED_ALLOC_LONGS), False
    if r > 0 and queue.alloc_mode == 0 and queue.complete[side] == 0:
        if usable_queue_lots(side, sg, r, p_adl, queue, book, val, v) < r:
            return (NEED_QUEUE_SHORTS if side == 1 else NEED_QUEUE_LONGS), False
    need_rows = depth.lp_pos.shape[0] + 6
    if r > 0:
        need_rows += 2 * (queue.length[side] - queue.pointer[side])
    if events.n[0] + need_rows > events.kind.shape[0]:
        return NEED_EVENTS, False
    if k > 0:
        vk = ioc_fill_price(k, sg, limit, depth)
        gap = ioc_gap(equity, q, k, sg, mark, vk, v)
        book_execute(p, -sg * k, vk, book, depth, events, v)
        if gap < 0:
            _move_margin(p, -gap, book)
            fund[0] += gap
            ioc.lost[a] += -gap
            emit_event(events, INSURANCE_PAYOUT, a, INSURANCE_FUND, p, 0, 0, -gap, 0)
        else:
            fee = gap if ioc.surplus_to_fund != 0 else min(gap, mul_ppm_ceil(k * vk * v, fee_ppm))
            if fee > 0:
                _move_margin(p, -fee, book)
                fund[0] += fee
                emit_event(events, LIQUIDATION_FEE, a, INSURANCE_FUND, p, 0, 0, -fee, 0)
    if r > 0:
        adl_fills(p, sg, min(r, abs(book.size[p])), p_adl, side, book, val, queue, events, v)
    if book.size[p] == 0:
        if k > 0 and r == 0 and book.isolated[p] and book.collateral[p] >= 0:  # closed on the book: margin home
            book.wallet[a] += book.collateral[p]
            book.collateral[p] = 0
        return DONE, r > 0
    return DONE, False


@njit(cache=True, nogil=True, inline="always")
def _move_margin(p, amount, book) -> None:
    """Credit ``amount`` (money, may be < 0) to position ``p``'s margin: its isolated margin or its wallet."""
    if book.isolated[p]:
        book.collateral[p] += amount
    else:
        book.wallet[book.account[p]] += amount


class LiquidationOrder:
    """The scenario's liquidation order kind across a run (``[liquidation] order``, :mod:`delever.config.
    liquidation`): ``ioc`` False for the market order; ``limit_rule`` :data:`LIMIT_GIVEN` (the fillable price)
    or :data:`LIMIT_BANKRUPTCY`. :meth:`columns` gives the kernel's :class:`IocCols` for one stage call, with each
    order entry's fillable price from the account as it stands then, and the per-step count of the fund's payouts
    per account (reset when the step changes)."""

    def __init__(
        self,
        ioc: bool,
        ba_ppm: int = PPM,
        smmr_ppm: int = PPM // 10,
        max_lost: int = NO_CAP,
        surplus_to_fund: bool = False,
        limit_rule: int = LIMIT_GIVEN,
    ) -> None:
        self.ioc, self.ba_ppm, self.smmr_ppm, self.max_lost = ioc, int(ba_ppm), int(smmr_ppm), int(max_lost)
        self.surplus_to_fund = bool(surplus_to_fund)
        self.limit_rule = int(limit_rule)
        self.step = -1
        self.lost = np.zeros(0, dtype=np.int64)

    @classmethod
    def from_scenario(cls, scenario) -> LiquidationOrder:
        """From the scenario's ``[liquidation]`` section."""
        return scenario.liquidation.order_rule()

    def at(self, t: int) -> LiquidationOrder:
        """This rule at step ``t``: a new step starts a new count of the fund's payouts."""
        if t != self.step:
            self.step = t
            self.lost = np.zeros(0, dtype=np.int64)
        return self

    def columns(self, order: np.ndarray, cols, valuation, v: int, n_accounts: int) -> IocCols:
        """The :class:`IocCols` of ``order`` (position indices) in ``cols`` (:class:`delever.columns.BookCols`) at
        ``valuation``'s marks; ``v`` money per lot-tick."""
        if not self.ioc:
            return IocCols.off(self.surplus_to_fund)
        n = order.shape[0]
        if self.lost.shape[0] < n_accounts:
            self.lost = np.concatenate([self.lost, np.zeros(n_accounts - self.lost.shape[0], dtype=np.int64)])
        if self.limit_rule == LIMIT_BANKRUPTCY:  # the kernel prices each limit from the position's backing
            return IocCols(1, np.zeros(n, dtype=np.int64), self.lost, self.max_lost, int(self.surplus_to_fund),
                           LIMIT_BANKRUPTCY)  # fmt: skip
        from .fillable_price import fillable_limits
        from .sweep import account_health

        tnc, tmmr, pmmr = (np.zeros(n, dtype=np.int64) for _ in range(3))
        account_health(order, cols, valuation, tnc, tmmr, pmmr)
        marks = valuation.marks[cols.instrument[order]]
        limit = fillable_limits(cols.size[order], marks, v, tnc, tmmr, pmmr, self.ba_ppm, self.smmr_ppm)
        return IocCols(1, limit, self.lost, self.max_lost, int(self.surplus_to_fund))
