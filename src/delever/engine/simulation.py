"""The step loop (:class:`Simulation`, :func:`run`): one step of every instrument in the order the package
docstring (:mod:`delever.engine`) gives, the mechanisms called at their phases (:mod:`delever.mechanisms.base`),
and the compiled loop of quiet steps (:func:`quiet_steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from numba import njit

from .. import events as ev
from ..adl.queue import AdlQueue
from ..adl.trigger import AdlTriggerState
from ..columns import KERNEL, BookCols, MarkState, SeriesCols, SweepCols
from ..insurance import InsuranceFunds
from ..liquidation import AccountValuation, run_stage
from ..liquidity import marginal_price, refill_factor
from ..mark import MarkPrice, band_fraction, mark_of
from ..mechanisms import registry
from ..mechanisms.base import Batch
from ..scenario import Scenario
from ..settlement import SettlementReport, check_expiry, expiry_ns, settle_at
from ..sweep import account_health, margin_sweep, position_health, update_triggers
from ..sweep_skip import SweepSkip, continuous
from ..tiers import tier_arrays, tier_rules
from ..trigger_index import TriggerIndex, scan_triggers
from ..units import money, rate_ppm
from .adl_columns import position_column
from .invariants import check_conservation, trigger_mode
from .market import Market, MultiMarket, prepare
from .result import RunResult, build_result


def run(
    scenario: Scenario,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    market: Market | None = None,
    check_every_step: bool = False,
    full_sweep: bool = False,
    checkpoint: StepCheckpoint | None = None,
) -> RunResult:
    """Run a scenario. ``seed`` overrides the scenario's; ``progress(done, total)`` is called now and then;
    ``checkpoint`` (``delever run --resume``, :mod:`delever.checkpoint`) restores a saved state before the first
    step and saves one as the loop goes: the one step loop serves both.

    When every cross account holds one position, liquidations are found from each position's exact
    trigger price (:func:`delever.sweep.trigger_price`), kept sorted (:mod:`delever.trigger_index`) and
    recomputed for the positions a step touched; ``full_sweep=True`` (or a book with multi-position cross
    accounts) marks the whole book to market every step instead (:func:`delever.sweep.margin_sweep`). Both
    give the same events (tested).

    Raises:
        InputError: bad input files or values.
        ConservationError: the money identity changed (a bug; checked at the end, and every step with
            ``check_every_step``).
    """
    seed = scenario.seed if seed is None else seed
    own = market is None
    if (scenario.mechanisms.cross_margin.enabled or scenario.options) and not isinstance(market, MultiMarket):
        from ..contagion import prepare_multi

        market, own = prepare_multi(scenario, seed), True
    m = market or prepare(scenario, seed)
    # a market prepared here is ours: the simulation may work on its book instead of a copy
    sim = Simulation(scenario, seed, m, full_sweep=full_sweep, check_every_step=check_every_step, own_book=own)
    t = 0 if checkpoint is None else checkpoint.resume(sim)
    report = t + 1
    while t < sim.T:
        t = sim.advance(t)  # the quiet steps, in one compiled loop
        if t < sim.T:
            sim.step(t)
            t += 1
        if progress is not None and (t >= report or t == sim.T):
            progress(t, sim.T)
            report = t + 64
        if checkpoint is not None and t < sim.T:
            checkpoint.after_steps(sim, t)
    if checkpoint is not None:
        checkpoint.engine_done(sim, t)
    return sim.result()


class StepCheckpoint(Protocol):
    """What :func:`run` asks of a checkpoint (:class:`delever.checkpoint.PeriodicStateSaver`)."""

    def resume(self, sim: Simulation) -> int:
        """Replace ``sim``'s state with a saved one; return the steps it had done (0: start afresh)."""

    def after_steps(self, sim: Simulation, t: int) -> None:
        """Called after the loop reaches step ``t`` (< the run's step count); may save ``sim``'s state."""

    def engine_done(self, sim: Simulation, t: int) -> None:
        """Called once the last step is done, before the result is built."""


