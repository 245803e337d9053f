"""Offset (deleverage): ``lots`` of account A's position closed against account B's opposite position at one price,
with the collateral check on B.

dYdX v4's deleveraging (``OffsetSubaccountPerpetualPosition`` in
https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/deleveraging.go;
../shared/specs/engines.md section 1): the deleveraged subaccount's position is offset against an opposite-side
subaccount, which takes ``min(remaining, its position)``, at the deleveraged account's bankruptcy price; "the update
is rejected if it would break the offsetting account's collateral check ('non-overlapping bankruptcy prices')", and
then the next counterparty is tried. The same operation closes an ADL'd position at the bankruptcy price of the
liquidated order on Binance and BitMEX (venues.md sections 1-2, "no trading fee"), at the mark on OKX (section 4),
at the previous mark on Hyperliquid (section 6): the price is an argument.

The collateral check is the engine's (:func:`delever.liquidation.winner_capacity`, called here): B gives at most the
lots that keep its margin's equity at the marks >= 0 after the fill (each lot at ``P`` instead of the mark costs it
``|P - mark| x V`` when that is a loss; a fill at or better than the mark is never refused). An offset of more lots
than that is **rejected** whole, as dYdX rejects the update (``capacity`` says how many B could take). A is not
checked: at its bankruptcy price the offset leaves it at >= 0 (:func:`delever.operations.bankruptcy_price`). When to
deleverage is the caller's (dYdX: only a subaccount whose liquidation order filled nothing this block and whose
TNC < 0, or in final settlement); this operation is the offset itself.

The trade is the engine's (:func:`delever.liquidation.apply_trade` on each side: a reduced position releases the
cost share ``ceil(cost x k / size)``, so the realized PnL rounds down, against the account). An isolated position
left flat with a margin >= 0 returns it to its account's wallet (as the liquidation stage does for an ADL'd isolated
winner). Money moves as one transfer: the buyer pays the seller ``lots x P x V``; each side's quote balance changes
by exactly that, so money and open interest are conserved.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConservationError, InputError
from ..liquidation import apply_trade, winner_capacity
from .state import AccountState, Market, Transfer, check_int


@dataclass(frozen=True)
class OffsetResult:
    """What an offset did (money units, lots, ticks).

    Attributes:
        accepted: whether the offset passed the collateral check (when not, nothing changed).
        reason: why it was rejected ("" when accepted).
        lots: lots offset (0 when rejected); price: the offset price in ticks.
        capacity: the most lots B could give at ``price`` under the collateral check.
        deleveraged, offsetting: A and B after (as given when rejected).
        transfers: the buyer pays the seller ``lots x price x V`` (empty when rejected).
        realized_pnl: (A's, B's) realized PnL, already in their wallets or isolated margins.
        equity_change: (A's, B's) change of the margin's equity at the marks, ``-bought x (price - mark) x V`` each;
            they sum to 0.
    """

    accepted: bool
    reason: str
    lots: int
    price: int
    capacity: int
    deleveraged: AccountState
    offsetting: AccountState
    transfers: tuple[Transfer, ...]
    realized_pnl: tuple[int, int]
    equity_change: tuple[int, int]


def offset(
    deleveraged: AccountState, offsetting: AccountState, symbol: str, lots: int, price_ticks: int
) -> OffsetResult:
    """Deleverage ``lots`` of ``deleveraged``'s (A's) position on ``symbol`` against ``offsetting``'s (B's) opposite
    position at ``price_ticks`` (module docstring).

    Raises:
        InputError: either account without a position on ``symbol`` (field ``symbol``), two positions on one side
            (``symbol``), ``lots`` not in ``1..min(|size A|, |size B|)`` (``lots``), a price < 1 tick
            (``price_ticks``), and as :class:`~delever.operations.state.Market`.
        ConservationError: the trade created or destroyed money (a bug, never input).

    Example (Ethereal TV-07, venues.md section 12, https://docs.ethereal.trade/trading/perpetual-futures/auto-deleveraging):
    A long 10 ETH @4,000 with wallet 2,000 at mark 3,600 has equity -2,000 and bankruptcy price 3,800; offsetting
    all 10 against B's short at 3,800 leaves A flat at 0 (no bad debt) and costs B ``10 x (3,800 - 3,600) = 2,000``
    of equity at the mark; B pays A ``10 x 3,800 = 38,000`` for the lots.
    """
    a_pos = deleveraged.position(symbol)
    b_pos = offsetting.position(symbol)
    if a_pos.size == 0 or b_pos.size == 0 or (a_pos.size > 0) == (b_pos.size > 0):
        raise InputError(f"an offset needs opposite open positions (sizes {a_pos.size} and {b_pos.size} lots)",
                         field="symbol")  # fmt: skip
    most = min(abs(a_pos.size), abs(b_pos.size))
    q = check_int(lots, "lots", minimum=1)
    if q > most:
        raise InputError(f"at most {most} lots can be offset (asked {q})", field="lots")
    price = check_int(price_ticks, "price_ticks", minimum=1)
    market = Market.of([deleveraged, offsetting])
    cols = market.cols()
    val = market.valuation(0)
    pa = market.position_of[0][deleveraged.index(symbol)]
    pb = market.position_of[1][offsetting.index(symbol)]
    v = a_pos.instrument.value_per_lot_tick
    sign = 1 if a_pos.size > 0 else -1
    capacity = int(winner_capacity(pb, sign, price, cols, val, v))
    if q > capacity:
        reason = (f"{offsetting.name} can give {capacity} lots at this price with its equity at the marks >= 0 "
                  f"(collateral check; asked {q})")  # fmt: skip
        return OffsetResult(False, reason, 0, price, capacity, deleveraged, offsetting, (), (0, 0), (0, 0))
    book = market.book
    before = book.total_money()
    r_a = int(apply_trade(pa, -sign * q, price, cols, v))
    r_b = int(apply_trade(pb, sign * q, price, cols, v))
    for row in (pa, pb):
        if book.isolated[row] and book.size[row] == 0 and book.collateral[row] >= 0:
            book.wallet[book.account[row]] += book.collateral[row]  # a flat isolated margin goes home
            book.collateral[row] = 0
    if book.total_money() != before:
        raise ConservationError(f"offset changed the money identity by {book.total_money() - before}")
    value = q * price * v
    seller, buyer = (deleveraged, offsetting) if sign > 0 else (offsetting, deleveraged)
    transfer = Transfer(buyer.name, seller.name, value, f"{q} lots of {symbol} at {price} ticks")
    change = sign * q * (price - a_pos.mark) * v  # A sells (sign > 0) or buys q lots at price instead of the mark
    a_after, b_after = market.accounts([deleveraged, offsetting])
    return OffsetResult(True, "", q, price, capacity, a_after, b_after, (transfer,), (r_a, r_b), (change, -change))
