"""Regenerate README.md's generated parts and docs/report.png from the current code.

    python tools/readme.py           # rewrite README.md's generated blocks and docs/report.png
    python tools/readme.py --check   # exit 1 (and name the blocks) if README.md differs from the current run

A generated block of README.md sits between ``<!-- begin generated: NAME ... -->`` and ``<!-- end generated: NAME
-->``; everything outside the markers is written by hand. The blocks:

- ``default-run-output``: what ``delever run`` prints (run here in a fresh folder, 80 columns, no terminal);
- ``default-run-narrative``: "How to read it", every number taken from that run's summary.json, steps.parquet
  and events.parquet (the first ADL fill's time, the index's fall, the fund's start, fees and end);
- ``default-run-venues``: the venue comparison of the default run's report (:func:`compare_rows`, the rows
  ``delever run --venue X`` gives);
- ``adl-event-output``: the tables ``delever adl-event`` prints (up to its list of assumptions);
- ``replay-facts``: the stylised facts of one run of every packaged replay (:data:`delever.replays.REPLAYS`,
  ``summary["facts"]``) beside the real figures of the day that the project's files give
  (:func:`delever.hyperliquid_book.real_facts`);
- ``replay-notes``: the comparison of the Hyperliquid replay with the real day below that table, every figure
  from that run, the real figures and a run with ``--set prices.stretch_to_low=97000``;
- ``adl-hierarchy``: ``delever compare`` rows (:func:`delever.compare.compare`) of ``queue-bitmex`` and of the
  ``hierarchy`` policy under the ``--set adl.keys=...`` variants of :data:`HIERARCHY_VARIANTS`;
- ``cross-margin-instruments`` and ``calendar-spread-instruments``: the per-instrument tables of one run each of
  the packaged cross-margin and calendar-spread scenarios (every mechanism on), from their summary.json;
- ``options-example-output``: what the README's ``python`` example just above that block prints, run here;
- ``single-operations-output``: the same for the single-operations example (:mod:`delever.operations`);
- ``options-scenario``: the packaged option scenario's margin per account type, liquidations by instrument kind
  and fund, ADL or socialized loss, as shipped and under OKX's rates with ADL (:data:`OPTION_VARIANTS`);
- ``inverse-scenarios``: one run each of the packaged inverse-contract scenarios (BitMEX XBTUSD; Deribit's inverse
  perpetual with coin-settled options), money in the coin;
- ``test-count``: the number of tests ``pytest --collect-only`` finds.

docs/report.png is a screenshot of the default run's report.html by headless Chromium (skipped, with a message,
when Chromium is not installed). ``tests/test_readme.py`` checks that the blocks equal what the code prints
now, so a change of the engine's economics is a visible, reviewed change of README.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PICTURE = ROOT / "docs" / "report.png"
COLUMNS = "80"
"""Terminal width the README's examples are printed at (rich reads ``COLUMNS`` when not on a terminal)."""

BLOCK = re.compile(
    r"(<!-- begin generated: (?P<name>[a-z0-9-]+)[^>]*-->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S
)


def delever(*args: str, cwd: Path, columns: str = COLUMNS) -> str:
    """Run the ``delever`` command of this checkout (``src`` first on the path) and return what it prints."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env.update(COLUMNS=columns, NO_COLOR="1", TERM="dumb", PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run(
        [sys.executable, "-c", "from delever.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"delever {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout


@dataclass
class DefaultRun:
    """The default run's printed output and files, from a fresh folder."""

    output: str
    out_dir: Path
    summary: dict


def run_default(workdir: Path) -> DefaultRun:
    """``delever run`` in ``workdir`` (its default output folder ``delever-out/<scenario>`` lands there)."""
    output = delever("run", cwd=workdir)
    out_dir = next((workdir / "delever-out").iterdir())
    return DefaultRun(output, out_dir, json.loads((out_dir / "summary.json").read_text()))


def _m(v: float) -> str:
    """Millions with 2 decimals: 1.14 M."""
    return f"{float(v) / 1e6:,.2f} M"


