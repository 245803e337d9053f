"""Conformance: every test vector of ../shared/specs/venues.md section 12 that applies to a rulebook, asserting
the published number to the venue's rounding. Each test names its vector and source URL.

Not applicable to a rulebook (and why): TV-07 is Ethereal's (not a venue here); TV-27 is a historical Bybit
table change (old 2% / 2.5% -> new 1% / 1.75% at 4,000,000) that matches neither the 20-tier table in venues.md
nor any current rulebook. TV-10 and TV-11 are Gate's and BTCMEX's fund flows: they are applied to the
rulebooks that send a better fill's surplus to the fund (Binance, BitMEX), as the same rule. Ids absent from
section 12 (TV-02, 09, 12, 16, 18, 20, 21, 26, 30) have no vector.
"""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from delever.tiers import BINANCE_BTCUSDT_2021
from delever.venues import get_venue
from delever.venues import bitmex as bitmex_mod
from delever.venues import bybit as bybit_mod
from delever.venues import deribit as deribit_mod
from delever.venues import kraken as kraken_mod
from delever.venues.base import INVERSE_MONEY_SCALE as SAT
from delever.venues.base import LINEAR_MONEY_SCALE as USD
from delever.venues.base import AdlInputs, StepMargin

BINANCE, BITMEX, BYBIT, OKX = (get_venue(n) for n in ("binance", "bitmex", "bybit", "okx"))
HYPERLIQUID, DERIBIT, KRAKEN, BITGET = (get_venue(n) for n in ("hyperliquid", "deribit", "kraken", "bitget"))


def price(rb, symbol, ticks):
    return ticks * rb.contract(symbol).tick_size


# --- ADL queue / ranking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rb", [BITMEX, BITGET], ids=["bitmex", "bitget"])
def test_tv01_bitmex_lights(rb):
    """TV-01 [DOC] https://www.bitmex.com/app/autoDeleveragingExamples: longs (account, qty, score)
    (1,10,3),(2,10,6),(3,20,1),(4,30,4),(5,20,5),(6,10,2); sorted 2,5,4,1,6,3 with percentiles
    20%,40%,60%,80%,80%,100% -> 5,4,3,2,2,1 lights. Bitget's 'lights' use the same 20% steps (stand-in)."""
    qty = np.array([10, 10, 20, 30, 20, 10])
    score = np.array([3.0, 6.0, 1.0, 4.0, 5.0, 2.0])
    lights = dict(zip(range(1, 7), rb.adl_indicator(score, qty).tolist()))
    assert [lights[a] for a in (2, 5, 4, 1, 6, 3)] == [5, 4, 3, 2, 2, 1]


def test_tv03_binance_leverage_pnl():
    """TV-03 [3P] https://dev.binance.vision/t/how-to-caculating-leverage-pnl-quantile/17801: UPnL 40.2, WB 4.27,
    margin ratio 13.42% -> PnlPercent 40.2 / 4.27 = 9.41, LeveragePnl 9.41 x 0.1342 = 1.26."""
    mm = 0.1342 * (4.27 + 40.2)  # the margin ratio MM / (WB + uPnL) is 13.42%
    x = AdlInputs.of(upnl=[40.2 * USD], wallet=[4.27 * USD], maintenance_margin=[mm * USD])
    score = BINANCE.adl_score(x)[0]
    assert round(40.2 / 4.27, 2) == 9.41
    assert round(score, 2) == 1.26


def test_tv04_bybit_pnl_drawdown_trigger_and_amount():
    """TV-04 [DOC] https://bybit-exchange.github.io/docs/v5/market/adl-alert, example 1: pool 8h start balance
    1,000,000; A loses 350,000 -> pnlRatio -0.35 < -0.30 with balance 1M above the threshold -> ADL; ADL closes
    50,000 so A's ratio returns to -0.30; ADL stops once the ratio is above -0.25."""
    t = BYBIT.adl.trigger
    ratio = t.pnl_ratio(-350_000, 0, 1_000_000)
    assert ratio == Fraction(-35, 100)
    assert t.pnl_drawdown_triggered(ratio, 1_000_000)
    assert t.pnl_to_reach(ratio, t.pnl_ratio_start, 1_000_000) == 50_000
    after = t.pnl_ratio(-300_000, 0, 1_000_000)
    assert after == Fraction(-3, 10) and not t.pnl_drawdown_stopped(after)
    assert not t.pnl_drawdown_stopped(Fraction(-1, 4))  # stop needs > -0.25
    assert t.pnl_drawdown_stopped(t.pnl_ratio(-249_999, 0, 1_000_000))


