"""The time-axis figures of a run's report (:mod:`delever.report.html`): prices per instrument with expiry
markers, liquidations and ADL as per-step bars zoomed to where they happen, the insurance fund(s) and bad debt."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from . import format as fmt
from .figures import (
    COLORS,
    PALETTE,
    activity_window,
    bar_buckets,
    layout,
    line,
    time_labels,
)
from .page import figure, note, table

TIME_AXIS = "time (UTC)"


def _expiry_marker(fig: go.Figure, expiry_ns: int | None) -> None:
    if expiry_ns is None:
        return
    x = str(time_labels(np.asarray([expiry_ns]))[0])
    fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line={"color": COLORS["expiry"],
                  "dash": "dash", "width": 1.2})  # fmt: skip
    fig.add_annotation(x=x, y=1, xref="x", yref="paper", text=f"expiry {fmt.utc_clock(expiry_ns)}", showarrow=False,
                       xanchor="left", yanchor="top", font={"size": 11})  # fmt: skip


def prices_html(series: list[dict], x_range, quote: str, price_unit: str | None = None) -> Markup:
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
        layout(
            fig,
            x_title=TIME_AXIS,
            y_title=f"{label}price ({price_unit or quote + ' per ' + s['base']})",
            x_range=x_range,
        )
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


def liquidations_html(series: list[dict], quote: str) -> Markup:
    if len(series[0]["t"]["step"]) == 0:
        return note("No liquidations in this run.")
    out = _activity_bars(series, "liquidations", "liquidated_notional", quote, "liquidated notional",
                         "fig-liquidations", "liquidated notional", COLORS["liq"])  # fmt: skip
    return out if out is not None else note("No liquidations in this run.")


def adl_html(series: list[dict], quote: str) -> Markup:
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


def insurance_html(t: dict, series: list[dict], x_range, quote: str, shared: bool = False) -> Markup:
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