def narrative(run: DefaultRun) -> str:
    """The "How to read it" paragraph, every figure from the run's own files."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT / "src"))
    from delever.report.format import count, money, price, utc_clock
    from delever.scenario import default_scenario_path, load_scenario

    s = run.summary
    sc = load_scenario(default_scenario_path())
    steps = pq.read_table(run.out_dir / "steps.parquet")
    ns = steps.column("time").cast("int64").to_numpy()
    index = steps.column("index_price").to_numpy()
    low = int(np.argmin(index))
    high = int(np.argmax(index[: low + 1]))
    events = pq.read_table(run.out_dir / "events.parquet")
    adl = events.filter(pc.equal(events.column("kind"), "adl_counterparty_fill"))
    start, fees, paid = (
        Decimal(str(s[k])) for k in ("insurance_fund_start", "liquidation_fees", "insurance_fund_paid")
    )
    end = Decimal(str(s["insurance_fund_end"]))
    text = (
        f"How to read it: the index falls from {price(index[high])} at {utc_clock(ns[high])} to "
        f"{price(index[low])} at {utc_clock(ns[low])} UTC. Liquidation orders of {count(s['liquidations'])} of the "
        f"{count(s['accounts'])} generated accounts walk a book that is {sc.liquidity.depth_scale:.0%} as deep as "
        f"Binance's was at {sc.liquidity.depth_window_start:%H:%M}, pushing the venue's trade and mark prices below "
        f"the index (min mark {price(s['min_mark_price'])}). Fills below bankruptcy cost the insurance fund "
        f"{_m(paid)} USDT in all, "
    )
    if paid <= start + fees:
        text += (
            f"less than its {_m(start)} start plus the {_m(fees)} of fees it collected (it ends at {money(end)} "
            f"USDT), but on the way it runs down to {money(s['insurance_fund_min'])} USDT"
        )
    else:
        text += f"more than its {_m(start)} start plus the {_m(fees)} of fees it collected"
    if adl.num_rows:
        first = int(pc.min(adl.column("time").cast("int64")).as_py())
        last = int(pc.max(adl.column("time").cast("int64")).as_py())
        buys = int(pc.sum(pc.greater(adl.column("size"), 0).cast("int64")).as_py())
        side = "short" if buys * 2 >= adl.num_rows else "long"
        text += (
            f". Whenever it cannot cover a bankrupt account, the engine auto-deleverages: from {utc_clock(first)} to "
            f"{utc_clock(last)} UTC, {count(s['accounts_adl'])} profitable {side} accounts are closed at the bankrupt "
            f"accounts' bankruptcy prices ({_m(Decimal(str(s['adl_notional'])))} USDT of notional in "
            f"{count(s['adl_events'])} fills)"
        )
    balanced = "stays balanced" if s["open_interest_balanced"] else "is NOT balanced"
    text += f". Open interest {balanced} and `conservation_error` is {s['conservation_error']}."
    return _wrap(text)


def _wrap(text: str, width: int = 115, subsequent_indent: str = "") -> str:
    import textwrap

    lines = textwrap.wrap(
        text, width=width, subsequent_indent=subsequent_indent, break_on_hyphens=False, break_long_words=False
    )
    return "\n".join(lines) + "\n"


def venue_table() -> str:
    """The venue comparison of the default run's report as a Markdown table (money rounded to whole USDT)."""
    sys.path.insert(0, str(ROOT / "src"))
    from delever.scenario import default_scenario_path, load_scenario
    from delever.venues.scenario import compare_rows, in_scenario_quote

    sc = load_scenario(default_scenario_path())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    rows = [in_scenario_quote(r) for r in compare_rows(sc, sc.seed, workers=min(2, cores))]
    lines = [
        "| venue | ADL rule | liquidations | bad debt | unrecovered | fund end | ADL notional | socialized | "
        "conservation error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        money = [f"{r[k]:,.0f}" for k in ("bad_debt", "bad_debt_unrecovered", "insurance_fund_end", "adl_notional",
                                          "socialized_loss")]  # fmt: skip
        lines.append(
            f"| {r['venue']} | {r['adl_policy']} | {r['liquidations']:,} | " + " | ".join(money)
            + f" | {r['conservation_error']} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def adl_event_output(workdir: Path) -> str:
    """What ``delever adl-event`` prints, up to (not including) its list of assumptions."""
    out = delever("adl-event", "--out", str(workdir / "adl-event"), cwd=workdir, columns="170")
    head = out.split("assumptions (also in inputs.json):")[0]
    return head.rstrip("\n") + "\n"


def _src_on_path() -> None:
    """This checkout's ``src`` first on the path, so that the in-process runs are of the current code."""
    if sys.path[0] != str(ROOT / "src"):
        sys.path.insert(0, str(ROOT / "src"))


# ------------------------------------------------------------------------------------------- replays and facts

STRETCH = "prices.stretch_to_low=97000"
"""The ``--set`` item of the README's deeper Hyperliquid replay (Hyperliquid's own low of the day, about 97,000)."""


@dataclass
class ReplayRun:
    """One packaged replay's scenario (``--set`` items applied) and summary (``summary["facts"]`` included)."""

    name: str
    scenario: object
    summary: dict


def run_replay(name: str, sets: tuple[str, ...] = ()) -> ReplayRun:
    """``delever replay NAME [--set ...]``'s run, in this process (the CLI adds only its printing and files)."""
    _src_on_path()
    from delever.engine import run
    from delever.output import summarize
    from delever.replays import replay_path
    from delever.scenario import load_scenario, parse_set

    sc = load_scenario(replay_path(name), parse_set(list(sets)))
    return ReplayRun(name, sc, summarize(run(sc, sc.seed)))


def run_replays() -> list[ReplayRun]:
    """Every packaged replay once, at its scenario's seed, in :data:`delever.replays.REPLAYS`' order."""
    _src_on_path()
    from delever.replays import replay_names

    return [run_replay(name) for name in replay_names()]


def real_hyperliquid_facts(runs: list[ReplayRun]):
    """``(replay run, real facts by key)`` for the replay that the report puts beside the real day
    (:func:`delever.hyperliquid_book.replay_comparison` gives its rows; the facts are read from the same files,
    by key), or ``(None, {})`` when none is."""
    _src_on_path()
    from delever.hyperliquid_book import real_facts, replay_comparison
    from delever.marketdata import packaged_data_path

    for r in runs:
        if replay_comparison(r.summary, r.scenario) is not None:
            data_dir = packaged_data_path("hyperliquid_btc_20251010/positions_btc.csv").parent
            return r, real_facts(data_dir, packaged_data_path("hyperliquid_oct10/adl_by_user_REALTIME.csv"))
    return None, {}


def _column_name(name: str) -> str:
    """``binance-btcusdt-2020-03-12`` -> ``2020-03-12 Binance``: the crash's date and the venue."""
    return f"{name[-10:]} {name.split('-')[0].capitalize()}"


def _lead_number(text: str) -> Decimal:
    """The number a real fact's text starts with (``"1,789,607,764"``, ``"61.7 (all coins ...)"``)."""
    m = re.match(r"-?[\d,]+(?:\.\d+)?", text)
    if m is None:
        raise ValueError(f"no number at the start of the real fact {text!r}")
    return Decimal(m.group(0).replace(",", ""))


def _minute(iso: str | None) -> str:
    """``2025-10-10T21:17:00Z`` -> ``21:17``."""
    return "-" if iso is None else iso[11:16]


def _model_cells(s: dict) -> dict[str, str]:
    """One replay's cells of the facts table, by row key (money in millions of the quote asset)."""
    f = s["facts"]
    gap = f["seconds_first_liquidation_to_first_adl"]
    lev, conc = f["adl_leverage"], f["adl_concentration"]
    per_min, fund = f["liquidations_per_minute"], f["fund_drawdown"]
    if fund["max_drawdown_pct"] is not None:
        drawdown = f"{fund['max_drawdown_pct']:.1f}% (min {_minute(fund['time_of_min'])})"
    else:
        drawdown = f"fund {Decimal(str(s['insurance_fund_start'])):,.0f}"
    return {
        "liquidations": f"{s['liquidations']:,}",
        "liquidated_notional": f"{float(s['liquidated_notional']) / 1e6:,.1f}",
        "gap": "no ADL" if gap is None else f"{gap:,.0f}",
        "waves": f"{f['adl_waves']['count']:,}",
        "accounts_adl": f"{s['accounts_adl']:,}",
        "adl_notional": f"{float(s['adl_notional']) / 1e6:,.1f}",
        "leverage": "-" if lev["median"] is None else f"{lev['median']:.2f} / {lev['p90']:.2f}",
        "concentration": "-"
        if conc["top1pct_share"] is None
        else f"{conc['top1pct_share']:.1%} / {conc['top10_share']:.1%}",
        "negative": f"{f['negative_equity_during_run']['accounts']:,} / {f['negative_equity_at_end']['accounts']:,}",
        "peak": "-"
        if per_min["peak_minute"] is None
        else f"{per_min['peak_liquidations']:,} ({_minute(per_min['peak_minute'])})",
        "drawdown": drawdown,
    }


FACT_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("liquidations", "liquidations", "accounts_liquidated"),
    ("liquidated_notional", "liquidated notional (M)", "liquidated_notional"),
    ("gap", "s from first liquidation to first ADL", "seconds_first_liquidation_to_first_adl"),
    ("waves", "ADL waves (5 s gap)", "adl_waves"),
    ("accounts_adl", "ADL'd accounts", "accounts_adl"),
    ("adl_notional", "ADL notional (M)", "adl_notional"),
    ("leverage", "leverage of ADL'd, median / p90", "adl_leverage"),
    ("concentration", "top-1% / top-10 share of ADL notional", "top1pct_share"),
    ("negative", "accounts with equity < 0 during the run / at the end", "negative_equity"),
    ("peak", "peak liquidations per minute", None),
    ("drawdown", "fund drawdown", None),
)
"""The facts table's rows: (key of :func:`_model_cells`, label, key of the real fact beside it or None)."""


