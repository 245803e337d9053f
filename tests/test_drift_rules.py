"""Drift v2's liquidation as the engine runs it (../shared/specs/engines.md section 2, drift-labs/protocol-v2
``controller/liquidation.rs``): a liquidator's takeover at the oracle, the insurance fund's caps, and the loss the
fund does not pay socialized through the cumulative funding rate on both sides. Hand-worked on the small market
of tests/test_mechanisms.py (V = 100 money units per lot-tick, mark = index, a linear book, one LP).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mechanisms import P0, SOCIAL_TICKS, U, book_of, market, rows, run, scenario, socialized_book

from delever import events as ev
from delever.errors import InputError
from delever.mechanisms.insurance_cap import UNCAPPED, payable
from delever.mechanisms.socialized import funding_shares, loss_per_lot
from delever.output import summarize
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import get_venue
from delever.venues.drift import INSURANCE_VAULT_KEEP
from delever.venues.scenario import apply_venue

FUNDING = {"mode": "funding"}


def test_loss_through_funding_charges_every_open_lot_on_both_sides():
    # The isolated long (1,000 lots, 2,000 USDT at 100,000) is bankrupt at 97,000; its book close fills at
    # 969,995 ticks (tests/test_mechanisms.py): margin 2,000 - 3,000.5 = -1,000.5 USDT; the fund is empty.
    # Besides the three winning shorts (1,000, 333, 2 lots) a cross long of 100 lots at 100,000 is losing (-300
    # USDT at 97,000, not liquidated): it pays too. The LP (the book, Drift's AMM) does not. Open trader lots:
    # 1,000 + 333 + 2 + 100 = 1,435. Drift's delta: 1,000,500,000 / 1,435 = 697,212.54... units a lot:
    #   1,000 x 1,000,500,000 / 1,435 = 697,212,543.554; 333 x ... = 232,171,777.003; 2 x ... = 1,394,425.087;
    #   100 x ... = 69,721,254.355. Floors sum to 1,000,499,999; the missing unit goes to the largest remainder
    #   (.554, the 1,000-lot short): 697,212,544 / 232,171,777 / 1,394,425 / 69,721,254.
    traders = [(1_000, P0, 2_000 * U, True), (-1_000, P0, 5_000 * U, False), (-333, P0, 5_000 * U, False),
               (-2, P0, 5_000 * U, False), (100, P0, 5_000 * U, False)]  # fmt: skip
    book = book_of(traders, protected=[True] * 5)
    r = run(scenario(socialized_loss=FUNDING), market(book, SOCIAL_TICKS, lots_per_pct=1e6))
    assert [x["amount"] for x in rows(r, ev.BAD_DEBT)] == [-1_000_500_000]
    paid = [(x["position"], x["amount"]) for x in rows(r, ev.CLAWBACK)]
    assert paid == [(1, -697_212_544), (2, -232_171_777), (3, -1_394_425), (4, -69_721_254)]
    assert all(x["counterparty"] == ev.SOCIALIZED_LOSS_POOL for x in rows(r, ev.CLAWBACK))
    assert [(x["account"], x["amount"]) for x in rows(r, ev.CLAWBACK_RECEIVED)] == [(0, 1_000_500_000)]
    assert r.book.collateral[0] == 0 and r.book.wallet[0] == 0
    assert r.book.wallet[4] == 5_000 * U - 69_721_254  # the losing long paid its lots' share
    assert r.extra["socialized_loss"]["cumulative_loss_per_lot"] == str(Fraction(1_000_500_000, 1_435))
    s = summarize(r)
    assert s["bad_debt_unrecovered"] == 0 and s["conservation_error"] == 0


def test_winners_mode_is_unchanged_by_the_new_option():
    """The default ``winners`` mode: only the shorts in profit pay (tests/test_mechanisms.py's numbers)."""
    r = run(scenario(socialized_loss={}), market(socialized_book(True), SOCIAL_TICKS, lots_per_pct=1e6))
    assert [x["position"] for x in rows(r, ev.CLAWBACK)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("need", "sizes", "shares"),
    [
        # 100 over 7 long and 4 short lots (Drift's own test, math/liquidation tests.rs: loss 100, OI 7 + 4):
        # 700/11 = 63.63, 400/11 = 36.36 -> 63 + 36 = 99, the unit to the larger remainder (.63): 64 / 36
        pytest.param(100, [7, -4], [64, 36], id="drift-test-7-long-4-short"),
        # a tie (1 over two equal sizes) goes to the lower index
        pytest.param(1, [5, -5], [1, 0], id="tie-to-lower-index"),
        pytest.param(10, [0, 0], [0, 0], id="no-open-interest"),
        pytest.param(0, [3, -1], [0, 0], id="nothing-owed"),
    ],
)
def test_funding_shares_by_hand(need, sizes, shares):
    assert list(funding_shares(need, np.array(sizes, dtype=np.int64))) == shares


def test_loss_per_lot_is_drifts_delta():
    """Drift's test ``total_base_asset_amount_not_zero``: loss 100 USDC over |7| + |-4| base: 100/11 per unit
    (its 9,090,910,000 in FUNDING_RATE precision, rounded down there; exact here)."""
    assert loss_per_lot(100 * U, np.array([7, -4])) == Fraction(100 * U, 11)
    assert loss_per_lot(5, np.array([0, 0])) == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**15), st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=20))
