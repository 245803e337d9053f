"""ADL ranking score and indicator against the spec's vectors."""

import numpy as np
import pytest

from hypothesis import given
from hypothesis import strategies as st

from delever.adl.queue import canonical_order
from delever.adl.ranking import adl_indicator, bitmex_score, lights_from_cumulative


def test_tv01_bitmex_indicator_quantiles():
    # TV-01 (BitMEX, https://www.bitmex.com/app/autoDeleveragingExamples): longs (account, qty, score)
    # (1,10,3),(2,10,6),(3,20,1),(4,30,4),(5,20,5),(6,10,2); sorted 2,5,4,1,6,3 with percentiles
    # 20%,40%,60%,80%,80%,100% -> lights 5,4,3,2,2,1 (all five lit = top 20%)
    qty = np.array([10, 10, 20, 30, 20, 10])
    score = np.array([3.0, 6.0, 1.0, 4.0, 5.0, 2.0])
    lights = adl_indicator(score, qty)
    by_account = dict(zip(range(1, 7), lights.tolist()))
    assert [by_account[a] for a in (2, 5, 4, 1, 6, 3)] == [5, 4, 3, 2, 2, 1]


def test_bitmex_score_profit_times_leverage_loss_over_leverage():
    # profit: PnL% 10% x effective leverage 5 = 0.5; loss: -10% / 5 = -0.02
    assert bitmex_score(upnl=1_000, cost=10_000, notional=11_000, equity=2_200) == pytest.approx(0.5)
    assert bitmex_score(upnl=-1_000, cost=10_000, notional=9_000, equity=1_800) == pytest.approx(-0.02)
    assert bitmex_score(upnl=500, cost=10_000, notional=10_500, equity=0) == float("-inf")


@pytest.mark.parametrize(
    "cum, total, expected",
    [
        # 100 lots: cum 20 -> ceil(5 x 20 / 100) = 1 -> 5 lights; 21 -> 2 -> 4; 100 -> 5 -> 1
        pytest.param([20, 21, 60, 100], 100, [5, 4, 3, 1], id="steps_of_20_percent"),
        # a zero quantity at the top (cum 0) still shows 5, not 6; a cum past the total shows 1, not 0
        pytest.param([0, 150], 100, [5, 1], id="clipped_to_1_5"),
    ],
)
def test_lights_from_cumulative_by_hand(cum, total, expected):
    assert lights_from_cumulative(np.array(cum), total).tolist() == expected


def test_queue_and_rulebook_lights_are_the_ranking_lights():
    # the engine's queue, the venue rulebooks and adl_indicator share one formula (issue #11)
    from delever.venues import get_venue

    qty = np.array([10, 10, 20, 30, 20, 10])
    score = np.array([3.0, 6.0, 1.0, 4.0, 5.0, 2.0])
    assert get_venue("bitmex").adl_indicator(score, qty).tolist() == adl_indicator(score, qty).tolist()


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param([], id="empty"),
        pytest.param([3.0, 1.0, 2.0], id="distinct"),
        pytest.param([2.0, 1.0, 2.0, 1.0, 2.0], id="two-runs-of-ties"),
        pytest.param([np.inf, -1.0, np.inf, -np.inf, -np.inf], id="infinite-ties"),
        pytest.param([0.0, -0.0, 0.0, -0.0], id="signed-zeros-compare-equal"),
        # 1,000 keys in ten values: numpy's unstable sort leaves nearly every tie out of position order here
        pytest.param(np.random.default_rng(3).integers(0, 10, 1000).tolist(), id="large-many-ties"),
    ],
)
def test_canonical_order_is_the_stable_sort_by_hand(keys):
    # the queue order: key ascending, then position ascending, exactly numpy's stable argsort
    a = np.array(keys, dtype=np.float64)
    assert canonical_order(a).tolist() == np.argsort(a, kind="stable").tolist()


@given(st.lists(st.sampled_from([-np.inf, -2.5, -1.0, -0.0, 0.0, 1e-300, 1.0, 7.25, np.inf]) | st.floats(-1e6, 1e6)))
def test_canonical_order_matches_the_stable_sort(keys):
    a = np.array(keys, dtype=np.float64)
    got = canonical_order(a)
    assert got.dtype == np.int64
    assert got.tolist() == np.argsort(a, kind="stable").tolist()
