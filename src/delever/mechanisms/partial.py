"""Partial liquidation: how many lots of a liquidatable position to close instead of all of it.

``tier`` (BitMEX "submit a FillOrKill order sized to bring position below a lower risk-limit tier", Bybit
"(c) FillOrKill order of current position value - lower risk-limit value", venues.md sections 2-3): try the
lower tiers from the nearest down; keep the largest size whose notional at the mark lies strictly inside the
tier (``< cap``; on size tiers, the largest size of the tier) and at which the account, after paying the
liquidation fee on the closed part, is at or above that tier's maintenance margin. If no lower tier restores it
(or the position is in the lowest tier, where BitMEX and Bybit close at once), close it whole. The closed part
fills in the book at its own price, so a partial fill can still leave the account short; then it is liquidated
again at the next step.

``tiers_per_step = N`` (OKX "reduce two tiers per step, repeat", venues.md section 4 [3P rewrite of OKX help];
Bitget "partial liquidation reducing two tiers", section 8): only the N nearest lower tiers are tried; if none
restores the account, the position is reduced to the N-th lower tier all the same (the published step) and is
liquidated again at the next step, N tiers further down. ``whole_tiers``: a position in one of the lowest
``whole_tiers`` tiers is closed whole (1: the lowest, BitMEX and Bybit; OKX: tiers 1-2, 2). The kept part's MM is
the scenario's requirement (:mod:`delever.requirement`): on size tiers the tier of the kept size, with the
size-linear rate, and on the kept part's entry value ``ceil(|cost| x keep / size)`` (rounded up: against the
account) where the MM is on entry value.

``slice`` (Hyperliquid, venues.md section 6 and TV-34): a position above ``slice_min_notional`` sends
``ceil(slice_fraction * size)`` per order; within ``cooldown_s`` after a partial, the next order is for the
whole position.

The liquidation stage performs a partial only if the account stays solvent after it (else whole).

Accounts with several positions (issue #11): the account is sized as a whole, as the margin sweep values it. Its
equity is the cross wallet plus the uPnL of all its cross positions at their instruments' marks, and the tier test
asks that equity less the fee to cover the kept part's MM plus the MM of the account's other positions
(``other_mm``). Instruments are liquidated in turn; a position whose account an earlier instrument's partial (or
whole) close of the same step brought back to its MM or above is left open (:func:`still_short`). The
liquidation stops once the account is back above maintenance: Binance's liquidation "first tries one large IOC
order to bring the account back above maintenance" and dYdX v4 re-checks the subaccount after each
position's liquidation (../shared/specs/engines.md section 1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..requirement import ENTRY_CROSS, ENTRY_ISOLATED
from ..tiers import BASIS_NOTIONAL, BASIS_SIZE, requirement
from ..units import PPM, ceil_div, money, mul_ppm_ceil, rate_ppm
from .base import Mechanism


class TierRule(NamedTuple):
    """How the ``tier`` mode steps down (module docstring): ``tiers_per_step`` (0: any number), ``whole_tiers``,
    the instrument's tier ``basis`` and size rate (:mod:`delever.tiers`), ``mm_entry`` the bits of the margin modes
    whose MM is on entry value (:data:`delever.requirement.ENTRY_ISOLATED`, ``ENTRY_CROSS``)."""

    tiers_per_step: int = 0
    whole_tiers: int = 1
    basis: int = BASIS_NOTIONAL
    rate: int = 0
    mm_entry: int = 0


DEFAULT_RULE = TierRule()
"""The engine's default tier mode: any number of tiers down, the lowest tier whole, notional tiers at the mark."""


