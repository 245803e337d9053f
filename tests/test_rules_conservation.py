"""Conservation and balanced open interest under every venue rulebook (issue #3) and every ADL policy in the
cascade engine (issue #5), on a small version of the default scenario made to need ADL (thin book, small
fund): the money identity is checked at every step."""

import pytest

from delever import events as ev
from delever.adl.policies import POLICIES
from delever.engine import prepare, run
from delever.scenario import default_scenario_path, load_scenario
from delever.venues import VENUES
from delever.venues.scenario import apply_venue

SMALL = {
    "book": {"generator": {"accounts": 600}},
    "prices": {"start": "2025-10-10T21:12:00Z", "end": "2025-10-10T21:22:00Z"},
    "liquidity": {"depth_scale": 0.0005},
    "insurance_fund": {"balance": "2000"},
}


def small(**extra):
    over = dict(SMALL)
    over.update(extra)
    return load_scenario(default_scenario_path(), over)


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_money_is_conserved_under_every_rulebook(venue):
    sc = apply_venue(small(), venue)
    r = run(sc, sc.seed, market=prepare(sc, sc.seed), check_every_step=True)
    assert r.money_end == r.money_start
    long_, short = r.book.open_interest(0)
    assert long_ == short
    assert (r.events["kind"] == ev.LIQUIDATION_FILL).any() or (r.events["kind"] == ev.BACKSTOP_TAKEOVER).any()


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_money_is_conserved_under_every_adl_policy(policy):
    sc = small(adl={"policy": policy})
    r = run(sc, sc.seed, market=prepare(sc, sc.seed), check_every_step=True)
    assert r.money_end == r.money_start
    e = r.events
    adl = e["kind"] == ev.ADL_COUNTERPARTY_FILL
    assert adl.any(), "the small scenario is built to need ADL"
    # every ADL counterparty fill has the bankrupt side's fill with the opposite size at the same price
    bankrupt = e["kind"] == ev.ADL_FILL
    assert e["size"][adl].sum() == -e["size"][bankrupt].sum()
