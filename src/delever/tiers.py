"""Risk-limit tiers: notional brackets with max leverage, maintenance margin rate and maintenance amount.

A position's maintenance margin is ``MM = notional * MMR - maintenance_amount`` with the MMR and
maintenance amount ("cum") of the bracket its notional falls in (Binance, ../shared/specs/venues.md section 1,
https://www.binance.com/en/futures/trading-rules/perpetual/portfolio-margin/notional-limit). The maintenance
amount makes MM continuous across brackets; Binance publishes it and it follows
``cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}`` (COIN-M article cited in venues.md section 1; test vector
TV-22 lists the BTCUSDT values). Bybit's "deduction" (TV-23) and Hyperliquid's deduction follow the same rule.

Bracket membership: a notional ``n`` is in tier ``k`` when ``floor_k <= n < cap_k`` (floors are the previous
caps); a notional above the last cap uses the last tier, and :meth:`RiskTiers.max_leverage_for` reports it.

Units: notional floors and caps, maintenance amounts in money units (``delever.units``), rates in ppm.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

import numpy as np

from .units import MONEY_SCALE, PPM, money, mul_ppm_ceil, rate_ppm


def bracket_maintenance_margin(notional: int | Fraction, mmr: Fraction, cum: int | Fraction) -> int:
    """``ceil(notional * MMR) - cum`` (money units; a requirement rounds up) for a position whose bracket is
    known: the one reference of the tiered maintenance margin (Binance notional brackets, venues.md section 1).
    ``notional`` money units (int, or an exact fraction at a fractional price), ``mmr`` the exact rate (e.g.
    ``Fraction(mmr_ppm, PPM)``), ``cum`` the bracket's maintenance amount. Its compiled twin is
    :func:`delever.margin.margin_at_tier_compiled` (rates in ppm, tested equal)."""
    x = Fraction(notional) * mmr
    return -((-x.numerator) // x.denominator) - cum


@dataclass(frozen=True)
class RiskTier:
    """One bracket: ``floor <= notional < cap`` (money units), max leverage, MMR and IMR (ppm), cum (money)."""

    floor: int
    cap: int
    max_leverage: Decimal
    mmr_ppm: int
    imr_ppm: int
    maintenance_amount: int


@dataclass(frozen=True)
class RiskTiers:
    """An ordered table of brackets; build it with :meth:`from_brackets`.

    Arrays for the compiled sweep are in :attr:`floors`, :attr:`mmr_ppm`, :attr:`cum` (int64, shape (k,)).
    """

    name: str
    tiers: tuple[RiskTier, ...]

    @classmethod
    def from_brackets(cls, name: str, brackets: list[tuple[str | int, str | int, str, str | None]]) -> RiskTiers:
        """Build tiers from ``(cap_quote, max_leverage, mmr, imr)`` rows in increasing cap order.

        ``cap_quote`` is in quote units (e.g. ``"50000"`` USDT), ``mmr``/``imr`` are fractions (``"0.004"``).
        ``imr=None`` means ``1 / max_leverage`` rounded up to a ppm. The maintenance amount is derived with
        the cum rule above, exactly, in money units.

        Raises:
            ValueError: caps not increasing, rates outside (0, 1], MMR above IMR, or a cum that is not a
                whole number of money units.
        """
        tiers: list[RiskTier] = []
        floor = 0
        prev_mmr = 0
        cum = 0
        for i, (cap_q, lev, mmr, imr) in enumerate(brackets):
            cap = money(cap_q)
            lev_d = Decimal(str(lev))
            mmr_p = rate_ppm(mmr)
            if imr is not None:
                imr_p = rate_ppm(imr)
            else:
                imr_p = int((Decimal(PPM) / lev_d).to_integral_value(rounding=ROUND_CEILING))
            if cap <= floor:
                raise ValueError(f"tier {i + 1}: cap {cap_q} must be above the previous cap")
            if not (0 < mmr_p <= PPM and 0 < imr_p <= PPM):
                raise ValueError(f"tier {i + 1}: rates must be in (0, 1]")
            if mmr_p > imr_p:
                raise ValueError(f"tier {i + 1}: MMR {mmr} above IMR")
            # floor * (MMR_n - MMR_{n-1}) must be whole money units for MM to stay exact
            step, rem = divmod(floor * (mmr_p - prev_mmr), PPM)
            if rem:
                raise ValueError(f"tier {i + 1}: maintenance amount is not a whole money unit")
            cum += step
            tiers.append(RiskTier(floor, cap, lev_d, mmr_p, imr_p, cum))
            floor, prev_mmr = cap, mmr_p
        return cls(name, tuple(tiers))

    @property
    def floors(self) -> np.ndarray:
        """int64 (k,) bracket floors in money units."""
        return np.array([t.floor for t in self.tiers], dtype=np.int64)

    @property
    def mmr_ppm(self) -> np.ndarray:
        """int64 (k,) maintenance margin rates in ppm."""
        return np.array([t.mmr_ppm for t in self.tiers], dtype=np.int64)

    @property
    def imr_ppm(self) -> np.ndarray:
        """int64 (k,) initial margin rates in ppm."""
        return np.array([t.imr_ppm for t in self.tiers], dtype=np.int64)

    @property
    def cum(self) -> np.ndarray:
        """int64 (k,) maintenance amounts in money units."""
        return np.array([t.maintenance_amount for t in self.tiers], dtype=np.int64)

    def index_for(self, notional: int) -> int:
        """0-based tier index for a notional in money units (the last tier above the last cap)."""
        return max(0, min(len(self.tiers) - 1, bisect_right([t.floor for t in self.tiers], notional) - 1))

    def tier_for(self, notional: int) -> RiskTier:
        """The bracket a notional (money units) falls in."""
        return self.tiers[self.index_for(notional)]

    def maintenance_margin(self, notional: int) -> int:
        """``ceil(notional * MMR) - cum`` in money units (requirement: rounds up)."""
        t = self.tier_for(notional)
        return bracket_maintenance_margin(notional, Fraction(t.mmr_ppm, PPM), t.maintenance_amount)

    def initial_margin(self, notional: int) -> int:
        """``ceil(notional * IMR)`` in money units."""
        return mul_ppm_ceil(notional, self.tier_for(notional).imr_ppm)

    def max_leverage_for(self, notional: int) -> Decimal:
        """Max leverage allowed at this notional (0 above the last cap: the position is over the limit)."""
        if notional > self.tiers[-1].cap:
            return Decimal(0)
        return self.tier_for(notional).max_leverage

    def describe(self) -> list[dict[str, str]]:
        """Rows for display: floor, cap (quote), max leverage, MMR %, IMR %, maintenance amount (quote)."""
        return [
            {
                "floor": str(Decimal(t.floor) / MONEY_SCALE),
                "cap": str(Decimal(t.cap) / MONEY_SCALE),
                "max_leverage": str(t.max_leverage),
                "mmr_pct": str(Decimal(t.mmr_ppm) / 10_000),
                "imr_pct": str(Decimal(t.imr_ppm) / 10_000),
                "maintenance_amount": str(Decimal(t.maintenance_amount) / MONEY_SCALE),
            }
            for t in self.tiers
        ]


BINANCE_BTCUSDT_2021 = RiskTiers.from_brackets(
    "binance-btcusdt-2021",
    [
        # Binance BTCUSDT brackets announced 2021-03-18 (../shared/specs/venues.md section 1,
        # https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6): cap, lev, MMR, IMR.
        ("50000", 125, "0.004", "0.008"),
        ("250000", 100, "0.005", "0.01"),
        ("1000000", 50, "0.01", "0.02"),
        ("10000000", 20, "0.025", "0.05"),
        ("20000000", 10, "0.05", "0.10"),
        ("50000000", 5, "0.10", "0.20"),
        ("100000000", 4, "0.125", "0.25"),
        ("200000000", 3, "0.15", "0.333"),
        ("300000000", 2, "0.25", "0.50"),
        ("500000000", 1, "0.50", "1.00"),
    ],
)
"""Binance BTCUSDT risk-limit tiers of 2021 (historical: the current table differs and was not recovered)."""

TIER_TABLES: dict[str, RiskTiers] = {BINANCE_BTCUSDT_2021.name: BINANCE_BTCUSDT_2021}
"""Built-in tier tables by name, for scenario files."""


def tier_arrays(tiers: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The margin tiers of instruments ``0..M-1`` (:class:`RiskTiers` each) as the kernels take
    them: ``floors``, ``mmr_ppm``, ``cum`` int64 (M, k), k the most tiers of any, rows padded with an
    unreachable floor, and ``n_tiers`` int64 (M,)."""
    k = max(len(t.tiers) for t in tiers)
    big = np.iinfo(np.int64).max
    floors = np.full((len(tiers), k), big, dtype=np.int64)
    mmr = np.zeros((len(tiers), k), dtype=np.int64)
    cum = np.zeros((len(tiers), k), dtype=np.int64)
    for m, t in enumerate(tiers):
        n = len(t.tiers)
        floors[m, :n], mmr[m, :n], cum[m, :n] = t.floors, t.mmr_ppm, t.cum
    return floors, mmr, cum, np.array([len(t.tiers) for t in tiers], dtype=np.int64)
