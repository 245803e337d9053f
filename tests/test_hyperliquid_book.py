"""The Hyperliquid book builder against counts traceable to its data files (hyperliquid_btc_20251010/SOURCE.md),
and the replay beside the real figures."""

from decimal import Decimal

import numpy as np
import pytest

from delever.errors import InputError
from delever.hyperliquid_book import build_book, plan_book, read_adl_users, read_positions, real_facts, ticker_value
from delever.marketdata import packaged_data_path
from delever.scenario import load_scenario

DATA = packaged_data_path("hyperliquid_btc_20251010/positions_btc.csv").parent
SCENARIO = packaged_data_path("scenarios/hyperliquid-btc-2025-10-10.toml")


def test_positions_counts_match_the_file():
    rows = read_positions(DATA / "positions_btc.csv", "BTC")
    # SOURCE.md: 6,925 BTC rows, 4,485 LONG, 1,575 liquidated, 1,759 ADL'd, 64 both, 5,984 pre-existing
    assert len(rows) == 6925
    assert sum(r.long for r in rows) == 4485
    assert sum(r.liquidated for r in rows) == 1575
    assert sum(r.adl for r in rows) == 1759
    assert sum(r.liquidated and r.adl for r in rows) == 64
    assert sum(r.pre_existing for r in rows) == 5984


def _plan(start_price=112_137.6):
    rows = read_positions(DATA / "positions_btc.csv", "BTC")
    users = read_adl_users(DATA / "adl_by_user_btc.csv")
    liq = ticker_value(DATA / "liq_and_adl_by_ticker_12min.csv", "ticker", "BTC", "liq_notional")
    price = ticker_value(DATA / "adl_net_volume_full_12min.csv", "ticker", "BTC", "avg_price")
    return rows, plan_book(rows, users, liq, price, start_price, 20.0, 3.0, 40.0, Decimal("0.00001")), liq, price


def test_book_groups_and_sizes_trace_to_the_files():
    rows, plan, liq, adl_price = _plan()
    c = plan.counts
    # pre-existing 5,984 = ADL'd 1,608 + liquidated but not ADL'd 1,335 + neither 3,041; of the 3,041, those
    # still holding at least one lot (0.00001 BTC) after the window stay (1,505), the rest were closed by
    # their owners (1,536)
    assert (c["book_adl"], c["book_liquidated"]) == (1608, 1335)
    assert c["book_survivor"] + c["closed_by_owner_left_out"] == 3041
    assert c["opened_in_window"] == 941
    # liquidated: the BTC liquidated notional (1,789,607,763.72 USD, liq_and_adl_by_ticker_12min.csv) at the
    # start price, plus the sizes left after the window
    liq_rows = [r for r in rows if r.pre_existing and r.liquidated and not r.adl]
    after = sum(float(r.size_after) for r in liq_rows)
    got = (plan.size[plan.group == 1].sum() - after) * 112_137.6
    assert liq == Decimal("1789607763.719184")
    assert got == pytest.approx(float(liq), rel=1e-9)
    # ADL'd: each account's ADL notional over BTC's average ADL price (106,427.71019238641)
    assert adl_price == Decimal("106427.71019238641")
    adl_rows = [r for r in rows if r.pre_existing and r.adl]
    after = sum(float(r.size_after) for r in adl_rows)
    assert (plan.size[plan.group == 0].sum() - after) * float(adl_price) == pytest.approx(plan.adl_notional_used)
    # collateral: liquidated at 20x, survivors at 3x, ADL'd at least 1/40 of the notional
    np.testing.assert_allclose(plan.collateral[plan.group == 1], plan.size[plan.group == 1] * 112_137.6 / 20)
    np.testing.assert_allclose(plan.collateral[plan.group == 2], plan.size[plan.group == 2] * 112_137.6 / 3)
    assert np.all(plan.collateral[plan.group == 0] >= plan.size[plan.group == 0] * 112_137.6 / 40 * (1 - 1e-12))


def test_built_book_is_balanced_cross_and_at_one_entry():
    sc = load_scenario(SCENARIO)
    inst = sc.instrument.build()
    book, labels, plan = build_book(sc, inst, 112_137, 4, Decimal(10**9), 0)
    traders = ~book.exempt[book.account]
    assert int(book.size.sum()) == 0  # the liquidity providers close the book
    assert not book.isolated.any()
    # entry = the first index price for everyone: cost = size * 112,137 ticks * V
    np.testing.assert_array_equal(book.cost[traders], book.size[traders] * 112_137 * inst.value_per_lot_tick)
    assert len(labels) == book.n_accounts and labels[-1] == "lp-3"


def test_an_unknown_adl_account_is_an_error():
    rows = [r for r in read_positions(DATA / "positions_btc.csv", "BTC") if r.adl and r.pre_existing][:1]
    with pytest.raises(InputError, match="without an ADL row"):
        plan_book(rows, {}, Decimal(0), Decimal(100_000), 100_000.0, 20.0, 3.0, 40.0, Decimal("0.00001"))


def test_real_facts_trace_to_their_files():
    facts = real_facts(DATA, packaged_data_path("hyperliquid_oct10/adl_by_user_REALTIME.csv"))
    assert facts["seconds_first_liquidation_to_first_adl"].value.startswith("61.7")
    assert facts["adl_notional"].value == "620,890,948"  # 620,890,947.73 USD, BTC row
    assert facts["adl_fills"].value == "2,443"
    assert facts["adl_waves"].value.startswith("16 ")  # 16 rows of bad_debt_loser_waves.csv
    assert facts["accounts_adl"].value == "1,759"
    # 19,337 ADL'd accounts: the top ceil(193.37) = 194 hold 84.2 % of the ADL notional
    assert facts["top1pct_share"].value.startswith("84.2% (194 of 19,337)")
    assert facts["negative_equity"].value.startswith("302 ADL fills")


def test_hyperliquid_replay_runs_conserved_and_shows_the_real_figures(tmp_path):
    from delever.engine import run
    from delever.output import write_outputs

    summary = write_outputs(run(load_scenario(SCENARIO)), tmp_path / "hl")
    assert summary["conservation_error"] == 0
    assert summary["accounts_adl"] > 0  # Hyperliquid's trigger fires on this book: accounts would go below zero
    html = (tmp_path / "hl" / "report.html").read_text()
    assert "This replay beside what really happened" in html
    # the rule that ran (the scenario's [adl] trigger and fill), beside Hyperliquid's
    assert "cascade_timing_results.json" in html and "the fund not used first" in html
    assert "filled at the previous step&#x27;s mark" in html or "filled at the previous step's mark" in html
