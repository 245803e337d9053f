"""Min-max burden: the allocation that minimises the largest haircut relative to equity, continuous and in
whole contracts (specs/adl_policies.md "Min-max burden"; Chitra 2025).
"""

from __future__ import annotations


import numpy as np

from .winners import Allocation, Winners, check_need, make_allocation
from .splits import capped_split, lot_haircut


def min_max(w: Winners, need: int, state=None) -> Allocation:
    """Min-max burden, continuous: minimise ``max_i h_i / e_i`` s.t. ``sum h = B``, ``0 <= h_i <= u_i``.

    Implemented as its closed form, not by an LP solver: the LP's KKT conditions give ``h_i = min(u_i,
    M e_i)`` with the level ``M`` set by the budget, which is exactly capped pro rata on equity
    (:func:`pro_rata_equity`; specs/adl_policies.md "Min-max burden": "the continuous optimum is pro-rata on
    equity"). Winners with ``e_i <= 0`` cannot carry any burden and pay nothing. ``info['M']`` is the optimal
    max ratio (float, before integer rounding). Source: specs/adl_policies.md "Min-max burden"; Chitra 2025
    (arXiv:2512.01112). Units: money; ``M`` dimensionless.
    """
    need = check_need(need)
    h, tau = capped_split(need, w.cap, np.maximum(w.equity, 0))
    return make_allocation("min-max", need, h, M=tau)


def _minmax_level(need: float, g: np.ndarray, e: np.ndarray, c: np.ndarray) -> float:
    """Smallest ``M`` with ``F(M) = sum_i g_i min(c_i, floor(M e_i / g_i)) >= need`` (bisection)."""

    def F(M: float) -> float:
        return float((g * np.minimum(c, np.floor(M * e / g))).sum())

    lo, hi = 0.0, 1.0
    while F(hi) < need:
        hi *= 2.0
        if hi > 1e300:
            raise AssertionError("min-max level unbounded")  # pragma: no cover
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if F(mid) >= need:
            hi = mid
        else:
            lo = mid
    return hi


