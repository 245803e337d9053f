"""Conformance of :func:`delever.operations.final_settlement` per venue, each row citing its source in
../shared/specs, and its conservation as properties: accounts, fund and settlement pool together keep their money;
with the accounts' open interest balanced the pool nets to zero; each account's transfers are its quote-balance
change; every position on the settled instrument ends flat.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_accounts import account, inst, pos, ticks, usd

from delever.errors import InputError
from delever.operations import INSURANCE_FUND, SETTLEMENT_POOL, AccountState, PositionState, final_settlement
from delever.operations import net_transfers

DYDX_BTC, DYDX_ETH, BINANCE_BTC = inst("dydx", "BTC-USD"), inst("dydx", "ETH-USD"), inst("binance", "BTCUSDT")
DYDX = "engines.md s1 final settlement https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/final_settlement.go"
PERP2 = "engines.md s7 Perp v2 settleBadDebt ('account value -$200 -> trader 0, IF value -$200')"

ROWS = [
    # (accounts, symbol, S, fund before, wallets after, fund after, pool net, lots deleveraged (base), bad debt, source)
    pytest.param(
        # solvent both: A long 1 @100,000 realizes +1,000, B short 1 @100,000 -1,000 (equity 0, not negative)
        [account("A", "1000", pos(DYDX_BTC, "1", "100000")), account("B", "1000", pos(DYDX_BTC, "-1", "100000"))],
        "BTC-USD", "101000", "0", ("2000", "0"), "0", "0", "0", "0", DYDX + " ('the others at the oracle price')",
        id="dydx-solvent-accounts-at-the-oracle",
    ),
    pytest.param(
        # A's equity at 98,500 is -500: deleveraged at BP 99,000 against B's short @101,000 (B realizes 2,000;
        # each BTC at 99,000 instead of 98,500 costs B 500 of its 3,500); nothing is left to settle at S
        [account("A", "1000", pos(DYDX_BTC, "1", "100000")),
         account("B", "1000", pos(DYDX_BTC, "-1", "101000", "100000"))],
        "BTC-USD", "98500", "0", ("0", "3000"), "0", "0", "1", "0",
        DYDX + " ('negative-TNC subaccounts are deleveraged at their bankruptcy price')",
        id="dydx-negative-tnc-deleveraged-at-bp",
    ),
    pytest.param(
        # alone, A settles at 98,800 to a wallet of -200: the fund pays 200 (no counterparty among the accounts)
        [account("A", "1000", pos(DYDX_BTC, "1", "100000"))],
        "BTC-USD", "98800", "500", ("0",), "300", "-98800", "0", "0", PERP2, id="flat-negative-account-paid-by-fund",
    ),
    pytest.param(
        # the fund holds 100 of the 200: 100 stays unrecovered on the account
        [account("A", "1000", pos(DYDX_BTC, "1", "100000"))],
        "BTC-USD", "98800", "100", ("-100",), "0", "-98800", "0", "100",
        PERP2 + "; the engine records the rest as bad debt (delever.settlement step 4)", id="fund-too-small-bad-debt",
    ),
    pytest.param(
        # an isolated long with margin 2,000 settles +1,000 and its margin 3,000 returns to the wallet of 500
        [account("A", "500", pos(DYDX_BTC, "1", "100000", isolated="2000")),
         account("B", "5000", pos(DYDX_BTC, "-1", "100000"))],
        "BTC-USD", "101000", "0", ("3500", "4000"), "0", "0", "0", "0",
        DYDX + "; delever.settlement step 3 (an isolated margin returns to its account)", id="isolated-margin-home",
    ),
    pytest.param(
        # Binance delivery: A long 2 @100,000, B short 1 @99,000, C short 1 @101,000, S 100,500: +1,000, -1,500, +500
        [account("A", "0", pos(BINANCE_BTC, "2", "100000")),
         account("B", "2000", pos(BINANCE_BTC, "-1", "99000", "100000")),
         account("C", "0", pos(BINANCE_BTC, "-1", "101000", "100000"))],
        "BTCUSDT", "100500", "0", ("1000", "500", "500"), "0", "0", "0", "0",
        "delever.settlement (Binance delivery at the settlement price, https://www.chaincatcher.com/en/article/2150246)",
        id="binance-delivery-three-accounts",
    ),
]  # fmt: skip


@pytest.mark.parametrize("accounts, symbol, S, fund, wallets, fund_after, pool, delev, bad, source", ROWS)
def test_final_settlement_rows(accounts, symbol, S, fund, wallets, fund_after, pool, delev, bad, source):
    i = accounts[0].position(symbol).instrument
    out = final_settlement(accounts, symbol, ticks(i, S), fund_balance=usd(fund))
    assert tuple(a.wallet for a in out.accounts) == tuple(usd(w) for w in wallets), source
    assert (out.fund_after, out.pool_net) == (usd(fund_after), usd(pool))
    assert out.report.deleveraged_lots == i.size_to_lots(delev)
    assert out.report.bad_debt_unrecovered == usd(bad)
    assert all(a.position(symbol).size == 0 and not a.position(symbol).isolated_margin for a in out.accounts)


def test_other_instruments_stay_open():
    """Settling BTC leaves the account's ETH short as it was (valued at its mark, 3,900)."""
    a = account("A", "1000", pos(DYDX_BTC, "1", "100000"), pos(DYDX_ETH, "-10", "4000", "3900"))
    out = final_settlement(a, "BTC-USD", 101_000)
    assert out.accounts[0].wallet == usd("2000")
    assert out.accounts[0].position("ETH-USD") == a.position("ETH-USD")
    assert out.realized_pnl == (usd("1000"),)
    assert [(t.payer, t.payee, t.amount) for t in out.transfers] == [(SETTLEMENT_POOL, "A", usd("101000"))]


