"""Options in the engine's one step loop (issue #16, part 3): the per-lot option margin by hand, the account types,
the option margin listing an account the futures' tiers alone would not, Deribit's "futures first, stop once
healthy", and properties through runs (money conserved and open interest balanced on every option series at every
step, with ADL or socialized loss taking what the fund cannot pay)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever.book import Book
from delever.config.options import OptionsConfig
from delever.contagion import prepare_multi
from delever.engine import run
from delever.engine.simulation import Simulation
from delever.errors import InputError
from delever.mechanisms.base import Batch
from delever.liquidity import marginal_price, vwap
from delever.options.engine_margin import OptionMargin, account_types
from delever.options.engine_market import OptionPaths, extra_series, half_spreads, option_paths, spread_curve
from delever.options.series import SeriesTable
from delever.scenario import default_scenario_path, load_scenario

OPTIONS = default_scenario_path().parent / "deribit-btc-2025-10-10-options.toml"
SMALL = {
    "book": {"generator": {"accounts": 1_500}},
    "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:35:00Z"},
    "insurance_fund": {"balance": "0"},
    "liquidity": {"depth_scale": 0.004},
}
SERIES = [
    {"symbol": "C120", "kind": "call", "strike": "120000", "expiry": "2025-10-17T08:00:00Z"},
    {"symbol": "P110", "kind": "put", "strike": "110000", "expiry": "2025-10-17T08:00:00Z"},
]


def _mechanism(margin: str) -> tuple[OptionMargin, SimpleNamespace]:
    """The options mechanism on the two series of SERIES, at index 100,000 and marks 500 (call) and 10,500
    (put) quote (ticks of 0.1), instruments 1 and 2 (instrument 0 a future)."""
    cfg = OptionsConfig(series=SERIES, margin=margin)
    mech = OptionMargin(SimpleNamespace(options=cfg))
    mech.table = SeriesTable(kind=np.array([1, 2]), strike=np.array([120_000.0, 110_000.0]),
                             years=np.array([0.02, 0.02]), lot_size=np.array([0.01, 0.01]))  # fmt: skip
    mech.instruments = np.array([1, 2])
    mech.series_all = np.arange(2)
    mech.unit_money = 0.01 * 1_000_000
    mech.index = np.array([100_000.0])  # the underlying's index in quote (setup reads it from the option paths)
    sim = SimpleNamespace(
        paths=[SimpleNamespace(index=np.array([100_000.0]))], marks=np.array([0, 5_000, 105_000]), settled=[None] * 3
    )
    return mech, sim


@pytest.mark.parametrize(
    "margin, long_lot, short_lot",
    [
        # Deribit: long = mark x lot (500 x 0.01 = 5 USDC; 10,500 x 0.01 = 105); short call (0.075 x 100,000 +
        # 500) x 0.01 = 80 USDC; short put (max(0.075 x 100,000, 0.075 x 10,500) + 10,500) x 0.01 = 180 USDC
        ("deribit", [5_000_000, 105_000_000], [80_000_000, 180_000_000]),
        # OKX (c = 0.03, no requirement on a long): call (3,000 + 500) x 0.01 = 35; put (3,000 + 10,500) x 0.01 = 135
        ("okx", [0, 0], [35_000_000, 135_000_000]),
    ],
    ids=["deribit-rates", "okx-rates"],
)
def test_margin_of_one_lot_per_side_by_hand(margin, long_lot, short_lot):
    mech, sim = _mechanism(margin)
    long_mm, short_mm = mech.lot_margins(sim)
    assert long_mm.tolist() == long_lot
    assert short_mm.tolist() == short_lot
    sim.settled[2] = object()  # the put settled at expiry: no margin on it, the call's unchanged
    long_mm, short_mm = mech.lot_margins(sim)
    assert long_mm.tolist() == [long_lot[0], 0] and short_mm.tolist() == [short_lot[0], 0]


def test_account_types_from_positions():
    # accounts: 0 covered call (long future, short call), 1 hedged put (short future, short put), 2 naked (long
    # future, short put), 3 buyer (long call), 4 futures only, 5 liquidity provider (short call, exempt)
    book = Book.from_arrays(
        wallet=np.zeros(6, dtype=np.int64),
        account=np.array([0, 0, 1, 1, 2, 2, 3, 4, 5]),
        size=np.array([5, -5, -5, -5, 5, -1, 2, 3, -2]),
        cost=np.zeros(9, dtype=np.int64),
        instrument=np.array([0, 1, 0, 2, 0, 2, 1, 0, 1]),
        exempt=np.array([False] * 5 + [True]),
    )
    types = account_types(book, first_option=1, is_call=np.array([True, False]))
    assert types.tolist() == [1, 2, 3, 4, 0, 0]


def test_option_series_are_instruments_after_the_futures():
    sc = load_scenario(OPTIONS, SMALL)
    market = prepare_multi(sc, sc.seed)
    kinds = [i.kind for i in market.instruments]
    assert kinds == ["perpetual"] + ["option"] * 5
    b = market.book
    for m in range(1, 6):  # every series balanced: the liquidity providers hold the traders' net opposite
        assert b.size[b.instrument == m].sum() == 0
        assert (b.size[(b.instrument == m) & ~b.exempt[b.account]] != 0).any()
    assert not b.isolated[b.instrument >= 1].any()


@pytest.fixture(scope="module")
def started():
    """A simulation of the small option scenario at its first marks (no step run)."""
    sc = load_scenario(OPTIONS, SMALL)
    sim = Simulation(sc, sc.seed, prepare_multi(sc, sc.seed))
    for m in range(sim.M):
        sim.marks[m] = int(round(float(sim.centre_ticks[m][0])))
    mech = next(x for x in sim.mechanisms if x.name == "options")
    mech.before_marks(sim, 0, list(range(sim.M)))
    return sim, mech


def _naked_writer(sim, mech) -> tuple[int, np.ndarray]:
    """A naked writer and its open positions (its future and its short option)."""
    a = int(np.flatnonzero(mech.types == 3)[0])
    b = sim.book
    return a, np.flatnonzero((b.account == a) & (b.size != 0))


@pytest.mark.parametrize("excess, listed", [(0, False), (-1, True)], ids=["equity-equals-mm", "one-unit-short"])
def test_the_option_margin_lists_an_account_its_futures_alone_would_not(started, excess, listed):
    sim, mech = started
    a, positions = _naked_writer(sim, mech)
    equity, futures_mm, _ = sim.account_margins(positions[:1])
    option_mm = int(mech.option_mm(sim)[0][a])
    assert option_mm > 0
    wallet = int(sim.book.wallet[a])
    try:
        # equity = futures MM + option MM + excess: above the futures' MM alone either way
        sim.book.wallet[a] = wallet + int(futures_mm[0]) + option_mm + excess - int(equity[0])
        if not sim.sweep_arrays_ready:
            sim._alloc_sweep_arrays()
        count = sim.sweep_book(sim.liq_out)
        found = set(sim.liq_out[:count].tolist())
        assert set(positions.tolist()) <= found if listed else not set(positions.tolist()) & found
        assert sim.acc_mm[a] == int(futures_mm[0]) + option_mm
    finally:
        sim.book.wallet[a] = wallet


@pytest.mark.parametrize("excess, kept", [(0, 0), (-1, 1)], ids=["healthy-keeps-its-option", "under-water-closed"])
def test_after_the_futures_an_account_back_above_its_mm_keeps_its_options(started, excess, kept):
    """Deribit: futures first, then options, "stops once MM < equity": the option batch drops the account once it
    is healthy (equity >= MM), keeps it while it is one unit short."""
    sim, mech = started
    a, positions = _naked_writer(sim, mech)
    option_pos = positions[sim.book.instrument[positions] >= mech.first]
    equity, futures_mm, _ = sim.account_margins(option_pos)
    option_mm = int(mech.option_mm(sim)[0][a])
    wallet = int(sim.book.wallet[a])
    try:
        sim.book.wallet[a] = wallet + int(futures_mm[0]) + option_mm + excess - int(equity[0])
        m = int(sim.book.instrument[option_pos[0]])
        one = np.zeros(1, dtype=np.int64)
        batch = Batch(0, m, int(sim.marks[m]), 0.0, option_pos[:1].copy(), one, one.copy(), 0)
        mech.take(sim, batch)
        assert batch.order.size == kept
        future = Batch(0, 0, int(sim.marks[0]), 0.0, positions[:1].copy(), one, one.copy(), 0)
        mech.take(sim, future)  # the first instrument's batch is never cut
        assert future.order.size == 1
    finally:
        sim.book.wallet[a] = wallet


def test_a_series_expiring_at_the_window_start_is_an_input_error():
    over = {**SMALL, "options": {"series": [{**SERIES[0], "expiry": "2025-10-10T21:04:00Z"}]}}
    sc = load_scenario(OPTIONS, over)
    with pytest.raises(InputError, match="at or before the start of the price window"):
        prepare_multi(sc, sc.seed)


@pytest.mark.parametrize(
    "over",
    [
        {"mechanisms": {"partial_liquidation": {"enabled": True}}},
        {"mechanisms": {"incremental_liquidation": {"enabled": True}}},
        {"mechanisms": {"funding": {"enabled": True}}},
        {"liquidation": {"order": "fillable-price-ioc"}},
    ],
    ids=["partial-liquidation", "incremental-liquidation", "funding", "fillable-price-ioc"],
)
def test_rules_that_cannot_see_the_option_margin_are_refused(over):
    with pytest.raises(InputError, match="not supported with \\[options\\]"):
        load_scenario(OPTIONS, {**SMALL, **over})


EXPIRE_AT = "2025-10-10T21:15:00Z"
STRESS = {
    **SMALL,
    "book": {"generator": {"accounts": 800}},
    "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:25:00Z"},
}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    margin=st.sampled_from(["deribit", "okx"]),
    socialized=st.booleans(),
    shock=st.floats(0.0, 2.0),
    half_spread=st.floats(0.01, 0.4),
    naked=st.floats(0.05, 0.6),
    expire=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_money_and_open_interest_per_series_hold_at_every_step(
    seed, margin, socialized, shock, half_spread, naked, expire
):
    """Property: every step of a run (``check_every_step``: money identity and each instrument's open interest,
    every option series included) and at its end; thin books and naked writers make option bad debt that the
    fund, ADL or socialized loss takes. The series marked by ``expire`` expire at 21:15, inside the window: they
    settle there (:mod:`delever.settlement`) and end flat."""
    packaged = load_scenario(OPTIONS).options.series
    series = [
        {
            "symbol": s.symbol,
            "kind": s.kind,
            "strike": str(s.strike),
            "expiry": EXPIRE_AT if x else s.expiry.isoformat(),
        }  # fmt: skip
        for s, x in zip(packaged, expire)
    ]
    over = {
        **STRESS,
        "seed": seed,
        "mechanisms": {"socialized_loss": {"enabled": socialized}},
        "options": {
            "margin": margin,
            "vol_shock": shock,
            "half_spread": half_spread,
            "naked_fraction": naked,
            "depth_lots_per_pct": 0.5,
            "margin_multiple": 1.0,
            "series": series,
        },  # fmt: skip
    }
    sc = load_scenario(OPTIONS, over)
    r = run(sc, check_every_step=True)
    assert r.money_end == r.money_start
    for m in range(1, 6):
        long_, short = r.book.open_interest(m)
        assert long_ == short
        assert long_ == 0 or not expire[m - 1]
        assert (r.extra["cross_margin"]["instruments"][m]["settlement"] is not None) == expire[m - 1]


def test_option_bad_debt_goes_to_adl_on_the_series_or_to_socialized_loss():
    """With no fund, thin option books and many naked writers, the options' bad debt is taken by ADL on the
    option series (OKX) or by socialized loss (Deribit), money conserved either way (figures of this run)."""
    heavy = {**SMALL, "options": {"half_spread": 0.3, "depth_lots_per_pct": 0.5, "naked_fraction": 0.5,
                                  "vol_shock": 2.0, "margin_multiple": 1.0}}  # fmt: skip
    adl = run(load_scenario(OPTIONS, {**heavy, "mechanisms": {"socialized_loss": {"enabled": False}}}))
    rows = adl.extra["cross_margin"]["instruments"]
    assert adl.money_end == adl.money_start
    assert sum(r["adl_notional"] for r in rows[1:]) > 0
    assert sum(r["liquidations"] for r in rows[1:]) > 0
    social = run(load_scenario(OPTIONS, heavy))
    assert social.money_end == social.money_start
    assert social.extra["socialized_loss"]["notional"] > 0
    assert sum(r["adl_notional"] for r in social.extra["cross_margin"]["instruments"]) == 0


def test_the_packaged_option_scenario_runs_from_the_cli_with_conservation_error_0(tmp_path):
    """The packaged scenario as shipped (package data only), through ``delever run``: money conserved, every
    series balanced, options liquidated, and the report's option sections written."""
    import json

    from typer.testing import CliRunner

    from delever.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(OPTIONS), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["conservation_error"] == 0 and summary["open_interest_balanced"]
    rows = summary["mechanisms"]["cross_margin"]["instruments"]
    assert [r["kind"] for r in rows] == ["perpetual"] + ["option"] * 5
    assert all(r["open_interest_balanced"] for r in rows)
    assert sum(r["liquidations"] for r in rows[1:]) > 0
    types = summary["mechanisms"]["options"]["account_types"]
    assert types["naked writer"]["option_mm_start"] > 0 and types["futures only"]["option_mm_start"] == 0
    # holders of two or three series (extra_series_fraction = 0.3) close them one per step towards delta-neutral
    assert summary["mechanisms"]["options"]["waiting_option_positions"] > 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Margin per account type" in html and "Liquidations by instrument kind" in html


