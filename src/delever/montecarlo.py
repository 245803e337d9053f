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
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ValidationError

from . import paths as P
from .engine import Market, prepare, run
from .output import summarize
from .scenario import Scenario
from .workers import die_with_parent, stopping_children
from .units import MONEY_SCALE

ENGINES = ("local", "dask", "ray")
TARGET_TASK_SECONDS = 1.0
"""Paths per task are chosen so that a task runs about this long."""

MONEY_METRICS = (
    "liquidated_notional",
    "bad_debt",
    "insurance_fund_end",
    "insurance_fund_min",
    "fund_drawdown",
    "adl_notional",
)
COUNT_METRICS = ("liquidations", "adl_events", "accounts_adl", "conservation_error")
METRICS = (
    "liquidations",
    "liquidated_notional",
    "bad_debt",
    "insurance_fund_end",
    "insurance_fund_min",
    "fund_drawdown",
    "adl_notional",
    "adl_events",
    "accounts_adl",
    "min_mark_price",
    "conservation_error",
)
MONEY_TYPE = pa.decimal128(38, 6)
PRICE_TYPE = pa.decimal128(38, 8)
MODEL_PREFIX = "model."


class EngineUnavailable(RuntimeError):
    """The requested engine's package is not installed (the message names the extra to install)."""


@dataclasses.dataclass(frozen=True)
class Point:
    """One parameter point: its grid values, the scenario with them applied and the path-model parameters."""

    index: int
    values: dict[str, Any]
    scenario: Scenario
    params: Any


