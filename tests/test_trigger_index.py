"""The sorted trigger index lists exactly what a linear scan of the trigger prices lists, as positions change."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.book import Book
from delever.columns import AccountValuation, BookCols
from delever.sweep import trigger_sweep
from delever.trigger_index import TriggerIndex


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(2, 30))
def test_index_scan_equals_linear_scan(seed, n, steps):
    rng = np.random.default_rng(seed)
    size = rng.integers(-5, 6, n)
    trigger = np.where(size > 0, rng.integers(900, 1000, n), rng.integers(1000, 1100, n))
    index = TriggerIndex(size, trigger)
    out_a = np.zeros(n, np.int64)
    out_b = np.zeros(n, np.int64)
    # the book's columns share ``size`` (copy=False): the changes below reach the linear scan
    book = BookCols.of(Book.from_arrays(wallet=np.zeros(n), account=np.arange(n), size=size, cost=np.zeros(n),
                                        copy=False))  # fmt: skip
    assert book.size is size
    for t in range(steps):
        mark = int(rng.integers(880, 1120))
        a = index.scan(mark, t, out_a)
        b = trigger_sweep(book, trigger, AccountValuation.single(mark, 1), out_b)
        assert sorted(out_a[:a].tolist()) == sorted(out_b[:b].tolist())
        # some positions change (closed, cut, re-priced) and are reported to the index, as the engine does
        changed = rng.choice(n, size=min(n, 3), replace=False)
        size[changed] = rng.integers(-5, 6, changed.size)
        trigger[changed] = np.where(size[changed] > 0, rng.integers(900, 1000, changed.size),
                                    rng.integers(1000, 1100, changed.size))  # fmt: skip
        index.changed(changed.astype(np.int64))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(1, 40), st.integers(1, 12))
def test_merged_rebuild_equals_a_full_sort(seed, n, steps, max_pending):
    # the index rebuilds by merging its valid entries with the pending ones: the lists must be exactly those a
    # fresh index sorts from scratch (ties in the trigger included, sentinel triggers of flat positions too)
    rng = np.random.default_rng(seed)
    size = rng.integers(-3, 4, n)
    trigger = np.where(size > 0, rng.integers(990, 1000, n), rng.integers(1000, 1010, n))
    trigger[size == 0] = -1
    index = TriggerIndex(size, trigger)
    index.max_pending = max_pending
    out = np.zeros(n, np.int64)
    for t in range(steps):
        index.scan(int(rng.integers(985, 1015)), t, out)
        changed = rng.choice(n, size=int(rng.integers(1, min(n, 6) + 1)), replace=False)
        size[changed] = rng.integers(-3, 4, changed.size)
        trigger[changed] = np.where(size[changed] > 0, rng.integers(990, 1000, changed.size),
                                    rng.integers(1000, 1010, changed.size))  # fmt: skip
        trigger[changed[size[changed] == 0]] = -1
        before = index.rebuilds
        index.changed(np.concatenate([changed, changed[:1]]).astype(np.int64))  # a position reported twice
        if index.rebuilds > before:
            fresh = TriggerIndex(size, trigger)
            for name in ("long_idx", "long_key", "short_idx", "short_key"):
                a, b = getattr(index, name), getattr(fresh, name)
                assert a.dtype == b.dtype and np.array_equal(a, b), name
