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

from datetime import UTC, datetime

import numpy as np

from ..marketdata import BookDepth, ask_depth_series
from ..prices import PricePath
from .base import NO_ACCOUNTS, Mechanism, steps_of
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


def _utc_ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1e9)


class MarketMakerWithdrawal(Mechanism):
    """The step loop's market-maker withdrawal (:mod:`delever.mechanisms.base`): each instrument's book is
    scaled by :func:`depth_scale` of its own index volatility, before its mark moves (phase ``before_marks``).
    The calibrated elasticity is fitted on the scenario instrument's depth snapshots (module docstring)."""

    name = "mm_withdrawal"
    per_step = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> MarketMakerWithdrawal | None:
        mw = scenario.mechanisms.mm_withdrawal
        return cls(mw) if mw.enabled else None

    def setup(self, sim) -> None:
        mw, dt = self.config, sim.dt
        elasticity = mw.elasticity
        if elasticity == "calibrated":
            elasticity = calibrate_elasticity(
                sim.base.depth_raw,
                sim.paths[0],
                dt,
                mw.short_window_s,
                mw.long_window_s,
                fit_start_ns=_utc_ns("2025-10-10T21:00:00"),
                fit_end_ns=_utc_ns("2025-10-10T21:40:00"),
                ref_start_ns=_utc_ns("2025-10-10T20:00:00"),
            )
        self.elasticity = float(elasticity)
        self.scales = [
            depth_scale(vol_ratio(p.index, steps_of(mw.short_window_s, dt), steps_of(mw.long_window_s, dt)),
                        self.elasticity, mw.min_scale)
            for p in sim.paths
        ]  # fmt: skip

    def before_marks(self, sim, t: int, live: list[int]) -> None:
        if any(float(self.scales[m][t]) < 1.0 for m in live):
            sim.note(self.name, NO_ACCOUNTS, 0)  # once a step, however many books thin
        for m in live:
            s = float(self.scales[m][t])
            base = sim.curves_base[m]
            sim.curves[m] = (base[0], base[1] * s, base[2] * s, base[3] * s, base[4] * s)

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["elasticity"] = self.elasticity
        extra[self.name]["min_depth_scale"] = min(float(s.min()) for s in self.scales) if sim.T else 1.0
