"""The largest-remainder split: whole units of a total shared in proportion to weights, optionally capped.

This is the one implementation of the rule for the whole project (ADL allocation policies, socialized loss,
the LP share of a book fill, the venue rulebooks' money splits). Hamilton's method (largest remainder), as
venues describe their pro-rata clawbacks (Deribit "among the winning traders for that day", Drift's
``settle_pnl`` socialization; ../shared/specs/venues.md sections 5 and 8, specs/adl_policies.md "Pro-rata"):

1. every entry gets the floor of its exact share ``total * w_i / W`` (``W = sum(w)``), capped at ``cap_i``;
2. the units still missing go one each to the entries with room (positive weight, below their cap), in the
   order **remainder descending, then cap descending, then index ascending**, round after round until the goal
   ``min(total, sum of the caps of positive weights)`` is met (without caps, one round; with caps, later rounds
   hand out what capped entries could not take, in the same order).

**Tie rule.** Equal remainders go to the larger cap first, then to the lower index; without caps (every cap
infinite) that is simply the lower index. The cap comes first because the ADL policies' capped pro rata must be
monotone (specs/adl_policies.md "Pro-rata": capped pro rata is the unique monotone, Sybil-resistant,
scale-invariant rule): a winner with the same weight and more capacity must never pay less than one with less,
which index order alone would break (tests/test_adl_policies.py, monotone in equity and capacity). Every other
caller (socialized loss, the LP share of a book fill, the venue rulebooks' splits) has no caps that bind at a
tie and gets the lower index, the rule each of them used before: no tie rule changed with the unification.

Shares are exact: integer weights in Python integers, float weights as the exact binary fractions they are
(scaled to a common power-of-two denominator), so the result does not depend on float rounding of
``total * w / W``. Weights must be finite and >= 0; a weight of 0 gets nothing.

:func:`largest_remainder` is the plain-Python reference; :func:`split_into` and :func:`split_capped_into` are
its compiled twins for int64 inputs (kernels call them with a preallocated ``out``), tested equal on random
inputs (tests/test_allocation.py); :func:`split` is the array entry point that runs the twin when the
inputs fit int64 and the reference otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numba import njit

from .intops import mul_div_floor
from .units import exact_sum

INT64_SAFE = 2**62
"""Weight sums and totals the compiled twins accept (below it ``mul_div_floor`` is exact)."""


def integer_weights(weights: Sequence) -> list[int]:
    """Weights as Python integers in the same proportions, exactly: integers as they are, floats scaled by
    the common power-of-two denominator of their binary fractions.

    Raises:
        ValueError: a weight is negative, NaN or infinite.
    """
    out: list[Fraction | int] = []
    den = 1
    for x in weights:
        if isinstance(x, (int, np.integer)):
            v: Fraction | int = int(x)
        else:
            f = float(x)
            if f != f or f in (float("inf"), float("-inf")):
                raise ValueError(f"largest remainder: weights must be finite, got {x!r}")
            v = Fraction(f)
            den = max(den, v.denominator)  # denominators are powers of two: the largest is their lcm
        if v < 0:
            raise ValueError(f"largest remainder: weights must be >= 0, got {x!r}")
        out.append(v)
    return [int(v * den) for v in out]


def largest_remainder(total: int, weights: Sequence, caps: Sequence[int] | None = None) -> list[int]:
    """Reference split of ``total`` whole units in proportion to ``weights`` (module docstring rule).

    Args:
        total: units to split (int; <= 0 gives all zeros).
        weights: (n,) finite weights >= 0 (ints or floats; exact either way).
        caps: optional (n,) int upper bounds >= 0 per entry.

    Returns:
        n Python ints ``x`` with ``0 <= x_i <= cap_i``, ``x_i == 0`` where ``w_i == 0``, and ``sum(x) ==
        min(total, sum of caps of positive weights)`` (``total`` without caps; 0 when every weight is 0).

    Example (ties to the lower index): ``largest_remainder(5, [1, 1, 1, 1])`` -> shares 1.25 each, floors
    ``[1, 1, 1, 1]``, one unit missing, four equal remainders: ``[2, 1, 1, 1]``; with caps ``[2, 2, 3, 2]``
    the larger cap wins the tie: ``[1, 1, 2, 1]``.
    """
    w = integer_weights(weights)
    n = len(w)
    big = sum(w)
    total = int(total)
    if total <= 0 or big == 0:
        return [0] * n
    cap = [total] * n if caps is None else [max(0, int(c)) for c in caps]
    x = [0] * n
    rem = [0] * n
    for i in range(n):
        q, r = divmod(total * w[i], big)
        x[i] = min(q, cap[i])
        rem[i] = r
    goal = min(total, sum(cap[i] for i in range(n) if w[i] > 0))
    missing = goal - sum(x)
    order = sorted((i for i in range(n) if w[i] > 0), key=lambda i: (-rem[i], -cap[i], i))
    while missing > 0:
        room = [i for i in order if x[i] < cap[i]]
        if missing < len(room):
            for i in room[:missing]:
                x[i] += 1
            break
        # every entry with room gets a unit this round; whole rounds at once while all of them have room
        rounds = min(missing // len(room), min(cap[i] - x[i] for i in room))
        for i in room:
            x[i] += rounds
        missing -= rounds * len(room)
    return x


@njit(cache=True, nogil=True)
def _zeroed_weight_sum(total, weights, out):
    # zero ``out`` and check the twins' limits; the weights' sum, or 0 when there is nothing to split
    big = 0
    for i in range(weights.shape[0]):
        out[i] = 0
        if weights[i] < 0:
            raise ValueError("largest remainder: weights must be >= 0")
        big += weights[i]
        if big >= INT64_SAFE:
            raise ValueError("largest remainder: weights sum too large for int64")
    if total <= 0 or big == 0:
        return 0
    if total >= INT64_SAFE:
        raise ValueError("largest remainder: total too large for int64")
    return big


@njit(cache=True, nogil=True)
def _split(total, weights, caps, capped, out):
    n = weights.shape[0]
    big = _zeroed_weight_sum(total, weights, out)
    if big == 0:
        return
    neg_rem = np.zeros(n, dtype=np.int64)
    goal = 0
    given = 0
    # Below 2**50 units the float64 share total * w / big is within half a unit of the exact one S (four
    # roundings, each < 2**-53 relative, of a share <= total), so q = floor(float share) is floor(S) - 1, floor(S)
    # or floor(S) + 1 and the exact remainder total * w - q * big lies in (-big, 2 big), inside int64 (big < 2**62):
    # it is computed exactly in unsigned arithmetic modulo 2**64 and one step fixes q. The bound has a factor of
    # two to spare (below 2**51 the error is still < 1 unit and the same step fixes q). Larger totals take the
    # exact long division of mul_div_floor.
    fast = total < 2**50
    ratio = total / big
    for i in range(n):
        w = weights[i]
        if w == 0:
            continue
        if fast:
            q = np.int64(np.floor(w * ratio))
        else:
            q = mul_div_floor(total, w, big)
        r = np.int64(np.uint64(total) * np.uint64(w) - np.uint64(q) * np.uint64(big))
        if r < 0:  # the float share rounded up to the next whole unit
            q -= 1
            r += big
        elif r >= big:  # the float share fell just below a whole unit
            q += 1
            r -= big
        c = caps[i] if capped else total
        if c < 0:
            c = 0
        out[i] = q if q < c else c
        neg_rem[i] = -r
        goal += c
        given += out[i]
    if goal > total:
        goal = total
    missing = goal - given
    if missing <= 0:
        return
    # Whole rounds (every entry with room gets a unit) while the units missing cover one; the last, partial
    # round picks the `missing` first entries with room in the order (remainder desc, cap desc, index asc):
    # a selection by partition, O(n), not a sort (numba's stable sort is slow on a million winners).
    while missing > 0:
        n_room = np.int64(0)  # not the literal 0: numba would compile _last_round once more for Literal[int](0)
        least = total
        for i in range(n):
            c = caps[i] if capped else total
            if weights[i] > 0 and out[i] < c:
                n_room += 1
                if c - out[i] < least:
                    least = c - out[i]
        if missing < n_room:
            _last_round(weights, caps, capped, total, neg_rem, n_room, missing, out)
            return
        rounds = missing // n_room
        if least < rounds:
            rounds = least
        for i in range(n):
            c = caps[i] if capped else total
            if weights[i] > 0 and out[i] < c:
                out[i] += rounds
        missing -= rounds * n_room


@njit(cache=True, nogil=True)
def _kth_smallest(a, k):
    # the k-th smallest (0-based) value of ``a`` (int64, reordered in place): Hoare's selection with a
    # median-of-three pivot, O(n) on average. np.partition gives the same value but took about 6 s of a first
    # run's compilation (numba's implementation validates kth with np.unique, so it compiles a sort as well)
    lo = 0
    hi = a.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        x, y, z = a[lo], a[mid], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@njit(cache=True, nogil=True)
def _last_round(weights, caps, capped, total, neg_rem, n_room, missing, out):
    # one unit each to the `missing` (< n_room) first entries with room by (remainder desc, cap desc, index asc)
    n = weights.shape[0]
    room = np.empty(n_room, dtype=np.int64)
    k = 0
    for i in range(n):
        c = caps[i] if capped else total
        if weights[i] > 0 and out[i] < c:
            room[k] = i
            k += 1
    keys = neg_rem[room]
    kth = _kth_smallest(keys.copy(), missing - 1)  # the missing-th smallest -remainder: the cut
    ties = 0
    for j in range(n_room):
        if keys[j] < kth:
            out[room[j]] += 1
            missing -= 1
        elif keys[j] == kth:
            ties += 1
    tied = np.empty(ties, dtype=np.int64)  # in index order
    t = 0
    for j in range(n_room):
        if keys[j] == kth:
            tied[t] = room[j]
            t += 1
    if capped:  # larger cap first; a stable sort keeps the index order among equal caps
        tied = tied[np.argsort(-caps[tied], kind="mergesort")]
    for t in range(missing):
        out[tied[t]] += 1


@njit(cache=True, nogil=True)
def split_into(total, weights, out):
    """Compiled twin of :func:`largest_remainder` without caps: ``out`` (int64 (n,)) gets ``total`` units
    split in proportion to ``weights`` (int64 (n,) >= 0), equal remainders to the lower index. Needs ``total`` and
    ``sum(weights)`` below 2**62 (raises ValueError otherwise). :func:`split_into_scratch` with its scratch
    allocated here."""
    split_into_scratch(total, weights, out, np.empty(weights.shape[0], dtype=np.int64))


@njit(cache=True, nogil=True)
def split_into_scratch(total, weights, out, rem):
    """:func:`split_into` with the caller's scratch ``rem`` (int64 (n,), overwritten): allocates nothing, so a
    kernel that splits every book fill (:func:`delever.liquidation.book_execute`) needs no heap call per fill.

    Without caps one round hands out the missing units (each remainder is below ``W`` and they sum to ``missing x
    W``, so more than ``missing`` entries have one): each goes to the largest remainder left, the lower index on a
    tie, found by a scan instead of a sort (the liquidation stage splits every book fill with it: a sort made it
    compile about 2 s longer on a first run)."""
    n = weights.shape[0]
    big = _zeroed_weight_sum(total, weights, out)
    if big == 0:
        return
    given = 0
    for i in range(n):
        q = mul_div_floor(total, weights[i], big)
        # the remainder total * w - q * big lies in [0, big): exact modulo 2**64 in unsigned arithmetic
        rem[i] = np.int64(np.uint64(total) * np.uint64(weights[i]) - np.uint64(q) * np.uint64(big))
        out[i] = q
        given += q
    for _ in range(total - given):
        best = 0
        for j in range(1, n):
            if rem[j] > rem[best]:
                best = j
        out[best] += 1
        rem[best] = -1


@njit(cache=True, nogil=True)
def split_many_into(total, weights, out):
    """:func:`split_into` for many entries: the same split (ties to the lower index), in O(n) whatever the number
    of missing units (one round by partition), where :func:`split_into`'s scan costs O(n x missing units) and
    suits the liquidation stage's few liquidity providers. :func:`split` uses it for socialized loss and the ADL
    policies (tens of thousands of winners). Limits as :func:`split_into`."""
    _split(total, weights, weights, np.bool_(False), out)  # np.bool_: one specialization of _split for both


@njit(cache=True, nogil=True)
def split_capped_into(total, weights, caps, out):
    """Compiled twin of :func:`largest_remainder` with ``caps`` (int64 (n,) >= 0): ``out`` gets
    ``min(total, sum of caps of positive weights)`` units, ``out_i <= caps_i``. Limits as :func:`split_into`."""
    _split(total, weights, caps, np.bool_(True), out)


def float_weights_as_integers(weights: np.ndarray) -> np.ndarray:
    """Float weights (finite, >= 0) as integers in exactly the same proportions (vectorized
    :func:`integer_weights`): each float is ``mantissa * 2**exponent`` with a 53-bit integer mantissa, scaled
    by ``2**-(least exponent)``. int64 when the result fits below 2**62, Python ints (object) otherwise.

    Raises:
        ValueError: a weight is negative, NaN or infinite."""
    w = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("largest remainder: weights must be finite and >= 0")
    out = np.zeros(w.shape[0], dtype=np.int64)
    pos = w > 0
    if not pos.any():
        return out
    frac, exp = np.frexp(w[pos])
    mant = (frac * 2.0**53).astype(np.int64)  # exact: frac in [0.5, 1) has 53 significant bits
    zeros = np.log2(mant & -mant).astype(np.int64)  # trailing zero bits (exact: a power of two)
    mant >>= zeros
    exp = exp.astype(np.int64) - 53 + zeros  # w = mant * 2**exp with an odd mantissa
    shift = exp - exp.min()
    if int((53 - zeros + shift).max()) < 62:
        out[pos] = mant << shift
        return out
    big = np.zeros(w.shape[0], dtype=object)
    big[pos] = [int(m) << int(s) for m, s in zip(mant.tolist(), shift.tolist(), strict=True)]
    return big


def split(total: int, weights, caps=None) -> np.ndarray:
    """The largest-remainder split of ``total`` over array ``weights`` (optionally capped) as int64 (n,):
    the compiled twin when every input fits its int64 limits, the exact reference otherwise (huge totals or
    weight sums, float weights). Same result either way (module docstring rule)."""
    w = np.asarray(weights)
    n = w.shape[0]
    total = int(total)
    out = np.zeros(n, dtype=np.int64)
    if n == 0 or total <= 0:
        return out
    if w.dtype.kind == "f":
        w = float_weights_as_integers(w)
    fits = w.dtype.kind in "iu" and total < INT64_SAFE and int(w.max()) < INT64_SAFE and int(w.min()) >= 0
    if fits and int(w.max()) >= INT64_SAFE // n:  # the bound alone cannot tell: sum exactly
        fits = exact_sum(w) < INT64_SAFE
    if fits:
        wi = w.astype(np.int64)
        if caps is None:
            split_many_into(total, wi, out)
        else:
            split_capped_into(total, wi, np.asarray(caps, dtype=np.int64), out)
        return out
    ref = largest_remainder(total, w.tolist(), None if caps is None else np.asarray(caps).tolist())
    return np.array(ref, dtype=np.int64)
