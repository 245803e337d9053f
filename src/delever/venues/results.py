"""What a rulebook reports for one position (:class:`PositionResult`): margins, liquidation and bankruptcy
prices, and the figures a trader sees, in money units and ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction


from .exact import plain, to_decimal
from .rules import MarginMode


@dataclass(frozen=True)
class PositionResult:
    """One position under a rulebook. Money in the settlement asset's money units, prices in ticks."""

    venue: str
    symbol: str
    side: int
    lots: int
    contracts: Decimal
    entry_price: Decimal
    mark_price: Decimal
    notional: int
    leverage: Fraction
    collateral: int
    initial_margin: int
    maintenance_margin: int
    mmr: Fraction
    unrealized_pnl: int
    equity: int
    liquidation_price: int | None
    bankruptcy_price: int | None
    margin_mode: MarginMode
    tier: int
    max_leverage: Fraction
    liquidatable: bool
    settle: str
    money_scale: int
    tick_size: Decimal
    contract_size: Decimal

    def money(self, units: int) -> Decimal:
        """Money units to an exact ``Decimal`` of the settlement asset."""
        return to_decimal(Fraction(units, self.money_scale), 10)

    def price(self, ticks: int | None) -> Decimal | None:
        """Ticks to an exact ``Decimal`` price (None stays None)."""
        return None if ticks is None else plain(ticks * self.tick_size)

    def to_ccxt(self) -> dict[str, object]:
        """ccxt's unified position structure (https://docs.ccxt.com/#/README?id=position-structure) plus
        ``bankruptcyPrice`` and ``adlQuantile`` (``None``: it needs the whole book). Decimals are exact."""
        return {
            "symbol": self.symbol,
            "side": "long" if self.side > 0 else "short",
            "contracts": plain(self.contracts),
            "contractSize": plain(self.contract_size),
            "entryPrice": plain(self.entry_price),
            "markPrice": plain(self.mark_price),
            "notional": self.money(self.notional),
            "leverage": to_decimal(self.leverage, 8),
            "collateral": self.money(self.collateral),
            "initialMargin": self.money(self.initial_margin),
            "maintenanceMargin": self.money(self.maintenance_margin),
            "maintenanceMarginPercentage": to_decimal(self.mmr, 10),
            "unrealizedPnl": self.money(self.unrealized_pnl),
            "liquidationPrice": self.price(self.liquidation_price),
            "marginMode": self.margin_mode,
            "bankruptcyPrice": self.price(self.bankruptcy_price),
            "adlQuantile": None,
            "info": {
                "venue": self.venue,
                "settle": self.settle,
                "tier": self.tier + 1,
                "maxLeverage": to_decimal(self.max_leverage, 4),
                "equity": self.money(self.equity),
                "liquidatable": self.liquidatable,
            },
        }
