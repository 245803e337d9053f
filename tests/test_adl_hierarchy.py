"""ADL by a hierarchy of factors (issue #7, part 1): hand-worked rankings, tie-breaks, the weighted form, the
scenario's configuration, and the policy in the liquidation stage (order and ADL indicator from its own key)."""

import numpy as np
import pytest

from delever import events as ev
from delever.adl.hierarchy import KEYS, HierarchyKey, HierarchyRule, key_values
from delever.adl.policies import POLICIES, Winners, allocate, hierarchy_policy
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.errors import InputError
from delever.events import EventBuffer
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.scenario import default_scenario_path, load_scenario
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import money


def four() -> Winners:
    """Winners A, B, C, D (rows 0-3); entry = mark, so PnL% = PnL / notional.

    ====  ====  ======  ========  =========  ==  =======  ===
    row   PnL   equity  notional  contracts  MM  funding  age
    ====  ====  ======  ========  =========  ==  =======  ===
    A     160   300     7,000     5          40  -1       200
    B     40    1,800   5,000     7          50  9        800
    C     50    1,100   1,000     18         40  8        100
    D     180   1,400   9,000     3          20  -5       500
    ====  ====  ======  ========  =========  ==  =======  ===
    """
    return Winners.from_arrays(
        pnl=[160, 40, 50, 180],
        equity=[300, 1_800, 1_100, 1_400],
        notional=[7_000, 5_000, 1_000, 9_000],
        contracts=[5, 7, 18, 3],
        maintenance_margin=[40, 50, 40, 20],
        funding_received=[-1, 9, 8, -5],
        age_s=[200.0, 800.0, 100.0, 500.0],
    )


def order(rule: HierarchyRule, w: Winners) -> list[int]:
    """The queue's order: score descending, ties by row."""
    s = rule.score(w)
    return np.lexsort((np.arange(w.n), -s)).tolist()


A, B, C, D = 0, 1, 2, 3
EXPECTED_DESC = {
    # notional / equity: A 23.3, B 2.78, C 0.91, D 6.43
    "effective_leverage": [A, D, B, C],
    # PnL / notional: A 0.0229, B 0.008, C 0.05, D 0.02
    "pnl_pct": [C, A, D, B],
    "unrealized_pnl": [D, A, C, B],  # 180, 160, 50, 40
    "notional": [D, A, B, C],  # 9,000, 7,000, 5,000, 1,000
    "position_size": [C, B, A, D],  # 18, 7, 5, 3
    "account_equity": [B, D, C, A],  # 1,800, 1,400, 1,100, 300
    # MM / equity: A 0.133, B 0.0278, C 0.0364, D 0.0143
    "margin_ratio": [A, C, B, D],
    "funding_received": [B, C, A, D],  # 9, 8, -1, -5
    "position_age": [B, D, A, C],  # 800, 500, 200, 100
}


@pytest.mark.parametrize("key", list(KEYS))
def test_each_key_alone_orders_the_book_its_own_way(key):
    w = four()
    assert order(HierarchyRule.from_config([f"{key} desc"]), w) == EXPECTED_DESC[key]
    assert order(HierarchyRule.from_config([f"{key} asc"]), w) == EXPECTED_DESC[key][::-1]


def test_every_key_gives_a_different_order_on_the_hand_book():
    assert len({tuple(v) for v in EXPECTED_DESC.values()}) == len(KEYS)


def test_ties_on_the_first_key_are_broken_by_the_second_then_the_third():
    # effective leverage: rows 0, 1, 2 all 10x (1,000 / 100, 2,000 / 200, 500 / 50), row 3 at 20x comes first;
    # among the 10x rows notional desc puts row 1 (2,000) first; rows 0 and 2 would tie on notional if it
    # were not for their values 1,000 vs 500 -> row 0 before row 2
    w = Winners.from_arrays(
        pnl=[10, 10, 10, 10],
        equity=[100, 200, 50, 100],
        notional=[1_000, 2_000, 500, 2_000],
        funding_received=[0, 0, 7, 0],
    )
    rule = HierarchyRule.from_config(["effective_leverage desc", "notional desc", "funding_received desc"])
    assert order(rule, w) == [3, 1, 0, 2]
    # rows 0 and 2 now tie on both leverage (10x) and notional (1,000): funding breaks it, row 2 (7) first
    w2 = Winners.from_arrays(
        pnl=[10, 10, 10, 10],
        equity=[100, 200, 100, 100],
        notional=[1_000, 2_000, 1_000, 2_000],
        funding_received=[0, 0, 7, 0],
    )
    assert order(rule, w2) == [3, 1, 2, 0]
    # a tie on every key keeps the queue's canonical order (position index): rows 0 and 2 without funding
    w3 = Winners.from_arrays(pnl=[10, 10, 10], equity=[100, 200, 100], notional=[1_000, 2_000, 1_000])
    s = rule.score(w3)
    assert s[0] == s[2] and order(rule, w3) == [1, 0, 2]


