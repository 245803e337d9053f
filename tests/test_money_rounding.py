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
from delever.liquidation import AccountValuation, apply_trade, book_fill_price, run_stage
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
                    policy="queue-bitmex", adl_on=1, order=(0,)):  # fmt: skip
    """Liquidate position 0 (or the positions ``order``, in that order) of a book of one-position accounts
    (``rows`` as built above) through the compiled stage, with a linear book of ``depth`` lots per 1% centred at
    ``centre`` ticks (also the mark) and the insurance fund at ``fund`` money units. Returns (event rows as
    tuples, fund after, book after)."""
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
    upnl = book.size * centre * V - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    excluded = np.zeros(n, dtype=bool)
    excluded[list(order)] = True
    t = BINANCE_BTCUSDT_2021
    queue = AdlQueue(book, 0, centre, V, lambda: (pos_eq, acc_eq), excluded, policy, (t.floors, t.mmr_ppm, t.cum))
    buf = EventBuffer()
    lp_pos = np.flatnonzero(book.exempt[book.account])
    weights = np.ones(lp_pos.size, dtype=np.int64) if lp_weights is None else np.array(lp_weights, dtype=np.int64)
    curve = DepthCurve.linear(depth).arrays()
    partials = np.array([partial] + [0] * (len(order) - 1), dtype=np.int64)
    run_stage(np.array(order, dtype=np.int64), book, V, fee_ppm, float(centre), np.zeros(1), curve, lp_pos, weights,
              fund_arr, queue, buf, partials, adl_on, AccountValuation.single(centre, V))  # fmt: skip
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


@pytest.mark.parametrize(
    "sign, mark, bp",
    [
        # long 1 BTC @50,000 with margin 2,499.95 at mark 47,500: equity -0.05, bankrupt: taken at
        # ceil((50,000,000,000 - 2,499,950,000) / 100,000) = ceil(475,000.5) = 475,001
        (1, 475_000, 475_001),
        # the short mirror at mark 52,500: floor((-50,000,000,000 - 2,499,950,000) / -100,000) = 524,999
        (-1, 525_000, 524_999),
    ],
    ids=["bankrupt-long-off-tick-up", "bankrupt-short-off-tick-down"],
)
def test_backstop_takes_over_below_the_threshold_at_the_rounded_bankruptcy_price(sign, mark, bp):
    """Threshold 2/3 of MM (equity x 3 < 2 x MM), in the order 3, 0, 2: 3 (equity 200: 600 = 600, kept);
    0 (equity -50,000: bankrupt, at BP); 2 (equity 199, MM 300: 597 < 600, taken at the mark). The vault is
    position 1.

    Position 0 realizes 1,000 x (bp - 500,000) x 100 x sign = -2,499,900,000 and keeps 50,000, which goes to the
    vault with the position; 2 (margin 2,500 exactly its loss at the mark) keeps 0: no margin rows."""
    s, c = sign * 1_000, sign * C
    size = np.array([s, 0, s, s], dtype=np.int64)
    cost = np.array([c, 0, c, c], dtype=np.int64)
    collateral = np.array([2_499_950_000, 0, 2_500_000_000, 2_500_000_000], dtype=np.int64)
    iso = np.array([True, False, True, True])
    wallet = np.array([0, 10**12, 0, 0], dtype=np.int64)
    keep = np.zeros(3, dtype=np.int64)
    cols = event_columns()
    book = book_columns(size, cost, wallet, collateral, iso)
    equity, mm = np.array([200, -50_000, 199]), np.array([300, 300, 300])
    taken = take_over(np.array([3, 0, 2]), equity, mm, 2, 3, 1, mark, book, V, keep, cols)
    assert taken == 2 and keep.tolist() == [1, 0, 0]
    assert rows_of(cols) == [
        ("backstop_takeover", 0, -s, bp, -2_499_900_000),
        ("backstop_vault_fill", 1, s, bp, 0),
        ("backstop_margin", 0, 0, 0, -50_000),
        ("backstop_margin", 1, 0, 0, 50_000),
        ("backstop_takeover", 2, -s, mark, -2_500_000_000),
        ("backstop_vault_fill", 1, s, mark, 0),
    ]
    assert wallet.tolist() == [0, 10**12 + 50_000, 0, 0] and size.tolist() == [0, 2 * s, 0, s]


def test_backstop_one_lot_cross_positions_one_unit_from_zero():
    """Mark 47,500.0. Position 0: cross long 1 lot @50,000 (cost 50,000,000), wallet 2,499,999: equity
    2,499,999 - 2,500,000 = -1, bankrupt: taken at ceil((50,000,000 - 2,499,999) / 100) = ceil(475,000.01) =
    475,001; realized 47,500,100 - 50,000,000 = -2,499,900; its wallet keeps 99, which goes to the vault.
    Position 2: cross short 1 lot @50,000, wallet -2,499,999: equity +1 (not bankrupt), below the threshold
    (MM 1,000): taken at the mark, realizes +2,500,000; its wallet is then exactly 1, which goes to the vault."""
    size = np.array([1, 0, -1], dtype=np.int64)
    cost = np.array([50_000_000, 0, -50_000_000], dtype=np.int64)
    wallet = np.array([2_499_999, 10**12, -2_499_999], dtype=np.int64)
    keep = np.zeros(2, dtype=np.int64)
    cols = event_columns()
    book = book_columns(size, cost, wallet)
    taken = take_over(
        np.array([0, 2]), np.array([-1, 1]), np.array([1_000, 1_000]), 2, 3, 1, 475_000, book, V, keep, cols
    )
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
    """300 equal winners (the same score): the first chunk is the queue's first 256 (FIRST_CHUNK) by index, the
    second the other 44; lights by cumulative lots out of 300: position i (i + 1 lots so far) gets
    6 - ceil(5 (i + 1) / 300), clipped to 1..5: 5 for the first 60, ..., 1 for the last 60."""
    book = _many_equal_winners(300)
    excluded = np.zeros(301, dtype=bool)
    excluded[300] = True
    queue = AdlQueue(book, 0, 500_000, V, None, excluded, "queue-bitmex", TIERS)
    queue.extend(0)
    assert int(queue.length[0]) == 256 and queue.queue[0, :256].tolist() == list(range(256))
    assert int(queue.complete[0]) == 0
    queue.extend(0)
    assert int(queue.length[0]) == 300 and queue.queue[0, :300].tolist() == list(range(300))
    lights = [int(np.clip(6 - (-((-5 * (i + 1)) // 300)), 1, 5)) for i in range(300)]
    assert queue.indicator[0, :300].tolist() == lights and lights[0] == 5 and lights[-1] == 1
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
