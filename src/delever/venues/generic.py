"""A rulebook with every parameter explicit, built from a plain dict (a scenario file's ``[venue]`` table,
JSON, or Python).

:func:`from_dict` requires **every** key of :data:`EXAMPLE` (``null``/``None`` where a rule does not apply)
and rejects unknown ones, so nothing is silently defaulted. Amounts are decimal strings in the settlement
asset (``slice_above``) or the quote (tier caps), rates are fractions as decimal strings (``"0.004"`` =
0.4%). Margin schedules (``margin.kind``):

- ``brackets``: ``tiers = [[cap, max_leverage, mmr, imr|null], ...]``, Binance-style with derived maintenance
  amounts (:meth:`delever.tiers.RiskTiers.from_brackets`); ``deduction: false`` drops them (Bitget's MM =
  MMR x PV);
- ``size_brackets``: ``tiers = [[cap_lots, max_leverage, mmr, imr], ...]`` (OKX, by contracts);
- ``steps``: ``base_limit, step, base_mmr, base_imr, step_rate, max_steps`` (BitMEX);
- ``size_linear``: ``im_base, mm_base, slope`` per base unit (Deribit).

The registered ``generic`` rulebook is :data:`EXAMPLE`: the engine's built-in rules of issue #2 (README "The
model"): Binance's 2021 BTCUSDT brackets, full liquidation with a 0.3% fee to the fund, ADL when the fund cannot
pay, ranked by BitMEX's key, filled at the bankruptcy price, 5 lights.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..errors import InputError
from ..tiers import RiskTiers
from .exact import INVERSE_MONEY_SCALE, LINEAR_MONEY_SCALE, frac
from .margin_models import (
    BracketMargin,
    MarginModel,
    SizeBracketMargin,
    SizeLinearMargin,
    StepMargin,
    scaled_brackets,
    without_deduction,
)
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure, PriceRounding
from .adl_rules import AdlRule, AdlTrigger, INDICATORS, SCORES
from .rulebook import Rulebook

EXAMPLE: dict[str, Any] = {
    "name": "generic",
    "display_name": "Generic (the engine's built-in rules)",
    "summary": "Every parameter explicit; this instance is the engine's issue-#2 rule set.",
    "sources": ["../shared/specs/venues.md sections 1-2 (Binance tiers and fee, BitMEX ranking and lights)"],
    "stand_ins": ["Built as the engine's defaults; a user's dict replaces every rule."],
    "lp_basis": {"isolated": "mark", "cross": "mark"},
    "rounding": {"long": "ceil", "short": "floor"},
    "liquidation_extra_mmr": "0",
    "leverage_fee_reserve": "0",
    "instruments": {
        "BTCUSDT": {
            "contract": "linear",
            "base": "BTC",
            "quote": "USDT",
            "settle": "USDT",
            "tick_size": "0.1",
            "lot_size": "0.001",
            "contract_size": "1",
            "source": "the repository's default instrument (src/delever/data/scenarios)",
            "margin": {
                "kind": "brackets",
                "deduction": True,
                "tiers": [
                    ["50000", 125, "0.004", "0.008"],
                    ["250000", 100, "0.005", "0.01"],
                    ["1000000", 50, "0.01", "0.02"],
                    ["10000000", 20, "0.025", "0.05"],
                    ["20000000", 10, "0.05", "0.10"],
                    ["50000000", 5, "0.10", "0.20"],
                    ["100000000", 4, "0.125", "0.25"],
                    ["200000000", 3, "0.15", "0.333"],
                    ["300000000", 2, "0.25", "0.50"],
                    ["500000000", 1, "0.50", "1.00"],
                ],
            },
        },
    },
    "liquidation": {
        "style": "full",
        "summary": "The whole position walks the book; the fund pays fills below BP; ADL after.",
        "loss_after_fund": "adl",
        "surplus_to": "insurance_fund",
        "tiers_per_step": 0,
        "full_below_tier": 1,
        "slice_fraction": "1",
        "slice_above": "0",
        "cooldown_s": 0,
        "backstop_below_mm": None,
        "increment_lots": 0,
        "rounds_per_s": 0,
    },
    "adl": {
        "trigger": {
            "kind": "fund_cannot_pay",
            "summary": "The fund cannot pay a bankrupt fill.",
            "drawdown": None,
            "window_hours": None,
            "pnl_ratio_start": None,
            "pnl_ratio_stop": None,
            "balance_threshold": None,
        },
        "ranking": "bitmex",
        "ranking_summary": "PnL% x effective leverage (BitMEX).",
        "fill_price": "bankruptcy",
        "indicator": "bitmex_lights",
        "indicator_summary": "5 lights, 20% steps.",
        "queue": "ranked",
    },
    "fees": {
        "liquidation_fee": "0.003",
        "liquidation_fee_to": "insurance_fund",
        "adl_fee": "none",
        "taker_fee": "0",
        "summary": "0.3% of the closed notional to the fund.",
    },
    "funding": {
        "style": "clamped_interest",
        "interval_hours": 8,
        "summary": "F = P + clamp(I - P, 0.05%, -0.05%).",
        "interest": "0.0001",
        "clamp": "0.0005",
        "cap": None,
        "dead_band": "0",
        "payments_per_interval": 1,
    },
}
"""The registered ``generic`` rulebook's dict: a template listing every key :func:`from_dict` needs."""