def _real_cell(key: str | None, real: dict) -> str:
    """A real fact's text with the files it comes from (money in millions; liquidations are accounts)."""
    if key is None or key not in real:
        return "-"
    fact = real[key]
    scope = re.search(r"\((\w+)\)$", fact.fact)
    coin = f" {scope.group(1)}" if scope else ""
    files = ", ".join(f"`{name}`" for name in re.findall(r"[\w.-]+\.(?:csv|json)", fact.source))
    if key in ("liquidated_notional", "adl_notional"):
        value = f"{_lead_number(fact.value) / 10**6:,.1f}{coin}"
    elif key == "accounts_liquidated":
        value = f"{fact.value} liquidated{coin} accounts"
    elif key == "accounts_adl":
        value = f"{fact.value}{coin}"
    else:
        value = fact.value
    return f"{value}; {files}" if files else value


def replay_facts_table(runs: list[ReplayRun]) -> str:
    """The stylised facts of every replay side by side, and the real figures beside the replay that has them."""
    compared, real = real_hyperliquid_facts(runs)
    head = ["fact"] + [_column_name(r.name) for r in runs]
    if compared is not None:
        head.append(f"{_column_name(compared.name).split(' ', 1)[1]}, real (file)")
    cells = [_model_cells(r.summary) for r in runs]
    errors = {r.summary["conservation_error"] for r in runs}
    conserved = (
        f"conservation error {errors.pop()} in all {len(runs)} runs"
        if len(errors) == 1
        else "conservation error " + ", ".join(f"{r.summary['conservation_error']}" for r in runs)
    )
    lead = (
        f"One run of each replay (`delever replay NAME`, the scenario's seed; {conserved}; ADL leverage = gross "
        "notional / equity at ADL):"
    )
    lines = [
        _wrap(lead).rstrip("\n"),
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for key, label, real_key in FACT_ROWS:
        row = [label] + [c[key] for c in cells]
        if compared is not None:
            row.append(_real_cell(real_key, real))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _times(model: float, real: float) -> str:
    """``model`` as a multiple of ``real``: ``2.0 times``, or a share below 1: ``80% of``."""
    x = model / real
    return f"{x:.1f} times" if x >= 1 else f"{x:.0%} of"


def replay_notes(runs: list[ReplayRun], stretched: ReplayRun | None) -> str:
    """The bullets under the facts table: how close the Hyperliquid replay comes and why the rest differ, every
    figure from the runs and the real files (the explanations are the model's structure, written by hand). The
    first bullet is headed "Close" when the first ADL's delay, the count of ADL'd accounts and the top-1% share
    are each within 0.8 to 1.25 times the real figure."""
    compared, real = real_hyperliquid_facts(runs)
    if compared is None:
        return "No packaged replay compares with a real day's figures.\n"
    s, f, sc = compared.summary, compared.summary["facts"], compared.scenario
    q = sc.instrument.quote
    gap = f["seconds_first_liquidation_to_first_adl"]
    real_gap = _lead_number(real["seconds_first_liquidation_to_first_adl"].value)
    real_accounts = int(_lead_number(real["accounts_adl"].value))
    top1 = f["adl_concentration"]["top1pct_share"]
    real_top1 = _lead_number(real["top1pct_share"].value) / 100
    ratios = [float(s["accounts_adl"]) / real_accounts] + ([gap / float(real_gap)] if gap is not None else [])
    ratios += [top1 / float(real_top1)] if top1 is not None else []
    close = gap is not None and top1 is not None and all(0.8 <= x <= 1.25 for x in ratios)
    first = "the first ADL " + ("never comes" if gap is None else f"{gap:,.0f} s after the first liquidation")
    top1_text = "none" if top1 is None else f"{top1:.0%}"
    text = [
        f"- **{'Close' if close else 'Timing, count and concentration'}**: {first} (real {real_gap} s), the count "
        f"of ADL'd accounts ({s['accounts_adl']:,} against {real_accounts:,}) and the concentration of ADL in a few "
        f"accounts (top 1%: {top1_text} against {real_top1:.0%}) - the last two "
        + ("largely " if close else "")
        + "because the book's ADL'd accounts and their ADL sizes come from the real file."
    ]
    adl_m, real_adl_m = float(s["adl_notional"]) / 1e6, float(_lead_number(real["adl_notional"].value)) / 1e6
    waves = f["adl_waves"]
    real_waves = int(_lead_number(real["adl_waves"].value))
    wave_text = "one wave" if waves["count"] == 1 else f"{waves['count']:,} waves"
    if waves["count"] == 1 and waves["waves"][0]["seconds"] == 0:
        how = "closes the whole shortfall in one step"
    elif waves["count"]:
        how = f"closes the shortfall in {wave_text}, {waves['waves'][0]['start'][11:19]} to "
        how += f"{waves['waves'][-1]['end'][11:19]} UTC"
    else:
        how = "closes no position"
    flagged = re.search(r"([\d,]+) accounts flagged", real["negative_equity"].value)
    if flagged is None:
        raise ValueError(f"no count of flagged accounts in {real['negative_equity'].value!r}")
    neg_end = f["negative_equity_at_end"]["accounts"]
    adl_ratio = "no ADL notional" if adl_m == 0 else f"ADL notional {_times(adl_m, real_adl_m)} the real"
    fund_start = f"{Decimal(str(s['insurance_fund_start'])):,.0f}"
    trigger = {
        "negative-equity": "the ADL trigger (an account's value would go below zero)",
        "fund-cannot-pay": f"the ADL trigger (the fund, {fund_start}, cannot pay)",
        "fund-drawdown": f"the ADL trigger (the fund, {fund_start}, past its drawdown limit)",
    }[sc.adl.trigger]
    text.append(
        f"- **{adl_ratio}** ({adl_m:,.0f} M against {real_adl_m:,.0f} M) and **{wave_text} instead of "
        f"{real_waves:,}**: every liquidated position has the same entry and the same "
        f"{sc.book.hyperliquid.liquidated_leverage:g}x leverage (the files give neither), so all cross their "
        f"liquidation price in the same few seconds, and {float(s['liquidated_notional']) / 1e9:.2f} B {q} of longs "
        f"hit a book of {sc.liquidity.depth_scale:.0%} of Binance's depth at once; the mark falls to "
        f"{Decimal(str(s['min_mark_price'])):,} and {trigger} {how}. On Hyperliquid the liquidations spread "
        f"over 12 minutes and ADL came in waves. For the same reason {neg_end:,} accounts end with negative balances "
        f"({float(s['bad_debt_unrecovered']) / 1e6:,.1f} M left unrecovered after the fund and ADL), against "
        f"{flagged.group(1)} flagged accounts really."
    )
    lev = f["adl_leverage"]["median"]
    real_lev = _lead_number(real["adl_leverage"].value)
    lev_text = "n/a" if lev is None else f"{lev:.1f}x"
    text.append(
        f"- **Leverage of ADL'd accounts {lev_text} against {real_lev:.2f}x**: the model measures position notional "
        "over equity at ADL, the data fill notional over cash-only account value, and the model's ADL'd accounts "
        "hold only the BTC position the file shows, with collateral floored at 1/40 of it."
    )
    if stretched is not None:
        t, tf = stretched.summary, stretched.summary["facts"]
        deeper = "deepens" if t["liquidated_notional"] > s["liquidated_notional"] else "changes"
        t_gap = tf["seconds_first_liquidation_to_first_adl"]
        t_first = "no ADL" if t_gap is None else f"the first ADL {t_gap:,.0f} s after the first liquidation"
        text.append(
            f"- With `--set {STRETCH}` the cascade {deeper} ({t['liquidations']:,} liquidations, "
            f"{float(t['liquidated_notional']) / 1e9:.2f} B liquidated, {t_first}, "
            f"{float(t['bad_debt_unrecovered']) / 1e6:,.0f} M unrecovered)."
        )
    return "".join(_wrap(line, subsequent_indent="  ") for line in text)


# ----------------------------------------------------------------------------------------------- ADL hierarchy

HIERARCHY_VARIANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("PnL% x effective leverage", "queue-bitmex", ()),
    ("the default", "hierarchy", ()),
    ("newest first", "hierarchy", ('adl.keys=["position_age asc", "notional desc"]',)),
    ("", "hierarchy", ('adl.keys=["margin_ratio desc", "unrealized_pnl desc"]',)),
    (
        "",
        "hierarchy",
        ('adl.keys=["effective_leverage desc", "unrealized_pnl desc"]', 'adl.form="weighted"', "adl.weights=[2, 1]"),
    ),
)
"""The rows of README's hierarchy table: (what the ranking means, ``--policy``, ``--set`` items)."""


