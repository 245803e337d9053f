"""The state of one run and its step (:class:`Simulation`): one step of every instrument in the order the package
docstring (:mod:`delever.engine`) gives, the mechanisms called at their phases (:mod:`delever.mechanisms.base`);
the liquidation phase is :mod:`delever.engine.liquidation_phase`, the compiled loop of quiet steps
:mod:`delever.engine.quiet`, the loop over the steps :func:`delever.engine.loop.run`.
"""

from __future__ import annotations

import numpy as np

from .. import events as ev
from ..adl.trigger import AdlTriggerState
from ..columns import BookCols, MarkState, SeriesCols, SweepCols
from ..insurance import InsuranceFunds
from ..liquidation import AccountValuation
from ..liquidity import marginal_price, refill_factor
from ..mark import MarkPrice, band_fraction
from ..mechanisms import registry
from ..scenario import Scenario
from ..settlement import SettlementReport, check_expiry, expiry_ns, settle_at
from ..sweep import account_health, margin_sweep, position_health, update_triggers
from ..sweep_skip import SweepSkip, continuous
from ..tiers import tier_arrays, tier_rules
from ..trigger_index import TriggerIndex
from ..units import money, rate_ppm
from .adl_columns import position_column
from .invariants import check_conservation, trigger_mode
from .liquidation_phase import liquidations
from .market import Market
from .quiet import quiet_steps
from .result import RunResult, build_result


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
        self.use_triggers = M == 1 and not full_sweep and trigger_mode(book, inst, scenario.margin.mm_entry())
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

    def health(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity and MM (money) of the single-position accounts ``order`` at the marks."""
        equity, mm = np.zeros(order.size, dtype=np.int64), np.zeros(order.size, dtype=np.int64)
        position_health(order, BookCols.of(self.book), self.valuation(), equity, mm)
        return equity, mm

    def sweep_book(self, out: np.ndarray) -> int:
        """Mark the whole book to market (:func:`delever.sweep.margin_sweep`, the bundle made per call: a checkpoint
        keeps arrays), then the mechanisms' requirements beyond the tiers; liquidatable positions to ``out``."""
        sweep = SweepCols(self.pos_eq, self.pos_mm, self.acc_eq, self.acc_mm)
        count = margin_sweep(BookCols.of(self.book), self.valuation(), sweep, out)
        return registry.after_sweep(self.mechanisms, self, out, count)  # phase 5' (option margin)

    def equities(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity of every position and account at the current marks (one full sweep)."""
        if not self.sweep_arrays_ready:
            self._alloc_sweep_arrays()
        self.sweep_book(self.scratch)
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
            liquidations(self, t, open_)
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
        """Final settlement of dated future or option series ``m`` at its first step at or after expiry
        (:mod:`delever.settlement`)."""
        option = self.insts[m].kind == "option"  # an option series settles on its underlying's (instrument 0) index
        self.settled[m] = settle_at(self.book, m, self.insts[m], self.paths[0] if option else self.paths[m], t,
                                    self.windows[m], self.marks, self.vpl, self.funds.of(m), self.adl_policy, self.buf,
                                    lambda name: self.position_data(name, t),
                                    underlying=self.insts[0] if option else None)  # fmt: skip
        self.flush(t, m)

    def account_margins(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact account-level margin of positions ``order`` as the book stands now (after the step's earlier
        liquidations), money, int64 (len(order),) each: ``(equity, mm, own_mm)``, an isolated position's margin
        and MM, a cross position's account equity and the MM of all its open positions, and the position's own
        MM (:func:`delever.sweep.account_health`)."""
        equity, total_mm, own_mm = (np.zeros(order.size, dtype=np.int64) for _ in range(3))
        account_health(order, BookCols.of(self.book), self.valuation(), equity, total_mm, own_mm)
        return equity, total_mm, own_mm

    def position_data(self, name: str, t: int) -> np.ndarray:
        """The ADL hierarchy's per-position columns at step ``t`` (:func:`position_column`)."""
        return position_column(self.book, int(self.time_ns[t]), name, self.funding_history,
                               self.scenario.adl.funding_window_s)  # fmt: skip

    def result(self) -> RunResult:
        """The run's :class:`RunResult` (:func:`delever.engine.result.build_result`; once, at the end)."""
        return build_result(self)
