"""The liquidation stage's per-step limits in a scenario (dYdX v4's per-block limits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

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
    step (``SubaccountBlockLimits.MaxNotionalLiquidated``). Single-instrument runs only (not with
    ``mechanisms.cross_margin``).
    """

    max_positions_per_step: Annotated[int, Field(ge=1)] | None = None
    position_min_notional: Annotated[Money, Field(ge=0)] = Decimal(0)
    position_max_portion_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(100)
    account_max_notional_per_step: Annotated[Money, Field(gt=0)] | None = None

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
