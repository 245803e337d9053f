"""The venue comparison of the default run's report: the same rows whether the rulebooks run here or in
forked workers."""

import pytest

from delever.engine import prepare
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import VENUES
from delever.venues.scenario import compare_rows, compare_venues


@pytest.mark.slow
def test_rows_from_forked_workers_equal_the_rows_run_here():
    sc = load_scenario(default_scenario_path(), {"book": {"generator": {"accounts": 2_000}}})
    market = prepare(sc, sc.seed)
    here = compare_rows(sc, sc.seed, market)
    assert [r["venue"] for r in here] == list(VENUES)
    assert all(r["conservation_error"] == 0 for r in here)
    assert compare_rows(sc, sc.seed, market, workers=2) == here
    assert compare_venues(sc, sc.seed, market, workers=2)["rows"] == here
