"""Kraken's liquidation IOC at the bankruptcy price (``[liquidation] order = "bankruptcy-ioc"``,
:mod:`delever.ioc_order`, ../shared/specs/venues.md section 7): the IOC takes a discrete book
(:mod:`delever.level_book`) up to the position's bankruptcy price and stops; what it did not fill is unwound in
the same step against the opposing positions at the bankruptcy price; the fund never pays. Every number is worked
out in the comments.

Instrument: tick 0.1 USD, lot 0.001 BTC (V = 100 money units per lot-tick); Kraken's one tier (MM 1%,
:data:`delever.venues.kraken.LINEAR_TIER`); no liquidation fee (Kraken before 2026-03-26). The mark is the book's
centre, 49,100.0. Position 0 is the liquidated one: an isolated long of 1 BTC (1,000 lots) entered at 50,000.0
with 1,000 USD of margin, so its bankruptcy price is (50,000 x 1 - 1,000) / 1 = 49,000.0 (490,000 ticks, exact)
and its equity at the mark 1,000 + 1 x (49,100 - 50,000) = 100 < MM 491. Position 1: a short of 2 BTC entered at
52,000.0 with 10,000 USD in its wallet (in profit: the unwind's counterparty). Last: a liquidity provider.
"""

import numpy as np
import pytest

from delever import events as ev
from delever.adl.queue import AdlQueue
from delever.adl.trigger import CTL_TRIGGER, TRIGGERS, default_control
from delever.book import Book
from delever.events import EventBuffer
from delever.ioc_order import LIMIT_BANKRUPTCY, LiquidationOrder
from delever.level_book import PriceLevels
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.scenario import default_scenario_path, load_scenario
from delever.units import money
from delever.venues import get_venue
from delever.venues.kraken import LINEAR_TIER

V = 100
MARK = 491_000
BANKRUPTCY = 490_000


def make_book() -> Book:
    """Position 0 (isolated long), position 1 (cross short, the winner), a liquidity provider holding the rest."""
    sizes, entries = [1_000, -2_000], [500_000, 520_000]
    lp = -sum(sizes)
    return Book.from_arrays(
        wallet=[0, money("10000"), money("1000000000")],
        exempt=[False, False, True],
        account=[0, 1, 2],
        size=sizes + [lp],
        cost=[s * e * V for s, e in zip(sizes, entries)] + [lp * 500_000 * V],
        collateral=[money("1000"), 0, 0],
        isolated=[True, False, False],
    )


def bids(*levels_usd: tuple[float, int]) -> tuple:
    """A discrete book with bids at the given prices (USD, lots) and one deep ask, as curve arrays."""
    centre = MARK / 10
    dist = np.array([(centre - px) / centre for px, _ in levels_usd])
    lots = np.array([n for _, n in levels_usd], dtype=np.int64)
    return PriceLevels(dist, lots, np.array([0.001]), np.array([5_000], dtype=np.int64)).curve().arrays()


def liquidate(book, curve, trigger):
    """Run the stage on position 0 with a bankruptcy-price IOC, no fee; returns (event rows, fund after)."""
    fund = np.array([money("1000")], dtype=np.int64)
    upnl = book.size * MARK * V - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    queue = AdlQueue(book, 0, MARK, V, lambda: (pos_eq, acc_eq), excluded, "queue-bitmex",
                     (LINEAR_TIER.floors, LINEAR_TIER.mmr_ppm, LINEAR_TIER.cum))  # fmt: skip
    ctl = default_control()
    ctl[CTL_TRIGGER] = TRIGGERS[trigger]
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account])
    rule = LiquidationOrder(True, limit_rule=LIMIT_BANKRUPTCY)
    run_stage(np.array([0], dtype=np.int64), book, V, 0, float(MARK), np.zeros(1), curve, lp,
              np.ones(lp.size, dtype=np.int64), fund, queue, buf, np.zeros(1, np.int64), 1,
              AccountValuation.single(MARK, V, LINEAR_TIER), ctl, None, rule.at(0))  # fmt: skip
    rows = [{k: int(v[i]) for k, v in buf.cols.items()} for i in range(buf.n)]
    return rows, int(fund[0])


def kinds(rows):
    return [ev.KIND_NAMES[r["kind"]] for r in rows]


# the rest rule is Kraken's whatever the ADL trigger: the same fills under each
TRIGGERS_RUN = pytest.mark.parametrize("trigger", ["negative-equity", "fund-cannot-pay", "zero-fill"])


