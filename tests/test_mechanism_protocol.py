"""The protocol between the step loop and the mechanisms (:mod:`delever.mechanisms.base`): a mechanism added to the
registry, and nowhere else, is called at every phase in the documented order; a do-nothing mechanism changes no
event; a gate halts liquidations; ``per_step`` turns the compiled quiet-step loop off without changing events;
the registry's order is the engine's step order.

The book and the crash are tests/test_mechanisms_conservation.py's (:func:`build`): 200 accounts at median
leverage 20 through a 30% fall, so that liquidations happen on some steps and not on others.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_mechanisms_conservation import build

from delever import engine
from delever import events as ev
from delever.mechanisms import registry
from delever.mechanisms.base import Mechanism
from delever.scenario import MechanismsConfig

PHASE_RANK = {"before_marks": 0, "before_sweep": 1, "take": 2, "size": 3, "after_stage": 4, "after_liquidations": 5}


class Recorder(Mechanism):
    """Records each phase call ``(phase, step)``; changes nothing."""

    name = "recorder"
    made: list[Recorder] = []

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        Recorder.made.append(self)

    @classmethod
    def from_scenario(cls, scenario) -> Recorder:
        return cls()

    def add_accounts(self, sim, book):
        self.calls.append(("add_accounts", -1))
        return book

    def setup(self, sim) -> None:
        self.calls.append(("setup", -1))
        sim.extra[self.name] = {"fired_steps": 0, "accounts": 0, "notional": 0}

    def before_marks(self, sim, t, live) -> None:
        self.calls.append(("before_marks", t))

    def before_sweep(self, sim, t, m) -> bool:
        self.calls.append(("before_sweep", t))
        return False

    def take(self, sim, batch) -> None:
        assert batch.order.size and batch.lots is None  # sized after the take phase
        self.calls.append(("take", batch.t))

    def size(self, sim, batch) -> None:
        assert batch.lots.shape == batch.order.shape  # the engine's "whole position" plan, before this mechanism
        self.calls.append(("size", batch.t))

    def after_stage(self, sim, batch) -> None:
        assert batch.ran
        self.calls.append(("after_stage", batch.t))

    def after_liquidations(self, sim, t, m) -> None:
        self.calls.append(("after_liquidations", t))

    def finish(self, sim, extra) -> None:
        self.calls.append(("finish", -1))
        extra[self.name]["calls"] = len(self.calls)


class EveryStepRecorder(Recorder):
    per_step = True


class Gate(Mechanism):
    """Halts every instrument on every step."""

    name = "gate"

    @classmethod
    def from_scenario(cls, scenario) -> Gate:
        return cls()

    def before_sweep(self, sim, t, m) -> bool:
        return True


@pytest.fixture(scope="module")
def crash():
    path_kw = {"steps": 120, "rng_seed": 5, "vol": 0.0005, "shock_at": 0.2, "shock": -0.35, "shock_steps": 30}
    return build(
        {},
        seed=11,
        accounts=200,
        leverage_median=20.0,
        long_fraction=0.7,
        isolated_fraction=0.3,
        fund_usdt=100_000,
        depth_scale=0.002,
        lp_accounts=2,
        fee_rate="0.005",
        basis_ema_s=5.0,
        half_life_s=10.0,
        path_kw=path_kw,
    )


@pytest.fixture(scope="module")
def plain(crash):
    sc, market = crash
    return engine.run(sc, 11, market=market)


def run_with(monkeypatch, crash, *extra):
    monkeypatch.setattr(registry, "STEP_MECHANISMS", registry.STEP_MECHANISMS + extra)
    Recorder.made.clear()
    sc, market = crash
    return engine.run(sc, 11, market=market)


def assert_same_events(a, b):
    assert a.events.keys() == b.events.keys()
    for c in a.events:
        assert np.array_equal(a.events[c], b.events[c]), f"events column {c} differs"


@pytest.mark.parametrize("recorder", [Recorder, EveryStepRecorder], ids=["quiet-steps-compiled", "every-step"])
def test_a_registered_mechanism_is_called_at_every_phase_in_order(monkeypatch, crash, plain, recorder):
    r = run_with(monkeypatch, crash, recorder)
    (rec,) = Recorder.made
    calls = rec.calls
    assert calls[:2] == [("add_accounts", -1), ("setup", -1)] and calls[-1] == ("finish", -1)
    assert r.extra["recorder"]["calls"] == len(calls)
    steps: dict[int, list[str]] = {}
    for phase, t in calls[2:-1]:
        steps.setdefault(t, []).append(phase)
    liquidating = set(np.unique(r.events["step"][r.events["kind"] == ev.LIQUIDATION_FILL]).tolist())
    assert liquidating  # the crash liquidates
    for t, phases in steps.items():
        # one instrument: at most one batch a step, each phase once, in the documented order
        assert [PHASE_RANK[p] for p in phases] == sorted(PHASE_RANK[p] for p in phases), (t, phases)
        assert phases[:2] == ["before_marks", "before_sweep"] and phases[-1] == "after_liquidations"
        assert ("take" in phases) == (t in liquidating), (t, phases)
    every = set(range(r.steps.time_ns.size))
    # the compiled loop runs the quiet steps without the mechanism unless it acts every step
    assert set(steps) == every if recorder.per_step else liquidating <= set(steps) < every
    assert_same_events(r, plain)  # a mechanism that does nothing changes nothing


def test_per_step_turns_the_compiled_loop_off(monkeypatch, crash):
    monkeypatch.setattr(registry, "STEP_MECHANISMS", registry.STEP_MECHANISMS + (EveryStepRecorder,))
    sc, market = crash
    assert not engine.Simulation(sc, 11, market).fast
    monkeypatch.setattr(registry, "STEP_MECHANISMS", registry.STEP_MECHANISMS[:-1] + (Recorder,))
    assert engine.Simulation(sc, 11, market).fast


def test_a_gate_halts_every_liquidation(monkeypatch, crash, plain):
    r = run_with(monkeypatch, crash, Gate)
    kinds = set(r.events["kind"].tolist())
    assert ev.LIQUIDATION_FILL in set(plain.events["kind"].tolist())
    assert not kinds & {ev.LIQUIDATION_FILL, ev.ADL_FILL, ev.INSURANCE_PAYOUT}
    assert r.money_end == r.money_start


def test_registry_order_is_the_engine_step_order():
    # withdrawal before the marks; dynamic margin, funding, then the breaker's gate before the sweep; the fund's
    # cap is set aside before anyone in a batch can be paid; the option margin's stop rule takes before the
    # backstop (an account its futures' close made healthy keeps its options); the backstop takes before the
    # per-step limits; partial (or incremental) sizing before the limits' cut; partial bookkeeping before the
    # clawback; proactive deleveraging last (engine package docstring)
    assert [m.name for m in registry.STEP_MECHANISMS] == [
        "mm_withdrawal",
        "dynamic_margin",
        "funding",
        "circuit_breaker",
        "insurance_cap",
        "options",
        "backstop",
        "partial_liquidation",
        "incremental_liquidation",
        "block_limits",
        "socialized_loss",
        "proactive_deleveraging",
    ]
    # block_limits is configured in [liquidation], options in [options], not in [mechanisms]
    step_names = {m.name for m in registry.STEP_MECHANISMS} - {"block_limits", "options"}
    book_names = {m.name for m in registry.BOOK_MECHANISMS}
    assert book_names == {"limits", "socialized_loss"}  # act when the book is built
    assert step_names | book_names | {"cross_margin"} == set(MechanismsConfig.model_fields)  # the market is built


@pytest.mark.parametrize(
    ("mechanisms", "cap", "protected"),
    [
        pytest.param({}, None, 1.0, id="none-on"),
        pytest.param({"limits": {"enabled": True, "max_account_notional": "20000"}}, "20000", 1.0, id="limits-on"),
        pytest.param({"limits": {"enabled": False, "max_account_notional": "20000"}}, None, 1.0, id="limits-off"),
        pytest.param({"socialized_loss": {"enabled": True, "protected_fraction": 0.25}}, None, 0.25,
                     id="socialized-on"),
        pytest.param({"socialized_loss": {"enabled": False, "protected_fraction": 0.25}}, None, 1.0,
                     id="socialized-off"),
    ],
)  # fmt: skip
def test_book_phase_gives_what_the_enabled_mechanisms_ask_of_the_book(mechanisms, cap, protected):
    from decimal import Decimal

    from delever.scenario import default_scenario_path, load_scenario

    rules = registry.book_rules(load_scenario(default_scenario_path(), {"mechanisms": mechanisms}))
    assert rules.max_account_notional == (None if cap is None else Decimal(cap))
    assert rules.protected_fraction == protected


def test_a_book_mechanism_added_to_the_registry_shapes_the_book(monkeypatch):
    """A mechanism listed in BOOK_MECHANISMS, and nowhere else, caps the generated book: no engine edit."""
    from dataclasses import replace
    from decimal import Decimal

    from delever.scenario import default_scenario_path, load_scenario

    class Cap(Mechanism):
        name = "cap"

        @classmethod
        def from_scenario(cls, scenario):
            return cls()

        def shape_book(self, rules):
            return replace(rules, max_account_notional=Decimal(1000))

    sc = load_scenario(default_scenario_path(), {"book": {"generator": {"accounts": 300}}})
    plain = engine.prepare(sc, 1).book
    monkeypatch.setattr(registry, "BOOK_MECHANISMS", registry.BOOK_MECHANISMS + (Cap,))
    capped = engine.prepare(sc, 1).book
    traders = lambda b: ~b.exempt[b.account]  # noqa: E731
    entry = lambda b: np.abs(b.cost[traders(b)])  # noqa: E731
    assert entry(plain).max() > 1000 * 10**6 >= entry(capped).max()  # money units: 1,000 USDT
