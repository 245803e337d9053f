"""The venue's mark price: the index plus the venue's own basis from forced flow, in a simplified form.

``mark = median(index, index + EMA_tau(last - index), last)``, rounded to the nearest tick, where ``last`` is
the venue's last trade price (the book's marginal price, :mod:`delever.liquidity`) and the EMA has time
constant ``tau`` (default 30 s). Sources (../shared/specs/venues.md): Deribit's legacy mark
``Index + 30 s EMA(futures price - index)`` (section 5, https://legacy.deribit.com/pages/docs/futures), and
Binance's use of a median of index-based prices and the last price so that one print cannot move the mark
(Binance's exact Price 1 / Price 2 inputs - funding basis and a moving-average basis of bid/ask - are not in
the specs; the EMA basis stands in for both). Effect: a burst of forced selling moves ``last`` at once but
the mark only as fast as the basis EMA follows, unless the index moves too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit


@dataclass
class MarkPrice:
    """Stateful mark-price rule; ``basis_ema_s`` is the EMA time constant in seconds (0 = no smoothing)."""

    basis_ema_s: float = 30.0
    ema_basis: float = 0.0

    def alpha(self, dt_s: float) -> float:
        """The EMA's weight of a new basis after ``dt_s`` seconds."""
        return 1.0 if self.basis_ema_s <= 0 else 1.0 - math.exp(-dt_s / self.basis_ema_s)

    def update(self, index: float, last: float, dt_s: float) -> int:
        """Advance the basis EMA by ``dt_s`` seconds and return the mark in ticks (``index``/``last`` in ticks)."""
        alpha = self.alpha(dt_s)
        self.ema_basis += alpha * ((last - index) - self.ema_basis)
        return mark_of(index, self.ema_basis, last)


@njit(cache=True, nogil=True)
def mark_of(index: float, ema_basis: float, last: float) -> int:
    """The mark (ticks) from the index, the basis EMA and the last price (all in ticks): the median rule of
    :meth:`MarkPrice.update`, compiled so that the engine's loop of quiet steps shares it."""
    b = index + ema_basis
    med = max(min(index, b), min(max(index, b), last))
    return max(1, int(math.floor(med + 0.5)))
