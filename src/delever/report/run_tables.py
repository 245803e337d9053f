"""The tables of a run's report (:mod:`delever.report.html`): the summary with units, the events by kind with
the money moved per transfer (payer -> payee) apart from the fills' realized PnL, and the inputs' provenance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from markupsafe import Markup

from delever.events import KIND_NAMES

from . import format as fmt
from .page import note, table

TRANSFERS: dict[str, tuple[str, str, int]] = {
    "liquidation_fee": ("liquidated accounts", "insurance fund", -1),
    "insurance_payout": ("insurance fund", "bankrupt accounts", +1),
    "clawback": ("winning accounts", "socialized-loss pool", -1),
    "clawback_received": ("socialized-loss pool", "bankrupt accounts", +1),
    "funding": ("accounts paying funding", "funding pool", -1),
    "funding_received": ("funding pool", "accounts receiving funding", +1),
    "funding_rounding": ("funding rounding remainder", "insurance fund", +1),
    "backstop_margin": ("taken-over accounts", "backstop vault", -1),
}
"""Event kinds that move money from a payer to a payee: kind -> (payer, payee, sign of the rows counted).
Each transfer is logged from one or both sides; the table counts one side (rows of that sign) so that nothing
is counted twice. ``funding_received`` is the receiving side of ``funding`` (its rows with amount > 0)."""


FILLS: dict[str, str] = {
    "liquidation_fill": "liquidated positions closed in the book",
    "lp_fill": "liquidity providers' side of those fills",
    "adl_fill": "bankrupt positions closed by ADL",
    "adl_counterparty_fill": "ADL'd winners' positions closed",
    "deleverage_fill": "positions cut by proactive deleveraging",
    "backstop_takeover": "positions handed to the backstop vault",
    "backstop_vault_fill": "the backstop vault's side of the takeovers",
    "settlement": "dated-future positions settled at expiry",
}
"""Event kinds that close positions: their amount is the account's own realized PnL, not a transfer."""


def summary_html(
    summary: dict, quote: str, base: str, multi: bool = False, shared: bool = False, price_unit: str | None = None
) -> Markup:
    """The summary table; ``shared``: the instruments of a multi-instrument run share one insurance fund."""
    rows = []
    for k, v in summary.items():
        label = fmt.summary_label(k, quote, base, price_unit)
        if multi and k.startswith("insurance_fund"):
            label += ", one fund shared by every instrument" if shared else ", sum over instruments"
        elif multi and k in ("min_mark_price", "min_index_price", "max_mark_drawdown_pct", "open_interest_end"):
            label += ", first instrument"
        rows.append([label, fmt.summary_value(k, v)])
    tab = table(["quantity", "value"], rows, num_cols={1})
    if multi and shared:
        tab += note("Several instruments: one shared insurance fund, each its own ADL queue (per instrument below).")
    elif multi:
        tab += note("Several instruments: each has its own insurance fund and ADL queue (per instrument below).")
    return tab


