"""Discrete order books (:mod:`delever.level_book`): loading an L2 snapshot, generating levels from the curve, and
how many lots a limit order can take (:func:`delever.liquidity.lots_within_limit`). Numbers by hand in comments."""

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from delever.errors import InputError
from delever.instruments import Instrument
from delever.level_book import PriceLevels, levels_from_curve, load_levels
from delever.liquidity import DepthCurve, lots_within_limit, marginal_price, vwap
from delever.tiers import BINANCE_BTCUSDT_2021

INST = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)
CENTRE = 500_000.0  # 50,000.0 USDT in ticks of 0.1

# mid (49,950 + 50,050) / 2 = 50,000: bids at 0.1% and 1% from it, asks at 0.1% and 0.4%
SNAPSHOT = "side,price,size\nbid,49950,1\nbid,49500,2\nask,50050,0.25\nask,50200,0.5\n"


def write(tmp_path, text: str, name: str = "l2.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def book(tmp_path) -> tuple:
    return load_levels(write(tmp_path, SNAPSHOT), INST).curve().arrays()


def test_snapshot_levels_at_their_distances_from_the_mid(tmp_path):
    lv = load_levels(write(tmp_path, SNAPSHOT), INST)
    assert lv.bid_distance.tolist() == pytest.approx([0.001, 0.01])
    assert lv.bid_lots.tolist() == [1_000, 2_000]  # 1 BTC, 2 BTC in lots of 0.001
    assert lv.ask_distance.tolist() == pytest.approx([0.001, 0.004])
    assert lv.ask_lots.tolist() == [250, 500]


def test_parquet_snapshot_reads_as_the_csv(tmp_path):
    table = pa.table({"side": ["ask", "bid", "ask", "bid"], "price": [50050.0, 49950.0, 50200.0, 49500.0],
                      "size": [0.25, 1.0, 0.5, 2.0]})  # fmt: skip
    pq.write_table(table, tmp_path / "l2.parquet")
    a = load_levels(tmp_path / "l2.parquet", INST)
    b = load_levels(write(tmp_path, SNAPSHOT), INST)
    assert a.ask_lots.tolist() == b.ask_lots.tolist() and a.bid_lots.tolist() == b.bid_lots.tolist()


@pytest.mark.parametrize(
    "text, row, field",
    [
        ("side,price\nbid,1\n", 1, None),
        ("side,price,size\nbid,49950,1\nmid,50000,1\nask,50050,1\n", 3, "side"),
        ("side,price,size\nbid,x,1\nask,50050,1\n", 2, "price"),
        ("side,price,size\nbid,49950,-1\nask,50050,1\n", 2, "size"),
        ("side,price,size\nbid,49950,0.0004\nask,50050,1\n", 2, "size"),
        ("side,price,size\nbid,50050,1\nask,50050,1\n", None, "price"),
        ("side,price,size\nask,50050,1\n", None, "side"),
        ("side,price,size\nbid,49950,1\nask,50050,1\nask,200000,1\n", None, "price"),
    ],
    ids=[
        "missing-size-column",
        "unknown-side",
        "price-not-a-number",
        "negative-size",
        "under-one-lot",
        "locked-book",
        "no-bids",
        "ask-beyond-max-impact",
    ],  # fmt: skip
)
def test_bad_snapshot_names_file_row_and_field(tmp_path, text, row, field):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_levels(path, INST)
    assert err.value.file == str(path) and err.value.row == row and err.value.field == field


def test_missing_snapshot_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_levels(tmp_path / "none.csv", INST)


def test_two_asks_an_ioc_buy_takes_the_first_and_stops(book):
    # a buy of 1 BTC limited at 50,100.0: the ask at 50,050 (0.25 BTC) is within, the one at 50,200 is not:
    # it takes 250 lots and stops
    assert lots_within_limit(CENTRE, 0.0, 1, 501_000, book) == 250.0
    # its VWAP is the first level's price: 50,050.0 (float: 500,499.99999999994 ticks)
    assert vwap(CENTRE, 0.0, 250.0, book) == pytest.approx(500_500.0)
    # after it, nothing is left within the limit
    assert lots_within_limit(CENTRE, 250.0, 1, 501_000, book) == 0.0


@pytest.mark.parametrize(
    "side, limit, lots",
    [
        (1, 500_499, 0.0),  # below the best ask: nothing
        (1, 500_500, 250.0),  # exactly at the best ask: it counts
        (1, 502_000, 750.0),  # both asks
        (1, 499_000, 0.0),  # a buy below the centre with no bid consumed: nothing
        (-1, 499_501, 0.0),  # a sell above the best bid
        (-1, 499_500, 1_000.0),  # exactly at the best bid
        (-1, 495_000, 3_000.0),  # both bids
        (-1, 501_000, 0.0),  # a sell above the centre with no ask consumed: nothing
    ],
    ids=[
        "buy-below-best-ask",
        "buy-at-best-ask",
        "buy-through-both",
        "buy-below-centre",
        "sell-above-best-bid",
        "sell-at-best-bid",
        "sell-through-both",
        "sell-above-centre",
    ],  # fmt: skip
)
def test_lots_within_a_limit_from_a_fresh_book(book, side, limit, lots):
    assert lots_within_limit(CENTRE, 0.0, side, limit, book) == lots


def test_consumed_levels_are_not_offered_again_until_the_book_refills(book):
    # 100 lots of the first ask consumed (net +100): 150 left at 50,050; after a refill to net 40, 210
    assert lots_within_limit(CENTRE, 100.0, 1, 501_000, book) == 150.0
    assert lots_within_limit(CENTRE, 40.0, 1, 501_000, book) == 210.0
    # a buy after sells (net -300, bids eaten) may first take back the eaten bids, priced below the centre
    assert lots_within_limit(CENTRE, -300.0, 1, 500_000, book) == 300.0


def test_marginal_price_is_the_level_reached_and_the_centre_at_rest(book):
    assert marginal_price(CENTRE, 0.0, book) == CENTRE  # nothing consumed: the centre, as the curve's
    assert marginal_price(CENTRE, 100.0, book) == pytest.approx(500_500.0)  # inside the first ask
    assert marginal_price(CENTRE, 250.0, book) == pytest.approx(502_000.0)  # the first ask used up: the second
    assert marginal_price(CENTRE, -1_500.0, book) == pytest.approx(495_000.0)  # the second bid


def test_past_the_last_level_the_book_is_unlimited_at_max_impact(book):
    # 750 ask lots, then unlimited at 90% from the centre: a market buy of 1,000 lots pays
    # (250 x 50,050 + 500 x 50,200 + 250 x 95,000) / 1,000 = (12,512,500 + 25,100,000 + 23,750,000) / 1,000
    # = 61,362.5
    assert vwap(CENTRE, 0.0, 1_000.0, book) == pytest.approx(613_625.0)


def test_generated_levels_hold_the_curve_depth_floored_to_lots():
    # linear curve: 100 lots per 1% each side; levels every 0.25% hold 25 lots each out to 90%
    curve = DepthCurve.linear(100.0)
    lv = levels_from_curve(curve, 0.0025)
    assert lv.ask_distance[:3] == pytest.approx([0.0025, 0.005, 0.0075])
    assert lv.ask_lots[:3].tolist() == [25, 25, 25] and lv.bid_lots[:3].tolist() == [25, 25, 25]
    # the total never exceeds the curve's depth to the last level (floors carry): 360 levels x 25 = 9,000 lots
    assert int(lv.ask_lots.sum()) == 9_000


def test_generated_levels_carry_the_floors_remainder():
    # 10 lots per 1%, levels every 0.15%: cumulative 1.5, 3.0, 4.5, 6.0 -> floors 1, 3, 4, 6 -> levels 1, 2, 1, 2
    lv = levels_from_curve(DepthCurve.linear(10.0), 0.0015)
    assert lv.ask_lots[:4].tolist() == [1, 2, 1, 2]


def test_step_curve_of_levels_matches_a_hand_walk():
    lv = PriceLevels(np.array([0.01]), np.array([10]), np.array([0.02, 0.03]), np.array([5, 5]))
    c = lv.curve()
    assert c.distance.tolist() == [0.0, 0.01, 0.01, 0.02, 0.02, 0.03, 0.03, 0.9]
    assert c.ask_lots.tolist() == [0, 0, 0, 0, 5, 5, 10, 10]
    assert c.bid_lots.tolist() == [0, 0, 10, 10, 10, 10, 10, 10]
    # selling 10 lots from a book at 1,000: all at 990 -> VWAP 990
    assert vwap(1_000.0, 0.0, -10.0, c.arrays()) == pytest.approx(990.0)
