"""The page of ``delever adl-event``: every ADL policy on the 16 waves of Hyperliquid's 10 October 2025 ADL.

Sections: the totals per policy under assumption (a) (with Hyperliquid's production row), each wave's needed
budget against what Hyperliquid's production ADL took, the distribution of what each policy took from the
accounts it touched, and the sensitivity of the ranking to assumption (b). Money in USD with 2 decimals;
the exact values are in the CSV files next to the page (:mod:`delever.adl_event` computes them).
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from ..units import MONEY_SCALE
from . import format as fmt
from .figures import COLORS, layout
from .page import figure, note, paragraph, section, table, write_page

PRODUCTION = "hyperliquid-production"


def _num(v: float, spec: str) -> str:
    return fmt.NO_VALUE if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _money(v: float) -> str:
    return fmt.NO_VALUE if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.money(v)


def _totals_html(result: dict) -> Markup:
    header = ["policy", "rank", "budget (USD)", "overshoot (USD)", "max haircut / ADL profit (%)",
              "top 1% share (%)", "top 10 share (%)", "Gini", "accounts touched", "median leverage (x)",
              "p90 leverage (x)"]  # fmt: skip
    rows = []
    for r in result["policies"]:
        touched = r["touched"]
        rows.append(
            [r["policy"], str(r["rank"]), _money(r["budget"]), _money(r["overshoot"]),
             _num(100 * r["max_share_pnl"], ".2f"), _num(100 * r["top1pct_share"], ".1f"),
             _num(100 * r["top10_share"], ".1f"), _num(r["gini"], ".3f"),
             fmt.NO_VALUE if touched != touched else fmt.count(int(touched)),
             _num(r["leverage_median"], ",.2f"), _num(r["leverage_p90"], ",.2f")]
        )  # fmt: skip
    inp = result["inputs"]
    return table(header, rows, range(1, len(header)), nowrap=True) + note(
        f"Assumption (a), all winners available in every wave. Needed over the event: "
        f"{fmt.money(inp['budget_needed_total'])} USD; Hyperliquid took {fmt.money(inp['production_budget_total'])}"
        f" USD. Rank 1 = smallest largest share of an account's ADL profit taken, then smallest Gini."
    )


def _waves_html(result: dict) -> Markup:
    prod = [r for r in result["waves"] if r["policy"] == PRODUCTION and r["assumption"] == "all-winners"]
    if not prod:
        return note("No waves.")
    waves = [str(r["wave"]) for r in prod]
    fig = go.Figure(
        [
            go.Bar(x=waves, y=[r["need"] for r in prod], name="needed (bankruptcy gap)", marker_color=COLORS["mark"]),
            go.Bar(x=waves, y=[r["budget"] for r in prod], name="Hyperliquid production", marker_color=COLORS["liq"]),
        ]
    )
    layout(fig, x_title="ADL wave (number)", y_title="budget (USD)", barmode="group", hovermode="x unified",
           xaxis_type="category")  # fmt: skip
    policies = sorted({r["policy"] for r in result["waves"] if r["policy"] != PRODUCTION})
    worst = {}
    for r in result["waves"]:
        if r["policy"] != PRODUCTION and r["assumption"] == "all-winners":
            worst[r["wave"]] = max(worst.get(r["wave"], 0.0), abs(r["budget"] - r["need"]))
    rows = [
        [str(r["wave"]), _money(r["need"]), _money(r["budget"]), _money(r["overshoot"]), _money(worst.get(r["wave"]))]
        for r in prod
    ]
    tab = table(
        ["wave", "needed (USD)", "Hyperliquid took (USD)", "overshoot (USD)",
         f"largest |policy budget - needed| over {len(policies)} policies (USD)"],
        rows, range(1, 5), nowrap=True,
    )  # fmt: skip
    return (
        figure(fig, "fig-waves")
        + tab
        + note(
            "Each policy is handed each wave's needed budget; the last column shows how closely they transfer it "
            "(whole-contract rounding)."
        )
    )


def haircut_figure(haircuts: dict[str, np.ndarray]) -> go.Figure | None:
    """Box plots of the positive haircut (USD) per touched account, one per policy, log x axis."""
    fig = go.Figure()
    for name, h in haircuts.items():
        v = np.asarray(h)[np.asarray(h) > 0] / MONEY_SCALE
        if v.size:
            fig.add_trace(go.Box(x=v, name=name, boxpoints=False, orientation="h"))
    if not fig.data:
        return None
    layout(fig, x_title="taken from an account over the event (USD, log scale)", y_title="ADL policy",
           hovermode="closest", height=max(320, 110 + 36 * len(fig.data)), showlegend=False,
           xaxis_type="log")  # fmt: skip
    fig.update_layout(margin={"l": 170})
    fig.update_xaxes(exponentformat="power")
    return fig


def _sensitivity_html(result: dict) -> Markup:
    header = ["policy", "rank (a)", "rank (b)", "max haircut / profit (a, %)", "(b, %)", "top 1% share (a, %)",
              "(b, %)", "Gini (a)", "Gini (b)", "touched (a)", "touched (b)"]  # fmt: skip
    rows = [
        [r["policy"], str(r["rank_all_winners"]), str(r["rank_by_adl_events"]),
         _num(100 * r["max_share_pnl_all_winners"], ".2f"), _num(100 * r["max_share_pnl_by_adl_events"], ".2f"),
         _num(100 * r["top1pct_share_all_winners"], ".1f"), _num(100 * r["top1pct_share_by_adl_events"], ".1f"),
         _num(r["gini_all_winners"], ".3f"), _num(r["gini_by_adl_events"], ".3f"),
         fmt.count(int(r["touched_all_winners"])), fmt.count(int(r["touched_by_adl_events"]))]
        for r in result["ranking"]
    ]  # fmt: skip
    spread = {}
    for r in result["sensitivity"]:
        if r["metric"] == "max_share_pnl":
            spread[r["policy"]] = (r["by_adl_events_min"], r["by_adl_events_max"])
    srows = [[p, _num(100 * a, ".2f"), _num(100 * b, ".2f")] for p, (a, b) in spread.items()]
    n = result["inputs"].get("replicas_by_adl_events", "?")
    return (
        table(header, rows, range(1, len(header)), nowrap=True)
        + paragraph(f"Spread of assumption (b) over {n} seeds (the random assignment of accounts to waves):")
        + table(["policy", "max haircut / profit, lowest (%)", "highest (%)"], srows, {1, 2}, nowrap=True)
    )


def adl_event_sections(result: dict, haircuts: dict[str, np.ndarray]) -> list[dict]:
    """The page's sections from :func:`delever.adl_event.run_adl_event`'s result and each policy's haircut per
    account under assumption (a) (int64 micro-USD, shape (accounts,))."""
    inp = result["inputs"]
    fig = haircut_figure(haircuts)
    assumptions = Markup("").join(Markup("<li>{}</li>").format(a) for a in inp.get("assumptions", []))
    return [
        section("totals", "Policies on the event (totals)", _totals_html(result)),
        section("waves", "Per wave: needed budget against Hyperliquid's production", _waves_html(result)),
        section(
            "haircuts",
            "What each policy took from the accounts it touched",
            (figure(fig, "fig-haircuts") if fig is not None else note("No policy took anything."))
            + note("Boxes: quartiles and median over the accounts touched; whiskers: 1.5 interquartile ranges."),
        ),
        section("sensitivity", "Sensitivity: assumption (a) against (b)", _sensitivity_html(result)),
        section("assumptions", "Assumptions", Markup("<ul>{}</ul>").format(assumptions)),
    ]


def write_adl_event_page(path: pathlib.Path, result: dict, haircuts: dict[str, np.ndarray]) -> None:
    """Write ``report.html`` of ``delever adl-event`` to ``path``."""
    inp = result["inputs"]
    title = f"delever adl-event: Hyperliquid 10 Oct 2025, {inp['waves']} waves, {fmt.count(inp['accounts'])} accounts"
    lead = (
        "Every ADL policy handed the needed budget of each of the 16 ADL waves of Hyperliquid's 10 October 2025 "
        "crash, scored next to what Hyperliquid actually did. Money in USD with 2 decimals; exact values in "
        "policies.csv, waves.csv and sensitivity.csv."
    )
    write_page(path, title, adl_event_sections(result, haircuts), "Inputs and their checksums: inputs.json.", lead)
