"""Every rounding rule of every money path, on hand-made states chosen so the rounding direction matters.

Each case has a bankruptcy price off the tick grid, a fee with a remainder, a cost that does not divide, a fund
exactly at a boundary, or a tie; the arithmetic is written beside it. The rule under test is the one of
``delever.units``: a requirement (fee, margin) rounds up, a payout to a trader rounds down, a price rounds
against the account whose order it is; never against solvency. tests/MUTANTS.md lists which test here kills
which deliberate one-character bug.

Instrument throughout: tick 0.1 USDT, lot 0.001 BTC, so one lot at one tick is V = 100 money units (micro-USDT)
and a price of P ticks on L lots is worth ``L * P * 100`` money units. ``C`` = 1 BTC long at 50,000.0 =
1,000 lots x 500,000 ticks x 100 = 50,000,000,000 (50,000 USDT).
"""

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever.adl.hierarchy import HierarchyRule
from delever.adl.policies import hierarchy_policy
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.columns import BookCols, EventCols, LiquidityCols
from delever.events import EventBuffer
from delever.instruments import Instrument
from delever.liquidation import AccountValuation, apply_trade, book_fill_price
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.margin import bankruptcy_price, effective_leverage, liquidation_price, margin_ratio, pnl_pct
from delever.mechanisms.backstop import take_over
from delever.mechanisms.funding import pay_funding
from delever.mechanisms.proactive import reduce_positions, select
from delever.mechanisms.socialized import pro_rata
from delever.settlement import final_settlement, settlement_price_ticks
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import ceil_div, money, money_to_decimal, mul_ppm_ceil, mul_ppm_floor, to_units

V = 100
C = 1_000 * 500_000 * V  # 1 BTC at 50,000.0
DEEP = 1_000_000.0  # lots per 1% of the linear book: 1 BTC moves the price by 0.001%
INST = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)


def lp(wallet: int = 10**15) -> dict:
    return {"size": 0, "cost": 0, "wallet": wallet, "lp": True}


def cross(size: int, cost: int, wallet: int) -> dict:
    return {"size": size, "cost": cost, "wallet": wallet}


def isolated(size: int, cost: int, margin: int) -> dict:
    return {"size": size, "cost": cost, "collateral": margin, "isolated": True}


def liquidate_first(rows, centre: int, fund: int, *, depth=DEEP, fee_ppm=1_000, partial=0, lp_weights=None,
                    policy="queue-bitmex", adl_on=1, order=(0,), buf=None, adl_ctl=None, fill_px=None,
                    v=V):  # fmt: skip
    """Liquidate position 0 (or the positions ``order``, in that order) of a book of one-position accounts
    (``rows`` as built above) through the compiled stage, with a linear book of ``depth`` lots per 1% centred at
    ``centre`` ticks (also the mark) and the insurance fund at ``fund`` money units. Returns (event rows as
    tuples, fund after, book after). ``buf``: the event buffer (default a fresh :class:`EventBuffer`);
    ``adl_ctl``/``fill_px``: the ADL trigger and fill rule passed to ``run_stage`` (default: the fund cannot
    pay, fill at the bankruptcy price); ``v`` money per lot-tick (default V = 100)."""
    n = len(rows)
    book = Book.from_arrays(
        wallet=[r.get("wallet", 0) for r in rows],
        exempt=[r.get("lp", False) for r in rows],
        account=list(range(n)),
        size=[r["size"] for r in rows],
        cost=[r["cost"] for r in rows],
        collateral=[r.get("collateral", 0) for r in rows],
        isolated=[r.get("isolated", False) for r in rows],
    )
    before = book.total_money(0)
    fund_arr = np.array([fund], dtype=np.int64)
    upnl = book.size * centre * v - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    excluded = np.zeros(n, dtype=bool)
    excluded[list(order)] = True
    t = BINANCE_BTCUSDT_2021
    queue = AdlQueue(book, 0, centre, v, lambda: (pos_eq, acc_eq), excluded, policy, (t.floors, t.mmr_ppm, t.cum))
    buf = EventBuffer() if buf is None else buf
    lp_pos = np.flatnonzero(book.exempt[book.account])
    weights = np.ones(lp_pos.size, dtype=np.int64) if lp_weights is None else np.array(lp_weights, dtype=np.int64)
    curve = DepthCurve.linear(depth).arrays()
    partials = np.array([partial] + [0] * (len(order) - 1), dtype=np.int64)
    run_stage(np.array(order, dtype=np.int64), book, v, fee_ppm, float(centre), np.zeros(1), curve, lp_pos, weights,
              fund_arr, queue, buf, partials, adl_on, AccountValuation.single(centre, v), adl_ctl, fill_px)  # fmt: skip
    # every case conserves money exactly: what left the book went to the fund, and back
    assert book.total_money(int(fund_arr[0])) == before + fund
    c = buf.cols
    events = [(ev.KIND_NAMES[c["kind"][i]], int(c["account"][i]), int(c["size"][i]), int(c["price"][i]),
               int(c["amount"][i])) for i in range(buf.n)]  # fmt: skip
    return events, int(fund_arr[0]), book


# ------------------------------------------------------------------------------------------------------------
# units: the two rounding primitives
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, rate, up, down",
    [
        (47_599_700_000, 375, 17_849_888, 17_849_887),  # 17,849,887.5: half a unit
        (1, 1, 1, 0),  # 1e-6 of a unit
        (999_999, 999_999, 999_999, 999_998),  # 999,998,000,001 / 1e6 = 999,998.000001
        (2_000_000, 500_000, 1_000_000, 1_000_000),  # exact: no rounding either way
        (-1_500_001, 1_000, -1_500, -1_501),  # negative amounts round towards +inf / -inf
    ],
    ids=["half-unit-remainder", "tiny-remainder", "large-remainder", "exact", "negative-amount"],
)
def test_mul_ppm_rounds_up_for_requirements_and_down_for_payouts(amount, rate, up, down):
    assert mul_ppm_ceil(amount, rate) == up == ceil_div(amount * rate, 1_000_000)
    assert mul_ppm_floor(amount, rate) == down == (amount * rate) // 1_000_000


@pytest.mark.parametrize(
    "value, unit, rounding, expected",
    [
        ("0.3", "0.1", None, 3),  # an exact multiple
        ("0.15", "0.1", "floor", 1),  # 1.5 ticks
        ("0.15", "0.1", "ceil", 2),
        ("-0.15", "0.1", "floor", -2),  # towards -inf, not towards zero
        ("-0.15", "0.1", "ceil", -1),
    ],
    ids=["exact-multiple", "half-tick-floor", "half-tick-ceil", "negative-half-tick-floor", "negative-half-tick-ceil"],
)
def test_to_units_rounds_only_when_asked_and_in_the_direction_asked(value, unit, rounding, expected):
    assert to_units(value, unit, rounding=rounding) == expected


def test_to_units_refuses_a_value_off_the_grid_and_money_converts_back_exactly():
    with pytest.raises(ValueError, match="not a multiple"):
        to_units("0.15", "0.1")  # 1.5 ticks
    with pytest.raises(ValueError, match="not a multiple"):
        money("0.0000015")  # 1.5 micro-USDT
    assert money("2500.000001") == 2_500_000_001
    # 1,500,001 micro-USDT is 1.500001 USDT exactly (no float, no truncation)
    assert money_to_decimal(1_500_001) == Decimal("1.500001")
    assert money_to_decimal(-1) == Decimal("-0.000001")


# ------------------------------------------------------------------------------------------------------------
# bankruptcy and liquidation prices: the reference (margin.py)
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, cost, collateral, expected",
    [
        # long 1 BTC @50,000, margin 2,500.05: (50,000,000,000 - 2,500,050,000) / 100,000 = 474,999.5 -> up
        (1_000, C, 2_500_050_000, 475_000),
        # same with 2,500.00: 475,000 exactly (no rounding)
        (1_000, C, 2_500_000_000, 475_000),
        # long with 2,499.95: 475,000.5 -> up 475,001
        (1_000, C, 2_499_950_000, 475_001),
        # short 1 BTC @50,000, margin 2,500.05: (-50,000,000,000 - 2,500,050,000) / -100,000 = 525,000.5 -> down
        (-1_000, -C, 2_500_050_000, 525_000),
        # short with 2,499.95: 524,999.5 -> down 524,999
        (-1_000, -C, 2_499_950_000, 524_999),
        # long backed beyond its cost: the exact price is negative; the price is floored at 0
        (1_000, C, C + 1, 0),
        # far beyond: exact -200,000 / 100,000 = -2 ticks, still 0
        (1_000, C, C + 200_000, 0),
        # one lot: (50,000,000 - 2,500,001) / 100 = 474,999.99 -> up 475,000
        (1, 500_000 * V, 2_500_001, 475_000),
    ],
    ids=[
        "long-off-tick-half",
        "long-on-tick",
        "long-off-tick-up",
        "short-off-tick-half",
        "short-off-tick-down",
        "long-overcollateralised",
        "long-overcollateralised-by-two-ticks",
        "one-lot-long-off-tick",
    ],  # fmt: skip
)
def test_reference_bankruptcy_price_rounds_against_the_account(size, cost, collateral, expected):
    assert bankruptcy_price(size, cost, collateral, INST) == expected


@pytest.mark.parametrize(
    "size, cost, collateral, expected",
    [
        # long 1 BTC @50,000, margin 2,500, first tier (MMR 0.4%, cum 0): P with 2,500 + (P - 50,000) x 1 =
        # 0.004 x P, i.e. P = 47,500 / 0.996 = 47,690.7630... USDT = 476,907.63 ticks -> up 476,908
        (1_000, C, 2_500_000_000, 476_908),
        # short: the notional near 52,000 is in the second tier (from 50,000: MMR 0.5%, cum 50 USDT):
        # 2,500 + (50,000 - P) = 0.005 P - 50 -> P = 52,550 / 1.005 = 52,288.557... = 522,885.57 ticks -> down
        (-1_000, -C, 2_500_000_000, 522_885),
        # one lot long with 2.5 USDT: 47,500,000 / (100 x 0.996) = 476,907.63 -> up 476,908
        (1, 500_000 * V, 2_500_000, 476_908),
    ],
    ids=["long-rounds-up-towards-mark", "short-rounds-down-towards-mark", "one-lot-long-rounds-up"],
)
def test_reference_liquidation_price_rounds_towards_the_mark(size, cost, collateral, expected):
    assert liquidation_price(size, cost, collateral, INST) == expected


@pytest.mark.parametrize(
    "mm, equity, notional, upnl, cost, ratio, leverage, pct",
    [
        (100, 400, 1_000, 5, -50, 0.25, 2.5, 0.1),  # 100 / 400; 1,000 / 400; 5 / |-50|
        (100, 0, 1_000, 5, 0, float("inf"), float("inf"), 0.0),  # zero equity: infinite; flat cost: 0%
        (100, -1, 1_000, -5, 50, float("inf"), float("inf"), -0.1),  # negative equity: infinite as well
        (100, 1, 1_000, 5, 50, 100.0, 1_000.0, 0.1),  # one unit of equity: finite
    ],
    ids=["solvent", "zero-equity-flat-cost", "negative-equity", "one-unit-of-equity"],
)
def test_reference_ratios_at_zero_and_negative_equity(mm, equity, notional, upnl, cost, ratio, leverage, pct):
    assert margin_ratio(mm, equity) == ratio
    assert effective_leverage(notional, equity) == leverage
    assert pnl_pct(upnl, cost) == pct


def test_flat_position_has_no_bankruptcy_or_liquidation_price():
    with pytest.raises(ValueError, match="flat"):
        bankruptcy_price(0, 0, 1, INST)
    with pytest.raises(ValueError, match="flat"):
        liquidation_price(0, 0, 1, INST)


# ------------------------------------------------------------------------------------------------------------
# the liquidation kernel's own bankruptcy price: ADL fills at it
# ------------------------------------------------------------------------------------------------------------


def test_kernel_bankruptcy_price_of_a_long_off_tick_rounds_up():
    # long 1 BTC @50,000 isolated with 2,500.05: BP 474,999.5 ticks -> 475,000 (up). Empty fund and the book
    # (centre 47,400) fills below BP, so all 1,000 lots are deleveraged at 475,000 against the shorts:
    # A 400 lots @52,000 (ranked first) closed whole, B 600 of its 1,000 @51,000.
    # The long realizes (475,000 x 1,000 x 100) - 50,000,000,000 = -2,500,000,000 and keeps 50,000 (0.05 USDT);
    # the fee ceil(0.1% x 47,500,000,000) = 47,500,000 is capped at those 50,000, which go to the fund.
    # Rounded down (474,999) the long would lose 2,500,100,000: 0.05 USDT of bad debt with an empty fund.
    rows = [isolated(1_000, C, 2_500_050_000), cross(-400, -400 * 520_000 * V, 500_000_000),
            cross(-1_000, -1_000 * 510_000 * V, 5_000_000_000), lp()]  # fmt: skip
    events, fund, book = liquidate_first(rows, 474_000, 0)
    assert events == [
        ("adl_fill", 0, -400, 475_000, -1_000_000_000),
        ("adl_counterparty_fill", 1, 400, 475_000, 1_800_000_000),  # (52,000 - 47,500) x 0.4 = 1,800
        ("adl_fill", 0, -600, 475_000, -1_500_000_000),
        ("adl_counterparty_fill", 2, 600, 475_000, 2_100_000_000),  # (51,000 - 47,500) x 0.6 = 2,100
        ("liquidation_fee", 0, 0, 0, -50_000),
    ]
    assert fund == 50_000 and book.wallet[0] == 0 and book.collateral[0] == 0


def test_fee_after_adl_is_charged_on_the_deleveraged_notional_when_the_balance_allows():
    # as above (BP 475,000 off a 474,999.5 tick, 50,000 left after the ADL) with a fee of 1 ppm: the fee on the
    # 1,000 lots closed at 475,000, ceil(47,500,000,000 x 1 / 1e6) = 47,500, is below the 50,000 left:
    # charged in full; 2,500 returns to the wallet
    rows = [isolated(1_000, C, 2_500_050_000), cross(-400, -400 * 520_000 * V, 500_000_000),
            cross(-1_000, -1_000 * 510_000 * V, 5_000_000_000), lp()]  # fmt: skip
    events, fund, book = liquidate_first(rows, 474_000, 0, fee_ppm=1)
    assert events[-1] == ("liquidation_fee", 0, 0, 0, -47_500)
    assert fund == 47_500 and book.wallet[0] == 2_500


def test_kernel_bankruptcy_price_of_a_short_off_tick_rounds_down():
    # short 1 BTC @50,000 isolated with 2,500.05: BP 525,000.5 -> 525,000 (down). Book centre 52,600 fills above
    # BP, empty fund: all 1,000 lots are deleveraged against the long A (1,200 lots @48,000, wallet 500).
    # Short realizes 50,000,000,000 - 525,000 x 1,000 x 100 = -2,500,000,000, keeps 50,000: the capped fee.
    # A realizes (52,500 - 48,000) x 1 = 4,500 and keeps 200 lots at cost 200 x 480,000 x 100.
    rows = [isolated(-1_000, -C, 2_500_050_000), cross(1_200, 1_200 * 480_000 * V, 500_000_000), lp()]
    events, fund, book = liquidate_first(rows, 526_000, 0)
    assert events == [
        ("adl_fill", 0, 1_000, 525_000, -2_500_000_000),
        ("adl_counterparty_fill", 1, -1_000, 525_000, 4_500_000_000),
        ("liquidation_fee", 0, 0, 0, -50_000),
    ]
    assert fund == 50_000 and book.size[1] == 200 and book.cost[1] == 200 * 480_000 * V