def test_tv05_bybit_drawdown_from_8h_max():
    """TV-05 [DOC] example 2 (same URL): start 1M; A's PnL +1M via liquidation -> pool 8h max balance 2M; A then
    loses 600,000 -> pnlRatio = (400k - 1M) / 2M = -0.30 <= -0.30 -> ADL (the example triggers at equality)."""
    t = BYBIT.adl.trigger
    ratio = t.pnl_ratio(400_000, 1_000_000, 2_000_000)
    assert ratio == Fraction(-3, 10)
    assert t.pnl_drawdown_triggered(ratio, 1_400_000)


def test_tv06_bybit_pool_equity_adl():
    """TV-06 [DOC] example 3 (same URL): pool A-D, balance 1M -> 0 with no symbol at -30% -> equity ADL
    (balance <= 0); stop when the balance is > 0."""
    t = BYBIT.adl.trigger
    assert not t.pnl_drawdown_triggered(Fraction(-2, 10), 0)  # no symbol at -30%, balance not above threshold
    assert t.equity_adl_triggered(0)
    assert not t.equity_adl_triggered(1)


def test_tv08_bybit_inverse_bankruptcy_and_liquidation_price():
    """TV-08 [DOC] https://help.bybit.com/hc/en-us/articles/900000031623-What-is-Auto-Deleveraging-ADL-: long 5,000
    BTCUSD @7,890.08, 50x -> BP = 7890.08 x 50 / 51 = 7,735.372549 -> 7,735.50 (Bybit rounds a long's BP UP to
    0.5, not to the nearest); liquidation price shown 7,773.50 = 7890.08 / (1 + 2% - 0.5%) = 7,773.4778 rounded
    up to 0.5 (MM at the entry value, MMR 0.5% of BTCUSD tier 1)."""
    margin = Fraction(5000) / Fraction("7890.08") / 50 * SAT  # IM = PV / leverage, exact
    bp = BYBIT.bankruptcy_price_exact("BTCUSD", 1, 5000, "7890.08", margin)
    assert round(float(bp), 6) == 7735.372549
    assert price(BYBIT, "BTCUSD", BYBIT.bankruptcy_price("BTCUSD", 1, 5000, "7890.08", margin)) == Decimal("7735.5")
    assert price(BYBIT, "BTCUSD", BYBIT.liquidation_price("BTCUSD", 1, 5000, "7890.08", margin)) == Decimal("7773.5")


# --- Insurance fund flows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rb", [BINANCE, BITMEX], ids=["binance", "bitmex"])
def test_tv10_fund_flows(rb):
    """TV-10 [DOC, Gate] https://gate.io/pt-br/blog_detail/375/instructions-of-insurance-fund-auto-deleveraging-adl:
    long BP 10,000 filled 10,100 -> fund +100; short BP 10,000 filled 10,050 -> fund -50 (1 BTC each). The same
    rule on venues whose fund takes the surplus (Binance, BitMEX ETHUSDT as a linear stand-in)."""
    sym = "BTCUSDT" if rb.name == "binance" else "ETHUSDT"
    lots = int(1 / rb.contract(sym).lot_size)
    assert rb.fund_delta(sym, 1, lots, "10000", "10100") == 100 * USD
    assert rb.fund_delta(sym, -1, lots, "10000", "10050") == -50 * USD


