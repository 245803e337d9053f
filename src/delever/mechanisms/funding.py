"""Funding: periodic payments between longs and shorts that tie the perpetual to the index.

Rate of an interval: ``F = clip(P + clamp(I - P, -clamp, +clamp), -cap, +cap)`` (Binance/Bybit/BitMEX form,
../shared/specs/venues.md sections 1-3), with ``P`` the premium index, here the interval's average of the
venue basis ``(mark - index) / index`` (the venues sample impact bid/ask prices; our book's basis is the
mark's), and ``I`` the interest per interval (0.01% per 8 h on Binance). At each funding time (UTC multiples
of ``interval_s``) a position pays ``size * mark * V * F`` (longs pay when F > 0). Rounding goes against the
account: payers pay the amount rounded up, receivers receive it rounded down; the remainder (>= 0) goes to the
insurance fund, so money is conserved exactly. An inverse contract (:mod:`delever.inverse`) averages the USD
premium ``M / I - 1`` of its reciprocal marks and pays the venue's rate with the opposite sign, on the position
value in coin (BitMEX's ``Funding = MarkValue x F``, TV-28).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..columns import BookCols, EventCols
from ..inverse import usd_premium
from ..events import FUNDING, FUNDING_POOL, FUNDING_ROUNDING, INSURANCE_FUND
from ..liquidation import emit_event
from .base import Mechanism

PPB = 1_000_000_000


def funding_rate_ppb(premium: float, interest: float, clamp: float, cap: float) -> int:
    """The interval's rate in parts per billion (rounded to nearest)."""
    f = premium + min(max(interest - premium, -clamp), clamp)
    f = min(max(f, -cap), cap)
    return int(round(f * PPB))


@njit(cache=True, nogil=True)
def pay_funding(rate_ppb, mark, v, instrument_id, book, events) -> int:
    """Settle one funding time at ``rate_ppb`` (parts per billion) and ``mark`` (ticks) over every position of
    instrument ``instrument_id`` (LP positions included: they are the book's holders); ``book`` a
    :class:`delever.columns.BookCols` (margins and wallets credited), ``events`` a
    :class:`delever.columns.EventCols` (the caller ensures room for n events), ``v`` money per lot-tick.
    Returns the rounding remainder (money, >= 0) for the insurance fund."""
    paid = 0
    received = 0
    size = book.size
    for i in range(size.shape[0]):
        s = size[i]
        if s == 0 or rate_ppb == 0 or book.instrument[i] != instrument_id:
            continue
        notional = (s if s > 0 else -s) * mark * v
        q = notional // PPB
        r = notional - q * PPB
        pays = (s > 0) == (rate_ppb > 0)
        rate = rate_ppb if rate_ppb > 0 else -rate_ppb
        if pays:
            amount = -(q * rate - ((-(r * rate)) // PPB))  # rounded up, paid
            paid -= amount
        else:
            amount = q * rate + (r * rate) // PPB  # rounded down, received
            received += amount
        if amount == 0:
            continue
        if book.isolated[i]:
            book.collateral[i] += amount
        else:
            book.wallet[book.account[i]] += amount
        emit_event(events, FUNDING, book.account[i], FUNDING_POOL, i, 0, mark, amount, 0)
    return paid - received


class Funding(Mechanism):
    """The step loop's funding (:mod:`delever.mechanisms.base`), per perpetual (dated futures pay none):
    before the sweep, each step adds the basis ``(mark - centre) / centre`` to the interval's premium index;
    at each funding time (a step whose time crosses a multiple of ``interval_s``) the interval's rate
    (:func:`funding_rate_ppb`) is settled over that instrument's positions (:func:`pay_funding`), the rounding
    remainder goes to its insurance fund, and the payments join the run's funding history (the ADL
    hierarchy's ``funding_received``)."""

    name = "funding"
    per_step = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> Funding | None:
        fc = scenario.mechanisms.funding
        return cls(fc) if fc.enabled else None

    def setup(self, sim) -> None:
        self.premium_sum = [0.0] * sim.M
        self.premium_n = [0] * sim.M
        self.interval_ns = int(self.config.interval_s * 1e9)
        self.rates: list[list[tuple[int, int]]] = [[] for _ in range(sim.M)]  # (step, rate ppb) per instrument

    def before_sweep(self, sim, t: int, m: int) -> bool:
        if sim.insts[m].kind != "dated_future":
            self._settle(sim, t, m, float(sim.centre_ticks[m][t]), int(sim.marks[m]))
            sim.flush(t, m)
        return False

    def _settle(self, sim, t: int, m: int, centre: float, mark: int) -> None:
        """Perpetual ``m``'s funding: its premium index each step, a settlement at each funding time over its
        positions."""
        fc = self.config
        inverse = sim.insts[m].inverse  # the reciprocal price: the USD premium, paid by the opposite sides
        self.premium_sum[m] += usd_premium(mark, centre) if inverse else (mark - centre) / centre
        self.premium_n[m] += 1
        now = int(sim.time_ns[t])
        prev = int(sim.time_ns[t - 1]) if t > 0 else now
        if t == 0 or now // self.interval_ns == prev // self.interval_ns:
            return
        premium = self.premium_sum[m] / max(self.premium_n[m], 1)
        rate = funding_rate_ppb(premium, float(fc.interest_rate), float(fc.clamp), float(fc.cap))
        self.premium_sum[m], self.premium_n[m] = 0.0, 0
        self.rates[m].append((t, rate))
        b, buf = sim.book, sim.buf
        v = int(sim.vpl[m])
        # the instrument's positions only (the funding kernel skips the others)
        size = b.size if sim.M == 1 else np.where(b.instrument == m, b.size, 0)
        buf.ensure(b.n_positions + 2)
        first = buf.n
        events = EventCols.of(buf)
        # the venue's rate; an inverse contract's USD longs are reciprocal shorts, so they pay when it is > 0
        rest = pay_funding(-rate if inverse else rate, mark, v, m, BookCols.of(b), events)
        buf.n = events.rows()
        rows = slice(first, buf.n)
        paid = buf.cols["kind"][rows] == FUNDING
        sim.funding_history.append(
            (now, buf.cols["position"][rows][paid].copy(), buf.cols["amount"][rows][paid].copy())
        )
        if rest:
            sim.funds.of(m)[0] += rest
            buf.append_rows(FUNDING_ROUNDING, INSURANCE_FUND, FUNDING_POOL, -1, amount=rest)
        touched = buf.cols["position"][first : buf.n].copy()
        sim.touched(touched)
        notional = int((np.abs(size) * mark * v).sum() // 2)
        sim.note(self.name, buf.cols["account"][first : buf.n], notional)

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["rates_ppb"] = [r for _, r in self.rates[0]]  # the scenario instrument's

    def instrument_figures(self, sim, m: int, record: dict) -> None:
        record["funding_rates_ppb"] = [r for _, r in self.rates[m]]
