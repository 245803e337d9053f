"""Report sections shared by pages: the ablation table, one section per enabled mechanism (what it did, and
the run with it against the same run without it), and the venue comparison.

Mechanism records come from :func:`delever.output.mechanisms_summary`: money already in quote units
(``Decimal``), except the per-instrument figures of ``cross_margin``, which are micro-units (int) and are
converted here; step numbers (circuit-breaker halts) are shown as UTC clock times when the step times are
given; long lists (funding rates) are summarized, never printed raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from markupsafe import Markup

from ..units import MONEY_SCALE
from . import format as fmt
from .options_section import options_html
from .page import heading, note, table

ABLATION_COLUMNS: dict[str, tuple[str, str]] = {
    "liquidations": ("liquidations", "count"),
    "liquidated_notional": ("liquidated notional", "money"),
    "bad_debt": ("bad debt", "money"),
    "bad_debt_unrecovered": ("unrecovered", "money"),
    "socialized_loss": ("socialized loss", "money"),
    "insurance_fund_end": ("fund end", "money"),
    "adl_notional": ("ADL notional", "money"),
    "accounts_adl": ("accounts ADL'd", "count"),
    "min_mark_price": ("min mark", "price"),
    "conservation_error": ("conservation error", "units"),
}
"""Ablation metric -> (column label, kind)."""

_FACTS: dict[str, tuple[str, str]] = {
    "fired_steps": ("steps in which it acted", "count"),
    "accounts": ("accounts it touched", "count"),
    "notional": ("notional it moved", "money"),
    "vault_pnl": ("backstop vault's PnL at the end", "money"),
    "halted_steps": ("steps with liquidation halted", "count"),
    "max_multiplier": ("largest margin multiplier", "x"),
    "elasticity": ("depth elasticity to volatility (fitted)", "number"),
    "min_depth_scale": ("smallest depth, as a share of normal", "share"),
    "system_leverage_last": ("system leverage at the last check", "x"),
}


def _cell(kind: str, v: Any, quote: str) -> str:
    if kind == "count":
        return fmt.count(v)
    if kind == "money":
        return fmt.money(v)
    if kind == "price":
        return fmt.price(v)
    if kind == "share":
        return fmt.share(v)
    if kind == "x":
        d = fmt.to_decimal(v)
        return fmt.NO_VALUE if d is None else f"{float(d):,.2f}x"
    if kind == "units":
        return fmt.count(v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    d = fmt.to_decimal(v)
    return str(v) if d is None else f"{float(d):,.4g}"


def ablation_table(rows: list[dict], quote: str = "USDT") -> Markup:
    """The ablation rows (:func:`delever.ablation.ablate`) as a scrolling table with units."""
    keys = [k for k in ABLATION_COLUMNS if rows and k in rows[0]]
    header = ["variant"] + [
        f"{ABLATION_COLUMNS[k][0]} ({quote})"
        if ABLATION_COLUMNS[k][1] == "money"
        else f"{ABLATION_COLUMNS[k][0]} ({quote} per base)"
        if ABLATION_COLUMNS[k][1] == "price"
        else f"{ABLATION_COLUMNS[k][0]} (micro-{quote})"
        if ABLATION_COLUMNS[k][1] == "units"
        else ABLATION_COLUMNS[k][0]
        for k in keys
    ]
    body = [[r["variant"], *(_cell(ABLATION_COLUMNS[k][1], r[k], quote) for k in keys)] for r in rows]
    return table(header, body, range(1, len(header)), nowrap=True) + note(
        "Each row is the same scenario and seed with the named mechanisms switched off; money in "
        f"{quote} (2 decimals; exact values in ablation.csv)."
    )


def _halts_html(halts: Sequence, step_ns: np.ndarray | None) -> Markup:
    rows = []
    for start, until in list(halts)[:50]:
        if step_ns is not None and len(step_ns):
            a = fmt.utc_clock(step_ns[min(int(start), len(step_ns) - 1)])
            b = fmt.utc_clock(step_ns[min(int(until), len(step_ns) - 1)])
        else:
            a, b = f"step {int(start):,}", f"step {int(until):,}"
        rows.append([a, b, fmt.count(int(until) - int(start))])
    more = f" (first 50 of {len(halts):,})" if len(halts) > 50 else ""
    return heading(f"Halts{more}") + table(["halted from (UTC)", "until (UTC)", "steps"], rows, {2})


def _rates_html(rates_ppb: Sequence[int]) -> Markup:
    r = np.asarray(rates_ppb, dtype=np.float64) / 1e7  # ppb of notional -> percent
    if r.size == 0:
        return note("No funding interval completed in this run.")
    rows = [[fmt.count(r.size), *(f"{x:+.4f}%" for x in (r.min(), np.median(r), r.max()))]]
    return heading("Funding rates per interval") + table(
        ["intervals", "lowest", "median", "highest"], rows, {0, 1, 2, 3}
    )


def _instruments_html(instruments: Sequence[dict], quote: str) -> Markup:
    """The per-instrument figures of a multi-instrument run (micro-units converted to quote)."""

    def m(v: Any) -> str:
        return fmt.money(Decimal(int(v)) / MONEY_SCALE)

    rows = []
    shared = any(d.get("insurance_fund_shared") for d in instruments)
    for d in instruments:
        settle = d.get("settlement") or {}
        rows.append(
            [
                d.get("symbol", ""),
                {"dated_future": "dated future", "option": "option"}.get(d.get("kind", ""), "perpetual"),
                fmt.count(d.get("liquidations", 0)),
                fmt.count(d.get("contagion_liquidations", 0)),
                m(d.get("liquidated_notional", 0)),
                m(d.get("bad_debt", 0)),
                m(d.get("insurance_fund_start", 0)) + (" (shared)" if shared else ""),
                m(d.get("insurance_fund_end", 0)) + (" (shared)" if shared else ""),
                m(d.get("insurance_fund_flow", 0)),
                m(d.get("adl_notional", 0)),
                fmt.price(d.get("min_mark")),
                fmt.quantity(d.get("open_interest_end")),
                (str(d.get("expiry") or "").replace("T", " ").replace("+00:00", " UTC") or "—")
                + (" (settled)" if settle else ""),
            ]
        )
    header = ["instrument", "kind", "liquidations", "of which contagion", f"liquidated notional ({quote})",
              f"bad debt ({quote})", f"fund start ({quote})", f"fund end ({quote})", f"net into fund ({quote})",
              f"ADL notional ({quote})",
              f"min mark ({quote})", "open interest end (base)", "expiry"]  # fmt: skip
    return (
        heading("Per instrument")
        + table(header, rows, range(2, 12), nowrap=True)
        + note(
            (
                "Each instrument keeps its own order book and ADL queue; one insurance fund is shared by all (its "
                "start and end on every row), and 'net into fund' is what each instrument's liquidations paid in "
                "(fees) less what they drew (payouts). "
                if shared
                else "Each instrument keeps its own order book, insurance fund and ADL queue; the summary's fund "
                "figures are their sum, and 'net into fund' is what each instrument's liquidations paid in (fees) "
                "less what they drew (payouts). "
            )
            + "A contagion liquidation closes a position that was itself in profit: its account was taken down by its "
            "positions on the other instruments."
        )
    )


def mechanism_sections(
    summary: dict, rows: list[dict], step_ns: np.ndarray | None = None, quote: str = "USDT"
) -> list[dict]:
    """One section (``{"title", "html"}``) per enabled mechanism: what it did, and bad debt and ADL with it on
    against the same run with it off (when ``rows`` has both variants)."""
    on = next((r for r in rows if r["variant"] == "all enabled"), None)
    sections = []
    for name, rec in summary.get("mechanisms", {}).items():
        off = next((r for r in rows if r["variant"] == f"without {name}"), None)
        facts = []
        for k, v in rec.items():
            if isinstance(v, (list, tuple, dict)):
                continue
            label, kind = _FACTS.get(k, (k.replace("_", " "), "number"))
            facts.append([label + (f" ({quote})" if kind == "money" else ""), _cell(kind, v, quote)])
        parts = [table(["what it did", "value"], facts, {1})]
        if "halts" in rec:
            parts.append(_halts_html(rec["halts"], step_ns))
        if "rates_ppb" in rec:
            parts.append(_rates_html(rec["rates_ppb"]))
        if "instruments" in rec:
            parts.append(_instruments_html(rec["instruments"], quote))
        if name == "options":
            parts.append(options_html(rec, summary, quote))
        if on is not None and off is not None:
            effect = []
            for k in ("liquidations", "bad_debt", "bad_debt_unrecovered", "insurance_fund_end", "adl_notional",
                      "accounts_adl"):  # fmt: skip
                label, kind = ABLATION_COLUMNS[k]
                a, b = on[k], off[k]
                change = (
                    fmt.signed_count(int(a) - int(b)) if kind == "count" else fmt.signed_money(Decimal(a) - Decimal(b))
                )
                unit = f" ({quote})" if kind == "money" else ""
                effect.append([label + unit, _cell(kind, a, quote), _cell(kind, b, quote), change])
            parts.append(heading("With it and without it (same scenario and seed)"))
            parts.append(table(["metric", "with it", "without it", "change"], effect, {1, 2, 3}))
        sections.append({"title": f"Mechanism: {name}", "html": Markup("".join(str(p) for p in parts))})
    return sections


def venue_table(rows: list[dict], quote: str = "USDT") -> Markup:
    """The venue comparison rows (:func:`delever.venues.scenario.compare_rows`) as a scrolling table."""
    header = ["venue", "ADL rule", "liquidations", f"bad debt ({quote})", f"unrecovered ({quote})",
              f"fund end ({quote})", f"ADL notional ({quote})", f"socialized ({quote})",
              "not expressible in the engine"]  # fmt: skip
    body = []
    for r in rows:
        gaps = "; ".join(r["gaps"][:3]) + (" ..." if len(r["gaps"]) > 3 else "")
        body.append(
            [r["venue"], r["adl_policy"], fmt.count(r["liquidations"]), fmt.money(r["bad_debt"]),
             fmt.money(r["bad_debt_unrecovered"]), fmt.money(r["insurance_fund_end"]), fmt.money(r["adl_notional"]),
             fmt.money(r["socialized_loss"]), gaps or "—"]
        )  # fmt: skip
    return table(header, body, range(2, 8), nowrap=True)
