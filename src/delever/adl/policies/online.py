"""Socialized loss (every winner pro rata to its PnL, Deribit's clawback) and the online mirror-descent
policy that learns across rounds (Chitra, Thogiti, Trujillo Ramirez, Xu 2026, arXiv:2602.15182).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .winners import Allocation, Winners, check_need, make_allocation
from .splits import capped_split


def socialized_loss(w: Winners, need: int, state=None) -> Allocation:
    """Socialized loss (clawback): all of the period's winners pay pro rata to their period profit,
    ``h_i = min(U_i, tau * P_i)``, ``sum h = B``, with ``P = period_pnl`` and ``U = period_capacity``
    (defaults: this round's ``pnl`` and capacity), whether or not they are on the other side of this round.

    Source: Deribit, "socialized among the winning traders for that day" (venues.md section 5); old OKX /
    Huobi clawback (specs/adl_policies.md "Socialized loss"). Source: as above. Exact integer split.
    Units: money.
    """
    need = check_need(need)
    P = w.pnl if w.period_pnl is None else w.period_pnl
    U = w.cap if w.period_capacity is None else w.period_capacity
    h, tau = capped_split(need, U, P)
    return make_allocation("socialized-loss", need, h, tau=tau)


@dataclass
class MirrorDescentState:
    """State of :func:`online_mirror_descent` between rounds: budget shares ``v`` (float64 (n,), on the
    simplex) and the number of rounds played ``t``."""

    v: np.ndarray
    t: int = 0


def online_mirror_descent(w: Winners, need: int, state: MirrorDescentState | None = None) -> Allocation:
    """Online policy for multi-round (multi-wave) ADL: entropic mirror descent (exponentiated gradient) on the
    simplex of budget shares (Chitra, Thogiti, Trujillo Ramirez, Xu 2026, arXiv:2602.15182;
    specs/adl_policies.md "Online").

    Round ``t``: haircuts ``h_t = capped split of B_t by shares v_t`` (``h_i = min(u_i, tau v_i)``, exact
    integers). Loss revealed after the round: each winner's burden ``l_i = h_i / (P_i + 1)`` in ``[0, 1]``
    (haircut over its period profit ``P = period_pnl``): the gradient of the linear surrogate
    ``<v, l>`` of the fairness loss ``max_i h_i / u_i``. Update ``v_{t+1,i} ∝ v_{t,i} exp(-eta_t l_i)``.

    Step size rule: ``eta_t = sqrt(ln(n) / t)``, ``n`` the winners with ``P > 0``: the anytime rule
    ``eta_t = D / (G sqrt(t))`` of the OMD regret theorem (arXiv:2512.01112, appendix "Regret Analysis") with
    the entropic diameter ``D = sqrt(ln n)`` and losses bounded by ``G = 1``, giving ``O(sqrt(T ln n))``
    regret against the best fixed share vector. First shares ``v_1 ∝ P`` (round 1 is pro rata on period
    profit); a winner that paid more than its share so far gets a smaller share later. The budget is the
    round's need (every policy of this library is handed ``B_t``), so this is the paper's vector controller,
    not its severity (budget-learning) controller. Source: specs/adl_policies.md "Online"; arXiv:2602.15182;
    the paper code's ``VectorMirrorDescent`` (Euclidean, ``eta_t = eta0 / sqrt(t)``) is the projected-gradient
    sibling of this entropic version. Units: money; ``state`` carries ``v`` and ``t``.
    """
    need = check_need(need)
    P = (w.pnl if w.period_pnl is None else w.period_pnl).astype(np.float64)
    if state is None:
        tot = P.sum()
        v = P / tot if tot > 0 else np.zeros(w.n)
        state = MirrorDescentState(v=v, t=0)
    if state.v.shape != (w.n,):
        raise ValueError("online_mirror_descent: state does not match the winners")
    t = state.t + 1
    h, tau = capped_split(need, w.cap, state.v)
    npos = int(np.count_nonzero(P > 0))
    eta = math.sqrt(math.log(npos) / t) if npos > 1 else 0.0
    loss = h / (P + 1.0)
    v = state.v * np.exp(-eta * loss)
    s = v.sum()
    v = v / s if s > 0 else v
    return make_allocation("online-mirror-descent", need, h, state=MirrorDescentState(v=v, t=t), eta=eta, tau=tau)
