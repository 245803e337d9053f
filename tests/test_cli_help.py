"""``--help`` of every command: boolean options read as flags, and the options that take a name list the names
the command accepts (from the registries, so a new policy or venue appears without editing the CLI); a bad
``--set`` is reported against ``--set``, not against the scenario file."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from delever.adl.policies import POLICIES
from delever.cli import app
from delever.montecarlo import ENGINES
from delever.paths import MODELS
from delever.scenario import default_scenario_path
from delever.venues import VENUES

runner = CliRunner()
COMMANDS = ["run", "compare", "sweep", "adl-event", "venues", "position", "version", "warmup"]


def help_text(command: str) -> str:
    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())  # undo the wrapping


@pytest.mark.parametrize("command", COMMANDS)
def test_no_bool_placeholder(command):
    assert "<bool>" not in help_text(command)


@pytest.mark.parametrize(
    ("command", "flag"),
    [("run", "--ablate"), ("run", "--quiet"), ("compare", "--quiet"), ("sweep", "--quiet"), ("adl-event", "--quiet"),
     ("position", "--json")],
)  # fmt: skip
def test_flags_take_no_value(command, flag):
    text = help_text(command)
    assert f"{flag} " in text and not re.search(re.escape(flag) + r" <", text)


@pytest.mark.parametrize(
    ("command", "names"),
    [("run", list(VENUES)), ("compare", list(POLICIES)), ("adl-event", list(POLICIES)),
     ("sweep", list(MODELS) + list(ENGINES))],
    ids=["run-venues", "compare-policies", "adl-event-policies", "sweep-models-engines"],
)  # fmt: skip
def test_help_lists_the_choices(command, names):
    text = help_text(command).replace("- ", "-")  # click may break a long name at its hyphen
    missing = [n for n in names if n not in text]
    assert not missing


@pytest.mark.parametrize(
    ("item", "message"),
    [("insurance_fund.balanc=1", "Extra inputs"), ("insurance_fund.balance=-1", "greater than or equal to 0")],
    ids=["unknown-key", "rejected-value"],
)
def test_bad_set_is_blamed_on_set(tmp_path, item, message):
    res = runner.invoke(app, ["run", "--set", item, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert f"--set '{item}'" in text and message in text
    assert f"{default_scenario_path().name} itself is valid" in text
    assert not (tmp_path / "o").exists()


def test_a_bad_file_is_still_the_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(default_scenario_path().read_text().replace("[insurance_fund]", "[insurance_fund]\nbogus = 1", 1))
    res = runner.invoke(app, ["run", str(bad), "--set", "insurance_fund.balance=5", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "bad.toml" in res.output and "bogus" in res.output and "--set" not in res.output
