"""Black-76 prices and greeks, option series and their values in integer money (issue #16)."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.options.black76 import black76_delta, black76_price, black76_vega
from delever.options.series import (
    CALL,
    COIN_SCALE,
    FUTURE,
    PUT,
    OptionSeries,
    SeriesTable,
    position_value_money,
    settlement_payoff_money,
    unit_values,
)
from delever.units import MONEY_SCALE


@pytest.mark.parametrize(
    ("forward", "strike", "vol", "years", "is_call", "discount", "published", "tol"),
    [
        # vollib 1.0.11, vollib.black.undiscounted_black doctest: F=100, K=100, sigma=0.2, t=0.5, call
        (100.0, 100.0, 0.2, 0.5, True, 1.0, 5.637197779701664, 1e-12),
        # vollib 1.0.11, vollib.black.black doctest: same with r=0.02, discount exp(-0.02*0.5)
        (100.0, 100.0, 0.2, 0.5, True, np.exp(-0.02 * 0.5), 5.5811067246048118, 1e-12),
        # Hull, Options Futures and Other Derivatives, Black's model example: European put on a future,
        # F0 = K = 20, r = 9%, T = 4 months, sigma = 25%: p = e^{-0.03} [20 N(0.07216) - 20 N(-0.07216)] = 1.12
        (20.0, 20.0, 0.25, 4 / 12, False, np.exp(-0.09 * 4 / 12), 1.12, 0.005),
    ],
    ids=["vollib-undiscounted-atm-call", "vollib-discounted-atm-call", "hull-atm-futures-put"],
)
def test_black76_matches_published_examples(forward, strike, vol, years, is_call, discount, published, tol):
    assert black76_price(forward, strike, vol, years, is_call, discount) == pytest.approx(published, abs=tol)


def test_greeks_match_vollib():
    # vollib 1.0.11 (vollib.black.greeks.analytical, run once outside the project): F=100, K=110, sigma=0.2,
    # t=0.5, r=0: delta('c') = 0.2731764940225688, vega = 0.23516737297119228 per 1% = 23.5167... per 1.00
    assert black76_delta(100.0, 110.0, 0.2, 0.5, True) == pytest.approx(0.2731764940225688, abs=1e-14)
    assert black76_vega(100.0, 110.0, 0.2, 0.5) == pytest.approx(23.516737297119228, abs=1e-11)


def test_black76_atm_closed_form():
    # at the money d1 = sigma sqrt(T)/2, so call = put = F (2 N(sigma sqrt(T)/2) - 1); for sigma sqrt(T) = 0.5:
    # N(0.25) = 0.598706326, so 100,000 x 0.197412651 = 19,741.2651
    call = black76_price(100_000.0, 100_000.0, 0.5, 1.0, True)
    put = black76_price(100_000.0, 100_000.0, 0.5, 1.0, False)
    assert call == pytest.approx(19_741.2651, abs=1e-3)
    assert put == pytest.approx(call, rel=1e-12)


@pytest.mark.parametrize(
    ("forward", "strike", "is_call", "price", "delta"),
    [
        (110.0, 100.0, True, 10.0, 1.0),
        (90.0, 100.0, True, 0.0, 0.0),
        (90.0, 100.0, False, 10.0, -1.0),
        (100.0, 100.0, False, 0.0, -0.5),
    ],
    ids=["expired-itm-call", "expired-otm-call", "expired-itm-put", "expired-atm-put"],
)
def test_expired_option_is_intrinsic(forward, strike, is_call, price, delta):
    assert black76_price(forward, strike, 0.5, 0.0, is_call) == price
    assert black76_delta(forward, strike, 0.5, 0.0, is_call) == delta
    assert black76_vega(forward, strike, 0.5, 0.0) == 0.0


@settings(max_examples=300, deadline=None)
@given(
    forward=st.floats(1_000, 500_000),
    moneyness=st.floats(0.3, 3.0),
    vol=st.floats(0.05, 3.0),
    years=st.floats(1 / 365, 2.0),
)
def test_put_call_parity(forward, moneyness, vol, years):
    # undiscounted Black-76: C - P = F - K exactly in exact arithmetic
    strike = forward * moneyness
    call = black76_price(forward, strike, vol, years, True)
    put = black76_price(forward, strike, vol, years, False)
    assert call - put == pytest.approx(forward - strike, abs=1e-9 * forward)
    assert black76_delta(forward, strike, vol, years, True) - black76_delta(
        forward, strike, vol, years, False
    ) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(forward=st.floats(1_000, 500_000), moneyness=st.floats(0.5, 2.0), years=st.floats(7 / 365, 1.0))
def test_greeks_match_finite_differences(forward, moneyness, years):
    strike, vol = forward * moneyness, 0.6
    h = forward * 1e-5
    fd_delta = (
        black76_price(forward + h, strike, vol, years, True) - black76_price(forward - h, strike, vol, years, True)
    ) / (2 * h)
    assert black76_delta(forward, strike, vol, years, True) == pytest.approx(fd_delta, abs=1e-6)
    fd_vega = (
        black76_price(forward, strike, vol + 1e-5, years, False)
        - black76_price(forward, strike, vol - 1e-5, years, False)
    ) / 2e-5
    assert black76_vega(forward, strike, vol, years) == pytest.approx(fd_vega, rel=1e-5, abs=1e-6 * forward)


def test_price_is_increasing_in_vol_and_vectorised():
    vols = np.linspace(0.1, 2.0, 50)
    prices = black76_price(100_000.0, 120_000.0, vols, 0.25, np.array([True, False])[:, None])
    assert prices.shape == (2, 50)
    assert np.all(np.diff(prices, axis=1) > 0)


@pytest.mark.parametrize(
    ("kind", "strike", "delivery", "units", "inverse", "expected"),
    [
        # Deribit Inverse Options page: call strike 100,000 USD, delivery 125,000: 25,000/125,000 = 0.2 BTC
        (CALL, "100000", "125000", "1", True, 20_000_000),
        # Deribit Linear USDC Options page: SOL call strike 250, delivery 275, multiplier 10: 25 x 10 = 250 USDC
        (CALL, "250", "275", "10", False, 250 * MONEY_SCALE),
        # Deribit options docs, example 2 (put strike 10,000, delivery 5,000): 5,000/5,000 = 1 BTC
        (PUT, "10000", "5000", "1", True, COIN_SCALE),
        # example 4 (call strike 10,000, delivery 9,999): expires worthless
        (CALL, "10000", "9999", "1", True, 0),
        # 1/3 BTC does not divide: 10,000/30,000 = 0.333333333... BTC -> 33,333,333 sat, the remainder kept
        (PUT, "40000", "30000", "1", True, 33_333_333),
    ],
    ids=[
        "inverse-call-deribit",
        "linear-sol-call-deribit",
        "inverse-put-deribit",
        "otm-call-worthless",
        "inverse-floor",
    ],
)
def test_settlement_payoff_published_examples(kind, strike, delivery, units, inverse, expected):
    assert settlement_payoff_money(kind, Decimal(strike), Decimal(delivery), Decimal(units), inverse) == expected


def test_position_value_rounds_against_the_holder():
    # 1 lot of 0.1 BTC at 0.0123456789 BTC per BTC = 0.00123456789 BTC = 123,456.789 sat
    value = position_value_money(np.array([0.0123456789] * 2), np.array([1, -1]), 0.1, COIN_SCALE)
    assert value.tolist() == [123_456, -123_457]


def test_series_table_from_options_and_unit_values():
    now = datetime(2025, 10, 10, tzinfo=UTC)
    expiry = datetime(2025, 10, 31, 8, tzinfo=UTC)
    series = [
        OptionSeries("BTC-31OCT25-120000-C", "call", Decimal(120_000), expiry),
        OptionSeries("BTC-31OCT25-120000-P", "put", Decimal(120_000), expiry),
    ]
    table = SeriesTable.from_options(series, now)
    assert table.inverse and table.money_scale == COIN_SCALE
    assert table.years[0] == pytest.approx((21 * 86_400 + 8 * 3_600) / (365 * 86_400))
    coin = unit_values(table, np.full(2, 121_000.0), np.full(2, 0.5))
    quote = black76_price(121_000.0, 120_000.0, 0.5, table.years, np.array([True, False]))
    assert coin == pytest.approx(quote / 121_000.0, rel=1e-15)


@pytest.mark.parametrize(
    "bad",
    [
        dict(kind=[FUTURE, 7], strike=[0, 1], years=[0, 1], lot_size=[1, 1]),
        dict(kind=[CALL], strike=[0.0], years=[1.0], lot_size=[1.0]),
        dict(kind=[PUT], strike=[1.0], years=[0.0], lot_size=[1.0]),
        dict(kind=[CALL], strike=[1.0, 2.0], years=[1.0], lot_size=[1.0]),
    ],
    ids=["unknown-kind", "zero-strike", "expired-option", "ragged"],
)
def test_series_table_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        SeriesTable(**bad)


def test_option_series_rejects_mixed_settlement():
    now = datetime(2025, 10, 10, tzinfo=UTC)
    expiry = datetime(2025, 10, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match="one settlement"):
        SeriesTable.from_options(
            [
                OptionSeries("A", "call", Decimal(1), expiry, "linear"),
                OptionSeries("B", "call", Decimal(1), expiry, "inverse"),
            ],
            now,
        )


@pytest.mark.parametrize(
    ("amount", "up", "down"),
    [
        (3_600_000.0000000005, 3_600_000, 3_600_000),  # 3 x 0.1 x 0.12 BTC in sat, float noise above a unit
        (3_599_999.9999999995, 3_600_000, 3_600_000),  # and below
        (3_370_370.367, 3_370_371, 3_370_370),
        (-12.5, -12, -13),
        (0.0, 0, 0),
    ],
    ids=["noise-above", "noise-below", "fraction", "negative-fraction", "zero"],
)
def test_money_rounding_against_the_account(amount, up, down):
    from delever.options.money import ceil_money, floor_money

    assert int(ceil_money(amount)) == up and int(floor_money(amount)) == down