def test_lexicographic_is_not_a_weighted_sum_a_later_key_never_outranks_an_earlier_one():
    # row 0 is barely more levered (10.0x vs 9.99x) but much smaller: it still goes first
    w = Winners.from_arrays(pnl=[1, 1], equity=[100, 100_100], notional=[1_000, 1_000_000])
    assert order(HierarchyRule.from_config(["effective_leverage desc", "notional desc"]), w) == [0, 1]


def test_weighted_form_sums_fractional_ranks_hand_worked():
    # ranks (0 = last, 1 = first) on the hand book, n = 4 so steps of 1/3:
    #   effective_leverage desc: A 1, D 2/3, B 1/3, C 0
    #   funding_received desc:   B 1, C 2/3, A 1/3, D 0
    # weights 2 and 1: A 2 + 1/3 = 2.333, B 2/3 + 1 = 1.667, C 0 + 2/3 = 0.667, D 4/3 + 0 = 1.333
    rule = HierarchyRule.from_config(["effective_leverage desc", "funding_received desc"], "weighted", [2, 1])
    s = rule.score(four())
    np.testing.assert_allclose(s, [7 / 3, 5 / 3, 2 / 3, 4 / 3])
    assert order(rule, four()) == [A, B, D, C]
    # equal weights: A 4/3, B 4/3 (tie, A first by row), D 2/3, C 2/3 (tie, C first by row)
    even = HierarchyRule.from_config(["effective_leverage desc", "funding_received desc"], "weighted")
    assert order(even, four()) == [A, B, C, D]


def test_weighted_ties_share_their_average_rank():
    # two equal notionals share rank (1 + 2) / 2 of 3 -> fractional 0.25 each; the largest is 1
    rule = HierarchyRule.from_config(["notional desc"], "weighted", [1])
    np.testing.assert_allclose(rule.score(Winners.from_arrays(pnl=[1, 1, 1], notional=[5, 5, 9])), [0.25, 0.25, 1])


def test_no_equity_is_the_most_levered_and_nearest_to_liquidation():
    w = Winners.from_arrays(pnl=[5, 5], equity=[0, 100], notional=[1_000, 1_000])
    assert key_values(w, "effective_leverage")[0] == np.inf
    assert key_values(w, "margin_ratio")[0] == np.inf
    assert order(HierarchyRule.from_config(["effective_leverage"]), w) == [0, 1]


def test_hierarchy_policy_is_a_queue_and_takes_whole_positions_in_its_order():
    # need 170: pnl-capacity queue by funding desc: B (40) whole, C (50) whole, A (160) gives the last 80
    p = hierarchy_policy(HierarchyRule.from_config(["funding_received desc"]))
    assert p.family == "queue" and p.needs == frozenset({"funding_received"})
    a = p(four(), 170)
    assert a.haircut[B] == 40 and a.haircut[C] == 50 and a.haircut[D] == 0
    # A closes the fewest of its 5 contracts covering 80 of its 160: 3 contracts, ceil(3 * 160 / 5) = 96
    assert a.closed_contracts[A] == 3 and a.haircut[A] == 96
    assert allocate("hierarchy", four(), 0).budget == 0 and "hierarchy" in POLICIES


@pytest.mark.parametrize(
    "bad, match",
    [
        ("leverage desc", "unknown ADL hierarchy key 'leverage'"),
        ("notional down", "direction must be 'asc' or 'desc'"),
        ("notional desc extra", "expected 'KEY"),
    ],
)
def test_bad_keys_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        HierarchyKey.parse(bad)


def test_weights_must_match_the_keys():
    with pytest.raises(ValueError, match="2 weights for 1 keys"):
        HierarchyRule.from_config(["notional"], "weighted", [1, 2])
    with pytest.raises(ValueError, match="not all 0"):
        HierarchyRule.from_config(["notional"], "weighted", [0])


