"""Dynamic margin: maintenance and initial margin rates scaled with realised volatility.

Rule: ``m_t = clip(sigma_short / sigma_long, 1, cap)`` on the index's one-step log returns
(:mod:`.volatility`), quantised to steps of 0.05 and refreshed every ``update_every_s``. Each tier's MMR and
IMR become ``min(ceil(rate * m), 100%)`` (ppm, rounded up: a requirement), the maintenance amounts are
re-derived by the cum rule so MM stays continuous across tiers (:mod:`delever.tiers`), and the new table
applies to existing positions at once (venues "may adjust ... tier brackets and MMR during extreme moves",
Binance and Bybit, venues.md sections 1 and 3).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from ..tiers import RiskTier, RiskTiers
from ..units import MONEY_SCALE, PPM
from .base import NO_ACCOUNTS, Mechanism, steps_of
from .volatility import vol_ratio

QUANTUM = 0.05


def quantise(multiplier: float, cap: float) -> float:
    """``clip(multiplier, 1, cap)`` rounded down to a multiple of 0.05."""
    m = min(max(multiplier, 1.0), cap)
    return math.floor(m / QUANTUM + 1e-9) * QUANTUM


def scaled_tiers(base: RiskTiers, multiplier: float) -> RiskTiers:
    """``base`` with every MMR and IMR times ``multiplier`` (rounded up to a ppm, capped at 100%). A table with
    maintenance amounts has them derived again for the new rates; one without (size tiers, Bitget's ``MM = MMR x
    PV``) keeps none, its floors, its basis and its size-linear rate (:mod:`delever.tiers`)."""
    m = Decimal(str(round(multiplier, 6)))
    rows = []
    for t in base.tiers:
        mmr = min(int((Decimal(t.mmr_ppm) * m).to_integral_value(rounding="ROUND_CEILING")), PPM)
        imr = min(max(int((Decimal(t.imr_ppm) * m).to_integral_value(rounding="ROUND_CEILING")), mmr), PPM)
        rows.append((t, mmr, imr))
    name = f"{base.name} x{multiplier:g}"
    if any(t.maintenance_amount for t in base.tiers):
        caps = [(str(Decimal(t.cap) / MONEY_SCALE), str(t.max_leverage), str(Decimal(a) / PPM), str(Decimal(b) / PPM))
                for t, a, b in rows]  # fmt: skip
        return RiskTiers.from_brackets(name, caps)
    tiers = tuple(RiskTier(t.floor, t.cap, t.max_leverage, a, b, 0) for t, a, b in rows)
    return RiskTiers(name, tiers, base.basis, base.rate_per_lot)


class DynamicMargin(Mechanism):
    """The step loop's dynamic margin (:mod:`delever.mechanisms.base`): every ``update_every_s``, before the
    sweep, each instrument's tiers become its base tiers scaled by :func:`quantise` of its own index's
    volatility ratio (:func:`delever.mechanisms.volatility.vol_ratio`); the multiplier of each step is kept
    for the summary."""

    name = "dynamic_margin"
    per_step = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> DynamicMargin | None:
        dm = scenario.mechanisms.dynamic_margin
        return cls(dm) if dm.enabled else None

    def setup(self, sim) -> None:
        dm, dt = self.config, sim.dt
        short, long_ = steps_of(dm.short_window_s, dt), steps_of(dm.long_window_s, dt)
        self.ratios = [vol_ratio(p.index, short, long_) for p in sim.paths]
        self.every = steps_of(dm.update_every_s, dt)
        self.multipliers = [1.0] * sim.M
        self.series = [np.ones(sim.T) for _ in range(sim.M)]  # the multiplier of each step, per instrument

    def before_sweep(self, sim, t: int, m: int) -> bool:
        if t % self.every:
            return False
        k = quantise(float(self.ratios[m][t]), self.config.cap)
        if k != self.multipliers[m]:
            self.multipliers[m] = k
            base = sim.tiers_base[m]
            sim.set_tiers(m, base if k == 1.0 else scaled_tiers(base, k))
            sim.note(self.name, NO_ACCOUNTS, 0)
        self.series[m][t:] = self.multipliers[m]
        return False

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["max_multiplier"] = max(float(s.max()) for s in self.series) if sim.T else 1.0
