"""Instruments: linear (USDT/USDC-margined) perpetuals and dated futures.

An instrument fixes the integer scales of its prices and sizes (``delever.units``): prices are counts of
``tick_size`` quote units, sizes counts of ``lot_size`` base units, and ``value_per_lot_tick`` is the money
value of one lot moving one tick, so ``notional = |lots| * ticks * value_per_lot_tick`` exactly.
Inverse (coin-margined) contracts are not modelled by the engine yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from .tiers import RiskTiers
from .units import MONEY_SCALE, to_units


@dataclass(frozen=True)
class Instrument:
    """A linear contract.

    Attributes:
        symbol: venue symbol, e.g. ``"BTCUSDT"``.
        kind: ``"perpetual"``, ``"dated_future"`` (the latter has an ``expiry``; it pays no funding) or ``"option"``
            (a linear option series of a run, :mod:`delever.options.engine_market`; its expiry is the series').
        tick_size: price increment in quote units (BTCUSDT: 0.1).
        lot_size: size increment in base units (BTCUSDT: 0.001).
        tiers: risk-limit tiers (brackets of notional).
        expiry: settlement time (UTC) of a dated future or an option series, ``None`` for a perpetual.
        strike, option_type: an option series' strike (quote) and ``"call"`` / ``"put"`` (its settlement price is
            the intrinsic value at the underlying's, :func:`delever.settlement.option_settlement_ticks`).

    Raises:
        ValueError: non-positive increments, ``lot_size * tick_size`` not a whole number of money units,
            or an expiry that does not match the kind.
    """

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    tiers: RiskTiers
    kind: Literal["perpetual", "dated_future", "option"] = "perpetual"
    base: str = "BTC"
    quote: str = "USDT"
    expiry: datetime | None = None
    strike: Decimal | None = None
    option_type: Literal["call", "put"] | None = None
    value_per_lot_tick: int = field(init=False)

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size and lot_size must be > 0")
        v = self.tick_size * self.lot_size * MONEY_SCALE
        if v != v.to_integral_value():
            raise ValueError(f"{self.symbol}: tick_size x lot_size must be a multiple of 1e-6 quote")
        if self.kind != "option" and (self.kind == "dated_future") != (self.expiry is not None):
            raise ValueError(f"{self.symbol}: a dated future needs an expiry, a perpetual has none")
        if self.kind == "option" and self.expiry is not None and (self.strike is None or self.option_type is None):
            raise ValueError(f"{self.symbol}: an option series with an expiry needs a strike and an option_type")
        object.__setattr__(self, "value_per_lot_tick", int(v))

    def price_to_ticks(self, price: Decimal | str | float, rounding: str | None = None) -> int:
        """Quote price to ticks (exact unless ``rounding`` is ``"floor"`` or ``"ceil"``)."""
        return to_units(price, self.tick_size, what=f"{self.symbol} price", rounding=rounding)

    def size_to_lots(self, size: Decimal | str | float, rounding: str | None = None) -> int:
        """Base size to lots (exact unless ``rounding`` is given)."""
        return to_units(size, self.lot_size, what=f"{self.symbol} size", rounding=rounding)

    def ticks_to_price(self, ticks: int | float) -> float:
        """Ticks to a float quote price (for display and plots only)."""
        return float(ticks) * float(self.tick_size)

    def lots_to_size(self, lots: int | float) -> float:
        """Lots to a float base size (for display only)."""
        return float(lots) * float(self.lot_size)
