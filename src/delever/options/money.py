"""Float model values to integer money units: up for requirements, down for values credited to an account.

Option values come from a float model (Black-76) and the margin formulas multiply floats, so an amount that is
exactly a whole number of units in decimal (``3 x 0.1 x 0.12 BTC = 3,600,000`` sat) can arrive as
``3600000.0000000005``. A plain ``ceil`` would charge one unit the account does not owe. So an amount within
:data:`FLOAT_NOISE` (relative, about 4,500 float64 ulps) of a whole unit is that unit; otherwise requirements round
**up** (``ceil``) and credits round **down** (``floor``), the rule of ``delever.units``: against the account,
never against solvency. The tolerance is far below any price's own precision (prices carry 9 or fewer significant
digits; a relative 1e-12 of a 1e15-unit balance is 1,000 units only at a billion quote units).
"""

from __future__ import annotations

import numpy as np

FLOAT_NOISE = 1e-12
"""Relative distance to a whole unit below which a float amount is taken as that unit."""


def _snapped(amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nearest = np.rint(amount)
    return nearest, np.abs(amount - nearest) <= FLOAT_NOISE * np.maximum(np.abs(amount), 1.0)


def ceil_money(amount) -> np.ndarray:
    """Requirement (float, money units) to int64 units, rounded up unless it is a whole unit within float noise."""
    amount = np.asarray(amount, dtype=np.float64)
    nearest, whole = _snapped(amount)
    return np.where(whole, nearest, np.ceil(amount)).astype(np.int64)


def floor_money(amount) -> np.ndarray:
    """Credit (float, money units) to int64 units, rounded down unless it is a whole unit within float noise."""
    amount = np.asarray(amount, dtype=np.float64)
    nearest, whole = _snapped(amount)
    return np.where(whole, nearest, np.floor(amount)).astype(np.int64)
