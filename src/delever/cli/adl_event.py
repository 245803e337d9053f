"""``delever adl-event``: the ADL policy lab on the real 10 October 2025 Hyperliquid event
(:mod:`delever.adl_event`), its command and its terminal tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..adl_event import DEFAULT_OUT, DEFAULT_SEED, run_adl_event
from ..errors import InputError
from ..outdir import check_output_dir
from ..validate import MAX_SEED
from .options import PolicyOption, QuietOption
from .progress import progress


def _fmt_money(v: float, decimals: int = 0) -> str:
    return "-" if v != v else f"{v:,.{decimals}f}"


def _fmt(v: float, spec: str) -> str:
    return "-" if v != v else format(v, spec)


def _fmt_ratio(v: float) -> str:
    if v != v:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def results_table(result: dict):
    """The rich table the command prints: event totals per policy under assumption (a)."""
    inp = result["inputs"]
    t = Table(
        title=(
            f"delever adl-event: Hyperliquid 10 Oct 2025, {inp['waves']} waves, {inp['accounts']:,} ADL'd "
            f"accounts; totals, assumption (a) all-winners"
        ),
        header_style="bold",
    )
    cols = [
        ("policy", "left"),
        ("rank", "right"),
        ("budget", "right"),
        ("overshoot", "right"),
        ("max h/PnL", "right"),
        ("max h/e", "right"),
        ("PTSR", "right"),
        ("PMR", "right"),
        ("top1%", "right"),
        ("top10", "right"),
        ("Gini", "right"),
        ("touched", "right"),
        ("lev med", "right"),
        ("lev p90", "right"),
    ]
    for name, just in cols:
        t.add_column(name, justify=just, no_wrap=True)
    for r in result["policies"]:
        t.add_row(
            r["policy"],
            str(r["rank"]),
            _fmt_money(r["budget"]),
            _fmt_money(r["overshoot"], 2),
            _fmt(r["max_share_pnl"], ".2%"),
            _fmt_ratio(r["max_share_equity"]),
            _fmt_ratio(r["ptsr"]),
            _fmt_ratio(r["pmr"]),
            _fmt(r["top1pct_share"], ".1%"),
            _fmt(r["top10_share"], ".1%"),
            _fmt(r["gini"], ".3f"),
            "-" if r["touched"] != r["touched"] else f"{int(r['touched']):,}",
            _fmt(r["leverage_median"], ".2f"),
            _fmt(r["leverage_p90"], ".2f"),
        )
    return t


def sensitivity_table(result: dict):
    """Ranking and key metrics under both assumptions."""
    t = Table(
        title="sensitivity: (a) all-winners vs (b) by-adl-events (rank 1 = smallest max h/PnL)", header_style="bold"
    )
    for name in (
        "policy",
        "rank a",
        "rank b",
        "max h/PnL a",
        "max h/PnL b",
        "top1% a",
        "top1% b",
        "Gini a",
        "Gini b",
        "touched a",
        "touched b",
    ):
        t.add_column(name, justify="left" if name == "policy" else "right", no_wrap=True)
    for r in result["ranking"]:
        t.add_row(
            r["policy"],
            str(r["rank_all_winners"]),
            str(r["rank_by_adl_events"]),
            _fmt(r["max_share_pnl_all_winners"], ".2%"),
            _fmt(r["max_share_pnl_by_adl_events"], ".2%"),
            _fmt(r["top1pct_share_all_winners"], ".1%"),
            _fmt(r["top1pct_share_by_adl_events"], ".1%"),
            _fmt(r["gini_all_winners"], ".3f"),
            _fmt(r["gini_by_adl_events"], ".3f"),
            f"{int(r['touched_all_winners']):,}",
            f"{int(r['touched_by_adl_events']):,}",
        )
    return t


def register(app: typer.Typer) -> None:
    """Add the ``adl-event`` command to a typer app."""

    @app.command("adl-event")
    def adl_event(
        out: Annotated[Path, typer.Option(help="Output directory.")] = DEFAULT_OUT,
        policy: PolicyOption = None,
        seed: Annotated[
            int,
            typer.Option(help="Seed of assumption (b)'s assignment of accounts to waves.", min=0, max=MAX_SEED - 1000),
        ] = DEFAULT_SEED,
        replicas: Annotated[
            int, typer.Option(help="Seeds of assumption (b) for the spread in sensitivity.csv.", min=1, max=1000)
        ] = 3,
        quiet: QuietOption = False,
    ) -> None:
        """The ADL policy lab on the real 10 October 2025 Hyperliquid event: every policy on the 16 waves."""
        console = Console()
        if not console.is_terminal and console.width < 170:
            console = Console(width=170)
        try:
            check_output_dir(out, "adl-event")  # before any work: a refused --out costs nothing
            with progress("ADL policies on 16 waves", None, "simulations", console=console, quiet=quiet) as update:
                result = run_adl_event(
                    out, policy, seed=seed, replicas=replicas, progress=lambda done, total: update(done, total)
                )
        except InputError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        if quiet:
            return
        inp = result["inputs"]
        console.print(results_table(result))
        console.print(
            f"needed {inp['budget_needed_total']:,.2f} USD over {inp['waves']} waves; Hyperliquid took "
            f"{inp['production_budget_total']:,.2f} (net overshoot {inp['production_overshoot_total']:,.2f}; "
            f"{', '.join(f'{h} ms: {v / 1e6:,.2f} M' for h, v in inp['production_overshoot_by_horizon_ms'].items())}). "
            f"ADL notional {inp['adl_notional_total']:,.2f} USD, top 1% of accounts "
            f"({inp['adl_notional_top1pct_accounts']}) "
            f"took {inp['adl_notional_top1pct_share']:.1%}.",
            highlight=False,
        )
        console.print(sensitivity_table(result))
        console.print("assumptions (also in inputs.json):", highlight=False, markup=False)
        for a in inp["assumptions"]:
            console.print(f"  - {a}", highlight=False, markup=False)
        console.print(
            f"wrote {out}/policies.csv, waves.csv, sensitivity.csv, inputs.json, report.html", highlight=False
        )
