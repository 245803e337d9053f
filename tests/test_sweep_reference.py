"""The compiled margin sweep (:func:`delever.sweep.margin_sweep`) against the exact pure-Python reference
(:func:`delever.margin.position_metrics`, :meth:`delever.tiers.RiskTiers.maintenance_margin`).

Books are random (hypothesis draws a numpy seed and a few knobs; numpy draws the columns): notionals from
1 USDT to 5e9 USDT, i.e. across every bracket of ``BINANCE_BTCUSDT_2021`` and past its last cap, long and
short, cross and isolated, liquidity-provider (exempt) accounts, flat rows, two instruments with different
tier tables, and many positions placed within a few money units of the liquidation boundary, where the
sweep's float screen must hand over to exact integers. Every sweep output the docstring promises is checked:

- the listed set equals ``{i : reference liquidatable and account not exempt}`` (no duplicates);
- ``pos_equity`` for every row (isolated: margin + uPnL; cross: the position's uPnL) and ``acc_equity`` for
  every account (wallet + cross uPnL);
- ``pos_mm`` for listed positions and ``acc_mm`` for accounts with a listed cross position equal the
  reference maintenance margin.

The sweep's argument list changes with the engine's performance work; :func:`call_margin_sweep` reads its
current signature and fills in the arguments it knows by name.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import sweep
from delever.columns import AccountValuation, BookCols, SweepCols
from delever.instruments import Instrument
from delever.margin import position_metrics
from delever.tiers import BINANCE_BTCUSDT_2021, RiskTiers
from delever.units import MONEY_SCALE

U = MONEY_SCALE  # money units per USDT
BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)  # V = 100
# A second, smaller tier table (3 brackets, padded to 10 columns in the sweep's 2-D tables), V = 10
ETH = Instrument(
    "ETHUSDT",
    Decimal("0.01"),
    Decimal("0.001"),
    RiskTiers.from_brackets(
        "test-eth-3", [("10000", 50, "0.01", None), ("100000", 20, "0.025", None), ("1000000", 10, "0.05", None)]
    ),
)
INSTRUMENTS = (BTC, ETH)


# --------------------------------------------------------------------------------------------- the adapter


@dataclass
class SweepResult:
    listed: np.ndarray  # position indices, in the order the sweep wrote them
    pos_equity: np.ndarray
    pos_mm: np.ndarray
    acc_equity: np.ndarray
    acc_mm: np.ndarray


def call_margin_sweep(book: dict, marks: np.ndarray, insts=INSTRUMENTS) -> SweepResult:
    """Run the compiled sweep on ``book`` (dict of columns as :class:`delever.book.Book`) at ``marks`` (int64
    ticks per instrument), passing arguments by the names of its current signature."""
    n, na, m = len(book["size"]), len(book["wallet"]), len(insts)
    k = max(len(i.tiers.tiers) for i in insts)
    floors = np.zeros((m, k), dtype=np.int64)
    mmr = np.zeros((m, k), dtype=np.int64)
    cum = np.zeros((m, k), dtype=np.int64)
    for j, inst in enumerate(insts):
        t = inst.tiers
        floors[j, : len(t.tiers)], mmr[j, : len(t.tiers)], cum[j, : len(t.tiers)] = t.floors, t.mmr_ppm, t.cum
        # padding past a table's last bracket must never be read: make it absurd
        floors[j, len(t.tiers) :], mmr[j, len(t.tiers) :], cum[j, len(t.tiers) :] = 1, PPM_MAX, -(2**60)
    outputs = {
        "pos_equity": np.full(n, -7, dtype=np.int64),
        "pos_mm": np.full(n, -7, dtype=np.int64),
        "acc_equity": np.full(na, -7, dtype=np.int64),
        "acc_mm": np.full(na, -7, dtype=np.int64),
        "out": np.full(n, -1, dtype=np.int64),
    }
    acc = np.asarray(book["account"], dtype=np.int64)
    acc_start = np.zeros(na + 1, dtype=np.int64)
    np.cumsum(np.bincount(acc, minlength=na), out=acc_start[1:])
    columns = ("size", "cost", "collateral", "isolated", "account", "instrument", "wallet", "exempt")
    known = {
        "book": BookCols(*(book[c] for c in columns), acc_start, np.argsort(acc, kind="stable").astype(np.int64)),
        "val": AccountValuation(
            np.asarray(marks, dtype=np.int64),
            np.array([i.value_per_lot_tick for i in insts], dtype=np.int64),
            floors,
            mmr,
            cum,
            np.array([len(i.tiers.tiers) for i in insts], dtype=np.int64),
        ),
        "sw": SweepCols(outputs["pos_equity"], outputs["pos_mm"], outputs["acc_equity"], outputs["acc_mm"]),
        "out": outputs["out"],
    }
    fn = getattr(sweep.margin_sweep, "py_func", sweep.margin_sweep)
    args = []
    for name in inspect.signature(fn).parameters:
        if name not in known:
            pytest.fail(f"margin_sweep has an argument {name!r} this test does not know: update call_margin_sweep")
        args.append(known[name])
    ret = sweep.margin_sweep(*args)
    count = int(ret[0] if isinstance(ret, tuple) else ret)
    return SweepResult(
        outputs["out"][:count].copy(),
        outputs["pos_equity"],
        outputs["pos_mm"],
        outputs["acc_equity"],
        outputs["acc_mm"],
    )


PPM_MAX = 1_000_000


# ----------------------------------------------------------------------------------------------- reference


def reference_check(book: dict, marks: np.ndarray, res: SweepResult, insts=INSTRUMENTS) -> set[int]:
    """Assert every promised output of the sweep against exact Python-int arithmetic; returns the expected
    listed set. Cross accounts may hold several positions (equity = wallet + sum uPnL, MM = sum MM)."""
    size, cost, coll, iso = book["size"], book["cost"], book["collateral"], book["isolated"]
    acc, inst_of, wallet, exempt = book["account"], book["instrument"], book["wallet"], book["exempt"]
    na = len(wallet)
    acc_eq = [int(w) for w in wallet]
    acc_mm = [0] * na
    upnl, mm = {}, {}
    for i in range(len(size)):
        if size[i] == 0:
            continue
        inst = insts[inst_of[i]]
        s, c, px, v = int(size[i]), int(cost[i]), int(marks[inst_of[i]]), inst.value_per_lot_tick
        upnl[i] = s * px * v - c
        mm[i] = inst.tiers.maintenance_margin(abs(s) * px * v)
        if not iso[i]:
            acc_eq[acc[i]] += upnl[i]
            acc_mm[acc[i]] += mm[i]
    expected = set()
    for i in range(len(size)):
        if size[i] == 0:
            continue
        a = int(acc[i])
        if iso[i]:
            eq = int(coll[i]) + upnl[i]
            assert res.pos_equity[i] == eq, f"isolated position {i}: equity"
            if eq < mm[i] and not exempt[a]:
                expected.add(i)
        else:
            assert res.pos_equity[i] == upnl[i], f"cross position {i}: uPnL"
            if acc_eq[a] < acc_mm[a] and not exempt[a]:
                expected.add(i)
    assert [int(x) for x in res.acc_equity] == acc_eq, "account equity = wallet + cross uPnL"
    listed = [int(i) for i in res.listed]
    assert len(listed) == len(set(listed)), "a position listed twice"
    assert set(listed) == expected, (
        f"listed but not liquidatable: {sorted(set(listed) - expected)}; "
        f"liquidatable but not listed: {sorted(expected - set(listed))}"
    )
    for i in expected:
        assert res.pos_mm[i] == mm[i], f"listed position {i}: maintenance margin"
        if not iso[i]:
            assert res.acc_mm[acc[i]] == acc_mm[acc[i]], f"account {acc[i]} of listed position {i}: MM"
    return expected


# ---------------------------------------------------------------------------------------------- random books


def random_book(
    seed: int,
    n: int,
    *,
    multi_instrument: bool,
    near_fraction: float,
    isolated_fraction: float,
    exempt_fraction: float,
    positions_per_cross_account: int = 1,
) -> tuple[dict, np.ndarray]:
    """``n`` positions, one per account (or up to ``positions_per_cross_account`` on a cross account), and
    the marks. ``near_fraction`` of the positions get collateral ``MM - uPnL + d`` with ``d`` in
    ``[-3, 3]`` money units or ``+-(1e-9 * MM)``, i.e. right at the liquidation boundary."""
    rng = np.random.default_rng(seed)
    insts = INSTRUMENTS if multi_instrument else INSTRUMENTS[:1]
    # marks: BTC 1,000..200,000 USDT (10,000..2,000,000 ticks of 0.1); ETH 100..10,000 USDT (ticks of 0.01)
    marks = np.array([rng.integers(10_000, 2_000_001), rng.integers(10_000, 1_000_001)], dtype=np.int64)
    inst_of = rng.integers(0, len(insts), n) if multi_instrument else np.zeros(n, dtype=np.int64)
    isolated = rng.random(n) < isolated_fraction
    size = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    bal = np.zeros(n, dtype=np.int64)
    for i in range(n):
        inst = INSTRUMENTS[inst_of[i]]
        v, px = inst.value_per_lot_tick, int(marks[inst_of[i]])
        if rng.random() < 0.05:
            bal[i] = int(rng.integers(0, 10**9))
            continue  # a flat row
        notional_usdt = 10 ** rng.uniform(0, np.log10(5e9))  # 1 USDT .. 5e9 USDT (last BTC cap: 5e8)
        lots = max(1, round(notional_usdt * U / (px * v)))
        s = lots if rng.random() < 0.5 else -lots
        entry = max(1, round(px * np.exp(rng.normal(0, 0.1))))
        c = s * entry * v + int(rng.integers(0, lots * v))  # several fills: cost need not be a whole tick
        upnl = s * px * v - c
        mm = inst.tiers.maintenance_margin(lots * px * v)
        if rng.random() < near_fraction:
            d = int(rng.integers(-3, 4)) if rng.random() < 0.7 else int(rng.choice([-1, 1]) * (mm // 10**9 + 1))
            b = mm - upnl + d
        else:
            lev = 10 ** rng.uniform(0, np.log10(150))
            b = round(lots * entry * v / lev) + int(rng.integers(-lots * v, lots * v + 1))
        size[i], cost[i], bal[i] = s, c, b
    # accounts: isolated positions each in their own account, cross positions grouped up to k per account
    account = np.zeros(n, dtype=np.int64)
    nxt = 0
    cross_idx = np.flatnonzero(~isolated)
    for i in np.flatnonzero(isolated):
        account[i] = nxt
        nxt += 1
    wallet_parts: dict[int, int] = {}
    j = 0
    while j < cross_idx.size:
        k = int(rng.integers(1, positions_per_cross_account + 1))
        group = cross_idx[j : j + k]
        account[group] = nxt
        if len(group) > 1:
            # the account is near its boundary when its positions were: the wallet covers the summed
            # requirement less the summed uPnL, as each position's own collateral did
            wallet_parts[nxt] = int(bal[group].sum())
        else:
            wallet_parts[nxt] = int(bal[group[0]])
        nxt += 1
        j += k
    na = nxt
    wallet = np.zeros(na, dtype=np.int64)
    for a, w in wallet_parts.items():
        wallet[a] = w
    iso_accounts = account[isolated]
    wallet[iso_accounts] = rng.integers(0, 10**9, iso_accounts.size)  # an isolated account's own wallet
    collateral = np.where(isolated, bal, 0).astype(np.int64)
    exempt = rng.random(na) < exempt_fraction
    book = {
        "size": size,
        "cost": cost,
        "collateral": collateral,
        "isolated": isolated,
        "account": account,
        "instrument": inst_of.astype(np.int64),
        "wallet": wallet,
        "exempt": exempt,
    }
    return book, marks


book_knobs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(1, 300),
        "multi_instrument": st.booleans(),
        "near_fraction": st.sampled_from([0.0, 0.3, 0.9]),
        "isolated_fraction": st.sampled_from([0.0, 0.3, 1.0]),
        "exempt_fraction": st.sampled_from([0.0, 0.1]),
    }
)


@settings(max_examples=60, deadline=None)
@given(book_knobs)
def test_sweep_matches_reference_on_random_one_position_books(knobs):
    book, marks = random_book(**knobs)
    insts = INSTRUMENTS
    res = call_margin_sweep(book, marks, insts)
    reference_check(book, marks, res, insts)


@settings(max_examples=40, deadline=None)
@given(book_knobs)
def test_sweep_matches_reference_with_multi_position_cross_accounts(knobs):
    book, marks = random_book(**knobs, positions_per_cross_account=3)
    res = call_margin_sweep(book, marks)
    reference_check(book, marks, res)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2_000_000))
def test_sweep_at_a_moved_mark_matches_reference(seed, btc_mark):
    # the same book at an unrelated mark: most positions far from their boundary, some deep under water
    book, marks = random_book(
        seed, 120, multi_instrument=True, near_fraction=0.5, isolated_fraction=0.3, exempt_fraction=0.05
    )
    marks = marks.copy()
    marks[0] = max(1, btc_mark)
    reference_check(book, marks, call_margin_sweep(book, marks))


# --------------------------------------------------------------------------- boundaries built by construction


def boundary_book(n_filler: int = 40) -> tuple[dict, np.ndarray, dict[int, bool]]:
    """BTCUSDT at a mark of 100,000 USDT (1,000,000 ticks; V = 100, so one lot (0.001 BTC) is worth
    1,000,000 * 100 = 1e8 money units = 100 USDT). For several notionals - inside tier 1, exactly on the
    50,000 USDT floor of tier 2 and one lot under it, inside tier 4, and above the last cap - and both sides,
    isolated and cross, one position with equity == MM (not liquidatable) and one with MM - 1 (liquidatable).
    Plus ``n_filler`` healthy accounts (so the sweep's per-account loops run over more than a vector width).
    Returns the book, the marks and {position: expected liquidatable}."""
    px = 1_000_000
    v = BTC.value_per_lot_tick
    rows = []  # (size, cost, balance, isolated)
    expect: dict[int, bool] = {}
    # 499 lots = 49,900 USDT (tier 1); 500 lots = 50,000 USDT = tier 2's floor; 100,000 lots = 10,000,000 USDT
    # = tier 5's floor; 123,457 lots = 12,345,700 USDT (tier 5); 6,000,000 lots = 600,000,000 USDT (last cap
    # is 500,000,000: last tier)
    for lots in (1, 499, 500, 100_000, 123_457, 6_000_000):
        for side in (1, -1):
            s = side * lots
            entry = px + side * 3_217  # an entry 321.7 USDT worse than the mark: uPnL < 0
            c = s * entry * v + 37  # a cost that is not a whole tick (37 money units)
            mm = BTC.tiers.maintenance_margin(lots * px * v)
            upnl = s * px * v - c
            for isolated in (True, False):
                for d, liq in ((0, False), (-1, True), (1, False), (-2, True)):
                    # equity = balance + uPnL = MM + d
                    expect[len(rows)] = liq
                    rows.append((s, c, mm - upnl + d, isolated))
    # worked example, tier 1, 1 lot long: notional 1e8 units (100 USDT), MM = ceil(1e8 * 4,000 / 1e6) - 0
    # = 400,000 units (0.4 USDT); entry 1,003,217 ticks so cost = 1 * 1,003,217 * 100 + 37 = 100,321,737 and
    # uPnL = 1e8 - 100,321,737 = -321,737; balance 721,737 gives equity 400,000 == MM: not liquidatable.
    assert BTC.tiers.maintenance_margin(100_000_000) == 400_000
    assert rows[0] == (1, 100_321_737, 721_737, True) and expect[0] is False
    rng = np.random.default_rng(0)
    for _ in range(n_filler):
        s = int(rng.integers(1, 1_000)) * int(rng.choice([-1, 1]))
        rows.append((s, s * px * v, abs(s) * px * v, bool(rng.integers(0, 2))))  # 1x, flat entry: healthy
        expect[len(rows) - 1] = False
    n = len(rows)
    size = np.array([r[0] for r in rows], dtype=np.int64)
    cost = np.array([r[1] for r in rows], dtype=np.int64)
    bal = np.array([r[2] for r in rows], dtype=np.int64)
    iso = np.array([r[3] for r in rows], dtype=bool)
    book = {
        "size": size,
        "cost": cost,
        "collateral": np.where(iso, bal, 0),
        "isolated": iso,
        "account": np.arange(n, dtype=np.int64),
        "instrument": np.zeros(n, dtype=np.int64),
        "wallet": np.where(iso, 5 * U, bal),
        "exempt": np.zeros(n, dtype=bool),
    }
    return book, np.array([px], dtype=np.int64), expect


def test_equity_equal_to_mm_is_safe_and_one_unit_below_is_liquidated():
    book, marks, expect = boundary_book()
    for i, liq in expect.items():  # the construction agrees with the reference formulas
        bal = book["collateral"][i] if book["isolated"][i] else book["wallet"][i]
        assert (
            position_metrics(int(book["size"][i]), int(book["cost"][i]), int(bal), int(marks[0]), BTC).liquidatable
            is liq
        )
    res = call_margin_sweep(book, marks, (BTC,))
    expected = reference_check(book, marks, res, (BTC,))
    assert expected == {i for i, liq in expect.items() if liq}


def test_exempt_accounts_are_never_listed_even_when_under_water():
    book, marks, expect = boundary_book(n_filler=0)
    book["exempt"] = np.ones_like(book["exempt"])
    res = call_margin_sweep(book, marks, (BTC,))
    assert res.listed.size == 0
    assert reference_check(book, marks, res, (BTC,)) == set()


def test_many_liquidatable_cross_accounts_are_all_listed():
    # 100 cross accounts, every one 1 money unit under MM, and 100 safe ones interleaved: the account loops
    # of the sweep must keep every liquidatable account (a vectorised store that clobbers its neighbours
    # would drop some).
    px, v = 1_000_000, BTC.value_per_lot_tick
    lots = np.arange(1, 201, dtype=np.int64)
    size = np.where(lots % 2 == 0, lots, -lots)
    cost = size * px * v  # entered at the mark: uPnL = 0, equity = wallet
    mm = np.array([BTC.tiers.maintenance_margin(int(x) * px * v) for x in lots], dtype=np.int64)
    wallet = np.where(np.arange(200) % 2 == 0, mm - 1, mm + 10**9)
    book = {
        "size": size,
        "cost": cost,
        "collateral": np.zeros(200, dtype=np.int64),
        "isolated": np.zeros(200, dtype=bool),
        "account": np.arange(200, dtype=np.int64),
        "instrument": np.zeros(200, dtype=np.int64),
        "wallet": wallet,
        "exempt": np.zeros(200, dtype=bool),
    }
    res = call_margin_sweep(book, np.array([px]), (BTC,))
    assert sorted(res.listed.tolist()) == list(range(0, 200, 2))
    reference_check(book, np.array([px]), res, (BTC,))


# ------------------------------------------------------------------------------ trigger prices


def _excess(s: int, c: int, b: int, p: int, inst: Instrument) -> int:
    """Reference ``equity - MM`` at ``p`` ticks (Python ints)."""
    v = inst.value_per_lot_tick
    return b + s * p * v - c - inst.tiers.maintenance_margin(abs(s) * p * v)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300))
def test_trigger_price_is_the_exact_liquidation_boundary(seed, n):
    # A long is liquidatable at mark P iff P <= trigger; a short iff P >= trigger (sweep.trigger_price).
    book, _ = random_book(seed, n, multi_instrument=True, near_fraction=0.3, isolated_fraction=0.5, exempt_fraction=0.0)
    never_long, never_short = sweep.NEVER_LONG, sweep.NEVER_SHORT
    for i in range(n):
        s, c = int(book["size"][i]), int(book["cost"][i])
        if s == 0:
            continue
        m = int(book["instrument"][i])
        inst = INSTRUMENTS[m]
        b = int(book["collateral"][i] if book["isolated"][i] else book["wallet"][book["account"][i]])
        t = inst.tiers
        floors, mmr, cum = (np.zeros((2, 10), dtype=np.int64) for _ in range(3))
        floors[m, : len(t.tiers)], mmr[m, : len(t.tiers)], cum[m, : len(t.tiers)] = t.floors, t.mmr_ppm, t.cum
        trig = int(sweep.trigger_price(s, c, b, inst.value_per_lot_tick, m, floors, mmr, cum, len(t.tiers)))
        if s > 0:
            if trig == never_long:
                assert _excess(s, c, b, 1, inst) >= 0, f"position {i}: long liquidatable at 1 tick"
            else:
                assert trig >= 1 and _excess(s, c, b, trig, inst) < 0 <= _excess(s, c, b, trig + 1, inst), i
        else:
            if trig == never_short:
                # no price whose notional int64 can hold (the sweep's limit 2**62 // (|size| * V)) liquidates it
                p_max = min(10**9, 2**62 // (abs(s) * inst.value_per_lot_tick))
                assert _excess(s, c, b, p_max, inst) >= 0, f"position {i}: short liquidatable at {p_max} ticks"
            elif trig == 1:
                assert _excess(s, c, b, 1, inst) < 0
            else:
                assert _excess(s, c, b, trig, inst) < 0 <= _excess(s, c, b, trig - 1, inst), i
