"""Write the self-contained HTML report of one run (``report.html`` of ``delever run``).

The page (:mod:`delever.report.page`) holds the summary (every value with its unit), prices (index, mark and
the venue's last trade per instrument, with expiry markers for dated futures), liquidations and ADL on a time
axis zoomed to where they happen, the insurance fund(s) and bad debt, effective-leverage distributions, the ADL
indicator lights (only when they differ), the money moved per transfer (payer -> payee) apart from the fills'
realized PnL, and the provenance of every input. Money is shown in quote units with 2 decimals; the exact
values are in the run's files. Same arguments, byte-identical page.

Raw events are never embedded (a run can have ~500k); line series are downsampled with min/max kept per bucket
so a one-step crash low survives; per-step bars keep every non-zero step and are summed into buckets only when
there are too many (:mod:`delever.report.figures`).
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
from markupsafe import Markup

from delever.events import KIND_NAMES

from . import format as fmt
from .figures import (
    COLORS,
    MAX_POINTS,
    PALETTE,
    activity_window,
    bar_buckets,
    layout,
    line,
    minmax_indices,
    time_labels,
    time_range,
)
from .page import figure, note, section, table, write_page

__all__ = ["write_report", "format_value", "minmax_indices", "bar_buckets", "EVENT_KINDS", "MAX_POINTS"]

EVENT_KINDS = KIND_NAMES
"""Event kinds in the order the pipeline produces them (the order of the event tables)."""

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

TRANSFERS: dict[str, tuple[str, str, int]] = {
    "liquidation_fee": ("liquidated accounts", "insurance fund", -1),
    "insurance_payout": ("insurance fund", "bankrupt accounts", +1),
    "clawback": ("winning accounts", "socialized-loss pool", -1),
    "clawback_received": ("socialized-loss pool", "bankrupt accounts", +1),
    "funding": ("accounts paying funding", "funding pool", -1),
    "funding_received": ("funding pool", "accounts receiving funding", +1),
    "funding_rounding": ("funding rounding remainder", "insurance fund", +1),
    "backstop_margin": ("taken-over accounts", "backstop vault", -1),
}
"""Event kinds that move money from a payer to a payee: kind -> (payer, payee, sign of the rows counted).
Each transfer is logged from one or both sides; the table counts one side (rows of that sign) so that nothing
is counted twice. ``funding_received`` is the receiving side of ``funding`` (its rows with amount > 0)."""

FILLS: dict[str, str] = {
    "liquidation_fill": "liquidated positions closed in the book",
    "lp_fill": "liquidity providers' side of those fills",
    "adl_fill": "bankrupt positions closed by ADL",
    "adl_counterparty_fill": "ADL'd winners' positions closed",
    "deleverage_fill": "positions cut by proactive deleveraging",
    "backstop_takeover": "positions handed to the backstop vault",
    "backstop_vault_fill": "the backstop vault's side of the takeovers",
    "settlement": "dated-future positions settled at expiry",
}
"""Event kinds that close positions: their amount is the account's own realized PnL, not a transfer."""


