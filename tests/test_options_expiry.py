"""Option series expiring inside the price window (issue #16): they settle at their first step at or after expiry
through the dated futures' final settlement (:mod:`delever.settlement`), at their intrinsic value at the
underlying's settlement price (the index mean over the last 30 minutes before expiry), rounded down to the
series' tick; afterwards flat, without margin, money conserved."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from delever import events as ev
from delever.engine import run
from delever.engine.invariants import check_conservation
from delever.engine.simulation import Simulation
from delever.contagion import prepare_multi
from delever.errors import InputError
from delever.instruments import Instrument
from delever.scenario import default_scenario_path, load_scenario
from delever.settlement import option_settlement_ticks, settle_at
from delever.tiers import RiskTier, RiskTiers

OPTIONS = default_scenario_path().parent / "deribit-btc-2025-10-10-options.toml"
EXPIRY = "2025-10-10T21:20:00Z"
SMALL = {
    "book": {"generator": {"accounts": 1_500}},
    "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:35:00Z"},
    "insurance_fund": {"balance": "0"},
    "liquidity": {"depth_scale": 0.004},
    "options": {
        "series": [
            {"symbol": "C110", "kind": "call", "strike": "110000", "expiry": EXPIRY},
            {"symbol": "P120", "kind": "put", "strike": "120000", "expiry": EXPIRY},
            {"symbol": "P110-17OCT", "kind": "put", "strike": "110000", "expiry": "2025-10-17T08:00:00Z"},
        ]
    },
}
TIERS = RiskTiers("t", (RiskTier(0, 2**62, Decimal(1), 0, 1_000_000, 0),))
UNDERLYING = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), TIERS)


def _option(kind: str, strike: str, tick: str = "0.1") -> Instrument:
    expiry = datetime(2025, 10, 10, 21, 20, tzinfo=UTC)
    return Instrument(
        "O",
        Decimal(tick),
        Decimal("0.01"),
        TIERS,
        kind="option",
        expiry=expiry,
        strike=Decimal(strike),
        option_type=kind,
    )


@pytest.mark.parametrize(
    ("kind", "strike", "tick", "index", "expected"),
    [
        # mean(112,000.04, 112,000.10) = 112,000.07 -> 112,000.1 (nearest 0.1); 112,000.1 - 110,000 = 2,000.1 -> 20,001
        ("call", "110000", "0.1", (112_000.04, 112_000.10), 20_001),
        ("call", "115000", "0.1", (112_000.04, 112_000.10), 0),  # out of the money: max(S - K, 0) = 0
        ("put", "115000", "0.1", (112_000.04, 112_000.10), 29_999),  # 115,000 - 112,000.1 = 2,999.9 -> 29,999
        ("put", "110000", "0.1", (112_000.04, 112_000.10), 0),
        # tick 5: 2,000.1 / 5 = 400.02 -> 400 (rounded down: against the long holder, who receives it)
        ("call", "110000", "5", (112_000.04, 112_000.10), 400),
        # 2,999.9 / 5 = 599.98 -> 599
        ("put", "115000", "5", (112_000.04, 112_000.10), 599),
    ],
    ids=["call-itm", "call-otm", "put-itm", "put-otm", "call-itm-tick5-floor", "put-itm-tick5-floor"],
)
def test_option_settlement_price_by_hand(kind, strike, tick, index, expected):
    expiry = int(datetime(2025, 10, 10, 21, 20, tzinfo=UTC).timestamp()) * 1_000_000_000
    time_ns = np.array([expiry - 1_000_000_000, expiry], dtype=np.int64)
    got = option_settlement_ticks(time_ns, np.array(index), _option(kind, strike, tick), 1_800.0, UNDERLYING)
    assert got == expected


def test_a_series_expired_at_the_window_start_is_an_input_error():
    over = {**SMALL, "options": {"series": [{**SMALL["options"]["series"][0], "expiry": "2025-10-10T21:05:00Z"}]}}
    sc = load_scenario(OPTIONS, over)
    with pytest.raises(InputError, match="at or before the start of the price window"):
        prepare_multi(sc, sc.seed)


@pytest.fixture(scope="module")
def at_expiry():
    """The small scenario's simulation stepped to just before the expiry step (21:20:00, step 900)."""
    sc = load_scenario(OPTIONS, SMALL)
    sim = Simulation(sc, sc.seed, prepare_multi(sc, sc.seed))
    e = int(np.searchsorted(sim.time_ns, sim.expiries[1]))
    for t in range(e):
        sim.step(t)
    return sim, e


