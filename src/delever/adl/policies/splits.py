"""Exact building blocks of the proportional policies: the capped weighted split (:func:`capped_split`, water
level then the one largest-remainder rule of :mod:`delever.allocation`), rounding of float targets, and the
money taken by closing whole contracts (:func:`lot_haircut`, rounded up).
"""

from __future__ import annotations

import math

import numpy as np

from ...allocation import split


def round_targets(need: int, targets: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Whole haircuts (int64 (n,)) summing to ``min(need, caps.sum())``, ``<= caps``, from float ``targets``
    (>= 0, summing to about ``need``): ``need`` split in proportion to the targets by the one largest-remainder
    rule (:func:`delever.allocation.split`, ties to the lower index); if the caps of the positive targets cannot
    hold it all (float error), the rest is split over the remaining room in proportion to it."""
    h = split(need, targets, caps)
    left = min(need, int(caps.sum())) - int(h.sum())
    if left > 0:
        room = caps - h
        h += split(left, room, room)
    return h


def capped_split(need: int, caps: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Capped weighted pro rata: ``h_i = min(caps_i, tau * weights_i)`` with ``sum(h) = need``, in integers.

    The unique water level ``tau`` is found exactly by sorting the saturation levels ``caps_i / w_i``
    (winners whose cap binds pay their cap; the rest share what is left in proportion to their weights,
    i.e. the excess of capped winners is redistributed). Only winners with ``caps > 0`` and
    ``weights > 0`` pay; infinite weights saturate first (shared among themselves pro rata to caps). If
    ``need`` exceeds what they can pay, all of them pay their cap (the caller reports the shortfall).
    Integer and float weights are both split exactly by :func:`delever.allocation.split` (the one
    largest-remainder rule: ties to the lower index). Returns ``(haircuts int64, tau)`` (``tau = inf`` when saturated).
    """
    caps = np.asarray(caps, dtype=np.int64)
    w = np.asarray(weights)
    n = caps.shape[0]
    h = np.zeros(n, dtype=np.int64)
    wf = w.astype(np.float64)
    elig = (caps > 0) & (wf > 0)
    need = int(need)
    if need <= 0 or not elig.any():
        return h, 0.0
    if int(caps[elig].sum()) <= need:
        h[elig] = caps[elig]
        return h, math.inf
    inf = elig & np.isinf(wf)
    if inf.any():
        cap_inf = int(caps[inf].sum())
        if cap_inf >= need:
            sub, _ = capped_split(need, np.where(inf, caps, 0), np.where(inf, caps, 0))
            return sub, math.inf
        h[inf] = caps[inf]
        need -= cap_inf
        elig &= ~inf
    ii = np.flatnonzero(elig)
    c = caps[ii]
    wi = w[ii]
    ratio = c / wi.astype(np.float64)
    order = np.lexsort((ii, ratio))
    c_o = c[order].astype(np.float64)
    w_o = wi[order].astype(np.float64)
    cap_before = np.concatenate([[0.0], np.cumsum(c_o)[:-1]])
    w_from = np.cumsum(w_o[::-1])[::-1]
    tau_k = (need - cap_before) / w_from
    ok = np.flatnonzero(tau_k <= ratio[order])
    k = int(ok[0]) if ok.size else len(order) - 1
    sat = ii[order[:k]]
    act = ii[order[k:]]
    h[sat] = caps[sat]
    rest = need - int(caps[sat].sum())
    tau = float(tau_k[k])
    wa = w[act] if w.dtype.kind in "iu" else w[act].astype(np.float64)
    h[act] = split(rest, wa, caps[act])
    return h, tau


def lot_haircut(k: np.ndarray, cap: np.ndarray, contracts: np.ndarray) -> np.ndarray:
    """Money taken by closing ``k`` of ``contracts`` lots of a winner with capacity ``cap``:
    ``ceil(k * cap / contracts)`` exactly in int64 (``k * (cap % c)`` stays below ``c**2 < 2**63``);
    ``cap`` when ``k == contracts``; ``k`` is taken as money when ``contracts == 0`` (divisible)."""
    k = np.asarray(k, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    c = np.asarray(contracts, dtype=np.int64)
    safe = np.where(c > 0, c, 1)
    q, r = np.divmod(cap, safe)
    out = k * q + (-((-(k * r)) // safe))
    return np.where(c > 0, out, np.minimum(k, cap))


def lots_for(amount: np.ndarray, cap: np.ndarray, contracts: np.ndarray) -> np.ndarray:
    """Fewest lots whose :func:`lot_haircut` is >= ``amount`` (capped at all lots); money when c == 0."""
    amount = np.asarray(amount, dtype=np.int64)
    c = np.asarray(contracts, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    safe_cap = np.where(cap > 0, cap, 1)
    # k >= amount * c / cap; start from the float estimate and correct by one either way
    est = np.floor(amount.astype(np.float64) * c / safe_cap).astype(np.int64)
    est = np.clip(est, 0, c)
    for _ in range(3):
        low = lot_haircut(est, cap, c) < amount
        est = np.where(low & (est < c), est + 1, est)
        prev = np.clip(est - 1, 0, c)
        high = (est > 0) & (lot_haircut(prev, cap, c) >= amount)
        est = np.where(high, prev, est)
    return np.where(c > 0, est, np.minimum(amount, cap))
