"""Multi-position accounts in the engine's step (issue #11): the ADL queue of a later instrument sees the step's
earlier liquidations, and the backstop vault and partial liquidation size an account from its account-level equity
and maintenance margin (equity = cross wallet + the uPnL of its cross positions at each instrument's mark; MM = the
sum of its positions' MM), as the margin sweep does.

Instruments as in :mod:`test_shared_insurance_fund`: BTC (V = 100 money units per lot-tick) and ETH (V = 10) on
Binance's 2021 BTCUSDT tiers (0.4% MMR below 50,000 USDT notional; 0.5% - 50 up to 250,000); marks = the index at
step 0 (the book is untouched). Books ``D`` = 0.01 lot per 1% are too thin for one lot, so with an empty fund a
bankrupt position goes wholly to ADL at its bankruptcy price.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever import margin
from delever.book import Book
from delever.columns import BookCols
from delever.instruments import Instrument
from delever.tiers import BINANCE_BTCUSDT_2021 as TIERS
from delever.sweep import account_health
from delever.units import money
from test_portfolio_properties import START, figures, random_book, valuation
from test_shared_insurance_fund import BTC, ETH, tiny_run

THIN = 0.01


def adl_book() -> Book:
    """Account 0: long 1 BTC @100,000, wallet 500. Account 1: long 10 ETH @4,000, wallet 500. Account 2 (W1): short
    1 BTC @101,000 and short 10 ETH @4,100, wallet 0. Account 3 (W2): short 10 ETH @4,100, wallet 1,750. Account 4:
    the liquidity provider (a flat BTC position, long 10 ETH)."""
    return Book.from_arrays(
        wallet=[money("500"), money("500"), 0, money("1750"), money("1000000000")],
        exempt=[False, False, False, False, True],
        account=[0, 1, 2, 2, 3, 4, 4],
        instrument=[0, 1, 0, 1, 1, 0, 1],
        size=[1_000, 10_000, -1_000, -10_000, -10_000, 0, 10_000],
        cost=[money("100000"), money("40000"), money("-101000"), money("-41000"), money("-41000"), 0, money("39000")],
    )


def test_a_later_instrument_s_adl_queue_ranks_by_the_equities_after_the_step_s_earlier_fills():
    """Marks 99,000 / 3,900. BTC first: account 0's equity 500 - 1,000 = -500, bankruptcy 100,000 - 500 = 99,500;
    ADL'd against W1 (the only BTC winner), who closes at 99,500 instead of the mark: realized 101,000 - 99,500 =
    1,500, equity 0 + 1,500 + ETH uPnL 2,000 = 3,500 (it was 0 + 2,000 + 2,000 = 4,000 at the step's start).
    ETH next: account 1's equity 500 - 1,000 = -500, bankruptcy 4,000 - 500 / 10 = 3,950. BitMEX ranks the ETH
    short winners by PnL% x effective leverage; both have PnL% 2,000 / 41,000 and notional 39,000, so the lower
    equity ranks first: W1 3,500 (leverage 11.14) before W2 1,750 + 2,000 = 3,750 (10.4). With the step's start
    equities W1 had 4,000 (9.75) and W2 was taken instead."""
    _, r = tiny_run(adl_book(), ([99_000.0], [3_900.0]), depth=(THIN, THIN))
    e = r.events
    cp = e["kind"] == ev.ADL_COUNTERPARTY_FILL
    got = list(zip(e["instrument"][cp].tolist(), e["account"][cp].tolist(), e["price"][cp].tolist(),
                   e["amount"][cp].tolist()))  # fmt: skip
    assert got == [(0, 2, 995_000, money("1500")), (1, 2, 395_000, money("1500"))]
    # W1 ends flat with 1,500 + 1,500; W2 keeps its short
    assert int(r.book.wallet[2]) == money("3000") and int(r.book.size[4]) == -10_000


# --- the backstop vault takes accounts, not lone positions ---------------------------------------------------
SOL = Instrument("SOLUSDT", Decimal("0.01"), Decimal("0.001"), TIERS, base="SOL")  # V = 10, as ETH
BACKSTOP = {"backstop": {"enabled": True, "equity_ratio": "0.666667", "vault_wallet": "50000000"}}
PARTIAL = {"partial_liquidation": {"enabled": True, "mode": "tier"}}


def portfolio(wallet: str, positions: list[tuple[int, int, str]], n_inst: int) -> Book:
    """Account 0 with ``wallet`` and cross ``positions`` (instrument, lots, cost in quote); the last account, the
    liquidity provider, holds the opposite of each instrument's net (at the same cost), so open interest balances."""
    net = [0] * n_inst
    costs = [0] * n_inst
    for m, lots, cost in positions:
        net[m] += lots
        costs[m] += money(cost)
    return Book.from_arrays(
        wallet=[money(wallet), money("1000000000")],
        exempt=[False, True],
        account=[0] * len(positions) + [1] * n_inst,
        instrument=[m for m, _, _ in positions] + list(range(n_inst)),
        size=[lots for _, lots, _ in positions] + [-x for x in net],
        cost=[money(c) for _, _, c in positions] + [-c for c in costs],
    )


# (book, marks, expected backstop rows (kind, instrument, account, lots, price ticks, amount), account 0's end
# wallet), worked by hand; the vault is account 2. Threshold: equity < 0.666667 x MM.
BACKSTOP_CASES = [
    # wallet 300; long 1 BTC @97,000 (+1,000 at 98,000), short 10 ETH @3,800 (-1,000 at 3,900): equity 300 < 2/3 x
    # (0.5% x 98,000 - 50 + 0.4% x 39,000 = 596). BTC at the mark: +1,000, wallet 1,300, kept while ETH is open;
    # ETH at the mark: -1,000, wallet 300, which goes to the vault with the account's last position. (Before: the
    # 1,300 went with BTC and the account ended at -1,000.)
    pytest.param(
        portfolio("300", [(0, 1_000, "97000"), (1, -10_000, "-38000")], 2), ([98_000.0], [3_900.0]),
        [("backstop_takeover", 0, 0, -1_000, 980_000, money("1000")),
         ("backstop_takeover", 1, 0, 10_000, 390_000, -money("1000")),
         ("backstop_margin", 1, 0, 0, 0, -money("300"))], 0,
        id="2pos-cross-below-threshold-solvent-margin-with-last-position"),
    # wallet 1,000; long 1 BTC @100,000 (-2,500 at 97,500), short 10 ETH @4,000 (+1,000 at 3,900): equity -500.
    # BTC at its account bankruptcy price: backing 1,000 + 1,000 = 2,000 -> 98,000.0 (realized -2,000, wallet
    # -1,000, equity with ETH 0); ETH, the account taken, at the mark (+1,000): wallet 0. The vault absorbs the
    # 500 (BTC bought at 98,000 with the mark at 97,500). (Before: 99,000 and 4,000, from the wallet alone.)
    pytest.param(
        portfolio("1000", [(0, 1_000, "100000"), (1, -10_000, "-40000")], 2), ([97_500.0], [3_900.0]),
        [("backstop_takeover", 0, 0, -1_000, 980_000, -money("2000")),
         ("backstop_takeover", 1, 0, 10_000, 390_000, money("1000"))], 0,
        id="2pos-cross-bankrupt-at-account-bankruptcy-price"),
    # three: wallet 300; BTC long 1 @97,000 (+1,000 at 98,000), ETH short 10 @3,850 (-500 at 3,900), SOL long 100
    # @205 (-500 at 200): equity 300 < 2/3 x (440 + 156 + 0.4% x 20,000 = 676). Each at its mark: wallet 1,300,
    # 800, 300; the 300 goes to the vault with SOL. (Before: 1,300 went with BTC, the account ended at -1,000.)
    pytest.param(
        portfolio("300", [(0, 1_000, "97000"), (1, -10_000, "-38500"), (2, 100_000, "20500")], 3),
        ([98_000.0], [3_900.0], [200.0]),
        [("backstop_takeover", 0, 0, -1_000, 980_000, money("1000")),
         ("backstop_takeover", 1, 0, 10_000, 390_000, -money("500")),
         ("backstop_takeover", 2, 0, -100_000, 20_000, -money("500")),
         ("backstop_margin", 2, 0, 0, 0, -money("300"))], 0,
        id="3pos-cross-below-threshold-solvent-margin-with-last-position"),
    # three, bankrupt: wallet 300; BTC long 1 @97,000 (-500 at 96,500), ETH short 10 @3,850 (-500), SOL long 100
    # @205 (-500): equity -1,200. BTC backed by 300 - 500 - 500 = -700: bankruptcy 97,700.0 (realized +700, wallet
    # 1,000, equity 0 with the others at their marks); ETH and SOL at their marks: wallet 500, then 0.
    pytest.param(
        portfolio("300", [(0, 1_000, "97000"), (1, -10_000, "-38500"), (2, 100_000, "20500")], 3),
        ([96_500.0], [3_900.0], [200.0]),
        [("backstop_takeover", 0, 0, -1_000, 977_000, money("700")),
         ("backstop_takeover", 1, 0, 10_000, 390_000, -money("500")),
         ("backstop_takeover", 2, 0, -100_000, 20_000, -money("500"))], 0,
        id="3pos-cross-bankrupt-at-account-bankruptcy-price"),
]  # fmt: skip


@pytest.mark.parametrize(("book", "prices", "rows", "wallet_end"), BACKSTOP_CASES)
def test_backstop_takes_the_account_at_its_account_level_price_and_margin(book, prices, rows, wallet_end):
    insts = (BTC, ETH, SOL)[: len(prices)]
    _, r = tiny_run(book, prices, funds=(0,) * len(prices), mechanisms=BACKSTOP, instruments=insts)
    e = r.events
    mine = (e["account"] == 0) & np.isin(e["kind"], [ev.BACKSTOP_TAKEOVER, ev.BACKSTOP_MARGIN])
    got = [(ev.KIND_NAMES[int(k)], int(m), int(a), int(s), int(p), int(x)) for k, m, a, s, p, x in
           zip(e["kind"][mine], e["instrument"][mine], e["account"][mine], e["size"][mine], e["price"][mine],
               e["amount"][mine])]  # fmt: skip
    assert got == rows
    assert int(r.book.wallet[0]) == wallet_end
    assert not (r.book.size[r.book.account == 0]).any()  # the vault took every position of the account
    assert not np.isin(e["kind"], [ev.LIQUIDATION_FILL, ev.INSURANCE_PAYOUT, ev.BAD_DEBT]).any()


# --- partial liquidation sizes the account ---------------------------------------------------------------------
# BTC long 3 @100,000 at 98,000: notional 294,000 (third tier, 1% - 1,300: MM 1,640), uPnL -6,000; ETH short 10
# @4,000 at 3,900: +1,000, MM 156; (three) SOL long 100 @205 at 200: -500, MM 80. A lot of BTC at the mark is worth
# 98 USDT. The second tier (cap 250,000) keeps (250,000 - 1 unit) // 98 = 2,551 lots: closing 449 costs a fee of
# 0.3% x 449 x 98 = 131.986 and leaves MM 0.5% x 2,551 x 98 - 50 = 1,199.99. The first tier (cap 50,000) keeps 510
# lots: closing 2,490 costs 732.06 and leaves MM 0.4% x 510 x 98 = 199.92.
# two: wallet 6,480, equity 6,480 - 6,000 + 1,000 = 1,480 < MM 1,796. Second tier: 1,480 - 131.986 = 1,348.01 <
#   1,199.99 + ETH's 156 (the account's MM; the position's alone would pass, the old rule): so the first tier,
#   767.94 >= 199.92 + 156. 2,490 lots sell at 98,000 x (1 - 2,490 / 2e11) -> 97,999.9: realized 2.49 x 97,999.9 -
#   249,000 = -4,980.249, fee 0.3% x 244,019.751 = 732.059253; wallet 767.691747, equity 767.691747 - 1,020 + 1,000
#   = 747.691747 >= MM 199.92 + 156: the account is back, so ETH stays open (before: ETH was closed whole).
# three: wallet 7,000, equity 1,500 < MM 1,876. Second tier: 1,368.01 < 1,199.99 + 236; first: 767.94 >= 435.92.
#   Wallet 7,000 - 4,980.249 - 732.059253 = 1,287.691747, equity 767.691747 >= 435.92: ETH and SOL stay open.
PARTIAL_CASES = [
    pytest.param(portfolio("6480", [(0, 3_000, "300000"), (1, -10_000, "-40000")], 2), ([98_000.0], [3_900.0]),
                 money("767.691747"), id="2pos-cross-partial-to-first-tier-rest-left-open"),
    pytest.param(portfolio("7000", [(0, 3_000, "300000"), (1, -10_000, "-40000"), (2, 100_000, "20500")], 3),
                 ([98_000.0], [3_900.0], [200.0]), money("1287.691747"),
                 id="3pos-cross-partial-to-first-tier-rest-left-open"),
]  # fmt: skip


@pytest.mark.parametrize(("book", "prices", "wallet_end"), PARTIAL_CASES)
def test_partial_liquidation_sizes_the_account_and_stops_once_it_is_back(book, prices, wallet_end):
    insts = (BTC, ETH, SOL)[: len(prices)]
    start_sizes = book.size[book.account == 0].copy()
    _, r = tiny_run(book, prices, funds=(0,) * len(prices), mechanisms=PARTIAL, instruments=insts)
    e = r.events
    mine = (e["account"] == 0) & (e["kind"] == ev.LIQUIDATION_FILL)
    assert list(zip(e["instrument"][mine].tolist(), e["size"][mine].tolist(), e["price"][mine].tolist())) == [
        (0, -2_490, 979_999)
    ]
    fee = (e["account"] == 0) & (e["kind"] == ev.LIQUIDATION_FEE)
    assert e["amount"][fee].tolist() == [-money("732.059253")]
    assert int(r.book.wallet[0]) == wallet_end
    assert r.book.size[r.book.account == 0].tolist() == [510, *start_sizes[1:].tolist()]
    assert r.extra["partial_liquidation"]["accounts"] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_inst=st.integers(1, 3),
    n_accounts=st.integers(1, 20),
    shock=st.lists(st.floats(0.8, 1.2), min_size=3, max_size=3),
)
def test_account_health_equals_the_reference_on_random_portfolio_books(seed, n_inst, n_accounts, shock):
    """The compiled account-level figures the backstop and partial sizing read (:func:`delever.sweep.account_health`)
    equal the plain-Python reference: a cross position's account equity and the sum of its cross positions' MM, an
    isolated position's own margin equity and MM (``figures``), and each position's own MM."""
    book = random_book(np.random.default_rng(seed), n_inst, n_accounts)
    marks = np.array([max(1, int(s * x)) for s, x in zip(START, shock)], dtype=np.int64)
    v = valuation(marks, margin.BACKING_WHOLE_ACCOUNT)
    order = np.arange(book.n_positions, dtype=np.int64)
    equity, mm, own = (np.zeros(order.size, dtype=np.int64) for _ in range(3))
    account_health(order, BookCols.of(book), v, equity, mm, own)
    pos_eq, pos_mm, acc_eq, acc_mm = figures(book, marks)
    for p in range(book.n_positions):
        a = int(book.account[p])
        want = (pos_eq[p], pos_mm[p]) if book.isolated[p] else (acc_eq[a], acc_mm[a])
        assert (int(equity[p]), int(mm[p])) == want
        value = int(book.size[p]) * int(marks[book.instrument[p]]) * int(v.vpls[book.instrument[p]])
        assert int(own[p]) == TIERS.maintenance_margin(abs(value))
