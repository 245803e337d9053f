"""Issue #11's money bugs, each on the issue's own example worked by hand.

Instruments: BTC (tick 0.1, lot 0.001: V = 100 money units per lot-tick) and ETH (tick 0.01, lot 0.001: V = 10),
both on Binance's 2021 BTCUSDT tiers (0.4% MMR below 50,000 USDT notional). Order books are linear
(:meth:`DepthCurve.linear`, ``D`` lots per 1% each side): an order of ``k`` lots on a fresh book fills at
``centre x (1 -/+ k / (200 D))``, rounded to a tick against the liquidated account.
"""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever import events as ev
from delever import margin
from delever.adl.queue import AdlQueue
from delever.book import Book, check_int64_headroom
from delever.errors import InputError
from delever.events import EventBuffer
from delever.instruments import Instrument
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.sweep import cross_backing, mul_div_floor
from delever.tiers import BINANCE_BTCUSDT_2021 as TIERS
from delever.units import money
from delever.venues.base import AdlInputs, score_bitmex

BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), TIERS)
ETH = Instrument("ETHUSDT", Decimal("0.01"), Decimal("0.001"), TIERS, base="ETH")
INSTRUMENTS = [BTC, ETH]
VPL = np.array([i.value_per_lot_tick for i in INSTRUMENTS], dtype=np.int64)  # [100, 10]
LP_WALLET = money("1000000000")


def valuation(marks, rule=margin.BACKING_WHOLE_ACCOUNT) -> AccountValuation:
    k = TIERS.floors.shape[0]
    rows = lambda a: np.repeat(a[None, :], 2, axis=0)  # noqa: E731 - the same tiers on both instruments
    return AccountValuation(np.asarray(marks, dtype=np.int64), VPL, rows(TIERS.floors), rows(TIERS.mmr_ppm),
                            rows(TIERS.cum), np.array([k, k], dtype=np.int64), rule)  # fmt: skip


def equities(book: Book, marks) -> tuple[np.ndarray, np.ndarray]:
    upnl = book.size * np.asarray(marks)[book.instrument] * VPL[book.instrument] - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    return pos_eq, acc_eq


def liquidate_on(book, m, order, marks, fund, lots_per_pct, fee_ppm=3_000, rule=margin.BACKING_WHOLE_ACCOUNT,
                 policy="queue-bitmex"):  # fmt: skip
    """Liquidate positions ``order`` of instrument ``m`` with its book centred at its mark; the event rows."""
    mark = int(marks[m])
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[order] = True
    queue = AdlQueue(book, m, mark, int(VPL[m]), lambda: equities(book, marks), excluded, policy,
                     (TIERS.floors, TIERS.mmr_ppm, TIERS.cum))  # fmt: skip
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account] & (book.instrument == m))
    order = np.asarray(order, dtype=np.int64)
    run_stage(order, book, int(VPL[m]), fee_ppm, float(mark), np.zeros(1), DepthCurve.linear(lots_per_pct).arrays(),
              lp, np.ones(lp.size, dtype=np.int64), fund, queue, buf, np.zeros(order.size, np.int64), 1,
              valuation(marks, rule))  # fmt: skip
    return [{k: int(v[i]) for k, v in buf.cols.items()} for i in range(buf.n)]


def kinds(rows) -> list[str]:
    return [ev.KIND_NAMES[r["kind"]] for r in rows]


# --- (a) the bankruptcy price follows the account ------------------------------------------------------------


def portfolio_book() -> Book:
    """Account 0 (the issue's): wallet 1,000; long 1 BTC @100,000 (position 0) and short 10 ETH @4,000
    (position 1). Account 1: the liquidity provider, holding the opposite of both."""
    btc_cost = 1_000 * 1_000_000 * 100  # 1,000 lots x 100,000.0 (1e6 ticks) x V 100 = 100,000 USDT
    eth_cost = -10_000 * 400_000 * 10  # -10,000 lots x 4,000.00 (400,000 ticks) x V 10 = -40,000 USDT
    return Book.from_arrays(
        wallet=[money("1000"), LP_WALLET],
        exempt=[False, True],
        account=[0, 0, 1, 1],
        instrument=[0, 1, 0, 1],
        size=[1_000, -10_000, -1_000, 10_000],
        cost=[btc_cost, eth_cost, -btc_cost, -eth_cost],
    )


