"""Proactive deleveraging: cut the most levered accounts before they reach liquidation when the venue is
under stress.

Triggers (any of, evaluated every step): the mark moved more than ``price_move_pct`` within ``window_s``;
the insurance fund fell more than ``fund_drawdown_pct`` from its peak within ``window_s``; the traders'
aggregate leverage (sum of notional over sum of positive equity, refreshed every 10 s) exceeds
``system_leverage``. When one trips, the positions whose effective leverage exceeds ``trigger_leverage`` (and
that are not liquidatable now) are reduced, most levered first and at most ``max_accounts_per_step`` per
step, to ``floor(target_leverage * equity / (mark * V))`` lots with market orders against the book (no fee:
the account is still solvent; an ADL-like forced reduction "when stress thresholds trip", issue #4). A cut
never fills below the account's bankruptcy price: if the book is too thin, the order is halved until the
account stays solvent at its fill (or skipped).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..columns import BookCols, EventCols, LiquidityCols
from ..events import DELEVERAGE_FILL
from ..liquidation import book_execute, book_fill_price
from .base import Mechanism, steps_of


@njit(cache=True, nogil=True)
def reduce_positions(order, lots, book, v, depth, events) -> int:
    """Close ``lots[k]`` of position ``order[k]`` against the order book ``depth`` (a
    :class:`delever.columns.LiquidityCols`); ``book`` a :class:`delever.columns.BookCols` (mutated), ``events``
    a :class:`delever.columns.EventCols` (the caller ensures room for ``len(order) * (1 + n_lp)`` events), ``v``
    money per lot-tick. Returns the notional moved (money)."""
    moved = 0
    for k in range(order.shape[0]):
        p = order[k]
        s = book.size[p]
        x = lots[k]
        if s == 0 or x <= 0:
            continue
        if x > abs(s):
            x = abs(s)
        net = depth.net[0]
        a = book.account[p]
        b0 = book.collateral[p] if book.isolated[p] else book.wallet[a]
        # never cut below bankruptcy: shrink the order until the account stays solvent at its fill price
        while x > 0:
            delta = -x if s > 0 else x
            px = book_fill_price(depth.centre, net, delta, depth.curve)
            if b0 + s * px * v - book.cost[p] >= 0:
                break
            x //= 2
        if x <= 0:
            continue
        delta = -x if s > 0 else x
        book_execute(p, delta, px, book, depth, events, v, DELEVERAGE_FILL)
        moved += x * px * v
        if book.isolated[p] and book.size[p] == 0:  # a closed isolated position's margin returns to the wallet
            book.wallet[a] += book.collateral[p]
            book.collateral[p] = 0
    return moved


def select(
    equity: np.ndarray,
    notional: np.ndarray,
    mm: np.ndarray,
    size: np.ndarray,
    eligible: np.ndarray,
    mark: int,
    v: int,
    trigger_leverage: float,
    target_leverage: float,
    max_accounts: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions to cut and lots to close: effective leverage above the trigger, not liquidatable, most levered
    first (ties by index), at most ``max_accounts``. Arrays are per position (n,).

    The order is a full stable sort by (leverage descending, index ascending): the float leverage
    ``notional / equity`` is correctly rounded, so it orders exactly as the exact ratios do, except ratios closer
    than a float's rounding, which tie and go by index. A cut keeps ``floor(target_leverage x equity / (mark x
    V))`` lots, computed exactly in integers (the float ``target_leverage`` as the binary fraction it is), so a
    target landing on a whole lot keeps that lot however large the equity."""
    ok = eligible & (equity > 0) & (equity >= mm) & (notional > trigger_leverage * equity)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return idx, idx
    lev = notional[idx] / equity[idx]
    idx = idx[np.lexsort((idx, -lev))][:max_accounts]
    num, den = float(target_leverage).as_integer_ratio()
    # Python integers: num x equity may pass int64, and so may the lots kept (a huge equity keeps every lot)
    lots = np.array(
        [abs(s) - num * e // (den * mark * v) for s, e in zip(size[idx].tolist(), equity[idx].tolist(), strict=True)],
        dtype=object,
    )
    cut = lots > 0
    return idx[cut], lots[cut].astype(np.int64)


class ProactiveDeleveraging(Mechanism):
    """The step loop's proactive deleveraging (:mod:`delever.mechanisms.base`), per instrument after the
    step's liquidations: its trigger (price move, fund drawdown, system leverage refreshed every 10 s) on
    that instrument's own mark, fund and positions; accounts valued over all their positions (:func:`select`,
    :func:`reduce_positions` against that instrument's book)."""

    name = "proactive_deleveraging"
    per_step = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> ProactiveDeleveraging | None:
        pd = scenario.mechanisms.proactive_deleveraging
        return cls(pd) if pd.enabled else None

    def setup(self, sim) -> None:
        self.window = steps_of(self.config.window_s, sim.dt)
        self.system_leverage = [0.0] * sim.M

    def after_liquidations(self, sim, t: int, m: int) -> None:
        self._cut(sim, t, m, float(sim.centre_ticks[m][t]), int(sim.marks[m]))
        sim.flush(t, m)

    def _cut(self, sim, t: int, m: int, centre: float, mark: int) -> None:
        pd = self.config
        b = sim.book
        v = int(sim.vpl[m])
        mark_s, fund_s, fund = sim.mark_s_all[m], sim.fund_s_all[m], int(sim.funds.of(m)[0])
        on = sim.on(m)
        lo = max(0, t - self.window)
        ref = int(mark_s[lo])
        moved = abs(mark - ref) * 100.0 > pd.price_move_pct * ref
        peak = int(fund_s[lo:t].max()) if t > lo else fund
        drained = peak > 0 and (peak - fund) * 100.0 > pd.fund_drawdown_pct * peak
        if t % max(int(10 / sim.dt), 1) == 0:
            pos_eq, acc_eq = sim.equities()
            trader = ~b.exempt[b.account] & (b.size != 0) & on
            eq = np.where(b.isolated, pos_eq, acc_eq[b.account])
            tot_eq = float(np.maximum(eq[trader], 0).sum())
            tot_n = float((np.abs(b.size[trader]) * mark * v).sum())
            self.system_leverage[m] = tot_n / tot_eq if tot_eq > 0 else float("inf")
        if not (moved or drained or self.system_leverage[m] > pd.system_leverage):
            return
        pos_eq, acc_eq = sim.equities()
        equity = np.where(b.isolated, pos_eq, acc_eq[b.account])
        mm = np.where(b.isolated, sim.pos_mm, sim.acc_mm[b.account])
        notional = np.abs(b.size) * mark * v
        eligible = ~b.exempt[b.account] & (b.size != 0) & on
        idx, lots = select(
            equity,
            notional,
            mm,
            b.size,
            eligible,
            mark,
            v,
            pd.trigger_leverage,
            pd.target_leverage,
            pd.max_accounts_per_step,
        )
        if idx.size == 0:
            return
        lp_pos = sim.lp_positions[m]
        sim.buf.ensure(idx.size * (2 + lp_pos.shape[0]))
        first = sim.buf.n
        events = EventCols.of(sim.buf)
        depth = LiquidityCols.make(centre, sim.states[m], sim.curves[m], lp_pos, sim.lp_weights[m])
        moved_n = reduce_positions(idx, lots, BookCols.of(b), v, depth, events)
        sim.buf.n = events.rows()
        sim.touched(sim.buf.cols["position"][first : sim.buf.n].copy())
        sim.note(self.name, b.account[idx], int(moved_n))

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["system_leverage_last"] = max(self.system_leverage)
