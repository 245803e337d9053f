"""Instruments: linear (USDT/USDC-margined) perpetuals and dated futures, and inverse (coin-margined) perpetuals.

An instrument fixes the integer scales of its prices and sizes (``delever.units``): prices are counts of
``tick_size`` quote units, sizes counts of ``lot_size`` base units, and ``value_per_lot_tick`` is the money
value of one lot moving one tick, so ``notional = |lots| * ticks * value_per_lot_tick`` exactly.

An inverse contract (``contract_value`` set: BitMEX XBTUSD) runs as the linear contract on its reciprocal price
(:mod:`delever.inverse`): its engine prices are coin values of one contract, its sizes contracts with the
opposite sign, its money the coin; :meth:`Instrument.display_prices` and :meth:`Instrument.display_sizes` turn
them back into the venue's USD prices and signed contract counts for every table and page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np

from .tiers import RiskTiers
from .units import MONEY_SCALE, to_units

MICRO = 1_000_000
"""µcoin per coin: an inverse contract's money and prices are in µcoin (:mod:`delever.inverse`)."""


def reciprocal_index(values, contract_value: Decimal) -> np.ndarray:
    """``cv x 1e6 / values``, float64, either way between an inverse contract's venue prices (``contract_quote``
    per coin) and the coin value of one contract in µcoin (:mod:`delever.inverse`): the map is its own inverse."""
    return float(contract_value) * MICRO / np.asarray(values, dtype=np.float64)


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

        contract_value: an inverse contract's value in ``contract_quote`` units (XBTUSD: 1 USD), ``None`` for a
            linear one. Set, the instrument is the reciprocal form of :mod:`delever.inverse`: ``quote`` is the
            money label (``"µXBT"``), ``tick_size`` µcoin per contract, ``lot_size`` contracts, ``base``
            ``"contracts"``, and ``quoted_tick_size`` the venue's own tick in ``contract_quote``.

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
    contract_value: Decimal | None = None
    contract_quote: str = "USD"
    coin: str = ""
    quoted_tick_size: Decimal | None = None
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
        if self.contract_value is not None and (self.kind != "perpetual" or self.contract_value <= 0):
            raise ValueError(f"{self.symbol}: an inverse contract is a perpetual with a contract value > 0")
        object.__setattr__(self, "value_per_lot_tick", int(v))

    @property
    def inverse(self) -> bool:
        """True for an inverse (coin-margined) contract run on its reciprocal price (:mod:`delever.inverse`)."""
        return self.contract_value is not None

    @property
    def price_quote(self) -> str:
        """The currency :meth:`display_prices` are in: the quote, or an inverse contract's ``contract_quote``."""
        return self.contract_quote if self.inverse else self.quote

    def display_prices(self, ticks) -> np.ndarray:
        """Engine prices (ticks, any shape) as float64 venue prices: ``ticks * tick_size``; for an inverse
        contract the USD price ``contract_value / q`` of the contract's coin value ``q`` (:mod:`delever.inverse`;
        0 where ``ticks`` is 0). For tables and plots only: the exact prices are the ticks."""
        t = np.asarray(ticks, dtype=np.float64)
        if not self.inverse:
            return t * float(self.tick_size)
        micro_coin = np.where(t > 0, t, 1.0) * float(self.tick_size)  # µcoin a contract
        return np.where(t > 0, reciprocal_index(micro_coin, self.contract_value), 0.0)

    def venue_lots(self, size: Decimal) -> int:
        """A venue size (base units; an inverse contract's signed contracts) as engine lots: exact (ValueError
        when it is not a whole number of lots); an inverse contract's with the opposite sign (a USD long is a
        reciprocal short, :mod:`delever.inverse`)."""
        lots = self.size_to_lots(size)
        return -lots if self.inverse else lots

    def entry_cost(self, lots: int, entry: Decimal | Fraction) -> Fraction:
        """The exact signed entry value (money units, the book's ``cost``) of ``lots`` engine lots entered at the
        venue price ``entry``: ``lots x entry / tick_size x V``, for an inverse contract at its coin value
        ``q = cv / entry`` (µcoin a contract); a caller rounds it up (a higher cost is a lower PnL)."""
        price = Fraction(self.contract_value) * MICRO / Fraction(entry) if self.inverse else Fraction(entry)
        return price / Fraction(self.tick_size) * lots * self.value_per_lot_tick

    def venue_price_to_ticks(self, price: Decimal, rounding: str) -> int:
        """A venue price (quote; an inverse contract's in ``contract_quote``) as engine ticks, rounded ``"floor"``
        or ``"ceil"`` on the engine's price (for an inverse contract: on ``q = cv / P``, which falls as ``P``
        rises, so the caller's direction is that of the engine price)."""
        if not self.inverse:
            return self.price_to_ticks(price, rounding=rounding)
        q = Fraction(self.contract_value) * MICRO / Fraction(price) / Fraction(self.tick_size)
        return q.numerator // q.denominator if rounding == "floor" else -((-q.numerator) // q.denominator)

    def venue_price(self, ticks: int) -> Decimal:
        """Engine ticks as the venue's price: exact ``ticks x tick_size``, or an inverse contract's USD price
        ``cv / q`` rounded half-even to 1e-8 (``Infinity`` at ``q = 0``)."""
        if not self.inverse:
            return int(ticks) * self.tick_size
        if ticks <= 0:  # a coin value of 0 a contract: no USD price reaches it
            return Decimal("Infinity")
        q = Fraction(int(ticks)) * Fraction(self.tick_size) / MICRO
        p = Fraction(self.contract_value) / q
        return (Decimal(p.numerator) / Decimal(p.denominator)).quantize(Decimal("1e-8"))

    def display_sizes(self, lots) -> np.ndarray:
        """Engine sizes (lots, any shape) as float64 venue sizes: base units, or for an inverse contract signed
        contracts (a USD long is a reciprocal short: the sign flips, :mod:`delever.inverse`)."""
        s = np.asarray(lots, dtype=np.float64) * float(self.lot_size)
        return -s if self.inverse else s

    def price_to_ticks(self, price: Decimal | str | float, rounding: str | None = None) -> int:
        """Quote price to ticks (exact unless ``rounding`` is ``"floor"`` or ``"ceil"``)."""
        return to_units(price, self.tick_size, what=f"{self.symbol} price", rounding=rounding)

    def size_to_lots(self, size: Decimal | str | float, rounding: str | None = None) -> int:
        """Base size to lots (exact unless ``rounding`` is given)."""
        return to_units(size, self.lot_size, what=f"{self.symbol} size", rounding=rounding)

    def ticks_to_price(self, ticks: int | float) -> float:
        """Ticks to a float venue price (for display and plots only; :meth:`display_prices`)."""
        return float(self.display_prices(ticks))

    def lots_to_size(self, lots: int | float) -> float:
        """Lots to a float venue size (for display only; :meth:`display_sizes`)."""
        return float(self.display_sizes(lots))