def test_tv10_trader_keeps_surplus_where_the_venue_says_so():
    """TV-10 (same vector) under Hyperliquid's and Kraken's rule (venues.md sections 6-7): the trader keeps a
    better fill's remainder, so the fund gains 0; it still pays the short's 50 shortfall."""
    for rb, sym, lot in ((HYPERLIQUID, "BTC", 100_000), (KRAKEN, "PF_XBTUSD", 10_000)):
        assert rb.fund_delta(sym, 1, lot, "10000", "10100") == 0
        assert rb.fund_delta(sym, -1, lot, "10000", "10050") == -50 * USD


def test_tv11_btcmex_fund_gain():
    """TV-11 [DOC, BTCMEX] https://blog.btcmex.com/insurance-fund/: long LP 3,100, BP 3,000, fill 3,060 -> fund +60
    (1 unit; Binance BTCUSDT, whose fund takes the surplus)."""
    assert BINANCE.fund_delta("BTCUSDT", 1, 1000, "3000", "3060") == 60 * USD


# --- Liquidation / bankruptcy prices ---------------------------------------------------------------------------


def test_tv13_bybit_usdt_isolated_bankruptcy():
    """TV-13 [DOC] https://www.cbybitapp.com/ro-RO/help-center/search-result/?page=22&pageSize=10&query=trade:
    long 1 BTC @10,000, 50x -> BP = 10,000 x (1 - 2%) = 9,800."""
    r = BYBIT.position("BTCUSDT", "long", "1", "10000", leverage="50")
    assert r.price(r.bankruptcy_price) == Decimal("9800")


def test_tv14_bybit_simple_isolated_liquidation_price():
    """TV-14 [3P copy of old Bybit help]
    https://cryptoarmy.io/faq/how-to-calculate-the-liquidation-price-of-usdt-perpetual-contract-on-bybit/:
    long @10,000, 50x, MMR 0.5% -> 10,000 x (1 - 2% + 0.5%) = 9,850; short @8,000, 40x -> 8,000 x (1 + 2.5% -
    0.5%) = 8,160. Bybit's MM is taken at the entry value (``"entry"`` basis); the exact trigger at the mark
    would give 9,849.25."""
    long = BYBIT.position("BTCUSDT", "long", "1", "10000", leverage="50")
    short = BYBIT.position("BTCUSDT", "short", "1", "8000", leverage="40")
    assert long.price(long.liquidation_price) == Decimal("9850")
    assert short.price(short.liquidation_price) == Decimal("8160")


def test_tv15_okx_partial_liquidation_to_tier_1():
    """TV-15 [DOC] https://supdljgzdhc.okx.com/hc/en-us/articles/360020411711-V-Forced-Partial-or-Full-Liquidation:
    15,000 swaps (tier 3), margin ratio below -> close 15,000 - 2,000 = 13,000 to reach tier 1. The newer rule
    (two tiers per step) gives the same first order from tier 3; tier caps are OKX stand-ins built on this
    vector (okx.py)."""
    c = OKX.contract("BTC-USDT-SWAP")
    assert c.margin.band(0, 15_000).index == 2  # tier 3
    assert OKX.liquidation_order_lots("BTC-USDT-SWAP", 15_000, "50000") == 13_000


def test_tv17_kraken_inverse_liquidation_and_ioc_limit():
    """TV-17 [DOC] https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process: long 1,000
    PI_XBTUSD @8,000, margin 0.01 BTC, IM 2% (0.0025), MM 1% (0.00125 at entry) -> LP 7,481; IOC limit 7,407 (BP).
    Exact: LP 7,481.48, BP 7,407.41; the document shows whole dollars; on Kraken's 0.5 tick, rounded against the
    account (up for a long), they are 7,481.5 and 7,407.5."""
    margin = SAT // 100  # 0.01 BTC
    assert KRAKEN.initial_margin("PI_XBTUSD", 1000, "8000") == SAT * 25 // 10_000  # 0.0025 BTC
    assert KRAKEN.maintenance_margin("PI_XBTUSD", 1000, "8000") == SAT * 125 // 100_000  # 0.00125 BTC
    lp = KRAKEN.liquidation_price_exact("PI_XBTUSD", 1, 1000, "8000", margin)
    bp = KRAKEN.bankruptcy_price_exact("PI_XBTUSD", 1, 1000, "8000", margin)
    assert round(lp) == 7481 and round(float(lp), 2) == 7481.48
    assert round(bp) == 7407 and round(float(bp), 2) == 7407.41
    lp_ticks = KRAKEN.liquidation_price("PI_XBTUSD", 1, 1000, "8000", margin)
    ioc_ticks = kraken_mod.ioc_limit_price("PI_XBTUSD", 1, 1000, "8000", margin)
    assert price(KRAKEN, "PI_XBTUSD", lp_ticks) == Decimal("7481.5")
    assert price(KRAKEN, "PI_XBTUSD", ioc_ticks) == Decimal("7407.5")


