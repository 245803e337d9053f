"""Conformance of the insurance-fund delta of a liquidation fill (:func:`delever.operations.liquidation_fill`,
:func:`delever.operations.insurance_fund_delta`) per venue, each row citing its source in ../shared/specs; the sign
rule as a property; and agreement with the engine's own settlement of a liquidated margin
(:func:`delever.liquidation.settle_balance`) for whole closes.

Each row's account is built so that its bankruptcy price is the one the source states: an isolated long of 1 BTC
at ``BP + m`` with margin ``m`` (a short at ``BP - m``) is bankrupt at ``BP``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_accounts import GENERIC_BTC, account, inst, pos, ticks, usd

from delever.book import Book
from delever.columns import BookCols, EventCols
from delever.errors import InputError
from delever.events import EventBuffer
from delever.liquidation import apply_trade, settle_balance
from delever.operations import INSURANCE_FUND, AccountState, PositionState, insurance_fund_delta, liquidation_fill

BINANCE_BTC, BYBIT_BTC = inst("binance", "BTCUSDT"), inst("bybit", "BTCUSDT")
DYDX_BTC, HL_BTC, KRAKEN_BTC = inst("dydx", "BTC-USD"), inst("hyperliquid", "BTC"), inst("kraken", "PF_XBTUSD")
GATE = "venues.md s12 TV-10 [DOC, Gate] https://gate.io/pt-br/blog_detail/375/instructions-of-insurance-fund-auto-deleveraging-adl"
DYDX = "engines.md s1 'Insurance-fund delta per fill' https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go"


def long_at_bp(instrument, bp: int, margin: int):
    return account("t", "0", pos(instrument, "1", str(bp + margin), isolated=str(margin)))


def short_at_bp(instrument, bp: int, margin: int):
    return account("t", "0", pos(instrument, "-1", str(bp - margin), isolated=str(margin)))


ROWS = [
    # (account, symbol, base size closed, fill, fee ppm, surplus to, fund before, fund delta, trader keeps, bad debt)
    pytest.param(long_at_bp(BINANCE_BTC, 10_000, 500), "BTCUSDT", "1", "10100", 0, "insurance_fund", None,
                 "100", "0", "0", GATE + "; venues.md s1 Binance 'IF accumulates from liquidations above BP'",
                 id="binance-long-filled-100-above-bp-TV10"),
    pytest.param(short_at_bp(BINANCE_BTC, 10_000, 500), "BTCUSDT", "1", "10050", 0, "insurance_fund", None,
                 "-50", "0", "0", GATE, id="binance-short-filled-50-above-bp-TV10"),
    pytest.param(long_at_bp(BINANCE_BTC, 3_000, 300), "BTCUSDT", "1", "3060", 0, "insurance_fund", None,
                 "60", "0", "0", "venues.md s12 TV-11 [DOC, BTCMEX] https://blog.btcmex.com/insurance-fund/",
                 id="binance-long-filled-60-above-bp-TV11"),
    pytest.param(long_at_bp(GENERIC_BTC, 10_000, 500), "BTCUSDT", "1", "10100", 0, "insurance_fund", None,
                 "100", "0", "0", GATE + "; venues.md s2 BitMEX 'Fill better than BP -> surplus to IF' "
                 "https://www.bitmex.com/app/liquidation", id="bitmex-long-surplus-to-fund-TV10"),
    pytest.param(long_at_bp(BYBIT_BTC, 9_800, 200), "BTCUSDT", "1", "9850", 0, "insurance_fund", None,
                 "50", "0", "0", "venues.md s3 Bybit 'Better than BP -> remaining margin to IF' (TV-13's BP 9,800) "
                 "https://bybit.com/pt-BR/help-center/bybitHC_Article/?id=000001098&language=en_US",
                 id="bybit-long-remaining-margin-to-fund"),
    pytest.param(long_at_bp(BYBIT_BTC, 9_800, 200), "BTCUSDT", "1", "9790", 0, "insurance_fund", None,
                 "-10", "0", "0", "venues.md s3 Bybit 'worse -> IF covers' "
                 "https://bybit.com/pt-BR/help-center/bybitHC_Article/?id=000001098&language=en_US",
                 id="bybit-long-worse-fund-covers"),
    # dYdX: long 1 BTC @100,000 backed by 1,000 -> BP 99,000; fee cap 0.5% of |fill quote|
    pytest.param(long_at_bp(DYDX_BTC, 99_000, 1_000), "BTC-USD", "1", "99500", 5_000, "trader", None,
                 "497.5", "2.5", "0", DYDX + " (gap 500, cap 0.5% x 99,500 = 497.5)", id="dydx-long-better-fee-capped"),
    pytest.param(long_at_bp(DYDX_BTC, 99_000, 1_000), "BTC-USD", "1", "99200", 5_000, "trader", None,
                 "200", "0", "0", DYDX + " (gap 200 < cap 496: min(leftover, cap) = 200)",
                 id="dydx-long-better-surplus-under-cap"),
    pytest.param(long_at_bp(DYDX_BTC, 99_000, 1_000), "BTC-USD", "1", "98700", 5_000, "trader", None,
                 "-300", "0", "0", DYDX + " (gap -300: the fund pays it)", id="dydx-long-worse-fund-pays"),
    pytest.param(short_at_bp(DYDX_BTC, 101_000, 1_000), "BTC-USD", "1", "100000", 5_000, "trader", None,
                 "500", "500", "0", DYDX + " (buy at 100,000: gap -100,000 + 101,000 = 1,000, cap 500)",
                 id="dydx-short-better-fee-capped"),
    pytest.param(long_at_bp(DYDX_BTC, 99_000, 1_000), "BTC-USD", "0.5", "99500", 5_000, "trader", None,
                 "248.75", "1.25", "0", DYDX + " (half: bankruptcy quote 49,500, fill 49,750, cap 248.75)",
                 id="dydx-long-partial-fill"),
    pytest.param(long_at_bp(DYDX_BTC, 99_000, 1_000), "BTC-USD", "1", "98700", 5_000, "trader", "100",
                 "-100", "0", "200", DYDX + "; the engine pays what the fund holds, the rest is bad debt "
                 "(delever.liquidation.settle_balance; dYdX rejects the fill instead)",
                 id="dydx-long-worse-fund-short"),
    pytest.param(long_at_bp(HL_BTC, 10_000, 500), "BTC", "1", "10100", 0, "trader", None,
                 "0", "100", "0", GATE + "; venues.md s6 Hyperliquid 'no clearance fee', trader keeps it "
                 "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations", id="hyperliquid-long-better"),
    pytest.param(short_at_bp(HL_BTC, 10_000, 500), "BTC", "1", "10050", 0, "trader", None,
                 "-50", "0", "0", GATE + "; venues.md s6", id="hyperliquid-short-worse"),
    pytest.param(long_at_bp(KRAKEN_BTC, 10_000, 500), "PF_XBTUSD", "1", "10100", 0, "trader", None,
                 "0", "100", "0", GATE + "; venues.md s7 Kraken 'client keeps the remainder' "
                 "https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process",
                 id="kraken-long-better"),
]  # fmt: skip


@pytest.mark.parametrize("acct, symbol, size, fill, fee, surplus_to, fund, delta, keeps, bad, source", ROWS)
def test_fund_delta_rows(acct, symbol, size, fill, fee, surplus_to, fund, delta, keeps, bad, source):
    p = acct.position(symbol)
    lots = p.instrument.size_to_lots(size)
    out = liquidation_fill(acct, symbol, lots, ticks(p.instrument, fill), fee_ppm=fee, surplus_to=surplus_to,
                           fund_balance=None if fund is None else usd(fund))  # fmt: skip
    assert (out.fund_delta, out.trader_keeps, out.bad_debt) == (usd(delta), usd(keeps), usd(bad)), source
    # who pays whom: a fee goes from the account to the fund, a payout the other way; the rows are the delta
    into_fund = sum(t.amount for t in out.transfers if t.payee == INSURANCE_FUND)
    out_of_fund = sum(t.amount for t in out.transfers if t.payer == INSURANCE_FUND)
    assert into_fund - out_of_fund == out.fund_delta


@pytest.mark.parametrize(
    "kwargs, field",
    [
        pytest.param({"lots": 0}, "lots", id="zero-lots"),
        pytest.param({"lots": 1001}, "lots", id="more-lots-than-held"),
        pytest.param({"fill_ticks": 0}, "fill_ticks", id="fill-below-one-tick"),
        pytest.param({"fee_ppm": -1}, "fee_ppm", id="negative-fee"),
        pytest.param({"surplus_to": "liquidator"}, "surplus_to", id="unknown-surplus-rule"),
        pytest.param({"fund_balance": -5}, "fund_balance", id="negative-fund"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    acct = long_at_bp(GENERIC_BTC, 10_000, 500)
    args = {"lots": 1000, "fill_ticks": 100_000, **kwargs}
    with pytest.raises(InputError) as err:
        liquidation_fill(acct, "BTCUSDT", args.pop("lots"), args.pop("fill_ticks"), **args)
    assert err.value.field == field


# --- the sign rule ------------------------------------------------------------------------------------------------

QUOTES = st.integers(-(10**13), 10**13)


@settings(max_examples=300, deadline=None)
@given(fill=QUOTES, bankrupt=QUOTES, fee=st.integers(0, 1_000_000), to=st.sampled_from(["trader", "insurance_fund"]),
       fund=st.one_of(st.none(), st.integers(0, 10**13)))  # fmt: skip
def test_sign_rule(fill, bankrupt, fee, to, fund):
    """The fund gains only from a fill better than bankruptcy and pays only for one worse; gain plus what the trader
    keeps is the surplus; payout plus bad debt is the shortfall; the fee never exceeds its cap; the fund never
    pays more than it holds."""
    out = insurance_fund_delta(fill, bankrupt, fee_ppm=fee, surplus_to=to, fund_balance=fund)
    gap = fill - bankrupt
    assert out.gap == gap
    assert (out.fund_delta > 0) <= (gap > 0) and (out.fund_delta < 0) == (gap < 0 and (fund is None or fund > 0))
    assert out.fee + out.trader_keeps == max(gap, 0) and out.fee >= 0 and out.trader_keeps >= 0
    assert out.fund_paid + out.bad_debt == max(-gap, 0) and out.fund_paid >= 0 and out.bad_debt >= 0
    assert out.fund_delta == out.fee - out.fund_paid
    if to == "trader":
        assert out.fee * 1_000_000 < abs(fill) * fee + 1_000_000  # fee <= ceil(rate x |fill|)
    else:
        assert out.trader_keeps == 0
    if fund is not None:
        assert fund + out.fund_delta >= 0


# --- the engine's own settlement of a liquidated margin gives the same fund delta ----------------------------------


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(-5_000, 5_000).filter(bool),
    entry=st.integers(50_000, 150_000),
    fill=st.integers(40_000, 160_000),
    backing=st.integers(0, 20_000_000_000),
    isolated=st.booleans(),
    fee=st.integers(0, 20_000),
    fund=st.integers(0, 2_000_000_000),
)
def test_whole_close_equals_the_engines_settle_balance(size, entry, fill, backing, isolated, fee, fund):
    """A position closed whole at ``fill`` (the engine's trade, :func:`delever.liquidation.apply_trade`), then its
    margin settled with the fund by :func:`delever.liquidation.settle_balance` (the liquidation stage's step 3):
    the fund moves by the operation's ``fund_delta``, and a shortfall the fund cannot pay is the operation's bad
    debt (dYdX BTC-USD: tick 1, lot 0.0001; sizes in lots, prices in ticks, V = 100)."""
    v = DYDX_BTC.value_per_lot_tick
    position = PositionState(DYDX_BTC, size, size * entry * v, entry, backing if isolated else None)
    acct = AccountState(0 if isolated else backing, [position], "t")
    out = liquidation_fill(acct, "BTC-USD", abs(size), fill, fee_ppm=fee, fund_balance=fund)
    book = Book.from_arrays(wallet=[acct.wallet], account=[0], size=[size], cost=[position.cost],
                            collateral=[backing if isolated else 0], isolated=[isolated])  # fmt: skip
    cols = BookCols.of(book)
    apply_trade(0, -size, fill, cols, v)
    funds = np.array([fund], dtype=np.int64)
    events = EventCols.of(EventBuffer())
    settle_balance(0, abs(size) * fill * v, 0, 0, cols, funds, events, fee)
    assert int(funds[0]) - fund == out.fund_delta
    left = int(book.wallet[0]) + int(book.collateral[0])
    assert left == out.trader_keeps - out.bad_debt
