"""Peak memory per position of a run (issue #6: under 200 bytes per position at 1M accounts).

The run: the default scenario with ``n`` generated accounts, 5 s steps over the two hours of real data
(21:01-23:01 UTC, 1,440 steps), depth and insurance fund scaled with the book (x ``n / 100,000``), through
:func:`delever.engine.run` (book generation included, outputs not written). Each size runs in a fresh
interpreter; its peak RSS (``ru_maxrss``) is read at the end. Bytes per position = (peak at ``n`` - peak at
1,000 accounts) / (``n`` - 1,000): what the run adds per position above the interpreter, the imports and the
compiled kernels.

Run ``python -m benchmarks.memory`` (``--sizes 1000,1000000``, ``--repeat 3``; ``--outputs`` also writes the
run's files, report included, into a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS_END = "2025-10-10T23:01:00Z"  # with the data's start 21:01, two hours: 1,440 steps of 5 s


def overrides(n: int) -> dict:
    k = n / 100_000
    return {
        "book": {"generator": {"accounts": n}},
        "step_seconds": 5.0,
        "prices": {"end": STEPS_END},
        "liquidity": {"depth_scale": 0.15 * k},
        "insurance_fund": {"balance": str(round(1_000_000 * k))},
    }


def child(n: int, outputs: bool) -> dict:
    import resource
    import time

    from delever.engine import run
    from delever.scenario import default_scenario_path, load_scenario

    sc = load_scenario(default_scenario_path(), overrides(n))
    t0 = time.perf_counter()
    r = run(sc)
    wall = time.perf_counter() - t0
    if outputs:
        import tempfile
        from pathlib import Path

        from delever.output import write_outputs

        with tempfile.TemporaryDirectory() as d:
            write_outputs(r, Path(d) / "out")
    assert r.money_end == r.money_start
    return {
        "accounts": n,
        "positions": r.book.n_positions,
        "steps": r.path.steps,
        "events": int(r.events["kind"].shape[0]),
        "run_s": round(wall, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def measure(n: int, outputs: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.memory", "--child", str(n)] + (["--outputs"] if outputs else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy()).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,1000000", help="comma-separated account counts (the first is the base)")
    p.add_argument("--repeat", type=int, default=3, help="runs per size (medians of the peak and the time)")
    p.add_argument("--outputs", action="store_true", help="also write the run's output files")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child is not None:
        print(json.dumps(child(a.child, a.outputs)))
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    for n in sizes:
        runs = [measure(n, a.outputs) for _ in range(a.repeat)]
        peak = statistics.median(r["peak_rss_bytes"] for r in runs)
        peaks = [round(r["peak_rss_bytes"] / 2**20) for r in runs]
        rows.append({**runs[0], "run_s": statistics.median(r["run_s"] for r in runs), "peak_rss_bytes": peak,
                     "peaks_mb": peaks})  # fmt: skip
    base = rows[0]
    head = ("accounts", "positions", "steps", "events", "run s", "peak MiB", "B/position")
    print(" ".join(f"{h:>10}" for h in head))
    for r in rows:
        extra = r["positions"] - base["positions"]
        per = (r["peak_rss_bytes"] - base["peak_rss_bytes"]) / extra if extra else float("nan")
        cells = (f"{r['accounts']:,}", f"{r['positions']:,}", f"{r['steps']:,}", f"{r['events']:,}",
                 f"{r['run_s']:.2f}", f"{r['peak_rss_bytes'] / 2**20:.0f}", f"{per:.0f}")  # fmt: skip
        print(" ".join(f"{c:>10}" for c in cells), f"  peaks {r['peaks_mb']} MiB")


if __name__ == "__main__":
    main()
