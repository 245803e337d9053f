"""Venue margin schedules (:class:`MarginModel`): notional brackets with a maintenance amount (Binance,
Bybit, ...), size brackets (OKX), steps (BitMEX) and size-linear rates (Deribit). Each gives the maintenance
and initial margin of a position, in money units, rounded up (the one bracket formula,
:func:`delever.tiers.bracket_maintenance_margin`). Sources in each venue module; formulas in
../shared/specs/venues.md sections 1-8.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction


from ..tiers import RiskTier, RiskTiers, bracket_maintenance_margin
from .exact import ceil_frac, frac, to_decimal


@dataclass(frozen=True)
class MarginBand:
    """One piece of a margin schedule: ``MM = notional * mmr - cum``, ``IM = notional * imr``.

    ``index`` is 0-based (tier 1 is index 0); ``cum`` in money units; ``max_leverage`` exact.
    """

    index: int
    mmr: Fraction
    imr: Fraction
    cum: int
    max_leverage: Fraction


class MarginModel(ABC):
    """A maintenance/initial margin schedule. Notionals are money units (int or exact fraction), sizes lots."""

    kind: str
    name: str

    @abstractmethod
    def band(self, notional: Fraction | int, lots: int) -> MarginBand:
        """The band a position of ``lots`` with this notional falls in."""

    @abstractmethod
    def bands(self, lots: int) -> Sequence[MarginBand]:
        """Every band a position of ``lots`` can fall in as its price moves (candidates for price solving)."""

    def boundaries(self, lots: int) -> Sequence[tuple[int, MarginBand]]:
        """Notionals where the band changes, each with the band just above it (for discontinuous schedules)."""
        return ()

    @abstractmethod
    def over_limit(self, notional: Fraction | int, lots: int) -> bool:
        """True when the position is above the venue's largest risk limit."""

    @abstractmethod
    def rows(self, money_scale: int) -> list[dict[str, str]]:
        """The schedule as display rows (quote or coin amounts, percentages)."""

    def maintenance_margin(self, notional: Fraction | int, lots: int) -> int:
        """``ceil(notional * MMR) - cum`` in money units (a requirement: rounds up)."""
        b = self.band(notional, lots)
        return bracket_maintenance_margin(notional, b.mmr, b.cum)

    def initial_margin(self, notional: Fraction | int, lots: int) -> int:
        """``ceil(notional * IMR)`` in money units."""
        return ceil_frac(Fraction(notional) * self.band(notional, lots).imr)


def _pct(x: Fraction) -> str:
    return str(to_decimal(x * 100, 6))


@dataclass(frozen=True)
class BracketMargin(MarginModel):
    """Binance-style brackets of notional with a maintenance amount (``delever.tiers.RiskTiers``).

    ``MM = notional * MMR - cum`` with the bracket ``floor <= notional < cap`` (venues.md section 1; Bybit's
    "deduction" and Hyperliquid's deduction follow the same rule, sections 3 and 6). A table whose
    ``maintenance_amount`` are all 0 is the discontinuous "MMR of the tier on the whole position" rule
    (Bitget, section 8).
    """

    tiers: RiskTiers
    kind: str = "brackets"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.tiers.name

    def _band(self, i: int) -> MarginBand:
        t = self.tiers.tiers[i]
        return MarginBand(
            i,
            Fraction(t.mmr_ppm, 1_000_000),
            Fraction(t.imr_ppm, 1_000_000),
            t.maintenance_amount,
            Fraction(t.max_leverage),
        )

    def band(self, notional: Fraction | int, lots: int) -> MarginBand:
        return self._band(self.tiers.index_for(notional))  # type: ignore[arg-type]

    def bands(self, lots: int) -> Sequence[MarginBand]:
        return [self._band(i) for i in range(len(self.tiers.tiers))]

    def boundaries(self, lots: int) -> Sequence[tuple[int, MarginBand]]:
        return [(t.cap, self._band(i + 1)) for i, t in enumerate(self.tiers.tiers[:-1])]

    def over_limit(self, notional: Fraction | int, lots: int) -> bool:
        return notional > self.tiers.tiers[-1].cap

    def rows(self, money_scale: int) -> list[dict[str, str]]:
        return [
            {
                "tier": str(i + 1),
                "floor": str(Decimal(t.floor) / money_scale),
                "cap": str(Decimal(t.cap) / money_scale),
                "max_leverage": str(t.max_leverage),
                "mmr_pct": _pct(Fraction(t.mmr_ppm, 1_000_000)),
                "imr_pct": _pct(Fraction(t.imr_ppm, 1_000_000)),
                "maintenance_amount": str(Decimal(t.maintenance_amount) / money_scale),
            }
            for i, t in enumerate(self.tiers.tiers)
        ]


