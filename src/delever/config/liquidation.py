"""The liquidation stage's per-step limits in a scenario (dYdX v4's per-block limits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..validate import Money
from .base import ConfigModel


class LiquidationConfig(ConfigModel):
    """Per-step limits of the liquidation stage (:mod:`delever.mechanisms.block_limits`; dYdX v4's per-block
    limits, ../shared/specs/engines.md section 1, ``liquidations_config.go``). A step stands for a block. All
    off by default (no limit); the dYdX rulebook sets them (:mod:`delever.venues.dydx`).

    ``max_positions_per_step``: liquidation orders per step (``MaxLiquidationAttemptsPerBlock``, 50 on dYdX);
    the least collateralised first, the rest wait. ``position_min_notional`` (quote) and
    ``position_max_portion_pct``: a position's order is at most ``max(min notional, portion x notional)``
    (``PositionBlockLimits``). ``account_max_notional_per_step`` (quote): notional liquidated per account per
    step (``SubaccountBlockLimits.MaxNotionalLiquidated``). In a multi-instrument run (``mechanisms.cross_margin``)
    the count and the account budget hold over every instrument's liquidations of the step.

    ``cross_backing``: what backs one cross position of a multi-position account at its bankruptcy price
    (:func:`delever.margin.cross_backing`): ``whole-account`` (the default; Binance cross, ``WB + UPNL1``, the
    wallet plus the other cross positions' uPnL, ../shared/specs/venues.md section 1) or ``mm-share`` (dYdX v4,
    ``-DNNV - TNC x |DMMR| / TMMR``: the position keeps its share of the account's total net collateral,
    ../shared/specs/engines.md section 1). The venue rulebooks set it (:meth:`delever.venues.bridge.EngineBridge.
    scenario_overrides`); a single-position account is backed by its wallet under both.
    """

    max_positions_per_step: Annotated[int, Field(ge=1)] | None = None
    position_min_notional: Annotated[Money, Field(ge=0)] = Decimal(0)
    position_max_portion_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(100)
    account_max_notional_per_step: Annotated[Money, Field(gt=0)] | None = None
    cross_backing: Literal["whole-account", "mm-share"] = "whole-account"
    order: Literal["market", "fillable-price-ioc", "bankruptcy-ioc"] = "market"
    """The liquidation order: ``market`` (the whole position, or the part a partial rule asks for, walks the book
    to the end), ``fillable-price-ioc`` (dYdX v4: an IOC at the fillable price ``(PNNV - ABR x SMMR x PMMR) /
    PS``, engines.md section 1, that may fill partially or not at all; :mod:`delever.ioc_order`) or
    ``bankruptcy-ioc`` (Kraken's Equity Protection Process, venues.md section 7: an IOC whose limit is the
    position's bankruptcy price, rounded against the account; what it does not fill is unwound against the
    opposing positions at the ADL fill price in the same step, so the fund never pays)."""
    bankruptcy_adjustment: Annotated[Decimal, Field(ge=1, le=1000)] = Decimal(1)
    """``fillable-price-ioc``: BA (dYdX ``bankruptcy_adjustment_ppm`` / 1e6, >= 1; default 1.0)."""
    spread_to_mmr: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal("0.1")
    """``fillable-price-ioc``: SMMR (dYdX ``spread_to_maintenance_margin_ratio_ppm`` / 1e6; default 0.1)."""
    surplus: Literal["trader", "insurance-fund"] = "trader"
    """Where a better fill's surplus over the bankruptcy price goes: ``trader`` (the default; the fund takes the
    liquidation fee, capped at what is left, and the trader keeps the rest: Hyperliquid, Kraken, Deribit, Drift,
    dYdX's ``min(leftover, fee)``) or ``insurance-fund`` (the fund takes the whole surplus of a position closed
    whole on the book, the fee included: BitMEX "fill better than BP -> surplus to IF", Bybit "better than BP ->
    remaining margin to IF", ../shared/specs/venues.md sections 2-3)."""
    max_insurance_lost_per_step: Annotated[Money, Field(gt=0)] | None = None
    """``fillable-price-ioc``: what the insurance fund may pay per account per step (quote; dYdX
    ``SubaccountBlockLimits.MaxQuantumsInsuranceLost``, $100M by default); a fill beyond it is not made. None:
    no cap."""

    def backing_rule(self) -> int:
        """``cross_backing`` as the kernels' rule number (:data:`delever.margin.BACKING_WHOLE_ACCOUNT` or
        :data:`delever.margin.BACKING_MM_SHARE`)."""
        from ..margin import BACKING_MM_SHARE, BACKING_WHOLE_ACCOUNT

        return BACKING_MM_SHARE if self.cross_backing == "mm-share" else BACKING_WHOLE_ACCOUNT

    @model_validator(mode="after")
    def _cap_needs_ioc(self) -> LiquidationConfig:
        if self.max_insurance_lost_per_step is not None and self.order == "market":
            raise ValueError("max_insurance_lost_per_step needs an IOC order (it caps the IOC fills)")
        return self

    def order_rule(self):
        """The :class:`~delever.ioc_order.LiquidationOrder` of ``order`` and its parameters (ppm, money)."""
        from ..ioc_order import LIMIT_BANKRUPTCY, LIMIT_GIVEN, NO_CAP, LiquidationOrder
        from ..units import money, rate_ppm

        cap = self.max_insurance_lost_per_step
        limit_rule = LIMIT_BANKRUPTCY if self.order == "bankruptcy-ioc" else LIMIT_GIVEN
        return LiquidationOrder(self.order != "market", rate_ppm(self.bankruptcy_adjustment),
                                rate_ppm(self.spread_to_mmr), NO_CAP if cap is None else money(cap),
                                self.surplus == "insurance-fund", limit_rule)  # fmt: skip

    def limits_on(self) -> bool:
        """Whether any per-step limit can bind (a portion below 100%, a per-step count or account budget)."""
        return (
            self.max_positions_per_step is not None
            or self.position_max_portion_pct < 100
            or self.account_max_notional_per_step is not None
        )

    def block_limits(self):
        """The :class:`~delever.mechanisms.block_limits.BlockLimits` in engine units (money, ppm)."""
        from ..mechanisms.block_limits import NO_LIMIT, BlockLimits
        from ..units import money, rate_ppm

        acc = self.account_max_notional_per_step
        return BlockLimits(
            max_positions=NO_LIMIT if self.max_positions_per_step is None else self.max_positions_per_step,
            position_min_notional=money(self.position_min_notional),
            position_portion_ppm=rate_ppm(self.position_max_portion_pct / 100),
            account_max_notional=NO_LIMIT if acc is None else money(acc),
        )
