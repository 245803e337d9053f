"""The fillable-price IOC and discrete order books in whole runs: selected by scenario options, money conserved at
every step (the engine's check), and the default scenario untouched when they are off."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever.engine import prepare, run
from delever.errors import InputError
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import VENUES, get_venue

SMALL = {
    "book": {"generator": {"accounts": 600}},
    "prices": {"start": "2025-10-10T21:12:00Z", "end": "2025-10-10T21:22:00Z"},
    "liquidity": {"depth_scale": 0.0005},
    "insurance_fund": {"balance": "2000"},
}
IOC = {"order": "fillable-price-ioc"}


def small(**extra):
    merged = {**SMALL, **extra}
    merged["liquidity"] = {**SMALL["liquidity"], **extra.get("liquidity", {})}
    return load_scenario(default_scenario_path(), merged)


def test_scenario_options_validate():
    assert small().liquidation.order == "market" and small().liquidity.levels is None
    with pytest.raises(InputError, match="order"):
        small(liquidation={"order": "limit"})
    with pytest.raises(InputError, match="max_insurance_lost_per_step"):
        small(liquidation={"max_insurance_lost_per_step": "100"})  # a cap on the IOC's fills needs the IOC
    with pytest.raises(InputError, match="exactly one"):
        small(liquidity={"levels": {}})
    with pytest.raises(InputError, match="exactly one"):
        small(liquidity={"levels": {"file": "x.csv", "spacing_pct": "0.1"}})
    with pytest.raises(InputError, match="bankruptcy_adjustment"):
        small(liquidation={**IOC, "bankruptcy_adjustment": "0.5"})  # BA >= 1 (bankruptcy_adjustment_ppm >= 1e6)


def test_a_missing_snapshot_file_is_an_input_error(tmp_path):
    sc = small(liquidity={"levels": {"file": str(tmp_path / "none.csv")}})
    with pytest.raises(InputError, match="file not found"):
        prepare(sc, 0)


def test_generated_levels_replace_the_curve_in_a_run():
    sc = small(liquidity={"levels": {"spacing_pct": "0.05"}})
    m = prepare(sc, 0)
    # a step curve: every level distance appears twice on the grid
    d = m.curve.distance
    assert d[1] == d[2] == pytest.approx(0.0005) and d[3] == d[4] == pytest.approx(0.001)


def fills(r) -> tuple[int, int]:
    e = r.events
    return int((e["kind"] == ev.LIQUIDATION_FILL).sum()), int((e["kind"] == ev.ADL_FILL).sum())


def test_ioc_run_conserves_money_and_leaves_some_orders_partly_filled():
    # levels every 0.002% (~2 lots each at this depth): the fillable price of a barely liquidatable account is
    # within a few ticks of the mark, so a coarser book leaves its IOC unfilled until the account is bankrupt
    sc = small(liquidation=IOC, adl={"trigger": "zero-fill", "policy": "random-offset"},
               liquidity={"levels": {"spacing_pct": "0.002"}})  # fmt: skip
    r = run(sc, 0, market=prepare(sc, 0), check_every_step=True)
    assert r.money_end == r.money_start
    long_, short = r.book.open_interest(0)
    assert long_ == short
    e = r.events
    liq = e["kind"] == ev.LIQUIDATION_FILL
    assert liq.any()
    # an IOC that stops at its limit leaves the position open: some position is liquidated in more than one step
    pos, steps = e["position"][liq], e["step"][liq]
    multi = [p for p in np.unique(pos) if np.unique(steps[pos == p]).size > 1]
    assert multi


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trigger=st.sampled_from(["zero-fill", "fund-cannot-pay", "negative-equity"]),
    levels=st.sampled_from([None, "0.002", "0.05"]),
    cap=st.sampled_from([None, "5", "500"]),
    seed=st.integers(0, 2),
)
def test_money_is_conserved_under_every_ioc_variant(trigger, levels, cap, seed):
    lq: dict = dict(IOC)
    if cap is not None:
        lq["max_insurance_lost_per_step"] = cap
    extra: dict = {"liquidation": lq, "adl": {"trigger": trigger}}
    if levels is not None:
        extra["liquidity"] = {"levels": {"spacing_pct": levels}}
    sc = small(**extra)
    r = run(sc, seed, market=prepare(sc, seed), check_every_step=True)
    assert r.money_end == r.money_start
    long_, short = r.book.open_interest(0)
    assert long_ == short


@pytest.mark.parametrize("name", sorted(VENUES))
def test_every_rulebook_selects_its_surplus_rule_and_lists_no_surplus_gap(name):
    rb = get_venue(name)
    o = rb.scenario_overrides()
    want = "trader" if rb.liquidation.surplus_to == "trader" else "insurance-fund"
    assert o["liquidation"]["surplus"] == want
    assert load_scenario(default_scenario_path(), o).liquidation.surplus == want
    assert not any("surplus" in g for g in rb.engine_gaps())
    if rb.liquidation.style == "fillable_price_ioc":  # dYdX: the IOC, its cap and its trigger, no gap left for them
        assert o["liquidation"]["order"] == "fillable-price-ioc" and rb.engine_adl_rule()["trigger"] == "zero-fill"
        assert not any("fillable" in g or "MaxQuantumsInsuranceLost" in g or "filled nothing" in g
                       for g in rb.engine_gaps())  # fmt: skip


def test_a_run_against_an_l2_snapshot_file_conserves_money(tmp_path):
    # a snapshot around the default path's price level at 21:12 (~113,000): ten 1-BTC levels each side, $5 apart
    rows = ["side,price,size"]
    rows += [f"bid,{112_995 - 5 * i},1" for i in range(10)] + [f"ask,{113_005 + 5 * i},1" for i in range(10)]
    (tmp_path / "l2.csv").write_text("\n".join(rows) + "\n")
    sc = small(liquidation=IOC, adl={"trigger": "zero-fill"}, liquidity={"levels": {"file": str(tmp_path / "l2.csv")}})
    m = prepare(sc, 0)
    assert m.curve.bid_lots[-1] == 10_000 and m.curve.ask_lots[-1] == 10_000  # 10 BTC a side, lots of 0.001
    r = run(sc, 0, market=m, check_every_step=True)
    assert r.money_end == r.money_start
    assert (r.events["kind"] == ev.LIQUIDATION_FILL).any()
