"""The protocol between the engine's step loop and the mechanisms: the phases of a step a mechanism may act in.

The engine (:class:`delever.engine.simulation.Simulation`) holds the run's state and calls every enabled mechanism
(:func:`delever.mechanisms.registry.build`, in the registry's order) at fixed points of each step; a mechanism
never edits the engine, and adding one means writing a :class:`Mechanism` subclass in its own module and listing
it in :mod:`delever.mechanisms.registry`. The phases, in the order the engine runs them:

Book time (:func:`delever.engine.market.prepare` and :func:`delever.contagion.prepare_multi`, before the run):

-1. :meth:`Mechanism.shape_book` - what the mechanism asks of the starting book (:class:`BookRules`: the
    position limits' notional cap, socialized loss's share of protected accounts), folded over the mechanisms
    of :data:`delever.mechanisms.registry.BOOK_MECHANISMS` by :func:`delever.mechanisms.registry.book_rules`.

Run start (``Simulation.__init__``):

0. :meth:`Mechanism.add_accounts` - before the starting book is recorded: add the mechanism's own accounts
   (the backstop vault). They are exempt from liquidation and are not liquidity providers.
1. :meth:`Mechanism.setup` - once the engine's state exists: build per-instrument state and summary figures.

One step ``t`` (``Simulation.step``; ``live``: the instruments not settled and not expiring this step):

2. :meth:`Mechanism.before_marks` - before the books refill and the marks move (market makers withdraw).
3. the engine: each live book refills, each live mark moves; expiring dated futures settle.
4. :meth:`Mechanism.before_sweep` - per live instrument, in instrument order: margin changes, funding, and the
   gate (``True`` halts that instrument's liquidations this step: a circuit breaker).
5. the engine: one margin sweep (or the trigger index) finds the liquidatable positions (after a full sweep,
   :meth:`Mechanism.after_sweep`: requirements beyond the tier tables); per open (unhalted)
   instrument, most under water first, a :class:`Batch`:

   a. :meth:`Mechanism.take` - take positions out of the batch before the book (the backstop vault takes
      over, per-step limits make some wait); the phase stops once the batch is empty;
   b. :meth:`Mechanism.size` - when positions remain: size each order (``Batch.lots``; partial liquidation,
      per-step limits; a sizing mechanism may drop positions that need no order, :meth:`Batch.keep`), then,
      when positions remain, the engine runs the liquidation stage (book, insurance fund, ADL; ADL is off
      when a mechanism :attr:`~Mechanism.replaces_adl`);
   c. the engine refreshes the trigger prices of the positions the step's events touched;
   d. :meth:`Mechanism.after_stage` - after the stage (partial liquidation's cooldowns, socialized loss);
   e. the engine appends the instrument's events to the log.

6. :meth:`Mechanism.after_liquidations` - per open instrument, after every instrument's liquidations
   (proactive deleveraging).
7. the engine records the step's series (marks, last prices, funds).

Run end (``Simulation.result``):

8. :meth:`Mechanism.finish` - add the mechanism's figures to the run's ``extra`` (summary.json ``mechanisms``)
   and let go of per-position work state; :meth:`Mechanism.instrument_figures` - per instrument of a
   multi-instrument run.

A mechanism's state lives on its object (checkpointed with the simulation, :mod:`delever.checkpoint`); what
it reads and writes of the run goes through :class:`Engine`. Every phase has a default that does nothing, so
a mechanism implements only the phases it acts in. A mechanism with :attr:`~Mechanism.per_step` acts on steps
where no position is liquidated, which turns off the engine's compiled loop of quiet steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass(frozen=True)
class BookRules:
    """What the enabled mechanisms ask of the starting book (phase -1, :meth:`Mechanism.shape_book`), read by the
    book's builders (:func:`delever.generator.generate_book`, :func:`delever.bookio.load_book`,
    :func:`delever.contagion.prepare_multi`).

    ``max_account_notional``: each trader account's entry notional cap (quote, Decimal; None: no cap; position
    limits, :mod:`delever.mechanisms.limits`). ``protected_fraction``: the share of generated trader accounts with
    negative-balance protection (1.0: all; socialized loss, :mod:`delever.mechanisms.socialized`).
    """

    max_account_notional: Any = None
    protected_fraction: float = 1.0


@dataclass
class Batch:
    """The positions of instrument ``m`` the liquidation stage handles at step ``t``.

    ``order``: int64 position indices, most under water first (lowest ``equity / MM``, then index); ``equity``
    and ``req``: int64 (len(order),) each position's exact equity and maintenance margin at the mark (money; an
    account's, for a cross position); ``mark``: the instrument's mark (ticks); ``centre``: its book centre
    (ticks, float); ``first_event``: the event buffer's row where this batch's events start. Set by the engine:
    before the size phase ``lots`` int64 (len(order),) lots to close per position (0: the whole position), after
    it ``size_before`` (each position's size before the stage); ``ran``: whether the stage ran (positions
    were left after the take and size phases). ``caps``: int64 per-position lot caps a take-phase mechanism hands to
    its own size phase (per-step limits), or None.
    """

    t: int
    m: int
    mark: int
    centre: float
    order: np.ndarray
    equity: np.ndarray
    req: np.ndarray
    first_event: int
    lots: np.ndarray | None = None
    size_before: np.ndarray | None = None
    caps: np.ndarray | None = None
    ran: bool = False

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the positions where ``mask`` (bool, (len(order),)) is true, in order (``caps`` and
        ``lots`` too)."""
        self.order, self.equity, self.req = self.order[mask], self.equity[mask], self.req[mask]
        if self.caps is not None:
            self.caps = self.caps[mask]
        if self.lots is not None:
            self.lots = self.lots[mask]


