"""Worker processes die with their parent (issue #13 item 3), and an interrupted command writes nothing.

Each test starts a real ``delever`` process, waits until its worker pool is alive (the default run's venue
comparison in forked workers; the sweep's loky workers), then kills or interrupts the parent and checks that
no process it started survives, and that nothing is left in the output folder.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from delever.scenario import default_scenario_path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")

LAUNCH = "import sys; from delever.cli import app; sys.argv[0] = 'delever'; app()"


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "1"},
        # a shell's background job ignores SIGINT, and children inherit that: restore Ctrl-C's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_workers(proc: subprocess.Popen, at_least: int, timeout: float = 120.0) -> list[psutil.Process]:
    """The parent's descendants once at least ``at_least`` of them run Python code of a pool's worker."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the command ended before its workers started: {proc.communicate()}")
        try:
            kids = parent.children(recursive=True)
        except psutil.NoSuchProcess:
            kids = []
        workers = [k for k in kids if k.is_running()]
        if len(workers) >= at_least:
            time.sleep(0.3)  # let the pool hand out work
            return parent.children(recursive=True)
        time.sleep(0.05)
    pytest.fail("no worker pool appeared")


def assert_all_gone(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:  # leave nothing behind even when the test fails
        p.kill()
    assert not alive, f"{len(alive)} worker(s) outlived their parent: {[p.pid for p in alive]}"


def tiny_scenario(tmp_path: Path) -> Path:
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 300", text, flags=re.M)
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[str]:
    """What a stopped command left: nothing but its checkpoint (kept on purpose, for ``--resume``)."""
    return sorted(
        p.name for p in folder.iterdir() if p.name != "scenario.toml" and not p.name.startswith(".delever-checkpoint-")
    )


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_default_run_venue_workers_die_with_the_parent(how, tmp_path):
    # the default run (no scenario argument) compares the eleven venue rulebooks in two forked workers
    proc = start(["run", "--out", str(tmp_path / "out"), "-q"], tmp_path)
    workers = wait_for_workers(proc, at_least=1)
    proc.send_signal(how)
    proc.communicate(timeout=60)
    assert_all_gone(workers)
    if how == signal.SIGTERM:
        assert proc.returncode == 143
        assert leftovers(tmp_path) == []  # SIGTERM unwinds: no output, no temporary directory


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["sigkill", "sigterm", "ctrl-c"])
def test_sweep_loky_workers_die_with_the_parent(how, tmp_path):
    sc = tiny_scenario(tmp_path)
    proc = start(["sweep", str(sc), "--paths", "400", "--workers", "2", "--out", str(tmp_path / "out"), "-q"], tmp_path)
    workers = wait_for_workers(proc, at_least=2)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert_all_gone(workers)
    if how != signal.SIGKILL:
        assert proc.returncode == 128 + how, err
        assert len(err.strip().splitlines()) == 1 and "nothing written" in err, err
        assert "Traceback" not in err
        assert leftovers(tmp_path) == []


def test_ctrl_c_during_the_default_run_prints_one_line_and_writes_nothing(tmp_path):
    proc = start(["run", "--out", str(tmp_path / "out")], tmp_path)
    workers = wait_for_workers(proc, at_least=1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert_all_gone(workers)
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted: nothing written (a checkpoint, if any, is kept for --resume)", err
    assert leftovers(tmp_path) == []
