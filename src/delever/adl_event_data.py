"""The inputs of the ADL policy lab (:mod:`delever.adl_event`): the packaged aggregates of Hyperliquid's
10 October 2025 ADL (``delever/data/hyperliquid_oct10``, see its SOURCE.md) read into exact integer money, the
assumptions the lab runs under (the data do not say which winner was ADL'd in which wave), and the input totals
traced to the files (``inputs.json``)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .adl.metrics import top_share
from .errors import InputError
from .units import MONEY_SCALE

DEFAULT_SEED = 20251010
"""Seed of assumption (b)'s assignment of fill slots to waves."""

DATA_DIR = "hyperliquid_oct10"


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


def data_path(name: str) -> Path:
    """The packaged file ``name`` of the event (``delever/data/hyperliquid_oct10``)."""
    from .marketdata import packaged_data_path

    return packaged_data_path(f"{DATA_DIR}/{name}")


def usd_to_units(usd: np.ndarray) -> np.ndarray:
    """USD amounts (floats) as int64 micro-USD, rounded to nearest."""
    return np.round(np.asarray(usd, dtype=np.float64) * MONEY_SCALE).astype(np.int64)


def units_to_usd(units: int | np.integer) -> float:
    """Micro-USD as a USD float."""
    return int(units) / MONEY_SCALE


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

    path = data_path(name)
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
            raise InputError("missing column", file=str(data_path("adl_by_user_REALTIME.csv")), field=c)
    w = _read_csv("two_pass_equity_delta_by_wave_h0ms.csv")
    b = _read_csv("bad_debt_loser_waves.csv")
    if not np.array_equal(w["wave"], b["wave"]):
        raise InputError(
            "waves differ from bad_debt_loser_waves.csv",
            file=str(data_path("two_pass_equity_delta_by_wave_h0ms.csv")),
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
        pnl=usd_to_units(np.maximum(cp, 0.0)),
        equity=usd_to_units(u["account_value_realtime"]),
        notional=usd_to_units(an),
        contracts=np.where(an > 0, np.maximum(1, np.round(an)), 0).astype(np.int64),
        wave=w["wave"].astype(np.int64),
        t_start_ms=w["t_start_ms"].astype(np.int64),
        t_end_ms=w["t_end_ms"].astype(np.int64),
        need=usd_to_units(w["budget_needed_usd"]),
        production=usd_to_units(w["budget_prod_usd"]),
        deficit=usd_to_units(w["deficit_usd"]),
        max_loss=usd_to_units(w["max_loss_usd"]),
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
            file=str(data_path("bad_debt_loser_waves.csv")),
            field="n_rows",
        )
    owner = owner[np.random.Generator(np.random.PCG64(seed)).permutation(owner.size)]
    edges = np.concatenate([[0], np.cumsum(d.fills)])
    out = np.zeros((d.fills.size, d.n), dtype=np.int64)
    for t in range(d.fills.size):
        out[t] = np.bincount(owner[edges[t] : edges[t + 1]], minlength=d.n)
    return out


def slot_capacity(d: EventData, slots: np.ndarray) -> np.ndarray:
    """Each account's profit split over its slots: ``floor(pnl * slots_t / num_adl_events)`` (T, n)."""
    k = np.maximum(d.num_adl_events, 1)
    q, r = np.divmod(d.pnl, k)
    return slots * q + (slots * r) // k


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_summary(d: EventData) -> dict:
    """Input totals traced to the packaged files (USD), for ``inputs.json`` and the tests."""
    summary = json.loads(data_path("realtime_analysis_summary.json").read_text())
    fund = json.loads(data_path("insurance_fund_results.json").read_text())
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
        "adl_notional_total": units_to_usd(int(d.notional.sum())),
        "adl_notional_top1pct_accounts": k1,
        "adl_notional_top1pct_share": float(an_sorted[:k1].sum() / an_sorted.sum()),
        "adl_notional_top10_share": float(top_share(d.adl_notional_usd, 10)),
        "closed_pnl_total": units_to_usd(int(usd_to_units(d.closed_pnl_usd).sum())),
        "capacity_total": units_to_usd(int(d.pnl.sum())),
        "leverage_median": float(np.median(d.leverage)),
        "leverage_p90": float(np.quantile(d.leverage, 0.9)),
        "negative_equity": {
            "flagged_accounts": int(d.is_negative_equity.sum()),
            "flagged_events_by_coin": int(coin["is_negative_equity"].sum()),
            "account_value_negative_accounts": int(neg_av.sum()),
            "account_value_negative_total": units_to_usd(int(d.equity[neg_av].sum())),
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
        "budget_needed_total": units_to_usd(int(d.need.sum())),
        "production_budget_total": units_to_usd(int(d.production.sum())),
        "production_overshoot_total": units_to_usd(int(over.sum())),
        "production_overshoot_pos_total": units_to_usd(int(over[over > 0].sum())),
        "production_overshoot_neg_total": units_to_usd(int(over[over < 0].sum())),
        "deficit_total": units_to_usd(int(d.deficit.sum())),
        "production_overshoot_by_horizon_ms": {
            str(int(h)): float(o)
            for h, o in zip(sweep["eval_horizon_ms"], sweep["total_overshoot_prod_minus_needed_usd"])
        },
        "paper_policy_overshoot_total": {
            k[len("overshoot_") :]: float(np.sum(ppw[k])) for k in ppw if k.startswith("overshoot_")
        },
        "assumptions": [ASSUMPTIONS["all-winners"], ASSUMPTIONS["by-adl-events"], *FIXED_ASSUMPTIONS],
        "sources": {name: {"sha256": _sha256(data_path(name))} for name in INPUT_FILES},
        "units": "USD (money computed in integer micro-USD)",
    }
