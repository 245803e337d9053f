"""When a liquidation's loss goes to ADL instead of the insurance fund, and at what price ADL fills.

The scenario's ``[adl]`` options ``trigger`` and ``fill`` (:class:`delever.scenario.AdlConfig`), as the venues
publish them (../shared/specs/venues.md section 0 "One-screen comparison" and the venue sections; engines.md
section 1 for dYdX v4). The liquidation kernel (:func:`delever.liquidation.liquidate`) applies them per
liquidated position; this module turns the options into the kernel's control arrays each step.

Triggers (``trigger``):

- ``fund-cannot-pay`` (the default; Binance "IF cannot accept bankrupt position", BitMEX "contract IF
  depleted", venues.md sections 1-2): the position is closed on the book and the fund pays the deficit; if the
  fund cannot pay the whole book close's deficit, the largest part of the order whose deficit it can pay goes
  to the book and the rest is deleveraged.
- ``negative-equity`` (Hyperliquid: "trigger when an account value or isolated position value becomes
  negative", venues.md section 6): the fund is not used first. The book takes the largest part of the order
  that leaves the account's value >= 0; the rest, which would take the account below zero, is deleveraged even
  when the fund could pay it. The engine measures the account value at the liquidation's own fills (its close
  on the book), not at a separate moment: a position whose whole close on the book leaves the account >= 0 is
  not deleveraged. dYdX v4 differs (engines.md section 1): its IOC liquidation order may fill beyond the
  bankruptcy price with the fund paying (the fill is rejected when the fund would go negative), and a
  subaccount is deleveraged only when that order filled nothing and TNC < 0. That is ``fund-cannot-pay``
  followed by deleveraging: ``zero-fill`` below.
- ``zero-fill`` (dYdX v4, engines.md section 1: "only for subaccounts whose liquidation order filled zero this
  block ... and only if TNC < 0"): with ``[liquidation] order = "fillable-price-ioc"`` the fund pays first
  (within its balance and the per-step cap), a position whose IOC filled nothing while its equity is < 0 is
  deleveraged whole in the same step, and a partial fill blocks deleveraging for that account in that step
  (:mod:`delever.ioc_order`). With the market order, which always fills, it acts as ``fund-cannot-pay``.
- ``fund-drawdown`` (OKX: "a straight-line decrease of 30% from the peak value of the risk reserve within 8
  hours", venues.md section 4; Bybit's 2025 "contract PnL drawdown ADL", section 3): ADL is *on* while the fund
  is at or below ``peak x (1 - drawdown_pct / 100)``, the peak being the largest balance within the last
  ``drawdown_window_s`` (the balance at the end of each step in the window, the starting balance while the
  window reaches back to it, and the balance now). Once on, it stays on until the fund is above
  ``peak x (1 - drawdown_stop_pct / 100)`` (Bybit's ``adlStopRatio``: start at -0.30, stop above -0.25; OKX's
  end threshold ``adlRecRate`` is unpublished, so by default the same percent). A fund with no positive peak has
  no drawdown. While on, ``drawdown_close`` says what is deleveraged: ``whole-position`` (OKX: "no more market
  liquidation orders; liquidated positions matched directly with highest-ranked counterparties") or
  ``deficit`` (as ``negative-equity``: the book first, the part the fund would pay is deleveraged). While off,
  ``fund-cannot-pay`` applies (OKX ``bal_adl_start``: the balance fell below the ADL balance; Bybit's "pool
  equity ADL" when the balance is <= 0).

  ``drawdown_peak = "run"`` takes the peak since the run's start instead of within a window (Bitget's newer text:
  "IF drops by 30% from its peak", no window stated, venues.md section 8). ``drawdown_min_balance`` (Bybit's
  ``adlTriggerThreshold``: "trigger if balance > adlTriggerThreshold AND pnlRatio < insurancePnlRatio") keeps the
  drawdown rule from starting while the fund is at or below it; it is checked against the fund at the start of
  each step (the kernel switches the rule on within a step as the fund moves, against one start threshold), so a
  fund that crosses it inside a step is judged by where it stood at the step's start.

  Bybit's rule as published is per symbol in a pool of up to 9 symbols: ``pnlRatio = (symbol PnL - symbol 8h
  max PnL) / pool 8h max balance``. The engine's fund belongs to one instrument (a pool of one symbol), whose
  PnL is the fund's own change, so ``pnlRatio = (fund - peak) / peak`` = minus the fund's drawdown: the
  venue's example TV-05 (8 h max balance 2M, the symbol gives back 600k: -0.30) is a 30% drawdown. Not
  expressed: other symbols' PnL in a shared pool and the T+1 balance refreshed at 00:00 UTC (stand-in: a pool of
  one symbol whose balance is the fund's own, live).

Fill prices (``fill``):

- ``bankruptcy`` (Binance, BitMEX, Bybit: "at the bankruptcy price of the initial liquidated order"): the
  bankrupt position's bankruptcy price ``BP`` (rounded against the account, :mod:`delever.liquidation`), so the
  deleveraged part ends the account's loss.
- ``mark`` (OKX: "matched directly ... at the current mark price", section 4): this step's mark.
- ``previous-mark`` (Hyperliquid: "positions closed at the previous mark price", section 6): the mark of the
  previous step (this step's at the first step). Hyperliquid updates its mark every few seconds; the engine's
  previous mark is ``step_seconds`` old.

Money for a fill other than ``BP``: both sides trade at the fill price, so the fill itself moves money only
between the two accounts. What it leaves on the bankrupt account is settled as every liquidation is
(:func:`delever.liquidation.liquidate`, step 3): a positive balance pays the liquidation fee (capped at the
balance) to the fund and keeps the rest (OKX: "counterparty PnL realised; no loss socialisation afterwards";
the account's own surplus is not taken); a negative balance (the fill was beyond ``BP``) is paid by the fund
(an ``insurance_payout`` event: the fund pays, the account receives) as far as the fund goes, and the rest
stays on the account as unrecovered bad debt (a ``bad_debt`` event). Hyperliquid has no insurance fund: its
liquidator vault (HLP) covers such losses ("zero bad debt" on 10 Oct 2025, section 11); the scenario's
insurance fund stands for it. Each counterparty gives at most what keeps its own equity >= 0 at the mark
after a fill at the fill price (:func:`delever.liquidation.winner_capacity`), whatever the rule.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from ..units import money

TRIGGER_FUND_CANNOT_PAY = 0
TRIGGER_NEGATIVE_EQUITY = 1
TRIGGER_FUND_DRAWDOWN = 2
TRIGGER_ZERO_FILL = 3
"""dYdX v4: deleverage only a position whose IOC liquidation order filled nothing and whose TNC < 0
(:mod:`delever.ioc_order`); with a market order (which always fills) the fund pays first, as ``fund-cannot-pay``."""
TRIGGERS = {"fund-cannot-pay": TRIGGER_FUND_CANNOT_PAY, "negative-equity": TRIGGER_NEGATIVE_EQUITY,
            "fund-drawdown": TRIGGER_FUND_DRAWDOWN, "zero-fill": TRIGGER_ZERO_FILL}  # fmt: skip
"""Scenario name -> the kernel's trigger code."""

