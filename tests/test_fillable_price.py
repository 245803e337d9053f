"""dYdX v4's fillable price (:mod:`delever.fillable_price`): ``(PNNV - ABR * SMMR * PMMR) / PS`` with
``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)`` (../shared/specs/engines.md section 1, ``liquidations.go``), the
reference in Fractions and the engine's integer form, hand-worked and tested equal."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delever.fillable_price import (
    adjusted_bankruptcy_rating,
    fillable_limit_ticks,
    fillable_price,
    fillable_price_ticks,
)
from delever.units import MONEY_SCALE

F = Fraction
TICK = F(1, 10)  # 0.1 USDT
LOT = F(1, 1000)  # 0.001 BTC
V = 100  # money per lot-tick: 0.1 x 0.001 x 1e6


@pytest.mark.parametrize(
    "tnc, tmmr, ba, abr",
    [
        (1_500, 1_500, 1, 0),  # at the liquidation threshold: 1 - 1 = 0
        (2_000, 1_500, 1, 0),  # above it: clamped at 0
        (750, 1_500, 1, F(1, 2)),  # half way: 1 x (1 - 0.5)
        (500, 1_500, 1, F(2, 3)),  # 1 - 1/3
        (0, 1_500, 1, 1),  # bankrupt: 1
        (-100, 1_500, 1, 1),  # below: clamped at 1
        (750, 1_500, F(3, 2), F(3, 4)),  # BA 1.5: 1.5 x 0.5
        (500, 1_500, 2, 1),  # BA 2: 2 x 2/3 = 4/3 -> 1
    ],
    ids=[
        "at-threshold",
        "above-threshold",
        "half-way",
        "two-thirds",
        "bankrupt",
        "negative-tnc",
        "ba-1.5",
        "ba-2-clamped",
    ],  # fmt: skip
)
def test_adjusted_bankruptcy_rating(tnc, tmmr, ba, abr):
    assert adjusted_bankruptcy_rating(F(tnc), F(tmmr), F(ba)) == abr


@pytest.mark.parametrize(
    "size, tnc, pmmr, smmr, price",
    [
        # long 1 BTC, oracle 50,000, TMMR = PMMR 1,500, TNC 750: 50,000 - 0.5 x 0.1 x 1,500 / 1 = 49,925
        (1, 750, 1_500, F(1, 10), 49_925),
        # the short mirrored: 50,000 + 75 = 50,075
        (-1, 750, 1_500, F(1, 10), 50_075),
        # 2 BTC long, PMMR 3,000, TMMR 3,000, TNC 0 (ABR 1): 50,000 - 0.1 x 3,000 / 2 = 49,850
        (2, 0, 3_000, F(1, 10), 49_850),
        # the testnet SMMR 1.5, 0.5 BTC long, PMMR = TMMR 750, TNC 375 (ABR 0.5): 50,000 - 0.5 x 1.5 x 750 / 0.5
        # = 50,000 - 1,125 = 48,875
        (F(1, 2), 375, 750, F(3, 2), 48_875),
    ],
    ids=["long-half-way", "short-half-way", "long-bankrupt", "testnet-smmr"],
)
def test_fillable_price_by_hand(size, tnc, pmmr, smmr, price):
    assert fillable_price(F(50_000), F(size), F(tnc), F(pmmr), F(pmmr), smmr=smmr) == price


def test_fillable_price_depends_on_size_not_on_the_liquidated_part():
    # a long of 2 BTC at TNC/TMMR 0.5 with its own MM 3,000: 50,000 - 0.5 x 0.1 x 3,000 / 2 = 49,925, the same per
    # unit as 1 BTC with MM 1,500
    assert fillable_price(F(50_000), F(2), F(1_500), F(3_000), F(3_000)) == 49_925


@pytest.mark.parametrize(
    "price, side, ticks", [(F("49925.05"), 1, 499_251), (F("49925.05"), -1, 499_250), (F(49_925), 1, 499_250)],
    ids=["sell-rounds-up", "buy-rounds-down", "on-a-tick"],
)  # fmt: skip
def test_fillable_price_in_ticks_rounds_toward_the_oracle(price, side, ticks):
    assert fillable_price_ticks(price, TICK, side) == ticks


def test_engine_form_by_hand():
    # the short of tests/test_ioc_order.py: mark 500,000 ticks, -1,000 lots, TNC 500, TMMR = PMMR 1,500 USDT:
    # distance 2/3 x 0.1 x 1,500e6 / (1,000 x 100) = 1,000 ticks -> 501,000
    assert fillable_limit_ticks(500_000, -1_000, V, 500 * MONEY_SCALE, 1_500 * MONEY_SCALE, 1_500 * MONEY_SCALE) == (
        501_000
    )
    # the long: mark 489,000, TNC -100, PMMR 1,467: distance 0.1 x 1,467e6 / 1e5 = 1,467 ticks -> 487,533
    assert fillable_limit_ticks(489_000, 1_000, V, -100 * MONEY_SCALE, 1_467 * MONEY_SCALE, 1_467 * MONEY_SCALE) == (
        487_533
    )
    # healthy (TNC >= TMMR) or nothing at risk: the mark
    assert fillable_limit_ticks(489_000, 1_000, V, 2_000, 1_000, 1_000) == 489_000
    assert fillable_limit_ticks(489_000, -1_000, V, 0, 0, 0) == 489_000


@given(
    mark=st.integers(1, 10**9),
    size=st.integers(-(10**9), 10**9).filter(lambda s: s != 0),
    tnc=st.integers(-(10**15), 10**15),
    tmmr=st.integers(1, 10**15),
    pmmr_part=st.fractions(0, 1),
    ba_ppm=st.integers(10**6, 5 * 10**6),
    smmr_ppm=st.integers(1, 2 * 10**6),
)
def test_engine_form_equals_the_reference(mark, size, tnc, tmmr, pmmr_part, ba_ppm, smmr_ppm):
    pmmr = int(tmmr * pmmr_part)  # a position's own MM is at most the account's
    got = fillable_limit_ticks(mark, size, V, tnc, tmmr, pmmr, ba_ppm, smmr_ppm)
    scale = F(MONEY_SCALE)
    ref = fillable_price(mark * TICK, size * LOT, tnc / scale, tmmr / scale, pmmr / scale,
                         ba=F(ba_ppm, 10**6), smmr=F(smmr_ppm, 10**6))  # fmt: skip
    want = fillable_price_ticks(ref, TICK, 1 if size > 0 else -1)
    assert got == max(want, 1)