def test_tv19_bybit_inverse_uta_isolated():
    """TV-19 [INF] from
    https://testnet.bybit.com/ar-SA/help-center/article/Liquidation-Price-Calculation-under-Isolated-Mode-Unified-Trading-Account:
    60,000 USD @50,000, 10x, MMR 0.5% -> PV 1.2 BTC, IM 0.12, MM 0.006 -> long LP = 60,000 / (1.2 + 0.114) =
    45,662.10, short 60,000 / (1.2 - 0.114) = 55,248.62 (two decimals as the vector shows; on the 0.5 tick the long
    rounds up to 45,662.5 and the short down to 55,248.5)."""
    long = BYBIT.position("BTCUSD", "long", "60000", "50000", leverage="10")
    short = BYBIT.position("BTCUSD", "short", "60000", "50000", leverage="10")
    assert long.money(long.notional) == Decimal("1.2")
    assert long.money(long.collateral) == Decimal("0.12")
    assert long.money(long.maintenance_margin) == Decimal("0.006")
    exact_long = BYBIT.liquidation_price_exact("BTCUSD", 1, 60000, "50000", long.collateral)
    exact_short = BYBIT.liquidation_price_exact("BTCUSD", -1, 60000, "50000", short.collateral)
    assert round(float(exact_long), 2) == 45662.10
    assert round(float(exact_short), 2) == 55248.62
    assert long.price(long.liquidation_price) == Decimal("45662.5")
    assert short.price(short.liquidation_price) == Decimal("55248.5")


# --- Margin tables / maintenance amounts ------------------------------------------------------------------------


def test_tv22_binance_btcusdt_maintenance_amounts():
    """TV-22 [INF] (same values as repo Jay-Pak/BinanceBot Code/temp.py), tiers of
    https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6: cum per tier, USDT."""
    tiers = BINANCE.contract("BTCUSDT").margin.tiers
    assert tiers is BINANCE_BTCUSDT_2021
    assert [t.maintenance_amount // USD for t in tiers.tiers] == [
        0,
        50,
        1_300,
        16_300,
        266_300,
        1_266_300,
        2_516_300,
        5_016_300,
        25_016_300,
        100_016_300,
    ]


def test_tv23_bybit_all_20_deductions():
    """TV-23 [DOC table, INF arithmetic] https://bybitx.global/pt-PT/announcement-info/margin-parameters: the
    deductions Bybit publishes equal RL_{n-1} x (MMR_n - MMR_{n-1}) + ded_{n-1} for all 20 tiers."""
    published = [
        0,
        1_200,
        3_020,
        4_300,
        5_820,
        8_460,
        15_460,
        20_500,
        46_000,
        66_000,
        80_000,
        160_000,
        300_000,
        452_000,
        502_000,
        777_000,
        837_000,
        967_000,
        1_107_000,
        1_482_000,
    ]
    tiers = BYBIT.contract("BTCUSDT").margin.tiers.tiers
    assert [t.maintenance_amount for t in tiers] == [d * USD for d in published]
    assert list(bybit_mod.PUBLISHED_DEDUCTIONS_USDT) == published


