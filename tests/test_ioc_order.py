"""The fillable-price IOC liquidation order (:mod:`delever.ioc_order`) on hand-made books and discrete order
books, every number worked out in the comments.

Instrument: tick 0.1 USDT, lot 0.001 BTC (V = 100 money units per lot-tick); dYdX's Large-Cap tier (MM 3%, no
brackets; :mod:`delever.venues.dydx`); BA 1.0, SMMR 0.1 (``LiquidationsConfig_Default``, engines.md section 1).
The mark is the book's centre. Position 0 is the one liquidated (isolated), then opposite counterparties
(cross), then one liquidity provider.
"""

import numpy as np
import pytest

from delever import events as ev
from delever.adl.queue import AdlQueue
from delever.adl.trigger import CTL_TRIGGER, TRIGGERS, default_control
from delever.book import Book
from delever.events import EventBuffer
from delever.ioc_order import NO_CAP, LiquidationOrder
from delever.level_book import PriceLevels
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.units import money
from delever.venues.dydx import LARGE_CAP

V = 100
FEE_PPM = 5_000  # dYdX MaxLiquidationFeePpm 0.5%


def make_book(size: int, entry: int, margin: str, others: list[tuple[int, int, str]] = ()) -> Book:
    """Position 0: isolated ``size`` lots at ``entry`` ticks with ``margin`` USDT; then cross positions (lots,
    entry ticks, wallet USDT); last: a liquidity provider holding the opposite of the rest."""
    sizes = [size] + [s for s, _, _ in others]
    costs = [size * entry * V] + [s * e * V for s, e, _ in others]
    lp = -sum(sizes)
    n = len(sizes) + 1
    return Book.from_arrays(
        wallet=[0] + [money(w) for _, _, w in others] + [money("1000000000")],
        exempt=[False] * (n - 1) + [True],
        account=list(range(n)),
        size=sizes + [lp],
        cost=costs + [lp * entry * V],
        collateral=[money(margin)] + [0] * (n - 1),
        isolated=[True] + [False] * (n - 1),
    )


def levels(bids: list[tuple[float, int]], asks: list[tuple[float, int]]) -> tuple:
    """A discrete book's curve arrays: (distance from the centre, lots) per side."""
    return PriceLevels(
        np.array([d for d, _ in bids]), np.array([n for _, n in bids], dtype=np.int64),
        np.array([d for d, _ in asks]), np.array([n for _, n in asks], dtype=np.int64),
    ).curve().arrays()  # fmt: skip


def liquidate(book, mark, fund_usdt, curve, trigger="zero-fill", rule=None, t=0):
    """Run the stage on position 0 with an IOC order; returns (event rows, fund after, book state)."""
    fund = np.array([money(fund_usdt)], dtype=np.int64)
    state = np.zeros(1)
    upnl = book.size * mark * V - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    queue = AdlQueue(book, 0, mark, V, lambda: (pos_eq, acc_eq), excluded, "queue-bitmex",
                     (LARGE_CAP.floors, LARGE_CAP.mmr_ppm, LARGE_CAP.cum))  # fmt: skip
    ctl = default_control()
    ctl[CTL_TRIGGER] = TRIGGERS[trigger]
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account])
    rule = rule or LiquidationOrder(True)
    run_stage(np.array([0], dtype=np.int64), book, V, FEE_PPM, float(mark), state, curve, lp,
              np.ones(lp.size, dtype=np.int64), fund, queue, buf, np.zeros(1, np.int64), 1,
              AccountValuation.single(mark, V, LARGE_CAP), ctl, None, rule.at(t))  # fmt: skip
    rows = [{k: int(v[i]) for k, v in buf.cols.items()} for i in range(buf.n)]
    return rows, int(fund[0]), state[0]


def kinds(rows):
    return [ev.KIND_NAMES[r["kind"]] for r in rows]