def test_the_listing_is_the_exact_rule_for_every_option_holder_near_the_boundary(started):
    """Wallets set so that every option holder's exact excess (equity - futures MM - option MM) is a random number
    of units in [-3,000, 3,000]: the sweep plus the option margin lists exactly those below 0 (the float screen
    decides none of them alone)."""
    sim, mech = started
    b = sim.book
    wallet = b.wallet.copy()
    try:
        holders = mech.holders
        equity, futures_mm, _ = sim.account_margins(mech.rep[holders])
        option_mm = mech.option_mm(sim)[0][holders]
        excess = np.random.default_rng(7).integers(-3_000, 3_001, holders.size)
        b.wallet[holders] += futures_mm + option_mm + excess - equity
        if not sim.sweep_arrays_ready:
            sim._alloc_sweep_arrays()
        count = sim.sweep_book(sim.liq_out)
        listed = np.zeros(b.n_accounts, dtype=bool)
        listed[b.account[sim.liq_out[:count]]] = True
        assert np.array_equal(listed[holders], excess < 0)
        assert (excess < 0).any() and (excess >= 0).any()
        # the account MM is exact where the decision is close (as the sweep's own), a float screen within a few
        # units elsewhere (delever.sweep.margin_sweep)
        near = np.abs(excess) <= 1_000
        assert np.array_equal(sim.acc_mm[holders][near], (futures_mm + option_mm)[near])
        assert np.abs(sim.acc_mm[holders] - (futures_mm + option_mm)).max() <= 16
    finally:
        b.wallet[:] = wallet


