"""Steps whose full margin sweep cannot list anyone, told from a bound instead of sweeping (issue #17 goal 4).

A book whose cross accounts hold several positions is marked to market by one full sweep per step
(:func:`delever.sweep.margin_sweep`); at 1M accounts x 3 instruments that sweep is 88% of the run. A sweep that
lists nobody leaves the book as it was (nothing is liquidated, so nothing else moves that step either), and from
its figures a bound says, for the next steps' marks, whether any account or isolated position could have
reached its maintenance margin since; when none could, the sweep would list nobody again and is skipped. The
decision is exact: the sweep is skipped only when its answer (nobody) is certain.

The bound. At the marks ``P0`` of the last sweep that listed nobody, a cross account's slack is its equity
minus its maintenance margin (the sweep's ``acc_equity - acc_mm``; ``acc_mm`` is a float estimate there, so a
guard of ``2 * positions + 3`` money units plus ``1e-9`` of the margin covers its truncation, the float error
below 1e-3, and the rounding up of each position's margin at both marks; one guard for every account, taken at
the most positions of any account and the largest margin). When the marks move to ``P``, the
account's equity falls by at most ``sum |size| * v_m * |P_m - P0_m|`` (uPnL is linear in the mark, ``v_m`` the
value of one lot per tick) and its maintenance margin rises by at most ``sum |size| * v_m * |P_m - P0_m| *
max MMR_m``: the tiered margin ``notional * MMR_j - cum_j`` is continuous in the notional (each tier's
maintenance amount ``cum_j`` is set so; :func:`continuous` checks it to one money unit per tier, and the guard
adds one per tier a position could cross), with slope at most the instrument's highest rate. So the account
cannot be liquidatable at ``P`` while ``slack > sum_m exposure_m * |P_m - P0_m|`` with ``exposure_m = sum |size|
* v_m * (1 + max MMR_m)`` over its positions on instrument ``m``; an isolated position likewise with its own
margin and exposure. Sizes only shrink between sweeps (liquidation and ADL close positions; nothing opens them
in the runs this is used for), so the exposures of the starting book bound every later book's; the engine
reports the positions a step changed (:meth:`SweepSkip.touched`) and their exposures are brought down to their
sizes. Exposures are integers (lots x value per tick) kept in float64, exact below 2**53 (checked: above it the
sweep is never skipped).

Used only where nothing but liquidations changes the book between steps: a multi-instrument run with no
mechanism other than cross margin (and position limits, which act on the generated book) on and no
per-step liquidation limits (:class:`delever.engine.Simulation` decides); the
anchor is dropped at a step with a final settlement.
"""

from __future__ import annotations

import numpy as np

PPM = 1_000_000
MAX_BACKOFF = 63
"""Most sweeps in a row that take no anchor after the bound failed (it doubles with each failure: 1, 3, 7, ...)."""


def continuous(floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, n_tiers: np.ndarray) -> bool:
    """Whether every instrument's tiered margin ``notional * mmr_j / 1e6 - cum_j`` (rows of the (M, k) arrays
    of :func:`delever.engine.tier_arrays`) jumps by at most one money unit at each tier's floor."""
    for m in range(floors.shape[0]):
        for j in range(1, int(n_tiers[m])):
            f = int(floors[m, j])
            below = f * int(mmr[m, j - 1]) - int(cum[m, j - 1]) * PPM
            above = f * int(mmr[m, j]) - int(cum[m, j]) * PPM
            if abs(above - below) > PPM:
                return False
    return True