def events_html(events: pa.Table, quote: str) -> Markup:
    n = events.num_rows
    if n == 0:
        return note("No events in this run.")
    size = np.asarray(events.column("size").to_numpy(zero_copy_only=False), dtype=np.float64)
    price = np.asarray(events.column("price").to_numpy(zero_copy_only=False), dtype=np.float64)
    amount = np.nan_to_num(np.asarray(events.column("amount").to_numpy(zero_copy_only=False), dtype=np.float64))
    kind = np.asarray(events.column("kind").cast(pa.string()).to_pylist(), dtype=object)
    # funding is logged from both sides in one kind: its receiving side gets its own transfer row
    kind = np.where((kind == "funding") & (amount > 0), "funding_received", kind)
    # Fee, payout and bad-debt rows carry no fill, so a missing size or price counts as zero notional.
    agg_in = pa.table(
        {
            "instrument": events.column("instrument").cast(pa.string()),
            "kind": pa.array(kind.tolist(), type=pa.string()),
            "account": events.column("account"),
            "abs_size": np.abs(np.nan_to_num(size)),
            "notional": np.abs(np.nan_to_num(size * price)),
            "gain": np.where(amount > 0, amount, 0.0),
            "loss": np.where(amount < 0, amount, 0.0),
            "events": np.ones(n, dtype=np.int64),
        }
    )
    # One thread: a fixed summation order, so float sums (and the page) are the same on every run.
    agg = (
        agg_in.group_by(["instrument", "kind"], use_threads=False)
        .aggregate(
            [
                ("events", "sum"),
                ("account", "count_distinct"),
                ("abs_size", "sum"),
                ("notional", "sum"),
                ("gain", "sum"),
                ("loss", "sum"),
            ]
        )
        .to_pylist()
    )
    order = {k: i for i, k in enumerate([*KIND_NAMES, "funding_received"])}
    agg.sort(key=lambda r: (r["instrument"] or "", order.get(r["kind"], len(order)), r["kind"] or ""))
    transfers, fills, other = [], [], []
    for r in agg:
        k = r["kind"]
        if k in TRANSFERS:
            payer, payee, sign = TRANSFERS[k]
            moved = -r["loss_sum"] if sign < 0 else r["gain_sum"]
            transfers.append([r["instrument"], k, Markup("{} &rarr; {}").format(payer, payee),
                              fmt.count(r["events_sum"]), fmt.money(moved)])  # fmt: skip
        elif k in FILLS:
            fills.append([r["instrument"], k, FILLS[k], fmt.count(r["events_sum"]),
                          fmt.count(r["account_count_distinct"]), fmt.quantity(round(r["abs_size_sum"], 8)),
                          fmt.money(r["notional_sum"]), fmt.money(r["gain_sum"]),
                          fmt.money(r["loss_sum"])])  # fmt: skip
        else:
            other.append([r["instrument"], k, fmt.count(r["events_sum"]), fmt.count(r["account_count_distinct"]),
                          fmt.money(r["loss_sum"] + r["gain_sum"])])  # fmt: skip
    parts = [Markup("<h3>Transfers: money moved from a payer to a payee</h3>")]
    if transfers:
        parts.append(
            table(["instrument", "kind", "payer → payee", "events", f"moved ({quote})"], transfers, {3, 4}, nowrap=True)
        )
    else:
        parts.append(note("No transfers in this run."))
    parts.append(Markup("<h3>Fills: positions closed, and the realized PnL of each side</h3>"))
    if fills:
        parts.append(
            table(
                ["instrument", "kind", "what", "events", "accounts", "Σ |size| (base)", f"Σ |size × price| ({quote})",
                 f"realized gains ({quote})", f"realized losses ({quote})"],
                fills, {3, 4, 5, 6, 7, 8}, nowrap=True,
            )
        )  # fmt: skip
        parts.append(
            note(
                "Realized PnL is each closed position's own result against its entry, shown as gains and losses "
                "apart: it is not money paid between the rows of this table (the other side of a book fill is the "
                "liquidity providers' row; of a settlement, the clearing pool), so the rows are not meant to sum."
            )
        )
    if other:
        parts.append(Markup("<h3>Shortfall left unrecovered</h3>"))
        parts.append(table(["instrument", "kind", "events", "accounts", f"amount ({quote})"], other, {2, 3, 4}))
    parts.append(note(f"{n:,} events aggregated per instrument and kind; the raw table is events.parquet."))
    return Markup("".join(str(p) for p in parts))


def inputs_html(inputs: list[dict]) -> Markup:
    intro = note(
        Markup(
            "Where each input comes from: <b>real</b> = measured data (its source is given), "
            "<b>generated</b> = drawn by the seeded generator, <b>assumed</b> = a parameter value we chose."
        )
    )
    if not inputs:
        return Markup(intro + note("No inputs recorded."))
    rows = []
    for row in inputs:
        kind = str(row.get("kind", ""))
        badge = Markup('<span class="kind kind-{0}">{0}</span>').format(kind)
        rows.append([row.get("name", ""), badge, row.get("value", ""), row.get("source", "")])
    return Markup(intro + table(["name", "kind", "value", "source"], rows))
