"""The per-position columns the ADL hierarchy (:mod:`delever.adl.hierarchy`) may rank by that the book does not
hold: a position's age, and the funding it received over a window (from the run's funding settlements,
:class:`delever.mechanisms.funding.Funding`)."""

from __future__ import annotations

import numpy as np

from ..book import Book


def position_column(book: Book, now_ns: int, name: str, funding_history=(), window_s: float = 0.0) -> np.ndarray:
    """A per-position column of the ADL hierarchy at ``now_ns``: ``age_s`` (float64 seconds since each position
    was opened) or ``funding_received`` (int64 money, net funding received within ``window_s`` seconds before
    now, :func:`funding_received`; zeros without a funding history).

    Raises:
        KeyError: another name.
    """
    if name == "age_s":
        return (now_ns - book.opened_ns) / 1e9
    if name == "funding_received":
        return funding_received(funding_history, book.n_positions, now_ns, window_s)
    raise KeyError(name)


def funding_received(history, n: int, now_ns: int, window_s: float) -> np.ndarray:
    """int64 (n,) money: net funding each position received (paid < 0) at the settlements of ``history``
    (``(time ns, positions, amounts)`` each) within ``window_s`` seconds before ``now_ns``, now included."""
    out = np.zeros(n, dtype=np.int64)
    start = now_ns - int(window_s * 1e9)
    for when, positions, amounts in history:
        if start < when <= now_ns:
            np.add.at(out, positions, amounts)
    return out
