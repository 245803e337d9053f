"""Deribit's order among an account's options, "towards delta-neutral" (venues.md section 5,
https://www.deribit.com/docs/auto-liquidation/; :mod:`delever.options.engine_margin`): one option position per
under-water account per step, the one whose close brings the portfolio delta closest to 0, else the one freeing the
most margin; an account that turns healthy keeps the rest."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from delever.book import Book
from delever.config.market import InstrumentConfig
from delever.config.options import OptionsConfig
from delever.mechanisms.base import Batch
from delever.options.engine_margin import OptionMargin, delta_choice
from delever.options.series import CALL, PUT, SeriesTable


@pytest.mark.parametrize(
    "rows, lots, delta, futures_delta, freed, expected",
    [
        # short 1 BTC future (D_f = -1.0); row 10 short call d = -0.2, row 11 long put d = -0.3, row 12 short put
        # d = +0.2: D = -1.0 - 0.2 - 0.3 + 0.2 = -1.3; closing 10 leaves |-1.1| = 1.1, 11 leaves |-1.0| = 1.0,
        # 12 leaves |-1.5| = 1.5 (adds): the long put (row 11) goes first
        ([10, 11, 12], [-50, 100, -40], [-0.2, -0.3, 0.2], -1.0, [9, 1, 9], 11),
        # the next step without row 11: D = -1.0 - 0.2 + 0.2 = -1.0; closing 10 leaves 0.8, 12 leaves 1.2
        ([10, 12], [-50, -40], [-0.2, 0.2], -1.0, [9, 9], 10),
        # then D = -1.0 + 0.2 = -0.8: closing 12 leaves 1.0, adds delta: the margin rule, the only one left
        ([12], [-40], [0.2], -1.0, [9], 12),
        # a tie on |D - d| (D = -1.0 - 0.25 - 0.25 = -1.5, both leave 1.25): the larger position (row 21, 30 lots)
        ([20, 21], [-10, -30], [-0.25, -0.25], -1.0, [5, 1], 21),
        # delta-neutral already (D = 0.3 - 0.3 = 0): no close reduces |D|: the one freeing the most margin (row 31)
        ([30, 31], [-10, 10], [0.3, -0.3], 0.0, [100, 250], 31),
        # no close reduces |D| and equal margins: the lower instrument (row 40, instrument 1)
        ([40, 41], [-10, 10], [0.3, -0.3], 0.0, [100, 100], 40),
    ],
    ids=[
        "long-put-first",
        "then-short-call",
        "then-margin-rule",
        "tie-larger-notional",
        "neutral-most-margin",
        "neutral-tie-lower-instrument",
    ],  # fmt: skip
)
def test_the_close_that_brings_delta_closest_to_zero_goes_first(rows, lots, delta, futures_delta, freed, expected):
    n = len(rows)
    chosen = delta_choice(np.zeros(n, dtype=np.int64), np.array(rows), np.arange(1, n + 1), np.array(lots),
                          np.array(delta), np.array([futures_delta]), np.array(freed))  # fmt: skip
    assert chosen.tolist() == [expected]


def test_every_account_gets_its_own_choice():
    # account 0: short 1 BTC future, short 5 lots of a put (d = +0.25), long 5 lots of a call (d = +0.25):
    # D = -1 + 0.25 + 0.25 = -0.5; closing either leaves |-0.75| > 0.5: no close reduces, most margin: row 1
    # (freed 7 > 3); account 1: no future, D = 0.4, closing its short put (d = +0.4) leaves 0: row 2
    chosen = delta_choice(np.array([0, 0, 1]), np.array([0, 1, 2]), np.array([1, 2, 1]), np.array([-5, 5, -4]),
                          np.array([0.25, 0.25, 0.4]), np.array([-1.0, 0.0]), np.array([3, 7, 1]))  # fmt: skip
    assert chosen.tolist() == [1, 2]


SERIES = [
    {"symbol": "C90", "kind": "call", "strike": "90000", "expiry": "2025-10-17T08:00:00Z"},
    {"symbol": "C120", "kind": "call", "strike": "120000", "expiry": "2025-10-17T08:00:00Z"},
    {"symbol": "P110", "kind": "put", "strike": "110000", "expiry": "2025-10-17T08:00:00Z"},
]


def _account():
    """Account 0 at index 100,000 with the series at vol 0 (Black-76 delta is then the payoff's step: C90 in the
    money 1, C120 out of the money 0, P110 in the money -1), option lots of 0.01 BTC: short 1,000 lots of 0.001 BTC
    of the future (d = -1), short 30 C90 (d = -30 x 0.01 x 1 = -0.3), short 50 C120 (d = 0), long 40 P110
    (d = 40 x 0.01 x -1 = -0.4). Account 1 the liquidity provider (exempt)."""
    cfg = OptionsConfig(series=SERIES)
    mech = OptionMargin(SimpleNamespace(options=cfg))
    mech.table = SeriesTable(kind=np.array([CALL, CALL, PUT]), strike=np.array([90_000.0, 120_000.0, 110_000.0]),
                             years=np.full(3, 0.02), lot_size=np.full(3, 0.01))  # fmt: skip
    mech.instruments = np.array([1, 2, 3])
    mech.first = 1
    mech.series_all = np.arange(3)
    mech.unit_money = 0.01 * 1_000_000
    mech.vol, mech.years = np.zeros((3, 3)), np.full((3, 3), 0.02)
    # rows: 0 future (account 0), 1-3 options of account 0, 4-7 the provider's opposites
    book = Book.from_arrays(
        wallet=np.zeros(2, dtype=np.int64),
        account=np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        size=np.array([-1_000, -30, -50, 40, 1_000, 30, 50, -40]),
        cost=np.zeros(8, dtype=np.int64),
        instrument=np.array([0, 1, 2, 3, 0, 1, 2, 3]),
        exempt=np.array([False, True]),
    )
    mech.positions = np.array([1, 2, 3])
    mech.series_of = np.array([0, 1, 2])
    mech.accounts_of = np.array([0, 0, 0])
    mech.future_rows, mech.future_insts = np.array([0]), [InstrumentConfig().build()]  # BTCUSDT: 0.001 BTC a lot
    mech.index, mech.inverse = np.full(3, 100_000.0), False  # the underlying's index (quote) the mechanism reads
    mech.chosen, mech.chosen_step = np.full(2, -1, dtype=np.int64), -1
    mech.kept_positions = mech.waiting_positions = 0
    equity = {"value": -(10**12)}  # under water until a test says otherwise
    sim = SimpleNamespace(
        book=book,
        paths=[SimpleNamespace(index=np.full(3, 100_000.0))],
        marks=np.array([1_000_000, 100_000, 5_000, 105_000]),
        settled=[None] * 4,
        account_margins=lambda rows: (np.full(len(rows), equity["value"]), np.zeros(len(rows), np.int64), None),
    )
    return mech, sim, equity


def _step(mech, sim, t: int) -> list[int]:
    """Phase 5a of step ``t`` on the option instruments; the rows left are closed (size 0), as the stage would."""
    closed = []
    for m in (1, 2, 3):
        rows = np.flatnonzero((sim.book.instrument == m) & (sim.book.size != 0) & ~sim.book.exempt[sim.book.account])
        one = np.zeros(rows.size, dtype=np.int64)
        mech.t = t
        batch = Batch(t, m, int(sim.marks[m]), 0.0, rows, one, one.copy(), 0)
        mech.take(sim, batch)
        closed += batch.order.tolist()
    sim.book.size[closed] = 0
    return closed


def test_one_option_position_per_step_towards_delta_neutral_then_healthy_keeps_the_rest():
    mech, sim, equity = _account()
    # D = -1 (future) - 0.3 (C90) + 0 (C120) - 0.4 (P110) = -1.7: closing C90 leaves |-1.4|, C120 |-1.7| (no
    # change), P110 |-1.3|: the long put (row 3) closes first, the two calls wait
    assert _step(mech, sim, 0) == [3]
    assert mech.waiting_positions == 2
    # next step D = -1.3: C90 leaves |-1.0|, C120 |-1.3|: the short C90 (row 1)
    assert _step(mech, sim, 1) == [1]
    # the account is healthy at the next step: it keeps its C120 (the stop rule, before the delta choice)
    equity["value"] = 10**12
    assert _step(mech, sim, 2) == []
    assert sim.book.size[2] == -50 and mech.kept_positions == 1


def test_with_no_delta_reducing_close_the_margin_rule_closes_the_short_call():
    mech, sim, _ = _account()
    sim.book.size[[0, 1, 3]] = 0  # only the short C120 and nothing else: D = 0, its close changes nothing
    assert _step(mech, sim, 0) == [2]


def test_through_a_run_an_account_closes_at_most_one_option_per_step_and_money_is_conserved():
    """The small option scenario with the option holders merged three by three (every third holder takes the next
    two's option rows: accounts of three option positions, under water more often), run with the money identity and
    every series' open interest checked at every step: each liquidated account closes at most one option position
    per step, some close their options over several steps, and some positions wait."""
    import dataclasses

    from delever.contagion import prepare_multi
    from delever.engine import run
    from delever.events import LIQUIDATION_FILL
    from delever.scenario import default_scenario_path, load_scenario

    heavy = {
        "book": {"generator": {"accounts": 1_500}},
        "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:35:00Z"},
        "insurance_fund": {"balance": "0"},
        "liquidity": {"depth_scale": 0.004},
        "options": {"half_spread": 0.3, "depth_lots_per_pct": 0.5, "naked_fraction": 0.5, "vol_shock": 2.0,
                    "margin_multiple": 1.0},
    }  # fmt: skip
    sc = load_scenario(default_scenario_path().parent / "deribit-btc-2025-10-10-options.toml", heavy)
    market = prepare_multi(sc, sc.seed)
    b = market.book
    rows = np.flatnonzero((b.instrument >= 1) & ~b.exempt[b.account])
    groups = rows[: rows.size // 3 * 3].reshape(-1, 3)
    account = b.account.copy()
    account[groups[:, 1:]] = account[groups[:, :1]]
    fields = {f.name: getattr(b, f.name) for f in dataclasses.fields(b)}
    merged = Book.from_arrays(**{**fields, "account": account})
    r = run(sc, market=dataclasses.replace(market, book=merged), check_every_step=True)
    assert r.money_end == r.money_start
    for m in range(1, 6):
        long_, short = r.book.open_interest(m)
        assert long_ == short
    e = r.events
    fills = (e["kind"] == LIQUIDATION_FILL) & (e["instrument"] >= 1)
    closes = np.unique(np.stack([e["step"][fills], e["account"][fills], e["position"][fills]]), axis=1)
    per_step = np.unique(closes[:2], axis=1)
    assert per_step.shape[1] == closes.shape[1] > 0  # one option position per (step, account)
    steps_per_account = np.unique(per_step[1], return_counts=True)[1]
    assert (steps_per_account > 1).any()  # an account closing its options over several steps
    assert r.extra["options"]["waiting_option_positions"] > 0
