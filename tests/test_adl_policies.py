"""ADL policies (delever.adl.policies) and metrics (delever.adl.metrics): one hand-worked example per policy,
then invariants with hypothesis (haircuts sum to the need or report the shortfall, no haircut above capacity,
pro rata monotone, allocate_lots sums and caps)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever.adl.metrics import event_metrics, gini, round_metrics, top_share
from delever.adl.policies import (
    POLICIES,
    MirrorDescentState,
    Winners,
    allocate,
    allocate_lots,
    capped_split,
    lot_haircut,
    min_max_integer,
    score_binance,
    score_bitget,
    score_bitmex,
    score_hyperliquid,
)
from delever.units import MONEY_SCALE

M = MONEY_SCALE


def four() -> Winners:
    # The running example: profit u = pnl, equity e, notional n, contracts c (10 money units of profit each);
    # leverage n / e = 5, 4, 3.33, 8; entry = mark = 1, so |entry value| = notional.
    return Winners.from_arrays(
        pnl=[100, 200, 300, 400],
        equity=[1000, 500, 300, 100],
        notional=[5000, 2000, 1000, 800],
        contracts=[10, 20, 30, 40],
    )


def test_registry_has_every_policy_of_the_issue():
    assert set(POLICIES) == {
        "queue-bitmex",
        "queue-binance",
        "queue-hyperliquid",
        "queue-bitget",
        "pro-rata-pnl",
        "pro-rata-equity",
        "pro-rata-notional",
        "pro-rata-contracts",
        "risk-aware",
        "water-filling",
        "min-max",
        "min-max-integer",
        "socialized-loss",
        "online-mirror-descent",
        "hierarchy",
        "random-offset",
    }
    for p in POLICIES.values():
        assert "Source" in p.doc and "Units" in p.doc, p.name
    with pytest.raises(KeyError, match="unknown ADL policy"):
        allocate("queue-okx", four(), 1)


# ---------------------------------------------------------------------------------------------- queue family


def test_queue_bitmex_whole_positions_last_partial_in_contracts():
    # PnL% = pnl / notional = 2%, 10%, 30%, 50%; x leverage 5, 4, 3.33, 8 -> scores 0.1, 0.4, 1.0, 4.0.
    # B = 500: #3 pays its whole 400 (40 contracts); #2 pays the other 100 = 10 of its 30 contracts.
    w = four()
    assert score_bitmex(w) == pytest.approx([0.1, 0.4, 1.0, 4.0])
    a = allocate("queue-bitmex", w, 500)
    assert a.haircut.tolist() == [0, 0, 100, 400]
    assert a.closed_contracts.tolist() == [0, 0, 10, 40]
    assert (a.shortfall, a.overshoot) == (0, 0)


def test_queue_last_position_rounds_up_to_a_whole_contract():
    # B = 405: #3 pays 400; #2 must cover 5 with contracts worth 10 -> 1 contract, haircut 10, overshoot 5.
    a = allocate("queue-bitmex", four(), 405)
    assert a.haircut.tolist() == [0, 0, 10, 400]
    assert a.closed_contracts.tolist() == [0, 0, 1, 40]
    assert (a.shortfall, a.overshoot) == (0, 5)


def test_queue_binance_score():
    # A: pnl 10, wallet 100, notional 1,000 USD -> PnL% = 10/max(1, 100) = 0.1, margin ratio = MM / (wallet +
    # pnl) = 1,000 / 110 (MM proportional to notional) -> 0.909. B: pnl 30, wallet 0.5 -> 30 / max(1, 0.5) = 30,
    # margin ratio 100 / 30.5 -> 98.36. C: wallet + pnl <= 0 -> margin ratio 0 -> score 0.
    w = Winners.from_arrays(
        pnl=[10 * M, 30 * M, 5 * M],
        equity=[110 * M, 30_500_000, -M],
        notional=[1000 * M, 100 * M, 50 * M],
        wallet=[100 * M, 500_000, -6 * M],
    )
    assert score_binance(w) == pytest.approx([0.1 * 1000 / 110, 30 * 100 / 30.5, 0.0])
    a = allocate("queue-binance", w, 35 * M)
    assert a.haircut.tolist() == [5 * M, 30 * M, 0]  # B first (30), then A for the 5 left (divisible: c = 0)


def test_queue_hyperliquid_score():
    # (mark / entry) x (notional / account value): 1.5 x 2,000/1,000 = 3; 1.0 x 1,000/100 = 10; equity <= 0 -> -inf
    w = Winners.from_arrays(
        pnl=[50, 60, 70],
        equity=[1000, 100, 0],
        notional=[2000, 1000, 900],
        entry_price=[100.0, 100.0, 100.0],
        mark_price=[150.0, 100.0, 120.0],
    )
    assert score_hyperliquid(w)[:2] == pytest.approx([3.0, 10.0])
    assert score_hyperliquid(w)[2] == -np.inf
    a = allocate("queue-hyperliquid", w, 100)
    assert a.haircut.tolist() == [40, 60, 0]  # #1 whole (60), #0 the rest (40); #2 ranked last


def test_queue_bitget_score_roi_times_account_mmr():
    # ROI = pnl / |entry value|; account MMR = MM / equity. #0: 100/5,000 x 250/1,000 = 0.005; #1: 200/2,000
    # x 20/500 = 0.004 -> #0 first, although its BitMEX score (0.1) is below #1's (0.4).
    w = Winners.from_arrays(pnl=[100, 200], equity=[1000, 500], notional=[5000, 2000], maintenance_margin=[250, 20])
    assert score_bitget(w) == pytest.approx([0.005, 0.004])
    assert allocate("queue-bitget", w, 150).haircut.tolist() == [100, 50]
    assert allocate("queue-bitmex", w, 150).haircut.tolist() == [0, 150]


# ---------------------------------------------------------------------------------------------- pro rata


def test_pro_rata_pnl():
    # B / U = 500 / 1,000: everyone pays half its profit.
    assert allocate("pro-rata-pnl", four(), 500).haircut.tolist() == [50, 100, 150, 200]


def test_pro_rata_equity_caps_and_redistributes():
    # weights e = 1,000, 500, 300, 100, caps u = 100..400. Level tau = 500/1,900 = 0.263 would give #0 263 > 100:
    # #0 capped at 100; then 400/900 = 0.444 > 200/500: #1 capped at 200; then 200/400 = 0.5: #2 150, #3 50.
    a = allocate("pro-rata-equity", four(), 500)
    assert a.haircut.tolist() == [100, 200, 150, 50]
    assert a.info["tau"] == pytest.approx(0.5)


def test_pro_rata_notional_largest_remainder():
    # weights 5,000, 2,000, 1,000, 800: #0 and #1 capped (100, 200); the last 200 split 1,000 : 800 =
    # 111.1 : 88.9 -> floors 111 + 88 = 199, the missing unit to the larger remainder (#3, .89).
    assert allocate("pro-rata-notional", four(), 500).haircut.tolist() == [100, 200, 111, 89]


def test_pro_rata_contracts_whole_contracts():
    # every contract is worth 10. B = 505: theta just below 0.525 gives k = 5, 10, 15, 20 (cost 500; remainders
    # .24, .49, .74, .99); the 5 missing go to one more contract of the largest remainder (#3): 510, overshoot 5.
    a = allocate("pro-rata-contracts", four(), 505)
    assert a.closed_contracts.tolist() == [5, 10, 15, 21]
    assert a.haircut.tolist() == [50, 100, 150, 210]
    assert (a.shortfall, a.overshoot) == (0, 5)
    exact = allocate("pro-rata-contracts", four(), 500)  # theta = 1/2 exactly
    assert exact.haircut.tolist() == [50, 100, 150, 200] and exact.overshoot == 0


def test_socialized_loss_uses_all_of_the_periods_winners():
    # this round only #2 and #3 are on the other side (capacity 300, 400): pro rata on PnL splits 500 between
    # them 3:4 (214, 286); socialized loss charges every winner of the period (period capacity = its whole
    # profit) pro rata to its period profit.
    w = Winners.from_arrays(pnl=[100, 200, 300, 400], capacity=[0, 0, 300, 400], period_capacity=[100, 200, 300, 400])
    assert allocate("pro-rata-pnl", w, 500).haircut.tolist() == [0, 0, 214, 286]
    assert allocate("socialized-loss", w, 500).haircut.tolist() == [50, 100, 150, 200]


# ---------------------------------------------------------------------------------------------- risk rules


def test_risk_aware_levered_pro_rata():
    # g = 1: weights u x leverage = 500, 800, 1,000, 3,200 (sum 5,500); 500 x w / 5,500 = 45.45, 72.73, 90.91,
    # 290.91, none capped -> floors 497, three units to the remainders .91, .91, .73 -> 45, 73, 91, 291.
    a = allocate("risk-aware", four(), 500)
    assert a.haircut.tolist() == [45, 73, 91, 291]
    assert a.info["tau"] == pytest.approx(500 / 5500, rel=1e-9)


def test_risk_aware_infinite_leverage_first_and_convex_g():
    # leverage 0 (no equity) is infinite: that winner pays first, in full (100), the rest levered pro rata.
    w = Winners.from_arrays(pnl=[100, 100, 100], leverage=[0.0, 1.0, 3.0])
    assert allocate("risk-aware", w, 180).haircut.tolist() == [100, 20, 60]
    from delever.adl.policies import risk_aware

    # g(l) = l: weights u l^2 = 100, 900 -> 100 x 1/10, 100 x 9/10
    w2 = Winners.from_arrays(pnl=[1000, 1000], leverage=[1.0, 3.0])
    assert risk_aware(w2, 100, g0=0.0, g1=1.0).haircut.tolist() == [10, 90]


def test_water_filling_levels_leverage():
    # leverage 8, 5, 4, 3.33 (#3, #0, #1, #2). Cutting all four: L = (1,000 - 500) / sum(u / lambda) =
    # 500 / 210 = 2.381 (below 3.33, so all are cut): h = u (1 - L / lambda) = 52.38, 80.95, 85.71, 280.95
    # -> floors 497, three units to the three largest remainders -> 52, 81, 86, 281. Post-ADL leverage of
    # every winner lambda (1 - h/u) = 2.38.
    a = allocate("water-filling", four(), 500)
    assert a.haircut.tolist() == [52, 81, 86, 281]
    assert a.info["level"] == pytest.approx(500 / 210)
    # a small need only cuts the most levered: B = 100 -> only #3 (8x) is cut, from 8x to 6x
    b = allocate("water-filling", four(), 100)
    assert b.haircut.tolist() == [0, 0, 0, 100] and b.info["level"] == pytest.approx(6.0)


# ---------------------------------------------------------------------------------------------- min-max


def test_min_max_is_pro_rata_on_equity_and_lp_optimal():
    from scipy.optimize import linprog

    w = four()
    a = allocate("min-max", w, 500)
    assert a.haircut.tolist() == allocate("pro-rata-equity", w, 500).haircut.tolist() == [100, 200, 150, 50]
    assert a.info["M"] == pytest.approx(0.5)
    # LP: min M s.t. sum h = 500, 0 <= h <= u, h_i - M e_i <= 0  -> M* = 0.5
    e = np.array([1000, 500, 300, 100.0])
    res = linprog(
        c=[0, 0, 0, 0, 1],
        A_eq=[[1, 1, 1, 1, 0]],
        b_eq=[500],
        A_ub=np.hstack([np.eye(4), -e[:, None]]),
        b_ub=np.zeros(4),
        bounds=[(0, 100), (0, 200), (0, 300), (0, 400), (0, None)],
    )
    assert res.fun == pytest.approx(0.5)


def test_min_max_integer():
    # contracts worth 10; M = 0.5 allows k <= floor(0.5 e / 10) = 50, 25, 15, 5 (capped 10, 20) -> 500 = B;
    # M = 0.49 allows 10, 20, 14, 4 -> 480 < B. So M* = 0.5 and the overshoot-minimising choice takes exactly 500.
    a = allocate("min-max-integer", four(), 500)
    assert a.closed_contracts.tolist() == [10, 20, 15, 5]
    assert a.haircut.tolist() == [100, 200, 150, 50]
    assert a.info["M"] == pytest.approx(0.5) and a.overshoot == 0
    # B = 505 needs one contract more (#0 and #1 have none left): #2's 16th costs 160/300 = 0.533 of its
    # equity, #3's 6th 60/100 = 0.6 -> M* = 0.533, closed 10, 20, 16, 5, budget 510, overshoot 5
    b = allocate("min-max-integer", four(), 505)
    assert b.closed_contracts.tolist() == [10, 20, 16, 5]
    assert b.budget == 510 and b.overshoot == 5
    assert b.info["M"] == pytest.approx(160 / 300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(1, 500), st.integers(1, 2000), st.integers(1, 12)), min_size=1, max_size=5),
    st.integers(1, 1500),
)
def test_min_max_integer_two_stage_equals_one_stage_milp(rows, need):
    pnl, eq, c = (np.array(x) for x in zip(*rows))
    w = Winners.from_arrays(pnl=pnl, equity=eq, contracts=c)
    two = min_max_integer(w, need)
    one = min_max_integer(w, need, method="milp")
    if two.shortfall == 0 and one.shortfall == 0:
        # the two-stage optimum's max burden (money taken over equity) is at most the one-stage MILP's plus
        # one contract: the MILP optimises linear contract values, which differ from the money a contract
        # takes by rounding (e.g. pnl 1 over 2 contracts: one contract is 0.5 linearly, its haircut 1)
        m2 = np.max(two.haircut / eq)
        m1 = np.max(one.haircut / eq)
        one_contract = np.max(np.ceil(pnl / c) / eq)
        assert m2 <= m1 * (1 + 1e-6) + one_contract + 1e-12


# ---------------------------------------------------------------------------------------------- online


def test_online_mirror_descent_two_rounds():
    # round 1: only #0, #1 on the other side (capacity 100, 200), B = 150; shares v1 = period PnL / 1,000 =
    # .1, .2, .3, .4 -> h = 50, 100. Losses l = h / (P + 1) = 50/101, 100/201, 0, 0; eta_1 = sqrt(ln 4 / 1).
    P = np.array([100, 200, 300, 400])
    w1 = Winners.from_arrays(pnl=P, capacity=[100, 200, 0, 0])
    a1 = allocate("online-mirror-descent", w1, 150)
    assert a1.haircut.tolist() == [50, 100, 0, 0]
    eta1 = math.sqrt(math.log(4) / 1)
    assert a1.info["eta"] == pytest.approx(eta1)
    v2 = np.array([0.1, 0.2, 0.3, 0.4]) * np.exp(-eta1 * np.array([50 / 101, 100 / 201, 0, 0]))
    v2 /= v2.sum()
    assert isinstance(a1.state, MirrorDescentState) and a1.state.t == 1
    assert a1.state.v == pytest.approx(v2)
    # round 2: everyone's remaining capacity, B = 300, split by v2 (no cap binds); eta_2 = sqrt(ln 4 / 2)
    w2 = Winners.from_arrays(pnl=[50, 100, 300, 400], period_pnl=P)
    a2 = allocate("online-mirror-descent", w2, 300, state=a1.state)
    target = 300 * v2
    assert a2.budget == 300
    assert np.abs(a2.haircut - target).max() < 1
    assert a2.info["eta"] == pytest.approx(math.sqrt(math.log(4) / 2))
    # the early payers pay less than under socialized loss (30, 60) in round 2
    assert a2.haircut[0] < 30 and a2.haircut[1] < 60


# ---------------------------------------------------------------------------------------------- building blocks


def test_capped_split_exact_on_large_amounts():
    # 10^15 money units split 1:1:1 -> 333...3 x 3 + 1 (largest remainder, ties: lower index)
    h, _ = capped_split(10**15, np.array([10**15] * 3), np.array([7, 7, 7]))
    assert h.sum() == 10**15 and sorted(h.tolist()) == [333333333333333, 333333333333333, 333333333333334]
    # weights near int64 limits stay exact
    big = np.array([2**62, 2**61, 2**60])
    h2, _ = capped_split(10**12, np.full(3, 10**13), big)
    assert h2.sum() == 10**12 and h2.tolist() == [571428571429, 285714285714, 142857142857]


def test_lot_haircut_rounds_up_and_all_lots_cost_the_capacity():
    # 7 lots, capacity 100: 1 lot -> ceil(100/7) = 15, 3 -> ceil(300/7) = 43, 7 -> 100
    assert lot_haircut(np.array([0, 1, 3, 7]), np.array([100] * 4), np.array([7] * 4)).tolist() == [0, 15, 43, 100]


def test_allocate_lots_queue_and_pro_rata():
    sizes = np.array([10, 20, 30])
    # queue: scores 1, 3, 2 -> #1 whole (20), #2 the last 5
    assert allocate_lots("queue-hyperliquid", 25, sizes, np.array([1.0, 3.0, 2.0]), np.ones(3)).tolist() == [0, 20, 5]
    # pro rata on capacities 100, 1, 1: #0's share 24.5 capped at its 10 lots, the other 15 split 7.5 : 7.5 (tie:
    # the larger position first) -> 10, 7, 8
    assert allocate_lots("pro-rata-pnl", 25, sizes, np.zeros(3), np.array([100, 1, 1])).tolist() == [10, 7, 8]
    # more than all lots: everything
    assert allocate_lots("risk-aware", 99, sizes, np.zeros(3), np.array([1.0, 2.0, 3.0])).tolist() == [10, 20, 30]


def test_allocate_lots_water_filling_levels_leverage_in_lots():
    # sizes 10, 20, 30 at leverage 2, 4, 8; close 25 lots. Level L with sum s (1 - L / lambda) = 25 over the
    # two most levered: 20 (1 - L/4) + 30 (1 - L/8) = 25 -> 50 - 8.75 L = 25 -> L = 2.857 (>= 2: #0 untouched);
    # lots 20 x 0.2857 = 5.71 and 30 x 0.6429 = 19.29 -> 6 and 19 (largest remainder): leverages 2, 2.8, 2.93
    lots = allocate_lots(
        "water-filling", 25, np.array([10, 20, 30]), np.zeros(3), np.zeros(3), leverage=np.array([2.0, 4.0, 8.0])
    )
    assert lots.tolist() == [0, 6, 19]
    # risk-aware in lots: s x lambda = 20, 80, 240 (sum 340) -> 25 x those / 340 = 1.47, 5.88, 17.65 -> 1, 6, 18
    lots = allocate_lots(
        "risk-aware", 25, np.array([10, 20, 30]), np.zeros(3), np.zeros(3), leverage=np.array([2.0, 4.0, 8.0])
    )
    assert lots.tolist() == [1, 6, 18]


# ---------------------------------------------------------------------------------------------- metrics


def test_round_metrics_hand_worked():
    # h = 50, 100, 150, 200 on u = e = 100..400 ... B = 400 -> overshoot +100; PTSR = max(u - h) / D = 200 / 1,000
    h = np.array([50, 100, 150, 200]) * M
    u = np.array([100, 200, 300, 400]) * M
    m = round_metrics(
        h, need=400 * M, equity=u, pnl=u, leverage=np.array([1.0, 2.0, 3.0, 4.0]), deficit=1000 * M, max_loss=400 * M
    )
    assert (m["budget"], m["overshoot"], m["overshoot_pos"], m["overshoot_neg"], m["shortfall"]) == (
        500,
        100,
        100,
        0,
        0,
    )
    assert m["max_share_equity"] == m["max_share_pnl"] == 0.5
    assert m["ptsr"] == pytest.approx(0.2) and m["pmr"] == pytest.approx(0.5)
    assert m["top1pct_share"] == pytest.approx(200 / 500)  # ceil(1% of 4) = 1 account
    assert m["top10_share"] == 1.0 and m["touched"] == 4
    assert m["gini"] == pytest.approx(0.25)  # (2i - n - 1) x_(i) = -3*50 - 100 + 150 + 3*200 = 500; / (4 * 500)
    assert m["leverage_median"] == 2.5
    tot = event_metrics([m, m], 2 * h, equity=u, pnl=u, leverage=np.array([1.0, 2.0, 3.0, 4.0]))
    assert tot["budget"] == 1000 and tot["overshoot"] == 200 and tot["ptsr"] == pytest.approx(0.2)
    assert tot["max_share_pnl"] == 1.0 and tot["rounds"] == 2


def test_gini_and_top_share():
    assert gini(np.zeros(5)) == 0.0 and gini(np.ones(5)) == 0.0
    assert gini(np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)
    assert top_share(np.array([1, 2, 3, 4.0]), 2) == pytest.approx(0.7)


# ---------------------------------------------------------------------------------------------- invariants

CONTRACT_POLICIES = {
    "queue-bitmex",
    "queue-binance",
    "queue-hyperliquid",
    "hierarchy",
    "queue-bitget",
    "random-offset",
    "pro-rata-contracts",
    "min-max-integer",
}


@st.composite
def winners(draw):
    n = draw(st.integers(1, 6))
    ints = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=n, max_size=n)  # noqa: E731
    pnl = np.array(draw(ints(0, 10**6)))
    cap = np.minimum(pnl, np.array(draw(ints(0, 10**6))))
    equity = np.array(draw(ints(-1000, 10**6)))
    notional = np.array(draw(ints(0, 10**7)))
    contracts = np.array(draw(ints(0, 40)))
    lev = np.array(
        draw(st.lists(st.one_of(st.floats(0.01, 100.0), st.just(0.0), st.just(math.inf)), min_size=n, max_size=n))
    )
    mark = np.array(draw(st.lists(st.floats(0.5, 2.0), min_size=n, max_size=n)))
    return Winners(
        pnl=pnl,
        equity=equity,
        notional=notional,
        contracts=contracts,
        leverage=lev,
        entry_price=np.ones(n),
        mark_price=mark,
        capacity=cap,
    )


def _usable(name: str, w: Winners) -> np.ndarray:
    """Winners a policy may take from (it must saturate all of them before reporting a shortfall)."""
    cap = w.cap
    if name in ("pro-rata-equity", "min-max", "min-max-integer"):
        return (cap > 0) & (w.equity > 0)
    if name == "pro-rata-notional":
        return (cap > 0) & (w.notional > 0)
    if name in ("pro-rata-pnl", "online-mirror-descent"):
        return (cap > 0) & (w.pnl > 0)
    return cap > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(winners(), st.integers(0, 3 * 10**6), st.sampled_from(sorted(POLICIES)))
def test_every_policy_pays_the_need_or_reports_the_shortfall(w, need, name):
    a = allocate(name, w, need)
    h = a.haircut
    assert h.dtype == np.int64 and h.shape == (w.n,)
    assert np.all(h >= 0) and np.all(h <= w.cap), (h, w.cap)
    assert a.budget == need - a.shortfall + a.overshoot
    assert a.shortfall == 0 or a.overshoot == 0
    if name not in CONTRACT_POLICIES:
        assert a.overshoot == 0
    else:
        unit = np.where(w.contracts > 0, -(-w.cap // np.maximum(w.contracts, 1)), w.cap)
        assert a.overshoot < max(1, int(unit.max()))
    if a.shortfall > 0:
        use = _usable(name, w)
        assert np.array_equal(h[use], w.cap[use]), (name, h, w.cap)
    if a.closed_contracts is not None:
        assert np.all(a.closed_contracts >= 0) and np.all(a.closed_contracts <= w.contracts)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=2, max_size=8),
    st.integers(0, 5 * 10**9),
    st.integers(0, 7),
    st.integers(1, 10**6),
)
def test_pro_rata_is_monotone(caps, need, i, bump):
    caps = np.array(caps)
    w = Winners.from_arrays(pnl=caps)
    h = allocate("pro-rata-pnl", w, need).haircut
    # a winner with more capacity never pays less
    for a in range(caps.size):
        for b in range(caps.size):
            if caps[a] > caps[b]:
                assert h[a] >= h[b]
    # more capacity for one winner never makes it pay less
    i %= caps.size
    more = caps.copy()
    more[i] += bump
    assert allocate("pro-rata-pnl", Winners.from_arrays(pnl=more), need).haircut[i] >= h[i]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=2, max_size=8), st.integers(0, 3 * 10**6)
)
def test_pro_rata_equity_monotone_in_equity_and_capacity(rows, need):
    caps, eq = (np.array(x) for x in zip(*rows))
    h = allocate("pro-rata-equity", Winners.from_arrays(pnl=caps, equity=eq), need).haircut
    for a in range(caps.size):
        for b in range(caps.size):
            if eq[a] >= eq[b] and caps[a] >= caps[b] and (eq[a] > eq[b] or caps[a] > caps[b]):
                assert h[a] >= h[b], (h, caps, eq)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=1, max_size=8),
    st.integers(0, 9000),
    st.sampled_from(sorted(POLICIES)),
    st.data(),
)
def test_allocate_lots_sums_and_caps(sizes, need, name, data):
    sizes = np.array(sizes)
    n = sizes.size
    scores = np.array(data.draw(st.lists(st.floats(-10, 10), min_size=n, max_size=n)))
    capacities = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)))
    lev = np.array(data.draw(st.lists(st.one_of(st.floats(0.01, 50.0), st.just(0.0)), min_size=n, max_size=n)))
    lots = allocate_lots(name, need, sizes, scores, capacities, leverage=lev if data.draw(st.booleans()) else None)
    assert lots.dtype == np.int64
    assert lots.sum() == min(need, sizes.sum())
    assert np.all(lots >= 0) and np.all(lots <= sizes)
    if POLICIES[name].family == "queue" and 0 < need < sizes.sum():
        # in score order: nobody is touched while someone ranked above still holds lots
        order = np.lexsort((np.arange(n), -scores))
        taken = lots[order]
        full = taken == sizes[order]
        first_not_full = int(np.argmin(full))
        assert np.all(taken[first_not_full + 1 :] == 0)
