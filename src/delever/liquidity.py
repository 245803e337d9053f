"""The venue's order book as resting depth around the index price, consumed by forced flow and refilled.

Model (a shape-aware form of the Obizhaeva-Wang resilience model): each side of the book holds a cumulative
depth curve ``D(x)``, the base quantity resting within a fractional distance ``x`` of the book's centre
(the index price), piecewise linear through the calibrated bands (1%..5%, from Binance's bookDepth file via
:func:`delever.marketdata.calibrate_depth`) and extended with the last band's density out to
:data:`MAX_IMPACT`, past which depth is unlimited (the price cannot fall below 10% of the index).

State: ``net``, the signed quantity the book has absorbed and not yet refilled (lots; < 0 after forced
selling has eaten bids, > 0 after forced buying has eaten asks). The marginal price at a level ``n`` is
``centre * (1 + sign(n) * x(|n|))``, where ``x`` is the inverse of the side's depth curve; an order moves
``net`` by its size and fills at the integral of the marginal price over that move (its VWAP). Between
steps ``net`` decays by ``2 ** (-dt / half_life)``: the book refills with a resilience half-life.

The venue's last trade price is the marginal price at ``net``; it feeds the mark price (``delever.mark``),
which closes the cascade loop: forced sells -> lower trade price -> lower mark -> more liquidations.

Units: quantities in lots (float64 in the curve; orders are integer lots), prices in ticks (float64 here;
fills are rounded to whole ticks against the taker by the liquidation stage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .columns import KERNEL
from .instruments import Instrument
from .marketdata import DepthProfile

MAX_IMPACT = 0.9
"""Largest fractional distance from the centre an order can reach; beyond it depth is unlimited."""


@dataclass(frozen=True)
class DepthCurve:
    """Cumulative depth per side, in lots, at fractional distances from the centre.

    Attributes:
        distance: float64 (m,), starting at 0 and ending at :data:`MAX_IMPACT`, increasing.
        bid_lots: float64 (m,), cumulative bid lots within ``distance``; starts at 0, increasing.
        ask_lots: float64 (m,), likewise for asks.
    """

    distance: np.ndarray
    bid_lots: np.ndarray
    ask_lots: np.ndarray

    @classmethod
    def from_profile(cls, profile: DepthProfile, inst: Instrument, scale: float = 1.0) -> DepthCurve:
        """Curve from calibrated bands (base units), times ``scale`` (e.g. to size the book to a smaller
        simulated venue), extended to :data:`MAX_IMPACT` with the outermost band's density.

        Raises:
            ValueError: a band without depth, or a non-positive scale.
        """
        if scale <= 0:
            raise ValueError("depth scale must be > 0")
        lot = float(inst.lot_size)
        dist = np.concatenate([[0.0], np.asarray(profile.distance, dtype=np.float64), [MAX_IMPACT]])

        def side(base: np.ndarray) -> np.ndarray:
            lots = np.concatenate([[0.0], np.asarray(base, dtype=np.float64) * scale / lot])
            if np.any(np.diff(lots) <= 0):
                raise ValueError("every depth band must add resting quantity")
            density = (lots[-1] - lots[-2]) / (dist[-2] - dist[-3])
            return np.concatenate([lots, [lots[-1] + density * (MAX_IMPACT - dist[-2])]])

        return cls(dist, side(profile.bid_base), side(profile.ask_base))

    @classmethod
    def linear(cls, lots_per_pct: float) -> DepthCurve:
        """A book with the same depth at every distance on both sides (``lots_per_pct`` lots per 1%)."""
        dist = np.array([0.0, MAX_IMPACT])
        lots = np.array([0.0, lots_per_pct * MAX_IMPACT * 100])
        return cls(dist, lots.copy(), lots.copy())

    def prefix(self, side_lots: np.ndarray) -> np.ndarray:
        """Integral of the inverse curve ``x(D)`` from 0 to each curve point (trapezoids), float64 (m,)."""
        seg = 0.5 * (self.distance[1:] + self.distance[:-1]) * np.diff(side_lots)
        return np.concatenate([[0.0], np.cumsum(seg)])

    def arrays(self) -> tuple[np.ndarray, ...]:
        """``(distance, bid_lots, ask_lots, bid_prefix, ask_prefix)`` for the compiled kernels."""
        return (self.distance, self.bid_lots, self.ask_lots, self.prefix(self.bid_lots), self.prefix(self.ask_lots))


@njit(**KERNEL)
def _impact_integral(depth: float, dist: np.ndarray, lots: np.ndarray, pref: np.ndarray) -> float:
    """Integral of ``x(D)`` over ``[0, depth]`` for one side; constant ``x = MAX_IMPACT`` past the curve."""
    m = lots.shape[0]
    if depth >= lots[m - 1]:
        return pref[m - 1] + (depth - lots[m - 1]) * dist[m - 1]
    j = np.searchsorted(lots, depth, side="right") - 1
    x0 = dist[j]
    x1 = x0 + (depth - lots[j]) * (dist[j + 1] - dist[j]) / (lots[j + 1] - lots[j])
    return pref[j] + 0.5 * (x0 + x1) * (depth - lots[j])


@njit(**KERNEL)
def _impact_at(depth: float, dist: np.ndarray, lots: np.ndarray) -> float:
    """``x(D)``: fractional distance from the centre once ``depth`` lots of a side are consumed."""
    m = lots.shape[0]
    if depth <= 0.0:  # nothing consumed: the centre (a discrete book's first level starts away from it)
        return 0.0
    if depth >= lots[m - 1]:
        return dist[m - 1]
    j = np.searchsorted(lots, depth, side="right") - 1
    return dist[j] + (depth - lots[j]) * (dist[j + 1] - dist[j]) / (lots[j + 1] - lots[j])


@njit(**KERNEL)
def signed_integral(net: float, curve: tuple) -> float:
    """``F(net) = integral_0^net sign(u) x(|u|) du`` (V-shaped, >= 0); ``curve`` from :meth:`DepthCurve.arrays`."""
    dist, bid, ask, bid_pref, ask_pref = curve
    if net >= 0.0:
        return _impact_integral(net, dist, ask, ask_pref)
    return _impact_integral(-net, dist, bid, bid_pref)


@njit(**KERNEL)
def marginal_price(centre: float, net: float, curve: tuple) -> float:
    """Price (ticks) of the next unit traded when the book has absorbed ``net`` lots."""
    dist, bid, ask, _, _ = curve
    if net >= 0.0:
        return centre * (1.0 + _impact_at(net, dist, ask))
    return centre * (1.0 - _impact_at(-net, dist, bid))


@njit(**KERNEL)
def vwap(centre: float, net: float, delta: float, curve: tuple) -> float:
    """Average price (ticks, unrounded) of an order of ``delta`` lots (> 0 buy, < 0 sell) from state ``net``."""
    if delta == 0.0:
        return marginal_price(centre, net, curve)
    return centre * (1.0 + (signed_integral(net + delta, curve) - signed_integral(net, curve)) / delta)


DISTANCE_TOLERANCE = 1e-12
"""Absolute tolerance (fraction of the centre) within which a level counts as exactly at a limit: float64 noise
of ``limit / centre - 1`` is ~1e-16, two levels one tick apart are >= ~1e-7 apart."""


@njit(**KERNEL)
def _depth_to(x: float, dist: np.ndarray, lots: np.ndarray, inclusive: bool) -> float:
    """A side's lots resting within fractional distance ``x`` of the centre: a level at exactly ``x`` included
    (``inclusive``) or not; ``inf`` where the range reaches past the curve's end (unlimited depth there)."""
    m = dist.shape[0]
    if x <= 0.0 and not inclusive:
        return 0.0
    xe = x + DISTANCE_TOLERANCE if inclusive else x - DISTANCE_TOLERANCE
    if xe > dist[m - 1] or (inclusive and xe >= dist[m - 1]):
        return np.inf
    if xe < 0.0:
        return 0.0
    if inclusive:  # the last point at or before xe: past a level's jump
        j = np.searchsorted(dist, xe, side="right") - 1
    else:  # the last point strictly before xe: before a level's jump
        j = np.searchsorted(dist, xe, side="left") - 1
    if j < 0:
        return 0.0
    return lots[j] + (xe - dist[j]) * (lots[j + 1] - lots[j]) / (dist[j + 1] - dist[j])


