"""The options several commands share, written once: the scenario argument, ``--seed``, ``--set``, ``--policy``,
``--quiet`` and ``--resume``, as ``Annotated`` types (typer reads the parameter's type and its option from them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..adl.policies import POLICIES
from ..validate import MAX_SEED
from .terminal import choices

POLICY_NAMES = tuple(POLICIES)
"""ADL policies ``--policy`` accepts (listed in ``--help``)."""

ScenarioArgument = Annotated[
    Path | None, typer.Argument(help="Scenario TOML file (default: the built-in 10 Oct 2025 scenario).")
]
SeedOption = Annotated[int | None, typer.Option(help="Seed (default: the scenario's).", min=0, max=MAX_SEED)]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Override a scenario value: key.path=value (repeatable)."),
]
PolicyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--policy", metavar="POLICY", help=f"ADL policy (repeatable; default: all), one of: {choices(POLICY_NAMES)}."
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, tables or messages.")]
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="Continue the killed command from its checkpoint: skip the work it finished.")
]
