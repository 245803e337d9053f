"""The one step loop (:func:`run`): a :class:`~delever.engine.simulation.Simulation` advanced step by step, its
quiet steps in one compiled loop (:func:`delever.engine.quiet.quiet_steps`), with an optional checkpoint
(:class:`StepCheckpoint`, ``delever run --resume``) that restores and saves the state as it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..scenario import Scenario
from .market import Market, MultiMarket, prepare
from .result import RunResult
from .simulation import Simulation


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
