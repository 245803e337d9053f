"""The kernels' column bundles (:mod:`delever.columns`): they share the arrays of the objects they are built from
(a kernel's writes land in the book and the event buffer), the event bundle has the one type ``emit_event`` is
compiled for, and every field is documented with its dtype."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from delever import columns
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.events import LIQUIDATION_FEE, EventBuffer
from delever.liquidation import apply_trade, emit_event

V = 100


def two_accounts_book() -> Book:
    """Account 0: cross long 10 lots @500,000 ticks (cost 10 x 500,000 x 100 = 500,000,000), wallet 1,000,000;
    account 1: cross short 10 lots at the same price, wallet 1,000,000."""
    return Book.from_arrays(
        wallet=[1_000_000, 1_000_000], account=[0, 1], size=[10, -10], cost=[500_000_000, -500_000_000]
    )


def test_book_columns_share_the_book_arrays_so_kernel_writes_land_in_the_book():
    book = two_accounts_book()
    # sell 4 of the long's 10 lots at 500,010: it releases 4/10 of the cost (200,000,000) and realizes
    # 4 x 500,010 x 100 - 200,000,000 = 4,000 into its wallet
    realized = apply_trade(0, -4, 500_010, columns.BookCols.of(book), V)
    assert realized == 4_000
    assert (int(book.size[0]), int(book.cost[0]), int(book.wallet[0])) == (6, 300_000_000, 1_004_000)


def test_event_columns_have_the_emit_signature_type_and_hand_back_their_row_count():
    buf = EventBuffer()
    cols = columns.EventCols.of(buf)
    assert numba.typeof(cols) == columns.EVENT_COLS_TYPE
    emit_event(cols, LIQUIDATION_FEE, 3, -1, 7, 0, 0, -250, 0)
    buf.n = cols.rows()
    assert buf.n == 1
    assert (int(buf.cols["kind"][0]), int(buf.cols["account"][0]), int(buf.cols["amount"][0])) == (
        LIQUIDATION_FEE,
        3,
        -250,
    )


def test_queue_columns_are_the_queue_arrays():
    book = two_accounts_book()
    tiers = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))
    q = AdlQueue(book, 0, 500_000, V, None, np.zeros(2, dtype=bool), "queue-bitmex", tiers)
    cols = columns.QueueCols.of(q)
    cols.pointer[1] = 5
    assert int(q.pointer[1]) == 5 and cols.alloc_mode == q.alloc_mode == 0


BUNDLES = [
    columns.BookCols,
    columns.EventCols,
    columns.QueueCols,
    columns.LiquidityCols,
    columns.AccountValuation,
    columns.AdlControl,
    columns.MarkState,
    columns.SeriesCols,
    columns.TriggerCols,
    columns.PoolCols,
]


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.__name__ for b in BUNDLES])
def test_every_bundle_field_is_documented(bundle):
    doc = bundle.__doc__ or ""
    missing = [f for f in bundle._fields if f"``{f}``" not in doc]
    assert not missing, f"{bundle.__name__}: fields without a line in the docstring: {missing}"
