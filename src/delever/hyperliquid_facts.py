"""The real stylised facts of Hyperliquid's 10 October 2025 BTC event, each traced to its data file, and the
comparison of a replay's figures with them (the report's "Replay vs the real event" rows,
:mod:`delever.hyperliquid_book`'s replay)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .hyperliquid_files import read_decimal, read_positions, read_rows, ticker_value

ADL_TRIGGER_TEXT = {
    "fund-cannot-pay": "ADL when the fund cannot pay a bankrupt account's shortfall",
    "negative-equity": "ADL when an account's value would go below zero (the fund not used first)",
    "fund-drawdown": "ADL while the fund is in drawdown from its peak (else when it cannot pay)",
}


ADL_FILL_TEXT = {"bankruptcy": "the bankruptcy price", "mark": "the mark", "previous-mark": "the previous step's mark"}


def adl_rule_text(adl) -> str:
    """The ADL trigger and fill price a run used, in words (``adl`` a :class:`delever.scenario.AdlConfig`)."""
    return f"{ADL_TRIGGER_TEXT[adl.trigger]}, filled at {ADL_FILL_TEXT[adl.fill]}"


@dataclass(frozen=True)
class RealFact:
    """A figure of the real day, with the file it comes from and how."""

    fact: str
    value: str
    source: str


def real_facts(data_dir: Path, adl_all_users: Path, coin: str = "BTC") -> dict[str, RealFact]:
    """The real stylised facts of Hyperliquid's 10 October 2025 that the packaged files give, by key: each
    value read or computed from the file named in its ``source``.

    Raises:
        InputError: a file missing or malformed.
    """
    out: dict[str, RealFact] = {}
    timing_path = data_dir / "cascade_timing_results.json"
    try:
        timing = json.loads(timing_path.read_text())
        delay, first_liq, first_adl = timing["delay_seconds"], timing["first_liquidation"], timing["first_adl"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read the cascade timing: {exc}", file=str(timing_path)) from None
    out["seconds_first_liquidation_to_first_adl"] = RealFact(
        "seconds from first liquidation to first ADL",
        f"{delay:.1f} (all coins: {first_liq[11:23]} to {first_adl[11:23]} UTC)",
        "hyperliquid_btc_20251010/cascade_timing_results.json (delay_seconds)",
    )
    waves_path = adl_all_users.parent / "bad_debt_loser_waves.csv"
    waves = read_rows(waves_path, ("wave", "t_start_ms", "t_end_ms"))
    out["adl_waves"] = RealFact(
        "ADL waves (fills more than 5 s apart)",
        f"{len(waves):,} (all coins; the waves with a deficit)",
        "hyperliquid_oct10/bad_debt_loser_waves.csv (one row per wave)",
    )
    tickers = data_dir / "liq_and_adl_by_ticker_12min.csv"
    out["adl_notional"] = RealFact(
        f"ADL notional ({coin})",
        f"{float(ticker_value(tickers, 'ticker', coin, 'adl_notional')):,.0f}",
        f"hyperliquid_btc_20251010/liq_and_adl_by_ticker_12min.csv ({coin} adl_notional)",
    )
    out["adl_fills"] = RealFact(
        f"ADL fills ({coin})",
        f"{int(ticker_value(tickers, 'ticker', coin, 'adl_events')):,}",
        f"hyperliquid_btc_20251010/liq_and_adl_by_ticker_12min.csv ({coin} adl_events)",
    )
    out["liquidated_notional"] = RealFact(
        f"liquidated notional ({coin})",
        f"{float(ticker_value(tickers, 'ticker', coin, 'liq_notional')):,.0f}",
        f"hyperliquid_btc_20251010/liq_and_adl_by_ticker_12min.csv ({coin} liq_notional)",
    )
    positions = read_positions(data_dir / "positions_btc.csv", coin)
    out["accounts_adl"] = RealFact(
        f"ADL'd accounts ({coin})",
        f"{sum(r.adl for r in positions):,}",
        "hyperliquid_btc_20251010/positions_btc.csv (rows with was_adl)",
    )
    out["accounts_liquidated"] = RealFact(
        f"liquidated accounts ({coin})",
        f"{sum(r.liquidated for r in positions):,}",
        "hyperliquid_btc_20251010/positions_btc.csv (rows with was_liquidated)",
    )
    # leverage and concentration of every ADL'd account (all coins; the user column is not needed)
    lev, notional, negative = [], [], []
    for row, r in read_rows(adl_all_users, ("adl_notional", "leverage_realtime", "is_negative_equity")):
        notional.append(float(read_decimal(r["adl_notional"], adl_all_users, row, "adl_notional")))
        lev.append(float(read_decimal(r["leverage_realtime"], adl_all_users, row, "leverage_realtime")))
        negative.append(r["is_negative_equity"].strip() == "True")
    lev_a = np.array(lev)
    summary_path = adl_all_users.parent / "realtime_analysis_summary.json"
    try:
        found = json.loads(summary_path.read_text())["key_findings"]
        neg_count, neg_total = found["negative_equity_count"], found["negative_equity_total"]
        fill_median = found["median_leverage_realtime"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read the replay summary: {exc}", file=str(summary_path)) from None
    out["adl_leverage"] = RealFact(
        "leverage of ADL'd accounts at ADL: median / p90",
        f"{np.median(lev_a):.3f} / {np.quantile(lev_a, 0.9):.3f} over accounts ({fill_median:.3f}: median over "
        "fills); all coins; fill notional / account value, mean over an account's fills",
        "hyperliquid_oct10/adl_by_user_REALTIME.csv (leverage_realtime); realtime_analysis_summary.json "
        "(median_leverage_realtime)",
    )
    ranked = np.sort(np.array(notional))[::-1]
    k = math.ceil(0.01 * ranked.size)
    out["top1pct_share"] = RealFact(
        "share of ADL notional: top 1% / top 10 accounts",
        f"{ranked[:k].sum() / ranked.sum():.1%} ({k:,} of {ranked.size:,}) / {ranked[:10].sum() / ranked.sum():.1%} "
        "(all coins)",
        "hyperliquid_oct10/adl_by_user_REALTIME.csv (adl_notional)",
    )
    out["negative_equity"] = RealFact(
        "negative equity: count / total (USD)",
        f"{neg_count:,} ADL fills of negative-equity accounts / {neg_total:,.0f}; {sum(negative):,} accounts "
        "flagged (all coins)",
        "hyperliquid_oct10/realtime_analysis_summary.json (negative_equity_count, negative_equity_total); "
        "adl_by_user_REALTIME.csv (is_negative_equity)",
    )
    return out


def comparison_rows(summary: dict, real: dict[str, RealFact], adl=None) -> list[dict]:
    """Rows ``{"fact", "replay", "real", "source"}`` putting a run's summary and facts beside the real ones;
    ``adl`` the run's :class:`delever.scenario.AdlConfig` (its trigger and fill in words; default: the default)."""
    f = summary["facts"]

    def money_text(x) -> str:
        return "n/a" if x is None else f"{float(x):,.0f}"

    lev = f["adl_leverage"]
    conc = f["adl_concentration"]
    neg = f["negative_equity_during_run"]
    gap = f["seconds_first_liquidation_to_first_adl"]
    replay = {
        "seconds_first_liquidation_to_first_adl": "no ADL" if gap is None else f"{gap:.0f}",
        "adl_waves": f"{f['adl_waves']['count']:,} (gap {f['wave_gap_s']:g} s)",
        "adl_notional": money_text(summary["adl_notional"]),
        "adl_fills": f"{summary['adl_events']:,}",
        "liquidated_notional": money_text(summary["liquidated_notional"]),
        "accounts_adl": f"{summary['accounts_adl']:,}",
        "accounts_liquidated": f"{summary['accounts_liquidated']:,}",
        "adl_leverage": "n/a"
        if lev["median"] is None
        else f"{lev['median']:.3f} / {lev['p90']:.3f} (gross notional / equity)",
        "top1pct_share": "n/a"
        if conc["top1pct_share"] is None
        else f"{conc['top1pct_share']:.1%} ({conc['top1pct_accounts']:,} of {conc['accounts']:,}) / "
        f"{conc['top10_share']:.1%}",
        "negative_equity": f"{neg['accounts']:,} accounts / {money_text(neg['total'])}",
    }
    rows = [{"fact": r.fact, "replay": replay[k], "real": r.value, "source": r.source} for k, r in real.items()]
    rows.append(
        {
            "fact": "ADL trigger",
            "replay": adl_rule_text(adl if adl is not None else _default_adl()),
            "real": "an account value below zero, filled at the previous mark",
            "source": "venues.md section 6 (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging)",
        }
    )
    return rows


def replay_comparison(summary: dict, scenario) -> list[dict] | None:
    """The comparison rows for a scenario whose ``facts.compare_with`` names this real event, else None."""
    if scenario.facts.compare_with != "hyperliquid-2025-10-10":
        return None
    from .marketdata import packaged_data_path

    data_dir = packaged_data_path("hyperliquid_btc_20251010/positions_btc.csv").parent
    all_users = packaged_data_path("hyperliquid_oct10/adl_by_user_REALTIME.csv")
    return comparison_rows(summary, real_facts(data_dir, all_users), scenario.adl)


def _default_adl():
    from .scenario import AdlConfig

    return AdlConfig()
