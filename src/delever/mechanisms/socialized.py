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

import numpy as np

from .. import events as ev
from .base import Mechanism


def pro_rata(need: int, capacity: np.ndarray) -> np.ndarray:
    """Integer split of ``need`` (money) in proportion to ``capacity`` (int64 >= 0), capped at it, summing to
    ``min(need, capacity.sum())`` exactly (largest remainder; ties to the lower index)."""
    if capacity.size == 0 or need <= 0:
        return np.zeros_like(capacity)
    top = int(capacity.max())
    # a Python-int sum only when an int64 one could pass 2**63
    total = int(capacity.sum()) if top * capacity.size < 2**63 else int(capacity.astype(object).sum())
    if need <= 0 or total <= 0:
        return np.zeros_like(capacity)
    if need >= total:
        return capacity.copy()
    cap = capacity.astype(np.int64)
    if need < 2**50 and total < 2**62:
        # Fast and exact. float64's share is within 0.5 of the exact c * need / total: it is <= need < 2**50
        # and its three roundings (need / total, correctly rounded by Python; c to float64; the product) err by
        # < 4 x 2**-53 relative, < 2**50 x 2**-51 = 0.5. So floor(share - 0.5) is the exact floor or one less
        # (-1 for a share under 0.5). The remainder c * need - base * total is then exact in uint64 arithmetic
        # (modulo 2**64): its true value lies in [0, 2 total), inside int64 since total < 2**62, so read as int64
        # it is exact; where it is >= total the base is one short: one step up makes every base the exact floor
        # and every remainder exact in [0, total).
        base = np.floor(cap * (need / total) - 0.5).astype(np.int64)
        rem = (cap.astype(np.uint64) * np.uint64(need) - base.astype(np.uint64) * np.uint64(total)).view(np.int64)
        short_by_one = rem >= total
        base[short_by_one] += 1
        rem[short_by_one] -= total
    else:
        obj = cap.astype(object)  # Python ints: need * capacity can exceed int64
        prod = obj * need
        base = prod // total
        rem = (prod - base * total).astype(np.int64)  # < total, fits
    out = base.astype(np.int64)
    short = need - int(out.sum())
    if short:
        # the ``short`` largest remainders, ties to the lower index (a partition, not a sort of every winner)
        neg = -rem
        kth = np.partition(neg, short - 1)[short - 1]
        above = np.flatnonzero(neg < kth)
        equal = np.flatnonzero(neg == kth)[: short - above.size]
        out[above] += 1
        out[equal] += 1
    return out


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