MARKS = [985_000, 390_000]  # 98,500.0 and 3,900.00


def test_solvent_cross_account_pays_its_fees_and_receives_no_fund_money():
    """The issue's example. At 98,500 / 3,900 the account's equity is 1,000 - 1,500 (BTC) + 1,000 (ETH) = +500,
    below its MM (0.5% x 98,500 - 50 + 0.4% x 39,000 = 598.5): liquidated while solvent.

    BTC: sell 1,000 lots into D = 49,250 lots/1%: 98,500 x (1 - 1,000 / 9,850,000) = 98,490.0 (above the
    account's bankruptcy price 98,000: wallet + ETH uPnL = 2,000 backs it). Realized -1,510: wallet -510, but the
    account's equity is -510 + 1,000 (ETH at its mark) = +490 >= 0, so no payout; the fee 0.3% x 98,490 = 295.47
    goes to the BTC fund. ETH: buy 10,000 lots into D = 487,500: 3,900 x (1 + 10,000 / 97,500,000) = 3,900.40
    (ceil to the cent); realized (4,000 - 3,900.40) x 10 = +996; fee 0.3% x 39,004 = 117.012 to the ETH fund.
    The account ends with 1,000 - 1,510 - 295.47 + 996 - 117.012 = 73.518. (The engine before issue #11 backed
    the BTC close with the wallet alone: the BTC fund paid it 510 and it kept 878.99.)"""
    book = portfolio_book()
    before = book.total_money(0)
    funds = [np.array([money("10000")]), np.array([money("10000")])]
    marks = np.array(MARKS, dtype=np.int64)
    btc = liquidate_on(book, 0, [0], marks, funds[0], 49_250.0)
    eth = liquidate_on(book, 1, [1], marks, funds[1], 487_500.0)
    assert kinds(btc) == ["liquidation_fill", "lp_fill", "liquidation_fee"]
    assert kinds(eth) == ["liquidation_fill", "lp_fill", "liquidation_fee"]
    assert btc[0]["price"] == 984_900 and btc[0]["amount"] == money("-1510")
    assert btc[2]["amount"] == -money("295.47")
    assert eth[0]["price"] == 390_040 and eth[0]["amount"] == money("996")
    assert eth[2]["amount"] == -money("117.012")
    assert book.wallet[0] == money("73.518")
    assert int(funds[0][0]) == money("10295.47") and int(funds[1][0]) == money("10117.012")
    assert book.total_money(funds[0][0] + funds[1][0]) == before + money("20000")


def test_a_deficit_while_other_positions_are_open_is_settled_at_the_account_s_last_close():
    """The same account, BTC filled below its bankruptcy price (98,000): a book of D lots/1% such that selling
    1,000 lots fills at 97,500.0. The BTC fund (10,000) can cover the account's shortfall (2,000 backing -
    2,500 loss = -500), so no ADL. Realized -2,500: wallet -1,500, equity with ETH at its mark -500 < 0, but the
    account still holds ETH: nothing paid yet, no fee. ETH: bankruptcy (40,000 - 1,500) / 10 = 3,850 for the
    short; filled at 3,900.40 (realized +996): wallet -504, the account is flat, the ETH fund pays 504."""
    book = portfolio_book()
    before = book.total_money(0)
    funds = [np.array([money("10000")]), np.array([money("10000")])]
    marks = np.array(MARKS, dtype=np.int64)
    depth = 1_000 * 98_500 / (200 * (98_500 - 97_500.05))  # fills at 97,500.05 before the tick: 97,500.0
    btc = liquidate_on(book, 0, [0], marks, funds[0], depth)
    assert kinds(btc) == ["liquidation_fill", "lp_fill"] and btc[0]["price"] == 975_000
    assert book.wallet[0] == money("-1500") and int(funds[0][0]) == money("10000")
    eth = liquidate_on(book, 1, [1], marks, funds[1], 487_500.0)
    assert kinds(eth) == ["liquidation_fill", "lp_fill", "insurance_payout"]
    assert eth[2]["amount"] == money("504") and int(funds[1][0]) == money("9496")
    assert book.wallet[0] == 0
    assert book.total_money(funds[0][0] + funds[1][0]) == before + money("20000")