def tier_lots(
    size: int,
    equity: int,
    mark: int,
    v: int,
    floors: np.ndarray,
    mmr: np.ndarray,
    cum: np.ndarray,
    fee_ppm: int,
    other_mm: int = 0,
    rule: TierRule = DEFAULT_RULE,
    cost: int = 0,
    isolated: bool = False,
) -> int:
    """Lots to close to reach the highest lower tier at which the account is back above MM; 0 = whole.

    ``size`` lots (signed), ``equity`` the account's (or isolated margin's) equity at the marks (money), ``mark``
    ticks, ``floors/mmr/cum`` one instrument's tier arrays, ``other_mm`` the MM of the account's other positions
    (money; 0 for a single-position account or an isolated position), ``rule`` the step rule and margin rule
    (:class:`TierRule`), ``cost`` the position's entry value (money, signed) and ``isolated`` its margin mode (read
    for an MM on entry value). The
    close is valued at the mark (the FillOrKill's reference), fee on the closed notional: the account is back
    when ``equity - fee >= MM(kept) + other_mm``.
    """
    q = abs(size)
    unit = mark * v
    on_size = rule.basis == BASIS_SIZE
    entry = rule.mm_entry & (ENTRY_ISOLATED if isolated else ENTRY_CROSS)
    current = int(np.searchsorted(floors, q if on_size else q * unit, side="right")) - 1
    if current < rule.whole_tiers:
        return 0
    lowest = max(current - rule.tiers_per_step, 0) if rule.tiers_per_step else 0
    step_keep = 0
    for j in range(current - 1, lowest - 1, -1):
        cap = int(floors[j + 1])
        keep = cap - 1 if on_size else (cap - 1) // unit  # the largest size strictly inside the tier
        if keep <= 0 or keep >= q:
            continue
        step_keep = keep
        closed = q - keep
        fee = mul_ppm_ceil(closed * unit, int(fee_ppm))
        value = -((-abs(cost) * keep) // q) if entry else keep * unit
        mm_after = requirement(value, keep, int(mmr[j]), rule.rate, int(cum[j]))
        if equity - fee >= mm_after + other_mm:
            return int(closed)
    if rule.tiers_per_step and step_keep:  # none restores it within N tiers: the published N-tier step
        return int(q - step_keep)
    return 0


def still_short(equity: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """bool mask: the positions whose account (or isolated margin) is still below maintenance, ``equity < mm``
    (money arrays of the same shape): the others' accounts are back and they are left open (module docstring)."""
    return np.asarray(equity) < np.asarray(mm)


def slice_lots(
    size: int, mark: int, v: int, fraction_ppm: int, min_notional: int, since_last_s: float, cooldown_s: float
) -> int:
    """Hyperliquid slicing: ``ceil(fraction * size)`` lots for a position above ``min_notional`` (money),
    outside the cooldown; 0 (whole) otherwise."""
    q = abs(size)
    if q * mark * v <= min_notional or since_last_s < cooldown_s:
        return 0
    lots = ceil_div(q * fraction_ppm, PPM)
    return int(lots) if 0 < lots < q else 0


def plan(
    mode: str,
    order: np.ndarray,
    sizes: np.ndarray,
    equity: np.ndarray,
    mark: int,
    v: int,
    floors: np.ndarray,
    mmr: np.ndarray,
    cum: np.ndarray,
    fee_ppm: int,
    fraction_ppm: int,
    min_notional: int,
    last_partial_s: np.ndarray,
    now_s: float,
    cooldown_s: float,
    other_mm: np.ndarray | None = None,
    rule: TierRule = DEFAULT_RULE,
    costs: np.ndarray | None = None,
    isolated: np.ndarray | None = None,
) -> np.ndarray:
    """Lots to close for each liquidatable position of ``order`` (0 = whole), int64 (len(order),); ``equity``
    (len(order),) each position's account (or isolated margin) equity, ``other_mm`` (len(order),) the MM of each
    one's account's other positions (money; None: none, single-position accounts); ``rule`` the tier mode's step
    and margin rule, ``costs`` and ``isolated`` (n,) the positions' entry values and margin modes (read when
    ``rule.mm_entry``)."""
    out = np.zeros(order.shape[0], dtype=np.int64)
    ks = range(order.shape[0])
    if mode == "tier" and order.size:
        q = np.abs(sizes[order])
        if int(q.max()) * mark * v < 2**63:
            # a position in one of the lowest tiers closes whole (tier_lots gives 0): only the others are sized
            key = q if rule.basis == BASIS_SIZE else q * (mark * v)
            ks = np.flatnonzero(np.searchsorted(floors, key, side="right") - 1 >= rule.whole_tiers).tolist()
    for k in ks:
        p = int(order[k])
        if mode == "tier":
            extra = 0 if other_mm is None else int(other_mm[k])
            cost = 0 if costs is None else int(costs[p])
            iso = False if isolated is None else bool(isolated[p])
            out[k] = tier_lots(
                int(sizes[p]), int(equity[k]), mark, v, floors, mmr, cum, fee_ppm, extra, rule, cost, iso
            )
        else:
            since = now_s - float(last_partial_s[p]) if math.isfinite(last_partial_s[p]) else math.inf
            out[k] = slice_lots(int(sizes[p]), mark, v, fraction_ppm, min_notional, since, cooldown_s)
    return out


class PartialLiquidation(Mechanism):
    """The step loop's partial liquidation (:mod:`delever.mechanisms.base`): sizes each order of a batch
    (:func:`plan`, with the instrument's current tiers), and after the stage records the time of each partial
    (the slice mode's cooldown) and the notional it closed."""

    name = "partial_liquidation"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> PartialLiquidation | None:
        pl = scenario.mechanisms.partial_liquidation
        return cls(pl) if pl.enabled else None

    def setup(self, sim) -> None:
        self.last_partial_s = np.full(sim.book.n_positions, -np.inf)  # time of each position's last partial

    def size(self, sim, batch) -> None:
        """Size the batch's orders (:func:`plan`). A multi-instrument run first values the accounts as they
        stand now, over all their positions (:meth:`Engine.account_margins`): the positions whose accounts
        an earlier instrument's liquidation of this step brought back to maintenance leave the batch
        (:func:`still_short`), and each order is sized against its account's equity and the MM of the
        account's other positions."""
        pl, b, m = self.config, sim.book, batch.m
        other_mm = None
        if sim.M > 1:
            equity, total_mm, own_mm = sim.account_margins(batch.order)
            short = still_short(equity, total_mm)
            batch.keep(short)
            batch.equity, batch.req, other_mm = equity[short], total_mm[short], (total_mm - own_mm)[short]
            if not batch.order.size:
                return
        floors, mmr, cum, basis, rate = sim.tiers_of(m)
        rule = TierRule(pl.tiers_per_step or 0, pl.whole_tiers, basis, rate, sim.scenario.margin.mm_entry())
        batch.lots = plan(
            pl.mode,
            batch.order,
            b.size,
            batch.equity,
            batch.mark,
            int(sim.vpl[m]),
            floors,
            mmr,
            cum,
            sim.fee_ppm,
            rate_ppm(pl.slice_fraction),
            money(pl.slice_min_notional),
            self.last_partial_s,
            batch.t * sim.dt,
            pl.cooldown_s,
            other_mm,
            rule,
            b.cost,
            b.isolated,
        )

    def after_stage(self, sim, batch) -> None:
        if not batch.ran:
            return
        b, order = sim.book, batch.order
        done = (batch.lots > 0) & (b.size[order] != 0)
        if done.any():
            self.last_partial_s[order[done]] = batch.t * sim.dt
            closed = np.abs(batch.size_before[done] - b.size[order][done])
            v = int(sim.vpl[batch.m])
            sim.note(self.name, b.account[order[done]], int((closed * batch.mark * v).sum()))

    def finish(self, sim, extra: dict) -> None:
        self.last_partial_s = None  # the run is over: a per-position array let go before the results are built
