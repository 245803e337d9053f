"""``delever sweep``: Monte Carlo over generated index paths and a parameter grid (:mod:`delever.montecarlo`).

``delever sweep [SCENARIO] --paths N [--model gbm-jump|garch] [--engine local|dask|ray] [--workers K]
[--address tcp://...] [--grid key=v1,v2,...]... [--steps T] [--batch B] [--out DIR] [--seed N]`` writes
``sweep.parquet`` (one row per path x grid point) and ``report.html`` (distributions with quantiles) into
``DIR`` (default ``./delever-out/sweep-<scenario name>``) and prints the quantiles of bad debt, fund drawdown
and ADL notional per point. Bad input (a scenario file, ``--grid`` syntax, an unknown key or a rejected
value, an unknown model or engine, an engine that is not installed) exits with status 2 and a message naming
the argument; nothing is written.

Wire it into the main app with :func:`register` (``delever.cli.app``: ``register(app)``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..montecarlo_pool import ENGINES
from ..paths import MODELS
from ..validate import MAX_SEED
from .options import QuietOption, ResumeOption, ScenarioArgument
from .progress import announce_compilation, progress

EXIT_BAD_INPUT = 2
console = Console()
err_console = Console(stderr=True)


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    """``["key=v1,v2", ...]`` to ``{key: ["v1", "v2"]}`` (values stay strings: the scenario's validation and
    the path model parse them).

    Raises:
        ValueError: a spec without ``=``, an empty key or value, or a key given twice (the message quotes
            the spec).
    """
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, rest = spec.partition("=")
        key = key.strip()
        values = [v.strip() for v in rest.split(",")]
        if not sep or not key or not rest.strip() or any(v == "" for v in values):
            raise ValueError(
                f"--grid {spec!r}: expected key=v1,v2,... (a dotted scenario key such as "
                "insurance_fund.balance, or model.<parameter>)"
            )
        if key in grid:
            raise ValueError(f"--grid {spec!r}: key {key!r} given twice")
        grid[key] = values
    return grid


def _bad(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def _quantile_tables(table) -> list[Table]:
    """One rich table per reported metric: per grid point, the share of paths above 0 and the quantiles."""
    from ..montecarlo_table import REPORT_METRICS, point_stats

    out = []
    for metric, title in REPORT_METRICS:
        t = Table(title=title, show_header=True, header_style="bold")
        t.add_column("point", overflow="fold")
        for col in ("> 0", "p5", "p50", "p95", "p99", "max"):
            t.add_column(col, justify="right")
        for s in point_stats(table, metric):
            t.add_row(
                s["label"],
                f"{100 * s['share_positive']:.0f}%",
                *(f"{s[k]:,.0f}" for k in ("p5", "p50", "p95", "p99", "max")),
            )
        out.append(t)
    return out


def sweep_command(
    scenario: ScenarioArgument = None,
    paths: Annotated[int, typer.Option("--paths", help="Paths per grid point.", min=1, max=10_000_000)] = 100,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            metavar="MODEL",
            help=f"Path model, one of: {', '.join(MODELS)} (Merton jump-diffusion, GARCH(1,1)).",
        ),
    ] = "gbm-jump",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="ENGINE",
            help=f"One of: {', '.join(ENGINES)} (a local process pool, dask.distributed, Ray).",
        ),
    ] = "local",
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (default: CPU count).", min=1, max=4096)
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Existing dask scheduler / Ray cluster address.")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            metavar="KEY=V1,V2",
            help="key=v1,v2,... (repeatable): a dotted scenario key or model.<parameter>.",
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Steps per path (default: the scenario's).", min=1, max=100_000_000)
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", help="Paths per task (default: about 1 s of work).", min=1, max=10_000_000)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default ./delever-out/sweep-<scenario name>).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Root seed of the paths and the book (default: the scenario's).", min=0, max=MAX_SEED
        ),
    ] = None,
    quiet: QuietOption = False,
    resume: ResumeOption = False,
) -> None:
    """Monte Carlo over generated price paths and a parameter grid: sweep.parquet and report.html."""
    from ..checkpoint import Checkpoint, run_key
    from ..errors import InputError
    from ..montecarlo import EngineUnavailable, check_key, grid_points, sweep
    from ..outdir import check_output_dir
    from ..report.sweep_page import write_sweep
    from ..scenario import default_scenario_path, load_scenario

    if model not in MODELS:
        _bad(f"--model {model!r}: unknown path model; known: {', '.join(MODELS)}")
    if engine not in ENGINES:
        _bad(f"--engine {engine!r}: unknown engine; known: {', '.join(ENGINES)}")
    try:
        grid_ = parse_grid(grid or [])
    except ValueError as exc:
        _bad(str(exc))
    for key, values in grid_.items():
        try:
            check_key(key, model)
        except ValueError as exc:
            _bad(f"--grid {key}={','.join(values)}: {exc}")
    try:
        sc = load_scenario(scenario or default_scenario_path())
        out_dir = out or Path("delever-out") / f"sweep-{sc.name}"
        check_output_dir(out_dir, "sweep")  # before any work: a refused --out costs nothing
        grid_points(sc, model, grid_)  # the grid's values, checked before any work (ValueError names them)
        key = run_key("sweep", sc, seed, paths=paths, model=model, grid=grid_, steps=steps)
        store = Checkpoint(out_dir, "sweep", key, resume)
    except InputError as exc:
        _bad(str(exc))
    except ValueError as exc:
        _bad(f"--grid: {exc}")
    t0 = time.perf_counter()
    announce_compilation(console, quiet)
    try:
        with progress(f"sweep {sc.name}", None, "runs", console=console, quiet=quiet) as update:
            table = sweep(
                sc,
                paths,
                model=model,
                grid=grid_,
                engine=engine,
                workers=workers,
                address=address,
                seed=seed,
                steps=steps,
                batch=batch,
                progress=lambda done, total: update(done, total),
                store=store,
            )
    except (EngineUnavailable, InputError, ValueError) as exc:
        if not resume:  # bad input found by the sweep itself: no work to keep
            store.remove()
        if isinstance(exc, EngineUnavailable):
            _bad(f"--engine {engine}: {exc}")
        _bad(f"--grid: {exc}" if grid_ and isinstance(exc, ValueError) else str(exc))
    elapsed = time.perf_counter() - t0
    try:
        write_sweep(table, out_dir)
    except InputError as exc:
        _bad(str(exc))
    store.remove()
    if not quiet:
        console.print(f"delever sweep: {sc.name} ({table.num_rows:,} runs, {model}, {engine})")
        for t in _quantile_tables(table):
            console.print(t)
        console.print(f"{table.num_rows:,} runs in {elapsed:,.1f} s ({table.num_rows / elapsed:,.1f} runs/s)")
        console.print(f"wrote {out_dir}/sweep.parquet, report.html")


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` command to ``app``."""
    app.command("sweep")(sweep_command)