def _take(d: Any, keys: tuple[str, ...], path: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check ``d`` is a mapping with exactly ``keys`` (plus ``optional`` ones); return it as a dict."""
    if not isinstance(d, Mapping):
        raise InputError(f"must be a table/dict (got {type(d).__name__})", field=path or "venue")
    missing = [k for k in keys if k not in d]
    if missing:
        raise InputError(
            f"missing key(s): {', '.join(missing)} (every parameter must be explicit)", field=path or "venue"
        )
    extra = [k for k in d if k not in keys and k not in optional]
    if extra:
        raise InputError(f"unknown key(s): {', '.join(map(str, extra))}", field=path or "venue")
    return dict(d)


def _f(x: Any, path: str, *, allow_none: bool = False) -> Fraction | None:
    if x is None:
        if allow_none:
            return None
        raise InputError("must not be null", field=path)
    try:
        return frac(str(x))
    except (ValueError, ArithmeticError):
        raise InputError(f"not a number: {x!r}", field=path) from None


def _choice(x: Any, allowed: tuple[str, ...], path: str) -> str:
    if x not in allowed:
        raise InputError(f"must be one of {', '.join(allowed)} (got {x!r})", field=path)
    return str(x)


def _margin(m: Any, path: str, money_scale: int, lot_size: Decimal) -> MarginModel:
    kind = _take(
        m,
        ("kind",),
        path,
        optional=(
            "tiers",
            "deduction",
            "base_limit",
            "step",
            "base_mmr",
            "base_imr",
            "step_rate",
            "max_steps",
            "im_base",
            "mm_base",
            "slope",
        ),
    )["kind"]
    kind = _choice(kind, ("brackets", "size_brackets", "steps", "size_linear"), f"{path}.kind")
    try:
        if kind == "brackets":
            d = _take(m, ("kind", "tiers", "deduction"), path)
            rows = [(str(r[0]), r[1], str(r[2]), None if r[3] is None else str(r[3])) for r in d["tiers"]]
            tiers: RiskTiers = scaled_brackets(path, rows, money_scale)
            return BracketMargin(tiers if d["deduction"] else without_deduction(path, tiers))
        if kind == "size_brackets":
            d = _take(m, ("kind", "tiers"), path)
            return SizeBracketMargin.build(path, [(int(r[0]), r[1], str(r[2]), str(r[3])) for r in d["tiers"]])
        if kind == "steps":
            d = _take(m, ("kind", "base_limit", "step", "base_mmr", "base_imr", "step_rate", "max_steps"), path)
            return StepMargin(
                path,
                int(Fraction(str(d["base_limit"])) * money_scale),
                int(Fraction(str(d["step"])) * money_scale),
                frac(str(d["base_mmr"])),
                frac(str(d["base_imr"])),
                frac(str(d["step_rate"])),
                int(d["max_steps"]),
            )
        d = _take(m, ("kind", "im_base", "mm_base", "slope"), path)
        return SizeLinearMargin(path, lot_size, frac(str(d["im_base"])), frac(str(d["mm_base"])), frac(str(d["slope"])))
    except InputError:
        raise
    except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
        raise InputError(f"bad margin schedule: {exc}", field=path) from None


def from_dict(d: Mapping[str, Any]) -> Rulebook:
    """Build a :class:`~delever.venues.rulebook.Rulebook` from a dict shaped like :data:`EXAMPLE`.

    Raises:
        InputError: a missing, unknown or invalid key; ``field`` is its dotted path
            (``instruments.BTCUSDT.margin.kind``).
    """
    top = _take(d, tuple(EXAMPLE), "")
    instruments: dict[str, VenueInstrument] = {}
    if not isinstance(top["instruments"], Mapping) or not top["instruments"]:
        raise InputError("must list at least one contract", field="instruments")
    for sym, spec in top["instruments"].items():
        p = f"instruments.{sym}"
        s = _take(spec, tuple(EXAMPLE["instruments"]["BTCUSDT"]), p)
        contract = _choice(s["contract"], ("linear", "inverse"), f"{p}.contract")
        scale = LINEAR_MONEY_SCALE if contract == "linear" else INVERSE_MONEY_SCALE
        try:
            lot = Decimal(str(s["lot_size"]))
            instruments[str(sym)] = VenueInstrument(
                str(sym),
                contract,
                str(s["base"]),
                str(s["quote"]),
                str(s["settle"]),
                Decimal(str(s["tick_size"])),
                lot,
                Decimal(str(s["contract_size"])),
                _margin(s["margin"], f"{p}.margin", scale, lot),
                str(s["source"]),
            )
        except InputError:
            raise
        except (ValueError, ArithmeticError) as exc:
            raise InputError(str(exc), field=p) from None

    lq = _take(top["liquidation"], tuple(EXAMPLE["liquidation"]), "liquidation")
    liquidation = LiquidationProcedure(
        style=_choice(
            lq["style"],
            ("full", "tier_steps", "slices", "incremental", "takeover", "ioc_assignment_unwind", "fillable_price_ioc"),
            "liquidation.style",
        ),  # type: ignore[arg-type]
        summary=str(lq["summary"]),
        loss_after_fund=_choice(
            lq["loss_after_fund"],
            ("adl", "backstop_then_adl", "socialized_funding", "socialized_winners", "assignment_then_unwind"),
            "liquidation.loss_after_fund",
        ),  # type: ignore[arg-type]
        surplus_to=_choice(lq["surplus_to"], ("insurance_fund", "trader"), "liquidation.surplus_to"),  # type: ignore[arg-type]
        tiers_per_step=int(lq["tiers_per_step"]),
        full_below_tier=int(lq["full_below_tier"]),
        slice_fraction=_f(lq["slice_fraction"], "liquidation.slice_fraction"),  # type: ignore[arg-type]
        slice_above=int(
            _f(lq["slice_above"], "liquidation.slice_above")  # type: ignore[operator]
            * LINEAR_MONEY_SCALE
        ),
        cooldown_s=float(lq["cooldown_s"]),
        backstop_below_mm=_f(lq["backstop_below_mm"], "liquidation.backstop_below_mm", allow_none=True),
        increment_lots=int(lq["increment_lots"]),
        rounds_per_s=int(lq["rounds_per_s"]),
    )

    a = _take(top["adl"], tuple(EXAMPLE["adl"]), "adl")
    t = _take(a["trigger"], tuple(EXAMPLE["adl"]["trigger"]), "adl.trigger")
    trigger = AdlTrigger(
        kind=_choice(
            t["kind"],
            ("fund_cannot_pay", "fund_drawdown", "pnl_drawdown", "negative_equity", "assignment_unfilled", "none"),
            "adl.trigger.kind",
        ),  # type: ignore[arg-type]
        summary=str(t["summary"]),
        drawdown=_f(t["drawdown"], "adl.trigger.drawdown", allow_none=True),
        window_hours=None if t["window_hours"] is None else int(t["window_hours"]),
        pnl_ratio_start=_f(t["pnl_ratio_start"], "adl.trigger.pnl_ratio_start", allow_none=True),
        pnl_ratio_stop=_f(t["pnl_ratio_stop"], "adl.trigger.pnl_ratio_stop", allow_none=True),
        balance_threshold=_f(t["balance_threshold"], "adl.trigger.balance_threshold", allow_none=True),
    )
    adl = AdlRule(
        trigger=trigger,
        ranking=_choice(a["ranking"], tuple(SCORES), "adl.ranking"),
        ranking_summary=str(a["ranking_summary"]),
        fill_price=_choice(a["fill_price"], ("bankruptcy", "mark", "previous_mark", "none"), "adl.fill_price"),  # type: ignore[arg-type]
        indicator=_choice(a["indicator"], tuple(INDICATORS), "adl.indicator"),
        indicator_summary=str(a["indicator_summary"]),
        queue=_choice(a["queue"], ("ranked", "random_offset", "none"), "adl.queue"),
    )  # type: ignore[arg-type]

    f = _take(top["fees"], tuple(EXAMPLE["fees"]), "fees")
    fees = FeeRule(
        liquidation_fee=_f(f["liquidation_fee"], "fees.liquidation_fee", allow_none=True),
        liquidation_fee_to=str(f["liquidation_fee_to"]),
        adl_fee=str(f["adl_fee"]),
        taker_fee=_f(f["taker_fee"], "fees.taker_fee"),  # type: ignore[arg-type]
        summary=str(f["summary"]),
    )

    fu = _take(top["funding"], tuple(EXAMPLE["funding"]), "funding")
    funding = FundingRule(
        style=_choice(fu["style"], ("clamped_interest", "moving_average", "dead_band", "premium"), "funding.style"),  # type: ignore[arg-type]
        interval_hours=int(fu["interval_hours"]),
        summary=str(fu["summary"]),
        interest=_f(fu["interest"], "funding.interest"),  # type: ignore[arg-type]
        clamp=_f(fu["clamp"], "funding.clamp", allow_none=True),
        cap=_f(fu["cap"], "funding.cap", allow_none=True),
        dead_band=_f(fu["dead_band"], "funding.dead_band"),  # type: ignore[arg-type]
        payments_per_interval=int(fu["payments_per_interval"]),
    )

    basis = _take(top["lp_basis"], ("isolated", "cross"), "lp_basis")
    rnd = _take(top["rounding"], ("long", "short"), "rounding")
    return Rulebook(
        name=str(top["name"]),
        display_name=str(top["display_name"]),
        summary=str(top["summary"]),
        sources=tuple(map(str, top["sources"])),
        instruments=instruments,
        liquidation=liquidation,
        adl=adl,
        fees=fees,
        funding=funding,
        rounding=PriceRounding(
            _choice(rnd["long"], ("ceil", "floor"), "rounding.long"),  # type: ignore[arg-type]
            _choice(rnd["short"], ("ceil", "floor"), "rounding.short"),  # type: ignore[arg-type]
            "explicit (generic rulebook)",
        ),
        lp_basis_isolated=_choice(basis["isolated"], ("mark", "entry"), "lp_basis.isolated"),  # type: ignore[arg-type]
        lp_basis_cross=_choice(basis["cross"], ("mark", "entry"), "lp_basis.cross"),  # type: ignore[arg-type]
        liquidation_extra_mmr=_f(top["liquidation_extra_mmr"], "liquidation_extra_mmr"),  # type: ignore[arg-type]
        leverage_fee_reserve=_f(top["leverage_fee_reserve"], "leverage_fee_reserve"),  # type: ignore[arg-type]
        stand_ins=tuple(map(str, top["stand_ins"])),
    )


def example() -> dict[str, Any]:
    """A deep copy of :data:`EXAMPLE`, to edit and pass to :func:`from_dict`."""
    return copy.deepcopy(EXAMPLE)


RULEBOOK = from_dict(EXAMPLE)
