"""Benchmark fixtures: generated books of 1e3..1e6 positions on the default instrument."""

try:  # lrvx (FLOX, optional extra "bench") must load before pyarrow, or its libstdc++ finds no static TLS left
    import lrvx  # noqa: F401
except ImportError:
    pass

from decimal import Decimal

import numpy as np
import pytest

from delever.columns import AccountValuation, BookCols, SweepCols
from delever.generator import GeneratorParams, generate_book
from delever.instruments import Instrument
from delever.tiers import BINANCE_BTCUSDT_2021

START = 1_148_000  # ticks: 114,800.0 USDT, the default scenario's start


@pytest.fixture(scope="session")
def instrument() -> Instrument:
    return Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)


_BOOKS: dict = {}


def book_of(n: int, instrument: Instrument):
    """A generated book of ``n`` trader positions (cached per size)."""
    if n not in _BOOKS:
        _BOOKS[n] = generate_book(
            GeneratorParams(accounts=n), instrument, START, seed=1, lp_accounts=4, lp_wallet=Decimal(10) ** 12
        )
    return _BOOKS[n]


def sweep_args(book, instrument, mark: int):
    """Arguments of :func:`delever.sweep.margin_sweep` for ``book`` at ``mark`` ticks."""
    n, a = book.n_positions, book.n_accounts
    val = AccountValuation.single(mark, instrument.value_per_lot_tick, instrument.tiers)
    return BookCols.of(book), val, SweepCols.zeros(n, a), np.zeros(n, np.int64)