# ------------------------------------------------------------------------------------------------------------
# book fills: VWAP to a tick against the taker; the fee with a remainder
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "side, centre, fill, realized, fee",
    [
        # sell 1,000 lots at centre 47,600.0: VWAP 476,000 x (1 - 1,000 / 2e8) = 475,997.62 -> floor 475,997;
        # realized 1,000 x 475,997 x 100 - C = -2,400,300,000; fee ceil(47,599,700,000 x 375 / 1e6) =
        # ceil(17,849,887.5) = 17,849,888; left 2,500,000,000 - 2,400,300,000 - 17,849,888 = 81,850,112
        ("long-sells-vwap-floored-fee-half-up", 476_000, 475_997, -2_400_300_000, 17_849_888),
        # buy 1,000 lots at centre 52,400.0: VWAP 524,000 x (1 + 1,000 / 2e8) = 524,002.62 -> ceil 524,003;
        # realized C - 1,000 x 524,003 x 100 = -2,400,300,000; fee ceil(52,400,300,000 x 375 / 1e6) =
        # ceil(19,650,112.5) = 19,650,113; left 80,049,887
        ("short-buys-vwap-ceiled-fee-half-up", 524_000, 524_003, -2_400_300_000, 19_650_113),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_book_fill_rounds_against_the_taker_and_the_fee_rounds_up(side, centre, fill, realized, fee):
    sign = 1 if side.startswith("long") else -1
    rows = [isolated(sign * 1_000, sign * C, 2_500_000_000), lp()]
    events, fund, book = liquidate_first(rows, centre, 1_000_000_000, fee_ppm=375)
    assert events == [
        ("liquidation_fill", 0, -sign * 1_000, fill, realized),
        ("lp_fill", 1, sign * 1_000, fill, 0),
        ("liquidation_fee", 0, 0, 0, -fee),
    ]
    assert fund == 1_000_000_000 + fee
    assert book.wallet[0] == 2_500_000_000 + realized - fee and book.collateral[0] == 0


def test_fee_with_a_remainder_of_one_part_in_a_million_rounds_up():
    # long 1 lot @50,000 (margin 2.5 USDT) sold at centre 47,990.2: floor(479,902 x (1 - 1 / 2e8)) = 479,901.
    # Fee at 101 ppm on 47,990,100: 4,847,000,100 / 1e6 = 4,847.0001 -> 4,848 (one unit more for 1e-4 of one)
    events, fund, book = liquidate_first([isolated(1, 500_000 * V, 2_500_000), lp()], 479_902, 0, fee_ppm=101)
    assert events == [
        ("liquidation_fill", 0, -1, 479_901, -2_009_900),  # 47,990,100 - 50,000,000
        ("lp_fill", 1, 1, 479_901, 0),
        ("liquidation_fee", 0, 0, 0, -4_848),
    ]
    assert fund == 4_848 and book.wallet[0] == 2_500_000 - 2_009_900 - 4_848


def test_partial_liquidation_of_a_single_lot():
    # a partial of 1 lot of 1,000 at centre 47,600: floor(476,000 x (1 - 1 / 2e8)) = 475,999; cost released
    # C / 1,000 = 50,000,000; realized 47,599,900 - 50,000,000 = -2,400,100; fee ceil(47,599.9) = 47,600
    events, fund, book = liquidate_first([isolated(1_000, C, 2_500_000_000), lp()], 476_000, 0, partial=1)
    assert events == [
        ("liquidation_fill", 0, -1, 475_999, -2_400_100),
        ("lp_fill", 1, 1, 475_999, 0),
        ("liquidation_fee", 0, 0, 0, -47_600),
    ]
    assert fund == 47_600 and book.size[0] == 999


@pytest.mark.parametrize(
    "centre, delta, price",
    [
        (476_000.0, -1_000, 475_997),  # sell: 475,997.62 -> down
        (524_000.0, 1_000, 524_003),  # buy: 524,002.62 -> up
        (1.9, -1, 1),  # sell near 1.9 ticks -> down to 1
        (0.5, -1, 1),  # below one tick: the price is never under 1 tick
        (1.2, 1, 2),  # buy near 1.2 ticks -> up to 2
    ],
    ids=["sell-floors", "buy-ceils", "sell-floors-to-one-tick", "never-below-one-tick", "buy-ceils-near-one-tick"],
)
def test_book_fill_price_rounds_against_the_taker(centre, delta, price):
    assert book_fill_price(centre, 0.0, delta, DepthCurve.linear(DEEP).arrays()) == price


def test_a_flat_position_in_the_order_is_passed_over():
    # the order lists a flat position first: the long after it is still liquidated (fill 475,997, fee 47,599,700)
    rows = [cross(0, 0, 0), isolated(1_000, C, 2_500_000_000), lp()]
    events, fund, _ = liquidate_first(rows, 476_000, 0, order=(0, 1))
    assert [e[0] for e in events] == ["liquidation_fill", "lp_fill", "liquidation_fee"] and fund == 47_599_700


def test_fill_worse_than_bankruptcy_fund_pays_the_exact_deficit():
    # long 1 BTC @50,000, margin 2,500; centre 47,400: fill 473,997; realized 473,997 x 100,000 - C =
    # -2,600,300,000; deficit 100,300,000 (100.3 USDT) paid by the fund (1,000 USDT) to the unit: 899.7 left
    rows = [isolated(1_000, C, 2_500_000_000), lp()]
    events, fund, book = liquidate_first(rows, 474_000, 1_000_000_000)
    assert events[-1] == ("insurance_payout", 0, 0, 0, 100_300_000)
    assert fund == 899_700_000 and book.collateral[0] == 0 and book.wallet[0] == 0


# ------------------------------------------------------------------------------------------------------------
# the fund's boundaries: exactly enough, one unit short
# ------------------------------------------------------------------------------------------------------------

SHORT_A = cross(-2_000, -2_000 * 520_000 * V, 500_000_000)


def test_fund_exactly_equal_to_the_whole_deficit_sends_everything_to_the_book():
    # as above, deficit 100,300,000 with a fund of exactly 100,300,000: the fund covers it (<=), no ADL
    events, fund, _ = liquidate_first([isolated(1_000, C, 2_500_000_000), SHORT_A, lp()], 474_000, 100_300_000)
    assert [e[0] for e in events] == ["liquidation_fill", "lp_fill", "insurance_payout"]
    assert events[0][2] == -1_000 and fund == 0


def test_fund_one_unit_short_of_the_whole_deficit_sends_one_lot_to_adl():
    # fund 100,299,999: 1,000 lots in the book cost it 100,300,000 > fund; 999 lots fill at
    # floor(474,000 x (1 - 999 / 2e8)) = floor(473,997.63) = 473,997, deficit 999 x (475,000 - 473,997) x 100 =
    # 100,199,700 <= fund; the last lot is deleveraged at BP 475,000 against short A
    events, fund, _ = liquidate_first([isolated(1_000, C, 2_500_000_000), SHORT_A, lp()], 474_000, 100_299_999)
    assert events == [
        ("liquidation_fill", 0, -999, 473_997, 999 * 473_997 * V - 999 * 500_000 * V),
        ("lp_fill", 2, 999, 473_997, 0),
        ("adl_fill", 0, -1, 475_000, -2_500_000),
        ("adl_counterparty_fill", 1, 1, 475_000, 4_500_000),
        ("insurance_payout", 0, 0, 0, 100_199_700),
    ]
    assert fund == 100_299_999 - 100_199_700


@pytest.mark.parametrize(
    "fund, book_lots, fill",
    [
        # thin book (1,000 lots per 1%) centred at 47,510.0; k lots fill at floor(475,100 x (1 - k / 200,000)):
        # k = 100: floor(474,862.45) = 474,862, deficit 100 x (475,000 - 474,862) x 100 = 1,380,000;
        # k = 101: floor(474,860.07) = 474,860, deficit 101 x 140 x 100 = 1,414,000. A fund of exactly 1,380,000
        # covers 100 lots (the largest k whose deficit is <= the fund)
        (1_380_000, 100, 474_862),
        # one unit less: k = 99, floor(474,864.83) = 474,864, deficit 99 x 136 x 100 = 1,346,400 <= 1,379,999
        (1_379_999, 99, 474_864),
        # an empty fund: the first lots fill above BP, so the book still takes k = 42 lots:
        # floor(475,100 x (1 - 42 / 200,000)) = floor(475,000.23) = 475,000, deficit 0; k = 43 fills at 474,997
        (0, 42, 475_000),
    ],
    ids=["fund-exactly-covers-100-lots", "fund-one-unit-below-covers-99-lots", "empty-fund-book-above-bp-42-lots"],
)
def test_largest_book_part_the_fund_covers_at_the_exact_boundary(fund, book_lots, fill):
    rows = [isolated(1_000, C, 2_500_000_000), SHORT_A, lp()]
    events, fund_after, _ = liquidate_first(rows, 475_100, fund, depth=1_000.0)
    deficit = book_lots * (475_000 - fill) * V
    assert events[0] == ("liquidation_fill", 0, -book_lots, fill, book_lots * (fill - 500_000) * V)
    adl = [e for e in events if e[0] == "adl_counterparty_fill"]
    assert adl == [("adl_counterparty_fill", 1, 1_000 - book_lots, 475_000, (1_000 - book_lots) * 45_000 * V)]
    payouts = [e for e in events if e[0] == "insurance_payout"]
    assert payouts == ([("insurance_payout", 0, 0, 0, deficit)] if deficit else [])
    assert fund_after == fund - deficit


# ------------------------------------------------------------------------------------------------------------
# ADL: counterparty order, ties, the partial last counterparty's cost, and a queue that runs dry
# ------------------------------------------------------------------------------------------------------------


def test_adl_equal_scores_go_to_the_lower_position_index_first():
    # two identical shorts (600 lots @52,000, wallet 500): equal scores, so index 1 is deleveraged first and
    # whole (600 lots), index 2 gives the remaining 400 at BP 475,000
    twin = cross(-600, -600 * 520_000 * V, 500_000_000)
    events, _, book = liquidate_first([isolated(1_000, C, 2_500_000_000), twin, dict(twin), lp()], 474_000, 0)
    cps = [(e[1], e[2]) for e in events if e[0] == "adl_counterparty_fill"]
    assert cps == [(1, 600), (2, 400)]
    assert book.size.tolist()[:3] == [0, 0, -200]


def test_adl_partial_counterparty_releases_cost_rounded_against_it():
    # bankrupt long as above (BP 475,000, 1,000 lots); counterparties A (400 lots, ranked first) and B, a short
    # of 1,000 lots whose cost -51,000,000,001 is off the tick grid (average entry 51,000.00001).
    # B gives 600 lots: cost released ceil(-51,000,000,001 x -600 / -1,000) = ceil(-30,600,000,000.6) =
    # -30,600,000,000; B realizes -600 x 475,000 x 100 + 30,600,000,000 = 2,100,000,000 (the exact
    # 2,100,000,000.6 rounded down) and keeps 400 lots at cost -20,400,000,001
    rows = [isolated(1_000, C, 2_500_000_000), cross(-400, -400 * 520_000 * V, 500_000_000),
            cross(-1_000, -51_000_000_001, 5_000_000_000), lp()]  # fmt: skip
    events, _, book = liquidate_first(rows, 474_000, 0)
    assert ("adl_counterparty_fill", 2, 600, 475_000, 2_100_000_000) in events
    assert book.size[2] == -400 and book.cost[2] == -20_400_000_001


def test_adl_queue_running_dry_sends_the_rest_to_the_book_and_leaves_bad_debt():
    # only 300 lots of opposite profit (A: 300 @52,000); the other 700 lots go to the book at
    # floor(474,000 x (1 - 700 / 2e8)) = floor(473,998.34) = 473,998; the long ends at
    # 2,500,000,000 + 300 x (475,000 - 500,000) x 100 + 700 x (473,998 - 500,000) x 100 = -70,140,000 with an
    # empty fund: bad debt -70,140,000
    rows = [isolated(1_000, C, 2_500_000_000), cross(-300, -300 * 520_000 * V, 500_000_000), lp()]
    events, fund, book = liquidate_first(rows, 474_000, 0)
    assert events == [
        ("adl_fill", 0, -300, 475_000, -750_000_000),
        ("adl_counterparty_fill", 1, 300, 475_000, 1_350_000_000),
        ("liquidation_fill", 0, -700, 473_998, -1_820_140_000),
        ("lp_fill", 2, 700, 473_998, 0),
        ("bad_debt", 0, 0, 0, -70_140_000),
    ]
    assert fund == 0 and book.collateral[0] == -70_140_000


class OneRowAtATime:
    """An event buffer that grants one more row per ``ensure`` call, whatever is asked, so the liquidation kernel
    runs on exactly the room its own check asked for (``run_stage``'s usual slack taken away). Its columns are
    views of larger arrays: a kernel writing past its room writes into the slack behind the view (or raises
    ``IndexError`` with the JIT off), and ``overflow`` records how many rows it wrote past the room."""

    def __init__(self, backing: int = 4_096) -> None:
        self._cols = {c: np.zeros(backing, dtype=np.int8 if c in ("kind", "indicator") else np.int64)
                      for c in ev.COLUMNS}  # fmt: skip
        self.capacity = 0
        self._n = 0
        self.overflow = 0

    @property
    def cols(self) -> dict:
        return {c: a[: self.capacity] for c, a in self._cols.items()}

    @property
    def n(self) -> int:
        return self._n

    @n.setter
    def n(self, rows: int) -> None:
        self.overflow = max(self.overflow, rows - self.capacity)
        self._n = rows

    def ensure(self, extra: int) -> None:
        if self._n + extra > self.capacity:
            self.capacity += 1


ONE_LOT_SHORT = cross(-1, -520_000 * V, 500_000_000)  # 1 lot @52,000: profit 2.2 USDT at 47,400


@pytest.mark.parametrize(
    "rows, fund, lp_weights, kinds",
    [
        # the worst order: three liquidity providers, a fund of 50 USDT that covers a book part, eight one-lot
        # counterparties (a queue that runs dry) and the rest to the book: a book fill and 3 LP fills, 8 ADL
        # pairs, a book fill and 3 LP fills, payout and bad debt = 2 x 3 + 2 x 8 + 4 = 26 rows. The kernel asks
        # for 2 n_lp + 6 + 2 x (queue entries) + n_lp = 6 + 6 + 16 + 3 = 31; asking for 2 // n_lp + 6 + ... or
        # (... ) - n_lp = 25, or 2 + entries (25) or 2 // entries (15) in place of 2 x entries, leaves it short
        ([isolated(1_000, C, 2_500_000_000)] + [ONE_LOT_SHORT] * 8 + [lp(), lp(), lp()], 50_000_000, None,
         {"liquidation_fill": 2, "lp_fill": 6, "adl_fill": 8, "adl_counterparty_fill": 8, "insurance_payout": 1,
          "bad_debt": 1}),
        # a book-only order with three liquidity providers: a book fill, 3 LP fills and the fee
        ([isolated(1_000, C, 3_000_000_000), lp(), lp(), lp()], 0, None,
         {"liquidation_fill": 1, "lp_fill": 3, "liquidation_fee": 1}),
        # one lot, two liquidity providers: the lot goes to the first (shares 0.5 each, the tie to the lower
        # index) and the second, with 0 lots, writes no row: fill at floor(474,000 x (1 - 1 / 2e8)) = 473,999,
        # margin 3,000,000 - 2,600,100 = 399,900 pays the fee ceil(47,399.9) = 47,400
        ([isolated(1, 500_000 * V, 3_000_000), lp(), lp()], 0, None,
         {"liquidation_fill": 1, "lp_fill": 1, "liquidation_fee": 1}),
    ],
    ids=["book-part-then-dry-queue-then-book-3-lps", "book-only-3-lps", "one-lot-two-lps-one-row"],
)  # fmt: skip
def test_liquidation_never_writes_past_the_event_room_it_asked_for(rows, fund, lp_weights, kinds):
    tight = OneRowAtATime()
    events, fund_after, book = liquidate_first(rows, 474_000, fund, lp_weights=lp_weights, buf=tight)
    assert tight.overflow <= 0 and tight.n <= tight.capacity
    got: dict[str, int] = {}
    for e in events:
        got[e[0]] = got.get(e[0], 0) + 1
    assert got == kinds
    # the same rows as with a roomy buffer
    assert events == liquidate_first(rows, 474_000, fund, lp_weights=lp_weights)[0]


ONE_LOT_LONG_COST = 500_000 * V  # 1 lot @50,000.0


@pytest.mark.parametrize(
    "rows, centre, fund, partial, order, events, fund_after",
    [
        # 1 lot long, margin 2,600,101: the fill floor(474,000 x (1 - 1 / 2e8)) = 473,999 realizes -2,600,100 and
        # leaves exactly 1 unit, so the fee ceil(47,399.9) = 47,400 is capped at 1: a fee of one unit is charged
        ([isolated(1, ONE_LOT_LONG_COST, 2_600_101), lp()], 474_000, 0, 0, (0,),
         [("liquidation_fill", 0, -1, 473_999, -2_600_100), ("lp_fill", 1, 1, 473_999, 0),
          ("liquidation_fee", 0, 0, 0, -1)], 1),
        # margin 2,600,099: the same fill leaves -1; the fund (10) covers the whole book close, so no ADL, and it
        # pays one unit
        ([isolated(1, ONE_LOT_LONG_COST, 2_600_099), lp()], 474_000, 10, 0, (0,),
         [("liquidation_fill", 0, -1, 473_999, -2_600_100), ("lp_fill", 1, 1, 473_999, 0),
          ("insurance_payout", 0, 0, 0, 1)], 9),
        # the same -1 with an empty fund and a short in profit: the deficit of one unit is beyond the fund, so
        # the lot is deleveraged at the bankruptcy price ceil((50,000,000 - 2,600,099) / 100) = ceil(473,999.01)
        # = 474,000, leaving 99 (the fee ceil(47,400) capped at 99)
        ([isolated(1, ONE_LOT_LONG_COST, 2_600_099), cross(-1, -520_000 * V, 500_000_000), lp()], 474_000, 0, 0,
         (0,),
         [("adl_fill", 0, -1, 474_000, -2_600_000), ("adl_counterparty_fill", 1, 1, 474_000, 4_600_000),
          ("liquidation_fee", 0, 0, 0, -99)], 99),
        # BP 475,000 (1,000 lots @50,000, margin 2,500) and centre 475,001: the first lot fills at
        # floor(475,001 x (1 - 1 / 2e8)) = 475,000, exactly the ADL price, so with an empty fund the book still
        # takes every lot that fills at 475,000: k with 475,001 x k / 2e8 < 1, k <= 421. The other 579 go to ADL
        # at 475,000 (the whole 1,000 at the book: floor(475,001 - 2.375) = 474,998, a deficit of 200,000)
        ([isolated(1_000, C, 2_500_000_000), SHORT_A, lp()], 475_001, 0, 0, (0,),
         [("liquidation_fill", 0, -421, 475_000, -1_052_500_000), ("lp_fill", 2, 421, 475_000, 0),
          ("adl_fill", 0, -579, 475_000, -1_447_500_000), ("adl_counterparty_fill", 1, 579, 475_000, 2_605_500_000)],
         0),
        # two orders, the first partial (300 lots, solvent at exactly 0 as in
        # test_partial_liquidation_only_when_the_account_stays_solvent), the second whole: the book has absorbed
        # 300 lots, so 1,000 more fill at floor(476,000 x (1 - (300 + 500) / 1e8)) = floor(475,996.19) = 475,996;
        # realized -2,400,400,000, fee ceil(47,599,600,000 x 0.1%) = 47,599,600
        ([isolated(1_000, C, 2_414_379_970), isolated(1_000, C, 2_500_000_000), lp()], 476_000, 0, 300, (0, 1),
         [("liquidation_fill", 0, -300, 475_999, -720_030_000), ("lp_fill", 2, 300, 475_999, 0),
          ("liquidation_fee", 0, 0, 0, -14_279_970), ("liquidation_fill", 1, -1_000, 475_996, -2_400_400_000),
          ("lp_fill", 2, 1_000, 475_996, 0), ("liquidation_fee", 1, 0, 0, -47_599_600)], 61_879_570),
        # the mirror for a short: 1,000 lots short @50,000 with margin 2,500 has BP 52,500.0 (525,000), and at
        # centre 524,999 buying k lots fills at ceil(524,999 x (1 + k / 2e8)) = 525,000 while k <= 380 (the
        # whole 1,000 at 525,002: a deficit of 200,000): 380 lots to the book, 620 to ADL (a long @48,000)
        ([isolated(-1_000, -C, 2_500_000_000), cross(2_000, 2_000 * 480_000 * V, 500_000_000), lp()], 524_999, 0, 0,
         (0,),
         [("liquidation_fill", 0, 380, 525_000, -950_000_000), ("lp_fill", 2, -380, 525_000, 0),
          ("adl_fill", 0, 620, 525_000, -1_550_000_000), ("adl_counterparty_fill", 1, -620, 525_000, 2_790_000_000)],
         0),
    ],
    ids=["fee-of-one-unit", "payout-of-one-unit", "deficit-of-one-unit-with-an-empty-fund-goes-to-adl",
         "first-lot-fills-exactly-at-the-adl-price", "partial-then-the-next-order",
         "short-first-lot-fills-exactly-at-the-adl-price"],
)  # fmt: skip
def test_liquidation_at_one_unit_and_one_tick_boundaries(rows, centre, fund, partial, order, events, fund_after):
    got, fund_left, _ = liquidate_first(rows, centre, fund, partial=partial, order=order)
    assert got == events and fund_left == fund_after


@pytest.mark.parametrize(
    "wallet, events",
    [
        # bankrupt long 1,000 lots, BP 475,000, mark 474,000, empty fund. The first-ranked short A (600 lots
        # @47,405, profit 600 x 5 USDT = 3,000,000) gives a lot at 475,000 instead of the mark at a cost of
        # 1,000 ticks x 100 = 100,000; with wallet -2,950,000 its equity is 50,000: it can give 0 lots and is
        # passed; the next short B (2,000 @52,000) gives all 1,000
        (-2_950_000,
         [("adl_fill", 0, -1_000, 475_000, -2_500_000_000),
          ("adl_counterparty_fill", 2, 1_000, 475_000, 4_500_000_000)]),
        # wallet -2,850,000: equity 150,000 buys one lot (150,000 // 100,000); A realizes -47,500,000 + 47,405,000
        # = -95,000 and keeps equity 50,000; B gives the other 999
        (-2_850_000,
         [("adl_fill", 0, -1, 475_000, -2_500_000), ("adl_counterparty_fill", 1, 1, 475_000, -95_000),
          ("adl_fill", 0, -999, 475_000, -2_497_500_000), ("adl_counterparty_fill", 2, 999, 475_000, 4_495_500_000)]),
    ],
    ids=["counterparty-that-can-give-nothing-is-passed", "counterparty-capped-at-one-lot-then-the-next"],
)  # fmt: skip
def test_adl_counterparty_capped_by_its_equity_then_the_queue_goes_on(wallet, events):
    rows = [isolated(1_000, C, 2_500_000_000), cross(-600, -600 * 474_050 * V, wallet), SHORT_A, lp()]
    got, fund, _ = liquidate_first(rows, 474_000, 0)
    assert got == events and fund == 0


def test_adl_isolated_counterparty_capped_by_its_own_margin():
    # as above, the first-ranked short isolated: 3 lots @47,450 with margin 0, equity = its profit 3 x 500 x 100 =
    # 150,000 (its own margin, not an account's): one lot at 475,000 costs it 100,000, so it gives 1 (realized
    # (474,500 - 475,000) x 100 = -50,000) and B gives the other 999
    rows = [isolated(1_000, C, 2_500_000_000), isolated(-3, -3 * 474_500 * V, 0), SHORT_A, lp()]
    events, _, book = liquidate_first(rows, 474_000, 0)
    assert [(e[1], e[2], e[4]) for e in events if e[0] == "adl_counterparty_fill"] == [
        (1, 1, -50_000), (2, 999, 4_495_500_000)]  # fmt: skip
    assert book.size.tolist()[:3] == [0, -2, -1_001]


def test_adl_counterparty_left_at_zero_equity_gives_nothing_to_the_next_order():
    # A (600 lots @47,405, wallet -2,900,000: equity 100,000) gives 1 lot to the first bankrupt long at 475,000
    # (cost 100,000: equity 0 after, realized -95,000); the second long's ADL price 474,500 would cost it 50,000
    # a lot, and at equity 0 it can give none: B (SHORT_A) takes all 1,000
    a = cross(-600, -600 * 474_050 * V, -2_900_000)
    rows = [isolated(1_000, C, 2_500_000_000), isolated(1_000, C, 2_550_000_000), a, SHORT_A, lp()]
    events, _, book = liquidate_first(rows, 474_000, 0, order=(0, 1))
    assert [(e[1], e[2], e[3]) for e in events if e[0] == "adl_counterparty_fill"] == [
        (2, 1, 475_000), (3, 999, 475_000), (3, 1_000, 474_500)]  # fmt: skip
    assert book.size.tolist()[2] == -599 and book.wallet.tolist()[2] == -2_995_000


def test_adl_isolated_winners_closed_flat_take_their_margin_home_open_ones_keep_it():
    # bankrupt long 1,000 (BP 475,000) against two isolated shorts @52,000: the 400-lot one (margin 50 USDT, the
    # more levered, first) is closed flat: realized 400 x (520,000 - 475,000) x 100 = 1,800,000,000, and its margin
    # 50,000,000 + 1,800,000,000 goes to its wallet; the 2,000-lot one gives 600 (2,700,000,000) and keeps
    # 500,000,000 + 2,700,000,000 = 3,200,000,000 behind its 1,400 lots
    rows = [isolated(1_000, C, 2_500_000_000), isolated(-400, -400 * 520_000 * V, 50_000_000),
            isolated(-2_000, -2_000 * 520_000 * V, 500_000_000), lp()]  # fmt: skip
    events, _, book = liquidate_first(rows, 474_000, 0)
    assert [(e[1], e[2]) for e in events if e[0] == "adl_counterparty_fill"] == [(1, 400), (2, 600)]
    assert book.size.tolist()[:3] == [0, 0, -1_400]
    assert book.wallet.tolist()[:3] == [0, 1_850_000_000, 0]
    assert book.collateral.tolist()[:3] == [0, 0, 3_200_000_000]


WHOLE_DRAWDOWN_ON = (2, 1, 10**12, 10**13, 1)
"""An ADL trigger control (delever.adl.trigger ``CTL_*``): the fund-drawdown trigger (2), on (1), start at or
below 1,000,000 USDT, stop above 10,000,000 USDT, whole positions while on (1): OKX's rule."""


@pytest.mark.parametrize(
    "rows, centre, partial, kwargs, events",
    [
        # 1,000 lots long entered at 1 tick, partial 300 at centre 2: the 300 fill at floor(2 x (1 - 300 / 2e8))
        # = 1 tick, the lowest price, realizing 0; fee ceil(0.1% x 300 x 1 x 100) = 30. A price of 1 tick is a
        # fill: the partial is done
        ([isolated(1_000, 1_000 * 1 * V, 10**9), lp()], 2, 300, {},
         [("liquidation_fill", 0, -300, 1, 0), ("lp_fill", 1, 300, 1, 0), ("liquidation_fee", 0, 0, 0, -30)]),
        # OKX's whole-position drawdown trigger is on (empty fund), but ADL is off for this stage: nothing is
        # deleveraged, so the partial order (solvent exactly at 0 as in
        # test_partial_liquidation_only_when_the_account_stays_solvent) goes to the book as asked
        ([isolated(1_000, C, 2_414_379_970), lp()], 476_000, 300,
         {"adl_on": 0, "adl_ctl": np.array(WHOLE_DRAWDOWN_ON, dtype=np.int64)},
         [("liquidation_fill", 0, -300, 475_999, -720_030_000), ("lp_fill", 1, 300, 475_999, 0),
          ("liquidation_fee", 0, 0, 0, -14_279_970)]),
        # ADL at the mark (fill rule) of 1 tick: a long of 1,000 lots entered at 3 ticks with margin 50,000 (BP
        # ceil(2.5) = 3) is deleveraged at 1 tick against a short entered at 2: realized 1,000 x (1 - 3) x 100 =
        # -200,000 and the counterparty's +100,000; the long's -150,000 is bad debt (empty fund)
        ([isolated(1_000, 1_000 * 3 * V, 50_000), cross(-2_000, -2_000 * 2 * V, 10**9), lp()], 1, 0,
         {"fill_px": np.array([1], dtype=np.int64)},
         [("adl_fill", 0, -1_000, 1, -200_000), ("adl_counterparty_fill", 1, 1_000, 1, 100_000),
          ("bad_debt", 0, 0, 0, -150_000)]),
        # the fund-drawdown trigger on (fund 10 <= 1,000,000 USDT), not whole positions: the fund may pay
        # nothing before ADL, so the one-unit deficit of a 1-lot long (margin 2,600,099, the book at 473,999)
        # goes to ADL at 474,000 (fee 99 from the 99 left) instead of a payout of 1
        ([isolated(1, ONE_LOT_LONG_COST, 2_600_099), cross(-1, -520_000 * V, 500_000_000), lp()], 474_000, 0,
         {"fund": 10, "adl_ctl": np.array((2, 1, 10**12, 10**13, 0), dtype=np.int64)},
         [("adl_fill", 0, -1, 474_000, -2_600_000), ("adl_counterparty_fill", 1, 1, 474_000, 4_600_000),
          ("liquidation_fee", 0, 0, 0, -99)]),
        # V = 1 (one money unit per lot-tick): a long of 10 lots entered at 1,010 with margin 90 has BP
        # (10,100 - 90) / 10 = 1,001, one tick above the mark 1,000, so each lot given costs a counterparty 1
        # unit. The first short (5 lots @1,002, wallet -7: equity -7 + 10 = 3) gives 3 lots, the next the other 7
        ([isolated(10, 10 * 1_010, 90), cross(-5, -5 * 1_002, -7), cross(-20, -20 * 1_100, 10_000), lp()], 1_000, 0,
         {"v": 1},
         [("adl_fill", 0, -3, 1_001, -27), ("adl_counterparty_fill", 1, 3, 1_001, 3),
          ("adl_fill", 0, -7, 1_001, -63), ("adl_counterparty_fill", 2, 7, 1_001, 693)]),
    ],
    ids=["partial-fill-at-one-tick", "whole-drawdown-trigger-on-with-adl-off-keeps-the-partial",
         "adl-at-a-mark-of-one-tick", "drawdown-trigger-on-the-fund-pays-nothing-before-adl",
         "v-1-counterparty-capped-at-its-equity-in-units"],
)  # fmt: skip
def test_liquidation_fill_rules_at_one_tick_and_with_adl_off(rows, centre, partial, kwargs, events):
    kw = {k: x for k, x in kwargs.items() if k != "fund"}
    got, _, _ = liquidate_first(rows, centre, kwargs.get("fund", 0), partial=partial, **kw)
    assert got == events


def test_adl_queue_pointer_stays_on_a_capped_counterparty_across_orders():
    """Four bankrupt longs of 1,000 lots (mark 474,000, empty fund) in a row, ADL prices 475,000, 474,500,
    473,999 and 475,000, against three shorts @52,000 ranked A, B, C. A (3 lots, equity 150,000) pays
    (price - mark) x 100 a lot to give at the ADL price: 1 lot at 475,000 (100,000), 1 at 474,500 (50,000),
    then its last at 473,999 (below the mark: no cost). B (1 lot) is used up by the first order, C (4,000 lots)
    takes the rest. The queue's pointer must stay on A while A is capped (B, used up behind it, is passed
    without moving the pointer past A), and move past A and B once A is used up, onto C, which still has
    lots for the fourth order. The third order: the book takes the 421 lots that fill at the ADL price 473,999
    (floor(474,000 x (1 - k / 2e8)) = 473,999 for k <= 421), A 1 and C 578."""
    a = cross(-3, -3 * 520_000 * V, 150_000 - 3 * 4_600_000)  # equity 150,000 at the mark
    b = cross(-1, -520_000 * V, 100_000)
    c = cross(-4_000, -4_000 * 520_000 * V, 4_000_000_000)
    rows = [isolated(1_000, C, 2_500_000_000), isolated(1_000, C, 2_550_000_000), isolated(1_000, C, 2_600_100_000),
            isolated(1_000, C, 2_500_000_000), a, b, c, lp()]  # fmt: skip
    events, fund, book = liquidate_first(rows, 474_000, 0, order=(0, 1, 2, 3))
    fills = [(e[1], e[2], e[3]) for e in events if e[0] in ("adl_counterparty_fill", "lp_fill")]
    assert fills == [
        (4, 1, 475_000),
        (5, 1, 475_000),
        (6, 998, 475_000),  # A capped at 1, B used up, C the rest
        (4, 1, 474_500),
        (6, 999, 474_500),  # A again (capped: the pointer stays on it), B passed
        (7, 421, 473_999),
        (4, 1, 473_999),
        (6, 578, 473_999),  # the book part, A's last lot, C
        (6, 1_000, 475_000),  # the pointer is on C: its lots serve the fourth order
    ]
    assert fund == 0 and book.size.tolist() == [0, 0, 0, 0, 0, 0, -425, 421]


def test_allocation_policy_splits_the_adl_lots_by_largest_remainder():
    # pro-rata-contracts: a bankrupt long of 501 lots (BP 475,000: margin 501 x 2.5 USDT) with an empty fund and
    # the book below BP: all 501 lots are deleveraged, split 600 : 400 between shorts A and B (both @52,000):
    # 300.6 and 200.4 -> 300 + 200, the odd lot to the larger remainder (A): 301 and 200
    rows = [isolated(501, 501 * 500_000 * V, 1_252_500_000), cross(-600, -600 * 520_000 * V, 500_000_000),
            cross(-400, -400 * 520_000 * V, 500_000_000), lp()]  # fmt: skip
    events, fund, _ = liquidate_first(rows, 474_000, 0, policy="pro-rata-contracts")
    assert events == [
        ("adl_fill", 0, -301, 475_000, -752_500_000),  # 301 x (47,500 - 50,000) x 0.001
        ("adl_counterparty_fill", 1, 301, 475_000, 1_354_500_000),  # 301 x (52,000 - 47,500) x 0.001
        ("adl_fill", 0, -200, 475_000, -500_000_000),
        ("adl_counterparty_fill", 2, 200, 475_000, 900_000_000),
    ]
    assert fund == 0


def test_cross_account_pays_the_fee_from_its_wallet():
    # as the isolated long of test_book_fill_... but cross with wallet 2,500: fill 475,997, realized
    # -2,400,300,000, fee ceil(0.1% x 47,599,700,000) = 47,599,700; the wallet keeps 52,100,300
    events, fund, book = liquidate_first([cross(1_000, C, 2_500_000_000), lp()], 476_000, 0)
    assert events[-1] == ("liquidation_fee", 0, 0, 0, -47_599_700)
    assert fund == 47_599_700 and book.wallet[0] == 52_100_300 and book.collateral[0] == 0


def test_cross_account_keeps_the_debt_the_fund_cannot_pay():
    # cross long, wallet 2,500, fund 50 USDT, nobody to deleverage against. The fund can cover the book part
    # of k lots while k x (475,000 - fill(k)) x 100 <= 50,000,000: k = 499 fills at floor(474,000 x (1 - 499 /
    # 2e8)) = 473,998 (deficit 499 x 1,002 x 100 = 49,999,800); 500 would cost 50,100,000. The ADL queue is
    # empty, so the other 501 lots go to the book after them: average depth (499 + 1,000) / 2 lots ->
    # floor(474,000 x (1 - 1,499 / 2e8)) = floor(473,996.45) = 473,996. Balance 2,500,000,000 - 1,297,499,800 -
    # 1,302,800,400 = -100,300,200; the fund pays its 50,000,000; -50,300,200 stays on the wallet as bad debt
    events, fund, book = liquidate_first([cross(1_000, C, 2_500_000_000), lp()], 474_000, 50_000_000)
    assert events == [
        ("liquidation_fill", 0, -499, 473_998, 499 * (473_998 - 500_000) * V),
        ("lp_fill", 1, 499, 473_998, 0),
        ("liquidation_fill", 0, -501, 473_996, 501 * (473_996 - 500_000) * V),
        ("lp_fill", 1, 501, 473_996, 0),
        ("insurance_payout", 0, 0, 0, 50_000_000),
        ("bad_debt", 0, 0, 0, -50_300_200),
    ]
    assert fund == 0 and book.wallet[0] == -50_300_200


@pytest.mark.parametrize(
    "margin, partial_done",
    [
        # a partial of 300 lots at centre 47,600 fills at 475,999; it is done only if margin + the whole position
        # valued at the fill - the fee >= 0: margin + 1,000 x 475,999 x 100 - C - ceil(0.1% x 300 x 475,999 x
        # 100) = margin - 2,400,100,000 - 14,279,970. With margin 2,414,379,970 that is exactly 0: done
        (2_414_379_970, True),
        # one unit less: -1 -> the whole position goes: fill 475,997, realized -2,400,300,000, the fee is
        # capped at the 14,079,969 left
        (2_414_379_969, False),
    ],
    ids=["solvent-exactly-at-zero-partial", "one-unit-short-whole"],
)
def test_partial_liquidation_only_when_the_account_stays_solvent(margin, partial_done):
    events, fund, book = liquidate_first([isolated(1_000, C, margin), lp()], 476_000, 0, partial=300)
    if partial_done:
        assert events[0] == ("liquidation_fill", 0, -300, 475_999, -720_030_000)
        assert events[-1] == ("liquidation_fee", 0, 0, 0, -14_279_970)
        # margin left 2,414,379,970 - 720,030,000 - 14,279,970 = 1,680,070,000 behind 700 lots
        assert (int(book.size[0]), int(book.collateral[0])) == (700, 1_680_070_000)
    else:
        assert events[0] == ("liquidation_fill", 0, -1_000, 475_997, -2_400_300_000)
        assert events[-1] == ("liquidation_fee", 0, 0, 0, -14_079_969)
        assert (int(book.size[0]), int(book.collateral[0]), int(book.wallet[0])) == (0, 0, 0)


@pytest.mark.parametrize(
    "margin, events, size_left, margin_left",
    [
        # isolated short 1,000 lots @50,000, partial 300 at centre 52,400: buying 300 fills at
        # ceil(524,000 x (1 + 300 / 2e8)) = ceil(524,000.79) = 524,001; solvent if margin - 1,000 x 524,001 x 100
        # + 50,000,000,000 - ceil(0.1% x 300 x 524,001 x 100) = margin - 2,400,100,000 - 15,720,030 >= 0: exactly 0
        # at 2,415,820,030. Realized: cost released -15,000,000,000, -30,003,000,000 paid: -720,030,000
        (2_415_820_030,
         [("liquidation_fill", 0, 300, 524_001, -720_030_000), ("lp_fill", 1, -300, 524_001, 0),
          ("liquidation_fee", 0, 0, 0, -15_720_030)], -700, 1_680_070_000),
        # one unit less: the whole position, ceil(524,000 x (1 + 1,000 / 2e8)) = ceil(524,002.62) = 524,003,
        # realized -2,400,300,000, the fee capped at the 15,520,029 left
        (2_415_820_029,
         [("liquidation_fill", 0, 1_000, 524_003, -2_400_300_000), ("lp_fill", 1, -1_000, 524_003, 0),
          ("liquidation_fee", 0, 0, 0, -15_520_029)], 0, 0),
    ],
    ids=["short-solvent-exactly-at-zero-partial", "short-one-unit-short-whole"],
)  # fmt: skip
def test_partial_liquidation_of_a_short_buys_at_the_ceiled_price(margin, events, size_left, margin_left):
    got, _, book = liquidate_first([isolated(-1_000, -C, margin), lp()], 524_000, 0, partial=300)
    assert got == events
    assert (int(book.size[0]), int(book.collateral[0])) == (size_left, margin_left)


def test_adl_queue_dry_by_one_lot_sends_that_lot_to_the_book():
    # the only counterparty holds 999 lots: the last lot of the 1,000 goes to the book at
    # floor(474,000 x (1 - 1 / 2e8)) = 473,999; balance 2,500,000,000 - 999 x 2,500,000 - 1 x 2,600,100 = -100,100
    rows = [isolated(1_000, C, 2_500_000_000), cross(-999, -999 * 520_000 * V, 500_000_000), lp()]
    events, _, _ = liquidate_first(rows, 474_000, 0)
    assert events[2:] == [
        ("liquidation_fill", 0, -1, 473_999, -2_600_100),
        ("lp_fill", 2, 1, 473_999, 0),
        ("bad_debt", 0, 0, 0, -100_100),
    ]


def test_adl_off_sends_everything_to_the_book_and_leaves_the_rest_as_bad_debt():
    # adl_on = 0 (socialized loss recovers it later): the 1,000 lots fill at 473,997 although a short could
    # take them; deficit 100,300,000, the fund pays its 50,000,000, -50,300,000 is bad debt
    events, fund, book = liquidate_first([isolated(1_000, C, 2_500_000_000), SHORT_A, lp()], 474_000, 50_000_000,
                                         adl_on=0)  # fmt: skip
    assert events == [
        ("liquidation_fill", 0, -1_000, 473_997, -2_600_300_000),
        ("lp_fill", 2, 1_000, 473_997, 0),
        ("insurance_payout", 0, 0, 0, 50_000_000),
        ("bad_debt", 0, 0, 0, -50_300_000),
    ]
    assert fund == 0 and book.size[1] == -2_000


def test_one_lot_short_buys_at_the_ceiled_vwap_and_pays_a_ceiled_fee():
    # short 1 lot @50,000 with margin 2.5 USDT; centre 52,400: buying 1 lot fills at ceil(524,000 x (1 + 1 / 2e8))
    # = ceil(524,000.0026) = 524,001; realized 50,000,000 - 52,400,100 = -2,400,100; the fee
    # ceil(52,400,100 x 0.1%) = ceil(52,400.1) = 52,401; 2,500,000 - 2,400,100 - 52,401 = 47,499 returns to the
    # wallet; the LP sells the lot
    events, fund, book = liquidate_first([isolated(-1, -500_000 * V, 2_500_000), lp()], 524_000, 0)
    assert events == [
        ("liquidation_fill", 0, 1, 524_001, -2_400_100),
        ("lp_fill", 1, -1, 524_001, 0),
        ("liquidation_fee", 0, 0, 0, -52_401),
    ]
    assert fund == 52_401 and book.wallet[0] == 47_499


def test_isolated_deficit_of_one_unit_stays_on_the_closed_position():
    # margin 2,400,299,999 against a realized -2,400,300,000 (fill 475,997, ADL off, empty fund): the balance is
    # -1, below zero by the smallest unit: no fee, a bad_debt row of -1, and the -1 stays as the closed
    # position's margin (isolated margin limits the loss to the position; nothing returns to the wallet)
    events, fund, book = liquidate_first([isolated(1_000, C, 2_400_299_999), lp()], 476_000, 0, adl_on=0)
    assert events == [
        ("liquidation_fill", 0, -1_000, 475_997, -2_400_300_000),
        ("lp_fill", 1, 1_000, 475_997, 0),
        ("bad_debt", 0, 0, 0, -1),
    ]
    assert (int(book.collateral[0]), int(book.wallet[0]), fund) == (-1, 0, 0)


def test_partial_request_for_the_whole_position_is_a_whole_liquidation():
    # a "partial" of all 1,000 lots is the ordinary liquidation: fill 475,997, fee 47,599,700, and what is left
    # of the isolated margin (52,100,300) returns to the wallet
    events, fund, book = liquidate_first([isolated(1_000, C, 2_500_000_000), lp()], 476_000, 0, partial=1_000)
    assert events[-1] == ("liquidation_fee", 0, 0, 0, -47_599_700)
    assert (int(book.collateral[0]), int(book.wallet[0])) == (0, 52_100_300)


def test_partial_liquidation_without_a_fee_writes_no_fee_row():
    # fee rate 0: the partial of 300 lots at 475,999 (margin 2,500) writes the fill and the LP's fill only
    events, fund, book = liquidate_first([isolated(1_000, C, 2_500_000_000), lp()], 476_000, 0, fee_ppm=0, partial=300)
    assert [e[0] for e in events] == ["liquidation_fill", "lp_fill"] and fund == 0 and book.size[0] == 700


def test_adl_counterparty_of_a_single_lot_gives_it():
    # short A holds 1 lot @60,000 with no wallet: ranked first (PnL 21%, leverage 3.8 at 47,400); it gives its
    # lot at BP 475,000 (realizing (60,000 - 47,500) x 0.001 = 12.5), B the other 999
    rows = [isolated(1_000, C, 2_500_000_000), cross(-1, -600_000 * V, 0),
            cross(-2_000, -2_000 * 510_000 * V, 5_000_000_000), lp()]  # fmt: skip
    events, _, book = liquidate_first(rows, 474_000, 0)
    cps = [(e[1], e[2], e[4]) for e in events if e[0] == "adl_counterparty_fill"]
    assert cps == [(1, 1, 12_500_000), (2, 999, 999 * 35_000 * V)]
    assert book.size[1] == 0


def test_adl_counterparty_left_with_one_lot_serves_the_next_bankrupt_position():
    # two bankrupt isolated shorts of 2 lots @50,000 with 5 USDT each: BP (-100,000,000 - 5,000,000) / -200 =
    # 525,000. Long A (3 lots @40,000, no wallet) ranks before long B (10 lots @48,000, wallet 1,000). The first
    # takes 2 of A's lots; A keeps 1 lot, which the second takes before 1 of B's
    rows = [isolated(-2, -2 * 500_000 * V, 5_000_000), isolated(-2, -2 * 500_000 * V, 5_000_000),
            cross(3, 3 * 400_000 * V, 0), cross(10, 10 * 480_000 * V, 1_000_000_000), lp()]  # fmt: skip
    events, _, book = liquidate_first(rows, 526_000, 0, order=(0, 1))
    fills = [(e[1], e[2]) for e in events if e[0] in ("adl_fill", "adl_counterparty_fill")]
    assert fills == [(0, 2), (2, -2), (1, 1), (2, -1), (1, 1), (3, -1)]
    assert book.size.tolist()[:4] == [0, 0, 0, 9]


def test_allocation_share_of_a_single_lot_is_taken():
    # pro-rata-contracts, 101 lots over shorts of 600, 400 and 10 lots: 60.0, 40.0 and 1.0 (exact): the third
    # gives its one lot
    rows = [isolated(101, 101 * 500_000 * V, 101 * 2_500_000), cross(-600, -600 * 520_000 * V, 500_000_000),
            cross(-400, -400 * 520_000 * V, 500_000_000), cross(-10, -10 * 520_000 * V, 500_000_000), lp()]  # fmt: skip
    events, _, _ = liquidate_first(rows, 474_000, 0, policy="pro-rata-contracts")
    assert [(e[1], e[2]) for e in events if e[0] == "adl_counterparty_fill"] == [(1, 60), (2, 40), (3, 1)]


def test_partial_liquidation_fee_of_one_unit_is_charged():
    # long 10 lots @500.0 (5,000 ticks) with 1 USDT of margin; a partial of 1 lot at centre 490.0 fills at
    # floor(4,900 x (1 - 1 / 2e8)) = 4,899; the fee at 1 ppm on 489,900 is ceil(0.4899) = 1 unit
    events, fund, _ = liquidate_first([isolated(10, 10 * 5_000 * V, 1_000_000), lp()], 4_900, 0, fee_ppm=1, partial=1)
    assert events == [
        ("liquidation_fill", 0, -1, 4_899, -10_100),  # 489,900 - 500,000
        ("lp_fill", 1, 1, 4_899, 0),
        ("liquidation_fee", 0, 0, 0, -1),
    ]
    assert fund == 1


# ------------------------------------------------------------------------------------------------------------
# liquidity providers: pro rata with the odd lots by largest remainder, ties to the lower index
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lots, weights, shares",
    [
        # 999 lots, weights 1:1 -> 499.5 each: 499 + 499, one odd lot, equal remainders -> the lower index
        (999, [1, 1], [500, 499]),
        # 1,000 lots, weights 1:1:1 -> 333.33 each: one odd lot, three equal remainders -> the first
        (1_000, [1, 1, 1], [334, 333, 333]),
        # 1,000 lots, weights 1:2 -> 333.33 and 666.67: remainders 1 and 2 (of 3) -> the odd lot to the second
        (1_000, [1, 2], [333, 667]),
        # 1,002 lots, weights 1:3 -> 250.5 and 751.5: equal remainders 2 and 2 (of 4): the lower index, not the
        # larger weight, gets the odd lot
        (1_002, [1, 3], [251, 751]),
    ],
    ids=["two-equal-lps-tie", "three-equal-lps-tie", "largest-remainder-wins", "unequal-weights-tie"],
)
def test_liquidity_providers_share_the_fill_by_largest_remainder(lots, weights, shares):
    # long ``lots`` @50,000 with margin lots x 2.5 USDT, sold at centre 47,600 (a fill above bankruptcy)
    rows = [isolated(lots, lots * 500_000 * V, lots * 2_500_000)] + [lp() for _ in weights]
    events, _, _ = liquidate_first(rows, 476_000, 0, lp_weights=weights)
    assert [(e[1], e[2]) for e in events if e[0] == "lp_fill"] == [(1 + j, s) for j, s in enumerate(shares)]