def format_value(key: str, value: Any) -> str:
    """A summary value as the page shows it (:func:`delever.report.format.summary_value`)."""
    return fmt.summary_value(key, value)


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
    instrument_steps: list[dict] | None = None,
    quote: str = "USDT",
    base: str = "BTC",
) -> None:
    """Write the HTML report of one run to ``path`` (UTF-8, self-contained, deterministic).

    Args:
        path: output file; its parent directory must exist.
        title: page title and ``<h1>``.
        summary: flat dict of JSON-able scalars (counts, quote amounts as float or decimal strings,
            percentages), shown in order as the "Summary" table with units (:data:`format.SUMMARY_FIELDS`).
        steps: one row per step, columns ``step`` int64, ``time`` timestamp[ns, tz=UTC], ``index_price``,
            ``mark_price``, ``trade_price`` (quote per base), ``liquidated_notional`` (quote in that step),
            ``liquidations`` int64, ``insurance_fund`` (quote, end of step), ``adl_notional`` (quote in that
            step), ``adl_fills`` int64, ``bad_debt`` (cumulative bad debt, quote).
        events: one row per event, columns ``step``, ``time``, ``account``, ``counterparty``, ``instrument``,
            ``kind`` (see :data:`EVENT_KINDS`), ``size`` (base, signed), ``price`` (quote), ``amount`` (quote);
            only aggregated per (instrument, kind) into the page.
        leverage_liquidated: shape (n_liq,), entry leverage of each liquidated position.
        leverage_adl: shape (n_adl,), entry leverage of each ADL'd counterparty position.
        adl_indicator: shape (n_adl,), ADL indicator light 1..5 of each ADL'd position when hit; None if
            unknown.
        inputs: provenance rows ``{"name", "kind": "real"|"generated"|"assumed", "value", "source"}``.
        extra_sections: ``{"title", "html"}`` sections appended at the end; ``html`` is trusted and inserted
            raw.
        instrument_steps: for a multi-instrument run, one ``{"symbol", "base", "steps", "expiry_ns",
            "fund_shared"}`` per instrument (``steps`` with the columns above, ``expiry_ns`` None for a perpetual,
            ``fund_shared`` True when one insurance fund serves every instrument); None: ``steps`` is the only
            instrument's.
        quote, base: unit names of money and of the (first) instrument's quantity.
    """
    t = _step_series(steps)
    symbol = events.column("instrument")[0].as_py() if events.num_rows else ""
    series = (
        [
            {
                "symbol": d["symbol"],
                "base": d.get("base", base),
                "t": _step_series(d["steps"]),
                "expiry_ns": d.get("expiry_ns"),
            }
            for d in instrument_steps
        ]
        if instrument_steps
        else [{"symbol": symbol or "", "base": base, "t": t, "expiry_ns": None}]
    )
    x_range = time_range(t["ns"])
    shared = any(d.get("fund_shared") for d in instrument_steps or [])  # one insurance fund for every instrument
    sections: list[dict[str, Any]] = [
        section("summary", "Summary", _summary_html(summary, quote, base, bool(instrument_steps), shared)),
        section("prices", "Prices", _prices_html(series, x_range, quote)),
        section("liquidations", "Liquidations", _liquidations_html(series, quote)),
        section(
            "insurance-fund",
            "Insurance fund and bad debt",
            _insurance_html(t, series, x_range, quote, shared),
        ),  # fmt: skip
        section("adl", "Auto-deleveraging (ADL)", _adl_html(series, quote)),
        section("leverage", "Effective leverage", _leverage_html(leverage_liquidated, leverage_adl)),
        section("adl-indicator", "ADL indicator", _adl_indicator_html(adl_indicator)),
        section("events", "Events by kind", _events_html(events, quote)),
        section("inputs", "Inputs", _inputs_html(inputs)),
    ]
    for i, extra in enumerate(extra_sections or []):
        sections.append(section(f"extra-{i + 1}", str(extra["title"]), Markup(str(extra["html"]))))
    n = len(t["step"])
    footer = (
        f"{n:,} steps, {events.num_rows:,} events. Money in {quote} with 2 decimals (exact values in "
        f"summary.json and events.parquet). Line series are downsampled to at most {MAX_POINTS:,} points each, "
        "keeping the minimum and maximum of every bucket; per-step bars keep every non-zero step unless there are "
        "more than that, then they are summed per bucket of steps."
    )
    write_page(path, title, sections, footer)


# ----------------------------------------------------------------------------------------------------------
# Data preparation
# ----------------------------------------------------------------------------------------------------------