class SweepSkip:
    """The bound of the module docstring for one run's book.

    Built from the starting book: ``account``, ``size``, ``isolated``, ``instrument`` (n,) positions and
    ``exempt`` (a,) accounts (liquidity providers, never listed), ``vpl`` (M,) value of a lot per tick, the tier
    arrays (M, k). :meth:`anchor` takes a sweep's figures, :meth:`safe` says whether the next step's marks may
    skip the sweep, :meth:`drop` forgets the anchor (the book changed), :meth:`touched` takes the positions a
    step changed (their sizes only shrink: an exposure not yet updated is too high, which only makes the bound
    more cautious).
    """

    def __init__(self, account, size, isolated, instrument, exempt, vpl, mmr, n_tiers) -> None:
        na, M = exempt.shape[0], vpl.shape[0]
        self.account, self.instrument, self.vpl = account, instrument, vpl
        self.counted = (size != 0) & ~exempt[account]  # positions the sweep could list
        self.rate = 1.0 + mmr.max(axis=1) * 1e-6  # (M,) 1 + the highest MMR of each instrument
        lots = np.abs(size)
        small = lots.size == 0 or int(lots.max()) < 2**31
        self.held = np.where(self.counted, lots, 0).astype(np.int32 if small else np.int64)  # lots, last update
        del lots
        cross = self.counted & ~isolated
        # (a, M): each account's cross lots x value per tick, per instrument: integers, exact in float64 below
        # 2**53 (checked), updated by ``touched``
        self.exposure = np.zeros((na, M))
        for m in range(M):
            on = cross & (instrument == m)
            self.exposure[:, m] = np.bincount(account[on], weights=self.held[on] * vpl[m], minlength=na)
            del on
        self.exact = float(self.exposure.max(initial=0.0)) < 2**52
        tiers = int(n_tiers.max()) if n_tiers.size else 1
        most = int(np.bincount(account[cross], minlength=1).max(initial=0))  # most cross positions of an account
        self.guard = most * (2.0 + tiers) + 3.0
        self.iso = np.flatnonzero(self.counted & isolated)
        self.iso_instrument = instrument[self.iso]
        self.iso_guard = 5.0 + tiers
        self.marks: np.ndarray | None = None
        self.slack = self.iso_slack = self.closed = self.iso_weights = self.iso_closed = None
        # back-off: after a bound that did not hold, the next ``wait`` sweeps take no anchor (taking one costs a
        # pass over the accounts; in a run where someone is always at the edge it would never pay)
        self.backoff = 0
        self.wait = 0
        self.skipped = 0  # sweeps skipped (for the benchmarks)

    def touched(self, positions: np.ndarray, size: np.ndarray) -> None:
        """Positions whose size may have changed (ids, repeats allowed): their exposures at today's sizes."""
        p = np.unique(positions[positions >= 0])
        p = p[self.counted[p]]
        now = np.abs(size[p])
        change = now - self.held[p]
        if not change.any():
            return
        self.held[p] = now
        self.closed = None  # recomputed at the next anchor
        np.add.at(self.exposure, (self.account[p], self.instrument[p]), change * self.vpl[self.instrument[p]])

    def drop(self) -> None:
        """Forget the anchor: the next step sweeps."""
        self.marks = None
        self.wait = max(self.wait - 1, 0)

    def anchor(self, marks, acc_equity, acc_mm, pos_equity, pos_mm) -> None:
        """The figures of a sweep at ``marks`` (ticks, (M,)) that listed nobody (:func:`delever.sweep.margin_sweep`'s
        outputs): each account's and isolated position's slack above its guard (none while backing off, or
        when an exposure could be inexact in float64). An account or isolated position with nothing open left
        cannot be listed: its slack is infinite. The guard's relative part is taken at the largest margin."""
        if self.wait or not self.exact:
            self.drop()
            return
        if self.closed is None:  # the exposures changed since the last anchor
            self.closed = ~self.exposure.any(axis=1)
            held = self.held[self.iso]
            self.iso_weights = held * self.vpl[self.iso_instrument] * self.rate[self.iso_instrument]
            self.iso_closed = held == 0
        slack = acc_equity.astype(np.float64)
        slack -= acc_mm
        largest = max(int(acc_mm.max(initial=0)), -int(acc_mm.min(initial=0)))
        slack -= self.guard + 1e-9 * largest
        slack[self.closed] = np.inf
        self.slack = slack
        i = self.iso
        imm = pos_mm[i].astype(np.float64)
        iso_slack = pos_equity[i] - imm - self.iso_guard - 1e-9 * np.abs(imm)
        iso_slack[self.iso_closed] = np.inf
        self.iso_slack = iso_slack
        self.marks = marks.astype(np.float64)

    def safe(self, marks) -> bool:
        """Whether no account and no isolated position can be liquidatable at ``marks`` (ticks, (M,)): the sweep
        there would list nobody. False when there is no anchor."""
        if self.marks is None:
            return False
        move = np.abs(marks.astype(np.float64) - self.marks)
        ok = not move.any() or (
            bool(np.all(self.exposure @ (self.rate * move) < self.slack))
            and (self.iso.size == 0 or bool(np.all(self.iso_weights * move[self.iso_instrument] < self.iso_slack)))
        )
        if ok:
            self.backoff = 0
            self.skipped += 1
        else:
            self.backoff = min(2 * self.backoff + 1, MAX_BACKOFF)
            self.wait = self.backoff
        return ok
