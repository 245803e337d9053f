"""One full-book margin sweep, and the trigger-price path, at 1e3..1e6 positions.

Run: ``python -m pytest benchmarks --benchmark-only``. Each benchmark records positions per second in
``extra_info``; the full mark-to-market sweep at 1e6 is the figure issue #2 asks for.
"""

import numpy as np
import pytest

from delever.columns import AccountValuation, BookCols
from delever.sweep import margin_sweep, single_position_sweep, trigger_sweep, update_triggers
from delever.trigger_index import TriggerIndex

from .conftest import START, book_of, sweep_args

SIZES = [1_000, 10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("n", SIZES)
def test_full_margin_sweep(benchmark, instrument, n):
    book = book_of(n, instrument)
    args = sweep_args(book, instrument, START)
    margin_sweep(*args)  # compile outside the timing
    benchmark(margin_sweep, *args)
    benchmark.extra_info["positions"] = book.n_positions
    benchmark.extra_info["positions_per_s"] = book.n_positions / benchmark.stats.stats.median


def _triggers(book, instrument):
    trig = np.zeros(book.n_positions, dtype=np.int64)
    val = AccountValuation.single(START, instrument.value_per_lot_tick, instrument.tiers)
    update_triggers(np.arange(book.n_positions), BookCols.of(book), val, trig)
    return trig


@pytest.mark.parametrize("n", SIZES)
def test_trigger_prices_of_whole_book(benchmark, instrument, n):
    book = book_of(n, instrument)
    _triggers(book, instrument)
    benchmark(_triggers, book, instrument)
    benchmark.extra_info["positions_per_s"] = book.n_positions / benchmark.stats.stats.median


@pytest.mark.parametrize("n", SIZES)
def test_trigger_sweep_linear(benchmark, instrument, n):
    book = book_of(n, instrument)
    trig = _triggers(book, instrument)
    out = np.zeros(book.n_positions, dtype=np.int64)
    cols, val = BookCols.of(book), AccountValuation.single(START, instrument.value_per_lot_tick)
    trigger_sweep(cols, trig, val, out)
    benchmark(trigger_sweep, cols, trig, val, out)
    benchmark.extra_info["positions_per_s"] = book.n_positions / benchmark.stats.stats.median


@pytest.mark.parametrize("n", SIZES)
def test_trigger_index_scan_healthy(benchmark, instrument, n):
    book = book_of(n, instrument)
    trig = _triggers(book, instrument)
    index = TriggerIndex(book.size, trig)
    out = np.zeros(book.n_positions, dtype=np.int64)
    assert index.scan(START, 0, out) == 0  # a healthy book: nobody at the start price
    benchmark(index.scan, START, 1, out)


@pytest.mark.parametrize("n", SIZES)
def test_single_position_sweep(benchmark, instrument, n):
    book = book_of(n, instrument)
    val = AccountValuation.single(START, instrument.value_per_lot_tick, instrument.tiers)
    args = (BookCols.of(book), val, np.zeros(book.n_positions, np.int64))
    single_position_sweep(*args)
    benchmark(single_position_sweep, *args)
    benchmark.extra_info["positions_per_s"] = book.n_positions / benchmark.stats.stats.median
