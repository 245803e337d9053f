"""Checkpoint and resume (issue #13 item 4): a killed ``run``, ``sweep`` or ``compare`` continues with
``--resume`` and writes byte-identical (SHA-256) outputs; the checkpoint is removed when the outputs are written.

In-process: a simulation saved at several steps and restored into a freshly built one ends with exactly the
events, series and books of an uninterrupted :func:`delever.engine.run`, with each mechanism on. Out of
process: real ``delever`` commands are killed (SIGKILL) at several points and resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from delever import checkpoint as ck
from delever import engine
from delever.cli import EXIT_BAD_INPUT, app
from delever.scenario import default_scenario_path, load_scenario
from core_stack import MECHANISMS_OFF

runner = CliRunner()
LAUNCH = "import sys; from delever.cli import app; sys.argv[0] = 'delever'; app()"

WINDOW = {"prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:35:00Z"}}
VARIANTS = {
    "core": {},
    "thin-book-adl": {"insurance_fund": {"balance": 0}, "liquidity": {"depth_scale": 0.0005}},
    "circuit-breaker": {"mechanisms": {"circuit_breaker": {"enabled": True, "move_pct": 1.0}}},
    "funding": {"mechanisms": {"funding": {"enabled": True, "interval_s": 600}}},
    "partial-slice": {"mechanisms": {"partial_liquidation": {"enabled": True, "mode": "slice"}}},
    "backstop": {"mechanisms": {"backstop": {"enabled": True}}},
    "dynamic-margin": {"mechanisms": {"dynamic_margin": {"enabled": True}}},
    "mm-withdrawal": {"mechanisms": {"mm_withdrawal": {"enabled": True, "elasticity": 1.0}}},
    "proactive": {"mechanisms": {"proactive_deleveraging": {"enabled": True, "price_move_pct": 1.0}}},
    "socialized-loss": {
        "insurance_fund": {"balance": 0},
        "liquidity": {"depth_scale": 0.0005},
        "mechanisms": {"socialized_loss": {"enabled": True, "protected_fraction": 0.5}},
    },
    "step-limits": {"liquidation": {"max_positions_per_step": 3, "account_max_notional_per_step": "5000"}},
    "hierarchy-adl": {
        "insurance_fund": {"balance": 0},
        "liquidity": {"depth_scale": 0.0005},
        "adl": {"policy": "hierarchy"},
    },
}


def scenario(variant: str):
    over = {"book": {"generator": {"accounts": 400, "leverage_median": 20.0}}, **WINDOW}
    for k, v in VARIANTS[variant].items():
        over[k] = {**over.get(k, {}), **v}
    return load_scenario(default_scenario_path(), overrides=over)


def assert_same_result(a, b) -> None:
    for k in a.events:
        np.testing.assert_array_equal(a.events[k], b.events[k], err_msg=k)
    for k in ("mark_ticks", "last_ticks", "fund", "time_ns"):
        np.testing.assert_array_equal(getattr(a.steps, k), getattr(b.steps, k), err_msg=k)
    for k in ("wallet", "size", "cost", "collateral"):
        np.testing.assert_array_equal(getattr(a.book, k), getattr(b.book, k), err_msg=k)
        np.testing.assert_array_equal(getattr(a.book_start, k), getattr(b.book_start, k), err_msg=k)
    assert a.money_end == b.money_end and a.extra == b.extra


def run_with_restores(sc, market, tmp_path):
    """Run ``market`` saving the state at several steps, each time going on from the saved state in a new
    simulation; the result."""
    store = ck.Checkpoint(tmp_path / "out", "run", "k", resume=False)
    sim = engine.Simulation(sc, sc.seed, market)
    stops = sorted({1, sim.T // 3, sim.T // 2, (2 * sim.T) // 3, sim.T - 1})
    t = 0
    for stop in stops:  # save at each stop, then go on from the saved state in a new simulation
        while t < stop:
            t = sim.advance(t) if sim.fast else t
            if t < sim.T and t < stop:
                sim.step(t)
                t += 1
            t = min(t, stop) if not sim.fast else t
        store.save_state(sim, t)
        sim = engine.Simulation(sc, sc.seed, market)
        t = store.load_state(sim)
    while t < sim.T:
        t = sim.advance(t)
        if t < sim.T:
            sim.step(t)
            t += 1
    return sim.result()


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_restored_at_several_steps_gives_the_uninterrupted_result(variant, tmp_path):
    sc = scenario(variant)
    market = engine.prepare(sc, sc.seed)
    clean = engine.run(sc, sc.seed, market=market)
    assert clean.money_end == clean.money_start
    assert_same_result(run_with_restores(sc, market, tmp_path), clean)
    if variant in ("thin-book-adl", "socialized-loss", "hierarchy-adl"):
        assert clean.events["kind"].size > 0


SCENARIOS = default_scenario_path().parent
MULTI = {  # multi-instrument runs go through the same loop, so they checkpoint the same way
    "cross-margin-funding-breaker-backstop": (
        SCENARIOS / "binance-2025-10-10-cross-margin.toml",
        {
            "funding": {"enabled": True, "interval_s": 300},
            "circuit_breaker": {"enabled": True, "move_pct": 2.0},
            "backstop": {"enabled": True},
        },
    ),
    "calendar-spread-settles-between-stops": (SCENARIOS / "binance-btcusdt-2025-10-10-calendar-spread.toml", {}),
}


@pytest.mark.parametrize("variant", MULTI)
def test_multi_instrument_state_restored_gives_the_uninterrupted_result(variant, tmp_path):
    from delever.contagion import prepare_multi

    path, mechanisms = MULTI[variant]
    over = {
        "book": {"generator": {"accounts": 400, "leverage_median": 20.0}},
        "prices": {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:35:00Z"},
        "liquidity": {"depth_scale": 0.002},
        "insurance_fund": {"balance": "5000"},
        "mechanisms": {**MECHANISMS_OFF, **mechanisms},  # only these on
    }
    sc = load_scenario(path, overrides=over)
    market = prepare_multi(sc, sc.seed)
    clean = engine.run(sc, sc.seed, market=market)
    assert clean.money_end == clean.money_start
    resumed = run_with_restores(sc, market, tmp_path)
    assert_same_result(resumed, clean)
    for a, b in zip(resumed.instrument_steps, clean.instrument_steps, strict=True):
        for k in ("mark_ticks", "last_ticks", "fund"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    assert clean.events["kind"].size > 0


def test_checkpointed_run_equals_the_engine_run(tmp_path):
    sc = scenario("thin-book-adl")
    market = engine.prepare(sc, sc.seed)
    store = ck.Checkpoint(tmp_path / "out", "run", "k", resume=False)
    result = ck.run_checkpointed(sc, sc.seed, market, store, every_s=0.0)
    assert_same_result(result, engine.run(sc, sc.seed, market=market))


def test_the_checkpoint_holds_no_pickle(tmp_path):
    sc = scenario("core")
    market = engine.prepare(sc, sc.seed)
    store = ck.Checkpoint(tmp_path / "out", "run", "k", resume=False)
    sim = engine.Simulation(sc, sc.seed, market)
    sim.step(0)
    store.save_state(sim, 1)
    with np.load(store.dir / ck.STATE, allow_pickle=False) as z:  # raises on any object array
        assert all(z[k].dtype != object for k in z.files)


# -------------------------------------------------------------------------------------- refusals (exit 2)


def tiny(tmp_path: Path, accounts: int = 300) -> Path:
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", f"accounts = {accounts}", text, flags=re.M)
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_resume_without_a_checkpoint_is_refused(command, tmp_path):
    args = [command, str(tiny(tmp_path)), "--out", str(tmp_path / "out"), "--resume"]
    result = runner.invoke(app, args + (["--paths", "1"] if command == "sweep" else []))
    assert result.exit_code == EXIT_BAD_INPUT and "--resume" in result.output and "no checkpoint" in result.output
    assert sorted(os.listdir(tmp_path)) == ["scenario.toml"]


def test_resume_of_another_run_is_refused(tmp_path):
    sc = tiny(tmp_path)
    out = tmp_path / "out"
    ck.Checkpoint(out, "run", "another run's key", resume=False)
    result = runner.invoke(app, ["run", str(sc), "--out", str(out), "--resume"])
    assert result.exit_code == EXIT_BAD_INPUT and "another run" in result.output
    assert not out.exists()


# ----------------------------------------------------------------------------------- kill and resume (real)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "CI": "1"}, text=True,
    )  # fmt: skip


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL ``proc`` once ``ready()``; False when it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    proc.kill()
    pytest.fail("the command neither checkpointed nor finished")


def saved_step(cdir: Path) -> int:
    try:
        with np.load(cdir / ck.STATE, allow_pickle=False) as z:
            return json.loads(z["__graph__"].tobytes())["step"]
    except (OSError, ValueError, KeyError):
        return -1


def finished_count(cdir: Path) -> int:
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{cdir / ck.DB}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM done").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def kill_and_resume(tmp_path: Path, args: list[str], points: list, progress) -> tuple[dict, dict, int]:
    """Run ``args`` cleanly into ``clean/``; then into ``resumed/``, killed when ``progress(checkpoint dir)``
    reaches each of ``points`` and resumed each time, to the end. Returns both digests and the kills."""
    clean = subprocess.run([sys.executable, "-c", LAUNCH, *args, "--out", "clean"], cwd=tmp_path,
                           capture_output=True, text=True, env={**os.environ, "CI": "1"})  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    cdir = ck.location(tmp_path / "resumed")
    kills = 0
    resume: list[str] = []
    for point in points:
        proc = start([*args, "--out", "resumed", *resume], tmp_path)
        if kill_when(proc, lambda p=point: progress(cdir) >= p):
            kills += 1
            resume = ["--resume"]
        else:
            break
    if not (tmp_path / "resumed").exists():
        final = subprocess.run([sys.executable, "-c", LAUNCH, *args, "--out", "resumed", *resume], cwd=tmp_path,
                               capture_output=True, text=True, env={**os.environ, "CI": "1"})  # fmt: skip
        assert final.returncode == 0, final.stderr
    assert not cdir.exists(), "the checkpoint was not removed"
    return digest(tmp_path / "clean"), digest(tmp_path / "resumed"), kills


def test_run_killed_twice_resumes_to_identical_outputs(tmp_path):
    sc = tiny(tmp_path, accounts=20_000)
    args = ["run", str(sc), "-q", "--checkpoint-every", "0"]
    clean, resumed, kills = kill_and_resume(tmp_path, args, [1, 3000], saved_step)
    assert kills == 2
    assert resumed == clean


def test_sweep_killed_twice_resumes_to_identical_outputs(tmp_path):
    sc = tiny(tmp_path)
    args = ["sweep", str(sc), "-q", "--paths", "24", "--workers", "2", "--batch", "1", "--steps", "2000"]
    clean, resumed, kills = kill_and_resume(tmp_path, args, [3, 12], finished_count)
    assert kills == 2
    assert resumed == clean


def test_compare_killed_twice_resumes_to_identical_outputs(tmp_path):
    sc = tiny(tmp_path, accounts=3_000)
    args = ["compare", str(sc)]
    clean, resumed, kills = kill_and_resume(tmp_path, args, [1, 5], finished_count)
    assert kills == 2
    assert resumed == clean


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DELEVER_TEST_1M"), reason="1M accounts: minutes; set DELEVER_TEST_1M=1")
def test_run_of_a_million_accounts_killed_twice_resumes_to_identical_outputs(tmp_path):
    sc = tiny(tmp_path, accounts=1_000_000)
    args = ["run", str(sc), "-q", "--checkpoint-every", "2"]
    clean, resumed, kills = kill_and_resume(tmp_path, args, [1, 3000], saved_step)
    assert kills == 2
    assert resumed == clean
