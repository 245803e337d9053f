"""Incremental liquidation (Deribit, ../shared/specs/venues.md section 5, https://www.deribit.com/docs/auto-liquidation/):
a position in liquidation is closed in small market slices, ``lots_per_round`` per round and ``rounds_per_s`` rounds
a second (an old version of the page: 10 contracts x 25 rounds a second, TV-32; another: 200 contracts x 20), and
the liquidation "stops once MM < equity".

A step of ``dt`` seconds holds ``rounds_per_s x dt`` rounds (at least one), so a position's order in a step is at
most ``budget = lots_per_round x max(1, floor(rounds_per_s x dt))`` lots. Within it, the slices stop at the first
round after which the account is back above maintenance: the fewest whole rounds' lots ``k`` with ``equity -
fee(k) >= MM(size - k) + other MM`` (valued at the mark, as the tier mode of :mod:`.partial` values its
FillOrKill, the fee ``ceil(rate x notional)`` on the closed part, ``other MM`` the MM of the account's other
positions). A position still below maintenance at the next step is found again by the sweep and sliced again:
the rounds go on, step after step, until it is back above MM or closed. The orders fill in the book at their
own prices; the liquidation stage closes the whole position instead when the slice would leave the account
below zero (:mod:`delever.liquidation`). Deribit's "futures first, then options" order is the engine's
instrument order of a multi-instrument run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..intops import mul_ppm_ceil
from ..margin import maintenance_margin_compiled
from .base import Mechanism
from .partial import still_short


def round_budget(lots_per_round: int, rounds_per_s: int, dt: float) -> int:
    """Lots one position may have closed in a step of ``dt`` seconds: ``lots_per_round x max(1, floor(rounds_per_s
    x dt))`` (Deribit TV-32: 10 x 25 = 250 contracts a second)."""
    return lots_per_round * max(1, int(rounds_per_s * dt))


@njit(cache=True, nogil=True)
def increment_plan(order, sizes, equity, req, m, mark, v, floors, mmr, cum, n_tiers, fee_ppm, per_round, budget, out):
    """Lots to close for each position ``order[k]`` (``out[k]``, 0 = the whole position; module docstring):
    ``equity``/``req`` (len(order),) its account's (or isolated margin's) equity and total MM at the marks
    (money), ``m`` its instrument, ``mark`` ticks, ``v`` money per lot-tick, the tier tables as
    :func:`delever.margin.maintenance_margin_compiled` reads them, ``fee_ppm`` the liquidation fee rate,
    ``per_round``/``budget`` lots a round and a step."""
    unit = mark * v
    for k in range(order.shape[0]):
        q = abs(sizes[order[k]])
        own = maintenance_margin_compiled(q * unit, m, floors, mmr, cum, n_tiers)
        other = req[k] - own
        lots = min(budget, q)
        close = lots
        rounds = (lots + per_round - 1) // per_round
        for r in range(1, rounds + 1):
            c = min(r * per_round, lots)
            fee = mul_ppm_ceil(c * unit, fee_ppm)
            if equity[k] - fee >= maintenance_margin_compiled((q - c) * unit, m, floors, mmr, cum, n_tiers) + other:
                close = c
                break
        out[k] = 0 if close >= q else close


class IncrementalLiquidation(Mechanism):
    """The step loop's incremental liquidation (:mod:`delever.mechanisms.base`, size phase): each order of a batch
    is cut to the rounds of the step (:func:`increment_plan`); after the stage, the notional of the orders that
    left a position open is counted."""

    name = "incremental_liquidation"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> IncrementalLiquidation | None:
        il = scenario.mechanisms.incremental_liquidation
        return cls(il) if il.enabled else None

    def setup(self, sim) -> None:
        self.budget = round_budget(self.config.lots_per_round, self.config.rounds_per_s, sim.dt)

    def size(self, sim, batch) -> None:
        """Cut the batch's orders to the step's rounds (:func:`increment_plan`). A multi-instrument run first values
        the accounts as they stand now (:meth:`Engine.account_margins`): a position whose account an earlier
        instrument's liquidation of this step brought back above maintenance leaves the batch (the rounds stop)."""
        if sim.M > 1:
            equity, total_mm, _ = sim.account_margins(batch.order)
            short = still_short(equity, total_mm)
            batch.keep(short)
            batch.equity, batch.req = equity[short], total_mm[short]
            if not batch.order.size:
                return
        floors, mmr, cum, n_tiers = sim.tier_args()
        out = np.zeros(batch.order.size, dtype=np.int64)
        increment_plan(batch.order, sim.book.size, batch.equity, batch.req, batch.m, batch.mark, int(sim.vpl[batch.m]),
                       floors, mmr, cum, int(n_tiers[batch.m]), sim.fee_ppm, self.config.lots_per_round, self.budget,
                       out)  # fmt: skip
        batch.lots = out

    def after_stage(self, sim, batch) -> None:
        if not batch.ran:
            return
        b, order = sim.book, batch.order
        done = (batch.lots > 0) & (b.size[order] != 0)
        if done.any():
            closed = np.abs(batch.size_before[done] - b.size[order][done])
            sim.note(self.name, b.account[order[done]], int((closed * batch.mark * int(sim.vpl[batch.m])).sum()))
