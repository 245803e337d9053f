"""Figures for the reports (plotly): one look, one time axis, and the data reductions that keep pages small.

- :func:`layout` gives every figure the same template, margins, legend and labelled axes (a figure without
  axis titles is refused: every axis carries its unit).
- Time series share one x range per page (:func:`time_range`); activity that happens in seconds of a
  two-hour run (ADL, liquidations) is drawn on an axis zoomed to where it happens (:func:`activity_window`).
- Lines are min/max downsampled (:func:`minmax_indices`: a one-step crash low survives); per-step bars keep
  every non-zero step, summed into buckets only when there are too many (:func:`bar_buckets`).
- :func:`exceedance` is the empirical exceedance function of a sample, drawn as a step function (with 8
  paths it has 8 steps, not a smooth slope).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from .page import FIG_HEIGHT_PX

MAX_POINTS = 3_000
"""Most points per plotted series; beyond it lines are min/max downsampled and bars summed into buckets."""

COLORS = {
    "index": "#9a9a9a",
    "mark": "#1f5fa8",
    "trade": "#f0a04b",
    "liq": "#d62728",
    "count": "#2f2f2f",
    "fund": "#2ca02c",
    "bad_debt": "#d62728",
    "adl": "#9467bd",
    "adl_cum": "#4b2a7a",
    "expiry": "#444444",
}
PALETTE = ("#1f5fa8", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22")
"""Colours of the instruments / groups of a figure, in order."""

# The layout half of plotly_white only: the template's per-trace defaults would be repeated in every figure.
TEMPLATE_LAYOUT = go.layout.Template(layout=pio.templates["plotly_white"].layout)
MARGIN = {"l": 70, "r": 20, "t": 30, "b": 45}
LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def layout(
    fig: go.Figure,
    *,
    x_title: str,
    y_title: str,
    y2_title: str | None = None,
    x_range: tuple[Any, Any] | None = None,
    height: int = FIG_HEIGHT_PX,
    hovermode: str = "x unified",
    **kw: Any,
) -> go.Figure:
    """Apply the house layout; ``x_title``/``y_title`` (and ``y2_title`` for a right axis) must name units."""
    if not x_title or not y_title:
        raise ValueError("every axis needs a title with its unit")
    fig.update_layout(
        template=TEMPLATE_LAYOUT,
        height=height,
        margin={**MARGIN, "r": 80 if y2_title else 20},
        legend=LEGEND,
        hovermode=hovermode,
        xaxis_title=x_title,
        yaxis_title=y_title,
        **kw,
    )
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    if y2_title:
        fig.update_layout(
            yaxis2={"title": y2_title, "overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"}
        )
    return fig


def time_labels(ns: np.ndarray) -> np.ndarray:
    """UTC ISO-8601 strings (no zone suffix: plotly reads them as wall time) at the coarsest exact unit."""
    ns = np.asarray(ns, dtype=np.int64)
    unit = "s" if not (ns % 1_000_000_000).any() else "ms" if not (ns % 1_000_000).any() else "us"
    return np.datetime_as_string(ns.astype("datetime64[ns]"), unit=unit)


def time_range(ns: np.ndarray) -> tuple[str, str] | None:
    """The x range ``(first, last)`` of a page's time series (as :func:`time_labels`), None when empty."""
    if len(ns) == 0:
        return None
    lab = time_labels(np.asarray([ns[0], ns[-1]]))
    return str(lab[0]), str(lab[1])


def activity_window(
    ns: np.ndarray, weight: np.ndarray, coverage: float = 0.99, min_span_s: float = 60.0
) -> tuple[tuple[str, str], int, int] | None:
    """Where the activity ``weight`` (per step, >= 0, shape like ``ns``) happens: the shortest run of steps from
    the first step by which ``(1 - coverage) / 2`` of the total has happened to the step by which
    ``(1 + coverage) / 2`` has (so a few stragglers hours later do not stretch the axis), padded by 10% of
    its span on each side and at least ``min_span_s`` wide.

    Returns ``((start, end) labels, first step, last step)`` of that window, None when there is no activity.
    """
    ns = np.asarray(ns, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    total = float(w.sum())
    if total <= 0:
        return None
    cum = np.cumsum(w)
    tail = (1.0 - coverage) / 2.0 * total
    first = int(np.searchsorted(cum, tail, side="right"))
    last = int(np.searchsorted(cum, total - tail, side="left"))
    first, last = min(first, last), min(max(first, last), len(ns) - 1)
    lo, hi = int(ns[first]), int(ns[last])
    min_span = int(min_span_s * 1e9)
    if hi - lo < min_span:
        mid = (lo + hi) // 2
        lo, hi = mid - min_span // 2, mid + min_span // 2
    pad = (hi - lo) // 10
    lab = time_labels(np.asarray([lo - pad, hi + pad]) // 1_000_000_000 * 1_000_000_000)
    return (str(lab[0]), str(lab[1])), first, last


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


def line(x: np.ndarray, y: np.ndarray, name: str, color: str, width: float = 1.4, **kw: Any) -> go.Scatter:
    """A min/max-downsampled line trace."""
    idx = minmax_indices(y)
    return go.Scatter(x=x[idx], y=y[idx], name=name, mode="lines", line={"color": color, "width": width}, **kw)


def exceedance(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The empirical exceedance function of a sample of ``n`` values as the vertices of a step line:
    ``x`` the sorted distinct values, ``y`` the share of the sample (%) strictly above each; drawn with
    ``line_shape="hv"`` it is exact (a point at the smallest value with 100% of the sample at or above it
    starts the line). Shapes (k,), k <= n + 1."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = v.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    xs = np.unique(v)
    above = n - np.searchsorted(v, xs, side="right")  # values strictly above each distinct value
    x = np.concatenate([[xs[0]], xs])
    y = np.concatenate([[100.0], 100.0 * above / n])
    return x, y
