"""Each deleveraging mechanism of issue #4 on a small hand-made scenario, numbers worked out in the comments.

Instrument: Binance BTCUSDT (tick 0.1 USDT, lot 0.001 BTC, so one lot moving one tick is V = 100 money units
of 1e-6 USDT) with the 2021 risk-limit tiers (:data:`delever.tiers.BINANCE_BTCUSDT_2021`):

====  ==================  =====  ======  ==================
tier  notional (USDT)     lev    MMR     maintenance amount
====  ==================  =====  ======  ==================
1     [0, 50k)            125x   0.4%    0
2     [50k, 250k)         100x   0.5%    50
3     [250k, 1M)          50x    1%      1,300
4     [1M, 10M)           20x    2.5%    16,300
====  ==================  =====  ======  ==================

(maintenance amount of tier n = floor_n x (MMR_n - MMR_n-1) + that of tier n-1: 50k x 0.1% = 50,
250k x 0.5% + 50 = 1,300, 1M x 1.5% + 1,300 = 16,300), and ``MM = notional x MMR - maintenance amount``.

The engine's market in these tests: the mark-price EMA is off and the book refills at once (half-life 0), so
the mark of each step is the index of the step, in ticks; the order book is linear (``DepthCurve.linear``),
``D`` lots per 1% on each side, so selling ``k`` lots fills at ``floor(centre x (1 - k / (200 D)))`` ticks. A
"deep" book (D = 1e9 lots per 1%) fills any of these orders one tick under the centre (a buy one tick over).
One liquidity-provider account holds the other side of the traders. Every run checks the money identity and
open interest at every step (``check_every_step=True``), and each hand-made run is done twice, with the
engine's trigger-price screen and with a full margin sweep every step, which must give the same events.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import engine
from delever import events as ev
from delever.ablation import METRICS, ablate, without
from delever.book import Book
from delever.bookio import load_book
from delever.errors import InputError
from delever.generator import GeneratorParams, generate_book
from delever.liquidity import DepthCurve
from delever.marketdata import ask_depth_series
from delever.mechanisms.circuit_breaker import CircuitBreaker
from delever.mechanisms.dynamic_margin import quantise, scaled_tiers
from delever.mechanisms.funding import funding_rate_ppb
from delever.mechanisms.partial import slice_lots, tier_lots
from delever.mechanisms.socialized import pro_rata
from delever.mechanisms.volatility import rolling_vol, vol_ratio
from delever.mechanisms.withdrawal import calibrate_elasticity, depth_scale
from delever.output import summarize
from delever.prices import PricePath
from delever.scenario import MechanismsConfig, default_scenario_path, load_scenario
from delever.tiers import BINANCE_BTCUSDT_2021, RiskTiers
from delever.units import money

V = 100
U = 10**6  # money units per USDT
NS = 10**9
P0 = 1_000_000  # 100,000.0 USDT in ticks
DEEP = 1e9  # lots per 1%
LP_WALLET = 10**9 * U


@lru_cache(maxsize=1)
def base_market() -> tuple:
    """The default scenario (its data files are read once) with a tiny generated book."""
    sc = load_scenario(default_scenario_path(), overrides={"book": {"generator": {"accounts": 50}}})
    return sc, engine.prepare(sc, 0)


def scenario(fee: str = "0.003", fund: str = "0", **mechanisms: dict):
    """The default scenario with no mark EMA, an instant refill, one LP, this fee and fund, and exactly the
    given mechanisms on (``name={param: value}``), validated as a scenario file's tables are."""
    sc, _ = base_market()
    mech = MechanismsConfig.model_validate({name: {"enabled": True, **p} for name, p in mechanisms.items()})
    return sc.model_copy(
        update={
            "fees": sc.fees.model_copy(update={"liquidation_fee_rate": Decimal(fee)}),
            "insurance_fund": sc.insurance_fund.model_copy(update={"balance": Decimal(fund)}),
            "mark": sc.mark.model_copy(update={"basis_ema_s": 0.0}),
            "liquidity": sc.liquidity.model_copy(update={"resilience_half_life_s": 0.0, "lp_accounts": 1}),
            "mechanisms": mech,
        }
    )


def market(book: Book, ticks, lots_per_pct: float = DEEP, t0_ns: int = 0) -> engine.Market:
    """A market with this book, an index path of these ticks (one step per second from ``t0_ns``) and a linear
    order book."""
    _, m = base_market()
    time_ns = t0_ns + np.arange(len(ticks), dtype=np.int64) * NS
    path = PricePath(time_ns, np.asarray(ticks, dtype=float) / 10, "hand")
    return dataclasses.replace(
        m, book=book, path=path, curve=DepthCurve.linear(lots_per_pct), start_price_ticks=int(ticks[0]), labels=None
    )


def run(sc, mk: engine.Market) -> engine.RunResult:
    """Run with the trigger screen and with a full sweep every step; both must give the same run."""
    fast = engine.run(sc, 0, market=mk, check_every_step=True)
    full = engine.run(sc, 0, market=mk, check_every_step=True, full_sweep=True)
    for c in fast.events:
        assert np.array_equal(fast.events[c], full.events[c]), f"events column {c} differs between screens"
    for f in ("wallet", "size", "cost", "collateral"):
        assert np.array_equal(getattr(fast.book, f), getattr(full.book, f))
    assert fast.money_end == fast.money_start
    return fast


def rows(r: engine.RunResult, *kinds: int, account: int | None = None) -> list[dict]:
    """The run's event rows (dicts of ints; ``kind`` as its name), of these kinds and this account."""
    e = r.events
    out = []
    for i in range(e["kind"].shape[0]):
        if kinds and int(e["kind"][i]) not in kinds:
            continue
        if account is not None and int(e["account"][i]) != account:
            continue
        row = {k: int(e[k][i]) for k in e}
        row["kind"] = ev.KIND_NAMES[row["kind"]]
        out.append(row)
    return out


def book_of(traders: list[tuple[int, int, int, bool]], protected: list[bool] | None = None) -> Book:
    """Traders ``(lots, entry ticks, balance money, isolated)`` (balance: isolated margin or cross wallet),
    one account each, then one liquidity provider holding the opposite of their net position at P0."""
    n = len(traders)
    lp = -sum(t[0] for t in traders)
    return Book.from_arrays(
        wallet=[0 if iso else bal for _, _, bal, iso in traders] + [LP_WALLET],
        exempt=[False] * n + [True],
        account=list(range(n + 1)),
        size=[t[0] for t in traders] + [lp],
        cost=[lots * entry * V for lots, entry, _, _ in traders] + [lp * P0 * V],
        collateral=[bal if iso else 0 for _, _, bal, iso in traders] + [0],
        isolated=[t[3] for t in traders] + [False],
        protected=None if protected is None else protected + [True],
    )


# ============================================================================ 1. partial liquidation: tiers