def test_scenario_configures_the_hierarchy_and_names_a_bad_key():
    sc = load_scenario(
        default_scenario_path(),
        {"adl": {"policy": "hierarchy", "keys": ["position_age asc", "notional desc"], "funding_window_s": 3600}},
    )
    p = sc.adl.build()
    assert p.name == "hierarchy" and p.rule.describe() == "lexicographic: position_age asc > notional desc"
    assert p.needs == frozenset({"age_s"})
    with pytest.raises(InputError, match="adl.keys.*unknown ADL hierarchy key 'age'"):
        load_scenario(default_scenario_path(), {"adl": {"policy": "hierarchy", "keys": ["age"]}})


# ----------------------------------------------------------------------------- in the liquidation stage

V = 100
ENTRY = 500_000  # 50,000.0 USDT in 0.1 ticks


def test_stage_deleverages_in_hierarchy_order_with_indicator_from_its_own_key():
    """A 1 BTC isolated long with 2,500 USDT margin fills at 45,000 against an empty fund (bad debt), so it is
    closed by ADL at its bankruptcy price 47,500 against three cross shorts of 0.4 BTC each, all entered at
    50,000 (so equally profitable and, with equal wallets, equally levered: the venue scores tie). The
    hierarchy ``position_age asc`` closes the newest first: shorts opened 10 s, 100 s and 1,000 s before the
    step are ADL'd in that order (0.4 + 0.4 + 0.2 BTC). Indicator: cumulative quantity of the queue over the
    side's 1.2 BTC: 0.4 -> 33% -> 4 lights (ceil(5 x 1/3) = 2 steps: 6 - 2), 0.8 -> 67% -> 2 lights
    (ceil(3.33) = 4: 6 - 4), 1.2 -> 100% -> 1 light."""
    now = 1_000_000 * 10**9
    opened = [now - 1_000 * 10**9, now - 10 * 10**9, now - 100 * 10**9]  # positions 1, 2, 3
    shorts = [-400, -400, -400]
    lp = 1_000 - 1_200
    book = Book.from_arrays(
        wallet=[0, money(5_000), money(5_000), money(5_000), money(10**9)],
        exempt=[False, False, False, False, True],
        account=[0, 1, 2, 3, 4],
        size=[1_000, *shorts, -lp],
        cost=[1_000 * ENTRY * V, *(s * ENTRY * V for s in shorts), -lp * ENTRY * V],
        collateral=[money(2_500), 0, 0, 0, 0],
        isolated=[True, False, False, False, False],
        opened_ns=[now, *opened, now],
    )
    mark = 450_000
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    t = BINANCE_BTCUSDT_2021
    policy = hierarchy_policy(HierarchyRule.from_config(["position_age asc"]))
    queue = AdlQueue(book, 0, mark, V, None, excluded, policy, (t.floors, t.mmr_ppm, t.cum),
                     lambda name: (now - book.opened_ns) / 1e9)  # fmt: skip
    buf = EventBuffer()
    fund = np.zeros(1, dtype=np.int64)
    lp_pos = np.array([4], dtype=np.int64)
    # a book so thin that the first lot already fills below bankruptcy: everything goes to ADL
    run_stage(np.array([0]), book, V, 0, float(mark), np.zeros(1), DepthCurve.linear(1.0).arrays(), lp_pos,
              np.ones(1, dtype=np.int64), fund, queue, buf, np.zeros(1, np.int64), 1,
              AccountValuation.single(mark, V))  # fmt: skip
    c = {k: v[: buf.n] for k, v in buf.cols.items()}
    adl = c["kind"] == ev.ADL_COUNTERPARTY_FILL
    assert c["position"][adl].tolist() == [2, 3, 1]  # newest first
    assert c["size"][adl].tolist() == [400, 400, 200]  # shorts buy back: 0.4, 0.4, 0.2 BTC
    assert set(c["price"][adl].tolist()) == {475_000}  # 47,500: bankruptcy price of the long
    assert c["indicator"][adl].tolist() == [4, 2, 1]
    assert book.size[0] == 0 and book.size[1] == -200 and book.size[2] == 0 and book.size[3] == 0


