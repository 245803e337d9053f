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

from delever import events as ev
from delever.book import Book
from delever.units import money
from test_shared_insurance_fund import tiny_run

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
