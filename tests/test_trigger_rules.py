"""Trigger prices under the scenario's margin rules (MM on entry value, size tiers, size-linear rate, fee rate in
the MMR) against hand-worked liquidation prices of ../shared/specs/venues.md, and the trigger path (sorted trigger
prices) against the full margin sweep: on random books with the compiled kernels, and on whole runs of the
default scenario under the venue rulebooks that select these rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import engine
from delever.columns import AccountValuation, BookCols, SweepCols
from delever.requirement import ENTRY_CROSS, ENTRY_ISOLATED
from delever.scenario import default_scenario_path, load_scenario
from delever.sweep import margin_sweep
from delever.tiers import RiskTiers, tier_arrays, tier_rules
from delever.trigger_price import NEVER_LONG, NEVER_SHORT, trigger_price, trigger_sweep, update_triggers
from delever.units import MONEY_SCALE
from delever.venues import get_venue
from delever.venues.scenario import venue_run_inputs

U = MONEY_SCALE
V = 100  # tick 0.1 USDT x lot 0.001 BTC = 1e-4 USDT = 100 money units
BYBIT_T1 = RiskTiers.from_brackets("bybit-t1", [("2000000", 100, "0.005", "0.01")])


def one(t: RiskTiers):
    floors, mmr, cum, n = tier_arrays([t])
    return floors, mmr, cum, int(n[0])


@pytest.mark.parametrize(
    "size, entry_ticks, collateral_usdt, entry, trigger",
    [
        # Bybit TV-14, long 1 BTC @10,000 at 50x: margin 200, MM at entry 10,000 x 0.5% = 50; equity 200 + (P -
        # 10,000) < 50 iff P < 9,850 (Bybit's LP 10,000 x (1 - 2% + 0.5%) = 9,850, where equity = MM): the highest
        # liquidating tick is 9,849.9
        pytest.param(1_000, 100_000, 200, True, 98_499, id="bybit_tv14_long_entry_value"),
        # the same position on the mark basis: 200 + P - 10,000 < 0.005 P iff P < 9,800 / 0.995 = 9,849.246...
        pytest.param(1_000, 100_000, 200, False, 98_492, id="long_mark_value"),
        # TV-14 short @8,000 at 40x: margin 200, MM at entry 40; 200 - (P - 8,000) < 40 iff P > 8,160: the lowest
        # liquidating tick is 8,160.1 (at 8,160 equity = MM)
        pytest.param(-1_000, 80_000, 200, True, 81_601, id="bybit_tv14_short_entry_value"),
    ],
)
def test_entry_value_trigger_matches_the_published_liquidation_price(
    size, entry_ticks, collateral_usdt, entry, trigger
):
    cost = size * entry_ticks * V
    floors, mmr, cum, k = one(BYBIT_T1)
    assert trigger_price(size, cost, collateral_usdt * U, V, 0, floors, mmr, cum, k, 0, 0, entry) == trigger


def test_bitmex_entry_value_and_taker_fee_in_the_mmr():
    # BitMEX MM = 0.50% + takerFee 0.075% (+ funding 0) on the entry value (venues.md section 2, [3P]); linear form
    # of the engine: long 1 BTC @50,000 at 100x, margin 500; MM 50,000 x 0.575% = 287.5; 500 + P - 50,000 < 287.5
    # iff P < 49,787.5: the highest liquidating tick is 49,787.4
    t = RiskTiers.size_brackets("xbt", [("200", 100, "0.005", "0.01"), ("350", "66.66", "0.01", "0.015")], "0.001")
    floors, mmr, cum, k = one(t.with_added_rate(750))
    assert trigger_price(1_000, 1_000 * 500_000 * V, 500 * U, V, 0, floors, mmr, cum, k, 1, 0, True) == 497_874


def test_okx_size_tier_and_fee_rate_trigger():
    # OKX: 150 BTC (15,000 contracts, TV-15) is tier 3 whatever the price: MMR 2% + fee 0.05% on the mark notional.
    # Long entered at 50,000 with 500,000 USDT: 500,000 + 150 (P - 50,000) < 150 P x 2.05% iff 146.925 P <
    # 7,000,000 iff P < 47,643.356...: the highest liquidating tick is 47,643.3
    t = RiskTiers.size_brackets(
        "okx", [("20", 75, "0.01", "0.013"), ("100", 50, "0.015", "0.02"), ("180", 20, "0.02", "0.05")], "0.001"
    ).with_added_rate(500)
    floors, mmr, cum, k = one(t)
    assert trigger_price(150_000, 150_000 * 500_000 * V, 500_000 * U, V, 0, floors, mmr, cum, k, 1, 0, False) == 476_433


def test_deribit_size_linear_trigger():
    # Deribit BTC_USDC: MM = 1% + 25 x 0.005% = 1.125% for 25 BTC, fixed while the price moves. Long 25 BTC @100,000
    # with 100,000 USDC: 100,000 + 25 (P - 100,000) < 25 P x 1.125% iff 24.71875 P < 2,400,000 iff P < 97,092.288...:
    # the highest liquidating tick is 97,092.2
    t = RiskTiers.from_brackets("d", [("1000000000000", 50, "0.01", "0.02")], "none").with_rate_per_size(
        "0.00005", "0.001"
    )
    floors, mmr, cum, k = one(t)
    got = trigger_price(
        25_000, 25_000 * 1_000_000 * V, 100_000 * U, V, 0, floors, mmr, cum, k, 0, t.rate_per_lot, False
    )
    assert got == 970_922


# --------------------------------------------------------------------------- trigger path == full sweep


RULE_TABLES = {
    "size": RiskTiers.size_brackets(
        "okx", [("20", 75, "0.01", "0.013"), ("100", 50, "0.015", "0.02"), ("180", 20, "0.02", "0.05")], "0.001"
    ).with_added_rate(500),
    "size-linear": RiskTiers.from_brackets("d", [("1000000000000", 50, "0.01", "0.02")], "none").with_rate_per_size(
        "0.00005", "0.001"
    ),
    "notional": RiskTiers.from_brackets(
        "b", [("50000", 125, "0.004", "0.008"), ("250000", 100, "0.005", "0.01"), ("1000000", 50, "0.01", "0.02")]
    ),
}


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 200),
    st.sampled_from(sorted(RULE_TABLES)),
    st.sampled_from([0, ENTRY_ISOLATED, ENTRY_CROSS, ENTRY_ISOLATED | ENTRY_CROSS]),
)
def test_trigger_path_lists_what_the_full_sweep_lists(seed, n, table, mm_entry):
    # single-position accounts near their requirement under each rule: the positions whose trigger the mark
    # reaches are exactly the ones the full sweep finds below their MM, at several marks
    rng = np.random.default_rng(seed)
    t = RULE_TABLES[table]
    size = rng.integers(1, 250_000, n) * np.where(rng.random(n) < 0.5, 1, -1)
    entry = rng.integers(450_000, 550_000, n)
    cost = size * entry * V
    iso = rng.random(n) < 0.5
    value = np.abs(cost)
    mm_guess = np.array([t.maintenance_margin(int(x), int(abs(s))) for x, s in zip(value, size)], dtype=np.int64)
    money = mm_guess + rng.integers(-(10**9), 5 * 10**10, n)
    collateral = np.where(iso, money, 0)
    wallet = np.where(iso, 0, money)
    book = BookCols(
        size.astype(np.int64), cost.astype(np.int64), collateral.astype(np.int64), iso, np.arange(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64), wallet.astype(np.int64), np.zeros(n, dtype=bool),
        np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64),
    )  # fmt: skip
    floors, mmr, cum, n_tiers = tier_arrays([t])
    rule = tier_rules([t], 0, mm_entry)
    trig = np.zeros(n, dtype=np.int64)
    for mark in (470_000, 495_000, 500_000, 505_000, 530_000):
        val = AccountValuation(np.array([mark]), np.array([V]), floors, mmr, cum, n_tiers, *rule)
        update_triggers(np.arange(n, dtype=np.int64), book, val, trig)
        out_t = np.zeros(n, dtype=np.int64)
        listed_t = set(out_t[: trigger_sweep(book, trig, val, out_t)].tolist())
        out_s = np.zeros(n, dtype=np.int64)
        listed_s = set(out_s[: margin_sweep(book, val, SweepCols.zeros(n, n), out_s)].tolist())
        # the reference: equity < MM with exact Python ints
        ref = set()
        for i in range(n):
            s, c = int(size[i]), int(cost[i])
            on_entry = mm_entry & (ENTRY_ISOLATED if iso[i] else ENTRY_CROSS)
            v_mm = abs(c) if on_entry else abs(s) * mark * V
            if int(money[i]) + s * mark * V - c < t.maintenance_margin(v_mm, abs(s)):
                ref.add(i)
        assert listed_s == ref, (table, mm_entry, mark)
        assert listed_t == ref, (table, mm_entry, mark)
        assert all(x not in (NEVER_LONG, NEVER_SHORT) or i not in ref for i, x in enumerate(trig))


@pytest.mark.parametrize("venue", ["okx", "bitmex", "bybit", "deribit"])
def test_venue_run_trigger_path_equals_full_sweep(venue):
    # a whole run of the default scenario (2,000 accounts) under the venue's margin rule: the trigger-price
    # screen and a full margin sweep at every step give the same events and book
    # as `delever run --venue` builds it (venue_run_inputs: the scenario's book, the venue's rules and tiers)
    base = load_scenario(default_scenario_path(), overrides={"book": {"generator": {"accounts": 2_000}}})
    sc, market = venue_run_inputs(base, venue, 0)
    rb = get_venue(venue)
    first_mmr = market.instrument.tiers.tiers[0].mmr_ppm  # the venue's tier 1 with its fee rate in the MMR
    assert (
        first_mmr == rb.contract(rb.engine_symbol()).margin.bands(0)[0].mmr * 10**6 + rb.liquidation_extra_mmr * 10**6
    )
    assert sc.margin.mm_entry() == (rb.lp_basis_isolated == "entry") + 2 * (rb.lp_basis_cross == "entry")
    fast = engine.run(sc, 0, market=market)
    full = engine.run(sc, 0, market=market, full_sweep=True)
    assert fast.events["kind"].size > 0
    for c in fast.events:
        assert np.array_equal(fast.events[c], full.events[c]), f"events column {c} differs"
    for f in ("wallet", "size", "cost", "collateral"):
        assert np.array_equal(getattr(fast.book, f), getattr(full.book, f)), f"book column {f} differs"


@pytest.mark.parametrize("venue", ["okx", "bitmex", "bitget"])
def test_book_generated_under_venue_tiers_partials_fire_and_both_paths_agree(venue):
    # a book generated under the venue's own tiers (size tiers for OKX, BitMEX's on the XBT value: the generator
    # caps leverage by the tier) with positions large enough to sit above the tiers that close whole (median 2 M USDT):
    # partial liquidation in tier mode fires (two tiers a step on OKX and Bitget), and the trigger screen (OKX,
    # BitMEX) or the full sweep (Bitget's jumping MM) finds the same liquidations as a full sweep every step
    # (apply_venue: BitMEX's inverse XBTUSD runs in XBT, the book generated in its reciprocal form)
    from delever.venues.scenario import apply_venue

    book = {"book": {"generator": {"accounts": 3_000, "notional_median": "2000000", "notional_sigma": 1.0}}}
    sc = apply_venue(load_scenario(default_scenario_path(), overrides=book), venue)
    market = engine.prepare(sc, 1)
    fast = engine.run(sc, 1, market=market)
    full = engine.run(sc, 1, market=market, full_sweep=True)
    assert fast.extra["partial_liquidation"]["fired_steps"] > 0
    for c in fast.events:
        assert np.array_equal(fast.events[c], full.events[c]), f"events column {c} differs"