@pytest.mark.parametrize(("m", "settle_quote"), [(1, "2165.8"), (2, "7834.2")], ids=["call-110000", "put-120000"])
def test_every_holder_is_paid_lots_times_lot_size_times_intrinsic_minus_entry(at_expiry, m, settle_quote):
    """The underlying's settlement price is the mean of the index over 21:05:01..21:20:00 (the window's last
    1,800 s reach before the run's start, so 900 one-second values), rounded to 0.1: 112,165.8 (this path). The call
    110,000 settles at 112,165.8 - 110,000 = 2,165.8, the put 120,000 at 120,000 - 112,165.8 = 7,834.2 (quote;
    x 10 ticks of 0.1). Each position's wallet change is ``lots x 0.01 x (intrinsic - entry)`` exactly, entry
    = cost / (lots x 0.01); the fund does not move (no holder has negative equity here)."""
    sim0, e = at_expiry
    sim = dataclass_copy(sim0)
    b = sim.book
    path = sim.paths[0]
    window = (path.time_ns > sim.expiries[m] - 1_800 * 10**9) & (path.time_ns <= sim.expiries[m])
    s_hand = Decimal(int(np.rint(np.mean(path.index[window]) / 0.1))) * Decimal("0.1")
    assert s_hand == Decimal("112165.8")
    strike = sim.insts[m].strike
    intrinsic = max(s_hand - strike, Decimal(0)) if sim.insts[m].option_type == "call" else max(strike - s_hand, 0)
    assert intrinsic == Decimal(settle_quote)
    rows = np.flatnonzero((b.instrument == m) & (b.size != 0))
    assert rows.size > 10
    wallet0, size0, cost0 = b.wallet.copy(), b.size[rows].copy(), b.cost[rows].copy()
    fund0 = int(sim.funds.of(m)[0])
    money0 = b.total_money(sim.fund)
    report = settle_at(b, m, sim.insts[m], path, e, sim.windows[m], sim.marks, sim.vpl, sim.funds.of(m),
                       sim.adl_policy, sim.buf, underlying=sim.insts[0])  # fmt: skip
    assert report.settlement_price * sim.insts[m].tick_size == intrinsic
    assert report.negative_equity_positions == 0 and report.positions_settled == rows.size
    # money per lot per quote unit: 0.01 base x 1e6 micro-units = 10,000; entry x lots x 10,000 = cost
    # (exact fractions: an entry price after a partial close need not be a whole tick)
    per_lot_quote = Fraction(1_000_000 // 100)
    expected = np.zeros(b.n_accounts, dtype=object)
    for a, lots, cost in zip(b.account[rows].tolist(), size0.tolist(), cost0.tolist()):
        entry = Fraction(cost) / (lots * per_lot_quote)
        change = lots * per_lot_quote * (Fraction(intrinsic) - entry)
        assert change.denominator == 1
        expected[a] += int(change)
    assert (b.wallet - wallet0 == expected.astype(np.int64)).all()
    assert (b.size[rows] == 0).all() and b.open_interest(m) == (0, 0)
    assert int(sim.funds.of(m)[0]) == fund0
    assert b.total_money(sim.fund) == money0
    check_conservation(b, sim.fund, sim.money_start, sim.M)
    assert (sim.buf.cols["kind"][: sim.buf.n] == ev.SETTLEMENT).sum() >= rows.size


def dataclass_copy(sim):
    """A copy of ``sim`` whose book, funds, marks and event buffer the test may change."""
    import copy

    return copy.deepcopy(sim)


def test_a_run_settles_the_expiring_series_and_drops_their_margin():
    """The whole run: both series settle at step 900 (21:20:00) at the prices worked above, stay flat with their
    mark at the settlement price, their holders' option margin is 0 from then on; the later series lives on;
    money conserved and every instrument's open interest balanced at every step."""
    sc = load_scenario(OPTIONS, SMALL)
    r = run(sc, check_every_step=True)
    assert r.money_end == r.money_start
    rows = r.extra["cross_margin"]["instruments"]
    assert [(x["settlement"] or {}).get("settlement_price") for x in rows] == [None, "2165.8", "7834.2", None]
    assert rows[1]["settlement"]["step"] == rows[2]["settlement"]["step"] == 900
    for m in (1, 2):
        assert r.book.open_interest(m) == (0, 0)
    long_, short = r.book.open_interest(3)
    assert long_ == short > 0
