"""The backstop liquidity vault (Hyperliquid's HLP liquidator, ../shared/specs/venues.md section 6): when a
liquidatable account's equity is below ``equity_ratio`` x maintenance margin (Hyperliquid: 2/3), the vault
takes over the whole position instead of the book, and keeps the account's remaining margin ("MM not
returned: the buffer keeps backstop profitable on average").

Takeover price: the mark; for an account already below bankruptcy at the mark (equity < 0), its bankruptcy
price (rounded against solvency), so the account ends at exactly >= 0 and the vault absorbs the loss. The
vault is an account of the book (never liquidated, never ADL'd) whose PnL the report tracks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..book import with_extra_account
from ..columns import BookCols, EventCols
from ..events import BACKSTOP_MARGIN, BACKSTOP_TAKEOVER, BACKSTOP_VAULT_FILL
from ..liquidation import apply_trade, emit_event
from ..margin import bankruptcy_price_compiled
from ..units import money
from .base import Mechanism


@njit(cache=True, nogil=True)
def take_over(order, equity, mm, ratio_num, ratio_den, vault_pos, mark, book, v, keep, events) -> int:
    """Hand positions ``order[k]`` with ``equity[k] * den < num * mm[k]`` (money, int64 (k,)) to the vault's
    position ``vault_pos`` at ``mark`` ticks (see the module docstring); ``keep[k]`` is set to 0 for those (1
    for the rest). ``book`` a :class:`delever.columns.BookCols` (mutated), ``v`` money per lot-tick,
    ``events`` a :class:`delever.columns.EventCols`: the caller ensures room for 4 events per position.
    Returns how many."""
    vault_acc = book.account[vault_pos]
    taken = 0
    for k in range(order.shape[0]):
        p = order[k]
        s = book.size[p]
        keep[k] = 1
        if s == 0 or equity[k] * ratio_den >= ratio_num * mm[k]:
            continue
        keep[k] = 0
        a = book.account[p]
        b0 = book.collateral[p] if book.isolated[p] else book.wallet[a]
        price = mark
        if equity[k] < 0:  # bankrupt at the mark: take it at the bankruptcy price (rounded against it, >= 1 tick)
            price = max(bankruptcy_price_compiled(s, book.cost[p], b0, v), 1)
        r1 = apply_trade(p, -s, price, book, v)
        r2 = apply_trade(vault_pos, s, price, book, v)
        emit_event(events, BACKSTOP_TAKEOVER, a, vault_acc, p, -s, price, r1, 0)
        emit_event(events, BACKSTOP_VAULT_FILL, vault_acc, a, vault_pos, s, price, r2, 0)
        bal = book.collateral[p] if book.isolated[p] else book.wallet[a]
        if bal > 0:
            if book.isolated[p]:
                book.collateral[p] = 0
            else:
                book.wallet[a] = 0
            book.wallet[vault_acc] += bal
            emit_event(events, BACKSTOP_MARGIN, a, vault_acc, p, 0, 0, -bal, 0)
            emit_event(events, BACKSTOP_MARGIN, vault_acc, a, vault_pos, 0, 0, bal, 0)
        taken += 1
    return taken


def ratio_fraction(equity_ratio) -> tuple[int, int]:
    """The threshold as an exact fraction ``(num, den)`` of a decimal such as 0.666667."""
    from fractions import Fraction

    f = Fraction(str(equity_ratio))
    return f.numerator, f.denominator


def vault_equity(book, vault_pos: int, mark: int, v: int) -> int:
    """The vault's equity at ``mark``: its wallet plus its position's unrealized PnL (money)."""
    a = int(book.account[vault_pos])
    return int(book.wallet[a]) + int(book.size[vault_pos]) * mark * v - int(book.cost[vault_pos])


class Backstop(Mechanism):
    """The step loop's backstop vault (:mod:`delever.mechanisms.base`): an exempt account appended to the
    book, with one flat position per instrument; before the book sees a batch, the vault takes over
    (:func:`take_over`) the positions whose equity is below ``equity_ratio`` x MM. The summary reports the
    vault's PnL at the last marks."""

    name = "backstop"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> Backstop | None:
        bs = scenario.mechanisms.backstop
        return cls(bs) if bs.enabled else None

    def add_accounts(self, sim, book):
        # the vault holds one (flat) position on each instrument
        book, self.vault_acc, first = with_extra_account(book, money(self.config.vault_wallet), sim.M)
        self.vault_positions = np.arange(first, first + sim.M, dtype=np.int64)
        return book

    def setup(self, sim) -> None:
        self.ratio = ratio_fraction(self.config.equity_ratio)

    def take(self, sim, batch) -> None:
        """Hand the positions below the vault's threshold to the vault's position on the batch's instrument."""
        b, buf, m, mark, order = sim.book, sim.buf, batch.m, batch.mark, batch.order
        buf.ensure(4 * order.size + 8)
        keep = np.ones(order.size, dtype=np.int64)
        num, den = self.ratio
        v = int(sim.vpl[m])
        notional = np.abs(b.size[order]) * mark * v
        events = EventCols.of(buf)
        vault = int(self.vault_positions[m])
        taken = take_over(order, batch.equity, batch.req, num, den, vault, mark, BookCols.of(b), v, keep, events)
        buf.n = events.rows()
        if taken:
            sim.note(self.name, b.account[order[keep == 0]], int(notional[keep == 0].sum()))
        batch.keep(keep == 1)

    def finish(self, sim, extra: dict) -> None:
        b = sim.book
        vault_end = int(b.wallet[self.vault_acc])
        for m in range(sim.M):
            last_mark = int(sim.mark_s_all[m][-1]) if sim.T else 0
            vault_end += vault_equity(b, int(self.vault_positions[m]), last_mark, int(sim.vpl[m])) - int(
                b.wallet[self.vault_acc]
            )
        extra[self.name]["vault_pnl"] = vault_end - money(self.config.vault_wallet)