def test_funding_shares_sum_to_the_loss_and_are_per_lot(need, sizes):
    """Conserved: the shares sum to the loss whenever anyone holds a position; each is within one unit of the
    same per-lot amount times its size."""
    arr = np.array(sizes, dtype=np.int64)
    out = funding_shares(need, arr)
    total = int(np.abs(arr).sum())
    if total == 0 or need == 0:
        assert not out.any()
        return
    assert int(out.sum()) == need
    for x, s in zip(out.tolist(), sizes):
        assert abs(Fraction(x) - Fraction(need * abs(s), total)) < 1


@pytest.mark.parametrize(
    ("fund", "cap", "payout", "debt"),
    [
        # fund 600 USDT, the vault keeps one unit: pays 599.999999 of the 1,000.5 deficit, 400.500001 left
        pytest.param("600", {"keep": "0.000001"}, 599_999_999, 400_500_001, id="vault-keeps-one-unit"),
        # a lifetime cap of 100 USDT on the market's draw (Drift's quote_max_insurance): pays 100
        pytest.param("600", {"keep": "0.000001", "max_payout": "100"}, 100 * U, 900_500_000, id="market-max"),
        # a fund of exactly one unit pays nothing
        pytest.param("0.000001", {"keep": "0.000001"}, 0, 1_000_500_000, id="one-unit-fund"),
    ],
)
def test_insurance_cap_then_socialized(fund, cap, payout, debt):
    r = run(
        scenario(fund=fund, socialized_loss=FUNDING, insurance_cap=cap),
        market(socialized_book(True), SOCIAL_TICKS, lots_per_pct=1e6),
    )
    assert sum(x["amount"] for x in rows(r, ev.INSURANCE_PAYOUT)) == payout
    assert [x["amount"] for x in rows(r, ev.BAD_DEBT)] == [-debt]
    assert sum(x["amount"] for x in rows(r, ev.CLAWBACK)) == -debt
    assert r.extra["insurance_cap"]["settled_insurance"] == payout
    assert int(r.steps.fund[-1]) == r.fund_start - payout  # what was held aside is back


def test_insurance_cap_counts_the_lifetime_draw():
    """``payable`` = min(balance - keep, max_payout - settled): 1,000 - 1 = 999 vs 500 - 300 = 200 -> 200."""
    assert payable(1_000, 1, 500, 300) == 200
    assert payable(1_000, 1, UNCAPPED, 300) == 999
    assert payable(0, 1, UNCAPPED, 0) == 0 and payable(1_000, 0, 500, 600) == 0


def test_oracle_takeover_leaves_the_margin_with_the_trader():
    # Isolated long 1,000 lots at 100,000 with 2,000 USDT; the index falls to 98,300 (983,000 ticks):
    # equity 2,000 - 1,700 = 300 < MM 98,300 x 0.5% - 50 = 441.5 (tier 2): liquidatable. The liquidator (the
    # vault) takes the 1,000 lots at the oracle, 983,000 ticks: realized (983,000 - 1,000,000) x 1,000 x 100 =
    # -1,700,000,000; margin 300 USDT pays the fee 0.3% x 98,300 = 294.9 USDT to the fund and keeps 5.1, which
    # returns to the wallet. (The backstop style would keep the 300 in the vault; the book would fill below.)
    book = socialized_book(True)
    r = run(scenario(backstop={"style": "oracle-takeover"}), market(book, [P0] * 3 + [983_000] * 3))
    take = rows(r, ev.BACKSTOP_TAKEOVER)
    assert [(x["position"], x["size"], x["price"], x["amount"]) for x in take] == [(0, -1_000, 983_000, -1_700 * U)]
    assert [x["amount"] for x in rows(r, ev.LIQUIDATION_FEE)] == [-294_900_000]
    assert not rows(r, ev.LIQUIDATION_FILL, ev.BACKSTOP_MARGIN, ev.BAD_DEBT)
    assert r.book.wallet[0] == 5_100_000 and r.book.collateral[0] == 0


