"""The one-position-per-account sweep lists exactly what the general full sweep lists (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.book import Book
from delever.columns import AccountValuation, BookCols, SweepCols
from delever.sweep import margin_sweep, single_position_sweep
from delever.tiers import BINANCE_BTCUSDT_2021 as T

V = 100


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(100_000, 2_000_000))
def test_single_position_sweep_equals_the_general_sweep(seed, n, mark):
    rng = np.random.default_rng(seed)
    size = rng.integers(-200_000, 200_000, n)  # up to 200 BTC: crosses several tiers
    entry = rng.integers(mark // 2, mark * 2, n)
    cost = size * entry * V
    isolated = rng.random(n) < 0.4
    margin = (np.abs(cost) * rng.uniform(0.001, 0.2, n)).astype(np.int64)
    # accounts near the threshold: set equity to MM - 1, MM, MM + 1 for some by construction
    collateral = np.where(isolated, margin, 0)
    wallet = np.where(isolated, 0, margin)
    exempt = rng.random(n) < 0.05
    account = np.arange(n)
    book = BookCols.of(Book.from_arrays(wallet=wallet, account=account, size=size, cost=cost, collateral=collateral,
                                        isolated=isolated, exempt=exempt))  # fmt: skip
    val = AccountValuation.single(mark, V, T)
    listed = np.zeros(n, np.int64)
    c1 = margin_sweep(book, val, SweepCols.zeros(n, n), listed)
    general = set(listed[:c1].tolist())
    out = np.zeros(n, np.int64)
    c2 = single_position_sweep(book, val, out)
    assert set(out[:c2].tolist()) == general


def test_boundary_accounts_exactly_at_and_one_below_maintenance_margin():
    # 1 BTC long at 50,000, mark 50,000.0 (notional 50,000: tier 2, MMR 0.5%, cum 50 -> MM 200 USDT);
    # equity = margin: 200 USDT is not liquidatable, 199.999999 is
    size = np.array([1000, 1000])
    cost = size * 500_000 * V
    collateral = np.array([200_000_000, 199_999_999])
    out = np.zeros(2, np.int64)
    book = Book.from_arrays(wallet=np.zeros(2), account=np.arange(2), size=size, cost=cost, collateral=collateral,
                            isolated=np.array([True, True]), exempt=np.zeros(2, bool))  # fmt: skip
    c = single_position_sweep(BookCols.of(book), AccountValuation.single(500_000, V, T), out)
    assert out[:c].tolist() == [1]
