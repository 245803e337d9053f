"""Compile the engine's kernels into numba's on-disk cache once, right after installing (issue #17 goal 3).

numba compiles a kernel the first time it is called and keeps the machine code on disk (``cache=True``,
https://numba.readthedocs.io/en/stable/developer/caching.html), keyed to the source file's path and
modification time and to the CPU; a wheel cannot carry that cache and pip runs no post-install step, so the
first ``delever run`` after an install would spend its first seconds compiling (README, "Scale and Monte Carlo"
gives the figures). ``python -m delever.warmup`` does that work ahead, as a set-up step: it runs the default
scenario as packaged, every other packaged scenario on a small generated book (:data:`ACCOUNTS` accounts,
insurance fund 0 so that ADL is reached, the scenario's own mechanisms on) and the default scenario's venue
comparison (small), which between them call every kernel a packaged run calls, with the argument types of a
real run (they do not depend on the book's size), and the largest-remainder split's compiled twins, which a
full-size run's venue comparison reaches (an ADL policy or socialized loss over many winners) but a small book
does not (:func:`delever.allocation.split` always passes them int64 arrays, so a small split compiles what a
large one runs); then it lists the kernels it did not reach. Nothing is
written outside numba's cache (``NUMBA_CACHE_DIR`` when set, else the package's ``__pycache__``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ACCOUNTS = 2_000
"""Trader accounts of each warm-up run's generated book: small, so that the runs cost little beside compiling."""

KERNEL_MODULES = (
    "adl.queue",
    "allocation",
    "adl.ranking",
    "engine.quiet",
    "liquidation",
    "liquidity",
    "mark",
    "mechanisms.backstop",
    "mechanisms.funding",
    "mechanisms.proactive",
    "requirement",
    "sweep",
    "trigger_index",
    "trigger_price",
)
"""Modules (under ``delever``) holding compiled kernels."""


@dataclass
class WarmupReport:
    """What a warm-up did: the runs (scenario name, seconds each), the kernels compiled or in the cache
    (``module.function``), and those that no packaged run called (compiled at their first use)."""

    runs: list[tuple[str, float]] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    not_reached: list[str] = field(default_factory=list)


def kernels() -> dict[str, object]:
    """Every compiled kernel of the package: ``module.function`` -> numba dispatcher. A function numba inlines
    into its callers (``inline="always"``: the liquidation driver's steps) is compiled only as part of them, never
    on its own, and is not listed."""
    from numba.core.registry import CPUDispatcher

    found = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(f"delever.{name}")
        for attr, obj in vars(module).items():
            if (
                isinstance(obj, CPUDispatcher)
                and obj.py_func.__module__ == module.__name__
                and obj.targetoptions.get("inline") != "always"
            ):
                found[f"{name}.{attr}"] = obj
    return found


def small(path, fund_zero: bool = True):
    """The scenario at ``path`` with a generated book of :data:`ACCOUNTS` accounts (a scenario whose book is a
    file keeps it) and, when ``fund_zero``, an empty insurance fund."""
    import tomllib

    from .scenario import load_scenario

    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    over: dict = {}
    if "generator" in raw.get("book", {}):
        over["book"] = {"generator": {"accounts": ACCOUNTS}}
    if fund_zero:
        over["insurance_fund"] = {"balance": "0"}
    return load_scenario(path, over)


def warm_up(progress: Callable[[str], None] | None = None) -> WarmupReport:
    """Run every packaged scenario small (module docstring) and the default scenario's venue comparison;
    ``progress(label)`` is called before each. Returns a :class:`WarmupReport`."""
    from .engine import prepare, run
    from .scenario import default_scenario_path, load_scenario
    from .venues.scenario import compare_rows

    report = WarmupReport()
    default = default_scenario_path()
    paths = [default] + sorted(p for p in default.parent.glob("*.toml") if p != default)
    for path in paths:
        if progress:
            progress(path.stem)
        t0 = time.perf_counter()
        # the default scenario as it is, the others small (the trigger index's merge, which none of them
        # reaches since a flat position stays out of its pending list, is compiled by merge_trigger_lists below)
        run(load_scenario(path) if path == default else small(path))
        report.runs.append((path.stem, round(time.perf_counter() - t0, 2)))
    if progress:
        progress("venue rulebooks")
    t0 = time.perf_counter()
    sc = small(default, fund_zero=False)
    compare_rows(sc, sc.seed, prepare(sc, sc.seed), workers=1)
    report.runs.append(("venue rulebooks", round(time.perf_counter() - t0, 2)))
    if progress:
        progress("largest-remainder splits")
    t0 = time.perf_counter()
    split_twins()
    report.runs.append(("largest-remainder splits", round(time.perf_counter() - t0, 2)))
    merge_trigger_lists()
    for name, dispatcher in kernels().items():
        (report.ready if dispatcher.signatures or on_disk(dispatcher) else report.not_reached).append(name)
    return report


def split_twins() -> None:
    """Call :func:`delever.allocation.split` uncapped and capped on a split whose last round is partial (5 over
    weights 1, 2, 3: shares 5/6, 10/6, 15/6, floors 0, 1, 2, two units left for three entries with room), so
    that both compiled twins and their selection of the last round are compiled. The result is checked against
    the exact reference, so a warm-up never caches a twin that disagrees with it."""
    import numpy as np

    from .allocation import largest_remainder, split

    weights, caps = [1, 2, 3], [1, 2, 2]
    for cap in (None, caps):
        got = split(5, np.array(weights, dtype=np.int64), None if cap is None else np.array(cap, dtype=np.int64))
        if got.tolist() != largest_remainder(5, weights, cap):  # pragma: no cover - a broken twin
            raise RuntimeError(f"largest remainder: compiled split {got.tolist()} differs from the reference")


def merge_trigger_lists(n: int = 5_000) -> None:
    """Make a trigger index of ``n`` open positions merge its pending positions into its sorted lists
    (:class:`delever.trigger_index.TriggerIndex`): a run does that only once more than a few thousand open
    positions changed since the last merge (a large crash; the packaged runs never get there), so its kernels
    are compiled here."""
    import numpy as np

    from .trigger_index import TriggerIndex

    index = TriggerIndex(np.ones(n, dtype=np.int64), np.ones(n, dtype=np.int64))
    index.changed(np.arange(n, dtype=np.int64))


def on_disk(dispatcher) -> bool:
    """Whether numba's cache holds compiled code for ``dispatcher`` that is valid for its current source: a helper
    that kernels call is compiled and cached with them, but a process that loads its callers from the cache never
    loads it (so its ``signatures`` stay empty).

    numba (0.68, pinned) stamps each cache index with a hash of the source file's contents and ignores an index
    whose stamp differs (https://numba.readthedocs.io/en/stable/developer/caching.html); its own index loader is
    asked, so a file whose modification time changed but whose contents did not (a ``git checkout``) still counts
    as cached, as it does for numba."""
    return bool(dispatcher._cache._cache_file._load_index())


def main() -> None:
    """``delever warmup`` / ``python -m delever.warmup``: warm up (:func:`warm_up`) and print what it did."""
    t0 = time.perf_counter()
    report = warm_up(progress=lambda label: print(f"warming up: {label}", flush=True))
    print(
        f"{len(report.ready)} kernels ready in numba's cache ({time.perf_counter() - t0:.1f} s); not called by any "
        f"packaged run (compiled at first use): {', '.join(report.not_reached) or 'none'}"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
