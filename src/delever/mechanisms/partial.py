"""Partial liquidation: how many lots of a liquidatable position to close instead of all of it.

``tier`` (BitMEX "submit a FillOrKill order sized to bring position below a lower risk-limit tier", Bybit
"(c) FillOrKill order of current position value - lower risk-limit value", venues.md sections 2-3): try the
lower tiers from the nearest down; keep the largest size whose notional at the mark lies strictly inside the
tier (``< cap``) and at which the account, after paying the liquidation fee on the closed part, is at or above
that tier's maintenance margin. If no lower tier restores it (or the position is in the lowest tier, where
BitMEX and Bybit close at once), close it whole. The closed part fills in the book at its own price, so a
partial fill can still leave the account short; then it is liquidated again at the next step.

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
from fractions import Fraction

import numpy as np

from ..tiers import bracket_maintenance_margin
from ..units import PPM, ceil_div, money, mul_ppm_ceil, rate_ppm
from .base import Mechanism


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
) -> int:
    """Lots to close to reach the highest lower tier at which the account is back above MM; 0 = whole.

    ``size`` lots (signed), ``equity`` the account's (or isolated margin's) equity at the marks (money), ``mark``
    ticks, ``floors/mmr/cum`` one instrument's tier arrays, ``other_mm`` the MM of the account's other positions
    (money; 0 for a single-position account or an isolated position). The close is valued at the mark (the
    FillOrKill's reference), fee on the closed notional: the account is back when ``equity - fee >= MM(kept) +
    other_mm``.
    """
    q = abs(size)
    unit = mark * v
    notional = q * unit
    current = int(np.searchsorted(floors, notional, side="right")) - 1
    for j in range(current - 1, -1, -1):
        cap = int(floors[j + 1])
        keep = (cap - 1) // unit  # largest size whose notional is strictly below the tier's cap
        if keep <= 0:
            continue
        if keep >= q:
            continue
        closed = q - keep
        fee = mul_ppm_ceil(closed * unit, int(fee_ppm))
        mm_after = bracket_maintenance_margin(keep * unit, Fraction(int(mmr[j]), PPM), int(cum[j]))
        if equity - fee >= mm_after + other_mm:
            return int(closed)
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
) -> np.ndarray:
    """Lots to close for each liquidatable position of ``order`` (0 = whole), int64 (len(order),); ``equity``
    (len(order),) each position's account (or isolated margin) equity, ``other_mm`` (len(order),) the MM of each
    one's account's other positions (money; None: none, single-position accounts)."""
    out = np.zeros(order.shape[0], dtype=np.int64)
    ks = range(order.shape[0])
    if mode == "tier" and order.size:
        q = np.abs(sizes[order])
        if int(q.max()) * mark * v < 2**63:
            # a position in the lowest tier has no lower tier to reach (tier_lots gives 0): only the others are
            # sized one by one
            ks = np.flatnonzero(np.searchsorted(floors, q * (mark * v), side="right") - 1 > 0).tolist()
    for k in ks:
        p = int(order[k])
        if mode == "tier":
            extra = 0 if other_mm is None else int(other_mm[k])
            out[k] = tier_lots(int(sizes[p]), int(equity[k]), mark, v, floors, mmr, cum, fee_ppm, extra)
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
        floors, mmr, cum = sim.tiers_of(m)
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
