"""``delever run [SCENARIO] [--out DIR] [--seed N]``: run a scenario (default: the built-in 10 October 2025
Binance BTCUSDT scenario), show a progress bar and a summary table, and write the run's files
(:mod:`delever.output`). Bad input exits with status 2 and a message naming the file, row and field; nothing
is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..checkpoint import DEFAULT_EVERY_S
from ..errors import InputError
from ..outdir import check_output_dir, read_marker
from ..validate import check_prepared
from ..venues import VENUES
from .options import QuietOption, ResumeOption, SeedOption, SetOption
from .progress import announce_compilation, progress
from .terminal import choices, console, fail, fmt

VENUE_NAMES = tuple(VENUES)
"""Rulebooks ``run --venue`` accepts (listed in ``--help``)."""


def summary_table(summary: dict, title: str) -> Table:
    """A rich table of the summary's scalar fields."""
    from decimal import Decimal

    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in summary.items():
        if isinstance(v, dict):
            continue
        if isinstance(v, Decimal):
            v = f"{v:,.2f}" if k != "conservation_error" else str(v)
        t.add_row(k, fmt(v))
    return t


def run(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML file or packaged replay name (`delever replay`; default: the built-in 10 Oct 2025 "
            "scenario)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default ./delever-out/<scenario name>).")] = None,
    seed: SeedOption = None,
    set_: SetOption = None,
    ablate: Annotated[
        bool, typer.Option("--ablate", help="Also run with each enabled mechanism off in turn; write ablation.csv.")
    ] = False,
    venue: Annotated[
        str | None,
        typer.Option(metavar="VENUE", help=f"Run under this venue's rulebook, one of: {choices(VENUE_NAMES)}."),
    ] = None,
    quiet: QuietOption = False,
    resume: ResumeOption = False,
    checkpoint_every: Annotated[
        float, typer.Option("--checkpoint-every", help="Seconds of engine work between checkpoints.", min=0, max=3600)
    ] = DEFAULT_EVERY_S,
) -> None:
    """Run a scenario end to end and write summary.json, events.parquet, steps.parquet and report.html."""
    from ..ablation import table as ablation_csv
    from ..checkpoint import Checkpoint, run_checkpointed, run_key
    from ..engine import prepare
    from ..output import write_outputs
    from ..replays import scenario_argument
    from ..scenario import default_scenario_path

    announce_compilation(console, quiet)
    try:
        scenario = scenario_argument(scenario)
        sc = load_with_overrides(scenario or default_scenario_path(), set_ or [])
        seed_ = sc.seed if seed is None else seed
        if venue is not None:
            from ..venues.scenario import apply_venue, venue_run_inputs

            out_dir = out or Path("delever-out") / apply_venue(sc, venue).name
            check_output_dir(out_dir, "run")  # before any work: a refused --out costs nothing
            # the book as the scenario builds it, the venue's rules from the first step (the venue comparison's rule)
            sc, market = venue_run_inputs(sc, venue, seed_)
        else:
            out_dir = out or Path("delever-out") / sc.name
            check_output_dir(out_dir, "run")
            market = prepare(sc, seed_)
        check_prepared(sc, market, file=str(scenario or default_scenario_path()))
        store = Checkpoint(out_dir, "run", run_key("run", sc, seed_), resume)
    except InputError as exc:
        fail(exc)
    with progress(sc.name, market.path.steps, "steps", console=console, quiet=quiet) as update:
        result = run_checkpointed(sc, seed_, market, store, lambda done, total: update(done), checkpoint_every)
    extra_sections: list[dict] = []
    ablation_rows = None
    if sc.mechanisms.enabled() or ablate:
        from ..ablation import ablate as run_ablation
        from ..ablation import variant_count
        from ..output import summarize
        from ..report.sections import ablation_table as ablation_html
        from ..report.sections import mechanism_sections

        # without --ablate the runs only feed each mechanism's section (its effect: with it vs without it)
        what = "ablation" if ablate else "mechanism effects"
        with progress(what, variant_count(sc), "runs", console=console, quiet=quiet) as update:
            ablation_rows = run_ablation(
                sc, seed_, base=result, progress=lambda done, total, label: update(done, total, label)
            )
        quote = sc.instrument.build().quote
        extra_sections += mechanism_sections(summarize(result), ablation_rows, result.steps.time_ns, quote)
        if ablate:
            extra_sections.append({"title": "Ablation", "html": str(ablation_html(ablation_rows, quote))})
    from ..settlement import report_section

    settlement = report_section(result.extra)
    if settlement is not None:
        extra_sections.append(settlement)
    if scenario is None and venue is None and not set_:
        # the default scenario's report compares every venue's rules on this run's path and book (issue #3)
        from ..venues.scenario import compare_venues

        # eleven runs, independent of each other: on two cores at once (rows identical, in the same order)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        with progress("venue rulebooks", len(VENUE_NAMES), "venues", console=console, quiet=quiet) as update:
            extra_sections.append(
                compare_venues(sc, seed_, market, workers=min(2, cores), progress=lambda done, total: update(done))
            )
    try:
        summary = write_outputs(
            result, out_dir, extra_sections=extra_sections, ablation=ablation_csv(ablation_rows) if ablate else None
        )
    except InputError as exc:
        fail(exc)
    store.remove()  # the outputs are written: nothing to resume
    if ablate and not quiet and ablation_rows:
        console.print(ablation_table(ablation_rows))
    if not quiet:
        console.print(summary_table(summary, f"delever run: {sc.name} (seed {seed_})"))
        from ..settlement import settled, summary_line

        for symbol, st in settled(result.extra):
            console.print(summary_line(symbol or sc.instrument.symbol, st))
        written = ", ".join(read_marker(out_dir)["files"])
        console.print(f"wrote {out_dir}/: {written}")


def load_with_overrides(path: Path, items: list[str]):
    """The scenario at ``path`` with ``--set`` items merged over it.

    An error that the file alone does not have is the override's: it is reported against ``--set`` (the item
    whose key path matches the field, if one does), not against the scenario file.

    Raises:
        InputError: a bad file (naming it), or a bad ``--set`` item (field ``--set``).
    """
    from ..scenario import load_scenario, parse_set

    overrides = parse_set(items)
    try:
        return load_scenario(path, overrides)
    except InputError as exc:
        if not overrides:
            raise
        load_scenario(path)  # the file's own error, if it has one, is reported as the file's
        field = exc.field or ""
        keys = [item.partition("=")[0].strip() for item in items]
        blamed = [
            i for i, k in zip(items, keys) if field == k or field.startswith(k + ".") or k.startswith(field + ".")
        ]
        what = ", ".join(repr(i) for i in (blamed or items))
        raise InputError(f"--set {what}: {exc.message} (scenario key {field!r}; {path.name} itself is valid)") from None


def ablation_table(rows: list[dict]) -> Table:
    """A rich table of the ablation runs (one row per variant)."""
    t = Table(title="ablation", header_style="bold")
    keys = ("variant", "liquidations", "bad_debt", "bad_debt_unrecovered", "insurance_fund_end", "adl_notional")
    for k in keys:
        t.add_column(k, justify="left" if k == "variant" else "right")
    for r in rows:
        t.add_row(*[r[k] if k == "variant" else fmt(float(r[k]) if not isinstance(r[k], int) else r[k]) for k in keys])
    return t