def _ranking(note: str, policy: str, adl) -> str:
    """A row's ranking in words, from the scenario's ``[adl]`` as the ``--set`` items left it."""
    if policy != "hierarchy":
        text = f"`{policy}`"
    elif adl.form == "weighted":
        weights = adl.weights or [1.0] * len(adl.keys)
        text = "weighted, `" + " + ".join(f"{w:g} x {k}" for w, k in zip(weights, adl.keys)) + "`"
    else:
        text = "`" + " > ".join(adl.keys) + "`"
    return f"{text} ({note})" if note else text


def hierarchy_table() -> str:
    """``delever compare --policy P [--set ...]`` on the default scenario for every row of
    :data:`HIERARCHY_VARIANTS` (:func:`delever.compare.compare`, one policy per call)."""
    _src_on_path()
    from delever.compare import compare
    from delever.scenario import default_scenario_path, load_scenario, parse_set

    lines = [
        "| ranking | accounts ADL'd | top-1% share of haircuts | median leverage of those ADL'd |",
        "|---|---|---|---|",
    ]
    rows = []
    for note, policy, sets in HIERARCHY_VARIANTS:
        sc = load_scenario(default_scenario_path(), parse_set(list(sets)))
        (row,) = compare(sc, sc.seed, [policy])
        rows.append(row)
        lines.append(
            f"| {_ranking(note, policy, sc.adl)} | {row['accounts_adl']:,} | {row['top1pct_share']:.1%} | "
            f"{row['leverage_median']:.1f}x |"
        )
    q = rows[0]["quote"]
    money = {(r["bad_debt"], r["adl_notional"]) for r in rows}
    if len(money) == 1:
        bad, adl = money.pop()
        note = f"Bad debt ({bad / 1e6:,.2f} M {q}) and ADL notional ({adl / 1e6:,.2f} M {q}) are the same in every row."
    else:
        by_row = ", ".join(f"{r['bad_debt'] / 1e6:,.2f} / {r['adl_notional'] / 1e6:,.2f}" for r in rows)
        note = f"Bad debt / ADL notional (M {q}) by row: {by_row}."
    lines += ["", note]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- multi-instrument scenarios