def scaled_brackets(name: str, rows: list[tuple[str | int, str | int, str, str | None]], money_scale: int) -> RiskTiers:
    """``RiskTiers.from_brackets`` for a money scale other than 1e6 (inverse contracts, satoshis).

    ``from_brackets`` converts caps with the 1e6 scale; caps are pre-multiplied by ``money_scale / 1e6`` so the
    stored floors, caps and maintenance amounts are in this scale's units, exactly.
    """
    k = Decimal(money_scale) / Decimal(1_000_000)
    return RiskTiers.from_brackets(name, [(str(Decimal(str(c)) * k), lev, mmr, imr) for c, lev, mmr, imr in rows])


def without_deduction(name: str, tiers: RiskTiers) -> RiskTiers:
    """The same brackets with every maintenance amount 0: the tier's MMR applies to the whole notional."""
    return RiskTiers(
        name, tuple(RiskTier(t.floor, t.cap, t.max_leverage, t.mmr_ppm, t.imr_ppm, 0) for t in tiers.tiers)
    )


@dataclass(frozen=True)
class SizeBracketMargin(MarginModel):
    """Tiers keyed by position **size** (contracts), the MMR of the tier on the whole notional, no deduction.

    OKX's tiers are numbers of contracts ("15,000 swaps (tier 3) ... 2,000 ... Tier 1", TV-15; margin ratio
    ``(margin + PnL) / (face value * |contracts| * mark * (tier MMR + fee rate))``, venues.md section 4).
    ``rows`` are ``(max_lots inclusive, max_leverage, mmr, imr)``; above the last cap the position is over the
    limit and uses the last tier.
    """

    name: str
    caps: tuple[int, ...]
    max_leverages: tuple[Fraction, ...]
    mmrs: tuple[Fraction, ...]
    imrs: tuple[Fraction, ...]
    kind: str = "size_brackets"

    @classmethod
    def build(cls, name: str, rows: list[tuple[int, str | int, str, str]]) -> SizeBracketMargin:
        """From ``(cap_lots, max_leverage, mmr, imr)`` rows, increasing caps, rates as decimal strings.

        Raises:
            ValueError: caps not increasing, or MMR above IMR.
        """
        prev = 0
        for cap, _lev, mmr, imr in rows:
            if cap <= prev:
                raise ValueError(f"{name}: caps must increase")
            if frac(mmr) > frac(imr):
                raise ValueError(f"{name}: MMR above IMR")
            prev = cap
        return cls(
            name,
            tuple(r[0] for r in rows),
            tuple(frac(r[1]) for r in rows),
            tuple(frac(r[2]) for r in rows),
            tuple(frac(r[3]) for r in rows),
        )

    def index_for(self, lots: int) -> int:
        """0-based tier of a size in lots (``lots <= cap``; the last tier above the last cap)."""
        for i, cap in enumerate(self.caps):
            if abs(lots) <= cap:
                return i
        return len(self.caps) - 1

    def _band(self, i: int) -> MarginBand:
        return MarginBand(i, self.mmrs[i], self.imrs[i], 0, self.max_leverages[i])

    def band(self, notional: Fraction | int, lots: int) -> MarginBand:
        return self._band(self.index_for(lots))

    def bands(self, lots: int) -> Sequence[MarginBand]:
        return [self._band(self.index_for(lots))]

    def over_limit(self, notional: Fraction | int, lots: int) -> bool:
        return abs(lots) > self.caps[-1]

    def rows(self, money_scale: int) -> list[dict[str, str]]:
        prev = 0
        out = []
        for i, cap in enumerate(self.caps):
            out.append(
                {
                    "tier": str(i + 1),
                    "floor": f"{prev} lots",
                    "cap": f"{cap} lots",
                    "max_leverage": str(to_decimal(self.max_leverages[i], 2)),
                    "mmr_pct": _pct(self.mmrs[i]),
                    "imr_pct": _pct(self.imrs[i]),
                    "maintenance_amount": "0",
                }
            )
            prev = cap
        return out


