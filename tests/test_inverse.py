"""Inverse (coin-margined) contracts run as the linear contract on the reciprocal price (:mod:`delever.inverse`).

Hand-worked numbers from ../shared/specs/venues.md: TV-28 (BitMEX XBTUSD PnL and funding), TV-17 (Kraken inverse
bankruptcy price), TV-19 (Bybit inverse isolated liquidation price); the conversion of a USDT book (PnL in USD kept
at every price); a whole run of the packaged BitMEX XBTUSD scenario (money conserved, open interest balanced,
deterministic, prices reported in USD); and `delever run --venue bitmex` running the inverse contract.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from delever.book import Book
from delever.cli import app
from delever.config.market import InstrumentConfig
from delever.depth_profile import DepthProfile
from delever.engine import prepare, run
from delever.errors import InputError
from delever.instruments import Instrument
from delever.inverse import coin_amounts, coin_book, reciprocal_profile, to_coin_units, usd_premium
from delever.mechanisms.funding import pay_funding
from delever.operations import AccountState, PositionState, bankruptcy_price, final_settlement
from delever.output import summarize
from delever.scenario import Scenario, default_scenario_path, load_scenario
from delever.tiers import RiskTiers
from delever.venues import get_venue
from delever.venues.scenario import apply_venue
from delever.venues.tier_overrides import scenario_tiers

from delever.columns import BookCols, EventCols
from delever.events import FUNDING, EventBuffer
from delever.tiers import tier_arrays
from delever.trigger_price import trigger_price

SCENARIO = default_scenario_path().parent / "bitmex-xbtusd-2025-10-10.toml"
ONE_XBT = 10**12  # money units per XBT: 1e6 µXBT x 1e6 units per µXBT


def xbtusd(lot: str = "1", mmr: str = "0.005", imr: str = "0.01") -> Instrument:
    """An inverse XBTUSD of 1 USD a contract, one tier (cap 1,000 XBT)."""
    row = {"cap": "1000000000", "max_leverage": str(int(1 / Decimal(imr))), "mmr": mmr, "imr": imr}
    return InstrumentConfig(symbol="XBTUSD", settlement="inverse", base="XBT", quote="USD", tick_size="0.5",
                            lot_size=lot, tiers=[row], maintenance_amount="none").build()  # fmt: skip


def test_the_instrument_is_the_reciprocal_form():
    x = xbtusd()
    assert x.inverse and x.quote == "µXBT" and x.price_quote == "USD" and x.coin == "XBT"
    assert x.value_per_lot_tick == 1  # 1 contract x 1e-6 µXBT x 1e6 units per µXBT
    # 800 USD: q = 1 USD / 800 = 1,250 µXBT = 1,250,000,000 ticks; and back
    assert x.venue_price_to_ticks(Decimal(800), "floor") == 1_250_000_000
    assert x.venue_price(1_250_000_000) == Decimal("800.00000000")
    assert x.display_prices(np.array([1_250_000_000, 0])).tolist() == [800.0, 0.0]
    assert x.display_sizes(np.array([-15_000])).tolist() == [15_000.0]  # a reciprocal short is a USD long


def test_tv28_bitmex_pnl_in_xbt():
    # TV-28: long 15,000 XBTUSD @750, closed @800 -> PnL = 15,000 x (1/750 - 1/800) = 1.25 XBT exactly
    x = xbtusd()
    long = AccountState(0, [PositionState.of(x, "15000", "750", mark="800")], name="long")
    short = AccountState(100 * ONE_XBT, [PositionState.of(x, "-15000", "750", mark="800")], name="short")
    # entry value 15,000 / 750 = 20 XBT, the long's reciprocal cost is -20 XBT
    assert long.positions[0].size == -15_000 and long.positions[0].cost == -20 * ONE_XBT
    r = final_settlement([long, short], "XBTUSD", x.venue_price_to_ticks(Decimal(800), "floor"))
    assert r.realized_pnl == (ONE_XBT * 5 // 4, -ONE_XBT * 5 // 4)
    assert r.accounts[0].wallet == ONE_XBT * 5 // 4  # 1.25 XBT
    assert r.accounts[1].wallet == 100 * ONE_XBT - ONE_XBT * 5 // 4


def test_tv28_bitmex_funding_on_the_mark_value():
    # TV-28: entry value 20 XBT, F = 0.25% -> funding 0.05 XBT paid by the long. At a mark of 800 USD
    # (q = 1,250 µXBT, exact) the mark value is 15,000 / 800 = 18.75 XBT -> 0.046875 XBT; at 750 it would be
    # 20 XBT -> 0.05 XBT, checked on the mark of 1/750 rounded to the tick (1,333,333,333 ticks).
    x = xbtusd()
    for mark_usd, paid in ((800, ONE_XBT * 46_875 // 1_000_000), (750, None)):
        mark = x.venue_price_to_ticks(Decimal(mark_usd), "floor")
        book = Book.from_arrays(wallet=[10 * ONE_XBT, 10 * ONE_XBT], account=[0, 1], size=[-15_000, 15_000],
                                cost=[-15_000 * mark, 15_000 * mark])  # fmt: skip
        buf = EventBuffer()
        buf.ensure(8)
        # the venue's F > 0 (USD longs pay) is -0.25% on the reciprocal sides (delever.mechanisms.funding)
        rest = pay_funding(-2_500_000, mark, x.value_per_lot_tick, 0, BookCols.of(book), EventCols.of(buf))
        long_paid = 10 * ONE_XBT - int(book.wallet[0])
        expected = paid if paid is not None else -((-15_000 * mark * 2_500_000) // 10**9)
        assert long_paid == expected
        if paid is None:  # 0.05 XBT less the tick's rounding of 1/750: within 1e-9 XBT
            assert abs(long_paid - ONE_XBT // 20) < 1_000
        received = int(book.wallet[1]) - 10 * ONE_XBT  # the short receives it rounded down, the rest to the fund
        assert long_paid - received == rest and 0 <= rest <= 1


def test_the_usd_premium_from_reciprocal_prices():
    # mark 101 USD, index 100 USD: premium +1%; on the reciprocal prices 1/101 and 1/100
    assert usd_premium(1 / 101, 1 / 100) == pytest.approx(0.01, rel=1e-12)


def test_tv17_kraken_inverse_bankruptcy_price():
    # TV-17: long 1,000 contracts @8,000 with 0.01 BTC of margin -> BP = 1 / (1/8000 + 0.01/1000) = 7,407.41
    x = xbtusd()
    acct = AccountState(0, [PositionState.of(x, "1000", "8000", isolated_margin="10000")])  # 10,000 µXBT
    bp = bankruptcy_price(acct, "XBTUSD")
    # q_BP = 1,000,000/8,000 + 10,000 / 1,000 = 135 µXBT a contract, exactly
    assert bp.ticks == 135_000_000 and bp.exact == 135_000_000
    assert bp.price == Decimal("7407.40740741")


def test_tv19_bybit_inverse_liquidation_price_on_the_entry_value():
    # TV-19: long 60,000 USD @50,000, 10x, MMR 0.5% -> PV 1.2 BTC, IM 0.12, MM 0.006 (on PV at entry);
    # LP = 60,000 / (1.2 + 0.12 - 0.006) = 45,662.10. The engine's trigger with MM on the entry value: the
    # reciprocal short (cost -1.2 XBT, margin 0.12 XBT) has equity = MM at q = (1.2 + 0.114) / 60,000 XBT =
    # 21.9 µXBT = 21,900,000 ticks, and is liquidatable from the next tick up (equity < MM).
    x = xbtusd()
    floors, mmr, cum, n_tiers = tier_arrays([x.tiers])
    pos = PositionState.of(x, "60000", "50000", isolated_margin="120000")  # IM 0.12 XBT = 120,000 µXBT
    assert pos.cost == -60_000 * 20_000_000  # q_E = 1e6 / 50,000 = 20 µXBT a contract
    trigger = trigger_price(pos.size, pos.cost, pos.isolated_margin, x.value_per_lot_tick, 0, floors, mmr, cum,
                            int(n_tiers[0]), 0, 0, True)  # fmt: skip
    assert trigger == 21_900_001
    assert x.venue_price(trigger - 1) == Decimal("45662.10045662")


def test_the_engine_bp_equals_bitmex_published_formula():
    # BitMEX's inverse isolated BP from the rulebook's own formula (delever.venues.solver: s K / (C + s K / E)) and
    # the engine's reciprocal BP are the same exact price (the engine's rounding: within one engine tick)
    bitmex = get_venue("bitmex")
    x = xbtusd()
    for entry, lev in ((50_000, 10), (100_000, 25), (800, 2)):
        margin_xbt = Fraction(1000, entry) / lev  # 1,000 contracts at 1/lev
        units = margin_xbt * ONE_XBT  # money units (1e-12 XBT); whole for these entries
        assert units.denominator == 1
        acct = AccountState(
            0, [PositionState.of(x, "1000", str(entry), isolated_margin=str(Decimal(int(units)) / 10**6))]
        )
        bp = bankruptcy_price(acct, "XBTUSD")
        published = bitmex.bankruptcy_price_exact("XBTUSD", 1, 10, entry, margin_xbt * 10**8)  # 10 lots of 100
        assert published == 1 / (Fraction(1, entry) + margin_xbt / 1000)
        q_exact = Fraction(10**12) / published  # engine ticks (1e-12 XBT a contract) of the published price
        assert bp.exact == q_exact
        assert bp.ticks == q_exact.numerator // q_exact.denominator  # a reciprocal short's BP rounds down
        assert abs(Fraction(bp.price) - published) < Fraction(1, 10**4)


@settings(max_examples=60, deadline=None)
@given(
    size_lots=st.integers(1, 10**6).map(lambda n: n * (1 if n % 2 else -1)),
    entry=st.integers(20_000_00, 200_000_00),  # 20,000.0 .. 200,000.0 in 0.1 ticks
    price=st.integers(10_000, 400_000),
)
def test_a_converted_position_keeps_its_usd_pnl(size_lots, entry, price):
    # a linear position of s BTC entered at E becomes N = s E contracts: its PnL in XBT at P, times P, is the
    # linear PnL s (P - E) in USD, up to the rounding of N to whole contracts and of its cost (against the account)
    linear = InstrumentConfig().build()
    x = xbtusd()
    book = Book.from_arrays(wallet=[0, 0], account=[0, 1], size=[size_lots, -size_lots],
                            cost=[size_lots * entry * linear.value_per_lot_tick, -size_lots * entry * 100],
                            exempt=[False, True])  # fmt: skip
    coin = coin_book(book, linear, x, Fraction(100_000), x.venue_price_to_ticks(Decimal(100_000), "floor"))
    s_btc = Fraction(size_lots, 1000)
    e_usd = Fraction(entry, 10)
    n = int(coin.size[0])
    assert n == -round(s_btc * e_usd) or abs(n) == 1
    q = Fraction(10**6, price)  # µXBT a contract at P USD (exact here, not rounded to a tick)
    pnl_xbt = (n * q * 10**6 - int(coin.cost[0])) / ONE_XBT
    linear_usd = s_btc * (price - e_usd)
    # N off by at most half a contract, each worth cv (1/E - 1/P) XBT, P/E - 1 USD; the cost rounded up by < 1 unit
    assert abs(pnl_xbt * price - linear_usd) <= Fraction(1, 2) * abs(price / e_usd - 1) + Fraction(price, ONE_XBT)
    assert int(coin.size.sum()) == 0  # the liquidity provider holds the opposite


def test_amounts_convert_at_the_first_price():
    # 1,000,000 USDT at 100,000 USD/XBT = 10 XBT = 10,000,000 µXBT; 2,500.5 USDT -> 25,005 µXBT rounded down
    assert to_coin_units(1_000_000 * 10**6, Fraction(100_000)) == 10 * ONE_XBT
    assert to_coin_units(2_500_500_000, Fraction(100_000)) == 25_005_000_000
    assert to_coin_units(1, Fraction(3)) == 333_333  # 1e-6 USDT / 3 = 333,333.3 units, rounded down
    ioc = {"order": "fillable-price-ioc", "max_insurance_lost_per_step": "100000000"}
    sc = load_scenario(default_scenario_path(), {"liquidation": ioc})
    data = coin_amounts(sc.model_dump(exclude={"base_dir"}), Scenario, Fraction(100_000))
    assert data["insurance_fund"]["balance"] == Decimal(10_000_000)
    assert data["liquidation"]["max_insurance_lost_per_step"] == Decimal(1_000_000_000)  # 1,000 XBT
    assert data["book"]["generator"]["notional_median"] == Decimal(50_000)
    assert data["fees"]["liquidation_fee_rate"] == sc.fees.liquidation_fee_rate  # a rate is not money


def test_the_reciprocal_book_mirrors_the_usd_book():
    # USD bids of 1 BTC within 1% and 3 BTC within 2% of 100,000: the reciprocal ask side at distance d holds the
    # USD bids within d / (1 + d): at 1% that is 0.990099% -> 0.990099 BTC x 100,000 = 99,009.9 contracts
    d = np.array([0.01, 0.02])
    prof = DepthProfile(d, np.array([1.0, 3.0]), np.array([2.0, 4.0]), d * 0, d * 0, "", "", 1, "test")
    r = reciprocal_profile(prof, 100_000.0, Decimal(1))
    assert r.ask_base[0] == pytest.approx(100_000 * (0.01 / 1.01) / 0.01, rel=1e-12)
    # 2% -> 1.9608% within the second band: 1 + 2 x (0.019608 - 0.01) / 0.01 BTC
    assert r.ask_base[1] == pytest.approx(100_000 * (1 + 2 * (0.02 / 1.02 - 0.01) / 0.01), rel=1e-12)
    # the bid side: USD asks within d / (1 - d); past the last band, its density (2 BTC per 1%)
    assert r.bid_base[1] == pytest.approx(100_000 * (4 + 2 * (0.02 / 0.98 - 0.02) / 0.01), rel=1e-12)


@pytest.fixture(scope="module")
def small():
    """The packaged BitMEX XBTUSD scenario with 600 accounts over 15 minutes of the crash, a thin book and
    funding every 5 minutes, so that it liquidates, pays bad debt, deleverages and funds."""
    over = {
        "book": {"generator": {"accounts": 600}},
        "liquidity": {"depth_scale": 0.0005},
        "insurance_fund": {"balance": "20000"},
        "prices": {"start": "2025-10-10T21:08:00Z", "end": "2025-10-10T21:23:00Z"},
        "mechanisms": {"funding": {"enabled": True, "interval_s": 300.0, "interest_rate": "0.0001", "clamp": "0.0005"}},
    }
    return load_scenario(SCENARIO, over)


@pytest.fixture(scope="module")
def small_run(small):
    return run(small, small.seed, check_every_step=True)


def test_the_packaged_inverse_run_conserves_money_and_open_interest(small_run):
    s = summarize(small_run)
    assert s["conservation_error"] == 0 and s["open_interest_balanced"]
    assert s["liquidations"] > 0 and s["adl_events"] > 0 and s["bad_debt"] > 0
    # funding: the venue's rate (USD terms), USD longs (reciprocal shorts) pay when it is > 0
    rates = small_run.extra["funding"]["rates_ppb"]
    assert len(rates) >= 2
    e = small_run.events
    times = np.unique(e["step"][e["kind"] == FUNDING])
    assert len(times) == len(rates)
    for step, rate in zip(times, rates, strict=True):
        start = small_run.book_start
        trader = ~start.exempt[start.account[e["position"]]]  # a trader's position never changes side
        sel = (e["kind"] == FUNDING) & (e["step"] == step) & trader
        paid = e["amount"][sel] < 0
        usd_long = start.size[e["position"][sel]] < 0  # a reciprocal short
        assert sel.any() and (paid == (usd_long == (rate > 0))).all()
    # prices are USD: the index of 21:08-21:23 lies between 100,000 and 125,000
    assert 100_000 < s["min_index_price"] < 125_000 and 90_000 < float(s["min_mark_price"]) < 125_000


def test_the_inverse_run_is_deterministic(small, small_run):
    again = run(small, small.seed)
    for k in small_run.events:
        assert np.array_equal(small_run.events[k], again.events[k])


def test_the_tiers_are_bitmex_risk_limits():
    sc = load_scenario(SCENARIO)
    venue_rows = scenario_tiers(get_venue("bitmex").contract("XBTUSD"))["tiers"]
    mine = [{k: str(v) for k, v in r.model_dump().items() if v is not None} for r in sc.instrument.tiers]
    assert mine == [{k: v for k, v in r.items()} for r in venue_rows[: len(mine)]]


def test_the_run_files_show_usd_prices_and_contracts(small, tmp_path):
    out = tmp_path / "inv"
    args = ["--set", "book.generator.accounts=300", "--set", "prices.end=2025-10-10T21:20:00Z"]
    res = CliRunner().invoke(app, ["run", str(SCENARIO), "--out", str(out), "-q", *args])
    assert res.exit_code == 0, res.output
    steps = pq.read_table(out / "steps.parquet").to_pydict()
    assert 100_000 < min(steps["index_price"]) and max(steps["index_price"]) < 125_000
    events = pq.read_table(out / "events.parquet").to_pydict()
    fills = [i for i, k in enumerate(events["kind"]) if k == "liquidation_fill"]
    assert fills
    for i in fills:
        # the decimal columns are the venue's: USD prices and signed contracts (the opposite of the reciprocal lots)
        assert 50_000 < events["price"][i] < 150_000
        assert (events["size"][i] > 0) == (events["size_lots"][i] < 0)
        usd = Decimal(10**12) / events["price_ticks"][i]  # cv / q, q = ticks x 1e-12 XBT
        assert abs(events["price"][i] - usd) <= Decimal("0.000000005")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conservation_error"] == 0
    html = (out / "report.html").read_text()
    assert "USD per XBT" in html and "µXBT" in html and "Conservation error (1e-12 XBT)" in html


def test_inverse_inputs_that_do_not_run_are_refused(tmp_path):
    with pytest.raises(InputError, match="named table"):
        load_scenario(SCENARIO, {"instrument": {"tiers": "binance-btcusdt-2021"}})
    with pytest.raises(InputError, match="perpetual"):
        load_scenario(SCENARIO, {"instrument": {"kind": "dated_future", "expiry": "2025-12-26T08:00:00Z"}})


def test_an_inverse_book_file_in_contracts_usd_and_microcoin(tmp_path):
    # a USD long of 15,000 XBTUSD @750 with 20 XBT of cross wallet, a USD short of 15,000 @800 with 1 XBT isolated
    book = tmp_path / "book.csv"
    book.write_text(
        "account,size,entry_price,margin_mode,collateral\na,15000,750,cross,20000000\nb,-15000,800,isolated,1000000\n"
    )
    sc = load_scenario(SCENARIO, {"book": {"generator": None, "file": str(book)},
                                  "prices": {"end": "2025-10-10T21:15:00Z"}})  # fmt: skip
    market = prepare(sc, 0)
    b = market.book
    # lots of 100 contracts, the opposite sign; cost = lots x q_E x V: 15,000 / 750 = 20 XBT, 15,000 / 800 = 18.75
    assert b.size[:2].tolist() == [-150, 150]
    assert b.cost[:2].tolist() == [-20 * ONE_XBT, ONE_XBT * 1875 // 100]
    assert b.wallet[0] == 20 * ONE_XBT and b.collateral[1] == ONE_XBT and b.isolated[1]
    assert int(b.size.sum()) == 0  # the liquidity providers close it
    r = run(sc, 0, market=market, check_every_step=True)
    assert summarize(r)["conservation_error"] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("account,size,entry_price,margin_mode,collateral\na,150,750,cross,1000\n")
    with pytest.raises(InputError, match="not a multiple of 100") as err:
        prepare(load_scenario(SCENARIO, {"book": {"generator": None, "file": str(bad)}}), 0)
    assert err.value.row == 2 and err.value.field == "size"  # 150 contracts: not a whole lot of 100


def test_bitmex_runs_its_inverse_contract():
    rb = get_venue("bitmex")
    assert rb.engine_gaps() == []
    assert any("inverse XBTUSD" in s for s in rb.engine_stand_ins())
    sc = apply_venue(load_scenario(default_scenario_path()), "bitmex", Fraction(100_000))
    inst = sc.instrument.build()
    assert inst.inverse and inst.symbol == "XBTUSD" and inst.quote == "µXBT"
    # 1,000,000 USDT of fund at 100,000 -> 10 XBT; the first risk limit 200 XBT of position value
    assert sc.insurance_fund.balance == Decimal(10_000_000)
    assert inst.tiers.tiers[0].cap == 200 * ONE_XBT + 1


def test_no_venue_lists_a_gap():
    from delever.venues import VENUES

    assert {name: rb.engine_gaps() for name, rb in VENUES.items() if rb.engine_gaps()} == {}


def test_risk_tiers_stay_linear_types():
    assert isinstance(xbtusd().tiers, RiskTiers)
