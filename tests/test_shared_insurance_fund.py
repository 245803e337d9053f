"""One insurance fund shared by every instrument of a run (``[insurance_fund] shared = true``,
:mod:`delever.insurance`): dYdX v4's cross markets share one ``insurance-fund`` (../shared/specs/engines.md
section 1), Bybit pools up to 9 correlated contracts (venues.md section 3).

Instruments: BTC (tick 0.1, lot 0.001: V = 100 money units per lot-tick) and ETH (tick 0.01, lot 0.001: V = 10), both
on Binance's 2021 BTCUSDT tiers (0.4% MMR below 50,000 USDT notional, 0.5% - 50 up to 250,000). The runs below are
the engine's own step (:class:`delever.engine.Simulation`) on a hand-made market: flat index paths and linear order
books so deep (``D`` = 1e9 lots per 1%) that an order of ``k`` lots fills at ``centre x (1 -/+ k / (200 D))``, i.e.
one tick beyond the centre once rounded against the liquidated account.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever.book import Book
from delever.engine import Market, MultiMarket, Simulation
from delever.insurance import InsuranceFunds
from delever.instruments import Instrument
from delever.liquidity import DepthCurve
from delever.output import summarize, write_outputs
from delever.report.sections import mechanism_sections
from delever.prices import PricePath
from delever.scenario import load_scenario
from delever.tiers import BINANCE_BTCUSDT_2021 as TIERS
from delever.units import MONEY_SCALE, money
from core_stack import MECHANISMS_OFF
from test_one_loop import CALENDAR, CROSS, MECHANISMS, mechanism_sets
from test_one_loop import _run as run_packaged

BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), TIERS)
ETH = Instrument("ETHUSDT", Decimal("0.01"), Decimal("0.001"), TIERS, base="ETH")
ETH_CONFIG = {"symbol": "ETHUSDT", "tick_size": "0.01", "lot_size": "0.001", "tiers": "binance-btcusdt-2021",
              "start_price": "4000"}  # fmt: skip
DEEP = 1e9


def tiny_run(book: Book, prices, shared: bool = False, funds=(0, 0), mechanisms: dict | None = None,
             depth=None, instruments=(BTC, ETH), adl: dict | None = None):  # fmt: skip
    """Run ``book`` through the engine's step over hand-given index paths (``prices``: one list of quote prices per
    instrument, one step a second) with linear books of ``depth`` lots per 1%, the packaged cross-margin scenario's
    settings otherwise (fee 0.3%); ``funds`` the instruments' starting balances (money). Returns the simulation and
    its :class:`~delever.engine.RunResult`; money and open interest are checked at every step."""
    over = {
        "insurance_fund": {"balance": str(Decimal(funds[0]) / MONEY_SCALE), "shared": shared},
        "mechanisms": {**MECHANISMS_OFF, "cross_margin": {"enabled": True, "instruments": [
            {**ETH_CONFIG, "symbol": inst.symbol, "insurance_fund": str(Decimal(f) / MONEY_SCALE)}
            for inst, f in zip(instruments[1:], funds[1:])
        ]}, **copy.deepcopy(mechanisms or {})},
    }  # fmt: skip
    if adl:
        over["adl"] = adl
    sc = load_scenario(CROSS, over)
    time_ns = np.arange(len(prices[0]), dtype=np.int64) * 10**9
    paths = [PricePath(time_ns, np.array(p, dtype=np.float64), "hand") for p in prices]
    curves = [DepthCurve.linear(d) for d in (depth or [DEEP] * len(instruments))]
    base = Market(instruments[0], paths[0], None, curves[0], book, 0, None)
    market = MultiMarket(base, list(instruments), paths, curves, list(funds), book, [p.index for p in paths],
                         [1_800.0] * len(instruments))  # fmt: skip
    sim = Simulation(sc, 0, market, check_every_step=True)
    for t in range(sim.T):
        sim.step(t)
    return sim, sim.result()


def two_accounts() -> Book:
    """Account 0 (B's loser): long 1 BTC @100,000 cross, wallet 2,000. Account 1 (A's bankrupt): short 10 ETH @4,000
    cross, wallet 400. Account 2: the liquidity provider, holding the opposite of both."""
    return Book.from_arrays(
        wallet=[money("2000"), money("400"), money("1000000000")],
        exempt=[False, False, True],
        account=[0, 1, 2, 2],
        instrument=[0, 1, 0, 1],
        size=[1_000, -10_000, -1_000, 10_000],
        cost=[money("100000"), money("-40000"), money("-100000"), money("40000")],
    )


def rows_of(r) -> list[tuple[str, int, int]]:
    e = r.events
    return [(ev.KIND_NAMES[int(k)], int(m), int(a)) for k, m, a in zip(e["kind"], e["instrument"], e["amount"])]


# Worked by hand. Step 0, BTC index 98,400, ETH index 4,050 (the marks: the book is untouched, so mark = index).
# B (BTC, instrument 0): account 0's equity 2,000 - 1,600 = 400 < MM 0.5% x 98,400 - 50 = 442: liquidated above
#   bankruptcy. Sell 1,000 lots: 98,400 x (1 - 1,000 / 2e11) = 98,399.9995 -> down to 98,399.9; realized
#   (98,399.9 - 100,000) x 1 = -1,600.1; fee 0.3% x 98,399.9 = 295.1997 into B's fund.
# A (ETH, instrument 1), after B (instrument order): account 1's equity 400 - 500 = -100: bankrupt. Buy 10,000 lots:
#   4,050 x (1 + 10,000 / 2e11) = 4,050.0002 -> up to 4,050.01; realized -(4,050.01 - 4,000) x 10 = -500.1; the
#   account owes 100.1.
#   shared fund (0 + 0 at the start): it holds B's 295.1997, pays A's 100.1 -> 195.0997; account 1 ends at 0.
#   own funds: ETH's fund is empty and no one can be ADL'd (the only winner is the liquidity provider): 100.1 is
#   unrecovered bad debt on account 1, and BTC's fund keeps 295.1997.
SHARED_CASES = [
    pytest.param(True, [("insurance_payout", 1, money("100.1"))], [money("195.0997")], 0, id="shared-A-paid-by-B-fees"),
    pytest.param(False, [("bad_debt", 1, -money("100.1"))], [money("295.1997"), 0], -money("100.1"),
                 id="per-instrument-A-fund-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("shared", "a_settles", "funds_end", "a_wallet"), SHARED_CASES)
def test_instrument_a_bad_debt_is_paid_from_the_fund_fed_by_instrument_b_fees(shared, a_settles, funds_end, a_wallet):
    sim, r = tiny_run(two_accounts(), ([98_400.0], [4_050.0]), shared=shared)
    assert rows_of(r) == [
        ("liquidation_fill", 0, -money("1600.1")),
        ("lp_fill", 0, money("1600.1")),
        ("liquidation_fee", 0, -money("295.1997")),
        ("liquidation_fill", 1, -money("500.1")),
        ("lp_fill", 1, money("500.1")),
        *a_settles,
    ]
    assert sim.fund.tolist() == funds_end
    assert int(r.book.wallet[1]) == a_wallet and int(r.book.wallet[0]) == money("2000") - money("1895.2997")
    per = r.extra["cross_margin"]["instruments"]
    assert [p["insurance_fund_shared"] for p in per] == [shared, shared]
    # what each instrument's rows moved into the fund: B's fee in, A's payout out (nothing when it stays unpaid)
    assert [p["insurance_fund_flow"] for p in per] == [money("295.1997"), -money("100.1") if shared else 0]
    s = summarize(r)
    # the summary counts the shared fund once, not once per instrument
    assert s["units"]["insurance_fund_end"] == sum(funds_end) == int(r.steps.fund[-1])
    assert s["units"]["insurance_fund_start"] == 0 and s["conservation_error"] == 0
    if shared:
        assert [p["insurance_fund_end"] for p in per] == [money("195.0997")] * 2
        assert s["units"]["bad_debt_unrecovered"] == 0 and s["units"]["insurance_fund_paid"] == money("100.1")
    else:
        assert s["units"]["bad_debt_unrecovered"] == money("100.1")


def test_a_shared_fund_starts_with_the_pooled_balances_and_one_instrument_keeps_its_own():
    funds = InsuranceFunds([money("1000000"), money("300000"), money("100000")], shared=True)
    assert funds.balance.tolist() == [money("1400000")] and funds.fund_of.tolist() == [0, 0, 0]
    funds.of(2)[0] -= 5  # a payout on instrument 2 moves the one pool
    assert funds.of(0)[0] == money("1400000") - 5 and funds.start_of(1) == money("1400000")
    single = InsuranceFunds([money("7")], shared=True)  # one instrument: nothing to share
    assert not single.shared and single.balance.tolist() == [money("7")]
    series = [np.array([3, 4]), np.array([3, 4]), np.array([3, 4])]
    assert funds.total_series(series).tolist() == [3, 4]  # counted once
    own = InsuranceFunds([1, 2, 3], shared=False)
    assert own.total_series([np.array([1]), np.array([2]), np.array([3])]).tolist() == [6]


def test_the_packaged_cross_margin_scenario_with_a_shared_fund_pools_the_configured_balances(tmp_path):
    r = run_packaged(CROSS, {}, insurance_fund={"balance": "5000", "shared": True})
    per = r.extra["cross_margin"]["instruments"]
    pooled = money("5000") + money("300000") + money("100000")  # BTC (SMALL), ETH, SOL
    assert r.fund_start == pooled and all(p["insurance_fund_start"] == pooled for p in per)
    flows = sum(p["insurance_fund_flow"] for p in per)
    assert per[0]["insurance_fund_end"] == pooled + flows == int(r.steps.fund[-1])
    # the report says so: one fund line and label, the per-instrument table marks the fund shared
    summary = write_outputs(r, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "One insurance fund shared by every instrument" in html and "one fund shared by every instrument" in html
    assert Decimal(str(summary["insurance_fund_end"])) * MONEY_SCALE == per[0]["insurance_fund_end"]
    sections = mechanism_sections(json.loads(json.dumps(summary, default=str)), [])
    assert any("(shared)" in str(sec["html"]) and "net into fund" in str(sec["html"]) for sec in sections)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    names=mechanism_sets(0, 4),
    seed=st.integers(0, 2**31),
    accounts=st.integers(60, 300),
    fund=st.sampled_from(["0", "2000", "50000"]),
)
def test_a_shared_fund_conserves_money_every_step_on_random_books(names, seed, accounts, fund):
    """Money is conserved exactly at every step (the engine checks it: ``check_every_step``), open interest balances
    per instrument, and the one fund moves by exactly what every instrument's rows put in and took out."""
    mech = {n: MECHANISMS[n] for n in names}
    for path in (CROSS, CALENDAR):
        r = run_packaged(path, mech, seed=seed, book={"generator": {"accounts": accounts}},
                         insurance_fund={"balance": fund, "shared": True})  # fmt: skip
        assert r.money_end == r.money_start
        per = r.extra["cross_margin"]["instruments"]
        for m in range(len(per)):
            long_, short = r.book.open_interest(m)
            assert long_ == short
        ends = {p["insurance_fund_end"] for p in per}
        assert len(ends) == 1 and ends == {int(r.steps.fund[-1])}
        assert ends.pop() == r.fund_start + sum(p["insurance_fund_flow"] for p in per)
