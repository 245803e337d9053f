"""Each rulebook: its liquidation price, bankruptcy price, tier lookup and ADL order on a small hand-made book,
with the arithmetic in the comments; plus the registry, the engine bridge and the generic rulebook's checks."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from delever import margin as engine_margin
from delever.errors import InputError
from delever.tiers import PICO, rate_pico
from delever.venues.margin_models import BracketMargin
from delever.venues import VENUES, get_venue
from delever.venues import deribit as deribit_mod
from delever.venues import drift as drift_mod
from delever.venues import dydx as dydx_mod
from delever.venues import generic as generic_mod
from delever.venues import hyperliquid as hl_mod
from delever.venues.base import INVERSE_MONEY_SCALE as SAT
from delever.venues.base import LINEAR_MONEY_SCALE as USD
from delever.venues.base import AdlInputs, pro_rata


def lp(rb, sym, side, size, entry, collateral, mode="isolated"):
    """Liquidation price as a Decimal quote price (size in base units or contracts)."""
    c = rb.contract(sym)
    t = rb.liquidation_price(sym, side, c.size_to_lots(size), entry, collateral, mode)
    return None if t is None else t * c.tick_size


def bp(rb, sym, side, size, entry, collateral, mode="isolated"):
    c = rb.contract(sym)
    t = rb.bankruptcy_price(sym, side, c.size_to_lots(size), entry, collateral, mode)
    return None if t is None else t * c.tick_size


def tier(rb, sym, notional_quote, size):
    c = rb.contract(sym)
    lots = c.size_to_lots(size)
    return c.margin.band(int(Decimal(notional_quote) * c.money_scale), lots).index


# A small book of one side (longs), money in units; numbers chosen so each key orders them differently.
#   A: uPnL 10, cost 100, notional 110, equity 22, wallet 12, MM 5    -> BitMEX 10% x 5 = 0.5
#   B: uPnL 20, cost 100, notional 120, equity 60, wallet 40, MM 5    -> BitMEX 20% x 2 = 0.4
#   C: uPnL -10, cost 100, notional 90, equity 18, wallet 28, MM 5    -> BitMEX -10% / 5 = -0.02
#   D: uPnL 5, cost 100, notional 105, equity 0, wallet -5, MM 5      -> equity 0: last (-inf)
BOOK = AdlInputs.of(
    upnl=[10, 20, -10, 5],
    cost=[100, 100, 100, 100],
    notional=[110, 120, 90, 105],
    equity=[22, 60, 18, 0],
    wallet=[12, 40, 28, -5],
    maintenance_margin=[5, 5, 5, 5],
    mark=[110, 120, 90, 105],
    entry=[100, 100, 100, 100],
    side=[1, 1, 1, 1],
    money_scale=1,
)


# --- registry and engine bridge -------------------------------------------------------------------------------


def test_registry_lists_every_issue_venue():
    assert list(VENUES) == [
        "binance",
        "bitmex",
        "bybit",
        "okx",
        "hyperliquid",
        "dydx",
        "drift",
        "deribit",
        "kraken",
        "bitget",
        "generic",
    ]
    assert get_venue(" BYBIT ") is VENUES["bybit"]


def test_unknown_venue_and_symbol_name_the_field():
    with pytest.raises(InputError) as e:
        get_venue("ftx")
    assert e.value.field == "venue" and "binance" in e.value.message
    with pytest.raises(InputError) as e:
        get_venue("binance").contract("DOGEUSDT")
    assert e.value.field == "symbol" and "BTCUSDT" in e.value.message


@pytest.mark.parametrize("name", list(VENUES))
def test_every_rulebook_cites_sources_and_lists_stand_ins(name):
    rb = VENUES[name]
    assert rb.sources and rb.stand_ins
    d = rb.describe()
    assert d["contracts"] and d["adl"]["trigger"] and d["liquidation"]["style"]
    assert len(rb.instruments) >= 2 or name == "generic"


def test_engine_instrument_bridge():
    inst = get_venue("binance").instrument("btcusdt")
    assert inst.symbol == "BTCUSDT" and inst.value_per_lot_tick == 100
    with pytest.raises(InputError):
        get_venue("bitmex").instrument("XBTUSD")  # inverse with step risk limits


@pytest.mark.parametrize(
    "side, entry, margin",
    [
        (1, "50000", "2500"),
        (-1, "50000", "2500"),
        (1, "30000", "500000"),
        (-1, "41000", "90000"),
        (1, "50000.3", "1234.5"),
    ],
)
def test_binance_agrees_with_the_engine_reference(btcusdt, side, entry, margin):
    # The rulebook's solver (Fractions, tiers tried in turn) and delever.margin (the engine's reference, ints)
    # agree on 1 BTC: in tier 1, across into tier 2 (the short), with no LP at all (the 1/60x long).
    lots = 1000
    ticks = int(Fraction(entry) * 10)
    cost = side * lots * ticks * btcusdt.value_per_lot_tick
    coll = int(Fraction(margin) * USD)
    rb = get_venue("binance")
    assert rb.liquidation_price("BTCUSDT", side, lots, entry, coll) == engine_margin.liquidation_price(
        side * lots, cost, coll, btcusdt
    )
    assert rb.bankruptcy_price("BTCUSDT", side, lots, entry, coll) == engine_margin.bankruptcy_price(
        side * lots, cost, coll, btcusdt
    )


# --- Binance ----------------------------------------------------------------------------------------------------


def test_binance_prices():
    rb = get_venue("binance")
    # 1 BTC at 50,000 with 2,500 USDT: BP 50,000 - 2,500 = 47,500; LP (tier 1, MMR 0.4%) = 47,500 / 0.996 = 47,690.76
    # rounded up (towards the mark) to 47,690.8
    assert bp(rb, "BTCUSDT", 1, "1", "50000", 2500 * USD) == Decimal("47500.0")
    assert lp(rb, "BTCUSDT", 1, "1", "50000", 2500 * USD) == Decimal("47690.8")
    # cross with the same wallet: one position, same price (WB - TMM1 + UPNL1 = WB)
    assert lp(rb, "BTCUSDT", 1, "1", "50000", 2500 * USD, "cross") == Decimal("47690.8")


def test_binance_tier_lookup():
    rb = get_venue("binance")
    assert tier(rb, "BTCUSDT", "49999.9", "1") == 0
    assert tier(rb, "BTCUSDT", "50000", "1") == 1  # floors are inclusive
    # MM at 1,000,000 = 1M x 2.5% - 16,300 = 8,700
    assert rb.maintenance_margin("BTCUSDT", 20_000, "50000") == 8_700 * USD


def test_binance_adl_order_and_quantile():
    rb = get_venue("binance")
    # LeveragePnl = max(0,uPnL)/max(1,WB) x MM/(WB+uPnL) (money_scale 1 here, so max(1, WB) = WB):
    # A 10/12 x 5/22 = 0.189; B 20/40 x 5/60 = 0.0417; C 0 (loss); D: WB+uPnL = 0 -> ratio 0 -> 0
    s = rb.adl_score(BOOK)
    assert s[0] == pytest.approx(10 / 12 * 5 / 22) and s[2] == 0 and s[3] == 0
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]
    # quantile: ranks ascending, ties sharing the highest: C, D 2; B 3; A 4 -> ceil(5 r / 4) - 1:
    # A ceil(5) - 1 = 4; B ceil(3.75) - 1 = 3; C, D score 0 -> 0
    assert rb.adl_indicator(s, np.ones(4)).tolist() == [4, 3, 0, 0]


# --- BitMEX -----------------------------------------------------------------------------------------------------


def test_bitmex_inverse_prices():
    rb = get_venue("bitmex")
    # 10,000 XBTUSD long at 50,000, 10x: entry value 0.2 XBT; margin = 0.2 x (1/10 + 2 x 0.075%) = 0.0203 XBT
    r = rb.position("XBTUSD", "long", "10000", "50000", leverage="10")
    assert r.collateral == 2_030_000
    # LP = EP / (1 + IM - MM) with IM 10.15%, MM 0.5% + 0.075% -> 50,000 / 1.09575 = 45,630.85 -> up to 45,631.0
    assert r.price(r.liquidation_price) == Decimal("45631")
    # BP = Qty / (C + Qty/EP) = 10,000 / 0.2203 = 45,392.65 -> up to 45,393.0
    assert r.price(r.bankruptcy_price) == Decimal("45393")
    # short: LP = EP / (1 - IM + MM) = 50,000 / 0.90425 = 55,294.44 -> down to 55,294.0
    s = rb.position("XBTUSD", "short", "10000", "50000", leverage="10")
    assert s.price(s.liquidation_price) == Decimal("55294")


def test_bitmex_tier_lookup_and_step_liquidation():
    rb = get_venue("bitmex")
    c = rb.contract("XBTUSD")
    assert c.margin.band(200 * SAT, 0).index == 0 and c.margin.band(200 * SAT + 1, 0).index == 1
    # 400 XBT at 50,000 = 20,000,000 contracts (200,000 lots): 2 steps (350 < 400 <= 500). One tier per step:
    # keep the largest size at step 1 (<= 350 XBT = 17,500,000 contracts): close 2,500,000 contracts (25,000 lots)
    assert rb.liquidation_order_lots("XBTUSD", 200_000, "50000") == 25_000
    assert rb.liquidation_order_lots("XBTUSD", 1_000, "50000") == 1_000  # lowest tier: all of it


def test_bitmex_adl_order():
    rb = get_venue("bitmex")
    # scores A 0.5, B 0.4, C -0.02, D -inf -> A, B, C, D
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]
    assert rb.adl_fill_price(bankruptcy=100, mark=90) == 100


# --- Bybit ------------------------------------------------------------------------------------------------------


def test_bybit_prices_isolated_entry_basis_and_cross_mark_basis():
    rb = get_venue("bybit")
    # 2 BTC long at 30,000, 3,000 USDT (20x): MM at entry = 60,000 x 0.5% = 300
    # isolated LP = 30,000 - (3,000 - 300) / 2 = 28,650; BP = 30,000 - 3,000/2 = 28,500
    assert lp(rb, "BTCUSDT", 1, "2", "30000", 3000 * USD) == Decimal("28650")
    assert bp(rb, "BTCUSDT", 1, "2", "30000", 3000 * USD) == Decimal("28500")
    # cross (stand-in: exact trigger at the mark): (60,000 - 3,000) / (2 x 0.995) = 28,643.22 -> up to 28,643.3
    assert lp(rb, "BTCUSDT", 1, "2", "30000", 3000 * USD, "cross") == Decimal("28643.3")


def test_bybit_inverse_cross_includes_the_closing_fee():
    rb = get_venue("bybit")
    # 10,000 BTCUSD long at 50,000 with 0.05 BTC cross: BP = 1.00075 x 10,000 / (0.2 + 0.05) = 40,030 exactly
    assert bp(rb, "BTCUSD", 1, "10000", "50000", 5_000_000, "cross") == Decimal("40030")
    # LP: Q/LP = 0.2 + 0.05 - 0.001 (MM at entry) - 10,000 x 0.00075 / 40,030 (fee at BP) = 0.24881264
    # -> 10,000 / 0.24881264 = 40,190.88 -> up to the 0.5 tick: 40,191.0
    exact = rb.liquidation_price_exact("BTCUSD", 1, 10_000, "50000", 5_000_000, "cross")
    den = Fraction(2, 10) + Fraction(5, 100) - Fraction(1, 1000) - Fraction(10_000) * Fraction(75, 100_000) / 40_030
    assert exact == Fraction(10_000) / den
    assert lp(rb, "BTCUSD", 1, "10000", "50000", 5_000_000, "cross") == Decimal("40191")


@pytest.mark.parametrize(
    "side, taker_fee, margin_mode, expected",
    [
        # short: (1 - 0.00075) x 10,000 / (0.2 - 0.05) = 66,616.67 -> down to the 0.5 tick (against the short)
        pytest.param(
            -1, Fraction(75, 100_000), "cross", Fraction(9_992_5, 10) / Fraction(15, 100), id="short-cross-fee"
        ),
        # no fee: Bybit's inverse cross formula is the base one, 10,000 / (0.2 + 0.05) = 40,000, as isolated
        pytest.param(1, Fraction(0), "cross", Fraction(40_000), id="long-cross-no-fee"),
        pytest.param(1, Fraction(75, 100_000), "isolated", Fraction(40_000), id="long-isolated-base-rule"),
        pytest.param(-1, Fraction(0), "cross", Fraction(10_000) / Fraction(15, 100), id="short-cross-no-fee"),
    ],
)
def test_bybit_inverse_bankruptcy_is_the_base_formula_times_the_fee(side, taker_fee, margin_mode, expected):
    import dataclasses

    rb = get_venue("bybit")
    rb = dataclasses.replace(rb, fees=dataclasses.replace(rb.fees, taker_fee=taker_fee))
    assert rb.bankruptcy_price_exact("BTCUSD", side, 10_000, "50000", 5_000_000, margin_mode) == expected


def test_bybit_tier_lookup():
    rb = get_venue("bybit")
    assert tier(rb, "BTCUSDT", "2599999.9", "1") == 1
    assert tier(rb, "BTCUSDT", "2600000", "1") == 2
    # MM at 2,600,000 = 2.6M x 0.63% - 3,020 = 13,360
    assert rb.maintenance_margin("BTCUSDT", 52_000, "50000") == 13_360 * USD


def test_bybit_adl_order_and_rank_indicator():
    rb = get_venue("bybit")
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]  # BitMEX key (stand-in)
    # adlRankIndicator (stand-in): in profit A (qty 10), B (qty 30) -> A holds 25% of 40 -> ceil(1.25)=2 -> 4;
    # B cumulative 100% -> 1; C (loss), D (-inf) -> 0
    s = rb.adl_score(BOOK)
    assert rb.adl_indicator(s, np.array([10, 30, 20, 5])).tolist() == [4, 1, 0, 0]


# --- OKX --------------------------------------------------------------------------------------------------------


def test_okx_prices_include_the_fee_rate():
    rb = get_venue("okx")
    # 100 contracts (1 BTC) long at 50,000 with 2,500: tier 1 MMR 1% + taker 0.05% = 1.05%
    # LP = 47,500 / 0.9895 = 48,004.04 -> up to 48,004.1; BP = 47,500
    assert lp(rb, "BTC-USDT-SWAP", 1, "1", "50000", 2500 * USD) == Decimal("48004.1")
    assert bp(rb, "BTC-USDT-SWAP", 1, "1", "50000", 2500 * USD) == Decimal("47500")


def test_okx_tier_lookup_by_contracts():
    rb = get_venue("okx")
    assert tier(rb, "BTC-USDT-SWAP", "0", "20") == 0  # 2,000 contracts: tier 1 (<=)
    assert tier(rb, "BTC-USDT-SWAP", "0", "20.01") == 1  # 2,001 contracts: tier 2
    assert tier(rb, "BTC-USDT-SWAP", "0", "150") == 2  # 15,000 contracts: tier 3
    # tier 2 (<= 10,000): two tiers per step would go below tier 1: tiers 1-2 are closed in full
    assert rb.liquidation_order_lots("BTC-USDT-SWAP", 5_000, "50000") == 5_000


def test_okx_adl_order_and_mark_fill():
    rb = get_venue("okx")
    # ROI x MM / equity (profit), ROI x equity / MM (loss):
    # A 0.1 x 5/22 = 0.0227; B 0.2 x 5/60 = 0.0167; C -0.1 x 18/5 = -0.36; D equity 0 -> -inf
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]
    assert rb.adl_fill_price(bankruptcy=100, mark=105) == 105


# --- Hyperliquid ------------------------------------------------------------------------------------------------


def test_hyperliquid_prices_match_the_documented_formula():
    rb = get_venue("hyperliquid")
    # 1 BTC long at 100,000, 10,000 USDC: MMR 1.25%; LP = 90,000 / 0.9875 = 91,139.24 -> up to 91,140 (tick 1)
    assert lp(rb, "BTC", 1, "1", "100000", 10_000 * USD) == Decimal("91140")
    assert bp(rb, "BTC", 1, "1", "100000", 10_000 * USD) == Decimal("90000")
    # documented: price - side x margin_available / size / (1 - l x side), margin_available = 10,000 - 1,250
    doc = hl_mod.documented_liquidation_price(Fraction(100_000), 1, Fraction(8_750), Fraction(1), Fraction(1, 80))
    assert rb.liquidation_price_exact("BTC", 1, 100_000, "100000", 10_000 * USD) == doc
    doc_s = hl_mod.documented_liquidation_price(Fraction(100_000), -1, Fraction(8_750), Fraction(1), Fraction(1, 80))
    assert rb.liquidation_price_exact("BTC", -1, 100_000, "100000", 10_000 * USD) == doc_s


def test_hyperliquid_tier_lookup_and_backstop():
    rb = get_venue("hyperliquid")
    assert tier(rb, "BTC", "149999999", "1") == 0
    assert tier(rb, "BTC", "150000000", "1") == 1
    # MM at 150M = 150M x 2.5% - 1,875,000 = 1,875,000 (continuous with 150M x 1.25%)
    c = rb.contract("BTC")
    assert c.margin.maintenance_margin(150_000_000 * USD, 1) == 1_875_000 * USD
    # ETH tier 2 deduction: 100M x (3.3334% - 2%) = 1,333,400
    assert rb.contract("ETH").margin.tiers.tiers[1].maintenance_amount == 1_333_400 * USD
    # backstop below 2/3 of MM: 66 < 66.67 yes, 67 no
    assert hl_mod.backstop_triggered(66, 100) and not hl_mod.backstop_triggered(67, 100)


def test_hyperliquid_adl_order():
    rb = get_venue("hyperliquid")
    # in profit only: (mark/entry) x (notional/equity): A 1.1 x 5 = 5.5; B 1.2 x 2 = 2.4; C loss, D equity 0 -> -inf
    # short E (stand-in entry/mark): entry 120, mark 100, notional 1000, equity 500 -> 1.2 x 2 = 2.4
    x = AdlInputs.of(
        upnl=[10, 20, -10, 5, 200],
        cost=[100, 100, 100, 100, 1200],
        notional=[110, 120, 90, 105, 1000],
        equity=[22, 60, 18, 0, 500],
        mark=[110, 120, 90, 105, 100],
        entry=[100, 100, 100, 100, 120],
        side=[1, 1, 1, 1, -1],
    )
    s = rb.adl_score(x)
    assert s[0] == pytest.approx(5.5) and s[1] == pytest.approx(2.4) and s[4] == pytest.approx(2.4)
    assert rb.adl_order(x).tolist() == [0, 1, 4, 2, 3]  # tie B/E by index
    assert rb.adl_fill_price(bankruptcy=100, mark=90, previous_mark=93) == 93


# --- dYdX -------------------------------------------------------------------------------------------------------


def test_dydx_prices_and_fillable_price():
    rb = get_venue("dydx")
    # 1 BTC long at 50,000 with 2,500 (20x): MMR 3%; LP = 47,500 / 0.97 = 48,969.07 -> up to 48,970; BP 47,500
    assert lp(rb, "BTC-USD", 1, "1", "50000", 2500 * USD) == Decimal("48970")
    assert bp(rb, "BTC-USD", 1, "1", "50000", 2500 * USD) == Decimal("47500")
    # fillable: oracle 50,000, MM 1,500, TNC 750 (TNC/TMMR 0.5): ABR = 0.5; long 50,000 - 0.5 x 0.1 x 1,500 = 49,925
    f = dydx_mod.fillable_price(Fraction(50_000), Fraction(1), Fraction(750), Fraction(1500), Fraction(1500))
    assert f == 49_925
    short = dydx_mod.fillable_price(Fraction(50_000), Fraction(-1), Fraction(750), Fraction(1500), Fraction(1500))
    assert short == 50_075
    assert dydx_mod.fillable_price_ticks(Fraction("49925.5"), Fraction(1), 1) == 49_926  # a sell rounds up
    # fund: fill 1,000 better than BP with 1,000 left -> min(1,000, 0.5% x 50,000 = 250); worse -> fund pays 1,000
    assert dydx_mod.insurance_fund_delta(50_000, 49_000, 1_000) == 250
    assert dydx_mod.insurance_fund_delta(48_000, 49_000, 0) == -1_000


def test_dydx_tier_lookup():
    rb = get_venue("dydx")
    assert tier(rb, "BTC-USD", "1", "1") == 0 and tier(rb, "BTC-USD", "900000000", "1") == 0
    with pytest.raises(InputError) as e:
        rb.position("BTC-USD", "long", "1", "50000", leverage="21")
    assert e.value.field == "leverage"


def test_dydx_adl_is_a_random_offset_not_a_ranking():
    rb = get_venue("dydx")
    assert rb.adl_order(BOOK, start=2).tolist() == [2, 3, 0, 1]
    assert rb.adl_order(BOOK, start=6).tolist() == [2, 3, 0, 1]


# --- Drift ------------------------------------------------------------------------------------------------------


def test_drift_prices():
    rb = get_venue("drift")
    # 1 BTC long at 50,000 with 2,500: MMR 2.5% (stand-in); LP = 47,500 / 0.975 = 48,717.95 -> 48,718.0; BP 47,500
    assert lp(rb, "BTC-PERP", 1, "1", "50000", 2500 * USD) == Decimal("48718")
    assert bp(rb, "BTC-PERP", 1, "1", "50000", 2500 * USD) == Decimal("47500")


def test_drift_tier_lookup():
    rb = get_venue("drift")
    assert tier(rb, "BTC-PERP", "123456", "1") == 0
    assert rb.contract("BTC-PERP").margin.band(0, 1).max_leverage == 20


def test_drift_socialized_loss_instead_of_a_queue():
    rb = get_venue("drift")
    assert rb.adl_order(BOOK).tolist() == []  # no ADL queue
    # loss 1,000 over longs +3, +5 and short -2 (10 units): 100 a unit on both sides -> 300, 200, 500
    assert drift_mod.socialized_loss_per_unit(1_000, 8, -2) == 100
    assert drift_mod.socialized_charges(1_000, [3, -2, 5]) == [300, 200, 500]
    # 1,001 over three equal positions: 333.67 each -> largest remainder, ties to the lower index: 334, 334, 333
    assert drift_mod.socialized_charges(1_001, [1, -1, 1]) == [334, 334, 333]


# --- Deribit ----------------------------------------------------------------------------------------------------


def test_deribit_prices():
    rb = get_venue("deribit")
    # 1 BTC long at 100,000 with 10,000: MMR 1% + 1 x 0.005% = 1.005%; LP = 90,000 / 0.98995 = 90,913.68 -> 90,914
    assert lp(rb, "BTC_USDC-PERPETUAL", 1, "1", "100000", 10_000 * USD) == Decimal("90914")
    assert bp(rb, "BTC_USDC-PERPETUAL", 1, "1", "100000", 10_000 * USD) == Decimal("90000")


def test_deribit_size_linear_lookup():
    rb = get_venue("deribit")
    c = rb.contract("BTC_USDC-PERPETUAL")
    b = c.margin.band(0, 1000)  # 1 BTC: IMR 2.005%, max leverage 1 / 2.005% = 49.88
    assert b.imr == Fraction(2005, 100_000) and b.max_leverage == Fraction(100_000, 2005)
    with pytest.raises(InputError):
        rb.position("BTC_USDC-PERPETUAL", "long", "1", "100000", leverage="50")


def test_deribit_socialized_among_the_days_winners():
    rb = get_venue("deribit")
    assert rb.adl_order(BOOK).tolist() == []  # no ADL
    # day PnL +300, -100, +100, 0; loss 200 -> pro rata to winnings 300:100 -> 150, 0, 50, 0
    assert deribit_mod.socialize_among_winners(200, [300, -100, 100, 0]) == [150, 0, 50, 0]
    with pytest.raises(ValueError):
        deribit_mod.socialize_among_winners(500, [300, -100, 100, 0])


# --- Kraken -----------------------------------------------------------------------------------------------------


def test_kraken_prices():
    rb = get_venue("kraken")
    # PF_XBTUSD 1 BTC long at 50,000 with 2,500: MMR 1%; LP = 47,500 / 0.99 = 47,979.80 -> 47,980; BP 47,500
    assert lp(rb, "PF_XBTUSD", 1, "1", "50000", 2500 * USD) == Decimal("47980")
    assert bp(rb, "PF_XBTUSD", 1, "1", "50000", 2500 * USD) == Decimal("47500")
    # short inverse PI_XBTUSD 1,000 at 8,000 with 0.125 BTC (= the entry value, 1x): never bankrupt
    assert bp(rb, "PI_XBTUSD", -1, "1000", "8000", 12_500_000) is None


def test_kraken_tier_lookup():
    rb = get_venue("kraken")
    assert tier(rb, "PF_XBTUSD", "1000000000", "1") == 0
    rb.position("PF_XBTUSD", "long", "1", "50000", leverage="50")
    with pytest.raises(InputError):
        rb.position("PF_XBTUSD", "long", "1", "50000", leverage="51")


def test_kraken_unwind_order_stand_in():
    rb = get_venue("kraken")
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]  # BitMEX key (unwind order not published)
    assert rb.fund_delta("PF_XBTUSD", 1, 10_000, "10000", "10100") == 0  # the client keeps the remainder


# --- Bitget -----------------------------------------------------------------------------------------------------


def test_bitget_prices_without_deduction():
    rb = get_venue("bitget")
    # short 1 BTC at 50,000 with 2,500: LP notional above 50k -> tier 2 MMR 0.5%, no deduction:
    # (50,000 + 2,500) / 1.005 = 52,238.81 -> down to 52,238.8 (Binance, with cum 50: 52,288.5)
    assert lp(rb, "BTCUSDT", -1, "1", "50000", 2500 * USD) == Decimal("52238.8")
    assert bp(rb, "BTCUSDT", -1, "1", "50000", 2500 * USD) == Decimal("52500")


def test_bitget_liquidation_at_a_tier_jump():
    rb = get_venue("bitget")
    # short 1 BTC at 49,000 with 1,220: tier-1 root (50,220 / 1.004 = 50,019.9) lies in tier 2 and the tier-2 root
    # (50,220 / 1.005 = 49,970.1) in tier 1: the MM jumps from 200 to 250 at 50,000, where equity is 220 < 250
    assert lp(rb, "BTCUSDT", -1, "1", "49000", 1220 * USD) == Decimal("50000")


def test_bitget_tier_lookup_and_two_tier_steps():
    rb = get_venue("bitget")
    assert tier(rb, "BTCUSDT", "250000", "1") == 2
    # 15,000,000 USDT at 50,000 (300 BTC): tier 5 (10M-20M); two tiers down -> tier 3 (< 1M): keep 19.999 BTC
    assert rb.liquidation_order_lots("BTCUSDT", 300_000, "50000") == 300_000 - 19_999


def test_bitget_adl_order():
    rb = get_venue("bitget")
    # ROI x MM/equity (profit), ROI / (MM/equity) (loss): A 0.0227, B 0.0167, C -0.36, D -inf
    s = rb.adl_score(BOOK)
    assert s[0] == pytest.approx(0.1 * 5 / 22) and s[2] == pytest.approx(-0.1 / (5 / 18))
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]


# --- generic ----------------------------------------------------------------------------------------------------


def test_generic_is_the_engine_rule_set(btcusdt):
    rb = get_venue("generic")
    assert rb.contract("BTCUSDT").margin.tiers.cum.tolist() == btcusdt.tiers.cum.tolist()
    cost = 1000 * 500_000 * 100
    assert rb.liquidation_price("BTCUSDT", 1, 1000, "50000", 2500 * USD) == engine_margin.liquidation_price(
        1000, cost, 2500 * USD, btcusdt
    )
    assert bp(rb, "BTCUSDT", 1, "1", "50000", 2500 * USD) == Decimal("47500")
    assert tier(rb, "BTCUSDT", "50000", "1") == 1
    assert rb.adl_order(BOOK).tolist() == [0, 1, 2, 3]
    assert rb.fees.liquidation_fee == Fraction(3, 1000)


def test_generic_from_dict_other_schedules():
    d = generic_mod.example()
    d["name"] = "mine"
    d["instruments"]["XBTUSD"] = {
        "contract": "inverse",
        "base": "XBT",
        "quote": "USD",
        "settle": "XBT",
        "tick_size": "0.5",
        "lot_size": "1",
        "contract_size": "1",
        "source": "test",
        "margin": {
            "kind": "steps",
            "base_limit": "200",
            "step": "150",
            "base_mmr": "0.005",
            "base_imr": "0.01",
            "step_rate": "0.005",
            "max_steps": 10,
        },
    }
    d["instruments"]["BTC-SWAP"] = {
        "contract": "linear",
        "base": "BTC",
        "quote": "USDT",
        "settle": "USDT",
        "tick_size": "0.1",
        "lot_size": "0.01",
        "contract_size": "0.01",
        "source": "test",
        "margin": {"kind": "size_brackets", "tiers": [[2000, 75, "0.01", "0.013"]]},
    }
    d["instruments"]["BTC-LIN"] = {
        "contract": "linear",
        "base": "BTC",
        "quote": "USDC",
        "settle": "USDC",
        "tick_size": "1",
        "lot_size": "0.001",
        "contract_size": "0.001",
        "source": "test",
        "margin": {"kind": "size_linear", "im_base": "0.02", "mm_base": "0.01", "slope": "0.00005"},
    }
    rb = generic_mod.from_dict(d)
    assert rb.contract("XBTUSD").margin.band(230 * SAT, 1).mmr == Fraction(1, 100)  # TV-24 shape
    assert tier(rb, "BTC-SWAP", "0", "20") == 0
    assert rb.initial_margin("BTC-LIN", 25_000, "100000") == 53_125 * USD  # TV-25 shape


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("funding"), ""),
        (lambda d: d["adl"].update(ranking="astrology"), "adl.ranking"),
        (lambda d: d["instruments"]["BTCUSDT"]["margin"].update(kind="magic"), "instruments.BTCUSDT.margin.kind"),
        (lambda d: d["liquidation"].update(extra=1), "liquidation"),
        (lambda d: d["fees"].update(liquidation_fee="lots"), "fees.liquidation_fee"),
    ],
)
def test_generic_from_dict_rejects_missing_unknown_and_bad_keys(mutate, field):
    d = generic_mod.example()
    mutate(d)
    with pytest.raises(InputError) as e:
        generic_mod.from_dict(d)
    assert (e.value.field or "") == (field or "venue")


def test_pro_rata_is_exact():
    assert sum(pro_rata(10**12 + 7, [3, 5, 11, 0])) == 10**12 + 7
    assert pro_rata(0, [1, 2]) == [0, 0] and pro_rata(5, [0, 0]) == [0, 0]


# --- ADL triggers and funding, per rulebook -------------------------------------------------------------------


def test_okx_and_bitget_fund_drawdown_trigger():
    # OKX: "a straight-line decrease of 30% from the peak value of the risk reserve within 8 hours"; the [3P]
    # example (https://ukcamo.com/4352.html): 8h value 400K -> threshold 280K
    for name in ("okx", "bitget"):
        t = get_venue(name).adl.trigger
        assert t.fund_drawdown_triggered(280_000, 400_000)
        assert not t.fund_drawdown_triggered(280_001, 400_000)
    assert get_venue("okx").adl.trigger.window_hours == 8


@pytest.mark.parametrize(
    "name, symbol, premium, rate",
    [
        ("binance", "BTCUSDT", "0", "0.0001"),  # F = P + clamp(I - P, +-0.05%) = I
        ("binance", "BTCUSDT", "0.002", "0.0015"),  # 0.2% + clamp(-0.19%) = 0.15%
        ("okx", "BTC-USDT-SWAP", "0.01", "0.00375"),  # BTC cap 0.375%
        ("okx", "ETH-USDT-SWAP", "0.01", "0.0075"),  # majors cap 0.75%
        ("okx", "BTC-USDT-SWAP", "-0.001", "-0.001"),  # interest 0, inside the cap
        ("hyperliquid", "BTC", "1", "0.32"),  # 4% an hour = 32% per 8 h
        ("deribit", "BTC_USDC-PERPETUAL", "-0.0002", "0"),  # inside the 0.025% dead band
        ("dydx", "BTC-USD", "0.0003", "0.0003"),  # stand-in: the premium
    ],
)
def test_funding_rates(name, symbol, premium, rate):
    rb = get_venue(name)
    assert rb.funding_for(symbol).rate(Fraction(premium)) == Fraction(rate)


def test_bybit_time_weighted_premium():
    from delever.venues import bybit as bybit_mod

    # avgP = sum P_i i / sum i: (0.1% x 1 + 0.2% x 2 + 0.3% x 3) / 6 = 1.4% / 6
    assert bybit_mod.time_weighted_premium(["0.001", "0.002", "0.003"]) == Fraction(14, 6000)


# --- what the engine can run --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VENUES))
def test_scenario_overrides_validate_and_gaps_are_stated(name):
    from delever.adl.policies import POLICIES
    from delever.scenario import default_scenario_path, load_scenario

    rb = VENUES[name]
    sc = load_scenario(default_scenario_path(), rb.scenario_overrides())
    policy = rb.engine_adl_policy()
    assert policy is None or policy in POLICIES
    c = rb.contract(rb.engine_symbol())
    if "tiers" in rb.scenario_overrides().get("instrument", {}) and isinstance(c.margin, BracketMargin):
        # the scenario's tiers are exactly the rulebook's
        assert sc.instrument.build().tiers.tiers == rb.instrument(rb.engine_symbol()).tiers.tiers
    elif "tiers" in rb.scenario_overrides().get("instrument", {}) and c.contract == "inverse":
        # BitMEX's steps on the position value in XBT: an inverse contract runs in µXBT (delever.inverse), its
        # notional tiers keyed by the value (Q XBT = Q x 1e12 money units)
        from delever.venues.scenario import apply_venue

        price = Fraction(20_000)
        t = apply_venue(load_scenario(default_scenario_path()), name, price).instrument.build().tiers
        for q in ("0.5", "20", "200", "200.005", "230", "350", "500"):
            qd = Decimal(q)
            vlots = int(qd * 20_000 / (c.lot_size * c.contract_size))
            band = c.margin.band(c.notional(vlots, price), vlots)
            tier = t.tier_for(t.key(0, int(qd * 10**12)))
            assert Fraction(tier.mmr_ppm, 10**6) == band.mmr, (name, q)
            assert tier.maintenance_amount == band.cum == 0
    elif "tiers" in rb.scenario_overrides().get("instrument", {}):
        # size brackets, a size-linear rate: the scenario's rate at each size is the venue's
        # (delever.venues.tier_overrides)
        t, price = sc.instrument.build().tiers, Fraction(20_000)
        for q in ("0.5", "20", "20.01", "150", "200", "230", "500"):
            qd = Decimal(q)
            lots = int(qd / Decimal("0.001"))
            vlots = int(qd / c.lot_size)
            band = c.margin.band(c.notional(vlots, price), vlots)
            tier = t.tier_for(t.key(lots, lots * 200_000 * 100))
            assert Fraction(rate_pico(tier.mmr_ppm, lots, t.rate_per_lot), PICO) == band.mmr, (name, q)
            assert tier.maintenance_amount == band.cum == 0
    else:
        assert any(g.startswith("tiers") for g in rb.engine_gaps())
    if policy is None:
        assert any("no engine policy" in g for g in rb.engine_gaps())


def test_scenario_overrides_of_hyperliquid():
    o = get_venue("hyperliquid").scenario_overrides()
    assert o["mechanisms"]["partial_liquidation"] == {
        "enabled": True,
        "mode": "slice",
        "slice_fraction": "0.2",
        "slice_min_notional": "100000",
        "cooldown_s": 30.0,
    }
    assert o["mechanisms"]["backstop"] == {"enabled": True, "equity_ratio": "0.666667"}
    assert o["fees"]["liquidation_fee_rate"] == "0"


def test_no_venue_lists_a_rule_the_engine_cannot_run():
    """Issue #15 item 4: ``delever venues NAME`` lists no "not expressible" rule, stand-ins for what a venue does not
    publish aside (:meth:`~delever.venues.bridge.EngineBridge.engine_stand_ins`, printed under "stand-ins"); BitMEX's
    inverse XBTUSD runs as an inverse contract (:mod:`delever.inverse`), its stand-in the conversion of a USDT book."""
    from delever.venues import VENUES, get_venue

    gaps = {name: get_venue(name).engine_gaps() for name in VENUES}
    assert {name: g for name, g in gaps.items() if g} == {}
    assert get_venue("bitmex").engine_stand_ins()[0].startswith("A USDT-margined scenario under the inverse XBTUSD")
    for name in ("kraken", "bitget", "bybit", "bitmex"):
        assert get_venue(name).engine_stand_ins(), name
        assert set(get_venue(name).engine_stand_ins()) <= set(get_venue(name).describe()["stand_ins"]), name
