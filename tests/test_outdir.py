"""Output safety (:mod:`delever.outdir`, issue #13 item 1): delever never deletes a user's files.

Every refusal happens before any work (exit 2, a message naming the path and what to do) and the user's files
survive byte for byte; a directory delever made is replaced as a whole, only with its own files; stale
temporary directories of killed runs are removed, checkpoints and live runs' directories are not.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from delever import outdir
from delever.cli import EXIT_BAD_INPUT, app
from delever.errors import InputError
from delever.scenario import default_scenario_path

runner = CliRunner()
USER_BYTES = b"my notes, not delever's\n"


def tiny_scenario(tmp_path: Path) -> Path:
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 300", text, flags=re.M)
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def flat(s: str) -> str:
    return "".join(s.split())


def dead_pid() -> int:
    """The pid of a process that has exited (reaped, so no process has it until the kernel reuses it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------- refused, files survive

# (command line builder, id): each command that writes, with its cheapest valid arguments
COMMANDS = {
    "run": lambda sc, out: ["run", str(sc), "--out", str(out), "-q"],
    "compare": lambda sc, out: ["compare", str(sc), "--out", str(out), "--policy", "queue-bitmex"],
    "sweep": lambda sc, out: ["sweep", str(sc), "--out", str(out), "--paths", "1", "--steps", "5", "-q"],
    "adl-event": lambda sc, out: ["adl-event", "--out", str(out), "-q"],
}


def invoke_in(cwd: Path, args: list[str]):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, args)
    finally:
        os.chdir(old)


def assert_refused(result, *needles: str) -> None:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "Traceback" not in result.output
    for n in needles:
        assert flat(n) in flat(result.output), result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_out_dot_refused_and_the_working_directory_survives(command, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    sc = tiny_scenario(work)
    (work / "mine.txt").write_bytes(USER_BYTES)
    before = sorted(os.listdir(work))
    result = invoke_in(work, COMMANDS[command](sc, "."))
    assert_refused(result, "--out", "working directory")
    assert sorted(os.listdir(work)) == before
    assert (work / "mine.txt").read_bytes() == USER_BYTES


@pytest.mark.parametrize("command", COMMANDS)
def test_directory_with_a_user_file_refused_and_the_file_survives(command, tmp_path):
    sc = tiny_scenario(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    (out / "mine.txt").write_bytes(USER_BYTES)
    result = runner.invoke(app, COMMANDS[command](sc, out))
    assert_refused(result, str(out), "mine.txt", "did not write")
    assert os.listdir(out) == ["mine.txt"] and (out / "mine.txt").read_bytes() == USER_BYTES
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".delever")]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_path_refused_and_the_file_survives(command, tmp_path):
    sc = tiny_scenario(tmp_path)
    out = tmp_path / "results.csv"
    out.write_bytes(USER_BYTES)
    result = runner.invoke(app, COMMANDS[command](sc, out))
    assert_refused(result, str(out), "is a file")
    assert out.read_bytes() == USER_BYTES


@pytest.mark.parametrize("command", COMMANDS)
def test_a_path_under_a_file_refused(command, tmp_path):
    sc = tiny_scenario(tmp_path)
    (tmp_path / "notes").write_bytes(USER_BYTES)
    result = runner.invoke(app, COMMANDS[command](sc, tmp_path / "notes" / "sub"))
    assert_refused(result, str(tmp_path / "notes"), "is a file")
    assert (tmp_path / "notes").read_bytes() == USER_BYTES


def test_home_directory_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_bytes(USER_BYTES)
    monkeypatch.setenv("HOME", str(home))
    result = runner.invoke(app, COMMANDS["run"](tiny_scenario(tmp_path), home))
    assert_refused(result, str(home), "home directory")
    assert os.listdir(home) == [".bashrc"]


@pytest.mark.parametrize(
    "target",
    ["root", "parent-of-working-directory", "too-long-name"],
)
def test_other_refused_paths(target, tmp_path):
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    path = {"root": Path("/"), "parent-of-working-directory": Path(".."), "too-long-name": Path("x" * 300)}[target]
    old = os.getcwd()
    os.chdir(work)
    try:
        with pytest.raises(InputError) as err:
            outdir.check_output_dir(path, "run")
    finally:
        os.chdir(old)
    assert err.value.field == "--out" and str(path)[:20] in str(err.value)


