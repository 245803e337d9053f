"""Funding: periodic payments between longs and shorts that tie the perpetual to the index.

Rate of an interval: ``F = clip(P + clamp(I - P, -clamp, +clamp), -cap, +cap)`` (Binance/Bybit/BitMEX form,
../shared/specs/venues.md sections 1-3), with ``P`` the premium index, here the interval's average of the
venue basis ``(mark - index) / index`` (the venues sample impact bid/ask prices; our book's basis is the
mark's), and ``I`` the interest per interval (0.01% per 8 h on Binance). At each funding time (UTC multiples
of ``interval_s``) a position pays ``size * mark * V * F`` (longs pay when F > 0). Rounding goes against the
account: payers pay the amount rounded up, receivers receive it rounded down; the remainder (>= 0) goes to the
insurance fund, so money is conserved exactly.
"""

from __future__ import annotations

from numba import njit

from ..events import FUNDING, FUNDING_POOL
from ..liquidation import emit_event

PPB = 1_000_000_000


def funding_rate_ppb(premium: float, interest: float, clamp: float, cap: float) -> int:
    """The interval's rate in parts per billion (rounded to nearest)."""
    f = premium + min(max(interest - premium, -clamp), clamp)
    f = min(max(f, -cap), cap)
    return int(round(f * PPB))


@njit(cache=True, nogil=True)
def pay_funding(rate_ppb, mark, v, instrument_id, book, events) -> int:
    """Settle one funding time at ``rate_ppb`` (parts per billion) and ``mark`` (ticks) over every position of
    instrument ``instrument_id`` (LP positions included: they are the book's holders); ``book`` a
    :class:`delever.columns.BookCols` (margins and wallets credited), ``events`` a
    :class:`delever.columns.EventCols` (the caller ensures room for n events), ``v`` money per lot-tick.
    Returns the rounding remainder (money, >= 0) for the insurance fund."""
    paid = 0
    received = 0
    size = book.size
    for i in range(size.shape[0]):
        s = size[i]
        if s == 0 or rate_ppb == 0 or book.instrument[i] != instrument_id:
            continue
        notional = (s if s > 0 else -s) * mark * v
        q = notional // PPB
        r = notional - q * PPB
        pays = (s > 0) == (rate_ppb > 0)
        rate = rate_ppb if rate_ppb > 0 else -rate_ppb
        if pays:
            amount = -(q * rate - ((-(r * rate)) // PPB))  # rounded up, paid
            paid -= amount
        else:
            amount = q * rate + (r * rate) // PPB  # rounded down, received
            received += amount
        if amount == 0:
            continue
        if book.isolated[i]:
            book.collateral[i] += amount
        else:
            book.wallet[book.account[i]] += amount
        emit_event(events, FUNDING, book.account[i], FUNDING_POOL, i, 0, mark, amount, 0)
    return paid - received