def _step_series(steps: pa.Table) -> dict[str, np.ndarray]:
    """Columns of ``steps`` as numpy arrays (floats: NaN for nulls; ints: 0), plus ``ns`` (time, int64 ns)
    and ``x`` (UTC time labels)."""
    out: dict[str, np.ndarray] = {}
    names = set(steps.column_names)
    for name in (
        "index_price",
        "mark_price",
        "trade_price",
        "liquidated_notional",
        "insurance_fund",
        "adl_notional",
        "bad_debt",
    ):
        col = steps.column(name) if name in names else pa.array(np.zeros(steps.num_rows))
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    for name in ("step", "liquidations", "adl_fills"):
        col = steps.column(name).fill_null(0) if name in names else pa.array(np.zeros(steps.num_rows, np.int64))
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    out["ns"] = np.asarray(
        steps.column("time")
        .cast(pa.timestamp("ns", tz="UTC"))
        .cast(pa.int64())
        .fill_null(0)
        .to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    out["x"] = time_labels(out["ns"])
    return out


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------

TIME_AXIS = "time (UTC)"


def _expiry_marker(fig: go.Figure, expiry_ns: int | None) -> None:
    if expiry_ns is None:
        return
    x = str(time_labels(np.asarray([expiry_ns]))[0])
    fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line={"color": COLORS["expiry"],
                  "dash": "dash", "width": 1.2})  # fmt: skip
    fig.add_annotation(x=x, y=1, xref="x", yref="paper", text=f"expiry {fmt.utc_clock(expiry_ns)}", showarrow=False,
                       xanchor="left", yanchor="top", font={"size": 11})  # fmt: skip


def _prices_html(series: list[dict], x_range, quote: str) -> Markup:
    if len(series[0]["t"]["step"]) == 0:
        return note("No steps in this run.")
    parts = []
    for i, s in enumerate(series):
        t = s["t"]
        # the last trade first and the mark last: the mark is the price liquidations trigger on, drawn on top
        fig = go.Figure(
            [
                line(t["x"], t["trade_price"], "trade (venue last)", COLORS["trade"], width=1.0, opacity=0.8),
                line(t["x"], t["index_price"], "index", COLORS["index"], width=1.2, line_dash="dot"),
                line(t["x"], t["mark_price"], "mark", COLORS["mark"], width=1.8),
            ]
        )
        _expiry_marker(fig, s["expiry_ns"])
        label = f"{s['symbol']}: " if len(series) > 1 else ""
        layout(fig, x_title=TIME_AXIS, y_title=f"{label}price ({quote} per {s['base']})", x_range=x_range)
        parts.append(figure(fig, "fig-prices" if i == 0 else f"fig-prices-{i + 1}"))
    text = "Index (the exogenous price), mark (what margin and liquidation use) and the venue's last trade."
    if any(s["expiry_ns"] is not None for s in series):
        text += " The dashed line marks a dated future's expiry."
    return Markup("".join(parts)) + note(text)


def _activity_bars(series: list[dict], count_key: str, notional_key: str, quote: str, what: str, div_id: str,
                   y_title: str, color: str) -> Markup | None:  # fmt: skip
    active = [s["t"][count_key] > 0 for s in series]
    if not any(a.any() for a in active) and not any(np.nansum(np.abs(s["t"][notional_key])) for s in series):
        return None
    ns = series[0]["t"]["ns"]
    counts = np.sum([s["t"][count_key] for s in series], axis=0)
    found = activity_window(ns, counts)
    window, first, last = found if found is not None else (None, 0, len(ns) - 1)
    traces = []
    buckets = set()
    for i, s in enumerate(series):
        t = s["t"]
        pos, (cnt, notional), bucket = bar_buckets(np.vstack([t[count_key], t[notional_key]]))
        buckets.add(bucket)
        name = f"{s['symbol']} {what}" if len(series) > 1 else what
        traces.append(
            go.Bar(
                x=t["x"][pos],
                y=notional,
                name=name,
                marker_color=color if len(series) == 1 else PALETTE[i % len(PALETTE)],
                customdata=cnt,
                hovertemplate="%{y:,.2f} " + quote + " in %{customdata:,} " + ("fills" if "adl" in count_key else
                                                                             "liquidations") + "<extra></extra>",
            )
        )  # fmt: skip
    bucket = max(buckets)
    per = "per step" if bucket == 1 else f"per {bucket} steps"
    fig = go.Figure(traces)
    layout(fig, x_title=f"{TIME_AXIS}, zoomed to where it happens", y_title=f"{y_title} {per} ({quote})",
           x_range=window, barmode="stack", bargap=0.0)  # fmt: skip
    inside = int(counts[first : last + 1].sum())
    outside = int(counts.sum()) - inside
    rest = f"; {outside:,} of {int(counts.sum()):,} fall outside it" if outside else ""
    return figure(fig, div_id) + note(
        f"The axis is zoomed to {fmt.utc_clock(ns[first])}-{fmt.utc_clock(ns[last])} UTC, where "
        f"{inside:,} of them happen{rest} (double-click the chart for the whole run); hover a bar for its count."
    )


