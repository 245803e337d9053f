"""The deleveraging mechanisms of a scenario beyond full liquidation + insurance fund + ADL, each off by default."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..validate import Money, Rate
from .base import ConfigModel
from .market import TierRow, build_tiers


class PartialLiquidationConfig(ConfigModel):
    """Partial liquidation (:mod:`delever.mechanisms.partial`): ``tier`` reduces a position to the highest
    lower risk-limit tier at which it is back above maintenance margin (BitMEX, Bybit: venues.md sections
    2-3); ``slice`` sends ``slice_fraction`` of positions above ``slice_min_notional`` (quote) per order and,
    within ``cooldown_s`` of a partial, the whole position (Hyperliquid, venues.md section 6, TV-34)."""

    enabled: bool = False
    mode: Literal["tier", "slice"] = "tier"
    tiers_per_step: Annotated[int, Field(ge=1)] | None = None
    """``tier`` mode: at most this many tiers down per step; if none of them restores the account, down this many
    all the same, again at the next step (OKX, Bitget: 2; venues.md sections 4 and 8). None: any number down to
    the highest lower tier that restores it, else whole (BitMEX, Bybit)."""
    whole_tiers: Annotated[int, Field(ge=1)] = 1
    """``tier`` mode: a position in one of the lowest ``whole_tiers`` tiers is closed whole (OKX: tiers 1-2)."""
    slice_fraction: Annotated[Rate, Field(gt=0, lt=1)] = Decimal("0.2")
    slice_min_notional: Annotated[Money, Field(ge=0)] = Decimal(100_000)
    cooldown_s: Annotated[float, Field(ge=0)] = 30.0


class IncrementalLiquidationConfig(ConfigModel):
    """Incremental liquidation (:mod:`delever.mechanisms.incremental`; Deribit, venues.md section 5): a position in
    liquidation is closed ``lots_per_round`` lots a round, ``rounds_per_s`` rounds a second, until its account is
    back above maintenance margin (Deribit's old page: 10 contracts x 25 rounds a second)."""

    enabled: bool = False
    lots_per_round: Annotated[int, Field(ge=1)] = 10
    rounds_per_s: Annotated[int, Field(ge=1)] = 25


class BackstopConfig(ConfigModel):
    """A backstop liquidity vault (Hyperliquid's HLP liquidator, venues.md section 6) that takes over whole
    positions whose equity is below ``equity_ratio`` x MM, at the mark (at the bankruptcy price if equity < 0),
    keeping the remaining margin; ``vault_wallet`` (quote) is its starting capital. ``style`` switches it to a
    liquidator's takeover at the oracle (Drift)."""

    enabled: bool = False
    equity_ratio: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.666667")
    vault_wallet: Annotated[Money, Field(gt=0)] = Decimal(50_000_000)
    style: Literal["backstop", "oracle-takeover"] = "backstop"
    """``backstop`` (Hyperliquid, above) or ``oracle-takeover`` (Drift v2, engines.md section 2): the vault stands
    for the liquidators, takes every position below MM at the oracle (the index) and the account keeps its margin
    less the liquidation fee; a deficit is paid by the fund, then socialized (:mod:`delever.mechanisms.backstop`).
    """


class ProactiveDeleveragingConfig(ConfigModel):
    """Reduce the most levered accounts towards ``target_leverage`` when a stress trigger trips: the mark moved
    more than ``price_move_pct`` within ``window_s``, or the insurance fund fell more than
    ``fund_drawdown_pct`` within it, or the traders' aggregate leverage exceeds ``system_leverage``."""

    enabled: bool = False
    window_s: Annotated[float, Field(gt=0)] = 300.0
    price_move_pct: Annotated[float, Field(gt=0)] = 4.0
    fund_drawdown_pct: Annotated[float, Field(gt=0)] = 30.0
    system_leverage: Annotated[float, Field(gt=0)] = 1_000.0
    trigger_leverage: Annotated[float, Field(gt=1)] = 25.0
    target_leverage: Annotated[float, Field(gt=1)] = 10.0
    max_accounts_per_step: Annotated[int, Field(ge=1)] = 500


class DynamicMarginConfig(ConfigModel):
    """Maintenance and initial margin rates scaled by ``clip(sigma_short / sigma_long, 1, cap)`` of the index's
    realised volatility, refreshed every ``update_every_s`` and applied to existing positions."""

    enabled: bool = False
    short_window_s: Annotated[float, Field(gt=0)] = 300.0
    long_window_s: Annotated[float, Field(gt=0)] = 3_600.0
    cap: Annotated[float, Field(ge=1)] = 2.0
    update_every_s: Annotated[float, Field(gt=0)] = 60.0


class CircuitBreakerConfig(ConfigModel):
    """Halt liquidation fills for ``halt_s`` when the mark moves more than ``move_pct`` within ``window_s``;
    liquidatable accounts wait and are liquidated when the halt ends if still below maintenance margin."""

    enabled: bool = False
    window_s: Annotated[float, Field(gt=0)] = 60.0
    move_pct: Annotated[float, Field(gt=0)] = 3.0
    halt_s: Annotated[float, Field(gt=0)] = 60.0


class LimitsConfig(ConfigModel):
    """Per-account notional cap (quote) and per-tier max leverage, enforced on the generated book and on books
    read from files (rows over a limit are errors)."""

    enabled: bool = False
    max_account_notional: Annotated[Money, Field(gt=0)] = Decimal(5_000_000)


class SocializedLossConfig(ConfigModel):
    """Instead of ADL, bad debt the fund cannot pay is socialized (:mod:`delever.mechanisms.socialized`):
    ``mode = "winners"`` claws it back from the winners' unrealized profit pro rata (Deribit's socialized loss,
    venues.md section 5); ``mode = "funding"`` charges it to every open position of the market, both sides, the
    same amount per lot, through the cumulative funding rate (Drift v2, engines.md section 2). Accounts without
    negative-balance protection keep their negative balance as a debt instead (``protected_fraction`` of
    generated accounts are protected)."""

    enabled: bool = False
    protected_fraction: Annotated[float, Field(ge=0, le=1)] = 1.0
    mode: Literal["winners", "funding"] = "winners"


class InsuranceCapConfig(ConfigModel):
    """Caps on the insurance fund's payouts for one market's bankruptcies (:mod:`delever.mechanisms.insurance_cap`;
    Drift v2, engines.md section 2): the fund keeps ``keep`` (quote; Drift: one unit, 0.000001 USDC) and a market
    draws at most ``max_payout`` (quote) over the run (Drift's ``quote_max_insurance``; None: no such cap). What
    the fund does not pay is bad debt, for ADL or the socialized loss."""

    enabled: bool = False
    keep: Annotated[Money, Field(ge=0)] = Decimal(0)
    max_payout: Annotated[Money, Field(ge=0)] | None = None


class MarketMakerWithdrawalConfig(ConfigModel):
    """Book depth scaled by ``clip((sigma_short / sigma_long) ** -elasticity, min_scale, 1)``: depth thins as
    volatility rises and refills as it calms; ``elasticity = "calibrated"`` fits it to the real ask +1% depth
    fall of 10 October 2025 (:func:`delever.mechanisms.withdrawal.calibrate_elasticity`)."""

    enabled: bool = False
    elasticity: Annotated[float, Field(ge=0)] | Literal["calibrated"] = "calibrated"
    min_scale: Annotated[float, Field(gt=0, le=1)] = 0.1
    short_window_s: Annotated[float, Field(gt=0)] = 300.0
    long_window_s: Annotated[float, Field(gt=0)] = 3_600.0


class FundingConfig(ConfigModel):
    """Funding every ``interval_s`` (aligned to UTC multiples): ``F = P + clamp(I - P, -clamp, +clamp)`` with
    the premium ``P`` the interval's average of ``(mark - index) / index`` and ``I`` the interest per interval
    (Binance/Bybit/BitMEX, venues.md sections 1-3), capped at ``cap``; longs pay shorts when F > 0."""

    enabled: bool = False
    interval_s: Annotated[float, Field(gt=0)] = 28_800.0
    interest_rate: Decimal = Decimal("0.0001")
    clamp: Annotated[Decimal, Field(ge=0)] = Decimal("0.0005")
    cap: Annotated[Decimal, Field(gt=0)] = Decimal("0.03")


class CrossInstrumentConfig(ConfigModel):
    """A second or third instrument for a multi-instrument cross-margin run (:mod:`delever.contagion`).

    ``index = "correlated"`` (a perpetual on another underlying): its index path is the scenario's index
    path's one-step log returns times ``beta``, correlated ``correlation`` with them (``r = beta * (rho *
    r_index + sqrt(1 - rho^2) * sigma_index * eps)``, eps standard normal, seeded), from ``start_price``.
    ``index = "underlying"`` (a contract on the scenario's own underlying, e.g. a dated future beside the
    perpetual): its index is the scenario's index path. Its order book is the calibrated depth shape with
    ``depth_scale`` of its notional. ``tiers``: a built-in table name or explicit rows, as the scenario's
    instrument.

    ``kind = "dated_future"`` makes it a future that expires at ``expiry`` (UTC) and settles at the mean of
    its index over the last ``settlement_window_s`` seconds (:mod:`delever.settlement`); before expiry its
    book is centred ``basis_pct`` percent above the index, the premium shrinking linearly to 0 at expiry.

    Positions: ``holders_fraction`` of the cross trader accounts open one at a random side; then
    ``spread_fraction`` of the remaining cross trader accounts hold a calendar spread: the opposite of their
    position on the scenario's instrument, of the same base quantity (rounded down to a lot, at least one).
    """

    symbol: str
    tick_size: Annotated[Decimal, Field(gt=0)]
    lot_size: Annotated[Decimal, Field(gt=0)]
    tiers: str | Annotated[list[TierRow], Field(min_length=1)]

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: str | list[TierRow]) -> str | list[TierRow]:
        build_tiers("tiers", tiers)  # ValueError naming the table or the tier at fault
        return tiers

    start_price: Annotated[Decimal, Field(gt=0)] | None = None
    index: Literal["correlated", "underlying"] = "correlated"
    beta: Annotated[float, Field(gt=0)] = 1.0
    correlation: Annotated[float, Field(ge=-1, le=1)] = 0.8
    depth_scale: Annotated[float, Field(gt=0, le=1_000)] = 0.15
    insurance_fund: Annotated[Money, Field(ge=0)] = Decimal(0)
    holders_fraction: Annotated[float, Field(ge=0, le=1)] = 0.3
    spread_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    kind: Literal["perpetual", "dated_future"] = "perpetual"
    expiry: datetime | None = None
    settlement_window_s: Annotated[float, Field(gt=0)] = 1_800.0
    basis_pct: Annotated[float, Field(ge=-50, le=50)] = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> CrossInstrumentConfig:
        if self.index == "correlated" and self.start_price is None:
            raise ValueError(f"{self.symbol}: a correlated index needs a start_price")
        if (self.kind == "dated_future") != (self.expiry is not None):
            raise ValueError(f"{self.symbol}: a dated future needs an expiry, a perpetual has none")
        if isinstance(self.tiers, str):
            build_tiers(self.symbol, self.tiers)  # raises ValueError on an unknown table
        if self.basis_pct and self.kind != "dated_future":
            raise ValueError(f"{self.symbol}: basis_pct applies to a dated future only")
        return self


