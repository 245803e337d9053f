"""Progress on the terminal for the commands that take more than a moment (rich).

Every long command (``run``, ``run --ablate``, ``compare``, ``sweep``, ``adl-event``, the default run's venue
comparison) shows one bar with a count (``3/11 venues``), the time elapsed and an estimate of the time left,
through :func:`progress`. Before the first compiled kernel runs, :func:`announce_compilation` prints one
line when numba's on-disk cache holds no compiled code for the current sources (a fresh install, or sources
changed since), since that first compilation takes 10-30 s (README "Scale and Monte Carlo", first run).

Nothing is shown with ``--quiet``, when standard output is not a terminal (pipes, files, test runners), or
under ``CI``: the bars are transient and would only garble a log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

KERNEL_MODULES = (
    "adl/queue.py",
    "adl/ranking.py",
    "engine/simulation.py",
    "liquidation.py",
    "liquidity.py",
    "mark.py",
    "mechanisms/backstop.py",
    "mechanisms/funding.py",
    "mechanisms/proactive.py",
    "sweep.py",
    "trigger_index.py",
)
"""Modules (relative to the package) whose numba kernels are compiled with ``cache=True``."""

COMPILING_NOTICE = "compiling kernels (first run only, cached on disk, 10-30 s; `delever warmup` compiles them ahead)"

_announced = False


def live(console: Console, quiet: bool) -> bool:
    """Whether to draw progress: not ``quiet``, the console is a terminal, and not under ``CI``."""
    return not quiet and console.is_terminal and not os.environ.get("CI")


class CountColumn(ProgressColumn):
    """``done/total unit`` with thousands separators (``done unit`` while the total is not known yet)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,} {self.unit}")
        return Text(f"{done:,}/{int(task.total):,} {self.unit}")


@contextmanager
def progress(
    description: str, total: int | None, unit: str, *, console: Console, quiet: bool
) -> Iterator[Callable[..., None]]:
    """A transient progress bar; yields ``update(done, total=None, label=None)``.

    ``done`` is the count completed so far, ``total`` (when given) replaces the total, ``label`` (when
    given) is shown after the description (the variant, policy or venue running now). With
    :func:`live` false the bar is not drawn and ``update`` only records nothing.
    """
    show = live(console, quiet)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        CountColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
        console=console,
        disable=not show,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total, label="")

        def update(done: int, total: int | None = None, label: str | None = None) -> None:
            fields: dict = {"completed": done}
            if total is not None:
                fields["total"] = total
            if label is not None:
                fields["label"] = label
            bar.update(task, **fields)

        yield update


ALWAYS_COMPILED = ("engine/simulation.py", "liquidity.py", "mark.py", "sweep.py")
"""Kernel modules every run compiles (the others only when their mechanism or stage is reached)."""


def kernels_cached(package_dir: Path | None = None) -> bool:
    """Whether numba's on-disk cache holds compiled code for the kernels a run always needs, and no cached
    kernel is older than its source (numba recompiles those).

    numba writes one index file (``<module>.<function>-<line>.py<ver>.nbi``) per cached function, into
    ``$NUMBA_CACHE_DIR/<folder>_<hash>/`` when that is set, else into the module's ``__pycache__``
    (https://numba.readthedocs.io/en/stable/developer/caching.html). A heuristic for a notice: a wrong
    answer only shows or hides one line.
    """
    import numba

    pkg = package_dir or Path(__file__).resolve().parent.parent  # the delever package (this is delever/cli)
    cache_root = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else None
    for rel in KERNEL_MODULES:
        src = pkg / rel
        if not src.exists():
            continue
        dirs = list(cache_root.glob(f"{src.parent.name}_*")) if cache_root else [src.parent / "__pycache__"]
        indexes = [p for d in dirs for p in d.glob(f"{src.stem}.*.nbi")]
        if not indexes and rel in ALWAYS_COMPILED:
            return False
        mtime = src.stat().st_mtime
        if any(p.stat().st_mtime < mtime for p in indexes):
            return False
    return True


def announce_compilation(console: Console, quiet: bool) -> None:
    """Print :data:`COMPILING_NOTICE` once per process when progress is shown and the kernels are not cached."""
    global _announced
    if _announced or not live(console, quiet):
        return
    _announced = True
    if not kernels_cached():
        console.print(COMPILING_NOTICE, style="dim", highlight=False)
