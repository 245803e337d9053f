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
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .adl.metrics import EVENT_FIELDS, ROUND_FIELDS, event_metrics, round_metrics, top_share
from .adl.policies import POLICIES, Winners, get_policy
from .errors import InputError
from .outdir import writing
from .units import MONEY_SCALE

DATA_DIR = "hyperliquid_oct10"
DEFAULT_OUT = Path("delever-out") / "adl-event"
DEFAULT_SEED = 20251010
PRODUCTION = "hyperliquid-production"
"""Row name of what Hyperliquid did (its production budget per wave, from the two-pass replay)."""

ASSUMPTIONS = {
    "all-winners": (
        "(a) all-winners [primary]: every one of the ADL'd accounts is available in every wave; its capacity in "
        "wave t is its ADL profit (closed_pnl, clipped at 0) less what the same policy took from it in earlier "
        "waves."
    ),
    "by-adl-events": (
        "(b) by-adl-events: each account is present only in the waves its ADL fills fell in. The per-account "
        "wave is not in the data, so the accounts' num_adl_events fill slots (34,983) are shuffled with a fixed "
        "seed and cut into the 16 waves' fill counts (n_rows of bad_debt_loser_waves.csv; the remaining slots "
        "fell between deficit waves); an account's profit is split over its slots, and its capacity in wave t "
        "is its slots' share (less earlier haircuts). socialized-loss still draws on every winner of the period."
    ),
}

FIXED_ASSUMPTIONS = [
    "Capacity u_i = max(closed_pnl, 0): the profit realised by the account's ADL fills (what the ADL closed "
    "was unrealised profit at that moment); 107 accounts with closed_pnl < 0 are in the pool with capacity 0.",
    "Equity e_i = account_value_realtime, the replay's cash-only account value at ADL time (it excludes "
    "unrealised PnL; 124 accounts are negative and many are near 0, so haircut/equity ratios can be large); "
    "equity and leverage are held fixed through the event.",
    "Leverage = leverage_realtime, the replay's mean over the account's ADL fills of fill notional / account "
    "value (so adl_notional / account value divided by about the number of fills), 0 for the 124 accounts "
    "with a negative account value. Risk-aware and water-filling use it and read 0 as infinite (no equity): "
    "they cut those accounts first. The queue scores use notional / account value, as the venues define "
    "them, and rank accounts with account value <= 0 last.",
    "Contracts: 1 contract = 1 USD of ADL notional (contracts = max(1, round(adl_notional))), close to "
    "Hyperliquid's lot sizes (BTC 1e-5, about 1.1 USD). A position shrinks with the profit taken from it: "
    "its notional and leverage in wave t scale with the account's profit left, its contracts closable in wave t "
    "with its capacity in that wave.",
    "Hyperliquid score: mark/entry = 1 + pnl_percent/100 (the position's value ratio; the per-user file has no "
    "prices); Binance wallet = account value; Binance and Bitget maintenance margin proportional to notional "
    "(one rate: ranking unchanged), so queue-bitget ranks as queue-bitmex.",
    "Each wave's needed budget B_t, deficit D_t, largest loss Delta_t and Hyperliquid's production budget H_t are "
    "the paper's (two_pass_equity_delta_by_wave_h0ms.csv, evaluation horizon 0 ms); every policy is handed B_t.",
    "Policies transfer haircuts in money (haircut space): the production overshoot is measured in wealth "
    "(winners' equity lost against a no-ADL replay), which also counts the later price moves of the closed "
    "positions; the policies here take B_t up to whole-contract rounding.",
]

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

INPUT_FILES = (
    "adl_by_user_REALTIME.csv",
    "adl_by_coin_REALTIME.csv",
    "realtime_analysis_summary.json",
    "insurance_fund_results.json",
    "two_pass_equity_delta_by_wave_h0ms.csv",
    "bad_debt_loser_waves.csv",
    "policy_per_wave_metrics.csv",
    "eval_horizon_sweep_gap5000ms.csv",
)


def _data(name: str) -> Path:
    from .marketdata import packaged_data_path

    return packaged_data_path(f"{DATA_DIR}/{name}")


def _money(usd: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(usd, dtype=np.float64) * MONEY_SCALE).astype(np.int64)


def _usd(units: int | np.integer) -> float:
    return int(units) / MONEY_SCALE


# ------------------------------------------------------------------------------------------------- inputs