@pytest.mark.parametrize(
    "vol, premium, expected",
    [
        # vol doubled from 0.5 to 1.0: 2% x 1.0 / 0.5 = 4%; a tick of 0.1 on a premium of 1,000 is 0.01% (not binding)
        ([0.5, 1.0], [1_000.0, 1_000.0], [0.02, 0.04]),
        # a cheap wing: premium 2 quote, one tick 0.1 = 5% > 2%
        ([0.5, 0.5], [2.0, 2.0], [0.05, 0.05]),
        # a premium of 0.1: one tick is 100%, capped at 50%
        ([0.5, 0.5], [0.1, 0.1], [0.5, 0.5]),
    ],
    ids=["widens-with-vol", "tick-floor", "capped"],
)
def test_half_spread_rule_by_hand(vol, premium, expected):
    cfg = OptionsConfig(series=SERIES[:1], half_spread=0.02, tick_size="0.1")
    v = np.array(vol)[:, None]
    paths = OptionPaths([], v, np.array(premium)[:, None], v * 0, np.ones(2))
    assert half_spreads(cfg, paths, 0.1)[:, 0] == pytest.approx(expected, rel=1e-12)


def test_the_first_lot_of_a_forced_order_fills_a_half_spread_away():
    curve = spread_curve(0.04, 20.0).arrays()
    # one lot sold from a resting book: nothing inside 4%, then 20 lots per 1%: the lot's VWAP is 4% + 0.025% away
    sell = vwap(1_000.0, 0.0, -1.0, curve)
    assert 1_000.0 * (1 - 0.04 - 0.0006) < sell < 1_000.0 * (1 - 0.04)
    buy = vwap(1_000.0, 0.0, 1.0, curve)
    assert 1_000.0 * (1 + 0.04) < buy < 1_000.0 * (1 + 0.04 + 0.0006)
    assert marginal_price(1_000.0, 0.0, curve) == 1_000.0  # the mark's last price at a rested book: the premium