CROSS_MARGIN = "binance-2025-10-10-cross-margin"
CALENDAR_SPREAD = "binance-btcusdt-2025-10-10-calendar-spread"
"""The packaged multi-instrument scenarios whose per-instrument tables README.md shows (every mechanism on)."""


def run_packaged(name: str) -> dict:
    """``delever run`` of the packaged scenario ``name``'s summary (summary.json), in this process."""
    _src_on_path()
    from delever.engine import run
    from delever.output import summarize
    from delever.scenario import default_scenario_path, load_scenario

    sc = load_scenario(default_scenario_path().parent / f"{name}.toml")
    return summarize(run(sc, sc.seed))


def _usdt(money_units: int) -> str:
    """Money units (micro-USDT) as whole USDT, rounded half to even: 1,204,792."""
    return f"{Decimal(money_units) / 1_000_000:,.0f}"


def _mechanisms_on(summary: dict) -> str:
    """The mechanisms a run had on (summary.json ``mechanisms``, less the multi-instrument market itself)."""
    names = [k for k in summary["mechanisms"] if k not in ("cross_margin", "settlement")]
    return ", ".join(f"`{n}`" for n in names)


def _run_line(summary: dict) -> str:
    """The run's totals under a per-instrument table: mechanisms on, conservation error, open interest."""
    balanced = "balanced" if summary["open_interest_balanced"] else "NOT balanced"
    return _wrap(
        f"Mechanisms on: {_mechanisms_on(summary)}. All instruments: {summary['liquidations']:,} liquidations, "
        f"{Decimal(str(summary['bad_debt'])):,.0f} USDT of bad debt, {Decimal(str(summary['adl_notional'])):,.0f} "
        f"USDT of ADL notional; open interest {balanced}, `conservation_error` {summary['conservation_error']}."
    )


