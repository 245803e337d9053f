"""The venues' liquidation styles and ADL triggers beyond Drift's (tests/test_drift_rules.py): Deribit's incremental
liquidation, Kraken's IOC-assignment-unwind, Bitget's and Bybit's drawdown triggers. Hand-worked on the small market
of tests/test_mechanisms.py (Binance 2021 tiers, V = 100 money units per lot-tick, mark = index, one LP).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from test_mechanisms import DEEP, P0, SOCIAL_TICKS, U, book_of, market, rows, run, scenario, socialized_book

from delever import events as ev
from delever.adl.trigger import CTL_START_AT, CTL_STOP_ABOVE, AdlTriggerState
from delever.config.adl import AdlConfig
from delever.errors import InputError
from delever.mechanisms.incremental import round_budget
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import get_venue
from delever.venues.scenario import apply_venue

INCREMENTAL = {"lots_per_round": 10, "rounds_per_s": 25}


@pytest.mark.parametrize(
    ("per_round", "rounds", "dt", "budget"),
    [
        pytest.param(10, 25, 1.0, 250, id="deribit-old-10x25-per-second"),
        pytest.param(200, 20, 1.0, 4_000, id="deribit-other-200x20"),
        pytest.param(10, 25, 0.5, 120, id="half-second-step-12-rounds"),
        pytest.param(10, 25, 0.01, 10, id="step-shorter-than-a-round-one-round"),
    ],
)
def test_round_budget(per_round, rounds, dt, budget):
    assert round_budget(per_round, rounds, dt) == budget


def test_incremental_stops_at_the_first_round_back_above_mm():
    # Isolated long 5,000 lots (5 BTC) at 100,000 with 13,590 USDT; the index falls to 98,000: equity 3,590 < MM
    # 490,000 x 1% - 1,300 = 3,600 (tier 3). Closing c lots at the mark: fee 0.3% x 98c = 0.294c, MM of the rest
    # (5,000 - c) x 98 x 1% - 1,300 = 3,600 - 0.98c. Back when 3,590 - 0.294c >= 3,600 - 0.98c, c >= 14.58: the
    # second round, c = 20 (c = 10: 3,587.06 < 3,590.2; c = 20: 3,584.12 >= 3,580.4). One order of 20 lots (deep
    # book: one tick under the centre, 979,999), then the account is above MM and nothing more is closed.
    book = book_of([(5_000, P0, 13_590 * U, True)])
    r = run(scenario(incremental_liquidation=INCREMENTAL), market(book, [P0] * 3 + [980_000] * 4, DEEP))
    fills = rows(r, ev.LIQUIDATION_FILL)
    assert [(x["size"], x["price"]) for x in fills] == [(-20, 979_999)]
    # the fee on the fill's notional: 0.3% x 20 x 979,999 x 100 = 0.3% x 1,959,998,000 = 5,879,994
    assert [x["amount"] for x in rows(r, ev.LIQUIDATION_FEE)] == [-5_879_994]
    assert r.book.size[0] == 4_980
    assert r.extra["incremental_liquidation"]["fired_steps"] == 1


def test_incremental_budget_binds_step_after_step():
    # The same long at 97,800: equity 2,590, MM 489,000 x 1% - 1,300 = 3,590; back needs 2,590 - 0.2934c >=
    # 3,590 - 0.978c, c >= 1,460.7 lots, beyond the step's 10 x 25 = 250. So 250 lots a step (each at 977,999,
    # one tick under the centre), the account still below MM after each (after 250: ~2,516.6 vs 3,345.5; after
    # 500: ~2,443.3 vs 3,101): three steps at 97,800 close 750 lots.
    book = book_of([(5_000, P0, 13_590 * U, True)])
    r = run(scenario(incremental_liquidation=INCREMENTAL), market(book, [P0] * 3 + [978_000] * 3, DEEP))
    assert [(x["size"], x["price"]) for x in rows(r, ev.LIQUIDATION_FILL)] == [(-250, 977_999)] * 3
    assert r.book.size[0] == 4_250


def test_incremental_closes_a_position_within_one_step_whole():
    # 200 lots (0.2 BTC) isolated at 100,000 with 300 USDT; at 98,600 equity 300 - 280 = 20 < MM 19,720 x 0.4%
    # = 78.88 (tier 1). Closing never restores it within the budget (the fee 0.3% is near the MMR 0.4%: after
    # 200 lots, nothing is left): the whole position, 200 <= 250 lots, goes in one order.
    book = book_of([(200, P0, 300 * U, True)])
    r = run(scenario(incremental_liquidation=INCREMENTAL), market(book, [P0] * 3 + [986_000] * 2, DEEP))
    assert [x["size"] for x in rows(r, ev.LIQUIDATION_FILL)] == [-200]
    assert r.book.size[0] == 0


def test_partial_and_incremental_together_are_an_input_error():
    with pytest.raises(InputError, match="incremental_liquidation"):
        load_scenario(
            default_scenario_path(),
            {"mechanisms": {"partial_liquidation": {"enabled": True}, "incremental_liquidation": {"enabled": True}}},
        )


@pytest.mark.parametrize(("field", "bad"), [("lots_per_round", 0), ("rounds_per_s", -1)])
def test_incremental_options_are_validated(field, bad):
    with pytest.raises(InputError, match=field):
        load_scenario(default_scenario_path(), {"mechanisms": {"incremental_liquidation": {field: bad}}})


def test_deribit_rulebook_selects_incremental_liquidation():
    """Deribit's data (TV-32: 10 contracts a round, 25 rounds a second) become the scenario's option; the gap is
    gone; the socialized loss over the day's winners stays."""
    rb = get_venue("deribit")
    mech = rb.scenario_overrides()["mechanisms"]
    assert mech["incremental_liquidation"] == {"enabled": True, "lots_per_round": 10, "rounds_per_s": 25}
    assert mech["socialized_loss"] == {"enabled": True}
    assert not any("incremental" in g for g in rb.engine_gaps())
    sc = apply_venue(load_scenario(default_scenario_path()), "deribit")
    assert sc.mechanisms.incremental_liquidation.enabled and not sc.mechanisms.partial_liquidation.enabled


