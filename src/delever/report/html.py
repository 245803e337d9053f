"""Write the self-contained HTML report of one run (``report.html`` of ``delever run``).

The page (:mod:`delever.report.page`) holds the summary (every value with its unit), prices (index, mark and
the venue's last trade per instrument, with expiry markers for dated futures), liquidations and ADL on a time
axis zoomed to where they happen, the insurance fund(s) and bad debt, effective-leverage distributions, the ADL
indicator lights (only when they differ), the money moved per transfer (payer -> payee) apart from the fills'
realized PnL, and the provenance of every input. Money is shown in quote units with 2 decimals; the exact
values are in the run's files. Same arguments, byte-identical page.

Raw events are never embedded (a run can have ~500k); line series are downsampled with min/max kept per bucket
so a one-step crash low survives; per-step bars keep every non-zero step and are summed into buckets only when
there are too many (:mod:`delever.report.figures`).
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pyarrow as pa
from markupsafe import Markup

from delever.events import KIND_NAMES

from . import format as fmt
from .figures import (
    MAX_POINTS,
    bar_buckets,
    minmax_indices,
    time_labels,
    time_range,
)
from .page import section, write_page
from .run_leverage import adl_indicator_html, leverage_html
from .run_tables import events_html, inputs_html, summary_html
from .run_timeline import adl_html, insurance_html, liquidations_html, prices_html

__all__ = ["write_report", "format_value", "minmax_indices", "bar_buckets", "EVENT_KINDS", "MAX_POINTS"]

EVENT_KINDS = KIND_NAMES
"""Event kinds in the order the pipeline produces them (the order of the event tables)."""


def format_value(key: str, value: Any) -> str:
    """A summary value as the page shows it (:func:`delever.report.format.summary_value`)."""
    return fmt.summary_value(key, value)


# ----------------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------------


def write_report(
    path: pathlib.Path,
    *,
    title: str,
    summary: dict,
    steps: pa.Table,
    events: pa.Table,
    leverage_liquidated: np.ndarray,
    leverage_adl: np.ndarray,
    adl_indicator: np.ndarray | None,
    inputs: list[dict],
    extra_sections: list[dict] | None = None,
    instrument_steps: list[dict] | None = None,
    quote: str = "USDT",
    base: str = "BTC",
    price_unit: str | None = None,
) -> None:
    """Write the HTML report of one run to ``path`` (UTF-8, self-contained, deterministic).

    Args:
        path: output file; its parent directory must exist.
        title: page title and ``<h1>``.
        summary: flat dict of JSON-able scalars (counts, quote amounts as float or decimal strings,
            percentages), shown in order as the "Summary" table with units (:data:`format.SUMMARY_FIELDS`).
        steps: one row per step, columns ``step`` int64, ``time`` timestamp[ns, tz=UTC], ``index_price``,
            ``mark_price``, ``trade_price`` (quote per base), ``liquidated_notional`` (quote in that step),
            ``liquidations`` int64, ``insurance_fund`` (quote, end of step), ``adl_notional`` (quote in that
            step), ``adl_fills`` int64, ``bad_debt`` (cumulative bad debt, quote).
        events: one row per event, columns ``step``, ``time``, ``account``, ``counterparty``, ``instrument``,
            ``kind`` (see :data:`EVENT_KINDS`), ``size`` (base, signed), ``price`` (quote), ``amount`` (quote);
            only aggregated per (instrument, kind) into the page.
        leverage_liquidated: shape (n_liq,), entry leverage of each liquidated position.
        leverage_adl: shape (n_adl,), entry leverage of each ADL'd counterparty position.
        adl_indicator: shape (n_adl,), ADL indicator light 1..5 of each ADL'd position when hit; None if
            unknown.
        inputs: provenance rows ``{"name", "kind": "real"|"generated"|"assumed", "value", "source"}``.
        extra_sections: ``{"title", "html"}`` sections appended at the end; ``html`` is trusted and inserted
            raw.
        instrument_steps: for a multi-instrument run, one ``{"symbol", "base", "steps", "expiry_ns",
            "fund_shared"}`` per instrument (``steps`` with the columns above, ``expiry_ns`` None for a perpetual,
            ``fund_shared`` True when one insurance fund serves every instrument); None: ``steps`` is the only
            instrument's.
        quote, base: unit names of money and of the (first) instrument's quantity.
        price_unit: the unit of prices where it is not ``quote per base`` (an inverse contract: ``USD per XBT``).
    """
    t = _step_series(steps)
    symbol = events.column("instrument")[0].as_py() if events.num_rows else ""
    series = (
        [
            {
                "symbol": d["symbol"],
                "base": d.get("base", base),
                "t": _step_series(d["steps"]),
                "expiry_ns": d.get("expiry_ns"),
            }
            for d in instrument_steps
        ]
        if instrument_steps
        else [{"symbol": symbol or "", "base": base, "t": t, "expiry_ns": None}]
    )
    x_range = time_range(t["ns"])
    shared = any(d.get("fund_shared") for d in instrument_steps or [])  # one insurance fund for every instrument
    sections: list[dict[str, Any]] = [
        section("summary", "Summary", summary_html(summary, quote, base, bool(instrument_steps), shared, price_unit)),
        section("prices", "Prices", prices_html(series, x_range, quote, price_unit)),
        section("liquidations", "Liquidations", liquidations_html(series, quote)),
        section(
            "insurance-fund",
            "Insurance fund and bad debt",
            insurance_html(t, series, x_range, quote, shared),
        ),  # fmt: skip
        section("adl", "Auto-deleveraging (ADL)", adl_html(series, quote)),
        section("leverage", "Effective leverage", leverage_html(leverage_liquidated, leverage_adl)),
        section("adl-indicator", "ADL indicator", adl_indicator_html(adl_indicator)),
        section("events", "Events by kind", events_html(events, quote)),
        section("inputs", "Inputs", inputs_html(inputs)),
    ]
    for i, extra in enumerate(extra_sections or []):
        sections.append(section(f"extra-{i + 1}", str(extra["title"]), Markup(str(extra["html"]))))
    n = len(t["step"])
    footer = (
        f"{n:,} steps, {events.num_rows:,} events. Money in {quote} with 2 decimals (exact values in "
        f"summary.json and events.parquet). Line series are downsampled to at most {MAX_POINTS:,} points each, "
        "keeping the minimum and maximum of every bucket; per-step bars keep every non-zero step unless there are "
        "more than that, then they are summed per bucket of steps."
    )
    write_page(path, title, sections, footer)


# ----------------------------------------------------------------------------------------------------------
# Data preparation
# ----------------------------------------------------------------------------------------------------------


def _step_series(steps: pa.Table) -> dict[str, np.ndarray]:
    """Columns of ``steps`` as numpy arrays (floats: NaN for nulls; ints: 0), plus ``ns`` (time, int64 ns)
    and ``x`` (UTC time labels)."""
    out: dict[str, np.ndarray] = {}
    names = set(steps.column_names)
    for name in (
        "index_price",
        "mark_price",
        "trade_price",
        "liquidated_notional",
        "insurance_fund",
        "adl_notional",
        "bad_debt",
    ):
        col = steps.column(name) if name in names else pa.array(np.zeros(steps.num_rows))
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    for name in ("step", "liquidations", "adl_fills"):
        col = steps.column(name).fill_null(0) if name in names else pa.array(np.zeros(steps.num_rows, np.int64))
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    out["ns"] = np.asarray(
        steps.column("time")
        .cast(pa.timestamp("ns", tz="UTC"))
        .cast(pa.int64())
        .fill_null(0)
        .to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    out["x"] = time_labels(out["ns"])
    return out