# ------------------------------------------------------------------------------------------------------------
# reducing a position: the cost released rounds against the account (apply_trade), and a partial liquidation
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, cost, delta, price, realized, size_after, cost_after",
    [
        # long 3 lots, cost 150,000,001: closing 1 releases ceil(150,000,001 / 3) = ceil(50,000,000.33) =
        # 50,000,001; realized 1 x 500,000 x 100 - 50,000,001 = -1 (the exact -0.33 rounded down)
        (3, 150_000_001, -1, 500_000, -1, 2, 100_000_000),
        # long 3 lots, cost 150,000,002: ceil(50,000,000.67) = 50,000,001 -> realized -1, cost 100,000,001 left
        (3, 150_000_002, -1, 500_000, -1, 2, 100_000_001),
        # short 3 lots, cost -150,000,001: closing 1 (k = -1) releases ceil(-150,000,001 x -1 / -3) =
        # ceil(-50,000,000.33) = -50,000,000; realized -1 x 500,000 x 100 + 50,000,000 = 0 (exact +0.33, down)
        (-3, -150_000_001, 1, 500_000, 0, -2, -100_000_001),
        # long 3 lots through zero: closes all (whole cost, no rounding), realized 3 x 500,010 x 100 -
        # 150,000,001 = 2,999, then opens a short of 2 at 500,010: cost -100,002,000
        (3, 150_000_001, -5, 500_010, 2_999, -2, -100_002_000),
        # an exact share: cost 150,000,000, close 2 of 3: 100,000,000 released, realized 0
        (3, 150_000_000, -2, 500_000, 0, 1, 50_000_000),
    ],
    ids=[
        "long-close-1-of-3-remainder-1",
        "long-close-1-of-3-remainder-2",
        "short-close-1-of-3-remainder",
        "long-through-zero",
        "long-exact-share",
    ],  # fmt: skip
)
def test_partial_close_releases_cost_rounded_against_the_account(
    size, cost, delta, price, realized, size_after, cost_after
):
    s = np.array([size], dtype=np.int64)
    c = np.array([cost], dtype=np.int64)
    coll = np.zeros(1, dtype=np.int64)
    wallet = np.zeros(1, dtype=np.int64)
    r = apply_trade(0, delta, price, book_columns(s, c, wallet, coll), V)
    assert (r, int(s[0]), int(c[0]), int(wallet[0])) == (realized, size_after, cost_after, realized)
    # and the trade is a pure exchange at ``price``: balance - cost moved by exactly -delta x price x V
    assert int(wallet[0]) - int(c[0]) == -cost - delta * price * V


