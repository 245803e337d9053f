"""The policies by name (:data:`POLICIES`), :func:`get_policy` and :func:`allocate`, and the lot form the
cascade engine calls (:func:`allocate_lots`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..hierarchy import DEFAULT_KEYS, HierarchyRule
from .winners import Allocation, Winners
from .splits import capped_split
from .ranked import (
    queue_fill,
    queue_binance,
    queue_bitget,
    queue_bitmex,
    queue_hyperliquid,
    queue_policy,
    random_offset,
    score_binance,
    score_bitget,
    score_bitmex,
    score_hyperliquid,
)
from .pro_rata import pro_rata_contracts, pro_rata_equity, pro_rata_notional, pro_rata_pnl
from .risk import risk_aware, water_filling
from .min_max import min_max, min_max_integer
from .online import online_mirror_descent, socialized_loss


@dataclass(frozen=True)
class Policy:
    """A registered policy: ``name``, ``family`` (``queue``, ``pro-rata``, ``risk``, ``min-max``, ``online``)
    and ``fn(winners, need, state=None) -> Allocation``; ``stateful`` policies carry ``Allocation.state`` to
    the next round. ``score`` (queue family) ranks winners; :func:`allocate_lots` uses ``family``. ``needs``:
    the optional :class:`Winners` columns the policy reads (``funding_received``, ``age_s``), which the
    cascade engine then supplies; ``rule``: the hierarchy of a ``hierarchy`` policy; ``elementwise``: below."""

    name: str
    family: str
    fn: Callable[..., Allocation]
    stateful: bool = False
    score: Callable[[Winners], np.ndarray] | None = None
    needs: frozenset[str] = frozenset()
    rule: HierarchyRule | None = None
    elementwise: bool = True
    """Whether ``score`` of a winner depends on that winner's row alone (the venue scores), so that a large
    side may be scored a block at a time; a hierarchy's ranks depend on the whole side."""
    rotating: bool = False
    """A queue in position order from a seeded start offset (``random-offset``): the cascade engine orders it
    with :func:`rotation_start` / :func:`rotation_scores` and shows no ADL indicator."""

    def __call__(self, winners: Winners, need: int, state=None) -> Allocation:
        return self.fn(winners, need, state=state)

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


def hierarchy_policy(rule: HierarchyRule) -> Policy:
    """The ``hierarchy`` queue policy for ``rule`` (:mod:`delever.adl.hierarchy`): winners in the rule's
    order, whole positions, the last partially (as every queue, :func:`queue_fill`)."""
    fn = queue_policy("hierarchy", rule.score)
    fn.__doc__ = f"""Queue by a hierarchy of keys ({rule.describe()}): winners in the hierarchy's order (ties on
    every key by index) pay their whole capacity until ``B`` is met, the last one in whole contracts.

    Source: :mod:`delever.adl.hierarchy` (keys and why each is chosen; ../shared/specs/venues.md sections 1-3
    for the leverage, PnL% and margin-ratio definitions). Units: money in, money out; funding received in
    money, position age in seconds.
    """
    return Policy("hierarchy", "queue", fn, score=rule.score, needs=rule.needs, rule=rule, elementwise=False)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in [
        Policy("queue-bitmex", "queue", queue_bitmex, score=score_bitmex),
        Policy("queue-binance", "queue", queue_binance, score=score_binance),
        Policy("queue-hyperliquid", "queue", queue_hyperliquid, score=score_hyperliquid),
        Policy("queue-bitget", "queue", queue_bitget, score=score_bitget),
        Policy("pro-rata-pnl", "pro-rata", pro_rata_pnl),
        Policy("pro-rata-equity", "pro-rata", pro_rata_equity),
        Policy("pro-rata-notional", "pro-rata", pro_rata_notional),
        Policy("pro-rata-contracts", "pro-rata", pro_rata_contracts),
        Policy("risk-aware", "risk", risk_aware),
        Policy("water-filling", "risk", water_filling),
        Policy("min-max", "min-max", min_max),
        Policy("min-max-integer", "min-max", min_max_integer),
        Policy("socialized-loss", "pro-rata", socialized_loss),
        Policy("online-mirror-descent", "online", online_mirror_descent, stateful=True),
        hierarchy_policy(HierarchyRule.from_config(DEFAULT_KEYS)),
        Policy("random-offset", "queue", random_offset, elementwise=False, rotating=True),
    ]
}
"""Every policy by name (the names of scenarios, the CLI and the API)."""