@dataclass(frozen=True)
class StepMargin(MarginModel):
    """BitMEX risk limits: ``MMR = baseMM + steps * stepRate``, ``IMR = baseIM + steps * stepRate``.

    ``steps = max(0, ceil((value - base_limit) / step))``: a position value up to the base limit pays the base
    rates, each further ``step`` (or part of one) adds ``step_rate`` (BitMEX adds ``baseMM`` per step,
    https://bitmex.com/app/riskLimitsExamples, venues.md section 2, TV-24). The position value is the
    notional in money units (satoshis for XBTUSD). No maintenance amount: the MMR applies to the whole value.
    ``max_steps`` bounds the schedule (BitMEX's largest risk limit is not in venues.md).
    """

    name: str
    base_limit: int
    step: int
    base_mmr: Fraction
    base_imr: Fraction
    step_rate: Fraction
    max_steps: int = 100
    kind: str = "steps"

    def steps_for(self, notional: Fraction | int) -> int:
        """Number of steps above the base limit for a position value (money units)."""
        if notional <= self.base_limit:
            return 0
        return ceil_frac((Fraction(notional) - self.base_limit) / self.step)

    def _band(self, k: int) -> MarginBand:
        imr = self.base_imr + k * self.step_rate
        return MarginBand(k, self.base_mmr + k * self.step_rate, imr, 0, 1 / imr)

    def band(self, notional: Fraction | int, lots: int) -> MarginBand:
        return self._band(min(self.steps_for(notional), self.max_steps))

    def bands(self, lots: int) -> Sequence[MarginBand]:
        return [self._band(k) for k in range(self.max_steps + 1)]

    def boundaries(self, lots: int) -> Sequence[tuple[int, MarginBand]]:
        return [(self.base_limit + k * self.step, self._band(k + 1)) for k in range(self.max_steps)]

    def over_limit(self, notional: Fraction | int, lots: int) -> bool:
        return self.steps_for(notional) > self.max_steps

    def rows(self, money_scale: int) -> list[dict[str, str]]:
        out = []
        for k in range(min(self.max_steps, 9) + 1):
            b = self._band(k)
            out.append(
                {
                    "tier": str(k + 1),
                    "floor": str(Decimal(self.base_limit + (k - 1) * self.step) / money_scale if k else 0),
                    "cap": str(Decimal(self.base_limit + k * self.step) / money_scale),
                    "max_leverage": str(to_decimal(b.max_leverage, 2)),
                    "mmr_pct": _pct(b.mmr),
                    "imr_pct": _pct(b.imr),
                    "maintenance_amount": "0",
                }
            )
        return out


@dataclass(frozen=True)
class SizeLinearMargin(MarginModel):
    """Deribit's linear perpetuals: ``IMR = im_base + size * slope``, ``MMR = mm_base + size * slope``.

    ``size`` is the position in base units (``lots * lot_size``), so the rates do not move with the price
    (https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual, venues.md section 5,
    TV-25). No published cap: ``max_size`` (base units, None = none) bounds it.
    """

    name: str
    lot_size: Decimal
    im_base: Fraction
    mm_base: Fraction
    slope: Fraction
    max_size: Fraction | None = None
    kind: str = "size_linear"

    def rates(self, lots: int) -> tuple[Fraction, Fraction]:
        """``(IMR, MMR)`` of a position of ``lots``."""
        size = abs(lots) * Fraction(self.lot_size)
        return self.im_base + size * self.slope, self.mm_base + size * self.slope

    def band(self, notional: Fraction | int, lots: int) -> MarginBand:
        imr, mmr = self.rates(lots)
        return MarginBand(0, mmr, imr, 0, 1 / imr)

    def bands(self, lots: int) -> Sequence[MarginBand]:
        return [self.band(0, lots)]

    def over_limit(self, notional: Fraction | int, lots: int) -> bool:
        return self.max_size is not None and abs(lots) * Fraction(self.lot_size) > self.max_size

    def rows(self, money_scale: int) -> list[dict[str, str]]:
        return [
            {
                "tier": "size-linear",
                "floor": "0",
                "cap": "-",
                "max_leverage": "1 / IMR",
                "mmr_pct": f"{_pct(self.mm_base)} + {_pct(self.slope)} x size",
                "imr_pct": f"{_pct(self.im_base)} + {_pct(self.slope)} x size",
                "maintenance_amount": "0",
            }
        ]