def test_an_isolated_position_of_a_portfolio_account_is_backed_by_its_own_margin():
    """Long 1 BTC @100,000 isolated with 1,000 margin, and short 10 ETH @4,000 cross on a 1,000 wallet. At
    98,500 the BTC margin's equity is 1,000 - 1,500 = -500: liquidated on its own, bankruptcy 99,000 (its own
    margin, not the account's). Filled at 98,490.0: margin 1,000 - 1,510 = -510, which the BTC fund pays (an
    isolated margin limits the loss to the position); the cross wallet keeps its 1,000."""
    book = portfolio_book()
    book.isolated[0] = True
    book.collateral[0] = money("1000")
    funds = np.array([money("10000")])
    rows = liquidate_on(book, 0, [0], np.array(MARKS, dtype=np.int64), funds, 49_250.0)
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "insurance_payout"]
    assert rows[2]["amount"] == money("510") and int(funds[0]) == money("9490")
    assert book.collateral[0] == 0 and book.wallet[0] == money("1000")


def three_position_book() -> Book:
    """Account 0: wallet 1,000; long 1 BTC @100,000 (position 0), short 10 ETH @4,000 (position 1) and a
    second ETH position, long 5 ETH @3,800 (position 2). Account 1: the liquidity provider."""
    return Book.from_arrays(
        wallet=[money("1000"), LP_WALLET],
        exempt=[False, True],
        account=[0, 0, 0, 1, 1],
        instrument=[0, 1, 1, 0, 1],
        size=[1_000, -10_000, 5_000, -1_000, 5_000],
        cost=[10**11, -4 * 10**10, 5_000 * 380_000 * 10, -(10**11), 4 * 10**10 - 5_000 * 380_000 * 10],
    )


# (position, rule, expected bankruptcy price in ticks), each worked by hand at marks 98,500 / 3,900:
# two positions: BTC uPnL -1,500 (MM 0.5% x 98,500 - 50 = 442.5, second tier), ETH short uPnL +1,000
# (MM 0.4% x 39,000 = 156); TNC 500, TMMR 598.5 (the figures).
# three positions: + ETH long 5 @3,800: uPnL +500 (MM 0.4% x 19,500 = 78); TNC 1,000, TMMR 676.5.
BANKRUPTCY_CASES = [
    # Binance: backing = wallet + other uPnL = 1,000 + 1,000 = 2,000 -> 100,000 - 2,000 = 98,000.0
    pytest.param(two := "two", 0, margin.BACKING_WHOLE_ACCOUNT, 980_000, id="2pos-long-cross-binance"),
    # dYdX: 98,500 - 500 x 442.5 / 598.5 = 98,130.3258... -> up (long) 98,130.4
    pytest.param(two, 0, margin.BACKING_MM_SHARE, 981_304, id="2pos-long-cross-dydx"),
    # Binance, the ETH short: 1,000 - 1,500 + 10 x (4,000 - P) = 0 -> P = 3,950.00
    pytest.param(two, 1, margin.BACKING_WHOLE_ACCOUNT, 395_000, id="2pos-short-cross-binance"),
    # dYdX: 3,900 + 500 x 156 / 598.5 / 10 = 3,913.0325... -> down (short) 3,913.03
    pytest.param(two, 1, margin.BACKING_MM_SHARE, 391_303, id="2pos-short-cross-dydx"),
    # three, Binance, BTC: backing 1,000 + 1,000 + 500 = 2,500 -> 97,500.0
    pytest.param("three", 0, margin.BACKING_WHOLE_ACCOUNT, 975_000, id="3pos-long-cross-binance"),
    # three, dYdX, BTC: 98,500 - 1,000 x 442.5 / 676.5 = 97,845.898... -> up 97,845.9
    pytest.param("three", 0, margin.BACKING_MM_SHARE, 978_459, id="3pos-long-cross-dydx"),
    # three, Binance, ETH long 5: 1,000 - 1,500 + 1,000 + 5 x (P - 3,800) = 0 -> P = 3,700.00
    pytest.param("three", 2, margin.BACKING_WHOLE_ACCOUNT, 370_000, id="3pos-long2-cross-binance"),
    # three, dYdX, ETH long: 3,900 - 1,000 x 78 / 676.5 / 5 = 3,876.9401... -> up 3,876.95
    pytest.param("three", 2, margin.BACKING_MM_SHARE, 387_695, id="3pos-long2-cross-dydx"),
]


