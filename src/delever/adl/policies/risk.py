"""Risk-based policies: risk-aware (levered) pro rata and water-filling on leverage (Chitra 2025, appendix
RAP; Campbell, Hey, Moallemi, Nutz 2026; specs/adl_policies.md).
"""

from __future__ import annotations

import math

import numpy as np

from .winners import Allocation, Winners, check_need, make_allocation
from .splits import capped_split, round_targets


def leverage_or_inf(w: Winners) -> np.ndarray:
    """Winners' leverage (float64 (n,)), with a non-finite or <= 0 leverage (no equity) read as infinite."""
    lam = w.leverage.astype(np.float64)
    return np.where(np.isfinite(lam) & (lam > 0), lam, np.inf)


def risk_aware(w: Winners, need: int, state=None, *, g0: float = 1.0, g1: float = 0.0) -> Allocation:
    """Risk-aware pro rata (RAP; levered pro rata): ``h_i = min(u_i, tau * u_i * lambda_i * g(lambda_i))``,
    ``g(lambda) = g0 + g1 * lambda`` (linear; the default ``g = 1`` is levered pro rata, Chitra 2025 eq. 21:
    haircut share proportional to leverage), ``tau`` solved by bisection so that ``sum h = B``.

    ``u_i`` is the capacity (haircut-able endowment, PnL by default), ``lambda_i`` the leverage (non-finite
    or <= 0 read as infinite: paid first, in full). The haircut fraction of the endowment,
    ``min(1, tau lambda g(lambda))``, is the paper's reverse water-filling with risk density
    ``rho(lambda) = lambda g(lambda)`` (arXiv:2512.01112, appendix "Risk-Aware Pro-Rata (RAP)",
    specs/adl_policies.md). Bisection: ``S(tau) = sum min(u, tau u rho)`` is increasing; 200 halvings of
    ``[0, 1 / min rho]`` on a log scale, then the float haircuts are rounded by largest remainder under the
    caps so that the sum is exact. Source: specs/adl_policies.md "Risk-aware pro-rata (RAP)"; Chitra 2025
    (arXiv:2512.01112). Units: money; ``tau`` in 1 / leverage.
    """
    need = check_need(need)
    cap = w.cap
    lam = leverage_or_inf(w)
    rho = np.where(np.isinf(lam), np.inf, lam * (g0 + g1 * np.where(np.isinf(lam), 0.0, lam)))
    if np.any(rho[np.isfinite(rho)] < 0):
        raise ValueError("risk_aware: g must keep lambda * g(lambda) >= 0")
    n = w.n
    elig = (cap > 0) & (rho > 0)
    total = int(cap[elig].sum())
    if need == 0 or total == 0:
        return make_allocation("risk-aware", need, np.zeros(n, dtype=np.int64), tau=0.0)
    if total <= need:
        return make_allocation("risk-aware", need, np.where(elig, cap, 0), tau=math.inf)
    capf = np.where(elig, cap, 0).astype(np.float64)
    inf = elig & np.isinf(rho)
    if capf[inf].sum() >= need:  # the infinitely levered alone cover the need
        h, _ = capped_split(need, np.where(inf, cap, 0), np.where(inf, cap, 0))
        return make_allocation("risk-aware", need, h, tau=math.inf)
    fin = elig & ~inf
    r = rho[fin]

    def S(tau: float) -> float:
        return capf[inf].sum() + np.minimum(capf[fin], tau * capf[fin] * r).sum()

    lo, hi = 0.0, 1.0 / r.min()
    for _ in range(200):
        mid = 0.5 * (lo + hi) if lo == 0.0 else math.sqrt(lo * hi)
        if mid <= lo or mid >= hi:
            break
        if S(mid) < need:
            lo = mid
        else:
            hi = mid
    tau = hi
    target = np.zeros(n)
    target[inf] = capf[inf]
    target[fin] = np.minimum(capf[fin], tau * capf[fin] * r)
    h = round_targets(need, target, np.where(elig, cap, 0))
    return make_allocation("risk-aware", need, h, tau=tau)


def water_filling(w: Winners, need: int, state=None) -> Allocation:
    """Water-filling on leverage (Campbell, Hey, Moallemi, Nutz 2026, arXiv:2603.15963; specs/adl_policies.md):
    reduce the most levered winners first until their leverages are equal, i.e. minimise the largest
    post-ADL leverage.

    Closing a fraction ``f_i`` of a winner's position takes ``f_i u_i`` (the whole position: its whole
    capacity) and leaves leverage ``lambda_i (1 - f_i)`` (equity held fixed). For a level ``L``,
    ``f_i = max(0, 1 - L / lambda_i)``; ``L`` is the unique level with ``sum_i u_i f_i = B`` (closed form on
    the sorted leverages: with the top-``k`` set, ``L = (sum u - B) / sum(u / lambda)``). Leverage non-finite
    or <= 0 (no equity) is infinite: such winners are cut first and in full. Haircuts ``h_i = u_i f_i``
    rounded by largest remainder under the caps. Source: specs/adl_policies.md "Water-filling on leverage";
    Campbell et al. 2026 (arXiv:2603.15963). Units: money; ``L`` in leverage (info ``level``).
    """
    need = check_need(need)
    cap = w.cap
    n = w.n
    lam = leverage_or_inf(w)
    elig = cap > 0
    total = int(cap[elig].sum())
    if need == 0 or total == 0:
        return make_allocation("water-filling", need, np.zeros(n, dtype=np.int64), level=math.inf)
    if total <= need:
        return make_allocation("water-filling", need, np.where(elig, cap, 0), level=0.0)
    inf = elig & np.isinf(lam)
    if int(cap[inf].sum()) >= need:
        h, _ = capped_split(need, np.where(inf, cap, 0), np.where(inf, cap, 0))
        return make_allocation("water-filling", need, h, level=math.inf)
    rest = need - int(cap[inf].sum())
    ii = np.flatnonzero(elig & ~inf)
    order = ii[np.lexsort((ii, -lam[ii]))]  # most levered first
    u = cap[order].astype(np.float64)
    la = lam[order]
    su = np.cumsum(u)
    sul = np.cumsum(u / la)
    L_k = (su - rest) / sul  # level if exactly the top k+1 are cut
    nxt = np.concatenate([la[1:], [0.0]])
    ok = np.flatnonzero((L_k >= nxt) & (L_k <= la))
    k = int(ok[0]) if ok.size else int(np.argmin(np.abs(L_k - np.clip(L_k, nxt, la))))
    L = float(max(L_k[k], 0.0))
    target = np.zeros(n)
    target[inf] = cap[inf]
    target[order] = u * np.maximum(0.0, 1.0 - L / la)
    h = round_targets(need, target, np.where(elig, cap, 0))
    return make_allocation("water-filling", need, h, level=L)
