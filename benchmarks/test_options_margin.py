"""Margin sweep of 100k accounts holding options and futures (issue #16): cost per position.

Run: ``python -m pytest benchmarks/test_options_margin.py --benchmark-only``. The book: a BTC chain of two expiries
(7 and 30 days), each with its future and calls and puts at 11 strikes (46 series); every account holds the
front future and two options drawn at random (seed 1), sizes 1-50 lots, long or short: 3 positions per account.
``extra_info`` records positions and nanoseconds per position (median).
"""

import numpy as np
import pytest

from delever.options.black76 import black76_price
from delever.options.portfolio_margin import portfolio_margin
from delever.options.series import CALL, FUTURE, PUT, SeriesTable
from delever.options.standard_margin import per_account, position_margin_money
from delever.options.surface import DEFAULT_SURFACE

INDEX = 114_800.0
ACCOUNTS = [10_000, 100_000]


def _chain(inverse: bool):
    kinds, strikes, years = [], [], []
    for days in (7, 30):
        kinds.append(FUTURE), strikes.append(0.0), years.append(days / 365)
        for k in np.linspace(0.8, 1.2, 11) * INDEX:
            for kind in (CALL, PUT):
                kinds.append(kind), strikes.append(round(k, -3)), years.append(days / 365)
    lot = np.where(np.array(kinds) == FUTURE, 10.0 if inverse else 0.001, 0.1)
    table = SeriesTable(np.array(kinds), np.array(strikes), np.array(years), lot, inverse)
    forward = INDEX * (1 + 0.0005 * table.years * 365 / 7)
    k = np.log(np.where(table.is_option, table.strike, 1.0) / forward)
    vol = np.where(table.is_option, DEFAULT_SURFACE.implied_vol(k, table.years), 0.0)
    return table, forward, vol


def _book(table, n_accounts: int):
    rng = np.random.default_rng(1)
    options = np.flatnonzero(table.is_option)
    account = np.repeat(np.arange(n_accounts), 3)
    series = np.empty(3 * n_accounts, dtype=np.int64)
    series[0::3] = 0  # the front future
    series[1::3] = rng.choice(options, n_accounts)
    series[2::3] = rng.choice(options, n_accounts)
    lots = rng.integers(1, 51, 3 * n_accounts) * rng.choice([-1, 1], 3 * n_accounts)
    return account, series, lots


@pytest.mark.parametrize("inverse", [False, True], ids=["linear", "inverse"])
@pytest.mark.parametrize("n_accounts", ACCOUNTS)
def test_portfolio_margin_sweep(benchmark, n_accounts, inverse):
    table, forward, vol = _chain(inverse)
    account, series, lots = _book(table, n_accounts)
    result = benchmark(portfolio_margin, table, account, series, lots, n_accounts, forward, vol)
    assert np.all(result.im >= result.mm) and np.all(result.mm >= 0)
    benchmark.extra_info["positions"] = int(lots.size)
    benchmark.extra_info["ns_per_position"] = benchmark.stats.stats.median / lots.size * 1e9


@pytest.mark.parametrize("n_accounts", ACCOUNTS)
def test_standard_option_margin_sweep(benchmark, n_accounts):
    table, forward, vol = _chain(inverse=False)
    account, series, lots = _book(table, n_accounts)
    option_rows = table.is_option[series]
    account, series, lots = account[option_rows], series[option_rows], lots[option_rows]

    def sweep():
        s = np.where(table.is_option, table.strike, 1.0)
        mark = black76_price(forward, s, vol, table.years, table.kind == CALL)[series]
        im, mm = position_margin_money(table, series, lots, INDEX, mark)
        return per_account(im, account, n_accounts), per_account(mm, account, n_accounts)

    im, mm = benchmark(sweep)
    assert np.all(im >= mm)
    benchmark.extra_info["positions"] = int(lots.size)
    benchmark.extra_info["ns_per_position"] = benchmark.stats.stats.median / lots.size * 1e9
