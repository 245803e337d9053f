"""``delever position --position ...``: one cross account with several positions, priced as the engine prices it
(:mod:`delever.account_prices`); each price checked against the engine itself: the margin sweep lists the account at
the liquidation price and not one tick on the safe side, and the liquidation stage deleverages the position at the
bankruptcy price.

The account is issue #11's: wallet 1,000; long 1 BTC @100,000 and short 10 ETH @4,000, marks 98,500 / 3,900: equity
1,000 - 1,500 + 1,000 = 500.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from delever import events as ev
from delever import margin
from delever.adl.queue import AdlQueue
from delever.book import Book
from delever.cli.venues import register
from delever.engine import tier_arrays
from delever.events import EventBuffer
from delever.columns import BookCols, SweepCols
from delever.liquidation import AccountValuation, run_stage
from delever.liquidity import DepthCurve
from delever.sweep import margin_sweep
from delever.units import money
from delever.venues import get_venue

app = typer.Typer()
register(app)
runner = CliRunner()

# (venue, symbols, hand-worked (liquidation, bankruptcy) prices per position)
CASES = [
    # Binance 2021 tiers. Liquidation, BTC (ETH at 3,900): equity P - 98,000 = MM 0.5% P - 50 + 156 -> P = 98,106 /
    #   0.995 = 98,598.99..., the highest tick below: 98,598.9. ETH (BTC at 98,500): 1,000 - 1,500 + 10 (4,000 - P) =
    #   442.5 + 0.4% x 10 P -> P = 39,057.5 / 10.04 = 3,890.189..., the lowest tick above: 3,890.19.
    #   Bankruptcy (whole account, WB + UPNL1): BTC backed by 1,000 + 1,000 -> 98,000.0; ETH by 1,000 - 1,500 ->
    #   4,000 - 500 / 10 = 3,950.00.
    pytest.param("binance", ("BTCUSDT", "ETHUSDT"), [("98598.9", "98000.0"), ("3890.19", "3950.00")],
                 id="binance-2pos-whole-account"),
    # dYdX v4 large-cap tiers (MMR 3%: MM 2,955 and 1,170, TMMR 4,125). Bankruptcy -DNNV - TNC x |DMMR| / TMMR:
    #   BTC 98,500 - 500 x 2,955 / 4,125 = 98,141.8 -> up (tick 1) 98,142; ETH 3,900 + 500 x 1,170 / 4,125 / 10 =
    #   3,914.18 -> down (tick 0.1) 3,914.1. Liquidation, BTC: P - 98,000 = 3% P + 1,170 -> P = 99,170 / 0.97 =
    #   102,237.1 (liquidatable already at the mark), the highest tick below: 102,237; ETH: 39,500 - 10 P = 2,955 +
    #   0.3 P -> P = 36,545 / 10.3 = 3,548.06, the lowest tick above: 3,548.1.
    pytest.param("dydx", ("BTC-USD", "ETH-USD"), [("102237", "98142"), ("3548.1", "3914.1")],
                 id="dydx-2pos-mm-share"),
]  # fmt: skip
SIZES, ENTRIES, MARKS, WALLET = ("1", "-10"), ("100000", "4000"), ("98500", "3900"), "1000"


def cli_prices(venue: str, symbols) -> dict:
    args = ["position", "--venue", venue, "--wallet", WALLET, "--json"]
    for s, q, e, m in zip(symbols, SIZES, ENTRIES, MARKS):
        args += ["--position", f"{s}:{q}@{e}:{m}"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout, parse_float=Decimal)


def engine_book(venue: str, symbols):
    """The account as the engine's columns (built here, not by the module under test): account 0, plus a rich
    counterparty (account 1) holding the opposite of each position, 100 in profit at the mark, and a liquidity
    provider (2)."""
    rb = get_venue(venue)
    insts = [rb.instrument(s) for s in symbols]
    v = [i.value_per_lot_tick for i in insts]
    lots = [i.size_to_lots(Decimal(q)) for i, q in zip(insts, SIZES)]
    entry = [i.price_to_ticks(Decimal(e)) for i, e in zip(insts, ENTRIES)]
    marks = np.array([i.price_to_ticks(Decimal(m)) for i, m in zip(insts, MARKS)], dtype=np.int64)
    book = Book.from_arrays(
        wallet=[money(WALLET), money("100000000"), money("1000000000")],
        exempt=[False, False, True],
        account=[0, 0, 1, 1, 2, 2],
        instrument=[0, 1, 0, 1, 0, 1],
        size=[*lots, *(-x for x in lots), 0, 0],
        cost=[*(q * e * vv for q, e, vv in zip(lots, entry, v)),
              *(-q * int(m) * vv - money("100") for q, m, vv in zip(lots, marks, v)), 0, 0],
    )  # fmt: skip
    return rb, insts, book, marks


def listed(book, insts, marks) -> set[int]:
    floors, mmr, cum, n_tiers = tier_arrays([i.tiers for i in insts])
    vpls = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
    n, a = book.n_positions, book.n_accounts
    out = np.zeros(n, dtype=np.int64)
    val = AccountValuation(marks, vpls, floors, mmr, cum, n_tiers)
    count = margin_sweep(BookCols.of(book), val, SweepCols.zeros(n, a), out)
    return set(out[:count].tolist())


def adl_price(rb, insts, book, marks, p: int) -> int:
    """The price at which the liquidation stage closes position ``p`` with an empty fund and a book too thin for a
    lot: wholly by ADL, at its bankruptcy price."""
    floors, mmr, cum, n_tiers = tier_arrays([i.tiers for i in insts])
    vpls = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
    m = int(book.instrument[p])
    mark, v = int(marks[m]), int(vpls[m])
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[p] = True
    size = int(book.size[p])

    def equities():
        upnl = book.size * marks[book.instrument] * vpls[book.instrument] - book.cost
        acc = book.wallet.copy()
        np.add.at(acc, book.account, upnl)
        return upnl, acc

    k = int(n_tiers[m])
    queue = AdlQueue(book, m, mark, v, equities, excluded, "queue-bitmex", (floors[m, :k], mmr[m, :k], cum[m, :k]))
    buf = EventBuffer()
    lp = np.flatnonzero(book.exempt[book.account] & (book.instrument == m))
    valuation = AccountValuation(marks.copy(), vpls, floors, mmr, cum, n_tiers, rb.cross_backing_rule)
    run_stage(np.array([p]), book, v, 0, float(mark), np.zeros(1), DepthCurve.linear(0.01).arrays(), lp,
              np.ones(lp.size, dtype=np.int64), np.zeros(1, dtype=np.int64), queue, buf, np.zeros(1, np.int64), 1,
              valuation)  # fmt: skip
    rows = buf.cols["kind"][: buf.n] == ev.ADL_FILL
    prices = set(buf.cols["price"][: buf.n][rows].tolist())
    assert len(prices) == 1 and int(buf.cols["size"][: buf.n][rows].sum()) == -size
    return prices.pop()


@pytest.mark.parametrize(("venue", "symbols", "hand"), CASES)
def test_position_cli_and_engine_give_the_same_liquidation_and_bankruptcy_prices(venue, symbols, hand):
    out = cli_prices(venue, symbols)
    got = [(p["liquidation_price"], p["bankruptcy_price"]) for p in out["positions"]]
    assert got == [(Decimal(a), Decimal(b)) for a, b in hand]
    assert out["equity"] == 500 and out["liquidatable"] is True
    for p, (liq, bp) in enumerate(got):
        rb, insts, book, marks = engine_book(venue, symbols)
        inst = insts[p]
        side = 1 if book.size[p] > 0 else -1
        at = marks.copy()
        at[p] = inst.price_to_ticks(liq)
        assert 0 in listed(book, insts, at)  # the sweep liquidates the account at the liquidation price
        at[p] += side  # one tick on the safe side (up for a long, down for a short)
        assert 0 not in listed(book, insts, at)
        # the venue's rulebook backs the position with the same money (delever.margin.cross_backing)
        other = 1 - p
        other_upnl = int(book.size[other] * marks[other] * insts[other].value_per_lot_tick - book.cost[other])
        other_mm = margin.maintenance_margin(int(book.size[other]), int(marks[other]), insts[other])
        exact = rb.account_bankruptcy_price_exact(symbols[p], side, abs(int(book.size[p])), Decimal(ENTRIES[p]),
                                                  Decimal(MARKS[p]), money(WALLET), other_upnl, other_mm)  # fmt: skip
        ticks = exact / Fraction(inst.tick_size)
        assert inst.price_to_ticks(bp) == (-((-ticks.numerator) // ticks.denominator) if side > 0 else int(ticks))
        # the liquidation stage closes it in ADL at that price
        assert adl_price(rb, insts, book, marks, p) == inst.price_to_ticks(bp)


def test_position_account_errors_name_the_argument():
    base = ["position", "--venue", "binance", "--wallet", "1000"]
    for extra, flag in (
        (["--position", "BTCUSDT:1@100000", "--position", "BTCUSDT:-1@90000"], "--position"),  # one per symbol
        (["--position", "BTCUSDT:1"], "--position"),  # no entry
        (["--position", "BTCUSDT:0@100000"], "--position"),
        (["--position", "BTCUSDT:0.0005@100000"], "--position"),  # finer than the 0.001 lot
        (["--position", "DOGEUSDT:1@1"], "--symbol"),
    ):
        res = runner.invoke(app, [*base, *extra])
        assert res.exit_code == 2 and f"{flag}:" in res.output, (extra, res.output)
    res = runner.invoke(app, ["position", "--venue", "binance", "--position", "BTCUSDT:1@100000"])
    assert res.exit_code == 2 and "--wallet:" in res.output


def test_position_account_table_lists_each_position():
    res = runner.invoke(app, ["position", "--venue", "binance", "--wallet", "1000", "--position",
                              "BTCUSDT:1@100000:98500", "--position", "ETHUSDT:-10@4000:3900"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "98,598.9" in res.output and "98,000.0" in res.output and "3,950.00" in res.output
