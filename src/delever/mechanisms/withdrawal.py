"""Market-maker withdrawal: resting depth thins as volatility rises and refills as it calms.

Rule: the depth curve is scaled by ``d_t = clip((sigma_short / sigma_long) ** -elasticity, min_scale, 1)``,
with the volatilities of the index (:mod:`.volatility`). Calibration (``elasticity = "calibrated"``): on 10
October 2025 the real Binance BTCUSDT ask depth within +1% fell from about $250M at 21:00 to about $67M at
21:20 UTC (../shared/data/binance-oct10-depth-markprice/SOURCE.md); :func:`calibrate_elasticity` fits
``log(depth_t / depth_ref) = -elasticity * log(vol ratio_t)`` by least squares through the origin over the
bookDepth snapshots of 21:00-21:40, with ``depth_ref`` the median of 20:00-21:00 and the vol ratio of the
index path at each snapshot (only the ask side: the recorded bids are corrupt after 15:30:42).
"""

from __future__ import annotations

import numpy as np

from ..marketdata import BookDepth, ask_depth_series
from ..prices import PricePath
from .volatility import vol_ratio


def depth_scale(ratio: np.ndarray, elasticity: float, min_scale: float) -> np.ndarray:
    """``clip(ratio ** -elasticity, min_scale, 1)`` per step."""
    with np.errstate(divide="ignore"):
        d = np.power(np.maximum(ratio, 1e-12), -elasticity)
    return np.clip(d, min_scale, 1.0)


def calibrate_elasticity(
    depth: BookDepth,
    path: PricePath,
    step_s: float,
    short_s: float,
    long_s: float,
    fit_start_ns: int,
    fit_end_ns: int,
    ref_start_ns: int,
) -> float:
    """Least-squares elasticity of ask +1% depth to the index's vol ratio (module docstring); >= 0.

    Raises:
        ValueError: no snapshot inside both the fit window and the path.
    """
    t_ns, ask1 = ask_depth_series(depth, 1)
    ref = ask1[(t_ns >= ref_start_ns) & (t_ns < fit_start_ns)]
    ratio = vol_ratio(path.index, max(int(short_s / step_s), 1), max(int(long_s / step_s), 1))
    sel = (t_ns >= max(fit_start_ns, int(path.time_ns[0]))) & (t_ns < min(fit_end_ns, int(path.time_ns[-1])))
    if not sel.any() or ref.size == 0:
        raise ValueError("no depth snapshot to calibrate market-maker withdrawal on")
    steps = np.searchsorted(path.time_ns, t_ns[sel], side="right") - 1
    x = np.log(np.maximum(ratio[steps], 1.0))
    y = np.log(ask1[sel] / np.median(ref))
    if np.dot(x, x) == 0:
        return 0.0
    return max(0.0, float(-np.dot(x, y) / np.dot(x, x)))
