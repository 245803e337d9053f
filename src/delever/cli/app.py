"""The ``delever`` command line (typer): the app and its commands, ``run`` (:mod:`.run`), ``version``,
``compare``, ``venues`` (:mod:`.venues`), ``adl-event`` (:mod:`.adl_event`), ``sweep`` (:mod:`.sweep`),
``replay`` (:mod:`.replay`), ``offset`` (:mod:`.operations`) and ``warmup`` (:mod:`delever.warmup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..adl.policies import POLICIES
from ..errors import InputError
from ..outdir import check_output_dir
from .guard import GuardedGroup
from .options import PolicyOption, QuietOption, ResumeOption, ScenarioArgument, SeedOption, SetOption
from .progress import announce_compilation, progress
from .run import load_with_overrides, run
from .terminal import console, fail, fmt

app = typer.Typer(
    cls=GuardedGroup,
    add_completion=False,
    # click's plain help: flags show as flags (typer's rich panels print every bool as "<bool>")
    rich_markup_mode=None,
    no_args_is_help=False,
    help="delever: the deleveraging stack of a perpetual-futures venue, exact and fast.",
)
app.command()(run)


@app.command()
def version() -> None:
    """Print the version."""
    from .. import __version__

    console.print(__version__)


@app.command()
def warmup() -> None:
    """Compile the engine's kernels into numba's on-disk cache: a set-up step after installing, so that the first
    run does not compile (python -m delever.warmup; it runs every packaged scenario small)."""
    from ..warmup import main as warm_up_main

    warm_up_main()


@app.command()
def compare(
    scenario: ScenarioArgument = None,
    policy: PolicyOption = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default ./delever-out/compare-<name>).")] = None,
    seed: SeedOption = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
    resume: ResumeOption = False,
) -> None:
    """Run the same scenario once per ADL policy; write compare.csv and a report page side by side."""
    from ..checkpoint import Checkpoint, run_key
    from ..compare import COLUMNS, write_compare
    from ..compare import compare as run_compare
    from ..scenario import default_scenario_path

    announce_compilation(console, quiet)
    try:
        sc = load_with_overrides(scenario or default_scenario_path(), set_ or [])
        for name in policy or []:
            if name not in POLICIES:
                raise InputError(f"unknown ADL policy {name!r}; known: {', '.join(POLICIES)}", field="--policy")
        seed_ = sc.seed if seed is None else seed
        names = list(policy or POLICIES)
        out_dir = out or Path("delever-out") / f"compare-{sc.name}"
        check_output_dir(out_dir, "compare")
        store = Checkpoint(out_dir, "compare", run_key("compare", sc, seed_, policies=policy), resume)
        with progress("ADL policies", len(names), "policies", console=console, quiet=quiet) as update:
            rows = run_compare(
                sc, seed_, names, progress=lambda name: update(names.index(name), label=name), store=store
            )
    except InputError as exc:
        fail(exc)
    try:
        write_compare(rows, out_dir, f"delever compare: {sc.name} (seed {seed_})")
    except InputError as exc:
        fail(exc)
    store.remove()
    if quiet:
        return
    t = Table(title=f"ADL policies on {sc.name}", header_style="bold")
    keys = (
        "policy",
        "accounts_adl",
        "adl_notional",
        "haircut_total",
        "haircut_max",
        "top1pct_share",
        "gini",
        "leverage_median",
    )
    for k in keys:
        t.add_column(k, justify="left" if k == "policy" else "right")
    for r in rows:
        t.add_row(*[r[k] if k == "policy" else fmt(r[k]) for k in keys])
    console.print(t)
    console.print(f"wrote {out_dir}/compare.csv and report.html ({len(COLUMNS)} columns)")


def _register_extensions() -> None:
    from .adl_event import register as register_adl_event
    from .operations import register as register_operations
    from .replay import register as register_replay
    from .sweep import register as register_sweep
    from .venues import register as register_venues

    register_venues(app)
    register_adl_event(app)
    register_sweep(app)
    register_replay(app)
    register_operations(app)


_register_extensions()


def main() -> None:  # pragma: no cover - console entry
    app()
