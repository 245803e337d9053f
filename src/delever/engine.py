"""The step loop: prices -> mark -> margin sweep -> liquidation (book, insurance fund, ADL) -> events.

One step of the clock (``step_seconds``), in this order:

1. the index price of the step (:mod:`delever.prices`) becomes the book's centre;
2. the book refills: absorbed quantity decays with the resilience half-life (:mod:`delever.liquidity`),
   scaled down while market makers withdraw (:mod:`delever.mechanisms.withdrawal`, when on);
3. the mark price follows the index and the venue's last trade (:mod:`delever.mark`); dynamic margin
   rescales the tiers and funding settles at funding times (when on);
4. unless a circuit breaker halts the step, every position whose account (cross) or isolated margin is
   below maintenance margin is found (:mod:`delever.sweep`, :mod:`delever.trigger_index`), most under water
   first (lowest ``equity / MM``, then position index); the backstop vault takes those below its threshold,
   partial liquidation sizes the rest (when on);
5. the liquidation stage (:mod:`delever.liquidation`) fills against the book, settles through the insurance
   fund, and auto-deleverages against the ADL queue (:mod:`delever.adl.queue`, under the scenario's ADL
   policy) what the fund cannot cover, or what the scenario's ADL trigger sends to it (:mod:`delever.adl.trigger`),
   or leaves it to socialized loss (when on); proactive deleveraging cuts
   the most levered accounts when its trigger trips (when on);
6. the step's events are appended to the log and its aggregates recorded.

Liquidation orders of one step see each other's impact (they walk the same book in turn); the mark moves
with that impact from the next step on: the cascade. A run is a pure function of (scenario, seed): no clock,
no unseeded randomness, deterministic orderings everywhere. Multi-instrument (cross-margin) scenarios run in
:mod:`delever.contagion` on the same kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, UTC
from decimal import Decimal

import numpy as np
from numba import njit

from . import events as ev
from .adl.queue import AdlQueue
from .mechanisms.block_limits import combine_partial, plan_step
from .adl.trigger import AdlTriggerState
from .book import Book, check_int64_headroom, with_extra_account
from .bookio import load_book
from .errors import ConservationError
from .generator import GeneratorParams, generate_book
from .instruments import Instrument
from .liquidation import AccountValuation, run_stage
from .mechanisms.backstop import ratio_fraction, take_over, vault_equity
from .mechanisms.circuit_breaker import CircuitBreaker
from .mechanisms.dynamic_margin import quantise, scaled_tiers
from .mechanisms.funding import funding_rate_ppb, pay_funding
from .mechanisms.partial import plan
from .mechanisms.proactive import reduce_positions, select
from .mechanisms.socialized import pro_rata
from .mechanisms.volatility import vol_ratio
from .mechanisms.withdrawal import calibrate_elasticity, depth_scale
from .liquidity import DepthCurve, marginal_price, refill_factor
from .mark import MarkPrice, band_fraction, mark_of
from .marketdata import BookDepth, DepthProfile, calibrate_depth, load_book_depth, load_klines, profile_at_price
from .prices import PricePath, path_from_klines, stretch_to_low
from .scenario import Scenario, window_ms
from .settlement import SettlementReport, check_expiry, expiry_ns, settle_at
from .sweep import margin_sweep, position_health, update_triggers
from .trigger_index import TriggerIndex
from .trigger_index import _scan as scan_index
from .units import money, rate_ppm


@dataclass
class StepSeries:
    """Per-step series (T,): time (ns), index/mark/last prices (ticks), insurance fund (money)."""

    time_ns: np.ndarray
    index_ticks: np.ndarray
    mark_ticks: np.ndarray
    last_ticks: np.ndarray
    fund: np.ndarray


@dataclass
class RunResult:
    """Everything a run produced; :mod:`delever.output` turns it into files."""

    scenario: Scenario
    seed: int
    instrument: Instrument
    book_start: Book
    book: Book
    steps: StepSeries
    events: dict[str, np.ndarray]
    fund_start: int
    money_start: int
    money_end: int
    depth: DepthProfile
    path: PricePath
    lp_accounts: int
    account_labels: list[str] | None = None
    extra: dict = field(default_factory=dict)
    instruments: list[Instrument] | None = None
    """Every instrument of a multi-instrument run (``events["instrument"]`` indexes it); None: just ``instrument``."""
    marks_end: np.ndarray | None = None
    """int64 (instruments,) each instrument's last mark (ticks); None: the last of ``steps.mark_ticks``."""
    instrument_steps: list[StepSeries] | None = None
    """A multi-instrument run's step series per instrument (``steps`` holds the first's prices and the funds'
    sum); None: ``steps`` is the only instrument's."""


@dataclass
class Market:
    """The prepared inputs of a run (instrument, index path, depth curve, starting book)."""

    instrument: Instrument
    path: PricePath
    depth: DepthProfile
    curve: DepthCurve
    book: Book
    start_price_ticks: int
    labels: list[str] | None
    depth_raw: BookDepth | None = None
    """The raw bookDepth snapshots the depth was calibrated from (market-maker withdrawal calibrates on them)."""


