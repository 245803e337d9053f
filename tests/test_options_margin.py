"""Deribit standard option margin and scenario-grid portfolio margin (issue #16)."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.options.black76 import black76_price
from delever.options.portfolio_margin import (
    DERIBIT_BTC,
    PortfolioMarginParams,
    ScenarioGrid,
    portfolio_margin,
    scenario_unit_pnl,
    shocked_vols,
    vol_shock_factor,
)
from delever.options.money import ceil_money
from delever.options.series import CALL, COIN_SCALE, FUTURE, PUT, SeriesTable
from delever.options.standard_margin import (
    OKX_BTC,
    StandardMarginRates,
    per_account,
    position_margin_money,
    requirement_per_unit,
)
from delever.units import MONEY_SCALE

S = 100_000.0


def _table(kinds, strikes, years, lot=0.1, inverse=True):
    n = len(kinds)
    return SeriesTable(np.array(kinds), np.array(strikes, float), np.array(years, float), np.full(n, lot), inverse)


# ---------------------------------------------------------------------------------------------- standard margin


@pytest.mark.parametrize(
    ("kind", "strike", "mark", "im", "mm"),
    [
        # OTM call K=110,000 at S=100,000: max(0.15 - 10,000/100,000, 0.10) + 0.02 = 0.12; MM 0.075 + 0.02
        (CALL, 110_000, 0.02, 0.12, 0.095),
        # ITM call K=90,000: OTM 0 -> 0.15 + 0.11 = 0.26; MM 0.075 + 0.11 = 0.185
        (CALL, 90_000, 0.11, 0.26, 0.185),
        # far OTM call K=200,000: 0.15 - 1.0 < 0.10 -> floor 0.10 + 0.0001
        (CALL, 200_000, 0.0001, 0.1001, 0.0751),
        # OTM put K=95,000: max(0.15 - 0.05, 0.10) + 0.03 = 0.13; MM max(0.075, 0.00225) + 0.03 = 0.105
        (PUT, 95_000, 0.03, 0.13, 0.105),
        # deep ITM put K=1,000,000, mark 9 BTC: IM max(0.15 + 9, MM); MM max(0.075, 0.675) + 9 = 9.675 > 9.15
        (PUT, 1_000_000, 9.0, 9.675, 9.675),
    ],
    ids=["short-otm-call", "short-itm-call", "short-far-otm-call", "short-otm-put", "short-deep-itm-put-mm-binds"],
)
def test_standard_margin_inverse_by_hand(kind, strike, mark, im, mm):
    table = _table([kind], [strike], [0.1])
    got_im, got_mm = requirement_per_unit(table, [0], S, [mark], [True])
    assert got_im[0] == pytest.approx(im, abs=1e-12) and got_mm[0] == pytest.approx(mm, abs=1e-12)


@pytest.mark.parametrize(
    ("kind", "strike", "mark", "im", "mm"),
    [
        # linear: the coin formula x S: max(15,000 - 10,000, 10,000) + 2,000 = 12,000; MM 7,500 + 2,000
        (CALL, 110_000, 2_000.0, 12_000.0, 9_500.0),
        # put: max(15,000 - 5,000, 10,000) + 3,000 = 13,000; MM max(7,500, 225) + 3,000 = 10,500
        (PUT, 95_000, 3_000.0, 13_000.0, 10_500.0),
    ],
    ids=["linear-short-call", "linear-short-put"],
)
def test_standard_margin_linear_by_hand(kind, strike, mark, im, mm):
    table = _table([kind], [strike], [0.1], inverse=False)
    got_im, got_mm = requirement_per_unit(table, [0], S, [mark], [True])
    assert (got_im[0], got_mm[0]) == pytest.approx((im, mm))


def test_okx_published_worked_example():
    # OKX options margin rules (worked example restated by https://365shuku.com/13503.html, formula
    # https://www.okx.com/help/ii-option-margin): sell 1 BTCUSD call (multiplier 0.1 BTC), 100 USD out of the money
    # with the forward at 5,900, mark 0.0575 BTC, margin factor 1.02 (tier 2):
    # [max(0.1, 0.15 - 100/5900) x 1.02 + 0.0575] x 0.1 = 0.01932 BTC
    # exact: 0.15 - 0.0169491525 = 0.1330508475; x 1.02 = 0.1357118644; + 0.0575 = 0.1932118644; x 0.1 BTC
    # = 1,932,118.644 sat -> 1,932,119 sat (up)
    rates = dataclasses.replace(OKX_BTC, margin_factor=1.02)
    table = _table([CALL], [6_000.0], [0.1])
    im, _ = requirement_per_unit(table, [0], 5_900.0, [0.0575], [True], rates, otm_price=5_900.0)
    assert im[0] * 0.1 == pytest.approx(0.01932, abs=5e-6)
    assert position_margin_money(table, [0], [-1], 5_900.0, [0.0575], rates)[0].tolist() == [1_932_119]


@pytest.mark.parametrize(
    ("kind", "strike", "mark", "im", "mm"),
    [
        # OKX BTC: put K=95,000 at forward 100,000, mark 0.03: IM max(0.1, 0.15 - 0.05) + 0.03 = 0.13;
        # MM max(0.03, 0.03 x 0.03) + 0.03 = 0.06
        (PUT, 95_000, 0.03, 0.13, 0.06),
        # deep ITM put, mark 9: IM 0.15 + 9 = 9.15 (no IM >= MM clause); MM max(0.03, 0.27) + 9 = 9.27
        (PUT, 1_000_000, 9.0, 9.15, 9.27),
        # call K=110,000, mark 0.02: IM 0.10 + 0.02; MM 0.03 + 0.02
        (CALL, 110_000, 0.02, 0.12, 0.05),
    ],
    ids=["okx-otm-put", "okx-deep-itm-put", "okx-otm-call"],
)
def test_okx_standard_margin_by_hand(kind, strike, mark, im, mm):
    table = _table([kind], [strike], [0.1])
    got_im, got_mm = requirement_per_unit(table, [0], S, [mark], [True], OKX_BTC)
    assert (got_im[0], got_mm[0]) == pytest.approx((im, mm))
    assert requirement_per_unit(table, [0], S, [mark], [False], OKX_BTC)[0][0] == 0.0  # longs: none


def test_long_option_requirement_is_its_mark_or_none():
    table = _table([CALL], [110_000], [0.1])
    im, mm = requirement_per_unit(table, [0], S, [0.02], [False])
    assert (im[0], mm[0]) == (0.02, 0.02)
    im, mm = requirement_per_unit(table, [0], S, [0.02], [False], StandardMarginRates(long_requirement="none"))
    assert (im[0], mm[0]) == (0.0, 0.0)


def test_position_margin_money_rounds_up_and_sums_per_account():
    # 3 lots x 0.1 BTC x 0.12 BTC/BTC = 0.036 BTC = 3,600,000 sat; mark 0.0123456789:
    # 0.3 x (0.1 + 0.0123456789) = 0.03370370367 BTC -> 3,370,370.367 sat -> 3,370,371 (up)
    table = _table([CALL, CALL], [110_000, 200_000], [0.1, 0.1])
    im, mm = position_margin_money(table, [0, 1], [-3, -3], S, [0.02, 0.0123456789])
    assert im.tolist() == [3_600_000, 3_370_371]
    assert per_account(im, [0, 0], 2).tolist() == [6_970_371, 0]


def test_standard_margin_rejects_futures_and_bad_index():
    table = _table([FUTURE], [0.0], [0.0])
    with pytest.raises(ValueError, match="option positions only"):
        requirement_per_unit(table, [0], S, [0.0], [True])
    with pytest.raises(ValueError, match="index_price"):
        requirement_per_unit(_table([CALL], [1.0], [0.1]), [0], 0.0, [0.0], [True])


@settings(max_examples=150, deadline=None)
@given(
    moneyness=st.floats(0.5, 2.0),
    years=st.floats(1 / 365, 1.0),
    vol_lo=st.floats(0.1, 1.5),
    # a bump of a few ulps (2.2e-16 was found) moves Black-76's float price by rounding noise, either way
    bump=st.floats(1e-9, 1.0),
    is_call=st.booleans(),
    inverse=st.booleans(),
)
def test_standard_margin_of_a_short_option_rises_with_vol(moneyness, years, vol_lo, bump, is_call, inverse):
    kind = CALL if is_call else PUT
    table = _table([kind], [S * moneyness], [years], inverse=inverse)
    marks = [
        black76_price(S, S * moneyness, v, years, is_call) / (S if inverse else 1.0) for v in (vol_lo, vol_lo + bump)
    ]
    lo = requirement_per_unit(table, [0], S, [marks[0]], [True])
    hi = requirement_per_unit(table, [0], S, [marks[1]], [True])
    assert hi[0][0] >= lo[0][0] and hi[1][0] >= lo[1][0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-50, 50), st.floats(0.0, 0.5)), min_size=1, max_size=12))
def test_standard_margin_is_per_position(rows):
    # standard margin looks at each position alone: an account's margin is the sum of its positions' margins,
    # whatever else it holds (a covered call is margined as the naked short call)
    table = _table([CALL, PUT, CALL, PUT], [90_000, 90_000, 120_000, 120_000], [0.1] * 4)
    series = [r[0] for r in rows]
    lots = [r[1] for r in rows]
    marks = [r[2] for r in rows]
    im, mm = position_margin_money(table, series, lots, S, marks)
    together = per_account(im, np.zeros(len(rows)), 1)[0]
    alone = sum(int(position_margin_money(table, [s], [q], S, [m])[0][0]) for s, q, m in rows)
    assert together == alone
    assert np.all(im >= 0) and np.all(mm <= im + 1)  # MM never above IM (1 unit of rounding apart)


# ----------------------------------------------------------------------------------------------- portfolio margin


def test_grid_is_deribits_nine_buckets_by_three_vols_plus_extended():
    grid = ScenarioGrid.from_params(DERIBIT_BTC)
    assert grid.n_scenarios == 27 + 8
    assert np.unique(grid.price_move[~grid.extended]) == pytest.approx(np.linspace(-0.16, 0.16, 9))
    # extended fractions 0.16 / |move|, as published by Paradex for the same moves: 24%, 48%, 32%, 16%, 8%,
    # 5.33%, 4%, 3.2%
    assert grid.weight[grid.extended] == pytest.approx([0.24, 0.48, 0.32, 0.16, 0.08, 0.0533, 0.04, 0.032], abs=0.005)


@pytest.mark.parametrize(
    ("days", "power", "factor"),
    [
        (30.0, 0.3, 1.0),  # Deribit docs: "options expiring in 30 days: IV change of maximum 38.00%" (x 1)
        (15.0, 0.3, 2**0.3),  # "options expiring in 15 days: IV change of maximum (30/15)^0.30*38.00%"
        (60.0, 0.13, 0.5**0.13),  # long-term power 0.13 past 30 days
        (0.25, 0.3, 30**0.3),  # floor of 1 day
    ],
    ids=["30-days", "15-days", "60-days-long-term", "floor-1-day"],
)
def test_vol_shock_factor_published_examples(days, power, factor):
    assert vol_shock_factor(days) == pytest.approx(factor)


def test_shocked_vols_by_hand():
    # 15 days at vol 0.6: factor 2^0.3 = 1.2311444; up 0.6 (1 + 0.5 x 1.2311444) = 0.9693433; down
    # 0.6 (1 - 0.25 x 1.2311444) = 0.4153283; at vol 0.2 the up shock is floored to min_volatility_for_shock_up 0.5
    vols = shocked_vols([0.6, 0.2], [15 / 365, 15 / 365])
    assert vols[0] == pytest.approx([0.4153283, 0.6, 0.9693433], abs=1e-7)
    assert vols[1][2] == 0.5


def test_inverse_future_risk_vector_matches_deribits_published_one():
    # Deribit private/pme/simulate example, BTC-PERPETUAL "standard" vector (price buckets -16%..+4%, three equal
    # vol entries each): -0.05991206933333334, -0.04289159509090909, -0.027351162086956524, -0.013105765166666668,
    # 0, 0.012097629384615385. Its size and price are not published, so compare shapes (ratios to the -16% entry).
    published = np.array(
        [
            -0.05991206933333334,
            -0.04289159509090909,
            -0.027351162086956524,
            -0.013105765166666668,
            0.0,
            0.012097629384615385,
        ]
    )
    table = SeriesTable(np.array([FUTURE]), np.zeros(1), np.zeros(1), np.ones(1), inverse=True)
    pnl = scenario_unit_pnl(table, np.array([S]), np.zeros(1), ScenarioGrid.from_params())[0]
    ours = pnl[:27].reshape(9, 3)
    assert np.all(ours == ours[:, :1])  # a future does not depend on vol
    assert ours[:6, 0] / ours[0, 0] == pytest.approx(published / published[0], rel=1e-12)


def test_contingencies_published_examples():
    # Deribit docs: "call +10 and put -20 ... net short position on strike X is -10, thus 10*0.01 BTC" and
    # "long 100 BTC in Future A, and short 100 BTC in Future B, then 1.00%*100 BTC"
    table = SeriesTable(
        np.array([CALL, PUT, FUTURE, FUTURE]),
        np.array([S, S, 0.0, 0.0]),
        np.array([0.1, 0.1, 0.1, 0.2]),
        np.array([1.0, 1.0, 1.0, 1.0]),  # options: 1 BTC per lot; inverse futures: 1 USD of notional per lot
        inverse=True,
    )
    forward = np.full(4, S)
    pm = portfolio_margin(
        table, [0, 0, 1, 1], [0, 1, 2, 3], [10, -20, 10_000_000, -10_000_000], 2, forward, np.full(4, 0.5)
    )
    assert pm.option_contingency == pytest.approx([0.1, 0.0])
    assert pm.futures_contingency == pytest.approx([0.0, 1.0])


def _reference_margin(table, rows, forward, vol, params):
    """A loop over scenarios and positions: the grid's definition read directly (oracle for the sweep)."""
    grid = ScenarioGrid.from_params(params)
    days = np.maximum(table.years * 365, params.min_days)
    worst = 0.0
    for j in range(grid.n_scenarios):
        total = 0.0
        for s, q in rows:
            f0, f1 = forward[s], forward[s] * (1 + grid.price_move[j])
            units = q * table.lot_size[s]
            if table.kind[s] == FUTURE:
                total += units * ((1 / f0 - 1 / f1) if table.inverse else (f1 - f0))
                continue
            p = params.short_term_vega_power if days[s] < 30 else params.long_term_vega_power
            fac = (30 / days[s]) ** p
            v = vol[s]
            v1 = {
                -1: max(v * (1 - params.volatility_range_down * fac), 0.0),
                0: v,
                1: max(v * (1 + params.volatility_range_up * fac), params.min_volatility_for_shock_up),
            }[int(grid.vol_code[j])]
            call = table.kind[s] == CALL
            a = black76_price(f0, table.strike[s], v, table.years[s], call)
            b = black76_price(f1, table.strike[s], v1, table.years[s], call)
            total += units * ((b / f1 - a / f0) if table.inverse else (b - a))
        worst = max(worst, -total * grid.weight[j])
    return worst


