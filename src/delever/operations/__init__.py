"""Single operations of a venue, one step at a time, so that a user can check one step against a venue's numbers
(issue #15 item 3). Each runs the engine's own code on a book of the accounts given and returns frozen results.

Units (:mod:`delever.units`): money in integer micro-units of the quote asset (1 USDT = 1,000,000), sizes in
integer lots of the instrument's ``lot_size`` (signed, long > 0), prices in integer ticks of its ``tick_size``.
Inputs are :class:`PositionState` and :class:`AccountState` (:meth:`PositionState.of` reads quote units as a
person types them); bad values raise :class:`delever.errors.InputError` naming the field.

- :func:`bankruptcy_price` (:mod:`.bankruptcy`): the bankruptcy price of a position inside an account, isolated,
  whole-account cross (Binance ``WB + UPNL1``) or dYdX's MM-share cross backing (``-DNNV - TNC x |DMMR| / TMMR``).
- :func:`insurance_fund_delta` and :func:`liquidation_fill` (:mod:`.fund_delta`): the fund's delta of a liquidation
  fill (fill quote against bankruptcy quote, the capped fee, who pays whom; dYdX's rule, or the whole surplus to the
  fund as Binance, BitMEX and Bybit).
- :func:`offset` (:mod:`.offset`): deleverage ``q`` lots of account A against account B at price ``P`` with dYdX's
  collateral check on B, the resulting accounts and the transfer, money and open interest conserved.
- :func:`final_settlement` (:mod:`.final_settlement`): settle accounts' positions on an instrument at a price
  (negative equity deleveraged at its bankruptcy price first, the fund pays what is left).
- :func:`fillable_price` (:mod:`.fillable`): dYdX's IOC liquidation limit of a position inside an account,
  ``(PNNV - ABR x SMMR x PMMR) / PS`` (engines.md section 1), the formula of :mod:`delever.fillable_price` on the
  account's TNC, TMMR and PMMR as the IOC stage computes them.

Example::

    from delever.operations import AccountState, PositionState, bankruptcy_price
    from delever.venues import get_venue

    btc = get_venue("dydx").instrument("BTC-USD")
    acct = AccountState(1_000_000_000, [PositionState.of(btc, "1", "100000", mark="98500")])
    bankruptcy_price(acct, "BTC-USD").price   # Decimal('99000'): the wallet of 1,000 USDC backs it
"""

from __future__ import annotations

from .bankruptcy import BankruptcyPrice, bankruptcy_price
from .fillable import FillablePrice, fillable_price
from .final_settlement import SettlementResult, final_settlement
from .fund_delta import FundDelta, insurance_fund_delta, liquidation_fill
from .offset import OffsetResult, offset
from .state import (
    BACKING_RULES,
    INSURANCE_FUND,
    SETTLEMENT_POOL,
    AccountState,
    PositionState,
    Transfer,
    net_transfers,
)

__all__ = [
    "BACKING_RULES",
    "INSURANCE_FUND",
    "SETTLEMENT_POOL",
    "AccountState",
    "BankruptcyPrice",
    "FillablePrice",
    "FundDelta",
    "OffsetResult",
    "PositionState",
    "SettlementResult",
    "Transfer",
    "bankruptcy_price",
    "fillable_price",
    "final_settlement",
    "insurance_fund_delta",
    "liquidation_fill",
    "net_transfers",
    "offset",
]