def test_partial_liquidation_rounds_released_cost_and_fee_against_the_account():
    # long 1,000 lots with cost C + 1 (average entry just above 50,000.0), isolated margin 2,500; a partial of
    # 300 lots at centre 47,600: VWAP 476,000 x (1 - 300 / 2e8) = 475,999.29 -> 475,999.
    # Cost released ceil((C + 1) x 300 / 1,000) = ceil(15,000,000,000.3) = 15,000,000,001;
    # realized 300 x 475,999 x 100 - 15,000,000,001 = -720,030,001; the fee at 375 ppm:
    # ceil(14,279,970,000 x 375 / 1e6) = ceil(5,354,988.75) = 5,354,989. Margin left
    # 2,500,000,000 - 720,030,001 - 5,354,989 = 1,774,615,010; 700 lots at cost 35,000,000,000 stay open.
    rows = [isolated(1_000, C + 1, 2_500_000_000), lp()]
    events, fund, book = liquidate_first(rows, 476_000, 0, fee_ppm=375, partial=300)
    assert events == [
        ("liquidation_fill", 0, -300, 475_999, -720_030_001),
        ("lp_fill", 1, 300, 475_999, 0),
        ("liquidation_fee", 0, 0, 0, -5_354_989),
    ]
    assert fund == 5_354_989
    assert (int(book.size[0]), int(book.cost[0]), int(book.collateral[0])) == (700, 35_000_000_000, 1_774_615_010)


# ------------------------------------------------------------------------------------------------------------
# funding: payers round up, receivers round down, the remainder goes to the fund
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate_ppb, amounts, remainder",
    [
        # mark 500,001 ticks, 3 lots each: notional 3 x 500,001 x 100 = 150,000,300; at +0.01% (100,000 ppb) the
        # exact payment is 150,000,300 x 100,000 / 1e9 = 15,000.03: the long pays 15,001 (up), the short
        # receives 15,000 (down), the isolated short too; remainder 2 x 15,001 - 2 x 15,000 = 2
        (100_000, [-15_001, 15_000, 15_000, -15_001], 2),
        # -0.01%: the shorts pay 15,001, the longs receive 15,000
        (-100_000, [15_000, -15_001, -15_001, 15_000], 2),
        # 1 ppb: 0.15000030 per position: payers pay 1, receivers get 0 (no event), remainder 2
        (1, [-1, 0, 0, -1], 2),
    ],
    ids=["positive-rate-longs-pay-up", "negative-rate-shorts-pay-up", "tiny-rate-receivers-get-nothing"],
)
def test_funding_payers_round_up_receivers_round_down(rate_ppb, amounts, remainder):
    # positions: 0 long 3 (cross), 1 short 3 (cross), 2 short 3 (isolated), 3 long 3 (cross, another account).
    # Paid 2 x 15,001 = 30,002, received 2 x 15,000 = 30,000: the remainder 2 goes to the insurance fund.
    size = np.array([3, -3, -3, 3], dtype=np.int64)
    collateral = np.array([0, 0, 1_000, 0], dtype=np.int64)
    isolated_ = np.array([False, False, True, False])
    account = np.array([0, 1, 2, 3], dtype=np.int64)
    wallet = np.zeros(4, dtype=np.int64)
    cols = event_columns(8)
    cost = size * 500_000 * V
    rem = pay_funding(rate_ppb, 500_001, V, 0, book_columns(size, cost, wallet, collateral, isolated_, account), cols)
    got = [int(wallet[0]), int(wallet[1]), int(collateral[2]) - 1_000, int(wallet[3])]
    assert got == amounts
    assert rem == remainder == -sum(amounts)  # conserved: what was paid = received + remainder
    assert cols.rows() == sum(1 for a in amounts if a != 0)


@pytest.mark.parametrize(
    "rate_ppb, amounts",
    [
        # a flat position, a 1-lot long and a 1-lot short at mark 500,001: notional 50,000,100; at +0.01% the
        # exact payment is 5,000.01: the long pays 5,001, the short receives 5,000, the flat one nothing
        (100_000, [0, -5_001, 5_000]),
        # -1 ppb: 0.0500001 per position: the short pays 1 (up), the long receives 0 (down)
        (-1, [0, 0, -1]),
    ],
    ids=["one-lot-positions-positive-rate", "one-lot-positions-minus-one-ppb"],
)
def test_funding_of_one_lot_positions_and_a_flat_one(rate_ppb, amounts):
    size = np.array([0, 1, -1], dtype=np.int64)
    wallet = np.zeros(3, dtype=np.int64)
    cols = event_columns()
    rem = pay_funding(rate_ppb, 500_001, V, 0, book_columns(size, size * 500_000 * V, wallet), cols)
    assert wallet.tolist() == amounts and rem == -sum(amounts)


# ------------------------------------------------------------------------------------------------------------
# socialized loss: pro rata to profit, capped, odd units by largest remainder, ties to the lower index
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "need, capacity, shares",
    [
        (10, [1, 1, 1], [1, 1, 1]),  # need >= total capacity: everyone pays their whole profit (capped)
        (2, [1, 1, 1], [1, 1, 0]),  # 0.67 each: 0 + 0 + 0, two odd units to the two lowest indices (ties)
        (7, [10, 30, 60], [1, 2, 4]),  # 0.7 / 2.1 / 4.2: base 0 + 2 + 4 = 6, the odd unit to remainder .7
        (50, [10, 30, 60], [5, 15, 30]),  # exact shares, no rounding
        (1, [3, 3], [1, 0]),  # 0.5 each: tie to the lower index
        (3, [0, 5, 5], [0, 2, 1]),  # 1.5 each of the profitable two: tie to the lower index; 0 capacity pays 0
        (5, [2, 3, 5], [1, 2, 2]),  # 1 (exact), 1.5, 2.5: base 4, the odd unit to the tied .5 of the lower index
        # 1e-10 and 0.9999999999: both within the float error of an integer (the remainders are compared as
        # exact integers); the odd unit goes to the second
        (1, [1, 10**10 - 1], [0, 1]),
        # need = total - 1 over two near-equal winners: each share is c - c / total, just above c - 1; the odd unit
        # goes to the larger remainder, total - c, i.e. the smaller winner. Those remainders (0.49999413 and
        # 0.50000587 of a unit) differ by less than the float error of the shares (about 1e-4 here): found by the
        # property test below; an earlier float screen gave the unit to the first
        (1_997_360_800_371, [998_680_411_914, 998_680_388_458], [998_680_411_913, 998_680_388_458]),
    ],
    ids=[
        "need-above-capacity",
        "two-odd-units-tied",
        "largest-remainder",
        "exact",
        "half-tie",
        "zero-capacity",
        "exact-share-beside-halves",
        "remainders-near-0-and-1",
        "remainders-closer-than-the-float-error",
    ],  # fmt: skip
)
def test_socialized_loss_split_is_exact_and_ties_go_to_the_lower_index(need, capacity, shares):
    got = pro_rata(need, np.array(capacity, dtype=np.int64))
    assert got.tolist() == shares
    assert int(got.sum()) == min(need, sum(capacity))


def test_socialized_loss_split_exact_beyond_float_precision():
    # need 2**52 + 1 among capacities 2**53 and 2**53 (the integer path): halves 2**51 + 0.5 each: base
    # 2**51 + 2**51 = 2**52, one odd unit to the lower index
    need = 2**52 + 1
    got = pro_rata(need, np.array([2**53, 2**53], dtype=np.int64))
    assert got.tolist() == [2**51 + 1, 2**51]


# ------------------------------------------------------------------------------------------------------------
# final settlement: the settlement price, the bankruptcy price off tick, the counterparty's capacity
# ------------------------------------------------------------------------------------------------------------

FUTURE = Instrument("BTCUSDT_251226", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021,
                    kind="dated_future", expiry=datetime(2025, 12, 26, 8, tzinfo=UTC))  # fmt: skip


@pytest.mark.parametrize(
    "index, expected",
    [
        ([1024.0, 1025.0], 1024),  # mean 1,024.5: ties to even
        ([1025.0, 1026.0], 1026),  # mean 1,025.5: ties to even
        ([1024.0, 1024.0, 1025.0], 1024),  # 1,024.33 -> nearest
        ([1024.0, 1025.0, 1025.0], 1025),  # 1,024.67 -> nearest
    ],
    ids=["half-to-even-down", "half-to-even-up", "third-rounds-down", "two-thirds-rounds-up"],
)
def test_settlement_price_rounds_to_the_nearest_tick(index, expected):
    s = 10**9
    time_ns = np.arange(len(index), dtype=np.int64) * s
    # tick 1.0, window covering every step
    assert settlement_price_ticks(time_ns, np.array(index), (len(index) - 1) * s, 1e6, 1.0) == expected


def test_final_settlement_bankruptcy_price_off_tick_and_counterparty_capacity_floored():
    """Settled at S = 48,000.0 (480,000 ticks).

    0: long 1 BTC @50,000 (cost C), wallet 1,999.95 -> equity at S: 1,999,950,000 - 2,000,000,000 = -50,000.
       BP = (50,000,000,000 - 1,999,950,000) / 100,000 = 480,000.5 -> up 480,001 (a close leaves >= 0).
    1: short 1 BTC, cost -48,000,050,050 (average entry 48,000.05005), wallet 0 -> uPnL at S
       -48,000,000,000 + 48,000,050,050 = 50,050 = its equity. Each lot it takes at BP instead of S costs it
       (480,001 - 480,000) x 100 = 100: capacity floor(50,050 / 100) = 500 lots (500.5 rounded down, so its
       equity stays >= 0: 50,050 - 500 x 100 = 50).
    ADL 500 lots at 480,001: 0 releases C x 500 / 1,000 = 25,000,000,000 and realizes
    500 x 480,001 x 100 - 25,000,000,000 = -999,950,000; 1 releases -48,000,050,050 x 500 / 1,000 =
    -24,000,025,025 and realizes -500 x 480,001 x 100 + 24,000,025,025 = -24,975.
    At S: 0's other 500 lots realize 500 x 480,000 x 100 - 25,000,000,000 = -1,000,000,000 (wallet
    1,999,950,000 - 999,950,000 - 1,000,000,000 = 0: no debt); 1's 500 lots -24,000,000,000 + 24,000,025,025 =
    25,025 (wallet -24,975 + 25,025 = 50, its equity above).
    """
    book = Book.from_arrays(wallet=[1_999_950_000, 0, 10**15], exempt=[False, False, True], account=[0, 1, 2],
                            size=[1_000, -1_000, 0], cost=[C, -48_000_050_050, 0])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    policy = hierarchy_policy(HierarchyRule.from_config(["account_equity desc"]))
    rep = final_settlement(book, 0, FUTURE, 480_000, np.array([480_000]), np.array([V]), fund, policy, buf)
    c = buf.cols
    rows = [(int(c["kind"][i]), int(c["account"][i]), int(c["size"][i]), int(c["price"][i]), int(c["amount"][i]))
            for i in range(buf.n)]  # fmt: skip
    assert rows[:2] == [
        (ev.ADL_FILL, 0, -500, 480_001, -999_950_000),
        (ev.ADL_COUNTERPARTY_FILL, 1, 500, 480_001, -24_975),
    ]
    settled = sorted((r[1], r[2], r[4]) for r in rows if r[0] == ev.SETTLEMENT)
    assert settled == [(0, -500, -1_000_000_000), (1, 500, 25_025)]
    assert book.wallet.tolist()[:2] == [0, 50]
    assert rep.deleveraged_lots == 500 and rep.deleveraged_notional == 500 * 480_001 * V
    assert rep.insurance_fund_paid == 0 and rep.bad_debt_unrecovered == 0
    assert book.total_money(fund) == before


# ------------------------------------------------------------------------------------------------------------
# backstop vault: the takeover threshold and the bankruptcy price off tick
# ------------------------------------------------------------------------------------------------------------


def event_columns(n: int = 32) -> EventCols:
    """An empty event buffer's columns with room for ``n`` rows."""
    buf = EventBuffer()
    buf.ensure(n)
    return EventCols.of(buf)


def rows_of(cols: EventCols) -> list[tuple]:
    """The rows written: (kind, account, lots, ticks, money)."""
    return [
        (ev.KIND_NAMES[cols.kind[i]], int(cols.account[i]), int(cols.size[i]), int(cols.price[i]), int(cols.amount[i]))
        for i in range(cols.rows())
    ]


def book_columns(size, cost, wallet, collateral=None, isolated=None, account=None, exempt=None) -> BookCols:
    """The kernels' view of a book made of these arrays (shared: the kernels' writes land in them); one account
    per position unless ``account`` says otherwise."""
    n = size.shape[0]
    book = Book.from_arrays(
        wallet=wallet,
        account=np.arange(n, dtype=np.int64) if account is None else account,
        size=size,
        cost=cost,
        collateral=collateral,
        isolated=isolated,
        exempt=exempt,
        copy=False,
    )
    return BookCols.of(book)