# --- Kraken: IOC, assignment and unwind -------------------------------------------------------------------------


def _with_trigger(sc, trigger: str):
    return sc.model_copy(update={"adl": sc.adl.model_copy(update={"trigger": trigger})})


def test_kraken_never_draws_a_fund_the_unfilled_rest_is_unwound_at_bp():
    # The isolated long (1,000 lots, 2,000 USDT at 100,000; BP 98,000) at 97,000: any book fill (at or under the
    # index) leaves its equity below zero, so Kraken's IOC, limited to keep equity >= 0, fills nothing; the whole
    # position is unwound against the top-ranked opposing position (BitMEX's key stands in: the 1,000-lot short,
    # account 1) at BP 98,000, and the fund of 1,000,000 USDT pays nothing ("balances can never go negative").
    # Under the default trigger the same close goes to the book and the fund pays the 1,000.5 USDT deficit.
    book = socialized_book(True)
    mk = market(book, SOCIAL_TICKS, lots_per_pct=1e6)
    r = run(_with_trigger(scenario(fund="1000000"), "negative-equity"), mk)
    assert [(x["account"], x["size"], x["price"]) for x in rows(r, ev.ADL_COUNTERPARTY_FILL)] == [(1, 1_000, 980_000)]
    assert not rows(r, ev.LIQUIDATION_FILL, ev.INSURANCE_PAYOUT, ev.BAD_DEBT)
    assert r.book.size[0] == 0 and r.book.collateral[0] == 0 and r.book.wallet[0] == 0
    r0 = run(scenario(fund="1000000"), mk)
    assert [x["amount"] for x in rows(r0, ev.INSURANCE_PAYOUT)] == [1_000_500_000]
    assert not rows(r0, ev.ADL_COUNTERPARTY_FILL)


def test_kraken_rulebook_selects_its_trigger():
    rb = get_venue("kraken")
    assert rb.engine_adl_rule() == {"trigger": "negative-equity", "fill": "bankruptcy"}
    gaps = rb.engine_gaps()
    assert not any(g.startswith("ADL trigger") for g in gaps)
    # the IOC at BP is the engine's (bankruptcy-ioc); only the unpublished assignment stays, as a stand-in
    assert gaps == []
    assert any("ioc_assignment_unwind" in g and "not published" in g for g in rb.engine_stand_ins())
    sc = apply_venue(load_scenario(default_scenario_path()), "kraken")
    assert (sc.adl.trigger, sc.adl.fill) == ("negative-equity", "bankruptcy")
    assert sc.liquidation.order == "bankruptcy-ioc"


