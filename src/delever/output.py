"""What a run writes: ``summary.json``, ``events.parquet``, ``accounts.parquet`` (one row per account,
:func:`accounts_table`), ``steps.parquet`` and ``report.html``. The summary's fields are listed in
:mod:`delever.run_summary`.

Files are written into a temporary directory next to the target and moved into place at the end, so a
failed run leaves no partial output (:mod:`delever.outdir`: only a directory delever made is replaced).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from .engine import RunResult
from .hyperliquid_facts import replay_comparison
from .outdir import writing
from .output_tables import accounts_table, events_table, instrument_steps, report_events, steps_table
from .provenance import inputs_provenance
from .run_summary import mechanisms_summary, summarize

# The summary, the tables and the provenance live in their own modules; named here as the outputs' API.
__all__ = [
    "accounts_table",
    "events_table",
    "inputs_provenance",
    "instrument_steps",
    "leverage_samples",
    "mechanisms_summary",
    "steps_table",
    "summarize",
    "write_outputs",
]


def _json_default(o: object) -> object:
    if isinstance(o, Decimal):
        return float(o) if o != o.to_integral_value() else int(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def leverage_samples(r: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry leverage of liquidated and of ADL'd positions (one sample per position), and the ADL indicator
    each ADL'd position had when first hit."""
    e = r.events
    kind = e["kind"]
    fills = (kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)
    liq_pos = np.unique(e["position"][fills])
    adl = kind == ev.ADL_COUNTERPARTY_FILL
    adl_pos, first = np.unique(e["position"][adl], return_index=True)
    lev = r.book_start.entry_leverage
    return lev[liq_pos], lev[adl_pos], e["indicator"][adl][first]


def write_outputs(
    r: RunResult, out_dir: Path, extra_sections: list[dict] | None = None, ablation: pa.Table | None = None
) -> dict:
    """Write every output file into ``out_dir`` atomically (temp dir, then rename); return the summary.
    ``ablation``: the ablation's table (:func:`delever.ablation.table`), written as ``ablation.csv``."""
    from .report import write_report
    from .report.facts_section import facts_section

    summary = summarize(r)
    with writing(out_dir, "run") as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        pq.write_table(events_table(r), tmp / "events.parquet")
        pq.write_table(accounts_table(r), tmp / "accounts.parquet")
        steps = steps_table(r)
        pq.write_table(steps, tmp / "steps.parquet")
        if ablation is not None:
            import pyarrow.csv as pacsv

            pacsv.write_csv(ablation, tmp / "ablation.csv")
        lev_liq, lev_adl, ind = leverage_samples(r)
        report_summary = {
            k: float(v) if isinstance(v, Decimal) else v for k, v in summary.items() if not isinstance(v, dict)
        }
        write_report(
            tmp / "report.html",
            title=f"delever run: {r.scenario.name}",
            summary=report_summary,
            steps=steps,
            events=report_events(r),
            leverage_liquidated=lev_liq,
            leverage_adl=lev_adl,
            adl_indicator=ind,
            inputs=inputs_provenance(r),
            extra_sections=[
                facts_section(summary["facts"], replay_comparison(summary, r.scenario)),
                *(extra_sections or []),
            ],  # fmt: skip
            instrument_steps=instrument_steps(r),
            quote=r.instrument.quote,
            base=r.instrument.base,
            price_unit=f"{r.instrument.contract_quote} per {r.instrument.coin}" if r.instrument.inverse else None,
        )
    return summary