def test_bankrupt_takeover_goes_to_the_fund_then_through_funding():
    # The same long at 97,000 (970,000 ticks): taken at the oracle, realized -3,000 USDT, margin -1,000 USDT.
    # Fund empty: bad debt 1,000 USDT, socialized over the traders' open lots: shorts 1,000, 333 and 2 = 1,335
    # (the LP and the liquidator vault are exempt). 1e9 x (1,000, 333, 2) / 1,335 = 749,063,670.41,
    # 249,438,202.25, 1,498,127.34; floors sum to 999,999,999: the unit goes to the largest remainder (.41).
    sc = scenario(backstop={"style": "oracle-takeover"}, socialized_loss=FUNDING)
    r = run(sc, market(socialized_book(True), SOCIAL_TICKS, lots_per_pct=1e6))
    assert [x["price"] for x in rows(r, ev.BACKSTOP_TAKEOVER)] == [970_000]
    assert [x["amount"] for x in rows(r, ev.BAD_DEBT)] == [-1_000 * U]
    paid = [(x["position"], x["amount"]) for x in rows(r, ev.CLAWBACK)]
    assert paid == [(1, -749_063_671), (2, -249_438_202), (3, -1_498_127)]
    assert r.book.collateral[0] == 0 and summarize(r)["bad_debt_unrecovered"] == 0


def test_drift_rulebook_selects_its_rules():
    rb = get_venue("drift")
    mech = rb.scenario_overrides()["mechanisms"]
    assert mech["backstop"] == {"enabled": True, "style": "oracle-takeover"}
    assert mech["socialized_loss"] == {"enabled": True, "mode": "funding"}
    assert mech["insurance_cap"] == {"enabled": True, "keep": "0.000001"}
    assert INSURANCE_VAULT_KEEP == Fraction(1, 10**6)  # QUOTE_PRECISION = 1e6: one unit
    gaps = " ".join(rb.engine_gaps())
    assert "takeover" not in gaps and "funding" not in gaps and "surplus" not in gaps
    sc = apply_venue(load_scenario(default_scenario_path()), "drift")
    assert sc.mechanisms.socialized_loss.mode == "funding" and sc.mechanisms.backstop.style == "oracle-takeover"
    assert not sc.mechanisms.partial_liquidation.enabled


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"mechanisms": {"socialized_loss": {"mode": "everyone"}}}, "mode"),
        ({"mechanisms": {"backstop": {"style": "auction"}}}, "style"),
        ({"mechanisms": {"insurance_cap": {"keep": "-1"}}}, "keep"),
        ({"mechanisms": {"insurance_cap": {"max_payout": "0.0000001"}}}, "max_payout"),
    ],
    ids=["unknown-socialized-mode", "unknown-backstop-style", "negative-keep", "sub-unit-max-payout"],
)
def test_bad_options_are_input_errors(override, field):
    with pytest.raises(InputError, match=field):
        load_scenario(default_scenario_path(), override)


def test_run_venue_drift_liquidates_by_takeover(tmp_path):
    """``delever run --venue drift`` on the default scenario's first 20 minutes: every liquidation is a takeover by
    the liquidator (the summary's ``liquidations``, closes on the book or by ADL, stay 0), money is conserved."""
    from typer.testing import CliRunner

    from delever.cli import app

    out = tmp_path / "drift"
    args = ["run", "--venue", "drift", "--set", 'prices.end="2025-10-10T21:20:00Z"', "--quiet", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["mechanisms"]["backstop"]["accounts"] > 0 and s["liquidations"] == 0
    assert s["conservation_error"] == 0 and s["bad_debt_unrecovered"] == 0
