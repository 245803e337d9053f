"""What the engine checks of its state: money conserved and open interest balanced
(:func:`check_conservation`, every step with ``check_every_step``; the run's end-to-start difference is the
summary's ``conservation_error``), and whether a book lets trigger prices decide liquidations exactly
(:func:`trigger_mode`)."""

from __future__ import annotations

import numpy as np

from ..book import Book
from ..errors import ConservationError
from ..instruments import Instrument


def trigger_mode(book: Book, inst: Instrument) -> bool:
    """Whether trigger prices decide liquidations exactly for this book: every trader account holds at most
    one position (so a change to an account is a change to its one position, whose trigger is refreshed), and
    ``equity - MM`` moves monotonically with the price (``V * (1 - MMR_max) > 1``)."""
    traders = book.account[~book.exempt[book.account]]
    if traders.size and np.bincount(traders).max() > 1:
        return False
    return inst.value_per_lot_tick * (1_000_000 - int(inst.tiers.mmr_ppm.max())) > 1_000_000


def check_conservation(book: Book, fund: np.ndarray, money_start: int, instruments: int = 1) -> None:
    """Raise :class:`~delever.errors.ConservationError` when the book and funds hold other than ``money_start``
    or an instrument's open interest is unbalanced."""
    total = book.total_money(fund)
    if total != money_start:
        raise ConservationError(f"money changed by {total - money_start} units")
    for m in range(instruments):
        long_, short = book.open_interest(m)
        if long_ != short:
            raise ConservationError(f"open interest of instrument {m} unbalanced: long {long_} vs short {short}")
