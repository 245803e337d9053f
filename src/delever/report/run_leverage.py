"""The distributions in a run's report (:mod:`delever.report.html`): the entry leverage of liquidated and ADL'd
positions on fixed, roughly log-spaced bins, and the ADL indicator lights of the ADL'd positions."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from .figures import (
    COLORS,
    layout,
)
from .page import figure, note, table

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


def leverage_html(lev_liq: np.ndarray, lev_adl: np.ndarray) -> Markup:
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


def adl_indicator_html(adl_indicator: np.ndarray | None) -> Markup:
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
