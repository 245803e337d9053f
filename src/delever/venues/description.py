"""A venue rulebook's rules as a person reads them (:class:`RulebookDescription`, mixed into
:class:`delever.venues.rulebook.Rulebook`): ``delever venues NAME`` and the listing's short labels."""

from __future__ import annotations


from .exact import to_decimal


class RulebookDescription:
    """The description and listing labels of a rulebook (methods of :class:`~delever.venues.rulebook.Rulebook`)."""

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
            "stand_ins": list(self.stand_ins) + self.engine_stand_ins(),
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
