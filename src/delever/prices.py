"""The exogenous index price path, on the engine's step grid.

From bars (1-minute klines of ../shared/data/binance-btcusdt-perp-1m): inside each bar the path runs
through open, the two extremes and close, linearly, in a stated order: open at the bar's start, then the
extreme nearer the open first, i.e. **low then high for an up bar (close >= open), high then low for a down
bar**, at 1/3 and 2/3 of the bar, and close at the bar's last millisecond; the next bar starts at its open.
This is the usual OHLC path convention of bar backtests; the order inside a real bar is not in the data.
Steps finer than the data (e.g. 1 s) sample this path.

Gaps: a missing bar inside the run's window (bars more than one bar length apart) is an error naming the file
and the gap, unless the scenario says how to fill it (``prices.gap_fill``): ``"linear"`` joins the last close
before the gap to the next open with a straight line, ``"hold"`` keeps the last close until the next bar opens
(then jumps to its open). Nothing is filled silently; the report's Inputs section names every filled gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from .errors import InputError
from .marketdata import Klines

NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class PricePath:
    """Index prices on the step grid: ``time_ns`` int64 (T,) UTC epoch ns, ``index`` float64 (T,) quote."""

    time_ns: np.ndarray
    index: np.ndarray
    source: str
    filled_gaps: tuple[tuple[int, int], ...] = ()
    """``(first missing bar's open, next bar's open)``, UTC epoch ms, of each gap filled inside the window."""
    gap_fill: str = "error"
    bar_ms: int = 60_000
    """Length of the source bars, ms."""

    @property
    def steps(self) -> int:
        return int(self.time_ns.shape[0])


def ohlc_waypoints(kl: Klines) -> tuple[np.ndarray, np.ndarray]:
    """``(time_ms, price)`` float64 waypoints (4 per bar) of the intra-bar path described above."""
    up = kl.close >= kl.open
    first = np.where(up, kl.low, kl.high)
    second = np.where(up, kl.high, kl.low)
    t0 = kl.open_time_ms.astype(np.float64)
    bar = float(kl.bar_ms)
    times = np.stack([t0, t0 + bar / 3, t0 + 2 * bar / 3, t0 + bar - 1], axis=1).ravel()
    prices = np.stack([kl.open, first, second, kl.close], axis=1).ravel()
    return times, prices


GapFill = Literal["error", "linear", "hold"]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def gaps(kl: Klines, lo_ms: int, hi_ms: int) -> list[tuple[int, int]]:
    """Missing bars that overlap ``[lo_ms, hi_ms)``: ``(first missing open, next bar's open)`` in epoch ms."""
    t = kl.open_time_ms
    at = np.flatnonzero(np.diff(t) > kl.bar_ms)
    out = []
    for i in at:
        first, nxt = int(t[i]) + kl.bar_ms, int(t[i + 1])
        if first < hi_ms and nxt > lo_ms:
            out.append((first, nxt))
    return out


def describe_gap(gap: tuple[int, int], bar_ms: int) -> str:
    """``"no bars from 2020-03-12 16:04 UTC to 2020-03-12 22:25 UTC (382 missing)"``: text of a gap
    ``(first missing open, next open)`` (epoch ms) of bars ``bar_ms`` long."""
    first, nxt = gap
    return f"no bars from {_utc(first)} to {_utc(nxt - bar_ms)} ({(nxt - first) // bar_ms} missing)"


def path_from_klines(
    kl: Klines,
    step_s: float,
    start_ms: int | None = None,
    end_ms: int | None = None,
    gap_fill: GapFill = "error",
) -> PricePath:
    """Sample the OHLC path every ``step_s`` seconds over ``[start_ms, end_ms)`` (default: all bars);
    ``gap_fill`` says how missing bars inside the window are filled (module docstring).

    Raises:
        InputError: a non-positive step, a window outside the data or holding no step, or a gap inside the
            window with ``gap_fill = "error"`` (naming the file and the gap, field ``prices.gap_fill``).
    """
    if step_s <= 0:
        raise InputError("step length must be > 0", file=kl.source, field="step_seconds")
    times, prices = ohlc_waypoints(kl)
    lo = int(kl.open_time_ms[0]) if start_ms is None else int(start_ms)
    hi = int(kl.open_time_ms[-1]) + kl.bar_ms if end_ms is None else int(end_ms)
    if lo < kl.open_time_ms[0] or hi > int(kl.open_time_ms[-1]) + kl.bar_ms or hi <= lo:
        raise InputError("price window lies outside the data", file=kl.source, field="prices.start/end")
    found = gaps(kl, lo, hi)
    if found and gap_fill == "error":
        raise InputError(
            "price gap inside the run's window: "
            + "; ".join(describe_gap(g, kl.bar_ms) for g in found)
            + '. Set prices.gap_fill = "linear" or "hold" to fill it, or move prices.start/end',
            file=kl.source,
            field="prices.gap_fill",
        )
    if found and gap_fill == "hold":
        # hold the last close until one millisecond before the next bar opens
        extra_t = np.array([nxt - 1 for _, nxt in found], dtype=np.float64)
        extra_p = np.array([kl.close[np.searchsorted(kl.open_time_ms, first) - 1] for first, _ in found])
        order = np.argsort(np.concatenate([times, extra_t]), kind="stable")
        times = np.concatenate([times, extra_t])[order]
        prices = np.concatenate([prices, extra_p])[order]
    step_ms = step_s * 1000.0
    t = lo + step_ms * np.arange(int(np.ceil((hi - lo) / step_ms)))
    return PricePath(
        time_ns=(t * NS_PER_MS).astype(np.int64),
        index=np.interp(t, times, prices),
        source=kl.source,
        filled_gaps=tuple(found),
        gap_fill=gap_fill,
        bar_ms=kl.bar_ms,
    )


def stretch_to_low(path: PricePath, low: float) -> PricePath:
    """The path with every move from its first price scaled by ``k = (p0 - low) / (p0 - min)``, so that it
    keeps its shape and its minimum becomes ``low`` (e.g. Binance's 10 October 2025 path stretched to
    Hyperliquid's deeper low). ``k > 1`` deepens the fall (and stretches the rises by as much).

    Raises:
        InputError: (field ``prices.stretch_to_low``) a path that never falls below its first price, or a
            ``low`` that is not between 0 and the first price.
    """
    p0, pmin = float(path.index[0]), float(path.index.min())
    if not 0 < low < p0:
        raise InputError(f"must lie between 0 and the path's first price {p0:,.2f} (got {low:,.2f})",
                         file=path.source, field="prices.stretch_to_low")  # fmt: skip
    if pmin >= p0:
        raise InputError("the path never falls below its first price: nothing to stretch", file=path.source,
                         field="prices.stretch_to_low")  # fmt: skip
    k = (p0 - low) / (p0 - pmin)
    index = p0 + (path.index - p0) * k
    if index.min() <= 0:
        raise InputError("stretching would make a price <= 0", file=path.source, field="prices.stretch_to_low")
    return PricePath(path.time_ns, index, path.source, path.filled_gaps, path.gap_fill, path.bar_ms)
