"""Socialized loss (clawback) instead of ADL, and negative-balance protection.

When the insurance fund cannot cover a bankrupt account, Deribit socializes the loss "among the winning
traders for that day" (../shared/specs/venues.md section 5; old OKX and Huobi did the same). Here, at the end
of each step, the deficits of the protected bankrupt accounts of that step are clawed back from every winner
(a position with unrealized profit at the mark, not liquidated this step, not a liquidity provider or vault)
pro rata to its unrealized profit, capped at it: ``h_i = need * upnl_i / sum(upnl)``, split exactly by largest
remainder. Winners pay from their wallet (cross) or isolated margin into a pool; the pool pays the bankrupt
accounts back to zero. An account without negative-balance protection keeps its negative balance: a debt
the venue would collect from the user, reported as unrecovered bad debt.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import events as ev
from ..allocation import split
from ..units import exact_sum
from .base import BookRules, Mechanism


def pro_rata(need: int, capacity: np.ndarray) -> np.ndarray:
    """Integer split of ``need`` (money) in proportion to ``capacity`` (int64 >= 0), capped at it, summing to
    ``min(need, capacity.sum())`` exactly: the one largest-remainder rule (:func:`delever.allocation.split`,
    ties to the lower index; exact for any int64 values). Below the total every share is under its capacity,
    so the split needs no caps (and no cap enters a tie); at or above it every winner pays its capacity."""
    capacity = np.asarray(capacity)
    if capacity.size == 0 or need <= 0:
        return np.zeros_like(capacity)
    if int(need) >= exact_sum(capacity):
        return capacity.copy()
    return split(int(need), capacity)


class SocializedLoss(Mechanism):
    """The step loop's socialized loss (:mod:`delever.mechanisms.base`), which replaces ADL: after each batch's
    stage, the batch's unrecovered bad debt of protected accounts on its instrument is clawed back from that
    instrument's winners, pro rata (:func:`pro_rata`; a per-contract rule: OKX and BitMEX socialize within one
    contract), and paid to the debtors in order until what was collected runs out."""

    name = "socialized_loss"
    replaces_adl = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> SocializedLoss | None:
        sl = scenario.mechanisms.socialized_loss
        return cls(sl) if sl.enabled else None

    def shape_book(self, rules: BookRules) -> BookRules:
        """Book time: ``protected_fraction`` of the generated trader accounts have negative-balance protection."""
        return replace(rules, protected_fraction=self.config.protected_fraction)

    def after_stage(self, sim, batch) -> None:
        b, buf = sim.book, sim.buf
        c = buf.cols
        rows = np.arange(batch.first_event, buf.n)
        debt_rows = rows[c["kind"][rows] == ev.BAD_DEBT]
        if debt_rows.size == 0:
            return
        debtors = c["account"][debt_rows]
        positions = c["position"][debt_rows]
        owed = -c["amount"][debt_rows]
        keep = b.protected[debtors]
        if not keep.any():
            return
        debtors, positions, owed = debtors[keep], positions[keep], owed[keep]
        need = int(owed.sum())
        upnl = b.size * batch.mark * int(sim.vpl[batch.m]) - b.cost
        winners = np.flatnonzero((upnl > 0) & (b.size != 0) & ~b.exempt[b.account] & sim.on(batch.m))
        share = pro_rata(need, upnl[winners])
        paid = int(share.sum())
        if paid == 0:
            return
        buf.ensure(winners.size + debtors.size + 8)
        pay = winners[share > 0]
        amounts = share[share > 0]
        iso = b.isolated[pay]
        np.subtract.at(b.collateral, pay[iso], amounts[iso])
        np.subtract.at(b.wallet, b.account[pay[~iso]], amounts[~iso])
        # the pool pays debtors in order until what was collected runs out
        received = np.minimum(owed, np.maximum(paid - np.concatenate([[0], np.cumsum(owed)[:-1]]), 0))
        for p_, a_, x in zip(positions.tolist(), debtors.tolist(), received.tolist()):
            if x <= 0:
                continue
            if b.isolated[p_]:
                b.collateral[p_] += x
                if b.collateral[p_] >= 0:  # an isolated position's margin returns to the wallet once whole
                    b.wallet[a_] += b.collateral[p_]
                    b.collateral[p_] = 0
            else:
                b.wallet[a_] += x
        buf.append_rows(ev.CLAWBACK, b.account[pay], ev.SOCIALIZED_LOSS_POOL, pay, amount=-amounts)
        got = received > 0
        buf.append_rows(
            ev.CLAWBACK_RECEIVED, debtors[got], ev.SOCIALIZED_LOSS_POOL, positions[got], amount=received[got]
        )
        sim.touched(pay)
        sim.note(self.name, b.account[pay], paid)
