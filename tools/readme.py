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
- ``adl-event-output``: the tables ``delever adl-event`` prints (up to its list of assumptions).

docs/report.png is a screenshot of the default run's report.html by headless Chromium (skipped, with a message,
when Chromium is not installed). ``tests/test_readme.py`` checks that the blocks equal what the code prints
now, so a change of the engine's economics is a visible, reviewed change of README.md.
"""

from __future__ import annotations

import argparse
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


def _wrap(text: str, width: int = 115) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False, break_long_words=False)) + "\n"


def venue_table() -> str:
    """The venue comparison of the default run's report as a Markdown table (money rounded to whole USDT)."""
    sys.path.insert(0, str(ROOT / "src"))
    from delever.scenario import default_scenario_path, load_scenario
    from delever.venues.scenario import compare_rows

    sc = load_scenario(default_scenario_path())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    rows = compare_rows(sc, sc.seed, workers=min(2, cores))
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


def code_block(text: str) -> str:
    return "```\n" + text.rstrip("\n") + "\n```\n"


def blocks(workdir: Path) -> tuple[dict[str, str], DefaultRun]:
    """Every generated block's text (name -> body), from runs in ``workdir``."""
    run = run_default(workdir)
    return {
        "default-run-output": code_block(run.output),
        "default-run-narrative": narrative(run),
        "default-run-venues": venue_table(),
        "adl-event-output": code_block(adl_event_output(workdir)),
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
            stale = [k for k, v in readme_blocks(text).items() if k in new and new[k] != v]
            if stale:
                print(f"README.md is stale in {stale}: run python tools/readme.py", file=sys.stderr)
                return 1
            return 0
        README.write_text(replace_blocks(text, new), encoding="utf-8")
        screenshot(run.out_dir / "report.html", PICTURE)
    print("README.md and docs/report.png regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
