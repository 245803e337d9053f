"""The margin rule of a scenario's liquidation condition: on which value the maintenance margin is taken, and a
fee rate added to the MMR (:mod:`delever.requirement`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from ..validate import Rate
from .base import ConfigModel


class MarginConfig(ConfigModel):
    """``[margin]``: the maintenance requirement the liquidation condition compares equity with.

    ``maintenance_value_isolated`` / ``maintenance_value_cross``: ``"mark"`` (the default; Binance, venues.md
    section 1: the notional at the mark) or ``"entry"``: the MM of the position's entry value, fixed while the
    mark moves (BitMEX's inverse ``LP = EP / (1 + IM - MM)``, section 2; Bybit's isolated ``LP_long = EP - (IM -
    MM) / size``, section 3, TV-14). ``mmr_fee_rate``: a rate added to every tier's MMR in the requirement (OKX's
    margin ratio ``(margin + PnL) / (faceValue x |contracts| x mark x (tier MMR + fee rate))``, section 4;
    BitMEX's ``MM = 0.50% + takerFee + fundingRate``, section 2): :meth:`delever.tiers.RiskTiers.with_added_rate`.
    The venue rulebooks set them (:meth:`delever.venues.bridge.EngineBridge.scenario_overrides`).
    """

    maintenance_value_isolated: Literal["mark", "entry"] = "mark"
    maintenance_value_cross: Literal["mark", "entry"] = "mark"
    mmr_fee_rate: Annotated[Rate, Field(ge=0, lt=1)] = Decimal(0)

    def mm_entry(self) -> int:
        """The kernels' ``mm_entry`` bits (:data:`delever.requirement.ENTRY_ISOLATED`, ``ENTRY_CROSS``)."""
        from ..requirement import ENTRY_CROSS, ENTRY_ISOLATED

        iso = ENTRY_ISOLATED if self.maintenance_value_isolated == "entry" else 0
        return iso | (ENTRY_CROSS if self.maintenance_value_cross == "entry" else 0)

    def fee_ppm(self) -> int:
        """``mmr_fee_rate`` in ppm (exact: :data:`delever.validate.Rate` holds whole ppm)."""
        from ..units import rate_ppm

        return rate_ppm(self.mmr_fee_rate)

    def tiers(self, tiers):
        """An instrument's :class:`delever.tiers.RiskTiers` with the fee rate added to every MMR."""
        return tiers.with_added_rate(self.fee_ppm())

    def instrument(self, inst):
        """The :class:`delever.instruments.Instrument` with its tiers under this rule (:meth:`tiers`)."""
        if self.fee_ppm() == 0:
            return inst
        from dataclasses import replace

        return replace(inst, tiers=self.tiers(inst.tiers))
