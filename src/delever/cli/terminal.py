"""What every command prints to the terminal (rich): the consoles, the bad-input exit, number formatting."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2
"""Exit status of a command given bad input (the message names the file, row and field; nothing is written)."""


def fail(exc: InputError) -> None:
    """Print ``exc`` on standard error and exit with :data:`EXIT_BAD_INPUT`."""
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def fmt(v: object) -> str:
    """A table cell: floats to 4 decimals without trailing zeros, ints with thousands separators."""
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def choices(names) -> str:
    """``names`` as a comma-separated list (a ``--help`` text)."""
    return ", ".join(names)