@njit(**KERNEL)
def quiet_steps(t, t_end, mark_state, marks, fund, series, triggers, out):
    """Steps ``t, t+1, ...`` as :meth:`Simulation.step` runs them while the mark reaches no trigger and no
    per-step mechanism is on (refill, last price, mark, an empty scan, the step's series), with the same
    floating-point operations in the same order. Stops at the first step whose scan lists a position, leaving
    that step untouched (the stamps its scan set are cleared) for :meth:`Simulation.step`; returns it.

    ``mark_state`` a :class:`delever.columns.MarkState` (its book net and EMA updated), ``marks`` int64 (M,) the
    marks (ticks; instrument 0's set), ``fund`` int64 (M,) the insurance funds (money), ``series`` a
    :class:`delever.columns.SeriesCols` (steps written), ``triggers`` a :class:`delever.columns.TriggerCols`,
    ``out`` the scan's scratch (n,)."""
    ms = mark_state
    while t < t_end:
        centre = ms.index_ticks[t]
        s = ms.net[0] * ms.refill
        last = marginal_price(centre, s, ms.curve)
        e = ms.ema[0] + ms.alpha * ((last - centre) - ms.ema[0])
        mark = mark_of(centre, e, last, ms.band)
        count = scan_triggers(mark, triggers, t, out)
        if count:
            for j in range(count):
                triggers.stamp[out[j]] = -1  # the step is left to the caller, whose scan must list these again
            return t
        ms.net[0] = s
        ms.ema[0] = e
        marks[0] = mark
        series.mark[t] = mark
        series.last[t] = marginal_price(centre, s, ms.curve)
        series.fund[t] = fund[0]
        t += 1
    return t


