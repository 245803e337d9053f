"""Issue #6's invariants at scale: one million accounts conserve money exactly and give the same events twice."""

import numpy as np
import pytest

from delever.engine import run
from delever.scenario import default_scenario_path, load_scenario

MILLION = {
    "book": {"generator": {"accounts": 1_000_000}},
    "step_seconds": 60.0,  # the 130 minutes of real data in 1-minute steps
    "liquidity": {"depth_scale": 1.5},  # the default's depth per account, for ten times the accounts
    "insurance_fund": {"balance": "10000000"},
}


@pytest.mark.slow
def test_a_million_accounts_conserve_money_and_are_deterministic():
    sc = load_scenario(default_scenario_path(), MILLION)
    a = run(sc)
    assert a.book.n_accounts - a.lp_accounts == 1_000_000
    assert a.money_end == a.money_start
    long_, short = a.book.open_interest(0)
    assert long_ == short
    assert (a.events["kind"] == 0).sum() > 10_000  # the crash liquidates at this scale too
    b = run(sc)
    for column, values in a.events.items():
        assert np.array_equal(values, b.events[column]), column