def test_funding_received_sums_the_window_only():
    from delever.engine import funding_received

    s = 10**9
    history = [
        (100 * s, np.array([0, 1]), np.array([5, -5])),  # outside a 50 s window ending at 160 s
        (120 * s, np.array([0, 2]), np.array([3, -3])),
        (160 * s, np.array([0, 1, 2]), np.array([1, 2, -3])),  # now: included
        (170 * s, np.array([1]), np.array([99])),  # in the future of `now`: excluded
    ]
    assert funding_received(history, 3, 160 * s, 50.0).tolist() == [4, 2, -6]
    assert funding_received(history, 3, 160 * s, 1e6).tolist() == [9, -3, -6]


def test_book_file_opened_at_sets_position_age_and_bad_times_are_named(tmp_path):
    from delever.bookio import load_book
    from delever.instruments import Instrument
    from delever.tiers import BINANCE_BTCUSDT_2021 as tiers
    from decimal import Decimal

    inst = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), tiers)
    start = 1_760_130_000 * 10**9  # 2025-10-10T21:00:00Z
    f = tmp_path / "book.csv"
    f.write_text(
        "account,size,entry_price,margin_mode,collateral,opened_at\n"
        "a,0.5,100000,cross,10000,2025-10-10T20:00:00\n"
        "b,-0.5,100000,isolated,10000,\n"
    )
    book, _ = load_book(f, inst, 1_000_000, 1, Decimal(10**9), start_time_ns=start)
    assert book.opened_ns.tolist() == [start - 3600 * 10**9, start, start]
    f.write_text(
        "account,size,entry_price,margin_mode,collateral,opened_at\na,0.5,100000,cross,10000,2025-10-11T00:00:00\n"
    )
    with pytest.raises(InputError, match="row 2.*opened_at.*after the scenario's start"):
        load_book(f, inst, 1_000_000, 1, Decimal(10**9), start_time_ns=start)
    f.write_text("account,size,entry_price,margin_mode,collateral,opened_at\na,0.5,100000,cross,10000,yesterday\n")
    with pytest.raises(InputError, match="opened_at.*not an ISO 8601 time"):
        load_book(f, inst, 1_000_000, 1, Decimal(10**9), start_time_ns=start)


@pytest.mark.slow
def test_engine_supplies_funding_received_over_the_window_and_ranks_by_it():
    """A small crash with funding every 5 minutes and the ADL queue ranked by funding received over the last
    10 minutes: the engine's column equals the FUNDING events of the log within the window, and the first
    counterparty of each ADL'd bankrupt position has the most funding received among those ADL'd then."""
    from delever.engine import Simulation, prepare

    over = {
        "book": {"generator": {"accounts": 1_500}},
        "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:25:00Z"},
        "liquidity": {"depth_scale": 0.002},
        "insurance_fund": {"balance": "500"},
        "mechanisms": {"funding": {"enabled": True, "interval_s": 300}},
        "adl": {"policy": "hierarchy", "keys": ["funding_received desc"], "funding_window_s": 600},
    }
    sc = load_scenario(default_scenario_path(), over)
    sim = Simulation(sc, sc.seed, prepare(sc, sc.seed), check_every_step=True)
    for t in range(sim.T):
        sim.step(t)
    r = sim.result()
    assert r.money_end == r.money_start
    e = r.events
    t_end = sim.T - 1
    now = int(sim.path.time_ns[t_end])
    got = sim.position_data("funding_received", t_end)
    sel = (e["kind"] == ev.FUNDING) & (e["time_ns"] > now - 600 * 10**9) & (e["time_ns"] <= now)
    want = np.bincount(e["position"][sel], weights=e["amount"][sel], minlength=sim.book.n_positions)
    assert sel.any() and np.unique(want).size > 2 and np.array_equal(got, want.astype(np.int64))
    # every ADL step: the counterparties were taken in descending funding received (as of that step)
    adl = np.flatnonzero(e["kind"] == ev.ADL_COUNTERPARTY_FILL)
    assert adl.size > 0
    for step in np.unique(e["step"][adl]).tolist():
        column = sim.position_data("funding_received", int(step))
        for side in (1, -1):  # each side's queue on its own: shorts buy back (+), longs sell (-)
            rows = adl[(e["step"][adl] == step) & (np.sign(e["size"][adl]) == side)]
            if rows.size == 0:
                continue
            first_seen = np.sort(np.unique(e["position"][rows], return_index=True)[1])
            vals = column[e["position"][rows][first_seen]]
            assert np.all(np.diff(vals) <= 0), (step, side, vals)
