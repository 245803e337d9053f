"""Skipping the full sweep where it cannot list anyone (delever.sweep_skip): the bound never skips a sweep that
would list someone (property, against the compiled sweep), the tier check, and whole runs equal to sweeping
every step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.book import Book
from delever.contagion import prepare_multi
from delever.engine import Simulation, run, tier_arrays
from delever.scenario import default_scenario_path, load_scenario
from delever.columns import AccountValuation, BookCols, SweepCols
from delever.sweep import margin_sweep
from delever.sweep_skip import SweepSkip, continuous
from delever.tiers import BINANCE_BTCUSDT_2021
from core_stack import MECHANISMS_OFF

TIERS = tier_arrays([BINANCE_BTCUSDT_2021, BINANCE_BTCUSDT_2021])  # two instruments, Binance's BTC tiers
VPL = np.array([100, 10], dtype=np.int64)  # value of one lot per tick, money units


def sweep(book: Book, marks: np.ndarray):
    """margin_sweep's count and its figures (pos_equity, pos_mm, acc_equity, acc_mm)."""
    n, a = book.n_positions, book.n_accounts
    sw = SweepCols.zeros(n, a)
    count = margin_sweep(BookCols.of(book), AccountValuation(marks, VPL, *TIERS), sw, np.zeros(n, np.int64))
    return count, list(sw)


def random_book(rng: np.random.Generator, accounts: int) -> Book:
    """``accounts`` traders, each with a position on both instruments (entry 1,000 and 500 ticks, random side and
    size, wallet for 2-50x) or, for a fifth of them, one isolated position on instrument 0; account 0 exempt."""
    acc, size, cost, coll, iso, inst = [], [], [], [], [], []
    wallet = np.zeros(accounts, dtype=np.int64)
    for a in range(accounts):
        isolated = rng.random() < 0.2
        for m, entry in ((0, 1_000), (1, 500))[: 1 if isolated else 2]:
            s = int(rng.integers(1, 1_000)) * (1 if rng.random() < 0.5 else -1)
            notional = abs(s) * entry * int(VPL[m])
            margin = int(notional / rng.uniform(2, 50)) + 1
            acc.append(a), size.append(s), cost.append(s * entry * int(VPL[m])), inst.append(m), iso.append(isolated)
            coll.append(margin if isolated else 0)
            wallet[a] += 0 if isolated else margin
    exempt = np.zeros(accounts, dtype=bool)
    exempt[0] = True
    return Book.from_arrays(wallet=wallet, account=acc, size=size, cost=cost, collateral=coll, isolated=iso,
                            instrument=inst, exempt=exempt)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), moves=st.lists(st.tuples(st.integers(-40, 40), st.integers(-25, 25)),
                                                      min_size=1, max_size=8))  # fmt: skip
def test_a_skipped_sweep_would_have_listed_nobody(seed, moves):
    """Invariant: from an anchor (a sweep that listed nobody), every marks the bound calls safe are marks where
    the sweep lists nobody; the anchor's own marks are safe."""
    book = random_book(np.random.default_rng(seed), 40)
    skip = SweepSkip(book.account, book.size, book.isolated, book.instrument, book.exempt, VPL, TIERS[1], TIERS[3])
    p0 = np.array([1_000, 500], dtype=np.int64)
    count, figures = sweep(book, p0)
    if count:
        return  # not an anchor
    pos_eq, pos_mm, acc_eq, acc_mm = figures
    skip.anchor(p0, acc_eq, acc_mm, pos_eq, pos_mm)
    assert skip.safe(p0)
    for d0, d1 in moves:
        marks = p0 + np.array([d0, d1], dtype=np.int64)
        if skip.safe(marks):
            assert sweep(book, marks)[0] == 0
        skip.anchor(p0, acc_eq, acc_mm, pos_eq, pos_mm)  # the back-off is about cost, not the bound: re-anchor


