"""Implied volatility surfaces: raw SVI (parametric) and a grid read from a file, with a documented default.

Both surfaces are functions of log-moneyness ``k = ln(K / F_ref)`` and time to expiry ``T`` (years); which
forward ``F_ref`` a strike is measured against as the price moves is the job of :mod:`.vol_dynamics`.

**Raw SVI** (Gatheral, J. (2004), "A parsimonious arbitrage-free implied volatility parameterization with
application to the valuation of volatility derivatives", Global Derivatives & Risk Management, Madrid; restated in
Gatheral & Jacquier (2014), "Arbitrage-free SVI volatility surfaces", Quantitative Finance 14(1), eq. 3.1) gives
the total implied variance ``w = sigma_BS^2 T`` of one expiry::

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + s^2))

with ``b >= 0``, ``|rho| < 1``, ``s > 0`` and ``a + b s sqrt(1 - rho^2) >= 0`` (so that ``w >= 0``), and wings
no steeper than Lee's moment bound ``b (1 + |rho|) <= 2`` (Lee, R. (2004), "The moment formula for implied
volatility at extreme strikes", Mathematical Finance 14(3)). These are checked; the calendar (no crossing of
slices) and butterfly conditions of Gatheral & Jacquier are not, and are the user's to respect.

**Between and beyond expiries** (both surfaces): total variance is interpolated linearly in ``T`` at fixed ``k``
between listed expiries, and extrapolated at constant implied volatility before the first and after the last
(``w(k, T) = w_i(k) T / T_i``).

**Grid file**: a CSV with header ``years,moneyness,iv`` (``moneyness = K / F``, ``iv`` annualised, 0.5 = 50%),
one row per point of a full rectangular grid (every ``moneyness`` listed for every ``years``). Within an expiry,
total variance is linear in ``k`` between grid points and flat (constant vol) beyond the end points.

**Default** (:data:`DEFAULT_SURFACE`, an assumption of this project, not a calibration to any date): one raw
SVI in annualised variance applied to every expiry, ``w(k, T) = T v(k)`` with ``a = 0.2, b = 0.15, rho = -0.25,
m = 0, s = 0.3``: at-the-money vol ``sqrt(0.2 + 0.15 x 0.3) = 49.5%``, 55% at ``k = -0.5`` (puts richer, the
crypto skew), 52% at ``k = +0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abc import ABC, abstractmethod

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class SviSlice:
    """Raw SVI parameters of one expiry (total variance ``w`` at ``years``; see the module docstring).

    Raises:
        ValueError: ``years <= 0`` or parameters outside the conditions listed in the module docstring.
    """

    years: float
    a: float
    b: float
    rho: float
    m: float
    s: float

    def __post_init__(self) -> None:
        if not self.years > 0:
            raise ValueError(f"SVI slice: years must be > 0 (got {self.years})")
        if self.b < 0 or not abs(self.rho) < 1 or not self.s > 0:
            raise ValueError(f"SVI slice at {self.years}y: need b >= 0, |rho| < 1, s > 0")
        if self.a + self.b * self.s * np.sqrt(1 - self.rho**2) < 0:
            raise ValueError(f"SVI slice at {self.years}y: a + b s sqrt(1 - rho^2) < 0 gives negative variance")
        if self.b * (1 + abs(self.rho)) > 2:
            raise ValueError(f"SVI slice at {self.years}y: b (1 + |rho|) > 2 breaks Lee's moment bound")

    def total_variance(self, k) -> np.ndarray:
        """``w(k)`` for log-moneyness ``k`` (array-like), float64."""
        x = np.asarray(k, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * x + np.sqrt(x * x + self.s * self.s))


def _interpolate_in_time(slice_years: np.ndarray, w_slices: np.ndarray, years) -> np.ndarray:
    """Total variance at ``years`` from per-slice variances ``w_slices`` (n_slices x n), see module docstring."""
    t = np.asarray(years, dtype=np.float64)
    n = slice_years.shape[0]
    hi = np.clip(np.searchsorted(slice_years, t), 1, max(n - 1, 1))
    lo = hi - 1
    cols = np.arange(w_slices.shape[1])
    if n == 1:
        return w_slices[0] * t / slice_years[0]
    t_lo, t_hi = slice_years[lo], slice_years[hi]
    w_lo, w_hi = w_slices[lo, cols], w_slices[hi, cols]
    inside = w_lo + (w_hi - w_lo) * (t - t_lo) / (t_hi - t_lo)
    before = w_slices[0] * t / slice_years[0]
    after = w_slices[-1] * t / slice_years[-1]
    return np.where(t < slice_years[0], before, np.where(t > slice_years[-1], after, inside))


class VolSurface(ABC):
    """Interface of a surface: implied volatility at log-moneyness and time (both arrays, broadcast)."""

    def implied_vol(self, log_moneyness, years) -> np.ndarray:
        """Annualised implied vol at ``k = ln(K/F)`` and ``years > 0``, float64, broadcast shape of the inputs."""
        k, t = np.broadcast_arrays(np.asarray(log_moneyness, np.float64), np.asarray(years, np.float64))
        shape = k.shape
        w = self._total_variance(k.ravel(), t.ravel())
        return np.sqrt(np.maximum(w, 0.0) / t.ravel()).reshape(shape)

    @abstractmethod
    def _total_variance(self, k: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Total implied variance ``w = sigma^2 t`` at flat arrays ``k`` and ``t`` (each concrete surface)."""