def get_policy(name: str | Policy) -> Policy:
    """The policy called ``name`` (or ``name`` itself if it is a :class:`Policy`).

    Raises:
        KeyError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, Policy):
        return name
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown ADL policy {name!r}; known: {', '.join(POLICIES)}") from None


def allocate(policy: str | Policy, winners: Winners, need: int, state=None) -> Allocation:
    """Run one round of ``policy`` (a name or a :class:`Policy`)."""
    return get_policy(policy)(winners, need, state=state)


def allocate_lots(
    policy: str | Policy,
    need_lots: int,
    sizes: np.ndarray,
    scores: np.ndarray,
    capacities: np.ndarray,
    *,
    leverage: np.ndarray | None = None,
) -> np.ndarray:
    """Lots each counterparty closes when an ADL must close ``need_lots`` lots of a bankrupt position.

    Args:
        policy: a name or :class:`Policy`.
        need_lots: lots to close (>= 0).
        sizes: int64 (n,) lots each eligible counterparty holds (> 0).
        scores: float64 (n,) ranking scores (queue family: highest first, ties by index).
        capacities: (n,) weights of the proportional rules (int or float, >= 0): the policy's capacity
            (PnL, equity, notional, contracts, or e.g. ``pnl * leverage`` for risk-aware) - the caller picks.

    Returns:
        int64 (n,) with ``0 <= lots_i <= sizes_i`` and ``sum == min(need_lots, sizes.sum())``. Queue
        family: whole sizes in score order, the last partially. Every other family: ``need_lots`` split in
        proportion to ``capacities`` by largest remainder, capped at the sizes, the capped excess
        redistributed to the others in proportion (:func:`capped_split`); if the positive-capacity
        counterparties cannot absorb it all, the rest goes to the others in proportion to size.
        With ``leverage`` (float64 (n,), optional), ``water-filling`` and ``risk-aware`` use their exact lot
        forms instead: the money rule with each position's lots as its capacity (water-filling closes
        ``s_i max(0, 1 - L / lambda_i)`` lots, levelling leverage; risk-aware ``min(s_i, tau s_i lambda_i)``),
        leverage <= 0 or non-finite read as infinite, as in the money forms.
    """
    p = get_policy(policy)
    sizes = np.asarray(sizes, dtype=np.int64)
    n = sizes.shape[0]
    if np.any(sizes <= 0):
        raise ValueError("allocate_lots: sizes must be > 0")
    need = min(int(need_lots), int(sizes.sum()))
    if need < 0:
        raise ValueError("allocate_lots: need_lots must be >= 0")
    if need == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if p.family == "queue":  # the money queue with lots as the capacity, divisible to the lot
        out, _ = queue_fill(need, sizes, np.zeros(n, dtype=np.int64), np.asarray(scores, dtype=np.float64))
        return out
    if leverage is not None and p.name in ("water-filling", "risk-aware"):
        lots = p(Winners.from_arrays(pnl=sizes, leverage=np.asarray(leverage, dtype=np.float64)), need)
        return lots.haircut
    w = np.asarray(capacities)
    if w.dtype.kind not in "iuf":
        w = w.astype(np.float64)
    w = np.where(w > 0, w, 0)
    out, _ = capped_split(need, sizes, w)
    left = need - int(out.sum())
    if left > 0:
        more, _ = capped_split(left, sizes - out, sizes - out)
        out += more
    return out
