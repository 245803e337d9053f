"""The report of a run with option series (issue #16, part 4): margin per account type, liquidations by instrument
kind, and what took the losses (insurance fund, ADL or socialized loss).

Inputs are summary.json's records: ``mechanisms.options`` (:class:`delever.options.engine_margin.OptionMargin`:
per account type, accounts, option maintenance margin at the start and at its peak, accounts liquidated; money in
micro-units) and ``mechanisms.cross_margin.instruments`` (per instrument, its kind; money in micro-units). The
row builders are shared with ``tools/readme.py``'s README tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from markupsafe import Markup

from ..units import MONEY_SCALE
from . import format as fmt
from .page import heading, note, table

KIND_LABELS = {"perpetual": "futures", "dated_future": "futures", "option": "options"}
"""Instrument kind -> the group it is counted in."""


def quote(units: int) -> Decimal:
    """Micro-units as quote units (exact)."""
    return Decimal(int(units)) / MONEY_SCALE


def account_type_rows(options: dict) -> list[dict[str, Any]]:
    """One row per account type: ``type``, ``accounts``, ``equity_start`` and ``futures_mm_start`` (the type's
    accounts' equity and futures MM at the start), ``mm_start`` and ``mm_peak`` (their option maintenance margin at
    the start and at its peak; all quote, Decimal), ``liquidated`` (accounts) and ``liquidated_share`` (of the
    type's accounts, 0 to 1)."""
    rows = []
    for name, rec in options["account_types"].items():
        n = int(rec["accounts"])
        rows.append(
            {
                "type": name,
                "accounts": n,
                "equity_start": quote(rec["equity_start"]),
                "futures_mm_start": quote(rec["futures_mm_start"]),
                "mm_start": quote(rec["option_mm_start"]),
                "mm_peak": quote(rec["option_mm_peak"]),
                "liquidated": int(rec["liquidated_accounts"]),
                "liquidated_share": rec["liquidated_accounts"] / n if n else 0.0,
            }
        )
    return rows


def kind_rows(instruments: list[dict]) -> list[dict[str, Any]]:
    """Per instrument kind (futures, options), summed over its instruments: ``instruments``, ``liquidations``,
    ``notional``, ``bad_debt``, ``adl_notional``, ``fund_flow`` (net paid into the fund; quote, Decimal)."""
    out: dict[str, dict[str, Any]] = {}
    for r in instruments:
        group = KIND_LABELS.get(r["kind"], r["kind"])
        zero = Decimal(0)
        row = out.setdefault(group, {"kind": group, "instruments": 0, "liquidations": 0, "notional": zero,
                                     "bad_debt": zero, "adl_notional": zero, "fund_flow": zero})  # fmt: skip
        row["instruments"] += 1
        row["liquidations"] += int(r["liquidations"])
        row["notional"] += quote(r["liquidated_notional"])
        row["bad_debt"] += quote(r["bad_debt"])
        row["adl_notional"] += quote(r["adl_notional"])
        row["fund_flow"] += quote(r["insurance_fund_flow"])
    return list(out.values())


def options_html(options: dict, summary: dict, quote_ccy: str = "USDT") -> Markup:
    """The options part of the report (module docstring)."""
    types = account_type_rows(options)
    rows = [
        [r["type"], fmt.count(r["accounts"]), fmt.money(r["equity_start"]), fmt.money(r["futures_mm_start"]),
         fmt.money(r["mm_start"]), fmt.money(r["mm_peak"]), fmt.count(r["liquidated"]),
         fmt.share(r["liquidated_share"])]
        for r in types
    ]  # fmt: skip
    header = ["account type", "accounts", f"equity at start ({quote_ccy})", f"futures MM at start ({quote_ccy})",
              f"option MM at start ({quote_ccy})", f"option MM at peak ({quote_ccy})", "accounts liquidated",
              "share liquidated"]  # fmt: skip
    parts = [
        heading("Margin per account type"),
        table(header, rows, {1, 2, 3, 4, 5, 6, 7}),
        note(
            f"Standard option margin ({options['margin']}), per lot and side at each step's index and the series' "
            "marks; the peak is the largest sum over the run's margin sweeps; equity and futures MM are exact at the "
            "first sweep. Covered call writers are long the "
            "perpetual and short calls of the same quantity, hedged put writers short both; every writer and buyer "
            "also holds its perpetual position in the same cross account."
        ),
    ]
    instruments = summary.get("mechanisms", {}).get("cross_margin", {}).get("instruments", [])
    if instruments:
        kinds = [
            [r["kind"], fmt.count(r["instruments"]), fmt.count(r["liquidations"]), fmt.money(r["notional"]),
             fmt.money(r["bad_debt"]), fmt.money(r["adl_notional"]), fmt.signed_money(r["fund_flow"])]
            for r in kind_rows(instruments)
        ]  # fmt: skip
        parts += [
            heading("Liquidations by instrument kind"),
            table(
                [
                    "kind",
                    "instruments",
                    "liquidations",
                    f"liquidated notional ({quote_ccy})",
                    f"bad debt ({quote_ccy})",
                    f"ADL notional ({quote_ccy})",
                    f"net into fund ({quote_ccy})",
                ],
                kinds,
                {1, 2, 3, 4, 5, 6},
            ),  # fmt: skip
        ]
    loss = [
        ["insurance fund start -> end", f"{fmt.money(summary.get('insurance_fund_start'))} -> "
         f"{fmt.money(summary.get('insurance_fund_end'))}"],
        ["insurance fund paid out", fmt.money(summary.get("insurance_fund_paid"))],
        ["bad debt", fmt.money(summary.get("bad_debt"))],
        ["socialized loss", fmt.money(summary.get("socialized_loss"))],
        ["ADL notional", fmt.money(summary.get("adl_notional"))],
        ["option positions kept once the futures' close made the account healthy",
         fmt.count(options.get("kept_option_positions", 0))],
    ]  # fmt: skip
    parts += [heading(f"Fund, ADL and socialized loss ({quote_ccy})"), table(["what", "value"], loss, {1})]
    return Markup("".join(str(p) for p in parts))