FILL_BANKRUPTCY = "bankruptcy"
FILL_MARK = "mark"
FILL_PREVIOUS_MARK = "previous-mark"

CTL_TRIGGER = 0
"""Index of the trigger code in the kernel's control array."""
CTL_DRAWDOWN_ON = 1
"""1 while drawdown ADL is on (the kernel switches it as the fund moves)."""
CTL_START_AT = 2
"""Drawdown ADL starts when the fund is at or below this balance (money; -1: never)."""
CTL_STOP_ABOVE = 3
"""Drawdown ADL stops when the fund is above this balance (money)."""
CTL_WHOLE = 4
"""1: while drawdown ADL is on, whole liquidated positions are deleveraged (OKX); 0: only the deficit part."""
CTL_SIZE = 5


def default_control() -> np.ndarray:
    """The kernel's control array of the default rule (``fund-cannot-pay``), int64 (:data:`CTL_SIZE`,)."""
    ctl = np.zeros(CTL_SIZE, dtype=np.int64)
    ctl[CTL_START_AT] = -1
    ctl[CTL_STOP_ABOVE] = -1
    return ctl


def balance_at_drawdown(peak: int, pct: Decimal) -> int:
    """``floor(peak x (1 - pct / 100))`` (money): for an integer balance ``f``, ``f <= it`` exactly when the
    fund's drawdown from ``peak`` is at least ``pct`` percent. -1 when ``peak <= 0`` (no drawdown from
    nothing)."""
    if peak <= 0:
        return -1
    num = Decimal(peak) * (100 - pct)
    return int(num // 100)


class AdlTriggerState:
    """One instrument's ADL trigger and fill rule across a run (the drawdown state persists between steps).

    ``config`` a :class:`delever.scenario.AdlConfig`; ``fund_start`` the fund's starting balance (money);
    ``step_seconds`` the run's step. :meth:`control` gives the kernel's arrays for step ``t``.
    """

    def __init__(self, config, fund_start: int, step_seconds: float) -> None:
        self.config = config
        self.fund_start = int(fund_start)
        self.ctl = default_control()
        self.ctl[CTL_TRIGGER] = TRIGGERS[config.trigger]
        self.ctl[CTL_WHOLE] = 1 if config.drawdown_close == "whole-position" else 0
        self.window_steps = max(int(round(config.drawdown_window_s / step_seconds)), 1)
        self.since_start = config.drawdown_peak == "run"
        self.run_peak, self.seen = self.fund_start, 0  # the peak since the start, of the steps before ``seen``
        self.stop_pct = config.drawdown_pct if config.drawdown_stop_pct is None else config.drawdown_stop_pct
        self.min_balance = None
        if config.drawdown_min_balance is not None:
            self.min_balance = money(config.drawdown_min_balance)

    @property
    def default(self) -> bool:
        """True for the default rule (fund cannot pay, fill at the bankruptcy price)."""
        return self.config.trigger == "fund-cannot-pay" and self.config.fill == FILL_BANKRUPTCY

    def control(self, t: int, fund_now: int, fund_series: np.ndarray, mark: int, mark_series: np.ndarray):
        """``(ctl, fill_px)`` for the liquidations of step ``t``: ``ctl`` int64 (:data:`CTL_SIZE`,) the control
        array (kept and mutated across steps), ``fill_px`` int64 (1,) the ADL fill price in ticks, -1 for the
        bankruptcy price. ``fund_series``/``mark_series`` int64 (T,) the per-step fund (money) and mark (ticks)
        of the steps before ``t``; ``fund_now``/``mark`` this step's."""
        if self.ctl[CTL_TRIGGER] == TRIGGER_FUND_DRAWDOWN:
            peak = int(fund_now)
            if self.since_start:  # the peak since the start, kept as a running maximum of the steps seen
                if t > self.seen:
                    self.run_peak = max(self.run_peak, int(fund_series[self.seen : t].max()))
                    self.seen = t
                peak = max(peak, self.run_peak)
            else:
                lo = max(0, t - self.window_steps)
                if t > lo:
                    peak = max(peak, int(fund_series[lo:t].max()))
                if lo == 0:  # the window reaches back to the start: the starting balance is in it
                    peak = max(peak, self.fund_start)
            self.ctl[CTL_START_AT] = balance_at_drawdown(peak, self.config.drawdown_pct)
            if self.min_balance is not None and fund_now <= self.min_balance:
                self.ctl[CTL_START_AT] = -1  # at or below the threshold the drawdown rule does not start
            self.ctl[CTL_STOP_ABOVE] = balance_at_drawdown(peak, self.stop_pct)
        fill = self.config.fill
        if fill == FILL_MARK:
            px = int(mark)
        elif fill == FILL_PREVIOUS_MARK:
            px = int(mark_series[t - 1]) if t > 0 else int(mark)
        else:
            px = -1
        return self.ctl, np.array([px], dtype=np.int64)
