"""Dated futures through expiry (issue #7, part 2): settlement price, hand-worked final settlement with
negative-equity accounts deleveraged at their bankruptcy price, conservation, zero open interest after it,
and the packaged perpetual + future scenario with calendar-spread accounts."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from delever import events as ev
from delever.adl.hierarchy import HierarchyRule
from delever.adl.policies import hierarchy_policy
from delever.book import Book
from delever.contagion import prepare_multi
from delever.engine import run as run_engine
from delever.events import EventBuffer
from delever.instruments import Instrument
from delever.scenario import default_scenario_path, load_scenario
from delever.settlement import basis_left, final_settlement, settlement_price_ticks
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import money
from core_stack import MECHANISMS_OFF

FUTURE = Instrument(
    "BTCUSDT_251226",
    Decimal("0.1"),
    Decimal("0.001"),
    BINANCE_BTCUSDT_2021,
    kind="dated_future",
    expiry=datetime(2025, 12, 26, 8, tzinfo=UTC),
)
V = FUTURE.value_per_lot_tick  # 100 money units: 0.001 BTC x 0.1 USDT
S = 500_000  # settlement price 50,000.0 in ticks


def ticks(usdt: int) -> int:
    return usdt * 10


def position(lots: int, entry_usdt: int) -> tuple[int, int]:
    return lots, lots * ticks(entry_usdt) * V


def test_settlement_price_is_the_mean_of_the_index_over_the_window():
    s = 10**9
    time_ns = np.arange(0, 10) * s  # steps at 0..9 s
    index = np.array([100.0, 100, 100, 100, 100, 100, 101, 102, 103, 104.05])
    # expiry at 9 s, window 4 s: the steps at 6, 7, 8, 9 s (5 s is excluded): (101 + 102 + 103 + 104.05) / 4
    # = 102.5125 -> 1025.125 ticks of 0.1 -> 1025 (nearest)
    assert settlement_price_ticks(time_ns, index, 9 * s, 4.0, 0.1) == 1025
    with pytest.raises(ValueError, match="settlement window"):
        settlement_price_ticks(time_ns, index, 20 * s, 4.0, 0.1)


def test_basis_shrinks_linearly_to_zero_at_expiry():
    e = int(FUTURE.expiry.timestamp()) * 10**9
    t = np.array([e - 100, e - 50, e, e + 10])
    np.testing.assert_allclose(basis_left(t, FUTURE), [1.0, 0.5, 0.0, 0.0])


def hand_book() -> Book:
    """Positions (all on the future; cross unless said):

    0: long 1 BTC @52,000, wallet 1,000         -> at S 50,000: uPnL -2,000, equity -1,000 (negative)
    1: short 0.6 BTC @55,000, wallet 500        -> uPnL +3,000, equity 3,500
    2: short 0.6 BTC @50,500, wallet 0          -> uPnL +300, equity 300
    3: isolated long 0.2 BTC @49,000, margin 500 -> uPnL +200, equity 700
    4: short 0.2 BTC @45,000, wallet 0          -> uPnL -1,000, equity -1,000 (negative)
    5: liquidity provider, long 0.2 BTC @50,000 (the book's net), wallet 1,000,000
    """
    rows = [position(1_000, 52_000), position(-600, 55_000), position(-600, 50_500), position(200, 49_000),
            position(-200, 45_000), position(200, 50_000)]  # fmt: skip
    return Book.from_arrays(
        wallet=[money(1_000), money(500), 0, 0, 0, money(1_000_000)],
        exempt=[False] * 5 + [True],
        account=list(range(6)),
        size=[r[0] for r in rows],
        cost=[r[1] for r in rows],
        collateral=[0, 0, 0, money(500), 0, 0],
        isolated=[False, False, False, True, False, False],
    )


def test_final_settlement_hand_worked():
    """Negative equity first, most negative first (0 and 4 tie at -1,000: index order).

    Position 0 (long, backing 1,000): bankruptcy price (52,000 - 1,000) / 1 BTC = 51,000. Each lot closed at
    51,000 instead of 50,000 costs a short 1 USDT (0.001 BTC x 1,000). Counterparties: the profitable shorts
    1 and 2 (4 has negative equity), by the scenario's policy, here ``account_equity desc``: 1 (3,500) first,
    600 lots, then 2 at most 300 lots (its 300 USDT of equity / 1 USDT per lot: non-overlapping bankruptcy);
    900 of 1,000 lots. Position 0 realizes 900 x (51,000 - 52,000) x 0.001 = -900 (wallet 100); 1 realizes
    600 x (55,000 - 51,000) x 0.001 = +2,400 (wallet 2,900); 2 realizes 300 x (50,500 - 51,000) x 0.001 = -150.

    Position 4 (short, backing 0): bankruptcy price 45,000 (its entry), 5 USDT per lot against a long.
    Counterparty: 3 (isolated long, equity 700): at most 140 lots. 4 realizes 0; 3 realizes 140 x (45,000 -
    49,000) x 0.001 = -560 (margin -60).

    At S: 0's last 100 lots: -200 (wallet -100); 2's last 300 lots: +150 (wallet 0, equity exactly 0); 3's
    last 60 lots: +60 (margin 0, back to the wallet: 0); 4's last 60 lots: -300 (wallet -300); the LP's 200
    lots: 0. The fund (250 USDT) pays 0's 100, then 150 of 4's 300: 150 unrecovered.
    """
    book = hand_book()
    fund = np.array([money(250)], dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    policy = hierarchy_policy(HierarchyRule.from_config(["account_equity desc"]))
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund, policy, buf)
    c = {k: v[: buf.n].tolist() for k, v in buf.cols.items()}
    rows = list(zip(c["kind"], c["account"], c["counterparty"], c["position"], c["size"], c["price"], c["amount"]))
    adl = [r for r in rows if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)]
    assert adl == [
        (ev.ADL_FILL, 0, 1, 0, -600, 510_000, money(-600)),
        (ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 600, 510_000, money(2_400)),
        (ev.ADL_FILL, 0, 2, 0, -300, 510_000, money(-300)),
        (ev.ADL_COUNTERPARTY_FILL, 2, 0, 2, 300, 510_000, money(-150)),
        (ev.ADL_FILL, 4, 3, 4, 140, 450_000, 0),
        (ev.ADL_COUNTERPARTY_FILL, 3, 4, 3, -140, 450_000, money(-560)),
    ]
    settled = {r[3]: (r[4], r[6]) for r in rows if r[0] == ev.SETTLEMENT}
    assert settled == {0: (-100, money(-200)), 2: (300, money(150)), 3: (-60, money(60)), 4: (60, money(-300)),
                       5: (-200, 0)}  # fmt: skip
    assert all(r[2] == ev.SETTLEMENT_POOL and r[5] == S for r in rows if r[0] == ev.SETTLEMENT)
    payouts = [(r[1], r[6]) for r in rows if r[0] == ev.INSURANCE_PAYOUT]
    assert payouts == [(0, money(100)), (4, money(150))]
    assert [(r[1], r[6]) for r in rows if r[0] == ev.BAD_DEBT] == [(4, money(-150))]
    assert book.wallet.tolist() == [0, money(2_900), 0, 0, money(-150), money(1_000_000)]
    assert book.collateral.tolist() == [0] * 6
    assert book.size.tolist() == [0] * 6 and book.cost.tolist() == [0] * 6
    assert int(fund[0]) == 0
    assert book.total_money(fund) == before  # conserved through expiry
    assert rep.negative_equity_positions == 2 and rep.deleveraged_lots == 1_040
    assert rep.deleveraged_notional == 900 * 510_000 * V + 140 * 450_000 * V  # 52,200 USDT
    assert rep.positions_settled == 5 and rep.settled_pnl_paid == money(210)
    assert rep.insurance_fund_paid == money(250) and rep.bad_debt_unrecovered == money(150)


def test_final_settlement_of_solvent_accounts_pays_pnl_at_the_settlement_price():
    # long 1 BTC @48,000 (wallet 100) and short 1 BTC @49,000 (wallet 2,000), settled at 50,000:
    # the long receives +2,000, the short pays -1,000, the LP (short 0 net) nothing
    rows = [position(1_000, 48_000), position(-1_000, 49_000)]
    book = Book.from_arrays(
        wallet=[money(100), money(2_000)], account=[0, 1], size=[r[0] for r in rows], cost=[r[1] for r in rows]
    )
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund, hierarchy_policy(
        HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    assert book.wallet.tolist() == [money(2_100), money(1_000)]
    assert rep.negative_equity_positions == 0 and rep.deleveraged_lots == 0 and rep.settled_pnl_paid == money(2_000)
    assert buf.cols["kind"][: buf.n].tolist() == [ev.SETTLEMENT, ev.SETTLEMENT]
    assert book.total_money(fund) == before and book.open_interest(0) == (0, 0)


def test_settlement_leaves_the_other_instruments_positions_open():
    # a calendar spread: long the future (instrument 0) at 52,000, short the perpetual (instrument 1) at 52,000,
    # 1 BTC each, wallet 100; marks: future settles at 50,000 (-2,000), perpetual at 50,000 (+2,000): the cross
    # equity is 100, so nothing is deleveraged; the future closes at S (wallet 100 - 2,000 = -1,900) and the
    # perpetual stays open with its +2,000 of uPnL (equity 100)
    f = position(1_000, 52_000)
    book = Book.from_arrays(
        wallet=[money(100), money(10**6)],
        exempt=[False, True],
        account=[0, 0, 1, 1],
        instrument=[0, 1, 0, 1],
        size=[f[0], -f[0], -f[0], f[0]],
        cost=[f[1], -f[1], -f[1], f[1]],
    )
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S, S]), np.array([V, V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    assert rep.negative_equity_positions == 0
    assert book.size.tolist() == [0, -1_000, 0, 1_000]
    assert book.wallet[0] == money(-1_900)
    assert book.total_money(fund) == before


CALENDAR = default_scenario_path().parent / "binance-btcusdt-2025-10-10-calendar-spread.toml"
SMALL = {
    "mechanisms": MECHANISMS_OFF,  # the core stack on the packaged market
    "book": {"generator": {"accounts": 3_000}},
    "prices": {"start": "2025-10-10T21:01:00Z", "end": "2025-10-10T21:45:00Z"},
    "liquidity": {"depth_scale": 0.004},
    "insurance_fund": {"balance": "5000"},
}


@pytest.fixture(scope="module")
def calendar_run():
    sc = load_scenario(CALENDAR, SMALL)
    return sc, run_engine(sc, sc.seed, check_every_step=True)


def test_calendar_spread_accounts_hold_opposite_equal_positions():
    sc = load_scenario(CALENDAR, SMALL)
    mm = prepare_multi(sc, sc.seed)
    b = mm.book
    fut = np.flatnonzero((b.instrument == 1) & ~b.exempt[b.account])
    first = b.first_position()
    spread = fut[np.sign(b.size[fut]) == -np.sign(b.size[first[b.account[fut]]])]
    same_size = b.size[spread] == -b.size[first[b.account[spread]]]  # equal lot sizes: the same BTC quantity
    # ~30% of the ~70% cross accounts hold a spread, plus outright holders of either side
    assert same_size.sum() > 0.15 * sc.book.generator.accounts
    assert not b.isolated[fut].any()
    assert mm.instruments[1].kind == "dated_future"


def test_expiry_settles_the_future_conserves_money_and_zeroes_its_open_interest(calendar_run):
    sc, r = calendar_run
    assert r.money_end == r.money_start
    fut = r.extra["cross_margin"]["instruments"][1]
    assert fut["kind"] == "dated_future" and fut["open_interest_end"] == 0.0
    assert r.book.open_interest(1) == (0, 0)
    st = fut["settlement"]
    # expiry 21:30:00 is step 1,740 of a 1 s path from 21:01:00
    assert st["step"] == 1_740
    e = r.events
    rows = (e["kind"] == ev.SETTLEMENT) & (e["instrument"] == 1)
    assert rows.sum() == st["positions_settled"] > 0
    assert set(e["step"][rows].tolist()) == {1_740}
    # the settlement price is the mean of the index over (21:00, 21:30], to the nearest tick
    path = r.path
    sel = path.time_ns <= path.time_ns[1_740]
    expected = int(np.rint(np.mean(path.index[sel]) / 0.1))
    assert Decimal(st["settlement_price"]) == expected * Decimal("0.1")
    # no liquidation on the future after it settled; the perpetual goes on
    later = (e["step"] > 1_740) & (e["instrument"] == 1)
    assert not later.any()
    assert r.book.open_interest(0)[0] == r.book.open_interest(0)[1] > 0


def test_an_expiry_before_the_path_is_an_input_error():
    from delever.errors import InputError

    over = {**SMALL, "mechanisms": {**MECHANISMS_OFF, "cross_margin": {"instruments": [{
        "symbol": "X", "kind": "dated_future", "expiry": "2025-10-10T20:00:00Z", "index": "underlying",
        "tick_size": "0.1", "lot_size": "0.001", "tiers": "binance-btcusdt-2021"}]}}}  # fmt: skip
    sc = load_scenario(CALENDAR, over)
    with pytest.raises(InputError, match="expires at or before the start"):
        prepare_multi(sc, sc.seed)


SINGLE = {
    "instrument": {"symbol": "BTCUSDT_251010", "kind": "dated_future", "expiry": "2025-10-10T21:30:00Z"},
    "book": {"generator": {"accounts": 2_000}},
    "prices": {"start": "2025-10-10T21:01:00Z", "end": "2025-10-10T21:40:00Z"},
    "liquidity": {"depth_scale": 0.003},
    "insurance_fund": {"balance": "2000"},
}


@pytest.mark.parametrize("full_sweep", [False, True], ids=["trigger-index", "full-sweep"])
def test_a_dated_future_as_the_scenarios_instrument_settles_at_expiry(full_sweep):
    from delever.engine import run

    sc = load_scenario(default_scenario_path(), SINGLE)
    r = run(sc, check_every_step=True, full_sweep=full_sweep)
    assert r.money_end == r.money_start
    assert r.book.open_interest(0) == (0, 0)
    st = r.extra["settlement"]
    assert st["step"] == 1_740 and st["positions_settled"] > 0
    e = r.events
    assert set(e["step"][e["kind"] == ev.SETTLEMENT].tolist()) == {1_740}
    assert not (e["step"] > 1_740).any()
    S = int(np.rint(np.mean(r.path.index[:1_741]) / 0.1))
    assert Decimal(st["settlement_price"]) == S * Decimal("0.1")
    assert (r.steps.mark_ticks[1_740:] == S).all()
    # liquidations happened before expiry (the crash starts at 21:10)
    assert (e["kind"] == ev.LIQUIDATION_FILL).any()


def test_trigger_index_and_full_sweep_agree_through_expiry():
    from delever.engine import run

    sc = load_scenario(default_scenario_path(), SINGLE)
    a, b = run(sc), run(sc, full_sweep=True)
    for k in a.events:
        assert np.array_equal(a.events[k], b.events[k]), k


def test_cli_runs_a_dated_future_and_reports_its_settlement(tmp_path):
    import json
    import re

    from typer.testing import CliRunner

    from delever.cli import app

    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 500", text, flags=re.M)
    text = text.replace('kind = "perpetual"', 'kind = "dated_future"\nexpiry = 2025-10-10T21:30:00Z')
    text = text.replace(
        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"',
        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"\n'
        "start = 2025-10-10T21:01:00Z\nend = 2025-10-10T21:35:00Z",
    )
    path = tmp_path / "future.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["open_interest_end"] == 0.0 and summary["conservation_error"] == 0
    assert summary["settlement"]["step"] == 1_740 and "settlement" not in summary["mechanisms"]
    assert "Final settlement" in (out / "report.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------- invariants
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from delever.adl.policies import POLICIES  # noqa: E402

trader = st.tuples(
    st.integers(-3_000, 3_000).filter(lambda s: s != 0),  # lots
    st.integers(40_000, 60_000),  # entry, USDT
    st.integers(0, 5_000),  # margin, USDT
    st.booleans(),  # isolated
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(trader, min_size=1, max_size=12),
    st.integers(35_000, 65_000),
    st.integers(0, 3_000),
    st.sampled_from(sorted(POLICIES)),
)
def test_final_settlement_conserves_money_flattens_the_future_and_protects_the_solvent(rows, settle, fund_usdt, name):
    n = len(rows)
    size = [r[0] for r in rows]
    lp = -sum(size)
    iso = [r[3] for r in rows]
    book = Book.from_arrays(
        wallet=[0 if r[3] else money(r[2]) for r in rows] + [money(10**7)],
        exempt=[False] * n + [True],
        account=list(range(n + 1)),
        size=size + [lp],
        cost=[r[0] * ticks(r[1]) * V for r in rows] + [lp * S * V],
        collateral=[money(r[2]) if r[3] else 0 for r in rows] + [0],
        isolated=iso + [False],
    )
    S_ = ticks(settle)
    equity_before = book.wallet + np.where(book.isolated, book.collateral, 0) + book.size * S_ * V - book.cost
    fund = np.array([money(fund_usdt)], dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    policy = load_scenario(default_scenario_path(), {"adl": {"policy": name}}).adl.build()
    rep = final_settlement(book, 0, FUTURE, S_, np.array([S_]), np.array([V]), fund, policy, buf)
    assert book.total_money(fund) == before
    assert book.open_interest(0) == (0, 0) and not book.cost.any()
    assert int(fund[0]) >= 0
    equity_after = book.wallet + book.collateral  # one position per account, all flat now
    solvent = equity_before[:n] >= 0
    # a solvent account ends with at least 0 (a counterparty gives at most its equity), and an account with
    # negative equity only gains (deleveraging at its bankruptcy price, then the fund)
    assert (equity_after[:n][solvent] >= 0).all()
    assert (equity_after[:n][~solvent] >= equity_before[:n][~solvent]).all()
    assert rep.negative_equity_positions == int((~solvent).sum())
    assert rep.bad_debt_unrecovered == int(-np.minimum(equity_after[:n], 0).sum())


# ------------------------------------------------------------------ boundaries of the money rules (mutation tests)
def _rows(buf: EventBuffer) -> list[tuple]:
    c = {k: v[: buf.n].tolist() for k, v in buf.cols.items()}
    return list(zip(c["kind"], c["account"], c["counterparty"], c["position"], c["size"], c["price"], c["amount"]))


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "cross"])
def test_one_lot_short_one_unit_below_zero_is_paid_by_the_fund(isolated):
    """Short of 1 lot @49,999.0 (cost -49,999,000) with 999 units (isolated margin or cross wallet); the other
    side an exempt liquidity provider long 1 lot @50,000.0. At S = 50,000.0 the short's uPnL is -50,000,000 +
    49,999,000 = -1,000: equity 999 - 1,000 = -1 unit, negative (by one unit). No trader is on the other side:
    nothing is deleveraged; the short closes at S (realized -1,000: margin or wallet -1) and the fund (5 units)
    pays the 1 unit (the cross account holds nothing else): margin 0, wallet 0, fund 4."""
    book = Book.from_arrays(wallet=[0 if isolated else 999, money(10**6)], exempt=[False, True], account=[0, 1],
                            size=[-1, 1], cost=[-499_990 * V, S * V], collateral=[999 if isolated else 0, 0],
                            isolated=[isolated, False])  # fmt: skip
    fund = np.array([5], dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    rows = _rows(buf)
    assert [(r[0], r[3], r[4], r[6]) for r in rows] == [
        (ev.SETTLEMENT, 0, 1, -1_000),
        (ev.SETTLEMENT, 1, -1, 0),
        (ev.INSURANCE_PAYOUT, 0, 0, 1),
    ]
    assert book.collateral.tolist() == [0, 0] and book.wallet.tolist() == [0, money(10**6)]
    assert int(fund[0]) == 4 and book.total_money(fund) == before
    assert rep.negative_equity_positions == 1 and rep.deleveraged_lots == 0
    assert rep.insurance_fund_paid == 1 and rep.bad_debt_unrecovered == 0
    assert rep.step == -1  # no run step given


def test_one_lot_long_is_deleveraged_and_zero_equity_is_not_negative():
    """At S = 50,000.0 (V = 100 units per lot-tick), all cross:

    0: long 1 lot @50,002.0 (cost 50,002,000), wallet 1,050: uPnL -2,000, equity -950 (negative).
       BP = (50,002,000 - 1,050) / 100 = 500,009.5 ticks -> up 500,010 (50,001.0).
    1: short 1 lot @50,010.0 (cost -50,010,000), wallet 0: uPnL +10,000 = equity. Each lot taken at BP instead
       of S costs it (500,010 - 500,000) x 100 = 1,000: capacity min(1, 10,000 // 1,000) = 1.
    2: long 1 lot @50,001.0 (cost 50,001,000), wallet 1,000: uPnL -1,000, equity exactly 0: not negative,
       not deleveraged; it closes at S (realized -1,000, wallet 0).
    3: exempt liquidity provider, short 1 lot @50,000.0: closes at S with 0.
    ADL 1 lot at 500,010: 0 realizes 50,001,000 - 50,002,000 = -1,000 (wallet 50: no debt, the rounding up of
    BP left it 50); 1 realizes 50,010,000 - 50,001,000 = +9,000 (wallet 9,000 = 10,000 - 1,000 of gap).
    """
    book = Book.from_arrays(
        wallet=[1_050, 0, 1_000, money(10**6)],
        exempt=[False, False, False, True],
        account=[0, 1, 2, 3],
        size=[1, -1, 1, -1],
        cost=[500_020 * V, -500_100 * V, 500_010 * V, -S * V],
    )
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    rows = _rows(buf)
    assert [r for r in rows if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)] == [
        (ev.ADL_FILL, 0, 1, 0, -1, 500_010, -1_000),
        (ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 1, 500_010, 9_000),
    ]
    assert {r[3]: r[6] for r in rows if r[0] == ev.SETTLEMENT} == {2: -1_000, 3: 0}
    assert book.wallet.tolist() == [50, 9_000, 0, money(10**6)]
    assert rep.negative_equity_positions == 1 and rep.deleveraged_lots == 1
    assert rep.insurance_fund_paid == 0 and rep.bad_debt_unrecovered == 0
    assert book.total_money(fund) == before


def test_basis_left_of_an_empty_path_is_empty():
    assert basis_left(np.zeros(0, dtype=np.int64), FUTURE).shape == (0,)


def test_queue_hyperliquid_ranks_the_short_counterparties_by_entry_over_mark():
    """At S = 50,000.0, all cross, policy ``queue-hyperliquid``: score (entry / mark) x (notional / equity) for
    a short (side -1; a long's is mark / entry).

    0: long 1 lot @50,020.0 (cost 50,020,000), wallet 1,050: uPnL -20,000, equity -18,950 (negative).
       BP = (50,020,000 - 1,050) / 100 = 500,189.5 -> up 500,190; each lot costs a short 190 x 100 = 19,000.
    1: short 1 lot @50,500.0 (cost -50,500,000), wallet 4,500,000: uPnL +500,000, equity 5,000,000.
    2: short 1 lot @55,000.0 (cost -55,000,000), wallet 0: uPnL +5,000,000, equity 5,000,000.
    3: exempt liquidity provider, long 1 lot @50,000.0.
    Both shorts can take the lot (5,000,000 // 19,000 = 263 >= 1) and have the same leverage (50,000,000 /
    5,000,000 = 10): 2 ranks first (55,000 / 50,000 = 1.1 against 1.01; read as longs, 50,000 / 50,500 = 0.99
    would put 1 first). 2 takes the lot at 500,190: 0 realizes 50,019,000 - 50,020,000 = -1,000 (wallet 50);
    2 realizes 55,000,000 - 50,019,000 = 4,981,000. 1 (0 lots in the allocation, listed before 2) closes at S:
    50,500,000 - 50,000,000 = +500,000 (wallet 5,000,000).
    """
    book = Book.from_arrays(
        wallet=[1_050, 4_500_000, 0, money(10**6)],
        exempt=[False, False, False, True],
        account=[0, 1, 2, 3],
        size=[1, -1, -1, 1],
        cost=[500_200 * V, -505_000 * V, -550_000 * V, S * V],
    )
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    policy = load_scenario(default_scenario_path(), {"adl": {"policy": "queue-hyperliquid"}}).adl.build()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund, policy, buf)
    rows = _rows(buf)
    assert [r for r in rows if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)] == [
        (ev.ADL_FILL, 0, 2, 0, -1, 500_190, -1_000),
        (ev.ADL_COUNTERPARTY_FILL, 2, 0, 2, 1, 500_190, 4_981_000),
    ]
    assert {r[3]: r[6] for r in rows if r[0] == ev.SETTLEMENT} == {1: 500_000, 3: 0}
    assert book.wallet.tolist() == [50, 5_000_000, 4_981_000, money(10**6)]
    assert rep.deleveraged_lots == 1 and book.total_money(fund) == before


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "cross"])
def test_one_unit_below_zero_with_an_empty_fund_stays_as_bad_debt(isolated):
    """As the case above with an empty fund: the -1 unit is unrecovered bad debt; an isolated position keeps it
    on its closed margin (as in liquidation), a cross account in its wallet."""
    book = Book.from_arrays(wallet=[0 if isolated else 999, money(10**6)], exempt=[False, True], account=[0, 1],
                            size=[-1, 1], cost=[-499_990 * V, S * V], collateral=[999 if isolated else 0, 0],
                            isolated=[isolated, False])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    assert [(r[0], r[3], r[6]) for r in _rows(buf)] == [
        (ev.SETTLEMENT, 0, -1_000),
        (ev.SETTLEMENT, 1, 0),
        (ev.BAD_DEBT, 0, -1),
    ]
    assert book.collateral.tolist() == ([-1, 0] if isolated else [0, 0])
    assert book.wallet.tolist() == [0 if isolated else -1, money(10**6)]
    assert rep.insurance_fund_paid == 0 and rep.bad_debt_unrecovered == 1 and book.total_money(fund) == before


def test_a_short_bankrupt_below_one_tick_is_deleveraged_at_one_tick():
    """At S = 50,000.0: 0 is a cross short of 1 lot @50,000.0 (cost -50,000,000) in an account whose wallet is
    -60,000,000 (a debt kept from before): equity -60,000,000, bankruptcy price (-60,000,000 + 50,000,000) / 100 =
    -100,000 ticks, below any price: clamped to 1 tick. 1 is a long of 1 lot @40,000.0 (cost 40,000,000), wallet
    40,000,000: uPnL +10,000,000, equity 50,000,000 >= the gap (500,000 - 1) x 100 = 49,999,900: it takes the lot.
    At 1 tick: 0 realizes 50,000,000 - 100 = 49,999,900 (wallet -10,000,100); 1 realizes 100 - 40,000,000 =
    -39,999,900 (wallet 100). The fund (empty) pays nothing: 10,000,100 unrecovered."""
    book = Book.from_arrays(wallet=[-60_000_000, 40_000_000], account=[0, 1], size=[-1, 1],
                            cost=[-S * V, 400_000 * V])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    assert [r for r in _rows(buf) if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)] == [
        (ev.ADL_FILL, 0, 1, 0, 1, 1, 49_999_900),
        (ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, -1, 1, -39_999_900),
    ]
    assert book.wallet.tolist() == [-10_000_100, 100]
    assert rep.bad_debt_unrecovered == 10_000_100 and book.total_money(fund) == before


def test_a_negative_position_without_counterparties_does_not_stop_the_next():
    """At S = 50,000.0, all cross, most negative first:

    0: long 1 lot @50,020.0 (cost 50,020,000), wallet 0: equity -20,000. No short can take it (1 is negative,
       the liquidity provider exempt): it closes at S (realized -20,000; the empty fund pays nothing).
    1: short 1 lot @49,990.0 (cost -49,990,000), wallet 0: equity -10,000; bankruptcy price its entry 499,900
       (backing 0); each lot costs a long (500,000 - 499,900) x 100 = 10,000.
    2: long 1 lot @49,000.0 (cost 49,000,000), wallet 0: equity 1,000,000: takes 1's lot at 499,900 and
       realizes 49,990,000 - 49,000,000 = 990,000; 1 realizes 0.
    3: exempt liquidity provider, short 1 lot @50,000.0: closes at S with 0.
    """
    book = Book.from_arrays(wallet=[0, 0, 0, money(10**6)], exempt=[False, False, False, True],
                            account=[0, 1, 2, 3], size=[1, -1, 1, -1],
                            cost=[500_200 * V, -499_900 * V, 490_000 * V, -S * V])  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, FUTURE, S, np.array([S]), np.array([V]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    rows = _rows(buf)
    assert [r for r in rows if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)] == [
        (ev.ADL_FILL, 1, 2, 1, 1, 499_900, 0),
        (ev.ADL_COUNTERPARTY_FILL, 2, 1, 2, -1, 499_900, 990_000),
    ]
    assert {r[3]: r[6] for r in rows if r[0] == ev.SETTLEMENT} == {0: -20_000, 3: 0}
    assert book.wallet.tolist() == [-20_000, 0, 990_000, money(10**6)]
    assert rep.negative_equity_positions == 2 and rep.deleveraged_lots == 1
    assert rep.bad_debt_unrecovered == 20_000 and book.total_money(fund) == before


@pytest.mark.parametrize(
    "time_from_expiry_ns, expected",
    [
        ([-100], [1.0]),  # one step: the start, the whole basis left
        ([0], [0.0]),  # the path starts at expiry: nothing left (span 1 ns, not 0)
        ([-1, 0], [1.0, 0.0]),  # a 1 ns path
    ],
    ids=["one-step", "starts-at-expiry", "one-ns-path"],
)
def test_basis_left_short_paths(time_from_expiry_ns, expected):
    e = int(FUTURE.expiry.timestamp()) * 10**9
    t = np.array(time_from_expiry_ns, dtype=np.int64) + e
    assert basis_left(t, FUTURE).tolist() == expected


def test_basis_left_of_a_perpetual_is_zero():
    perp = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)
    assert basis_left(np.array([0, 10**9], dtype=np.int64), perp).tolist() == [0.0, 0.0]


def test_settlement_window_counts_a_step_one_ns_inside_it():
    # expiry 10 s, window 4 s: (6 s, 10 s]; a step at 6 s + 1 ns is inside, 6 s is not: mean (100 + 104) / 2 = 102
    s = 10**9
    time_ns = np.array([6 * s, 6 * s + 1, 10 * s], dtype=np.int64)
    assert settlement_price_ticks(time_ns, np.array([90.0, 100.0, 104.0]), 10 * s, 4.0, 1.0) == 102


def test_counterparty_capacity_at_a_one_unit_gap():
    """An instrument of 1 money unit per lot-tick (tick 0.01, lot 0.0001), S = 5,000,000 ticks, all cross:

    0: long 3 lots @S + 2 (cost 3S + 6), wallet 3: equity 3 - 6 = -3; BP = (3S + 6 - 3) / 3 = S + 1, so each
       lot closed at BP costs a short (S + 1 - S) x 1 = 1 unit (the smallest gap).
    1: short 3 lots @S + 1 (cost -(3S + 3)), wallet -1: uPnL 3, equity 2: it gives floor(2 / 1) = 2 lots, not 3.
    ADL 2 lots at S + 1: 0 releases 2S + 4 and realizes -2 (wallet 1); 1 releases 2S + 2 and realizes 0. At S:
    0's last lot realizes S - (S + 2) = -2 (wallet -1: the empty fund pays nothing, 1 unrecovered); 1's last lot
    realizes S + 1 - S = 1 (wallet 0: its equity stays >= 0).
    """
    inst = Instrument("BTCUSDT_251226", Decimal("0.01"), Decimal("0.0001"), BINANCE_BTCUSDT_2021,
                      kind="dated_future", expiry=FUTURE.expiry)  # fmt: skip
    assert inst.value_per_lot_tick == 1
    s_ = 5_000_000
    book = Book.from_arrays(wallet=[3, -1], account=[0, 1], size=[3, -3], cost=[3 * s_ + 6, -(3 * s_ + 3)])
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    rep = final_settlement(book, 0, inst, s_, np.array([s_]), np.array([1]), fund,
                           hierarchy_policy(HierarchyRule.from_config(["notional"])), buf)  # fmt: skip
    rows = _rows(buf)
    assert [r for r in rows if r[0] in (ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)] == [
        (ev.ADL_FILL, 0, 1, 0, -2, s_ + 1, -2),
        (ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 2, s_ + 1, 0),
    ]
    assert {r[3]: r[6] for r in rows if r[0] == ev.SETTLEMENT} == {0: -2, 1: 1}
    assert book.wallet.tolist() == [-1, 0]
    assert rep.deleveraged_lots == 2 and rep.bad_debt_unrecovered == 1 and book.total_money(fund) == before
