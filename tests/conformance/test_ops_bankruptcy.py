"""Conformance of :func:`delever.operations.bankruptcy_price` per venue: each row a position inside an account, the
published (or hand-derived, arithmetic in the row's comment) bankruptcy price, and its source in ../shared/specs.

The engine's rounding is a long's price up and a short's down to the tick (Bybit's published rule, TV-08); rows whose
exact price is off the tick show it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_accounts import GENERIC_BTC, account, inst, pos

from delever.account_prices import PositionSpec, account_view
from delever.errors import InputError
from delever.operations import AccountState, PositionState, bankruptcy_price
from delever.venues import get_venue

BINANCE_BTC, BINANCE_ETH = inst("binance", "BTCUSDT"), inst("binance", "ETHUSDT")
BYBIT_BTC = inst("bybit", "BTCUSDT")
DYDX_BTC, DYDX_ETH = inst("dydx", "BTC-USD"), inst("dydx", "ETH-USD")
HL_BTC = inst("hyperliquid", "BTC")
KRAKEN_BTC = inst("kraken", "PF_XBTUSD")

ROWS = [
    # (id, account, symbol, backing rule, expected price (quote), expected basis, source)
    pytest.param(
        # TV-13: long 1 BTC @10,000 at 50x: isolated margin 10,000 / 50 = 200 -> BP = 10,000 x (1 - 2%) = 9,800
        account("t", "0", pos(BYBIT_BTC, "1", "10000", isolated="200")),
        "BTCUSDT",
        "whole-account",
        "9800",
        "isolated",
        "venues.md s12 TV-13 [DOC] https://www.cbybitapp.com/ro-RO/help-center/search-result/?page=22&pageSize=10&query=trade",
        id="bybit-isolated-long-50x-TV13",
    ),
    pytest.param(
        # BP_short = EP x (1 + IMR): short 1 BTC @8,000 at 40x: margin 200 -> 8,000 x 1.025 = 8,200
        account("t", "0", pos(BYBIT_BTC, "-1", "8000", isolated="200")),
        "BTCUSDT",
        "whole-account",
        "8200",
        "isolated",
        "venues.md s3 'BP_short = EP*(1 + IMR)' [DOC] https://help.bybit.com/hc/en-us/articles/360011431853-What-is-Bankruptcy-Price-",
        id="bybit-isolated-short-40x",
    ),
    pytest.param(
        # long 1 BTC @10,000 with margin 3,333.333333: exact 6,666.666667 -> rounded UP to the tick 0.1: 6,666.7
        account("t", "0", pos(BYBIT_BTC, "1", "10000", isolated="3333.333333")),
        "BTCUSDT",
        "whole-account",
        "6666.7",
        "isolated",
        "venues.md s12 TV-08 'long BP rounded UP' [DOC] https://help.bybit.com/hc/en-us/articles/360011431853-What-is-Bankruptcy-Price-",
        id="bybit-isolated-long-off-tick-rounds-up",
    ),
    pytest.param(
        # short 1 BTC @10,000 with margin 3,333.333333: exact 13,333.333333 -> rounded DOWN: 13,333.3
        account("t", "0", pos(BYBIT_BTC, "-1", "10000", isolated="3333.333333")),
        "BTCUSDT",
        "whole-account",
        "13333.3",
        "isolated",
        "venues.md s12 TV-08 'short BP rounded DOWN' [DOC] https://help.bybit.com/hc/en-us/articles/360011431853-What-is-Bankruptcy-Price-",
        id="bybit-isolated-short-off-tick-rounds-down",
    ),
    pytest.param(
        # WB + UPNL1 backs BTC: 1,000 + ETH short 10 x (4,000 - 3,900) = 2,000 -> 100,000 - 2,000 = 98,000
        # (Binance's LP with MMR 0: (WB + UPNL1 - Side*Pos*EP) / (-Side*Pos))
        account("x", "1000", pos(BINANCE_BTC, "1", "100000", "98500"), pos(BINANCE_ETH, "-10", "4000", "3900")),
        "BTCUSDT",
        "whole-account",
        "98000",
        "whole-account",
        "venues.md s1 LP formula, WB - TMM1 + UPNL1 [DOC variables] https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93",
        id="binance-cross-long-beside-a-winning-short",
    ),
    pytest.param(
        # ETH backed by 1,000 + BTC's uPnL -1,500 = -500 -> short BP 4,000 - 500 / 10 = 3,950
        account("x", "1000", pos(BINANCE_BTC, "1", "100000", "98500"), pos(BINANCE_ETH, "-10", "4000", "3900")),
        "ETHUSDT",
        "whole-account",
        "3950",
        "whole-account",
        "venues.md s1 LP formula, WB - TMM1 + UPNL1 [DOC variables] https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93",
        id="binance-cross-short-beside-a-losing-long",
    ),
    pytest.param(
        # Large-Cap MM 3%: BTC MM 98,500 x 3% = 2,955, ETH 39,000 x 3% = 1,170; TNC 1,000 - 1,500 + 1,000 = 500,
        # TMMR 4,125 -> BP = 98,500 - 500 x 2,955 / 4,125 = 98,141.818... -> up (tick 1) 98,142
        account("x", "1000", pos(DYDX_BTC, "1", "100000", "98500"), pos(DYDX_ETH, "-10", "4000", "3900")),
        "BTC-USD",
        "mm-share",
        "98142",
        "mm-share",
        "engines.md s1 '-DNNV - TNC * |DMMR| / TMMR' https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go",
        id="dydx-cross-long-mm-share",
    ),
    pytest.param(
        # ETH: 3,900 + 500 x 1,170 / 4,125 / 10 = 3,914.1818... -> down (tick 0.1) 3,914.1
        account("x", "1000", pos(DYDX_BTC, "1", "100000", "98500"), pos(DYDX_ETH, "-10", "4000", "3900")),
        "ETH-USD",
        "mm-share",
        "3914.1",
        "mm-share",
        "engines.md s1 '-DNNV - TNC * |DMMR| / TMMR' https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go",
        id="dydx-cross-short-mm-share",
    ),
    pytest.param(
        # one position closed whole: equity 0 at 100,000 - 1,000 = 99,000 (the MM share is the whole TNC)
        account("x", "1000", pos(DYDX_BTC, "1", "100000", "98500")),
        "BTC-USD",
        "mm-share",
        "99000",
        "only position",
        "engines.md s1 'for one position closed whole it is the price at which equity is 0' (dYdX rulebook docstring) https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go",
        id="dydx-only-position",
    ),
    pytest.param(
        # Injective's rule for one position, 'bankruptcy = liquidation price with MMR 0 = entry - unit margin':
        # long 1 BTC @100,000 with isolated margin 2,500 (40x) -> 97,500
        account("t", "0", pos(HL_BTC, "1", "100000", isolated="2500")),
        "BTC",
        "whole-account",
        "97500",
        "isolated",
        "engines.md s6 'entry - unit margin'; venues.md s6 liq_price with l = 0 [INF] https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
        id="hyperliquid-isolated-long-40x",
    ),
    pytest.param(
        # the IOC limit 'keeps equity >= 0': short 1 BTC @8,000 with margin 80 -> 8,080
        account("t", "0", pos(KRAKEN_BTC, "-1", "8000", isolated="80")),
        "PF_XBTUSD",
        "whole-account",
        "8080",
        "isolated",
        "venues.md s7 'IOC order whose limit price keeps equity >= 0' [DOC] https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process",
        id="kraken-isolated-short",
    ),
]


@pytest.mark.parametrize("acct, symbol, rule, expected, basis, source", ROWS)
def test_bankruptcy_price_rows(acct, symbol, rule, expected, basis, source):
    bp = bankruptcy_price(acct, symbol, backing_rule=rule)
    assert bp.price == Decimal(expected), source
    assert bp.basis == basis
    inst_ = acct.position(symbol).instrument
    assert bp.ticks == inst_.price_to_ticks(expected)
    # the rounding goes against the account: a long's price is at or above the exact one, a short's at or below
    assert (bp.ticks - bp.exact) * (1 if acct.position(symbol).size > 0 else -1) >= 0


def test_closing_at_the_bankruptcy_quote_leaves_nothing():
    """The whole position's bankruptcy quote is ``cost - backing`` exactly: 1 BTC long @100,000 backed by 1,000
    receives 99,000 (engines.md s1: closing exactly at it needs no IF money)."""
    acct = account("x", "1000", pos(DYDX_BTC, "1", "100000", "98500"))
    bp = bankruptcy_price(acct, "BTC-USD")
    p = acct.position("BTC-USD")
    assert bp.quote_for(abs(p.size), p.size, p.cost) == 99_000 * 10**6
    assert bp.quote_for(abs(p.size) // 2, p.size, p.cost) == 49_500 * 10**6
    # backed by 1,000.000001: the whole quote 98,999.999999 is exact; half of it, 49,499.9999995, rounds toward +inf
    acct = account("x", "1000.000001", pos(DYDX_BTC, "1", "100000", "98500"))
    bp = bankruptcy_price(acct, "BTC-USD")
    assert bp.quote_for(abs(p.size), p.size, p.cost) == 98_999_999_999
    assert bp.quote_for(abs(p.size) // 2, p.size, p.cost) == 49_500_000_000


@pytest.mark.parametrize(
    "acct, symbol, rule, field",
    [
        pytest.param(account("x", "1000", pos(GENERIC_BTC, "1", "100")), "ETHUSDT", "whole-account", "symbol",
                     id="no-such-position"),
        pytest.param(AccountState(0, [PositionState(GENERIC_BTC, 0, 0, 10)], "x"), "BTCUSDT", "whole-account",
                     "symbol", id="flat-position"),
        pytest.param(account("x", "1000", pos(GENERIC_BTC, "1", "100")), "BTCUSDT", "half", "backing_rule",
                     id="unknown-backing-rule"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(acct, symbol, rule, field):
    with pytest.raises(InputError) as err:
        bankruptcy_price(acct, symbol, backing_rule=rule)
    assert err.value.field == field


@pytest.mark.parametrize(
    "build, field",
    [
        pytest.param(lambda: PositionState(GENERIC_BTC, 1, -100, 10), "cost", id="cost-against-the-size"),
        pytest.param(lambda: PositionState(GENERIC_BTC, 1, 100, 0), "mark", id="mark-below-one-tick"),
        pytest.param(lambda: PositionState(GENERIC_BTC, 1.5, 100, 10), "size", id="fractional-lots"),
        pytest.param(lambda: PositionState.of(GENERIC_BTC, "0.0005", "100"), "size", id="size-finer-than-a-lot"),
        pytest.param(lambda: PositionState.of(GENERIC_BTC, "1", "-5"), "entry", id="negative-entry"),
        pytest.param(lambda: PositionState.of(GENERIC_BTC, "1", "5", isolated_margin="0.0000001"),
                     "isolated_margin", id="margin-finer-than-money"),
        pytest.param(lambda: account("x", "1", pos(GENERIC_BTC, "1", "5"), pos(GENERIC_BTC, "2", "5")), "positions",
                     id="two-positions-one-symbol"),
    ],
)  # fmt: skip
def test_bad_state_names_the_field(build, field):
    with pytest.raises(InputError) as err:
        build()
    assert err.value.field == field


# --- the one formula: the operation agrees with `delever position` (account_view) on any account -----------------

SIZES = st.integers(-3_000, 3_000).filter(bool)


@settings(max_examples=40, deadline=None)
@given(
    venue=st.sampled_from(["binance", "dydx"]),
    wallet=st.integers(0, 20_000),
    btc=st.tuples(SIZES, st.integers(60_000, 140_000), st.integers(60_000, 140_000)),
    eth=st.tuples(SIZES, st.integers(2_000, 6_000), st.integers(2_000, 6_000)),
    btc_isolated=st.one_of(st.none(), st.integers(0, 30_000)),
)
def test_equals_delever_position(venue, wallet, btc, eth, btc_isolated):
    """For an account of a BTC and an ETH position (sizes in thousandths, whole-quote prices), the operation's price
    equals ``delever position --position ...``'s (:func:`delever.account_prices.account_view`, tested equal to the
    engine's liquidation stage in tests/test_cross_backing.py) for every position."""
    rb = get_venue(venue)
    btc_sym, eth_sym = ("BTCUSDT", "ETHUSDT") if venue == "binance" else ("BTC-USD", "ETH-USD")
    specs = [
        PositionSpec(btc_sym, Decimal(btc[0]) / 1000, Decimal(btc[1]), Decimal(btc[2]),
                     None if btc_isolated is None else Decimal(btc_isolated)),
        PositionSpec(eth_sym, Decimal(eth[0]) / 100, Decimal(eth[1]), Decimal(eth[2])),
    ]  # fmt: skip
    view = account_view(rb, Decimal(wallet), specs)
    positions = [PositionState.of(rb.instrument(s.symbol), s.size, s.entry, s.mark, s.isolated_margin) for s in specs]
    acct = AccountState(wallet * 10**6, positions, "x")
    rule = "mm-share" if venue == "dydx" else "whole-account"
    for shown in view.positions:
        assert bankruptcy_price(acct, shown.symbol, backing_rule=rule).price == shown.bankruptcy_price