def _account_figures(book: Book, p: int, marks) -> tuple[int, int, int, int]:
    upnl = book.size * np.asarray(marks)[book.instrument] * VPL[book.instrument] - book.cost
    mine = np.flatnonzero(book.account == book.account[p])
    mm = []
    for q in mine:
        m = int(book.instrument[q])
        mm.append(INSTRUMENTS[m].tiers.maintenance_margin(abs(int(book.size[q])) * marks[m] * int(VPL[m])))
    own_mm = mm[list(mine).index(p)]
    return int(upnl[p]), int(upnl[mine].sum() - upnl[p]), own_mm, sum(mm)


@pytest.mark.parametrize(("which", "p", "rule", "expected"), BANKRUPTCY_CASES)
def test_bankruptcy_price_follows_the_account(which, p, rule, expected):
    book = portfolio_book() if which == "two" else three_position_book()
    inst = INSTRUMENTS[book.instrument[p]]
    mark = MARKS[book.instrument[p]]
    own_u, other_u, own_mm, total_mm = _account_figures(book, p, MARKS)
    bp = margin.account_bankruptcy_price(rule, int(book.size[p]), int(book.cost[p]), int(book.wallet[0]), other_u,
                                         own_mm, total_mm, mark, inst)  # fmt: skip
    assert bp == expected
    # the compiled twin backs the position with the same money
    assert cross_backing(rule, int(book.wallet[0]), own_u, other_u, own_mm, total_mm) == margin.cross_backing(
        rule, int(book.wallet[0]), own_u, other_u, own_mm, total_mm
    )


@pytest.mark.parametrize(("which", "p", "rule", "expected"), BANKRUPTCY_CASES)
def test_the_liquidation_kernel_deleverages_at_the_account_bankruptcy_price(which, p, rule, expected):
    """An empty fund and a book too thin for one lot (D = 0.01 lot/1%): the whole position goes to ADL at its
    bankruptcy price, against a rich counterparty on the other side."""
    book = portfolio_book() if which == "two" else three_position_book()
    m = int(book.instrument[p])
    s = int(book.size[p])
    # a counterparty account 2 with the opposite position at the mark, well funded (it gives every lot)
    grown = Book.from_arrays(
        wallet=[*book.wallet, money("1000000")],
        exempt=[*book.exempt, False],
        account=[*book.account, 2],
        instrument=[*book.instrument, m],
        size=[*book.size, -s],
        cost=[*book.cost, -s * MARKS[m] * int(VPL[m]) - money("100")],  # uPnL = -cost - s x mark x V = +100
    )
    lp = np.flatnonzero(grown.exempt[grown.account] & (grown.instrument == m))
    grown.size[lp] += s  # the LP leaves the counterparty's lots balanced
    grown.cost[lp] += s * MARKS[m] * int(VPL[m])
    rows = liquidate_on(grown, m, [p], np.array(MARKS), np.zeros(1, dtype=np.int64), 0.01, rule=rule)
    adl = [r for r in rows if r["kind"] == ev.ADL_FILL]
    assert adl and {r["price"] for r in adl} == {expected}
    assert sum(r["size"] for r in adl) == -s


@settings(max_examples=300, deadline=None)
@given(
    rule=st.sampled_from([margin.BACKING_WHOLE_ACCOUNT, margin.BACKING_MM_SHARE]),
    wallet=st.integers(-(2**55), 2**55),
    own=st.integers(-(2**55), 2**55),
    other=st.integers(-(2**55), 2**55),
    own_mm=st.integers(0, 2**55),
    extra_mm=st.integers(0, 2**55),
)
def test_compiled_backing_equals_the_reference(rule, wallet, own, other, own_mm, extra_mm):
    total = own_mm + extra_mm
    assert cross_backing(rule, wallet, own, other, own_mm, total) == margin.cross_backing(
        rule, wallet, own, other, own_mm, total
    )


@settings(max_examples=300, deadline=None)
@given(a=st.integers(-(2**62), 2**62), b=st.integers(0, 2**61), extra=st.integers(0, 2**61))
def test_mul_div_floor_is_exact(a, b, extra):
    c = max(b + extra, 1)
    b = min(b, c)
    assert mul_div_floor(a, b, c) == (a * b) // c


