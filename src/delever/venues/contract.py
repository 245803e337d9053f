"""One venue contract (:class:`VenueInstrument`): linear or inverse, its lot, tick, contract size, settlement
asset and margin schedule; values, uPnL and notionals of a position in exact money (module docstring of
:mod:`delever.venues.rulebook`: linear ``s * q * P * S``, inverse ``s * K / P``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal


from ..errors import InputError
from .exact import INVERSE_MONEY_SCALE, LINEAR_MONEY_SCALE, ceil_frac, floor_frac
from .margin_models import MarginModel


ContractType = Literal["linear", "inverse"]


@dataclass(frozen=True)
class VenueInstrument:
    """A venue's perpetual contract.

    Attributes:
        symbol: the venue's symbol (``BTCUSDT``, ``XBTUSD``, ``BTC-USDT-SWAP``, ...).
        contract: ``"linear"`` (margined and settled in the quote) or ``"inverse"`` (in the base coin).
        base, quote, settle: assets; ``settle`` is the collateral and PnL asset.
        tick_size: price increment, quote units.
        lot_size: size increment: base units (linear) or contracts (inverse).
        contract_size: one contract: base units (linear, e.g. OKX 0.01 BTC) or quote units (inverse, 1 USD).
        margin: the margin schedule.
        source: where the tick, lot and contract sizes come from (they are not in venues.md).
    """

    symbol: str
    contract: ContractType
    base: str
    quote: str
    settle: str
    tick_size: Decimal
    lot_size: Decimal
    contract_size: Decimal
    margin: MarginModel
    source: str = ""

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0 or self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: tick, lot and contract sizes must be > 0")
        if self.contract == "linear":
            v = self.tick_size * self.lot_size * LINEAR_MONEY_SCALE
            if v != v.to_integral_value():
                raise ValueError(f"{self.symbol}: tick x lot must be a whole number of money units")

    @property
    def money_scale(self) -> int:
        """Money units per 1 settlement asset."""
        return LINEAR_MONEY_SCALE if self.contract == "linear" else INVERSE_MONEY_SCALE

    @property
    def size_unit(self) -> str:
        """What ``--size`` counts: the base asset (linear) or contracts (inverse)."""
        return self.base if self.contract == "linear" else "contracts"

    def k(self) -> Fraction:
        """Money per lot per unit of price (linear ``q*S``) or money*price per lot (inverse ``lot*cs*S``)."""
        if self.contract == "linear":
            return Fraction(self.lot_size) * self.money_scale
        return Fraction(self.lot_size) * Fraction(self.contract_size) * self.money_scale

    def value(self, lots: int, price: Fraction) -> Fraction:
        """Signed position value in money units at ``price`` (quote): ``s*q*S*P`` or ``s*K/P``."""
        return lots * self.k() * price if self.contract == "linear" else lots * self.k() / price

    def notional(self, lots: int, price: Fraction) -> Fraction:
        """``|value|`` in money units (exact)."""
        return abs(self.value(lots, price))

    def upnl(self, lots: int, entry: Fraction, price: Fraction) -> Fraction:
        """Exact unrealised PnL in money units of a signed position opened at ``entry``."""
        if self.contract == "linear":
            return lots * self.k() * (price - entry)
        return lots * self.k() * (1 / entry - 1 / price)

    def contracts(self, lots: int) -> Decimal:
        """Number of contracts (ccxt ``contracts``) of ``lots``."""
        if self.contract == "linear":
            return abs(lots) * self.lot_size / self.contract_size
        return abs(lots) * self.lot_size

    def price_to_ticks(self, price: Fraction, rounding: Literal["ceil", "floor"]) -> int:
        """A quote price to ticks, rounded as asked."""
        t = price / Fraction(self.tick_size)
        return ceil_frac(t) if rounding == "ceil" else floor_frac(t)

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Ticks to an exact ``Decimal`` quote price."""
        return ticks * self.tick_size

    def size_to_lots(self, size: Decimal | str) -> int:
        """A size (base units or contracts) to lots; it must be a whole number of lots.

        Raises:
            InputError(field="size"): not a number, <= 0, or not a multiple of the lot size.
        """
        try:
            d = Decimal(str(size))
        except InvalidOperation:
            raise InputError(f"not a number: {size!r}", field="size") from None
        if not d.is_finite() or d <= 0:
            raise InputError(f"must be > 0 (got {size})", field="size")
        q = d / self.lot_size
        if q != q.to_integral_value():
            raise InputError(
                f"{size} is not a multiple of {self.symbol}'s lot size {self.lot_size} {self.size_unit}", field="size"
            )
        return int(q)
