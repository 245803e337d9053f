"""Phase 5 of a step (:mod:`delever.engine`): find the liquidatable positions (the trigger index, or one sweep of the
whole book) and liquidate them instrument by instrument, most under water first, with the mechanisms' phases 5a
(take), 5b (size) and 5d (after the stage) around the liquidation stage (:func:`delever.liquidation_stage.run_stage`).
``sim`` is the running :class:`delever.engine.simulation.Simulation` (not imported here: it imports this module).
"""

from __future__ import annotations

import numpy as np

from ..adl.queue import AdlQueue
from ..liquidation_stage import run_stage
from ..mechanisms.base import Batch


def liquidations(sim, t: int, instruments: list[int]) -> None:
    """Find the liquidatable positions (trigger index, or one sweep of the whole book) and liquidate those on
    ``instruments`` (the live, unhalted ones), instrument by instrument, most under water first."""
    b = sim.book
    skip = sim.sweep_skip
    if sim.use_triggers:
        count = sim.index.scan(int(sim.marks[0]), t, sim.liq_out)
    elif skip is not None and skip.safe(sim.marks):
        return  # the sweep would list nobody (delever.sweep_skip)
    else:
        count = sim.sweep_book(sim.liq_out)
        if skip is not None:  # a sweep that listed nobody is the next steps' anchor; one that listed some is not
            skip.drop() if count else skip.anchor(sim.marks, sim.acc_eq, sim.acc_mm, sim.pos_eq, sim.pos_mm)
    if not count:
        return
    found = sim.liq_out[:count].astype(np.int64)
    if sim.use_triggers:
        # the scan lists positions in trigger order, scattered over the book: read them in book order (the
        # order liquidated below is by ratio, then position, whatever the order found here)
        found.sort(kind="stable")  # runs of ascending positions (one per trigger value): near O(n)
        equity_all, req_all = sim.health(found)
    else:
        iso = b.isolated[found]
        equity_all = np.where(iso, sim.pos_eq[found], sim.acc_eq[b.account[found]])
        req_all = np.where(iso, sim.pos_mm[found], sim.acc_mm[b.account[found]])
    ratio_all = equity_all / np.maximum(req_all, 1)
    if sim.M > 1:
        sim.excluded[found] = True  # no position found this step is another's ADL counterparty
    for m in instruments:
        if sim.M == 1:
            sel = slice(None)
        else:
            sel = np.flatnonzero(b.instrument[found] == m)
            if sel.size == 0:
                continue
        order = found[sel]
        sort = np.lexsort((order, ratio_all[sel]))
        order = order[sort]
        equity = np.asarray(equity_all[sel])[sort].copy()
        req = np.asarray(req_all[sel])[sort].copy()
        mark = int(sim.marks[m])
        batch = Batch(t, m, mark, float(sim.centre_ticks[m][t]), order, equity, req, sim.buf.n)
        for mechanism in sim.mechanisms:  # phase 5a: the backstop takes over, per-step limits hold back
            if not batch.order.size:
                break
            mechanism.take(sim, batch)
        if batch.order.size:
            liquidate_batch(sim, batch)
        sim.touched(sim.buf.cols["position"][batch.first_event : sim.buf.n].copy())
        for mechanism in sim.mechanisms:  # phase 5d
            mechanism.after_stage(sim, batch)
        sim.flush(t, m)
    if sim.M > 1:
        sim.excluded[found] = False


def liquidate_batch(sim, batch: Batch) -> None:
    """Liquidate ``batch.order`` (positions on instrument ``m``, sorted; ``batch.equity`` its exact equity at
    the mark, money) through the stage, in ``m``'s book, fund and ADL queue, each order sized by the
    mechanisms (phase 5b; a sizing mechanism may drop positions that need no order, and when none is left
    the stage does not run)."""
    b, m, t, mark = sim.book, batch.m, batch.t, batch.mark
    v = int(sim.vpl[m])
    batch.lots = np.zeros(batch.order.shape[0], dtype=np.int64)
    for mechanism in sim.mechanisms:  # phase 5b: partial liquidation, per-step limits
        mechanism.size(sim, batch)
    order, partial = batch.order, batch.lots
    if not order.size:
        return
    if sim.M > 1:  # contagion: a cross position in profit that the stage closes, taken down by its account's
        # other positions (counted here, after the mechanisms took theirs or made them wait)
        dragged = (b.size[order] * mark * v - b.cost[order] > 0) & ~b.isolated[order]
        sim.contagion[m] += int(dragged.sum())
        sim.contagion_notional[m] += int((np.abs(b.size[order[dragged]]) * mark * v).sum())
    batch.size_before = b.size[order].copy()
    sim.excluded[order] = True
    # the ADL queue values its counterparties when it first needs them: one sweep then, so an account an earlier
    # liquidation or ADL fill of this step changed (on this instrument or another) ranks as it now stands
    equities = None if sim.use_triggers else sim.equities
    tiers = sim.tiers_of(m)
    queue = AdlQueue(b, m, mark, v, equities, sim.excluded, sim.adl_policy, tiers,
                     lambda name: sim.position_data(name, t), offset_key=(sim.seed, t, m))  # fmt: skip
    adl_on = 0 if any(mechanism.replaces_adl for mechanism in sim.mechanisms) else 1
    valuation = sim.valuation(sim.marks.copy())
    adl_ctl, fill_px = sim.adl_triggers[m].control(t, int(sim.funds.of(m)[0]), sim.fund_s_all[m], mark,
                                                    sim.mark_s_all[m])  # fmt: skip
    run_stage(order, b, v, sim.fee_ppm, batch.centre, sim.states[m], sim.curves[m], sim.lp_positions[m],
              sim.lp_weights[m], sim.funds.of(m), queue, sim.buf, partial, adl_on, valuation, adl_ctl,
              fill_px, sim.liq_order.at(t))  # fmt: skip
    batch.ran = True
    if sim.M == 1:
        sim.excluded[order] = False
