"""Per-step liquidation limits (dYdX v4's per-block limits): which liquidatable positions wait, and how many
lots of the others a step may close.

Source: ../shared/specs/engines.md section 1 (dYdX v4, ``protocol/x/clob/keeper/liquidations.go``,
``protocol/x/clob/types/liquidations_config.go``):

- ``MaxLiquidationAttemptsPerBlock`` (50): at most that many liquidation orders a block
  (``max_positions_per_step``). The engine's order puts the least collateralised first (equity / MM ascending,
  then position index); dYdX sorts its candidates by ``|fillable - oracle| / oracle`` descending, which also
  puts the deepest under water first. The rest wait for the next step.
- ``PositionBlockLimits``: a position's order is at most ``max(MinPositionNotionalLiquidated,
  MaxPositionPortionLiquidatedPpm x |notional|)``, capped at the whole position (``position_min_notional``,
  ``position_max_portion_pct``).
- ``SubaccountBlockLimits.MaxNotionalLiquidated``: the notional liquidated from one subaccount in a block
  (``account_max_notional_per_step``). An account whose budget this step is below one lot's notional waits.
- The size is "rounded to the step size; the whole position is taken if it is at most one step": here lots
  are rounded **down** (a limit is a ceiling), but at least one lot for the position limit (so every position
  the account budget admits makes progress).

Notional is valued at the step's mark (``lots x mark x V``, money units); limits are money (quote units x
:data:`delever.units.MONEY_SCALE`). Nothing here moves money: the limits only shrink the liquidation stage's
order and its lots, so conservation is the stage's (a closed lot pays exactly as in a whole liquidation).

What the engine does with a limited order: the lots go to the stage as a partial liquidation
(:func:`delever.liquidation.liquidate`, ``partial_lots``). A market order performs it only while the account
stays solvent after the fill; an account that would not is closed whole (the market order's rule for every
partial: the fund does not pay for part of a position), so there the position and account limits bind solvent
accounts. dYdX's fillable-price IOC (``[liquidation] order = "fillable-price-ioc"``, :mod:`delever.ioc_order`)
takes the limited lots from every account, the fund paying a fill worse than bankruptcy pro rata. The per-step
count (``max_positions_per_step``) binds every account.

In a multi-instrument run the per-step count and each account's notional budget cover every instrument's
batch of the step (a block's limits are over all markets).

``SubaccountBlockLimits.MaxQuantumsInsuranceLost`` (the fund's loss per subaccount per block,
``[liquidation] max_insurance_lost_per_step``) needs the fill's price, so the IOC's kernel applies it
(:mod:`delever.ioc_order`: a fill that would take the account's payouts this step past it is not made).

Not modelled: "one perpetual per subaccount per block" (a multi-position account may have a position on each
instrument liquidated in one step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..units import PPM
from .base import Mechanism

__all__ = ["BlockLimits", "StepPlan", "StepUse", "plan_step", "combine_partial", "LiquidationLimits"]

NO_LIMIT = np.iinfo(np.int64).max


@dataclass(frozen=True)
class BlockLimits:
    """The limits in engine units.

    Attributes:
        max_positions: liquidation orders per step (``MaxLiquidationAttemptsPerBlock``); ``NO_LIMIT`` for none.
        position_min_notional: money, ``MinPositionNotionalLiquidated`` (0 for none).
        position_portion_ppm: ``MaxPositionPortionLiquidatedPpm`` (1e6 = the whole position).
        account_max_notional: money per account per step (``SubaccountBlockLimits.MaxNotionalLiquidated``);
            ``NO_LIMIT`` for none.

    Raises:
        ValueError: a negative limit, a portion outside (0, 1e6], or fewer than one position per step.
    """

    max_positions: int = NO_LIMIT
    position_min_notional: int = 0
    position_portion_ppm: int = PPM
    account_max_notional: int = NO_LIMIT

    def __post_init__(self) -> None:
        if self.max_positions < 1:
            raise ValueError(f"max_positions: at least 1, got {self.max_positions}")
        if self.position_min_notional < 0 or self.account_max_notional <= 0:
            raise ValueError("position_min_notional must be >= 0 and account_max_notional > 0 (money units)")
        if not 0 < self.position_portion_ppm <= PPM:
            raise ValueError(f"position_portion_ppm: in (0, {PPM}], got {self.position_portion_ppm}")


@dataclass(frozen=True)
class StepPlan:
    """What a step may liquidate: ``keep`` bool (n,) over the stage's order (False: waits for the next step),
    ``lots`` int64 (n,) lots each kept position may close (0 = whole position; meaningless where not kept)."""

    keep: np.ndarray
    lots: np.ndarray

    @property
    def waiting(self) -> int:
        """Positions left for the next step."""
        return int((~self.keep).sum())


@dataclass
class StepUse:
    """What one step's batches took of the per-step limits so far: ``admitted`` liquidation orders, and
    ``budget`` each account's notional budget left (money; absent: the whole ``account_max_notional``)."""

    admitted: int = 0
    budget: dict[int, int] = field(default_factory=dict)


