"""How every ``delever`` command ends on bad input or an interruption: one line, a status, nothing partial.

:class:`GuardedGroup` is the typer group of the ``delever`` app. Around whichever command runs it turns

- an :class:`~delever.errors.InputError` that reaches it (a check deeper than the command's own) into
  ``error: <file, row, field: message>`` and exit status 2;
- Ctrl-C (``KeyboardInterrupt``) into ``interrupted: nothing written`` and status 130 (128 + SIGINT);
- SIGTERM into the same, status 143 (128 + SIGTERM): the default action of SIGTERM would end the process
  without unwinding, leaving a temporary directory and live worker processes.

Either way the command's ``with`` blocks unwind first: an output directory being written is removed
(:func:`delever.outdir.writing`) and worker pools are stopped (:mod:`delever.workers`); a checkpoint written so
far is kept, for ``--resume`` (:mod:`delever.checkpoint`).
"""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ..errors import InputError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived (raised by the handler :class:`GuardedGroup` installs, so the stack unwinds)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


class GuardedGroup(TyperGroup):
    """The ``delever`` command group: bad input exits 2, Ctrl-C 130, SIGTERM 143, each with one line."""

    def invoke(self, ctx):
        err = Console(stderr=True)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
        try:
            return super().invoke(ctx)
        except InputError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            err.print("interrupted: nothing written (a checkpoint, if any, is kept for --resume)", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Terminated:
            err.print("terminated: nothing written (a checkpoint, if any, is kept for --resume)", highlight=False)
            raise typer.Exit(EXIT_TERMINATED) from None
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
