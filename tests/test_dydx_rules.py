"""dYdX v4's deleveraging order and per-block limits (issue #15) on hand-made books, the arithmetic in comments.

Source: ../shared/specs/engines.md section 1 (deleveraging "iterated from a pseudo-random start ... no ranking";
``PositionBlockLimits``, ``SubaccountBlockLimits``, ``MaxLiquidationAttemptsPerBlock``).

The book is tests/test_adl_triggers.py's: tick 0.1 USDT, lot 0.001 BTC (1 lot-tick = 100 money units); position 0
an isolated long of 1 BTC (1,000 lots) @50,000 with 2,500 USDT of margin (bankruptcy price 47,500), then the
cross shorts A (pos 1: 0.4 BTC @52,000, wallet 500), B (pos 2: 1 BTC @51,000, wallet 5,000) and C (pos 3:
1 BTC @47,420, wallet 10), last a liquidity provider. At a mark of 47,400 with an empty fund the long's whole
1,000 lots are deleveraged at 47,500 (the book's first lot already fills below the bankruptcy price).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_adl_triggers import A, B, C, DEEP, V, equities, make_book

from delever import events as ev
from delever.adl.policies import POLICIES, Winners, allocate, rotation_scores, rotation_start
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.engine import prepare, run
from delever.errors import InputError
from delever.events import EventBuffer
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.mechanisms.block_limits import NO_LIMIT, BlockLimits, StepUse, combine_partial, plan_step
from delever.scenario import default_scenario_path, load_scenario
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import money
from delever.venues import get_venue
from delever.venues.scenario import apply_venue
from core_stack import MECHANISMS_OFF

MARK = 474_000  # 47,400.0 USDT
TIERS = BINANCE_BTCUSDT_2021


def deleverage(seed: int, book: Book | None = None, step: int = 0):
    """Liquidate position 0 at MARK with an empty fund under ``random-offset``; returns (queue of shorts, the
    ``(counterparty position, lots)`` of each ADL counterparty fill, money before, money after)."""
    book = make_book((A, B, C)) if book is None else book
    pos_eq, acc_eq = equities(book, MARK)
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    queue = AdlQueue(book, 0, MARK, V, lambda: (pos_eq, acc_eq), excluded, "random-offset",
                     (TIERS.floors, TIERS.mmr_ppm, TIERS.cum), offset_key=(seed, step, 0))  # fmt: skip
    fund = np.zeros(1, dtype=np.int64)
    before = book.total_money(fund)
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account])
    run_stage(np.array([0]), book, V, 1_000, float(MARK), np.zeros(1), DepthCurve.linear(DEEP).arrays(), lp,
              np.ones(lp.size, dtype=np.int64), fund, queue, buf, np.zeros(1, np.int64), 1,
              AccountValuation.single(MARK, V))  # fmt: skip
    c = buf.cols
    rows = np.flatnonzero(c["kind"][: buf.n] == ev.ADL_COUNTERPARTY_FILL)
    fills = [(int(c["position"][r]), int(c["size"][r])) for r in rows]
    assert (c["indicator"][: buf.n] == 0).all()  # dYdX publishes no ADL indicator
    return queue.queue[1, : queue.length[1]].tolist(), fills, before, book.total_money(fund)


# --- random offset ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "start", "order"),
    [
        pytest.param(4, 0, [0, 1, 2, 3], id="start-0-index-order"),
        pytest.param(4, 2, [2, 3, 0, 1], id="start-2-rotated"),  # scores -(i - 2) mod 4 = [-2, -3, 0, -1]
        pytest.param(1, 0, [0], id="one-position"),
    ],
)
def test_rotation_scores_order_rows_from_the_start(n, start, order):
    assert np.argsort(-rotation_scores(n, start), kind="stable").tolist() == order


def test_rotation_start_is_a_pure_function_of_the_key():
    # numpy's SeedSequence of (seed, step, instrument, side): the starts of the three-short pool below
    assert [rotation_start((seed, 0, 0, 1), 3) for seed in (0, 1, 2)] == [1, 0, 2]
    assert rotation_start((7, 3, 0, 1), 10) == rotation_start((7, 3, 0, 1), 10)
    assert rotation_start((7, 3, 0, 1), 0) == 0
    with pytest.raises(ValueError, match="non-negative"):
        rotation_start((-1,), 3)


@pytest.mark.parametrize(
    ("seed", "queue", "fills"),
    [
        # start 1 of the pool [A=1, B=2, C=3]: B, C, A. B (equity 5,000 + 3,600 = 8,600 USDT) takes all 1,000 lots.
        pytest.param(0, [2, 3, 1], [(2, 1_000)], id="seed0-start1-B-takes-all"),
        # start 0: A, B, C. A gives its whole 400 lots, B the remaining 600.
        pytest.param(1, [1, 2, 3], [(1, 400), (2, 600)], id="seed1-start0-A-then-B"),
        # start 2: C, A, B. The collateral check: closing at 47,500 instead of the mark 47,400 costs a short
        # 0.1 USDT a lot; C's equity is 10 + 20 (uPnL) = 30 USDT, so it gives 30 / 0.1 = 300 of its 1,000 lots
        # (ending at equity 0), then A its 400, then B the last 300.
        pytest.param(2, [3, 1, 2], [(3, 300), (1, 400), (2, 300)], id="seed2-start2-C-capped-by-collateral"),
    ],
)
def test_random_offset_order_and_collateral_check(seed, queue, fills):
    q, got, before, after = deleverage(seed)
    assert q == queue
    assert got == fills
    assert after == before


def test_random_offset_is_deterministic_and_varies_with_the_step():
    assert deleverage(2)[:2] == deleverage(2)[:2]
    starts = {rotation_start((2, step, 0, 1), 3) for step in range(20)}
    assert starts == {0, 1, 2}  # the start is redrawn every step


def test_random_offset_money_form_is_a_rotated_queue():
    w = Winners.from_arrays(pnl=[100, 200, 300])
    # start 0: row 0 pays 100, row 1 150 of its 200 (need 250)
    assert allocate("random-offset", w, 250).haircut.tolist() == [100, 150, 0]
    # start 2: row 2 pays 250 of its 300
    assert allocate("random-offset", w, 250, state=2).haircut.tolist() == [0, 0, 250]
    assert POLICIES["random-offset"].rotating and POLICIES["random-offset"].family == "queue"


# --- per-step limits ------------------------------------------------------------------------------------------


def tiny_book() -> Book:
    """Five positions: accounts 0 (positions 0 and 1), 1 (position 2), 2 (position 3), 3 (position 4)."""
    return Book.from_arrays(
        wallet=[0, 0, 0, 0],
        exempt=[False] * 4,
        account=[0, 0, 1, 2, 3],
        size=[1_000, 500, -2_000, 10, 300],
        cost=[0] * 5,
        collateral=[0] * 5,
        isolated=[False] * 5,
    )


# at mark 50,000.0 (500,000 ticks) one lot is 500,000 x 100 = 5e7 money = 50 USDT; position notionals: 50,000,
# 25,000, 100,000, 500 and 15,000 USDT
UNIT = 500_000 * V


@pytest.mark.parametrize(
    ("limits", "keep", "lots"),
    [
        pytest.param(BlockLimits(), [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], id="no-limits-all-whole"),
        # two orders a step: the first two of the order, the rest wait
        pytest.param(BlockLimits(max_positions=2), [1, 1, 0, 0, 0], [0, 0, 0, 0, 0], id="two-per-step"),
        # 10% of each: 100, 50, 200 lots; 10% of 10 lots is 1 lot (50 USDT); 30
        pytest.param(BlockLimits(position_portion_ppm=100_000), [1] * 5, [100, 50, 200, 1, 30], id="portion-10pct"),
        # 10% but at least 10,000 USDT (200 lots): 200, 200, 200 (10% = 10,000 = 200), 10 (whole), 200
        pytest.param(
            BlockLimits(position_min_notional=money(10_000), position_portion_ppm=100_000),
            [1] * 5,
            [200, 200, 200, 0, 200],
            id="portion-with-min-notional",
        ),
        # 30,000 USDT (600 lots) per account: account 0's position 0 closes 600 lots, its position 1 waits
        # (budget 0 left); account 1's 2,000 lots -> 600; 10 lots whole; 300 lots whole
        pytest.param(
            BlockLimits(account_max_notional=money(30_000)), [1, 0, 1, 1, 1], [600, 0, 600, 0, 0], id="account-30k"
        ),
        # 60,000 USDT per account: position 0 whole (1,000 lots = 50,000), position 1 the 200 lots left (10,000)
        pytest.param(
            BlockLimits(account_max_notional=money(60_000)), [1, 1, 1, 1, 1], [0, 200, 1_200, 0, 0], id="account-60k"
        ),
        # 49 USDT per account is below one lot (50 USDT): everyone waits
        pytest.param(BlockLimits(account_max_notional=money(49)), [0] * 5, [0] * 5, id="account-below-one-lot"),
    ],
)
def test_plan_step_by_hand(limits, keep, lots):
    b = tiny_book()
    plan = plan_step(np.arange(5), b.size, b.account, 500_000, V, limits)
    assert plan.keep.astype(int).tolist() == keep
    assert plan.lots.tolist() == lots
    assert plan.waiting == 5 - sum(keep)


def test_plan_step_waiting_positions_do_not_count_against_the_per_step_count():
    b = tiny_book()
    # account 0 exhausts its 50 USDT budget on one lot of position 0; position 1 waits and does not use one of
    # the three orders, so positions 2 and 3 are admitted: orders 0, 2, 3
    plan = plan_step(np.arange(5), b.size, b.account, 500_000, V,
                     BlockLimits(max_positions=3, account_max_notional=money(50)))  # fmt: skip
    assert plan.keep.astype(int).tolist() == [1, 0, 1, 1, 0]
    assert plan.lots.tolist() == [1, 0, 1, 1, 0]


def test_plan_step_limits_hold_over_the_steps_batches():
    """A multi-instrument step plans one batch per instrument: the per-step count and each account's budget carry
    from one batch to the next (``StepUse``), as one dYdX block's limits cover every market."""
    b = tiny_book()
    used = StepUse()
    # two orders a step and 60,000 USDT per account: the first batch (positions 0, 1 of account 0) takes both
    # orders (1,000 lots = 50,000 USDT whole, then the 200 lots left of the budget, 10,000 USDT)
    limits = BlockLimits(max_positions=2, account_max_notional=money(60_000))
    first = plan_step(np.array([0, 1]), b.size, b.account, 500_000, V, limits, used)
    assert first.keep.tolist() == [True, True] and first.lots.tolist() == [0, 200]
    assert used.admitted == 2 and used.budget == {0: 0}
    # the second batch: no order left this step, everyone waits
    second = plan_step(np.array([2, 3, 4]), b.size, b.account, 500_000, V, limits, used)
    assert second.waiting == 3
    # alone (a fresh step) the same batch is admitted
    assert plan_step(np.array([2, 3, 4]), b.size, b.account, 500_000, V, limits).waiting == 1


