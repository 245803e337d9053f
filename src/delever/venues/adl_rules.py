"""A venue's ADL rule: its trigger, its ranking score and its indicator, by name (:data:`SCORES`,
:data:`INDICATORS`). The scores are the one implementation in :mod:`delever.adl.scores` and the lights the one
formula in :mod:`delever.adl.ranking`, shared with the engine's queue (issue #11). Sources: venues.md
sections 1-8, cited per function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from ..adl import scores as adl_scores
from ..adl.ranking import adl_indicator as bitmex_lights
from .exact import LINEAR_MONEY_SCALE


@dataclass(frozen=True)
class AdlTrigger:
    """When ADL (or the venue's last-resort loss allocation) starts and stops.

    Kinds: ``fund_cannot_pay`` (the fund cannot take the bankrupt position: Binance, BitMEX, Bybit's original
    rule, Bitget, dYdX), ``fund_drawdown`` (fund ``<= peak * (1 - drawdown)`` within ``window_hours``: OKX 30%
    over 8 h, Bitget's newer text), ``pnl_drawdown`` (Bybit 2025: symbol PnL drawdown over the pool's 8 h max
    balance), ``negative_equity`` (Hyperliquid: account or isolated position value < 0; dYdX: TNC < 0 after a
    liquidation that filled nothing), ``assignment_unfilled`` (Kraken: what assignment could not place is
    unwound), ``none`` (no ADL: Deribit and Drift socialise the loss instead).

    ``fund_first``: the fund pays a liquidation's fills beyond the bankruptcy price before any deleveraging
    (dYdX v4: the IOC liquidation order's insurance-fund delta, engines.md section 1), so ``negative_equity``
    deleverages only what the fund cannot pay. ``while_on``: what a drawdown trigger deleverages while on,
    ``whole_position`` (OKX: "no more market liquidation orders") or ``deficit`` (Bybit: a liquidation that
    cannot close better than BP, the book first). The engine's options: :meth:`Rulebook.engine_adl_rule`.
    """

    kind: Literal["fund_cannot_pay", "fund_drawdown", "pnl_drawdown", "negative_equity", "assignment_unfilled", "none"]
    summary: str
    drawdown: Fraction | None = None
    window_hours: int | None = None
    pnl_ratio_start: Fraction | None = None
    pnl_ratio_stop: Fraction | None = None
    balance_threshold: Fraction | None = None
    fund_first: bool = False
    while_on: Literal["whole_position", "deficit"] = "whole_position"

    @staticmethod
    def fund_cannot_pay(fund_balance: int, loss: int) -> bool:
        """True when the fund's balance does not cover a bankrupt loss (money units)."""
        return loss > fund_balance

    def fund_drawdown_triggered(self, balance: int | Fraction, peak: int | Fraction) -> bool:
        """``balance <= peak * (1 - drawdown)`` (OKX: "a straight-line decrease of 30% from the peak value of
        the risk reserve within 8 hours", venues.md section 4)."""
        if self.drawdown is None:
            raise ValueError(f"{self.kind}: no drawdown rule")
        return Fraction(balance) <= Fraction(peak) * (1 - self.drawdown)

    @staticmethod
    def pnl_ratio(
        symbol_pnl: int | Fraction, symbol_max_pnl_8h: int | Fraction, pool_max_balance_8h: int | Fraction
    ) -> Fraction:
        """Bybit's ``pnlRatio = (symbol PnL - symbol 8h max PnL) / pool 8h max balance`` (section 3)."""
        return (Fraction(symbol_pnl) - Fraction(symbol_max_pnl_8h)) / Fraction(pool_max_balance_8h)

    def pnl_drawdown_triggered(self, ratio: Fraction, balance: int | Fraction) -> bool:
        """``balance > threshold`` and ``ratio <= start`` (Bybit's text says ``<``; its example 2, TV-05,
        triggers at exactly -0.30, so equality triggers)."""
        if self.pnl_ratio_start is None or self.balance_threshold is None:
            raise ValueError(f"{self.kind}: no PnL drawdown rule")
        return Fraction(balance) > self.balance_threshold and ratio <= self.pnl_ratio_start

    def pnl_drawdown_stopped(self, ratio: Fraction) -> bool:
        """ADL stops once ``ratio > stop`` (-0.25)."""
        if self.pnl_ratio_stop is None:
            raise ValueError(f"{self.kind}: no PnL drawdown rule")
        return ratio > self.pnl_ratio_stop

    @staticmethod
    def equity_adl_triggered(pool_balance: int | Fraction) -> bool:
        """Bybit's pool-equity ADL: the pool's balance is <= 0 (stops once > 0; TV-06)."""
        return Fraction(pool_balance) <= 0

    @staticmethod
    def pnl_to_reach(ratio: Fraction, target: Fraction, pool_max_balance_8h: int | Fraction) -> Fraction:
        """PnL the symbol must recover to bring ``ratio`` up to ``target`` (0 if already there)."""
        return max(Fraction(0), (target - ratio) * Fraction(pool_max_balance_8h))


@dataclass(frozen=True)
class AdlInputs:
    """One side's positions for ranking (arrays of shape (n,), money units as int64 or float64).

    ``upnl`` unrealised PnL; ``cost`` |entry value|; ``notional`` |value at mark|; ``equity`` the position's
    (isolated) or its account's (cross) equity; ``wallet`` wallet balance; ``maintenance_margin`` MM of the
    position (isolated) or account (cross); ``mark`` and ``entry`` prices (any consistent unit); ``side`` +1/-1;
    ``money_scale`` money units per quote unit (Binance's ``max(1, WalletBalance)`` is 1 USDT).
    """

    upnl: np.ndarray
    cost: np.ndarray
    notional: np.ndarray
    equity: np.ndarray
    wallet: np.ndarray
    maintenance_margin: np.ndarray
    mark: np.ndarray
    entry: np.ndarray
    side: np.ndarray
    money_scale: int = LINEAR_MONEY_SCALE

    @classmethod
    def of(cls, money_scale: int = LINEAR_MONEY_SCALE, **cols: Sequence[float]) -> AdlInputs:
        """Build from lists; missing columns default to zeros (``side`` to +1)."""
        n = len(next(iter(cols.values())))
        names = ("upnl", "cost", "notional", "equity", "wallet", "maintenance_margin", "mark", "entry", "side")
        arrs = {k: np.asarray(cols.get(k, [1] * n if k == "side" else [0] * n), dtype=np.float64) for k in names}
        return cls(money_scale=money_scale, **arrs)


ScoreFn = Callable[[AdlInputs], np.ndarray]


def score_bitmex(x: AdlInputs) -> np.ndarray:
    """BitMEX's score of one side (:func:`delever.adl.scores.bitmex`, ``|cost|`` the entry value)."""
    return adl_scores.bitmex(x.upnl, np.abs(x.cost), x.notional, x.equity)


def score_binance(x: AdlInputs) -> np.ndarray:
    """Binance LeveragePnl (:func:`delever.adl.scores.binance`; ``max(1, WalletBalance)`` in the money scale)."""
    return adl_scores.binance(x.upnl, x.wallet, x.maintenance_margin, float(x.money_scale))


def score_hyperliquid(x: AdlInputs) -> np.ndarray:
    """Hyperliquid (:func:`delever.adl.scores.hyperliquid`; shorts by ``entry / mark``, a stated stand-in)."""
    return adl_scores.hyperliquid(x.upnl, x.side, x.mark, x.entry, x.notional, x.equity)


def score_roi_mmr(x: AdlInputs) -> np.ndarray:
    """Bitget cross (:func:`delever.adl.scores.roi_mmr`)."""
    return adl_scores.roi_mmr(x.upnl, np.abs(x.cost), x.maintenance_margin, x.equity)


def score_none(x: AdlInputs) -> np.ndarray:
    """No ranking (dYdX's random offset, socialised losses): every position scores 0."""
    return np.zeros(x.upnl.shape[0], dtype=np.float64)


def indicator_bitmex(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """BitMEX lights 1..5 in 20% steps of cumulative quantity, highest score first (TV-01)."""
    scores = np.asarray(scores, dtype=np.float64)
    return bitmex_lights(scores, np.abs(np.asarray(quantities, dtype=np.int64)))


def indicator_binance(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """Binance ``adlQuantile`` 0..4: ``q = rank(LeveragePnl) / TotalUserCount`` (ranks ascending, ties share
    the highest rank), bucket ``ceil(5 q) - 1``; a score of 0 (not in profit) shows 0 [INF stand-in: Binance
    publishes the quantile, not its mapping to 0-4]. venues.md section 1."""
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    rank = np.searchsorted(np.sort(s), s, side="right")  # ties share the highest rank
    q = -((-5 * rank) // n) - 1
    return np.where(s > 0, q, 0).astype(np.int8)


def indicator_positive_lights(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """0 for positions not in the queue (score <= 0 or no quantity), else BitMEX's 1..5 lights among the rest.

    Stand-in for Bybit's ``adlRankIndicator`` 0-5 (0 = no position, venues.md section 3) and OKX's ``adl`` 0-5
    (section 4): neither venue publishes the mapping.
    """
    s = np.asarray(scores, dtype=np.float64)
    qty = np.abs(np.asarray(quantities, dtype=np.int64))
    out = np.zeros(s.shape[0], dtype=np.int8)
    live = (s > 0) & np.isfinite(s) & (qty > 0)
    if live.any():
        out[live] = bitmex_lights(s[live], qty[live])
    return out


def indicator_none(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """The venue shows no ADL indicator: zeros."""
    return np.zeros(np.asarray(scores).shape[0], dtype=np.int8)


SCORES: dict[str, ScoreFn] = {
    "bitmex": score_bitmex,
    "binance": score_binance,
    "hyperliquid": score_hyperliquid,
    "roi_mmr": score_roi_mmr,
    "none": score_none,
}
"""ADL ranking keys by name (higher = deleveraged first)."""

INDICATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "bitmex_lights": indicator_bitmex,
    "binance_quantile": indicator_binance,
    "positive_lights": indicator_positive_lights,
    "none": indicator_none,
}
"""ADL indicators by name."""


@dataclass(frozen=True)
class AdlRule:
    """ADL: trigger, ranking key (a name in :data:`SCORES`), fill price, indicator (a name in
    :data:`INDICATORS`) and the order of the queue (``ranked``, or ``random_offset`` for dYdX)."""

    trigger: AdlTrigger
    ranking: str
    ranking_summary: str
    fill_price: Literal["bankruptcy", "mark", "previous_mark", "none"]
    indicator: str
    indicator_summary: str
    queue: Literal["ranked", "random_offset", "none"] = "ranked"

    def __post_init__(self) -> None:
        if self.ranking not in SCORES:
            raise ValueError(f"unknown ADL ranking {self.ranking!r}; known: {', '.join(SCORES)}")
        if self.indicator not in INDICATORS:
            raise ValueError(f"unknown ADL indicator {self.indicator!r}; known: {', '.join(INDICATORS)}")