def test_tier_partial_liquidation_leaves_the_size_the_tier_table_implies():
    # Isolated long 5 BTC (5,000 lots) entered at 100,000 with 13,590 USDT; the index drops to 98,000.
    # At 98,000: notional 5 x 98,000 = 490,000 -> tier 3: MM = 490,000 x 1% - 1,300 = 3,600;
    # equity = 13,590 + 5 x (98,000 - 100,000) = 3,590 < 3,600: liquidatable, just below MM.
    # Next lower tier, tier 2 (cap 250,000, MMR 0.5%, maintenance amount 50): one lot is 98 USDT, so the
    # largest size strictly under the cap is floor((250,000 - 1e-6) / 98) = 2,551 lots (249,998 USDT;
    # 2,552 lots would be 250,096). Close 5,000 - 2,551 = 2,449 lots; fee 0.3% x 2,449 x 98 = 720.006;
    # MM after = 249,998 x 0.5% - 50 = 1,199.99; 3,590 - 720.006 = 2,869.994 >= 1,199.99: tier 2 restores it.
    book = book_of([(5_000, P0, 13_590 * U, True)])
    ticks = [P0] * 3 + [980_000] * 5
    r = run(scenario(partial_liquidation={"mode": "tier"}), market(book, ticks))
    assert r.book.size[0] == 2_551
    fill, fee = rows(r, ev.LIQUIDATION_FILL, ev.LIQUIDATION_FEE)
    assert (fill["step"], fill["size"], fill["price"]) == (3, -2_449, 979_999)  # deep book: one tick under
    # realized: 2,449 x 979,999 x 100 - cost share 2,449 / 5,000 x 5e11 = 240,001,755,100 - 244,900,000,000
    assert fill["amount"] == -4_898_244_900
    # fee at the fill price: ceil(240,001,755,100 x 0.003) = 720,005,265.3 -> 720,005,266
    assert fee["amount"] == -720_005_266 and fee["counterparty"] == ev.INSURANCE_FUND
    assert r.book.collateral[0] == 13_590 * U - 4_898_244_900 - 720_005_266 == 7_971_749_834
    # back above MM in tier 2 at 98,000, and left alone for the rest of the path:
    # equity = 7,971.749834 + 2,551 x 98 - 255,100 = 2,869.749834 >= 1,199.99
    equity = int(r.book.collateral[0]) + 2_551 * 980_000 * V - int(r.book.cost[0])
    mm_after = BINANCE_BTCUSDT_2021.maintenance_margin(2_551 * 980_000 * V)
    assert equity == 2_869_749_834 >= mm_after == 1_199_990_000
    assert r.extra["partial_liquidation"] == {"fired_steps": 1, "accounts": 1, "notional": 2_449 * 980_000 * V}
    # without it, the whole 5 BTC is closed at the same step
    r_off = run(scenario(), market(book, ticks))
    assert r_off.book.size[0] == 0
    assert [(x["step"], x["size"]) for x in rows(r_off, ev.LIQUIDATION_FILL)] == [(3, -5_000)]


def test_tier_lots_by_hand():
    t = BINANCE_BTCUSDT_2021
    floors, mmr, cum = t.floors, t.mmr_ppm, t.cum
    unit = 980_000 * V  # one lot at 98,000
    # the test above: 2,449 lots to close
    assert tier_lots(5_000, 3_590 * U, 980_000, V, floors, mmr, cum, 3_000) == 2_449
    # a short is reduced the same way
    assert tier_lots(-5_000, 3_590 * U, 980_000, V, floors, mmr, cum, 3_000) == 2_449
    # equity 500: tier 2 needs 500 - 720.006 >= 1,199.99 (no); tier 1 (cap 50,000: 510 lots, 49,980 USDT):
    # close 4,490 lots, fee 1,320.06 > 500 (no): no lower tier restores it -> 0, closed whole
    assert tier_lots(5_000, 500 * U, 980_000, V, floors, mmr, cum, 3_000) == 0
    # without a fee, equity 500 reaches tier 1: MM after = 49,980 x 0.4% = 199.92 <= 500 -> keep 510 lots
    assert tier_lots(5_000, 500 * U, 980_000, V, floors, mmr, cum, 0) == 5_000 - 510
    # a position already in the lowest tier is closed whole (BitMEX, Bybit)
    assert tier_lots(400, 10 * U, 980_000, V, floors, mmr, cum, 3_000) == 0
    assert (250_000 * U - 1) // unit == 2_551


# ============================================================================ 1. partial liquidation: slices


def slice_book() -> Book:
    # isolated long 2.5 BTC entered at 102,000 with 6,190 USDT: cost 2,500 x 1,020,000 x 100 = 255,000 USDT
    return book_of([(2_500, 1_020_000, 6_190 * U, True)])


def test_slice_sends_20_percent_then_the_rest_within_the_cooldown():
    # TV-34 (venues.md, Hyperliquid): a 250k position liquidatable -> first order 50k (20%); within the 30 s
    # cooldown the next order is the whole remainder.
    # At 100,000: notional 250,000 (tier 3: MM = 2,500 - 1,300 = 1,200); equity 6,190 - 5,000 = 1,190 < 1,200.
    # Slice: ceil(20% x 2,500) = 500 lots = 50,000 USDT. Fill 999,999: realized 500 x 999,999 x 100 - 51e9
    # = -1,000,050,000; fee ceil(49,999,950,000 x 0.3%) = 149,999,850. Left: 2,000 lots with 5,039,950,150
    # of margin: at 100,000 equity 5,039.95 + 200,000 - 204,000 = 1,039.95 >= MM 1,000 - 50 = 950 (healthy).
    # One second later, at 99,900: equity 839.95 < MM 199,800 x 0.5% - 50 = 949: inside the cooldown -> all.
    ticks = [1_020_000] * 3 + [P0] + [999_000] * 5
    r = run(scenario(partial_liquidation={"mode": "slice"}), market(slice_book(), ticks))
    fills = rows(r, ev.LIQUIDATION_FILL)
    assert [(x["step"], x["size"], x["price"]) for x in fills] == [(3, -500, 999_999), (4, -2_000, 998_999)]
    assert fills[0]["amount"] == -1_000_050_000
    assert rows(r, ev.LIQUIDATION_FEE)[0]["amount"] == -149_999_850
    assert r.book.size[0] == 0
    assert r.extra["partial_liquidation"]["notional"] == 500 * P0 * V == money(50_000)
    # the defaults are TV-34's: 20%, above 100,000 USDT, 30 s
    pl = MechanismsConfig().partial_liquidation
    assert (pl.slice_fraction, pl.slice_min_notional, pl.cooldown_s) == (Decimal("0.2"), 100_000, 30.0)


def test_slice_after_the_cooldown_is_a_slice_again():
    # as above, but the price holds at 100,000 (the 2,000 lots are healthy) until step 40, 37 s after the
    # first slice (>= 30 s): at 99,900 it slices again, ceil(20% x 2,000) = 400 lots (199,800 USDT > 100,000);
    # then equity 839.95 - fee 400 x 99.9 x 0.3% (119.88) = 720.07 (less a tick of slippage) < MM of 1,600
    # lots (159,840 x 0.5% - 50 = 749.2): a second later, inside the cooldown, the rest (1,600) goes at once.
    ticks = [1_020_000] * 3 + [P0] * 37 + [999_000] * 5
    r = run(scenario(partial_liquidation={"mode": "slice"}), market(slice_book(), ticks))
    fills = [(x["step"], x["size"]) for x in rows(r, ev.LIQUIDATION_FILL)]
    assert fills == [(3, -500), (40, -400), (41, -1_600)]