def backstop_valuation(mark: int) -> AccountValuation:
    """take_over's valuation of one instrument at ``mark`` ticks under Binance's 2021 BTCUSDT tiers."""
    t = BINANCE_BTCUSDT_2021
    one = lambda x: np.array([x], dtype=np.int64)  # noqa: E731
    return AccountValuation(
        one(mark), one(V), t.floors[None, :], t.mmr_ppm[None, :], t.cum[None, :], one(t.floors.shape[0])
    )


@pytest.mark.parametrize(
    "sign, mark, bp, mm",
    [
        # long 1 BTC @50,000 with margin 2,499.95 at mark 47,500: equity -0.05, bankrupt: taken at
        # ceil((50,000,000,000 - 2,499,950,000) / 100,000) = ceil(475,000.5) = 475,001; MM 0.4% x 47,500 = 190
        (1, 475_000, 475_001, 190_000_000),
        # the short mirror at mark 52,500: floor((-50,000,000,000 - 2,499,950,000) / -100,000) = 524,999;
        # MM 0.5% x 52,500 - 50 = 212.5 (second tier)
        (-1, 525_000, 524_999, 212_500_000),
    ],
    ids=["bankrupt-long-off-tick-up", "bankrupt-short-off-tick-down"],
)
def test_backstop_takes_over_below_the_threshold_at_the_rounded_bankruptcy_price(sign, mark, bp, mm):
    """Threshold 2/3 of MM (equity x 3 < 2 x MM), in the order 3, 0, 2, each position's margin 2,500 (its loss at
    the mark) plus: 3, ceil(2 MM / 3) (exactly at the threshold: kept); 0, -0.05 (bankrupt, at BP); 2,
    ceil(2 MM / 3) - 1 unit (just below: taken at the mark). The vault is position 1.

    Position 0 realizes 1,000 x (bp - 500,000) x 100 x sign = -2,499,900,000 and keeps 50,000, which goes to the
    vault with the position; 2 realizes -2,500 at the mark and its margin's rest goes to the vault too."""
    s, c = sign * 1_000, sign * C
    at = -((-2 * mm) // 3)  # the least equity that keeps a position: 3 x at >= 2 x MM
    size = np.array([s, 0, s, s], dtype=np.int64)
    cost = np.array([c, 0, c, c], dtype=np.int64)
    collateral = np.array([2_499_950_000, 0, 2_500_000_000 + at - 1, 2_500_000_000 + at], dtype=np.int64)
    iso = np.array([True, False, True, True])
    wallet = np.array([0, 10**12, 0, 0], dtype=np.int64)
    keep = np.zeros(3, dtype=np.int64)
    cols = event_columns()
    book = book_columns(size, cost, wallet, collateral, iso)
    taken = take_over(np.array([3, 0, 2]), 0, np.zeros(4, dtype=np.int64), 2, 3, 1, mark, book,
                      backstop_valuation(mark), V, keep, cols)  # fmt: skip
    assert taken == 2 and keep.tolist() == [1, 0, 0]
    assert rows_of(cols) == [
        ("backstop_takeover", 0, -s, bp, -2_499_900_000),
        ("backstop_vault_fill", 1, s, bp, 0),
        ("backstop_margin", 0, 0, 0, -50_000),
        ("backstop_margin", 1, 0, 0, 50_000),
        ("backstop_takeover", 2, -s, mark, -2_500_000_000),
        ("backstop_vault_fill", 1, s, mark, 0),
        ("backstop_margin", 2, 0, 0, -(at - 1)),
        ("backstop_margin", 1, 0, 0, at - 1),
    ]
    assert wallet.tolist() == [0, 10**12 + 50_000 + at - 1, 0, 0] and size.tolist() == [0, 2 * s, 0, s]


def test_backstop_one_lot_cross_positions_one_unit_from_zero():
    """Mark 47,500.0. Position 0: cross long 1 lot @50,000 (cost 50,000,000), wallet 2,499,999: equity
    2,499,999 - 2,500,000 = -1, bankrupt: taken at ceil((50,000,000 - 2,499,999) / 100) = ceil(475,000.01) =
    475,001; realized 47,500,100 - 50,000,000 = -2,499,900; its wallet keeps 99, which goes to the vault.
    Position 2: cross short 1 lot @50,000, wallet -2,499,999: equity +1 (not bankrupt), below the threshold
    (MM ceil(0.4% x 47,500,000) = 190,000 units): taken at the mark, realizes +2,500,000; its wallet is then
    exactly 1, which goes to the vault."""
    size = np.array([1, 0, -1], dtype=np.int64)
    cost = np.array([50_000_000, 0, -50_000_000], dtype=np.int64)
    wallet = np.array([2_499_999, 10**12, -2_499_999], dtype=np.int64)
    keep = np.zeros(2, dtype=np.int64)
    cols = event_columns()
    book = book_columns(size, cost, wallet)
    taken = take_over(np.array([0, 2]), 0, np.zeros(3, dtype=np.int64), 2, 3, 1, 475_000, book,
                      backstop_valuation(475_000), V, keep, cols)  # fmt: skip
    assert taken == 2 and keep.tolist() == [0, 0]
    assert rows_of(cols) == [
        ("backstop_takeover", 0, -1, 475_001, -2_499_900),
        ("backstop_vault_fill", 1, 1, 475_001, 0),
        ("backstop_margin", 0, 0, 0, -99),
        ("backstop_margin", 1, 0, 0, 99),
        ("backstop_takeover", 2, 1, 475_000, 2_500_000),
        ("backstop_vault_fill", 1, -1, 475_000, -100),  # the vault sells back the lot it took at 475,001
        ("backstop_margin", 2, 0, 0, -1),
        ("backstop_margin", 1, 0, 0, 1),
    ]
    assert wallet.tolist() == [0, 10**12 + 99 - 100 + 1, 0] and size.tolist() == [0, 0, 0]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 10**12), min_size=1, max_size=8),
    st.integers(1, 10**6),
    st.integers(0, 10**6),
    st.booleans(),
)
def test_socialized_split_equals_the_exact_largest_remainder_split(capacity, num, den, aligned):
    """``pro_rata`` (float floors corrected by exact integer remainders) equals the split done in Python
    integers: floor shares, then the odd units to the largest remainders, ties to the lower index. ``aligned``
    draws the need as a fraction of the total (shares land on or next to integers, where a float floor is off)."""
    total = sum(capacity)
    need = (total * num // (num + den) if aligned else num) + (den % 3 - 1 if aligned else 0)
    base = [c * need // total if total else 0 for c in capacity]
    if need <= 0 or total <= 0:
        expected = [0] * len(capacity)
    elif need >= total:
        expected = list(capacity)
    else:
        rem = [c * need - b * total for c, b in zip(capacity, base)]
        for i in sorted(range(len(capacity)), key=lambda i: (-rem[i], i))[: need - sum(base)]:
            base[i] += 1
        expected = base
    assert pro_rata(need, np.array(capacity, dtype=np.int64)).tolist() == expected


# ------------------------------------------------------------------------------------------------------------
# proactive deleveraging: who is cut, to how many lots (floored), and never below bankruptcy
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "max_accounts, chosen, lots",
    [
        # leverage = notional / equity: 0: 1,000 / 100 = 10; 1: 1,000 / 105 = 9.52; 2: 3 (below the trigger 5);
        # 3: 8; 4: equity 50 < MM 60 (liquidatable: not cut). Target 3x at mark 10, V 1: keep
        # floor(3 x equity / 10) lots: 0 keeps 30 (cut 70), 1 keeps floor(31.5) = 31 (cut 69), 3 keeps
        # floor(37.5) = 37 (cut 63)
        (2, [0, 1], [70, 69]),
        (5, [0, 1, 3], [70, 69, 63]),
    ],
    ids=["two-most-levered", "all-above-the-trigger"],
)
def test_proactive_selection_most_levered_first_and_target_lots_floored(max_accounts, chosen, lots):
    idx, cut = select(np.array([100, 105, 100, 125, 50]), np.array([1_000, 1_000, 300, 1_000, 1_000]),
                      np.array([10, 10, 10, 10, 60]), np.array([100, -100, 30, 100, 100]), np.ones(5, dtype=bool),
                      10, 1, 5.0, 3.0, max_accounts)  # fmt: skip
    assert idx.tolist() == chosen and cut.tolist() == lots


@pytest.mark.parametrize(
    "wallet, cut, price",
    [
        # cross long 1 BTC @50,000; cutting 600 lots at centre 47,600 fills at floor(476,000 x (1 - 600 / 2e8)) =
        # 475,998: equity there 2,400,200,000 + 1,000 x 475,998 x 100 - 50,000,000,000 = 0: allowed (>= 0)
        (2_400_200_000, 600, 475_998),
        # one unit less: -1 at 475,998, so the order halves to 300 lots: floor(475,999.29) = 475,999, equity 99,999
        (2_400_199_999, 300, 475_999),
        # far below: every halving (600, 300, ..., 1 lot) fills at 475,998 or 475,999, below bankruptcy: no cut
        (2_380_000_000, 0, None),
    ],
    ids=["solvent-exactly-at-the-fill", "one-unit-short-halves", "no-solvent-size-skips"],
)
def test_proactive_cut_never_fills_below_bankruptcy(wallet, cut, price):
    size = np.array([1_000, 0], dtype=np.int64)
    cost = np.array([C, 0], dtype=np.int64)
    w = np.array([wallet, 10**15], dtype=np.int64)
    cols = event_columns()
    depth = LiquidityCols.make(476_000.0, np.zeros(1), DepthCurve.linear(DEEP).arrays(), np.array([1]), np.array([1]))
    moved = reduce_positions(np.array([0]), np.array([600]), book_columns(size, cost, w), V, depth, cols)
    assert int(size[0]) == 1_000 - cut
    if cut:
        assert moved == cut * price * V
        assert rows_of(cols) == [
            ("deleverage_fill", 0, -cut, price, cut * (price - 500_000) * V),
            ("lp_fill", 1, cut, price, 0),
        ]
        assert int(w[0]) + int(size[0]) * price * V - int(cost[0]) >= 0
    else:
        assert moved == 0 and cols.rows() == 0


@pytest.mark.parametrize(
    "need, capacity, shares",
    [
        # total 92: 46 x 52 / 92 = 26 exactly, but float64 gives 52 / 92 x 46 = 25.999999999999996: base
        # floor(25.49..) = 25, whose exact remainder 46 x 52 - 25 x 92 = 92 = total moves it up to 26. Floors
        # 7 (14 x 52 = 728 = 7 x 92 + 84), 26, 18 (32 x 52 = 1,664 = 18 x 92 + 8): one odd unit, to index 0 (84)
        (52, [14, 46, 32], [8, 26, 18]),
        # total T = 3,980,390,314,660,505,971; c0 = 1,310,748,057,846,749,670 chosen so that c0 x need = T - 1
        # (mod T): the exact share is 314,796,714,751,920 + (T - 1) / T, and float64 rounds it up to
        # 314,796,714,751,921.0, one above the floor; floor(share - 0.5) = ...920 is the floor (remainder T - 1).
        # Index 1's remainder is 1: the one odd unit goes to index 0
        (955_953_195_569_787, [1_310_748_057_846_749_670, 2_669_642_256_813_756_301],
         [314_796_714_751_921, 641_156_480_817_866]),
        # need 2**60 + 12,345 (above 2**50: the integer path; float64 would miss the floors by 62, 46 and 11):
        # floors 427,007,962,121,392,958 / 341,606,373,117,448,174 / 384,307,169,368,018,187 with remainders
        # 2,575,375,000,404,860,551 / 2,361,945,826,546,101,587 / 1,729,345,819,493,482,304: the two odd units to
        # indices 0 and 1
        (2**60 + 12_345, [1_234_567_890_123_456_789, 987_654_321_987_654_321, 1_111_111_111_111_111_111],
         [427_007_962_121_392_959, 341_606_373_117_448_175, 384_307_169_368_018_187]),
        # total T = 8,114,777,782,136,306,982, between 2**62 and 2**63 (the integer path: a base one short would
        # have a remainder up to 2 T, past int64): shares 5.32, 6.59, 6.09: floors 5, 6, 6 with remainders
        # 2,597,550,603,959,818,728 / 4,760,759,987,683,642,638 / 756,467,190,492,845,616: the odd unit to index 1
        (18, [2_398_413_306_368_964_091, 2_969_412_593_361_193_585, 2_746_951_882_406_149_306], [5, 7, 6]),
    ],
    ids=["float-floor-one-below-an-exact-integer", "float-floor-one-above-the-exact-floor", "need-above-2**50",
         "total-between-2**62-and-2**63"],
)  # fmt: skip
def test_socialized_split_corrects_the_float_floor_exactly(need, capacity, shares):
    got = pro_rata(need, np.array(capacity, dtype=np.int64))
    assert got.tolist() == shares
    assert sum(shares) == need


@pytest.mark.parametrize(
    "total, weights, caps, shares",
    [
        # a negative cap counts as 0 (the reference clamps it): 5 units, weights 1 : 1, caps -3 and 10: shares
        # 2.5 each, entry 0 can take nothing, so entry 1 takes all 5 (<= its cap 10)
        (5, [1, 1], [-3, 10], [0, 5]),
        # every cap negative: room for nothing, nothing handed out
        (5, [1, 1], [-1, -2], [0, 0]),
    ],
    ids=["one-negative-cap-is-zero", "every-cap-negative"],
)
def test_capped_split_takes_a_negative_cap_as_zero(total, weights, caps, shares):
    from delever.allocation import largest_remainder, split_capped_into

    out = np.zeros(len(weights), dtype=np.int64)
    split_capped_into(total, np.array(weights, dtype=np.int64), np.array(caps, dtype=np.int64), out)
    assert out.tolist() == shares == largest_remainder(total, weights, caps)


@pytest.mark.parametrize(
    "total, weights, shares",
    [
        # a total of exactly 2**62 (the compiled twins' limit, INT64_SAFE): the exact reference splits it,
        # 2**61 each
        (2**62, [1, 1], [2**61, 2**61]),
        # one more: 2**61 + 0.5 each, the odd unit to the lower index
        (2**62 + 1, [1, 1], [2**61 + 1, 2**61]),
        # weights summing to exactly 2**62 (each 2**61): the reference, 1.5 each, the odd unit to the lower index
        (3, [2**61, 2**61], [2, 1]),
        # no entries: nothing to split
        (5, [], []),
    ],
    ids=["total-exactly-2**62", "total-2**62-plus-one", "weights-summing-to-exactly-2**62", "no-entries"],
)
def test_split_at_the_int64_limits_takes_the_exact_path(total, weights, shares):
    from delever.allocation import split

    assert split(total, np.array(weights, dtype=np.int64)).tolist() == shares


@pytest.mark.parametrize(
    "weights",
    [[1.0, -1.0], [1.0, float("nan")], [float("inf"), 1.0]],
    ids=["negative-float-weight", "nan-weight", "infinite-weight"],
)
def test_split_rejects_a_float_weight_that_is_negative_or_not_finite(weights):
    from delever.allocation import split

    with pytest.raises(ValueError, match="finite and >= 0"):
        split(5, np.array(weights))


@pytest.mark.parametrize("weights", [[-1, 3], [2, -2]], ids=["weight-of-minus-one", "weight-of-minus-two"])
def test_compiled_splits_reject_a_negative_weight(weights):
    # the twins are called directly by the kernels (liquidity providers' weights): a negative weight is an error
    from delever.allocation import split_capped_into, split_into

    w = np.array(weights, dtype=np.int64)
    out = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match=">= 0"):
        split_into(5, w, out)
    with pytest.raises(ValueError, match=">= 0"):
        split_capped_into(5, w, np.array([5, 5], dtype=np.int64), out)


@pytest.mark.parametrize(
    "need, targets, caps, haircuts",
    [
        # 5 units, all the target on entry 0, whose cap is 2: it takes 2; the 3 left go to the room left
        # (0 and 10) in proportion to it: entry 1 takes 3
        (5, [1.0, 0.0], [2, 10], [2, 3]),
        # one unit left over: it goes to entry 1, the only room
        (3, [1.0, 0.0], [2, 10], [2, 1]),
        # the caps hold 4 of the 5: every cap is paid, nothing more
        (5, [1.0, 0.0], [2, 2], [2, 2]),
    ],
    ids=["three-left-to-the-room", "one-left-to-the-room", "caps-hold-less-than-the-need"],
)
def test_round_targets_puts_what_the_targets_caps_cannot_hold_on_the_room_left(need, targets, caps, haircuts):
    from delever.adl.policies.splits import round_targets

    assert round_targets(need, np.array(targets), np.array(caps)).tolist() == haircuts


