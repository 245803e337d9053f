"""Write the self-contained HTML report of one run.

The page holds a summary table, six plotly figures (prices, liquidations, insurance fund and bad debt, ADL
fills, effective-leverage distributions, ADL indicator lights), a per-kind aggregate of the event table and
the provenance of every input. plotly.js is inlined once in ``<head>`` so the file opens offline, and nothing
in the page depends on the clock or on random ids: the same arguments give a byte-identical file.

Raw events are never embedded (a run can have ~500k); line series are downsampled with min/max kept per bucket
so a one-step crash low survives; per-step bars keep every non-zero step and are summed into buckets only when
there are too many.
"""

from __future__ import annotations

import math
import pathlib
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
import numpy as np
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
from markupsafe import Markup
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from delever import __version__
from delever.events import KIND_NAMES

MAX_POINTS = 3_000
"""Most points per plotted series; beyond it lines are min/max downsampled and bars summed into buckets."""

FIG_HEIGHT_PX = 380

EVENT_KINDS = KIND_NAMES
"""Event kinds in the order the pipeline produces them (the order of the aggregate table)."""

LEVERAGE_EDGES = (
    0.0,
    1.0,
    2.0,
    3.0,
    5.0,
    10.0,
    20.0,
    30.0,
    50.0,
    75.0,
    100.0,
    150.0,
    200.0,
    300.0,
    500.0,
    1000.0,
    math.inf,
)
"""Bin edges (x) of the leverage histograms: fixed, human-readable, roughly log-spaced."""

# Labels (with units) of the summary keys we know; other keys get a label made from their name.
_SUMMARY_LABELS: dict[str, str] = {
    "accounts": "Accounts",
    "steps": "Steps",
    "liquidations": "Liquidations",
    "liquidated_notional": "Liquidated notional (USDT)",
    "bad_debt": "Bad debt: shortfall below bankruptcy (USDT)",
    "bad_debt_unrecovered": "Bad debt left unrecovered (USDT)",
    "insurance_fund_paid": "Insurance fund paid out (USDT)",
    "liquidation_fees": "Liquidation fees to the fund (USDT)",
    "adl_cost_vs_mark": "ADL counterparties' cost vs closing at mark (USDT)",
    "insurance_fund_start": "Insurance fund, start (USDT)",
    "insurance_fund_end": "Insurance fund, end (USDT)",
    "insurance_fund_min": "Insurance fund, minimum (USDT)",
    "adl_events": "ADL events",
    "adl_notional": "ADL notional (USDT)",
    "accounts_adl": "Accounts hit by ADL",
    "min_mark_price": "Minimum mark price (USDT)",
    "max_mark_drawdown_pct": "Maximum mark drawdown (%)",
    "conservation_error": "Conservation error (USDT)",
}