def _liquidations_html(series: list[dict], quote: str) -> Markup:
    if len(series[0]["t"]["step"]) == 0:
        return note("No liquidations in this run.")
    out = _activity_bars(series, "liquidations", "liquidated_notional", quote, "liquidated notional",
                         "fig-liquidations", "liquidated notional", COLORS["liq"])  # fmt: skip
    return out if out is not None else note("No liquidations in this run.")


def _adl_html(series: list[dict], quote: str) -> Markup:
    if len(series[0]["t"]["step"]) == 0:
        return note("No ADL fills in this run.")
    out = _activity_bars(series, "adl_fills", "adl_notional", quote, "ADL notional", "fig-adl", "ADL notional",
                         COLORS["adl"])  # fmt: skip
    if out is None:
        return note("No ADL fills in this run.")
    totals = []
    for s in series:
        t = s["t"]
        if t["adl_fills"].any():
            idx = np.flatnonzero(t["adl_fills"])
            totals.append(
                [s["symbol"] or "—", fmt.count(t["adl_fills"].sum()), fmt.money(np.nansum(t["adl_notional"])),
                 fmt.utc_clock(t["ns"][idx[0]]), fmt.utc_clock(t["ns"][idx[-1]])]
            )  # fmt: skip
    tab = table(["instrument", "ADL fills", f"ADL notional ({quote})", "first (UTC)", "last (UTC)"], totals, {1, 2})
    return out + tab


def _insurance_html(t: dict, series: list[dict], x_range, quote: str, shared: bool = False) -> Markup:
    if len(t["step"]) == 0:
        return note("No steps in this run.")
    # one shared quote axis: the reader must see the bad debt at the scale of the fund that failed to cover it
    traces = []
    if shared:  # one fund: every instrument's series is the same balance
        traces.append(line(t["x"], t["insurance_fund"], "shared insurance fund (end of step)", COLORS["fund"]))
    elif len(series) > 1:
        for i, s in enumerate(series):
            traces.append(line(s["t"]["x"], s["t"]["insurance_fund"], f"{s['symbol']} insurance fund",
                               PALETTE[i % len(PALETTE)]))  # fmt: skip
    else:
        traces.append(line(t["x"], t["insurance_fund"], "insurance fund (end of step)", COLORS["fund"]))
    traces.append(
        line(t["x"], t["bad_debt"], "cumulative bad debt (shortfall below bankruptcy)", COLORS["bad_debt"],
             fill="tozeroy")
    )  # fmt: skip
    fig = go.Figure(traces)
    layout(fig, x_title=TIME_AXIS, y_title=quote, x_range=x_range)
    text = "Each instrument has its own insurance fund; bad debt is summed over instruments." if len(series) > 1 else ""
    if shared:
        text = "One insurance fund shared by every instrument; bad debt is summed over instruments."
    return figure(fig, "fig-insurance") + (note(text) if text else Markup(""))


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
        return note("No liquidated or ADL'd accounts in this run.")
    c_liq, c_adl = _leverage_bins(liq), _leverage_bins(adl)
    labels = np.asarray(_leverage_labels())
    # Show the bins from the first to the last non-empty one, so the x axis spans the data only.
    used = np.flatnonzero(c_liq + c_adl)
    sl = slice(int(used[0]), int(used[-1]) + 1)
    traces = []
    for counts, n, name, color in (
        (c_liq, liq.size, "liquidated positions", COLORS["liq"]),
        (c_adl, adl.size, "ADL'd counterparty positions", COLORS["adl"]),
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
                hovertemplate="%{y:.1f}% (%{customdata:,} positions)",
            )
        )
    fig = go.Figure(traces)
    layout(fig, x_title="entry leverage (position notional / margin at entry)", y_title="share of group (%)",
           barmode="overlay", bargap=0.05, xaxis_type="category")  # fmt: skip
    rows = [
        ["liquidated positions", f"{liq.size:,}", *_leverage_stats(liq)],
        ["ADL'd counterparty positions", f"{adl.size:,}", *_leverage_stats(adl)],
    ]
    tab = table(["group", "positions", "median", "p90", "max"], rows, num_cols={1, 2, 3, 4})
    text = note(
        "Bins are roughly log-spaced; bars are the share of each group's positions in the bin (one sample per "
        "position, so an account with several positions counts once per position). "
        "\u201cequity \u2264 0\u201d counts positions whose leverage is undefined (non-finite or "
        "\u2264 0); the statistics exclude them."
    )
    return figure(fig, "fig-leverage") + tab + text