def test_slice_is_not_sent_for_a_bankrupt_account():
    # Cross short 2.5 BTC at 100,000 with 10,000 USDT; the index jumps 5% to 105,000: equity 10,000 - 12,500
    # = -2,500 < 0. A slice of 500 lots would leave 7,500 - fee in the wallet but -10,000 of unrealized loss
    # on the 2,000 lots left: not solvent after it, so the position must be closed whole at once (as with the
    # mechanism off, where the fund pays the 2,500.25 shortfall at the 105,000.1 fill).
    book = book_of([(-2_500, P0, 10_000 * U, False)])
    ticks = [P0] * 3 + [1_050_000] * 5
    r = run(scenario(fund="1000000", partial_liquidation={"mode": "slice"}), market(book, ticks))
    assert [(x["step"], x["size"]) for x in rows(r, ev.LIQUIDATION_FILL)] == [(3, 2_500)]
    assert not rows(r, ev.LIQUIDATION_FEE)
    assert summarize(r)["bad_debt"] == Decimal("2500.25")


def test_slice_lots_by_hand():
    frac, floor_ = 200_000, money(100_000)
    assert slice_lots(2_500, P0, V, frac, floor_, math.inf, 30.0) == 500
    assert slice_lots(-2_501, P0, V, frac, floor_, math.inf, 30.0) == 501  # ceil(500.2)
    assert slice_lots(2_500, P0, V, frac, floor_, 29.9, 30.0) == 0  # inside the cooldown: whole
    assert slice_lots(1_000, P0, V, frac, floor_, math.inf, 30.0) == 0  # 100,000 is not above the floor


# ============================================================================ 2. backstop vault


def test_backstop_takes_positions_below_two_thirds_of_mm_at_the_mark_and_keeps_the_margin():
    # Three isolated longs of 1 BTC entered at 100,000; the index drops to 98,600 (3 steps), then 99,000.
    # At 98,600: notional 98,600 (tier 2): MM = 493 - 50 = 443; 2/3 of it (0.666667) = 295.33.
    #   A, margin 1,500: equity 100 < 295.33 -> the vault takes it at the mark (98,600) and keeps the 100;
    #   B, margin 1,750: equity 350 in [295.33, 443) -> liquidated in the book as usual;
    #   C, margin 1,300: equity -100 < 0 -> the vault takes it at its bankruptcy price, rounded up for a long:
    #      ceil((1e11 - 1.3e9) / (1,000 x 100)) = 987,000 ticks (98,700), so C ends at exactly 0.
    book = book_of([(1_000, P0, 1_500 * U, True), (1_000, P0, 1_750 * U, True), (1_000, P0, 1_300 * U, True)])
    ticks = [P0] * 3 + [986_000] * 3 + [990_000] * 2
    sc = scenario(backstop={"equity_ratio": "0.666667", "vault_wallet": "50000000"})
    r = run(sc, market(book, ticks))
    vault_acc, vault_pos = 4, 4  # appended after the LP
    assert r.book.exempt[vault_acc]
    takeovers = rows(r, ev.BACKSTOP_TAKEOVER)
    # the most under water first: C (equity / MM < 0), then A
    assert [(x["account"], x["size"], x["price"]) for x in takeovers] == [(2, -1_000, 987_000), (0, -1_000, 986_000)]
    assert [x["amount"] for x in takeovers] == [-1_300 * U, -1_400 * U]  # C: 1,000 x -1,300 x 100; A: -1,400
    margin = [(x["account"], x["amount"]) for x in rows(r, ev.BACKSTOP_MARGIN)]
    assert margin == [(0, -100 * U), (vault_acc, 100 * U)]
    assert all(x["counterparty"] == vault_acc for x in takeovers)
    assert r.book.collateral[0] == r.book.wallet[0] == 0 and r.book.collateral[2] == r.book.wallet[2] == 0
    # B went to the book
    assert [(x["account"], x["size"]) for x in rows(r, ev.LIQUIDATION_FILL)] == [(1, -1_000)]
    assert not rows(r, ev.INSURANCE_PAYOUT, ev.BAD_DEBT)
    # the vault: long 2,000 lots costing 1,000 x (987,000 + 986,000) x 100 = 197,300 USDT, wallet + 100;
    # at the last mark 99,000 its PnL is 100 + 2,000 x 99,000 / 1,000 - 197,300 = 100 + 700 = 800 USDT
    assert r.book.size[vault_pos] == 2_000 and r.book.cost[vault_pos] == 197_300 * U
    assert r.book.wallet[vault_acc] == (50_000_000 + 100) * U
    assert r.extra["backstop"]["vault_pnl"] == 800 * U
    assert r.extra["backstop"]["accounts"] == 2 and r.extra["backstop"]["notional"] == 2 * 1_000 * 986_000 * V
    # without the backstop, all three go to the book and C leaves 100.1 USDT of bad debt (empty fund)
    r_off = run(scenario(), market(book, ticks))
    assert sorted(x["account"] for x in rows(r_off, ev.LIQUIDATION_FILL)) == [0, 1, 2]
    assert rows(r_off, ev.BAD_DEBT)[0]["amount"] == -100_100_000
    assert summarize(r)["bad_debt"] == 0 < summarize(r_off)["bad_debt"]


def test_summary_does_not_count_the_backstop_vault_as_a_trader():
    book = book_of([(1_000, P0, 1_500 * U, True)])
    r = engine.run(scenario(backstop={}), 0, market=market(book, [P0] * 3))
    s = summarize(r)
    assert (s["accounts"], s["positions"], s["lp_accounts"]) == (1, 1, 1)


# ============================================================================ 3. proactive deleveraging


def proactive_book() -> Book:
    # A: isolated short 1 BTC at 100,000 with 8,000 USDT (12.5x); B: cross long 1 BTC with 20,000 (5x)
    return book_of([(-1_000, P0, 8_000 * U, True), (1_000, P0, 20_000 * U, False)])


PROACTIVE_TICKS = [P0] * 5 + [1_045_000] * 5  # +4.5% at step 5


def test_proactive_deleveraging_cuts_the_levered_account_to_target_when_the_price_trigger_trips():
    # At 104,500 (+4.5% within the 300 s window > 4%): A's equity = 8,000 - 4,500 = 3,500, notional 104,500,
    # effective leverage 29.86x > trigger 25x, and healthy (MM = 522.5 - 50 = 472.5). Target 10x:
    # keep floor(10 x 3,500 / 104.5) = floor(334.93) = 334 lots; buy back 666 lots against the book.
    # B (equity 24,500, 4.3x) is left alone.
    r = run(scenario(proactive_deleveraging={}), market(proactive_book(), PROACTIVE_TICKS))
    pd = MechanismsConfig().proactive_deleveraging
    assert (pd.price_move_pct, pd.trigger_leverage, pd.target_leverage) == (4.0, 25.0, 10.0)
    assert math.floor(10 * 3_500 * U / (1_045_000 * V)) == 334
    cut = rows(r, ev.DELEVERAGE_FILL)
    assert [(x["step"], x["account"], x["size"], x["price"]) for x in cut] == [(5, 0, 666, 1_045_001)]
    assert r.book.size[0] == -334 and r.book.size[1] == 1_000
    # realized on the 666 lots bought at 104,500.1: 666 x (1,000,000 - 1,045,001) x 100 = -2,997,066,600
    assert cut[0]["amount"] == -2_997_066_600 and r.book.collateral[0] == 8_000 * U - 2_997_066_600
    assert not rows(r, ev.LIQUIDATION_FILL, ev.LIQUIDATION_FEE)  # not a liquidation: no fee
    assert r.extra["proactive_deleveraging"]["accounts"] == 1


