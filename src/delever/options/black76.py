"""Black-76: European options on a forward (or future), vectorised over numpy arrays.

Formulas (Black, F. (1976), "The pricing of commodity contracts", Journal of Financial Economics 3, 167-179;
Hull, *Options, Futures, and Other Derivatives*, section "Black's model"), undiscounted (``r = 0``) unless a
discount factor is given::

    d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt(T)),   d2 = d1 - sigma sqrt(T)
    call = D (F N(d1) - K N(d2)),   put = D (K N(-d2) - F N(-d1))
    delta_call = D N(d1),   delta_put = -D N(-d1),   vega = D F n(d1) sqrt(T)

Crypto venues quote option marks on the forward of the same expiry without discounting (Deribit: "the implied
volatility displayed uses the forward, rather than the index, as the underlying price",
https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options), hence ``discount=1`` by default.

Why not a library: ``vollib`` 1.0.11 (PyPI) prices Black-76 correctly but one scalar at a time (it converts
every argument with ``float()``) and pulls in pandas, simplejson and two more packages; the margin sweep values
hundreds of thousands of positions under dozens of scenarios, which needs whole-array arithmetic. The closed form
below is tested against vollib's published doctest values, Hull's worked example and put-call parity.

Numerics: the out-of-the-money option is computed from the formula and the in-the-money one by parity, so a deep
in-the-money price keeps its digits and every price is non-decreasing in ``sigma`` in floating point too.

Degenerate inputs: where ``T <= 0`` or ``sigma <= 0`` the price is the (discounted) intrinsic value
``max(F-K, 0)`` / ``max(K-F, 0)``, delta is the step of the payoff (1/0 for a call, -1/0 for a put, 1/2 at the
money) and vega is 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _d1_d2(forward, strike, vol, t_years):
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    s = np.asarray(vol, dtype=np.float64)
    t = np.asarray(t_years, dtype=np.float64)
    live = (t > 0.0) & (s > 0.0)
    sd = np.where(live, s * np.sqrt(np.where(t > 0.0, t, 0.0)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    return f, k, live, sd, d1, d1 - sd


def black76_price(forward, strike, vol, t_years, is_call, discount=1.0) -> np.ndarray:
    """Black-76 price of a European call or put, elementwise (numpy broadcasting).

    Args:
        forward: forward (or future) price ``F > 0``, quote units per base unit; array-like.
        strike: strike ``K > 0``, same units.
        vol: annualised implied volatility (0.5 = 50%).
        t_years: time to expiry in years (365-day years where the caller counts days).
        is_call: bool array-like, True for a call, False for a put.
        discount: discount factor ``exp(-r T)``; 1 (undiscounted, as crypto venues mark).

    Returns:
        float64 array of prices in quote units per base unit, broadcast shape of the inputs.
    """
    f, k, live, sd, d1, d2 = _d1_d2(forward, strike, vol, t_years)
    call = np.asarray(is_call, dtype=bool)
    # the out-of-the-money option from the formula, the in-the-money one by parity (C - P = F - K): the ITM
    # formula subtracts two large terms and loses digits (and monotonicity in vol) deep in the money
    otm_call = np.maximum(f * ndtr(d1) - k * ndtr(d2), 0.0)
    otm_put = np.maximum(k * ndtr(-d2) - f * ndtr(-d1), 0.0)
    live_call = np.where(f > k, (f - k) + otm_put, otm_call)
    live_put = np.where(f > k, otm_put, (k - f) + otm_call)
    value = np.where(call, live_call, live_put)
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    return np.asarray(discount, dtype=np.float64) * np.where(live, value, intrinsic)


def black76_delta(forward, strike, vol, t_years, is_call, discount=1.0) -> np.ndarray:
    """Forward delta ``dV/dF`` (call in [0, 1], put in [-1, 0]); shapes and units as :func:`black76_price`."""
    f, k, live, sd, d1, d2 = _d1_d2(forward, strike, vol, t_years)
    call = np.asarray(is_call, dtype=bool)
    n1 = np.where(live, ndtr(d1), np.where(f > k, 1.0, np.where(f < k, 0.0, 0.5)))
    return np.asarray(discount, dtype=np.float64) * np.where(call, n1, n1 - 1.0)


def black76_vega(forward, strike, vol, t_years, discount=1.0) -> np.ndarray:
    """Vega ``dV/dsigma`` per 1.00 of volatility (same for call and put); shapes as :func:`black76_price`."""
    f, k, live, sd, d1, d2 = _d1_d2(forward, strike, vol, t_years)
    t = np.asarray(t_years, dtype=np.float64)
    density = _INV_SQRT_2PI * np.exp(-0.5 * np.where(live, d1, 0.0) ** 2)
    return np.asarray(discount, dtype=np.float64) * np.where(live, f * density * np.sqrt(np.maximum(t, 0.0)), 0.0)
