"""Final settlement of accounts at a price: every position on one instrument closed at the settlement price ``S``,
a negative-equity margin first deleveraged at its bankruptcy price against solvent winners among the accounts
given, and what is left negative paid by the insurance fund as far as it goes.

This runs the engine's own :func:`delever.settlement.final_settlement` on a book of the accounts given (its module
docstring has the four steps), modelled on dYdX v4's final settlement (``protocol/x/clob/keeper/final_settlement.go``
and ``deleveraging.go``; ../shared/specs/engines.md section 1: "in FINAL_SETTLEMENT, negative-TNC subaccounts are
deleveraged at their bankruptcy price against opposite positions, the others at the oracle price") and used for
dated futures at expiry (Binance: the settlement price is the mean of the index over the last 30 minutes,
:func:`delever.settlement.settlement_price_ticks`). A flat account left with a negative balance is paid by the fund
as Perp v2's ``settleBadDebt`` moves it to the fund (engines.md section 7: "account value -$200 -> trader 0, IF value
-$200").

Transfers, in quote balances (:mod:`delever.operations.state`): closing ``s`` lots at ``S`` moves ``s x S x V``
between the account and the :data:`~delever.operations.state.SETTLEMENT_POOL` (a long receives, a short pays; with
the accounts' open interest balanced the pool nets to 0); a deleveraging fill of ``k`` lots at ``BP`` is a trade,
the buyer paying the seller ``k x BP x V``; a fund payout moves money from the
:data:`~delever.operations.state.INSURANCE_FUND` to the account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import events as ev
from ..adl.policies import get_policy
from ..errors import ConservationError, InputError
from ..settlement import SettlementReport, final_settlement as engine_final_settlement
from .state import INSURANCE_FUND, SETTLEMENT_POOL, AccountState, Market, Transfer, check_int, net_transfers


@dataclass(frozen=True)
class SettlementResult:
    """What a final settlement did (money units, lots, ticks).

    Attributes:
        symbol: the settled instrument; price: the settlement price in ticks.
        accounts: the accounts after (their positions on ``symbol`` flat, isolated margins home when >= 0).
        transfers: settlement-pool payments, deleveraging trades and fund payouts (module docstring).
        realized_pnl: each account's realized PnL (money), in the order given.
        fund_before, fund_after: the insurance fund's balance.
        pool_net: what the settlement pool received less what it paid (0 when the accounts' open interest on
            ``symbol`` is balanced; otherwise the other side of the market, outside these accounts, settles it).
        report: the engine's :class:`delever.settlement.SettlementReport` (positions settled, negative-equity
            positions, lots deleveraged, fund paid, bad debt left unrecovered).
    """

    symbol: str
    price: int
    accounts: tuple[AccountState, ...]
    transfers: tuple[Transfer, ...]
    realized_pnl: tuple[int, ...]
    fund_before: int
    fund_after: int
    pool_net: int
    report: SettlementReport


def final_settlement(
    accounts: AccountState | list[AccountState] | tuple[AccountState, ...],
    symbol: str,
    price_ticks: int,
    *,
    fund_balance: int = 0,
    adl_policy: str = "queue-bitmex",
) -> SettlementResult:
    """Settle every position on ``symbol`` of ``accounts`` (one account or several) at ``price_ticks`` (module
    docstring). Positions on other instruments stay open, valued at their marks.

    Args:
        accounts: the accounts; the deleveraging of step 2 takes its counterparties among them only.
        symbol: the instrument to settle.
        price_ticks: the settlement price ``S`` (ticks, >= 1).
        fund_balance: the instrument's insurance fund before (money, >= 0).
        adl_policy: the ADL policy that picks and sizes the deleveraging counterparties
            (:data:`delever.adl.policies.POLICIES`; dYdX iterates from a pseudo-random start instead, unranked).

    Raises:
        InputError: no account holds ``symbol`` (field ``symbol``), ``price_ticks`` < 1, a negative fund, an
            unknown policy (``adl_policy``), and as :class:`~delever.operations.state.Market`.
        ConservationError: money was created or destroyed: the accounts, the fund and the pool together (a bug,
            never input).

    Example: a long of 1 BTC @100,000 with wallet 1,000 settled at 101,000 realizes +1,000 (the pool pays it
    ``101,000``, the value of its lots); settled at 98,800 its wallet ends at -200 and a fund of 500 pays 200.
    """
    accs = (accounts,) if isinstance(accounts, AccountState) else tuple(accounts)
    S = check_int(price_ticks, "price_ticks", minimum=1)
    fund0 = check_int(fund_balance, "fund_balance", minimum=0)
    try:
        policy = get_policy(adl_policy)
    except KeyError as exc:
        raise InputError(str(exc.args[0]), field="adl_policy") from None
    if not any(p.symbol == symbol for a in accs for p in a.positions):
        raise InputError(f"no account holds a {symbol} position", field="symbol")
    market = Market.of(accs)
    m = next(i for i, inst in enumerate(market.instruments) if inst.symbol == symbol)
    inst = market.instruments[m]
    book = market.book
    fund = np.array([fund0], dtype=np.int64)
    before = book.total_money(fund)
    buf = ev.EventBuffer()
    report = engine_final_settlement(book, m, inst, S, market.marks.copy(), market.vpls, fund, policy, buf)
    names = [a.name for a in accs]
    realized = [0] * len(accs)
    transfers: list[Transfer] = []
    c = {k: col[: buf.n] for k, col in buf.cols.items()}
    v = inst.value_per_lot_tick
    for kind, acc, cp, size, px, amount in zip(*(c[k].tolist() for k in ("kind", "account", "counterparty", "size",
                                                                          "price", "amount"))):  # fmt: skip
        if kind in (ev.SETTLEMENT, ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL):
            realized[acc] += amount
        if kind == ev.SETTLEMENT and size:  # closed -size lots: the account's quote balance moves by -size x S x V
            value = -size * px * v
            payer, payee = (SETTLEMENT_POOL, names[acc]) if value > 0 else (names[acc], SETTLEMENT_POOL)
            transfers.append(Transfer(payer, payee, abs(value), f"{abs(size)} lots of {symbol} settled at {px}"))
        elif kind == ev.ADL_FILL:  # the bankrupt side's row; its counterparty's row is the same trade
            value = abs(size) * px * v
            payer, payee = (names[cp], names[acc]) if size < 0 else (names[acc], names[cp])
            transfers.append(Transfer(payer, payee, value, f"{abs(size)} lots of {symbol} deleveraged at {px}"))
        elif kind == ev.INSURANCE_PAYOUT:
            transfers.append(Transfer(INSURANCE_FUND, names[acc], amount, "negative balance after settlement"))
    pool = net_transfers(transfers, SETTLEMENT_POOL)
    if book.total_money(fund) + pool != before:
        raise ConservationError(
            f"final settlement changed the money identity by {book.total_money(fund) + pool - before}"
        )
    return SettlementResult(symbol, S, market.accounts(accs), tuple(transfers), tuple(realized), fund0,
                            int(fund[0]), pool, report)  # fmt: skip
