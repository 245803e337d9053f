"""dYdX v4's fillable price: the limit of a liquidation's IOC order, in one place.

Source: ../shared/specs/engines.md section 1 (dydxprotocol/v4-chain 84d4664,
``protocol/x/clob/keeper/liquidations.go``): the fillable price is ``(PNNV - ABR * SMMR * PMMR) / PS`` where

- ``PS`` is the position's signed size (long > 0), ``PNNV = PS * oracle`` its signed net notional at the oracle
  price (the engine's mark);
- ``PMMR`` the position's own maintenance margin, ``TNC`` and ``TMMR`` the subaccount's total net collateral and
  total maintenance margin (the engine: an isolated position's margin and MM, a cross position's account);
- ``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)``, ``BA`` = ``bankruptcy_adjustment_ppm`` / 1e6 (>= 1) and
  ``SMMR`` = ``spread_to_maintenance_margin_ratio_ppm`` / 1e6 (``LiquidationsConfig_Default``: BA 1.0, SMMR 0.1).

It depends on the position's size, not on the liquidated part. A long's limit (a sell) is below the oracle by
``ABR * SMMR * PMMR / |PS|``, a short's (a buy) above; converted to subticks "rounding up for sells and down for
buys" (the limit never lets a fill go further from the oracle than the formula).

:func:`fillable_price` is the reference in exact quote-unit :class:`~fractions.Fraction` s (what a user checks a
venue's number with); :func:`fillable_price_ticks` its rounding to ticks; :func:`fillable_limit_ticks` the same
formula in the engine's integer units (ticks, lots, money), which the liquidation stage uses
(:mod:`delever.ioc_order`): Python integers, so exact at any size. Tests check the two equal.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .units import PPM

__all__ = [
    "BANKRUPTCY_ADJUSTMENT",
    "SPREAD_TO_MMR",
    "adjusted_bankruptcy_rating",
    "fillable_limit_ticks",
    "fillable_limits",
    "fillable_price",
    "fillable_price_ticks",
]

BANKRUPTCY_ADJUSTMENT = Fraction(1)
"""``bankruptcy_adjustment_ppm`` default 1e6 (BA = 1.0), ``LiquidationsConfig_Default`` (engines.md section 1)."""
SPREAD_TO_MMR = Fraction(1, 10)
"""``spread_to_maintenance_margin_ratio_ppm`` default 100,000 (SMMR = 0.1); the testnet genesis script sets 1.5."""


def adjusted_bankruptcy_rating(tnc: Fraction, tmmr: Fraction, ba: Fraction = BANKRUPTCY_ADJUSTMENT) -> Fraction:
    """``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)``: 0 at the liquidation threshold (TNC = TMMR), 1 once the
    subaccount is bankrupt (TNC <= 0 with BA = 1). ``tmmr`` must be > 0 (only such a subaccount is liquidatable).

    Raises:
        ValueError: ``tmmr <= 0``.
    """
    if tmmr <= 0:
        raise ValueError(f"TMMR must be > 0, got {tmmr}")
    return min(Fraction(1), max(Fraction(0), ba * (1 - Fraction(tnc) / Fraction(tmmr))))


def fillable_price(
    oracle: Fraction,
    signed_size: Fraction,
    tnc: Fraction,
    tmmr: Fraction,
    pmmr: Fraction,
    *,
    ba: Fraction = BANKRUPTCY_ADJUSTMENT,
    smmr: Fraction = SPREAD_TO_MMR,
) -> Fraction:
    """``(PNNV - ABR * SMMR * PMMR) / PS`` with ``PNNV = PS * oracle`` (quote price, exact).

    ``signed_size`` in base units (long > 0, never 0), money (``tnc``, ``tmmr``, ``pmmr``) in quote units (any
    scale consistent with ``oracle x size``). A long's (sell) limit is below the oracle, a short's (buy) above.

    Raises:
        ValueError: ``signed_size == 0`` or ``tmmr <= 0``.
    """
    if signed_size == 0:
        raise ValueError("the position is flat")
    abr = adjusted_bankruptcy_rating(tnc, tmmr, ba)
    return (signed_size * oracle - abr * smmr * pmmr) / signed_size


def fillable_price_ticks(price: Fraction, tick: Fraction, side: int) -> int:
    """Ticks of a fillable price: up for the sell that closes a long (``side`` > 0), down for a short's buy."""
    t = Fraction(price) / Fraction(tick)
    return -((-t.numerator) // t.denominator) if side > 0 else t.numerator // t.denominator


def fillable_limit_ticks(
    mark: int, size: int, v: int, tnc: int, tmmr: int, pmmr: int, ba_ppm: int = PPM, smmr_ppm: int = PPM // 10
) -> int:
    """:func:`fillable_price` in engine units, rounded as :func:`fillable_price_ticks`: ``mark`` ticks, ``size``
    signed lots, ``v`` money per lot-tick, ``tnc``/``tmmr``/``pmmr`` money, ``ba_ppm``/``smmr_ppm`` the two
    ratios in ppm. ``mark - floor(D)`` for a long, ``mark + floor(D)`` for a short, with the distance
    ``D = ABR x SMMR x PMMR / (|size| x v)`` ticks (exact integer arithmetic); at least 1 tick. A ``tmmr`` <= 0
    (nothing at risk) gives the mark."""
    if size == 0:
        raise ValueError("the position is flat")
    if tmmr <= 0 or tnc >= tmmr:
        return int(mark)
    abr = min(Fraction(1), Fraction(ba_ppm * (tmmr - tnc), PPM * tmmr))
    dist = abr * Fraction(smmr_ppm * pmmr, PPM * abs(size) * v)
    off = dist.numerator // dist.denominator
    return max(int(mark) - off, 1) if size > 0 else int(mark) + off


def fillable_limits(
    size: np.ndarray,
    marks: np.ndarray,
    v: int,
    tnc: np.ndarray,
    tmmr: np.ndarray,
    pmmr: np.ndarray,
    ba_ppm: int,
    smmr_ppm: int,
) -> np.ndarray:
    """:func:`fillable_limit_ticks` of each position (int64 (n,) ticks): ``size`` signed lots, ``marks`` ticks,
    ``tnc``/``tmmr``/``pmmr`` money, int64 (n,) each (:func:`delever.sweep.account_health`'s columns)."""
    out = np.empty(size.shape[0], dtype=np.int64)
    for i in range(size.shape[0]):
        out[i] = fillable_limit_ticks(int(marks[i]), int(size[i]), v, int(tnc[i]), int(tmmr[i]), int(pmmr[i]),
                                      ba_ppm, smmr_ppm)  # fmt: skip
    return out
