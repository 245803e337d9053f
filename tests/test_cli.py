"""The ``delever`` command line (:mod:`delever.cli`): a good scenario writes every output file; bad input exits
with status 2, a message naming the file, the row and the field, and writes nothing.

Scenarios are the packaged default scenario's text (its ``package:`` data paths), with 300 generated
accounts instead of 100,000, written into ``tmp_path`` and then broken one way at a time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from delever.cli import EXIT_BAD_INPUT, app
from delever.scenario import default_scenario_path

OUTPUTS = ("summary.json", "events.parquet", "accounts.parquet", "steps.parquet", "report.html")
runner = CliRunner()


def default_text() -> str:
    text = default_scenario_path().read_text(encoding="utf-8")
    text, n = re.subn(r"^accounts = \d+$", "accounts = 300", text, flags=re.M)
    assert n == 1, "the default scenario's [book.generator] accounts line moved"
    return text


def without_generator(text: str) -> str:
    """The scenario text without its ``[book.generator]`` table (up to the next table or the end)."""
    return re.sub(r"^\[book\.generator\]\n(?:(?!\[).*\n?)*", "", text, flags=re.M)


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, pattern: str) -> int:
    """1-based number of the first line of ``text`` matching ``pattern``."""
    for n, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return n
    raise AssertionError(f"no line matches {pattern!r}")


def flat(s: str) -> str:
    """Text without any whitespace: rich wraps long messages at the console width (80 under the runner)."""
    return "".join(s.split())


def invoke(*args: str):
    return runner.invoke(app, ["run", *map(str, args)])


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), "a failed run left an output directory"
    assert not list(out.parent.glob(".delever-*")), "a failed run left a temporary directory"


# --------------------------------------------------------------------------------------------------- success


def test_run_writes_every_output_file(tmp_path):
    scenario = write_scenario(tmp_path, default_text())
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted((*OUTPUTS, ".delever.json"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accounts"] == 300 and summary["seed"] == 20251010
    assert summary["conservation_error"] == 0 and summary["open_interest_balanced"] is True
    assert summary["scenario"] == "binance-btcusdt-2025-10-10"
    # 21:01..23:11 UTC at 1 s steps: 130 minutes = 7,800 steps
    assert summary["steps"] == 7_800 == pq.read_table(out / "steps.parquet").num_rows
    assert pq.read_table(out / "events.parquet").num_rows > 0
    assert (out / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert "wrote" in result.output and "conservation_error" in result.output


def test_seed_option_and_quiet(tmp_path):
    scenario = write_scenario(tmp_path, default_text())
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out, "--seed", "5", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ""
    assert json.loads((out / "summary.json").read_text())["seed"] == 5


def test_default_output_directory_is_under_the_working_directory(tmp_path, monkeypatch):
    scenario = write_scenario(tmp_path, default_text())
    monkeypatch.chdir(tmp_path)
    result = invoke(scenario, "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "delever-out" / "binance-btcusdt-2025-10-10" / "summary.json").is_file()


def test_run_with_a_book_file(tmp_path):
    (tmp_path / "book.csv").write_text(
        "account,size,entry_price,margin_mode,collateral\n"
        "alice,0.5,114000,cross,10000\n"
        "bob,-0.25,115000.05,isolated,3000\n"
        "carol,2,114500,cross,5000\n"
    )
    scenario = write_scenario(tmp_path, without_generator(default_text()) + '\n[book]\nfile = "book.csv"\n')
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accounts"] == 3 and summary["positions"] == 3 and summary["conservation_error"] == 0


def test_an_output_directory_delever_made_is_replaced(tmp_path):
    scenario = write_scenario(tmp_path, default_text())
    out = tmp_path / "out"
    out.mkdir()  # an empty directory is taken; the second run replaces the first's output (issue #13)
    for _ in range(2):
        result = invoke(scenario, "--out", out, "-q")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted((*OUTPUTS, ".delever.json"))


# ------------------------------------------------------------------------------------------------- bad input


def test_unknown_key_names_file_line_and_field(tmp_path):
    text = default_text().replace("[fees]\n", '[fees]\ncolour = "red"\n')
    scenario = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    assert flat(str(scenario)) in msg
    assert f"row{line_of(text, r'^colour = ')}," in msg
    assert "field'fees.colour'" in msg and "Extrainputsarenotpermitted" in msg
    assert_nothing_written(out)


def test_negative_insurance_fund_names_file_line_and_field(tmp_path):
    text, n = re.subn(r"^balance = .*$", 'balance = "-1"', default_text(), flags=re.M)
    assert n == 1
    scenario = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    assert flat(str(scenario)) in msg
    assert f"row{line_of(text, r'^balance = ')}," in msg
    assert "field'insurance_fund.balance'" in msg and "greaterthanorequalto0" in msg
    assert_nothing_written(out)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    text = default_text().replace("[mark]\n", "[mark]\nthis line is not toml\n")
    scenario = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    bad_line = line_of(text, r"^this line is not toml$")
    assert flat(str(scenario)) in msg and "TOMLsyntaxerror" in msg
    assert f"line{bad_line}" in msg or f"row{bad_line}" in msg
    assert_nothing_written(out)


def test_non_numeric_size_in_book_csv_names_file_row_and_field(tmp_path):
    book = tmp_path / "book.csv"
    book.write_text(
        "account,size,entry_price,margin_mode,collateral\n"  # row 1: the header
        "alice,0.5,114000,cross,10000\n"  # row 2: data row 1
        "bob,-0.25,115000,isolated,3000\n"  # row 3: data row 2
        "carol,lots,114500,cross,5000\n"  # row 4: data row 3, bad size
        "dave,1,114000,cross,5000\n"
    )
    scenario = write_scenario(tmp_path, without_generator(default_text()) + '\n[book]\nfile = "book.csv"\n')
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    assert flat(str(book)) in msg
    assert "row4," in msg and "field'size'" in msg and "'lots'" in msg
    assert_nothing_written(out)


def test_missing_price_file_names_the_file(tmp_path):
    text, n = re.subn(
        r"^(\[prices\]\n(?:.*\n)*?)file = .*$", r'\1file = "no-such-prices.csv"', default_text(), flags=re.M
    )
    assert n == 1
    scenario = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    result = invoke(scenario, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    assert flat(str(tmp_path / "no-such-prices.csv")) in msg and "filenotfound" in msg
    assert_nothing_written(out)


def test_missing_scenario_file_names_the_file(tmp_path):
    out = tmp_path / "out"
    result = invoke(tmp_path / "nope.toml", "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    assert flat(str(tmp_path / "nope.toml")) in flat(result.output)
    assert_nothing_written(out)


def test_error_message_keeps_square_brackets_in_paths(tmp_path):
    folder = tmp_path / "[old]"
    folder.mkdir()
    result = invoke(folder / "nope.toml", "--out", tmp_path / "out")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "[old]" in flat(result.output)


def test_error_row_is_the_line_of_the_key_in_its_own_table(tmp_path):
    text = default_text().replace("[fees]\n", '[fees]\nname = "typo"\n')
    scenario = write_scenario(tmp_path, text)
    result = invoke(scenario, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_BAD_INPUT
    msg = flat(result.output)
    assert "field'fees.name'" in msg
    assert f"row{line_of(text, r'^name = .typo.$')}," in msg  # line 33, not the top-level name on line 5
