"""The liquidation stage on hand-made books, every number worked out in the comments.

Instrument: tick 0.1 USDT, lot 0.001 BTC (1 lot-tick = 100 money units). The order book is linear
(:meth:`DepthCurve.linear`): ``D`` lots per 1% on each side, so selling ``k`` lots from a fresh book fills at
``centre * (1 - k / (200 * D))`` (the average of a straight walk from 0 to ``k / D`` percent).
"""

import numpy as np
import pytest

from delever import events as ev
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.events import EventBuffer
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import money

V = 100
LOTS = 1_000
ENTRY = 500_000  # 50,000.0 USDT
COST = LOTS * ENTRY * V  # 50,000 USDT
DEEP = 1_000_000.0  # lots per 1%: 1,000 BTC per 1%, so 1 BTC moves the price by 0.001%


def make_book(shorts: list[tuple[int, int, str]] = ()) -> Book:
    """Position 0: isolated long 1 BTC @50,000 with 2,500 USDT (the account to liquidate); then cross
    shorts (lots, entry ticks, wallet); last: one liquidity provider holding the opposite of the rest."""
    sizes = [LOTS] + [-s for s, _, _ in shorts]
    costs = [COST] + [-s * e * V for s, e, _ in shorts]
    lp = -sum(sizes)
    n = len(sizes) + 1
    return Book.from_arrays(
        wallet=[0] + [money(w) for _, _, w in shorts] + [money("1000000000")],
        exempt=[False] * (n - 1) + [True],
        account=list(range(n)),
        size=sizes + [lp],
        cost=costs + [lp * ENTRY * V],
        collateral=[money("2500")] + [0] * (n - 1),
        isolated=[True] + [False] * (n - 1),
    )


def equities(book: Book, mark: int) -> tuple[np.ndarray, np.ndarray]:
    upnl = book.size * mark * V - book.cost
    pos_eq = np.where(book.isolated, book.collateral + upnl, upnl)
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[~book.isolated], upnl[~book.isolated])
    return pos_eq, acc_eq


def liquidate_long(
    book: Book, centre_ticks: float, fund_usdt: str, lots_per_pct: float = DEEP, fee_rate_ppm: int = 1_000
):
    """Liquidate position 0 with the book centred at ``centre_ticks``; returns (events, fund, book state)."""
    fund = np.array([money(fund_usdt)], dtype=np.int64)
    state = np.zeros(1)
    curve = DepthCurve.linear(lots_per_pct).arrays()
    mark = int(centre_ticks)
    pos_eq, acc_eq = equities(book, mark)
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[0] = True
    tiers = BINANCE_BTCUSDT_2021
    queue = AdlQueue(book, 0, mark, V, lambda: (pos_eq, acc_eq), excluded, "queue-bitmex",
                     (tiers.floors, tiers.mmr_ppm, tiers.cum))  # fmt: skip
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account])
    order = np.array([0], dtype=np.int64)
    run_stage(order, book, V, fee_rate_ppm, float(centre_ticks), state, curve, lp, np.ones(lp.size, dtype=np.int64),
              fund, queue, buf, np.zeros(1, np.int64), 1, AccountValuation.single(mark, V))  # fmt: skip
    rows = [{k: int(v[i]) for k, v in buf.cols.items()} for i in range(buf.n)]
    return rows, int(fund[0]), state[0]


def kinds(rows):
    return [ev.KIND_NAMES[r["kind"]] for r in rows]


def test_fill_better_than_bankruptcy_pays_the_fee_to_the_fund():
    book = make_book()
    before = book.total_money(0)
    # centre 47,600.0: selling 1,000 lots fills at 47,600 x (1 - 1,000 / 2e8) = 47,599.762 -> floor 47,599.7
    rows, fund, state = liquidate_long(book, 476_000, "1000")
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "liquidation_fee"]
    fill, lp_fill, fee = rows
    assert fill["price"] == 475_997 and fill["size"] == -1_000
    # realized: (47,599.7 - 50,000) x 1 BTC = -2,400.3; margin left 2,500 - 2,400.3 = 99.7
    assert fill["amount"] == money("-2400.3")
    # fee 0.1% x 47,599.7 = 47.5997 (below the 99.7 left), to the fund
    assert fee["amount"] == -money("47.5997") and fee["counterparty"] == ev.INSURANCE_FUND
    assert fund == money("1047.5997")
    # the rest, 99.7 - 47.5997 = 52.1003, returns to the account's wallet; the isolated margin is 0
    assert book.wallet[0] == money("52.1003") and book.collateral[0] == 0 and book.size[0] == 0
    # the liquidity provider bought the 1,000 lots at the same price
    assert lp_fill["size"] == 1_000 and lp_fill["price"] == 475_997
    assert book.total_money(fund) == before + money("1000")  # the fund started with 1,000 outside the book
    assert state == pytest.approx(-1_000.0)  # the book absorbed the sell