def test_dydx_formula_matches_the_spec_expression():
    """``-DNNV - TNC x |DMMR| / TMMR`` (engines.md section 1) for the BTC close of the two-position account:
    DNNV = -98,500 (closing 1 BTC), TNC = 500, DMMR = -442.5, TMMR = 598.5: 98,500 - 500 x 442.5 / 598.5."""
    book = portfolio_book()
    own_u, other_u, own_mm, total_mm = _account_figures(book, 0, MARKS)
    backing = margin.cross_backing(margin.BACKING_MM_SHARE, money("1000"), own_u, other_u, own_mm, total_mm)
    exact_quote = Fraction(98_500) - Fraction(500 * 4_425, 5_985)
    bp_exact = margin.bankruptcy_price_exact(1_000, int(book.cost[0]), backing, BTC) * Fraction(1, 10)  # quote
    assert abs(bp_exact - exact_quote) < Fraction(1, 10**6)  # the backing rounds down by < 1 money unit


# --- (b) ADL counterparty check --------------------------------------------------------------------------------


def adl_book(winner_isolated: bool = False, winner_entry: int = 975_000, winner_wallet: str = "10",
             winner_margin: str = "0") -> Book:  # fmt: skip
    """Position 0: isolated long 1 BTC @100,000 with 2,000 margin (bankruptcy 98,000.0). Position 1: the
    winner, short 1 BTC at ``winner_entry`` ticks. Position 2: the liquidity provider (flat)."""
    return Book.from_arrays(
        wallet=[0, money(winner_wallet), LP_WALLET],
        exempt=[False, False, True],
        account=[0, 1, 2],
        size=[1_000, -1_000, 0],
        cost=[10**11, -1_000 * winner_entry * 100, 0],
        collateral=[money("2000"), money(winner_margin) if winner_isolated else 0, 0],
        isolated=[True, winner_isolated, False],
    )


def test_adl_winner_gives_only_what_keeps_its_equity_non_negative_and_the_rest_is_bad_debt():
    """The issue's example: winner short 1 @97,500 with wallet 10, mark 97,000: equity 10 + 500 = 510. Each
    lot (0.001 BTC) it gives at the bankrupt long's 98,000 instead of 97,000 costs it 1 USDT: it gives 510 lots
    and ends with equity exactly 0 (wallet 10 - 255 = -245, its short 0.49 BTC worth +245 at the mark). The
    other 490 lots go to the book (D = 100 lots/1%, far below bankruptcy); the empty fund pays nothing; the
    deficit is a bad-debt row equal to the position's negative margin. (Before issue #11 the winner was closed
    flat at 98,000 with wallet -490 and nothing was reported.)"""
    book = adl_book()
    marks = np.array([970_000, 0], dtype=np.int64)
    rows = liquidate_on(book, 0, [0], marks, np.zeros(1, dtype=np.int64), 100.0)
    cp = [r for r in rows if r["kind"] == ev.ADL_COUNTERPARTY_FILL]
    assert [(r["position"], r["size"], r["price"]) for r in cp] == [(1, 510, 980_000)]
    assert book.wallet[1] == money("-245") and book.size[1] == -490
    winner_equity = int(book.wallet[1]) + (-490 * 970_000 * 100 - int(book.cost[1]))
    assert winner_equity == 0
    bad = [r for r in rows if r["kind"] == ev.BAD_DEBT]
    assert len(bad) == 1 and bad[0]["amount"] == int(book.collateral[0]) < 0
    assert book.size[0] == 0


# --- (c) short-winner score -------------------------------------------------------------------------------------