def test_proactive_deleveraging_does_nothing_when_no_trigger_trips_or_when_off():
    # a 4.5% move under a 10% trigger (the fund and system-leverage triggers stay quiet: fund constant, system
    # leverage 209,000 / 24,500 = 8.5x < 1,000x), and the mechanism off: A keeps its 29.86x short
    for sc in (scenario(proactive_deleveraging={"price_move_pct": 10.0}), scenario()):
        r = run(sc, market(proactive_book(), PROACTIVE_TICKS))
        assert not rows(r, ev.DELEVERAGE_FILL) and r.book.size[0] == -1_000


def test_proactive_system_leverage_trigger():
    # same book and move, price trigger at 10% but system leverage above 5x: at step 0 it is
    # 200,000 / 28,000 = 7.1x (refreshed every 10 s), so the trigger is on; A is cut when it passes 25x
    r = run(
        scenario(proactive_deleveraging={"price_move_pct": 10.0, "system_leverage": 5.0}),
        market(proactive_book(), PROACTIVE_TICKS),
    )
    assert [(x["step"], x["size"]) for x in rows(r, ev.DELEVERAGE_FILL)] == [(5, 666)]


def test_proactive_cut_never_leaves_an_unrecorded_negative_balance():
    # Isolated short 0.01 BTC (10 lots) at 100,000 with 54 USDT; at 104,500 (+4.5%): equity 54 - 45 = 9,
    # notional 1,045 -> 116x (> 25x), MM = 4.18 (healthy). Target 10x keeps floor(10 x 9 / 104.5) = 0 lots:
    # the whole position is bought back. The book holds 1 lot per 1%: 10 lots fill at 104,500 x (1 + 10 / 200)
    # = 109,725, a realized loss of 97.25 on a margin of 54. A cut never fills below bankruptcy, so the order is
    # halved until the account stays solvent at its fill: 1 lot fills at 104,500 x (1 + 1/200) = 105,022.5,
    # where the account's equity is 54 - 10 x 5.0225 = 3.78 >= 0 (2 lots: 105,545 -> 54 - 55.45 < 0).
    book = book_of([(-10, P0, 54 * U, True)])
    thin = market(book, PROACTIVE_TICKS, lots_per_pct=1.0)
    r = engine.run(scenario(proactive_deleveraging={}), 0, market=thin, check_every_step=True)
    cuts = rows(r, ev.DELEVERAGE_FILL)
    assert cuts and cuts[0]["size"] == 1 and cuts[0]["price"] == 1_050_225
    assert -10 < r.book.size[0] <= 0
    negative = r.book.collateral[0] < 0 or r.book.wallet[0] < 0
    assert not negative or rows(r, ev.BAD_DEBT, account=0), (
        f"margin {r.book.collateral[0]} left below zero without a bad_debt event"
    )


# ============================================================================ 4. dynamic margin


def test_scaled_tiers_by_hand():
    # x1.5: every MMR and IMR times 1.5; maintenance amounts re-derived by the cum rule:
    # tier 2: 50k x (0.75% - 0.6%) = 75; tier 3: 250k x (1.5% - 0.75%) + 75 = 1,950;
    # tier 4: 1M x (3.75% - 1.5%) + 1,950 = 24,450; tier 5: 10M x (7.5% - 3.75%) + 24,450 = 399,450;
    # tier 6: 20M x (15% - 7.5%) + 399,450 = 1,899,450; tier 7: 50M x (18.75% - 15%) + ... = 3,774,450;
    # tier 8: 100M x (22.5% - 18.75%) + ... = 7,524,450; tier 9: 200M x (37.5% - 22.5%) + ... = 37,524,450;
    # tier 10: 300M x (75% - 37.5%) + ... = 150,024,450. IMR of tier 10: 150% capped at 100%.
    s = scaled_tiers(BINANCE_BTCUSDT_2021, 1.5)
    assert [t.mmr_ppm for t in s.tiers] == [
        6_000,
        7_500,
        15_000,
        37_500,
        75_000,
        150_000,
        187_500,
        225_000,
        375_000,
        750_000,
    ]
    assert [t.imr_ppm for t in s.tiers] == [
        12_000,
        15_000,
        30_000,
        75_000,
        150_000,
        300_000,
        375_000,
        499_500,
        750_000,
        1_000_000,
    ]
    assert [t.maintenance_amount // U for t in s.tiers] == [
        0,
        75,
        1_950,
        24_450,
        399_450,
        1_899_450,
        3_774_450,
        7_524_450,
        37_524_450,
        150_024_450,
    ]
    assert [t.cap for t in s.tiers] == [t.cap for t in BINANCE_BTCUSDT_2021.tiers]
    # a 500,000 USDT position: MM 500,000 x 1.5% - 1,950 = 5,550 (vs 5,000 - 1,300 = 3,700 at x1)
    assert s.maintenance_margin(money(500_000)) == money(5_550)
    assert BINANCE_BTCUSDT_2021.maintenance_margin(money(500_000)) == money(3_700)
    # x2: tier 10's MMR 50% x 2 = 100% (the cap); tier 2: MMR 1%, amount 50k x (1% - 0.8%) = 100
    s2 = scaled_tiers(BINANCE_BTCUSDT_2021, 2.0)
    assert s2.tiers[-1].mmr_ppm == s2.tiers[-1].imr_ppm == 1_000_000
    assert (s2.tiers[1].mmr_ppm, s2.tiers[1].maintenance_amount) == (10_000, 100 * U)
    # rates round up to a ppm: 0.0333% x 1.05 = 0.034965% -> 350 ppm (IMR 1/100x = 1% -> 1.05%)
    odd = RiskTiers.from_brackets("odd", [("50000", 100, "0.000333", None)])
    assert scaled_tiers(odd, 1.05).tiers[0].mmr_ppm == 350
    assert scaled_tiers(odd, 1.05).tiers[0].imr_ppm == 10_500


def test_quantise():
    assert quantise(0.5, 2.0) == 1.0  # never below 1
    assert quantise(1.37, 2.0) == pytest.approx(1.35)  # down to a multiple of 0.05
    assert quantise(1.9999, 2.0) == pytest.approx(1.95)
    assert quantise(3.16, 2.0) == 2.0  # capped
    assert quantise(3.16, 1.0) == 1.0


def test_rolling_vol_and_vol_ratio_by_hand():
    # returns of [100, 101, 100, 100]: 0, ln 1.01, -ln 1.01, 0; a 2-step window at step 2 holds the two moves
    index = np.array([100.0, 101.0, 100.0, 100.0])
    r1 = math.log(1.01)
    assert rolling_vol(index, 2) == pytest.approx([0.0, r1 / math.sqrt(2), r1, r1 / math.sqrt(2)])
    # at step 2 the 4-step window holds 3 returns (0, r1, -r1): sqrt(2 r1^2 / 3); the 2-step one r1
    assert vol_ratio(index, 2, 4)[2] == pytest.approx(r1 / math.sqrt(2 * r1 * r1 / 3))
    assert vol_ratio(index, 2, 4)[0] == 1.0  # no variance yet


def volatile_ticks() -> list[int]:
    # 100 calm steps, then +-0.05% every step: the 10 s / 100 s vol ratio jumps to sqrt(10) = 3.16 at step 100
    return [P0] * 100 + [P0 + 500, P0 - 500] * 50


