"""Worker processes that never outlive the delever process that started them.

A pool's workers (the venue comparison's forked processes, the sweep's loky or dask workers) are children of
the command's process. If that process is killed (SIGKILL, or SIGTERM before Python can unwind) the children
would be left running as orphans, each holding its copy of the book. Two guarantees, both tested
(``tests/test_workers.py``):

- every worker calls :func:`die_with_parent` first: on Linux it asks the kernel to SIGKILL it when its parent
  dies (``prctl(PR_SET_PDEATHSIG)``, see prctl(2)), and exits at once if the parent is already gone; it also
  ignores SIGINT, so that Ctrl-C, which the terminal sends to the whole process group, is handled by the parent
  alone;
- :func:`stopping_children` kills, when the block it guards raises (an error, Ctrl-C, SIGTERM turned into an
  exception by :mod:`delever.cli.guard`), every child process started inside the block that is still alive,
  so that a pool's shutdown does not wait for queued work (the sweep's loky and dask pools; the venue
  comparison's ``concurrent.futures`` pool is cancelled instead, its workers ending after their current
  rulebook, because killing them can leave that executor's manager thread spinning at exit).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Make this process die when ``parent_pid`` (its parent) dies; ignore SIGINT (the parent handles it).

    Call it first thing in a worker (a pool's ``initializer``). Elsewhere than Linux only SIGINT is ignored.
    """
    if threading.current_thread() is threading.main_thread():  # a dask worker runs it in another thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before the request above: nothing will signal us
        os._exit(1)


def _descendants() -> dict[int, Any]:
    import psutil

    try:
        return {p.pid: p for p in psutil.Process().children(recursive=True)}
    except psutil.Error:  # pragma: no cover
        return {}


@contextmanager
def stopping_children() -> Iterator[None]:
    """On an exception in the block, SIGKILL the child processes started in it (and their children) that are
    still running, then re-raise. Nothing happens when the block ends normally (the pools close themselves)."""
    before = set(_descendants())
    try:
        yield
    except BaseException:
        import psutil

        started = [p for pid, p in _descendants().items() if pid not in before]
        for p in started:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(started, timeout=5)
        raise
