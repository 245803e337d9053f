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
no unseeded randomness, deterministic orderings everywhere.

One loop for 1..M instruments: a multi-instrument (cross-margin) scenario's market is prepared by
:func:`delever.contagion.prepare_multi` and runs through the same :class:`Simulation` step. Each instrument has
its own index path, book, mark, insurance fund and ADL queue; a dated future is settled at its first step at or
after expiry (after the step's marks, before its sweep). Per instrument, where the venue rule is per contract:
market-maker withdrawal and dynamic margin on its own index volatility, funding on each perpetual from its own
premium (dated futures pay none), a circuit breaker on its own mark (a halted instrument's positions wait; the
others liquidate), the backstop vault's position on that instrument, socialized loss among that instrument's
winners, proactive deleveraging on its own trigger. The margin sweep is one, over the whole book: a cross
account's equity and MM sum over all its positions at each instrument's mark. Liquidations run instrument by
instrument in instrument order, each most under water first; an instrument's ADL queue ranks its counterparties
by their accounts' equities as they stand when it is built, after the step's earlier liquidations and ADL fills on
any instrument (as a single-instrument run's queue does). With one instrument whose accounts hold one
position each, trigger prices and the compiled quiet-steps loop (:func:`quiet_steps`) replace the sweep.
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
from .columns import BookCols, EventCols, LiquidityCols, MarkState, SeriesCols
from .bookio import load_book
from .errors import ConservationError
from .generator import GeneratorParams, generate_book
from .instruments import Instrument
from .insurance import InsuranceFunds
from .liquidation import AccountValuation, run_stage
from .mechanisms.backstop import ratio_fraction, take_over, vault_equity
from .mechanisms.circuit_breaker import CircuitBreaker
from .mechanisms.dynamic_margin import quantise, scaled_tiers
from .mechanisms.funding import funding_rate_ppb, pay_funding
from .mechanisms.partial import plan, still_short
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
from .sweep import account_health, margin_sweep, position_health, update_triggers
from .sweep_skip import SweepSkip, continuous
from .trigger_index import TriggerIndex, scan_triggers
from .units import exact_sum, money, rate_ppm


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


@dataclass
class MultiMarket:
    """The inputs of a multi-instrument run: instruments, index paths, book centres (the index, or a dated
    future's index plus its basis; quote, float64 (T,)), depth curves and settlement windows (seconds; dated
    futures only), one each, and the book."""

    base: Market
    instruments: list[Instrument]
    paths: list[PricePath]
    curves: list[DepthCurve]
    funds: list[int]
    book: Book
    centres: list[np.ndarray]
    settlement_windows: list[float]


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
    own = market is None
    if scenario.mechanisms.cross_margin.enabled and not isinstance(market, MultiMarket):
        from .contagion import prepare_multi

        market, own = prepare_multi(scenario, seed), True
    m = market or prepare(scenario, seed)
    # a market prepared here is ours: the simulation may work on its book instead of a copy
    sim = Simulation(scenario, seed, m, full_sweep=full_sweep, check_every_step=check_every_step, own_book=own)
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
    """The state of one run and its step (see the module docstring for the order of a step), over the run's
    instruments ``0..M-1``: the scenario's instrument, and for a multi-instrument run
    (:func:`delever.contagion.prepare_multi`) the extra ones, each with its own index path, book, mark,
    insurance fund, ADL queue and per-instrument mechanism state."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        m,
        full_sweep: bool = False,
        check_every_step: bool = False,
        own_book: bool = False,
    ) -> None:
        """``m``: a :class:`Market` (one instrument) or a :class:`delever.contagion.MultiMarket` (several)."""
        self.scenario, self.seed, self.market = scenario, seed, m
        self.check_every_step = check_every_step
        mech = scenario.mechanisms
        self.mech = mech
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
        self.vault_pos = -1
        self.vault_positions = np.full(M, -1, dtype=np.int64)
        if mech.backstop.enabled:  # the vault holds one (flat) position on each instrument
            book, self.vault_acc, self.vault_pos = with_extra_account(book, money(mech.backstop.vault_wallet), M)
            self.vault_positions = np.arange(self.vault_pos, self.vault_pos + M, dtype=np.int64)
        self.book = book
        self._start = book.packed_snapshot()  # the starting book, unpacked at the end (result)
        self.paths = paths
        self.path = paths[0]
        self.time_ns = self.path.time_ns
        self.windows = windows
        self.curves_base = [c.arrays() for c in curves]
        self.curves = list(self.curves_base)
        self.vpl = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
        self.v = int(self.vpl[0])
        self.fee_ppm = rate_ppm(scenario.fees.liquidation_fee_rate)
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
        self._set_tiers()
        self.use_triggers = M == 1 and not full_sweep and trigger_mode(book, inst)
        # per-position work arrays of the full sweep: allocated at once for the full-sweep path, on first use
        # (an ADL step) for the trigger path, so a healthy run holds only the book and its triggers
        self._sweep_arrays_ready = False
        if not self.use_triggers:
            self._alloc_sweep_arrays()
        # the positions a step finds (int32 from the trigger index of a book under 2**31 positions)
        self.liq_out = np.zeros(n, dtype=np.int32 if self.use_triggers and n < 2**31 else np.int64)
        self.excluded = np.zeros(n, dtype=bool)
        lp_mask = book.exempt[book.account]
        lp_mask[self.vault_positions[self.vault_positions >= 0]] = False
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
        per_step = ("mm_withdrawal", "dynamic_margin", "funding", "circuit_breaker", "proactive_deleveraging")
        self.fast = self.use_triggers and not check_every_step and not any(getattr(mech, k).enabled for k in per_step)
        self.alpha = self.mark_rule.alpha(dt)
        self.extra: dict = {name: {"fired_steps": 0, "accounts": 0, "notional": 0} for name in mech.enabled()}
        # per-step liquidation limits ([liquidation]; delever.mechanisms.block_limits): None when off
        self.block_limits = scenario.liquidation.block_limits() if scenario.liquidation.limits_on() else None
        if self.block_limits is not None:
            self.extra["block_limits"] = {"fired_steps": 0, "accounts": 0, "notional": 0}
        self._touched_accounts: dict[str, np.ndarray] = {}
        # full-sweep runs where only liquidations change the book: skip the sweeps that could list nobody
        # (exact; delever.sweep_skip)
        self.sweep_skip = None
        quiet_book = set(mech.enabled()) <= {"cross_margin", "limits"} and self.block_limits is None
        if not self.use_triggers and not full_sweep and quiet_book and continuous(*self._tier_args()):
            self.sweep_skip = SweepSkip(book.account, book.size, book.isolated, book.instrument, book.exempt,
                                        self.vpl, self.mmr, self.n_tiers)  # fmt: skip
        # multi-instrument runs: positions liquidated while in profit (taken down by another instrument)
        self.contagion = np.zeros(M, dtype=np.int64)
        self.contagion_notional = np.zeros(M, dtype=np.int64)
        self._setup_mechanisms()

    # -- setup -------------------------------------------------------------------------------------------
    def _set_tiers(self) -> None:
        """The (M, k) tier arrays of the instruments' current tiers (``tiers_now``)."""
        self.floors, self.mmr, self.cum, self.n_tiers = tier_arrays(self.tiers_now)

    def _tier_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.floors, self.mmr, self.cum, self.n_tiers

    def _tiers_of(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = int(self.n_tiers[m])
        return self.floors[m, :k], self.mmr[m, :k], self.cum[m, :k]

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
        mech, dt, M = self.mech, self.dt, self.M
        steps = lambda seconds: max(int(round(seconds / dt)), 1)  # noqa: E731
        if mech.circuit_breaker.enabled:  # one breaker per instrument, on its own mark
            cb = mech.circuit_breaker
            self.breakers = [
                CircuitBreaker(steps(cb.window_s), int(round(cb.move_pct * 10_000)), steps(cb.halt_s)) for _ in range(M)
            ]
        if mech.dynamic_margin.enabled:  # each instrument's tiers follow its own index volatility
            dm = mech.dynamic_margin
            self.dm_ratios = [vol_ratio(p.index, steps(dm.short_window_s), steps(dm.long_window_s)) for p in self.paths]
            self.dm_every = steps(dm.update_every_s)
            self.dm_multipliers = [1.0] * M
            self.dm_series_all = [np.ones(self.T) for _ in range(M)]
        if mech.mm_withdrawal.enabled:  # each book's makers withdraw on its own index volatility
            mw = mech.mm_withdrawal
            elasticity = mw.elasticity
            if elasticity == "calibrated":
                elasticity = calibrate_elasticity(
                    self.base.depth_raw,
                    self.path,
                    dt,
                    mw.short_window_s,
                    mw.long_window_s,
                    fit_start_ns=_ns("2025-10-10T21:00:00"),
                    fit_end_ns=_ns("2025-10-10T21:40:00"),
                    ref_start_ns=_ns("2025-10-10T20:00:00"),
                )
            self.mw_elasticity = float(elasticity)
            self.mw_scales = [
                depth_scale(vol_ratio(p.index, steps(mw.short_window_s), steps(mw.long_window_s)), self.mw_elasticity,
                            mw.min_scale)
                for p in self.paths
            ]  # fmt: skip
        if mech.partial_liquidation.enabled:
            self.last_partial_s = np.full(self.book.n_positions, -np.inf)
        if mech.proactive_deleveraging.enabled:
            pd = mech.proactive_deleveraging
            self.pd_window = steps(pd.window_s)
            self.pd_system_leverage = [0.0] * M
        if mech.funding.enabled:  # per perpetual: its own premium index and settlements
            self.funding_premium_sum = [0.0] * M
            self.funding_premium_n = [0] * M
            self.funding_interval_ns = int(mech.funding.interval_s * 1e9)
            self.funding_rates: list[list[tuple[int, int]]] = [[] for _ in range(M)]
        if mech.backstop.enabled:
            self.backstop_ratio = ratio_fraction(mech.backstop.equity_ratio)
            self.backstop_taken_at = np.zeros(self.book.n_accounts, dtype=np.int64)  # step + 1 of the last takeover
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
        """Exact equity of every position and account at the current marks (one full sweep)."""
        if not self._sweep_arrays_ready:
            self._alloc_sweep_arrays()
        self._full_sweep(self.scratch)
        return self.pos_eq, self.acc_eq

    def _note(self, name: str, accounts: np.ndarray, notional: int) -> None:
        """Record that a mechanism fired this step on ``accounts`` (ids) and moved ``notional`` (money)."""
        rec = self.extra[name]
        rec["fired_steps"] += 1
        mask = self._touched_accounts.setdefault(name, np.zeros(self.book.n_accounts, dtype=bool))
        mask[np.asarray(accounts, dtype=np.int64)] = True
        rec["accounts"] = int(mask.sum())
        rec["notional"] += int(notional)

    def _flush(self, t: int, m: int) -> None:
        """Move the buffer's events (instrument ``m``'s) into the log."""
        self.log.append(self.buf, t, int(self.time_ns[t]), m)

    def _on(self, m: int) -> np.ndarray | bool:
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
        instrument, the step's series."""
        b, mech, M = self.book, self.mech, self.M
        now = int(self.time_ns[t])
        expiring = [
            m for m in range(M) if self.expiries[m] is not None and self.settled[m] is None and now >= self.expiries[m]
        ]
        live = [m for m in range(M) if self.settled[m] is None and m not in expiring]
        if mech.mm_withdrawal.enabled and any(float(self.mw_scales[m][t]) < 1.0 for m in live):
            self._note("mm_withdrawal", np.zeros(0, dtype=np.int64), 0)  # once a step, however many books thin
        for m in live:
            centre = float(self.centre_ticks[m][t])
            self.states[m][0] *= self.refill
            if mech.mm_withdrawal.enabled:
                s = float(self.mw_scales[m][t])
                base = self.curves_base[m]
                self.curves[m] = (base[0], base[1] * s, base[2] * s, base[3] * s, base[4] * s)
            last = marginal_price(centre, self.states[m][0], self.curves[m])
            self.marks[m] = self.mark_rules[m].update(centre, last, self.dt)
            self.mark_s_all[m][t] = self.marks[m]
        for m in expiring:  # final settlement, at this step's marks of the other instruments
            self._settle(t, m)
        if expiring and self.sweep_skip is not None:
            self.sweep_skip.drop()  # the settlement changed the book
        open_ = []
        for m in live:
            centre, mark = float(self.centre_ticks[m][t]), int(self.marks[m])
            if mech.dynamic_margin.enabled and t % self.dm_every == 0:
                self._dynamic_margin(t, m)
            if mech.funding.enabled and self.insts[m].kind != "dated_future":
                self._funding(t, m, centre, mark)
                self._flush(t, m)
            halted = mech.circuit_breaker.enabled and self.breakers[m].update(t, self.mark_s_all[m])
            if halted:
                if self.breakers[m].halts and self.breakers[m].halts[-1][0] == t:
                    self._note("circuit_breaker", np.zeros(0, dtype=np.int64), 0)
            else:
                open_.append(m)
        if mech.circuit_breaker.enabled and len(open_) < len(live):
            self.halted_steps += 1
        if open_:
            self._liquidations(t, open_)
        if mech.proactive_deleveraging.enabled:
            for m in open_:
                self._proactive(t, m, float(self.centre_ticks[m][t]), int(self.marks[m]))
                self._flush(t, m)
        for m in range(M):
            if self.settled[m] is not None:  # a settled future: no book, its mark stays at the settlement price
                self.mark_s_all[m][t] = self.last_s_all[m][t] = self.marks[m]
            else:
                self.last_s_all[m][t] = marginal_price(
                    float(self.centre_ticks[m][t]), self.states[m][0], self.curves[m]
                )
            self.fund_s_all[m][t] = self.funds.of(m)[0]
        if self.check_every_step:
            _check(b, self.fund, self.money_start, M)

    def _settle(self, t: int, m: int) -> None:
        """Final settlement of dated future ``m`` at its first step at or after expiry (:mod:`delever.settlement`)."""
        self.settled[m] = settle_at(self.book, m, self.insts[m], self.paths[m], t, self.windows[m], self.marks,
                                    self.vpl, self.funds.of(m), self.adl_policy, self.buf,
                                    lambda name: self._position_data(name, t))  # fmt: skip
        self._flush(t, m)

    def _liquidations(self, t: int, instruments: list[int]) -> None:
        """Find the liquidatable positions (trigger index, or one sweep of the whole book) and liquidate those on
        ``instruments`` (the live, unhalted ones), instrument by instrument, most under water first."""
        b, mech = self.book, self.mech
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
            equity_all, req_all = self._health(found)
        else:
            iso = b.isolated[found]
            equity_all = np.where(iso, self.pos_eq[found], self.acc_eq[b.account[found]])
            req_all = np.where(iso, self.pos_mm[found], self.acc_mm[b.account[found]])
        ratio_all = equity_all / np.maximum(req_all, 1)
        if self.M > 1:
            upnl = b.size[found] * self.marks[b.instrument[found]] * self.vpl[b.instrument[found]] - b.cost[found]
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
            mark = int(self.marks[m])
            if self.M > 1:  # contagion: a cross position in profit, taken down by its account's other positions
                dragged = (upnl[sel][sort] > 0) & ~b.isolated[order]
                self.contagion[m] += int(dragged.sum())
                self.contagion_notional[m] += int((np.abs(b.size[order[dragged]]) * mark * self.vpl[m]).sum())
            first_event = self.buf.n
            if mech.backstop.enabled:
                kept = self._backstop(m, order, mark, t)
                order, equity = order[kept], equity[kept]
            if order.size:
                self._liquidate(m, order, equity, t, float(self.centre_ticks[m][t]), mark)
            self._touched(self.buf.cols["position"][first_event : self.buf.n].copy())
            if mech.socialized_loss.enabled:
                self._socialize(m, first_event, mark)
            self._flush(t, m)
        if self.M > 1:
            self.excluded[found] = False

    def _backstop(self, m, order, mark, t) -> np.ndarray:
        """Hand the positions below the vault's threshold (their accounts' equity and MM now, at every instrument's
        mark) to the vault's position on instrument ``m``; the mask of those left for the book."""
        b = self.book
        self.buf.ensure(4 * order.size + 8)
        keep = np.ones(order.size, dtype=np.int64)
        num, den = self.backstop_ratio
        v = int(self.vpl[m])
        notional = np.abs(b.size[order]) * mark * v
        events = EventCols.of(self.buf)
        valuation = AccountValuation(self.marks, self.vpl, self.floors, self.mmr, self.cum, self.n_tiers)
        vault = int(self.vault_positions[m])
        taken = take_over(
            order, t, self.backstop_taken_at, num, den, vault, mark, BookCols.of(b), valuation, v, keep, events
        )
        self.buf.n = events.rows()
        if taken:
            self._note("backstop", self.book.account[order[keep == 0]], int(notional[keep == 0].sum()))
        return keep == 1

    def _liquidate(self, m: int, order: np.ndarray, equity: np.ndarray, t: int, centre: float, mark: int) -> None:
        """Liquidate ``order`` (positions on instrument ``m``, sorted; ``equity`` its exact equity at the mark,
        money) through the stage, in ``m``'s book, fund and ADL queue."""
        b, mech = self.book, self.mech
        v = int(self.vpl[m])
        # --- hook: per-step liquidation limits ([liquidation], delever.mechanisms.block_limits) -------------
        limit_lots = None
        if self.block_limits is not None:
            step_plan = plan_step(order, b.size, b.account, mark, v, self.block_limits)
            if step_plan.waiting:
                self._note("block_limits", b.account[order[~step_plan.keep]], 0)
            order, equity, limit_lots = order[step_plan.keep], equity[step_plan.keep], step_plan.lots[step_plan.keep]
            if not order.size:
                return
        # --- end hook ------------------------------------------------------------------------------------
        other_mm = None
        if mech.partial_liquidation.enabled and self.M > 1:  # accounts as they stand now, over all their positions
            order, equity, other_mm = self._account_margins(order)
            if not order.size:
                return
        self.excluded[order] = True
        # the ADL queue values its counterparties when it first needs them: one sweep then, so an account an earlier
        # liquidation or ADL fill of this step changed (on this instrument or another) ranks as it now stands
        equities = None if self.use_triggers else self._equities
        tiers = self._tiers_of(m)
        queue = AdlQueue(b, m, mark, v, equities, self.excluded, self.adl_policy, tiers,
                         lambda name: self._position_data(name, t), offset_key=(self.seed, t, m))  # fmt: skip
        partial = np.zeros(order.shape[0], dtype=np.int64)
        if mech.partial_liquidation.enabled:
            pl = mech.partial_liquidation
            partial = plan(
                pl.mode,
                order,
                b.size,
                equity,
                mark,
                v,
                tiers[0],
                tiers[1],
                tiers[2],
                self.fee_ppm,
                rate_ppm(pl.slice_fraction),
                money(pl.slice_min_notional),
                self.last_partial_s,
                t * self.dt,
                pl.cooldown_s,
                other_mm,
            )
            sizes_before = b.size[order].copy()
        if limit_lots is not None:  # hook: per-step limits (delever.mechanisms.block_limits)
            partial = combine_partial(partial, limit_lots)
        adl_on = 0 if mech.socialized_loss.enabled else 1
        valuation = AccountValuation(self.marks.copy(), self.vpl, self.floors, self.mmr, self.cum, self.n_tiers)
        adl_ctl, fill_px = self.adl_triggers[m].control(
            t, int(self.funds.of(m)[0]), self.fund_s_all[m], mark, self.mark_s_all[m]
        )
        run_stage(
            order,
            b,
            v,
            self.fee_ppm,
            centre,
            self.states[m],
            self.curves[m],
            self.lp_positions[m],
            self.lp_weights[m],
            self.funds.of(m),
            queue,
            self.buf,
            partial,
            adl_on,
            valuation,
            adl_ctl,
            fill_px,
        )
        if self.M == 1:
            self.excluded[order] = False
        if mech.partial_liquidation.enabled:
            done = (partial > 0) & (b.size[order] != 0)
            if done.any():
                self.last_partial_s[order[done]] = t * self.dt
                closed = np.abs(sizes_before[done] - b.size[order][done])
                self._note("partial_liquidation", b.account[order[done]], int((closed * mark * v).sum()))

    def _account_margins(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Partial liquidation of a multi-instrument run: the positions of ``order`` whose accounts are still below
        maintenance now (after the step's earlier liquidations), with their account equity and the MM of their
        accounts' other positions (money; :func:`delever.sweep.account_health`, :func:`.partial.still_short`)."""
        b = self.book
        equity, total_mm, own_mm = (np.zeros(order.size, dtype=np.int64) for _ in range(3))
        valuation = AccountValuation(self.marks, self.vpl, self.floors, self.mmr, self.cum, self.n_tiers)
        account_health(order, BookCols.of(b), valuation, equity, total_mm, own_mm)
        short = still_short(equity, total_mm)
        return order[short], equity[short], (total_mm - own_mm)[short]

    def _position_data(self, name: str, t: int) -> np.ndarray:
        """The ADL hierarchy's per-position columns at step ``t`` (:func:`position_column`)."""
        return position_column(self.book, int(self.time_ns[t]), name, self.funding_history,
                               self.scenario.adl.funding_window_s)  # fmt: skip

    def _socialize(self, m: int, first_event: int, mark: int) -> None:
        """Claw back this step's unrecovered bad debt of protected accounts on instrument ``m`` from that
        instrument's winners, pro rata (a per-contract rule: OKX and BitMEX socialize within one contract)."""
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
        upnl = b.size * mark * int(self.vpl[m]) - b.cost
        winners = np.flatnonzero((upnl > 0) & (b.size != 0) & ~b.exempt[b.account] & self._on(m))
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

    def _proactive(self, t: int, m: int, centre: float, mark: int) -> None:
        """Proactive deleveraging on instrument ``m``: its trigger (price move, fund drawdown, system leverage)
        on its own mark, fund and positions; accounts valued over all their positions."""
        pd = self.mech.proactive_deleveraging
        b = self.book
        v = int(self.vpl[m])
        mark_s, fund_s, fund = self.mark_s_all[m], self.fund_s_all[m], int(self.funds.of(m)[0])
        on = self._on(m)
        lo = max(0, t - self.pd_window)
        ref = int(mark_s[lo])
        moved = abs(mark - ref) * 100.0 > pd.price_move_pct * ref
        peak = int(fund_s[lo:t].max()) if t > lo else fund
        drained = peak > 0 and (peak - fund) * 100.0 > pd.fund_drawdown_pct * peak
        if t % max(int(10 / self.dt), 1) == 0:
            pos_eq, acc_eq = self._equities()
            trader = ~b.exempt[b.account] & (b.size != 0) & on
            eq = np.where(b.isolated, pos_eq, acc_eq[b.account])
            tot_eq = float(np.maximum(eq[trader], 0).sum())
            tot_n = float((np.abs(b.size[trader]) * mark * v).sum())
            self.pd_system_leverage[m] = tot_n / tot_eq if tot_eq > 0 else float("inf")
        if not (moved or drained or self.pd_system_leverage[m] > pd.system_leverage):
            return
        pos_eq, acc_eq = self._equities()
        equity = np.where(b.isolated, pos_eq, acc_eq[b.account])
        mm = np.where(b.isolated, self.pos_mm, self.acc_mm[b.account])
        notional = np.abs(b.size) * mark * v
        eligible = ~b.exempt[b.account] & (b.size != 0) & on
        idx, lots = select(
            equity,
            notional,
            mm,
            b.size,
            eligible,
            mark,
            v,
            pd.trigger_leverage,
            pd.target_leverage,
            pd.max_accounts_per_step,
        )
        if idx.size == 0:
            return
        lp_pos = self.lp_positions[m]
        self.buf.ensure(idx.size * (2 + lp_pos.shape[0]))
        first = self.buf.n
        events = EventCols.of(self.buf)
        depth = LiquidityCols.make(centre, self.states[m], self.curves[m], lp_pos, self.lp_weights[m])
        moved_n = reduce_positions(idx, lots, BookCols.of(b), v, depth, events)
        self.buf.n = events.rows()
        self._touched(self.buf.cols["position"][first : self.buf.n].copy())
        self._note("proactive_deleveraging", b.account[idx], int(moved_n))

    def _dynamic_margin(self, t: int, m: int) -> None:
        dm = self.mech.dynamic_margin
        k = quantise(float(self.dm_ratios[m][t]), dm.cap)
        if k != self.dm_multipliers[m]:
            self.dm_multipliers[m] = k
            base = self.tiers_base[m]
            self.tiers_now[m] = base if k == 1.0 else scaled_tiers(base, k)
            self._set_tiers()
            if self.use_triggers:
                self._rebuild_triggers()
            self._note("dynamic_margin", np.zeros(0, dtype=np.int64), 0)
        self.dm_series_all[m][t:] = self.dm_multipliers[m]

    def _funding(self, t: int, m: int, centre: float, mark: int) -> None:
        """Perpetual ``m``'s funding: its premium index each step, a settlement at each funding time over its
        positions (:mod:`delever.mechanisms.funding`)."""
        fc = self.mech.funding
        self.funding_premium_sum[m] += (mark - centre) / centre
        self.funding_premium_n[m] += 1
        now = int(self.time_ns[t])
        prev = int(self.time_ns[t - 1]) if t > 0 else now
        if t == 0 or now // self.funding_interval_ns == prev // self.funding_interval_ns:
            return
        premium = self.funding_premium_sum[m] / max(self.funding_premium_n[m], 1)
        rate = funding_rate_ppb(premium, float(fc.interest_rate), float(fc.clamp), float(fc.cap))
        self.funding_premium_sum[m], self.funding_premium_n[m] = 0.0, 0
        self.funding_rates[m].append((t, rate))
        b = self.book
        v = int(self.vpl[m])
        # the instrument's positions only (the funding kernel skips the others)
        size = b.size if self.M == 1 else np.where(b.instrument == m, b.size, 0)
        self.buf.ensure(b.n_positions + 2)
        first = self.buf.n
        events = EventCols.of(self.buf)
        rest = pay_funding(rate, mark, v, m, BookCols.of(b), events)
        self.buf.n = events.rows()
        rows = slice(first, self.buf.n)
        paid = self.buf.cols["kind"][rows] == ev.FUNDING
        self.funding_history.append(
            (now, self.buf.cols["position"][rows][paid].copy(), self.buf.cols["amount"][rows][paid].copy())
        )
        if rest:
            self.funds.of(m)[0] += rest
            self.buf.append_rows(ev.FUNDING_ROUNDING, ev.INSURANCE_FUND, ev.FUNDING_POOL, -1, amount=rest)
        touched = self.buf.cols["position"][first : self.buf.n].copy()
        self._touched(touched)
        notional = int((np.abs(size) * mark * v).sum() // 2)
        self._note("funding", self.buf.cols["account"][first : self.buf.n], notional)

    # -- result ------------------------------------------------------------------------------------------
    def result(self) -> RunResult:
        b, M = self.book, self.M
        money_end = b.total_money(self.fund)
        extra = dict(self.extra)
        if self.mech.backstop.enabled:
            vault_end = int(b.wallet[self.vault_acc])
            for m in range(M):
                last_mark = int(self.mark_s_all[m][-1]) if self.T else 0
                vault_end += vault_equity(b, int(self.vault_positions[m]), last_mark, int(self.vpl[m])) - int(
                    b.wallet[self.vault_acc]
                )
            extra["backstop"]["vault_pnl"] = vault_end - money(self.mech.backstop.vault_wallet)
        if self.mech.circuit_breaker.enabled:
            extra["circuit_breaker"]["halts"] = sorted(h for br in self.breakers for h in br.halts)
            extra["circuit_breaker"]["halted_steps"] = self.halted_steps
        if self.mech.dynamic_margin.enabled:
            extra["dynamic_margin"]["max_multiplier"] = (
                max(float(s.max()) for s in self.dm_series_all) if self.T else 1.0
            )
        if self.mech.mm_withdrawal.enabled:
            extra["mm_withdrawal"]["elasticity"] = self.mw_elasticity
            extra["mm_withdrawal"]["min_depth_scale"] = min(float(s.min()) for s in self.mw_scales) if self.T else 1.0
        if self.mech.funding.enabled:  # the scenario's instrument's rates (each instrument's: cross_margin)
            extra["funding"]["rates_ppb"] = [r for _, r in self.funding_rates[0]]
        if self.mech.proactive_deleveraging.enabled:
            extra["proactive_deleveraging"]["system_leverage_last"] = max(self.pd_system_leverage)
        if M == 1 and self.settled[0] is not None:
            extra["settlement"] = self.settled[0].as_dict(self.inst)
        if M > 1:
            extra["cross_margin"] = self._per_instrument()
        # the run is over: release the per-position work state before the event log becomes its columns, so
        # that the end of a large run holds only the books and the events (issue #6's memory per position)
        released = self.book.n_positions * 8 * 4 + self.buf.capacity * 66  # about what is let go here (bytes)
        for name in ("trigger", "index", "liq_out", "excluded", "buf", "pos_eq", "pos_mm", "acc_eq", "acc_mm",
                     "scratch", "last_partial_s", "_touched_accounts", "sweep_skip"):  # fmt: skip
            self.__dict__.pop(name, None)
        self._sweep_arrays_ready = False
        if released >= TRIM_BYTES:
            _trim_heap()
        book_start = self.__dict__.pop("_start").book()
        events = self.log.columns()
        if M > 1:
            extra["cross_margin"]["instruments"] = self._instrument_figures(events)
            steps = StepSeries(
                self.time_ns, self.index_ticks, self.mark_s, self.last_s, self.funds.total_series(self.fund_s_all)
            )
            lp_accounts = int(b.exempt.sum()) - (1 if self.mech.backstop.enabled else 0)
        else:
            steps = StepSeries(self.time_ns, self.index_ticks, self.mark_s, self.last_s, self.fund_s)
            lp_accounts = int(self.lp_pos.size)
        return RunResult(
            scenario=self.scenario,
            seed=self.seed,
            instrument=self.inst,
            book_start=book_start,
            book=b,
            steps=steps,
            events=events,
            fund_start=self.fund_start,
            money_start=self.money_start,
            money_end=money_end,
            depth=self.base.depth,
            path=self.path,
            lp_accounts=lp_accounts,
            account_labels=self.base.labels,
            extra=extra,
            instruments=list(self.insts) if M > 1 else None,
            marks_end=self.marks.copy() if M > 1 else None,
            instrument_steps=[
                StepSeries(
                    self.time_ns, self.index_ticks_all[m], self.mark_s_all[m], self.last_s_all[m], self.fund_s_all[m]
                )
                for m in range(M)
            ]
            if M > 1
            else None,  # fmt: skip
        )

    def _per_instrument(self) -> dict:
        """The cross-margin totals of a multi-instrument run (contagion liquidations: a cross position in profit
        closed because its account's other positions took it below maintenance)."""
        c = self.contagion
        return {"fired_steps": int((c > 0).sum()), "accounts": int(c.sum()),
                "notional": int(self.contagion_notional.sum())}  # fmt: skip

    def _instrument_figures(self, e: dict[str, np.ndarray]) -> list[dict]:
        """Per-instrument figures of a multi-instrument run from its event columns ``e``."""
        b, n = self.book, self.book.n_positions
        per = []
        for m, inst in enumerate(self.insts):
            rows = e["instrument"] == m
            k = e["kind"][rows]
            notional = np.abs(e["size"][rows]) * e["price"][rows] * int(self.vpl[m])
            fills = (k == ev.LIQUIDATION_FILL) | (k == ev.ADL_FILL)
            amounts = e["amount"][rows]
            into_fund = (e["counterparty"][rows] == ev.INSURANCE_FUND) & (k != ev.BAD_DEBT)  # fees in, payouts out
            long_, short = b.open_interest(m)
            rec = {
                "symbol": inst.symbol,
                "liquidations": int(np.unique(e["step"][rows][fills] * (n + 1) + e["position"][rows][fills]).size),
                "contagion_liquidations": int(self.contagion[m]),
                "contagion_notional": int(self.contagion_notional[m]),
                "liquidated_notional": int(notional[fills].sum()),
                "bad_debt": int(amounts[k == ev.INSURANCE_PAYOUT].sum() - amounts[k == ev.BAD_DEBT].sum()),
                # a shared fund: the pool's figures on every instrument, and this instrument's net flow into it
                "insurance_fund_start": self.funds.start_of(m),
                "insurance_fund_end": int(self.funds.of(m)[0]),
                "insurance_fund_shared": self.funds.shared,
                "insurance_fund_flow": exact_sum(np.where(into_fund, -amounts, 0))
                + exact_sum(np.where(e["account"][rows] == ev.INSURANCE_FUND, amounts, 0)),
                "adl_notional": int(notional[k == ev.ADL_COUNTERPARTY_FILL].sum()),
                "min_mark": float(self.mark_s_all[m].min()) * float(inst.tick_size) if self.T else 0.0,
                "open_interest_balanced": long_ == short,
                "open_interest_end": float(long_ * inst.lot_size),
                "kind": inst.kind,
                "expiry": None if inst.expiry is None else inst.expiry.isoformat(),
                "settlement": None if self.settled[m] is None else self.settled[m].as_dict(inst),
            }
            if self.mech.funding.enabled:
                rec["funding_rates_ppb"] = [r for _, r in self.funding_rates[m]]
            if self.mech.circuit_breaker.enabled:
                rec["halts"] = list(self.breakers[m].halts)
            per.append(rec)
        return per


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


def _check(book: Book, fund: np.ndarray, money_start: int, instruments: int = 1) -> None:
    total = book.total_money(fund)
    if total != money_start:
        raise ConservationError(f"money changed by {total - money_start} units")
    for m in range(instruments):
        long_, short = book.open_interest(m)
        if long_ != short:
            raise ConservationError(f"open interest of instrument {m} unbalanced: long {long_} vs short {short}")


def tier_arrays(tiers: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The margin tiers of instruments ``0..M-1`` (:class:`delever.instruments.Tiers` each) as the kernels take
    them: ``floors``, ``mmr_ppm``, ``cum`` int64 (M, k), k the most tiers of any, rows padded with an
    unreachable floor, and ``n_tiers`` int64 (M,)."""
    k = max(len(t.tiers) for t in tiers)
    big = np.iinfo(np.int64).max
    floors = np.full((len(tiers), k), big, dtype=np.int64)
    mmr = np.zeros((len(tiers), k), dtype=np.int64)
    cum = np.zeros((len(tiers), k), dtype=np.int64)
    for m, t in enumerate(tiers):
        n = len(t.tiers)
        floors[m, :n], mmr[m, :n], cum[m, :n] = t.floors, t.mmr_ppm, t.cum
    return floors, mmr, cum, np.array([len(t.tiers) for t in tiers], dtype=np.int64)
