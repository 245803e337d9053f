"""Book files with several positions per account (issue #11): one row per position, an ``instrument`` column,
the account's cross wallet given on each of its cross rows (they must agree); today's files read as before."""

from decimal import Decimal

import numpy as np
import pytest

from delever.bookio import load_book
from delever.errors import InputError
from delever.instruments import Instrument
from delever.tiers import BINANCE_BTCUSDT_2021 as TIERS
from delever.units import money

BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), TIERS)  # V 100
ETH = Instrument("ETHUSDT", Decimal("0.01"), Decimal("0.001"), TIERS, base="ETH")  # V 10
STARTS = [1_000_000, 400_000]  # 100,000.0 and 4,000.00 in ticks
HEADER = "account,instrument,size,entry_price,margin_mode,collateral\n"


def write(tmp_path, text: str):
    f = tmp_path / "book.csv"
    f.write_text(text)
    return f


def test_a_portfolio_book_gives_one_account_with_positions_on_each_instrument(tmp_path):
    f = write(tmp_path, HEADER + "alice,BTCUSDT,1,100000,cross,1000\nalice,ETHUSDT,-10,4000,cross,1000\n"
              "bob,ETHUSDT,2,4000,isolated,800\n")  # fmt: skip
    book, labels = load_book(f, [BTC, ETH], STARTS, 2, Decimal(10**9))
    assert labels == ["alice", "bob", "lp-0", "lp-1"]
    assert book.account[:3].tolist() == [0, 0, 1] and book.instrument[:3].tolist() == [0, 1, 1]
    assert book.size[:3].tolist() == [1_000, -10_000, 2_000]
    # alice's cross wallet once (1,000), bob's isolated margin on its position, bob's wallet 0
    assert book.wallet[:2].tolist() == [money("1000"), 0] and book.collateral[2] == money("800")
    # costs: 1,000 lots x 1e6 ticks x 100 = 100,000 USDT; -10,000 x 400,000 x 10 = -40,000; 2,000 x 400,000 x 10
    assert book.cost[:3].tolist() == [money("100000"), money("-40000"), money("8000")]
    # the liquidity providers close the book on each instrument: BTC net +1,000 lots, ETH net -8,000
    for m, net in ((0, 1_000), (1, -8_000)):
        lp = (book.instrument == m) & book.exempt[book.account]
        assert int(book.size[lp].sum()) == -net
        assert book.open_interest(m)[0] == book.open_interest(m)[1]


@pytest.mark.parametrize(
    ("rows", "row", "field", "words"),
    [
        pytest.param("a,BTCUSDT,1,100000,cross,1000\na,ETHUSDT,1,4000,cross,900\n", 3, "collateral", "row 2",
                     id="cross-rows-disagree-on-the-wallet"),
        pytest.param("a,BTCUSDT,1,100000,cross,1000\na,BTCUSDT,1,100000,cross,1000\n", 3, "instrument",
                     "already holds", id="second-position-on-one-instrument"),
        pytest.param("a,SOLUSDT,1,200,cross,1000\n", 2, "instrument", "unknown instrument", id="unknown-symbol"),
    ],
)  # fmt: skip
def test_portfolio_book_errors_name_the_row_and_field(tmp_path, rows, row, field, words):
    with pytest.raises(InputError) as err:
        load_book(write(tmp_path, HEADER + rows), [BTC, ETH], STARTS, 1, Decimal(10**9))
    assert err.value.row == row and err.value.field == field and words in str(err.value)


def test_cross_and_isolated_rows_of_one_account_keep_their_own_collateral(tmp_path):
    # the isolated row's 500 is its own margin; the cross rows agree on the wallet 2,000
    f = write(tmp_path, HEADER + "a,BTCUSDT,1,100000,isolated,500\na,ETHUSDT,-1,4000,cross,2000\n")
    book, _ = load_book(f, [BTC, ETH], STARTS, 1, Decimal(10**9))
    assert book.wallet[0] == money("2000") and book.collateral[:2].tolist() == [money("500"), 0]
    assert book.isolated[:2].tolist() == [True, False]


def test_single_instrument_file_without_instrument_column_reads_as_before(tmp_path):
    f = write(tmp_path, "account,size,entry_price,margin_mode,collateral\na,1,100000,cross,1000\nb,-1,100000,cross,"
              "1000\n")  # fmt: skip
    book, labels = load_book(f, BTC, 1_000_000, 1, Decimal(10**9))
    assert labels == ["a", "b", "lp-0"] and np.all(book.instrument == 0)
    with pytest.raises(InputError) as err:
        load_book(write(tmp_path, "account,size,entry_price,margin_mode,collateral\na,1,1,cross,1\na,1,1,cross,1\n"),
                  BTC, 1_000_000, 1, Decimal(10**9))  # fmt: skip
    assert err.value.row == 3 and err.value.field == "account"


def test_a_cross_margin_scenario_runs_a_portfolio_book_file(tmp_path):
    """The packaged cross-margin scenario (BTCUSDT + ETHUSDT + SOLUSDT) with a book file of portfolios: each
    row lands on its instrument, the liquidity providers close every instrument, and the run conserves money
    at every step."""
    from delever.engine import run as run_engine
    from delever.scenario import default_scenario_path, load_scenario

    rows = []
    for k in range(40):
        side = 1 if k % 2 else -1
        rows.append(f"t{k},BTCUSDT,{side * 0.05},121000,cross,{300 + 10 * k}")
        rows.append(f"t{k},ETHUSDT,{-side * 1.5},4350,cross,{300 + 10 * k}")
        if k % 3 == 0:
            rows.append(f"t{k},SOLUSDT,{side * 20},220,isolated,400")
    f = write(tmp_path, HEADER + "\n".join(rows) + "\n")
    cross = default_scenario_path().parent / "binance-2025-10-10-cross-margin.toml"
    sc = load_scenario(cross, {"book": {"file": str(f), "generator": None},
                               "prices": {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:25:00Z"}})  # fmt: skip
    r = run_engine(sc, sc.seed, check_every_step=True)
    start = r.book_start
    assert sorted(set(start.instrument[~start.exempt[start.account]].tolist())) == [0, 1, 2]
    assert int((~start.exempt).sum()) == 40
    assert r.money_end == r.money_start
    for m in range(3):
        assert r.book.open_interest(m)[0] == r.book.open_interest(m)[1]
