"""The step loop: prices -> mark -> margin sweep -> liquidation (book, insurance fund, ADL) -> events.

Modules: :mod:`.market` prepares a run's inputs (:func:`prepare`), :mod:`.simulation` holds the state and its
step (:class:`Simulation`, :func:`run`), :mod:`.result` turns the end state into a :class:`RunResult`,
:mod:`.invariants` checks money and open interest, :mod:`.adl_columns` supplies the ADL hierarchy's extra
per-position columns. The
mechanisms of the defence line act at fixed phases of the step through one protocol
(:mod:`delever.mechanisms.base`; the enabled ones in :mod:`delever.mechanisms.registry` order), so adding one
does not touch this package. Before the run, :func:`prepare` builds the starting book under what the mechanisms'
book phase asks of it (``shape_book``: position limits' cap, socialized loss's protected accounts).

One step of the clock (``step_seconds``), in this order (the mechanism phases in brackets):

1. the index price of the step (:mod:`delever.prices`) becomes the book's centre; [``before_marks``: market
   makers withdraw depth, :mod:`delever.mechanisms.withdrawal`];
2. the book refills: absorbed quantity decays with the resilience half-life (:mod:`delever.liquidity`);
3. the mark price follows the index and the venue's last trade (:mod:`delever.mark`); a dated future at or
   past its expiry is settled (:mod:`delever.settlement`);
4. per instrument [``before_sweep``: dynamic margin rescales the tiers, funding settles at funding times, a
   circuit breaker may halt the instrument];
5. every position whose account (cross) or isolated margin is below maintenance margin is found
   (:mod:`delever.sweep`, :mod:`delever.trigger_index`) [``after_sweep``: the option margin, which the tier
   tables do not express, lists the accounts it makes liquidatable, :mod:`delever.options.engine_margin`]; per
   unhalted instrument, most under water first
   (lowest ``equity / MM``, then position index): [``take``: the backstop vault takes those below its
   threshold, per-step limits hold some back] [``size``: partial liquidation and per-step limits size the
   orders]; the liquidation stage (:mod:`delever.liquidation`) fills against the book, settles through the
   insurance fund, and auto-deleverages against the ADL queue (:mod:`delever.adl.queue`, under the scenario's
   ADL policy) what the fund cannot cover, or what the scenario's ADL trigger sends to it
   (:mod:`delever.adl.trigger`), unless a mechanism replaces ADL; [``after_stage``: partial liquidation's
   cooldowns, socialized loss claws back the bad debt]; the instrument's events are appended to the log;
6. [``after_liquidations``: proactive deleveraging cuts the most levered accounts when its trigger trips];
7. the step's aggregates are recorded (marks, last prices, funds).

Liquidation orders of one step see each other's impact (they walk the same book in turn); the mark moves
with that impact from the next step on: the cascade. A run is a pure function of (scenario, seed): no clock,
no unseeded randomness, deterministic orderings everywhere.

One loop for 1..M instruments: a multi-instrument (cross-margin) scenario's market is prepared by
:func:`delever.contagion.prepare_multi` and runs through the same :class:`Simulation` step. Each instrument has its
own index path, book, mark, insurance fund (or one shared by all, :mod:`delever.insurance`) and ADL queue; a dated
future is settled at its first step at or after expiry (after the step's marks, before its sweep). Per instrument,
where the venue rule is per contract: market-maker withdrawal and dynamic margin on its own index volatility,
funding on each perpetual from its own premium (dated futures pay none), a circuit breaker on its own mark (a
halted instrument's positions wait; the others liquidate), the backstop vault's position on that instrument,
socialized loss among that instrument's winners, proactive deleveraging on its own trigger. The margin sweep is
one, over the whole book: a cross account's equity and MM sum over all its positions at each instrument's mark.
Liquidations run instrument by instrument in instrument order, each most under water first; an instrument's ADL
queue ranks its counterparties by their accounts' equities as they stand when it is built, after the step's earlier
liquidations and ADL fills on any instrument (as a single-instrument run's queue does). With one instrument whose
accounts hold one position each, trigger prices and the compiled quiet-steps loop (:func:`quiet_steps`) replace the
sweep.

Option series (a scenario's ``[options]``, issue #16) are instruments of the same loop, after the futures: marked
from Black-76 on the underlying's path, margined by the venue's standard option margin added after the sweep,
liquidated against their own books, fund and ADL queue (:mod:`delever.options.engine_market`,
:mod:`delever.options.engine_margin`).
"""

from .adl_columns import funding_received, position_column
from .invariants import check_conservation, trigger_mode
from ..tiers import tier_arrays
from .market import Market, MultiMarket, prepare
from .result import RunResult, StepSeries
from .loop import StepCheckpoint, run
from .quiet import quiet_steps
from .simulation import Simulation

__all__ = [
    "Market",
    "MultiMarket",
    "RunResult",
    "Simulation",
    "StepCheckpoint",
    "StepSeries",
    "check_conservation",
    "funding_received",
    "position_column",
    "prepare",
    "quiet_steps",
    "run",
    "tier_arrays",
    "trigger_mode",
]