@pytest.mark.parametrize(
    ("partial", "limit", "out"),
    [
        pytest.param([0, 5, 0, 5], [0, 0, 3, 3], [0, 5, 3, 3], id="smaller-of-two-partials-zero-is-whole"),
    ],
)
def test_combine_partial(partial, limit, out):
    assert combine_partial(np.array(partial), np.array(limit)).tolist() == out


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"max_positions": 0}, id="zero-per-step"),
        pytest.param({"position_portion_ppm": 0}, id="zero-portion"),
        pytest.param({"position_portion_ppm": 1_000_001}, id="portion-above-one"),
        pytest.param({"account_max_notional": 0}, id="zero-account-budget"),
        pytest.param({"position_min_notional": -1}, id="negative-min"),
    ],
)
def test_block_limits_validate(kw):
    with pytest.raises(ValueError):
        BlockLimits(**kw)


SMALL = {
    "book": {"generator": {"accounts": 600}},
    "prices": {"start": "2025-10-10T21:12:00Z", "end": "2025-10-10T21:22:00Z"},
    "liquidity": {"depth_scale": 0.0005},
    "insurance_fund": {"balance": "2000"},
}


def small(**extra):
    return load_scenario(default_scenario_path(), {**SMALL, **extra})


def liquidations_per_step(r) -> np.ndarray:
    e = r.events
    fills = e["kind"] == ev.LIQUIDATION_FILL
    _, counts = np.unique(e["step"][fills], return_counts=True)
    return counts


