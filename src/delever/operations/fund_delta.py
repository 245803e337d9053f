"""Insurance-fund delta of one liquidation fill: the fill price against the bankruptcy price, the fee, who pays whom.

dYdX v4's rule per fill (../shared/specs/engines.md section 1, "Insurance-fund delta per fill";
https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go): with ``fill quote``
the money the liquidated account receives for the closed lots (> 0 for a sale that closes a long, < 0 for the buy
that closes a short) and ``bankruptcy quote`` what it would receive at its bankruptcy price,

- ``gap = fill quote - bankruptcy quote``;
- ``gap < 0`` (filled worse than bankruptcy): the fund pays ``-gap`` to the account (dYdX rejects the fill when the
  fund cannot; the engine pays what the fund holds and records the rest as bad debt,
  :func:`delever.liquidation.settle_balance`);
- ``gap >= 0`` (better): the account pays the fund ``min(gap, ceil(fee rate x |fill quote|))`` and keeps the rest
  (dYdX's ``MaxLiquidationFeePpm``, 0.5% by default, :func:`delever.venues.dydx.insurance_fund_delta`; the engine's
  liquidation fee, capped at the account's equity, is the same rule).

Where the venue seizes a better fill's whole surplus (``surplus_to="insurance_fund"``: Binance, "the IF accumulates
from liquidations above BP", venues.md section 1; BitMEX "fill better than BP -> surplus to IF", section 2; Bybit
"better than BP -> remaining margin to IF", section 3; Gate TV-10, BTCMEX TV-11) the fund takes all of ``gap``
(:meth:`delever.venues.rulebook.Rulebook.fund_delta`). Where the trader keeps it (``surplus_to="trader"``: dYdX,
Hyperliquid "no clearance fee", Kraken "client keeps the remainder", sections 6-7) the fee rule above applies,
with a fee rate of 0 for a venue that charges none.

Sign rule: the fund gains only from a fill better than bankruptcy and pays only for one worse; what the fund gains
plus what the trader keeps is the surplus, and what the fund pays plus the bad debt is the shortfall.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ..errors import InputError
from ..units import PPM
from ..venues.dydx import insurance_fund_delta as dydx_fund_delta
from .bankruptcy import bankruptcy_price
from .state import INSURANCE_FUND, AccountState, Transfer, check_int

SurplusTo = Literal["trader", "insurance_fund"]


@dataclass(frozen=True)
class FundDelta:
    """One liquidation fill's settlement with the insurance fund (money units throughout).

    Attributes:
        fill_quote: money the liquidated account receives for the closed lots (> 0 a sale, < 0 a buy).
        bankruptcy_quote: what it would receive at its bankruptcy price (rounded toward +inf).
        gap: ``fill_quote - bankruptcy_quote``: > 0 a surplus, < 0 a shortfall.
        fee: the part of the surplus the account pays the fund (>= 0).
        trader_keeps: the part of the surplus left with the account (>= 0).
        fund_paid: what the fund pays the account for a shortfall (>= 0).
        bad_debt: the part of a shortfall the fund could not pay (>= 0).
        fund_delta: the fund's change, ``fee - fund_paid``.
        transfers: the :class:`Transfer` rows (account -> fund for a fee, fund -> account for a payout).
    """

    fill_quote: int
    bankruptcy_quote: int
    gap: int
    fee: int
    trader_keeps: int
    fund_paid: int
    bad_debt: int
    fund_delta: int
    transfers: tuple[Transfer, ...]


def insurance_fund_delta(
    fill_quote: int,
    bankruptcy_quote: int,
    *,
    fee_ppm: int = 0,
    surplus_to: SurplusTo = "trader",
    fund_balance: int | None = None,
    account: str = "account",
) -> FundDelta:
    """The fund's delta for one fill from its two quotes (module docstring).

    Args:
        fill_quote, bankruptcy_quote: money received for the closed lots at the fill and at bankruptcy (signed).
        fee_ppm: the fee cap's rate on ``|fill_quote|`` (ppm: 5,000 = dYdX's 0.5%), used when the trader keeps the
            surplus.
        surplus_to: ``"trader"`` (the account keeps the surplus less the fee) or ``"insurance_fund"`` (the fund
            takes it all).
        fund_balance: the fund's balance before the fill (money); ``None``: the fund pays any shortfall.
        account: the account's name in the transfers.

    Raises:
        InputError: a non-integer quote, a negative fee rate or fund balance, an unknown ``surplus_to``.
    """
    fq = check_int(fill_quote, "fill_quote")
    bq = check_int(bankruptcy_quote, "bankruptcy_quote")
    rate = check_int(fee_ppm, "fee_ppm", minimum=0)
    if surplus_to not in ("trader", "insurance_fund"):
        raise InputError(f"must be trader or insurance_fund (got {surplus_to!r})", field="surplus_to")
    if fund_balance is not None:
        check_int(fund_balance, "fund_balance", minimum=0)
    gap = fq - bq
    fee = paid = bad = 0
    if gap >= 0:
        fee = gap if surplus_to == "insurance_fund" else dydx_fund_delta(fq, bq, gap, Fraction(rate, PPM))
    else:
        paid = -gap if fund_balance is None else min(-gap, fund_balance)
        bad = -gap - paid
    transfers = []
    if fee:
        transfers.append(Transfer(account, INSURANCE_FUND, fee, "liquidation fee out of the surplus"))
    if paid:
        transfers.append(Transfer(INSURANCE_FUND, account, paid, "shortfall below the bankruptcy price"))
    return FundDelta(fq, bq, gap, fee, max(gap, 0) - fee, paid, bad, fee - paid, tuple(transfers))


def liquidation_fill(
    account: AccountState,
    symbol: str,
    lots: int,
    fill_ticks: int,
    *,
    fee_ppm: int = 0,
    surplus_to: SurplusTo = "trader",
    backing_rule: str | int = "whole-account",
    fund_balance: int | None = None,
) -> FundDelta:
    """The fund's delta when ``lots`` of ``account``'s position on ``symbol`` are liquidated at ``fill_ticks``.

    The fill quote is ``lots x fill x V``, received for a long's sale and paid for a short's buy; the bankruptcy
    quote is that of :func:`delever.operations.bankruptcy.bankruptcy_price` for those lots
    (:meth:`~delever.operations.bankruptcy.BankruptcyPrice.quote_for`: ``cost - backing`` for the whole position,
    the exact balance at which the engine's :func:`delever.liquidation.settle_balance` neither charges nor pays).
    Other arguments as :func:`insurance_fund_delta`.

    Raises:
        InputError: ``lots`` not in ``1..|size|`` (field ``lots``), ``fill_ticks`` < 1 (``fill_ticks``), and as
            :func:`insurance_fund_delta` and :func:`~delever.operations.bankruptcy.bankruptcy_price`.

    Example (TV-10, Gate, https://gate.io/pt-br/blog_detail/375/instructions-of-insurance-fund-auto-deleveraging-adl):
    a long of 1 BTC with bankruptcy price 10,000 filled at 10,100 under ``surplus_to="insurance_fund"``: fund +100.
    """
    pos = account.position(symbol)
    k = check_int(lots, "lots", minimum=1)
    if k > abs(pos.size):
        raise InputError(f"{account.name} holds {abs(pos.size)} lots of {symbol} (asked to close {k})", field="lots")
    fill = check_int(fill_ticks, "fill_ticks", minimum=1)
    bp = bankruptcy_price(account, symbol, backing_rule=backing_rule)
    sign = 1 if pos.size > 0 else -1
    fill_quote = sign * k * fill * pos.instrument.value_per_lot_tick
    return insurance_fund_delta(fill_quote, bp.quote_for(k, pos.size, pos.cost), fee_ppm=fee_ppm,
                                surplus_to=surplus_to, fund_balance=fund_balance, account=account.name)  # fmt: skip
