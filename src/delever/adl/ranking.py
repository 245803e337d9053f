"""ADL ranking: who is deleveraged first, and the indicator a trader sees.

Score (BitMEX, ../shared/specs/venues.md section 2, https://www.bitmex.com/app/autoDeleveraging; the rule
issue #2 names for Binance/BitMEX): ``PnL% * effective leverage`` when PnL% > 0 and ``PnL% / effective
leverage`` otherwise, with ``PnL% = uPnL / |entry value|`` and ``effective leverage = notional / equity``
(BitMEX ``|MarkValue| / (MarkValue - BankruptValue)``: the mark value less the bankrupt value is the
position's equity). Longs and shorts are ranked separately, highest first.

Indicator (BitMEX, 5 lights in 20% steps; TV-01): sort a side by score, highest first; a position's
percentile is the cumulative quantity down to and including it over the side's total quantity, rounded up
to a 20% step; 5 lights for the top 20%, 1 light for the last.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import scores as venue_scores


def bitmex_score(upnl: int, cost: int, notional: int, equity: int) -> float:
    """BitMEX score of one position (money units in, float out; :func:`delever.adl.scores.bitmex`, the one
    implementation); ``-inf`` when equity <= 0 or the position has no entry value."""
    return float(venue_scores.bitmex([upnl], [abs(cost)], [notional], [equity])[0])


def lights_from_cumulative(cum: np.ndarray, total: int) -> np.ndarray:
    """BitMEX lights (int8, 1..5) of positions whose cumulative quantity down the ranking, each included, is
    ``cum`` (int64, lots) out of the side's ``total`` lots: ``6 - ceil(5 cum / total)`` in integers, i.e. 5
    lights for the top 20%, 1 for the last 20% (TV-01); clipped to 1..5 (a zero quantity at the top, or a
    ``cum`` beyond ``total``, still shows a light). The one formula of the indicator: :func:`adl_indicator`,
    the engine's queue and the venue rulebooks call it."""
    total = max(int(total), 1)
    step = -((-5 * np.asarray(cum, dtype=np.int64)) // total)  # ceil(5 cum / total): the 20% step reached
    return np.clip(6 - step, 1, 5).astype(np.int8)


def adl_indicator(scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
    """Lights 1..5 for each position of one side (float64 scores, quantities > 0, shape (n,)).

    Ties in score keep input order (stable sort), as a queue would serve them first come first served.
    """
    n = scores.shape[0]
    out = np.zeros(n, dtype=np.int8)
    if n == 0:
        return out
    order = np.argsort(-scores, kind="stable")
    cum = np.cumsum(np.abs(quantities[order]).astype(np.int64))
    out[order] = lights_from_cumulative(cum, int(cum[-1]))
    return out


@njit(cache=True, nogil=True)
def side_quantity(side: int, instrument_id: int, size, account, instrument, exempt) -> int:
    """Total lots held on one side of one instrument by non-LP accounts (the indicator's denominator)."""
    total = 0
    for i in range(size.shape[0]):
        s = size[i]
        if s != 0 and (s > 0) == (side > 0) and instrument[i] == instrument_id and not exempt[account[i]]:
            total += s if s > 0 else -s
    return total
