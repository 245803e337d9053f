"""The compiled loop of quiet steps (:func:`quiet_steps`): the steps of a single-instrument run in which the mark
reaches no position's trigger price and no per-step mechanism is on, run in one kernel as
:meth:`delever.engine.simulation.Simulation.step` would run them (its fast path, :meth:`Simulation.advance`).
"""

from __future__ import annotations

from numba import njit

from ..columns import KERNEL
from ..liquidity import marginal_price
from ..mark import mark_of
from ..trigger_index import scan_triggers


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
