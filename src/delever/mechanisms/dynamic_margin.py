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

from ..tiers import RiskTiers
from ..units import MONEY_SCALE, PPM

QUANTUM = 0.05


def quantise(multiplier: float, cap: float) -> float:
    """``clip(multiplier, 1, cap)`` rounded down to a multiple of 0.05."""
    m = min(max(multiplier, 1.0), cap)
    return math.floor(m / QUANTUM + 1e-9) * QUANTUM


def scaled_tiers(base: RiskTiers, multiplier: float) -> RiskTiers:
    """``base`` with every MMR and IMR times ``multiplier`` (rounded up to a ppm, capped at 100%)."""
    m = Decimal(str(round(multiplier, 6)))
    rows = []
    for t in base.tiers:
        mmr = min(int((Decimal(t.mmr_ppm) * m).to_integral_value(rounding="ROUND_CEILING")), PPM)
        imr = min(max(int((Decimal(t.imr_ppm) * m).to_integral_value(rounding="ROUND_CEILING")), mmr), PPM)
        rows.append(
            (str(Decimal(t.cap) / MONEY_SCALE), str(t.max_leverage), str(Decimal(mmr) / PPM), str(Decimal(imr) / PPM))
        )
    return RiskTiers.from_brackets(f"{base.name} x{multiplier:g}", rows)
