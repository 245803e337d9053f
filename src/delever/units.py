"""Fixed-point scales: money, prices, sizes and rates are integers; conversion happens at the edges only.

Scales (the same for every instrument unless the instrument says otherwise):

- **Money** (balances, fees, PnL, insurance fund, notional): int64 counts of ``1 / MONEY_SCALE`` of the quote
  asset, i.e. micro-USDT (1e-6), as dYdX v4 quote quantums and Drift's QUOTE_PRECISION
  (../shared/STACK.md, section 2).
- **Price**: int64 counts of the instrument's ``tick_size`` (BTCUSDT: 0.1 USDT).
- **Size**: int64 counts of the instrument's ``lot_size`` in base units (BTCUSDT: 0.001 BTC); signed, long > 0.
- **Rates** (MMR, IMR, fee rates): int64 parts per million (ppm), as dYdX v4 (1% = 10_000 ppm).

The value of one lot at one tick, ``lot_size * tick_size * MONEY_SCALE``, must be an integer (checked when an
instrument is built), so a notional ``lots * ticks * value_per_lot_tick`` is exact.

Rounding rule of the whole engine: a requirement (maintenance or initial margin, a fee owed) rounds **up**;
a payout to a trader rounds **down**; prices round against the account whose order it is. Never against
solvency.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

import numpy as np

MONEY_SCALE = 1_000_000
"""Money units per 1 quote asset (micro-USDT)."""

PPM = 1_000_000
"""Rate units per 1 (a rate of 0.4% is 4_000 ppm)."""


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, ``b > 0``; exact for Python ints of any size."""
    return -((-a) // b)


def mul_ppm_ceil(amount: int, rate_ppm: int) -> int:
    """``ceil(amount * rate_ppm / 1e6)`` without forming the product (fits int64 for any int64 amount).

    Used for requirements (margins, fees owed), which round up, against the account.
    """
    q, r = divmod(amount, PPM)
    return q * rate_ppm + ceil_div(r * rate_ppm, PPM)


def mul_ppm_floor(amount: int, rate_ppm: int) -> int:
    """``floor(amount * rate_ppm / 1e6)``; used for payouts to traders, which round down."""
    q, r = divmod(amount, PPM)
    return q * rate_ppm + (r * rate_ppm) // PPM


def exact_sum(values) -> int:
    """The exact sum of an int64 array as a Python int (it cannot wrap, whatever the values): the array is
    split into its high and low 32-bit halves, each summed in int64 (exact below 2**31 rows), and the halves
    recombined in Python ints."""
    a = np.asarray(values, dtype=np.int64).ravel()
    if a.size == 0:
        return 0
    if a.size >= 2**31:
        return sum(exact_sum(a[i : i + 2**30]) for i in range(0, a.size, 2**30))
    high = a >> 32  # arithmetic shift: floor(a / 2**32), in [-2**31, 2**31)
    low = a & 0xFFFFFFFF  # in [0, 2**32)
    return (int(high.sum(dtype=np.int64)) << 32) + int(low.sum(dtype=np.uint64))


def to_units(
    value: Decimal | str | int | float, unit: Decimal | str, *, what: str = "value", rounding: str | None = None
) -> int:
    """Convert a decimal amount to an integer count of ``unit`` (e.g. a price to ticks).

    ``value`` is taken through ``Decimal(str(value))`` so a float literal like 0.1 converts as written.
    With ``rounding=None`` the value must be an exact multiple of ``unit`` (else ``ValueError``); otherwise
    ``"floor"`` or ``"ceil"`` picks the direction.

    Raises:
        ValueError: not a number, or not a multiple of ``unit`` when ``rounding`` is None.
    """
    try:
        v = Decimal(str(value))
        u = Decimal(str(unit))
    except InvalidOperation as exc:
        raise ValueError(f"{what}: not a number: {value!r}") from exc
    q = v / u
    if rounding is None:
        if q != q.to_integral_value():
            raise ValueError(f"{what}: {value} is not a multiple of {unit}")
        return int(q)
    mode = {"floor": ROUND_FLOOR, "ceil": ROUND_CEILING}[rounding]
    return int(q.to_integral_value(rounding=mode))


def money(value: Decimal | str | int | float) -> int:
    """Quote amount (e.g. ``"2500.5"`` USDT) to money units; must be a multiple of 1e-6."""
    return to_units(value, Decimal(1) / MONEY_SCALE, what="money")


def money_to_decimal(units: int) -> Decimal:
    """Money units to an exact ``Decimal`` of the quote asset."""
    return Decimal(int(units)) / MONEY_SCALE


def rate_ppm(value: Decimal | str | float) -> int:
    """A rate such as ``"0.004"`` (0.4%) to ppm; must be a multiple of 1e-6."""
    return to_units(value, Decimal(1) / PPM, what="rate")