def _adl_indicator_html(adl_indicator: np.ndarray | None) -> Markup:
    if adl_indicator is None or np.asarray(adl_indicator).size == 0:
        return note("No ADL indicator data for this run.")
    v = np.asarray(adl_indicator).ravel().astype(np.int64)
    in_range = (v >= 1) & (v <= 5)
    counts = np.bincount(v[in_range], minlength=6)[1:6]
    outside = int(np.count_nonzero(~in_range))
    extra = f" {outside:,} values outside 1..5 are not counted." if outside else ""
    used = np.flatnonzero(counts)
    if used.size <= 1:
        # one light for every position: a chart of one bar says less than a sentence
        light = f"light {int(used[0]) + 1}" if used.size else "no light"
        return note(
            f"All {int(counts.sum()):,} ADL'd positions showed {light} (of 5; 5 = first in the ADL queue) when they "
            f"were hit, so the indicator did not separate them here.{extra}"
        )
    fig = go.Figure(
        go.Bar(
            x=[str(i) for i in range(1, 6)],
            y=counts,
            marker_color=COLORS["adl"],
            name="ADL'd positions",
            hovertemplate="light %{x}: %{y:,} positions<extra></extra>",
        )
    )
    layout(fig, x_title="ADL indicator light (5 = first in the ADL queue)", y_title="ADL'd positions (count)",
           xaxis_type="category", hovermode="closest")  # fmt: skip
    text = (
        f"{v.size:,} ADL'd positions, by the indicator light they showed when hit; a higher light means "
        f"earlier in the ADL queue (ranked by profit and leverage).{extra}"
    )
    return figure(fig, "fig-adl-indicator") + note(text)


# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------


def _summary_html(summary: dict, quote: str, base: str, multi: bool = False, shared: bool = False) -> Markup:
    """The summary table; ``shared``: the instruments of a multi-instrument run share one insurance fund."""
    rows = []
    for k, v in summary.items():
        label = fmt.summary_label(k, quote, base)
        if multi and k.startswith("insurance_fund"):
            label += ", one fund shared by every instrument" if shared else ", sum over instruments"
        elif multi and k in ("min_mark_price", "min_index_price", "max_mark_drawdown_pct", "open_interest_end"):
            label += ", first instrument"
        rows.append([label, fmt.summary_value(k, v)])
    tab = table(["quantity", "value"], rows, num_cols={1})
    if multi and shared:
        tab += note("Several instruments: one shared insurance fund, each its own ADL queue (per instrument below).")
    elif multi:
        tab += note("Several instruments: each has its own insurance fund and ADL queue (per instrument below).")
    return tab