def test_engine_runs_at_most_the_per_step_count_and_the_rest_wait():
    free = run(small(), 0, check_every_step=True)
    capped_sc = small(liquidation={"max_positions_per_step": 2})
    capped = run(capped_sc, 0, check_every_step=True)
    assert liquidations_per_step(free).max() > 2  # the small scenario's cascade liquidates more in a step
    assert liquidations_per_step(capped).max() <= 2
    assert capped.money_end == capped.money_start
    assert capped.extra["block_limits"]["fired_steps"] > 0
    assert capped.book.open_interest(0)[0] == capped.book.open_interest(0)[1]


def test_scenario_liquidation_section_validates():
    with pytest.raises(InputError, match="max_positions_per_step"):
        small(liquidation={"max_positions_per_step": 0})
    with pytest.raises(InputError, match="position_max_portion_pct"):
        small(liquidation={"position_max_portion_pct": 150})
    assert not small().liquidation.limits_on()
    lim = small(liquidation={"position_max_portion_pct": "10", "account_max_notional_per_step": "100000"})
    assert lim.liquidation.block_limits() == BlockLimits(
        max_positions=NO_LIMIT, position_portion_ppm=100_000, account_max_notional=money(100_000)
    )


def test_dydx_rulebook_selects_random_offset_and_block_limits():
    sc = apply_venue(small(), "dydx")
    assert sc.adl.policy == "random-offset"
    assert sc.liquidation.max_positions_per_step == 50
    assert sc.liquidation.account_max_notional_per_step == 100_000_000
    gaps = get_venue("dydx").engine_gaps()
    assert not any("no engine policy" in g for g in gaps)
    # the IOC at the fillable price, its per-block insurance cap and the zero-fill trigger close the other gaps
    assert sc.liquidation.order == "fillable-price-ioc" and sc.adl.trigger == "zero-fill"
    assert sc.liquidation.max_insurance_lost_per_step == 100_000_000  # MaxQuantumsInsuranceLost default, $100M
    assert gaps == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    per_step=st.integers(1, 6),
    portion_pct=st.sampled_from(["5", "25", "100"]),
    account_usdt=st.sampled_from([None, "500", "5000"]),
    seed=st.integers(0, 3),
)
def test_money_is_conserved_with_the_limits_on(per_step, portion_pct, account_usdt, seed):
    lq: dict = {"max_positions_per_step": per_step, "position_max_portion_pct": portion_pct}
    if account_usdt is not None:
        lq["account_max_notional_per_step"] = account_usdt
    sc = small(liquidation=lq, adl={"policy": "random-offset"})
    r = run(sc, seed, market=prepare(sc, seed), check_every_step=True)
    assert r.money_end == r.money_start
    long_, short = r.book.open_interest(0)
    assert long_ == short
    assert liquidations_per_step(r).max(initial=0) <= per_step


def test_random_offset_across_instruments_is_conserved_and_deterministic():
    from delever.engine import run

    cross = default_scenario_path().parent / "binance-2025-10-10-cross-margin.toml"
    over = {
        "book": {"generator": {"accounts": 1500}},
        "prices": {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:25:00Z"},
        "liquidity": {"depth_scale": 0.002},
        "insurance_fund": {"balance": "5000"},
        "adl": {"policy": "random-offset"},
        "mechanisms": MECHANISMS_OFF,  # the core stack on the packaged market
    }
    sc = load_scenario(cross, over)
    r1, r2 = run(sc, 3, check_every_step=True), run(sc, 3, check_every_step=True)
    assert r1.money_end == r1.money_start
    adl = r1.events["kind"] == ev.ADL_COUNTERPARTY_FILL
    assert adl.any()
    assert np.array_equal(r1.events["position"][adl], r2.events["position"][adl])
    assert (r1.events["indicator"][adl] == 0).all()