@dataclass
class EventData:
    """The pool (arrays (n,)) and the waves (arrays (T,)); money int64, the rest as in the files."""

    adl_notional_usd: np.ndarray
    closed_pnl_usd: np.ndarray
    leverage: np.ndarray
    pnl_percent: np.ndarray
    account_value_usd: np.ndarray
    is_negative_equity: np.ndarray
    num_adl_events: np.ndarray
    pnl: np.ndarray
    equity: np.ndarray
    notional: np.ndarray
    contracts: np.ndarray
    wave: np.ndarray
    t_start_ms: np.ndarray
    t_end_ms: np.ndarray
    need: np.ndarray
    production: np.ndarray
    deficit: np.ndarray
    max_loss: np.ndarray
    fills: np.ndarray

    @property
    def n(self) -> int:
        return int(self.pnl.shape[0])


def _read_csv(name: str) -> dict[str, np.ndarray]:
    import pyarrow.csv as pacsv

    path = _data(name)
    try:
        t = pacsv.read_csv(path)
    except Exception as exc:  # pragma: no cover - packaged files
        raise InputError(f"unreadable CSV: {exc}", file=str(path)) from exc
    return {c: t.column(c).to_numpy() for c in t.column_names}


def load_event() -> EventData:
    """Read the packaged files into an :class:`EventData` (checks the columns and the wave alignment).

    Raises:
        InputError: a packaged file is missing or does not have the expected columns / waves.
    """
    u = _read_csv("adl_by_user_REALTIME.csv")
    need_cols = (
        "adl_notional",
        "closed_pnl",
        "leverage_realtime",
        "pnl_percent",
        "account_value_realtime",
        "is_negative_equity",
        "num_adl_events",
    )
    for c in need_cols:
        if c not in u:
            raise InputError("missing column", file=str(_data("adl_by_user_REALTIME.csv")), field=c)
    w = _read_csv("two_pass_equity_delta_by_wave_h0ms.csv")
    b = _read_csv("bad_debt_loser_waves.csv")
    if not np.array_equal(w["wave"], b["wave"]):
        raise InputError(
            "waves differ from bad_debt_loser_waves.csv",
            file=str(_data("two_pass_equity_delta_by_wave_h0ms.csv")),
            field="wave",
        )
    an = u["adl_notional"].astype(np.float64)
    cp = u["closed_pnl"].astype(np.float64)
    return EventData(
        adl_notional_usd=an,
        closed_pnl_usd=cp,
        leverage=u["leverage_realtime"].astype(np.float64),
        pnl_percent=u["pnl_percent"].astype(np.float64),
        account_value_usd=u["account_value_realtime"].astype(np.float64),
        is_negative_equity=u["is_negative_equity"].astype(bool),
        num_adl_events=u["num_adl_events"].astype(np.int64),
        pnl=_money(np.maximum(cp, 0.0)),
        equity=_money(u["account_value_realtime"]),
        notional=_money(an),
        contracts=np.where(an > 0, np.maximum(1, np.round(an)), 0).astype(np.int64),
        wave=w["wave"].astype(np.int64),
        t_start_ms=w["t_start_ms"].astype(np.int64),
        t_end_ms=w["t_end_ms"].astype(np.int64),
        need=_money(w["budget_needed_usd"]),
        production=_money(w["budget_prod_usd"]),
        deficit=_money(w["deficit_usd"]),
        max_loss=_money(w["max_loss_usd"]),
        fills=b["n_rows"].astype(np.int64),
    )


