"""``delever adl-event``: the input sums it reports trace to the packaged files (and to the replay's summary),
every policy row exists, and the command runs through typer into a temporary directory."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from delever.adl.policies import POLICIES
from delever.adl_event import ASSUMPTIONS, PRODUCTION, SENSITIVITY_METRICS, load_event
from delever.cli.adl_event import register
from delever.marketdata import packaged_data_path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _rows(name: str) -> list[dict]:
    with packaged_data_path(f"hyperliquid_oct10/{name}").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One full run of the command (every policy, both assumptions) through the CLI."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """delever (test app)."""

    register(app)
    out = tmp_path_factory.mktemp("adl") / "adl-event"
    res = CliRunner().invoke(app, ["adl-event", "--out", str(out), "--replicas", "1"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_input_sums_trace_to_the_files(run):
    out, _ = run
    inp = json.loads((out / "inputs.json").read_text())
    users = _rows("adl_by_user_REALTIME.csv")
    # accounts: one row per ADL'd account
    assert inp["accounts"] == len(users) == 19_337
    # total ADL notional: the file's sum, and the replay summary's 2,103,111,430.86 (to the cent: the command
    # sums micro-USD, the file has float64 USD)
    file_sum = math.fsum(float(r["adl_notional"]) for r in users)
    assert inp["adl_notional_total"] == pytest.approx(file_sum, abs=0.01)
    assert inp["adl_notional_total"] == pytest.approx(2_103_111_430.86, abs=0.01)
    summary = json.loads(packaged_data_path("hyperliquid_oct10/realtime_analysis_summary.json").read_text())
    assert summary["key_findings"]["total_adl_notional"] == pytest.approx(2_103_111_430.86, abs=0.005)
    assert inp["adl_events"] == sum(int(r["num_adl_events"]) for r in users) == 34_983
    assert inp["closed_pnl_total"] == pytest.approx(834_295_749.29, abs=0.01)
    # top 1% (194 accounts) of ADL'd accounts took 84% of ADL notional (specs/adl_policies.md)
    assert inp["adl_notional_top1pct_accounts"] == 194
    assert inp["adl_notional_top1pct_share"] == pytest.approx(0.8422, abs=5e-5)


def test_negative_equity_what_the_per_user_file_gives(run):
    # The replay's -23,191,104.48 (302) is a sum over ADL fill rows (user x coin) of the ADL'd account's total
    # equity where it was negative; it is not a per-account quantity and the per-user file (cash-only account
    # value, no total equity) cannot rebuild it. What the files do give:
    out, _ = run
    neg = json.loads((out / "inputs.json").read_text())["negative_equity"]
    users = _rows("adl_by_user_REALTIME.csv")
    av = np.array([float(r["account_value_realtime"]) for r in users])
    flagged = sum(r["is_negative_equity"] == "True" for r in users)
    assert neg["flagged_accounts"] == flagged == 165
    assert neg["account_value_negative_accounts"] == int((av < 0).sum()) == 124
    assert neg["account_value_negative_total"] == pytest.approx(math.fsum(av[av < 0]), abs=1e-6)
    assert neg["account_value_negative_total"] == pytest.approx(-1_408_769.32, abs=0.01)
    # the 302 are per-coin rows: the per-coin file's counts add up to them
    coins = _rows("adl_by_coin_REALTIME.csv")
    assert neg["flagged_events_by_coin"] == sum(int(r["is_negative_equity"]) for r in coins) == 302
    assert neg["replay_count"] == 302
    assert neg["replay_total"] == pytest.approx(-23_191_104.48, abs=0.005)
    # ... and one account appears once per coin among the largest rows
    fund = json.loads(packaged_data_path("hyperliquid_oct10/insurance_fund_results.json").read_text())
    top = [r["user"] for r in fund["top_underwater_accounts"]]
    assert len(set(top)) < len(top)
    assert fund["total_negative_equity"] == pytest.approx(-23_191_104.48, abs=0.005)
    assert neg["largest_replay_row"]["total_equity"] == pytest.approx(-11_558_884.49, abs=0.005)


def test_waves_and_budgets(run):
    out, _ = run
    inp = json.loads((out / "inputs.json").read_text())
    waves = _rows("two_pass_equity_delta_by_wave_h0ms.csv")
    assert inp["waves"] == len(waves) == 16
    assert inp["budget_needed_total"] == pytest.approx(15_079_669.61, abs=0.01)
    assert inp["production_budget_total"] == pytest.approx(60_108_335.33, abs=0.01)
    # net sum over waves of production minus needed, as the paper reports it (45.03 M at horizon 0 ms)
    assert inp["production_overshoot_total"] == pytest.approx(45_028_665.72, abs=0.01)
    assert inp["production_overshoot_total"] == pytest.approx(
        inp["production_overshoot_pos_total"] + inp["production_overshoot_neg_total"], abs=1e-6
    )
    assert inp["production_overshoot_by_horizon_ms"]["0"] == pytest.approx(45_028_665.72, abs=0.01)
    assert inp["deficit_total"] == pytest.approx(100_063_386.69, abs=0.01)
    # the paper's per-wave table carries the same needed and production budgets
    ppw = _rows("policy_per_wave_metrics.csv")
    assert [r["wave"] for r in ppw] == [r["wave"] for r in waves] == [str(x) for x in inp["wave_ids"]]
    for a, b in zip(ppw, waves):
        assert float(a["budget_needed"]) == pytest.approx(float(b["budget_needed_usd"]), rel=1e-12)
        assert float(a["budget_prod"]) == pytest.approx(float(b["budget_prod_usd"]), rel=1e-9)
    assert inp["wave_fills_total"] == sum(int(r["n_rows"]) for r in _rows("bad_debt_loser_waves.csv"))


def test_every_policy_row_exists_and_pays_the_need(run):
    out, output = run
    with (out / "policies.csv").open() as f:
        pol = list(csv.DictReader(f))
    assert [r["policy"] for r in pol] == [PRODUCTION, *POLICIES]
    inp = json.loads((out / "inputs.json").read_text())
    for r in pol[1:]:
        # every policy covers each wave's need, up to whole-contract rounding (a few USD at most)
        assert float(r["shortfall"]) == 0.0, r["policy"]
        assert 0.0 <= float(r["overshoot"]) < 100.0, r["policy"]
        assert float(r["budget"]) == pytest.approx(inp["budget_needed_total"], abs=100.0)
        assert 1 <= int(r["rank"]) <= len(POLICIES)
    assert float(pol[0]["overshoot"]) == pytest.approx(45_028_665.72, abs=0.01)
    with (out / "waves.csv").open() as f:
        waves = list(csv.DictReader(f))
    assert len(waves) == 16 * (len(POLICIES) + 1) * len(ASSUMPTIONS)
    with (out / "sensitivity.csv").open() as f:
        sens = list(csv.DictReader(f))
    assert len(sens) == len(POLICIES) * len(SENSITIVITY_METRICS)
    assert {r["policy"] for r in sens} == set(POLICIES)
    # the printed table names every policy and states the assumptions
    for name in POLICIES:
        assert name in output
    assert "all-winners" in output and "by-adl-events" in output
    assert len(inp["assumptions"]) >= 2


def test_policy_subset_and_bad_policy(tmp_path):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """delever (test app)."""

    register(app)
    res = CliRunner().invoke(
        app,
        [
            "adl-event",
            "--out",
            str(tmp_path / "o"),
            "--policy",
            "pro-rata-pnl",
            "--policy",
            "queue-hyperliquid",
            "--replicas",
            "2",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    with (tmp_path / "o" / "policies.csv").open() as f:
        assert [r["policy"] for r in csv.DictReader(f)] == [PRODUCTION, "pro-rata-pnl", "queue-hyperliquid"]
    with (tmp_path / "o" / "sensitivity.csv").open() as f:
        for r in csv.DictReader(f):  # the first seed's value lies within the spread over the seeds
            if r["by_adl_events"]:
                assert float(r["by_adl_events_min"]) <= float(r["by_adl_events"]) <= float(r["by_adl_events_max"])
    assert json.loads((tmp_path / "o" / "inputs.json").read_text())["replicas_by_adl_events"] == 2
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    for div in ("fig-waves", "fig-haircuts"):  # per-wave budgets vs production; the policies' haircut distributions
        assert f'id="{div}"' in page
    assert "Sensitivity: assumption (a) against (b)" in page and "60,108,335.33" in page  # Hyperliquid's total
    bad = CliRunner().invoke(app, ["adl-event", "--out", str(tmp_path / "x"), "--policy", "no-such"])
    assert bad.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_pool_arrays_match_the_file():
    d = load_event()
    users = _rows("adl_by_user_REALTIME.csv")
    assert d.n == len(users)
    pnl = np.array([float(r["closed_pnl"]) for r in users])
    assert int(d.pnl.sum()) == int(np.round(np.maximum(pnl, 0) * 1e6).sum())
    assert int((d.pnl > 0).sum()) == int((pnl > 0).sum()) == 19_230


@pytest.mark.skipif(not (SHARED / "hyperliquid-oct10-adl").is_dir(), reason="shared data not present")
def test_packaged_files_are_faithful_copies():
    # adl_by_user_REALTIME.csv: the original without its first column (user); the other files byte for byte
    orig = (SHARED / "hyperliquid-oct10-adl" / "adl_by_user_REALTIME.csv").read_text().splitlines()
    pkg = packaged_data_path("hyperliquid_oct10/adl_by_user_REALTIME.csv").read_text().splitlines()
    assert [line.split(",", 1)[1] for line in orig] == pkg
    for sub, name in [
        ("hyperliquid-oct10-adl", "adl_by_coin_REALTIME.csv"),
        ("hyperliquid-oct10-adl", "realtime_analysis_summary.json"),
        ("hyperliquid-oct10-adl", "insurance_fund_results.json"),
        ("chitra-adl-oct10", "policy_per_wave_metrics.csv"),
        ("chitra-adl-oct10", "two_pass_equity_delta_by_wave_h0ms.csv"),
        ("chitra-adl-oct10", "bad_debt_loser_waves.csv"),
        ("chitra-adl-oct10", "eval_horizon_sweep_gap5000ms.csv"),
    ]:
        assert (SHARED / sub / name).read_bytes() == packaged_data_path(f"hyperliquid_oct10/{name}").read_bytes()