# A short of 1 BTC entered at 48,000 with 2,500 USDT, mark 50,000: uPnL -2,000, TNC 500; MM 3% x 50,000 = 1,500.
# ABR = 1 x (1 - 500 / 1,500) = 2/3; fillable = 50,000 + 2/3 x 0.1 x 1,500 / 1 = 50,100.0 (a buy: rounded down).
# The book: asks at +0.1% (50,050.0, 0.25 BTC) and +0.4% (50,200.0, 0.5 BTC).
SHORT = (-1_000, 480_000, "2500")
TWO_ASKS = levels([(0.001, 2_000)], [(0.001, 250), (0.004, 500)])


def test_two_asks_the_ioc_fills_a_quarter_and_stops():
    book = make_book(*SHORT)
    before = book.total_money(0) + money("1000")
    rows, fund, state = liquidate(book, 500_000, "1000", TWO_ASKS)
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "liquidation_fee"]
    fill = rows[0]
    assert fill["size"] == 250 and fill["price"] == 500_500  # 0.25 BTC at 50,050.0, then stops below 50,200
    assert book.size[0] == -750 and state == pytest.approx(250.0)  # 0.75 BTC stays open
    # realized: 0.25 x (48,000 - 50,050) = -512.5
    assert fill["amount"] == money("-512.5")
    # fund delta: E - sg k (mark - vk) V - floor(E (q - k) / q) = 500 + 0.25 x (50,000 - 50,050) - 500 x 0.75
    # = 500 - 12.5 - 375 = 112.5 > 0: the account pays min(112.5, ceil(0.5% x 12,512.5)) = 62.5625
    assert rows[2]["amount"] == -money("62.5625") and fund == money("1062.5625")
    # margin 2,500 - 512.5 - 62.5625 = 1,924.9375; the surplus 112.5 - 62.5625 stays with the trader
    assert book.collateral[0] == money("1924.9375")
    assert book.total_money(fund) == before


def test_a_limit_beyond_both_asks_fills_the_whole_position_at_their_vwap():
    # the short above (TNC 500, limit 50,100) against asks at +0.1% and +0.15%: both within the limit, VWAP
    # (250 x 50,050 + 750 x 50,075) / 1,000 = 50,068.75 -> rounded up (a buy) 50,068.8
    book = make_book(*SHORT)
    rows, fund, _ = liquidate(book, 500_000, "1000", levels([(0.001, 2_000)], [(0.001, 250), (0.0015, 750)]))
    assert rows[0]["size"] == 1_000 and rows[0]["price"] == 500_688
    assert book.size[0] == 0 and book.collateral[0] == 0  # flat: the isolated margin went home
    # realized 1 x (48,000 - 50,068.8) = -2,068.8; left 431.2; fee min(431.2, ceil(0.5% x 50,068.8)) = 250.344
    assert rows[-1]["kind"] == ev.LIQUIDATION_FEE and rows[-1]["amount"] == -money("250.344")
    assert book.wallet[0] == money("180.856") and fund == money("1250.344")


# A long of 1 BTC entered at 50,000 with 1,000 USDT, mark 48,900: uPnL -1,100, TNC -100 < 0. MM 3% x 48,900 =
# 1,467; ABR = clamp(1 - (-100 / 1,467)) = 1; fillable = 48,900 - 0.1 x 1,467 = 48,753.3 (a sell: rounded up).
# Bankruptcy price (50,000 - 1,000) / 1 = 49,000.0. A counterparty: a short of 2 BTC at 52,000 (in profit).
LONG = (1_000, 500_000, "1000")
WINNER = [(-2_000, 520_000, "10000")]


def test_zero_fill_with_negative_tnc_deleverages_the_whole_position():
    book = make_book(*LONG, WINNER)
    before = book.total_money(0) + money("1000")
    # the only bid is at 48,700 (-0.409%), below the limit 48,753.3: the IOC fills nothing
    rows, fund, state = liquidate(book, 489_000, "1000", levels([(200 / 48_900, 2_000)], [(0.001, 2_000)]))
    assert kinds(rows) == ["adl_fill", "adl_counterparty_fill"]
    assert rows[0]["size"] == -1_000 and rows[0]["price"] == 490_000 and rows[0]["counterparty"] == 1
    assert state == 0.0 and fund == money("1000")  # nothing on the book, nothing from the fund
    # closed at the bankruptcy price: realized -1,000 takes the margin to exactly 0
    assert book.size[0] == 0 and book.collateral[0] == 0 and book.wallet[0] == 0
    assert book.size[1] == -1_000
    assert book.total_money(fund) == before