def wave_slots(d: EventData, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Assumption (b): int64 (T, n) ADL fill slots of each account in each wave.

    The accounts' ``num_adl_events`` slots are shuffled (PCG64, ``seed``) and cut into consecutive blocks of
    the waves' fill counts; slots past the last block fell outside the deficit waves.
    """
    owner = np.repeat(np.arange(d.n, dtype=np.int64), d.num_adl_events)
    if int(d.fills.sum()) > owner.size:
        raise InputError(
            "the waves hold more ADL fills than the accounts' num_adl_events",
            file=str(_data("bad_debt_loser_waves.csv")),
            field="n_rows",
        )
    owner = owner[np.random.Generator(np.random.PCG64(seed)).permutation(owner.size)]
    edges = np.concatenate([[0], np.cumsum(d.fills)])
    out = np.zeros((d.fills.size, d.n), dtype=np.int64)
    for t in range(d.fills.size):
        out[t] = np.bincount(owner[edges[t] : edges[t + 1]], minlength=d.n)
    return out


def _slot_capacity(d: EventData, slots: np.ndarray) -> np.ndarray:
    """Each account's profit split over its slots: ``floor(pnl * slots_t / num_adl_events)`` (T, n)."""
    k = np.maximum(d.num_adl_events, 1)
    q, r = np.divmod(d.pnl, k)
    return slots * q + (slots * r) // k


# ------------------------------------------------------------------------------------------------- the lab


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
            need=_usd(need),
            budget=_usd(prod),
            overshoot=_usd(prod - need),
            overshoot_pos=_usd(max(0, prod - need)),
            overshoot_neg=_usd(min(0, prod - need)),
            shortfall=_usd(max(0, need - prod)),
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_summary(d: EventData) -> dict:
    """Input totals traced to the packaged files (USD), for ``inputs.json`` and the tests."""
    summary = json.loads(_data("realtime_analysis_summary.json").read_text())
    fund = json.loads(_data("insurance_fund_results.json").read_text())
    coin = _read_csv("adl_by_coin_REALTIME.csv")
    sweep = _read_csv("eval_horizon_sweep_gap5000ms.csv")
    ppw = _read_csv("policy_per_wave_metrics.csv")
    an_sorted = np.sort(d.adl_notional_usd)[::-1]
    k1 = math.ceil(0.01 * d.n)
    neg_av = d.account_value_usd < 0
    over = d.production - d.need
    kf = summary["key_findings"]
    return {
        "accounts": d.n,
        "winners_with_profit": int((d.pnl > 0).sum()),
        "adl_events": int(d.num_adl_events.sum()),
        "adl_notional_total": _usd(int(d.notional.sum())),
        "adl_notional_top1pct_accounts": k1,
        "adl_notional_top1pct_share": float(an_sorted[:k1].sum() / an_sorted.sum()),
        "adl_notional_top10_share": float(top_share(d.adl_notional_usd, 10)),
        "closed_pnl_total": _usd(int(_money(d.closed_pnl_usd).sum())),
        "capacity_total": _usd(int(d.pnl.sum())),
        "leverage_median": float(np.median(d.leverage)),
        "leverage_p90": float(np.quantile(d.leverage, 0.9)),
        "negative_equity": {
            "flagged_accounts": int(d.is_negative_equity.sum()),
            "flagged_events_by_coin": int(coin["is_negative_equity"].sum()),
            "account_value_negative_accounts": int(neg_av.sum()),
            "account_value_negative_total": _usd(int(d.equity[neg_av].sum())),
            "replay_count": int(kf["negative_equity_count"]),
            "replay_total": float(kf["negative_equity_total"]),
            "largest_replay_row": fund["top_underwater_accounts"][0],
            "note": (
                "The replay's -23,191,104.48 over 302 is a sum over ADL fill rows (user x coin events) of the ADL'd "
                "account's total equity (cash + unrealised PnL) where it was negative: an account counts once per "
                "such coin (insurance_fund_results.json lists the same account under 7 coins), and the per-coin "
                "file's is_negative_equity counts sum to 302. The per-user file has no total equity: it flags "
                "165 accounts and its cash-only account_value_realtime is negative for 124 accounts, "
                "-1,408,769.32 in total. The replay total cannot be rebuilt from the per-user file."
            ),
        },
        "replay_summary": {
            "total_adl_notional": float(kf["total_adl_notional"]),
            "adl_events_analyzed": int(summary["adl_events_analyzed"]),
            "median_leverage_realtime": float(kf["median_leverage_realtime"]),
        },
        "waves": int(d.wave.size),
        "wave_ids": [int(x) for x in d.wave],
        "wave_fills_total": int(d.fills.sum()),
        "budget_needed_total": _usd(int(d.need.sum())),
        "production_budget_total": _usd(int(d.production.sum())),
        "production_overshoot_total": _usd(int(over.sum())),
        "production_overshoot_pos_total": _usd(int(over[over > 0].sum())),
        "production_overshoot_neg_total": _usd(int(over[over < 0].sum())),
        "deficit_total": _usd(int(d.deficit.sum())),
        "production_overshoot_by_horizon_ms": {
            str(int(h)): float(o)
            for h, o in zip(sweep["eval_horizon_ms"], sweep["total_overshoot_prod_minus_needed_usd"])
        },
        "paper_policy_overshoot_total": {
            k[len("overshoot_") :]: float(np.sum(ppw[k])) for k in ppw if k.startswith("overshoot_")
        },
        "assumptions": [ASSUMPTIONS["all-winners"], ASSUMPTIONS["by-adl-events"], *FIXED_ASSUMPTIONS],
        "sources": {name: {"sha256": _sha256(_data(name))} for name in INPUT_FILES},
        "units": "USD (money computed in integer micro-USD)",
    }


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
        slot_cap = _slot_capacity(d, wave_slots(d, seed + rep))
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


# ------------------------------------------------------------------------------------------------- output


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