def test_the_vol_shock_scales_every_vol_from_its_time_on():
    sc = load_scenario(OPTIONS, {**SMALL, "options": {"spot_vol_beta": 0.0}})
    calm = load_scenario(OPTIONS, {**SMALL, "options": {"spot_vol_beta": 0.0, "vol_shock": 0.0}})
    market = prepare_multi(sc, sc.seed)
    shocked, base = option_paths(sc.options, sc, market.base.path), option_paths(calm.options, calm, market.base.path)
    at = np.searchsorted(market.base.path.time_ns, np.datetime64("2025-10-10T21:10:00", "ns").astype(np.int64))
    assert np.allclose(shocked.vol[:at], base.vol[:at], rtol=0, atol=0)
    assert np.allclose(shocked.vol[at:] / base.vol[at:], 1.5, rtol=1e-12)  # vol_shock = 0.5 in the scenario
    assert (shocked.premium[at:] > base.premium[at:]).all()  # every option is worth more at a higher vol


def test_a_venue_rulebook_that_turns_on_partial_liquidation_is_refused_at_the_run():
    """``delever run --venue okx`` turns partial liquidation on after the file was validated: the options mechanism
    refuses it when the run is built (no silent run without the option margin in the partial rule)."""
    from delever.venues.scenario import apply_venue

    okx = apply_venue(load_scenario(OPTIONS, SMALL), "okx")
    assert okx.mechanisms.partial_liquidation.enabled
    with pytest.raises(InputError, match="partial_liquidation"):
        OptionMargin.from_scenario(okx)
    assert OptionMargin.from_scenario(load_scenario(OPTIONS, SMALL)) is not None