def prepare(scenario: Scenario, seed: int, extra_instruments=None) -> Market:
    """Load and build every input of a run (raises :class:`~delever.errors.InputError` on bad input).

    ``extra_instruments(instrument, path)``, for a multi-instrument run (:func:`delever.contagion.prepare_multi`),
    returns the other instruments and their start prices (ticks): a book file may then hold positions on
    any of them (its ``instrument`` column); it is called only when the book comes from a file."""
    inst = scenario.instrument.build()
    kl = load_klines(scenario.resolve(scenario.prices.file))
    pc = scenario.prices
    path = path_from_klines(kl, scenario.step_seconds, window_ms(pc.start), window_ms(pc.end), pc.gap_fill)
    if pc.stretch_to_low is not None:
        path = stretch_to_low(path, float(pc.stretch_to_low))
    liq = scenario.liquidity
    depth_raw = load_book_depth(scenario.resolve(liq.depth_file))
    profile = calibrate_depth(depth_raw, liq.depth_window_start.isoformat(), liq.depth_window_end.isoformat())
    if liq.depth_scale_basis == "quote":
        profile = profile_at_price(profile, float(path.index[0]))
    curve = DepthCurve.from_profile(profile, inst, liq.depth_scale)
    start_ticks = inst.price_to_ticks(Decimal(repr(float(path.index[0]))), rounding="floor")
    mech = scenario.mechanisms
    cap = mech.limits.max_account_notional if mech.limits.enabled else None
    labels = None
    if scenario.book.generator is not None:
        g = scenario.book.generator
        params = GeneratorParams(**g.model_dump())
        protected = mech.socialized_loss.protected_fraction if mech.socialized_loss.enabled else 1.0
        book = generate_book(
            params, inst, start_ticks, seed, liq.lp_accounts, liq.lp_wallet, cap, protected, int(path.time_ns[0])
        )
    elif scenario.book.hyperliquid is not None:
        from .hyperliquid_book import build_book

        book, labels, _ = build_book(scenario, inst, start_ticks, liq.lp_accounts, liq.lp_wallet, int(path.time_ns[0]))
    else:
        insts, starts = [inst], [start_ticks]
        if extra_instruments is not None:
            more, more_starts = extra_instruments(inst, path)
            insts, starts = insts + list(more), starts + list(more_starts)
        book, labels = load_book(
            scenario.resolve(scenario.book.file or ""),
            insts,
            starts,
            liq.lp_accounts,
            liq.lp_wallet,
            cap,
            start_time_ns=int(path.time_ns[0]),
        )
        if len(insts) > 1:  # the multi-instrument run checks the headroom with every instrument's prices
            return Market(inst, path, profile, curve, book, start_ticks, labels, depth_raw)
    # the highest price the run can see: twice the path's highest index, beyond any mark the book can make
    top = 2 * inst.price_to_ticks(Decimal(repr(float(path.index.max()) if path.steps else 0.0)), rounding="ceil") + 1
    generated = scenario.book.generator is not None
    check_int64_headroom(book, [inst.value_per_lot_tick], [top], [money(scenario.insurance_fund.balance)],
                         source="book.generator" if generated else str(scenario.book.file),
                         field="notional_median" if generated else "size")  # fmt: skip
    market = Market(inst, path, profile, curve, book, start_ticks, labels, depth_raw)
    return market


