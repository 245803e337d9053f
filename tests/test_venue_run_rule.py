"""One rule builds the book for ``delever run --venue X`` and for the venue comparison's row X
(:func:`delever.venues.scenario.venue_run_inputs`): the row is what the command gives, for every venue.

The scenario is the packaged default with 400 accounts, a thin book and a small fund over ten minutes of the
crash, so that every venue liquidates, and most pay bad debt or ADL."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from delever.cli import app
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import VENUES
from delever.venues.scenario import compare_rows

KEYS = ("liquidations", "bad_debt", "bad_debt_unrecovered", "insurance_fund_end", "adl_notional", "socialized_loss")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 400", text, flags=re.M)
    text = re.sub(r"^depth_scale = .*$", "depth_scale = 0.001", text, flags=re.M)
    text = re.sub(r'^balance = ".*"$', 'balance = "1000"', text, flags=re.M)
    text = text.replace('[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"',
                        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"\n'
                        'start = 2025-10-10T21:12:00Z\nend = 2025-10-10T21:22:00Z')  # fmt: skip
    path = tmp_path_factory.mktemp("venues") / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rows(scenario_file):
    sc = load_scenario(scenario_file)
    return {r["venue"]: r for r in compare_rows(sc, sc.seed)}


def test_the_scenario_tells_the_venues_apart(rows):
    # every venue liquidates on the book, but Drift, whose liquidators take positions over at the oracle (the
    # summary's liquidations are book and ADL closes; the takeovers are the backstop mechanism's figures)
    assert min(r["liquidations"] for v, r in rows.items() if VENUES[v].liquidation.style != "takeover") > 0
    assert len({tuple(r[k] for k in KEYS) for r in rows.values()}) >= 5


@pytest.mark.parametrize("venue", list(VENUES))
def test_comparison_row_is_what_run_venue_gives(scenario_file, rows, venue, tmp_path):
    out = tmp_path / venue
    res = CliRunner().invoke(app, ["run", str(scenario_file), "--venue", venue, "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert {k: summary[k] for k in KEYS} == pytest.approx({k: rows[venue][k] for k in KEYS}, abs=0)
    assert summary["conservation_error"] == rows[venue]["conservation_error"] == 0
