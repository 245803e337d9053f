"""Exact quote arithmetic of the venue rulebooks: money scales, rounding of exact fractions, decimals for
display, and the money split of the rulebooks' clawbacks (:func:`pro_rata`, the one largest-remainder rule).

Units as :mod:`delever.venues.rulebook`: money an int count of ``1 / money_scale`` of the settlement asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from fractions import Fraction


from ..allocation import largest_remainder


LINEAR_MONEY_SCALE = 1_000_000
"""Money units per 1 USDT/USDC (micro-USDT), as :data:`delever.units.MONEY_SCALE`."""
INVERSE_MONEY_SCALE = 100_000_000
"""Money units per 1 coin for inverse contracts (satoshis, BitMEX's XBt)."""
NO_CAP = "1000000000000"
"""A cap of 1e12 quote for a venue's last tier when it publishes none (the last tier is open-ended)."""


def ceil_frac(x: Fraction) -> int:
    """``ceil(x)`` of an exact fraction."""
    return -((-x.numerator) // x.denominator)


def floor_frac(x: Fraction) -> int:
    """``floor(x)`` of an exact fraction."""
    return x.numerator // x.denominator


def frac(x: Decimal | str | int | Fraction) -> Fraction:
    """Exact fraction of a decimal string, ``Decimal``, int or fraction (never through a float)."""
    if isinstance(x, Fraction):
        return x
    return Fraction(Decimal(str(x)))


def plain(d: Decimal) -> Decimal:
    """``d`` without trailing zeros and never in exponent form (``50`` not ``5E+1``)."""
    d = d.normalize()
    return d.quantize(Decimal(1)) if d.as_tuple().exponent > 0 else d  # type: ignore[operator]


def to_decimal(x: Fraction, places: int = 12) -> Decimal:
    """A fraction as a plain ``Decimal``, rounded half-even to ``places`` decimals (exact when it terminates
    within them; for display and JSON)."""
    with localcontext() as ctx:
        ctx.prec = 80
        d = (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal(1).scaleb(-places))
        return plain(d)


def pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` money units over integer ``weights`` exactly (negative weights count as 0): the one
    largest-remainder rule (:func:`delever.allocation.largest_remainder`, ties to the lower index), so the parts
    sum to ``total``; all zeros if the weights sum to 0 or ``total <= 0``."""
    return largest_remainder(total, [max(0, int(x)) for x in weights])
