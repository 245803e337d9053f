"""The rulebook of one venue: its contracts, margin schedule, liquidation procedure, ADL rule, fees and funding.

A :class:`Rulebook` is data (frozen dataclasses) plus a few small policies (methods). Each venue module
(``binance.py`` ...) builds one and documents, rule by rule, where it comes from
(../shared/specs/venues.md, cited by section and URL) and which rules are **stand-ins** because the venue does
not publish them.

Units (:mod:`delever.units`):

- **Money** is an int count of ``1 / money_scale`` of the settlement asset: micro-USDT/USDC (1e6) for linear
  contracts, satoshis (1e8, BitMEX's ``XBt``) for inverse (coin-margined) contracts.
- **Prices** in results are int ticks of the contract's ``tick_size``; inside the solvers they are exact
  ``Fraction`` s of the quote currency, so an average entry price need not sit on a tick.
- **Sizes** are int lots: base units (e.g. 0.001 BTC) for linear contracts, contracts (e.g. 1 USD) for inverse.
- **Rates** are exact ``Fraction`` s here (tier tables keep their ppm ints, :mod:`delever.tiers`).

Rounding (the engine's rule, README "Money is exact"): requirements (margins) round **up**, PnL rounds
**down**, and liquidation and bankruptcy prices round to the tick **against the account** (up for a long, down
for a short) unless the venue publishes another rule (Bybit does, and it is the same: venues.md section 3,
TV-08).

Value of a position of ``s`` lots (signed, long > 0) at price ``P`` (quote), in money units:

- linear: ``s * q * P * S`` with ``q`` the lot size in base units and ``S`` the money scale;
  uPnL ``s * q * S * (P - E)``;
- inverse: ``s * K / P`` with ``K = lot * contract_size(quote) * S``; uPnL ``s * K * (1/E - 1/P)``
  (BitMEX TV-28: 15,000 XBTUSD from 750 to 800 -> 1.25 XBT).

Liquidation price: the price at which equity ``C + uPnL(P)`` equals the maintenance requirement. Venues
differ in *which* requirement:

- ``"mark"`` basis (Binance, Hyperliquid, Kraken, dYdX, ...): ``MM(P) = notional(P) * MMR - cum``, with the
  tier the notional at ``P`` falls in (Binance: "if the LP falls in a different tier ... recompute", section 1).
  Linear: ``P = (s*q*S*E - C - cum) / (q*S*(s - |s|*MMR))``; inverse:
  ``P = K*(s + |s|*MMR) / (C + cum + s*K/E)``.
- ``"entry"`` basis (Bybit's published isolated formulas, BitMEX's inverse formula): the requirement is fixed at
  the entry value, ``MM_E = notional(E) * MMR - cum``. Linear ``P = E + (MM_E - C) / (s*q*S)``
  (Bybit ``LP_long = EP - (IM - MM)/size``); inverse ``P = s*K / (C - MM_E + s*K/E)``
  (Bybit UTA ``LP_long = Qty / [PV + (IM - MM)]``, TV-19).

Bankruptcy price: equity 0, ``P = E - C/(s*q*S)`` (linear), ``P = s*K / (C + s*K/E)`` (inverse).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Literal

import numpy as np

from ..adl import scores as adl_scores
from ..adl.ranking import adl_indicator as bitmex_lights
from ..allocation import largest_remainder
from ..errors import InputError
from ..instruments import Instrument
from ..margin import BACKING_WHOLE_ACCOUNT, cross_backing
from ..tiers import RiskTier, RiskTiers

ContractType = Literal["linear", "inverse"]
MarginMode = Literal["isolated", "cross"]
LpBasis = Literal["mark", "entry"]

LINEAR_MONEY_SCALE = 1_000_000
"""Money units per 1 USDT/USDC (micro-USDT), as :data:`delever.units.MONEY_SCALE`."""
INVERSE_MONEY_SCALE = 100_000_000
"""Money units per 1 coin for inverse contracts (satoshis, BitMEX's XBt)."""
NO_CAP = "1000000000000"
"""A cap of 1e12 quote for a venue's last tier when it publishes none (the last tier is open-ended)."""


# ------------------------------------------------------------------------------------------------ helpers


def ceil_frac(x: Fraction) -> int:
    """``ceil(x)`` of an exact fraction."""
    return -((-x.numerator) // x.denominator)


def floor_frac(x: Fraction) -> int:
    """``floor(x)`` of an exact fraction."""
    return x.numerator // x.denominator


def frac(x: Decimal | str | int | Fraction) -> Fraction:
    """Exact fraction of a decimal string, ``Decimal``, int or fraction (never through a float)."""
    if isinstance(x, Fraction):
        return x
    return Fraction(Decimal(str(x)))


def plain(d: Decimal) -> Decimal:
    """``d`` without trailing zeros and never in exponent form (``50`` not ``5E+1``)."""
    d = d.normalize()
    return d.quantize(Decimal(1)) if d.as_tuple().exponent > 0 else d  # type: ignore[operator]


def to_decimal(x: Fraction, places: int = 12) -> Decimal:
    """A fraction as a plain ``Decimal``, rounded half-even to ``places`` decimals (exact when it terminates
    within them; for display and JSON)."""
    with localcontext() as ctx:
        ctx.prec = 80
        d = (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal(1).scaleb(-places))
        return plain(d)


def pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` money units over integer ``weights`` exactly (negative weights count as 0): the one
    largest-remainder rule (:func:`delever.allocation.largest_remainder`, ties to the lower index), so the parts
    sum to ``total``; all zeros if the weights sum to 0 or ``total <= 0``."""
    return largest_remainder(total, [max(0, int(x)) for x in weights])


# ------------------------------------------------------------------------------------------------ margin


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
        return ceil_frac(Fraction(notional) * b.mmr) - b.cum

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


# ------------------------------------------------------------------------------------------------ instrument


@dataclass(frozen=True)
class VenueInstrument:
    """A venue's perpetual contract.

    Attributes:
        symbol: the venue's symbol (``BTCUSDT``, ``XBTUSD``, ``BTC-USDT-SWAP``, ...).
        contract: ``"linear"`` (margined and settled in the quote) or ``"inverse"`` (in the base coin).
        base, quote, settle: assets; ``settle`` is the collateral and PnL asset.
        tick_size: price increment, quote units.
        lot_size: size increment: base units (linear) or contracts (inverse).
        contract_size: one contract: base units (linear, e.g. OKX 0.01 BTC) or quote units (inverse, 1 USD).
        margin: the margin schedule.
        source: where the tick, lot and contract sizes come from (they are not in venues.md).
    """

    symbol: str
    contract: ContractType
    base: str
    quote: str
    settle: str
    tick_size: Decimal
    lot_size: Decimal
    contract_size: Decimal
    margin: MarginModel
    source: str = ""

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0 or self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: tick, lot and contract sizes must be > 0")
        if self.contract == "linear":
            v = self.tick_size * self.lot_size * LINEAR_MONEY_SCALE
            if v != v.to_integral_value():
                raise ValueError(f"{self.symbol}: tick x lot must be a whole number of money units")

    @property
    def money_scale(self) -> int:
        """Money units per 1 settlement asset."""
        return LINEAR_MONEY_SCALE if self.contract == "linear" else INVERSE_MONEY_SCALE

    @property
    def size_unit(self) -> str:
        """What ``--size`` counts: the base asset (linear) or contracts (inverse)."""
        return self.base if self.contract == "linear" else "contracts"

    def k(self) -> Fraction:
        """Money per lot per unit of price (linear ``q*S``) or money*price per lot (inverse ``lot*cs*S``)."""
        if self.contract == "linear":
            return Fraction(self.lot_size) * self.money_scale
        return Fraction(self.lot_size) * Fraction(self.contract_size) * self.money_scale

    def value(self, lots: int, price: Fraction) -> Fraction:
        """Signed position value in money units at ``price`` (quote): ``s*q*S*P`` or ``s*K/P``."""
        return lots * self.k() * price if self.contract == "linear" else lots * self.k() / price

    def notional(self, lots: int, price: Fraction) -> Fraction:
        """``|value|`` in money units (exact)."""
        return abs(self.value(lots, price))

    def upnl(self, lots: int, entry: Fraction, price: Fraction) -> Fraction:
        """Exact unrealised PnL in money units of a signed position opened at ``entry``."""
        if self.contract == "linear":
            return lots * self.k() * (price - entry)
        return lots * self.k() * (1 / entry - 1 / price)

    def contracts(self, lots: int) -> Decimal:
        """Number of contracts (ccxt ``contracts``) of ``lots``."""
        if self.contract == "linear":
            return abs(lots) * self.lot_size / self.contract_size
        return abs(lots) * self.lot_size

    def price_to_ticks(self, price: Fraction, rounding: Literal["ceil", "floor"]) -> int:
        """A quote price to ticks, rounded as asked."""
        t = price / Fraction(self.tick_size)
        return ceil_frac(t) if rounding == "ceil" else floor_frac(t)

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Ticks to an exact ``Decimal`` quote price."""
        return ticks * self.tick_size

    def size_to_lots(self, size: Decimal | str) -> int:
        """A size (base units or contracts) to lots; it must be a whole number of lots.

        Raises:
            InputError(field="size"): not a number, <= 0, or not a multiple of the lot size.
        """
        try:
            d = Decimal(str(size))
        except InvalidOperation:
            raise InputError(f"not a number: {size!r}", field="size") from None
        if not d.is_finite() or d <= 0:
            raise InputError(f"must be > 0 (got {size})", field="size")
        q = d / self.lot_size
        if q != q.to_integral_value():
            raise InputError(
                f"{size} is not a multiple of {self.symbol}'s lot size {self.lot_size} {self.size_unit}", field="size"
            )
        return int(q)


# ------------------------------------------------------------------------------------------------ rules as data


@dataclass(frozen=True)
class PriceRounding:
    """Direction in which liquidation and bankruptcy prices round to the tick, per side.

    Default: against the account (a long's prices up, a short's down), the engine's rule; Bybit publishes the
    same for its bankruptcy price ("long BP rounded UP and short BP rounded DOWN to the nearest 0.5",
    venues.md section 3, TV-08).
    """

    long: Literal["ceil", "floor"] = "ceil"
    short: Literal["ceil", "floor"] = "floor"
    source: str = "engine rule (README 'Money is exact'): against the account"

    def for_side(self, side: int) -> Literal["ceil", "floor"]:
        return self.long if side > 0 else self.short


LiquidationStyle = Literal[
    "full", "tier_steps", "slices", "incremental", "takeover", "ioc_assignment_unwind", "fillable_price_ioc"
]
LossAllocation = Literal[
    "adl", "backstop_then_adl", "socialized_funding", "socialized_winners", "assignment_then_unwind"
]


@dataclass(frozen=True)
class LiquidationProcedure:
    """How a venue closes a position in liquidation, and who absorbs what is left.

    Attributes:
        style: ``full`` (one order for the whole position), ``tier_steps`` (reduce ``tiers_per_step`` risk
            tiers per step, full below ``full_below_tier``), ``slices`` (Hyperliquid: ``slice_fraction`` of
            positions above ``slice_above`` money units, then a ``cooldown_s`` in which the rest goes at once),
            ``incremental`` (Deribit: ``increment_lots`` per round, ``rounds_per_s`` rounds a second),
            ``takeover`` (Drift: a liquidator takes the position at the oracle price), ``ioc_assignment_unwind``
            (Kraken), ``fillable_price_ioc`` (dYdX).
        tiers_per_step: risk tiers removed per partial step (BitMEX/Bybit 1, OKX/Bitget 2).
        full_below_tier: 0-based tier index below which the whole position is closed at once.
        backstop_below_mm: Hyperliquid's backstop vault takes over when equity < this fraction of MM (2/3).
        surplus_to: where a fill better than bankruptcy goes: ``insurance_fund`` (the remaining margin is
            seized) or ``trader`` (Hyperliquid, Kraken: the trader keeps it).
        loss_after_fund: what happens to a loss the insurance fund cannot pay.
        summary: one paragraph, with the source.
        max_orders_per_step, position_min_notional, position_max_portion, account_max_notional_per_step: the
            per-block limits (dYdX v4, engines.md section 1; the scenario's ``[liquidation]`` section,
            :mod:`delever.mechanisms.block_limits`): orders per step, a position's order at most
            ``max(min notional, portion x notional)`` (quote), notional per account per step (quote); ``None``
            / 0 / 1 / ``None``: no limit.
    """

    style: LiquidationStyle
    summary: str
    loss_after_fund: LossAllocation = "adl"
    surplus_to: Literal["insurance_fund", "trader"] = "insurance_fund"
    tiers_per_step: int = 0
    full_below_tier: int = 1
    slice_fraction: Fraction = Fraction(1)
    slice_above: int = 0
    cooldown_s: float = 0.0
    backstop_below_mm: Fraction | None = None
    increment_lots: int = 0
    rounds_per_s: int = 0
    max_orders_per_step: int | None = None
    position_min_notional: Fraction = Fraction(0)
    position_max_portion: Fraction = Fraction(1)
    account_max_notional_per_step: Fraction | None = None

    def step_limits(self) -> dict[str, object]:
        """The scenario's ``[liquidation]`` options (:class:`delever.scenario.LiquidationConfig`) of these
        per-step limits; empty when the venue states none."""
        out: dict[str, object] = {}
        if self.max_orders_per_step is not None:
            out["max_positions_per_step"] = self.max_orders_per_step
        if self.position_min_notional:
            out["position_min_notional"] = str(to_decimal(self.position_min_notional, 6))
        if self.position_max_portion != 1:
            out["position_max_portion_pct"] = str(to_decimal(self.position_max_portion * 100, 6))
        if self.account_max_notional_per_step is not None:
            out["account_max_notional_per_step"] = str(to_decimal(self.account_max_notional_per_step, 6))
        return out


@dataclass(frozen=True)
class AdlTrigger:
    """When ADL (or the venue's last-resort loss allocation) starts and stops.

    Kinds: ``fund_cannot_pay`` (the fund cannot take the bankrupt position: Binance, BitMEX, Bybit's original
    rule, Bitget, dYdX), ``fund_drawdown`` (fund ``<= peak * (1 - drawdown)`` within ``window_hours``: OKX 30%
    over 8 h, Bitget's newer text), ``pnl_drawdown`` (Bybit 2025: symbol PnL drawdown over the pool's 8 h max
    balance), ``negative_equity`` (Hyperliquid: account or isolated position value < 0; dYdX: TNC < 0 after a
    liquidation that filled nothing), ``assignment_unfilled`` (Kraken: what assignment could not place is
    unwound), ``none`` (no ADL: Deribit and Drift socialise the loss instead).

    ``fund_first``: the fund pays a liquidation's fills beyond the bankruptcy price before any deleveraging
    (dYdX v4: the IOC liquidation order's insurance-fund delta, engines.md section 1), so ``negative_equity``
    deleverages only what the fund cannot pay. ``while_on``: what a drawdown trigger deleverages while on,
    ``whole_position`` (OKX: "no more market liquidation orders") or ``deficit`` (Bybit: a liquidation that
    cannot close better than BP, the book first). The engine's options: :meth:`Rulebook.engine_adl_rule`.
    """

    kind: Literal["fund_cannot_pay", "fund_drawdown", "pnl_drawdown", "negative_equity", "assignment_unfilled", "none"]
    summary: str
    drawdown: Fraction | None = None
    window_hours: int | None = None
    pnl_ratio_start: Fraction | None = None
    pnl_ratio_stop: Fraction | None = None
    balance_threshold: Fraction | None = None
    fund_first: bool = False
    while_on: Literal["whole_position", "deficit"] = "whole_position"

    @staticmethod
    def fund_cannot_pay(fund_balance: int, loss: int) -> bool:
        """True when the fund's balance does not cover a bankrupt loss (money units)."""
        return loss > fund_balance

    def fund_drawdown_triggered(self, balance: int | Fraction, peak: int | Fraction) -> bool:
        """``balance <= peak * (1 - drawdown)`` (OKX: "a straight-line decrease of 30% from the peak value of
        the risk reserve within 8 hours", venues.md section 4)."""
        if self.drawdown is None:
            raise ValueError(f"{self.kind}: no drawdown rule")
        return Fraction(balance) <= Fraction(peak) * (1 - self.drawdown)

    @staticmethod
    def pnl_ratio(
        symbol_pnl: int | Fraction, symbol_max_pnl_8h: int | Fraction, pool_max_balance_8h: int | Fraction
    ) -> Fraction:
        """Bybit's ``pnlRatio = (symbol PnL - symbol 8h max PnL) / pool 8h max balance`` (section 3)."""
        return (Fraction(symbol_pnl) - Fraction(symbol_max_pnl_8h)) / Fraction(pool_max_balance_8h)

    def pnl_drawdown_triggered(self, ratio: Fraction, balance: int | Fraction) -> bool:
        """``balance > threshold`` and ``ratio <= start`` (Bybit's text says ``<``; its example 2, TV-05,
        triggers at exactly -0.30, so equality triggers)."""
        if self.pnl_ratio_start is None or self.balance_threshold is None:
            raise ValueError(f"{self.kind}: no PnL drawdown rule")
        return Fraction(balance) > self.balance_threshold and ratio <= self.pnl_ratio_start

    def pnl_drawdown_stopped(self, ratio: Fraction) -> bool:
        """ADL stops once ``ratio > stop`` (-0.25)."""
        if self.pnl_ratio_stop is None:
            raise ValueError(f"{self.kind}: no PnL drawdown rule")
        return ratio > self.pnl_ratio_stop

    @staticmethod
    def equity_adl_triggered(pool_balance: int | Fraction) -> bool:
        """Bybit's pool-equity ADL: the pool's balance is <= 0 (stops once > 0; TV-06)."""
        return Fraction(pool_balance) <= 0

    @staticmethod
    def pnl_to_reach(ratio: Fraction, target: Fraction, pool_max_balance_8h: int | Fraction) -> Fraction:
        """PnL the symbol must recover to bring ``ratio`` up to ``target`` (0 if already there)."""
        return max(Fraction(0), (target - ratio) * Fraction(pool_max_balance_8h))


@dataclass(frozen=True)
class AdlInputs:
    """One side's positions for ranking (arrays of shape (n,), money units as int64 or float64).

    ``upnl`` unrealised PnL; ``cost`` |entry value|; ``notional`` |value at mark|; ``equity`` the position's
    (isolated) or its account's (cross) equity; ``wallet`` wallet balance; ``maintenance_margin`` MM of the
    position (isolated) or account (cross); ``mark`` and ``entry`` prices (any consistent unit); ``side`` +1/-1;
    ``money_scale`` money units per quote unit (Binance's ``max(1, WalletBalance)`` is 1 USDT).
    """

    upnl: np.ndarray
    cost: np.ndarray
    notional: np.ndarray
    equity: np.ndarray
    wallet: np.ndarray
    maintenance_margin: np.ndarray
    mark: np.ndarray
    entry: np.ndarray
    side: np.ndarray
    money_scale: int = LINEAR_MONEY_SCALE

    @classmethod
    def of(cls, money_scale: int = LINEAR_MONEY_SCALE, **cols: Sequence[float]) -> AdlInputs:
        """Build from lists; missing columns default to zeros (``side`` to +1)."""
        n = len(next(iter(cols.values())))
        names = ("upnl", "cost", "notional", "equity", "wallet", "maintenance_margin", "mark", "entry", "side")
        arrs = {k: np.asarray(cols.get(k, [1] * n if k == "side" else [0] * n), dtype=np.float64) for k in names}
        return cls(money_scale=money_scale, **arrs)


ScoreFn = Callable[[AdlInputs], np.ndarray]


def score_bitmex(x: AdlInputs) -> np.ndarray:
    """BitMEX's score of one side (:func:`delever.adl.scores.bitmex`, ``|cost|`` the entry value)."""
    return adl_scores.bitmex(x.upnl, np.abs(x.cost), x.notional, x.equity)


def score_binance(x: AdlInputs) -> np.ndarray:
    """Binance LeveragePnl (:func:`delever.adl.scores.binance`; ``max(1, WalletBalance)`` in the money scale)."""
    return adl_scores.binance(x.upnl, x.wallet, x.maintenance_margin, float(x.money_scale))


def score_hyperliquid(x: AdlInputs) -> np.ndarray:
    """Hyperliquid (:func:`delever.adl.scores.hyperliquid`; shorts by ``entry / mark``, a stated stand-in)."""
    return adl_scores.hyperliquid(x.upnl, x.side, x.mark, x.entry, x.notional, x.equity)


def score_roi_mmr(x: AdlInputs) -> np.ndarray:
    """Bitget cross (:func:`delever.adl.scores.roi_mmr`)."""
    return adl_scores.roi_mmr(x.upnl, np.abs(x.cost), x.maintenance_margin, x.equity)


def score_none(x: AdlInputs) -> np.ndarray:
    """No ranking (dYdX's random offset, socialised losses): every position scores 0."""
    return np.zeros(x.upnl.shape[0], dtype=np.float64)


def indicator_bitmex(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """BitMEX lights 1..5 in 20% steps of cumulative quantity, highest score first (TV-01)."""
    scores = np.asarray(scores, dtype=np.float64)
    return bitmex_lights(scores, np.abs(np.asarray(quantities, dtype=np.int64)))


def indicator_binance(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """Binance ``adlQuantile`` 0..4: ``q = rank(LeveragePnl) / TotalUserCount`` (ranks ascending, ties share
    the highest rank), bucket ``ceil(5 q) - 1``; a score of 0 (not in profit) shows 0 [INF stand-in: Binance
    publishes the quantile, not its mapping to 0-4]. venues.md section 1."""
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    rank = np.searchsorted(np.sort(s), s, side="right")  # ties share the highest rank
    q = -((-5 * rank) // n) - 1
    return np.where(s > 0, q, 0).astype(np.int8)


def indicator_positive_lights(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """0 for positions not in the queue (score <= 0 or no quantity), else BitMEX's 1..5 lights among the rest.

    Stand-in for Bybit's ``adlRankIndicator`` 0-5 (0 = no position, venues.md section 3) and OKX's ``adl`` 0-5
    (section 4): neither venue publishes the mapping.
    """
    s = np.asarray(scores, dtype=np.float64)
    qty = np.abs(np.asarray(quantities, dtype=np.int64))
    out = np.zeros(s.shape[0], dtype=np.int8)
    live = (s > 0) & np.isfinite(s) & (qty > 0)
    if live.any():
        out[live] = bitmex_lights(s[live], qty[live])
    return out


def indicator_none(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """The venue shows no ADL indicator: zeros."""
    return np.zeros(np.asarray(scores).shape[0], dtype=np.int8)


SCORES: dict[str, ScoreFn] = {
    "bitmex": score_bitmex,
    "binance": score_binance,
    "hyperliquid": score_hyperliquid,
    "roi_mmr": score_roi_mmr,
    "none": score_none,
}
"""ADL ranking keys by name (higher = deleveraged first)."""

INDICATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "bitmex_lights": indicator_bitmex,
    "binance_quantile": indicator_binance,
    "positive_lights": indicator_positive_lights,
    "none": indicator_none,
}
"""ADL indicators by name."""


@dataclass(frozen=True)
class AdlRule:
    """ADL: trigger, ranking key (a name in :data:`SCORES`), fill price, indicator (a name in
    :data:`INDICATORS`) and the order of the queue (``ranked``, or ``random_offset`` for dYdX)."""

    trigger: AdlTrigger
    ranking: str
    ranking_summary: str
    fill_price: Literal["bankruptcy", "mark", "previous_mark", "none"]
    indicator: str
    indicator_summary: str
    queue: Literal["ranked", "random_offset", "none"] = "ranked"

    def __post_init__(self) -> None:
        if self.ranking not in SCORES:
            raise ValueError(f"unknown ADL ranking {self.ranking!r}; known: {', '.join(SCORES)}")
        if self.indicator not in INDICATORS:
            raise ValueError(f"unknown ADL indicator {self.indicator!r}; known: {', '.join(INDICATORS)}")


@dataclass(frozen=True)
class FeeRule:
    """Liquidation and ADL fees (rates exact), where they go, and the taker fee the margin rules use."""

    liquidation_fee: Fraction | None
    liquidation_fee_to: str
    adl_fee: str
    taker_fee: Fraction = Fraction(0)
    summary: str = ""
    by_symbol: Mapping[str, Fraction] = field(default_factory=dict)

    def liquidation_fee_for(self, symbol: str) -> Fraction | None:
        """The liquidation fee rate of ``symbol`` (a per-symbol rate where the venue has one)."""
        return self.by_symbol.get(symbol, self.liquidation_fee)


@dataclass(frozen=True)
class MarkRule:
    """The venue's mark price as the engine runs it (:mod:`delever.mark`): how far the venue lets the price it
    margins against (its mark, or its oracle) stand from the index, and the time constant of its basis average.

    ``max_deviation_pct``: percent of the index (``None``: the venue publishes no band; 0: margin is checked at
    the oracle/index itself), run as the scenario's ``[mark] max_deviation_pct`` (:func:`delever.mark.mark_of`
    clamps the engine's median mark into the band). ``basis_ema_s``: the basis EMA's time constant where the
    venue publishes one (``None``: the scenario's ``[mark] basis_ema_s``). ``source``: where the numbers come from.
    """

    max_deviation_pct: Fraction | None
    summary: str
    source: str
    basis_ema_s: float | None = None


NO_PUBLISHED_BAND = MarkRule(
    None,
    "No band on the mark published in ../shared/specs: the engine's median mark runs unbanded.",
    "../shared/specs/venues.md (no mark-price band stated)",
)
"""The mark rule of a venue whose mark-price band is not in the specs (the scenario's own mark, unbanded)."""


@dataclass(frozen=True)
class FundingRule:
    """Funding: rate per ``interval_hours`` from the premium index (all rates exact fractions per interval).

    Styles:
        ``clamped_interest``: ``F = P + clamp(I - P, -clamp, +clamp)`` (Binance, BitMEX, Bybit, Hyperliquid,
        Gate), then ``|F| <= cap`` where a cap is set;
        ``moving_average``: ``F = clamp(P - I, -cap, cap)`` (OKX: "F = clamp(MA(Premium - Interest), floor,
        cap)", interest 0);
        ``dead_band``: ``F = max(d, P) + min(-d, P)``, then the cap (Deribit, ``d = dead_band``);
        ``premium``: ``F = P`` (stand-in where the venue's rule is not in venues.md).
    ``payments_per_interval`` > 1 when the rate is paid in parts (Hyperliquid: the 8 h rate, hourly at F/8).
    """

    style: Literal["clamped_interest", "moving_average", "dead_band", "premium"]
    interval_hours: int
    summary: str
    interest: Fraction = Fraction(0)
    clamp: Fraction | None = None
    cap: Fraction | None = None
    dead_band: Fraction = Fraction(0)
    payments_per_interval: int = 1

    def rate(self, premium: Fraction) -> Fraction:
        """The funding rate per interval for an (averaged) premium index (fractions: 0.0001 = 0.01%)."""
        p = Fraction(premium)
        if self.style == "clamped_interest":
            c = self.clamp if self.clamp is not None else None
            d = self.interest - p
            f = p + (max(-c, min(c, d)) if c is not None else d)
        elif self.style == "moving_average":
            f = p - self.interest
        elif self.style == "dead_band":
            f = max(self.dead_band, p) + min(-self.dead_band, p)
        else:
            f = p
        if self.cap is not None:
            f = max(-self.cap, min(self.cap, f))
        return f

    def payment(self, rate: Fraction, signed_value: int | Fraction, hours: Fraction | int | None = None) -> int:
        """Money a position pays (> 0) or receives (< 0) for ``hours`` (default: one interval) at ``rate``:
        ``rate * value * hours / interval``; a long pays a positive rate. Rounded up (against the account)."""
        h = Fraction(self.interval_hours if hours is None else hours)
        return ceil_frac(Fraction(rate) * Fraction(signed_value) * h / self.interval_hours)


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class PositionResult:
    """One position under a rulebook. Money in the settlement asset's money units, prices in ticks."""

    venue: str
    symbol: str
    side: int
    lots: int
    contracts: Decimal
    entry_price: Decimal
    mark_price: Decimal
    notional: int
    leverage: Fraction
    collateral: int
    initial_margin: int
    maintenance_margin: int
    mmr: Fraction
    unrealized_pnl: int
    equity: int
    liquidation_price: int | None
    bankruptcy_price: int | None
    margin_mode: MarginMode
    tier: int
    max_leverage: Fraction
    liquidatable: bool
    settle: str
    money_scale: int
    tick_size: Decimal
    contract_size: Decimal

    def money(self, units: int) -> Decimal:
        """Money units to an exact ``Decimal`` of the settlement asset."""
        return to_decimal(Fraction(units, self.money_scale), 10)

    def price(self, ticks: int | None) -> Decimal | None:
        """Ticks to an exact ``Decimal`` price (None stays None)."""
        return None if ticks is None else plain(ticks * self.tick_size)

    def to_ccxt(self) -> dict[str, object]:
        """ccxt's unified position structure (https://docs.ccxt.com/#/README?id=position-structure) plus
        ``bankruptcyPrice`` and ``adlQuantile`` (``None``: it needs the whole book). Decimals are exact."""
        return {
            "symbol": self.symbol,
            "side": "long" if self.side > 0 else "short",
            "contracts": plain(self.contracts),
            "contractSize": plain(self.contract_size),
            "entryPrice": plain(self.entry_price),
            "markPrice": plain(self.mark_price),
            "notional": self.money(self.notional),
            "leverage": to_decimal(self.leverage, 8),
            "collateral": self.money(self.collateral),
            "initialMargin": self.money(self.initial_margin),
            "maintenanceMargin": self.money(self.maintenance_margin),
            "maintenanceMarginPercentage": to_decimal(self.mmr, 10),
            "unrealizedPnl": self.money(self.unrealized_pnl),
            "liquidationPrice": self.price(self.liquidation_price),
            "marginMode": self.margin_mode,
            "bankruptcyPrice": self.price(self.bankruptcy_price),
            "adlQuantile": None,
            "info": {
                "venue": self.venue,
                "settle": self.settle,
                "tier": self.tier + 1,
                "maxLeverage": to_decimal(self.max_leverage, 4),
                "equity": self.money(self.equity),
                "liquidatable": self.liquidatable,
            },
        }


# ------------------------------------------------------------------------------------------------ rulebook


def _scenario_tier_rows(c: VenueInstrument) -> list[dict[str, str]] | None:
    """A linear contract's bracket tiers as scenario ``TierRow`` s, if the scenario's rule (maintenance amount
    derived by ``RiskTiers.from_brackets``) rebuilds them exactly; else None (Bitget's MM = MMR x PV, steps,
    size-keyed or size-linear schedules, inverse contracts)."""
    if c.contract != "linear" or not isinstance(c.margin, BracketMargin):
        return None
    tiers = c.margin.tiers.tiers
    rows = [
        {
            "cap": str(plain(Decimal(t.cap) / LINEAR_MONEY_SCALE)),
            "max_leverage": str(t.max_leverage),
            "mmr": str(plain(Decimal(t.mmr_ppm) / 1_000_000)),
            "imr": str(plain(Decimal(t.imr_ppm) / 1_000_000)),
        }
        for t in tiers
    ]
    rebuilt = RiskTiers.from_brackets("check", [(r["cap"], r["max_leverage"], r["mmr"], r["imr"]) for r in rows])
    return rows if rebuilt.tiers == tiers else None


def _dec(x: Decimal | str | int | float | None, field_name: str) -> Decimal | None:
    if x is None:
        return None
    try:
        d = Decimal(str(x))
    except InvalidOperation:
        raise InputError(f"not a number: {x!r}", field=field_name) from None
    if not d.is_finite():
        raise InputError(f"not a finite number: {x!r}", field=field_name)
    return d


@dataclass(frozen=True)
class Rulebook:
    """A venue's rules. Subclasses (one per venue module) override a policy where the venue differs.

    Attributes:
        name: registry key (``binance``); display_name: for people.
        summary: one line; sources: URLs (from venues.md); stand_ins: every rule used without a venue source.
        instruments: contracts by symbol.
        liquidation, adl, fees, funding: the rules as data.
        rounding: price rounding to the tick.
        lp_basis_isolated / lp_basis_cross: ``"mark"`` or ``"entry"`` requirement in the liquidation price
            (module docstring).
        liquidation_extra_mmr: added to the MMR in the liquidation condition (OKX: the taker fee, "MMR + fee
            rate"; BitMEX: taker fee + funding rate).
        leverage_fee_reserve: added to ``1 / leverage`` in the margin posted for a leverage (BitMEX
            ``IM = 1/lev + 2 * takerFee``).
        funding_by_symbol: per-symbol funding rules (OKX caps differ by symbol).
    """

    name: str
    display_name: str
    summary: str
    sources: tuple[str, ...]
    instruments: Mapping[str, VenueInstrument]
    liquidation: LiquidationProcedure
    adl: AdlRule
    fees: FeeRule
    funding: FundingRule
    rounding: PriceRounding = field(default_factory=PriceRounding)
    lp_basis_isolated: LpBasis = "mark"
    lp_basis_cross: LpBasis = "mark"
    liquidation_extra_mmr: Fraction = Fraction(0)
    leverage_fee_reserve: Fraction = Fraction(0)
    funding_by_symbol: Mapping[str, FundingRule] = field(default_factory=dict)
    stand_ins: tuple[str, ...] = ()
    cross_backing_rule: int = BACKING_WHOLE_ACCOUNT
    """How a cross position of a multi-position account is backed (:func:`delever.margin.cross_backing`):
    the whole account (Binance ``WB + UPNL1``) or dYdX v4's share of TNC (``BACKING_MM_SHARE``)."""
    mark: MarkRule = NO_PUBLISHED_BAND
    """The venue's mark rule (:class:`MarkRule`): its band around the index, run as ``[mark] max_deviation_pct``,
    and its basis EMA where published (``[mark] basis_ema_s``)."""

    def funding_for(self, symbol: str) -> FundingRule:
        """The funding rule of ``symbol`` (per-symbol caps where the venue has them)."""
        return self.funding_by_symbol.get(self.contract(symbol).symbol, self.funding)

    # --- contracts -------------------------------------------------------------------------------------

    def contract(self, symbol: str) -> VenueInstrument:
        """The contract ``symbol`` (case-insensitive).

        Raises:
            InputError(field="symbol"): unknown symbol, listing the venue's.
        """
        for s, c in self.instruments.items():
            if s.upper() == str(symbol).upper():
                return c
        raise InputError(
            f"unknown symbol {symbol!r} on {self.name}; known: {', '.join(self.instruments)}", field="symbol"
        )

    def instrument(self, symbol: str) -> Instrument:
        """The engine's :class:`delever.instruments.Instrument` for a linear contract with bracket tiers.

        Raises:
            InputError: (field ``symbol``) an inverse contract or a non-bracket schedule: the cascade engine models
                linear contracts with Binance-style brackets (inverse maths is in this rulebook's own formulas).
        """
        c = self.contract(symbol)
        if c.contract != "linear" or not isinstance(c.margin, BracketMargin):
            raise InputError(
                f"{self.name} {c.symbol}: the engine needs a linear contract with bracket "
                f"tiers (this one is {c.contract}, {c.margin.kind})",
                field="symbol",
            )
        return Instrument(c.symbol, c.tick_size, c.lot_size, c.margin.tiers, base=c.base, quote=c.quote)

    # --- the engine's view --------------------------------------------------------------------------------

    def engine_symbol(self) -> str:
        """The first contract the engine can run (linear, bracket tiers), else the first contract."""
        for s, c in self.instruments.items():
            if c.contract == "linear" and isinstance(c.margin, BracketMargin):
                return s
        return next(iter(self.instruments))

    def engine_adl_policy(self) -> str | None:
        """The :data:`delever.adl.policies.POLICIES` name of this ADL rule: ``queue-bitmex``, ``queue-binance``,
        ``queue-hyperliquid``, ``queue-bitget`` (also OKX's stand-in, the same ROI x MM / equity key),
        ``socialized-loss`` (Deribit, Drift), ``random-offset`` (dYdX: position order from a seeded start)."""
        if self.adl.queue == "none":
            return "socialized-loss"
        if self.adl.queue == "random_offset":
            return "random-offset"
        return {
            "bitmex": "queue-bitmex",
            "binance": "queue-binance",
            "hyperliquid": "queue-hyperliquid",
            "roi_mmr": "queue-bitget",
        }.get(self.adl.ranking)

    def engine_adl_rule(self) -> dict[str, object]:
        """The scenario's ``[adl]`` trigger and fill options (:class:`delever.scenario.AdlConfig`,
        :mod:`delever.adl.trigger`) of this rulebook; what they leave out is in :meth:`engine_gaps`.

        ``negative_equity`` -> ``negative-equity`` (Hyperliquid), or ``fund-cannot-pay`` when the fund pays
        first (dYdX); ``fund_drawdown`` with a window -> ``fund-drawdown`` (OKX: 30% within 8 h, the whole
        position while on); ``pnl_drawdown`` -> ``fund-drawdown`` of a pool of one symbol (Bybit: start at
        pnlRatio <= -0.30, stop above -0.25, 8 h, the deficit while on); the rest -> ``fund-cannot-pay``. Fill:
        the rulebook's (``bankruptcy``, ``mark``, ``previous-mark``); none for a venue without ADL."""
        t = self.adl.trigger
        out: dict[str, object] = {"trigger": "fund-cannot-pay"}
        if t.kind == "negative_equity" and not t.fund_first:
            out["trigger"] = "negative-equity"
        elif t.kind == "fund_drawdown" and t.drawdown is not None and t.window_hours is not None:
            out.update(
                trigger="fund-drawdown",
                drawdown_pct=str(to_decimal(t.drawdown * 100, 6)),
                drawdown_window_s=float(t.window_hours * 3600),
                drawdown_close=t.while_on.replace("_", "-"),
            )
        elif t.kind == "pnl_drawdown" and t.pnl_ratio_start is not None and t.window_hours is not None:
            out.update(
                trigger="fund-drawdown",
                drawdown_pct=str(to_decimal(-t.pnl_ratio_start * 100, 6)),
                drawdown_window_s=float(t.window_hours * 3600),
                drawdown_close=t.while_on.replace("_", "-"),
            )
            if t.pnl_ratio_stop is not None:
                out["drawdown_stop_pct"] = str(to_decimal(-t.pnl_ratio_stop * 100, 6))
        if self.adl.fill_price != "none":
            out["fill"] = self.adl.fill_price.replace("_", "-")
        return out

    def scenario_overrides(self, symbol: str | None = None) -> dict[str, object]:
        """Nested overrides of a scenario (``delever.scenario.load_scenario(path, overrides)``) that express
        these rules in the engine's configuration, for the contract ``symbol`` (default
        :meth:`engine_symbol`): its tiers (when bracket tiers with the derived maintenance amount), the
        liquidation fee, partial liquidation (tier steps or slices), the per-step liquidation limits (dYdX), the
        backstop vault, socialised loss, the mark's band and basis EMA (:attr:`mark`, where the venue publishes
        them) and the funding parameters (not switched on). Tick and lot sizes are left to the scenario, so the
        same price path and book run under every rulebook. What the engine cannot express is in :meth:`engine_gaps`."""
        c = self.contract(symbol or self.engine_symbol())
        out: dict[str, dict[str, object]] = {"instrument": {}, "fees": {}, "mechanisms": {}, "mark": {}}
        out["liquidation"] = self.liquidation.step_limits()
        rows = _scenario_tier_rows(c)
        if rows is not None:
            out["instrument"]["tiers"] = rows
        fee = self.fees.liquidation_fee_for(c.symbol)
        out["fees"]["liquidation_fee_rate"] = str(to_decimal(fee or Fraction(0), 8))
        lq = self.liquidation
        mech = out["mechanisms"]
        if lq.style == "tier_steps":
            mech["partial_liquidation"] = {"enabled": True, "mode": "tier"}
        elif lq.style == "slices":
            mech["partial_liquidation"] = {
                "enabled": True,
                "mode": "slice",
                "slice_fraction": str(to_decimal(lq.slice_fraction, 6)),
                "slice_min_notional": str(Decimal(lq.slice_above) / c.money_scale),
                "cooldown_s": lq.cooldown_s,
            }
        if lq.backstop_below_mm is not None:
            mech["backstop"] = {"enabled": True, "equity_ratio": str(to_decimal(lq.backstop_below_mm, 6))}
        if lq.loss_after_fund in ("socialized_winners", "socialized_funding"):
            mech["socialized_loss"] = {"enabled": True}
        if self.mark.max_deviation_pct is not None:
            out["mark"]["max_deviation_pct"] = float(self.mark.max_deviation_pct)
        if self.mark.basis_ema_s is not None:
            out["mark"]["basis_ema_s"] = float(self.mark.basis_ema_s)
        f = self.funding_for(c.symbol)
        if f.style == "clamped_interest":
            fund: dict[str, object] = {
                "interval_s": float(f.interval_hours * 3600),
                "interest_rate": str(to_decimal(f.interest, 8)),
            }
            if f.clamp is not None:
                fund["clamp"] = str(to_decimal(f.clamp, 8))
            if f.cap is not None:
                fund["cap"] = str(to_decimal(f.cap, 8))
            mech["funding"] = fund
        return {k: v for k, v in out.items() if v}

    def engine_gaps(self, symbol: str | None = None) -> list[str]:
        """The rules of this rulebook that :meth:`scenario_overrides` cannot express (so a run under it
        approximates them): stated, so a comparison never silently mixes rules."""
        c = self.contract(symbol or self.engine_symbol())
        gaps = []
        if "tiers" not in self.scenario_overrides(c.symbol).get("instrument", {}):  # type: ignore[operator]
            gaps.append(f"tiers ({c.contract}, {c.margin.kind}): the scenario keeps its own tier table")
        if self.lp_basis_isolated == "entry" or self.liquidation_extra_mmr:
            gaps.append(
                "liquidation trigger: the engine uses equity < MM at the mark (no entry-value MM, no fee "
                "rate added to the MMR)"
            )
        if self.liquidation.style == "tier_steps" and self.liquidation.tiers_per_step != 1:
            gaps.append(
                f"{self.liquidation.tiers_per_step} tiers per step: the engine's tier mode reduces to "
                "the highest lower tier that is back above MM"
            )
        if self.liquidation.style in ("incremental", "takeover", "ioc_assignment_unwind", "fillable_price_ioc"):
            gaps.append(f"liquidation style {self.liquidation.style}: run as a full liquidation against the book")
        if self.liquidation.surplus_to == "trader":
            gaps.append("a better fill's surplus stays with the trader on this venue; the engine's fee rule applies")
        if self.liquidation.step_limits():
            gaps.append(
                "per-block limits: the insurance fund's loss per subaccount per block (MaxQuantumsInsuranceLost) is "
                "not modelled; a position or account limit binds solvent accounts only (an account that a limited "
                "order would leave below zero is closed whole)"
            )
        if self.engine_adl_policy() is None:
            gaps.append(f"ADL queue {self.adl.queue}: no engine policy")
        if self.liquidation.loss_after_fund == "socialized_funding":
            gaps.append(
                "socialised through the cumulative funding rate on both sides: the engine's socialised loss "
                "claws back from winners' profit"
            )
        gaps.extend(self._adl_trigger_gaps())
        return gaps

    def _adl_trigger_gaps(self) -> list[str]:
        """What :meth:`engine_adl_rule` leaves out of this rulebook's ADL trigger."""
        t = self.adl.trigger
        run = self.engine_adl_rule()["trigger"]
        if t.kind == "negative_equity" and t.fund_first:
            return [
                "ADL trigger negative_equity after a liquidation order that filled nothing (TNC < 0): the engine "
                "has the fund pay first and deleverages, in the same step, the part the fund cannot pay"
            ]
        if t.kind == "pnl_drawdown" and run == "fund-drawdown":
            return [
                "ADL trigger pnl_drawdown of a pool of several symbols: the engine's fund is a pool of one "
                "symbol (pnlRatio = the fund's drawdown from its 8 h peak); other symbols' PnL, the T+1 pool "
                "balance and adlTriggerThreshold are not modelled"
            ]
        if t.kind == "fund_drawdown" and run == "fund-cannot-pay":
            return [
                "ADL trigger fund_drawdown with no window stated: the engine triggers ADL when the fund cannot pay "
                "(the venue's older rule)"
            ]
        if t.kind not in ("fund_cannot_pay", "none") and run == "fund-cannot-pay":
            return [f"ADL trigger {t.kind}: the engine triggers ADL when the fund cannot pay"]
        return []

    # --- margin ----------------------------------------------------------------------------------------

    def maintenance_margin(self, symbol: str, lots: int, price: Fraction | Decimal | str) -> int:
        """MM of ``lots`` at ``price`` (quote), money units, rounded up."""
        c = self.contract(symbol)
        return c.margin.maintenance_margin(c.notional(lots, frac(price)), lots)

    def initial_margin(self, symbol: str, lots: int, price: Fraction | Decimal | str) -> int:
        """Tier IM of ``lots`` at ``price`` (quote), money units, rounded up."""
        c = self.contract(symbol)
        return c.margin.initial_margin(c.notional(lots, frac(price)), lots)

    def _basis(self, margin_mode: MarginMode) -> LpBasis:
        return self.lp_basis_isolated if margin_mode == "isolated" else self.lp_basis_cross

    def _gap(
        self, c: VenueInstrument, s: int, entry: Fraction, collateral: Fraction, price: Fraction, band: MarginBand
    ) -> Fraction:
        """``equity - requirement`` at ``price`` with ``band`` (mark basis)."""
        n = c.notional(s, price)
        return collateral + c.upnl(s, entry, price) - (n * (band.mmr + self.liquidation_extra_mmr) - band.cum)

    def _solve(
        self, c: VenueInstrument, s: int, entry: Fraction, collateral: Fraction, mmr: Fraction, cum: int
    ) -> Fraction | None:
        """Price where ``C + uPnL(P) = notional(P) * mmr - cum`` (mark basis), or None."""
        k = c.k()
        if c.contract == "linear":
            den = k * (s - abs(s) * mmr)
            p = (s * k * entry - collateral - cum) / den if den else None
        else:
            den = collateral + cum + s * k / entry
            p = k * (s + abs(s) * mmr) / den if den else None
        return p if p is not None and p > 0 else None

    def liquidation_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> Fraction | None:
        """Exact liquidation price (quote) of one position, or None if it has none.

        ``lots`` > 0, ``side`` +1/-1, ``collateral`` money units: the isolated margin, or for cross the wallet
        balance less other positions' MM plus their uPnL (Binance ``WB - TMM1 + UPNL1``, section 1).
        """
        c = self.contract(symbol)
        s = side * abs(lots)
        e = frac(entry)
        cf = Fraction(collateral)
        if self._basis(margin_mode) == "entry":
            b = c.margin.band(c.notional(s, e), s)
            mm = c.notional(s, e) * (b.mmr + self.liquidation_extra_mmr) - b.cum
            if c.contract == "linear":
                p = e + (mm - cf) / (s * c.k())
            else:
                den = cf - mm + s * c.k() / e
                p = s * c.k() / den if den else Fraction(-1)
            return p if p > 0 else None
        found: list[Fraction] = []
        for b in c.margin.bands(s):
            p = self._solve(c, s, e, cf, b.mmr + self.liquidation_extra_mmr, b.cum)
            if p is not None and c.margin.band(c.notional(s, p), s).index == b.index:
                found.append(p)
        # a jump up in MM at a tier boundary can cross equity without a root inside any tier
        for n, upper in c.margin.boundaries(s):
            p = Fraction(n, c.k() * abs(s)) if c.contract == "linear" else c.k() * abs(s) / Fraction(n)
            if p > 0 and self._gap(c, s, e, cf, p, upper) <= 0:
                found.append(p)
        if not found:
            return None
        # the first price at which the position fails, coming from the safe side
        return max(found) if side > 0 else min(found)

    def liquidation_price(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> int | None:
        """Liquidation price in ticks, rounded per :attr:`rounding`; None if none."""
        p = self.liquidation_price_exact(symbol, side, lots, entry, collateral, margin_mode)
        if p is None:
            return None
        return self.contract(symbol).price_to_ticks(p, self.rounding.for_side(side))

    def bankruptcy_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> Fraction | None:
        """Exact price (quote) at which equity is 0: ``E - C/(s*q*S)`` (linear), ``s*K/(C + s*K/E)`` (inverse).

        A linear long collateralised beyond its notional has 0 (it cannot go bankrupt); an inverse short
        collateralised beyond its entry value has none (None).
        """
        c = self.contract(symbol)
        s = side * abs(lots)
        e = frac(entry)
        cf = Fraction(collateral)
        if c.contract == "linear":
            return max(Fraction(0), e - cf / (s * c.k()))
        den = cf + s * c.k() / e
        p = s * c.k() / den if den else Fraction(-1)
        return p if p > 0 else None

    def account_bankruptcy_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        mark: Fraction | Decimal | str,
        wallet: int,
        other_upnl: int = 0,
        other_mm: int = 0,
    ) -> Fraction | None:
        """Exact bankruptcy price (quote) of one cross position inside a multi-position account (issue #11):
        the position is backed by :func:`delever.margin.cross_backing` under :attr:`cross_backing_rule` (the
        one implementation the engine's liquidation stage compiles), then :meth:`bankruptcy_price_exact`.

        ``wallet`` the account's cross wallet, ``other_upnl`` / ``other_mm`` the uPnL and MM of its other cross
        positions at their marks (money units); this position's uPnL and MM are taken at ``mark``.
        """
        c = self.contract(symbol)
        s = side * abs(lots)
        m = frac(mark)
        own_upnl = floor_frac(c.upnl(s, frac(entry), m))
        own_mm = c.margin.maintenance_margin(c.notional(s, m), s)
        backing = cross_backing(self.cross_backing_rule, int(wallet), own_upnl, int(other_upnl), own_mm,
                                own_mm + int(other_mm))  # fmt: skip
        return self.bankruptcy_price_exact(symbol, side, lots, entry, backing, "cross")

    def bankruptcy_price(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> int | None:
        """Bankruptcy price in ticks, rounded per :attr:`rounding` (so a close there leaves no bad debt)."""
        p = self.bankruptcy_price_exact(symbol, side, lots, entry, collateral, margin_mode)
        if p is None:
            return None
        return self.contract(symbol).price_to_ticks(p, self.rounding.for_side(side))

    # --- one position ----------------------------------------------------------------------------------

    def position(
        self,
        symbol: str,
        side: str | int,
        size: Decimal | str,
        entry: Decimal | str,
        *,
        wallet: Decimal | str | None = None,
        leverage: Decimal | str | None = None,
        margin_mode: str = "isolated",
        mark: Decimal | str | None = None,
    ) -> PositionResult:
        """One position under these rules, from human inputs (quote prices, base or contract sizes).

        ``wallet`` (settlement asset) is the isolated margin or the cross wallet; ``leverage`` sets it to
        ``ceil(entry notional / leverage)``; with neither, 10x or the tier's max if lower. ``mark`` defaults to
        ``entry``.

        Raises:
            InputError: with ``field`` the argument at fault (``symbol``, ``side``, ``size``, ``entry``,
                ``mark``, ``wallet``, ``leverage``, ``margin_mode``).
        """
        c = self.contract(symbol)
        sd = {"long": 1, "short": -1, "1": 1, "-1": -1}.get(str(side).lower())
        if sd is None:
            raise InputError(f"must be long or short (got {side!r})", field="side")
        if margin_mode not in ("isolated", "cross"):
            raise InputError(f"must be isolated or cross (got {margin_mode!r})", field="margin_mode")
        lots = c.size_to_lots(size)
        e_d = _dec(entry, "entry")
        if e_d is None or e_d <= 0:
            raise InputError(f"must be > 0 (got {entry})", field="entry")
        m_d = _dec(mark, "mark")
        if m_d is not None and m_d <= 0:
            raise InputError(f"must be > 0 (got {mark})", field="mark")
        if wallet is not None and leverage is not None:
            raise InputError("give --wallet or --leverage, not both", field="wallet")
        e = frac(e_d)
        m = frac(m_d) if m_d is not None else e
        s = sd * lots
        n_e = c.notional(s, e)
        if c.margin.over_limit(n_e, s):
            raise InputError(
                f"notional {to_decimal(n_e / c.money_scale, 6)} {c.settle} is above {self.name} "
                f"{c.symbol}'s largest risk limit",
                field="size",
            )
        b_e = c.margin.band(n_e, s)
        scale = c.money_scale
        if wallet is not None:
            w = _dec(wallet, "wallet")
            assert w is not None
            if w <= 0:
                raise InputError(f"must be > 0 (got {wallet})", field="wallet")
            cw = Fraction(w) * scale
            if cw.denominator != 1:
                raise InputError(f"{wallet} is finer than 1/{scale} {c.settle}", field="wallet")
            collateral = int(cw)
            lev = n_e / collateral
            if lev > b_e.max_leverage:
                raise InputError(
                    f"implies leverage {to_decimal(lev, 4)}x, above the tier's max "
                    f"{to_decimal(b_e.max_leverage, 4)}x (tier {b_e.index + 1})",
                    field="wallet",
                )
        else:
            if leverage is None:
                lev = min(Fraction(10), b_e.max_leverage)
            else:
                lv = _dec(leverage, "leverage")
                assert lv is not None
                if lv <= 0:
                    raise InputError(f"must be > 0 (got {leverage})", field="leverage")
                lev = Fraction(lv)
                if lev > b_e.max_leverage:
                    raise InputError(
                        f"{leverage}x is above the tier's max {to_decimal(b_e.max_leverage, 4)}x "
                        f"(tier {b_e.index + 1} at notional {to_decimal(n_e / scale, 6)} {c.settle})",
                        field="leverage",
                    )
            collateral = ceil_frac(n_e * (1 / lev + self.leverage_fee_reserve))
        mode: MarginMode = "isolated" if margin_mode == "isolated" else "cross"
        n_m = c.notional(s, m)
        b_m = c.margin.band(n_m, s)
        mm = c.margin.maintenance_margin(n_m, s)
        upnl = floor_frac(c.upnl(s, e, m))
        equity = collateral + upnl
        req = mm + ceil_frac(n_m * self.liquidation_extra_mmr)
        return PositionResult(
            venue=self.name,
            symbol=c.symbol,
            side=sd,
            lots=lots,
            contracts=c.contracts(lots),
            entry_price=e_d,
            mark_price=m_d if m_d is not None else e_d,
            notional=round(n_m),
            leverage=lev,
            collateral=collateral,
            initial_margin=ceil_frac(n_m / lev),
            maintenance_margin=mm,
            mmr=b_m.mmr,
            unrealized_pnl=upnl,
            equity=equity,
            liquidation_price=self.liquidation_price(c.symbol, sd, lots, e, collateral, mode),
            bankruptcy_price=self.bankruptcy_price(c.symbol, sd, lots, e, collateral, mode),
            margin_mode=mode,
            tier=b_e.index,
            max_leverage=b_e.max_leverage,
            liquidatable=equity < req,
            settle=c.settle,
            money_scale=scale,
            tick_size=c.tick_size,
            contract_size=c.contract_size,
        )

    # --- liquidation procedure -------------------------------------------------------------------------

    def liquidation_order_lots(
        self, symbol: str, lots: int, price: Fraction | Decimal | str, *, in_cooldown: bool = False
    ) -> int:
        """Lots the first liquidation order closes for a position of ``lots`` (signed or not) at ``price``.

        ``full``/``takeover``/``ioc_assignment_unwind``/``fillable_price_ioc``: all of it. ``tier_steps``: down
        to the largest size whose tier is ``tiers_per_step`` below the current one (all of it below
        ``full_below_tier``). ``slices``: ``ceil(fraction * lots)`` above ``slice_above`` outside a cooldown.
        ``incremental``: ``increment_lots``.
        """
        c = self.contract(symbol)
        n = abs(lots)
        lp = self.liquidation
        p = frac(price)
        if lp.style == "tier_steps":
            idx = c.margin.band(c.notional(n, p), n).index
            if idx < lp.full_below_tier:
                return n
            target = max(0, idx - lp.tiers_per_step)
            lo, hi = 0, n  # largest kept size with tier <= target (monotone in size)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if c.margin.band(c.notional(mid, p), mid).index <= target:
                    lo = mid
                else:
                    hi = mid - 1
            return n - lo
        if lp.style == "slices":
            if not in_cooldown and c.notional(n, p) > lp.slice_above:
                return ceil_frac(n * lp.slice_fraction)
            return n
        if lp.style == "incremental":
            return min(n, lp.increment_lots)
        return n

    def fund_delta(
        self, symbol: str, side: int, lots: int, bankruptcy: Fraction | Decimal | str, fill: Fraction | Decimal | str
    ) -> int:
        """Money the insurance fund gains (> 0) or pays (< 0) when a bankrupt position of ``lots`` closes at
        ``fill`` instead of its bankruptcy price: ``uPnL from BP to fill`` (``s*q*S*(fill - BP)`` linear,
        ``s*K*(1/BP - 1/fill)`` inverse), rounded down. Where the trader keeps a better fill's surplus
        (``surplus_to == "trader"``: Hyperliquid, Kraken, dYdX, Deribit, Drift) the fund only pays shortfalls.
        Liquidation fees are separate (:attr:`fees`; dYdX's capped fee:
        :func:`delever.venues.dydx.insurance_fund_delta`).
        """
        c = self.contract(symbol)
        gap = floor_frac(c.upnl(side * abs(lots), frac(bankruptcy), frac(fill)))
        return gap if self.liquidation.surplus_to == "insurance_fund" else min(0, gap)

    # --- ADL -------------------------------------------------------------------------------------------

    def adl_score(self, inputs: AdlInputs) -> np.ndarray:
        """The ranking key of each position of one side (float64, higher = deleveraged first)."""
        return SCORES[self.adl.ranking](inputs)

    def adl_order(self, inputs: AdlInputs, *, start: int = 0) -> np.ndarray:
        """Indices in the order the queue takes them: score descending, then index ascending; for a
        ``random_offset`` queue (dYdX), index order rotated to begin at ``start``; empty where the venue has no
        queue (Drift, Deribit)."""
        n = inputs.upnl.shape[0]
        if self.adl.queue == "none":  # no ADL queue (the loss is socialised): nobody is deleveraged
            return np.empty(0, dtype=np.int64)
        if self.adl.queue == "random_offset":
            return (np.arange(n) + (start % n if n else 0)) % max(n, 1)
        score = self.adl_score(inputs)
        return np.lexsort((np.arange(n), -score))

    def adl_indicator(self, scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
        """The venue's indicator for each position of one side (int8)."""
        return INDICATORS[self.adl.indicator](scores, quantities)

    def adl_fill_price(self, bankruptcy: int, mark: int, previous_mark: int | None = None) -> int:
        """Ticks at which an ADL'd counterparty is closed: the bankrupt order's BP, the mark, or the previous
        mark (Hyperliquid)."""
        rule = self.adl.fill_price
        if rule == "mark":
            return mark
        if rule == "previous_mark":
            return mark if previous_mark is None else previous_mark
        return bankruptcy

    # --- display ---------------------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        """Everything a person needs to read the rules (for ``delever venues NAME``)."""
        lq, adl = self.liquidation, self.adl
        return {
            "name": self.name,
            "display_name": self.display_name,
            "summary": self.summary,
            "contracts": {
                s: {
                    "contract": c.contract,
                    "settle": c.settle,
                    "tick_size": str(c.tick_size),
                    "lot_size": f"{c.lot_size} {c.size_unit}",
                    "contract_size": str(c.contract_size),
                    "margin": c.margin.kind,
                    "tiers_name": c.margin.name,
                    "tiers": c.margin.rows(c.money_scale),
                    "source": c.source,
                }
                for s, c in self.instruments.items()
            },
            "liquidation": {
                "style": lq.style,
                "summary": lq.summary,
                "loss_after_fund": lq.loss_after_fund,
                "surplus_to": lq.surplus_to,
                "liquidation_price_basis": f"isolated: {self.lp_basis_isolated}, cross: {self.lp_basis_cross}",
                "extra_mmr_in_trigger": str(to_decimal(self.liquidation_extra_mmr, 8)),
                "price_rounding": f"long {self.rounding.long}, short {self.rounding.short} ({self.rounding.source})",
            },
            "adl": {
                "trigger": adl.trigger.kind,
                "trigger_summary": adl.trigger.summary,
                "ranking": adl.ranking,
                "ranking_summary": adl.ranking_summary,
                "queue": adl.queue,
                "fill_price": adl.fill_price,
                "indicator": adl.indicator,
                "indicator_summary": adl.indicator_summary,
            },
            "fees": {
                "liquidation_fee": None
                if self.fees.liquidation_fee is None
                else str(to_decimal(self.fees.liquidation_fee * 100, 6)) + "%",
                "liquidation_fee_to": self.fees.liquidation_fee_to,
                "adl_fee": self.fees.adl_fee,
                "taker_fee": str(to_decimal(self.fees.taker_fee * 100, 6)) + "%",
                "summary": self.fees.summary,
            },
            "funding": {
                "style": self.funding.style,
                "interval_hours": self.funding.interval_hours,
                "summary": self.funding.summary,
            },
            "mark": {
                "max_deviation_pct": None
                if self.mark.max_deviation_pct is None
                else str(to_decimal(self.mark.max_deviation_pct, 6)),
                "basis_ema_s": None if self.mark.basis_ema_s is None else f"{self.mark.basis_ema_s:g}",
                "summary": self.mark.summary,
                "source": self.mark.source,
            },
            "engine": {
                "symbol": self.engine_symbol(),
                "adl_policy": self.engine_adl_policy(),
                "adl_rule": self.engine_adl_rule(),
                "gaps": self.engine_gaps(),
            },
            "stand_ins": list(self.stand_ins),
            "sources": list(self.sources),
        }

    def liquidation_style(self) -> str:
        """A short label of the liquidation procedure for listings."""
        lq = self.liquidation
        if lq.style == "tier_steps":
            return f"tier steps ({lq.tiers_per_step} per step)"
        if lq.style == "slices":
            return f"{to_decimal(lq.slice_fraction * 100, 2)}% slices, {lq.cooldown_s:g} s cooldown, backstop"
        return lq.style.replace("_", " ")

    def adl_label(self) -> str:
        """A short label of the ADL rule for listings."""
        a = self.adl
        if a.trigger.kind == "none":
            return {
                "socialized_funding": "none: socialized loss via funding",
                "socialized_winners": "none: socialized among the day's winners",
                "assignment_then_unwind": "none: assignment, then unwind",
            }.get(self.liquidation.loss_after_fund, "none")
        return f"{a.trigger.kind}; rank {a.ranking} ({a.queue}); fill at {a.fill_price}; indicator {a.indicator}"