def test_fill_worse_than_bankruptcy_is_paid_by_the_fund():
    book = make_book()
    # centre 47,400.0: fill 47,399.7; realized -2,600.3; margin 2,500 - 2,600.3 = -100.3 -> the fund pays 100.3
    rows, fund, _ = liquidate_long(book, 474_000, "1000")
    assert kinds(rows) == ["liquidation_fill", "lp_fill", "insurance_payout"]
    assert rows[2]["amount"] == money("100.3")
    assert fund == money("899.7")
    assert book.collateral[0] == 0 and book.wallet[0] == 0


def test_empty_fund_deleverages_top_ranked_short_first_then_partially_the_next():
    # shorts at mark 47,400: A = 0.4 BTC @52,000, wallet 500: uPnL 1,840, PnL% 1,840/20,800 = 8.85%,
    #   equity 2,340, effective leverage 18,960/2,340 = 8.10 -> score 0.717
    # B = 1 BTC @51,000, wallet 5,000: uPnL 3,600, PnL% 7.06%, equity 8,600, leverage 5.51 -> score 0.389
    book = make_book([(400, 520_000, "500"), (1_000, 510_000, "5000")])
    before = book.total_money(0)
    rows, fund, state = liquidate_long(book, 474_000, "0")
    # the book would fill below the bankruptcy price 47,500 and the fund is empty: all 1 BTC goes to ADL
    assert kinds(rows) == ["adl_fill", "adl_counterparty_fill", "adl_fill", "adl_counterparty_fill"]
    a_fill, a_cp, b_fill, b_cp = rows
    assert a_cp["account"] == 1 and a_cp["size"] == 400 and a_cp["price"] == 475_000
    # A realizes (52,000 - 47,500) x 0.4 = 1,800 and is closed whole
    assert a_cp["amount"] == money("1800") and book.size[1] == 0
    # B takes the remaining 0.6 BTC at 47,500: realizes (51,000 - 47,500) x 0.6 = 2,100; keeps 0.4 BTC short
    assert b_cp["account"] == 2 and b_cp["size"] == 600 and b_cp["amount"] == money("2100")
    assert book.size[2] == -400 and book.cost[2] == -400 * 510_000 * V
    # the bankrupt long closes at its bankruptcy price: (47,500 - 50,000) x 1 = -2,500 = its whole margin
    assert a_fill["amount"] + b_fill["amount"] == money("-2500")
    assert book.collateral[0] == 0 and book.wallet[0] == 0 and fund == 0
    assert state == 0.0  # nothing went through the book
    assert book.total_money(fund) == before
    assert book.open_interest(0)[0] == book.open_interest(0)[1]


def test_small_fund_covers_part_in_the_book_and_adl_takes_the_rest():
    book = make_book([(2_000, 520_000, "500")])

    # thin book: 1,000 lots (1 BTC) per 1%; centre 47,510.0. Selling k lots fills at
    # floor(47,510 x (1 - k / 200,000)) and the rest (1,000 - k) is ADL'd at 47,500; the fund (50 USDT)
    # pays k/1000 x (47,500 - fill) when positive. Largest k it can cover, by brute force on the rule:
    def shortfall(k: int) -> int:
        fill = int(np.floor(475_100 * (1 - k / 200_000)))
        return k * (475_000 - fill) * V

    expected_k = max(k for k in range(0, 1_001) if shortfall(k) <= money("50"))
    rows, fund, _ = liquidate_long(book, 475_100, "50", lots_per_pct=1_000.0)
    book_fill = next(r for r in rows if r["kind"] == ev.LIQUIDATION_FILL)
    adl = [r for r in rows if r["kind"] == ev.ADL_COUNTERPARTY_FILL]
    assert -book_fill["size"] == expected_k and 400 < expected_k < 600
    assert sum(r["size"] for r in adl) == 1_000 - expected_k
    assert all(r["price"] == 475_000 for r in adl)
    assert fund == money("50") - max(shortfall(expected_k), 0)
