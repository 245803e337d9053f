"""Option and future series as instruments, linear or inverse settled, and their values in integer money.

A *series* is one listed contract: a European call or put of one strike and expiry, or a future (perpetual or
dated) on the same underlying. Settlement, as Deribit lists them:

- **linear** (USDC/USDT-settled, https://support.deribit.com/hc/en-us/articles/25944750999581-Linear-USDC-Options):
  premium, P&L and margin in the quote currency; an option pays ``max(S_T - K, 0)`` (call) or ``max(K - S_T, 0)``
  (put) quote per base unit at expiry, times the contract multiplier.
- **inverse** (coin-settled, https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options): premium,
  P&L and margin in the base coin; the payoff in coin is the quote payoff divided by the delivery price
  (Deribit's example: strike 100,000, delivery 125,000: ``25,000 / 125,000 = 0.2`` BTC per option).

:class:`SeriesTable` holds many series as a structure of arrays (one entry per series) for the vectorised margin
sweeps. Quantities are integer lots of ``lot_size`` base units (signed, long > 0).

Money: values leave this module as integer counts of ``1 / money_scale`` of the settlement currency:
``delever.units.MONEY_SCALE`` (micro-units) for linear series, :data:`COIN_SCALE` (1e-8, the satoshi) for inverse
ones. The model value is a float; :func:`position_value_money` rounds it **against the account**: a long holder's
option (an asset) rounds down, a writer's liability rounds up (``delever.units`` rounding rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import numpy as np

from ..units import MONEY_SCALE
from .black76 import black76_price
from .money import floor_money

COIN_SCALE = 100_000_000
"""Money units per 1 coin for inverse (coin-settled) series: 1e-8, the precision Deribit books BTC in."""

FUTURE, CALL, PUT = 0, 1, 2
"""Kind codes of :attr:`SeriesTable.kind`."""

SECONDS_PER_YEAR = 365.0 * 86_400.0
"""Time to expiry counts 365-day years (as Deribit's days-to-expiry in its volatility shock)."""


@dataclass(frozen=True)
class OptionSeries:
    """One European option series.

    Attributes:
        symbol: venue symbol, e.g. ``"BTC-26DEC25-100000-C"``.
        kind: ``"call"`` or ``"put"``.
        strike: strike in quote units per base unit (Decimal, > 0).
        expiry: expiry time (UTC).
        settlement: ``"linear"`` (quote-settled) or ``"inverse"`` (coin-settled).
        lot_size: base units per lot (Deribit BTC options: 0.1 BTC minimum size; multiplier 1 BTC per contract).

    Raises:
        ValueError: non-positive strike or lot size, or an unknown kind or settlement.
    """

    symbol: str
    kind: Literal["call", "put"]
    strike: Decimal
    expiry: datetime
    settlement: Literal["linear", "inverse"] = "inverse"
    lot_size: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        if self.kind not in ("call", "put"):
            raise ValueError(f"{self.symbol}: kind must be 'call' or 'put' (got {self.kind!r})")
        if self.settlement not in ("linear", "inverse"):
            raise ValueError(f"{self.symbol}: settlement must be 'linear' or 'inverse' (got {self.settlement!r})")
        if Decimal(self.strike) <= 0 or Decimal(self.lot_size) <= 0:
            raise ValueError(f"{self.symbol}: strike and lot_size must be > 0")

    def years_to_expiry(self, now: datetime) -> float:
        """Time from ``now`` to expiry in 365-day years (0 once expired)."""
        return max((self.expiry - now).total_seconds(), 0.0) / SECONDS_PER_YEAR


@dataclass(frozen=True)
class SeriesTable:
    """Many series as a structure of arrays, all of one underlying and one settlement currency.

    Attributes (each of shape ``(n_series,)``):
        kind: int8 codes :data:`FUTURE`, :data:`CALL`, :data:`PUT`.
        strike: float64 strike, quote per base unit (0 for futures).
        years: float64 time to expiry in years (options > 0; futures: any, unused).
        lot_size: float64 base units per lot; for an inverse future, quote units of notional per lot (Deribit's
            BTC-PERPETUAL: 10 USD a contract).
        inverse: the table's settlement, True for coin-settled (one settlement per table: Deribit's segregated
            portfolio margin treats "each of the settlement currencies separately",
            https://support.deribit.com/hc/en-us/articles/25944756247837-Portfolio-Margin).

    Raises:
        ValueError: arrays of different lengths, an unknown kind code, an option with a strike or time <= 0,
            or a lot size <= 0.
    """

    kind: np.ndarray
    strike: np.ndarray
    years: np.ndarray
    lot_size: np.ndarray
    inverse: bool = False

    def __post_init__(self) -> None:
        kind = np.asarray(self.kind, dtype=np.int8)
        arrays = {
            "strike": np.asarray(self.strike, dtype=np.float64),
            "years": np.asarray(self.years, dtype=np.float64),
            "lot_size": np.asarray(self.lot_size, dtype=np.float64),
        }
        n = kind.shape[0]
        for name, arr in arrays.items():
            if arr.shape != (n,):
                raise ValueError(f"SeriesTable.{name}: shape {arr.shape}, expected ({n},)")
        if np.any((kind != FUTURE) & (kind != CALL) & (kind != PUT)):
            raise ValueError("SeriesTable.kind: codes must be FUTURE=0, CALL=1 or PUT=2")
        option = kind != FUTURE
        if np.any(option & ((arrays["strike"] <= 0) | (arrays["years"] <= 0))):
            raise ValueError("SeriesTable: every option needs strike > 0 and years > 0")
        if np.any(arrays["lot_size"] <= 0):
            raise ValueError("SeriesTable.lot_size: must be > 0")
        object.__setattr__(self, "kind", kind)
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)

    @property
    def n_series(self) -> int:
        return int(self.kind.shape[0])

    @property
    def is_option(self) -> np.ndarray:
        return self.kind != FUTURE

    @property
    def money_scale(self) -> int:
        """Money units per 1 settlement-currency unit: :data:`COIN_SCALE` if inverse, else ``MONEY_SCALE``."""
        return COIN_SCALE if self.inverse else MONEY_SCALE

    @classmethod
    def from_options(cls, options: list[OptionSeries], now: datetime) -> SeriesTable:
        """Table of option series (all of one settlement) at time ``now``.

        Raises:
            ValueError: mixed settlements, an empty list, or a series already expired at ``now``.
        """
        if not options:
            raise ValueError("SeriesTable.from_options: no series")
        settlements = {o.settlement for o in options}
        if len(settlements) != 1:
            raise ValueError(f"SeriesTable.from_options: one settlement per table (got {sorted(settlements)})")
        return cls(
            kind=np.array([CALL if o.kind == "call" else PUT for o in options], dtype=np.int8),
            strike=np.array([float(o.strike) for o in options]),
            years=np.array([o.years_to_expiry(now) for o in options]),
            lot_size=np.array([float(o.lot_size) for o in options]),
            inverse=settlements == {"inverse"},
        )