def test_unwritable_parent_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(outdir.os, "access", lambda p, mode: Path(p) != tmp_path)
    with pytest.raises(InputError, match="not writable"):
        outdir.check_output_dir(tmp_path / "out", "run")


def test_marker_directory_with_a_user_file_added_is_refused(tmp_path):
    out = tmp_path / "out"
    with outdir.writing(out, "run") as tmp:
        (tmp / "summary.json").write_text("{}")
    (out / "mine.txt").write_bytes(USER_BYTES)
    with pytest.raises(InputError, match="mine.txt"):
        outdir.check_output_dir(out, "run")
    with pytest.raises(InputError, match="mine.txt"):
        with outdir.writing(out, "run") as tmp:
            pytest.fail("the block must not run")
    assert (out / "mine.txt").read_bytes() == USER_BYTES and (out / "summary.json").exists()


# ---------------------------------------------------------------------------------------- replaced atomically


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_delever_directory_replaced_with_only_its_files(exchange, tmp_path, monkeypatch):
    if not exchange:
        monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    with outdir.writing(out, "run") as tmp:
        (tmp / "old.parquet").write_text("first")
    with outdir.writing(out, "run") as tmp:
        (tmp / "summary.json").write_text("second")
    assert sorted(os.listdir(out)) == [".delever.json", "summary.json"]
    marker = json.loads((out / ".delever.json").read_text())
    assert marker["command"] == "run" and marker["files"] == ["summary.json"] and marker["version"]
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary or previous directory left


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError], ids=["ctrl-c", "error"])
def test_interrupted_write_keeps_the_previous_output(error, tmp_path):
    out = tmp_path / "deep" / "out"
    with outdir.writing(out, "run") as tmp:
        (tmp / "summary.json").write_text("previous")
    with pytest.raises(error):
        with outdir.writing(out, "run") as tmp:
            (tmp / "summary.json").write_text("partial")
            raise error()
    assert (out / "summary.json").read_text() == "previous"
    assert sorted(os.listdir(out.parent)) == ["out"]


def test_failed_first_write_removes_the_directories_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with outdir.writing(tmp_path / "a" / "b" / "out", "run"):
            raise RuntimeError()
    assert os.listdir(tmp_path) == []


def test_bad_input_after_the_check_leaves_nothing(tmp_path):
    sc = tiny_scenario(tmp_path)
    text = re.sub(r'^file = "package:[^"]*1m[^"]*"$', 'file = "missing-prices.csv"', sc.read_text(), flags=re.M)
    sc.write_text(text)  # read by the run's preparation, after the --out check
    result = runner.invoke(app, COMMANDS["run"](sc, tmp_path / "new" / "out"))
    assert result.exit_code == EXIT_BAD_INPUT and "missing-prices.csv" in flat(result.output)
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------------------------------ stale temporaries


def test_stale_temporaries_of_killed_runs_are_cleaned(tmp_path):
    stale = tmp_path / f".delever-tmp-{dead_pid()}-abc123"
    legacy = tmp_path / ".delever-k2j4h_x9"  # delever < 0.2: tempfile.mkdtemp(prefix=".delever-")
    live = tmp_path / f".delever-tmp-{os.getppid()}-def456"  # a run still going (this test's parent)
    checkpoint = tmp_path / ".delever-checkpoint-other"  # another output's checkpoint
    user_dir = tmp_path / ".delever-notes"  # not delever's pattern: kept
    lookalike = tmp_path / ".delever-notes123"  # delever's old pattern, but holding a file delever never writes
    for d in (stale, legacy, live, checkpoint, user_dir, lookalike):
        d.mkdir()
        (d / "summary.json").write_text("x")
    (lookalike / "diary.txt").write_bytes(USER_BYTES)
    result = runner.invoke(app, COMMANDS["run"](tiny_scenario(tmp_path), tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert not stale.exists() and not legacy.exists()
    assert live.exists() and checkpoint.exists() and user_dir.exists()
    assert (lookalike / "diary.txt").read_bytes() == USER_BYTES


def test_run_output_is_marked(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, COMMANDS["run"](tiny_scenario(tmp_path), out))
    assert result.exit_code == 0, result.output
    marker = json.loads((out / ".delever.json").read_text())
    assert marker["command"] == "run"
    assert marker["files"] == ["accounts.parquet", "events.parquet", "report.html", "steps.parquet", "summary.json"]
