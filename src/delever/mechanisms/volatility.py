"""Realised volatility of the index path over trailing windows (the input of dynamic margin and market-maker
withdrawal). The index path is exogenous, so the whole series is computed once, vectorised.
"""

from __future__ import annotations

import numpy as np


def rolling_vol(index: np.ndarray, window_steps: int) -> np.ndarray:
    """Root mean square of one-step log returns over the trailing ``window_steps`` (float64 (T,), per step).

    The first steps use the returns available so far; the first step's volatility is 0.
    """
    w = max(int(window_steps), 1)
    r = np.diff(np.log(index), prepend=np.log(index[0]))
    c = np.concatenate([[0.0], np.cumsum(r * r)])
    t = np.arange(index.shape[0])
    lo = np.maximum(0, t + 1 - w)
    return np.sqrt((c[t + 1] - c[lo]) / np.maximum(t + 1 - lo, 1))


def vol_ratio(index: np.ndarray, short_steps: int, long_steps: int) -> np.ndarray:
    """``sigma_short / sigma_long`` per step (1 where the long window has no variance yet)."""
    s = rolling_vol(index, short_steps)
    lng = rolling_vol(index, long_steps)
    return np.where(lng > 0, s / np.where(lng > 0, lng, 1.0), 1.0)
