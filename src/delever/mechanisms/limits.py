"""Position limits and leverage caps.

Per-account notional cap (``max_account_notional``, quote) and per-tier max leverage (the risk-limit tier's
``max_leverage`` at the position's notional, Binance/Bybit, venues.md sections 1 and 3). Enforced where
positions are created or grow in delever: the generated book (sizes are cut to the cap, leverage clipped to
the tier's max: :func:`delever.generator.generate_book`) and books read from files (a row over a limit is an
error naming the row and field: :func:`delever.bookio.load_book`). Inside a run, positions only grow on the
liquidity providers and the backstop vault, which are the venue's own backstops and exempt by design.

The engine reaches the cap through the mechanism protocol's book phase (:class:`PositionLimits`,
:meth:`delever.mechanisms.base.Mechanism.shape_book`).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np

from ..book import Book
from ..instruments import Instrument
from ..units import money
from .base import BookRules, Mechanism


def violations(book: Book, inst: Instrument, price_ticks: int, max_account_notional: Decimal) -> np.ndarray:
    """Indices of trader positions over the notional cap or above their tier's max leverage at ``price``."""
    v = inst.value_per_lot_tick
    trader = ~book.exempt[book.account]
    notional = np.abs(book.size) * price_ticks * v
    collateral = np.where(book.isolated, book.collateral, book.wallet[book.account])
    max_lev = np.array([float(inst.tiers.max_leverage_for(int(n))) for n in notional])
    over_cap = notional > money(max_account_notional)
    over_lev = notional > max_lev * np.maximum(collateral, 0) + 1e-9
    return np.flatnonzero(trader & (book.size != 0) & (over_cap | over_lev))


class PositionLimits(Mechanism):
    """``[mechanisms.limits]`` as the mechanism protocol sees it: it acts at book time only (phase -1), capping each
    trader account's entry notional at ``max_account_notional`` (:class:`~delever.mechanisms.base.BookRules`); no
    step phase (positions do not grow inside a run, module docstring)."""

    name = "limits"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> PositionLimits | None:
        limits = scenario.mechanisms.limits
        return cls(limits) if limits.enabled else None

    def shape_book(self, rules: BookRules) -> BookRules:
        return replace(rules, max_account_notional=self.config.max_account_notional)