@pytest.mark.parametrize(
    "xbt, mmr, imr",
    [
        (180, "0.005", "0.01"),
        (199, "0.005", "0.01"),
        (230, "0.01", "0.015"),
        (349, "0.01", "0.015"),
        (499, "0.015", "0.02"),
        (649, "0.02", "0.025"),
    ],
)
def test_tv24_bitmex_risk_limits(xbt, mmr, imr):
    """TV-24 [DOC] https://bitmex.com/app/riskLimitsExamples: 180 XBT -> MM 0.50% = 0.90 XBT, IM 1.00%; +50 -> 230
    XBT (> 200, one step) -> MM 1.00%, IM 1.50%; table <200: 0.5/1.0, <350: 1.0/1.5, <500: 1.5/2.0,
    <650: 2.0/2.5. Through the XBTUSD rulebook: 180 XBT at 50,000 USD is 9,000,000 contracts (90,000 lots)."""
    lots = xbt * 50_000 // 100
    c = BITMEX.contract("XBTUSD")
    band = c.margin.band(c.notional(lots, Fraction(50_000)), lots)
    assert (band.mmr, band.imr) == (Fraction(mmr), Fraction(imr))
    if xbt == 180:
        assert BITMEX.maintenance_margin("XBTUSD", lots, "50000") == 90 * SAT // 100  # 0.90 XBT


def test_tv24_bitmex_older_risk_limits():
    """TV-24 [DOC] older version (https://www.bitmex.com/app/riskLimitsExamples): base 100 XBT, step 50, MM 0.50%,
    IM 2.00%: 80 XBT -> MM 0.4 XBT; +50 -> 130 XBT -> MM 1.00%, IM 2.50%."""
    old = StepMargin("bitmex-old", 100 * SAT, 50 * SAT, Fraction(5, 1000), Fraction(2, 100), Fraction(5, 1000))
    assert old.maintenance_margin(80 * SAT, 0) == 4 * SAT // 10
    b = old.band(130 * SAT, 0)
    assert (b.mmr, b.imr) == (Fraction(1, 100), Fraction(25, 1000))
    assert bitmex_mod.XBTUSD_RISK_LIMITS.base_limit == 200 * SAT  # the current one, for contrast


@pytest.mark.parametrize(
    "symbol, size, px, im, mm",
    [
        ("BTC_USDC-PERPETUAL", 25, 100_000, "53125", "28125"),  # IM 2.125%, MM 1.125%
        ("BTC_USDC-PERPETUAL", 350, 100_000, "1312500", None),  # IM 3.75%
        ("SOL_USDC-PERPETUAL", 25, 200, "200.625", "100.625"),  # IM 4.0125%, MM 2.0125%
        ("SOL_USDC-PERPETUAL", 6_000, 200, "84000", None),  # IM 7%
    ],
)
def test_tv25_deribit_size_linear_margins(symbol, size, px, im, mm):
    """TV-25 [DOC] https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual: BTC_USDC @100,000:
    25 BTC -> IM 2.125% = 53,125 USDC, MM 1.125% = 28,125 USDC; 350 BTC -> IM 3.75% = 1,312,500 USDC. SOL_USDC @200:
    25 SOL -> IM 4.0125% = 200.625 USDC, MM 2.0125% = 100.625 USDC; 6,000 SOL -> IM 7% = 84,000 USDC."""
    lots = int(Decimal(size) / DERIBIT.contract(symbol).lot_size)
    assert DERIBIT.initial_margin(symbol, lots, px) == int(Decimal(im) * USD)
    if mm is not None:
        assert DERIBIT.maintenance_margin(symbol, lots, px) == int(Decimal(mm) * USD)


# --- Funding ----------------------------------------------------------------------------------------------------


def test_tv28_bitmex_funding_and_inverse_pnl():
    """TV-28 [DOC] https://bitmex.com/app/perpetualContractsGuideExamples: long 15,000 XBTUSD @750 -> entry value
    20 XBT; quote 1.00%/day, base 0.25%/day -> F = 0.25%; funding = 20 x 0.25% = 0.05 XBT paid by the long; close
    @800 -> PnL 15,000 x (1/750 - 1/800) = 1.25 XBT; net 1.20 XBT. The example applies the interest rate as F
    (no premium, no clamp); with the 0.05% clamp the rulebook's rate for a zero premium would be 0.05%."""
    c = BITMEX.contract("XBTUSD")
    lots = 15_000 // 100
    assert c.notional(lots, Fraction(750)) == 20 * SAT
    f = bitmex_mod.interest_rate(Fraction(1, 100), Fraction(25, 10_000))
    assert f == Fraction(25, 10_000)
    pay = BITMEX.funding.payment(f, c.value(lots, Fraction(750)))
    assert pay == 5 * SAT // 100  # 0.05 XBT
    pnl = c.upnl(lots, Fraction(750), Fraction(800))
    assert pnl == Fraction(125, 100) * SAT
    assert pnl - pay == Fraction(120, 100) * SAT
    assert BITMEX.funding.rate(Fraction(0)) == Fraction(1, 10_000)  # I 0.01% in the rulebook, clamp not binding