# --- Bitget and Bybit: drawdown triggers ---------------------------------------------------------------------------


def _state(**kw) -> AdlTriggerState:
    return AdlTriggerState(AdlConfig(trigger="fund-drawdown", **kw), 1_000, 1.0)


def test_bitget_peak_since_the_start():
    # The fund starts at 1,000 and ends steps 0-4 at 2,000, 900, 800, 600, 600. A 3 s window at step 5 holds
    # steps 2-4 (800, 600, 600): peak 800, starts at floor(800 x 0.70) = 560. Bitget's "drops by 30% from its
    # peak" with no window: the peak since the start, 2,000: starts at floor(2,000 x 0.70) = 1,400, so 600 is a
    # 70% drawdown and ADL is on.
    fund_s = np.array([2_000, 900, 800, 600, 600, 0, 0], dtype=np.int64)
    marks = np.zeros(7, dtype=np.int64)
    window = _state(drawdown_window_s=3.0)
    assert window.control(5, 600, fund_s, 1, marks)[0][CTL_START_AT] == 560
    run_peak = _state(drawdown_window_s=3.0, drawdown_peak="run")
    assert run_peak.control(2, 900, fund_s, 1, marks)[0][CTL_START_AT] == 1_400  # running max: steps 0-1
    ctl = run_peak.control(5, 600, fund_s, 1, marks)[0]
    assert (ctl[CTL_START_AT], ctl[CTL_STOP_ABOVE]) == (1_400, 1_400)
    # a start balance above every later one is the peak: 1,000 x 0.70 = 700
    assert _state(drawdown_peak="run").control(3, 500, np.array([800, 700, 600, 0]), 1, marks)[0][CTL_START_AT] == 700


@pytest.mark.parametrize(
    ("fund_now", "start_at"),
    [
        # peak 1,000 (start): 30% -> 700. Threshold 0.0005 USDT = 500 units.
        pytest.param(600, 700, id="above-threshold-starts-at-700"),
        pytest.param(500, -1, id="at-threshold-never-starts"),
        pytest.param(400, -1, id="below-threshold-never-starts"),
    ],
)
def test_bybit_threshold_gates_the_drawdown_start(fund_now, start_at):
    """Bybit: "trigger if balance > adlTriggerThreshold AND pnlRatio < insurancePnlRatio"."""
    state = _state(drawdown_min_balance=Decimal("0.0005"))
    ctl, _ = state.control(1, fund_now, np.array([1_000, 0], dtype=np.int64), 1, np.zeros(2, dtype=np.int64))
    assert ctl[CTL_START_AT] == start_at


def test_bitget_and_bybit_rulebooks_select_their_triggers():
    bitget = apply_venue(load_scenario(default_scenario_path()), "bitget").adl
    assert (bitget.trigger, bitget.drawdown_pct, bitget.drawdown_peak) == ("fund-drawdown", Decimal(30), "run")
    assert bitget.drawdown_close == "deficit" and bitget.drawdown_stop_pct is None
    bybit = apply_venue(load_scenario(default_scenario_path()), "bybit").adl
    assert (bybit.drawdown_pct, bybit.drawdown_stop_pct, bybit.drawdown_window_s) == (30, 25, 28_800.0)
    assert bybit.drawdown_min_balance == Decimal(10_000) and bybit.drawdown_peak == "window"  # API example value
    for name in ("bitget", "bybit"):
        assert not any(g.startswith("ADL trigger") for g in get_venue(name).engine_gaps())
        stand_ins = [g for g in get_venue(name).engine_stand_ins() if g.startswith("ADL trigger")]
        assert len(stand_ins) == 1 and "the engine triggers ADL when" not in stand_ins[0]


@pytest.mark.parametrize(
    ("adl", "field"),
    [({"drawdown_peak": "ever"}, "drawdown_peak"), ({"drawdown_min_balance": "-1"}, "drawdown_min_balance")],
    ids=["unknown-peak-rule", "negative-threshold"],
)
def test_drawdown_options_are_validated(adl, field):
    with pytest.raises(InputError, match=field):
        load_scenario(default_scenario_path(), {"adl": adl})
