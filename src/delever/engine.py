"""The step loop: prices -> mark -> margin sweep -> liquidation (book, insurance fund, ADL) -> events.

One step of the clock (``step_seconds``), in this order:

1. the index price of the step (:mod:`delever.prices`) becomes the book's centre;
2. the book refills: absorbed quantity decays with the resilience half-life (:mod:`delever.liquidity`);
3. the mark price follows the index and the venue's last trade (:mod:`delever.mark`);
4. the whole book is swept at the mark (:mod:`delever.sweep`); every position whose account (cross) or
   isolated margin is below maintenance margin is liquidated in full, most under water first
   (lowest ``equity / MM``, then position index) - partial, tier-by-tier liquidation is a later stage that
   would replace this whole-position order;
5. the liquidation stage (:mod:`delever.liquidation`) fills against the book, settles through the insurance
   fund, and auto-deleverages against the ADL queue (:mod:`delever.adl.queue`) what the fund cannot cover;
6. the step's events are appended to the log and its aggregates recorded.

Liquidation orders of one step see each other's impact (they walk the same book in turn); the mark moves
with that impact from the next step on: the cascade. A run is a pure function of (scenario, seed): no clock,
no unseeded randomness, deterministic orderings everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from . import events as ev
from .adl.queue import AdlQueue
from .book import Book
from .bookio import load_book
from .errors import ConservationError
from .generator import GeneratorParams, generate_book
from .instruments import Instrument
from .liquidation import DONE, NEED_EVENTS, NEED_QUEUE_LONGS, liquidate
from .liquidity import DepthCurve, marginal_price, refill_factor
from .mark import MarkPrice
from .marketdata import DepthProfile, calibrate_depth, load_book_depth, load_klines
from .prices import PricePath, path_from_klines
from .scenario import Scenario, window_ms
from .sweep import margin_sweep, position_health, update_triggers
from .trigger_index import TriggerIndex
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


def prepare(scenario: Scenario, seed: int) -> Market:
    """Load and build every input of a run (raises :class:`~delever.errors.InputError` on bad input)."""
    inst = scenario.instrument.build()
    kl = load_klines(scenario.resolve(scenario.prices.file))
    path = path_from_klines(kl, scenario.step_seconds, window_ms(scenario.prices.start), window_ms(scenario.prices.end))
    liq = scenario.liquidity
    depth_raw = load_book_depth(scenario.resolve(liq.depth_file))
    profile = calibrate_depth(depth_raw, liq.depth_window_start.isoformat(), liq.depth_window_end.isoformat())
    curve = DepthCurve.from_profile(profile, inst, liq.depth_scale)
    start_ticks = inst.price_to_ticks(Decimal(repr(float(path.index[0]))), rounding="floor")
    labels = None
    if scenario.book.generator is not None:
        g = scenario.book.generator
        params = GeneratorParams(**g.model_dump())
        book = generate_book(params, inst, start_ticks, seed, liq.lp_accounts, liq.lp_wallet)
    else:
        book, labels = load_book(scenario.resolve(scenario.book.file or ""), inst, start_ticks,
                                 liq.lp_accounts, liq.lp_wallet)
    return Market(inst, path, profile, curve, book, start_ticks, labels)


def run(scenario: Scenario, seed: int | None = None, progress: Callable[[int, int], None] | None = None,
        market: Market | None = None, check_every_step: bool = False, full_sweep: bool = False) -> RunResult:
    """Run a scenario. ``seed`` overrides the scenario's; ``progress(done, total)`` is called now and then.

    When every cross account holds one position, liquidations are found from each position's exact
    trigger price (:func:`delever.sweep.trigger_price`), kept sorted (:mod:`delever.trigger_index`) and
    recomputed for the positions a step touched; ``full_sweep=True`` (or a book with multi-position cross accounts) marks the whole book
    to market every step instead (:func:`delever.sweep.margin_sweep`). Both give the same events (tested).

    Raises:
        InputError: bad input files or values.
        ConservationError: the money identity changed (a bug; checked at the end, and every step with
            ``check_every_step``).
    """
    seed = scenario.seed if seed is None else seed
    m = market or prepare(scenario, seed)
    inst, path, curve_obj = m.instrument, m.path, m.curve
    book = m.book.copy()
    book_start = m.book.copy()
    curve = curve_obj.arrays()
    v = inst.value_per_lot_tick
    fee_ppm = rate_ppm(scenario.fees.liquidation_fee_rate)
    fund = np.array([money(scenario.insurance_fund.balance)], dtype=np.int64)
    fund_start = int(fund[0])
    money_start = book.total_money(fund)

    n, a = book.n_positions, book.n_accounts
    tiers = inst.tiers
    floors, mmr, cum = tiers.floors[None, :], tiers.mmr_ppm[None, :], tiers.cum[None, :]
    n_tiers = np.array([len(tiers.tiers)], dtype=np.int64)
    vpl = np.array([v], dtype=np.int64)
    pos_eq = np.zeros(n, dtype=np.int64)
    pos_mm = np.zeros(n, dtype=np.int64)
    acc_eq = np.zeros(a, dtype=np.int64)
    acc_mm = np.zeros(a, dtype=np.int64)
    liq_out = np.zeros(n, dtype=np.int64)
    excluded = np.zeros(n, dtype=bool)
    lp_pos = np.flatnonzero(book.exempt[book.account]).astype(np.int64)
    lp_weight = np.ones(lp_pos.shape[0], dtype=np.int64)
    if lp_pos.size == 0:
        raise ValueError("the book needs at least one liquidity-provider position")

    tick = float(inst.tick_size)
    mark_rule = MarkPrice(scenario.mark.basis_ema_s)
    dt = scenario.step_seconds
    refill = refill_factor(dt, scenario.liquidity.resilience_half_life_s)
    state = np.zeros(1, dtype=np.float64)
    buf = ev.EventBuffer()
    log = ev.EventLog()
    T = path.steps
    index_ticks = path.index / tick
    mark_s = np.zeros(T, dtype=np.int64)
    last_s = np.zeros(T, dtype=np.float64)
    fund_s = np.zeros(T, dtype=np.int64)
    marks = np.zeros(1, dtype=np.int64)
    use_triggers = not full_sweep and trigger_mode(book, inst)
    trigger = np.zeros(n, dtype=np.int64)
    if use_triggers:
        update_triggers(np.arange(n, dtype=np.int64), book.size, book.cost, book.collateral, book.isolated,
                        book.account, book.instrument, book.wallet, book.exempt, vpl, floors, mmr, cum, n_tiers,
                        trigger)
        index = TriggerIndex(book.size, trigger)
    health_eq = np.zeros(n, dtype=np.int64)
    health_mm = np.zeros(n, dtype=np.int64)

    def equities() -> tuple[np.ndarray, np.ndarray]:
        if use_triggers:  # the full sweep did not run this step: compute what ADL scores need
            margin_sweep(book.size, book.cost, book.collateral, book.isolated, book.account, book.instrument,
                         book.wallet, marks, vpl, floors, mmr, cum, n_tiers, book.exempt, pos_eq, pos_mm,
                         acc_eq, acc_mm, scratch)
        return pos_eq, acc_eq

    scratch = np.zeros(n, dtype=np.int64)

    for t in range(T):
        centre = float(index_ticks[t])
        state[0] *= refill
        last = marginal_price(centre, state[0], curve)
        marks[0] = mark_rule.update(centre, last, dt)
        if use_triggers:
            count = index.scan(int(marks[0]), t, liq_out)
        else:
            count = margin_sweep(book.size, book.cost, book.collateral, book.isolated, book.account,
                                 book.instrument, book.wallet, marks, vpl, floors, mmr, cum, n_tiers, book.exempt,
                                 pos_eq, pos_mm, acc_eq, acc_mm, liq_out)
        if count:
            order = liq_out[:count].copy()
            if use_triggers:
                equity, req = health_eq[:count], health_mm[:count]
                position_health(order, book.size, book.cost, book.collateral, book.isolated, book.account,
                                book.instrument, book.wallet, marks, vpl, floors, mmr, cum, n_tiers, equity, req)
            else:
                equity = np.where(book.isolated[order], pos_eq[order], acc_eq[book.account[order]])
                req = np.where(book.isolated[order], pos_mm[order], acc_mm[book.account[order]])
            ratio = equity / np.maximum(req, 1)
            order = order[np.lexsort((order, ratio))]
            excluded[order] = True
            queue = AdlQueue(book, 0, int(marks[0]), v, equities, excluded)
            first_event = buf.n
            start = 0
            while True:
                c = buf.cols
                ev_n = np.array([buf.n], dtype=np.int64)
                status, start = liquidate(
                    order, start, book.size, book.cost, book.collateral, book.isolated, book.account,
                    book.wallet, v, fee_ppm, centre, state, curve, lp_pos, lp_weight, fund,
                    queue.queue, queue.indicator, queue.length, queue.pointer, queue.available, queue.complete,
                    c["kind"], c["account"], c["counterparty"], c["position"], c["size"], c["price"],
                    c["amount"], c["indicator"], ev_n,
                )
                buf.n = int(ev_n[0])
                if status == DONE:
                    break
                if status == NEED_EVENTS:
                    buf.ensure(buf.capacity + 4 * lp_pos.shape[0] + 64)
                else:
                    side = 0 if status == NEED_QUEUE_LONGS else 1
                    queue.extend(side)
                    need = 2 * int(queue.length[side] - queue.pointer[side]) + 4 * lp_pos.shape[0] + 16
                    buf.ensure(need)
            excluded[order] = False
            if use_triggers:
                touched = np.unique(buf.cols["position"][first_event: buf.n])
                update_triggers(touched, book.size, book.cost, book.collateral, book.isolated, book.account,
                                book.instrument, book.wallet, book.exempt, vpl, floors, mmr, cum, n_tiers, trigger)
                index.changed(touched)
            last = marginal_price(centre, state[0], curve)
        log.append(buf, t, int(path.time_ns[t]), 0)
        mark_s[t] = marks[0]
        last_s[t] = last
        fund_s[t] = fund[0]
        if check_every_step:
            _check(book, fund, money_start)
        if progress is not None and (t % 64 == 0 or t == T - 1):
            progress(t + 1, T)

    money_end = book.total_money(fund)
    return RunResult(
        scenario=scenario,
        seed=seed,
        instrument=inst,
        book_start=book_start,
        book=book,
        steps=StepSeries(path.time_ns, index_ticks, mark_s, last_s, fund_s),
        events=log.columns(),
        fund_start=fund_start,
        money_start=money_start,
        money_end=money_end,
        depth=m.depth,
        path=path,
        lp_accounts=int(book.exempt.sum()),
        account_labels=m.labels,
    )


def trigger_mode(book: Book, inst: Instrument) -> bool:
    """Whether trigger prices decide liquidations exactly for this book: every cross account holds at most
    one position, and ``equity - MM`` moves monotonically with the price (``V * (1 - MMR_max) > 1``)."""
    cross_accounts = book.account[~book.isolated & ~book.exempt[book.account]]
    if np.unique(cross_accounts).size != cross_accounts.size:
        return False
    return inst.value_per_lot_tick * (1_000_000 - int(inst.tiers.mmr_ppm.max())) > 1_000_000


def _check(book: Book, fund: np.ndarray, money_start: int) -> None:
    total = book.total_money(fund)
    if total != money_start:
        raise ConservationError(f"money changed by {total - money_start} units")
    long_, short = book.open_interest(0)
    if long_ != short:
        raise ConservationError(f"open interest unbalanced: long {long_} vs short {short}")
