"""Conformance of :func:`delever.operations.offset` (deleverage ``q`` lots of A against B at ``P``, with the collateral
check on B) per venue, each row citing its source in ../shared/specs, and its invariants as properties: money and
open interest are conserved, each account's transfers are its quote-balance change, B never ends below zero equity
at the marks when the price costs it, and an offset at A's bankruptcy price needs no fund money.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_accounts import GENERIC_BTC, account, inst, pos, ticks, usd

from delever.errors import InputError
from delever.operations import AccountState, PositionState, bankruptcy_price, net_transfers, offset

BINANCE_BTC, BINANCE_ETH = inst("binance", "BTCUSDT"), inst("binance", "ETHUSDT")
DYDX_BTC, HL_BTC, BITGET_BTC = inst("dydx", "BTC-USD"), inst("hyperliquid", "BTC"), inst("bitget", "BTCUSDT")
DYDX = "engines.md s1 'Deleveraging (ADL)' https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/deleveraging.go"

# dYdX: A long 1 BTC @100,000 backed by 1,000 at mark 98,500 (TNC -500), bankruptcy price 99,000
DYDX_A = account("A", "1000", pos(DYDX_BTC, "1", "100000", "98500"))

ROWS = [
    # (A, B, symbol, base size, price, accepted, B's capacity (base), A wallet, B wallet, A size, B size,
    #  (payer, payee, amount), source)
    pytest.param(
        # A's equity at 3,600 is 2,000 - 4,000 = -2,000; BP 4,000 - 2,000 / 10 = 3,800; 10 ETH at 3,800: A realizes
        # -2,000 (wallet 0, no bad debt), B +2,000; B's equity at the mark falls by 10 x 200 = 2,000
        account("A", "2000", pos(BINANCE_ETH, "10", "4000", "3600")),
        account("B", "10000", pos(BINANCE_ETH, "-10", "4000", "3600")),
        "ETHUSDT", "10", "3800", True, "10", "0", "12000", "0", "0", ("B", "A", "38000"),
        "venues.md s12 TV-07 [DOC, Ethereal] https://docs.ethereal.trade/trading/perpetual-futures/auto-deleveraging",
        id="ethereal-TV07-whole-position-at-bp",
    ),
    pytest.param(
        # B short 2 @101,000 with 100: equity 100 + 2 x 2,500 = 5,100, each BTC at 99,000 costs it 500 -> it can
        # take 10.2 BTC, so all of its 2; B realizes 2,000 on 1 BTC (wallet 2,100) and keeps 1 BTC short
        DYDX_A, account("B", "100", pos(DYDX_BTC, "-2", "101000", "98500")),
        "BTC-USD", "1", "99000", True, "2", "0", "2100", "0", "-1", ("B", "A", "99000"),
        DYDX + " (offsetting well collateralized)", id="dydx-offsetting-well-collateralized",
    ),
    pytest.param(
        # B short 1 @98,600 with 0: equity 100 at 98,500; each BTC at 99,000 costs 500 -> capacity 0.2 BTC < 1
        DYDX_A, account("B", "0", pos(DYDX_BTC, "-1", "98600", "98500")),
        "BTC-USD", "1", "99000", False, "0.2", "1000", "0", "1", "-1", None,
        DYDX + " ('rejected if it would break the offsetting account's collateral check')",
        id="dydx-offsetting-would-break-collateral-check-rejected",
    ),
    pytest.param(
        # the same B takes exactly its capacity 0.2 BTC: its equity ends at 100 - 0.2 x 500 = 0 (A: wallet
        # 1,000 - 0.2 x 1,000 = 800; B: 0.2 x (98,600 - 99,000) = -80)
        DYDX_A, account("B", "0", pos(DYDX_BTC, "-1", "98600", "98500")),
        "BTC-USD", "0.2", "99000", True, "0.2", "800", "-80", "0.8", "-0.8", ("B", "A", "19800"),
        DYDX + " (non-overlapping bankruptcy prices: B's equity ends at exactly 0)",
        id="dydx-offsetting-at-its-capacity",
    ),
    pytest.param(
        # B's isolated short (margin 500) closed flat at 99,000 realizes 1,000: its margin 1,500 returns home
        DYDX_A, account("B", "50", pos(DYDX_BTC, "-1", "100000", "98500", isolated="500")),
        "BTC-USD", "1", "99000", True, "1", "0", "1550", "0", "0", ("B", "A", "99000"),
        DYDX + "; an ADL'd isolated winner's margin goes home (delever.liquidation.adl_fills)",
        id="dydx-isolated-offsetting-closed-flat",
    ),
    pytest.param(
        # A short 1 @100,000 backed by 1,000 at mark 101,500: BP 101,000; A buys at 101,000 (wallet 0), B's long
        # @90,000 realizes 11,000
        account("A", "1000", pos(BINANCE_BTC, "-1", "100000", "101500")),
        account("B", "0", pos(BINANCE_BTC, "1", "90000", "101500")),
        "BTCUSDT", "1", "101000", True, "1", "0", "11000", "0", "0", ("A", "B", "101000"),
        "venues.md s1 'at the bankruptcy price of the initial liquidated order, no trading fee' [DOC] "
        "https://www.binance.com/en/support/faq/360033525471", id="binance-short-at-bp-no-fee",
    ),
    pytest.param(
        # A long 1 @100,000 backed by 1,000 at mark 98,500: BP 99,000; B's short @100,000 realizes 1,000 there
        account("A", "1000", pos(BITGET_BTC, "1", "100000", "98500")),
        account("B", "0", pos(BITGET_BTC, "-1", "100000", "98500")),
        "BTCUSDT", "1", "99000", True, "1", "0", "1000", "0", "0", ("B", "A", "99000"),
        "venues.md s8 Bitget 'matched at BP ..., no fee' [DOC] https://www.bitget.live/bg/support/articles/12560603800805",
        id="bitget-long-at-bp-no-fee",
    ),
    pytest.param(
        # at the mark: A realizes -1,500 and is left at -500 (the fund's or the venue's to cover), B +1,500
        account("A", "1000", pos(GENERIC_BTC, "1", "100000", "98500")),
        account("B", "0", pos(GENERIC_BTC, "-1", "100000", "98500")),
        "BTCUSDT", "1", "98500", True, "1", "-500", "1500", "0", "0", ("B", "A", "98500"),
        "venues.md s4 OKX 'matched ... at the current mark price' [DOC] "
        "https://www.okx.com/help/iv-introduction-to-auto-deleveraging-adl", id="okx-long-at-the-mark",
    ),
    pytest.param(
        # at the previous mark 99,200 (mark now 98,500): A realizes -800, B +800
        account("A", "1000", pos(HL_BTC, "1", "100000", "98500")),
        account("B", "0", pos(HL_BTC, "-1", "100000", "98500")),
        "BTC", "1", "99200", True, "1", "200", "800", "0", "0", ("B", "A", "99200"),
        "venues.md s6 Hyperliquid 'closed at the previous mark price' [DOC] "
        "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging", id="hyperliquid-at-previous-mark",
    ),
]  # fmt: skip


@pytest.mark.parametrize("a, b, symbol, size, price, accepted, capacity, wa, wb, sa, sb, transfer, source", ROWS)
def test_offset_rows(a, b, symbol, size, price, accepted, capacity, wa, wb, sa, sb, transfer, source):
    i = a.position(symbol).instrument
    out = offset(a, b, symbol, i.size_to_lots(size), ticks(i, price))
    assert out.accepted is accepted, source
    assert out.capacity == min(i.size_to_lots(capacity), abs(b.position(symbol).size)) or not accepted
    if not accepted:
        assert out.capacity == i.size_to_lots(capacity)
        assert (out.deleveraged, out.offsetting, out.transfers, out.lots) == (a, b, (), 0)
        assert "collateral check" in out.reason
    assert (out.deleveraged.wallet, out.offsetting.wallet) == (usd(wa), usd(wb)), source
    assert out.deleveraged.position(symbol).size == i.size_to_lots(sa)
    assert out.offsetting.position(symbol).size == i.size_to_lots(sb)
    if transfer is not None:
        assert [(t.payer, t.payee, t.amount) for t in out.transfers] == [(transfer[0], transfer[1], usd(transfer[2]))]


@pytest.mark.parametrize(
    "b, size, price, field",
    [
        pytest.param(account("B", "0", pos(DYDX_BTC, "2", "100000")), "1", 99_000, "symbol", id="same-side"),
        pytest.param(account("B", "0", pos(inst("dydx", "ETH-USD"), "-2", "4000")), "1", 99_000, "symbol",
                     id="no-position-on-the-symbol"),
        pytest.param(account("B", "0", pos(DYDX_BTC, "-0.5", "100000")), "1", 99_000, "lots",
                     id="more-than-the-smaller-position"),
        pytest.param(account("B", "0", pos(DYDX_BTC, "-2", "100000")), "0", 99_000, "lots", id="zero-lots"),
        pytest.param(account("B", "0", pos(DYDX_BTC, "-2", "100000")), "1", 0, "price_ticks", id="price-zero"),
        pytest.param(account("B", "0", pos(DYDX_BTC, "-2", "100000", "97000")), "1", 99_000, "mark",
                     id="two-marks-for-one-instrument"),
        pytest.param(account("A", "0", pos(DYDX_BTC, "-2", "100000", "98500")), "1", 99_000, "name",
                     id="two-accounts-one-name"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(b, size, price, field):
    with pytest.raises(InputError) as err:
        offset(DYDX_A, b, "BTC-USD", DYDX_BTC.size_to_lots(size), price)
    assert err.value.field == field


# --- invariants -------------------------------------------------------------------------------------------------


def open_interest(*accounts: AccountState) -> dict[str, int]:
    out: dict[str, int] = {}
    for acct in accounts:
        for p in acct.positions:
            out[p.symbol] = out.get(p.symbol, 0) + p.size
    return out


V = DYDX_BTC.value_per_lot_tick
ETH = inst("dydx", "ETH-USD")


@st.composite
def side(draw, name: str, sign: int) -> AccountState:
    """An account with a BTC-USD position of sign ``sign`` (cross or isolated, at mark 98,500) and maybe an ETH-USD
    one (at mark 3,900), wallet and entries drawn."""
    lots = sign * draw(st.integers(1, 30_000))
    entry = draw(st.integers(80_000, 120_000))
    iso = draw(st.one_of(st.none(), st.integers(0, 5_000_000_000)))
    positions = [PositionState(DYDX_BTC, lots, lots * entry * V, 98_500, iso)]
    if draw(st.booleans()):
        eth = draw(st.integers(-20_000, 20_000).filter(bool))
        positions.append(PositionState(ETH, eth, eth * draw(st.integers(30_000, 50_000)) * V, 39_000))
    return AccountState(draw(st.integers(-1_000_000_000, 20_000_000_000)), positions, name)


@settings(max_examples=200, deadline=None)
@given(sign=st.sampled_from([1, -1]), data=st.data(), price=st.integers(90_000, 110_000), share=st.floats(0, 1))
def test_offset_conserves_money_and_open_interest(sign, data, price, share):
    a = data.draw(side("A", sign))
    b = data.draw(side("B", -sign))
    most = min(abs(a.positions[0].size), abs(b.positions[0].size))
    q = max(1, round(share * most))
    out = offset(a, b, "BTC-USD", q, price)
    if not out.accepted:
        assert q > out.capacity and (out.deleveraged, out.offsetting) == (a, b)
        return
    a2, b2 = out.deleveraged, out.offsetting
    assert a2.quote_balance() + b2.quote_balance() == a.quote_balance() + b.quote_balance()
    assert open_interest(a2, b2) == open_interest(a, b)
    for before, after in ((a, a2), (b, b2)):
        assert net_transfers(out.transfers, before.name) == after.quote_balance() - before.quote_balance()
    assert out.equity_change[0] + out.equity_change[1] == 0
    assert a2.equity() - a.equity() == out.equity_change[0]
    assert b2.equity() - b.equity() == out.equity_change[1]
    if sign * (price - 98_500) > 0 and b.margin_equity("BTC-USD") >= 0:  # the price costs B: the collateral check
        assert b2.margin_equity("BTC-USD") >= 0 or (b2.positions[0].isolated and b2.positions[0].size == 0)


@settings(max_examples=100, deadline=None)
@given(sign=st.sampled_from([1, -1]), data=st.data())
def test_offset_at_the_bankruptcy_price_needs_no_fund_money(sign, data):
    """A single-position account offset whole at its bankruptcy price ends with the margin that backed it >= 0
    (engines.md s1: "closing exactly at it needs no IF money"), by less than one tick's value of its lots."""
    a = data.draw(side("A", sign))
    a = AccountState(data.draw(st.integers(0, 20_000_000_000)), a.positions[:1], "A")
    p = a.positions[0]
    bp = bankruptcy_price(a, "BTC-USD")
    if bp.ticks < 1:
        return
    b = AccountState(10**15, [PositionState(DYDX_BTC, -p.size, -p.size * 100_000 * V, p.mark)], "B")
    out = offset(a, b, "BTC-USD", abs(p.size), bp.ticks)
    assert out.accepted
    left = out.deleveraged.quote_balance() - (
        a.wallet if p.isolated else 0
    )  # what is left of the margin that backed it
    assert 0 <= left < abs(p.size) * V