def min_max_integer(
    w: Winners, need: int, state=None, *, time_limit: float = 5.0, method: str = "two-stage"
) -> Allocation:
    """Min-max burden over whole contracts (integer program, solved with ``scipy.optimize.milp``/HiGHS).

    Variables ``k_i`` (contracts closed, integers in ``[0, c_i]``), each worth ``g_i = u_i / c_i``:

        minimise ``M``  s.t.  ``sum_i g_i k_i >= B``,  ``g_i k_i <= M e_i``  (winners with ``e_i > 0``).

    ``method="two-stage"`` (default): the optimal ``M*`` is the smallest ``M`` with
    ``sum_i g_i min(c_i, floor(M e_i / g_i)) >= B`` (feasibility is monotone in ``M``), found by bisection;
    then ``milp`` minimises the overshoot ``sum g_i k_i`` over ``0 <= k_i <= min(c_i, floor(M* e_i / g_i))``,
    ``sum g_i k_i >= B``: the lexicographic optimum (least max burden, then least overshoot).
    ``method="milp"`` hands the one-stage program above to ``milp`` (for small instances and to check the
    first; its big-M scaling is fragile on large, badly scaled books). Haircuts are ``ceil(k_i u_i / c_i)``.
    Winners with ``c_i = 0`` count as one contract worth ``u_i``; winners with ``e_i <= 0`` pay nothing.
    Source: specs/adl_policies.md "Min-max burden"; the paper's ``fixed_point_ilp_integer``
    (Chitra 2025). Units: contracts and money; ``info['M']`` the max haircut / equity reached.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    need = check_need(need)
    n = w.n
    cap = w.cap
    c_eff = np.where(w.contracts > 0, w.contracts, 1)
    elig = (cap > 0) & (w.equity > 0)
    zeros = np.zeros(n, dtype=np.int64)
    if need == 0 or not elig.any():
        return make_allocation("min-max-integer", need, zeros, zeros.copy(), M=0.0, status="trivial")
    if int(cap[elig].sum()) <= need:
        h = np.where(elig, cap, 0)
        k = np.where(elig, w.contracts, 0)
        return make_allocation(
            "min-max-integer", need, h, k, M=float(np.max(h[elig] / w.equity[elig])), status="saturated"
        )
    ii = np.flatnonzero(elig)
    scale = float(need)
    g = cap[ii] / c_eff[ii] / scale  # budget-relative contract values (conditioning)
    e = w.equity[ii] / scale
    c = c_eff[ii].astype(np.float64)
    status = ""
    k_sol = None
    if method == "milp":
        from scipy.sparse import csr_array, diags, hstack, vstack

        m = ii.size
        A = vstack([csr_array(np.concatenate([g, [0.0]])[None, :]), hstack([diags(g), csr_array(-e[:, None])])]).tocsr()
        lb = np.concatenate([[1.0], np.full(m, -np.inf)])
        ub = np.concatenate([[np.inf], np.zeros(m)])
        obj = np.zeros(m + 1)
        obj[-1] = 1.0
        res = milp(
            obj,
            constraints=LinearConstraint(A, lb, ub),
            integrality=np.concatenate([np.ones(m), [0]]),
            bounds=Bounds(np.zeros(m + 1), np.concatenate([c, [np.inf]])),
            options={"time_limit": time_limit},
        )
        status = f"milp: {res.message}"
        if res.x is not None:
            k_sol = np.round(res.x[:-1])
    elif method != "two-stage":
        raise ValueError(f"min_max_integer: unknown method {method!r}")
    if k_sol is None:
        M = _minmax_level(1.0, g, e, c)
        kmax = np.minimum(c, np.floor(M * e / g))
        sel = np.flatnonzero(kmax > 0)
        res = milp(
            g[sel],
            constraints=LinearConstraint(g[sel][None, :], 1.0, np.inf),
            integrality=np.ones(sel.size),
            bounds=Bounds(np.zeros(sel.size), kmax[sel]),
            options={"time_limit": time_limit},
        )
        status = (status + "; " if status else "") + f"two-stage milp: {res.message}"
        k_sol = np.zeros(ii.size)
        if res.x is not None:
            k_sol[sel] = np.round(res.x)
        else:  # pragma: no cover - time limit without incumbent: take every contract up to M*
            k_sol[sel] = kmax[sel]
    k = zeros.copy()
    k[ii] = np.clip(k_sol, 0, c).astype(np.int64)
    h = np.where(w.contracts > 0, lot_haircut(k, cap, w.contracts), k * cap)
    # the solver's feasibility tolerance (1e-6 of B) may leave a few money units short: close one more
    # contract where the resulting burden h / e is lowest, as many as needed
    for _ in range(64):
        short = need - int(h.sum())
        if short <= 0:
            break
        room = ii[k[ii] < c_eff[ii]]
        if room.size == 0:
            break
        nxt = np.where(w.contracts[room] > 0, lot_haircut(k[room] + 1, cap[room], w.contracts[room]), cap[room])
        order = np.lexsort((room, nxt / w.equity[room]))
        j = int(np.searchsorted(np.cumsum((nxt - h[room])[order]), short, side="left"))
        k[room[order[: j + 1]]] += 1
        h = np.where(w.contracts > 0, lot_haircut(k, cap, w.contracts), k * cap)
    # the program sees contract values g k, the haircut is ceil(k u / c) >= g k: give back contracts that the
    # rounding up made unnecessary, one at a time, the largest one that still keeps sum >= B (lowers burdens)
    for _ in range(10_000):
        excess = int(h.sum()) - need
        if excess <= 0:
            break
        t = ii[k[ii] > 0]
        prev = np.where(w.contracts[t] > 0, lot_haircut(k[t] - 1, cap[t], w.contracts[t]), 0)
        dec = h[t] - prev
        fits = np.flatnonzero(dec <= excess)
        if fits.size == 0:
            break
        j = fits[np.lexsort((t[fits], -dec[fits]))[0]]
        k[t[j]] -= 1
        h[t[j]] = prev[j]
    closed = np.where(w.contracts > 0, k, 0)
    M = float(np.max(h[ii] / w.equity[ii])) if ii.size else 0.0
    return make_allocation("min-max-integer", need, h, closed, M=M, status=status)
