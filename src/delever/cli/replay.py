"""``delever replay [NAME]``: list the packaged replays of real crashes, or run one (as ``delever run NAME``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .options import QuietOption, SeedOption
from .run import run
from .terminal import console, fail


def replay(
    name: Annotated[str | None, typer.Argument(help="Replay to run (omit to list them).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default ./delever-out/<name>).")] = None,
    seed: SeedOption = None,
    quiet: QuietOption = False,
) -> None:
    """List the packaged replays of real crashes, or run one by name; each report shows its stylised facts
    (beside the real ones where the data holds them)."""
    from ..errors import InputError
    from ..replays import REPLAYS, replay_path

    if name is None:
        t = Table(title="packaged replays (delever replay NAME)", header_style="bold")
        t.add_column("name")
        t.add_column("what is real")
        for r in REPLAYS:
            t.add_row(r.name, r.real)
        console.print(t)
        return
    try:
        path = replay_path(name)
    except InputError as exc:
        fail(exc)
    run(scenario=path, out=out, seed=seed, set_=None, ablate=False, venue=None, quiet=quiet)


def register(app: typer.Typer) -> None:
    """Add ``replay`` to ``app``."""
    app.command("replay")(replay)
