"""What the engine checks of its state: money conserved and open interest balanced
(:func:`check_conservation`, every step with ``check_every_step``; the run's end-to-start difference is the
summary's ``conservation_error``), and whether a book lets trigger prices decide liquidations exactly
(:func:`trigger_mode`)."""

from __future__ import annotations

import numpy as np

from ..tiers import BASIS_NOTIONAL, PICO, rate_pico

from ..book import Book
from ..errors import ConservationError
from ..instruments import Instrument
from ..requirement import ENTRY_CROSS, ENTRY_ISOLATED


def trigger_mode(book: Book, inst: Instrument, mm_entry: int = 0) -> bool:
    """Whether trigger prices decide liquidations exactly for this book: every trader account holds at most
    one position (so a change to an account is a change to its one position, whose trigger is refreshed), and
    ``equity - MM`` moves monotonically with the price (``V * (1 - MMR_max) > 1``, the MMR with the size-linear
    rate of the largest position). Notional tiers with no maintenance amount (Bitget's ``MM = tier MMR x PV``)
    make the requirement jump up at each cap, so a long's ``equity - MM`` can fall as the price rises: such a
    run marks the whole book every step. Size tiers and an MM on entry value keep it monotone
    (:mod:`delever.requirement`); with ``mm_entry`` (the kernels' bits) on both isolated and cross positions the MM
    does not move with the price at all (BitMEX's inverse XBTUSD: notional tiers without a maintenance amount), so
    ``equity - MM`` moves with the price alone, strictly."""
    traders = book.account[~book.exempt[book.account]]
    if traders.size and np.bincount(traders).max() > 1:
        return False
    if mm_entry == ENTRY_ISOLATED | ENTRY_CROSS:
        return True
    tiers = inst.tiers
    if tiers.basis == BASIS_NOTIONAL and not tiers.continuous and not tiers.rate_per_lot:
        return False
    if tiers.basis == BASIS_NOTIONAL and tiers.rate_per_lot and len(tiers.tiers) > 1:
        return False  # a notional table with a size rate: its continuity is not checked, so the sweep decides
    lots = int(np.abs(book.size).max()) if book.size.size else 0
    rate = rate_pico(int(tiers.mmr_ppm.max()), lots, tiers.rate_per_lot)
    return inst.value_per_lot_tick * (PICO - rate) > PICO


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