def unit_values(table: SeriesTable, forward, vol) -> np.ndarray:
    """Model value of one base unit of every series, in the settlement currency (float64).

    Options: Black-76 on ``forward``, in quote; divided by ``forward`` for inverse series (coin). Futures: 0 (a
    future's value is its P&L against its entry, which the engine's ledger holds; scenario P&L of futures is in
    :mod:`.portfolio_margin`).

    Args:
        table: the series.
        forward: forward price of each series' expiry, shape ``(n_series,)`` or broadcastable against ``vol``.
        vol: implied volatility of each series, same broadcasting.
    """
    quote = np.where(
        table.is_option,
        black76_price(forward, np.where(table.is_option, table.strike, 1.0), vol, table.years, table.kind == CALL),
        0.0,
    )
    return quote / np.asarray(forward, dtype=np.float64) if table.inverse else quote


def position_value_money(unit_value, lots, lot_size, money_scale: int) -> np.ndarray:
    """Signed value of option positions in integer money units, rounded against the holder.

    ``value = lots * lot_size * unit_value * money_scale``: a long position (an asset of the account) rounds down
    (:func:`.money.floor_money`), a short one (a liability) rounds away from zero (its negative value floors
    too), so the account is never credited a fraction of a unit it would not get on closing.

    Args:
        unit_value: value of one base unit in the settlement currency (float64, >= 0), per position.
        lots: int64 signed lots per position.
        lot_size: base units per lot per position (float64).
        money_scale: money units per settlement-currency unit.

    Returns:
        int64 array of signed money values, shape of the broadcast inputs.
    """
    exact = np.asarray(lots, dtype=np.float64) * np.asarray(lot_size) * np.asarray(unit_value) * money_scale
    return floor_money(exact)


def settlement_payoff_money(kind: int, strike: Decimal, delivery: Decimal, base_units: Decimal, inverse: bool) -> int:
    """Exact payoff at expiry to the holder of ``base_units`` of an option, in integer money units (floor).

    Linear: ``max(S_T - K, 0)`` (call) or ``max(K - S_T, 0)`` (put) per base unit, in quote at
    ``MONEY_SCALE``; inverse: the same divided by the delivery price, in coin at :data:`COIN_SCALE`
    (Deribit's inverse settlement, module docstring). The payout rounds down (a payout to the trader).

    Raises:
        ValueError: ``kind`` not CALL or PUT, or a delivery price <= 0.
    """
    if kind not in (CALL, PUT):
        raise ValueError(f"settlement_payoff_money: kind must be CALL or PUT (got {kind})")
    if delivery <= 0:
        raise ValueError("settlement_payoff_money: delivery price must be > 0")
    intrinsic = max(delivery - strike, Decimal(0)) if kind == CALL else max(strike - delivery, Decimal(0))
    if inverse:
        return int((intrinsic * base_units * COIN_SCALE) // delivery)
    return int((intrinsic * base_units * MONEY_SCALE).to_integral_value(rounding="ROUND_FLOOR"))