def test_negative_equity_transfers_name_who_pays_whom():
    """dYdX row 2's transfers: B pays A 99,000 for the deleveraged BTC; nothing else moves."""
    a = account("A", "1000", pos(DYDX_BTC, "1", "100000"))
    b = account("B", "1000", pos(DYDX_BTC, "-1", "101000", "100000"))
    out = final_settlement([a, b], "BTC-USD", 98_500)
    assert [(t.payer, t.payee, t.amount) for t in out.transfers] == [("B", "A", usd("99000"))]
    assert out.realized_pnl == (usd("-1000"), usd("2000"))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        pytest.param({"symbol": "ETH-USD"}, "symbol", id="no-account-holds-it"),
        pytest.param({"price_ticks": 0}, "price_ticks", id="price-zero"),
        pytest.param({"fund_balance": -1}, "fund_balance", id="negative-fund"),
        pytest.param({"adl_policy": "lottery"}, "adl_policy", id="unknown-policy"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"symbol": "BTC-USD", "price_ticks": 100_000, **kwargs}
    with pytest.raises(InputError) as err:
        final_settlement(account("A", "1000", pos(DYDX_BTC, "1", "100000")), **args)
    assert err.value.field == field


# --- conservation ------------------------------------------------------------------------------------------------

V = DYDX_BTC.value_per_lot_tick


@st.composite
def market(draw, balanced: bool) -> list[AccountState]:
    """2-5 accounts with BTC-USD positions (cross or isolated, entries 80,000-120,000, mark 100,000), some with an
    ETH-USD position too; with ``balanced`` the BTC sizes sum to 0."""
    n = draw(st.integers(2, 5))
    sizes = [draw(st.integers(-20_000, 20_000).filter(bool)) for _ in range(n)]
    if balanced:
        sizes[-1] = -sum(sizes[:-1])
    accounts = []
    for k, s in enumerate(sizes):
        positions = []
        if s:
            iso = draw(st.one_of(st.none(), st.integers(0, 3_000_000_000)))
            positions.append(PositionState(DYDX_BTC, s, s * draw(st.integers(80_000, 120_000)) * V, 100_000, iso))
        if draw(st.booleans()):
            e = draw(st.integers(-10_000, 10_000).filter(bool))
            positions.append(PositionState(DYDX_ETH, e, e * 40_000 * V, 39_000))
        accounts.append(AccountState(draw(st.integers(0, 5_000_000_000)), positions, f"acct{k}"))
    return accounts


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    balanced=st.booleans(),
    price=st.integers(70_000, 130_000),
    fund=st.integers(0, 5_000_000_000),
    policy=st.sampled_from(["queue-bitmex", "random-offset", "pro-rata-pnl"]),
)
def test_settlement_conserves(data, balanced, price, fund, policy):
    accounts = data.draw(market(balanced))
    if not any(p.symbol == "BTC-USD" for a in accounts for p in a.positions):
        return
    out = final_settlement(accounts, "BTC-USD", price, fund_balance=fund, adl_policy=policy)
    before = sum(a.quote_balance() for a in accounts) + fund
    after = sum(a.quote_balance() for a in out.accounts) + out.fund_after
    assert after + out.pool_net == before
    if balanced:
        assert out.pool_net == 0
    for old, new in zip(accounts, out.accounts):
        assert net_transfers(out.transfers, old.name) == new.quote_balance() - old.quote_balance()
        assert all(p.size == 0 for p in new.positions if p.symbol == "BTC-USD")
        assert [p for p in new.positions if p.symbol != "BTC-USD"] == [
            p for p in old.positions if p.symbol != "BTC-USD"
        ]
    assert fund - out.fund_after == out.report.insurance_fund_paid == -net_transfers(out.transfers, INSURANCE_FUND)
    assert out.fund_after >= 0