def test_a_partial_fill_blocks_deleveraging_in_that_step():
    book = make_book(*LONG, WINNER)
    before = book.total_money(0) + money("1000")
    # bids at 48,800 (0.25 BTC, within the limit) and 48,700: the IOC sells 250 lots at 48,800 and stops
    rows, fund, _ = liquidate(book, 489_000, "1000", levels([(100 / 48_900, 250), (200 / 48_900, 2_000)],
                                                             [(0.001, 2_000)]))  # fmt: skip
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "insurance_payout"]
    assert rows[0]["size"] == -250 and rows[0]["price"] == 488_000
    # gap = -100 - 0.25 x (48,900 - 48,800) - floor(-100 x 0.75) = -100 - 25 + 75 = -50: the fund pays 50
    assert rows[2]["amount"] == money("50") and fund == money("950")
    # no deleveraging although TNC < 0: 750 lots stay open, the counterparty untouched
    assert book.size[0] == 750 and book.size[1] == -2_000
    # the position keeps exactly its share: collateral 1,000 - 300 (realized 0.25 x -1,200) + 50 = 750;
    # equity at the mark 750 + 0.75 x (48,900 - 50,000) = -75 = -100 x 0.75
    assert book.collateral[0] == money("750")
    assert book.total_money(fund) == before


def test_a_fill_the_fund_cannot_pay_is_not_made_beyond_what_it_can():
    book = make_book(*LONG, WINNER)
    # payout(k) = 100 + 0.1 k - 100 (1,000 - k) / 1,000 = 0.2 k USDT for k lots at 48,800: 40 USDT pays 200 lots
    rows, fund, _ = liquidate(book, 489_000, "40", levels([(100 / 48_900, 250), (200 / 48_900, 2_000)],
                                                           [(0.001, 2_000)]))  # fmt: skip
    assert rows[0]["size"] == -200 and rows[2]["amount"] == money("40") and fund == 0
    assert book.size[0] == 800 and book.size[1] == -2_000  # a partial fill: no deleveraging


def test_insurance_lost_per_account_per_step_is_capped_then_zero_fill_deleverages():
    # MaxQuantumsInsuranceLost 30 USDT: 0.2 k <= 30 -> 150 lots, the fund pays 30
    rule = LiquidationOrder(True, max_lost=money("30"))
    bids_asks = levels([(100 / 48_900, 250), (200 / 48_900, 2_000)], [(0.001, 2_000)])
    book = make_book(*LONG, WINNER)
    rows, fund, _ = liquidate(book, 489_000, "1000", bids_asks, rule=rule, t=7)
    assert rows[0]["size"] == -150 and rows[2]["amount"] == money("30") and fund == money("970")
    assert book.size[0] == 850
    # later in the same step the account's cap is used up: its next order fills nothing and, TNC < 0, the whole
    # position is deleveraged at its bankruptcy price
    rows, fund, _ = liquidate(book, 489_000, "970", bids_asks, rule=rule, t=7)
    assert kinds(rows) == ["adl_fill", "adl_counterparty_fill"] and rows[0]["size"] == -850
    # a new step starts a new count: 30 USDT again
    book = make_book(*LONG, WINNER)
    rows, _, _ = liquidate(book, 489_000, "1000", bids_asks, rule=rule, t=8)
    assert rows[0]["size"] == -150


def test_zero_fill_with_tnc_at_or_above_zero_leaves_the_position_open():
    # the long with 1,200 USDT of margin: TNC +100 >= 0; the IOC finds no bid within its limit: nothing happens
    book = make_book(1_000, 500_000, "1200", WINNER)
    rows, fund, _ = liquidate(book, 489_000, "1000", levels([(200 / 48_900, 2_000)], [(0.001, 2_000)]))
    assert rows == [] and book.size[0] == 1_000 and fund == money("1000")


