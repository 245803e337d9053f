"""Metrics of ADL rounds and of whole multi-round events: solvency (budget, overshoot, shortfall) and fairness
(burden shares, PTSR, PMR, concentration, who was touched). Pure numpy; money in, floats out.

Definitions (../shared/specs/adl_policies.md, "Metrics"; Chitra, arXiv:2512.01112):

- ``need``: the round's needed budget ``B`` (bankruptcy-gap transfer); ``budget``: what the policy took,
  ``H = sum_i h_i``.
- ``overshoot = H - B`` (signed; the paper's headline is the net sum over rounds), ``overshoot_pos =
  max(0, H - B)``, ``overshoot_neg = min(0, H - B)`` (<= 0: bad debt left), ``shortfall = max(0, B - H)``.
- ``max_share_equity = max_i h_i / e_i`` over winners that paid with ``e_i`` of at least one quote unit
  (:data:`MIN_DENOMINATOR`; winners with ``e_i <= 0`` that paid are counted in ``touched_nonpositive_equity``);
  ``max_share_pnl = max_i h_i / pnl_i`` likewise over ``pnl_i`` of at least one quote unit.
- ``PTSR = max_i (w_i - h_i)+ / D`` and ``PMR = max_i (w_i - h_i)+ / Delta``: the largest winner's surviving
  endowment ``w`` (by default its capacity at the start of the round) over the round's total deficit ``D``
  and over its largest single loser shortfall ``Delta``. The event value is the mean over rounds
  (the spec's ``E[.]``). The paper's code divides by the residual deficit ``D - H`` instead
  (policy_per_wave.py, ``ptsr_*``); this module follows the spec.
- Concentration: ``top1pct_share`` = share of the budget paid by the ``ceil(1%)`` largest payers of the
  *pool* (all winners with positive capacity, so policies are compared on the same population);
  ``top10_share`` by the 10 largest; ``gini`` = Gini coefficient of the haircuts over the pool (zeros
  included; 0 = everyone pays the same, -> 1 = one pays all).
- ``touched``: winners with ``h_i > 0``; ``leverage_median`` / ``leverage_p90``: unweighted quantiles of
  their leverage (NaN when none).

A multi-round event (:func:`event_metrics`) sums the budgets, overshoots and shortfalls, averages PTSR and
PMR, and computes the burden shares, concentration and touched accounts on each account's *cumulative*
haircut over the event (against its equity and profit at the start).
"""

from __future__ import annotations

import math

import numpy as np

from ..units import MONEY_SCALE

__all__ = ["event_metrics", "gini", "round_metrics", "top_share", "ROUND_FIELDS", "EVENT_FIELDS"]

ROUND_FIELDS = (
    "need",
    "budget",
    "overshoot",
    "overshoot_pos",
    "overshoot_neg",
    "shortfall",
    "max_share_equity",
    "max_share_pnl",
    "ptsr",
    "pmr",
    "top1pct_share",
    "top10_share",
    "gini",
    "touched",
    "touched_nonpositive_equity",
    "leverage_median",
    "leverage_p90",
)
"""Keys of :func:`round_metrics` (money keys in quote units: ``need`` ... ``shortfall``)."""

EVENT_FIELDS = ROUND_FIELDS + ("rounds",)
"""Keys of :func:`event_metrics`."""


def gini(x: np.ndarray, *, presorted: bool = False) -> float:
    """Gini coefficient of non-negative amounts (0 for all equal or all zero): ``sum_i (2i - n - 1) x_(i) /
    (n sum x)`` over the ascending order."""
    x = np.asarray(x, dtype=np.float64)
    if not presorted:
        x = np.sort(x)
    n = x.size
    s = x.sum()
    if n == 0 or s <= 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2 * i - n - 1) * x) / (n * s))


def top_share(h: np.ndarray, k: int, *, presorted: bool = False) -> float:
    """Share of ``sum(h)`` paid by the ``k`` largest entries (0 when nothing was paid); ``presorted``:
    ``h`` is already in ascending order."""
    h = np.asarray(h, dtype=np.float64)
    s = h.sum()
    if s <= 0 or k <= 0:
        return 0.0
    k = min(k, h.size)
    top = h[h.size - k :] if presorted else np.partition(h, h.size - k)[h.size - k :]
    return float(top.sum() / s)


MIN_DENOMINATOR = MONEY_SCALE
"""Burden ratios ``h / e`` and ``h / pnl`` are taken over denominators of at least one quote unit: on dust
accounts the rounding of a single money unit would otherwise set the maximum."""


def _ratio_max(num: np.ndarray, den: np.ndarray, mask: np.ndarray) -> float:
    m = mask & (den >= MIN_DENOMINATOR)
    return float(np.max(num[m] / den[m])) if m.any() else 0.0


def _q(units: float) -> float:
    return float(units) / MONEY_SCALE