def _events_html(events: pa.Table, quote: str) -> Markup:
    n = events.num_rows
    if n == 0:
        return note("No events in this run.")
    size = np.asarray(events.column("size").to_numpy(zero_copy_only=False), dtype=np.float64)
    price = np.asarray(events.column("price").to_numpy(zero_copy_only=False), dtype=np.float64)
    amount = np.nan_to_num(np.asarray(events.column("amount").to_numpy(zero_copy_only=False), dtype=np.float64))
    kind = np.asarray(events.column("kind").cast(pa.string()).to_pylist(), dtype=object)
    # funding is logged from both sides in one kind: its receiving side gets its own transfer row
    kind = np.where((kind == "funding") & (amount > 0), "funding_received", kind)
    # Fee, payout and bad-debt rows carry no fill, so a missing size or price counts as zero notional.
    agg_in = pa.table(
        {
            "instrument": events.column("instrument").cast(pa.string()),
            "kind": pa.array(kind.tolist(), type=pa.string()),
            "account": events.column("account"),
            "abs_size": np.abs(np.nan_to_num(size)),
            "notional": np.abs(np.nan_to_num(size * price)),
            "gain": np.where(amount > 0, amount, 0.0),
            "loss": np.where(amount < 0, amount, 0.0),
            "events": np.ones(n, dtype=np.int64),
        }
    )
    # One thread: a fixed summation order, so float sums (and the page) are the same on every run.
    agg = (
        agg_in.group_by(["instrument", "kind"], use_threads=False)
        .aggregate(
            [
                ("events", "sum"),
                ("account", "count_distinct"),
                ("abs_size", "sum"),
                ("notional", "sum"),
                ("gain", "sum"),
                ("loss", "sum"),
            ]
        )
        .to_pylist()
    )
    order = {k: i for i, k in enumerate([*EVENT_KINDS, "funding_received"])}
    agg.sort(key=lambda r: (r["instrument"] or "", order.get(r["kind"], len(order)), r["kind"] or ""))
    transfers, fills, other = [], [], []
    for r in agg:
        k = r["kind"]
        if k in TRANSFERS:
            payer, payee, sign = TRANSFERS[k]
            moved = -r["loss_sum"] if sign < 0 else r["gain_sum"]
            transfers.append([r["instrument"], k, Markup("{} &rarr; {}").format(payer, payee),
                              fmt.count(r["events_sum"]), fmt.money(moved)])  # fmt: skip
        elif k in FILLS:
            fills.append([r["instrument"], k, FILLS[k], fmt.count(r["events_sum"]),
                          fmt.count(r["account_count_distinct"]), fmt.quantity(round(r["abs_size_sum"], 8)),
                          fmt.money(r["notional_sum"]), fmt.money(r["gain_sum"]),
                          fmt.money(r["loss_sum"])])  # fmt: skip
        else:
            other.append([r["instrument"], k, fmt.count(r["events_sum"]), fmt.count(r["account_count_distinct"]),
                          fmt.money(r["loss_sum"] + r["gain_sum"])])  # fmt: skip
    parts = [Markup("<h3>Transfers: money moved from a payer to a payee</h3>")]
    if transfers:
        parts.append(
            table(["instrument", "kind", "payer → payee", "events", f"moved ({quote})"], transfers, {3, 4}, nowrap=True)
        )
    else:
        parts.append(note("No transfers in this run."))
    parts.append(Markup("<h3>Fills: positions closed, and the realized PnL of each side</h3>"))
    if fills:
        parts.append(
            table(
                ["instrument", "kind", "what", "events", "accounts", "Σ |size| (base)", f"Σ |size × price| ({quote})",
                 f"realized gains ({quote})", f"realized losses ({quote})"],
                fills, {3, 4, 5, 6, 7, 8}, nowrap=True,
            )
        )  # fmt: skip
        parts.append(
            note(
                "Realized PnL is each closed position's own result against its entry, shown as gains and losses "
                "apart: it is not money paid between the rows of this table (the other side of a book fill is the "
                "liquidity providers' row; of a settlement, the clearing pool), so the rows are not meant to sum."
            )
        )
    if other:
        parts.append(Markup("<h3>Shortfall left unrecovered</h3>"))
        parts.append(table(["instrument", "kind", "events", "accounts", f"amount ({quote})"], other, {2, 3, 4}))
    parts.append(note(f"{n:,} events aggregated per instrument and kind; the raw table is events.parquet."))
    return Markup("".join(str(p) for p in parts))


def _inputs_html(inputs: list[dict]) -> Markup:
    intro = note(
        Markup(
            "Where each input comes from: <b>real</b> = measured data (its source is given), "
            "<b>generated</b> = drawn by the seeded generator, <b>assumed</b> = a parameter value we chose."
        )
    )
    if not inputs:
        return Markup(intro + note("No inputs recorded."))
    rows = []
    for row in inputs:
        kind = str(row.get("kind", ""))
        badge = Markup('<span class="kind kind-{0}">{0}</span>').format(kind)
        rows.append([row.get("name", ""), badge, row.get("value", ""), row.get("source", "")])
    return Markup(intro + table(["name", "kind", "value", "source"], rows))
