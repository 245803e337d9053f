"""Compiled twins of the exact integer helpers of :mod:`delever.units`, for the numba kernels.

Each is exact in int64 wherever its docstring says so and is tested equal to the Python-int arithmetic it
mirrors (tests/test_allocation.py, tests/test_margin_twins.py). They live in a module of their own so that the
margin, allocation and sweep kernels can all call them without importing one another.
"""

from __future__ import annotations

from numba import njit

PPM = 1_000_000


@njit(cache=True, nogil=True)
def mul_ppm_ceil(amount: int, rate: int) -> int:
    """``ceil(amount * rate / 1e6)`` for int64 without overflow (compiled twin of ``units.mul_ppm_ceil``)."""
    q = amount // PPM
    r = amount - q * PPM
    return q * rate - ((-(r * rate)) // PPM)


@njit(cache=True, nogil=True)
def mul_div_floor(a: int, b: int, c: int) -> int:
    """``floor(a * b / c)`` exactly in int64 for ``0 <= b <= c < 2**62`` and any int64 ``a`` (the product is
    never formed: the remainder part is long-multiplied bit by bit when it could overflow)."""
    q = a // c
    r = a - q * c  # 0 <= r < c
    if r == 0 or b == 0:
        return q * b
    if r <= (2**62) // b:
        return q * b + (r * b) // c
    quot = 0
    rem = 0
    for bit in range(62, -1, -1):
        quot *= 2
        rem *= 2
        if rem >= c:
            rem -= c
            quot += 1
        if (b >> bit) & 1:
            rem += r
            if rem >= c:
                rem -= c
                quot += 1
    return q * b + quot