def test_dynamic_margin_liquidates_a_position_that_fixed_margin_keeps():
    # Isolated long 1 BTC at 100,000 with 700 USDT. Fixed tiers: MM at 100,050 = 500.25 - 50 = 450.25, and the
    # equity stays in [650, 750] through the oscillation: never liquidated. With dynamic margin (10 s / 100 s
    # windows, cap 2): at step 100 the ratio sqrt(10) is capped to 2, tier 2 becomes MMR 1%, amount 100:
    # MM = 1,000.5 - 100 = 900.5 > equity 700 + 50 = 750: liquidated at once, although the price went up.
    book = book_of([(1_000, P0, 700 * U, True)])
    dm = {"short_window_s": 10.0, "long_window_s": 100.0, "cap": 2.0, "update_every_s": 1.0}
    r = run(scenario(dynamic_margin=dm), market(book, volatile_ticks()))
    assert [(x["step"], x["size"]) for x in rows(r, ev.LIQUIDATION_FILL)] == [(100, -1_000)]
    assert r.extra["dynamic_margin"]["max_multiplier"] == 2.0
    assert scaled_tiers(BINANCE_BTCUSDT_2021, 2.0).maintenance_margin(1_000 * 1_000_500 * V) == 900_500_000
    r_off = run(scenario(), market(book, volatile_ticks()))
    assert not rows(r_off, ev.LIQUIDATION_FILL) and r_off.book.size[0] == 1_000


def test_dynamic_margin_means_more_liquidations_on_a_volatile_path_for_a_generated_book():
    sc0, m = base_market()
    params = GeneratorParams(accounts=400, leverage_median=40.0, leverage_sigma=0.5, entry_sigma=0.0)
    book = generate_book(params, m.instrument, P0, 11, 1, sc0.liquidity.lp_wallet)
    rng = np.random.default_rng(5)
    calm = P0 * np.exp(np.cumsum(0.00002 * rng.standard_normal(120)))
    wild = calm[-1] * np.exp(np.cumsum(0.004 * rng.standard_normal(60)))
    ticks = np.rint(np.concatenate([calm, wild]))
    dm = {"short_window_s": 10.0, "long_window_s": 120.0, "cap": 2.0, "update_every_s": 1.0}
    counts = []
    for sc in (scenario(), scenario(dynamic_margin=dm)):
        r = engine.run(sc, 0, market=market(book, ticks, lots_per_pct=1e5), check_every_step=True)
        counts.append(summarize(r)["liquidations"])
    assert counts[1] > counts[0]


# ============================================================================ 5. circuit breaker

CB = {"window_s": 10.0, "move_pct": 3.0, "halt_s": 20.0}


def test_circuit_breaker_holds_liquidations_until_the_halt_ends():
    # Isolated long 1 BTC at 100,000 with 5,400 USDT; the index drops 5% at step 10 and stays at 95,000:
    # equity 400 < MM 475 - 50 = 425. Breaker: a move over 3% within 10 s halts for 20 s: steps 10..29.
    # Without it the position is liquidated at step 10; with it, at step 30 (no fill inside the halt).
    book = book_of([(1_000, P0, 5_400 * U, True)])
    ticks = [P0] * 10 + [950_000] * 40
    r = run(scenario(circuit_breaker=CB), market(book, ticks))
    cb = r.extra["circuit_breaker"]
    assert cb["halts"] == [(10, 30)] and cb["halted_steps"] == 20
    forced = rows(r, ev.LIQUIDATION_FILL, ev.ADL_FILL, ev.BACKSTOP_TAKEOVER, ev.DELEVERAGE_FILL)
    assert not [x for x in forced if 10 <= x["step"] < 30]
    assert [(x["step"], x["size"]) for x in rows(r, ev.LIQUIDATION_FILL)] == [(30, -1_000)]
    r_off = run(scenario(), market(book, ticks))
    assert [(x["step"], x["size"]) for x in rows(r_off, ev.LIQUIDATION_FILL)] == [(10, -1_000)]


def test_circuit_breaker_spares_an_account_that_recovers_during_the_halt():
    # the index is back at 100,000 from step 20, inside the halt: the account is never liquidated (and the
    # +5.3% rebound does not halt again at step 30: the mark 10 s earlier was already 100,000)
    book = book_of([(1_000, P0, 5_400 * U, True)])
    ticks = [P0] * 10 + [950_000] * 10 + [P0] * 20
    r = run(scenario(circuit_breaker=CB), market(book, ticks))
    assert not rows(r, ev.LIQUIDATION_FILL) and r.book.size[0] == 1_000
    assert r.extra["circuit_breaker"]["halts"] == [(10, 30)]


def test_circuit_breaker_rule():
    cb = CircuitBreaker(window_steps=2, move_ppm=30_000, halt_steps=3)
    marks = [100, 100, 103, 104, 96, 96, 96, 96, 96]
    halted = [cb.update(t, marks) for t in range(len(marks))]
    # step 2: |103/100 - 1| = 3% is not more than 3%; step 3: 104 vs 100 = 4% -> halt 3..5; step 6: 96 vs
    # marks[4] = 96, no move
    assert halted == [False, False, False, True, True, True, False, False, False]
    assert cb.halts == [(3, 6)]


# ============================================================================ 6. position limits


def test_generator_respects_the_account_notional_cap_and_tier_leverage():
    # entries at the start price (entry_sigma 0), so no position is re-entered: every entry notional is at
    # most the cap, and every entry leverage at most its tier's max leverage
    sc0, m = base_market()
    params = GeneratorParams(
        accounts=500, notional_median=Decimal(50_000), leverage_median=50.0, leverage_max=125.0, entry_sigma=0.0
    )
    uncapped = generate_book(params, m.instrument, m.start_price_ticks, 3, 1, sc0.liquidity.lp_wallet)
    book = generate_book(params, m.instrument, m.start_price_ticks, 3, 1, sc0.liquidity.lp_wallet, Decimal(100_000))
    trader = ~book.exempt[book.account]
    assert (np.abs(uncapped.cost[trader]) > money(100_000)).sum() > 50  # the cap binds
    entry_notional = np.abs(book.cost[trader])
    assert entry_notional.max() <= money(100_000)
    posted = np.where(book.isolated, book.collateral, book.wallet[book.account])[trader]
    max_lev = np.array([float(BINANCE_BTCUSDT_2021.max_leverage_for(int(n))) for n in entry_notional])
    assert np.all(entry_notional <= max_lev * posted + 1)


def test_generator_cap_holds_for_re_entered_positions():
    sc0, m = base_market()
    params = GeneratorParams(
        accounts=500, notional_median=Decimal(50_000), leverage_median=50.0, leverage_max=125.0
    )  # entry_sigma 0.02: some positions are re-entered
    book = generate_book(params, m.instrument, m.start_price_ticks, 0, 2, sc0.liquidity.lp_wallet, Decimal(100_000))
    trader = ~book.exempt[book.account]
    assert np.abs(book.cost[trader]).max() <= money(100_000)


BOOK_CSV = "account,size,entry_price,margin_mode,collateral\n"


