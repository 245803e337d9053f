"""The ``delever`` command line (typer, rich): the only place, with :mod:`delever.report`, that prints to a
terminal or parses arguments. ``delever`` (pyproject ``[project.scripts]``) runs :data:`app`."""

from .app import app, main
from .terminal import EXIT_BAD_INPUT

__all__ = ["EXIT_BAD_INPUT", "app", "main"]