@pytest.mark.parametrize("fraction", [0.0, 0.4, 1.0], ids=["none", "some", "every-holder"])
def test_extra_series_rule(fraction):
    """``extra_series``: a drawn holder gets one or two more series, distinct and other than its own, the same
    lots and side; the rows of an account name distinct series; a pure function of the generator's state."""
    account = np.arange(200, dtype=np.int64)
    series = account % 5
    lots = np.where(account % 2 == 0, -1, 1) * (1 + account % 7)
    a, s, n = extra_series(np.random.Generator(np.random.PCG64(7)), fraction, 5, account, series, lots)
    a2, s2, n2 = extra_series(np.random.Generator(np.random.PCG64(7)), fraction, 5, account, series, lots)
    assert (a == a2).all() and (s == s2).all() and (n == n2).all()
    assert (a[:200] == account).all() and (s[:200] == series).all() and (n[:200] == lots).all()
    assert (n == lots[a]).all()  # same side and lots as the holder's own position
    assert len(set(zip(a.tolist(), s.tolist()))) == a.size  # no account holds a series twice
    rows = np.bincount(a, minlength=200)
    assert rows.min() >= 1 and rows.max() <= 3
    if fraction == 0.0:
        assert a.size == 200
    elif fraction == 1.0:
        assert rows.min() >= 2 and (rows == 3).any()
    else:
        assert 200 < a.size < 600