def _burden(
    h: np.ndarray, *, need: int, equity: np.ndarray, pnl: np.ndarray, leverage: np.ndarray, pool: np.ndarray
) -> dict:
    h = np.asarray(h, dtype=np.int64)
    touched = h > 0
    budget = int(h.sum())
    lev = np.asarray(leverage, dtype=np.float64)[touched]
    lev = lev[np.isfinite(lev)]
    hp = np.sort(h[pool].astype(np.float64))
    k1 = max(1, math.ceil(0.01 * int(pool.sum())))
    return {
        "need": _q(need),
        "budget": _q(budget),
        "overshoot": _q(budget - need),
        "overshoot_pos": _q(max(0, budget - need)),
        "overshoot_neg": _q(min(0, budget - need)),
        "shortfall": _q(max(0, need - budget)),
        "max_share_equity": _ratio_max(h.astype(np.float64), np.asarray(equity, dtype=np.float64), touched),
        "max_share_pnl": _ratio_max(h.astype(np.float64), np.asarray(pnl, dtype=np.float64), touched),
        "top1pct_share": top_share(hp, k1, presorted=True),
        "top10_share": top_share(hp, 10, presorted=True),
        "gini": gini(hp, presorted=True),
        "touched": int(touched.sum()),
        "touched_nonpositive_equity": int((touched & (np.asarray(equity) <= 0)).sum()),
        "leverage_median": float(np.median(lev)) if lev.size else math.nan,
        "leverage_p90": float(np.quantile(lev, 0.9)) if lev.size else math.nan,
    }


def round_metrics(
    haircut: np.ndarray,
    *,
    need: int,
    equity: np.ndarray,
    pnl: np.ndarray,
    leverage: np.ndarray,
    endowment: np.ndarray | None = None,
    deficit: int | None = None,
    max_loss: int | None = None,
    pool: np.ndarray | None = None,
) -> dict:
    """Metrics of one round (see the module docstring).

    Args:
        haircut: int64 (n,) money taken from each winner this round.
        need: the round's needed budget (money).
        equity, pnl: int64 (n,) money, at the start of the round (for the burden shares).
        leverage: float64 (n,).
        endowment: int64 (n,) money, each winner's haircut-able endowment at the start of the round (for
            PTSR/PMR; default ``pnl``).
        deficit, max_loss: the round's total deficit ``D`` and largest single loser shortfall ``Delta``
            (money); PTSR/PMR are NaN without them.
        pool: bool (n,), the population for concentration (default: ``endowment > 0``).

    Returns:
        dict with :data:`ROUND_FIELDS` (money in quote units, float).
    """
    pnl = np.asarray(pnl, dtype=np.int64)
    w = pnl if endowment is None else np.asarray(endowment, dtype=np.int64)
    pool = (w > 0) if pool is None else np.asarray(pool, dtype=bool)
    out = _burden(haircut, need=int(need), equity=equity, pnl=pnl, leverage=leverage, pool=pool)
    surv = float(np.max(np.maximum(w - np.asarray(haircut, dtype=np.int64), 0))) if w.size else 0.0
    out["ptsr"] = surv / deficit if deficit else math.nan
    out["pmr"] = surv / max_loss if max_loss else math.nan
    return {k: out[k] for k in ROUND_FIELDS}


def event_metrics(
    rounds: list[dict],
    cumulative_haircut: np.ndarray,
    *,
    equity: np.ndarray,
    pnl: np.ndarray,
    leverage: np.ndarray,
    pool: np.ndarray | None = None,
) -> dict:
    """Totals of a multi-round event.

    Budgets, overshoots (net, positive and negative parts) and shortfalls are summed over ``rounds``
    (dicts from :func:`round_metrics`); PTSR and PMR are their means over rounds (NaN rounds skipped);
    burden shares, concentration, touched accounts and their leverage use ``cumulative_haircut`` (int64
    (n,), each account's total over the event) against ``equity``/``pnl`` at the start of the event.
    """
    cum = np.asarray(cumulative_haircut, dtype=np.int64)
    pnl = np.asarray(pnl, dtype=np.int64)
    pool = (pnl > 0) if pool is None else np.asarray(pool, dtype=bool)
    need_units = int(round(sum(r["need"] for r in rounds) * MONEY_SCALE))
    out = _burden(cum, need=need_units, equity=equity, pnl=pnl, leverage=leverage, pool=pool)
    for key in ("need", "budget", "overshoot", "overshoot_pos", "overshoot_neg", "shortfall"):
        out[key] = float(sum(r[key] for r in rounds))
    for key in ("ptsr", "pmr"):
        vals = [r[key] for r in rounds if r[key] == r[key]]
        out[key] = float(np.mean(vals)) if vals else math.nan
    out["rounds"] = len(rounds)
    return {k: out[k] for k in EVENT_FIELDS}
