"""Bankruptcy price of one position inside an account, as the engine's liquidation stage computes it.

The money that backs the position (:func:`delever.liquidation.margin_backing`, the liquidation stage's own kernel,
called here on a book of this one account):

- an **isolated** position: its own margin;
- the account's **only** position: the cross wallet;
- a **cross** position beside others (:func:`delever.margin.cross_backing`, with the other positions at their marks):
  ``whole-account`` (Binance cross, ``WB + UPNL1``: the wallet plus the other cross positions' uPnL,
  ../shared/specs/venues.md section 1, https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93) or
  ``mm-share`` (dYdX v4, ``-DNNV - TNC x |DMMR| / TMMR``: the position keeps the share ``|DMMR| / TMMR`` of the
  account's total net collateral, rounded down; ../shared/specs/engines.md section 1,
  https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go).

The price is where that backing plus the position's uPnL is 0, ``(cost - backing) / (size x V)`` ticks
(:func:`delever.margin.zero_equity_price`), rounded **up for a long and down for a short** (never below 0), so that a
close at the rounded price never needs fund money (:func:`delever.margin.bankruptcy_price`; Bybit rounds a long's
bankruptcy price up too, venues.md TV-08). These are the one formula of the engine, the ADL price of
:func:`delever.liquidation.liquidate` and the price ``delever position`` prints
(:func:`delever.account_prices.account_view`); this module only selects the position and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..errors import InputError
from ..liquidation import margin_backing
from ..margin import BACKING_MM_SHARE, bankruptcy_price as rounded_bankruptcy_price, bankruptcy_price_exact
from .state import AccountState, Market, backing_rule_of


@dataclass(frozen=True)
class BankruptcyPrice:
    """The bankruptcy price of one position.

    Attributes:
        symbol: the position's instrument.
        ticks: the price in ticks, rounded against the account (up for a long, down for a short), >= 0.
        exact: the unrounded price in ticks (a fraction).
        price: the venue's price of ``ticks`` (``ticks x tick_size`` in quote units; an inverse contract's USD
            price, :meth:`~delever.instruments.Instrument.venue_price`).
        backing: the money that backs the position (module docstring), money units.
        basis: which backing applied: ``isolated``, ``only position``, ``whole-account`` or ``mm-share``.
    """

    symbol: str
    ticks: int
    exact: Fraction
    price: Decimal
    backing: int
    basis: str

    def quote_for(self, lots: int, size: int, cost: int) -> int:
        """Money a position of ``size`` lots and ``cost`` receives (> 0; < 0 it pays) for closing ``lots`` (> 0) of
        them at the exact bankruptcy price, ``lots / |size| x (cost - backing)``, rounded toward +inf (dYdX's
        bankruptcy quote: "rounded toward +inf so that closing exactly at it needs no IF money", engines.md
        section 1); exact for the whole position."""
        num = lots * (cost - self.backing)
        return -((-num) // abs(size))


def bankruptcy_price(
    account: AccountState, symbol: str, *, backing_rule: str | int = "whole-account"
) -> BankruptcyPrice:
    """The bankruptcy price of ``account``'s position on ``symbol`` (module docstring).

    Args:
        account: the account, every position at its mark (ticks).
        symbol: the position's instrument symbol.
        backing_rule: ``"whole-account"`` (Binance, the engine's default) or ``"mm-share"`` (dYdX v4), or the
            :mod:`delever.margin` constant; applies to a cross position beside other cross positions only.

    Returns:
        :class:`BankruptcyPrice` (ticks, the exact fraction, the quote price, the backing money).

    Raises:
        InputError: no position on ``symbol`` or a flat one (field ``symbol``), an unknown rule
            (``backing_rule``).

    Example (dYdX, :func:`delever.margin.cross_backing`): wallet 1,000 USDT, long 1 BTC @100,000 (mark 98,500) and
    short 10 ETH @4,000 (mark 3,900), MM 442.5 and 156: TNC 500, TMMR 598.5; ``mm-share`` backs the BTC position
    with ``500 x 442.5 / 598.5 + 1,500`` and its bankruptcy price is ``98,500 - 500 x 442.5 / 598.5 = 98,130.33``;
    ``whole-account`` backs it with ``1,000 + 1,000`` and gives 98,000.
    """
    rule = backing_rule_of(backing_rule)
    i = account.index(symbol)
    pos = account.positions[i]
    if pos.size == 0:
        raise InputError(f"{account.name}'s {symbol} position is flat: it has no bankruptcy price", field="symbol")
    market = Market.of([account])
    row = market.position_of[0][i]
    backing, _, _ = margin_backing(row, market.cols(), market.valuation(rule), pos.instrument.value_per_lot_tick)
    backing = int(backing)
    if pos.isolated:
        basis = "isolated"
    elif len(account.positions) == 1:
        basis = "only position"
    else:
        basis = "mm-share" if rule == BACKING_MM_SHARE else "whole-account"
    exact = bankruptcy_price_exact(pos.size, pos.cost, backing, pos.instrument)
    ticks = rounded_bankruptcy_price(pos.size, pos.cost, backing, pos.instrument)
    return BankruptcyPrice(symbol, ticks, exact, pos.instrument.venue_price(ticks), backing, basis)
