"""The bridge from a venue rulebook to the engine (:class:`EngineBridge`, mixed into
:class:`delever.venues.rulebook.Rulebook`): which contract the engine runs, which ADL policy and trigger stand for
the venue's, the scenario overrides that run the venue, and the gaps between the venue's rules and the engine's.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


from ..margin import BACKING_MM_SHARE
from .exact import to_decimal
from .margin_models import BracketMargin
from .tier_overrides import scenario_tiers


class EngineBridge:
    """The engine's view of a rulebook (methods of :class:`~delever.venues.rulebook.Rulebook`)."""

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

        ``negative_equity`` -> ``negative-equity`` (Hyperliquid), or with the fund first ``zero-fill`` after a
        fillable-price IOC (dYdX); ``assignment_unfilled`` -> ``negative-equity`` (Kraken: the IOC at the
        bankruptcy price, ``[liquidation] order = "bankruptcy-ioc"``, the unfilled rest unwound in the same step,
        never paid by a fund); ``fund_drawdown`` ->
        ``fund-drawdown`` (OKX: 30% within 8 h, the whole position while on; Bitget: 30% from the peak since the
        run's start, no window stated); ``pnl_drawdown`` -> ``fund-drawdown`` of a pool of one symbol (Bybit:
        start at pnlRatio <= -0.30 while the balance is above adlTriggerThreshold, stop above -0.25, 8 h, the
        deficit while on); the rest -> ``fund-cannot-pay``. Fill: the rulebook's (``bankruptcy``, ``mark``,
        ``previous-mark``); none for a venue without ADL."""
        t = self.adl.trigger
        out: dict[str, object] = {"trigger": "fund-cannot-pay"}
        if (t.kind == "negative_equity" and not t.fund_first) or t.kind == "assignment_unfilled":
            out["trigger"] = "negative-equity"
        elif t.kind == "negative_equity" and self.liquidation.style == "fillable_price_ioc":
            out["trigger"] = "zero-fill"  # dYdX: after an IOC that filled nothing, TNC < 0 (delever.ioc_order)
        elif t.kind == "fund_drawdown" and t.drawdown is not None:
            out.update(trigger="fund-drawdown", drawdown_pct=str(to_decimal(t.drawdown * 100, 6)))
            if t.window_hours is not None:
                out["drawdown_window_s"] = float(t.window_hours * 3600)
            else:  # "drops 30% from its peak", no window stated (Bitget): the peak since the run's start
                out["drawdown_peak"] = "run"
            out["drawdown_close"] = t.while_on.replace("_", "-")
        elif t.kind == "pnl_drawdown" and t.pnl_ratio_start is not None and t.window_hours is not None:
            out.update(
                trigger="fund-drawdown",
                drawdown_pct=str(to_decimal(-t.pnl_ratio_start * 100, 6)),
                drawdown_window_s=float(t.window_hours * 3600),
                drawdown_close=t.while_on.replace("_", "-"),
            )
            if t.pnl_ratio_stop is not None:
                out["drawdown_stop_pct"] = str(to_decimal(-t.pnl_ratio_stop * 100, 6))
            if t.balance_threshold is not None:  # Bybit's adlTriggerThreshold
                out["drawdown_min_balance"] = str(to_decimal(t.balance_threshold, 6))
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
        same price path and book run under every rulebook. The cross backing rule of a multi-position account
        (``[liquidation] cross_backing``) is set where it is not the default whole-account rule (dYdX v4's MM
        share, :attr:`~delever.venues.rulebook.Rulebook.cross_backing_rule`). What the engine cannot express is
        in :meth:`engine_gaps`."""
        c = self.contract(symbol or self.engine_symbol())
        out: dict[str, dict[str, object]] = {"instrument": {}, "fees": {}, "mechanisms": {}, "mark": {}}
        out["liquidation"] = self.liquidation.step_limits()
        if self.liquidation.style == "fillable_price_ioc":  # dYdX v4's IOC at the fillable price (delever.ioc_order)
            out["liquidation"]["order"] = "fillable-price-ioc"
        elif self.liquidation.style == "ioc_assignment_unwind":  # Kraken: IOC at BP, the rest unwound at once
            out["liquidation"]["order"] = "bankruptcy-ioc"
        # who keeps a better fill's surplus over the bankruptcy price: the trader after the fee, or the fund
        out["liquidation"]["surplus"] = "trader" if self.liquidation.surplus_to == "trader" else "insurance-fund"
        if self.cross_backing_rule == BACKING_MM_SHARE:  # dYdX v4: -DNNV - TNC x |DMMR| / TMMR (engines.md 1)
            out["liquidation"]["cross_backing"] = "mm-share"
        tiers = scenario_tiers(c)
        if tiers is not None:
            out["instrument"].update(tiers)
        out["margin"] = self.margin_rule()
        fee = self.fees.liquidation_fee_for(c.symbol)
        out["fees"]["liquidation_fee_rate"] = str(to_decimal(fee or Fraction(0), 8))
        lq = self.liquidation
        mech = out["mechanisms"]
        if lq.style == "tier_steps":
            mech["partial_liquidation"] = {"enabled": True, "mode": "tier"}
            if lq.tiers_per_step != 1:  # OKX, Bitget: N tiers a step (one: the engine's search of every lower tier)
                mech["partial_liquidation"]["tiers_per_step"] = lq.tiers_per_step
            if lq.full_below_tier != 1:  # OKX: tiers 1-2 closed whole
                mech["partial_liquidation"]["whole_tiers"] = lq.full_below_tier
        elif lq.style == "slices":
            mech["partial_liquidation"] = {
                "enabled": True,
                "mode": "slice",
                "slice_fraction": str(to_decimal(lq.slice_fraction, 6)),
                "slice_min_notional": str(Decimal(lq.slice_above) / c.money_scale),
                "cooldown_s": lq.cooldown_s,
            }
        elif lq.style == "incremental":  # Deribit: lots a round, rounds a second
            mech["incremental_liquidation"] = {
                "enabled": True,
                "lots_per_round": lq.increment_lots,
                "rounds_per_s": lq.rounds_per_s,
            }
        if lq.backstop_below_mm is not None:
            mech["backstop"] = {"enabled": True, "equity_ratio": str(to_decimal(lq.backstop_below_mm, 6))}
        if lq.style == "takeover":  # Drift: a liquidator takes the position at the oracle
            mech["backstop"] = {"enabled": True, "style": "oracle-takeover"}
        if lq.loss_after_fund in ("socialized_winners", "socialized_funding"):
            mech["socialized_loss"] = {"enabled": True}
            if lq.loss_after_fund == "socialized_funding":  # Drift: through the cumulative funding rate
                mech["socialized_loss"]["mode"] = "funding"
        if lq.insurance_keep or lq.insurance_max_payout is not None:
            cap: dict[str, object] = {"enabled": True, "keep": str(to_decimal(lq.insurance_keep, 6))}
            if lq.insurance_max_payout is not None:
                cap["max_payout"] = str(to_decimal(lq.insurance_max_payout, 6))
            mech["insurance_cap"] = cap
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

    def margin_rule(self) -> dict[str, str]:
        """The scenario's ``[margin]`` options of this rulebook (:class:`delever.config.margin.MarginConfig`): the
        MM on entry value where the liquidation price is published on the entry basis (BitMEX, Bybit isolated:
        :attr:`lp_basis_isolated`, :attr:`lp_basis_cross`), and the rate added to the MMR
        (:attr:`liquidation_extra_mmr`: OKX's fee rate, BitMEX's taker fee)."""
        out: dict[str, str] = {}
        if self.lp_basis_isolated == "entry":
            out["maintenance_value_isolated"] = "entry"
        if self.lp_basis_cross == "entry":
            out["maintenance_value_cross"] = "entry"
        if self.liquidation_extra_mmr:
            out["mmr_fee_rate"] = str(to_decimal(self.liquidation_extra_mmr, 8))
        return out

    def engine_gaps(self, symbol: str | None = None) -> list[str]:
        """The rules of this rulebook that :meth:`scenario_overrides` cannot express (so a run under it
        approximates them): stated, so a comparison never silently mixes rules. What the venue does not publish,
        and the engine therefore runs with a stated stand-in, is :meth:`engine_stand_ins` instead."""
        c = self.contract(symbol or self.engine_symbol())
        gaps = []
        if "tiers" not in self.scenario_overrides(c.symbol).get("instrument", {}):  # type: ignore[operator]
            gaps.append(f"tiers ({c.contract}, {c.margin.kind}): the scenario keeps its own tier table")
        ioc = self.liquidation.style == "fillable_price_ioc"  # its fills settle as dYdX's (delever.ioc_order)
        if self.liquidation.step_limits() and not ioc:
            gaps.append(
                "per-block limits: the insurance fund's loss per subaccount per block (MaxQuantumsInsuranceLost) is "
                "not modelled; a position or account limit binds solvent accounts only (an account that a limited "
                "order would leave below zero is closed whole)"
            )
        if self.engine_adl_policy() is None:
            gaps.append(f"ADL queue {self.adl.queue}: no engine policy")
        gaps.extend(self._adl_trigger_gaps())
        return gaps

    def _adl_trigger_gaps(self) -> list[str]:
        """What :meth:`engine_adl_rule` leaves out of this rulebook's ADL trigger."""
        t = self.adl.trigger
        run = self.engine_adl_rule()["trigger"]
        if t.kind == "negative_equity" and t.fund_first and run != "zero-fill":
            return [
                "ADL trigger negative_equity after a liquidation order that filled nothing (TNC < 0): the engine "
                "has the fund pay first and deleverages, in the same step, the part the fund cannot pay"
            ]
        if t.kind not in ("fund_cannot_pay", "none") and run == "fund-cannot-pay":
            return [f"ADL trigger {t.kind}: the engine triggers ADL when the fund cannot pay"]
        return []

    def engine_stand_ins(self) -> list[str]:
        """What this rulebook's venue does not publish and a run under it therefore takes from a stated stand-in
        (the rule itself runs: :meth:`engine_gaps` lists what does not)."""
        out = []
        if self.contract(self.engine_symbol()).contract == "inverse":
            c = self.contract(self.engine_symbol())
            out.append(
                f"A USDT-margined scenario under the inverse {c.symbol}: its book and amounts convert to {c.settle} "
                f"at the run's first index price, 1 USDT taken as 1 {c.quote} (delever.inverse.coin_book)"
            )
        if self.liquidation.style == "ioc_assignment_unwind":
            out.append(
                "liquidation style ioc_assignment_unwind: who opts in to the Position Assignment Program is not "
                "published, so the IOC's unfilled rest is not assigned to liquidity providers as separate "
                "counterparties: it is unwound at BP against the opposing positions"
            )
        t = self.adl.trigger
        run = self.engine_adl_rule()["trigger"]
        if t.kind == "pnl_drawdown" and run == "fund-drawdown":
            out.append(
                "ADL trigger pnl_drawdown over a pool of several symbols: a pool of one symbol, the engine's fund "
                "(pnlRatio = the fund's drawdown from its 8 h peak, its balance live, not T+1); "
                "adlTriggerThreshold (the API example's 10,000) checked at each step's start"
            )
        if t.kind == "fund_drawdown" and t.window_hours is None and run == "fund-drawdown":
            out.append(
                "ADL trigger fund_drawdown: the peak since the run's start (no window published), ADL ends when the "
                "drawdown is back under 30% (the end threshold, 90% of an unpublished one, is not known), the "
                "deficit part deleveraged while on"
            )
        return out
