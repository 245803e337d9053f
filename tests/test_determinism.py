"""A run is a pure function of (scenario, seed): the same inputs give byte-identical output files.

Two small variants of the default scenario (real 10 October 2025 prices and depth, 300 generated accounts):
the default book, and a thin book (depth scale 0.0005) with an empty insurance fund and 20x median leverage,
whose run goes through insurance payouts and ADL (queue ranking, partial fills), the parts with the most
ordering decisions. Each is run twice - once in this process, once in a fresh interpreter with another hash
seed - and every file :func:`delever.output.write_outputs` writes is compared byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from delever import engine
from delever import events as ev
from delever.output import write_outputs
from delever.scenario import default_scenario_path, load_scenario

FILES = ("summary.json", "events.parquet", "accounts.parquet", "steps.parquet", "report.html")
VARIANTS = {
    "default-book": {"book": {"generator": {"accounts": 300}}},
    "thin-book-adl": {
        "book": {"generator": {"accounts": 300, "leverage_median": 20.0}},
        "insurance_fund": {"balance": 0},
        "liquidity": {"depth_scale": 0.0005},
    },
}


def run_and_write(overrides: dict, seed: int, out: Path) -> dict:
    sc = load_scenario(default_scenario_path(), overrides=overrides)
    return write_outputs(engine.run(sc, seed), out)


def assert_same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between identical runs"
    marked = sorted((*FILES, ".delever.json"))  # the marker of a directory delever made (delever.outdir)
    assert sorted(p.name for p in a.iterdir()) == marked == sorted(p.name for p in b.iterdir())


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_scenario_and_seed_give_byte_identical_outputs(variant, tmp_path):
    overrides = VARIANTS[variant]
    summary = run_and_write(overrides, 11, tmp_path / "a")
    run_and_write(overrides, 11, tmp_path / "b")
    assert_same_files(tmp_path / "a", tmp_path / "b")
    assert summary["conservation_error"] == 0 and summary["liquidations"] > 0
    if variant == "thin-book-adl":
        assert summary["adl_events"] > 0 and summary["insurance_fund_paid"] > 0


@pytest.mark.slow
def test_identical_outputs_from_a_fresh_interpreter_with_another_hash_seed(tmp_path):
    # Nothing may depend on set/dict iteration order of strings, object ids or the clock: a second process
    # with PYTHONHASHSEED=12345 must write the same bytes.
    overrides = VARIANTS["thin-book-adl"]
    run_and_write(overrides, 11, tmp_path / "here")
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_determinism import run_and_write
        run_and_write(json.loads(sys.argv[1]), 11, Path(sys.argv[2]))
    """)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(overrides), str(tmp_path / "there")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert_same_files(tmp_path / "here", tmp_path / "there")


def test_a_different_seed_gives_a_different_events_table(tmp_path):
    overrides = VARIANTS["thin-book-adl"]
    s1 = run_and_write(overrides, 11, tmp_path / "s11")
    s2 = run_and_write(overrides, 12, tmp_path / "s12")
    e1 = pq.read_table(tmp_path / "s11" / "events.parquet")
    e2 = pq.read_table(tmp_path / "s12" / "events.parquet")
    assert not e1.equals(e2)
    assert (tmp_path / "s11" / "events.parquet").read_bytes() != (tmp_path / "s12" / "events.parquet").read_bytes()
    assert (s1["seed"], s2["seed"]) == (11, 12)
    # the price path is the same real data: only the generated book (and so the events) changed
    st1 = pq.read_table(tmp_path / "s11" / "steps.parquet")
    st2 = pq.read_table(tmp_path / "s12" / "steps.parquet")
    assert st1.column("index_price").equals(st2.column("index_price"))


def test_events_parquet_holds_exactly_the_run_events(tmp_path):
    # the file is the run's event log: same rows, same order, exact integer columns
    sc = load_scenario(default_scenario_path(), overrides=VARIANTS["thin-book-adl"])
    r = engine.run(sc, 11)
    write_outputs(r, tmp_path / "out")
    t = pq.read_table(tmp_path / "out" / "events.parquet")
    assert t.num_rows == r.events["kind"].size
    assert np.array_equal(t.column("step").to_numpy(), r.events["step"])
    assert np.array_equal(t.column("size_lots").to_numpy(), r.events["size"])
    assert np.array_equal(t.column("price_ticks").to_numpy(), r.events["price"])
    assert np.array_equal(t.column("amount_units").to_numpy(), r.events["amount"])
    kinds = np.array(ev.KIND_NAMES)[r.events["kind"].astype(np.int64)]
    assert t.column("kind").to_pylist() == kinds.tolist()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("venue", [None, "bitmex", "hyperliquid", "deribit"])
def test_quiet_steps_in_one_compiled_loop_change_nothing(variant, venue):
    # engine.run takes the steps where nobody is reached in one compiled loop; stepping every step in Python
    # gives the same events, series and books
    from delever.venues.scenario import apply_venue

    sc = load_scenario(default_scenario_path(), overrides=VARIANTS[variant])
    sc = apply_venue(sc, venue) if venue else sc
    fast = engine.run(sc)
    sim = engine.Simulation(sc, sc.seed, engine.prepare(sc, sc.seed), own_book=True)
    assert sim.fast
    sim.fast = False
    for t in range(sim.T):
        sim.step(t)
    slow = sim.result()
    for c in fast.events:
        assert np.array_equal(fast.events[c], slow.events[c]), c
    for name in ("time_ns", "index_ticks", "mark_ticks", "last_ticks", "fund"):
        assert np.array_equal(getattr(fast.steps, name), getattr(slow.steps, name)), name
    for name in ("wallet", "size", "cost", "collateral"):
        assert np.array_equal(getattr(fast.book, name), getattr(slow.book, name)), name
    assert fast.money_end == slow.money_end == slow.money_start
