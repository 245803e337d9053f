"""First run after an install: which kernels numba compiles, when, and for how long (issue #17 goal 3).

Runs ``delever run --quiet`` on the default scenario (or ``--scenario``, ``--set`` items) in a fresh
interpreter with an empty ``NUMBA_CACHE_DIR``, the state right after ``pip install``, and records numba's
``numba:compile`` events (numba's event API, https://numba.readthedocs.io/en/stable/developer/event_api.html):
for each kernel compiled in the main process, the wall seconds from the start of the command to the start of
its compilation and the seconds it took (nested compilations of the helpers a kernel calls are counted in the
kernel's time and listed under it). Also the main process's CPU seconds and its forked workers' (the venue
comparison), and the command's wall time. ``--warm`` runs the same command a second time against the cache the
first run wrote.

Run ``python -m benchmarks.compile`` (``--repeat 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(args: list[str]) -> dict:
    import resource
    import time

    t0 = time.perf_counter()
    from numba.core import event

    compiles: list[dict] = []
    depth = [0]

    class Recorder(event.Listener):
        def on_start(self, ev):
            depth[0] += 1
            ev.data["_t0"] = time.perf_counter()
            ev.data["_c0"] = time.process_time()

        def on_end(self, ev):
            depth[0] -= 1
            d = ev.data["dispatcher"]
            name = f"{d.py_func.__module__.removeprefix('delever.')}.{d.py_func.__name__}"
            t = ev.data.get("_t0", time.perf_counter())
            cpu = time.process_time() - ev.data.get("_c0", time.process_time())
            compiles.append({"kernel": name, "at_s": round(t - t0, 2), "s": round(time.perf_counter() - t, 2),
                             "cpu_s": round(cpu, 2), "depth": depth[0]})  # fmt: skip

    event.register("numba:compile", Recorder())
    from delever.cli import app

    with tempfile.TemporaryDirectory() as out:
        try:
            app(["run", *args, "--quiet", "--out", str(Path(out) / "run")], standalone_mode=False)
        except SystemExit as exc:  # pragma: no cover - typer's exit
            if exc.code:
                raise
    wall = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    top = [c for c in compiles if c["depth"] == 0]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(own.ru_utime + own.ru_stime, 2),
        "workers_cpu_s": round(kids.ru_utime + kids.ru_stime, 2),
        "compile_s": round(sum(c["s"] for c in top), 2),
        "compile_cpu_s": round(sum(c["cpu_s"] for c in top), 2),
        "kernels": top,
        "all": compiles,
    }


def gil_child() -> dict:
    """The ``--gil`` measurement (module docstring), in this interpreter: rates (loop iterations per second)
    alone and while a background thread compiles, and the compiling thread's wall and CPU seconds."""
    import threading
    import time

    def spin(seconds: float) -> int:
        n, t_end = 0, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            for _ in range(1000):
                n += 1
        return n

    from delever.engine import run
    from delever.scenario import default_scenario_path
    from delever.warmup import small

    scenario = small(default_scenario_path())
    alone = spin(2.0) / 2.0
    done, job = threading.Event(), {}

    def compile_in_background() -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        run(scenario)
        job["wall_s"], job["cpu_s"] = time.perf_counter() - t0, time.thread_time() - c0
        done.set()

    thread = threading.Thread(target=compile_in_background)
    t0, count = time.perf_counter(), 0
    thread.start()
    while not done.is_set():
        count += spin(0.25)
    during = count / (time.perf_counter() - t0)
    thread.join()
    return {
        "rate_alone": round(alone),
        "rate_while_compiling": round(during),
        "share": round(during / alone, 2),
        "compile_thread_wall_s": round(job["wall_s"], 2),
        "compile_thread_cpu_s": round(job["cpu_s"], 2),
    }


def warm(cache: str) -> dict:
    """``python -m delever.warmup`` into ``cache``: its wall and CPU seconds."""
    import resource

    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "delever.warmup"], check=True, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    said = out.stdout.strip().splitlines()[-1]
    return {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(cpu, 2), "said": said,
            "load": (round(load0, 2), round(os.getloadavg()[0], 2))}  # fmt: skip


def measure(args: list[str], cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    load0 = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "benchmarks.compile", "--child", "--", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return {**row, "load": (round(load0, 2), round(os.getloadavg()[0], 2))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="cold runs (each with a new empty cache)")
    p.add_argument("--warm", action="store_true", help="also time a second run on the cache the first wrote")
    p.add_argument("--after-warmup", action="store_true", help="run `python -m delever.warmup` first (timed)")
    p.add_argument("--json", action="store_true", help="print every run's record as JSON")
    p.add_argument("--gil", action="store_true", help="measure the GIL left to Python work while compiling")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--gil-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("args", nargs="*", help="arguments of `delever run` (after --)")
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.args)))
        return
    if a.gil_child:
        print(json.dumps(gil_child()))
        return
    if a.gil:
        with tempfile.TemporaryDirectory() as cache:
            load0 = os.getloadavg()[0]
            cmd = [sys.executable, "-m", "benchmarks.compile", "--gil-child"]
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        r = json.loads(out.splitlines()[-1])
        print(f"pure-Python loop in the main thread: {r['rate_alone']:,}/s alone, {r['rate_while_compiling']:,}/s "
              f"while a background thread compiles ({r['share']:.0%}); the compiling thread: "
              f"{r['compile_thread_wall_s']} s wall, {r['compile_thread_cpu_s']} s CPU; load average before/after "
              f"{(round(load0, 2), round(os.getloadavg()[0], 2))}")  # fmt: skip
        return
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory() as cache:
            if a.after_warmup:
                w = warm(cache)
                print(f"warm-up: wall {w['wall_s']} s, CPU {w['cpu_s']} s, load average before/after {w['load']}: "
                      f"{w['said']}")  # fmt: skip
            runs = [measure(a.args, cache)] + ([measure(a.args, cache)] if a.warm else [])
        for label, r in zip(("after warm-up" if a.after_warmup else "cold", "warm"), runs):
            if a.json:
                print(json.dumps(r))
            print(f"{label}: wall {r['wall_s']} s, CPU {r['cpu_s']} s (+ workers {r['workers_cpu_s']} s), compiling "
                  f"{r['compile_s']} s wall / {r['compile_cpu_s']} s CPU in the main process, load average "
                  f"before/after {r['load']}")  # fmt: skip
            for c in r["kernels"]:
                print(f"  {c['kernel']:<45} from {c['at_s']:>6.2f} s  {c['s']:>6.2f} s wall {c['cpu_s']:>6.2f} s CPU")


if __name__ == "__main__":
    main()
