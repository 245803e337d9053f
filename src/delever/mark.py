"""The venue's mark price: the index plus the venue's own basis from forced flow, in a simplified form, optionally
held within a band around the index.

``mark = median(index, index + EMA_tau(last - index), last)``, rounded to the nearest tick, where ``last`` is
the venue's last trade price (the book's marginal price, :mod:`delever.liquidity`) and the EMA has time
constant ``tau`` (default 30 s). Sources (../shared/specs/venues.md): Deribit's legacy mark
``Index + 30 s EMA(futures price - index)`` (section 5, https://legacy.deribit.com/pages/docs/futures), and
Binance's use of a median of index-based prices and the last price so that one print cannot move the mark
(Binance's exact Price 1 / Price 2 inputs - funding basis and a moving-average basis of bid/ask - are not in
the specs; the EMA basis stands in for both). Effect: a burst of forced selling moves ``last`` at once but
the mark only as fast as the basis EMA follows, unless the index moves too.

**Band** (``[mark] max_deviation_pct``, :class:`delever.scenario.MarkConfig`): when set, the mark is then clamped
to ``[index x (1 - band), index x (1 + band)]`` (the lower bound rounded up and the upper bound rounded down to
a whole tick, so the rounded mark is inside the band). Why: the median alone does not anchor the mark. While
forced orders keep the book displaced for longer than a few ``tau`` (the book refills with its resilience
half-life, :mod:`delever.liquidity`, and depth reaches out to 90% from the index), ``index + EMA`` converges
to ``last`` and the mark follows the venue's own trades wherever the cascade pushes them: the cascade feeds
itself with the index flat. A venue whose margin is checked against a price held near its oracle/index
breaks that loop; the rulebooks set the band each venue publishes (:attr:`delever.venues.base.Rulebook.mark`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

UNBANDED = math.inf
"""The band (fraction of the index) of a mark without a band."""


def band_fraction(max_deviation_pct: float | None) -> float:
    """``[mark] max_deviation_pct`` (percent, or None for no band) as the fraction :func:`mark_of` takes."""
    return UNBANDED if max_deviation_pct is None else float(max_deviation_pct) / 100.0


@dataclass
class MarkPrice:
    """Stateful mark-price rule; ``basis_ema_s`` is the EMA time constant in seconds (0 = no smoothing),
    ``band`` the largest distance of the mark from the index as a fraction of it (:data:`UNBANDED`: none)."""

    basis_ema_s: float = 30.0
    ema_basis: float = 0.0
    band: float = UNBANDED

    def alpha(self, dt_s: float) -> float:
        """The EMA's weight of a new basis after ``dt_s`` seconds."""
        return 1.0 if self.basis_ema_s <= 0 else 1.0 - math.exp(-dt_s / self.basis_ema_s)

    def update(self, index: float, last: float, dt_s: float) -> int:
        """Advance the basis EMA by ``dt_s`` seconds and return the mark in ticks (``index``/``last`` in ticks)."""
        alpha = self.alpha(dt_s)
        self.ema_basis += alpha * ((last - index) - self.ema_basis)
        return mark_of(index, self.ema_basis, last, self.band)


@njit(cache=True, nogil=True)
def mark_of(index: float, ema_basis: float, last: float, band: float) -> int:
    """The mark (ticks) from the index, the basis EMA and the last price (all in ticks), within ``band``
    (a fraction of the index; ``inf``: no band): the median rule of :meth:`MarkPrice.update`, compiled so that
    the engine's loop of quiet steps shares it.

    The band's bounds are whole ticks inside it: ``ceil(index x (1 - band))`` and ``floor(index x (1 + band))``;
    where no whole tick lies inside (a band narrower than a tick, e.g. 0 on a fractional index) the mark is the
    index rounded to the nearest tick (at most half a tick away)."""
    b = index + ema_basis
    med = max(min(index, b), min(max(index, b), last))
    mark = max(1, int(math.floor(med + 0.5)))
    if band < math.inf:
        lo = max(1, int(math.ceil(index * (1.0 - band))))
        hi = int(math.floor(index * (1.0 + band)))
        if lo > hi:
            return max(1, int(math.floor(index + 0.5)))
        mark = min(hi, max(lo, mark))
    return mark