def _largest_remainder_in_python_ints(need: int, capacity: list[int]) -> list[int]:
    """The clawback rule in Python integers (the oracle): floor(need x c / total) each, then one unit to each of
    the ``need - sum(floors)`` largest remainders ``need x c - floor x total``, ties to the lower index."""
    total = sum(capacity)
    base = [c * need // total for c in capacity]
    rem = [c * need - b * total for c, b in zip(capacity, base)]
    for i in sorted(range(len(capacity)), key=lambda i: (-rem[i], i))[: need - sum(base)]:
        base[i] += 1
    return base


@pytest.mark.parametrize("seed", [0, 1, 52, 492])
def test_socialized_split_among_hundreds_of_winners_equals_the_exact_rule(seed):
    # 10 to 300 winners, many odd units: the odd units go by a partition of the remainders (not a sort), whose
    # boundary element must be the exact one (seeds 52 and 492 were found to catch a partition at the wrong rank)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 300))
    capacity = rng.integers(0, 10**6, size=n).tolist()
    need = int(rng.integers(1, sum(capacity)))
    got = pro_rata(need, np.array(capacity, dtype=np.int64)).tolist()
    assert got == _largest_remainder_in_python_ints(need, capacity)


@pytest.mark.parametrize(
    "need, capacity, shares",
    [
        (5, [], []),  # no winner: nothing to split (and no error)
        # two capacities of 2**62: their sum 2**63 is past int64 (an int64 sum would wrap to -2**63): 5 each
        (10, [2**62, 2**62], [5, 5]),
    ],
    ids=["no-winner", "capacities-summing-to-2**63"],
)
def test_socialized_split_edges(need, capacity, shares):
    assert pro_rata(need, np.array(capacity, dtype=np.int64)).tolist() == shares


# ------------------------------------------------------------------------------------------------------------
# ADL counterparties: their figures (notional, MM rounded up, entry, leverage) and the queue's chunks
# ------------------------------------------------------------------------------------------------------------

TIERS = (BINANCE_BTCUSDT_2021.floors, BINANCE_BTCUSDT_2021.mmr_ppm, BINANCE_BTCUSDT_2021.cum)


def test_adl_counterparty_figures_by_hand():
    """Mark 50,000.1 (500,001 ticks), V = 100. Longs, cross, entry 40,000.0 (400,000 ticks):

    0: 1,501 lots, wallet 1,000 USDT: notional 1,501 x 500,001 x 100 = 75,050,150,100 (tier 2: MMR 0.5%, cum 50
       USDT): MM = ceil(75,050,150,100 x 0.005) - 50,000,000 = ceil(375,250,750.5) - 50,000,000 = 325,250,751;
       uPnL 75,050,150,100 - 60,040,000,000 = 15,010,150,100; equity 16,010,150,100; entry 60,040,000,000 /
       (1,501 x 100) = 400,000 ticks; leverage 75,050,150,100 / 16,010,150,100 = 4.6876...
    1: 1 lot, wallet 0: notional 50,000,100 (tier 1: MMR 0.4%): MM = ceil(200,000.4) = 200,001; uPnL 10,000,100
       = equity; leverage 50,000,100 / 10,000,100 = 4.99999...
    2: the short being liquidated (excluded, and on the other side).
    3: 1 lot, wallet -10,000,100: uPnL 10,000,100, equity exactly 0: not a counterparty.
    4: 1 lot of an exempt account (a liquidity provider): not a counterparty.
    5: 1 lot, excluded (liquidated this step): not a counterparty.
    6: 7,000 BTC (7,000,000 lots), wallet 0: notional 350,000,700,000,000, in the last tier (from 300M USDT: MMR
       50%, cum 100,016,300 USDT): MM = 175,000,350,000,000 - 100,016,300,000,000 = 74,984,050,000,000; uPnL
       7,000,000 x 100,001 x 100 = 70,000,700,000,000 = equity.
    """
    from delever.adl.policies import get_policy
    from delever.adl.queue import eligible, winners_of

    size = [1_501, 1, -1_502, 1, 1, 1, 7_000_000]
    book = Book.from_arrays(wallet=[money(1_000), 0, 0, -10_000_100, 0, 0, 0],
                            exempt=[False, False, False, False, True, False, False], account=list(range(7)),
                            size=size, cost=[s * (400_000 if s > 0 else 500_000) * V for s in size])  # fmt: skip
    mark = 500_001
    upnl = book.size * mark * V - book.cost
    acc_eq = book.wallet + upnl
    excluded = np.array([False, False, True, False, False, True, False])
    idx, w_upnl, eq, wallet, mm = eligible(book, 1, 0, mark, V, excluded, TIERS, np.zeros(7, np.int64), acc_eq)
    assert idx.tolist() == [0, 1, 6]
    assert mm.tolist() == [325_250_751, 200_001, 74_984_050_000_000]
    assert w_upnl.tolist() == [15_010_150_100, 10_000_100, 70_000_700_000_000]
    assert eq.tolist() == [16_010_150_100, 10_000_100, 70_000_700_000_000]
    assert wallet.tolist() == [money(1_000), 0, 0]
    w = winners_of(book, 1, idx, w_upnl, eq, wallet, mm, mark, V, get_policy("queue-bitmex"), None)
    assert w.notional.tolist() == [75_050_150_100, 50_000_100, 350_000_700_000_000]
    assert w.entry_price.tolist() == [400_000.0] * 3
    assert w.leverage.tolist() == [75_050_150_100 / 16_010_150_100, 50_000_100 / 10_000_100,
                                   350_000_700_000_000 / 70_000_700_000_000]  # fmt: skip


def test_adl_allocation_queue_splits_by_contracts_and_keeps_one_lot_winners():
    """``pro-rata-contracts``: 3 lots asked of longs of 1 and 3 lots: quotas 0.75 and 2.25, floors 0 and 2, the
    odd lot to the larger remainder (0.75): 1 and 2. The queue then holds both, 3 lots available, its pointer at
    the start, complete."""
    book = Book.from_arrays(wallet=[0, 0, 0], account=[0, 1, 2], size=[1, 3, -4],
                            cost=[400_000 * V, 3 * 400_000 * V, -4 * 500_000 * V])  # fmt: skip
    queue = AdlQueue(book, 0, 500_000, V, None, np.array([False, False, True]), "pro-rata-contracts", TIERS)
    queue.request[0] = 3
    queue.prepare(0, 7)
    n = int(queue.length[0])
    assert queue.queue[0, :n].tolist() == [0, 1] and queue.take[0, :n].tolist() == [1, 2]
    assert int(queue.available[0]) == 3 and int(queue.pointer[0]) == 0
    assert int(queue.complete[0]) == 1 and int(queue.prepared_for[0]) == 7
    # 1 lot asked: quotas 0.25 and 0.75: 0 and 1; a winner given no lot is not queued
    queue = AdlQueue(book, 0, 500_000, V, None, np.array([False, False, True]), "pro-rata-contracts", TIERS)
    queue.request[0] = 1
    queue.prepare(0, 8)
    assert queue.queue[0, : int(queue.length[0])].tolist() == [1] and int(queue.available[0]) == 1


def _many_equal_winners(n: int) -> Book:
    # n equal longs (1 lot @40,000.0, wallet 0) and the short being liquidated (position n)
    return Book.from_arrays(wallet=[0] * (n + 1), account=list(range(n + 1)), size=[1] * n + [-n],
                            cost=[400_000 * V] * n + [-n * 500_000 * V])  # fmt: skip


def test_adl_queue_chunks_keep_ties_in_index_order_and_their_lights():
    """600 equal winners (the same score): the first chunk is the queue's first 256 (FIRST_CHUNK) by index; the
    second would be 1,024 (four times more), at least half of the 344 left, so all 344 are queued; lights by
    cumulative lots out of 600: position i (i + 1 lots so far) gets 6 - ceil(5 (i + 1) / 600), clipped to 1..5:
    5 for the first 120, ..., 1 for the last 120."""
    book = _many_equal_winners(600)
    excluded = np.zeros(601, dtype=bool)
    excluded[600] = True
    queue = AdlQueue(book, 0, 500_000, V, None, excluded, "queue-bitmex", TIERS)
    queue.extend(0)
    assert int(queue.length[0]) == 256 and queue.queue[0, :256].tolist() == list(range(256))
    assert int(queue.complete[0]) == 0
    queue.extend(0)
    assert int(queue.length[0]) == 600 and queue.queue[0, :600].tolist() == list(range(600))
    lights = [int(np.clip(6 - (-((-5 * (i + 1)) // 600)), 1, 5)) for i in range(600)]
    assert queue.indicator[0, :600].tolist() == lights and lights[0] == 5 and lights[-1] == 1
    assert int(queue.complete[0]) == 1


def test_adl_queue_of_a_side_without_winners_is_complete_at_once():
    book = _many_equal_winners(1)
    excluded = np.array([False, True])
    queue = AdlQueue(book, 0, 500_000, V, None, excluded, "queue-bitmex", TIERS)
    queue.extend(1)  # the shorts: only the excluded one
    assert int(queue.length[1]) == 0 and int(queue.complete[1]) == 1
    # the longs: one winner of 1 lot, the side's only lot: cumulative 1 of 1, light 6 - ceil(5 x 1 / 1) = 1
    queue.extend(0)
    assert queue.queue[0, :1].tolist() == [0] and queue.indicator[0, :1].tolist() == [1]


def test_adl_short_counterparty_figures_by_hand():
    """Mark 50,000.1 (500,001 ticks), V = 100. Shorts, cross, wallet 0:

    0: 2,500 lots @60,000.0 (cost -150,000,000,000): notional 2,500 x 500,001 x 100 = 125,000,250,000 (tier 2:
       MMR 0.5%, cum 50 USDT): MM = 625,001,250 (exact: the remainder 250,000 of a million x 0.5% is 1,250
       whole units) - 50,000,000 = 575,001,250; uPnL 150,000,000,000 - 125,000,250,000 = 24,999,750,000.
    1: 3 lots at cost -150,000,301 (entry 150,000,301 / 300 = 500,001.0033 ticks): uPnL 1 unit (the least
       profit that makes a counterparty), equity 1; notional 150,000,300 (tier 1: 0.4%): MM = ceil(600,001.2) =
       600,002.
    2: the long being liquidated (excluded).
    """
    from delever.adl.policies import get_policy
    from delever.adl.queue import eligible, winners_of

    book = Book.from_arrays(wallet=[0, 0, 0], account=[0, 1, 2], size=[-2_500, -3, 2_503],
                            cost=[-2_500 * 600_000 * V, -150_000_301, 2_503 * 500_000 * V])  # fmt: skip
    mark = 500_001
    acc_eq = book.wallet + book.size * mark * V - book.cost
    excluded = np.array([False, False, True])
    idx, upnl, eq, wallet, mm = eligible(book, -1, 0, mark, V, excluded, TIERS, np.zeros(3, np.int64), acc_eq)
    assert idx.tolist() == [0, 1]
    assert mm.tolist() == [575_001_250, 600_002]
    assert upnl.tolist() == [24_999_750_000, 1] and eq.tolist() == [24_999_750_000, 1]
    w = winners_of(book, -1, idx, upnl, eq, wallet, mm, mark, V, get_policy("queue-bitmex"), None)
    assert w.notional.tolist() == [125_000_250_000, 150_000_300]
    assert w.entry_price.tolist() == [600_000.0, 150_000_301 / 300]


# ------------------------------------------------------------------------------------------------------------
# ADL counterparties and queue: the cases the mutation run of adl/queue.py found unpinned
# ------------------------------------------------------------------------------------------------------------


def test_adl_counterparty_at_exactly_zero_profit_is_passed_and_the_scan_goes_on():
    """Mark 50,000.0 (500,000 ticks), longs, cross. 0: 1 lot bought at the mark (uPnL exactly 0, wallet 1,000 USDT,
    so equity > 0): not a counterparty (no profit to take). 1: 1 lot @40,000.0: uPnL 10,000,000, the only one.
    2: the short being liquidated (excluded)."""
    from delever.adl.queue import eligible

    book = Book.from_arrays(wallet=[money(1_000), 0, 0], account=[0, 1, 2], size=[1, 1, -2],
                            cost=[500_000 * V, 400_000 * V, -2 * 500_000 * V])  # fmt: skip
    acc_eq = book.wallet + book.size * 500_000 * V - book.cost
    excluded = np.array([False, False, True])
    idx, upnl, eq, _, _ = eligible(book, 1, 0, 500_000, V, excluded, TIERS, np.zeros(3, np.int64), acc_eq)
    assert idx.tolist() == [1] and upnl.tolist() == [10_000_000] and eq.tolist() == [10_000_000]


def test_adl_counterparty_figures_with_one_micro_unit_per_lot_tick():
    """V = 1 (a lot at one tick is worth one money unit), mark 500,001 ticks, longs, cross, wallet 0:

    0: 199,999,607 lots @40,000.0: notional 199,999,607 x 500,001 = 100,000,003,499,607, in the 15% tier (from
       100M USDT, cum 5,016,300 USDT): MM = 100,000,003 x 150,000 + ceil(499,607 x 0.15 = 74,941.05) - cum =
       15,000,000,450,000 + 74,942 - 5,016,300,000,000 = 9,983,700,524,942 (the remainder's ceiling must be
       taken per million: per 1,000,001 it would be 74,941).
    1: 1 lot at cost 500,000: uPnL 1 = equity; notional 500,001 (tier 1, 0.4%): MM ceil(2,000.004) = 2,001;
       entry 500,000 / (1 lot x V 1) = 500,000 ticks; leverage 500,001 / 1 (equity exactly one unit).
    2: the short being liquidated (excluded)."""
    from delever.adl.policies import get_policy
    from delever.adl.queue import eligible, winners_of

    big = 199_999_607
    book = Book.from_arrays(wallet=[0, 0, 0], account=[0, 1, 2], size=[big, 1, -big - 1],
                            cost=[big * 400_000, 500_000, -(big + 1) * 500_000])  # fmt: skip
    mark = 500_001
    acc_eq = book.wallet + book.size * mark - book.cost
    excluded = np.array([False, False, True])
    idx, upnl, eq, wallet, mm = eligible(book, 1, 0, mark, 1, excluded, TIERS, np.zeros(3, np.int64), acc_eq)
    assert idx.tolist() == [0, 1]
    assert mm.tolist() == [9_983_700_524_942, 2_001]
    assert upnl.tolist() == [big * 100_001, 1] and eq.tolist() == [big * 100_001, 1]
    w = winners_of(book, 1, idx, upnl, eq, wallet, mm, mark, 1, get_policy("queue-bitmex"), None)
    assert w.notional.tolist() == [100_000_003_499_607, 500_001]
    assert w.entry_price.tolist() == [400_000.0, 500_000.0]
    assert w.leverage.tolist() == [100_000_003_499_607 / (big * 100_001), 500_001.0]


def test_adl_counterparty_equity_is_its_accounts_when_the_account_holds_other_positions():
    """``eligible`` reads the sweep's equities by default (a multi-position account: final settlement). Account
    0, cross, wallet 1,000 USDT: 1 lot long of instrument 0 @40,000.0 (uPnL at 50,000.0: +10 USDT) and 1 lot
    long of instrument 1 whose loss is 600 USDT: account equity 1,000 + 10 - 600 = 410 USDT, not the
    1,010 of its wallet and this position alone (the one-position shortcut ``inline_equity``)."""
    from delever.adl.queue import eligible

    book = Book.from_arrays(wallet=[money(1_000), 0], account=[0, 0, 1], size=[1, 1, -1], instrument=[0, 1, 0],
                            cost=[400_000 * V, 6_500_000 * V, -500_000 * V])  # fmt: skip
    acc_eq = np.array([money(1_000) + money(10) - money(600), 0], dtype=np.int64)
    excluded = np.array([False, False, True])
    args = (book, 1, 0, 500_000, V, excluded, TIERS, np.zeros(3, np.int64), acc_eq)
    idx, upnl, eq, wallet, _ = eligible(*args)
    assert idx.tolist() == [0] and upnl.tolist() == [money(10)] and eq.tolist() == [money(410)]
    assert wallet.tolist() == [money(1_000)]
    assert eligible(*args, inline_equity=True)[2].tolist() == [money(1_010)]


def test_risk_aware_and_water_filling_weigh_lots_by_leverage():
    """One long, cross: 1 lot @40,000.0 at mark 50,000.0, wallet 15 USDT: notional 50 USDT, uPnL 10, equity 25,
    leverage 50 / 25 = 2. risk-aware weighs it by uPnL x leverage = 20 USDT, water-filling by notional x
    leverage = 100 USDT; the pro-rata measures by their own column."""
    from delever.adl.policies import get_policy
    from delever.adl.queue import capacity_measure, eligible, winners_of

    book = Book.from_arrays(wallet=[money(15), 0], account=[0, 1], size=[1, -1], cost=[400_000 * V, -500_000 * V])
    acc_eq = book.wallet + book.size * 500_000 * V - book.cost
    idx, upnl, eq, wal, mm = eligible(book, 1, 0, 500_000, V, np.array([False, True]), TIERS, acc_eq, acc_eq)
    w = winners_of(book, 1, idx, upnl, eq, wal, mm, 500_000, V, get_policy("risk-aware"), None)
    assert w.leverage.tolist() == [2.0]
    assert capacity_measure("risk-aware", w).tolist() == [money(20)]
    assert capacity_measure("water-filling", w).tolist() == [money(100)]
    assert capacity_measure("pro-rata-equity", w).tolist() == [money(25)]
    assert capacity_measure("pro-rata-notional", w).tolist() == [money(50)]


@pytest.mark.parametrize("elementwise", [True, False], ids=["scored-a-block-at-a-time", "scored-as-a-whole-side"])
def test_adl_queue_ranks_a_nan_score_last(elementwise):
    """A policy whose score is NaN for a winner (0 / 0) ranks it after every real score, whichever way the side
    is scored. Longs of 1, 2 and 3 lots (score: the lots, NaN for the 2-lot one): queue 3-lot, 1-lot, 2-lot."""
    import dataclasses

    from delever.adl.policies import get_policy

    book = Book.from_arrays(wallet=[0] * 4, account=[0, 1, 2, 3], size=[1, 2, 3, -6],
                            cost=[400_000 * V, 2 * 400_000 * V, 3 * 400_000 * V, -6 * 500_000 * V])  # fmt: skip

    def score(w):
        return np.where(w.contracts == 2, np.nan, w.contracts.astype(float))

    policy = dataclasses.replace(get_policy("queue-bitmex"), name="nan-for-two", elementwise=elementwise, score=score)
    queue = AdlQueue(book, 0, 500_000, V, None, np.array([False, False, False, True]), policy, TIERS)
    queue.extend(0)
    assert queue.queue[0, : int(queue.length[0])].tolist() == [2, 0, 1]


def test_adl_queue_lights_of_the_shorts_count_from_zero():
    """Three equal short winners of 1 lot (1 lot @60,000.0 at mark 50,000.0, wallet 0; the shorts' side holds 3
    lots): lights 6 - ceil(5 x cum / 3) for cum 1, 2, 3: 6 - 2 = 4, 6 - 4 = 2, 6 - 5 = 1."""
    book = Book.from_arrays(wallet=[0] * 4, account=[0, 1, 2, 3], size=[-1, -1, -1, 3],
                            cost=[-600_000 * V] * 3 + [3 * 500_000 * V])  # fmt: skip
    queue = AdlQueue(book, 0, 500_000, V, None, np.array([False, False, False, True]), "queue-bitmex", TIERS)
    queue.extend(1)
    assert queue.queue[1, :3].tolist() == [0, 1, 2]
    assert queue.indicator[1, :3].tolist() == [4, 2, 1]
    assert int(queue.complete[1]) == 1 and int(queue.available[1]) == 3


def test_adl_queue_chunks_of_distinct_scores_are_the_best_first():
    """600 longs of 1 lot, wallet 0, entries 40,000.0 - 0.1 i (i = 0..599) at mark 50,000.0: BitMEX score =
    PnL% x leverage = (uPnL / cost) x (notional / uPnL) = notional / cost = 500,000 / (400,000 - i), higher for
    a higher i, all distinct: the first chunk (256, under half of the 600) is positions 599 down to 344; the next
    chunk (1,024) would be at least half of the 344 left, so they are all queued, 343 down to 0."""
    n = 600
    book = Book.from_arrays(wallet=[0] * (n + 1), account=list(range(n + 1)), size=[1] * n + [-n],
                            cost=[(400_000 - i) * V for i in range(n)] + [-n * 500_000 * V])  # fmt: skip
    excluded = np.zeros(n + 1, dtype=bool)
    excluded[n] = True
    queue = AdlQueue(book, 0, 500_000, V, None, excluded, "queue-bitmex", TIERS)
    queue.extend(0)
    assert queue.queue[0, :256].tolist() == list(range(599, 343, -1)) and int(queue.length[0]) == 256
    queue.extend(0)
    assert queue.queue[0, :600].tolist() == list(range(599, -1, -1)) and int(queue.complete[0]) == 1


def test_adl_queue_scores_a_side_larger_than_one_block():
    """A book of SCORE_BLOCK + 2 positions: winners at index 0 (1 lot @40,000.0) and index SCORE_BLOCK (1 lot
    @30,000.0, the higher score: notional / cost = 5/3 against 5/4), flat positions between, the short being
    liquidated last. The second block's winner keeps its own index: the queue is [SCORE_BLOCK, 0]."""
    from delever.adl.queue import SCORE_BLOCK

    n = SCORE_BLOCK + 2
    size = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    size[[0, SCORE_BLOCK, n - 1]] = [1, 1, -2]
    cost[[0, SCORE_BLOCK, n - 1]] = [400_000 * V, 300_000 * V, -2 * 500_000 * V]
    book = Book.from_arrays(wallet=np.zeros(n, dtype=np.int64), account=np.arange(n), size=size, cost=cost)
    excluded = np.zeros(n, dtype=bool)
    excluded[n - 1] = True
    queue = AdlQueue(book, 0, 500_000, V, None, excluded, "queue-bitmex", TIERS)
    queue.extend(0)
    assert queue.queue[0, : int(queue.length[0])].tolist() == [SCORE_BLOCK, 0]


# ------------------------------------------------------------------------------------------------------------
# partial liquidation: the size of the order (mechanisms/partial.py), at the boundaries its mutants moved
# ------------------------------------------------------------------------------------------------------------

BTC_TIERS = (BINANCE_BTCUSDT_2021.floors, BINANCE_BTCUSDT_2021.mmr_ppm, BINANCE_BTCUSDT_2021.cum)


@pytest.mark.parametrize(
    "size, equity, mark, v, fee_ppm, closed",
    [
        # 3,500 BTC at 100,000.0 (V = 100: 100 USDT a lot): notional 350M USDT, the last tier (50%). The tier below
        # (25%, cap 300M): keep (300M - 1 unit) // 100 USDT = 2,999,999 lots (the cap itself is a whole number of
        # lots, which must not be kept: it is the last tier's floor); close 500,001 = 50,000,100 USDT, fee 0.3% =
        # 150,000.3 USDT; MM after = 299,999,900 x 25% - 25,016,300 = 49,983,675 USDT. Equity exactly fee + MM
        # after (50,133,675.3 USDT) reaches it ...
        (3_500_000, 50_133_675_300_000, 1_000_000, 100, 3_000, 500_001),
        # ... one unit less does not; the next tier (15%, cap 200M): keep 1,999,999, close 1,500,001, fee
        # 450,000.3, MM after 199,999,900 x 15% - 5,016,300 = 24,983,685 USDT: reached.
        (3_500_000, 50_133_675_299_999, 1_000_000, 100, 3_000, 1_500_001),
        # V = 1, mark 500,001: 1,000,000 lots = 500,001 USDT (tier 3, 1%). Tier 2's cap 250,000 USDT less one
        # unit is exactly 499,999 lots (249,999,999,999 = 499,999 x 500,001): keep 499,999, close 500,001; fee
        # ceil(250,001,000,001 x 0.3% = 750,003,000.003) = 750,003,001; MM after ceil(249,999,999,999 x 0.5% =
        # 1,249,999,999.995) - 50,000,000 = 1,200,000,000; equity exactly their sum.
        (1_000_000, 1_950_003_001, 500_001, 1, 3_000, 500_001),
        # V = 10^6 (lots of 1 BTC, tick 1 USDT), 3 lots at 40,000: 120,000 USDT (tier 2). Tier 1 (cap 50,000):
        # keep 1 lot, close 2 (80,000 USDT), fee 240 USDT, MM after 160 USDT: equity 400 USDT is exactly enough.
        (3, 400_000_000, 40_000, 10**6, 3_000, 2),
        (3, 399_999_999, 40_000, 10**6, 3_000, 0),
        # 3 lots at 60,000: one lot is above tier 1's cap (keep 0 lots): no lower tier holds any of it: whole.
        (3, money(10_000), 60_000, 10**6, 3_000, 0),
        # 2,000 lots at 98,000.0 (196,000 USDT, tier 2): tier 1 keeps 510 lots (49,980 USDT), closes 1,490;
        # fee ceil(146,020 x 0.3%) = 438.06 USDT, MM after 199.92: equity 637.98 USDT exactly.
        (2_000, 637_980_000, 980_000, 100, 3_000, 1_490),
        (-2_000, 637_980_000, 980_000, 100, 3_000, 1_490),
    ],
    ids=[
        "last-tier-reaches-the-tier-below-at-exactly-fee-plus-mm",
        "last-tier-one-unit-short-goes-two-tiers-down",
        "cap-less-one-unit-a-whole-number-of-lots",
        "one-btc-lots-keep-one-at-exactly-fee-plus-mm",
        "one-btc-lots-one-unit-short-whole",
        "one-lot-above-the-lowest-cap-whole",
        "second-tier-long-to-the-first",
        "second-tier-short-to-the-first",
    ],
)
def test_tier_partial_size_at_its_boundaries(size, equity, mark, v, fee_ppm, closed):
    from delever.mechanisms.partial import tier_lots

    assert tier_lots(size, equity, mark, v, *BTC_TIERS, fee_ppm) == closed


@pytest.mark.parametrize(
    "size, since_last_s, lots",
    [
        (2, math.inf, 1),  # ceil(20% x 2 = 0.4) = 1 lot: a one-lot slice
        (1, math.inf, 0),  # ceil(0.2) = 1 = the whole position: no slice (0 = close it whole)
        (-2_500, 30.0, 500),  # exactly the 30 s cooldown since the last slice: outside it, a slice again
        (-2_500, 29.999, 0),  # inside it: whole
    ],
    ids=["one-lot-slice", "one-lot-position-whole", "cooldown-exactly-over", "inside-the-cooldown"],
)
def test_slice_partial_size_at_its_boundaries(size, since_last_s, lots):
    # 100,000.0 (1,000,000 ticks), V = 100: min notional 0 (every position may slice), fraction 20%, cooldown 30 s
    from delever.mechanisms.partial import slice_lots

    assert slice_lots(size, 1_000_000, V, 200_000, 0, since_last_s, 30.0) == lots


@pytest.mark.parametrize(
    "mode, sizes, mark, v, equity, planned",
    [
        # tier: a second-tier position (2,000 lots at 98,000.0, as above) is sized; a lowest-tier one (10 lots,
        # 9,800 USDT) has no tier below: 0 (whole)
        ("tier", [2_000, 10], 980_000, 100, [637_980_000, money(100)], [1_490, 0]),
        # a notional beyond int64: 10^11 lots at 100 USDT = 10^13 USDT (10^19 units > 2^63): sized in Python ints,
        # as in the last-tier case above without a fee: keep 2,999,999 lots, MM after 49,983,675 USDT
        ("tier", [10**11], 1_000_000, 100, [49_983_675_000_000], [10**11 - 2_999_999]),
        # exactly 2^63 units (2^40 lots x 2^16 ticks x V 2^7): keep (300M USDT - 1) // 2^23 = 35,762,786 lots
        ("tier", [2**40], 2**16, 2**7, [5 * 10**13], [2**40 - 35_762_786]),
        # slice: a lowest-tier position slices too (min notional 0): ceil(20% x 10) = 2
        ("slice", [10, -2_500], 980_000, 100, [0, 0], [2, 500]),
    ],
    ids=["tier-second-and-lowest", "tier-notional-beyond-int64", "tier-notional-exactly-2-63", "slice-lowest-tier"],
)
def test_partial_plan_sizes_each_order(mode, sizes, mark, v, equity, planned):
    from delever.mechanisms.partial import plan

    n = len(sizes)
    out = plan(mode, np.arange(n), np.array(sizes, dtype=np.int64), np.array(equity, dtype=np.int64), mark, v,
               *BTC_TIERS, 0 if n == 1 else 3_000, 200_000, 0, np.full(n, np.nan), 100.0, 30.0)  # fmt: skip
    assert out.tolist() == planned


def test_final_settlement_never_takes_a_negative_position_as_a_counterparty_even_once_it_is_lifted():
    """Settled at S = 50,000.0 (500,000 ticks), V = 100; instrument 1 (not settling) is marked at 100,000.0.

    0: account 0 (cross, wallet 99) long 10 lots of the future @40,000.0 (uPnL at S +100,000,000) and
       1: long 1 lot of instrument 1 @200,000.1 (uPnL (1,000,000 - 2,000,001) x 100 = -100,000,100): account
       equity 99 + 100,000,000 - 100,000,100 = -1. BP = (400,000,000 + 100,000,001) / 1,000 = 500,000.001 ->
       up 500,001.
    2: account 1 short 5 lots @60,000.0, wallet 0: uPnL 50,000,000, capacity min(5, 50,000,000 // 100) = 5:
       0 is deleveraged 5 lots at 500,001, which lifts account 0 by 5 x 1 x 100 = 500 to +499, its other 5
       lots still in profit at S.
    3: account 2, isolated short 2 lots @49,900.0 with margin 199,999: equity at S 199,999 - 200,000 = -1
       (after 0: ties by index). BP = 499,000 + 199,999 / 200 = 499,999.995 -> down 499,999. Its only
       profitable long of the future is 0, itself a negative-equity position of this settlement: not a
       counterparty (else it would take 2 of them, 499 // 100 = 4 lots of capacity), so 3 settles at S.
    """
    from delever.adl.policies import get_policy

    # 4, 5: a liquidity provider's 3 short lots of the future at S and 1 short lot of instrument 1 (never a
    # counterparty), so that both instruments' open interest nets to zero and money is conserved
    book = Book.from_arrays(wallet=[99, 0, 0, 10**15], account=[0, 0, 1, 2, 3, 3], size=[10, 1, -5, -2, -3, -1],
                            instrument=[0, 1, 0, 0, 0, 1], exempt=[False, False, False, True],
                            cost=[10 * 400_000 * V, 2_000_001 * V, -5 * 600_000 * V, -2 * 499_000 * V,
                                  -3 * 500_000 * V, -2_000_001 * V],
                            collateral=[0, 0, 0, 199_999, 0, 0],
                            isolated=[False, False, False, True, False, False])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, 500_000, np.array([500_000, 1_000_000]), np.array([V, V]), fund,
                           get_policy("queue-bitmex"), buf)  # fmt: skip
    c = buf.cols
    adl = [(int(c["account"][i]), int(c["size"][i]), int(c["price"][i])) for i in range(buf.n)
           if c["kind"][i] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)]  # fmt: skip
    assert adl == [(0, -5, 500_001), (1, 5, 500_001)]
    assert rep.negative_equity_positions == 2 and rep.deleveraged_lots == 5
    assert book.total_money(fund) == before


@pytest.mark.parametrize(
    "equity, chosen, lots",
    [(100, [0], [70]), (99, [], [])],
    ids=["equity-exactly-at-mm-is-cut", "equity-one-below-mm-is-left-to-liquidation"],
)
def test_proactive_selection_at_the_maintenance_boundary(equity, chosen, lots):
    # notional 1,000, MM 100, leverage 1,000 / 100 = 10 > trigger 5: at equity = MM the position is not
    # liquidatable (that needs equity < MM), so it is cut to floor(3 x 100 / 10) = 30 lots (70 closed)
    idx, cut = select(np.array([equity]), np.array([1_000]), np.array([100]), np.array([100]), np.ones(1, dtype=bool),
                      10, 1, 5.0, 3.0, 5)  # fmt: skip
    assert idx.tolist() == chosen and cut.tolist() == lots


def test_proactive_cut_of_a_single_lot():
    # cross long 1 BTC @50,000, wallet 2,400.2 USDT; one lot cut at centre 47,600 fills at
    # floor(476,000 x (1 - 1 / 2e8)) = floor(475,999.9976) = 475,999: realized 475,999 x 100 - 50,000,000 = -2,400,100
    size = np.array([1_000, 0], dtype=np.int64)
    cost = np.array([C, 0], dtype=np.int64)
    w = np.array([2_400_200_000, 10**15], dtype=np.int64)
    cols = event_columns()
    depth = LiquidityCols.make(476_000.0, np.zeros(1), DepthCurve.linear(DEEP).arrays(), np.array([1]), np.array([1]))
    moved = reduce_positions(np.array([0]), np.array([1]), book_columns(size, cost, w), V, depth, cols)
    assert int(size[0]) == 999 and moved == 475_999 * V
    assert rows_of(cols) == [("deleverage_fill", 0, -1, 475_999, -2_400_100), ("lp_fill", 1, 1, 475_999, 0)]


@pytest.mark.parametrize(
    "equity, notional, mm, size, mark, v, trigger, target, max_accounts, chosen, lots",
    [
        # leverage 400 / 100 = 4, below the trigger 5 (whatever the cut would be): not cut
        ([100], [400], 10, [40], 10, 1, 5.0, 3.0, 5, [], []),
        # leverage exactly 5 = the trigger: not above it, not cut
        ([100], [500], 10, [50], 10, 1, 5.0, 3.0, 5, [], []),
        # leverages 1,020 / 100 = 10.2 and 1,050 / 100 = 10.5, one account a step: the more levered (1), not the
        # lower index; it keeps floor(3 x 100 / 10) = 30 of its 105 lots
        ([100, 100], [1_020, 1_050], 10, [102, 105], 10, 1, 5.0, 3.0, 1, [1], [75]),
        # a one-lot cut: leverage 600 / 110 = 5.45 > 5; keep floor(4.9 x 110 / 100 = 5.39) = 5 of 6 lots
        ([110], [600], 10, [6], 100, 1, 5.0, 4.9, 5, [0], [1]),
        # a target above the trigger (the scenario allows it): leverage 6 > 5 but it keeps floor(10 x 100 / 10) =
        # 100 >= its 60 lots: nothing to cut, not listed
        ([100], [600], 10, [60], 10, 1, 5.0, 10.0, 5, [], []),
        # V = 100 (money per lot-tick): 30 lots at 10 ticks are 30,000, equity 1,000 (leverage 30): keep
        # floor(3 x 1,000 / (10 x 100)) = 3 lots, cut 27
        ([1_000], [30_000], 10, [30], 10, 100, 5.0, 3.0, 5, [0], [27]),
        # the least equity that is not liquidatable: 1 unit against an MM of 1 (a lot at 1 tick, V = 100: MM
        # ceil(0.4) = 1), leverage 100: keep floor(3 x 1 / 100) = 0, cut the lot
        ([1], [100], 1, [1], 1, 100, 5.0, 3.0, 5, [0], [1]),
        # leverages 12, 12, 11, 10 at indices 1, 2, 3, 0 (equity 100, mark 10, V 1): the full order is (leverage
        # desc, index asc) = 1, 2, 3, 0; two a step take the tied pair 1 and 2, three add 3; each keeps 30 lots
        ([100] * 4, [1_000, 1_200, 1_200, 1_100], 10, [100, 120, 120, 110], 10, 1, 5.0, 3.0, 2, [1, 2], [90, 90]),
        (
            [100] * 4,
            [1_000, 1_200, 1_200, 1_100],
            10,
            [100, 120, 120, 110],
            10,
            1,
            5.0,
            3.0,
            3,
            [1, 2, 3],
            [90, 90, 80],
        ),
        # leverages 10, 11, 12, 13, 14 by index, one a step: the last index, the most levered (keeps 30 of 140)
        ([100] * 5, [1_000, 1_100, 1_200, 1_300, 1_400], 10, [100, 110, 120, 130, 140], 10, 1, 5.0, 3.0, 1, [4], [110]),
        # a target of 2.5 (the binary fraction 5 / 2): keep floor(5 x 101 / (2 x 10)) = floor(25.25) = 25 of 60
        ([101], [600], 10, [60], 10, 1, 5.0, 2.5, 5, [0], [35]),
        # leverage 6 > 5 and a target of 6: it keeps floor(6 x 100 / 10) = 60, exactly its 60 lots: nothing to
        # cut, not listed (not listed with 0 lots either)
        ([100], [600], 10, [60], 10, 1, 5.0, 6.0, 5, [], []),
        # equity 3,002,399,781,733,333 (3.0 billion USDT) at mark 476,000 ticks, V 100 (d = 47,600,000), target 3:
        # 3 x equity = 9,007,199,345,199,999 = 189,226,876 x d + (d - 1), so the exact keep is 189,226,876 lots
        # of 189,226,877: one lot cut (leverage 189,226,877 x d / equity = 3.0000000000000004 > 2). In float64
        # 3 x equity rounds to 9,007,199,345,200,000 (spacing 2 above 2**53) = 189,226,877 x d: a float floor
        # keeps every lot and cuts nothing
        ([3_002_399_781_733_333], [189_226_877 * 47_600_000], 10, [189_226_877], 476_000, 100, 2.0, 3.0, 5, [0], [1]),
    ],
    ids=[
        "below-the-trigger",
        "exactly-at-the-trigger",
        "fractional-leverages-ranked",
        "one-lot-cut",
        "target-above-the-trigger-nothing-to-cut",
        "v-100",
        "one-unit-of-equity-at-mm",
        "tied-leverages-by-index-two-a-step",
        "tied-leverages-by-index-three-a-step",
        "most-levered-is-the-last-index",
        "target-a-binary-fraction",
        "target-keeps-exactly-every-lot",
        "keep-exact-where-the-float-product-rounds-up-to-a-whole-lot",
    ],  # fmt: skip
)
def test_proactive_selection_leverage_boundaries(equity, notional, mm, size, mark, v, trigger, target, max_accounts,
                                                 chosen, lots):  # fmt: skip
    n = len(equity)
    idx, cut = select(np.array(equity), np.array(notional), np.full(n, mm), np.array(size), np.ones(n, dtype=bool),
                      mark, v, trigger, target, max_accounts)  # fmt: skip
    assert idx.tolist() == chosen and cut.tolist() == lots


@pytest.mark.parametrize(
    "size, cost, margin, cut, price, left_margin, wallet_gain",
    [
        # isolated long 1 BTC @50,000 with margin 3,000 USDT, all cut at centre 47,600: fill
        # floor(476,000 x (1 - 1,000 / 2e8)) = floor(475,997.62) = 475,997, realized 1,000 x -24,003 x 100 =
        # -2,400,300,000; the closed position's margin 599,700,000 goes back to the wallet
        (1_000, C, 3_000_000_000, 1_000, 475_997, 0, 599_700_000),
        # 600 of it: fill 475,998, realized -1,440,120,000: the margin (1,559,880,000) stays with the position
        (1_000, C, 3_000_000_000, 600, 475_998, 1_559_880_000, 0),
        # a one-lot long (cross, wallet 1,000 USDT) sells its lot at floor(475,999.9976) = 475,999
        (1, 500_000 * V, 0, 1, 475_999, 0, -2_400_100),
        # a one-lot short (cross, entered at 50,000.0) buys its lot at ceil(476,000.0024) = 476,001: realized
        # 500,000 - 476,001 = 23,999 ticks x 100 = 2,399,900
        (-1, -500_000 * V, 0, 1, 476_001, 0, 2_399_900),
    ],
    ids=["isolated-closed-margin-home", "isolated-partly-cut-margin-stays", "one-lot-long-sells", "one-lot-short-buys"],
)
def test_proactive_cut_settles_the_margin(size, cost, margin, cut, price, left_margin, wallet_gain):
    iso = margin > 0
    sizes = np.array([size, 0], dtype=np.int64)
    costs = np.array([cost, 0], dtype=np.int64)
    collateral = np.array([margin, 0], dtype=np.int64)
    w = np.array([money(1_000), 10**15], dtype=np.int64)
    cols = event_columns()
    depth = LiquidityCols.make(476_000.0, np.zeros(1), DepthCurve.linear(DEEP).arrays(), np.array([1]), np.array([1]))
    book = book_columns(sizes, costs, w, collateral, np.array([iso, False]))
    reduce_positions(np.array([0]), np.array([cut]), book, V, depth, cols)
    sign = 1 if size > 0 else -1
    assert int(sizes[0]) == size - sign * cut and rows_of(cols)[0][2:4] == (-sign * cut, price)
    assert int(collateral[0]) == left_margin and int(w[0]) == money(1_000) + wallet_gain


# ------------------------------------------------------------------------------------------------------------
# the sweep's exact figures for ordering and triggers (sweep.py), by hand
# ------------------------------------------------------------------------------------------------------------

SWEEP_TIERS = (BINANCE_BTCUSDT_2021.floors[None, :], BINANCE_BTCUSDT_2021.mmr_ppm[None, :],
               BINANCE_BTCUSDT_2021.cum[None, :], np.array([len(BINANCE_BTCUSDT_2021.tiers)]))  # fmt: skip


def sweep_book(**columns) -> BookCols:
    """The column bundle the sweep kernels take, of a book given by its columns (:meth:`Book.from_arrays`)."""
    return BookCols.of(Book.from_arrays(**columns))


def one_mark(mark: int, tiers=SWEEP_TIERS) -> AccountValuation:
    """One instrument at ``mark`` ticks, V = 100, the given (1, k) tier tables."""
    return AccountValuation(np.array([mark]), np.array([V]), *tiers)


def test_position_health_equity_and_mm_by_hand():
    """Mark 50,000.1 (500,001 ticks), V = 100 (the counterparties of the ADL tests above):

    0: isolated long 1,501 lots @40,000.0, margin 1,000 USDT: equity 1,000,000,000 + 1,501 x 100,001 x 100 =
       16,010,150,100; notional 75,050,150,100 (tier 2): MM ceil(375,250,750.5) - 50,000,000 = 325,250,751.
    1: cross short 2,500 lots @60,000.0, wallet 7 units: equity 7 + 24,999,750,000; notional 125,000,250,000:
       MM 625,001,250 - 50,000,000 = 575,001,250.
    Only the positions of ``order`` are written, in its order."""
    from delever.sweep import position_health

    size = np.array([1_501, -2_500], dtype=np.int64)
    cost = np.array([1_501 * 400_000 * V, -2_500 * 600_000 * V], dtype=np.int64)
    eq, mm = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    book = sweep_book(wallet=np.array([0, 7]), account=np.array([0, 1]), size=size, cost=cost,
                      collateral=np.array([money(1_000), 0]), isolated=np.array([True, False]))  # fmt: skip
    position_health(np.array([1, 0]), book, one_mark(500_001), eq, mm)
    assert eq.tolist() == [24_999_750_007, 16_010_150_100]
    assert mm.tolist() == [575_001_250, 325_250_751]


def test_trigger_of_a_one_lot_long_is_the_last_price_below_its_mm():
    """Cross long 1 lot @50,000.0 (cost 50,000,000), wallet 1 USDT, V = 100: excess(P) = 1,000,000 + 100 P -
    50,000,000 - ceil(0.4 P). At 491,967: 49,196,700 - 49,000,000 - 196,787 = -87 < 0 (liquidatable); at 491,968:
    49,196,800 - 49,000,000 - 196,788 = 12 >= 0. The trigger is 491,967; an LP's and a flat position's never fire."""
    from delever.sweep import NEVER_LONG, NEVER_SHORT, update_triggers

    size = np.array([1, -1, 0], dtype=np.int64)
    trigger = np.zeros(3, dtype=np.int64)
    book = sweep_book(wallet=np.array([money(1), money(1), 0]), account=np.array([0, 1, 2]), size=size,
                      cost=np.array([50_000_000, -50_000_000, 0]), exempt=np.array([False, True, False]))  # fmt: skip
    update_triggers(np.arange(3), book, one_mark(0), trigger)
    assert trigger.tolist() == [491_967, NEVER_SHORT, NEVER_LONG]


def test_final_settlement_at_one_tick_deleverages_at_no_gap():
    """Settled at S = 1 tick (0.1 USDT), V = 100. Account 0 (cross, wallet 0): short 10 lots of the future at
    1 tick (cost -1,000, uPnL 0 at S) and a long lot of instrument 1 losing 100,000,100: account equity
    -100,000,100, so the short's bankruptcy price (1,000 - 100,000,100) / 1,000 is below 0, clamped to 1 tick = S.
    Account 1: long 10 lots entered at half a tick (cost 500, an average entry needs not be a whole tick): uPnL
    500 at S. Closing at the bankruptcy price costs it (1 - 1) x 100 = 0 a lot: it takes all 10 lots."""
    from delever.adl.policies import get_policy

    # 2, 3: a liquidity provider's short lot of instrument 1 and nothing else, so instrument 1 nets to zero
    book = Book.from_arrays(wallet=[0, 0, 10**15], account=[0, 0, 1, 2], size=[-10, 1, 10, -1], instrument=[0, 1, 0, 1],
                            exempt=[False, False, True], cost=[-1_000, 2_000_001 * V, 500, -2_000_001 * V])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, 1, np.array([1, 1_000_000]), np.array([V, V]), fund,
                           get_policy("queue-bitmex"), buf)  # fmt: skip
    c = buf.cols
    adl = [(int(c["account"][i]), int(c["size"][i]), int(c["price"][i])) for i in range(buf.n)
           if c["kind"][i] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)]  # fmt: skip
    assert adl == [(0, 10, 1), (1, -10, 1)]
    assert rep.deleveraged_lots == 10 and rep.deleveraged_notional == 10 * 1 * V
    assert book.total_money(fund) == before


# ------------------------------------------------------------------------------------------------------------
# ADL allocation: the capped pro-rata split (adl/policies.py), where its water level and rounding meet
# ------------------------------------------------------------------------------------------------------------


def test_capped_split_below_the_first_saturation_level_splits_by_weight():
    """2 units among caps [2, 3] with integer weights [3, 1]: saturation levels cap / weight 2/3 and 3, water level
    tau = 2 / (3 + 1) = 0.5 < 2/3, so nobody saturates: shares 1.5 and 0.5, floors 1 and 0, remainders tied at
    0.5: the odd unit to the larger cap (position 1): [1, 1] (not [2, 0], the first saturated)."""
    from delever.adl.policies import capped_split

    h, tau = capped_split(2, np.array([2, 3]), np.array([3, 1]))
    assert h.tolist() == [1, 1] and tau == 0.5


def _excess_in_python_ints(p: int, s: int, c: int, b: int, v: int) -> int:
    # equity - MM of a position at p ticks, Binance BTCUSDT tiers, the definition in Python integers
    t = BINANCE_BTCUSDT_2021
    n = abs(s) * p * v
    j = max(i for i in range(len(t.tiers)) if n >= int(t.floors[i]))
    return b + s * p * v - c - (-((-n * int(t.mmr_ppm[j])) // 1_000_000) - int(t.cum[j]))


@pytest.mark.parametrize(
    "s, c, b, v, trigger",
    [
        (1, 1_231_402_496_734_247_793, 280_416_622_315_969, 100, 24_620_441_276_238_636),
        (1, 1_894_995_823_857_241_835, 47_618_651_417_200, 100, 37_896_963_778_116_492),
        (-1, -1_278_032_213_966_879_813, 403_674_277_200_025, 3, 284_119_089_898_684_409),
        (-1, -823_349_062_897_723_963, 418_600_883_785_974, 3, 183_081_706_684_779_987),
    ],
    ids=[
        "long-estimate-4-ticks-high",
        "long-estimate-4-ticks-low",
        "short-estimate-7-ticks-high",
        "short-estimate-19-ticks-low",
    ],  # fmt: skip
)
def test_trigger_price_is_exact_where_the_float_estimate_is_ticks_off(s, c, b, v, trigger):
    """One lot at prices near 10^16-10^17 ticks: float64's root of the last tier's linear equation is off by
    several ticks (the cost, about 10^18 units, is rounded to 256 units), so the search must widen its bracket
    before bisecting. The trigger is the last price (a long) or the first (a short) at which equity < MM,
    checked here on both sides in Python integers."""
    from delever.sweep import trigger_price

    got = trigger_price(s, c, b, v, 0, *SWEEP_TIERS[:3], int(SWEEP_TIERS[3][0]))
    assert got == trigger
    inside, outside = (trigger, trigger + 1) if s > 0 else (trigger, trigger - 1)
    assert _excess_in_python_ints(inside, s, c, b, v) < 0 <= _excess_in_python_ints(outside, s, c, b, v)


@pytest.mark.parametrize(
    "s, c, b, v, trigger",
    [
        # a long whose excess is exactly 0 at p0 = 23,372,154,230,415,614 (b = c - p0 x 100 + MM(p0 x 100)); the
        # float estimate is 2 ticks high (int 23,372,154,230,415,616), so the first lower bracket end guess - 2
        # lands on p0 itself: excess 0 is not below 0, the bracket must widen past it (to guess - 8). Excess
        # rises 50 a tick (V (1 - 50%)): -100, -50, 0 at p0 - 2, p0 - 1, p0: the trigger is p0 - 1
        (1, 1_317_113_122_643_631_978, 148_405_394_822_851_278, 100, 23_372_154_230_415_613),
        # excess exactly 0 at p0 = 35,193,285,700,923,266 and the estimate 2 ticks low (int ...264): the first
        # upper bracket end guess + 2 lands on p0, whose excess 0 is not < 0: p0 is not returned, the bisection
        # finds p0 - 1
        (1, 2_577_453_989_703_974_143, 817_689_688_357_810_843, 100, 35_193_285_700_923_265),
        # a short at the highest price pmax = 2**62 // 484 = 9,528,276,897,577,247: b = c + pmax x 484 + MM - 1,
        # so excess(pmax) = -1 (liquidatable, by one unit) and excess(pmax - 1) = -1 + 484 x 1.5 = 725: the
        # trigger is pmax itself, the upper bracket end that an excess of -1 must not turn into "never"
        (-1, -(10**18), 5_917_429_011_341_081_321, 484, 9_528_276_897_577_247),
    ],
    ids=["long-lower-end-on-zero-excess", "long-upper-end-on-zero-excess", "short-trigger-at-pmax-excess-minus-one"],
)  # fmt: skip
def test_trigger_price_where_a_bracket_end_lands_on_the_root(s, c, b, v, trigger):
    from delever.sweep import trigger_price

    assert trigger_price(s, c, b, v, 0, *SWEEP_TIERS[:3], int(SWEEP_TIERS[3][0])) == trigger
    inside, outside = (trigger, trigger + 1) if s > 0 else (trigger, trigger - 1)
    assert _excess_in_python_ints(inside, s, c, b, v) < 0 <= _excess_in_python_ints(outside, s, c, b, v)


def test_trigger_price_of_a_short_never_liquidated_up_to_pmax_with_an_estimate_just_below_it():
    """A short with excess exactly 0 at the highest price pmax = 2**62 // 484 = 9,528,276,897,577,247 (b = c +
    pmax x 484 + MM(pmax x 484)): no price up to pmax liquidates it. The float root of the last tier's equation
    is 9,528,276,897,577,246.0, a valid estimate one tick below pmax, so the upper bracket end widens up to pmax
    and must stop there (not loop on pmax) and answer "never"."""
    from delever.sweep import NEVER_SHORT, trigger_price

    s, c, b, v = -1, -(10**18), 5_917_429_011_341_081_322, 484
    assert _excess_in_python_ints(2**62 // v, s, c, b, v) == 0
    assert trigger_price(s, c, b, v, 0, *SWEEP_TIERS[:3], int(SWEEP_TIERS[3][0])) == NEVER_SHORT


def test_trigger_price_of_a_short_whose_root_sits_on_a_tier_floor_bisects_from_the_lowest_price():
    """643 lots short, V = 109,429,766,953 (pmax = 2**62 // (643 V) = 65,541), b = c + F + MM(F) with F the
    tier-8 floor 10**14 (MM(F) = 15% x F - cum = 9,983,700,000,000): the exact root's notional is F itself,
    at 1.4212 ticks. In float64 tier 7's root has notional 1e14 (not below its cap F) and tier 8's
    99,999,999,999,999.98 (below its floor F): no tier claims it, so the estimate falls back to pmax / 2 =
    32,770.5, and the lower bracket end widens 32,768, 32,762, 32,738, ..., 32,770 - 2 x 4**7 = 2 (excess still
    < 0) and then to 1 (excess >= 0): the trigger is 2, the first price with excess < 0."""
    from delever.sweep import trigger_price

    s, v = -643, 109_429_766_953
    c = -70_363_340_150_779  # entered at 1 tick: s x 1 x V
    b = c + 10**14 + 9_983_700_000_000
    assert _excess_in_python_ints(1, s, c, b, v) >= 0 > _excess_in_python_ints(2, s, c, b, v)
    assert trigger_price(s, c, b, v, 0, *SWEEP_TIERS[:3], int(SWEEP_TIERS[3][0])) == 2


@pytest.mark.parametrize(
    "need, caps, weights, shares, tau",
    [
        # integer weights 3 and 5, exact quotas 2 x 3/8 = 0.75 and 2 x 5/8 = 1.25 (tau = 2 / 8): floors 0 and 1,
        # remainders 0.75 and 0.25: the odd unit to the first (not to the second, the larger weight)
        (2, [10, 10], [3, 5], [1, 1], 0.25),
        # exactly what the caps hold: everyone pays its cap, the water level is infinite (saturated)
        (5, [2, 3], [1, 1], [2, 3], math.inf),
        # nothing to split, or nobody with a positive weight: nothing paid, water level 0
        (0, [2, 3], [1, 1], [0, 0], 0.0),
        (4, [2, 3], [0, 0], [0, 0], 0.0),
        # nothing to split even with an infinite weight: still level 0
        (0, [2, 3], [math.inf, 1.0], [0, 0], 0.0),
        # infinite weights saturate first; here they hold exactly the need (2): they pay it, the level is infinite
        (2, [2, 3], [math.inf, 1.0], [2, 0], math.inf),
        # a zero weight never pays, even when the others cannot cover the need: 2 of 3 paid, saturated
        (3, [2, 1], [1, 0], [2, 0], math.inf),
        # nobody with room (every cap 0): nothing paid, level 0
        (3, [0, 0], [1, 1], [0, 0], 0.0),
        # infinite weights holding more than the need split it among themselves by cap: 1 of caps 2 and 4 ->
        # quotas 1/3 and 2/3, the unit to the larger remainder
        (1, [2, 3, 4], [math.inf, 1.0, math.inf], [0, 0, 1], math.inf),
        # infinite weights holding less (2): they pay their cap, the finite weight the rest (2 of its 3) at
        # level 2 / 1 = 2
        (4, [2, 3], [math.inf, 1.0], [2, 2], 2.0),
    ],
    ids=[
        "integer-weights-odd-unit-by-remainder",
        "need-equals-the-caps",
        "need-zero",
        "no-positive-weight",
        "need-zero-with-an-infinite-weight",
        "infinite-weights-hold-exactly-the-need",
        "zero-weight-never-pays",
        "every-cap-zero",
        "infinite-weights-hold-more-than-the-need",
        "infinite-weights-hold-less-than-the-need",
    ],  # fmt: skip
)
def test_capped_split_rounding_and_water_level(need, caps, weights, shares, tau):
    from delever.adl.policies import capped_split

    h, level = capped_split(need, np.array(caps), np.array(weights))
    assert h.tolist() == shares and level == tau


def test_proactive_cut_skipped_for_one_position_goes_on_to_the_next():
    """Two cross longs of 1 BTC @50,000 at centre 47,600: position 0 (wallet 2,380 USDT) has no solvent size (every
    halving fills at 475,998 or 475,999, below its bankruptcy price: skipped); position 1 (wallet 2,400.2 USDT)
    is still cut, 600 lots at 475,998 (as in the cases above), bought by the liquidity provider."""
    size = np.array([1_000, 1_000, 0], dtype=np.int64)
    cost = np.array([C, C, 0], dtype=np.int64)
    w = np.array([2_380_000_000, 2_400_200_000, 10**15], dtype=np.int64)
    cols = event_columns()
    depth = LiquidityCols.make(476_000.0, np.zeros(1), DepthCurve.linear(DEEP).arrays(), np.array([2]), np.array([1]))
    reduce_positions(np.array([0, 1]), np.array([600, 600]), book_columns(size, cost, w), V, depth, cols)
    assert size.tolist() == [1_000, 400, 600]  # the liquidity provider (2) took the other side
    assert rows_of(cols)[0][:4] == ("deleverage_fill", 1, -600, 475_998)


def test_allocate_lots_refuses_a_negative_need():
    from delever.adl.policies import allocate_lots

    with pytest.raises(ValueError, match="need_lots must be >= 0"):
        allocate_lots("pro-rata-contracts", -1, np.array([2, 3]), np.zeros(2), np.array([2.0, 3.0]))


@pytest.mark.parametrize(
    "s, c, b, v, trigger",
    [
        # a long whose cost no representable price covers (cost 2^62, nothing backing it): liquidatable up to the
        # highest price the search may reach, 2^62 // (1 lot x V 100)
        (1, 2**62, 0, 100, 2**62 // 100),
        # a long entered at half a tick (cost 50, V = 100): at 1 tick its equity 100 - 50 is above its MM
        # ceil(0.4) = 1: at no positive price is it liquidatable (that at 0 ticks it would be does not count)
        (1, 50, 0, 100, -1),
        # a long backed by more than its cost (10 USDT of margin for a 5 USDT lot): never liquidatable
        (1, 5_000_000, money(10), 100, -1),
        # a short (1 lot @50,000.0, cost -50,000,000) on a wallet in debt (-49,999,900): at 1 tick equity
        # -49,999,900 + 50,000,000 - 100 = 0 against MM 1: liquidatable from the first tick
        (-1, -50_000_000, -49_999_900, 100, 1),
        # with one unit more (-49,999,899): at 1 tick equity 1 = MM (not below it); at 2 ticks 1 - 100 < MM 1: 2
        (-1, -50_000_000, -49_999_899, 100, 2),
    ],
    ids=[
        "long-no-price-saves",
        "long-entered-at-half-a-tick",
        "long-fully-backed",
        "short-liquidatable-at-one-tick",
        "short-at-mm-at-one-tick",
    ],  # fmt: skip
)
def test_trigger_price_at_the_ends_of_the_price_range(s, c, b, v, trigger):
    from delever.sweep import NEVER_LONG, trigger_price

    assert NEVER_LONG == -1
    assert trigger_price(s, c, b, v, 0, *SWEEP_TIERS[:3], int(SWEEP_TIERS[3][0])) == trigger


@pytest.mark.parametrize(
    "margin, listed",
    [(money(70_000_000), [0]), (money(74_983_700) - 1, [0]), (money(74_983_700), [])],
    ids=["well-below-mm", "one-unit-below-mm", "exactly-at-mm"],
)
def test_single_position_sweep_uses_the_last_tier(margin, listed):
    """Isolated long 3,500 BTC at 100,000.0 (notional 350M USDT, the last tier: 50%, cum 100,016,300 USDT): MM =
    175,000,000 - 100,016,300 = 74,983,700 USDT (the tier below would ask 62,483,700). At entry = mark its equity
    is its margin: listed below MM, down to one unit below (the float screen must not skip it), not at MM."""
    from delever.sweep import single_position_sweep

    t = BINANCE_BTCUSDT_2021
    out = np.zeros(1, dtype=np.int64)
    lots = 3_500_000
    book = sweep_book(
        wallet=np.array([0]),
        account=np.array([0]),
        size=np.array([lots]),
        cost=np.array([lots * 1_000_000 * V]),
        collateral=np.array([margin]),
        isolated=np.array([True]),
    )
    n = single_position_sweep(book, AccountValuation.single(1_000_000, V, t), out)
    assert out[:n].tolist() == listed


def test_single_position_sweep_with_a_single_tier():
    """One bracket (0.5%, no cap): 1 BTC at 50,000.0 (V = 100), isolated, entry = mark: MM ceil(250 USDT) =
    250,000,000. Margin 249.999999 USDT is one unit short: listed; 250 USDT is not."""
    from delever.sweep import single_position_sweep

    out = np.zeros(2, dtype=np.int64)
    book = sweep_book(wallet=np.zeros(2), account=np.array([0, 1]), size=np.array([1_000, 1_000]),
                      cost=np.array([C, C]), collateral=np.array([249_999_999, 250_000_000]),
                      isolated=np.array([True, True]))  # fmt: skip
    one_bracket = (np.array([[0]]), np.array([[5_000]]), np.array([[0]]), np.array([1]))
    n = single_position_sweep(book, one_mark(500_000, one_bracket), out)
    assert out[:n].tolist() == [0]


def test_account_cross_sums_by_hand():
    """Account 0 at marks 500,001 on two instruments (the same tiers), V = 100: a cross long of 1,501 lots @40,000.0
    (uPnL 15,010,150,100, MM 325,250,751) and a cross short of 2,500 lots @60,000.0 on instrument 1 (uPnL
    24,999,750,000, MM 575,001,250); an isolated position and a flat one are left out. Sums: uPnL 40,009,900,100,
    MM 900,252,001, 2 open; without the MM pass, MM 0."""
    from delever.sweep import account_cross_sums

    floors, mmr, cum = (np.vstack([a[0], a[0]]) for a in SWEEP_TIERS[:3])
    nt = np.array([SWEEP_TIERS[3][0]] * 2)
    i64 = lambda *x: np.array(x, dtype=np.int64)  # noqa: E731
    book = BookCols(i64(1_501, -2_500, 7, 0), i64(1_501 * 400_000 * V, -2_500 * 600_000 * V, 0, 0), i64(0, 0, 0, 0),
                    np.array([False, False, True, False]), i64(0, 0, 0, 0), i64(0, 1, 0, 0), i64(0), np.zeros(1, bool),
                    i64(0, 4), np.arange(4))  # fmt: skip
    val = AccountValuation(i64(500_001, 500_001), i64(V, V), floors, mmr, cum, nt)
    assert account_cross_sums(0, book, val, True) == (40_009_900_100, 900_252_001, 2)
    assert account_cross_sums(0, book, val, False) == (40_009_900_100, 0, 2)


@pytest.mark.parametrize(
    "policy, need, sizes, scores, capacities, lots",
    [
        # queue: scores 1, NaN, 2: the NaN ranks last; 4 lots: all 3 of the best (2), 1 of the next (0)
        ("queue-bitmex", 4, [2, 5, 3], [1.0, math.nan, 2.0], [0.0, 0.0, 0.0], [1, 0, 3]),
        # pro rata on capacities 1 and 0: the zero-capacity counterparty pays nothing while the other can pay
        ("pro-rata-pnl", 2, [2, 2], [0.0, 0.0], [1.0, 0.0], [2, 0]),
        # ... and only the lot the others cannot cover: 3 lots, the first holds 2
        ("pro-rata-pnl", 3, [2, 2], [0.0, 0.0], [1.0, 0.0], [2, 1]),
    ],
    ids=["queue-nan-score-last", "zero-capacity-pays-nothing", "zero-capacity-pays-only-the-rest"],
)
def test_allocate_lots_edges(policy, need, sizes, scores, capacities, lots):
    from delever.adl.policies import allocate_lots

    assert allocate_lots(policy, need, np.array(sizes), np.array(scores), np.array(capacities)).tolist() == lots


def test_allocate_lots_refuses_a_counterparty_without_lots():
    from delever.adl.policies import allocate_lots

    with pytest.raises(ValueError, match="sizes must be > 0"):
        allocate_lots("pro-rata-contracts", 1, np.array([2, 0]), np.zeros(2), np.array([2.0, 0.0]))
