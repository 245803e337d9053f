"""Invariants of the liquidation stage on random multi-instrument portfolio books (issue #11, property tests).

Each example draws two or three instruments, trader accounts holding one to three positions on distinct
instruments (cross or isolated, either side, 2x-50x), two liquidity providers holding the opposite of the
traders on every instrument, a price shock per instrument, insurance funds, book depth, fee rate, ADL policy
and cross backing rule. The liquidatable positions (found here in plain Python: an account's cross equity
against the sum of its cross positions' MM, an isolated position on its own) are liquidated instrument by
instrument, as a multi-instrument run does, and after every instrument's stage:

- money is conserved exactly and open interest is balanced on every instrument;
- a margin paid by an insurance fund (a cross account, its other positions at their marks, or an isolated
  position, whose margin limits its loss) is left with equity <= 0: the fund only ever covers a deficit, and
  an account solvent after its close receives nothing;
- every ADL counterparty's margin has equity >= 0 after its fill;

and at the end, every trader account below zero has a bad-debt row.
"""

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever import margin
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.events import EventBuffer
from delever.instruments import Instrument
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.tiers import BINANCE_BTCUSDT_2021 as TIERS
from delever.units import money

INSTRUMENTS = [
    Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), TIERS),  # V 100
    Instrument("ETHUSDT", Decimal("0.01"), Decimal("0.001"), TIERS, base="ETH"),  # V 10
    Instrument("SOLUSDT", Decimal("0.01"), Decimal("0.01"), TIERS, base="SOL"),  # V 100
]
START = [1_000_000, 400_000, 20_000]  # 100,000.0 / 4,000.00 / 200.00 in ticks
POLICIES = ["queue-bitmex", "queue-binance", "queue-hyperliquid", "pro-rata-pnl", "water-filling"]