@pytest.mark.parametrize(
    "row,field",
    [
        ("b,-3,100000,cross,10000\n", "size"),  # 300,000 USDT > the 250,000 cap
        ("b,2,100000,isolated,1000\n", "collateral"),  # 200,000 / 1,000 = 200x > tier 2's 100x
        ("b,0.4,100000,cross,310\n", "collateral"),  # 40,000 / 310 = 129x > tier 1's 125x
    ],
)
def test_book_file_rows_over_a_limit_are_errors_naming_row_and_field(tmp_path, row, field):
    _, m = base_market()
    path = tmp_path / "book.csv"
    path.write_text(BOOK_CSV + "a,1,100000,cross,5000\n" + row)
    with pytest.raises(InputError) as err:
        load_book(path, m.instrument, P0, 1, Decimal(10**9), Decimal(250_000))
    assert (err.value.row, err.value.field, err.value.file) == (3, field, str(path))
    # within the limits (or with limits off) the same rows load
    load_book(path, m.instrument, P0, 1, Decimal(10**9))
    ok = tmp_path / "ok.csv"
    # 240,000 USDT at 100x (tier 2's max) and 40,000 at 125x (tier 1's max): at the limits, allowed
    ok.write_text(BOOK_CSV + "a,1,100000,cross,5000\nb,-2.4,100000,cross,2400\nc,0.4,100000,cross,320\n")
    book, labels = load_book(ok, m.instrument, P0, 1, Decimal(10**9), Decimal(250_000))
    assert labels == ["a", "b", "c", "lp-0"] and list(book.size) == [1_000, -2_400, 400, 1_000]


def test_limits_on_in_a_scenario_apply_to_its_book_file(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text(BOOK_CSV + "a,1,100000,cross,5000\nb,-3,100000,cross,10000\n")
    sc0, _ = base_market()
    sc = sc0.model_copy(update={"book": sc0.book.model_copy(update={"file": str(path), "generator": None})})
    engine.prepare(sc, 0)  # limits off: loads
    limits = {"limits": {"enabled": True, "max_account_notional": "250000"}}
    on = sc.model_copy(update={"mechanisms": MechanismsConfig.model_validate(limits)})
    with pytest.raises(InputError) as err:
        engine.prepare(on, 0)
    assert (err.value.row, err.value.field) == (3, "size")


# ============================================================================ 7. socialized loss


def socialized_book(protected: bool) -> Book:
    # Position 0: isolated long 1 BTC at 100,000 with 2,000 USDT (protected or not); winners: cross shorts of
    # 1,000, 333 and 2 lots at 100,000 with 5,000 USDT each; the LP holds the opposite (long 335).
    winners = [(-1_000, P0, 5_000 * U, False), (-333, P0, 5_000 * U, False), (-2, P0, 5_000 * U, False)]
    return book_of([(1_000, P0, 2_000 * U, True), *winners], protected=[protected, True, True, True])


SOCIAL_TICKS = [P0] * 3 + [970_000] * 3  # -3% at step 3


def test_socialized_loss_makes_a_protected_bankrupt_account_whole_pro_rata():
    # At 97,000 the long is at -1,000 (bankrupt). Book of 1e6 lots per 1%: 1,000 lots fill at
    # floor(970,000 x (1 - 1,000 / 2e8)) = floor(969,995.15) = 969,995: realized (969,995 - 1,000,000) x 1,000
    # x 100 = -3,000,500,000; margin 2,000 - 3,000.5 = -1,000.5. The fund is empty and ADL is off: bad debt
    # 1,000.5 USDT = 1,000,500,000 units, clawed back from the winners' unrealized profit at 97,000:
    #   3,000 USDT (1,000 lots), 999 (333 lots), 6 (2 lots): 3e9, 999e6, 6e6 units, total 4,005,000,000.
    #   need x share / total: 3,001,500,000,000 / 4,005 = 749,438,202.247; 999,499,500,000 / 4,005 =
    #   249,562,921.348; 6,003,000,000 / 4,005 = 1,498,876.404. Floors sum to 1,000,499,999: the one unit left
    #   goes to the largest remainder (.404, the smallest winner): 749,438,202 / 249,562,921 / 1,498,877.
    r = run(scenario(socialized_loss={}), market(socialized_book(True), SOCIAL_TICKS, lots_per_pct=1e6))
    fill = rows(r, ev.LIQUIDATION_FILL)[0]
    assert (fill["price"], fill["amount"]) == (969_995, -3_000_500_000)
    assert [x["amount"] for x in rows(r, ev.BAD_DEBT)] == [-1_000_500_000]
    claw = rows(r, ev.CLAWBACK)
    shares = [(1, -749_438_202), (2, -249_562_921), (3, -1_498_877)]
    assert [(x["account"], x["amount"]) for x in claw] == shares
    assert all(x["counterparty"] == ev.SOCIALIZED_LOSS_POOL for x in claw)
    assert [(x["account"], x["amount"]) for x in rows(r, ev.CLAWBACK_RECEIVED)] == [(0, 1_000_500_000)]
    assert not rows(r, ev.ADL_FILL, ev.ADL_COUNTERPARTY_FILL, ev.INSURANCE_PAYOUT)
    # made whole: the closed position's margin is back to 0; the winners paid from their wallets
    assert r.book.collateral[0] == 0 and r.book.wallet[0] == 0
    assert list(r.book.wallet[1:4]) == [5_000 * U + x for _, x in shares]
    s = summarize(r)
    assert s["socialized_loss"] == Decimal("1000.5") and s["bad_debt_unrecovered"] == 0
    # with ADL (the default), the same bankruptcy is closed against the top-ranked short at the bankruptcy
    # price 98,000 instead: no clawback, no bad debt
    r_adl = run(scenario(), market(socialized_book(True), SOCIAL_TICKS, lots_per_pct=1e6))
    assert [(x["account"], x["price"]) for x in rows(r_adl, ev.ADL_COUNTERPARTY_FILL)] == [(1, 980_000)]
    assert not rows(r_adl, ev.BAD_DEBT, ev.CLAWBACK)


def test_unprotected_bankrupt_account_keeps_its_negative_balance():
    r = run(
        scenario(socialized_loss={"protected_fraction": 0.0}),
        market(socialized_book(False), SOCIAL_TICKS, lots_per_pct=1e6),
    )
    assert [x["amount"] for x in rows(r, ev.BAD_DEBT)] == [-1_000_500_000]
    assert not rows(r, ev.CLAWBACK, ev.CLAWBACK_RECEIVED, ev.ADL_FILL)
    assert r.book.collateral[0] == -1_000_500_000 and r.book.size[0] == 0
    assert list(r.book.wallet[1:4]) == [5_000 * U] * 3
    assert summarize(r)["bad_debt_unrecovered"] == Decimal("1000.5")


def test_pro_rata_by_hand():
    cap = np.array([3_000_000_000, 999_000_000, 6_000_000], dtype=np.int64)
    assert list(pro_rata(1_000_500_000, cap)) == [749_438_202, 249_562_921, 1_498_877]
    # ties go to the lower index: 1 split over three equal capacities
    assert list(pro_rata(1, np.array([5, 5, 5], dtype=np.int64))) == [1, 0, 0]
    assert list(pro_rata(2, np.array([5, 5, 5], dtype=np.int64))) == [1, 1, 0]
    # more than everyone has: everyone gives everything, no more
    assert list(pro_rata(100, np.array([10, 0, 20], dtype=np.int64))) == [10, 0, 20]
    assert list(pro_rata(0, cap)) == [0, 0, 0] and list(pro_rata(-5, cap)) == [0, 0, 0]
    assert list(pro_rata(7, np.zeros(3, dtype=np.int64))) == [0, 0, 0]
    # need x capacity beyond int64 (4e18 x 4e18) stays exact
    big = np.array([4 * 10**18, 10**18], dtype=np.int64)
    assert list(pro_rata(4 * 10**18, big)) == [32 * 10**17, 8 * 10**17]


def test_pro_rata_capacities_summing_past_int64():
    big = np.array([9 * 10**18, 10**18], dtype=np.int64)  # each fits in int64, the sum (1e19) does not
    assert list(pro_rata(10**18, big)) == [9 * 10**17, 10**17]


@settings(max_examples=200, deadline=None)
@given(st.integers(-10, 10**15), st.lists(st.integers(0, 10**15), min_size=1, max_size=30))
def test_pro_rata_properties(need, capacity):
    cap = np.array(capacity, dtype=np.int64)
    out = pro_rata(need, cap)
    total = int(cap.sum())
    assert out.dtype == np.int64 and np.all(out >= 0) and np.all(out <= cap)
    assert int(out.sum()) == (min(need, total) if need > 0 and total > 0 else 0)
    if 0 < need < total:  # each share is its exact quota rounded down or up
        for o, c in zip(out.tolist(), capacity):
            assert need * c // total <= o <= -(-need * c // total)


# ============================================================================ 8. market-maker withdrawal


def test_depth_scale_by_hand():
    ratio = np.array([0.5, 1.0, 2.0, 4.0, 100.0])
    # ratio ** -0.5 = 1.414 (clipped to 1), 1, 0.7071, 0.5, 0.1 (= the floor)
    assert depth_scale(ratio, 0.5, 0.1) == pytest.approx([1.0, 1.0, 2**-0.5, 0.5, 0.1])
    assert depth_scale(ratio, 0.5, 0.6) == pytest.approx([1.0, 1.0, 2**-0.5, 0.6, 0.6])
    assert depth_scale(ratio, 0.0, 0.1) == pytest.approx([1.0] * 5)  # elasticity 0: no withdrawal


def test_thinner_book_means_a_worse_liquidation_fill():
    # Isolated long 1 BTC at 100,000 with 1,000 USDT; 100 calm steps, 10 oscillating (+-0.05%), then 99,100 at
    # step 110: equity 100 < MM 495.5 - 50 = 445.5. Book of 1e5 lots per 1%: without withdrawal, 1,000 lots
    # fill at floor(991,000 x (1 - 1,000 / 2e7)) = floor(990,950.45) = 990,950. With elasticity 1 the book is
    # scaled by d = (sigma_10s / sigma_100s) ** -1 at step 110, and the fill is floor(991,000 x (1 - 1,000 /
    # (2e7 x d))).
    book = book_of([(1_000, P0, 1_000 * U, True)])
    ticks = [P0] * 100 + [P0 + 500, P0 - 500] * 5 + [991_000] * 5
    mw = {"elasticity": 1.0, "short_window_s": 10.0, "long_window_s": 100.0, "min_scale": 0.1}
    r_off = run(scenario(), market(book, ticks, lots_per_pct=1e5))
    r_on = run(scenario(mm_withdrawal=mw), market(book, ticks, lots_per_pct=1e5))
    (off,), (on,) = rows(r_off, ev.LIQUIDATION_FILL), rows(r_on, ev.LIQUIDATION_FILL)
    assert off["step"] == on["step"] == 110 and off["size"] == on["size"] == -1_000
    assert off["price"] == 990_950
    d = float(depth_scale(vol_ratio(np.asarray(ticks, float), 10, 100), 1.0, 0.1)[110])
    assert 0.3 < d < 0.35  # the 10 s vol is about sqrt(10) times the 100 s vol
    assert abs(on["price"] - math.floor(991_000 * (1 - 1_000 / (2e7 * d)))) <= 1
    assert on["price"] < off["price"]
    assert r_on.extra["mm_withdrawal"]["min_depth_scale"] == pytest.approx(
        float(depth_scale(vol_ratio(np.asarray(ticks, float), 10, 100), 1.0, 0.1).min())
    )


def _utc_ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()) * NS


