"""1M accounts x 3 instruments through the default path (issue #17 goal 4, issue #11): wall time and peak memory
per position.

The run: the packaged cross-margin scenario (``binance-2025-10-10-cross-margin``: BTCUSDT on its real path, ETHUSDT
and SOLUSDT on correlated paths) with ``n`` generated accounts, every trader account cross-margined
(``isolated_fraction = 0``) and holding a position on each of the three instruments (``holders_fraction = 1`` for
ETH and SOL), so the book has about ``3 n`` positions and every trader account three; 5 s steps over two hours of
real data (21:01-23:01 UTC, 1,440 steps, as :mod:`benchmarks.memory`); depth and every insurance fund scaled with
the book (x ``n / 100,000``). It goes through :func:`delever.engine.run`, the one step loop that ``delever run``
uses (book generation included, outputs not written; ``--outputs`` writes them too).

Each size runs in a fresh interpreter (a child process). Peak memory is that child's peak resident set size,
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` read at its end (not tracemalloc, which misses numpy's and
numba's allocations outside Python's allocator); bytes per position = (peak at ``n`` - peak at the base size) /
(positions at ``n`` - positions at the base size): what the run adds per position above the interpreter, the
imports and the compiled kernels. Time: the run's wall time and the child's CPU seconds (user + system; the
steadier figure on a shared machine), with the machine's load average before and after.

Run ``python -m benchmarks.portfolio`` (``--sizes 1000,1000000``, ``--repeat 1``, ``--step-seconds 5``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS_END = "2025-10-10T23:01:00Z"  # with the data's start 21:01, two hours: 1,440 steps of 5 s
SCENARIO = "binance-2025-10-10-cross-margin.toml"


MECHANISMS_OFF = {
    name: {"enabled": False}
    for name in ("partial_liquidation", "backstop", "proactive_deleveraging", "dynamic_margin", "circuit_breaker",
                 "limits", "socialized_loss", "mm_withdrawal", "funding")
}  # fmt: skip


def overrides(n: int, step_seconds: float, instruments: list[dict]) -> dict:
    """Scenario overrides for ``n`` accounts: every trader account cross, on every instrument; depth and funds
    scaled by ``n / 100,000`` (``instruments``: the scenario's extra instruments, as its TOML gives them)."""
    k = n / 100_000
    extra = [
        {**x, "holders_fraction": 1.0, "depth_scale": x["depth_scale"] * k,
         "insurance_fund": str(round(float(x["insurance_fund"]) * k))}
        for x in instruments
    ]  # fmt: skip
    return {
        "book": {"generator": {"accounts": n, "isolated_fraction": 0.0}},
        "step_seconds": step_seconds,
        "prices": {"end": STEPS_END},
        "liquidity": {"depth_scale": 0.15 * k},
        "insurance_fund": {"balance": str(round(1_000_000 * k))},
        # the core stack, as measured before the packaged scenario turned every mechanism on (issue #11)
        "mechanisms": {**MECHANISMS_OFF, "cross_margin": {"instruments": extra}},
    }


def scenario_path():
    from delever.scenario import default_scenario_path

    return default_scenario_path().parent / SCENARIO


def child(n: int, step_seconds: float, outputs: bool) -> dict:
    import resource
    import time
    import tomllib

    from delever.engine import run
    from delever.scenario import load_scenario

    path = scenario_path()
    instruments = tomllib.loads(path.read_text())["mechanisms"]["cross_margin"]["instruments"]
    sc = load_scenario(path, overrides(n, step_seconds, instruments))
    t0 = time.perf_counter()
    c0 = time.process_time()
    r = run(sc)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if outputs:
        import tempfile
        from pathlib import Path

        from delever.output import write_outputs

        with tempfile.TemporaryDirectory() as d:
            write_outputs(r, Path(d) / "out")
    assert r.money_end == r.money_start
    import numpy as np

    b = r.book
    held = np.bincount(b.account, minlength=b.n_accounts)[~b.exempt]  # positions per trader account
    return {
        "accounts": n,
        "positions": b.n_positions,
        "trader_accounts_with_3_positions": int((held == 3).sum()),
        "steps": r.path.steps,
        "events": int(r.events["kind"].shape[0]),
        "run_s": round(wall, 3),
        "run_cpu_s": round(cpu, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def measure(n: int, step_seconds: float, outputs: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.portfolio", "--child", str(n), "--step-seconds", str(step_seconds)]
    cmd += ["--outputs"] if outputs else []
    load0 = os.getloadavg()[0]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy()).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return {**row, "load": (round(load0, 2), round(os.getloadavg()[0], 2))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,1000000", help="comma-separated account counts (the first is the base)")
    p.add_argument("--repeat", type=int, default=1, help="runs per size (medians of the peak and the times)")
    p.add_argument("--step-seconds", type=float, default=5.0, help="step length (5 s: 1,440 steps)")
    p.add_argument("--outputs", action="store_true", help="also write the run's output files")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child is not None:
        print(json.dumps(child(a.child, a.step_seconds, a.outputs)))
        return
    rows = []
    for n in (int(s) for s in a.sizes.split(",")):
        runs = [measure(n, a.step_seconds, a.outputs) for _ in range(a.repeat)]
        rows.append({**runs[0], "run_s": statistics.median(r["run_s"] for r in runs),
                     "run_cpu_s": statistics.median(r["run_cpu_s"] for r in runs),
                     "peak_rss_bytes": statistics.median(r["peak_rss_bytes"] for r in runs),
                     "walls": [r["run_s"] for r in runs], "loads": [r["load"] for r in runs]})  # fmt: skip
    base = rows[0]
    head = ("accounts", "positions", "steps", "events", "run s", "CPU s", "peak MiB", "B/position")
    print(" ".join(f"{h:>10}" for h in head))
    for r in rows:
        extra = r["positions"] - base["positions"]
        per = (r["peak_rss_bytes"] - base["peak_rss_bytes"]) / extra if extra else float("nan")
        cells = (f"{r['accounts']:,}", f"{r['positions']:,}", f"{r['steps']:,}", f"{r['events']:,}",
                 f"{r['run_s']:.2f}", f"{r['run_cpu_s']:.2f}", f"{r['peak_rss_bytes'] / 2**20:.0f}",
                 f"{per:.0f}")  # fmt: skip
        print(" ".join(f"{c:>10}" for c in cells), f"  walls {r['walls']} s, load average before/after {r['loads']}")


if __name__ == "__main__":
    main()
