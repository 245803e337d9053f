"""Auto-deleveraging policies: who pays a round's ADL budget, and how much, as pure functions over arrays.

The problem (../shared/specs/adl_policies.md, "The problem"): a round of ADL must move a budget ``B`` (the
bankruptcy-gap transfer, money units) from the winners - profitable positions on the other side - to cover a
deficit. A policy chooses haircuts ``h`` with ``0 <= h_i <= u_i`` (``u_i``: the winner's capacity, by
default its unrealised profit) and ``sum(h) = B``. Every policy here takes a :class:`Winners` (one row per
winner, numpy arrays) and the need ``B`` and returns an :class:`Allocation`; they are registered by name in
:data:`POLICIES`:

==========================  ================================================================================
name                        rule
==========================  ================================================================================
``queue-bitmex``            queue by PnL% x effective leverage (BitMEX, venues.md section 2)
``queue-binance``           queue by max(0, uPnL) / max(1, wallet) x margin ratio (Binance, venues.md s. 1)
``queue-hyperliquid``       queue by (mark / entry) x (notional / account value) (Hyperliquid, venues.md s. 6)
``queue-bitget``            queue by ROI x account MMR (Bitget, venues.md section 8)
``pro-rata-pnl``            capped pro rata on unrealised profit
``pro-rata-equity``         capped pro rata on equity
``pro-rata-notional``       capped pro rata on position notional
``pro-rata-contracts``      the same fraction of every winner's contracts, whole contracts (exchange style)
``risk-aware``              RAP / levered pro rata: ``h_i = min(u_i, tau u_i lambda_i g(lambda_i))``
``water-filling``           cut the most levered first until leverages are equal (Campbell et al. 2026)
``min-max``                 minimise ``max_i h_i / e_i`` (continuous; the closed form is pro rata on equity)
``min-max-integer``         the same over whole contracts (``scipy.optimize.milp``)
``socialized-loss``         pro rata over all of the period's winners' profit (Deribit, old OKX)
``online-mirror-descent``   multi-round: entropic mirror descent on the simplex of budget shares
``hierarchy``               queue by a configured hierarchy of keys (:mod:`delever.adl.hierarchy`; the
                            registered default: effective leverage, then notional, then funding received)
``random-offset``           no ranking: positions in index order from a pseudo-random start (dYdX v4,
                            engines.md section 1), seeded from the run's seed and the step
==========================  ================================================================================

**Units.** Money arrays (``pnl``, ``equity``, ``notional``, ``capacity``, haircuts) are int64 money units
(:data:`delever.units.MONEY_SCALE` per quote unit), contracts int64 lots, leverage and prices float64 (prices
only enter the Hyperliquid score as the ratio mark / entry, so any common unit will do).

**Exactness.** Haircuts are integers. A continuous rule is computed in floating point (or exact integers
where its weights are integers) and rounded by the one largest-remainder split under the caps
(:mod:`delever.allocation`: exact shares of the weights, float weights read as the binary fractions they are), so that
``sum(haircut) == min(B, capacity that the rule may use)`` exactly; whatever the rule cannot place is the
``shortfall``. Policies that close whole contracts (the queue's last position, ``pro-rata-contracts``,
``min-max-integer``) may take slightly more than ``B``: the ``overshoot``, less than one contract's value per
partially closed winner. Closing ``k`` of a winner's ``c`` available contracts costs it
``ceil(k * u / c)`` (a requirement rounds up, units.py), so closing all of them costs exactly ``u``; a winner
with ``c = 0`` (no lot information) is divisible to the money unit.

**Determinism.** Ties are broken by row index (queue: score descending, then index; largest remainder:
remainder descending, then capacity descending, then index: :mod:`delever.allocation`'s one rule).

**Layout** (one concept a module): :mod:`~delever.adl.policies.winners` (inputs and outputs),
:mod:`~delever.adl.policies.splits` (exact capped splits and contract haircuts), :mod:`~delever.adl.policies.ranked`
(queue family, random offset), :mod:`~delever.adl.policies.pro_rata`, :mod:`~delever.adl.policies.risk`,
:mod:`~delever.adl.policies.min_max`, :mod:`~delever.adl.policies.online` and
:mod:`~delever.adl.policies.registry` (names, :func:`allocate`, :func:`allocate_lots`); every public name is
importable from this package as before.

Sources: ../shared/specs/adl_policies.md (problem, families, metrics); ../shared/specs/venues.md (venue
scores); Chitra, "Autodeleveraging: Impossibilities and Optimization", arXiv:2512.01112 (pro rata, RAP,
min-max, queue overshoot; code github.com/pluriholonomic/autodeleveraging-analysis, MIT); Chitra, Thogiti,
Trujillo Ramirez, Xu, "Autodeleveraging as Online Learning", arXiv:2602.15182 (online policies); Campbell,
Hey, Moallemi, Nutz, "Risk-Based Auto-Deleveraging", arXiv:2603.15963 (water-filling on leverage).
"""

from __future__ import annotations

from .winners import Allocation, Winners, check_need, make_allocation
from .splits import capped_split, lot_haircut, lots_for, round_targets
from .ranked import (
    entry_value,
    queue_binance,
    queue_bitget,
    queue_bitmex,
    queue_fill,
    queue_hyperliquid,
    queue_policy,
    random_offset,
    rotation_scores,
    rotation_start,
    score_binance,
    score_bitget,
    score_bitmex,
    score_hyperliquid,
)
from .pro_rata import pro_rata_contracts, pro_rata_equity, pro_rata_notional, pro_rata_pnl
from .risk import leverage_or_inf, risk_aware, water_filling
from .min_max import min_max, min_max_integer
from .online import MirrorDescentState, online_mirror_descent, socialized_loss
from .registry import POLICIES, Policy, allocate, allocate_lots, get_policy, hierarchy_policy

__all__ = [
    "Allocation",
    "MirrorDescentState",
    "POLICIES",
    "Policy",
    "Winners",
    "allocate",
    "allocate_lots",
    "capped_split",
    "check_need",
    "entry_value",
    "get_policy",
    "hierarchy_policy",
    "leverage_or_inf",
    "lot_haircut",
    "lots_for",
    "make_allocation",
    "min_max",
    "min_max_integer",
    "online_mirror_descent",
    "pro_rata_contracts",
    "pro_rata_equity",
    "pro_rata_notional",
    "pro_rata_pnl",
    "queue_binance",
    "queue_bitget",
    "queue_bitmex",
    "queue_fill",
    "queue_hyperliquid",
    "queue_policy",
    "random_offset",
    "risk_aware",
    "rotation_scores",
    "rotation_start",
    "round_targets",
    "score_binance",
    "score_bitget",
    "score_bitmex",
    "score_hyperliquid",
    "socialized_loss",
    "water_filling",
]