def test_calibrated_elasticity_on_the_10_october_data():
    # The engine's calibration: ask +1% depth snapshots of 21:00-21:40 against the median of 20:00-21:00,
    # vs the index's 300 s / 3,600 s vol ratio. The real depth fell from about 249M at 21:00 to 67M at 21:20.
    sc, m = base_market()
    e = calibrate_elasticity(
        m.depth_raw,
        m.path,
        1.0,
        300.0,
        3_600.0,
        _utc_ns("2025-10-10T21:00:00"),
        _utc_ns("2025-10-10T21:40:00"),
        _utc_ns("2025-10-10T20:00:00"),
    )
    assert e > 0
    scale = depth_scale(vol_ratio(m.path.index, 300, 3_600), e, 0.1)
    # the path starts at 21:01 (the first 1-minute bar of the window), before the crash: full depth
    first, at_2120 = np.searchsorted(m.path.time_ns, [_utc_ns("2025-10-10T21:01:00"), _utc_ns("2025-10-10T21:20:00")])
    assert first == 0 and scale[first] == 1.0
    assert scale[at_2120] < scale[first]
    # and the same order of magnitude as the real fall
    t_ns, ask1 = ask_depth_series(m.depth_raw, 1)
    # (the first snapshots at or after 21:00 and 21:20: 21:00:07 and 21:20:06)
    real = (
        ask1[np.searchsorted(t_ns, _utc_ns("2025-10-10T21:20:00"))]
        / ask1[np.searchsorted(t_ns, _utc_ns("2025-10-10T21:00:00"))]
    )
    assert 0.2 < real < 0.35 and real / 2 < scale[at_2120] < real * 2
    # the engine uses it when the scenario says "calibrated"
    on = MechanismsConfig.model_validate({"mm_withdrawal": {"enabled": True}})
    sc_on = sc.model_copy(update={"mechanisms": on})
    short = dataclasses.replace(m, path=PricePath(m.path.time_ns[:1_300], m.path.index[:1_300], "cut"))
    r = engine.run(sc_on, 0, market=short)
    assert r.extra["mm_withdrawal"]["elasticity"] == pytest.approx(
        calibrate_elasticity(
            m.depth_raw,
            short.path,
            1.0,
            300.0,
            3_600.0,
            _utc_ns("2025-10-10T21:00:00"),
            _utc_ns("2025-10-10T21:40:00"),
            _utc_ns("2025-10-10T20:00:00"),
        )
    )


# ============================================================================ 10. funding


def test_funding_rate_by_hand():
    # F = P + clamp(I - P, -0.05%, +0.05%), capped at +-3%; I = 0.01% per interval
    # TV-29 (Bybit): "if |I - P| <= 0.05% then F = I"
    assert funding_rate_ppb(0.0002, 0.0001, 0.0005, 0.03) == 100_000
    assert funding_rate_ppb(-0.0003, 0.0001, 0.0005, 0.03) == 100_000
    assert funding_rate_ppb(0.0, 0.0001, 0.0005, 0.03) == 100_000
    # outside the band: P + 0.05% or P - 0.05%
    assert funding_rate_ppb(0.001, 0.0001, 0.0005, 0.03) == 500_000  # 0.1% - 0.05%
    assert funding_rate_ppb(-0.002, 0.0001, 0.0005, 0.03) == -1_500_000  # -0.2% + 0.05%
    # capped at +-3%
    assert funding_rate_ppb(0.05, 0.0001, 0.0005, 0.03) == 30_000_000
    assert funding_rate_ppb(-0.05, 0.0001, 0.0005, 0.03) == -30_000_000
    # clamp 0: F = P; rounded to the nearest ppb
    assert funding_rate_ppb(0.0000000014, 0.0001, 0.0, 0.03) == 1
    assert funding_rate_ppb(0.0000000004, 0.0001, 0.0, 0.03) == 0


