"""ADL ranking score and indicator against the spec's vectors."""

import numpy as np
import pytest

from delever.adl.ranking import adl_indicator, bitmex_score


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