CHAIN = dict(
    kinds=[FUTURE, CALL, PUT, CALL, PUT, CALL, FUTURE],
    strikes=[0, 100_000, 100_000, 120_000, 80_000, 150_000, 0],
    years=[0.05, 0.05, 0.05, 0.05, 0.3, 0.3, 0.3],
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6), st.integers(-30, 30)), min_size=1, max_size=10),
    inverse=st.booleans(),
    move=st.floats(0.8, 1.25),
)
def test_sweep_matches_the_reference_loop_and_rounds_up(rows, inverse, move):
    lot = np.array([10.0 if (inverse and k == FUTURE) else 0.1 for k in CHAIN["kinds"]])
    table = SeriesTable(
        np.array(CHAIN["kinds"]), np.array(CHAIN["strikes"], float), np.array(CHAIN["years"]), lot, inverse
    )
    forward = np.array([S, S, S, S, 101_000, 101_000, 101_000]) * move
    vol = np.array([0.0, 0.5, 0.55, 0.45, 0.6, 0.5, 0.0])
    pm = portfolio_margin(table, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], 3, forward, vol)
    for a in range(3):
        mine = [(s, q) for acc, s, q in rows if acc == a]
        assert pm.worst_loss[a] == pytest.approx(
            _reference_margin(table, mine, forward, vol, DERIBIT_BTC), abs=1e-9 * S
        )
        total = pm.worst_loss[a] + pm.option_contingency[a] + pm.futures_contingency[a]
        assert (
            pm.im[a]
            == ceil_money(total * table.money_scale)
            >= total * table.money_scale - 1e-12 * abs(total) * table.money_scale
        )
        assert 0 <= pm.mm[a] <= pm.im[a]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 6), st.integers(-30, 30)), min_size=1, max_size=8),
    inverse=st.booleans(),
)
def test_portfolio_margin_properties(rows, inverse):
    table = SeriesTable(
        np.array(CHAIN["kinds"]), np.array(CHAIN["strikes"], float), np.array(CHAIN["years"]), np.full(7, 0.1), inverse
    )
    forward = np.full(7, S)
    vol = np.array([0.0, 0.5, 0.55, 0.45, 0.6, 0.5, 0.0])
    series = [r[0] for r in rows]
    lots = [r[1] for r in rows]
    # >= 0 always (the zero move with unchanged vol is on the grid)
    one = portfolio_margin(table, [0] * len(rows), series, lots, 1, forward, vol)
    assert one.im[0] >= 0 and one.worst_loss[0] >= 0
    # a position and its opposite cancel: no scenario loss, no add-on
    flat = portfolio_margin(table, [0] * 2 * len(rows), series * 2, lots + [-q for q in lots], 1, forward, vol)
    assert flat.im[0] == 0
    # worst loss is subadditive: splitting a portfolio in two accounts never lowers the sum of worst losses
    halves = portfolio_margin(table, [i % 2 for i in range(len(rows))], series, lots, 2, forward, vol)
    assert one.worst_loss[0] <= halves.worst_loss.sum() + 1e-9 * S
    # adding the extended table (more scenarios) never lowers the margin
    no_ext = PortfolioMarginParams(extended_moves=())
    assert portfolio_margin(table, [0] * len(rows), series, lots, 1, forward, vol, no_ext).im[0] <= one.im[0]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 30)), min_size=1, max_size=6),
    up_lo=st.floats(0.0, 1.0),
    bump=st.floats(0.0, 1.0),
    inverse=st.booleans(),
)
def test_margin_of_short_options_is_monotonic_in_the_vol_shock(rows, up_lo, bump, inverse):
    # a portfolio of short options only loses more the more vol rises: its margin cannot fall as the up shock grows
    table = SeriesTable(
        np.array(CHAIN["kinds"]), np.array(CHAIN["strikes"], float), np.array(CHAIN["years"]), np.full(7, 0.1), inverse
    )
    forward, vol = np.full(7, S), np.array([0.0, 0.5, 0.55, 0.45, 0.6, 0.5, 0.0])
    series, lots = [r[0] for r in rows], [-r[1] for r in rows]
    lo = PortfolioMarginParams(volatility_range_up=up_lo, min_volatility_for_shock_up=0.0)
    hi = PortfolioMarginParams(volatility_range_up=up_lo + bump, min_volatility_for_shock_up=0.0)
    args = (table, [0] * len(rows), series, lots, 1, forward, vol)
    assert portfolio_margin(*args, hi).im[0] >= portfolio_margin(*args, lo).im[0]