P_F = 1_000_001  # 100,000.1 USDT: notional not a multiple of 1e4 units, so the payments need rounding


def funding_book() -> Book:
    # A: cross long 1.234 BTC (wallet 10,000); B: isolated short 1 BTC (margin 10,000); the LP: short 0.234
    return Book.from_arrays(
        wallet=[10_000 * U, 0, LP_WALLET],
        exempt=[False, False, True],
        account=[0, 1, 2],
        size=[1_234, -1_000, -234],
        cost=[1_234 * P_F * V, -1_000 * P_F * V, -234 * P_F * V],
        collateral=[0, 10_000 * U, 0],
        isolated=[False, True, False],
    )


def test_funding_longs_pay_shorts_with_rounding_against_the_accounts():
    # Every 60 s (UTC multiples; the path runs 0..149 s: funding at steps 60 and 120). The mark is the index
    # (no EMA, no trading), so the premium is 0 and F = I = 0.01% = 100,000 ppb (|I - P| <= 0.05%).
    # Notionals at 100,000.1: A 1,234 x 1,000,001 x 100 = 123,400,123,400 units; B 100,000,100,000; LP
    # 23,400,023,400. x 0.01%: A pays ceil(12,340,012.34) = 12,340,013; B receives 10,000,010 exactly; the LP
    # receives floor(2,340,002.34) = 2,340,002. Paid - received = 1 unit: to the insurance fund.
    sc = scenario(funding={"interval_s": 60.0})
    r = run(sc, market(funding_book(), [P_F] * 150))
    assert r.extra["funding"]["rates_ppb"] == [100_000, 100_000]
    fund_rows = rows(r, ev.FUNDING, ev.FUNDING_ROUNDING)
    assert sorted({x["step"] for x in fund_rows}) == [60, 120]  # nothing between funding times
    at_60 = [(x["kind"], x["account"], x["amount"]) for x in fund_rows if x["step"] == 60]
    assert at_60 == [
        ("funding", 0, -12_340_013),
        ("funding", 1, 10_000_010),
        ("funding", 2, 2_340_002),
        ("funding_rounding", ev.INSURANCE_FUND, 1),
    ]
    assert all(x["counterparty"] == ev.FUNDING_POOL for x in fund_rows)
    # the fund moved by exactly 1 unit at each funding time and at no other step
    assert list(np.flatnonzero(np.diff(r.steps.fund))) == [59, 119] and r.steps.fund[-1] == 2
    assert r.book.wallet[0] == 10_000 * U - 2 * 12_340_013
    assert r.book.collateral[1] == 10_000 * U + 2 * 10_000_010  # isolated: paid into the margin
    assert r.book.wallet[2] == LP_WALLET + 2 * 2_340_002


def test_negative_funding_shorts_pay_longs():
    # interest -0.02% with premium 0: F = -0.02% = -200,000 ppb: B pays 20,000,020 (exact), the LP pays
    # ceil(4,680,004.68) = 4,680,005; A receives floor(24,680,024.68) = 24,680,024; 1 unit to the fund
    sc = scenario(funding={"interval_s": 60.0, "interest_rate": "-0.0002"})
    r = run(sc, market(funding_book(), [P_F] * 100))
    at_60 = [(x["kind"], x["account"], x["amount"]) for x in rows(r, ev.FUNDING, ev.FUNDING_ROUNDING)]
    assert at_60 == [
        ("funding", 0, 24_680_024),
        ("funding", 1, -20_000_020),
        ("funding", 2, -4_680_005),
        ("funding_rounding", ev.INSURANCE_FUND, 1),
    ]


def test_no_funding_within_an_interval():
    # an 8-hour interval never ends inside a 150 s path starting at a multiple of it
    r = run(scenario(funding={}), market(funding_book(), [P_F] * 150))
    assert not rows(r, ev.FUNDING, ev.FUNDING_ROUNDING) and r.extra["funding"]["rates_ppb"] == []
    assert np.array_equal(r.book.wallet, funding_book().wallet)


# ============================================================================ scenario validation


@pytest.mark.parametrize(
    "name,key,value",
    [
        ("partial_liquidation", "slice_fraction", 1),
        ("partial_liquidation", "mode", "half"),
        ("backstop", "equity_ratio", 0),
        ("proactive_deleveraging", "target_leverage", 1),
        ("dynamic_margin", "cap", 0.5),
        ("circuit_breaker", "halt_s", 0),
        ("socialized_loss", "protected_fraction", 1.5),
        ("mm_withdrawal", "min_scale", 0),
        ("funding", "interval_s", 0),
        ("limits", "max_account_notional", -1),
    ],
)
def test_a_mechanism_parameter_outside_its_range_is_an_input_error(name, key, value):
    with pytest.raises(InputError) as err:
        load_scenario(default_scenario_path(), overrides={"mechanisms": {name: {"enabled": True, key: value}}})
    assert err.value.field == f"mechanisms.{name}.{key}"


# ============================================================================ ablation


def small_scenario(**mechanisms):
    """The default scenario, 300 accounts, 21:12-21:17 UTC (the fall), with these mechanisms on."""
    over = {
        "book": {"generator": {"accounts": 300}},
        "prices": {"start": "2025-10-10T21:12:00Z", "end": "2025-10-10T21:17:00Z"},
        "mechanisms": {name: {"enabled": True, **p} for name, p in mechanisms.items()},
    }
    return load_scenario(default_scenario_path(), overrides=over)


def test_ablation_has_a_row_per_variant_and_without_x_is_the_run_with_x_off():
    mech = {
        "partial_liquidation": {},
        "circuit_breaker": {"window_s": 30.0, "move_pct": 1.0, "halt_s": 20.0},
        "funding": {"interval_s": 60.0},
    }
    sc = small_scenario(**mech)
    rows_ = ablate(sc, 1)
    assert [r["variant"] for r in rows_] == [
        "all enabled",
        "without partial_liquidation",
        "without circuit_breaker",
        "without funding",
        "none",
    ]
    for row in rows_:
        assert set(row) == {"variant", *METRICS} and row["conservation_error"] == 0
    by = {r["variant"]: r for r in rows_}
    for name in mech:
        off = small_scenario(**{k: v for k, v in mech.items() if k != name})
        s = summarize(engine.run(off, 1))
        assert by[f"without {name}"] == {"variant": f"without {name}", **{k: s[k] for k in METRICS}}
    s_none = summarize(engine.run(small_scenario(), 1))
    assert by["none"] == {"variant": "none", **{k: s_none[k] for k in METRICS}}
    assert without(sc, list(mech)).mechanisms.enabled() == []
    # the mechanisms change the outcome of this window
    assert len({(r["liquidations"], r["liquidated_notional"], r["insurance_fund_end"]) for r in rows_}) > 1
