"""``delever adl-event``: the ADL policy lab on the real 10 October 2025 Hyperliquid event.

It rebuilds the pool of winners - the 19,337 accounts Hyperliquid auto-deleveraged between 21:16:04 and
21:26:57 UTC, with their ADL profit, cash-only account value, leverage and ADL notional - takes the 16 ADL
waves (needed budget, deficit, largest single loss, Hyperliquid's production budget) of Chitra's
reconstruction, hands each wave's needed budget to every policy of :mod:`delever.adl.policies`, and reports
the metrics of :mod:`delever.adl.metrics` per wave and in total, next to what Hyperliquid actually did.

Inputs (packaged, ``delever/data/hyperliquid_oct10``, see its SOURCE.md):

- ``adl_by_user_REALTIME.csv`` (one row per ADL'd account; the ``user`` column dropped): the pool;
- ``two_pass_equity_delta_by_wave_h0ms.csv``: per wave ``budget_needed_usd`` (B_t, the bankruptcy-gap
  transfer of the wave's ADL fills), ``budget_prod_usd`` (H_t, winners' equity lost in a two-pass replay,
  evaluated at the end of the wave), ``deficit_usd`` (D_t), ``max_loss_usd`` (Delta_t);
- ``bad_debt_loser_waves.csv``: ADL fills per wave (``n_rows``), for assumption (b);
- ``policy_per_wave_metrics.csv``, ``eval_horizon_sweep_gap5000ms.csv``: the paper's own per-wave budgets
  and the production overshoot at other evaluation horizons (reported, and cross-checked in tests);
- ``realtime_analysis_summary.json``, ``insurance_fund_results.json``, ``adl_by_coin_REALTIME.csv``: the
  replay's totals, for tracing the input sums.

The data are aggregates: which winner was ADL'd in which wave is not in them. The lab runs two assumptions
(:data:`ASSUMPTIONS`) and reports the sensitivity of every metric and of the policy ranking. Everything is
exact integer money inside; outputs are in USD.

Outputs (``--out``, default ``./delever-out/adl-event``, written atomically): ``policies.csv`` (one row per
policy, event totals under assumption (a), plus Hyperliquid's production row), ``waves.csv`` (one row per
wave and policy, both assumptions), ``sensitivity.csv`` (every metric of every policy under both
assumptions, with ranks), ``inputs.json`` (input totals traced to the files, the assumptions) and ``report.html``
(:mod:`delever.report.adl_event_page`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .adl.metrics import EVENT_FIELDS, ROUND_FIELDS, event_metrics, round_metrics
from .adl.policies import POLICIES, Winners, get_policy
from .adl_event_data import (
    ASSUMPTIONS,
    DEFAULT_SEED,
    FIXED_ASSUMPTIONS,
    EventData,
    input_summary,
    load_event,
    slot_capacity,
    units_to_usd,
    wave_slots,
)
from .errors import InputError
from .outdir import writing

# The event's data and assumptions live in delever.adl_event_data; named here too, as the lab's API.
__all__ = [
    "ASSUMPTIONS",
    "DEFAULT_OUT",
    "DEFAULT_SEED",
    "FIXED_ASSUMPTIONS",
    "PRODUCTION",
    "SENSITIVITY_METRICS",
    "EventData",
    "input_summary",
    "load_event",
    "run_adl_event",
    "simulate",
    "wave_slots",
]


DEFAULT_OUT = Path("delever-out") / "adl-event"


PRODUCTION = "hyperliquid-production"
"""Row name of what Hyperliquid did (its production budget per wave, from the two-pass replay)."""


SENSITIVITY_METRICS = (
    "max_share_pnl",
    "max_share_equity",
    "ptsr",
    "pmr",
    "top1pct_share",
    "top10_share",
    "gini",
    "touched",
    "leverage_median",
    "leverage_p90",
    "budget",
    "overshoot",
    "shortfall",
)


def _winners(d: EventData, cap: np.ndarray, remaining: np.ndarray) -> tuple[Winners, np.ndarray]:
    """The wave's :class:`Winners` and the accounts' leverage at the wave's start.

    An account's position shrinks with the profit taken from it: notional, maintenance margin and leverage
    scale with ``remaining / pnl`` (the account's position left), the contracts that can be closed in this
    wave with ``cap / pnl`` (its part in this wave).
    """
    safe = np.where(d.pnl > 0, d.pnl, 1)
    acc = np.where(d.pnl > 0, remaining / safe, 0.0)
    part = np.where(d.pnl > 0, cap / safe, 0.0)
    notional = np.round(d.notional * acc).astype(np.int64)
    lev = d.leverage * acc
    w = Winners(
        pnl=cap,
        equity=d.equity,
        notional=notional,
        contracts=np.floor(d.contracts * part).astype(np.int64),
        leverage=lev,
        entry_price=np.ones(d.n),
        mark_price=1.0 + d.pnl_percent / 100.0,
        wallet=d.equity,
        maintenance_margin=notional,
        period_pnl=d.pnl,
        period_capacity=remaining,
    )
    return w, lev


def simulate(
    d: EventData, policy: str, assumption: str, slot_cap: np.ndarray | None = None
) -> tuple[list[dict], dict, np.ndarray]:
    """Run ``policy`` through the waves under ``assumption``; returns (per-wave metrics, totals, cumulative
    haircut per account (int64))."""
    p = get_policy(policy)
    remaining = d.pnl.copy()
    cum = np.zeros(d.n, dtype=np.int64)
    state = None
    rows = []
    for t in range(d.need.size):
        if assumption == "all-winners":
            cap = remaining
        elif assumption == "by-adl-events":
            cap = np.minimum(slot_cap[t], remaining)
        else:
            raise ValueError(f"unknown assumption {assumption!r}")
        winners, lev = _winners(d, cap, remaining)
        a = p(winners, int(d.need[t]), state=state)
        state = a.state
        h = a.haircut
        if np.any(h > remaining):
            raise AssertionError(f"{policy}: haircut above capacity in wave {d.wave[t]}")  # pragma: no cover
        m = round_metrics(
            h,
            need=int(d.need[t]),
            equity=d.equity,
            pnl=remaining,
            leverage=lev,
            endowment=remaining,
            deficit=int(d.deficit[t]),
            max_loss=int(d.max_loss[t]),
            pool=remaining > 0,
        )
        rows.append({"wave": int(d.wave[t]), **m})
        remaining = remaining - h
        cum += h
    total = event_metrics(rows, cum, equity=d.equity, pnl=d.pnl, leverage=d.leverage, pool=d.pnl > 0)
    return rows, total, cum


def _production(d: EventData) -> tuple[list[dict], dict]:
    nan = math.nan
    rows = []
    for t in range(d.need.size):
        need, prod = int(d.need[t]), int(d.production[t])
        m = dict.fromkeys(ROUND_FIELDS, nan)
        m.update(
            need=units_to_usd(need),
            budget=units_to_usd(prod),
            overshoot=units_to_usd(prod - need),
            overshoot_pos=units_to_usd(max(0, prod - need)),
            overshoot_neg=units_to_usd(min(0, prod - need)),
            shortfall=units_to_usd(max(0, need - prod)),
        )
        rows.append({"wave": int(d.wave[t]), **m})
    total = dict.fromkeys(EVENT_FIELDS, nan)
    for k in ("need", "budget", "overshoot", "overshoot_pos", "overshoot_neg", "shortfall"):
        total[k] = float(sum(r[k] for r in rows))
    total["rounds"] = len(rows)
    return rows, total


def _sig(v: float, digits: int = 4) -> float:
    return float(f"{v:.{digits - 1}e}") if v == v and v not in (math.inf, -math.inf) else v


def _rank(totals: dict[str, dict], key: str) -> dict[str, int]:
    """Competition ranking (1 = smallest ``key``; ties share a rank): values compared at 4 significant digits
    (differences below that are rounding noise), then the Gini of haircuts likewise; NaN last."""

    def k(name):
        v, g = _sig(totals[name][key]), _sig(totals[name]["gini"])
        return (math.isnan(v), 0.0 if math.isnan(v) else v, math.isnan(g), 0.0 if math.isnan(g) else g)

    keys = {name: k(name) for name in totals}
    return {name: 1 + sum(1 for other in totals if keys[other] < keys[name]) for name in totals}


def run_adl_event(
    out_dir: Path,
    policies: list[str] | None = None,
    *,
    seed: int = DEFAULT_SEED,
    replicas: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run the lab and write its files into ``out_dir`` atomically; return ``{"inputs", "policies",
    "waves", "sensitivity", "ranking"}`` (the rows written, USD).

    Assumption (b) is run with ``replicas`` seeds (``seed``, ``seed + 1``, ...): the first gives the reported
    values, all of them the min/max columns of ``sensitivity.csv`` (the spread due to the random assignment).
    ``progress(done, total)`` is called after each simulation (``len(policies) * (1 + replicas)`` of them).

    Raises:
        InputError: an unknown policy name (field ``policy``), or a bad packaged file.
    """
    names = list(POLICIES) if not policies else list(dict.fromkeys(policies))
    for name in names:
        if name not in POLICIES:
            raise InputError(f"unknown ADL policy {name!r}; known: {', '.join(POLICIES)}", field="policy")
    replicas = max(1, int(replicas))
    d = load_event()
    inputs = input_summary(d)
    inputs["seed"] = seed
    inputs["replicas_by_adl_events"] = replicas
    prod_rows, prod_total = _production(d)
    wave_rows: list[dict] = []
    totals: dict[str, dict[str, dict]] = {a: {} for a in ASSUMPTIONS}
    spread: dict[str, list[dict]] = {n: [] for n in names}
    n_sims, done = len(names) * (1 + replicas), 0
    haircuts: dict[str, np.ndarray] = {}
    for name in names:
        rows, totals["all-winners"][name], haircuts[name] = simulate(d, name, "all-winners")
        done += 1
        if progress:
            progress(done, n_sims)
        wave_rows += [{"policy": name, "assumption": "all-winners", **r} for r in rows]
    wave_rows += [{"policy": PRODUCTION, "assumption": "all-winners", **r} for r in prod_rows]
    for rep in range(replicas):
        slot_cap = slot_capacity(d, wave_slots(d, seed + rep))
        for name in names:
            rows, total, _ = simulate(d, name, "by-adl-events", slot_cap)
            spread[name].append(total)
            done += 1
            if progress:
                progress(done, n_sims)
            if rep == 0:
                totals["by-adl-events"][name] = total
                wave_rows += [{"policy": name, "assumption": "by-adl-events", **r} for r in rows]
    wave_rows += [{"policy": PRODUCTION, "assumption": "by-adl-events", **r} for r in prod_rows]
    primary = "all-winners"
    ranks = {a: _rank(totals[a], "max_share_pnl") for a in ASSUMPTIONS}
    policy_rows = [{"policy": PRODUCTION, "kind": "observed", "assumption": primary, "rank": "", **prod_total}]
    policy_rows += [
        {"policy": n, "kind": "counterfactual", "assumption": primary, "rank": ranks[primary][n], **totals[primary][n]}
        for n in names
    ]
    sens_rows = []
    metric_ranks = {a: {m: _rank(totals[a], m) for m in SENSITIVITY_METRICS} for a in ASSUMPTIONS}
    for n in names:
        for m in SENSITIVITY_METRICS:
            va, vb = totals["all-winners"][n][m], totals["by-adl-events"][n][m]
            reps = [t[m] for t in spread[n]]
            change = (vb - va) / abs(va) if va != 0 and not math.isnan(va) else math.nan
            sens_rows.append(
                {
                    "policy": n,
                    "metric": m,
                    "all_winners": va,
                    "by_adl_events": vb,
                    "by_adl_events_min": float(np.min(reps)),
                    "by_adl_events_max": float(np.max(reps)),
                    "relative_change": change,
                    "rank_all_winners": metric_ranks["all-winners"][m][n],
                    "rank_by_adl_events": metric_ranks["by-adl-events"][m][n],
                }
            )
    ranking = [
        {
            "policy": n,
            "rank_all_winners": ranks["all-winners"][n],
            "rank_by_adl_events": ranks["by-adl-events"][n],
            **{
                f"{m}_{a.replace('-', '_')}": totals[a][n][m]
                for m in ("max_share_pnl", "top1pct_share", "gini", "touched")
                for a in ASSUMPTIONS
            },
        }
        for n in sorted(names, key=lambda x: (ranks[primary][x], x))
    ]
    inputs["ranking_rule"] = (
        "rank 1 = smallest max_share_pnl (the largest share of an account's ADL profit "
        "taken over the event), then smallest Gini of haircuts; values compared at 4 "
        "significant digits, equal ones share a rank"
    )
    result = {
        "inputs": inputs,
        "policies": policy_rows,
        "waves": wave_rows,
        "sensitivity": sens_rows,
        "ranking": ranking,
    }
    _write(Path(out_dir), inputs, policy_rows, wave_rows, sens_rows, result, haircuts)
    return result


def _json_default(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _clean(v: object) -> object:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if (isinstance(v, float) and math.isnan(v)) else v) for k, v in r.items()})


def _write(out_dir: Path, inputs: dict, policy_rows, wave_rows, sens_rows, result: dict, haircuts: dict) -> None:
    from .report.adl_event_page import write_adl_event_page

    with writing(out_dir, "adl-event") as tmp:
        _write_csv(tmp / "policies.csv", policy_rows)
        _write_csv(tmp / "waves.csv", wave_rows)
        _write_csv(tmp / "sensitivity.csv", sens_rows)
        clean = json.loads(json.dumps(inputs, default=_json_default), parse_constant=lambda c: None)
        (tmp / "inputs.json").write_text(json.dumps(clean, indent=2, default=_json_default) + "\n")
        write_adl_event_page(tmp / "report.html", result, haircuts)
