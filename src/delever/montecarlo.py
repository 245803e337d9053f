"""Monte Carlo sweeps: a scenario over many generated index paths and a grid of parameter points.

:func:`sweep` runs ``paths`` seeded paths (:mod:`delever.paths`: ``gbm-jump`` or ``garch``) at every point of
a parameter grid and returns one row per (point, path) in a fixed order, whatever the engine and the number of
workers. Each path's seed is drawn once from ``SeedSequence(seed).spawn(paths)``
(:func:`delever.paths.path_seeds`), the same at every point, so points are compared on the same paths (common
random numbers); a row's ``seed`` redraws its path alone (:func:`delever.paths.generate`).

Grid keys are dotted scenario paths (``insurance_fund.balance``, ``liquidity.depth_scale``,
``book.generator.leverage_median``, ...; values as in the scenario file, strings are parsed by the scenario's
validation) or ``model.NAME`` for a parameter of the path model (``model.sigma``, ``model.lam``). The grid's
points are the Cartesian product of its value lists, keys in the order given. The book and the rest of a run's
inputs are prepared once per point (:func:`delever.engine.prepare`, with the sweep's seed); each path replaces
only the index path, which starts at the scenario's first index price and time and keeps its step length
(``steps`` defaults to the scenario's number of steps).

Engines, all giving the same table: ``local`` a joblib process pool (loky); ``dask`` a dask.distributed
``Client`` on a new ``LocalCluster`` (processes, one thread each, no dashboard) or on the scheduler at
``address``; ``ray`` Ray (``pip install delever[ray]``), a local instance or the cluster at ``address``.
Paths are batched so that one task runs about :data:`TARGET_TASK_SECONDS` (estimated from the first paths,
run in the calling process), and never fewer tasks than workers while there are paths to share.

Columns of the table: ``point``, ``path`` (int64), ``seed`` (uint64), one column per grid key (int64, float64,
bool or string, as the values allow), then per run (:func:`delever.output.summarize`): ``liquidations``,
``liquidated_notional``, ``bad_debt``, ``insurance_fund_end``, ``insurance_fund_min``, ``fund_drawdown``
(the largest fall of the insurance fund from its running peak, start included), ``adl_notional``,
``adl_events``, ``accounts_adl``, ``min_mark_price`` and ``conservation_error`` (money units). Money and
prices are exact decimals (decimal128); counts int64. The schema metadata key ``delever`` holds the sweep's
inputs as JSON (not the engine: the table does not depend on it).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from . import paths as P
from .engine import Market, prepare, run
from .montecarlo_grid import MODEL_PREFIX, Point, apply_overrides, check_key, grid_points
from .montecarlo_pool import ENGINES, EngineUnavailable, Task, Work, import_ray, run_tasks
from .montecarlo_table import (
    COUNT_METRICS,
    METRICS,
    MONEY_METRICS,
    MONEY_TYPE,
    PRICE_TYPE,
    QUANTILES,
    REPORT_METRICS,
    build_table,
    grid_keys,
    point_stats,
    point_values,
    sweep_metadata,
)
from .run_summary import summarize
from .scenario import Scenario

# The grid, the pool and the table live in their own modules; they are named here too, as the sweep's API.
__all__ = [
    "COUNT_METRICS",
    "ENGINES",
    "METRICS",
    "MODEL_PREFIX",
    "MONEY_METRICS",
    "MONEY_TYPE",
    "PRICE_TYPE",
    "QUANTILES",
    "REPORT_METRICS",
    "TARGET_TASK_SECONDS",
    "EngineUnavailable",
    "Point",
    "apply_overrides",
    "check_key",
    "grid_keys",
    "grid_points",
    "point_stats",
    "point_values",
    "run_batch",
    "run_path",
    "sweep",
    "sweep_metadata",
]


TARGET_TASK_SECONDS = 1.0
"""Paths per task are chosen so that a task runs about this long."""


def _fund_drawdown(start: int, fund: np.ndarray) -> int:
    series = np.concatenate([np.array([start], dtype=np.int64), fund.astype(np.int64)])
    return int(np.max(np.maximum.accumulate(series) - series))


def run_path(
    scenario: Scenario, market: Market, model: str, params: Any, seed: int, steps: int, book_seed: int
) -> dict[str, int]:
    """Run one generated path on a prepared market; the metrics as integers (money units, price ticks)."""
    base = market.path
    path = P.generate(
        model, params, float(base.index[0]), steps, scenario.step_seconds, int(seed), start_ns=int(base.time_ns[0])
    )
    result = run(scenario, book_seed, market=dataclasses.replace(market, path=path))
    s = summarize(result)
    u = s["units"]
    marks = result.steps.mark_ticks
    return {
        "liquidations": int(s["liquidations"]),
        "liquidated_notional": int(u["liquidated_notional"]),
        "bad_debt": int(u["bad_debt"]),
        "insurance_fund_end": int(u["insurance_fund_end"]),
        "insurance_fund_min": int(u["insurance_fund_min"]),
        "fund_drawdown": _fund_drawdown(result.fund_start, result.steps.fund),
        "adl_notional": int(u["adl_notional"]),
        "adl_events": int(s["adl_events"]),
        "accounts_adl": int(s["accounts_adl"]),
        "min_mark_ticks": int(marks.min()) if marks.size else 0,
        "conservation_error": int(s["conservation_error"]),
    }


def run_batch(
    scenario: Scenario,
    market: Market,
    model: str,
    params: Any,
    items: Sequence[tuple[int, int]],
    steps: int,
    book_seed: int,
) -> list[dict[str, int]]:
    """:func:`run_path` for each ``(path, seed)`` of ``items``, in order (one task of a sweep)."""
    return [run_path(scenario, market, model, params, seed, steps, book_seed) for _, seed in items]


def sweep(
    scenario: Scenario,
    paths: int,
    model: str = "gbm-jump",
    grid: dict[str, Sequence[Any]] | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    seed: int | None = None,
    *,
    steps: int | None = None,
    model_params: dict[str, Any] | None = None,
    batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    store: Any = None,
) -> pa.Table:
    """Run ``paths`` generated paths at every grid point; one row per (point, path), sorted by both.

    Args:
        scenario: the base scenario (its book, liquidity, fees, fund; its price file gives the start price,
            start time and default number of steps).
        paths: number of paths (>= 1), the same seeds at every point.
        model: ``"gbm-jump"`` or ``"garch"`` (:data:`delever.paths.MODELS`).
        grid: ``{dotted key: [values]}`` (module docstring); ``None`` or ``{}`` is a single point.
        engine: ``"local"``, ``"dask"`` or ``"ray"``.
        workers: worker processes (default: the CPU count; dask/ray with ``address``: the cluster's).
        address: a dask scheduler (``tcp://host:port``) or Ray cluster address; ``None`` starts a local one.
        seed: root seed of the paths and the book (default: the scenario's).
        steps: steps per path (default: the scenario's path length).
        model_params: path-model parameters over the defaults (``model.*`` grid keys override them).
        batch: paths per task (default: chosen so a task runs about :data:`TARGET_TASK_SECONDS`).
        progress: ``progress(done, total)`` called as paths complete.
        store: a :class:`delever.checkpoint.Checkpoint`: each finished task's paths are recorded there, and
            paths already recorded are taken from it instead of run again (``delever sweep --resume``).

    Raises:
        ValueError: bad arguments, unknown grid keys or rejected grid values (the message names them).
        EngineUnavailable: ``engine="ray"`` without Ray installed.
        InputError: the scenario's files cannot be read.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if paths < 1:
        raise ValueError("paths must be >= 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be >= 1")
    if steps is not None and steps < 1:
        raise ValueError("steps must be >= 1")
    if batch is not None and batch < 1:
        raise ValueError("batch must be >= 1")
    if engine == "ray":
        import_ray()
    root = scenario.seed if seed is None else int(seed)
    points = grid_points(scenario, model, grid, model_params)
    markets = [prepare(pt.scenario, root) for pt in points]
    n_steps = int(steps if steps is not None else markets[0].path.steps)
    seeds = [int(s) for s in P.path_seeds(root, paths)]
    total = len(points) * paths
    results: dict[tuple[int, int], dict[str, int]] = {}
    if store is not None:
        for key, row in store.finished().items():
            p, j = (int(x) for x in key.split(":"))
            results[(p, j)] = row
    done = len(results)

    def report(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    def finished(task: Task, out: list[dict[str, int]]) -> None:
        rows = {}
        for (j, _), row in zip(task.items, out, strict=True):
            results[(task.point, j)] = row
            rows[f"{task.point}:{j}"] = row
        if store is not None:
            store.record(rows)
        report(len(task.items))

    # The first paths run here: their results are kept, and their time sizes the batches.
    n_workers = workers or (os.cpu_count() or 1)
    per_path = None
    for j in range(min(2, paths)):
        if (0, j) in results:
            continue
        t0 = time.perf_counter()
        row = run_path(points[0].scenario, markets[0], model, points[0].params, seeds[j], n_steps, root)
        per_path = time.perf_counter() - t0
        finished(Task(0, [(j, seeds[j])]), [row])
        if per_path >= TARGET_TASK_SECONDS:
            break
    todo = [(pt.index, j) for pt in points for j in range(paths) if (pt.index, j) not in results]
    if batch is None:
        batch = max(1, math.ceil(TARGET_TASK_SECONDS / max(per_path or 0.0, 1e-6)))
        batch = min(batch, max(1, math.ceil(len(todo) / n_workers)))
    tasks: list[Task] = []
    for pt in points:
        mine = [(j, seeds[j]) for (p, j) in todo if p == pt.index]
        tasks += [Task(pt.index, mine[i : i + batch]) for i in range(0, len(mine), batch)]

    if tasks:
        args = (points, markets, model, n_steps, root)
        run_tasks(engine, Work(run_batch, tasks, args, finished), workers, address)
    return build_table(points, seeds, results, scenario, model, root, paths, n_steps, model_params, grid or {})
