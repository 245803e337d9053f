"""Inverse (coin-settled) option series beside an inverse perpetual (issue #16; :mod:`delever.options.engine_market`,
:mod:`delever.inverse`): premium, margin and payoff in the coin, the run's money µcoin.

Hand-worked numbers: Deribit's inverse-option settlement example (strike 100,000, delivery 125,000 -> 25,000 USD
per BTC, 0.2 BTC; https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options), the standard margin
of a short call in coin (Deribit's formula, :mod:`delever.options.standard_margin`) at the engine's money scale,
Deribit's DeltaTotal example (a 0.50-delta call bought for 0.10 BTC adds 0.40). Invariants over a run of the
packaged inverse option scenario: money conserved at every step, open interest balanced per series, deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from delever import events as ev
from delever.config.market import InstrumentConfig
from delever.contagion import prepare_multi
from delever.engine import run
from delever.errors import InputError
from delever.instruments import Instrument
from delever.options.black76 import black76_price
from delever.options.engine_margin import base_units_per_lot
from delever.options.engine_market import option_paths, premium_unit_money, settlement_marks
from delever.options.series import OptionSeries, SeriesTable
from delever.options.standard_margin import DERIBIT_BTC_ETH, position_margin_money
from delever.output import summarize
from delever.scenario import default_scenario_path, load_scenario
from delever.settlement import option_settlement_ticks
from delever.tiers import RiskTier, RiskTiers

INVERSE_OPTIONS = default_scenario_path().parent / "deribit-btc-2025-10-10-inverse-options.toml"
LINEAR_OPTIONS = default_scenario_path().parent / "deribit-btc-2025-10-10-options.toml"
EXPIRY = "2025-10-10T21:20:00Z"
ONE_BTC = 10**12  # money units per BTC in a run of an inverse contract (1e6 µBTC x 1e6)
TIERS = RiskTiers("t", (RiskTier(0, 2**62, Decimal(1), 0, 1_000_000, 0),))
PERPETUAL = InstrumentConfig(symbol="BTC-PERPETUAL", settlement="inverse", contract_value="10", base="BTC",
                             quote="USD", tick_size="0.5", lot_size="1",
                             tiers=[{"cap": "1000000000000", "max_leverage": "50", "mmr": "0.01", "imr": "0.02"}],
                             maintenance_amount="none").build()  # fmt: skip


def _inverse_option(kind: str, strike: str) -> Instrument:
    return Instrument("O", Decimal(100), Decimal("0.1"), TIERS, kind="option", base="BTC", quote="µBTC",
                      expiry=datetime(2025, 10, 10, 21, 20, tzinfo=UTC), strike=Decimal(strike),
                      option_type=kind)  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "strike", "usd", "expected"),
    [
        # Deribit's example: strike 100,000, delivery 125,000 -> 25,000 USD per BTC = 0.2 BTC = 200,000 µBTC,
        # 2,000 ticks of 100 µBTC
        ("call", "100000", 125_000.0, 2_000),
        ("call", "130000", 125_000.0, 0),  # out of the money
        # put 130,000 at 125,000: 5,000 / 125,000 = 0.04 BTC = 40,000 µBTC -> 400 ticks
        ("put", "130000", 125_000.0, 400),
        # put 110,000 at 100,000.5 (the USD mean on the 0.5 tick): 9,999.5 / 100,000.5 = 0.0999945 BTC
        # = 99,994.5 µBTC -> 999 ticks (rounded down, against the holder)
        ("put", "110000", 100_000.5, 999),
    ],
    ids=["deribit-example-call", "call-otm", "put-itm", "put-floor"],
)
def test_coin_settled_payoff_by_hand(kind, strike, usd, expected):
    expiry = int(datetime(2025, 10, 10, 21, 20, tzinfo=UTC).timestamp()) * 1_000_000_000
    time_ns = np.array([expiry - 1_000_000_000, expiry], dtype=np.int64)
    # the underlying's path is its reciprocal, cv / P in µBTC a contract (delever.inverse)
    index = np.full(2, 10 * 1e6 / usd)
    assert option_settlement_ticks(time_ns, index, _inverse_option(kind, strike), 1_800.0, PERPETUAL) == expected


def test_short_call_margin_in_coin_at_the_engine_scale():
    # Deribit short call MM = 0.075 + mark (BTC per BTC); mark 0.005 BTC -> 0.08 BTC per BTC; one lot of 0.1 BTC
    # -> 0.008 BTC = 8,000,000,000 money units (1e-12 BTC); IM = max(0.15 - OTM / S, 0.10) + mark with OTM
    # 20,000 at S 100,000 -> 0.15 - 0.2 < 0.10 -> 0.10 + 0.005 = 0.105 BTC per BTC -> 0.0105 BTC a lot
    series = [OptionSeries("C", "call", Decimal(120_000), datetime(2025, 10, 17, 8, tzinfo=UTC),
                           settlement="inverse", lot_size=Decimal("0.1"))]  # fmt: skip
    table = SeriesTable.from_options(series, datetime(2025, 10, 10, 21, tzinfo=UTC))
    im, mm = position_margin_money(table, [0], [-1], 100_000.0, [0.005], DERIBIT_BTC_ETH, money_scale=ONE_BTC)
    assert mm.tolist() == [8_000_000_000] and im.tolist() == [10_500_000_000]


def test_units_of_inverse_series():
    cfg = load_scenario(INVERSE_OPTIONS).options
    assert premium_unit_money(cfg) == float(ONE_BTC)
    assert settlement_marks(cfg, [500]).tolist() == [0.05]  # 500 ticks of 100 µBTC = 0.05 BTC
    # an inverse perpetual's lot (1 contract of 10 USD, a reciprocal short for a USD long) at 100,000 USD:
    # -10 / 100,000 BTC of delta (Deribit's futures delta, their size in BTC)
    assert base_units_per_lot(PERPETUAL, 100_000.0) == pytest.approx(-1e-4, rel=1e-15)


def test_deribit_delta_total_example():
    # Deribit FAQ: a call of delta 0.50 bought for 0.10 BTC adds 0.40 to DeltaTotal: the engine's coin-settled
    # delta is Black-76's less the premium in coin (delever.options.engine_margin, choose)
    delta_b76, premium_coin = 0.50, 0.10
    assert delta_b76 - settlement_marks(load_scenario(INVERSE_OPTIONS).options, [1_000])[0] == pytest.approx(0.40)
    assert premium_coin == 1_000 * 100 / 1e6


def test_inverse_premiums_are_the_quote_premium_over_the_forward():
    sc = load_scenario(INVERSE_OPTIONS, {"book": {"generator": {"accounts": 50}}})
    market = prepare_multi(sc, sc.seed)
    inv = option_paths(sc.options, sc, market.base.path, market.base.instrument)
    forward = inv.forward
    assert forward[0] == pytest.approx(10 * 1e6 / market.base.path.index[0], rel=1e-15)
    strike = np.array([float(s.strike) for s in inv.series])
    usd = black76_price(forward[:, None], strike, inv.vol, inv.years, np.array([s.kind == "call" for s in inv.series]))
    assert inv.premium == pytest.approx(usd / forward[:, None] * 1e6, rel=1e-12)
    assert 100_000 < forward.min() and forward.max() < 125_000  # USD, not the reciprocal


def test_settlements_must_match():
    with pytest.raises(InputError, match="settlement must match"):
        load_scenario(INVERSE_OPTIONS, {"options": {"settlement": "linear"}})
    with pytest.raises(InputError, match="settlement must match"):
        load_scenario(LINEAR_OPTIONS, {"options": {"settlement": "inverse"}})


@pytest.fixture(scope="module")
def small_run():
    over = {
        "book": {"generator": {"accounts": 1_500}},
        "prices": {"start": "2025-10-10T21:05:00Z", "end": "2025-10-10T21:35:00Z"},
        "liquidity": {"depth_scale": 0.004},
        "insurance_fund": {"balance": "0"},
        "options": {
            "series": [
                {
                    "symbol": "BTC-10OCT25-110000-C",
                    "kind": "call",
                    "strike": "110000",
                    "expiry": "2025-10-10T21:20:00Z",
                },
                {"symbol": "BTC-10OCT25-120000-P", "kind": "put", "strike": "120000", "expiry": "2025-10-10T21:20:00Z"},
                {"symbol": "BTC-17OCT25-110000-P", "kind": "put", "strike": "110000", "expiry": "2025-10-17T08:00:00Z"},
            ]
        },
    }
    sc = load_scenario(INVERSE_OPTIONS, over)
    return sc, run(sc, sc.seed, check_every_step=True)


def test_an_inverse_option_run_conserves_money_and_open_interest(small_run):
    sc, r = small_run
    s = summarize(r)
    assert s["conservation_error"] == 0
    first = len(r.instruments) - 3
    for m in range(len(r.instruments)):
        sel = r.book.instrument == m
        assert int(r.book.size[sel].sum()) == 0, m  # open interest balanced on every instrument
    kind, inst = r.events["kind"], r.events["instrument"]
    fills = (kind == ev.LIQUIDATION_FILL) & (inst >= first)
    assert fills.any()  # option positions were liquidated
    # the two series expiring at 21:20 settled: nobody holds them any more
    for m in (first, first + 1):
        assert not r.book.size[r.book.instrument == m].any()
    assert r.instruments[first].quote == "µBTC" and r.instruments[first].base == "BTC"


def test_the_settlement_price_is_the_coin_payoff_of_the_usd_mean(small_run):
    sc, r = small_run
    first = len(r.instruments) - 3
    settle = (r.events["kind"] == ev.SETTLEMENT) & (r.events["instrument"] == first)
    assert settle.any()
    step = int(r.events["step"][settle][0])
    # the USD index over the 30 minutes before 21:20 (from 21:05: the window's steps), its mean on the 0.5 tick
    expiry = int(datetime(2025, 10, 10, 21, 20, tzinfo=UTC).timestamp()) * 1_000_000_000
    t = r.steps.time_ns[: step + 1]
    usd = 10 * 1e6 / (r.steps.index_ticks[: step + 1] * 1e-6)
    s = round(float(np.mean(usd[(t > expiry - 1_800 * 10**9) & (t <= expiry)])) / 0.5) * Decimal("0.5")
    expected = int(max(s - 110_000, 0) / s * 10**6 / 100)  # µBTC ticks of 100, rounded down
    assert int(r.events["price"][settle][0]) == expected


def test_the_inverse_option_run_is_deterministic(small_run):
    sc, r = small_run
    again = run(sc, sc.seed)
    for k in r.events:
        assert np.array_equal(r.events[k], again.events[k]), k


def test_account_types_read_the_usd_side_of_the_inverse_perpetual(small_run):
    # covered call writers are USD longs of the perpetual (reciprocal shorts) writing calls, hedged put writers USD
    # shorts writing puts: 30% of each side, where naked writers are 5% of the rest (the scenario's fractions)
    sc, r = small_run
    types = r.extra["options"]["account_types"]
    covered, hedged, naked = (
        types[k]["accounts"] for k in ("covered call writer", "hedged put writer", "naked writer")
    )
    assert covered > 2 * naked and hedged > 2 * naked > 0


def test_engine_lot_margins_of_coin_settled_series_by_hand():
    # the step loop's per-lot MM (OptionMargin.lot_margins) of a call and a put at index 100,000 USD, marks 50 and
    # 1,000 ticks of 100 µBTC (0.005 and 0.1 BTC), 0.1 BTC a lot, money units of 1e-12 BTC:
    # long = mark x lot: 0.0005 BTC and 0.01 BTC; short call (0.075 + 0.005) x 0.1 = 0.008 BTC;
    # short put (max(0.075, 0.075 x 0.1) + 0.1) x 0.1 = 0.0175 BTC (Deribit's coin formulas)
    from types import SimpleNamespace

    from delever.config.options import OptionsConfig
    from delever.options.engine_margin import OptionMargin

    series = [{"symbol": "C", "kind": "call", "strike": "120000", "expiry": "2025-10-17T08:00:00Z"},
              {"symbol": "P", "kind": "put", "strike": "110000", "expiry": "2025-10-17T08:00:00Z"}]  # fmt: skip
    cfg = OptionsConfig(series=series, settlement="inverse", tick_size="100", lot_size="0.1")
    mech = OptionMargin(SimpleNamespace(options=cfg))
    mech.table = SeriesTable(kind=np.array([1, 2]), strike=np.array([120_000.0, 110_000.0]),
                             years=np.array([0.02, 0.02]), lot_size=np.array([0.1, 0.1]), inverse=True)  # fmt: skip
    mech.instruments, mech.series_all, mech.index = np.array([1, 2]), np.arange(2), np.array([100_000.0])
    mech.unit_money = 0.1 * premium_unit_money(cfg)
    sim = SimpleNamespace(marks=np.array([0, 50, 1_000]), settled=[None] * 3)
    long_mm, short_mm = mech.lot_margins(sim)
    assert long_mm.tolist() == [ONE_BTC * 5 // 10_000, ONE_BTC // 100]
    assert short_mm.tolist() == [ONE_BTC * 8 // 1_000, ONE_BTC * 175 // 10_000]