def test_bitmex_queue_ranks_short_winners_by_their_own_entry_value():
    """Bankrupt long; SA short 0.1 @150,000 wallet 0, SB short 1 @100,000 wallet 1,000; mark 97,000.
    SA: uPnL 5,300, |entry value| 15,000 -> PnL% 0.35333; leverage 9,700 / 5,300 = 1.8302 -> 0.6467.
    SB: uPnL 3,000, |entry value| 100,000 -> PnL% 0.03; leverage 97,000 / 4,000 = 24.25 -> 0.7275.
    BitMEX's rule takes SB first; the rulebook's score and the engine's queue agree."""
    mark = 970_000
    book = Book.from_arrays(
        wallet=[0, 0, money("1000"), LP_WALLET],
        exempt=[False, False, False, True],
        account=[0, 1, 2, 3],
        size=[1_000, -100, -1_000, 100],
        cost=[10**11, -100 * 1_500_000 * 100, -(10**11), 100 * 1_500_000 * 100],
        collateral=[money("2000"), 0, 0, 0],
        isolated=[True, False, False, False],
    )
    excluded = np.zeros(4, dtype=bool)
    excluded[0] = True
    marks = np.array([mark, 0])
    queue = AdlQueue(book, 0, mark, 100, lambda: equities(book, marks), excluded, "queue-bitmex",
                     (TIERS.floors, TIERS.mmr_ppm, TIERS.cum))  # fmt: skip
    queue.extend(1)
    assert queue.queue[1, : queue.length[1]].tolist() == [2, 1]  # SB, then SA
    inputs = AdlInputs.of(
        upnl=[money("5300"), money("3000")],
        cost=[money("15000"), money("100000")],
        notional=[money("9700"), money("97000")],
        equity=[money("5300"), money("4000")],
    )
    venue = score_bitmex(inputs)
    assert venue[0] == pytest.approx(0.35333 * 1.83019, rel=1e-4) and venue[1] == pytest.approx(0.7275)
    assert venue[1] > venue[0]


# --- (d) isolated winner -------------------------------------------------------------------------------------


def test_adl_isolated_winner_closed_flat_gets_its_margin_back():
    """Winner: isolated short 1 @99,000 with 500 margin; mark 97,000: equity 500 + 2,000 = 2,500, enough for all
    1,000 lots at 98,000 (1 USDT each). Closed flat at 98,000: realized (99,000 - 98,000) x 1 = +1,000, margin
    1,500, which goes back to its wallet (0 -> 1,500); nothing stays on the empty position."""
    book = adl_book(winner_isolated=True, winner_entry=990_000, winner_wallet="0", winner_margin="500")
    rows = liquidate_on(book, 0, [0], np.array([970_000, 0]), np.zeros(1, dtype=np.int64), 1.0)
    assert [r["size"] for r in rows if r["kind"] == ev.ADL_COUNTERPARTY_FILL] == [1_000]
    assert book.size[1] == 0 and book.collateral[1] == 0 and book.wallet[1] == money("1500")


# --- (e) exact totals ----------------------------------------------------------------------------------------


def test_total_money_is_exact_beyond_int64():
    """Two accounts of 9e12 USDT each: 1.8e19 money units, beyond int64 (9.22e18): the sum is exact."""
    book = Book.from_arrays(wallet=[9 * 10**18, 9 * 10**18], account=[0, 1], size=[0, 0], cost=[0, 0])
    assert book.total_money(0) == 18 * 10**18


def test_a_book_that_can_overflow_int64_is_rejected_naming_the_field_and_limit():
    book = Book.from_arrays(wallet=[9 * 10**18, 0], account=[0, 1], size=[0, 0], cost=[0, 0])
    with pytest.raises(InputError) as err:
        check_int64_headroom(book, [100], [1_000_000], source="book.csv")
    assert err.value.file == "book.csv" and "2**62" in str(err.value)
    # 2e10 lots (2e7 BTC) @100,000: cost 2e12 USDT, worth 4e12 at 200,000: 6e12 USDT > 2**62 units (4.6e12 USDT)
    big = Book.from_arrays(wallet=[0], account=[0], size=[2 * 10**10], cost=[2 * 10**10 * 1_000_000 * 100])
    with pytest.raises(InputError) as err:
        check_int64_headroom(big, [100], [2_000_000], source="book.generator", field="notional_median")
    assert err.value.field == "notional_median"
    check_int64_headroom(portfolio_book(), VPL, [2_000_000, 800_000])  # an ordinary book passes


def test_generator_with_huge_notional_median_is_rejected_at_load():
    """The issue's example: ``notional_median = 1e8`` (100M USDT per position) over 100,000 accounts holds
    about 2.7e13 USDT of wallets (2.7e19 money units, beyond int64): rejected when the run is prepared."""
    from delever.engine import prepare
    from delever.scenario import default_scenario_path, load_scenario

    scenario = load_scenario(default_scenario_path())
    gen = scenario.book.generator.model_copy(update={"notional_median": Decimal("1e8")})
    scenario = scenario.model_copy(update={"book": scenario.book.model_copy(update={"generator": gen})})
    with pytest.raises(InputError) as err:
        prepare(scenario, 1)
    assert err.value.file == "book.generator" and err.value.field == "notional_median"
    assert "2**62" in str(err.value)


