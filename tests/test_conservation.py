"""Conservation and ledger properties of whole engine runs on random small books and random price paths.

Each example generates a small trader book (:func:`delever.generator.generate_book`), a random index path
(random walk with drift plus a crash or a squeeze), a thin order book (small depth scale, so that fills go
through bankruptcy and reach the insurance fund and ADL) and runs :func:`delever.engine.run` with
``check_every_step=True`` (the engine itself raises ``ConservationError`` if money or open interest move at
any step). On the result we check, independently of the engine's own check:

- money: ``money_end == money_start`` and open interest long == short;
- solvency: no trader account ends with a negative wallet, nor a position with negative isolated margin,
  unless a ``bad_debt`` event names it (and then the position is closed);
- the insurance fund equals its start plus liquidation fees received minus payouts made, and never < 0;
- every ``adl_fill`` row has a ``adl_counterparty_fill`` row with the opposite size at the same price and
  step, between the same two accounts (and vice versa);
- every liquidation fill against the book is taken in full by the liquidity providers' ``lp_fill`` rows;
- the event log explains every account's balance: the change of ``wallet + isolated margins`` of an
  account equals the sum of its events' amounts, and the change of ``wallet + margins - cost`` equals
  ``sum(-size * price * V)`` over its fills plus its fees and payouts;
- the engine's fast liquidation screen (trigger prices, or skipping proven-safe sweeps, whichever the engine
  has) gives exactly the same run as marking the whole book to market every step.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from delever import engine
from delever import events as ev
from delever.book import Book
from delever.generator import GeneratorParams, generate_book
from delever.liquidity import DepthCurve
from delever.margin import liquidation_price, position_metrics
from delever.prices import PricePath
from delever.scenario import default_scenario_path, load_scenario

NS_PER_S = 1_000_000_000
FILL_KINDS = (ev.LIQUIDATION_FILL, ev.LP_FILL, ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL)


@lru_cache(maxsize=1)
def base_market() -> tuple:
    """The default scenario (its data files are read once per session) with a tiny generated book."""
    sc = load_scenario(default_scenario_path(), overrides={"book": {"generator": {"accounts": 50}}})
    return sc, engine.prepare(sc, 0)


def random_path(
    start_price: float,
    steps: int,
    rng_seed: int,
    drift: float,
    vol: float,
    shock_at: float,
    shock: float,
    shock_steps: int,
) -> PricePath:
    """Geometric random walk from ``start_price`` (quote) with per-step ``drift`` and ``vol`` (log units), plus
    a ``shock`` (total log move, < 0 a crash, > 0 a squeeze) spread over ``shock_steps`` steps starting at
    fraction ``shock_at`` of the path. One step per second. Prices stay > 0 (exp of a finite sum)."""
    rng = np.random.default_rng(rng_seed)
    log_ret = drift + vol * rng.standard_normal(steps)
    log_ret[0] = 0.0
    k0 = min(max(1, int(shock_at * steps)), steps - 1)
    k1 = min(steps, k0 + shock_steps)
    log_ret[k0:k1] += shock / (k1 - k0)
    index = start_price * np.exp(np.cumsum(log_ret))
    assert np.all(index > 0) and np.all(np.isfinite(index))
    return PricePath(np.arange(steps, dtype=np.int64) * NS_PER_S, index, "synthetic")


def build_run_inputs(
    *,
    seed,
    accounts,
    leverage_median,
    leverage_sigma,
    long_fraction,
    isolated_fraction,
    fund_usdt,
    depth_scale,
    lp_accounts,
    fee_rate,
    basis_ema_s,
    half_life_s,
    path_kw,
):
    """A (scenario, market) pair: the default scenario with these parameters, a generated book and path."""
    sc, m = base_market()
    sc = sc.model_copy(
        update={
            "fees": sc.fees.model_copy(update={"liquidation_fee_rate": Decimal(fee_rate)}),
            "insurance_fund": sc.insurance_fund.model_copy(update={"balance": Decimal(fund_usdt)}),
            "mark": sc.mark.model_copy(update={"basis_ema_s": basis_ema_s}),
            "liquidity": sc.liquidity.model_copy(
                update={"depth_scale": depth_scale, "lp_accounts": lp_accounts, "resilience_half_life_s": half_life_s}
            ),
        }
    )
    params = GeneratorParams(
        accounts=accounts,
        long_fraction=long_fraction,
        leverage_median=leverage_median,
        leverage_sigma=leverage_sigma,
        isolated_fraction=isolated_fraction,
    )
    book = generate_book(params, m.instrument, m.start_price_ticks, seed, lp_accounts, sc.liquidity.lp_wallet)
    curve = DepthCurve.from_profile(m.depth, m.instrument, depth_scale)
    start_price = m.start_price_ticks * float(m.instrument.tick_size)
    path = random_path(start_price, **path_kw)
    return sc, dataclasses.replace(m, book=book, curve=curve, path=path, labels=None)


def check_invariants(r: engine.RunResult) -> dict[str, int]:
    """Every invariant of the module docstring on one run; returns event counts by kind name."""
    e = r.events
    kind, acc, cp, pos = e["kind"].astype(np.int64), e["account"], e["counterparty"], e["position"]
    size, price, amount, step = e["size"], e["price"], e["amount"], e["step"]
    v = r.instrument.value_per_lot_tick
    b0, b1 = r.book_start, r.book

    # money and open interest
    assert r.money_end == r.money_start, f"money changed by {r.money_end - r.money_start} units"
    assert r.book.total_money(r.steps.fund[-1]) == r.money_start
    long_oi, short_oi = b1.open_interest(0)
    assert long_oi == short_oi

    # solvency: negative balances only where bad debt was recorded, and only on closed positions
    bad = kind == ev.BAD_DEBT
    bad_accounts, bad_positions = set(acc[bad].tolist()), set(pos[bad].tolist())
    assert np.all(amount[bad] < 0)
    traders = ~b1.exempt
    neg_wallet = np.flatnonzero((b1.wallet < 0) & traders)
    assert set(neg_wallet.tolist()) <= bad_accounts, "negative wallet without a bad_debt event"
    neg_coll = np.flatnonzero((b1.collateral < 0) & traders[b1.account])
    assert set(neg_coll.tolist()) <= bad_positions, "negative isolated margin without a bad_debt event"
    assert np.all(b1.size[neg_coll] == 0), "an open position holds negative isolated margin"
    for a in neg_wallet:
        assert np.all(b1.size[b1.account == a] == 0), "an account with a negative wallet kept a position"
    assert not np.any(b1.collateral[~b1.isolated]), "a cross position acquired isolated margin"

    # insurance fund: start + fees received - payouts made, never negative
    fees = int(-amount[kind == ev.LIQUIDATION_FEE].sum())
    payouts = int(amount[kind == ev.INSURANCE_PAYOUT].sum())
    assert np.all(amount[kind == ev.LIQUIDATION_FEE] < 0) and np.all(amount[kind == ev.INSURANCE_PAYOUT] > 0)
    assert np.all(cp[(kind == ev.LIQUIDATION_FEE) | (kind == ev.INSURANCE_PAYOUT)] == ev.INSURANCE_FUND)
    assert int(r.steps.fund[-1]) == r.fund_start + fees - payouts
    assert r.steps.fund.min() >= 0
    # the per-step fund series moves by exactly that step's fees and payouts
    fund_delta = np.bincount(
        step,
        weights=np.where(kind == ev.LIQUIDATION_FEE, -amount, 0) - np.where(kind == ev.INSURANCE_PAYOUT, amount, 0),
        minlength=r.steps.fund.size,
    )
    assert np.array_equal(
        np.diff(np.concatenate([[r.fund_start], r.steps.fund])), fund_delta[: r.steps.fund.size].astype(np.int64)
    )

    # ADL fills come in matched pairs: (step, bankrupt, counterparty, size, price) <-> the mirror row
    adl, adl_cp = kind == ev.ADL_FILL, kind == ev.ADL_COUNTERPARTY_FILL
    fills = Counter(
        zip(step[adl].tolist(), acc[adl].tolist(), cp[adl].tolist(), size[adl].tolist(), price[adl].tolist())
    )
    mirrors = Counter(
        zip(
            step[adl_cp].tolist(),
            cp[adl_cp].tolist(),
            acc[adl_cp].tolist(),
            (-size[adl_cp]).tolist(),
            price[adl_cp].tolist(),
        )
    )
    assert fills == mirrors, "an ADL fill without its counterparty row (or the reverse)"
    assert np.all(size[adl | adl_cp] != 0) and np.all(price[adl | adl_cp] >= 1)
    assert np.all((e["indicator"][adl | adl_cp] >= 1) & (e["indicator"][adl | adl_cp] <= 5))
    # the ADL counterparty is never an LP account nor the bankrupt account itself
    assert not np.any(b1.exempt[acc[adl_cp]]) and np.all(acc[adl_cp] != cp[adl_cp])
    # ADL reduces the counterparty's position, never flips or increases it
    assert np.all(np.sign(size[adl_cp]) == -np.sign(b0.size[pos[adl_cp]]))
    trader_pos = ~b1.exempt[b1.account]
    assert np.all(np.sign(b1.size[trader_pos]) * np.sign(b0.size[trader_pos]) >= 0), "a trader position flipped"
    assert np.all(np.abs(b1.size[trader_pos]) <= np.abs(b0.size[trader_pos])), "a trader position grew"

    # book fills are taken in full by the liquidity providers, at the same price
    liq, lp = kind == ev.LIQUIDATION_FILL, kind == ev.LP_FILL
    assert np.all(cp[liq] == ev.BOOK) and np.all(b1.exempt[acc[lp]]) and not np.any(b1.exempt[acc[liq]])
    got = Counter()
    for k in zip(step[liq].tolist(), acc[liq].tolist(), price[liq].tolist(), size[liq].tolist()):
        got[k[:3]] += k[3]
    taken = Counter()
    for k in zip(step[lp].tolist(), cp[lp].tolist(), price[lp].tolist(), size[lp].tolist()):
        taken[k[:3]] -= k[3]
    assert {k: x for k, x in got.items() if x} == {k: x for k, x in taken.items() if x}

    # per-account ledger: the events explain every account's balance change exactly
    na = b1.n_accounts
    bal0 = b0.wallet.astype(object) + _per_account(b0.account, b0.collateral, na)
    bal1 = b1.wallet.astype(object) + _per_account(b1.account, b1.collateral, na)
    moved = np.isin(kind, (*FILL_KINDS, ev.LIQUIDATION_FEE, ev.INSURANCE_PAYOUT))
    explained = _per_account(acc[moved], amount[moved], na)
    assert np.array_equal(bal1 - bal0, explained), "a balance changed by more or less than its events say"
    eq0 = bal0 - _per_account(b0.account, b0.cost, na)
    eq1 = bal1 - _per_account(b1.account, b1.cost, na)
    fill = np.isin(kind, FILL_KINDS)
    # exact: Python ints (object arrays), so a large notional cannot wrap around
    flows = np.where(fill, -size.astype(object) * price.astype(object) * v, np.where(moved, amount, 0))
    assert np.array_equal(eq1 - eq0, _per_account(acc, flows, na))
    # the position named by a fill, fee, payout or bad-debt row belongs to the row's account
    own = fill | (kind == ev.LIQUIDATION_FEE) | (kind == ev.INSURANCE_PAYOUT) | bad
    assert np.all(b1.account[pos[own]] == acc[own])

    counts = np.bincount(kind, minlength=len(ev.KIND_NAMES))
    return dict(zip(ev.KIND_NAMES, counts.tolist()))


def _per_account(account: np.ndarray, values: np.ndarray, na: int) -> np.ndarray:
    """Exact (Python int) per-account sums of int64 values, shape (na,) dtype object."""
    out = np.zeros(na, dtype=object)
    np.add.at(out, account, values.astype(object))
    return out


def run_both_screens(sc, seed, market, **kw) -> tuple[engine.RunResult, engine.RunResult]:
    """``(default run, full-sweep run)``; a rename of ``engine.run``'s ``full_sweep`` switch fails here (TypeError),
    it does not skip."""
    return engine.run(sc, seed, market=market, **kw), engine.run(sc, seed, market=market, **kw, full_sweep=True)


def assert_same_run(a: engine.RunResult, b: engine.RunResult) -> None:
    for c in a.events:
        assert np.array_equal(a.events[c], b.events[c]), f"events column {c} differs"
    for f in ("wallet", "size", "cost", "collateral"):
        assert np.array_equal(getattr(a.book, f), getattr(b.book, f)), f"book column {f} differs"
    assert np.array_equal(a.steps.mark_ticks, b.steps.mark_ticks)
    assert np.array_equal(a.steps.fund, b.steps.fund)


# ----------------------------------------------------------------------------------------------- properties

run_params = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "accounts": st.integers(50, 500),
        "leverage_median": st.floats(2.0, 50.0),
        "leverage_sigma": st.floats(0.0, 1.5),
        "long_fraction": st.floats(0.0, 1.0),
        "isolated_fraction": st.floats(0.0, 1.0),
        # USDT; 0 (ADL from the first shortfall) up to far more than any small book can lose
        "fund_usdt": st.one_of(st.just(0), st.integers(0, 5_000), st.integers(0, 10**9)),
        # 0.05 is the default scenario's; 0.0002 leaves ~280 lots (0.28 BTC) within 1% of the index per side
        "depth_scale": st.sampled_from([0.0002, 0.0005, 0.002, 0.01, 0.05]),
        "lp_accounts": st.integers(1, 6),
        "fee_rate": st.sampled_from(["0", "0.003", "0.0125"]),
        "basis_ema_s": st.sampled_from([0.0, 5.0, 30.0]),
        "half_life_s": st.sampled_from([0.0, 10.0, 60.0]),
        "path_kw": st.fixed_dictionaries(
            {
                "steps": st.integers(60, 200),
                "rng_seed": st.integers(0, 2**32 - 1),
                "drift": st.floats(-0.002, 0.002),
                "vol": st.floats(0.0, 0.01),
                "shock_at": st.floats(0.0, 1.0),
                # total log move of the shock: down to exp(-1.2) = -70%, up to exp(0.8) = +123%
                "shock": st.floats(-1.2, 0.8),
                "shock_steps": st.integers(1, 20),
            }
        ),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_params)
def test_random_runs_conserve_money_and_keep_the_ledger_consistent(params):
    sc, market = build_run_inputs(**params)
    r = engine.run(sc, params["seed"], market=market, check_every_step=True)
    counts = check_invariants(r)
    # steer the search towards runs that exercise the insurance fund, ADL and bad debt
    target(float(counts["adl_fill"]), label="adl fills")
    target(float(counts["insurance_payout"] + counts["bad_debt"]), label="fund payouts and bad debt")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_params)
def test_fast_liquidation_screen_equals_full_sweep_every_step(params):
    sc, market = build_run_inputs(**params)
    fast, full = run_both_screens(sc, 0, market, check_every_step=True)
    assert_same_run(fast, full)


# ------------------------------------------------------------------------------- forced ADL and bad debt

FORCED = dict(
    seed=7,
    accounts=500,
    leverage_median=50.0,
    leverage_sigma=0.5,
    long_fraction=0.5,
    isolated_fraction=0.3,
    fund_usdt=0,
    depth_scale=0.0005,
    lp_accounts=4,
    fee_rate="0.003",
    basis_ema_s=30.0,
    half_life_s=60.0,
)


@pytest.mark.parametrize("shock", [-0.5, 0.5], ids=["crash", "squeeze"])
def test_steep_move_with_empty_fund_forces_adl_and_conserves(shock):
    # Empty fund, median leverage 50x (a 2% move wipes out the median trader), depth 1/100 of the default
    # scenario's, and a 40% (exp(-0.5) = 0.61) crash or 65% (exp(0.5) = 1.65) squeeze over 10 steps: book fills
    # land far beyond bankruptcy prices, the fund (fed only by fees) cannot cover them, and the rest must be
    # auto-deleveraged against the profitable other side.
    path_kw = dict(steps=120, rng_seed=3, drift=0.0, vol=0.0005, shock_at=0.25, shock=shock, shock_steps=10)
    sc, market = build_run_inputs(**FORCED, path_kw=path_kw)
    r = engine.run(sc, 7, market=market, check_every_step=True)
    counts = check_invariants(r)
    assert counts["adl_fill"] > 0 and counts["adl_counterparty_fill"] == counts["adl_fill"]
    assert counts["liquidation_fill"] > 0 and counts["lp_fill"] > 0
    # during the shock (steps 30..39: shock_at 0.25 of 120 steps, over 10 steps) the bankrupt side is the
    # losing one: longs in a crash (their ADL fill sells, size < 0), shorts in a squeeze (size > 0)
    in_shock = (r.events["kind"] == ev.ADL_FILL) & (r.events["step"] >= 30) & (r.events["step"] < 40)
    assert in_shock.any()
    assert np.all(np.sign(r.events["size"][in_shock]) == (-1 if shock < 0 else 1))
    fast, full = run_both_screens(sc, 7, market)
    assert_same_run(r, fast)
    assert_same_run(r, full)


def test_empty_adl_queue_leaves_bad_debt_and_still_conserves():
    # Every trader long (long_fraction 1): a crash leaves no profitable short to deleverage, so what the
    # empty fund cannot pay stays as bad debt on the bankrupt accounts.
    path_kw = dict(steps=80, rng_seed=5, drift=0.0, vol=0.0, shock_at=0.2, shock=-0.6, shock_steps=5)
    params = {**FORCED, "long_fraction": 1.0}
    sc, market = build_run_inputs(**params, path_kw=path_kw)
    r = engine.run(sc, 7, market=market, check_every_step=True)
    counts = check_invariants(r)
    assert counts["adl_fill"] == 0
    assert counts["bad_debt"] > 0


def test_isolated_margin_returned_to_wallet_protects_the_accounts_cross_position():
    # One account holds an isolated long and a cross long, both 1 BTC (1,000 lots) entered at 100,000 USDT
    # (1,000,000 ticks); V = 100 money units per lot-tick, so each cost is 1,000 * 1,000,000 * 100 = 1e11
    # units (100,000 USDT). Isolated margin 10,000 USDT (10x), cross wallet 20,000 USDT (5x).
    sc, m = base_market()
    inst = m.instrument
    v = inst.value_per_lot_tick
    assert v == 100
    u = 10**6  # money units per USDT
    p0, lots = 1_000_000, 1_000
    cost = lots * p0 * v
    wallet, iso_margin = 20_000 * u, 10_000 * u
    book = Book.from_arrays(
        wallet=[wallet, 10**9 * u],
        exempt=[False, True],
        account=[0, 0, 1],
        size=[lots, lots, -2 * lots],
        cost=[cost, cost, -2 * cost],
        collateral=[iso_margin, 0, 0],
        isolated=[True, False, False],
    )
    liq_iso = liquidation_price(lots, cost, iso_margin, inst)  # 904,021 ticks
    liq_cross = liquidation_price(lots, cost, wallet, inst)  # 803,518 ticks
    # The mark (no basis EMA, book refilled at once) sits at 100,000 USDT, then 1,000 ticks under the isolated
    # liquidation price, then 500 ticks under the cross position's liquidation price *with its original
    # wallet*. The isolated position is closed near 903,016 ticks against a deep book, above its bankruptcy
    # price (900,000), and (fee 0) returns 10,000 + (903,016 - 1,000,000) * 1,000 * 100 / 1e6 = ~301.6 USDT
    # to the wallet, which lowers the cross liquidation price by ~3,000 ticks: at 803,018 the cross position
    # is healthy and must not be liquidated, whichever way the engine screens for liquidations.
    ticks = [p0] * 5 + [liq_iso - 1_000] * 5 + [liq_cross - 500] * 10
    path = PricePath(np.arange(len(ticks), dtype=np.int64) * NS_PER_S, np.array(ticks, dtype=float) / 10, "x")
    sc = sc.model_copy(
        update={
            "fees": sc.fees.model_copy(update={"liquidation_fee_rate": Decimal(0)}),
            "mark": sc.mark.model_copy(update={"basis_ema_s": 0.0}),
            "liquidity": sc.liquidity.model_copy(update={"resilience_half_life_s": 0.0, "lp_accounts": 1}),
        }
    )
    market = dataclasses.replace(
        m, book=book, path=path, curve=DepthCurve.linear(1e6), start_price_ticks=p0, labels=None
    )
    fast, full = run_both_screens(sc, 0, market, check_every_step=True)
    for r in (full, fast):
        check_invariants(r)
        e = r.events
        iso_fill = (e["kind"] == ev.LIQUIDATION_FILL) & (e["position"] == 0)
        assert iso_fill.sum() == 1 and e["step"][iso_fill][0] == 5
        # margin left in the isolated position after its fill (and fee, 0 here) went back to the wallet
        returned = iso_margin + int(e["amount"][(e["position"] == 0) & (e["account"] == 0)].sum())
        assert 250 * u < returned < 350 * u
        ref = position_metrics(lots, cost, wallet + returned, liq_cross - 500, inst)
        assert not ref.liquidatable
        assert not np.any((e["position"] == 1) & (e["kind"] == ev.LIQUIDATION_FILL)), (
            "the cross position was liquidated although its account is above maintenance margin"
        )
    assert_same_run(fast, full)
