"""The commands beyond ``run``'s basics: ``compare`` (ADL policies side by side), ``run --set``, ``run --ablate``
and ``run --venue``, on a small scenario built to need ADL (thin book, small fund)."""

from __future__ import annotations

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from delever.cli import EXIT_BAD_INPUT, app
from delever.scenario import default_scenario_path

runner = CliRunner()


def small_scenario(tmp_path):
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 400", text, flags=re.M)
    text = re.sub(r"^depth_scale = .*$", "depth_scale = 0.001", text, flags=re.M)
    text = re.sub(r'^balance = ".*"$', 'balance = "1000"', text, flags=re.M)
    text = text.replace('[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"',
                        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"\n'
                        'start = 2025-10-10T21:12:00Z\nend = 2025-10-10T21:22:00Z')  # fmt: skip
    path = tmp_path / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_compare_writes_one_row_per_policy_with_the_same_bad_debt(tmp_path):
    scenario = small_scenario(tmp_path)
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(scenario), "--policy", "queue-bitmex", "--policy",
                                 "pro-rata-pnl", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert [r["policy"] for r in rows] == ["queue-bitmex", "pro-rata-pnl"]
    # the policy decides who is deleveraged, not how much: the same deficit and ADL notional reach both
    assert rows[0]["bad_debt"] == rows[1]["bad_debt"]
    assert float(rows[0]["adl_notional"]) > 0
    assert int(rows[0]["accounts_adl"]) <= int(rows[1]["accounts_adl"])  # pro rata touches at least as many
    assert all(r["conservation_error"] == "0" for r in rows)
    assert "haircuts" in (out / "report.html").read_text(encoding="utf-8")


def test_compare_rejects_an_unknown_policy(tmp_path):
    result = runner.invoke(app, ["compare", str(small_scenario(tmp_path)), "--policy", "nope",
                                 "--out", str(tmp_path / "cmp")])  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUT
    assert "--policy" in result.output and "nope" in result.output
    assert not (tmp_path / "cmp").exists()


def test_set_overrides_and_ablate_writes_the_table(tmp_path):
    scenario = small_scenario(tmp_path)
    out = tmp_path / "abl"
    args = ["run", str(scenario), "--set", "mechanisms.circuit_breaker.enabled=true", "--set",
            'insurance_fund.balance="2500"', "--ablate", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["insurance_fund_start"] == 2500
    assert "circuit_breaker" in summary["mechanisms"]
    variants = [r["variant"] for r in csv.DictReader(open(out / "ablation.csv"))]
    assert variants == ["all enabled", "without circuit_breaker", "none"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Mechanism: circuit_breaker" in page and "Ablation" in page


def test_set_with_a_bad_item_names_the_option(tmp_path):
    result = runner.invoke(app, ["run", str(small_scenario(tmp_path)), "--set", "novalue", "--out",
                                 str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUT
    assert "--set" in result.output


@pytest.mark.slow
def test_run_under_a_venue_rulebook(tmp_path):
    out = tmp_path / "hl"
    result = runner.invoke(app, ["run", str(small_scenario(tmp_path)), "--venue", "hyperliquid", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"].endswith("-hyperliquid")
    assert set(summary["mechanisms"]) == {"partial_liquidation", "backstop"}  # Hyperliquid's procedure
    assert summary["conservation_error"] == 0