def test_worst_scenario_of_a_short_call_by_hand():
    # one short BTC call (1 BTC), linear, K = S, 30 days, vol 0.5: worst standard scenario is +16% with vol up
    # (0.5 x 1.5 = 0.75); extended +500% x 0.032: loss ~ 0.032 x 500,000 = 16,000 also competes
    table = SeriesTable(np.array([CALL]), np.array([S]), np.array([30 / 365]), np.ones(1), inverse=False)
    pm = portfolio_margin(table, [0], [0], [-1], 1, np.array([S]), np.array([0.5]))
    grid = ScenarioGrid.from_params()
    v0 = black76_price(S, S, 0.5, 30 / 365, True)
    std = black76_price(S * 1.16, S, 0.75, 30 / 365, True) - v0
    ext = max(
        w * (black76_price(S * (1 + m), S, 0.75, 30 / 365, True) - v0)
        for m, w in zip(grid.price_move[27:], grid.weight[27:])
    )
    assert pm.worst_loss[0] == pytest.approx(max(std, ext))
    assert pm.option_contingency[0] == pytest.approx(0.01 * S)  # 1 net short option at one strike: 0.01 BTC in USDC
    assert pm.im[0] == math.ceil((max(std, ext) + 0.01 * S) * MONEY_SCALE)
    assert pm.mm[0] == math.ceil(0.8 * (max(std, ext) + 0.01 * S) * MONEY_SCALE)


def test_inverse_money_is_in_satoshi():
    table = SeriesTable(np.array([PUT]), np.array([S]), np.array([0.1]), np.ones(1), inverse=True)
    pm = portfolio_margin(table, [0], [0], [-1], 1, np.array([S]), np.array([0.5]))
    assert table.money_scale == COIN_SCALE
    assert pm.im[0] == math.ceil((pm.worst_loss[0] + 0.01) * COIN_SCALE)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(account=[0], series=[0], lots=[1, 2]), "one shape"),
        (dict(account=[5], series=[0], lots=[1]), "account id"),
        (dict(account=[0], series=[9], lots=[1]), "series index"),
    ],
    ids=["ragged", "account-out-of-range", "series-out-of-range"],
)
def test_portfolio_margin_rejects_bad_positions(kwargs, match):
    table = SeriesTable(np.array([CALL]), np.array([S]), np.array([0.1]), np.ones(1))
    with pytest.raises(ValueError, match=match):
        portfolio_margin(table, n_accounts=1, forward=np.array([S]), vol=np.array([0.5]), **kwargs)