_COLORS = {
    "index": "#7f7f7f",
    "mark": "#1f77b4",
    "trade": "#ff7f0e",
    "liq": "#d62728",
    "count": "#2f2f2f",
    "fund": "#2ca02c",
    "bad_debt": "#d62728",
    "adl": "#9467bd",
    "adl_cum": "#4b2a7a",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#fff;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h1{font-size:1.6rem;margin:.2rem 0 .6rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;padding-bottom:.2rem;
border-bottom:1px solid #e3e6ec}
nav{font-size:.9rem;color:#555}nav a{color:#1f5fa8;text-decoration:none;margin-right:.9rem}
table{border-collapse:collapse;font-size:.9rem;margin:.4rem 0}
th,td{border:1px solid #e3e6ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f7f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
p.note{color:#555;font-size:.88rem;margin:.3rem 0}
.kind{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600}
.kind-real{background:#dff3e4;color:#1d6b34}.kind-generated{background:#dde9f8;color:#1f4f8a}
.kind-assumed{background:#fbefd5;color:#8a5a00}
footer{margin-top:2.5rem;padding-top:.6rem;border-top:1px solid #e3e6ec;color:#777;font-size:.8rem}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css }}</style>
<script>{{ plotlyjs }}</script>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<nav>{% for s in sections %}<a href="#{{ s.id }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}
<section id="{{ s.id }}">
<h2>{{ s.title }}</h2>
{{ s.html }}
</section>
{% endfor %}
<footer>{{ footer }}</footer>
</main>
</body>
</html>
"""


# ----------------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------------


def write_report(
    path: pathlib.Path,
    *,
    title: str,
    summary: dict,
    steps: pa.Table,
    events: pa.Table,
    leverage_liquidated: np.ndarray,
    leverage_adl: np.ndarray,
    adl_indicator: np.ndarray | None,
    inputs: list[dict],
    extra_sections: list[dict] | None = None,
) -> None:
    """Write the HTML report of one run to ``path`` (UTF-8, self-contained, deterministic).

    Args:
        path: output file; its parent directory must exist.
        title: page title and ``<h1>``.
        summary: flat dict of JSON-able scalars (counts, USDT amounts as float or decimal strings,
            percentages), shown in order as the "Summary" table.
        steps: one row per step, columns ``step`` int64, ``time`` timestamp[ns, tz=UTC], ``index_price``,
            ``mark_price``, ``trade_price`` (USDT per base), ``liquidated_notional`` (USDT in that step),
            ``liquidations`` int64, ``insurance_fund`` (USDT, end of step), ``adl_notional`` (USDT in that
            step), ``adl_fills`` int64, ``bad_debt`` (cumulative bad debt, USDT).
        events: one row per event, columns ``step``, ``time``, ``account``, ``counterparty``, ``instrument``,
            ``kind`` (see :data:`EVENT_KINDS`), ``size`` (base, signed), ``price`` (USDT), ``amount`` (USDT);
            only aggregated per (instrument, kind) into the page.
        leverage_liquidated: shape (n_liq,), effective leverage of each liquidated account the step before.
        leverage_adl: shape (n_adl,), effective leverage of each ADL'd counterparty at ADL time.
        adl_indicator: shape (n_adl,), ADL indicator light 1..5 of each ADL'd position when hit; None if
            unknown.
        inputs: provenance rows ``{"name", "kind": "real"|"generated"|"assumed", "value", "source"}``.
        extra_sections: ``{"title", "html"}`` sections appended at the end; ``html`` is trusted and inserted
            raw.
    """
    t = _step_series(steps)
    sections: list[dict[str, Any]] = [
        _section("summary", "Summary", _summary_html(summary)),
        _section("prices", "Prices", _fig_or_note(_fig_prices(t), "fig-prices", "No steps in this run.")),
        _section(
            "liquidations",
            "Liquidations",
            _fig_or_note(_fig_liquidations(t), "fig-liquidations", "No liquidations in this run."),
        ),
        _section(
            "insurance-fund",
            "Insurance fund and bad debt",
            _fig_or_note(_fig_insurance(t), "fig-insurance", "No steps in this run."),
        ),
        _section("adl", "Auto-deleveraging (ADL)", _fig_or_note(_fig_adl(t), "fig-adl", "No ADL fills in this run.")),
        _section("leverage", "Effective leverage", _leverage_html(leverage_liquidated, leverage_adl)),
        _section("adl-indicator", "ADL indicator", _adl_indicator_html(adl_indicator)),
        _section("events", "Events by kind", _events_html(events)),
        _section("inputs", "Inputs", _inputs_html(inputs)),
    ]
    for i, extra in enumerate(extra_sections or []):
        sections.append(_section(f"extra-{i + 1}", str(extra["title"]), Markup(str(extra["html"]))))

    n = len(t["step"])
    footer = (
        f"Generated by delever {__version__} (plotly.py {plotly.__version__}, plotly.js "
        f"{get_plotlyjs_version()} inlined). {n:,} steps, {events.num_rows:,} events. Line series are "
        f"downsampled to at most {MAX_POINTS:,} points each, keeping the minimum and maximum of every "
        "bucket; per-step bars keep every non-zero step unless there are more than that, then they are "
        "summed per bucket of steps."
    )
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    page = env.from_string(_TEMPLATE).render(
        title=title, css=Markup(_CSS), plotlyjs=Markup(get_plotlyjs()), sections=sections, footer=footer
    )
    # newline="\n" so the bytes do not depend on the platform
    pathlib.Path(path).write_text(page, encoding="utf-8", newline="\n")


# ----------------------------------------------------------------------------------------------------------
# Data preparation
# ----------------------------------------------------------------------------------------------------------


def _step_series(steps: pa.Table) -> dict[str, np.ndarray]:
    """Columns of ``steps`` as numpy arrays (floats: NaN for nulls; ints: 0), plus ``x``, the time labels."""
    out: dict[str, np.ndarray] = {}
    for name in (
        "index_price",
        "mark_price",
        "trade_price",
        "liquidated_notional",
        "insurance_fund",
        "adl_notional",
        "bad_debt",
    ):
        out[name] = np.asarray(steps.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
    for name in ("step", "liquidations", "adl_fills"):
        col = steps.column(name).fill_null(0)
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    out["x"] = _time_labels(steps.column("time"))
    return out


def _time_labels(col: pa.ChunkedArray) -> np.ndarray:
    """UTC ISO-8601 strings (no zone suffix, plotly reads them as wall time) at the coarsest exact unit."""
    ns = np.asarray(
        col.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    # Shorter strings where the data allows: most runs step on whole seconds.
    unit = "s" if not (ns % 1_000_000_000).any() else "ms" if not (ns % 1_000_000).any() else "us"
    return np.datetime_as_string(ns.astype("datetime64[ns]"), unit=unit)


def minmax_indices(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of ``y`` (shape (n,)) to plot: all if ``n <= max_points``, else the first and last points and
    the positions of the minimum and maximum of each of ``(max_points - 2) // 2`` equal buckets (a crash low
    or a spike is never averaged away). NaNs are ignored; an all-NaN bucket keeps its first index. Sorted,
    unique.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    n_buckets = max(1, (max_points - 2) // 2)
    width = -(-n // n_buckets)  # equal buckets of ceil(n / n_buckets) points, the last one padded
    padded = np.full(n_buckets * width, np.nan)
    padded[:n] = y
    rows = padded.reshape(n_buckets, width)
    empty = np.isnan(rows).all(axis=1)
    lo = np.argmin(np.where(np.isnan(rows), np.inf, rows), axis=1)
    hi = np.argmax(np.where(np.isnan(rows), -np.inf, rows), axis=1)
    start = np.arange(n_buckets) * width
    keep = np.concatenate([[0, n - 1], np.where(empty, start, start + lo), np.where(empty, start, start + hi)])
    return np.unique(keep[keep < n].astype(np.int64))


def bar_buckets(values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Sparse per-step bars: ``(positions, [sums...], bucket)``.

    ``values`` is shape (k, n) or (n,): per-step quantities that add (notional, counts); the first row decides
    which steps are non-zero. If at most ``max_points`` steps are non-zero, those steps are kept exactly
    (``bucket == 1``); otherwise every row is summed over buckets of ``bucket`` consecutive steps and
    ``positions`` are the first step index of each non-empty bucket. Totals are preserved either way.
    """
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = v.shape[1]
    nz = np.flatnonzero(v[0])
    if nz.size <= max_points:
        return nz, [row[nz] for row in v], 1
    bucket = -(-n // max_points)
    starts = np.arange(0, n, bucket)
    sums = np.add.reduceat(v, starts, axis=1)
    keep = np.flatnonzero(sums[0])
    return starts[keep], [row[keep] for row in sums], bucket


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------

# The layout half of plotly_white only: the template's per-trace defaults would be repeated in every figure.
_TEMPLATE_LAYOUT = go.layout.Template(layout=pio.templates["plotly_white"].layout)
_MARGIN = {"l": 70, "r": 20, "t": 30, "b": 45}
_LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def _base_layout(fig: go.Figure, y_title: str, y2_title: str | None = None) -> go.Figure:
    fig.update_layout(
        template=_TEMPLATE_LAYOUT,
        height=FIG_HEIGHT_PX,
        margin={**_MARGIN, "r": 70 if y2_title else 20},
        legend=_LEGEND,
        hovermode="x unified",
        xaxis_title="time (UTC)",
        yaxis_title=y_title,
    )
    if y2_title:
        fig.update_layout(
            yaxis2={"title": y2_title, "overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"}
        )
    return fig


def _line(t: dict[str, np.ndarray], key: str, name: str, color: str, **kw: Any) -> go.Scatter:
    idx = minmax_indices(t[key])
    return go.Scatter(x=t["x"][idx], y=t[key][idx], name=name, mode="lines", line={"color": color, "width": 1.4}, **kw)


def _fig_prices(t: dict[str, np.ndarray]) -> go.Figure | None:
    if len(t["step"]) == 0:
        return None
    fig = go.Figure(
        [
            _line(t, "index_price", "index", _COLORS["index"]),
            _line(t, "mark_price", "mark", _COLORS["mark"]),
            _line(t, "trade_price", "trade (venue last)", _COLORS["trade"]),
        ]
    )
    return _base_layout(fig, "price (USDT)")


def _fig_liquidations(t: dict[str, np.ndarray]) -> go.Figure | None:
    if not np.nansum(np.abs(t["liquidated_notional"])) and not t["liquidations"].any():
        return None
    # The count decides which steps show, so a liquidation with zero notional still appears.
    pos, (count, notional), bucket = bar_buckets(np.vstack([t["liquidations"], t["liquidated_notional"]]))
    per = "per step" if bucket == 1 else f"per {bucket} steps"
    fig = go.Figure(
        [
            go.Bar(x=t["x"][pos], y=notional, name=f"liquidated notional {per}", marker_color=_COLORS["liq"]),
            go.Scatter(
                x=t["x"][pos],
                y=count,
                name=f"liquidations {per}",
                yaxis="y2",
                mode="markers",
                marker={"color": _COLORS["count"], "size": 5, "symbol": "diamond"},
            ),
        ]
    )
    return _base_layout(fig, "liquidated notional (USDT)", "liquidations (count)")


def _fig_insurance(t: dict[str, np.ndarray]) -> go.Figure | None:
    if len(t["step"]) == 0:
        return None
    # One shared USDT axis: the reader must see the bad debt at the scale of the fund that failed to cover it.
    fig = go.Figure(
        [
            _line(t, "insurance_fund", "insurance fund (end of step)", _COLORS["fund"]),
            _line(
                t, "bad_debt", "cumulative bad debt (shortfall below bankruptcy)", _COLORS["bad_debt"], fill="tozeroy"
            ),
        ]
    )
    return _base_layout(fig, "USDT")


def _fig_adl(t: dict[str, np.ndarray]) -> go.Figure | None:
    if not np.nansum(np.abs(t["adl_notional"])) and not t["adl_fills"].any():
        return None
    pos, (fills, notional), bucket = bar_buckets(np.vstack([t["adl_fills"], t["adl_notional"]]))
    per = "per step" if bucket == 1 else f"per {bucket} steps"
    cum = np.cumsum(np.nan_to_num(t["adl_notional"]))
    idx = minmax_indices(cum)
    fig = go.Figure(
        [
            go.Bar(
                x=t["x"][pos],
                y=notional,
                name=f"ADL notional {per}",
                marker_color=_COLORS["adl"],
                customdata=fills,
                hovertemplate="%{y:,.2f} USDT in %{customdata:,} fills",
            ),
            go.Scatter(
                x=t["x"][idx],
                y=cum[idx],
                name="cumulative ADL notional",
                yaxis="y2",
                mode="lines",
                line={"color": _COLORS["adl_cum"], "width": 1.6, "shape": "hv"},
            ),
        ]
    )
    return _base_layout(fig, "ADL notional (USDT)", "cumulative (USDT)")


def _leverage_bins(values: np.ndarray) -> np.ndarray:
    """Counts per :data:`LEVERAGE_EDGES` bin, plus a last count of values that are not finite or <= 0
    (an account with equity <= 0 has no meaningful leverage). Shape (len(LEVERAGE_EDGES),)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(v) & (v > 0)
    counts, _ = np.histogram(v[ok], bins=np.asarray(LEVERAGE_EDGES))
    return np.append(counts, np.count_nonzero(~ok))


def _leverage_labels() -> list[str]:
    e = LEVERAGE_EDGES
    labels = [f"{e[i]:g}–{e[i + 1]:g}x" for i in range(len(e) - 2)] + [f"≥ {e[-2]:g}x"]
    return labels + ["equity ≤ 0"]


def _leverage_stats(values: np.ndarray) -> list[str]:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return ["—", "—", "—"]
    return [f"{np.median(v):,.2f}x", f"{np.quantile(v, 0.9):,.2f}x", f"{v.max():,.2f}x"]


def _leverage_html(lev_liq: np.ndarray, lev_adl: np.ndarray) -> Markup:
    liq = np.asarray(lev_liq, dtype=np.float64).ravel()
    adl = np.asarray(lev_adl, dtype=np.float64).ravel()
    if liq.size == 0 and adl.size == 0:
        return _note("No liquidated or ADL'd accounts in this run.")
    c_liq, c_adl = _leverage_bins(liq), _leverage_bins(adl)
    labels = np.asarray(_leverage_labels())
    # Show the bins from the first to the last non-empty one, so the x axis spans the data only.
    used = np.flatnonzero(c_liq + c_adl)
    sl = slice(int(used[0]), int(used[-1]) + 1)
    traces = []
    for counts, n, name, color in (
        (c_liq, liq.size, "liquidated (step before)", _COLORS["liq"]),
        (c_adl, adl.size, "ADL'd counterparties (at ADL)", _COLORS["adl"]),
    ):
        if n == 0:
            continue
        # Share of the group, so groups of very different sizes compare by shape; counts go in the hover.
        traces.append(
            go.Bar(
                x=labels[sl],
                y=100.0 * counts[sl] / n,
                name=f"{name}, n={n:,}",
                marker_color=color,
                opacity=0.6,
                customdata=counts[sl],
                hovertemplate="%{y:.1f}% (%{customdata:,} accounts)",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        template=_TEMPLATE_LAYOUT,
        height=FIG_HEIGHT_PX,
        barmode="overlay",
        bargap=0.05,
        margin=_MARGIN,
        legend=_LEGEND,
        xaxis={"title": "effective leverage (position notional / equity)", "type": "category"},
        yaxis_title="share of group (%)",
        hovermode="x unified",
    )
    rows = [
        ["liquidated", f"{liq.size:,}", *_leverage_stats(liq)],
        ["ADL'd counterparties", f"{adl.size:,}", *_leverage_stats(adl)],
    ]
    table = _table(["group", "accounts", "median", "p90", "max"], rows, num_cols={1, 2, 3, 4})
    note = _note(
        "Bins are roughly log-spaced; bars are the share of each group's accounts in the bin. "
        "\u201cequity \u2264 0\u201d counts accounts whose leverage is undefined (non-finite or "
        "\u2264 0); the statistics exclude them."
    )
    return _fig_html(fig, "fig-leverage") + table + note


def _adl_indicator_html(adl_indicator: np.ndarray | None) -> Markup:
    if adl_indicator is None or np.asarray(adl_indicator).size == 0:
        return _note("No ADL indicator data for this run.")
    v = np.asarray(adl_indicator).ravel().astype(np.int64)
    in_range = (v >= 1) & (v <= 5)
    counts = np.bincount(v[in_range], minlength=6)[1:6]
    fig = go.Figure(
        go.Bar(
            x=[str(i) for i in range(1, 6)],
            y=counts,
            marker_color=_COLORS["adl"],
            name="ADL'd positions",
            hovertemplate="light %{x}: %{y:,} positions<extra></extra>",
        )
    )
    fig.update_layout(
        template=_TEMPLATE_LAYOUT,
        height=FIG_HEIGHT_PX,
        margin=_MARGIN,
        xaxis={"title": "ADL indicator light (5 = first in the ADL queue)", "type": "category"},
        yaxis_title="ADL'd positions (count)",
    )
    text = (
        f"{v.size:,} ADL'd positions, by the indicator light they showed when hit; a higher light means "
        "earlier in the ADL queue (ranked by profit and leverage)."
    )
    if (~in_range).any():
        text += f" {int(np.count_nonzero(~in_range)):,} values outside 1..5 are not shown."
    return _fig_html(fig, "fig-adl-indicator") + _note(text)


def _fig_html(fig: go.Figure, div_id: str) -> Markup:
    """A figure as an HTML fragment that relies on the plotly.js in ``<head>``; the fixed ``div_id`` keeps the
    page deterministic (plotly draws a random one otherwise)."""
    return Markup(
        pio.to_html(
            fig,
            include_plotlyjs=False,
            full_html=False,
            div_id=div_id,
            default_height=f"{FIG_HEIGHT_PX}px",
            config={"displaylogo": False, "responsive": True},
        )
    )


def _fig_or_note(fig: go.Figure | None, div_id: str, empty: str) -> Markup:
    return _note(empty) if fig is None else _fig_html(fig, div_id)


# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------


def format_value(key: str, value: Any) -> str:
    """Format a summary scalar: thousands separators, at most 6 decimals (money is micro-USDT exact),
    2 decimals for percentages (keys ending in ``_pct``); decimal strings are formatted exactly as numbers."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return str(f)
        f = round(f, 2 if key.endswith("_pct") else 6)
        # repr is the shortest exact decimal, so 0.1 prints as 0.1 and not 0.1000000000000000055...
        return _fmt_decimal(Decimal(repr(f)).normalize())
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return value
        return _fmt_decimal(d) if d.is_finite() else value
    return str(value)


def _fmt_decimal(d: Decimal) -> str:
    s = format(d, ",f")  # ",f" never uses exponent notation, so a normalized 1E+6 prints as 1,000,000
    return "0" if s in ("-0", "0") else s


def _summary_html(summary: dict) -> Markup:
    rows = [[_SUMMARY_LABELS.get(k, k.replace("_", " ").capitalize()), format_value(k, v)] for k, v in summary.items()]
    return _table(["quantity", "value"], rows, num_cols={1})


def _events_html(events: pa.Table) -> Markup:
    n = events.num_rows
    if n == 0:
        return _note("No events in this run.")
    size = np.asarray(events.column("size").to_numpy(zero_copy_only=False), dtype=np.float64)
    price = np.asarray(events.column("price").to_numpy(zero_copy_only=False), dtype=np.float64)
    amount = np.asarray(events.column("amount").to_numpy(zero_copy_only=False), dtype=np.float64)
    # Fee, payout and bad-debt rows carry no fill, so a missing size or price counts as zero notional.
    agg_in = pa.table(
        {
            "instrument": events.column("instrument").cast(pa.string()),
            "kind": events.column("kind").cast(pa.string()),
            "account": events.column("account"),
            "abs_size": np.abs(np.nan_to_num(size)),
            "notional": np.abs(np.nan_to_num(size * price)),
            "amount": np.nan_to_num(amount),
        }
    )
    # One thread: a fixed summation order, so float sums (and the page) are the same on every run.
    agg = (
        agg_in.group_by(["instrument", "kind"], use_threads=False)
        .aggregate(
            [
                ("account", "count"),
                ("account", "count_distinct"),
                ("abs_size", "sum"),
                ("notional", "sum"),
                ("amount", "sum"),
            ]
        )
        .to_pylist()
    )
    order = {k: i for i, k in enumerate(EVENT_KINDS)}
    agg.sort(key=lambda r: (r["instrument"] or "", order.get(r["kind"], len(order)), r["kind"] or ""))
    rows = [
        [
            r["instrument"],
            r["kind"],
            f"{r['account_count']:,}",
            f"{r['account_count_distinct']:,}",
            f"{r['abs_size_sum']:,.6f}".rstrip("0").rstrip("."),
            f"{r['notional_sum']:,.2f}",
            f"{r['amount_sum']:,.2f}",
        ]
        for r in agg
    ]
    header = [
        "instrument",
        "kind",
        "events",
        "accounts",
        "Σ |size| (base)",
        "Σ |size × price| (USDT)",
        "Σ amount (USDT)",
    ]
    table = _table(header, rows, num_cols={2, 3, 4, 5, 6})
    return table + _note(
        f"{n:,} events aggregated per instrument and kind; the raw table is not embedded. "
        "\u201caccounts\u201d counts distinct values of the account column."
    )


def _inputs_html(inputs: list[dict]) -> Markup:
    intro = _note(
        "Where each input comes from: <b>real</b> = measured data (its source is given), "
        "<b>generated</b> = drawn by the seeded generator, <b>assumed</b> = a parameter value we "
        "chose.",
        escape=False,
    )
    if not inputs:
        return Markup(intro + _note("No inputs recorded."))
    rows = []
    for row in inputs:
        kind = str(row.get("kind", ""))
        badge = Markup('<span class="kind kind-{0}">{0}</span>').format(kind)
        rows.append([row.get("name", ""), badge, row.get("value", ""), row.get("source", "")])
    return Markup(intro + _table(["name", "kind", "value", "source"], rows))


def _table(header: list[str], rows: list[list[Any]], num_cols: set[int] | frozenset[int] = frozenset()) -> Markup:
    """An HTML table; cells are escaped unless they are ``Markup``; ``num_cols`` are right-aligned."""
    parts = ["<table><thead><tr>"]
    parts += [Markup("<th>{}</th>").format(h) for h in header]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in num_cols else ""
            parts.append(Markup("<td" + cls + ">{}</td>").format(cell))
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return Markup("".join(str(p) for p in parts))


def _note(text: str, escape: bool = True) -> Markup:
    return Markup('<p class="note">{}</p>').format(text if escape else Markup(text))


def _section(sid: str, title: str, html: Markup | str) -> dict[str, Any]:
    return {"id": sid, "title": title, "html": Markup(html)}