class CrossMarginConfig(ConfigModel):
    """Cross-margin contagion: a fraction of the cross accounts also hold positions on other perpetuals with
    correlated paths, or on dated futures of the same underlying (calendar spreads), so that a loss on one
    instrument liquidates positions on the others; each instrument
    keeps its own book, insurance fund and ADL queue (ADL stays per instrument, as on Hyperliquid,
    venues.md section 11: "ADL never crossed assets")."""

    enabled: bool = False
    instruments: list[CrossInstrumentConfig] = []


class MechanismsConfig(ConfigModel):
    """Every deleveraging mechanism beyond the default full liquidation + insurance fund + ADL; all off by
    default, each switchable (``delever run --set mechanisms.NAME.enabled=true``)."""

    partial_liquidation: PartialLiquidationConfig = PartialLiquidationConfig()
    incremental_liquidation: IncrementalLiquidationConfig = IncrementalLiquidationConfig()
    backstop: BackstopConfig = BackstopConfig()
    proactive_deleveraging: ProactiveDeleveragingConfig = ProactiveDeleveragingConfig()
    dynamic_margin: DynamicMarginConfig = DynamicMarginConfig()
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    limits: LimitsConfig = LimitsConfig()
    socialized_loss: SocializedLossConfig = SocializedLossConfig()
    insurance_cap: InsuranceCapConfig = InsuranceCapConfig()
    mm_withdrawal: MarketMakerWithdrawalConfig = MarketMakerWithdrawalConfig()
    funding: FundingConfig = FundingConfig()
    cross_margin: CrossMarginConfig = CrossMarginConfig()

    @model_validator(mode="after")
    def _one_order_sizing(self) -> MechanismsConfig:
        if self.partial_liquidation.enabled and self.incremental_liquidation.enabled:
            raise ValueError(
                "partial_liquidation and incremental_liquidation both size the liquidation orders: enable one"
            )
        return self

    @model_validator(mode="after")
    def _cross_margin_instruments(self) -> MechanismsConfig:
        if self.cross_margin.enabled:
            if not self.cross_margin.instruments:
                raise ValueError("cross_margin needs at least one [[mechanisms.cross_margin.instruments]]")
        return self

    def enabled(self) -> list[str]:
        """Names of the mechanisms that are on."""
        return [name for name in type(self).model_fields if getattr(self, name).enabled]