# --- the venue rulebooks compute the same account bankruptcy price -----------------------------------------


def test_rulebooks_back_a_portfolio_position_as_the_engine_does():
    """The two-position account through the venue rulebooks: Binance (whole account) gives the engine's
    98,000.0; dYdX v4 (Large-Cap tier, MMR 3%: BTC 2,955 at 98,500, ETH 1,170 at 3,900) gives
    ``98,500 - 500 x 2,955 / 4,125 = 98,141.818...`` (``-DNNV - TNC x |DMMR| / TMMR``)."""
    from delever.venues import get_venue

    binance = get_venue("binance")
    lots = binance.contract("BTCUSDT").size_to_lots("1")
    bp = binance.account_bankruptcy_price_exact("BTCUSDT", 1, lots, "100000", "98500", money("1000"),
                                                other_upnl=money("1000"), other_mm=money("156"))  # fmt: skip
    assert bp == 98_000
    own_u, other_u, own_mm, total_mm = _account_figures(portfolio_book(), 0, MARKS)
    engine_bp = margin.account_bankruptcy_price(margin.BACKING_WHOLE_ACCOUNT, 1_000, 10**11, money("1000"), other_u,
                                                own_mm, total_mm, MARKS[0], BTC)  # fmt: skip
    assert Fraction(engine_bp, 10) == bp
    dydx = get_venue("dydx")
    c = dydx.contract("BTC-USD")
    lots = c.size_to_lots("1")
    assert c.margin.maintenance_margin(c.notional(lots, Fraction(98_500)), lots) == money("2955")
    bp = dydx.account_bankruptcy_price_exact("BTC-USD", 1, lots, "100000", "98500", money("1000"),
                                             other_upnl=money("1000"), other_mm=money("1170"))  # fmt: skip
    assert abs(bp - (Fraction(98_500) - Fraction(500 * 2_955, 4_125))) < Fraction(1, 10**6)


def test_engine_policies_and_venue_rulebooks_share_each_score():
    """One function per venue score: the engine's queue policies and the rulebooks give the same numbers on the
    same positions (the SA/SB example: BitMEX 0.6467 / 0.7275; Binance, Hyperliquid (shorts by entry / mark)
    and Bitget on the same rows)."""
    from delever.adl.policies import Winners, score_binance, score_bitget, score_hyperliquid
    from delever.adl.policies import score_bitmex as engine_bitmex
    from delever.venues.base import score_binance as venue_binance
    from delever.venues.base import score_hyperliquid as venue_hyperliquid
    from delever.venues.base import score_roi_mmr

    upnl, cost = [money("5300"), money("3000")], [money("15000"), money("100000")]
    notional, equity = [money("9700"), money("97000")], [money("5300"), money("4000")]
    wallet, mm = [0, money("1000")], [money("38.8"), money("433.5")]
    entry, mark = [150_000.0, 100_000.0], [97_000.0, 97_000.0]
    w = Winners(
        pnl=np.array(upnl),
        equity=np.array(equity),
        notional=np.array(notional),
        contracts=np.array([100, 1000]),
        leverage=np.array(notional) / np.array(equity),
        entry_price=np.array(entry),
        mark_price=np.array(mark),
        wallet=np.array(wallet),
        maintenance_margin=np.array(mm),
        side=np.array([-1, -1]),
    )
    x = AdlInputs.of(upnl=upnl, cost=cost, notional=notional, equity=equity, wallet=wallet, maintenance_margin=mm,
                     entry=entry, mark=mark, side=[-1, -1])  # fmt: skip
    assert np.allclose(engine_bitmex(w), score_bitmex(x))
    assert np.allclose(engine_bitmex(w), [0.35333 * 1.83019, 0.7275], rtol=1e-4)
    assert np.allclose(score_binance(w), venue_binance(x))
    assert np.allclose(score_hyperliquid(w), venue_hyperliquid(x))
    assert np.allclose(score_bitget(w), score_roi_mmr(x))
