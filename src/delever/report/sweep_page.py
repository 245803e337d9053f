"""The page of ``delever sweep``: distributions of bad debt, fund drawdown and ADL over Monte Carlo paths.

Per reported metric, the empirical exceedance function per grid point (the share of paths whose value is
above x, drawn as the step function it is: with 8 paths it has at most 8 steps) and a table of quantiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.parquet as pq
from markupsafe import Markup

from ..montecarlo_table import REPORT_METRICS, point_stats, point_values, sweep_metadata
from ..outdir import writing
from . import format as fmt
from .figures import PALETTE, exceedance, layout
from .page import figure, note, render_page, section, table


def exceedance_figure(table_: pa.Table, metric: str, title: str) -> go.Figure:
    """One step line per grid point: the share of its paths (%) whose ``metric`` is above x."""
    traces = []
    for i, (_, label, v) in enumerate(point_values(table_, metric)):
        x, y = exceedance(v)
        traces.append(
            go.Scatter(
                x=np.round(x, 6),
                y=np.round(y, 4),
                name=f"{label} ({v.size:,} paths)",
                mode="lines+markers",
                marker={"size": 5},
                line={"width": 1.6, "shape": "hv", "color": PALETTE[i % len(PALETTE)]},
                hovertemplate="%{y:.1f}% of paths above %{x:,.2f}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    layout(fig, x_title=title, y_title="paths above x (%)", hovermode="closest", yaxis_range=[-2, 102])
    return fig


def sweep_page(table_: pa.Table) -> str:
    """The whole page for a sweep table (:func:`delever.montecarlo.sweep`), deterministic."""
    meta = sweep_metadata(table_)
    name = meta.get("scenario", "sweep")
    n_points = len(np.unique(table_.column("point").to_numpy())) if table_.num_rows else 0
    n_paths = meta.get("paths", table_.num_rows)
    params = meta.get("model_params", {})
    steps = meta.get("steps")
    setup = [
        ["scenario", name],
        ["path model", f"{meta.get('model', '?')} ({', '.join(f'{k}={v}' for k, v in params.items())})"],
        ["paths per point", fmt.count(n_paths)],
        ["steps per path", f"{fmt.count(steps) if steps is not None else '?'} of {meta.get('step_seconds', '?')} s"],
        ["root seed", str(meta.get("seed", "?"))],
        ["grid", "; ".join(f"{k} = {', '.join(v)}" for k, v in meta.get("grid", {}).items()) or "none (one point)"],
        ["points x paths", f"{fmt.count(n_points)} x {fmt.count(n_paths)} = {fmt.count(table_.num_rows)} runs"],
        [
            "conservation error",
            "0 in every run"
            if table_.num_rows and not np.any(table_.column("conservation_error").to_numpy())
            else "NOT ZERO in some runs",
        ],
    ]
    common = note(
        "Every point runs the same paths (common random numbers): path i has the same seed at "
        "every point, and a row's seed redraws its path alone."
    )
    sections = [section("setup", "Sweep", table(["input", "value"], setup) + common)]

    def stats_table(metric: str, unit: str) -> Markup:
        head = ["point", "paths", "paths > 0", *(f"{k} ({unit})" for k in ("mean", "p5", "p50", "p95", "p99", "max"))]
        rows = [
            [s["label"], fmt.count(s["paths"]), fmt.share(s["share_positive"]),
             *(fmt.money(s[k]) for k in ("mean", "p5", "p50", "p95", "p99", "max"))]
            for s in point_stats(table_, metric)
        ]  # fmt: skip
        return table(head, rows, range(1, 9))

    for metric, title in REPORT_METRICS:
        body = Markup("")
        if table_.num_rows:
            body = figure(exceedance_figure(table_, metric, title), f"fig-{metric}") + stats_table(metric, "USDT")
        sections.append(
            section(
                metric.replace("_", "-"),
                title,
                body
                + note(
                    "Exceedance: the share of paths whose value is above x, per grid point, as the empirical step "
                    "function (each step is one or more paths); the table gives quantiles over paths (linear "
                    "interpolation between paths)."
                ),
            )
        )
    if table_.num_rows:
        other = []
        for metric, label, kind in (
            ("liquidations", "liquidations (count)", "count"),
            ("adl_events", "ADL fills (count)", "count"),
            ("min_mark_price", "minimum mark price (USDT per base)", "price"),
        ):
            show = fmt.price if kind == "price" else (lambda v: f"{v:,.1f}")
            for s in point_stats(table_, metric):
                other.append([label, s["label"], *(show(s[k]) for k in ("mean", "p5", "p50", "p95", "p99", "max"))])
        sections.append(
            section(
                "other",
                "Other metrics",
                table(["metric", "point", "mean", "p5", "p50", "p95", "p99", "max"], other, range(2, 8)),
            )
        )
    return render_page(f"delever sweep: {name}", sections, "The full table is sweep.parquet, next to this page.")


def write_sweep(table_: pa.Table, out_dir: Path | str) -> Path:
    """Write ``sweep.parquet`` (the sweep's table, :func:`delever.montecarlo.sweep`) and ``report.html``
    (:func:`sweep_page`) into ``out_dir`` atomically (temp dir, then rename)."""
    with writing(out_dir, "sweep") as tmp:
        pq.write_table(table_, tmp / "sweep.parquet")
        (tmp / "report.html").write_text(sweep_page(table_), encoding="utf-8", newline="\n")
    return Path(out_dir)