def plan_step(
    order: np.ndarray,
    size: np.ndarray,
    account: np.ndarray,
    mark: int,
    v: int,
    limits: BlockLimits,
    used: StepUse | None = None,
) -> StepPlan:
    """The step's plan for ``order`` (int64 (n,) position indices, in the stage's order) at ``mark`` (ticks;
    ``v`` money per lot-tick), ``size``/``account`` the book's columns. ``used``: what the step's earlier
    batches (other instruments) already took of the per-step count and of each account's budget, updated here
    (dYdX's limits are per block, over every market); None for a fresh step.

    Position ``i`` in order (each counted against the per-step count once it is admitted):

    - ``unit = mark x v`` (money per lot), ``q = |size|``;
    - position limit: ``max(position_min_notional, floor(portion_ppm x q x unit / 1e6))``, in lots
      ``max(1, floor(limit / unit))``;
    - account budget ``B`` (what is left of ``account_max_notional`` this step): ``floor(B / unit)`` lots; 0 lots
      -> waits; else ``lots = min(q, position lots, budget lots)`` and ``B -= lots x unit``;
    - ``lots == q`` -> 0 (the whole position).
    """
    order = np.asarray(order, dtype=np.int64)
    n = order.shape[0]
    keep = np.zeros(n, dtype=bool)
    lots = np.zeros(n, dtype=np.int64)
    unit = int(mark) * int(v)
    if unit <= 0:
        raise ValueError(f"plan_step: mark x v must be > 0, got {mark} x {v}")
    used = StepUse() if used is None else used
    budget = used.budget
    for i in range(n):
        if used.admitted >= limits.max_positions:
            break
        p = int(order[i])
        q = abs(int(size[p]))
        if q == 0:
            continue
        notional = q * unit
        cap = max(limits.position_min_notional, notional * limits.position_portion_ppm // PPM)
        take = min(q, max(1, cap // unit))
        if limits.account_max_notional != NO_LIMIT:
            a = int(account[p])
            left = budget.get(a, limits.account_max_notional)
            take = min(take, left // unit)
            if take == 0:
                continue
            budget[a] = left - take * unit
        keep[i] = True
        lots[i] = 0 if take == q else take
        used.admitted += 1
    return StepPlan(keep=keep, lots=lots)


def combine_partial(partial: np.ndarray, limit_lots: np.ndarray) -> np.ndarray:
    """Lots of each position under both a partial-liquidation plan and the block limits (0 = whole in each):
    the smaller of the two where both are partial."""
    partial = np.asarray(partial, dtype=np.int64)
    limit_lots = np.asarray(limit_lots, dtype=np.int64)
    both = (partial > 0) & (limit_lots > 0)
    return np.where(both, np.minimum(partial, limit_lots), np.maximum(partial, limit_lots))


class LiquidationLimits(Mechanism):
    """The step loop's per-step liquidation limits (``[liquidation]``; :mod:`delever.mechanisms.base`): before
    the book, the batch is cut to the positions :func:`plan_step` lets through this step (the rest wait), and
    their orders are capped at the planned lots (:func:`combine_partial`) after any partial sizing. In a
    multi-instrument run the per-step count and each account's budget hold over all the step's batches (a
    block's limits cover every market on dYdX)."""

    name = "block_limits"

    def __init__(self, limits: BlockLimits) -> None:
        self.limits = limits
        self.step = -1  # the step whose batches `used` counts
        self.used = StepUse()

    @classmethod
    def from_scenario(cls, scenario) -> LiquidationLimits | None:
        liq = scenario.liquidation
        return cls(liq.block_limits()) if liq.limits_on() else None

    def setup(self, sim) -> None:
        sim.extra[self.name] = {"fired_steps": 0, "accounts": 0, "notional": 0}  # not a [mechanisms] entry

    def take(self, sim, batch) -> None:
        b, order = sim.book, batch.order
        if batch.t != self.step:
            self.step, self.used = batch.t, StepUse()
        step_plan = plan_step(order, b.size, b.account, batch.mark, int(sim.vpl[batch.m]), self.limits, self.used)
        if step_plan.waiting:
            sim.note(self.name, b.account[order[~step_plan.keep]], 0)
        batch.caps = step_plan.lots
        batch.keep(step_plan.keep)

    def size(self, sim, batch) -> None:
        batch.lots = combine_partial(batch.lots, batch.caps)

    def after_liquidations(self, sim, t, m) -> None:
        # the step's liquidations are over on every instrument: its use of the limits ends with it (so none is
        # held between steps, where a checkpoint may be taken)
        self.used = StepUse()