def test_an_account_near_the_edge_is_skipped_only_while_the_bound_holds_and_a_closed_one_always():
    """Account 1: long 10 lots of one instrument at 1,000 ticks (V = 100: cost and notional 1,000,000), wallet
    9,000; account 0 (exempt) the short. At 1,000: equity 9,000, MM = ceil(1,000,000 x 0.4%) = 4,000 (first
    Binance 2021 tier). Guard: 1 position x (2 + 10 tiers) + 3 = 15, so slack 4,985 (less 4e-6). Weight per
    tick: 10 x 100 x (1 + 50%, the table's highest MMR) = 1,500. 3 ticks either way: 4,500 < 4,985, safe; 4
    ticks: 6,000, not. (The account is liquidatable only from 6 ticks down: 9,000 - 1,000 d < 4,000 - 4 d.)
    Once its position is closed (touched with its new size 0), no move puts it at risk."""
    book = Book.from_arrays(wallet=[0, 9_000], account=[0, 1], size=[-10, 10], cost=[-1_000_000, 1_000_000],
                            exempt=[True, False])  # fmt: skip
    one = tuple(x[:1] for x in TIERS)
    skip = SweepSkip(book.account, book.size, book.isolated, book.instrument, book.exempt, VPL[:1], one[1], one[3])
    p0 = np.array([1_000])
    count, (pos_eq, pos_mm, acc_eq, acc_mm) = sweep_one(book, p0)
    assert count == 0 and acc_eq[1] == 9_000 and acc_mm[1] == 4_000
    skip.anchor(p0, acc_eq, acc_mm, pos_eq, pos_mm)
    assert skip.safe(np.array([997])) and skip.safe(np.array([1_003]))
    assert not skip.safe(np.array([996]))
    assert sweep_one(book, np.array([995]))[0] == 0 and sweep_one(book, np.array([994]))[0] == 1
    book.size[1] = 0  # closed by a liquidation
    skip.touched(np.array([1, 1, -1]), book.size)
    skip.wait = 0  # past the back-off that the failed check started
    skip.anchor(p0, acc_eq, acc_mm, pos_eq, pos_mm)
    assert skip.safe(np.array([1]))


def sweep_one(book: Book, marks: np.ndarray):
    n, a = book.n_positions, book.n_accounts
    sw = SweepCols.zeros(n, a)
    one = tuple(x[:1] for x in TIERS)
    count = margin_sweep(BookCols.of(book), AccountValuation(marks, VPL[:1], *one), sw, np.zeros(n, np.int64))
    return count, list(sw)


@pytest.mark.parametrize(
    "cum, expected",
    [(10_000, True), (10_001, True), (10_002, False), (9_998, False)],
    ids=["continuous", "one-unit-jump", "two-unit-jump", "two-unit-jump-down"],
)
def test_tiers_are_continuous_to_one_money_unit(cum, expected):
    """Floor 1,000,000 money units, MMR 1% then 2%: at the floor the first tier's MM is 10,000 and the second's
    20,000 - cum, continuous for cum = 10,000; a jump of one unit is allowed (the guard counts one per tier)."""
    floors, mmr = np.array([[0, 1_000_000]]), np.array([[10_000, 20_000]])
    assert continuous(floors, mmr, np.array([[0, cum]]), np.array([2])) is expected


@pytest.mark.parametrize(
    "name", ["binance-2025-10-10-cross-margin", "binance-btcusdt-2025-10-10-calendar-spread"],
    ids=["cross-margin-three-perpetuals", "calendar-spread-with-expiry"],
)  # fmt: skip
def test_runs_skipping_sweeps_equal_runs_sweeping_every_step(name):
    """The engine's loop (as :func:`delever.engine.run` runs a multi-instrument market) skips some sweeps and
    logs the same events as the run that sweeps every step."""
    sc = load_scenario(
        default_scenario_path().parent / f"{name}.toml",
        {"book": {"generator": {"accounts": 5_000}}, "mechanisms": MECHANISMS_OFF},
    )
    sim = Simulation(sc, sc.seed, prepare_multi(sc, sc.seed), own_book=True)
    for t in range(sim.T):
        sim.step(t)
    assert sim.sweep_skip is not None and 0 < sim.sweep_skip.skipped < sim.T
    fast, full = sim.result(), run(sc, full_sweep=True)
    for column in fast.events:
        assert np.array_equal(fast.events[column], full.events[column]), column
    assert fast.money_end == full.money_end and fast.events["kind"].shape[0] > 0