class Simulation:
    """The state of one run and its step (:mod:`delever.engine` gives the order of a step), over the run's
    instruments ``0..M-1``: the scenario's instrument, and for a multi-instrument run
    (:func:`delever.contagion.prepare_multi`) the extra ones, each with its own index path, book, mark,
    insurance fund, ADL queue and per-instrument mechanism state. What the mechanisms may use of it is
    :class:`delever.mechanisms.base.Engine`."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        m,
        full_sweep: bool = False,
        check_every_step: bool = False,
        own_book: bool = False,
    ) -> None:
        """``m``: a :class:`Market` (one instrument) or a :class:`MultiMarket` (several)."""
        self.scenario, self.seed, self.market = scenario, seed, m
        self.check_every_step = check_every_step
        self.mech = scenario.mechanisms
        # the enabled mechanisms, called at the phases of a step (delever.mechanisms.base), in registry order
        self.mechanisms = registry.build(scenario)
        if isinstance(m, Market):
            insts, paths, curves = [m.instrument], [m.path], [m.curve]
            funds = [money(scenario.insurance_fund.balance)]
            centres, windows = [m.path.index], [scenario.instrument.settlement_window_s]
            self.base = m
        else:  # a multi-instrument market
            insts, paths, curves, funds = list(m.instruments), list(m.paths), list(m.curves), list(m.funds)
            centres, windows = list(m.centres), list(m.settlement_windows)
            self.base = m.base
        self.M = M = len(insts)
        self.insts = insts
        inst = self.inst = insts[0]
        book = m.book if own_book else m.book.copy()
        traders_and_lps = book.n_accounts
        for mechanism in self.mechanisms:  # phase 0: mechanisms' own accounts (the backstop vault)
            book = mechanism.add_accounts(self, book)
        self.added_accounts = book.n_accounts - traders_and_lps
        self.book = book
        self.start_snapshot = book.packed_snapshot()  # the starting book, unpacked at the end (result)
        self.paths, self.path = paths, paths[0]
        self.time_ns = self.path.time_ns
        self.windows = windows
        self.curves_base = [c.arrays() for c in curves]
        self.curves = list(self.curves_base)
        self.vpl = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
        self.v = int(self.vpl[0])
        self.fee_ppm = rate_ppm(scenario.fees.liquidation_fee_rate)
        # what backs a cross position of a multi-position account at its bankruptcy price (the venue's rule:
        # [liquidation] cross_backing, delever.margin.cross_backing) and its liquidation order (delever.ioc_order)
        self.backing_rule, self.liq_order = scenario.liquidation.backing_rule(), scenario.liquidation.order_rule()
        self.adl_policy = scenario.adl.build()
        # (time ns, positions, amounts) of each funding settlement: the hierarchy's funding_received key
        self.funding_history: list[tuple[int, np.ndarray, np.ndarray]] = []
        # one fund per instrument, or one shared by all ([insurance_fund] shared, delever.insurance)
        self.funds = InsuranceFunds([int(f) for f in funds], scenario.insurance_fund.shared)
        self.fund = self.funds.balance
        self.fund_start = int(sum(self.funds.starts))
        self.money_start = book.total_money(self.fund)
        self.adl_triggers = [
            AdlTriggerState(scenario.adl, self.funds.start_of(m), scenario.step_seconds) for m in range(M)
        ]
        self.adl_trigger = self.adl_triggers[0]  # the scenario instrument's
        n = book.n_positions
        self.tiers_base = [i.tiers for i in insts]
        self.tiers_now = list(self.tiers_base)
        self._tier_arrays()
        self.use_triggers = M == 1 and not full_sweep and trigger_mode(book, inst)
        # per-position work arrays of the full sweep: allocated at once for the full-sweep path, on first use
        # (an ADL step) for the trigger path, so a healthy run holds only the book and its triggers
        self.sweep_arrays_ready = False
        if not self.use_triggers:
            self._alloc_sweep_arrays()
        # the positions a step finds (int32 from the trigger index of a book under 2**31 positions)
        self.liq_out = np.zeros(n, dtype=np.int32 if self.use_triggers and n < 2**31 else np.int64)
        self.excluded = np.zeros(n, dtype=bool)
        lp_mask = book.exempt[book.account] & (book.account < traders_and_lps)  # mechanisms' accounts provide none
        if M == 1:
            self.lp_positions = [np.flatnonzero(lp_mask).astype(np.int64)]
        else:
            self.lp_positions = [np.flatnonzero(lp_mask & (book.instrument == k)).astype(np.int64) for k in range(M)]
        self.lp_pos = self.lp_positions[0]
        self.lp_weights = [np.ones(p.shape[0], dtype=np.int64) for p in self.lp_positions]
        if self.lp_pos.size == 0:
            raise ValueError("the book needs at least one liquidity-provider position")
        band = band_fraction(scenario.mark.max_deviation_pct)
        self.mark_rules = [MarkPrice(scenario.mark.basis_ema_s, band=band) for _ in range(M)]
        self.mark_rule = self.mark_rules[0]
        self.dt = dt = scenario.step_seconds
        self.refill = refill_factor(dt, scenario.liquidity.resilience_half_life_s)
        self.states = [np.zeros(1, dtype=np.float64) for _ in range(M)]
        self.buf = ev.EventBuffer()
        self.log = ev.EventLog()
        self.T = T = self.path.steps
        ticks = [float(i.tick_size) for i in insts]
        self.index_ticks_all = [p.index / tk for p, tk in zip(paths, ticks)]
        self.index_ticks = self.index_ticks_all[0]
        # the book's centre: the index, or a dated future's index plus its basis (multi-instrument markets)
        self.centre_ticks = [self.index_ticks] + [c / tk for c, tk in zip(centres[1:], ticks[1:])]
        self.mark_s_all = [np.zeros(T, dtype=np.int64) for _ in range(M)]
        self.last_s_all = [np.zeros(T, dtype=np.float64) for _ in range(M)]
        self.fund_s_all = [np.zeros(T, dtype=np.int64) for _ in range(M)]
        self.mark_s, self.last_s, self.fund_s = self.mark_s_all[0], self.last_s_all[0], self.fund_s_all[0]
        self.marks = np.zeros(M, dtype=np.int64)
        self.trigger = np.zeros(n, dtype=np.int64)
        self.index = None
        if self.use_triggers:
            self._rebuild_triggers()
        self.expiries = [expiry_ns(i) if i.expiry is not None else None for i in insts]
        if T:
            check_expiry(inst, int(self.time_ns[0]), "instrument.expiry")
        self.settled: list[SettlementReport | None] = [None] * M
        # the compiled loop of quiet steps stops before a dated future's expiry step, which settles it
        expiry_step = np.searchsorted(self.time_ns, self.expiries[0]) if self.expiries[0] is not None else T
        self.quiet_until = int(min(expiry_step, T))
        # quiet steps (the mark reaches no trigger) run in one compiled loop unless a mechanism acts every step
        per_step = any(mechanism.per_step for mechanism in self.mechanisms)
        self.fast = self.use_triggers and not check_every_step and not per_step
        self.alpha = self.mark_rule.alpha(dt)
        self.extra: dict = {name: {"fired_steps": 0, "accounts": 0, "notional": 0} for name in self.mech.enabled()}
        self.noted_accounts: dict[str, np.ndarray] = {}
        # full-sweep runs where only liquidations change the book (no mechanism acts in the step): skip the sweeps
        # that could list nobody (exact; delever.sweep_skip)
        self.sweep_skip = None
        quiet_book = not self.mechanisms and not self.rule[4]  # and the default margin rule (delever.requirement)
        if not self.use_triggers and not full_sweep and quiet_book and continuous(*self.tier_args()):
            self.sweep_skip = SweepSkip(book.account, book.size, book.isolated, book.instrument, book.exempt,
                                        self.vpl, self.mmr, self.n_tiers)  # fmt: skip
        # multi-instrument runs: positions liquidated while in profit (taken down by another instrument)
        self.contagion = np.zeros(M, dtype=np.int64)
        self.contagion_notional = np.zeros(M, dtype=np.int64)
        for mechanism in self.mechanisms:  # phase 1
            mechanism.setup(self)

    # -- setup -------------------------------------------------------------------------------------------
    def _tier_arrays(self) -> None:  # the (M, k) tier arrays of tiers_now; rule: the valuation's margin fields
        self.floors, self.mmr, self.cum, self.n_tiers = tier_arrays(self.tiers_now)
        self.rule = tier_rules(self.tiers_now, self.backing_rule, self.scenario.margin.mm_entry())

    def set_tiers(self, m: int, tiers) -> None:
        """Instrument ``m``'s margin tiers become ``tiers`` (:class:`delever.tiers.RiskTiers`) from now on; the
        trigger prices follow."""
        self.tiers_now[m] = tiers
        self._tier_arrays()
        if self.use_triggers:
            self._rebuild_triggers()

    def tier_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The instruments' current tier arrays ``(floors, mmr, cum, n_tiers)`` (:func:`tier_arrays`)."""
        return self.floors, self.mmr, self.cum, self.n_tiers

    def tiers_of(self, m: int) -> tuple:  # (k,) floors, mmr ppm, cum of instrument m; its tier basis and size rate
        k, (_, basis, rate, _, on) = int(self.n_tiers[m]), self.rule
        return self.floors[m, :k], self.mmr[m, :k], self.cum[m, :k], int(on and basis[m]), int(on and rate[m])

    def _rebuild_triggers(self) -> None:
        self._update_triggers(np.arange(self.book.n_positions, dtype=np.int64))
        self.index = TriggerIndex(self.book.size, self.trigger)

    def _update_triggers(self, positions: np.ndarray) -> None:
        """Recompute the trigger prices of ``positions`` (sorted, unique) at the current tiers."""
        update_triggers(positions, BookCols.of(self.book), self.valuation(), self.trigger)

    def touched(self, positions: np.ndarray) -> None:
        """Positions whose size, cost or collateral changed: refresh their trigger prices (or the exposures of
        :mod:`delever.sweep_skip`)."""
        if self.sweep_skip is not None and positions.size:
            self.sweep_skip.touched(positions, self.book.size)
        if not self.use_triggers or positions.size == 0:
            return
        b = self.book
        positions = positions[positions >= 0]
        if positions.size > b.n_positions // 64:  # many: a mask is O(n) and beats sorting
            mask = np.zeros(b.n_positions, dtype=bool)
            mask[positions] = True
            positions = np.flatnonzero(mask)
        else:  # np.unique, sorted and deduplicated (cheaper for short lists)
            positions = np.sort(positions)
            positions = positions[np.concatenate(([True], positions[1:] != positions[:-1]))]
        self._update_triggers(positions)
        self.index.changed(positions)

    # -- helpers -----------------------------------------------------------------------------------------
    def _alloc_sweep_arrays(self) -> None:
        n, a = self.book.n_positions, self.book.n_accounts
        self.pos_eq, self.pos_mm, self.acc_eq, self.acc_mm = SweepCols.zeros(n, a)
        self.scratch = np.zeros(n, dtype=np.int64)
        self.sweep_arrays_ready = True

    def valuation(self, marks: np.ndarray | None = None) -> AccountValuation:
        """The instruments' marks (``marks``, default the current ones, shared), money per lot-tick, current
        tier tables and the scenario's cross backing rule (:class:`delever.columns.AccountValuation`)."""
        return AccountValuation(self.marks if marks is None else marks, self.vpl, *self.tier_args(), *self.rule)

    def _health(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity and MM (money) of the single-position accounts ``order`` at the marks."""
        equity, mm = np.zeros(order.size, dtype=np.int64), np.zeros(order.size, dtype=np.int64)
        position_health(order, BookCols.of(self.book), self.valuation(), equity, mm)
        return equity, mm

    def _full_sweep(self, out: np.ndarray) -> int:
        """Mark the whole book to market (:func:`delever.sweep.margin_sweep`, the bundle made per call: a checkpoint
        keeps arrays), then the mechanisms' requirements beyond the tiers; liquidatable positions to ``out``."""
        sweep = SweepCols(self.pos_eq, self.pos_mm, self.acc_eq, self.acc_mm)
        count = margin_sweep(BookCols.of(self.book), self.valuation(), sweep, out)
        return registry.after_sweep(self.mechanisms, self, out, count)  # phase 5' (option margin)

    def equities(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity of every position and account at the current marks (one full sweep)."""
        if not self.sweep_arrays_ready:
            self._alloc_sweep_arrays()
        self._full_sweep(self.scratch)
        return self.pos_eq, self.acc_eq

    def note(self, name: str, accounts: np.ndarray, notional: int) -> None:
        """Record that a mechanism fired this step on ``accounts`` (ids) and moved ``notional`` (money)."""
        rec = self.extra[name]
        rec["fired_steps"] += 1
        mask = self.noted_accounts.setdefault(name, np.zeros(self.book.n_accounts, dtype=bool))
        mask[np.asarray(accounts, dtype=np.int64)] = True
        rec["accounts"] = int(mask.sum())
        rec["notional"] += int(notional)

    def flush(self, t: int, m: int) -> None:
        """Move the buffer's events (instrument ``m``'s) into the log."""
        self.log.append(self.buf, t, int(self.time_ns[t]), m)

    def on(self, m: int) -> np.ndarray | bool:
        """Mask of the positions on instrument ``m`` (True when the run has one instrument)."""
        return True if self.M == 1 else self.book.instrument == m

    # -- the step ----------------------------------------------------------------------------------------
    def advance(self, t: int) -> int:
        """Run the quiet steps from ``t`` on (no position reached, no per-step mechanism on) in one compiled loop,
        exactly as :meth:`step` would; return the first step left to :meth:`step` (``T`` when none)."""
        if not self.fast or self.settled[0] is not None:
            return t
        ix = self.index
        ema = np.array([self.mark_rule.ema_basis])
        mark_state = MarkState(
            self.index_ticks, self.states[0], self.refill, self.curves[0], ema, self.alpha, self.mark_rule.band
        )
        series = SeriesCols(self.mark_s, self.last_s, self.fund_s)
        t = quiet_steps(t, self.quiet_until, mark_state, self.marks, self.fund, series, ix.columns(), self.liq_out)
        self.mark_rule.ema_basis = float(ema[0])
        return t

    def step(self, t: int) -> None:
        """One step over every instrument (module docstring): marks, expiries, per-instrument mechanisms, one
        margin sweep of the whole book (accounts valued over all their positions), liquidations instrument by
        instrument, the step's series. The mechanisms act at their phases (:mod:`delever.mechanisms.base`)."""
        b, M, mechanisms = self.book, self.M, self.mechanisms
        now = int(self.time_ns[t])
        expiring = [
            m for m in range(M) if self.expiries[m] is not None and self.settled[m] is None and now >= self.expiries[m]
        ]
        live = [m for m in range(M) if self.settled[m] is None and m not in expiring]
        for mechanism in mechanisms:  # phase 2
            mechanism.before_marks(self, t, live)
        for m in live:
            centre = float(self.centre_ticks[m][t])
            self.states[m][0] *= self.refill
            last = marginal_price(centre, self.states[m][0], self.curves[m])
            self.marks[m] = self.mark_rules[m].update(centre, last, self.dt)
            self.mark_s_all[m][t] = self.marks[m]
        for m in expiring:  # final settlement, at this step's marks of the other instruments
            self._settle(t, m)
        if expiring and self.sweep_skip is not None:
            self.sweep_skip.drop()  # the settlement changed the book
        open_ = []
        for m in live:
            halted = False
            for mechanism in mechanisms:  # phase 4: every mechanism acts, whichever halts
                halted = mechanism.before_sweep(self, t, m) or halted
            if not halted:
                open_.append(m)
        if open_:
            self._liquidations(t, open_)
        for m in open_:
            for mechanism in mechanisms:  # phase 6
                mechanism.after_liquidations(self, t, m)
        for m in range(M):
            if self.settled[m] is not None:  # a settled future: no book, its mark stays at the settlement price
                self.mark_s_all[m][t] = self.last_s_all[m][t] = self.marks[m]
            else:
                self.last_s_all[m][t] = marginal_price(
                    float(self.centre_ticks[m][t]), self.states[m][0], self.curves[m]
                )
            self.fund_s_all[m][t] = self.funds.of(m)[0]
        if self.check_every_step:
            check_conservation(b, self.fund, self.money_start, M)

    def _settle(self, t: int, m: int) -> None:
        """Final settlement of dated future ``m`` at its first step at or after expiry (:mod:`delever.settlement`)."""
        self.settled[m] = settle_at(self.book, m, self.insts[m], self.paths[m], t, self.windows[m], self.marks,
                                    self.vpl, self.funds.of(m), self.adl_policy, self.buf,
                                    lambda name: self._position_data(name, t))  # fmt: skip
        self.flush(t, m)

    def _liquidations(self, t: int, instruments: list[int]) -> None:
        """Find the liquidatable positions (trigger index, or one sweep of the whole book) and liquidate those on
        ``instruments`` (the live, unhalted ones), instrument by instrument, most under water first."""
        b = self.book
        skip = self.sweep_skip
        if self.use_triggers:
            count = self.index.scan(int(self.marks[0]), t, self.liq_out)
        elif skip is not None and skip.safe(self.marks):
            return  # the sweep would list nobody (delever.sweep_skip)
        else:
            count = self._full_sweep(self.liq_out)
            if skip is not None:  # a sweep that listed nobody is the next steps' anchor; one that listed some is not
                skip.drop() if count else skip.anchor(self.marks, self.acc_eq, self.acc_mm, self.pos_eq, self.pos_mm)
        if not count:
            return
        found = self.liq_out[:count].astype(np.int64)
        if self.use_triggers:
            # the scan lists positions in trigger order, scattered over the book: read them in book order (the
            # order liquidated below is by ratio, then position, whatever the order found here)
            found.sort(kind="stable")  # runs of ascending positions (one per trigger value): near O(n)
            equity_all, req_all = self._health(found)
        else:
            iso = b.isolated[found]
            equity_all = np.where(iso, self.pos_eq[found], self.acc_eq[b.account[found]])
            req_all = np.where(iso, self.pos_mm[found], self.acc_mm[b.account[found]])
        ratio_all = equity_all / np.maximum(req_all, 1)
        if self.M > 1:
            self.excluded[found] = True  # no position found this step is another's ADL counterparty
        for m in instruments:
            if self.M == 1:
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
            mark = int(self.marks[m])
            batch = Batch(t, m, mark, float(self.centre_ticks[m][t]), order, equity, req, self.buf.n)
            for mechanism in self.mechanisms:  # phase 5a: the backstop takes over, per-step limits hold back
                if not batch.order.size:
                    break
                mechanism.take(self, batch)
            if batch.order.size:
                self._liquidate(batch)
            self.touched(self.buf.cols["position"][batch.first_event : self.buf.n].copy())
            for mechanism in self.mechanisms:  # phase 5d
                mechanism.after_stage(self, batch)
            self.flush(t, m)
        if self.M > 1:
            self.excluded[found] = False

    def _liquidate(self, batch: Batch) -> None:
        """Liquidate ``batch.order`` (positions on instrument ``m``, sorted; ``batch.equity`` its exact equity at
        the mark, money) through the stage, in ``m``'s book, fund and ADL queue, each order sized by the
        mechanisms (phase 5b; a sizing mechanism may drop positions that need no order, and when none is left
        the stage does not run)."""
        b, m, t, mark = self.book, batch.m, batch.t, batch.mark
        v = int(self.vpl[m])
        batch.lots = np.zeros(batch.order.shape[0], dtype=np.int64)
        for mechanism in self.mechanisms:  # phase 5b: partial liquidation, per-step limits
            mechanism.size(self, batch)
        order, partial = batch.order, batch.lots
        if not order.size:
            return
        if self.M > 1:  # contagion: a cross position in profit that the stage closes, taken down by its account's
            # other positions (counted here, after the mechanisms took theirs or made them wait)
            dragged = (b.size[order] * mark * v - b.cost[order] > 0) & ~b.isolated[order]
            self.contagion[m] += int(dragged.sum())
            self.contagion_notional[m] += int((np.abs(b.size[order[dragged]]) * mark * v).sum())
        batch.size_before = b.size[order].copy()
        self.excluded[order] = True
        # the ADL queue values its counterparties when it first needs them: one sweep then, so an account an earlier
        # liquidation or ADL fill of this step changed (on this instrument or another) ranks as it now stands
        equities = None if self.use_triggers else self.equities
        tiers = self.tiers_of(m)
        queue = AdlQueue(b, m, mark, v, equities, self.excluded, self.adl_policy, tiers,
                         lambda name: self._position_data(name, t), offset_key=(self.seed, t, m))  # fmt: skip
        adl_on = 0 if any(mechanism.replaces_adl for mechanism in self.mechanisms) else 1
        valuation = self.valuation(self.marks.copy())
        adl_ctl, fill_px = self.adl_triggers[m].control(t, int(self.funds.of(m)[0]), self.fund_s_all[m], mark,
                                                        self.mark_s_all[m])  # fmt: skip
        run_stage(order, b, v, self.fee_ppm, batch.centre, self.states[m], self.curves[m], self.lp_positions[m],
                  self.lp_weights[m], self.funds.of(m), queue, self.buf, partial, adl_on, valuation, adl_ctl,
                  fill_px, self.liq_order.at(t))  # fmt: skip
        batch.ran = True
        if self.M == 1:
            self.excluded[order] = False

    def account_margins(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact account-level margin of positions ``order`` as the book stands now (after the step's earlier
        liquidations), money, int64 (len(order),) each: ``(equity, mm, own_mm)``, an isolated position's margin
        and MM, a cross position's account equity and the MM of all its open positions, and the position's own
        MM (:func:`delever.sweep.account_health`)."""
        equity, total_mm, own_mm = (np.zeros(order.size, dtype=np.int64) for _ in range(3))
        account_health(order, BookCols.of(self.book), self.valuation(), equity, total_mm, own_mm)
        return equity, total_mm, own_mm

    def _position_data(self, name: str, t: int) -> np.ndarray:
        """The ADL hierarchy's per-position columns at step ``t`` (:func:`position_column`)."""
        return position_column(self.book, int(self.time_ns[t]), name, self.funding_history,
                               self.scenario.adl.funding_window_s)  # fmt: skip

    def result(self) -> RunResult:
        """The run's :class:`RunResult` (:func:`delever.engine.result.build_result`; once, at the end)."""
        return build_result(self)