class Engine(Protocol):
    """What a mechanism may read and call on the running simulation (:class:`delever.engine.simulation.Simulation`).

    Shapes: ``M`` instruments, ``T`` steps, ``n`` positions of ``book``. Money is int64 micro-units, prices are
    ticks (:mod:`delever.units`).
    """

    scenario: Any  # the run's :class:`delever.scenario.Scenario`
    book: Any  # the run's :class:`delever.book.Book` (mutated in place)
    M: int
    T: int
    dt: float  # seconds per step
    insts: list  # the instruments (:class:`delever.instruments.Instrument`), index = instrument number
    paths: list  # each instrument's index path (:class:`delever.prices.PricePath`)
    base: Any  # the scenario instrument's prepared market (:class:`delever.engine.market.Market`)
    time_ns: np.ndarray  # int64 (T,) step times
    vpl: np.ndarray  # int64 (M,) money per lot per tick
    fee_ppm: int  # the liquidation fee rate (ppm)
    centre_ticks: list  # per instrument, float64 (T,) its book's centre (the index, or a future's index + basis)
    marks: np.ndarray  # int64 (M,) the current marks
    mark_s_all: list  # per instrument, int64 (T,) marks of the steps so far
    funds: Any  # the insurance funds (:class:`delever.insurance.InsuranceFunds`; ``funds.of(m)`` instrument m's)
    fund_s_all: list  # per instrument, int64 (T,) funds of the steps so far
    states: list  # per instrument, float64 (1,) absorbed quantity of its book (delever.liquidity)
    curves: list  # per instrument, the depth curve arrays the stage walks this step
    curves_base: list  # per instrument, the calibrated depth curve arrays
    lp_positions: list  # per instrument, int64 positions of the liquidity providers
    lp_weights: list  # per instrument, int64 weights of those positions
    tiers_base: list  # per instrument, the scenario's margin tiers (delever.tiers.RiskTiers)
    rule: tuple  # the margin fields of delever.columns.AccountValuation after its tier arrays (tiers.tier_rules)
    use_triggers: bool  # liquidations found from trigger prices (else a full sweep each step)
    buf: Any  # the step's :class:`delever.events.EventBuffer`
    extra: dict  # the run's mechanism figures (summary.json), ``extra[name]`` a dict per mechanism
    funding_history: list  # (time ns, positions, amounts) of each funding settlement (ADL hierarchy)

    def note(self, name: str, accounts: np.ndarray, notional: int) -> None: ...  # a mechanism fired

    def touched(self, positions: np.ndarray) -> None: ...  # positions whose size/cost/collateral changed

    def equities(self) -> tuple[np.ndarray, np.ndarray]: ...  # exact (position, account) equities

    pos_mm: np.ndarray  # int64 (n,) each position's MM, as of the last equities()
    acc_mm: np.ndarray  # int64 (accounts,) each account's MM, as of the last equities()

    def account_margins(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    # exact (equity, MM, own MM) of the positions' accounts as the book stands now (delever.sweep.account_health)

    def on(self, m: int) -> np.ndarray | bool: ...  # mask of instrument m's positions

    def flush(self, t: int, m: int) -> None: ...  # move the buffer's events (instrument m's) to the log

    def tiers_of(self, m: int) -> tuple: ...  # floors, mmr ppm, cum (k,); tier basis and size rate (delever.tiers)

    def tier_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    # every instrument's current tiers: (M, k) floors, mmr ppm, cum and (M,) tier counts (delever.columns)

    def set_tiers(self, m: int, tiers: Any) -> None: ...  # replace instrument m's current margin tiers

    def valuation(self, marks: np.ndarray | None = None) -> Any: ...

    # the marks (default the current ones), value per lot-tick, tiers and cross backing rule (AccountValuation)


class Mechanism(ABC):
    """A mechanism of the defence line as the step loop sees it (module docstring: the phases and their order).

    Subclasses set :attr:`name` (the key of their figures in ``extra``) and override the phases they act in;
    :meth:`from_scenario` builds one for a scenario, or returns None when the mechanism is off. The engine
    creates ``extra[name]`` (``fired_steps``, ``accounts``, ``notional``, counted by :meth:`Engine.note`) for
    each mechanism of ``[mechanisms]``; one configured elsewhere creates its own in :meth:`setup`
    (:class:`delever.mechanisms.block_limits.LiquidationLimits`).
    """

    name: ClassVar[str] = ""
    per_step: ClassVar[bool] = False
    """True: acts on steps without liquidations (the compiled quiet-step loop is then off)."""
    replaces_adl: ClassVar[bool] = False
    """True: takes the bad debt the insurance fund cannot cover instead of ADL (ADL is then off)."""

    @classmethod
    @abstractmethod
    def from_scenario(cls, scenario) -> Mechanism | None:
        """This mechanism for ``scenario`` (:class:`delever.scenario.Scenario`), or None when it is off."""

    def shape_book(self, rules: BookRules) -> BookRules:
        """Phase -1: ``rules`` with what this mechanism asks of the starting book (book time, before the run)."""
        return rules

    def add_accounts(self, sim: Engine, book):
        """Phase 0: the starting book, with this mechanism's own accounts appended; returns the book."""
        return book

    def setup(self, sim: Engine) -> None:
        """Phase 1: build this mechanism's state once the engine's exists."""
        return  # nothing, unless the mechanism acts in this phase

    def before_marks(self, sim: Engine, t: int, live: list[int]) -> None:
        """Phase 2: before the live instruments' books refill and their marks move."""
        return  # nothing, unless the mechanism acts in this phase

    def before_sweep(self, sim: Engine, t: int, m: int) -> bool:
        """Phase 4: on live instrument ``m`` after its mark moved; True halts its liquidations this step."""
        return False

    def after_sweep(self, sim: Engine, out: np.ndarray, count: int) -> int:
        """Phase 5' (after every full margin sweep, :meth:`Engine.equities` included): a requirement the tier
        tables do not express (the option margin, :mod:`delever.options.engine_margin`) added to ``acc_mm`` and
        ``pos_mm``, and the positions it makes liquidatable appended to ``out[:count]``; returns the new count."""
        return count

    def take(self, sim: Engine, batch: Batch) -> None:
        """Phase 5a: remove positions from ``batch`` (:meth:`Batch.keep`) before the book sees them."""
        return  # nothing, unless the mechanism acts in this phase

    def size(self, sim: Engine, batch: Batch) -> None:
        """Phase 5b: set or cut ``batch.lots`` (lots to close per position; 0 closes it whole)."""
        return  # nothing, unless the mechanism acts in this phase

    def after_stage(self, sim: Engine, batch: Batch) -> None:
        """Phase 5d: after the stage closed ``batch`` (when ``batch.ran``) and the triggers were refreshed."""
        return  # nothing, unless the mechanism acts in this phase

    def after_liquidations(self, sim: Engine, t: int, m: int) -> None:
        """Phase 6: on open instrument ``m`` after the step's liquidations on every instrument."""
        return  # nothing, unless the mechanism acts in this phase

    def finish(self, sim: Engine, extra: dict) -> None:
        """Phase 8: add this mechanism's figures to ``extra[self.name]``; let go of per-position work state."""
        return  # nothing, unless the mechanism acts in this phase

    def instrument_figures(self, sim: Engine, m: int, record: dict) -> None:
        """Phase 8: add this mechanism's figures for instrument ``m`` to its per-instrument ``record``."""
        return  # nothing, unless the mechanism acts in this phase


def steps_of(seconds: float, dt: float) -> int:
    """A duration in whole steps of ``dt`` seconds (rounded to nearest, at least 1)."""
    return max(int(round(seconds / dt)), 1)


NO_ACCOUNTS = np.zeros(0, dtype=np.int64)
"""The accounts argument of :meth:`Engine.note` for a mechanism that acts on the market, not on accounts."""
