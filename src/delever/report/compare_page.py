"""The page of ``delever compare``: the same scenario under several ADL policies, side by side.

A table of the solvency side (bad debt, unrecovered, fund end) and the fairness side (who was ADL'd and how
much they gave up) per policy, every column with its unit, and each policy's distribution of haircuts per
ADL'd account (:mod:`delever.compare` computes the rows).
"""

from __future__ import annotations

import pathlib

import numpy as np
import plotly.graph_objects as go

from ..units import MONEY_SCALE
from . import format as fmt
from .figures import layout
from .page import figure, note, paragraph, section, table, write_page

COLUMNS: dict[str, tuple[str, str]] = {
    "liquidations": ("liquidations", "count"),
    "bad_debt": ("bad debt ({q})", "money"),
    "bad_debt_unrecovered": ("unrecovered ({q})", "money"),
    "insurance_fund_end": ("fund end ({q})", "money"),
    "adl_notional": ("ADL notional ({q})", "money"),
    "accounts_adl": ("accounts ADL'd", "count"),
    "haircut_total": ("haircuts, total ({q})", "money"),
    "haircut_max": ("largest haircut ({q})", "money"),
    "max_haircut_share_equity": ("largest haircut / equity (%)", "share"),
    "top1pct_share": ("top 1% share of haircuts (%)", "share"),
    "top10_share": ("top 10 share of haircuts (%)", "share"),
    "gini": ("Gini of haircuts", "ratio"),
    "leverage_median": ("median entry leverage (x)", "lev"),
    "leverage_p90": ("p90 entry leverage (x)", "lev"),
    "conservation_error": ("conservation error (micro-{q})", "count"),
}
"""Row key -> (column label with unit, kind)."""

LEAD = (
    "The same index path, book and seed under each ADL policy. A winner's haircut is what it gives up by being "
    "closed at the bankrupt account's bankruptcy price instead of the step's mark (Chitra 2025); per policy the "
    "table gives the solvency side (bad debt, unrecovered, fund end) and the fairness side over the accounts "
    "ADL'd: how many, the notional, the total and largest haircut, the largest haircut as a share of the "
    "account's equity, the top-1% and top-10 shares and the Gini coefficient of haircuts, and the median and "
    "90th-percentile entry leverage of the accounts touched."
)


def _cell(kind: str, v) -> str:
    if kind == "money":
        return fmt.money(v)
    if kind == "count":
        return fmt.count(v)
    if kind == "share":
        return fmt.share(v, 2)
    if kind == "lev":
        return f"{float(v):,.2f}"
    return f"{float(v):.3f}"


def haircut_figure(rows: list[dict], quote: str = "USDT") -> go.Figure | None:
    """Box plots (one per policy) of the positive haircuts per ADL'd account, log x axis; None if none."""
    fig = go.Figure()
    for r in rows:
        h = r["_haircuts"][r["_haircuts"] > 0] / MONEY_SCALE
        if h.size:
            fig.add_trace(go.Box(x=h, name=r["policy"], boxpoints=False, orientation="h"))
    if not fig.data:
        return None
    layout(fig, x_title=f"haircut per ADL'd account ({quote}, log scale)", y_title="ADL policy", hovermode="closest",
           height=max(320, 110 + 42 * len(fig.data)), showlegend=False, xaxis_type="log")  # fmt: skip
    fig.update_layout(margin={"l": 170})
    fig.update_xaxes(exponentformat="power")
    return fig


def compare_html(rows: list[dict], title: str, quote: str = "USDT") -> list[dict]:
    """The page's sections."""
    keys = [k for k in COLUMNS if rows and k in rows[0]]
    header = ["policy", *(COLUMNS[k][0].format(q=quote) for k in keys)]
    body = [[r["policy"], *(_cell(COLUMNS[k][1], r[k]) for k in keys)] for r in rows]
    sections = [
        section(
            "metrics",
            "Policies side by side",
            paragraph(LEAD)
            + table(header, body, range(1, len(header)), nowrap=True)
            + note(f"Money in {quote} with 2 decimals; exact values in compare.csv."),
        )
    ]
    fig = haircut_figure(rows, quote)
    has = [r for r in rows if np.any(r["_haircuts"] > 0)]
    sections.append(
        section(
            "haircuts",
            "Haircut per ADL'd account",
            (figure(fig, "fig-haircuts") if fig is not None else note("No policy took a positive haircut."))
            + note(
                f"Boxes: quartiles and median; whiskers: 1.5 interquartile ranges. {len(has)} of {len(rows)} policies "
                "took positive haircuts; accounts that gained from the close are not drawn on the log axis."
            ),
        )
    )
    return sections


def write_compare_page(path: pathlib.Path, rows: list[dict], title: str, quote: str = "USDT") -> None:
    """Write the compare page to ``path`` (self-contained, deterministic)."""
    write_page(path, title, compare_html(rows, title, quote), "The full table is compare.csv, next to this page.")