class SviSurface(VolSurface):
    """Raw SVI slices at increasing expiries, interpolated in time (module docstring).

    Raises:
        ValueError: no slice, or expiries not strictly increasing.
    """

    def __init__(self, slices: list[SviSlice]):
        if not slices:
            raise ValueError("SviSurface: at least one slice")
        years = np.array([s.years for s in slices])
        if np.any(np.diff(years) <= 0):
            raise ValueError("SviSurface: slice expiries must be strictly increasing")
        self.slices = list(slices)
        self.slice_years = years

    def _total_variance(self, k, t):
        return _interpolate_in_time(self.slice_years, np.stack([s.total_variance(k) for s in self.slices]), t)


class GridSurface(VolSurface):
    """Implied vols on a rectangular grid of (years, moneyness ``K/F``), interpolated as in the module docstring.

    Args:
        years: strictly increasing expiries, shape ``(n_t,)``.
        moneyness: strictly increasing ``K/F`` points, shape ``(n_k,)``.
        iv: implied vols, shape ``(n_t, n_k)``, all > 0.

    Raises:
        ValueError: shapes that do not match, unsorted axes, or a non-positive value.
    """

    def __init__(self, years, moneyness, iv):
        self.slice_years = np.asarray(years, np.float64)
        self.log_moneyness = np.log(np.asarray(moneyness, np.float64))
        iv = np.asarray(iv, np.float64)
        if iv.shape != (self.slice_years.size, self.log_moneyness.size):
            raise ValueError(f"GridSurface: iv shape {iv.shape} != (years, moneyness)")
        if np.any(np.diff(self.slice_years) <= 0) or np.any(np.diff(self.log_moneyness) <= 0):
            raise ValueError("GridSurface: years and moneyness must be strictly increasing")
        if np.any(self.slice_years <= 0) or np.any(iv <= 0):
            raise ValueError("GridSurface: years and iv must be > 0")
        self.total_variance_grid = iv * iv * self.slice_years[:, None]

    def _total_variance(self, k, t):
        w = np.stack([np.interp(k, self.log_moneyness, row) for row in self.total_variance_grid])
        return _interpolate_in_time(self.slice_years, w, t)

    @classmethod
    def from_csv(cls, path: str | Path) -> GridSurface:
        """Read a grid file (module docstring) with pyarrow.

        Raises:
            InputError: unreadable file, a missing column, a non-numeric or non-positive value (naming its row),
                a duplicate point or a grid that is not rectangular.
        """
        import pyarrow.csv as pacsv

        name = str(path)
        try:
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={}))
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise InputError(f"cannot read the volatility grid: {exc}", file=name) from exc
        columns = {}
        for field in ("years", "moneyness", "iv"):
            if field not in table.column_names:
                raise InputError("missing column", file=name, row=1, field=field)
            raw = table.column(field).to_pylist()
            values = []
            for i, v in enumerate(raw):
                try:
                    x = float(v)
                except (TypeError, ValueError):
                    raise InputError(f"not a number: {v!r}", file=name, row=i + 2, field=field) from None
                if not x > 0 or not np.isfinite(x):
                    raise InputError(f"must be a finite number > 0 (got {v!r})", file=name, row=i + 2, field=field)
                values.append(x)
            columns[field] = np.array(values)
        years = np.unique(columns["years"])
        moneyness = np.unique(columns["moneyness"])
        iv = np.full((years.size, moneyness.size), np.nan)
        ti = np.searchsorted(years, columns["years"])
        ki = np.searchsorted(moneyness, columns["moneyness"])
        for row, (a, b) in enumerate(zip(ti, ki)):
            if not np.isnan(iv[a, b]):
                raise InputError("duplicate (years, moneyness) point", file=name, row=row + 2, field="moneyness")
            iv[a, b] = columns["iv"][row]
        if np.isnan(iv).any():
            a, b = np.argwhere(np.isnan(iv))[0]
            raise InputError(
                f"grid not rectangular: no iv at years={years[a]}, moneyness={moneyness[b]}", file=name, field="iv"
            )
        return cls(years, moneyness, iv)


DEFAULT_SURFACE = SviSurface([SviSlice(years=1.0, a=0.2, b=0.15, rho=-0.25, m=0.0, s=0.3)])
"""The documented default surface (module docstring): ``w(k, T) = T v(k)``, ATM vol 49.5% at every expiry."""