@TRIGGERS_RUN
def test_the_ioc_fills_the_level_within_bp_and_the_rest_is_unwound_at_bp(trigger):
    # bids 49,050.0 (250 lots, above BP 49,000.0) and 48,900.0 (2,000 lots, below it): the sell IOC takes the
    # first level and stops
    book = make_book()
    before = book.total_money(money("1000"))
    rows, fund = liquidate(book, bids((49_050.0, 250), (48_900.0, 2_000)), trigger)
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "adl_fill", "adl_counterparty_fill"]
    fill, adl = rows[0], rows[2]
    assert fill["size"] == -250 and fill["price"] == 490_500
    # realized on the book: 0.25 x (49,050 - 50,000) = -237.5
    assert fill["amount"] == money("-237.5")
    # the rest, 1,000 - 250 = 750 lots, unwound at BP against the short: realized 0.75 x (49,000 - 50,000) = -750
    assert adl["size"] == -750 and adl["price"] == BANKRUPTCY and adl["counterparty"] == 1
    assert adl["amount"] == money("-750")
    # fund delta of the fill: gap = E - k (mark - vk) V - floor(E (q - k) / q) = 100 - 0.25 x 50 - 100 x 0.75
    # = 12.5 = k x (vk - BP) = 0.25 x 50 >= 0: the fund pays nothing; no fee, so the client keeps the 12.5:
    # margin 1,000 - 237.5 - 750 = 12.5, back in the wallet once flat
    assert fund == money("1000")
    assert book.size[0] == 0 and book.collateral[0] == 0 and book.wallet[0] == money("12.5")
    # the short bought 0.75 BTC at 49,000.0: realized 0.75 x (52,000 - 49,000) = 2,250 on 10,000
    assert book.size[1] == -1_250 and book.wallet[1] == money("12250")
    assert book.total_money(fund) == before  # money conserved to the unit


@TRIGGERS_RUN
def test_a_first_level_beyond_bp_fills_nothing_and_everything_is_unwound(trigger):
    # the best bid 48,950.0 is below BP 49,000.0: the IOC fills nothing; all 1,000 lots unwound at 49,000.0
    book = make_book()
    before = book.total_money(money("1000"))
    rows, fund = liquidate(book, bids((48_950.0, 2_000)), trigger)
    assert kinds(rows) == ["adl_fill", "adl_counterparty_fill"]
    assert rows[0]["size"] == -1_000 and rows[0]["price"] == BANKRUPTCY
    # realized 1 x (49,000 - 50,000) = -1,000: the margin ends at exactly 0; the fund untouched
    assert book.size[0] == 0 and book.collateral[0] == 0 and book.wallet[0] == 0 and fund == money("1000")
    # the short: 2,000 - 1,000 lots left; realized 1 x (52,000 - 49,000) = 3,000 on 10,000
    assert book.size[1] == -1_000 and book.wallet[1] == money("13000")
    assert book.total_money(fund) == before


def test_a_level_at_exactly_bp_is_within_the_limit():
    # one bid at 49,000.0 = BP: the IOC sells the whole position there, gap = 1 x (49,000 - 49,000) = 0: the
    # margin ends at 0, nothing unwound, the fund untouched
    book = make_book()
    rows, fund = liquidate(book, bids((49_000.0, 2_000)), "negative-equity")
    assert kinds(rows) == ["liquidation_fill", "lp_fill"] and rows[0]["price"] == BANKRUPTCY
    assert book.size[0] == 0 and book.wallet[0] == 0 and book.collateral[0] == 0 and fund == money("1000")


def test_the_option_validates_and_kraken_selects_it():
    sc = load_scenario(default_scenario_path(), {"liquidation": {"order": "bankruptcy-ioc"}})
    rule = sc.liquidation.order_rule()
    assert rule.ioc and rule.limit_rule == LIMIT_BANKRUPTCY
    kraken = get_venue("kraken")
    assert kraken.scenario_overrides()["liquidation"]["order"] == "bankruptcy-ioc"
    assert kraken.engine_adl_rule()["trigger"] == "negative-equity"
    # only the unpublished assignment stays listed, as a stand-in
    assert kraken.engine_gaps() == []
    stand_ins = [g for g in kraken.engine_stand_ins() if g.startswith("liquidation style")]
    assert len(stand_ins) == 1 and "not published" in stand_ins[0] and "negative-equity order" not in stand_ins[0]


SMALL = {
    "book": {"generator": {"accounts": 600}},
    "prices": {"start": "2025-10-10T21:12:00Z", "end": "2025-10-10T21:22:00Z"},
    "liquidity": {"depth_scale": 0.0005},
    "insurance_fund": {"balance": "2000"},
    "liquidation": {"order": "bankruptcy-ioc"},
    "adl": {"trigger": "negative-equity"},
}


@pytest.mark.parametrize("spacing", [None, "0.002"], ids=["depth-curve", "levels-every-0.002pct"])
def test_a_run_never_draws_the_fund_and_conserves_money(spacing):
    from delever.engine import prepare, run

    extra = {**SMALL, "liquidity": {**SMALL["liquidity"], "levels": {"spacing_pct": spacing}}} if spacing else SMALL
    sc = load_scenario(default_scenario_path(), extra)
    r = run(sc, 0, market=prepare(sc, 0), check_every_step=True)
    assert r.money_end == r.money_start  # and at every step (the engine's check)
    long_, short = r.book.open_interest(0)
    assert long_ == short
    kind = r.events["kind"]
    # fills never worse than BP: the fund pays nothing, no bad debt; the unfilled rests were unwound
    assert not np.isin(kind, [ev.INSURANCE_PAYOUT, ev.BAD_DEBT]).any()
    assert (kind == ev.LIQUIDATION_FILL).any() and (kind == ev.ADL_FILL).any()
