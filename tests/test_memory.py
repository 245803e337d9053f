"""The compact forms a run keeps while it goes on (issue #6's memory per position) give back exactly what the
plain forms hold: the packed starting book, and the event log's narrow columns."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever.book import Book

BIG = 2**40  # does not fit int32


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 200), st.floats(0.0, 1.0), st.booleans())
def test_packed_snapshot_is_the_snapshot(seed, n, zero_fraction, wide):
    rng = np.random.default_rng(seed)
    scale = BIG if wide else 1000

    def col():
        a = rng.integers(-scale, scale, n)
        a[rng.random(n) < zero_fraction] = 0
        return a

    iso = rng.random(n) < 0.5
    book = Book.from_arrays(wallet=col(), account=np.arange(n), size=col(), cost=col(),
                            collateral=np.where(iso, col(), 0), isolated=iso)  # fmt: skip
    want = book.snapshot()
    got = book.packed_snapshot().book()
    for name in ("wallet", "size", "cost", "collateral", "account", "isolated", "exempt", "entry_leverage"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    book.size[:] += 1  # the run changes the book afterwards: the snapshot does not follow
    assert np.array_equal(book.packed_snapshot().book().size, book.size)
    assert np.array_equal(got.size, want.size)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 300), min_size=0, max_size=12))
def test_event_log_columns_are_the_appended_rows(seed, sizes):
    rng = np.random.default_rng(seed)
    log, buf = ev.EventLog(), ev.EventBuffer(capacity=4)
    want: dict[str, list] = {c: [] for c in ("step", "time_ns", "instrument", *ev.COLUMNS)}
    for step, k in enumerate(sizes):
        buf.ensure(k)
        for c in ev.COLUMNS:
            small = c in ("kind", "indicator")
            scale = 5 if small else (BIG if rng.random() < 0.2 else 1000)  # some steps overflow int32
            buf.cols[c][:k] = rng.integers(-scale, scale, k)
            want[c].append(buf.cols[c][:k].copy())
        buf.n = k
        want["step"].append(np.full(k, step))
        want["time_ns"].append(np.full(k, step * 10**9 + 7))
        want["instrument"].append(np.full(k, step % 3))
        log.append(buf, step, step * 10**9 + 7, step % 3)
        assert buf.n == 0
    got = log.columns()
    assert list(got) == list(want)
    for c, parts in want.items():
        w = np.concatenate(parts) if parts else np.zeros(0)
        assert got[c].dtype == (np.int8 if c in ("kind", "indicator") else np.int64), c
        assert np.array_equal(got[c], w), c
    assert log.columns() is got
