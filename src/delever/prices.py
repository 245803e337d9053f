"""The exogenous index price path, on the engine's step grid.

From bars (1-minute klines of ../shared/data/binance-btcusdt-perp-1m): inside each bar the path runs
through open, the two extremes and close, linearly, in a stated order: open at the bar's start, then the
extreme nearer the open first, i.e. **low then high for an up bar (close >= open), high then low for a down
bar**, at 1/3 and 2/3 of the bar, and close at the bar's last millisecond; the next bar starts at its open.
This is the usual OHLC path convention of bar backtests; the order inside a real bar is not in the data.
Steps finer than the data (e.g. 1 s) sample this path; a step between bars takes the linear join.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def path_from_klines(kl: Klines, step_s: float, start_ms: int | None = None, end_ms: int | None = None) -> PricePath:
    """Sample the OHLC path every ``step_s`` seconds over ``[start_ms, end_ms)`` (default: all bars).

    Raises:
        InputError: a non-positive step, or a window outside the data or holding no step.
    """
    if step_s <= 0:
        raise InputError("step length must be > 0", file=kl.source, field="step_seconds")
    times, prices = ohlc_waypoints(kl)
    lo = int(kl.open_time_ms[0]) if start_ms is None else int(start_ms)
    hi = int(kl.open_time_ms[-1]) + kl.bar_ms if end_ms is None else int(end_ms)
    if lo < kl.open_time_ms[0] or hi > int(kl.open_time_ms[-1]) + kl.bar_ms or hi <= lo:
        raise InputError("price window lies outside the data", file=kl.source, field="prices.start/end")
    step_ms = step_s * 1000.0
    t = lo + step_ms * np.arange(int(np.ceil((hi - lo) / step_ms)))
    return PricePath(
        time_ns=(t * NS_PER_MS).astype(np.int64),
        index=np.interp(t, times, prices),
        source=kl.source,
    )
