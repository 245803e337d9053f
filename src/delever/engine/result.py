"""What a run produced (:class:`RunResult`, :class:`StepSeries`), and how the simulation's end state becomes
it (:func:`build_result`): the mechanisms' figures (:meth:`delever.mechanisms.base.Mechanism.finish`), a
multi-instrument run's per-instrument figures, and the release of the per-position work state before the event
log becomes its columns. :mod:`delever.output` turns a result into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import events as ev
from ..book import Book
from ..instruments import Instrument
from ..marketdata import DepthProfile
from ..prices import PricePath
from ..scenario import Scenario
from ..units import exact_sum


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


def build_result(sim) -> RunResult:
    """The :class:`RunResult` of the finished simulation ``sim`` (:class:`delever.engine.simulation.Simulation`):
    money at the end, the mechanisms' figures (phase 8, :mod:`delever.mechanisms.base`), a multi-instrument
    run's per-instrument figures, the event log's columns. Releases the simulation's per-position work state
    first, so that the end of a large run holds only the books and the events (issue #6's memory per
    position); call it once."""
    b, M = sim.book, sim.M
    money_end = b.total_money(sim.fund)
    extra = dict(sim.extra)
    for mechanism in sim.mechanisms:
        mechanism.finish(sim, extra)
    if M == 1 and sim.settled[0] is not None:
        extra["settlement"] = sim.settled[0].as_dict(sim.inst)
    if M > 1:
        c = sim.contagion  # cross-margin totals (a cross position in profit closed by its account's others)
        extra["cross_margin"] = {"fired_steps": int((c > 0).sum()), "accounts": int(c.sum()),
                                 "notional": int(sim.contagion_notional.sum())}  # fmt: skip
    released = b.n_positions * 8 * 4 + sim.buf.capacity * 66  # about what is let go here (bytes)
    for name in ("trigger", "index", "liq_out", "excluded", "buf", "pos_eq", "pos_mm", "acc_eq", "acc_mm",
                 "scratch", "noted_accounts", "sweep_skip"):  # fmt: skip
        sim.__dict__.pop(name, None)
    sim.sweep_arrays_ready = False
    if released >= TRIM_BYTES:
        trim_heap()
    book_start = sim.__dict__.pop("start_snapshot").book()
    events = sim.log.columns()
    if M > 1:
        extra["cross_margin"]["instruments"] = instrument_figures(sim, events)
        steps = StepSeries(sim.time_ns, sim.index_ticks, sim.mark_s, sim.last_s, sim.funds.total_series(sim.fund_s_all))
        lp_accounts = int(b.exempt.sum()) - sim.added_accounts
    else:
        steps = StepSeries(sim.time_ns, sim.index_ticks, sim.mark_s, sim.last_s, sim.fund_s)
        lp_accounts = int(sim.lp_pos.size)
    return RunResult(
        scenario=sim.scenario,
        seed=sim.seed,
        instrument=sim.inst,
        book_start=book_start,
        book=b,
        steps=steps,
        events=events,
        fund_start=sim.fund_start,
        money_start=sim.money_start,
        money_end=money_end,
        depth=sim.base.depth,
        path=sim.path,
        lp_accounts=lp_accounts,
        account_labels=sim.base.labels,
        extra=extra,
        instruments=list(sim.insts) if M > 1 else None,
        marks_end=sim.marks.copy() if M > 1 else None,
        instrument_steps=[
            StepSeries(sim.time_ns, sim.index_ticks_all[m], sim.mark_s_all[m], sim.last_s_all[m], sim.fund_s_all[m])
            for m in range(M)
        ]
        if M > 1
        else None,  # fmt: skip
    )


def instrument_figures(sim, e: dict[str, np.ndarray]) -> list[dict]:
    """Per-instrument figures of a multi-instrument run from its event columns ``e``."""
    b, n = sim.book, sim.book.n_positions
    per = []
    for m, inst in enumerate(sim.insts):
        rows = e["instrument"] == m
        k = e["kind"][rows]
        notional = np.abs(e["size"][rows]) * e["price"][rows] * int(sim.vpl[m])
        fills = (k == ev.LIQUIDATION_FILL) | (k == ev.ADL_FILL)
        amounts = e["amount"][rows]
        into_fund = (e["counterparty"][rows] == ev.INSURANCE_FUND) & (k != ev.BAD_DEBT)  # fees in, payouts out
        long_, short = b.open_interest(m)
        rec = {
            "symbol": inst.symbol,
            "liquidations": int(np.unique(e["step"][rows][fills] * (n + 1) + e["position"][rows][fills]).size),
            "contagion_liquidations": int(sim.contagion[m]),
            "contagion_notional": int(sim.contagion_notional[m]),
            "liquidated_notional": int(notional[fills].sum()),
            "bad_debt": int(amounts[k == ev.INSURANCE_PAYOUT].sum() - amounts[k == ev.BAD_DEBT].sum()),
            # a shared fund: the pool's figures on every instrument, and this instrument's net flow into it
            "insurance_fund_start": sim.funds.start_of(m),
            "insurance_fund_end": int(sim.funds.of(m)[0]),
            "insurance_fund_shared": sim.funds.shared,
            "insurance_fund_flow": exact_sum(np.where(into_fund, -amounts, 0))
            + exact_sum(np.where(e["account"][rows] == ev.INSURANCE_FUND, amounts, 0)),
            "adl_notional": int(notional[k == ev.ADL_COUNTERPARTY_FILL].sum()),
            "min_mark": float(inst.display_prices(sim.mark_s_all[m]).min()) if sim.T else 0.0,
            "open_interest_balanced": long_ == short,
            "open_interest_end": float(long_ * inst.lot_size),
            "kind": inst.kind,
            "expiry": None if inst.expiry is None else inst.expiry.isoformat(),
            "settlement": None if sim.settled[m] is None else sim.settled[m].as_dict(inst),
        }
        for mechanism in sim.mechanisms:
            mechanism.instrument_figures(sim, m, rec)
        per.append(rec)
    return per


TRIM_BYTES = 32 * 2**20
"""A run that lets go of this much at its end hands the freed heap back (:func:`trim_heap`); a small one does
not, as the next run would only fault the same pages in again."""


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; nothing elsewhere): the arrays a
    large run just released are scattered through the heap, and would otherwise stay resident while the
    results are built (the same call dask.distributed workers make to return freed memory)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