@njit(**KERNEL)
def lots_within_limit(centre: float, net: float, side: int, limit: int, curve: tuple) -> float:
    """Lots (float, >= 0; ``inf`` if unlimited) an order of sign ``side`` (> 0 buy, < 0 sell) can take from the
    book in state ``net`` with no unit filling beyond ``limit`` ticks (a buy above it, a sell below it).

    The marginal price rises with ``net`` (:func:`marginal_price`): a buy may move ``net`` up to ``N``, the
    largest state whose price is <= the limit, and a sell down to the smallest whose price is >= it:

    - buy, limit >= centre: ``N = D_ask(limit / centre - 1)`` (the asks within the limit's distance, a level at
      exactly that distance included); limit < centre: ``N = -D_bid(1 - limit / centre)`` counting only bids
      strictly closer to the centre (the state may come back through the bid levels priced at or below the limit);
    - sell, mirrored: ``N = -D_bid(1 - limit / centre)`` (inclusive) at or below the centre, ``D_ask(...)``
      (strictly closer) above it.

    Either way a level priced exactly at the limit counts as within it, as at a venue.
    Returns ``max(0, side x (N - net))``; the caller floors it to whole lots. For a discrete book
    (:mod:`delever.level_book`) that is the lots of the levels up to the limit still resting."""
    dist, bid, ask, _, _ = curve
    lim = float(limit)
    if side > 0:
        if lim >= centre:
            n_lim = _depth_to(lim / centre - 1.0, dist, ask, True)
        else:
            n_lim = -_depth_to(1.0 - lim / centre, dist, bid, False)
        return max(n_lim - net, 0.0)
    if lim <= centre:
        n_lim = -_depth_to(1.0 - lim / centre, dist, bid, True)
    else:
        n_lim = _depth_to(lim / centre - 1.0, dist, ask, False)
    return max(net - n_lim, 0.0)


def refill_factor(dt_s: float, half_life_s: float) -> float:
    """Fraction of absorbed quantity still missing after ``dt_s`` seconds: ``2 ** (-dt / half_life)``."""
    if half_life_s <= 0:
        return 0.0
    return float(2.0 ** (-dt_s / half_life_s))
