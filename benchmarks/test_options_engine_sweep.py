"""The engine's margin sweep of a book holding futures and options (issue #16, part 3): one full sweep of the
whole book (:func:`delever.sweep.margin_sweep`) plus the option margin after it
(:meth:`delever.options.engine_margin.OptionMargin.after_sweep`), as each step of an option run does.

Run: ``python -m pytest benchmarks/test_options_engine_sweep.py --benchmark-only``. The book: the packaged option
scenario's (deribit-btc-2025-10-10-options.toml) with 20,000 and 100,000 generated accounts, at the first step's
marks. ``extra_info`` records positions, option positions and nanoseconds per position (median).
"""

import numpy as np
import pytest

from delever.contagion import prepare_multi
from delever.engine.simulation import Simulation
from delever.scenario import default_scenario_path, load_scenario

OPTIONS = default_scenario_path().parent / "deribit-btc-2025-10-10-options.toml"


@pytest.mark.parametrize("n_accounts", [20_000, 100_000])
def test_engine_sweep_with_options(benchmark, n_accounts):
    sc = load_scenario(OPTIONS, {"book": {"generator": {"accounts": n_accounts}}})
    sim = Simulation(sc, sc.seed, prepare_multi(sc, sc.seed), own_book=True)
    for m in range(sim.M):
        sim.marks[m] = int(round(float(sim.centre_ticks[m][0])))
    mech = next(x for x in sim.mechanisms if x.name == "options")
    mech.before_marks(sim, 0, list(range(sim.M)))
    count = benchmark(sim.sweep_book, sim.liq_out)
    assert 0 <= count <= sim.book.n_positions
    assert np.all(sim.acc_mm >= 0)
    n = sim.book.n_positions
    benchmark.extra_info["positions"] = int(n)
    benchmark.extra_info["option_positions"] = int(mech.positions.size)
    benchmark.extra_info["ns_per_position"] = benchmark.stats.stats.median / n * 1e9