# ----------------------------------------------------------------------------------------------------------
# Grid
# ----------------------------------------------------------------------------------------------------------


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class in a field annotation (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def check_key(key: str, model: str) -> None:
    """Raise ``ValueError`` naming ``key`` unless it is a scenario field path or ``model.<parameter>``."""
    if key.startswith(MODEL_PREFIX):
        P.model_params(model, {})  # unknown model
        name = key[len(MODEL_PREFIX) :]
        known = [f.name for f in dataclasses.fields(P.MODELS[model][0])]
        if name not in known:
            raise ValueError(f"unknown key {key!r}: path model {model!r} has parameters {', '.join(known)}")
        return
    cls: type[BaseModel] | None = Scenario
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = {k: f for k, f in cls.model_fields.items() if not f.exclude} if cls is not None else {}
        if part not in fields:
            where = ".".join(parts[:i]) or "the scenario"
            raise ValueError(
                f"unknown key {key!r}: {where} has no field {part!r}"
                + (f" (fields: {', '.join(fields)})" if fields else "")
            )
        cls = _model_class(fields[part].annotation)
        if i < len(parts) - 1 and cls is None:
            raise ValueError(f"unknown key {key!r}: {'.'.join(parts[: i + 1])} is not a table")
    if cls is not None:
        raise ValueError(f"key {key!r} is a table; give one of its fields ({', '.join(cls.model_fields)})")


def apply_overrides(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with dotted-key ``values`` set (validated as if read from its file).

    Raises:
        ValueError: an unknown key or a value the scenario rejects (the message names the key).
    """
    data = scenario.model_dump()
    for key, value in values.items():
        check_key(key, "gbm-jump")
        node = data
        *head, last = key.split(".")
        for part in head:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    try:
        return Scenario.model_validate({**data, "base_dir": scenario.base_dir})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"{field}: {err['msg']} (grid values {values})") from None


def grid_points(
    scenario: Scenario, model: str, grid: dict[str, Sequence[Any]] | None, model_values: dict[str, Any] | None = None
) -> list[Point]:
    """The grid's points in canonical order (Cartesian product, keys in the order given, values in order).

    Raises:
        ValueError: an empty value list, an unknown key or a rejected value (naming the key).
    """
    grid = dict(grid or {})
    for key, vals in grid.items():
        check_key(key, model)
        if len(vals) == 0:
            raise ValueError(f"grid key {key!r} has no values")
    keys = list(grid)
    out = []
    for i, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
        values = dict(zip(keys, combo, strict=True))
        sc_values = {k: v for k, v in values.items() if not k.startswith(MODEL_PREFIX)}
        mv = {
            **(model_values or {}),
            **{k[len(MODEL_PREFIX) :]: v for k, v in values.items() if k.startswith(MODEL_PREFIX)},
        }
        try:
            params = P.model_params(model, mv)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path model parameters {mv}: {exc}") from None
        sc = apply_overrides(scenario, sc_values) if sc_values else scenario
        out.append(Point(i, values, sc, params))
    return out


# ----------------------------------------------------------------------------------------------------------
# One path (runs in the workers)
# ----------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------
# The sweep
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Task:
    point: int
    items: list[tuple[int, int]]


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
        _import_ray()
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

    def finished(task: _Task, out: list[dict[str, int]]) -> None:
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
        finished(_Task(0, [(j, seeds[j])]), [row])
        if per_path >= TARGET_TASK_SECONDS:
            break
    todo = [(pt.index, j) for pt in points for j in range(paths) if (pt.index, j) not in results]
    if batch is None:
        batch = max(1, math.ceil(TARGET_TASK_SECONDS / max(per_path or 0.0, 1e-6)))
        batch = min(batch, max(1, math.ceil(len(todo) / n_workers)))
    tasks: list[_Task] = []
    for pt in points:
        mine = [(j, seeds[j]) for (p, j) in todo if p == pt.index]
        tasks += [_Task(pt.index, mine[i : i + batch]) for i in range(0, len(mine), batch)]

    if tasks:
        args = (points, markets, model, n_steps, root)
        if engine == "local":
            _run_local(tasks, args, workers, finished)
        elif engine == "dask":
            with stopping_children():
                _run_dask(tasks, args, workers, address, finished)
        else:
            _run_ray(tasks, args, workers, address, finished)
    return _build_table(points, seeds, results, scenario, model, root, paths, n_steps, model_params, grid or {})


def _call(task: _Task, args: tuple) -> list[dict[str, int]]:
    points, markets, model, n_steps, root = args
    pt = points[task.point]
    return run_batch(pt.scenario, markets[task.point], model, pt.params, task.items, n_steps, root)


def _run_local(tasks: list[_Task], args: tuple, workers: int | None, finished: Callable[[_Task, list], None]) -> list:
    from joblib import Parallel, delayed

    points, markets, model, n_steps, root = args
    n_jobs = workers or (os.cpu_count() or 1)
    outs = []
    if n_jobs == 1:
        for t in tasks:
            outs.append(_call(t, args))
            finished(t, outs[-1])
        return outs
    # loky's workers would outlive a killed parent: each makes itself die with this process when it starts,
    # and an exception here (Ctrl-C, SIGTERM) stops them at once (delever.workers)
    pool = Parallel(
        n_jobs=n_jobs,
        backend="loky",
        return_as="generator",
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    with pool as par, stopping_children():
        gen = par(
            delayed(run_batch)(
                points[t.point].scenario, markets[t.point], model, points[t.point].params, t.items, n_steps, root
            )
            for t in tasks
        )
        for t, out in zip(tasks, gen, strict=True):
            outs.append(out)
            finished(t, out)
    return outs


def _run_dask(
    tasks: list[_Task], args: tuple, workers: int | None, address: str | None, finished: Callable[[_Task, list], None]
) -> list:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is in the test and cluster extras
        raise EngineUnavailable("engine 'dask' needs dask.distributed: pip install delever[cluster]") from None
    points, markets, model, n_steps, root = args
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=workers or (os.cpu_count() or 1), threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(cluster if cluster is not None else address)
    try:
        if cluster is not None:  # our own workers die with this process (delever.workers)
            client.run(die_with_parent, os.getpid())
        sc_f = [client.scatter(pt.scenario, broadcast=True) for pt in points]
        m_f = [client.scatter(m, broadcast=True) for m in markets]
        futures = [
            client.submit(
                run_batch,
                sc_f[t.point],
                m_f[t.point],
                model,
                points[t.point].params,
                t.items,
                n_steps,
                root,
                pure=False,
            )
            for t in tasks
        ]
        where = {f.key: i for i, f in enumerate(futures)}
        outs: list = [None] * len(tasks)
        for fut in as_completed(futures):
            i = where[fut.key]
            outs[i] = fut.result()
            finished(tasks[i], outs[i])
        return outs
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise EngineUnavailable("engine 'ray' needs Ray, which is not installed: pip install delever[ray]") from None
    return ray


def _run_ray(
    tasks: list[_Task], args: tuple, workers: int | None, address: str | None, finished: Callable[[_Task, list], None]
) -> list:  # pragma: no cover - Ray is an optional extra
    ray = _import_ray()
    points, markets, model, n_steps, root = args
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is not None:
            kw["address"] = address
        elif workers is not None:
            kw["num_cpus"] = workers
        ray.init(**kw)
    try:
        remote = ray.remote(num_cpus=1)(run_batch)
        sc_r = [ray.put(pt.scenario) for pt in points]
        m_r = [ray.put(m) for m in markets]
        refs = [
            remote.remote(sc_r[t.point], m_r[t.point], model, points[t.point].params, t.items, n_steps, root)
            for t in tasks
        ]
        where = {r: i for i, r in enumerate(refs)}
        outs: list = [None] * len(tasks)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                i = where[r]
                outs[i] = ray.get(r)
                finished(tasks[i], outs[i])
        return outs
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------------


def _grid_column(values: list[Any]) -> pa.Array:
    """A typed column from grid values: bool, int64, float64 where every value is one, else strings."""

    def num(v: Any) -> Any:
        if isinstance(v, str):
            for conv in (int, float):
                try:
                    return conv(v.strip())
                except ValueError:
                    pass
        return v

    vals = [num(v) for v in values]
    if all(isinstance(v, bool) for v in vals):
        return pa.array(vals, type=pa.bool_())
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.array(vals, type=pa.int64())
    if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in vals):
        return pa.array([float(v) for v in vals], type=pa.float64())
    return pa.array([str(v) for v in values], type=pa.string())


def _money(units: list[int]) -> pa.Array:
    return pa.array([Decimal(int(u)).scaleb(-6) for u in units], type=MONEY_TYPE)


def _build_table(
    points: list[Point],
    seeds: list[int],
    results: dict,
    scenario: Scenario,
    model: str,
    root: int,
    paths: int,
    steps: int,
    model_params: dict | None,
    grid: dict,
) -> pa.Table:
    keys = sorted(results)  # (point, path): the canonical order
    rows = [results[k] for k in keys]
    cols: dict[str, pa.Array] = {
        "point": pa.array([k[0] for k in keys], type=pa.int64()),
        "path": pa.array([k[1] for k in keys], type=pa.int64()),
        "seed": pa.array([seeds[k[1]] for k in keys], type=pa.uint64()),
    }
    for key in points[0].values if points else {}:
        cols[key] = _grid_column([points[k[0]].values[key] for k in keys])
    tick_sizes = [pt.scenario.instrument.tick_size for pt in points]
    for name in METRICS:
        if name in MONEY_METRICS:
            cols[name] = _money([r[name] for r in rows])
        elif name == "min_mark_price":
            cols[name] = pa.array(
                [
                    (Decimal(r["min_mark_ticks"]) * tick_sizes[k[0]]).quantize(Decimal("1e-8"))
                    for k, r in zip(keys, rows, strict=True)
                ],
                type=PRICE_TYPE,
            )
        else:
            cols[name] = pa.array([r[name] for r in rows], type=pa.int64())
    meta = {
        "scenario": scenario.name,
        "model": model,
        "model_params": {k: v for k, v in dataclasses.asdict(P.model_params(model, model_params)).items()},
        "paths": paths,
        "steps": steps,
        "step_seconds": scenario.step_seconds,
        "seed": root,
        "grid": {k: [str(v) for v in vals] for k, vals in grid.items()},
        "points": len(points),
    }
    table = pa.table(cols)
    return table.replace_schema_metadata({"delever": json.dumps(meta, default=str)})


def sweep_metadata(table: pa.Table) -> dict:
    """The sweep's inputs stored in the table's schema metadata (empty if absent)."""
    raw = (table.schema.metadata or {}).get(b"delever")
    return json.loads(raw) if raw else {}


def grid_keys(table: pa.Table) -> list[str]:
    """The table's grid columns (between ``seed`` and the metrics)."""
    names = table.column_names
    return [n for n in names[names.index("seed") + 1 :] if n not in METRICS]


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------

QUANTILES = (0.05, 0.5, 0.95, 0.99)
REPORT_METRICS = (
    ("bad_debt", "Bad debt: shortfall below bankruptcy (USDT)"),
    ("fund_drawdown", "Insurance fund drawdown from its running peak (USDT)"),
    ("adl_notional", "ADL notional (USDT)"),
)


def point_values(table: pa.Table, metric: str):
    """``(point, label, values)`` per grid point, ``values`` the metric as float64 (quote units for money)."""
    keys = grid_keys(table)
    point = table.column("point").to_numpy()
    col = table.column(metric).cast(pa.float64()).to_numpy(zero_copy_only=False)
    values = np.asarray(col, dtype=np.float64)
    for p in np.unique(point):
        sel = point == p
        first = int(np.flatnonzero(sel)[0])
        label = ", ".join(f"{k}={table.column(k)[first].as_py()}" for k in keys) or "all paths"
        yield int(p), label, values[sel]


def point_stats(table: pa.Table, metric: str) -> list[dict]:
    """Per grid point: label, paths, share > 0, mean, p5, p50, p95, p99, max of ``metric`` (floats)."""
    out = []
    for p, label, v in point_values(table, metric):
        q = np.quantile(v, QUANTILES)
        out.append(
            {
                "point": p,
                "label": label,
                "paths": int(v.size),
                "share_positive": float(np.mean(v > 0)),
                "mean": float(v.mean()),
                **{f"p{round(x * 100)}": float(y) for x, y in zip(QUANTILES, q, strict=True)},
                "max": float(v.max()),
            }
        )
    return out


assert MONEY_SCALE == 10**6  # the decimal scale of money columns above