def test_tv29_bybit_interest_and_flat_funding():
    """TV-29 [DOC] https://help.bybit.com/hc/en-us/articles/360039261114-What-is-funding-rate-and-predicted-rate-:
    I = (0.06% - 0.03%) / 3 = 0.01%; if |I - P| <= 0.05% then F = I."""
    i = bybit_mod.interest_rate()
    assert i == Fraction(1, 10_000)
    for p in ("0.0003", "-0.0004", "0.0006", "0"):
        assert BYBIT.funding.rate(Fraction(p)) == i
    assert BYBIT.funding.rate(Fraction("0.0010")) == Fraction("0.0005")  # |I - P| = 0.09% > 0.05%: clamped


@pytest.mark.parametrize("premium, rate", [("0.0002", "0"), ("0.001", "0.00075"), ("-0.001", "-0.00075")])
def test_tv31_deribit_dead_band(premium, rate):
    """TV-31 [INF] from https://support.deribit.com/hc/en-us/articles/31424939178397-Funding-Specifications:
    premium 0.02% -> F 0; +0.10% -> 0.075%; -0.10% -> -0.075%."""
    assert DERIBIT.funding.rate(Fraction(premium)) == Fraction(rate)


def test_tv31_deribit_one_hour_payment():
    """TV-31: 1 h at F 0.075% on 1 BTC -> 0.00075 x 1/8 = 0.00009375 BTC (9,375 satoshis)."""
    assert DERIBIT.funding.payment(Fraction("0.00075"), SAT, hours=1) == 9_375


# --- Operational constants ---------------------------------------------------------------------------------------


def test_tv32_deribit_incremental_rate():
    """TV-32 [DOC] https://www.deribit.com/docs/auto-liquidation/ (old): 10 contracts x 25 rounds/s -> at most 250
    contracts/s = $2,500/s (10 USD contracts)."""
    assert deribit_mod.max_liquidation_rate() == 250
    assert deribit_mod.max_liquidation_rate() * deribit_mod.INVERSE_CONTRACT_USD == 2_500
    assert DERIBIT.liquidation.increment_lots * DERIBIT.liquidation.rounds_per_s == 250


def test_tv33_kraken_assignment():
    """TV-33 [DOC] https://support.kraken.com/hc/pt-br/articles/360022835231-Example-assignment: PI_XBTUSD long
    1,760,000, 1,007,379 liquidated in the book -> 752,621 assigned. (One LP's 184,317 depends on the program's
    participants' shares, not modelled.)"""
    assert kraken_mod.assigned(1_760_000, 1_007_379) == 752_621


def test_tv34_hyperliquid_partial_then_cooldown():
    """TV-34 [INF] from https://docs.tings.xyz/core-mechanics/liquidations (HL text): a liquidatable position of
    250k USDC -> first order 50k (20%); within the 30 s cooldown the next order is the whole remainder."""
    lots = 250_000  # 2.5 BTC in 0.00001 lots at 100,000 = 250,000 USDC
    first = HYPERLIQUID.liquidation_order_lots("BTC", lots, "100000")
    c = HYPERLIQUID.contract("BTC")
    assert c.notional(first, Fraction(100_000)) == 50_000 * USD
    assert HYPERLIQUID.liquidation_order_lots("BTC", lots - first, "100000", in_cooldown=True) == lots - first
    assert HYPERLIQUID.liquidation.cooldown_s == 30.0
