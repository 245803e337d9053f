"""The table of a Monte Carlo sweep (:mod:`delever.montecarlo`) and the statistics read from it.

Columns: ``point``, ``path`` (int64), ``seed`` (uint64), one column per grid key (int64, float64, bool or string,
as the values allow), then the metrics (:data:`METRICS`). Money and prices are exact decimals (decimal128);
counts int64. The schema metadata key ``delever`` holds the sweep's inputs as JSON."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from . import paths as P
from .montecarlo_grid import Point
from .scenario import Scenario
from .units import MONEY_SCALE

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


def build_table(
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
    """The sweep's table from ``results`` (``{(point, path): metrics}``, integers as :func:`delever.montecarlo.run_path`
    gives them), rows in (point, path) order, with the sweep's inputs in the schema metadata."""
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