def random_book(rng: np.random.Generator, n_inst: int, n_accounts: int) -> Book:
    vpl = [i.value_per_lot_tick for i in INSTRUMENTS]
    wallet, account, instrument, size, cost, collateral, isolated = [], [], [], [], [], [], []
    for a in range(n_accounts):
        held = rng.choice(n_inst, size=int(rng.integers(1, n_inst + 1)), replace=False)
        w = 0
        for m in sorted(held.tolist()):
            entry = int(START[m] * rng.uniform(0.95, 1.05))
            notional_q = float(rng.lognormal(np.log(3_000), 1.0))  # quote
            lots = max(1, int(notional_q * 1e6 / (entry * vpl[m])))
            s = lots if rng.random() < 0.5 else -lots
            margin_needed = -(-lots * entry * vpl[m] // int(rng.uniform(2, 50)))
            iso = bool(rng.random() < 0.3)
            account.append(a), instrument.append(m), size.append(s), cost.append(s * entry * vpl[m])
            collateral.append(margin_needed if iso else 0), isolated.append(iso)
            w += 0 if iso else margin_needed
        wallet.append(w + int(rng.integers(0, money("200"))))
    lp = [n_accounts, n_accounts + 1]
    for m in range(n_inst):
        net = sum(s for s, i in zip(size, instrument) if i == m)
        shares = [-net // 2, -net - (-net // 2)]
        for k, a in enumerate(lp):
            account.append(a), instrument.append(m), size.append(shares[k]), cost.append(shares[k] * START[m] * vpl[m])
            collateral.append(0), isolated.append(False)
    wallet += [money("100000000"), money("100000000")]
    return Book.from_arrays(
        wallet=wallet, exempt=[False] * n_accounts + [True, True], account=account, instrument=instrument,
        size=size, cost=cost, collateral=collateral, isolated=isolated,
    )  # fmt: skip


def valuation(marks: np.ndarray, rule: int) -> AccountValuation:
    k = TIERS.floors.shape[0]
    rows = lambda a: np.repeat(a[None, :], 3, axis=0)  # noqa: E731 - the same tiers on every instrument
    vpl = np.array([i.value_per_lot_tick for i in INSTRUMENTS], dtype=np.int64)
    return AccountValuation(marks, vpl, rows(TIERS.floors), rows(TIERS.mmr_ppm), rows(TIERS.cum),
                            np.full(3, k, dtype=np.int64), rule)  # fmt: skip


def figures(book: Book, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact (position equity, position MM, account cross equity, account cross MM) at ``marks`` (Python ints)."""
    vpl = [i.value_per_lot_tick for i in INSTRUMENTS]
    n, a = book.n_positions, book.n_accounts
    pos_eq, pos_mm = [0] * n, [0] * n
    acc_eq, acc_mm = [int(w) for w in book.wallet], [0] * a
    for p in range(n):
        m, s, c = int(book.instrument[p]), int(book.size[p]), int(book.cost[p])
        value = s * int(marks[m]) * vpl[m]
        mm = TIERS.maintenance_margin(abs(value)) if s else 0
        u = value - c
        if book.isolated[p]:
            pos_eq[p], pos_mm[p] = int(book.collateral[p]) + u, mm
        else:
            acc_eq[int(book.account[p])] += u
            acc_mm[int(book.account[p])] += mm
    return pos_eq, pos_mm, acc_eq, acc_mm


def margin_equity(book: Book, marks: np.ndarray, p: int) -> int:
    pos_eq, _, acc_eq, _ = figures(book, marks)
    return pos_eq[p] if book.isolated[p] else acc_eq[int(book.account[p])]


def account_equity(book: Book, marks: np.ndarray) -> list[int]:
    """Each account's whole equity: wallet + isolated margins + every position's uPnL."""
    pos_eq, _, acc_eq, _ = figures(book, marks)
    out = list(acc_eq)
    for p in np.flatnonzero(book.isolated).tolist():
        out[int(book.account[p])] += pos_eq[p]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_inst=st.integers(2, 3),
    n_accounts=st.integers(3, 25),
    shock=st.lists(st.floats(0.8, 1.2), min_size=3, max_size=3),
    funds=st.lists(st.sampled_from([0, 50, 5_000, 1_000_000]), min_size=3, max_size=3),
    depth=st.sampled_from([0.01, 5.0, 1_000.0, 1e6]),
    fee_ppm=st.sampled_from([0, 3_000, 50_000]),
    policy=st.sampled_from(POLICIES),
    rule=st.sampled_from([margin.BACKING_WHOLE_ACCOUNT, margin.BACKING_MM_SHARE]),
)
def test_liquidation_stage_invariants_on_random_portfolio_books(seed, n_inst, n_accounts, shock, funds, depth,
                                                                fee_ppm, policy, rule):  # fmt: skip
    rng = np.random.default_rng(seed)
    book = random_book(rng, n_inst, n_accounts)
    marks = np.array([max(1, int(START[m] * shock[m])) for m in range(3)], dtype=np.int64)
    fund = [np.array([money(f)], dtype=np.int64) for f in funds]
    total = book.total_money(sum(int(f[0]) for f in fund))
    pos_eq, pos_mm, acc_eq, acc_mm = figures(book, marks)
    trader = ~book.exempt[book.account]
    liquidatable = [
        p for p in range(book.n_positions)
        if trader[p] and book.size[p] != 0
        and ((pos_eq[p] < pos_mm[p]) if book.isolated[p] else (acc_eq[book.account[p]] < acc_mm[book.account[p]]))
    ]  # fmt: skip
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[liquidatable] = True
    events = []
    for m in range(n_inst):
        order = np.array([p for p in liquidatable if book.instrument[p] == m], dtype=np.int64)
        if order.size == 0:
            continue
        v = INSTRUMENTS[m].value_per_lot_tick

        def equities(book=book):
            pe, _, ae, _ = figures(book, marks)
            return np.array(pe, dtype=np.int64), np.array(ae, dtype=np.int64)

        queue = AdlQueue(book, m, int(marks[m]), v, equities, excluded, policy,
                         (TIERS.floors, TIERS.mmr_ppm, TIERS.cum))  # fmt: skip
        buf = EventBuffer()
        lp = np.flatnonzero(book.exempt[book.account] & (book.instrument == m))
        run_stage(order, book, v, fee_ppm, float(marks[m]), np.zeros(1), DepthCurve.linear(depth).arrays(), lp,
                  np.ones(lp.size, dtype=np.int64), fund[m], queue, buf, np.zeros(order.size, np.int64), 1,
                  valuation(marks, rule))  # fmt: skip
        rows = {k: c[: buf.n].copy() for k, c in buf.cols.items()}
        events.append(rows)
        # conservation, exact, and balanced open interest on every instrument
        assert book.total_money(sum(int(f[0]) for f in fund)) == total
        for k in range(n_inst):
            long_, short = book.open_interest(k)
            assert long_ == short
        # the fund covers deficits only: the margin it paid (an isolated position's own, or the cross account's,
        # its other positions at their marks) is left at or below zero
        for p in set(rows["position"][rows["kind"] == ev.INSURANCE_PAYOUT].tolist()):
            left = margin_equity(book, marks, p)
            assert left <= 0, f"position {p}'s margin was paid by the fund and holds {left}"
        # the non-overlapping check: no ADL counterparty is left below zero by its fill
        for p in set(rows["position"][rows["kind"] == ev.ADL_COUNTERPARTY_FILL].tolist()):
            assert margin_equity(book, marks, p) >= 0
    # every trader account below zero at the end carries a bad-debt row; a cross account the fund paid ends at or
    # below zero (it is paid only once flat, what it owes then)
    bad, paid = set(), set()
    for rows in events:
        bad |= set(rows["account"][rows["kind"] == ev.BAD_DEBT].tolist())
        payout = rows["kind"] == ev.INSURANCE_PAYOUT
        paid |= set(rows["account"][payout & ~book.isolated[rows["position"]]].tolist())
    final = account_equity(book, marks)
    for a in range(n_accounts):
        if final[a] < 0:
            assert a in bad, f"account {a} ends at {final[a]} without a bad-debt row"
        if a in paid and not book.isolated[book.account == a].any():
            # (an isolated position's margin is its own bucket: what it returns to the wallet after the cross
            # deficit was covered is not counted here)
            assert final[a] <= 0, f"cross account {a} was paid by the fund and ends at {final[a]}"
