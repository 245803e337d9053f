"""The venue's rules as data: price rounding, the liquidation procedure, fees, the mark-price band and funding
(frozen dataclasses the venue modules fill in, each rule cited there; ../shared/specs/venues.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal


from .exact import ceil_frac, to_decimal


MarginMode = Literal["isolated", "cross"]
LpBasis = Literal["mark", "entry"]


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
        max_insurance_lost_per_step: the insurance fund's loss per account per step (quote; dYdX
            ``MaxQuantumsInsuranceLost``), for a ``fillable_price_ioc`` style only; ``None``: no cap.
        insurance_keep, insurance_max_payout: caps on the insurance fund's payouts (quote;
            :mod:`delever.mechanisms.insurance_cap`): the balance it always keeps (Drift: one unit) and what one
            market may draw over the run (Drift's ``quote_max_insurance``; ``None``: no cap).
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
    max_insurance_lost_per_step: Fraction | None = None
    insurance_keep: Fraction = Fraction(0)
    insurance_max_payout: Fraction | None = None

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
        if self.max_insurance_lost_per_step is not None:  # caps the IOC's fills (delever.ioc_order)
            out["max_insurance_lost_per_step"] = str(to_decimal(self.max_insurance_lost_per_step, 6))
        return out


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
