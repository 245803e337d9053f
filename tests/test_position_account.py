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
from delever.liquidation import AccountValuation
from delever.liquidation_stage import run_stage
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


# An account with an isolated position (Binance 2021 tiers, wallet 1,000): the cross long 1 BTC @100,000 (mark
# 98,500) is the account's only cross position; the short 10 ETH @4,000 (mark 3,900) is isolated with margin 800.
#   ETH (its own margin only): bankruptcy 800 + 10 (4,000 - P) = 0 -> P = 4,080.00 (exact); liquidation
#     800 + 10 (4,000 - P) = 0.4% x 10 P -> P = 40,800 / 10.04 = 4,063.745..., the lowest tick above: 4,063.75
#     (there: equity 162.5 < MM 162.55; at 4,063.74: 162.6 >= 162.5496).
#   BTC (wallet only: the isolated ETH's uPnL does not back it): bankruptcy 100,000 - 1,000 = 99,000.0;
#     liquidation P - 99,000 = 0.5% P - 50 -> P = 98,950 / 0.995 = 99,447.236..., the highest tick below: 99,447.2.
#   Were ETH cross, BTC's bankruptcy price would be 98,000.0 (the whole-account case above).
ISOLATED_HAND = [("99447.2", "99000.0"), ("4063.75", "4080.00")]
ISOLATED_MARGIN = (None, "800")


def isolated_book():
    rb, insts, book, marks = engine_book("binance", ("BTCUSDT", "ETHUSDT"))
    iso = np.zeros(book.n_positions, dtype=bool)
    iso[1] = True
    collateral = np.zeros(book.n_positions, dtype=np.int64)
    collateral[1] = money(ISOLATED_MARGIN[1])
    book = Book.from_arrays(wallet=book.wallet, exempt=book.exempt, account=book.account, instrument=book.instrument,
                            size=book.size, cost=book.cost, collateral=collateral, isolated=iso)  # fmt: skip
    return rb, insts, book, marks


def test_position_cli_prices_an_isolated_position_as_the_engine():
    args = ["position", "--venue", "binance", "--wallet", WALLET, "--json"]
    for s, q, e, m, iso in zip(("BTCUSDT", "ETHUSDT"), SIZES, ENTRIES, MARKS, ISOLATED_MARGIN):
        args += ["--position", f"{s}:{q}@{e}:{m}" + ("" if iso is None else f":isolated={iso}")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout, parse_float=Decimal)
    got = [(p["liquidation_price"], p["bankruptcy_price"]) for p in out["positions"]]
    assert got == [(Decimal(a), Decimal(b)) for a, b in ISOLATED_HAND]
    assert [p["margin_mode"] for p in out["positions"]] == ["cross", "isolated"]
    assert [p["liquidatable"] for p in out["positions"]] == [True, False]
    # equity: cross 1,000 - 1,500, isolated 800 + 1,000; MM 0.5% x 98,500 - 50 + 0.4% x 39,000 = 442.5 + 156
    assert out["equity"] == 1300 and out["maintenance_margin"] == Decimal("598.5") and out["liquidatable"] is True
    for p, (liq, bp) in enumerate(got):
        rb, insts, book, marks = isolated_book()
        inst = insts[p]
        side = 1 if book.size[p] > 0 else -1
        at = marks.copy()
        at[p] = inst.price_to_ticks(liq)
        assert 0 in {int(book.account[q]) for q in listed(book, insts, at) if book.instrument[q] == p}
        at[p] += side  # one tick on the safe side
        assert p not in listed(book, insts, at)
        assert adl_price(rb, insts, book, marks, p) == inst.price_to_ticks(bp)


@pytest.mark.parametrize(
    ("arg", "words"),
    [
        pytest.param("ETHUSDT:1@4000:isolated=-5", "isolated margin", id="negative-margin"),
        pytest.param("ETHUSDT:1@4000:3900:1:isolated=5", "expected", id="extra-field"),
        pytest.param("ETHUSDT:1@4000:isolated=0.0000001", "finer than the money unit", id="margin-finer-than-unit"),
    ],
)
def test_isolated_position_errors_name_the_argument(arg, words):
    res = runner.invoke(app, ["position", "--venue", "binance", "--position", arg])
    assert res.exit_code == 2 and "--position:" in res.output and words in res.output, res.output


def test_an_all_isolated_account_needs_no_wallet():
    res = runner.invoke(app, ["position", "--venue", "binance", "--json", "--position",
                              "ETHUSDT:-10@4000:3900:isolated=800"])  # fmt: skip
    assert res.exit_code == 0, res.output
    (p,) = json.loads(res.stdout, parse_float=Decimal)["positions"]
    assert (p["liquidation_price"], p["bankruptcy_price"]) == (Decimal("4063.75"), Decimal("4080.00"))