def cross_margin_table(summary: dict) -> str:
    """The packaged cross-margin scenario's per-instrument table (summary.json ``mechanisms.cross_margin``)."""
    lines = [
        "| instrument | liquidations | of which in profit (contagion) | bad debt (USDT) | fund start -> end (USDT) "
        "| ADL notional (USDT) | min mark |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["mechanisms"]["cross_margin"]["instruments"]:
        lines.append(
            f"| {r['symbol']} | {r['liquidations']:,} | {r['contagion_liquidations']:,} | {_usdt(r['bad_debt'])} | "
            f"{_usdt(r['insurance_fund_start'])} -> {_usdt(r['insurance_fund_end'])} | {_usdt(r['adl_notional'])} | "
            f"{r['min_mark']:,.2f} |"
        )
    return "\n".join(lines) + "\n\n" + _run_line(summary)


def calendar_spread_table(summary: dict) -> str:
    """The packaged calendar-spread scenario's final settlement and per-instrument table (summary.json)."""
    rows = summary["mechanisms"]["cross_margin"]["instruments"]
    lines = []
    for r in rows:
        st = r["settlement"]
        if st is not None:
            lines.append(_wrap(
                f"Final settlement of {r['symbol']} at {Decimal(st['settlement_price']):,} (step {st['step']:,}): "
                f"{st['positions_settled']:,} positions closed, {st['negative_equity_positions']:,} with negative "
                "equity deleveraged."
            ))  # fmt: skip
    lines += [
        "| instrument | liquidations | of which contagion | bad debt (USDT) | fund start -> end (USDT) "
        "| open interest at the end |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        kind = "future" if r["kind"] == "dated_future" else r["kind"]
        oi = "0 (settled)" if r["settlement"] is not None else f"{r['open_interest_end']:,.3f} BTC"
        lines.append(
            f"| {r['symbol']} {kind} | {r['liquidations']:,} | {r['contagion_liquidations']:,} | "
            f"{_usdt(r['bad_debt'])} | {_usdt(r['insurance_fund_start'])} -> {_usdt(r['insurance_fund_end'])} | "
            f"{oi} |"
        )
    return "\n".join(lines) + "\n\n" + _run_line(summary)


# ------------------------------------------------------------------------------------------ the option scenario

OPTION_SCENARIO = "deribit-btc-2025-10-10-options"
OPTION_VARIANTS = (
    ("Deribit: standard margin, socialized loss", {}),
    ("OKX: its option margin rates, ADL", {"options": {"margin": "okx"}, "mechanisms": {"socialized_loss": {
        "enabled": False}}}),
)  # fmt: skip
"""The packaged option scenario as shipped, and under OKX's option margin rates with ADL instead of socialized loss."""


def run_option_variants() -> list[tuple[str, dict]]:
    """One run (summary.json) of the packaged option scenario per :data:`OPTION_VARIANTS`."""
    _src_on_path()
    from delever.engine import run
    from delever.output import summarize
    from delever.scenario import default_scenario_path, load_scenario

    path = default_scenario_path().parent / f"{OPTION_SCENARIO}.toml"
    out = []
    for label, over in OPTION_VARIANTS:
        sc = load_scenario(path, over)
        out.append((label, summarize(run(sc, sc.seed))))
    return out


INVERSE_SCENARIOS = ("bitmex-xbtusd-2025-10-10", "deribit-btc-2025-10-10-inverse-options")
"""The packaged scenarios of inverse contracts (money in µcoin, :mod:`delever.inverse`)."""


def _coin(amount) -> str:
    """A summary.json money figure of an inverse run (µcoin) in coin, 4 decimals: 1,234,567.8 µBTC -> 1.2346."""
    return f"{Decimal(str(amount)) / 1_000_000:,.4f}"


def inverse_scenarios_table(runs: list[tuple[str, dict]]) -> str:
    """One row per packaged inverse scenario (its summary.json): money in the coin (the run's µcoin / 1e6), the
    lowest mark in USD; then the option scenario's liquidations by instrument kind."""
    _src_on_path()
    from delever.report.options_section import kind_rows

    lines = [
        "| scenario | liquidations | bad debt | fund start -> end | fund paid | socialized | ADL notional "
        "| lowest mark (USD) | conservation error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in runs:
        coin = "XBT" if name.startswith("bitmex") else "BTC"
        lines.append(
            f"| {name} | {s['liquidations']:,} | {_coin(s['bad_debt'])} {coin} | {_coin(s['insurance_fund_start'])} -> "
            f"{_coin(s['insurance_fund_end'])} | {_coin(s['insurance_fund_paid'])} | {_coin(s['socialized_loss'])} | "
            f"{_coin(s['adl_notional'])} | {Decimal(str(s['min_mark_price'])):,.2f} | {s['conservation_error']} |"
        )
    for name, s in runs:
        if "cross_margin" not in s["mechanisms"]:
            continue
        lines += ["", f"{name} by instrument kind (BTC):", "",
                  "| kind | liquidations | liquidated notional | bad debt |", "|---|---|---|---|"]  # fmt: skip
        for r in kind_rows(s["mechanisms"]["cross_margin"]["instruments"]):
            lines.append(
                f"| {r['kind']} | {r['liquidations']:,} | {r['notional'] / 1_000_000:,.4f} | "
                f"{r['bad_debt'] / 1_000_000:,.4f} |"
            )
    return "\n".join(lines) + "\n"


def _quote(amount) -> str:
    """A summary.json money figure (quote units) as whole units: 1,054,213."""
    return f"{Decimal(str(amount)):,.0f}"


def options_scenario_tables(runs: list[tuple[str, dict]]) -> str:
    """Margin per account type (the shipped run), then liquidations by instrument kind and what took the losses in
    each variant (:mod:`delever.report.options_section`'s rows)."""
    _src_on_path()
    from delever.report.options_section import account_type_rows, kind_rows

    label, first = runs[0]
    lines = [
        f"Margin per account type ({label}; USDT, summed over the type's accounts):",
        "",
        "| account type | accounts | equity at start | futures MM at start | option MM at start | option MM at peak "
        "| accounts liquidated |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in account_type_rows(first["mechanisms"]["options"]):
        lines.append(
            f"| {r['type']} | {r['accounts']:,} | {r['equity_start']:,.0f} | {r['futures_mm_start']:,.0f} | "
            f"{r['mm_start']:,.0f} | {r['mm_peak']:,.0f} | {r['liquidated']:,} ({r['liquidated_share']:.1%}) |"
        )
    lines += [
        "",
        "| variant | kind | liquidations | liquidated notional (USDT) | bad debt (USDT) | ADL notional (USDT) |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in runs:
        for r in kind_rows(s["mechanisms"]["cross_margin"]["instruments"]):
            lines.append(
                f"| {label} | {r['kind']} | {r['liquidations']:,} | {r['notional']:,.0f} | {r['bad_debt']:,.0f} | "
                f"{r['adl_notional']:,.0f} |"
            )
    lines += [
        "",
        "| variant | fund start -> end (USDT) | fund paid out | socialized loss | ADL notional | conservation error |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in runs:
        lines.append(
            f"| {label} | {_quote(s['insurance_fund_start'])} -> {_quote(s['insurance_fund_end'])} | "
            f"{_quote(s['insurance_fund_paid'])} | {_quote(s['socialized_loss'])} | {_quote(s['adl_notional'])} | "
            f"{s['conservation_error']} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ options, test count

OPTIONS_BLOCK = "options-example-output"
OPERATIONS_BLOCK = "single-operations-output"


def python_example_output(readme_text: str, block: str, workdir: Path) -> str:
    """What the last ```python example before the generated block ``block`` prints, run here (in ``workdir``, this
    checkout's ``src`` first on the path)."""
    head = readme_text.split(f"<!-- begin generated: {block} ", 1)
    if len(head) != 2:
        raise ValueError(f"README.md has no {block} block")
    examples = re.findall(r"```python\n(.*?)```", head[0], re.S)
    if not examples:
        raise ValueError(f"README.md has no ```python example before its {block} block")
    res = subprocess.run(
        [sys.executable, "-c", examples[-1]],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"README.md's example before {block} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return code_block(res.stdout)


def options_example_output(readme_text: str, workdir: Path) -> str:
    """What the options example (the last ```python example before the ``options-example-output`` block) prints."""
    return python_example_output(readme_text, OPTIONS_BLOCK, workdir)


def collected_tests_sentence() -> str:
    """The sentence that says how many tests ``python -m pytest`` runs (``pytest --collect-only``'s count)."""
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    per_file = re.findall(r"^tests/\S+\.py: (\d+)$", res.stdout, re.M)
    if res.returncode != 0 or not per_file:
        raise RuntimeError(f"pytest --collect-only failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr}")
    return _wrap(
        f"`python -m pytest` runs the unit, property (hypothesis) and end-to-end tests: {sum(map(int, per_file)):,} "
        "of them (as `python -m pytest --collect-only` counts them)."
    )


def code_block(text: str) -> str:
    return "```\n" + text.rstrip("\n") + "\n```\n"


def blocks(workdir: Path) -> tuple[dict[str, str], DefaultRun]:
    """Every generated block's text (name -> body), from runs in ``workdir``."""
    run = run_default(workdir)
    replays = run_replays()
    compared, _ = real_hyperliquid_facts(replays)
    return {
        "default-run-output": code_block(run.output),
        "default-run-narrative": narrative(run),
        "default-run-venues": venue_table(),
        "adl-event-output": code_block(adl_event_output(workdir)),
        "replay-facts": replay_facts_table(replays),
        "replay-notes": replay_notes(replays, compared and run_replay(compared.name, (STRETCH,))),
        "adl-hierarchy": hierarchy_table(),
        "cross-margin-instruments": cross_margin_table(run_packaged(CROSS_MARGIN)),
        "calendar-spread-instruments": calendar_spread_table(run_packaged(CALENDAR_SPREAD)),
        OPTIONS_BLOCK: options_example_output(README.read_text(encoding="utf-8"), workdir),
        OPERATIONS_BLOCK: python_example_output(README.read_text(encoding="utf-8"), OPERATIONS_BLOCK, workdir),
        "options-scenario": options_scenario_tables(run_option_variants()),
        "inverse-scenarios": inverse_scenarios_table([(n, run_packaged(n)) for n in INVERSE_SCENARIOS]),
        "test-count": collected_tests_sentence(),
    }, run


def readme_blocks(text: str) -> dict[str, str]:
    """The generated blocks of a README text (name -> body)."""
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}


def replace_blocks(text: str, new: dict[str, str]) -> str:
    """``text`` with each generated block's body replaced by ``new[name]`` (blocks not in ``new`` kept)."""

    def sub(m: re.Match) -> str:
        body = new.get(m.group("name"), m.group("body"))
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(sub, text)


def screenshot(report: Path, png: Path) -> bool:
    """docs/report.png: the top of the report (summary and prices) in headless Chromium; False without one."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: docs/report.png left as it is", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--window-size=1100,1700", "--virtual-time-budget=10000",
             f"--screenshot={png}", report.as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if README.md differs")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        new, run = blocks(Path(tmp))
        missing = sorted(set(new) - set(readme_blocks(text)))
        if missing:
            print(f"README.md lacks the generated blocks {missing}", file=sys.stderr)
            return 1
        if args.check:
            old = readme_blocks(text)
            stale = [k for k, v in old.items() if k in new and new[k] != v]
            if stale:
                for k in stale:
                    diff = difflib.unified_diff(
                        old[k].splitlines(), new[k].splitlines(), f"README.md: {k}", f"current code: {k}", lineterm=""
                    )
                    print("\n".join(diff), file=sys.stderr)
                print(f"README.md is stale in {stale}: run python tools/readme.py", file=sys.stderr)
                return 1
            return 0
        README.write_text(replace_blocks(text, new), encoding="utf-8")
        screenshot(run.out_dir / "report.html", PICTURE)
    print("README.md and docs/report.png regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