def test_under_fund_cannot_pay_the_unpaid_part_is_deleveraged_in_the_same_step():
    # the fund-cannot-pay trigger with an IOC: 40 USDT covers 200 lots on the book; the rest of what the limit
    # allowed (250 - 200 = 50 lots) goes to ADL at the bankruptcy price 49,000; 750 lots stay open
    book = make_book(*LONG, WINNER)
    before = book.total_money(0) + money("40")
    rows, fund, _ = liquidate(book, 489_000, "40", levels([(100 / 48_900, 250), (200 / 48_900, 2_000)],
                                                           [(0.001, 2_000)]), trigger="fund-cannot-pay")  # fmt: skip
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "insurance_payout", "adl_fill", "adl_counterparty_fill"]
    assert rows[3]["size"] == -50 and rows[3]["price"] == 490_000
    assert book.size[0] == 750 and fund == 0
    assert book.total_money(fund) == before


def test_market_order_rule_is_the_default_and_caps_need_the_ioc():
    rule = LiquidationOrder(False)
    assert rule.columns(np.array([0]), None, None, V, 3).on == 0
    assert LiquidationOrder(True).max_lost == NO_CAP


# --- where a better fill's surplus goes ([liquidation] surplus) ---------------------------------------------------


def market_close(book, centre, fund_usdt, surplus_to_fund):
    """tests/test_liquidation.py's first case under both surplus rules: a market order (no IOC) on a linear book
    of 1,000 BTC per 1% (fill 47,599.7 for the isolated long of 1 BTC @50,000 with 2,500 USDT, fee 0.1%)."""
    from delever.liquidity import DepthCurve

    fund = np.array([money(fund_usdt)], dtype=np.int64)
    mark = centre
    upnl = book.size * mark * V - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    queue = AdlQueue(book, 0, mark, V, lambda: (pos_eq, book.wallet.copy()), excluded, "queue-bitmex",
                     (LARGE_CAP.floors, LARGE_CAP.mmr_ppm, LARGE_CAP.cum))  # fmt: skip
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account])
    run_stage(np.array([0], dtype=np.int64), book, V, 1_000, float(centre), np.zeros(1),
              DepthCurve.linear(1_000_000.0).arrays(), lp, np.ones(lp.size, dtype=np.int64), fund, queue, buf,
              np.zeros(1, np.int64), 1, AccountValuation.single(mark, V), None, None,
              LiquidationOrder(False, surplus_to_fund=surplus_to_fund))  # fmt: skip
    rows = [{k: int(v[i]) for k, v in buf.cols.items()} for i in range(buf.n)]
    return rows, int(fund[0])


@pytest.mark.parametrize(
    "to_fund, fee, wallet",
    [
        # the trader keeps the surplus after the fee: fee 0.1% x 47,599.7 = 47.5997; 99.7 - 47.5997 = 52.1003 home
        (False, "47.5997", "52.1003"),
        # BitMEX/Bybit: the fund takes the whole surplus over the bankruptcy price 47,500: 99.7 (the fee included)
        (True, "99.7", "0"),
    ],
    ids=["surplus-to-trader", "surplus-to-fund"],
)
def test_a_better_fill_surplus_goes_where_the_rule_says(to_fund, fee, wallet):
    book = make_book(1_000, 500_000, "2500")
    before = book.total_money(0) + money("1000")
    rows, fund = market_close(book, 476_000, "1000", to_fund)
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "liquidation_fee"]
    assert rows[0]["price"] == 475_997 and rows[2]["amount"] == -money(fee)
    assert book.wallet[0] == money(wallet) and fund == money("1000") + money(fee)
    assert book.total_money(fund) == before


def test_ioc_surplus_to_the_fund_takes_the_whole_gap():
    # the short of the first IOC test: gap 112.5 > 0; the fund takes all of it instead of the 62.5625 fee
    book = make_book(*SHORT)
    before = book.total_money(0) + money("1000")
    rows, fund, _ = liquidate(book, 500_000, "1000", TWO_ASKS, rule=LiquidationOrder(True, surplus_to_fund=True))
    assert rows[2]["amount"] == -money("112.5") and fund == money("1112.5")
    # margin 2,500 - 512.5 - 112.5 = 1,875; equity at the mark 1,875 - 0.75 x 2,000 = 375 = 500 x 0.75: its share
    assert book.collateral[0] == money("1875")
    assert book.total_money(fund) == before
