"""Socialized loss instead of ADL, and negative-balance protection: over the winners' profit (Deribit) or
through the cumulative funding rate on both sides (Drift).

``mode = "winners"`` (the default): when the insurance fund cannot cover a bankrupt account, Deribit socializes
the loss "among the winning traders for that day" (../shared/specs/venues.md section 5; old OKX and Huobi did the
same). Here, at the end of each step, the deficits of the protected bankrupt accounts of that step are clawed
back from every winner (a position with unrealized profit at the mark, not liquidated this step, not a
liquidity provider or vault) pro rata to its unrealized profit, capped at it: ``h_i = need * upnl_i /
sum(upnl)``, split exactly by largest remainder.

``mode = "funding"`` (Drift v2, ../shared/specs/engines.md section 2; drift-labs/protocol-v2
``controller/liquidation.rs`` ``resolve_perp_bankruptcy`` and ``math/liquidation.rs``
``calculate_funding_rate_deltas_to_resolve_bankruptcy``): what the fund did not pay is socialized by adding
``loss / (|long OI| + |short OI|)`` to the market's long cumulative funding rate and subtracting it from the short
one, so every open contract of the market, **long or short, in profit or not**, pays the same amount per unit.
The engine's liquidity providers stand for the book, as Drift's AMM does, whose position is not in the users'
``base_asset_amount_long/short`` and pays none; they and the backstop vault are exempt here as from every forced
transfer of the engine, so the loss is shared over the traders' open lots. Drift settles a
position's funding when the position is next touched and counts the unsettled part in its margin, so the
amount each position owes is fixed when the rate moves (``delta x base`` then) [INF]; the engine settles it in
the same step. Shares: :func:`funding_shares`, ``need x |size_i| / sum |size|`` split exactly by largest
remainder, so they sum to the loss (Drift rounds the per-unit delta down, which leaves the last units unpaid:
here no unit is lost and none is made). Uncapped: a position may pay more than its margin and be liquidated
at a later step, as on Drift. A market with no open interest left cannot socialize (Drift raises
``CantResolvePerpBankruptcy``): the debt stays, unrecovered. The insurance fund's caps before it (the vault
keeps one unit, the per-market ``quote_max_insurance``) are :mod:`.insurance_cap`'s.

In both modes the payers pay from their wallet (cross) or isolated margin into a pool (``clawback`` rows) and
the pool pays the bankrupt accounts back to zero (``clawback_received`` rows): every transfer has a payer and a
payee. An account without negative-balance protection keeps its negative balance: a debt the venue would collect
from the user, reported as unrecovered bad debt.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

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


def funding_shares(need: int, sizes: np.ndarray) -> np.ndarray:
    """Each open position's share (money, int64) of a loss ``need`` socialized through the cumulative funding
    rate (``mode = "funding"``, module docstring): the same amount per unit on both sides, ``need x |size_i| /
    sum |size|``, split exactly by largest remainder (:func:`delever.allocation.split`, ties to the lower index),
    uncapped, summing to ``need``. ``sizes`` int64 (n,) signed lots; zeros when nothing is owed or nobody holds
    a position."""
    weights = np.abs(np.asarray(sizes, dtype=np.int64))
    if need <= 0 or weights.size == 0 or not weights.any():
        return np.zeros_like(weights)
    return split(int(need), weights)


def loss_per_lot(need: int, sizes: np.ndarray) -> Fraction:
    """Drift's cumulative funding rate delta of a socialized loss, exactly: ``need / (|long OI| + |short OI|)``
    (money per lot; ``calculate_funding_rate_deltas_to_resolve_bankruptcy``), 0 with no open interest."""
    total = exact_sum(np.abs(np.asarray(sizes, dtype=np.int64)))
    return Fraction(int(need), total) if total else Fraction(0)


class SocializedLoss(Mechanism):
    """The step loop's socialized loss (:mod:`delever.mechanisms.base`), which replaces ADL: after each batch's
    stage, the batch's unrecovered bad debt of protected accounts on its instrument is clawed back from that
    instrument's winners, pro rata (:func:`pro_rata`; a per-contract rule: OKX and BitMEX socialize within one
    contract), and paid to the debtors in order until what was collected runs out; with ``mode = "funding"``
    the payers are every open trader position of the instrument, by size (:func:`funding_shares`), and the per-lot
    deltas are summed in the figures (``cumulative_loss_per_lot``, money units per lot, exact)."""

    name = "socialized_loss"
    replaces_adl = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> SocializedLoss | None:
        sl = scenario.mechanisms.socialized_loss
        return cls(sl) if sl.enabled else None

    def setup(self, sim) -> None:
        self.per_lot = [Fraction(0)] * sim.M

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
        if self.config.mode == "funding":
            winners = np.flatnonzero((b.size != 0) & ~b.exempt[b.account] & sim.on(batch.m))
            share = funding_shares(need, b.size[winners])
            self.per_lot[batch.m] += loss_per_lot(int(share.sum()), b.size[winners])
        else:
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

    def finish(self, sim, extra: dict) -> None:
        if self.config.mode == "funding":
            extra[self.name]["cumulative_loss_per_lot"] = str(self.per_lot[0])  # the scenario instrument's

    def instrument_figures(self, sim, m: int, record: dict) -> None:
        if self.config.mode == "funding":
            record["cumulative_loss_per_lot"] = str(self.per_lot[m])
