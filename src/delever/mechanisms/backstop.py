"""The backstop liquidity vault (Hyperliquid's HLP liquidator, ../shared/specs/venues.md section 6): when a
liquidatable account's equity is below ``equity_ratio`` x maintenance margin (Hyperliquid: 2/3), the vault
takes over the whole position instead of the book, and keeps the account's remaining margin ("MM not
returned: the buffer keeps backstop profitable on average").

Takeover price: the mark; for an account already below bankruptcy at the mark (equity < 0), its bankruptcy
price (rounded against solvency), so the account ends at exactly >= 0 and the vault absorbs the loss. The
vault is an account of the book (never liquidated, never ADL'd) whose PnL the report tracks.
"""

from __future__ import annotations

from numba import njit

from ..events import BACKSTOP_MARGIN, BACKSTOP_TAKEOVER, BACKSTOP_VAULT_FILL
from ..liquidation import apply_trade, emit_event
from ..margin import bankruptcy_price_compiled


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
