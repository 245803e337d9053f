"""The commands in a real terminal: under a pseudo-terminal (stdlib ``pty``) rich draws its progress bars, which
a piped run or typer's CliRunner never does (``delever sweep`` crashed there formatting a total not known yet).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from delever.scenario import default_scenario_path

WINDOW = ("2025-10-10T21:10:00Z", "2025-10-10T21:10:30Z")
"""A 30-step window of the default scenario: the test checks drawing, not economics."""


def small_scenario(tmp_path: Path, accounts: int = 200) -> Path:
    """The packaged default scenario with ``accounts`` accounts over :data:`WINDOW`."""
    text = default_scenario_path().read_text(encoding="utf-8")
    text, n = re.subn(r"^accounts = \d+$", f"accounts = {accounts}", text, flags=re.M)
    assert n == 1
    text, n = re.subn(
        r"^(file = \"package:[^\"]*_1m_[^\"]*\")$",
        r"\1" + f"\nstart = {WINDOW[0]}\nend = {WINDOW[1]}",
        text,
        flags=re.M,
    )
    assert n == 1
    path = tmp_path / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_in_terminal(args: list[str], cwd: Path, timeout_s: float = 300.0) -> tuple[int, str]:
    """Run ``delever ARGS`` with stdin, stdout and stderr on a pseudo-terminal; return (exit code, output)."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # progress is off under CI
    env.update(COLUMNS="120", LINES="40", TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from delever.cli import main; main()", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_sweep_in_a_terminal(tmp_path, engine):
    if engine == "dask":
        pytest.importorskip("distributed", reason="dask.distributed is in the test extra")
    out = tmp_path / "out"
    code, text = run_in_terminal(
        [
            "sweep",
            str(small_scenario(tmp_path)),
            "--paths",
            "3",
            "--workers",
            "1",
            "--engine",
            engine,
            "--steps",
            "20",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
    )
    assert code == 0, text
    assert "Traceback" not in text
    assert (out / "sweep.parquet").exists() and (out / "report.html").exists()
    assert "3 runs" in text and "wrote" in text


def test_compiling_notice_follows_the_cache(tmp_path, monkeypatch):
    """An empty cache is cold; once the always-compiled kernels have an index newer than their source it is warm;
    an index older than its source (numba recompiles it) is cold again."""
    import numba

    from delever.cli import progress as cli_progress

    pkg = tmp_path / "delever"
    for rel in cli_progress.KERNEL_MODULES:
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("# kernel\n")
    cache = tmp_path / "cache"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(cache))
    assert not cli_progress.kernels_cached(pkg)
    for rel in cli_progress.ALWAYS_COMPILED:
        folder = cache / f"{(pkg / rel).parent.name}_0123abcd"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{Path(rel).stem}.kernel-10.py311.nbi").write_bytes(b"")
    assert cli_progress.kernels_cached(pkg)
    os.utime(pkg / "engine/simulation.py", (time.time() + 60, time.time() + 60))  # the source changed after compiling
    assert not cli_progress.kernels_cached(pkg)


def test_run_in_a_terminal_counts_steps_and_mechanism_runs(tmp_path):
    """A run with a mechanism on draws the step bar and the runs that measure the mechanism's effect, which are
    not called an ablation unless --ablate asks for one."""
    scenario = str(small_scenario(tmp_path))
    code, text = run_in_terminal(
        ["run", scenario, "--set", "mechanisms.circuit_breaker.enabled=true", "--out", str(tmp_path / "a")],
        cwd=tmp_path,
    )
    assert code == 0, text
    assert "steps" in text and "eta" in text and "mechanism effects" in text
    assert "ablation" not in text.lower()
    code, text = run_in_terminal(
        ["run", scenario, "--set", "mechanisms.circuit_breaker.enabled=true", "--ablate", "--out", str(tmp_path / "b")],
        cwd=tmp_path,
    )
    assert code == 0, text
    assert "ablation" in text and "/3 runs" in text  # all enabled, without circuit_breaker, none


def test_quiet_prints_nothing_in_a_terminal(tmp_path):
    code, text = run_in_terminal(
        ["run", str(small_scenario(tmp_path)), "-q", "--out", str(tmp_path / "q")], cwd=tmp_path
    )
    assert code == 0, text
    assert text.strip() == ""
    assert (tmp_path / "q" / "report.html").exists()