def run(
    scenario: Scenario,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    market: Market | None = None,
    check_every_step: bool = False,
    full_sweep: bool = False,
) -> RunResult:
    """Run a scenario. ``seed`` overrides the scenario's; ``progress(done, total)`` is called now and then.

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
    if scenario.mechanisms.cross_margin.enabled:
        from .contagion import run_multi

        return run_multi(scenario, seed, check_every_step=check_every_step, progress=progress)
    m = market or prepare(scenario, seed)
    # a market prepared here is ours: the simulation may work on its book instead of a copy
    sim = Simulation(
        scenario, seed, m, full_sweep=full_sweep, check_every_step=check_every_step, own_book=market is None
    )
    t, report = 0, 1
    while t < sim.T:
        t = sim.advance(t)  # the quiet steps, in one compiled loop
        if t < sim.T:
            sim.step(t)
            t += 1
        if progress is not None and (t >= report or t == sim.T):
            progress(t, sim.T)
            report = t + 64
    return sim.result()


@njit(cache=True, nogil=True)
def quiet_steps(t, t_end, index_ticks, state, refill, curve, ema, alpha, band, marks, mark_s, last_s, fund_s, fund,
                size, trigger, long_key, long_idx, short_key, short_idx, head, pending, n_pending, bounds, stamp,
                out):  # fmt: skip
    """Steps ``t, t+1, ...`` as :meth:`Simulation.step` runs them while the mark reaches no trigger and no
    per-step mechanism is on (refill, last price, mark, an empty scan, the step's series), with the same
    floating-point operations in the same order. Stops at the first step whose scan lists a position, leaving
    that step untouched (the stamps its scan set are cleared) for :meth:`Simulation.step`; returns it."""
    while t < t_end:
        centre = index_ticks[t]
        s = state[0] * refill
        last = marginal_price(centre, s, curve)
        e = ema[0] + alpha * ((last - centre) - ema[0])
        mark = mark_of(centre, e, last, band)
        count = scan_index(mark, size, trigger, long_key, long_idx, short_key, short_idx, head, pending, n_pending,
                           bounds, stamp, t, out)  # fmt: skip
        if count:
            for j in range(count):
                stamp[out[j]] = -1  # the step is left to the caller, whose scan must list these again
            return t
        state[0] = s
        ema[0] = e
        marks[0] = mark
        mark_s[t] = mark
        last_s[t] = marginal_price(centre, s, curve)
        fund_s[t] = fund[0]
        t += 1
    return t


class Simulation:
    """The state of one run and its step (see the module docstring for the order of a step)."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        m: Market,
        full_sweep: bool = False,
        check_every_step: bool = False,
        own_book: bool = False,
    ) -> None:
        self.scenario, self.seed, self.market = scenario, seed, m
        self.check_every_step = check_every_step
        mech = scenario.mechanisms
        self.mech = mech
        inst = self.inst = m.instrument
        book = m.book if own_book else m.book.copy()
        self.vault_pos = -1
        if mech.backstop.enabled:
            book, self.vault_acc, self.vault_pos = with_extra_account(book, money(mech.backstop.vault_wallet))
        self.book = book
        self._start = book.packed_snapshot()  # the starting book, unpacked at the end (result)
        self.path = m.path
        self.curve_base = m.curve.arrays()
        self.curve = self.curve_base
        self.v = v = inst.value_per_lot_tick
        self.fee_ppm = rate_ppm(scenario.fees.liquidation_fee_rate)
        self.adl_policy = scenario.adl.build()
        # (time ns, positions, amounts) of each funding settlement: the hierarchy's funding_received key
        self.funding_history: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.fund = np.array([money(scenario.insurance_fund.balance)], dtype=np.int64)
        self.fund_start = int(self.fund[0])
        self.money_start = book.total_money(self.fund)
        self.adl_trigger = AdlTriggerState(scenario.adl, self.fund_start, scenario.step_seconds)
        n = book.n_positions
        self.tiers_base = inst.tiers
        self._set_tiers(inst.tiers)
        self.n_tiers = np.array([len(inst.tiers.tiers)], dtype=np.int64)
        self.vpl = np.array([v], dtype=np.int64)
        self.use_triggers = not full_sweep and trigger_mode(book, inst)
        # per-position work arrays of the full sweep: allocated at once for the full-sweep path, on first use
        # (an ADL step) for the trigger path, so a healthy run holds only the book and its triggers
        self._sweep_arrays_ready = False
        if not self.use_triggers:
            self._alloc_sweep_arrays()
        # the positions a step finds (int32 from the trigger index of a book under 2**31 positions)
        self.liq_out = np.zeros(n, dtype=np.int32 if self.use_triggers and n < 2**31 else np.int64)
        self.excluded = np.zeros(n, dtype=bool)
        lp = np.flatnonzero(book.exempt[book.account]).astype(np.int64)
        self.lp_pos = lp[lp != self.vault_pos]
        self.lp_weight = np.ones(self.lp_pos.shape[0], dtype=np.int64)
        if self.lp_pos.size == 0:
            raise ValueError("the book needs at least one liquidity-provider position")
        tick = float(inst.tick_size)
        self.mark_rule = MarkPrice(scenario.mark.basis_ema_s, band=band_fraction(scenario.mark.max_deviation_pct))
        self.dt = dt = scenario.step_seconds
        self.refill = refill_factor(dt, scenario.liquidity.resilience_half_life_s)
        self.state = np.zeros(1, dtype=np.float64)
        self.buf = ev.EventBuffer()
        self.log = ev.EventLog()
        self.T = T = self.path.steps
        self.index_ticks = self.path.index / tick
        self.mark_s = np.zeros(T, dtype=np.int64)
        self.last_s = np.zeros(T, dtype=np.float64)
        self.fund_s = np.zeros(T, dtype=np.int64)
        self.marks = np.zeros(1, dtype=np.int64)
        self.trigger = np.zeros(n, dtype=np.int64)
        self.index = None
        if self.use_triggers:
            self._rebuild_triggers()
        self.expiry_ns = expiry_ns(inst) if inst.expiry is not None else None
        if T:
            check_expiry(inst, int(self.path.time_ns[0]), "instrument.expiry")
        self.settlement: SettlementReport | None = None
        # the compiled loop of quiet steps stops before a dated future's expiry step, which settles it
        expiry_step = np.searchsorted(self.path.time_ns, self.expiry_ns) if self.expiry_ns is not None else T
        self.quiet_until = int(min(expiry_step, T))
        # quiet steps (the mark reaches no trigger) run in one compiled loop unless a mechanism acts every step
        per_step = ("mm_withdrawal", "dynamic_margin", "funding", "circuit_breaker", "proactive_deleveraging")
        self.fast = self.use_triggers and not check_every_step and not any(getattr(mech, k).enabled for k in per_step)
        self.alpha = self.mark_rule.alpha(dt)
        self.extra: dict = {name: {"fired_steps": 0, "accounts": 0, "notional": 0} for name in mech.enabled()}
        # per-step liquidation limits ([liquidation]; delever.mechanisms.block_limits): None when off
        self.block_limits = scenario.liquidation.block_limits() if scenario.liquidation.limits_on() else None
        if self.block_limits is not None:
            self.extra["block_limits"] = {"fired_steps": 0, "accounts": 0, "notional": 0}
        self._touched_accounts: dict[str, np.ndarray] = {}
        self._setup_mechanisms()

    # -- setup -------------------------------------------------------------------------------------------
    def _set_tiers(self, tiers) -> None:
        self.tiers = tiers
        self.floors, self.mmr, self.cum = tiers.floors[None, :], tiers.mmr_ppm[None, :], tiers.cum[None, :]

    def _rebuild_triggers(self) -> None:
        b = self.book
        update_triggers(
            np.arange(b.n_positions, dtype=np.int64),
            b.size,
            b.cost,
            b.collateral,
            b.isolated,
            b.account,
            b.instrument,
            b.wallet,
            b.exempt,
            self.vpl,
            self.floors,
            self.mmr,
            self.cum,
            self.n_tiers,
            self.trigger,
        )
        self.index = TriggerIndex(b.size, self.trigger)

    def _touched(self, positions: np.ndarray) -> None:
        """Positions whose size, cost or collateral changed: refresh their trigger prices."""
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
        update_triggers(
            positions,
            b.size,
            b.cost,
            b.collateral,
            b.isolated,
            b.account,
            b.instrument,
            b.wallet,
            b.exempt,
            self.vpl,
            self.floors,
            self.mmr,
            self.cum,
            self.n_tiers,
            self.trigger,
        )
        self.index.changed(positions)

    def _setup_mechanisms(self) -> None:
        mech, dt = self.mech, self.dt
        steps = lambda seconds: max(int(round(seconds / dt)), 1)  # noqa: E731
        if mech.circuit_breaker.enabled:
            cb = mech.circuit_breaker
            self.breaker = CircuitBreaker(steps(cb.window_s), int(round(cb.move_pct * 10_000)), steps(cb.halt_s))
        if mech.dynamic_margin.enabled:
            dm = mech.dynamic_margin
            self.dm_ratio = vol_ratio(self.path.index, steps(dm.short_window_s), steps(dm.long_window_s))
            self.dm_every = steps(dm.update_every_s)
            self.dm_multiplier = 1.0
            self.dm_series = np.ones(self.T)
        if mech.mm_withdrawal.enabled:
            mw = mech.mm_withdrawal
            elasticity = mw.elasticity
            if elasticity == "calibrated":
                elasticity = calibrate_elasticity(
                    self.market.depth_raw,
                    self.path,
                    dt,
                    mw.short_window_s,
                    mw.long_window_s,
                    fit_start_ns=_ns("2025-10-10T21:00:00"),
                    fit_end_ns=_ns("2025-10-10T21:40:00"),
                    ref_start_ns=_ns("2025-10-10T20:00:00"),
                )
            self.mw_elasticity = float(elasticity)
            ratio = vol_ratio(self.path.index, steps(mw.short_window_s), steps(mw.long_window_s))
            self.mw_scale = depth_scale(ratio, self.mw_elasticity, mw.min_scale)
        if mech.partial_liquidation.enabled:
            self.last_partial_s = np.full(self.book.n_positions, -np.inf)
        if mech.proactive_deleveraging.enabled:
            pd = mech.proactive_deleveraging
            self.pd_window = steps(pd.window_s)
            self.pd_system_leverage = 0.0
        if mech.funding.enabled:
            self.funding_premium_sum = 0.0
            self.funding_premium_n = 0
            self.funding_interval_ns = int(mech.funding.interval_s * 1e9)
            self.funding_rates: list[tuple[int, int]] = []
        if mech.backstop.enabled:
            self.backstop_ratio = ratio_fraction(mech.backstop.equity_ratio)
        self.halted_steps = 0

    # -- helpers -----------------------------------------------------------------------------------------
    def _alloc_sweep_arrays(self) -> None:
        n, a = self.book.n_positions, self.book.n_accounts
        self.pos_eq = np.zeros(n, dtype=np.int64)
        self.pos_mm = np.zeros(n, dtype=np.int64)
        self.acc_eq = np.zeros(a, dtype=np.int64)
        self.acc_mm = np.zeros(a, dtype=np.int64)
        self.scratch = np.zeros(n, dtype=np.int64)
        self._sweep_arrays_ready = True

    def _health(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity and MM (money) of the single-position accounts ``order`` at the marks."""
        b = self.book
        equity, mm = np.zeros(order.size, dtype=np.int64), np.zeros(order.size, dtype=np.int64)
        position_health(order, b.size, b.cost, b.collateral, b.isolated, b.account, b.instrument, b.wallet,
                        self.marks, self.vpl, self.floors, self.mmr, self.cum, self.n_tiers, equity, mm)  # fmt: skip
        return equity, mm

    def _full_sweep(self, out: np.ndarray) -> int:
        """Mark the whole book to market (:func:`delever.sweep.margin_sweep`); liquidatable positions to ``out``."""
        b = self.book
        return margin_sweep(b.size, b.cost, b.collateral, b.isolated, b.account, b.instrument, b.wallet,
                            self.marks, self.vpl, self.floors, self.mmr, self.cum, self.n_tiers, b.exempt,
                            self.pos_eq, self.pos_mm, self.acc_eq, self.acc_mm, out)  # fmt: skip

    def _equities(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact equity of every position and account at the current mark (one full sweep)."""
        if not self._sweep_arrays_ready:
            self._alloc_sweep_arrays()
        self._full_sweep(self.scratch)
        return self.pos_eq, self.acc_eq

    def _cols(self):
        c = self.buf.cols
        return (
            c["kind"],
            c["account"],
            c["counterparty"],
            c["position"],
            c["size"],
            c["price"],
            c["amount"],
            c["indicator"],
        )

    def _note(self, name: str, accounts: np.ndarray, notional: int) -> None:
        """Record that a mechanism fired this step on ``accounts`` (ids) and moved ``notional`` (money)."""
        rec = self.extra[name]
        rec["fired_steps"] += 1
        mask = self._touched_accounts.setdefault(name, np.zeros(self.book.n_accounts, dtype=bool))
        mask[np.asarray(accounts, dtype=np.int64)] = True
        rec["accounts"] = int(mask.sum())
        rec["notional"] += int(notional)

    # -- the step ----------------------------------------------------------------------------------------
    def advance(self, t: int) -> int:
        """Run the quiet steps from ``t`` on (no position reached, no per-step mechanism on) in one compiled loop,
        exactly as :meth:`step` would; return the first step left to :meth:`step` (``T`` when none)."""
        if not self.fast or self.settlement is not None:
            return t
        ix = self.index
        ema = np.array([self.mark_rule.ema_basis])
        t = quiet_steps(t, self.quiet_until, self.index_ticks, self.state, self.refill, self.curve, ema, self.alpha,
                        self.mark_rule.band, self.marks, self.mark_s, self.last_s, self.fund_s, self.fund, ix._size,
                        ix._trigger, ix.long_key, ix.long_idx, ix.short_key, ix.short_idx, ix.head, ix.pending,
                        ix.n_pending, ix.bounds, ix._stamp, self.liq_out)  # fmt: skip
        self.mark_rule.ema_basis = float(ema[0])
        return t

    def step(self, t: int) -> None:
        b, mech = self.book, self.mech
        if self.expiry_ns is not None and self.settlement is None and self.path.time_ns[t] >= self.expiry_ns:
            self._settle(t)
        if self.settlement is not None:  # a settled future: no book, no mark, no liquidation
            self.mark_s[t] = self.last_s[t] = self.marks[0]
            self.fund_s[t] = self.fund[0]
            return
        centre = float(self.index_ticks[t])
        self.state[0] *= self.refill
        if mech.mm_withdrawal.enabled:
            s = float(self.mw_scale[t])
            if s < 1.0:
                self._note("mm_withdrawal", np.zeros(0, dtype=np.int64), 0)
            base = self.curve_base
            self.curve = (base[0], base[1] * s, base[2] * s, base[3] * s, base[4] * s)
        last = marginal_price(centre, self.state[0], self.curve)
        self.marks[0] = self.mark_rule.update(centre, last, self.dt)
        mark = int(self.marks[0])
        self.mark_s[t] = mark
        if mech.dynamic_margin.enabled and t % self.dm_every == 0:
            self._dynamic_margin(t)
        if mech.funding.enabled:
            self._funding(t, centre, mark)
        halted = mech.circuit_breaker.enabled and self.breaker.update(t, self.mark_s)
        if halted:
            self.halted_steps += 1
            if self.breaker.halts and self.breaker.halts[-1][0] == t:
                self._note("circuit_breaker", np.zeros(0, dtype=np.int64), 0)
        else:
            self._liquidations(t, centre, mark)
            if mech.proactive_deleveraging.enabled:
                self._proactive(t, centre, mark)
        last = marginal_price(centre, self.state[0], self.curve)
        self.log.append(self.buf, t, int(self.path.time_ns[t]), 0)
        self.last_s[t] = last
        self.fund_s[t] = self.fund[0]
        if self.check_every_step:
            _check(b, self.fund, self.money_start)

    def _settle(self, t: int) -> None:
        """Final settlement of the dated future at its first step at or after expiry (:mod:`delever.settlement`)."""
        window = self.scenario.instrument.settlement_window_s
        self.settlement = settle_at(self.book, 0, self.inst, self.path, t, window, self.marks, self.vpl, self.fund,
                                    self.adl_policy, self.buf, lambda name: self._position_data(name, t))  # fmt: skip
        self.log.append(self.buf, t, int(self.path.time_ns[t]), 0)

    def _liquidations(self, t: int, centre: float, mark: int) -> None:
        b, mech = self.book, self.mech
        if self.use_triggers:
            count = self.index.scan(mark, t, self.liq_out)
        else:
            count = self._full_sweep(self.liq_out)
        if not count:
            return
        order = self.liq_out[:count].astype(np.int64)
        if self.use_triggers:
            equity, req = self._health(order)
        else:
            equity = np.where(b.isolated[order], self.pos_eq[order], self.acc_eq[b.account[order]])
            req = np.where(b.isolated[order], self.pos_mm[order], self.acc_mm[b.account[order]])
        ratio = equity / np.maximum(req, 1)
        sort = np.lexsort((order, ratio))
        order, equity, req = order[sort], np.asarray(equity)[sort].copy(), np.asarray(req)[sort].copy()
        first_event = self.buf.n
        if mech.backstop.enabled:
            kept = self._backstop(order, equity, req, mark)
            order, equity = order[kept], equity[kept]
        if order.size:
            self._liquidate(order, equity, t, centre, mark)
        self._touched(self.buf.cols["position"][first_event : self.buf.n].copy())
        if mech.socialized_loss.enabled:
            self._socialize(first_event, mark)

    def _backstop(self, order, equity, req, mark) -> np.ndarray:
        """Hand the positions below the vault's threshold to the vault; the mask of those left for the book."""
        b = self.book
        self.buf.ensure(4 * order.size + 8)
        keep = np.ones(order.size, dtype=np.int64)
        ev_n = np.array([self.buf.n], dtype=np.int64)
        num, den = self.backstop_ratio
        notional = np.abs(b.size[order]) * mark * self.v
        taken = take_over(
            order,
            equity,
            req,
            num,
            den,
            self.vault_pos,
            mark,
            b.size,
            b.cost,
            b.collateral,
            b.isolated,
            b.account,
            b.wallet,
            self.v,
            keep,
            *self._cols(),
            ev_n,
        )
        self.buf.n = int(ev_n[0])
        if taken:
            self._note("backstop", self.book.account[order[keep == 0]], int(notional[keep == 0].sum()))
        return keep == 1

    def _liquidate(self, order: np.ndarray, equity: np.ndarray, t: int, centre: float, mark: int) -> None:
        """Liquidate ``order`` (sorted; ``equity`` its exact equity at the mark, money) through the stage."""
        b, mech = self.book, self.mech
        # --- hook: per-step liquidation limits ([liquidation], delever.mechanisms.block_limits) -------------
        limit_lots = None
        if self.block_limits is not None:
            step_plan = plan_step(order, b.size, b.account, mark, self.v, self.block_limits)
            if step_plan.waiting:
                self._note("block_limits", b.account[order[~step_plan.keep]], 0)
            order, equity, limit_lots = order[step_plan.keep], equity[step_plan.keep], step_plan.lots[step_plan.keep]
            if not order.size:
                return
        # --- end hook ------------------------------------------------------------------------------------
        self.excluded[order] = True
        queue = AdlQueue(
            b,
            0,
            mark,
            self.v,
            None if self.use_triggers else self._equities,
            self.excluded,
            self.adl_policy,
            (self.floors[0], self.mmr[0], self.cum[0]),
            lambda name: self._position_data(name, t),
            offset_key=(self.seed, t, 0),
        )
        partial = np.zeros(order.shape[0], dtype=np.int64)
        if mech.partial_liquidation.enabled:
            pl = mech.partial_liquidation
            partial = plan(
                pl.mode,
                order,
                b.size,
                equity,
                mark,
                self.v,
                self.floors[0],
                self.mmr[0],
                self.cum[0],
                self.fee_ppm,
                rate_ppm(pl.slice_fraction),
                money(pl.slice_min_notional),
                self.last_partial_s,
                t * self.dt,
                pl.cooldown_s,
            )
            sizes_before = b.size[order].copy()
        if limit_lots is not None:  # hook: per-step limits (delever.mechanisms.block_limits)
            partial = combine_partial(partial, limit_lots)
        adl_on = 0 if mech.socialized_loss.enabled else 1
        valuation = AccountValuation(np.array([mark], dtype=np.int64), self.vpl, self.floors, self.mmr, self.cum,
                                     self.n_tiers)  # fmt: skip
        adl_ctl, fill_px = self.adl_trigger.control(t, int(self.fund[0]), self.fund_s, mark, self.mark_s)
        run_stage(order, b, self.v, self.fee_ppm, centre, self.state, self.curve, self.lp_pos, self.lp_weight,
                  self.fund, queue, self.buf, partial, adl_on, valuation, adl_ctl, fill_px)  # fmt: skip
        self.excluded[order] = False
        if mech.partial_liquidation.enabled:
            done = (partial > 0) & (b.size[order] != 0)
            if done.any():
                self.last_partial_s[order[done]] = t * self.dt
                closed = np.abs(sizes_before[done] - b.size[order][done])
                self._note("partial_liquidation", b.account[order[done]], int((closed * mark * self.v).sum()))

    def _position_data(self, name: str, t: int) -> np.ndarray:
        """The ADL hierarchy's per-position columns at step ``t`` (:func:`position_column`)."""
        return position_column(self.book, int(self.path.time_ns[t]), name, self.funding_history,
                               self.scenario.adl.funding_window_s)  # fmt: skip

    def _socialize(self, first_event: int, mark: int) -> None:
        """Claw back this step's unrecovered bad debt of protected accounts from the winners, pro rata."""
        b = self.book
        c = self.buf.cols
        rows = np.arange(first_event, self.buf.n)
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
        upnl = b.size * mark * self.v - b.cost
        winners = np.flatnonzero((upnl > 0) & (b.size != 0) & ~b.exempt[b.account])
        share = pro_rata(need, upnl[winners])
        paid = int(share.sum())
        if paid == 0:
            return
        self.buf.ensure(winners.size + debtors.size + 8)
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
        self.buf.append_rows(ev.CLAWBACK, b.account[pay], ev.SOCIALIZED_LOSS_POOL, pay, amount=-amounts)
        got = received > 0
        self.buf.append_rows(
            ev.CLAWBACK_RECEIVED, debtors[got], ev.SOCIALIZED_LOSS_POOL, positions[got], amount=received[got]
        )
        self._touched(pay)
        self._note("socialized_loss", b.account[pay], paid)

    def _proactive(self, t: int, centre: float, mark: int) -> None:
        pd = self.mech.proactive_deleveraging
        b = self.book
        lo = max(0, t - self.pd_window)
        ref = int(self.mark_s[lo])
        moved = abs(mark - ref) * 100.0 > pd.price_move_pct * ref
        peak = int(self.fund_s[lo:t].max()) if t > lo else int(self.fund[0])
        drained = peak > 0 and (peak - int(self.fund[0])) * 100.0 > pd.fund_drawdown_pct * peak
        if t % max(int(10 / self.dt), 1) == 0:
            pos_eq, acc_eq = self._equities()
            trader = ~b.exempt[b.account] & (b.size != 0)
            eq = np.where(b.isolated, pos_eq, acc_eq[b.account])
            tot_eq = float(np.maximum(eq[trader], 0).sum())
            tot_n = float((np.abs(b.size[trader]) * mark * self.v).sum())
            self.pd_system_leverage = tot_n / tot_eq if tot_eq > 0 else float("inf")
        if not (moved or drained or self.pd_system_leverage > pd.system_leverage):
            return
        pos_eq, acc_eq = self._equities()
        equity = np.where(b.isolated, pos_eq, acc_eq[b.account])
        mm = np.where(b.isolated, self.pos_mm, self.acc_mm[b.account])
        notional = np.abs(b.size) * mark * self.v
        eligible = ~b.exempt[b.account] & (b.size != 0)
        idx, lots = select(
            equity,
            notional,
            mm,
            b.size,
            eligible,
            mark,
            self.v,
            pd.trigger_leverage,
            pd.target_leverage,
            pd.max_accounts_per_step,
        )
        if idx.size == 0:
            return
        self.buf.ensure(idx.size * (2 + self.lp_pos.shape[0]))
        ev_n = np.array([self.buf.n], dtype=np.int64)
        first = self.buf.n
        moved_n = reduce_positions(
            idx,
            lots,
            b.size,
            b.cost,
            b.collateral,
            b.isolated,
            b.account,
            b.wallet,
            self.v,
            centre,
            self.state,
            self.curve,
            self.lp_pos,
            self.lp_weight,
            *self._cols(),
            ev_n,
        )
        self.buf.n = int(ev_n[0])
        self._touched(self.buf.cols["position"][first : self.buf.n].copy())
        self._note("proactive_deleveraging", b.account[idx], int(moved_n))

    def _dynamic_margin(self, t: int) -> None:
        dm = self.mech.dynamic_margin
        m = quantise(float(self.dm_ratio[t]), dm.cap)
        if m != self.dm_multiplier:
            self.dm_multiplier = m
            self._set_tiers(self.tiers_base if m == 1.0 else scaled_tiers(self.tiers_base, m))
            if self.use_triggers:
                self._rebuild_triggers()
            self._note("dynamic_margin", np.zeros(0, dtype=np.int64), 0)
        self.dm_series[t:] = self.dm_multiplier

    def _funding(self, t: int, centre: float, mark: int) -> None:
        fc = self.mech.funding
        self.funding_premium_sum += (mark - centre) / centre
        self.funding_premium_n += 1
        now = int(self.path.time_ns[t])
        prev = int(self.path.time_ns[t - 1]) if t > 0 else now
        if t == 0 or now // self.funding_interval_ns == prev // self.funding_interval_ns:
            return
        premium = self.funding_premium_sum / max(self.funding_premium_n, 1)
        rate = funding_rate_ppb(premium, float(fc.interest_rate), float(fc.clamp), float(fc.cap))
        self.funding_premium_sum, self.funding_premium_n = 0.0, 0
        self.funding_rates.append((t, rate))
        b = self.book
        self.buf.ensure(b.n_positions + 2)
        ev_n = np.array([self.buf.n], dtype=np.int64)
        first = self.buf.n
        rest = pay_funding(
            rate, mark, self.v, b.size, b.collateral, b.isolated, b.account, b.wallet, b.exempt, *self._cols(), ev_n
        )
        self.buf.n = int(ev_n[0])
        rows = slice(first, self.buf.n)
        paid = self.buf.cols["kind"][rows] == ev.FUNDING
        self.funding_history.append(
            (now, self.buf.cols["position"][rows][paid].copy(), self.buf.cols["amount"][rows][paid].copy())
        )
        if rest:
            self.fund[0] += rest
            self.buf.append_rows(ev.FUNDING_ROUNDING, ev.INSURANCE_FUND, ev.FUNDING_POOL, -1, amount=rest)
        touched = self.buf.cols["position"][first : self.buf.n].copy()
        self._touched(touched)
        notional = int((np.abs(b.size) * mark * self.v).sum() // 2)
        self._note("funding", self.buf.cols["account"][first : self.buf.n], notional)

    # -- result ------------------------------------------------------------------------------------------
    def result(self) -> RunResult:
        b = self.book
        money_end = b.total_money(self.fund)
        extra = dict(self.extra)
        if self.mech.backstop.enabled:
            last_mark = int(self.mark_s[-1]) if self.T else 0
            extra["backstop"]["vault_pnl"] = vault_equity(b, self.vault_pos, last_mark, self.v) - money(
                self.mech.backstop.vault_wallet
            )
        if self.mech.circuit_breaker.enabled:
            extra["circuit_breaker"]["halts"] = list(self.breaker.halts)
            extra["circuit_breaker"]["halted_steps"] = self.halted_steps
        if self.mech.dynamic_margin.enabled:
            extra["dynamic_margin"]["max_multiplier"] = float(self.dm_series.max()) if self.T else 1.0
        if self.mech.mm_withdrawal.enabled:
            extra["mm_withdrawal"]["elasticity"] = self.mw_elasticity
            extra["mm_withdrawal"]["min_depth_scale"] = float(self.mw_scale.min()) if self.T else 1.0
        if self.mech.funding.enabled:
            extra["funding"]["rates_ppb"] = [r for _, r in self.funding_rates]
        if self.mech.proactive_deleveraging.enabled:
            extra["proactive_deleveraging"]["system_leverage_last"] = self.pd_system_leverage
        if self.settlement is not None:
            extra["settlement"] = self.settlement.as_dict(self.inst)
        # the run is over: release the per-position work state before the event log becomes its columns, so
        # that the end of a large run holds only the books and the events (issue #6's memory per position)
        released = self.book.n_positions * 8 * 4 + self.buf.capacity * 66  # about what is let go here (bytes)
        for name in ("trigger", "index", "liq_out", "excluded", "buf", "pos_eq", "pos_mm", "acc_eq", "acc_mm",
                     "scratch", "last_partial_s", "_touched_accounts"):  # fmt: skip
            self.__dict__.pop(name, None)
        self._sweep_arrays_ready = False
        if released >= TRIM_BYTES:
            _trim_heap()
        book_start = self.__dict__.pop("_start").book()
        return RunResult(
            scenario=self.scenario,
            seed=self.seed,
            instrument=self.inst,
            book_start=book_start,
            book=b,
            steps=StepSeries(self.path.time_ns, self.index_ticks, self.mark_s, self.last_s, self.fund_s),
            events=self.log.columns(),
            fund_start=self.fund_start,
            money_start=self.money_start,
            money_end=money_end,
            depth=self.market.depth,
            path=self.path,
            lp_accounts=int(self.lp_pos.size),
            account_labels=self.market.labels,
            extra=extra,
        )


def position_column(book: Book, now_ns: int, name: str, funding_history=(), window_s: float = 0.0) -> np.ndarray:
    """A per-position column of the ADL hierarchy at ``now_ns``: ``age_s`` (float64 seconds since each position
    was opened) or ``funding_received`` (int64 money, net funding received within ``window_s`` seconds before
    now, :func:`funding_received`; zeros without a funding history).

    Raises:
        KeyError: another name.
    """
    if name == "age_s":
        return (now_ns - book.opened_ns) / 1e9
    if name == "funding_received":
        return funding_received(funding_history, book.n_positions, now_ns, window_s)
    raise KeyError(name)


def funding_received(history, n: int, now_ns: int, window_s: float) -> np.ndarray:
    """int64 (n,) money: net funding each position received (paid < 0) at the settlements of ``history``
    (``(time ns, positions, amounts)`` each) within ``window_s`` seconds before ``now_ns``, now included."""
    out = np.zeros(n, dtype=np.int64)
    start = now_ns - int(window_s * 1e9)
    for when, positions, amounts in history:
        if start < when <= now_ns:
            np.add.at(out, positions, amounts)
    return out


TRIM_BYTES = 32 * 2**20
"""A run that lets go of this much at its end hands the freed heap back (:func:`_trim_heap`); a small one does
not, as the next run would only fault the same pages in again."""


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; nothing elsewhere): the arrays a
    large run just released are scattered through the heap, and would otherwise stay resident while the
    results are built (the same call dask.distributed workers make to return freed memory)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1e9)


def trigger_mode(book: Book, inst: Instrument) -> bool:
    """Whether trigger prices decide liquidations exactly for this book: every trader account holds at most
    one position (so a change to an account is a change to its one position, whose trigger is refreshed), and
    ``equity - MM`` moves monotonically with the price (``V * (1 - MMR_max) > 1``)."""
    traders = book.account[~book.exempt[book.account]]
    if traders.size and np.bincount(traders).max() > 1:
        return False
    return inst.value_per_lot_tick * (1_000_000 - int(inst.tiers.mmr_ppm.max())) > 1_000_000


def _check(book: Book, fund: np.ndarray, money_start: int) -> None:
    total = book.total_money(fund)
    if total != money_start:
        raise ConservationError(f"money changed by {total - money_start} units")
    long_, short = book.open_interest(0)
    if long_ != short:
        raise ConservationError(f"open interest unbalanced: long {long_} vs short {short}")
