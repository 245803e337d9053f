"""``delever compare``: the same scenario (path, book, seed) under several ADL policies, side by side.

In the cascade engine the winners' burden of an ADL fill is what they give up by closing at the bankrupt
account's bankruptcy price instead of the step's mark (the "haircut" of Chitra 2025; negative when the
bankruptcy price is better than the mark for them), and the lots closed. Per policy the table gives the
solvency side (bad debt, unrecovered, fund end) and the fairness side over ADL'd accounts: accounts touched,
ADL notional, total and largest haircut, the largest haircut as a share of the account's equity, top-1% and
top-10 shares and Gini of haircuts (:mod:`delever.adl.metrics`), and the median and p90 leverage at entry of
the accounts touched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from . import events as ev
from .adl.metrics import gini, top_share
from .adl.policies import POLICIES
from .engine import RunResult, prepare, run
from .output import summarize
from .outdir import writing
from .scenario import Scenario
from .units import MONEY_SCALE

COLUMNS = (
    "policy",
    "liquidations",
    "bad_debt",
    "bad_debt_unrecovered",
    "insurance_fund_end",
    "adl_notional",
    "accounts_adl",
    "haircut_total",
    "haircut_max",
    "max_haircut_share_equity",
    "top1pct_share",
    "top10_share",
    "gini",
    "leverage_median",
    "leverage_p90",
    "conservation_error",
)


def haircuts(r: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Per ADL'd account: (haircut vs the mark in money, clipped at 0 per account; account ids)."""
    e = r.events
    sel = e["kind"] == ev.ADL_COUNTERPARTY_FILL
    if not sel.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    acc = e["account"][sel]
    mark = r.steps.mark_ticks[e["step"][sel]]
    cost = e["size"][sel] * (e["price"][sel] - mark) * r.instrument.value_per_lot_tick
    ids, inv = np.unique(acc, return_inverse=True)
    per = np.zeros(ids.size, dtype=np.int64)
    np.add.at(per, inv, cost)
    return np.maximum(per, 0), ids


def policy_row(name: str, r: RunResult) -> dict:
    """One row of the comparison (money in quote units)."""
    s = summarize(r)
    h, ids = haircuts(r)
    start = r.book_start
    v = r.instrument.value_per_lot_tick
    mark0 = int(r.steps.mark_ticks[0]) if r.steps.mark_ticks.size else 0
    pos = start.first_position()[ids]
    equity0 = (
        (
            np.where(start.isolated[pos], start.collateral[pos], start.wallet[ids])
            + start.size[pos] * mark0 * v
            - start.cost[pos]
        )
        if ids.size
        else ids
    )
    share = np.where(equity0 > 0, h / np.maximum(equity0, 1), np.nan) if ids.size else np.zeros(0)
    lev = start.entry_leverage[pos] if ids.size else np.zeros(0)
    hs = np.sort(h.astype(np.float64))
    k1 = max(1, math.ceil(0.01 * hs.size))
    return {
        "policy": name,
        "liquidations": s["liquidations"],
        "bad_debt": float(s["bad_debt"]),
        "bad_debt_unrecovered": float(s["bad_debt_unrecovered"]),
        "insurance_fund_end": float(s["insurance_fund_end"]),
        "adl_notional": float(s["adl_notional"]),
        "accounts_adl": s["accounts_adl"],
        "haircut_total": float(h.sum()) / MONEY_SCALE,
        "haircut_max": float(h.max()) / MONEY_SCALE if h.size else 0.0,
        "max_haircut_share_equity": float(np.nanmax(share)) if share.size and np.isfinite(share).any() else 0.0,
        "top1pct_share": top_share(hs, k1, presorted=True) if hs.size and hs.sum() > 0 else 0.0,
        "top10_share": top_share(hs, 10, presorted=True) if hs.size and hs.sum() > 0 else 0.0,
        "gini": gini(hs, presorted=True) if hs.size and hs.sum() > 0 else 0.0,
        "leverage_median": float(np.median(lev)) if lev.size else 0.0,
        "leverage_p90": float(np.quantile(lev, 0.9)) if lev.size else 0.0,
        "conservation_error": s["conservation_error"],
        "quote": r.instrument.quote,
        "_haircuts": h,
    }


def compare(scenario: Scenario, seed: int, policies: list[str] | None = None, progress=None, store=None) -> list[dict]:
    """Run ``scenario`` once per policy (default: all) on one prepared market; return the rows.

    ``store`` (a :class:`delever.checkpoint.Checkpoint`): each finished policy's row is recorded there, and
    the rows already recorded are taken from it instead of run again (``delever compare --resume``)."""
    names = policies or list(POLICIES)
    done = store.finished() if store is not None else {}
    market = prepare(scenario, seed) if any(name not in done for name in names) else None
    rows = []
    for name in names:
        if name in done:
            rows.append(done[name])
            continue
        if progress:
            progress(name)
        sc = scenario.model_copy(update={"adl": scenario.adl.model_copy(update={"policy": name})})
        rows.append(policy_row(name, run(sc, seed, market=market)))
        if store is not None:
            store.record({name: rows[-1]})
    return rows


def write_compare(rows: list[dict], out_dir: Path, title: str) -> None:
    """``compare.csv`` and ``report.html`` (metrics side by side, haircut distribution per policy), atomically."""
    from .report.compare_page import write_compare_page

    with writing(out_dir, "compare") as tmp:
        table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
        pacsv.write_csv(table, tmp / "compare.csv")
        write_compare_page(tmp / "report.html", rows, title, quote=rows[0]["quote"] if rows else "USDT")
