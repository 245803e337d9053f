"""Risk-limit tiers and the single-position margin formulas, checked against hand arithmetic and the spec's
test vectors (../shared/specs/venues.md section 12)."""

import pytest

from delever.margin import (
    BACKING_MM_SHARE,
    BACKING_WHOLE_ACCOUNT,
    bankruptcy_price,
    cross_backing,
    liquidation_price,
    liquidation_price_exact,
    position_metrics,
)
from delever.tiers import BINANCE_BTCUSDT_2021, RiskTiers
from delever.units import MONEY_SCALE, money, mul_ppm_ceil, mul_ppm_floor

USDT = MONEY_SCALE


def test_tv22_binance_btcusdt_maintenance_amounts():
    # TV-22 (venues.md section 12, INF; same values as repo Jay-Pak/BinanceBot): cum per tier, USDT
    assert [t.maintenance_amount // USDT for t in BINANCE_BTCUSDT_2021.tiers] == [
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


def test_tv23_bybit_deduction_rule_first_tiers():
    # TV-23: Bybit BTCUSDT deductions follow RL_{n-1} * (MMR_n - MMR_{n-1}) + ded_{n-1}: 0, 1,200, 3,020
    t = RiskTiers.from_brackets(
        "bybit-3", [("2000000", 100, "0.005", None), ("2600000", 90, "0.0056", None), ("3200000", 80, "0.0063", None)]
    )
    assert [x.maintenance_amount // USDT for x in t.tiers] == [0, 1_200, 3_020]


@pytest.mark.parametrize(
    "notional_usdt, tier, mm_usdt",
    [
        ("49999.99", 0, "199.99996"),  # 49,999.99 x 0.4% = 199.99996, exact in micro-USDT
        ("50000", 1, "200"),  # bracket 2 starts at 50k: 50,000 x 0.5% - 50 = 200 (continuous)
        ("1000000", 3, "8700"),  # 1M x 2.5% - 16,300 = 8,700
        ("600000000", 9, "199983700"),  # above the last cap: last tier, 600M x 50% - 100,016,300
    ],
)
def test_tier_lookup_and_maintenance_margin(notional_usdt, tier, mm_usdt):
    n = money(notional_usdt)
    assert BINANCE_BTCUSDT_2021.index_for(n) == tier
    assert BINANCE_BTCUSDT_2021.maintenance_margin(n) == money(mm_usdt)


def test_requirement_rounds_up_payout_rounds_down():
    # 1 unit x 0.4% = 0.004 units: a requirement is 1 unit, a payout 0
    assert mul_ppm_ceil(1, 4_000) == 1
    assert mul_ppm_floor(1, 4_000) == 0
    assert mul_ppm_ceil(-1, 4_000) == 0  # ceil(-0.004) = 0
    big = 9 * 10**18  # near int64's limit: the split product stays exact
    assert mul_ppm_ceil(big, 999_999) == -((-big * 999_999) // 10**6)


# Hand case: isolated long and short of 1 BTC (1,000 lots) at 50,000 USDT with 2,500 USDT margin (20x).
# cost = 1,000 lots x 500,000 ticks x 100 = 5e10 units = 50,000 USDT.
LOTS = 1_000
ENTRY = 500_000  # ticks = 50,000.0 USDT
MARGIN = money("2500")


def test_isolated_long_bankruptcy_and_liquidation_price(btcusdt):
    cost = LOTS * ENTRY * btcusdt.value_per_lot_tick
    # bankruptcy: 2,500 + (P - 50,000) x 1 = 0 -> P = 47,500.0 exactly
    assert bankruptcy_price(LOTS, cost, MARGIN, btcusdt) == 475_000
    # liquidation (Binance one-way form, venues.md section 1): tier 1 (MMR 0.4%, cum 0):
    # LP = (2,500 - 50,000) / (0.004 - 1) = 47,690.763... USDT, notional 47,690 < 50k so tier 1 holds;
    # rounded up (towards the mark) to 47,690.8
    exact = liquidation_price_exact(LOTS, cost, MARGIN, btcusdt)
    assert float(exact) * 0.1 == pytest.approx(47_500 / 0.996, abs=1e-6)
    assert liquidation_price(LOTS, cost, MARGIN, btcusdt) == 476_908


def test_isolated_short_bankruptcy_and_liquidation_price_in_second_tier(btcusdt):
    cost = -LOTS * ENTRY * btcusdt.value_per_lot_tick
    # bankruptcy: 2,500 + (50,000 - P) = 0 -> 52,500.0
    assert bankruptcy_price(-LOTS, cost, MARGIN, btcusdt) == 525_000
    # tier 1 would give P = 52,500 / 1.004 = 52,290.8 whose notional is above 50k: not self-consistent;
    # tier 2 (MMR 0.5%, cum 50): LP = (2,500 + 50 + 50,000) / 1.005 = 52,288.557 -> rounded down 52,288.5
    assert liquidation_price(-LOTS, cost, MARGIN, btcusdt) == 522_885


def test_metrics_at_the_liquidation_price_boundary(btcusdt):
    cost = LOTS * ENTRY * btcusdt.value_per_lot_tick
    # at 47,690.8 equity = 2,500 - 2,309.2 = 190.8 and MM = 47,690.8 x 0.4% = 190.7632: not liquidatable
    m = position_metrics(LOTS, cost, MARGIN, 476_908, btcusdt)
    assert m.equity == money("190.8") and m.maintenance_margin == money("190.7632")
    assert not m.liquidatable
    # one tick lower: equity 190.7 < MM 190.7628: liquidatable
    m = position_metrics(LOTS, cost, MARGIN, 476_907, btcusdt)
    assert m.liquidatable
    assert m.effective_leverage == pytest.approx(47_690.7 / 190.7)
    assert m.pnl_pct == pytest.approx(-2_309.3 / 50_000)


def test_tv13_bybit_isolated_bankruptcy_long_50x(btcusdt):
    # TV-13 (Bybit, DOC): long 1 BTC @10,000, 50x -> BP = 10,000 x (1 - 2%) = 9,800
    cost = 1_000 * 100_000 * btcusdt.value_per_lot_tick
    assert bankruptcy_price(1_000, cost, money("200"), btcusdt) == 98_000


def test_bankruptcy_price_rounds_against_solvency(btcusdt):
    # long 0.003 BTC at 10,000.0 with 10 USDT: BP = 10,000 - 10/0.003 = 6,666.666.. -> long rounds UP to 6,666.7
    cost = 3 * 100_000 * btcusdt.value_per_lot_tick
    assert bankruptcy_price(3, cost, money("10"), btcusdt) == 66_667
    # the short mirror: 13,333.33.. rounds DOWN to 13,333.3
    assert bankruptcy_price(-3, -cost, money("10"), btcusdt) == 133_333


def test_no_liquidation_price_for_an_unlevered_long(btcusdt):
    cost = LOTS * ENTRY * btcusdt.value_per_lot_tick
    assert liquidation_price(LOTS, cost, money("60000"), btcusdt) is None


# Liquidation prices where the tier search matters (Binance 2021 table, V = 100 money units per lot-tick; MMR and
# cum per tier: 0.4%/0, 0.5%/50, 1%/1,300, 2.5%/16,300, ..., 25%/25,016,300, 50%/100,016,300 USDT). A long's
# root in tier k: N (1 - MMR_k) = cost - collateral - cum_k; a short's: N (1 + MMR_k) = collateral - cost + cum_k,
# with N = |size| x V x P the notional at the root (USDT below; P in ticks of 0.1).
@pytest.mark.parametrize(
    "size, entry_ticks, collateral_usdt, expected",
    [
        # long 1 BTC @52,000, 2,200: tier 1 gives N = 49,800 / 0.996 = 50,000 = tier 1's cap (not in it);
        # tier 2 gives (49,800 - 50) / 0.995 = 50,000 = its floor (in it): P = 50,000.0, the same root (MM is
        # continuous at a cap: 50,000 x 0.5% - 50 = 50,000 x 0.4% = 200 = equity 2,200 + 50,000 - 52,000)
        (1_000, 520_000, 2_200, 500_000),
        # short 1 BTC @48,000, 2,200: tier 2 gives N = (2,200 + 48,000 + 50) / 1.005 = 50,000 = its floor
        (-1_000, 480_000, 2_200, 500_000),
        # long 100 BTC @50,000 (cost 5M), 303,700: tier 4 gives N = (5,000,000 - 303,700 - 16,300) / 0.975 =
        # 4,800,000 in [1M, 10M): P = 48,000.0 (tier 2's root 4,719,849 and tier 3's 4,742,424 lie above their caps)
        (100_000, 500_000, 303_700, 480_000),
        # long 10,000 BTC @50,000 (cost 500M), 199,983,700: the last tier gives N = (500M - 199,983,700 -
        # 100,016,300) / 0.5 = 400M in [300M, 500M): P = 40,000.0 (tier 9's root 366.7M is above its 300M cap)
        (10_000_000, 500_000, 199_983_700, 400_000),
        # long 10,000 BTC @70,000 (cost 700M), 299,983,700: N = (700M - 299,983,700 - 100,016,300) / 0.5 =
        # 600M, above the last cap (500M): the last tier still applies, P = 60,000.0
        (10_000_000, 700_000, 299_983_700, 600_000),
        # long 1 BTC @0.2 (cost 0.2 USDT), 0.1004 USDT: N = (0.2 - 0.1004) / 0.996 = 0.1 USDT, P = 1 tick
        (1_000, 2, "0.1004", 1),
        # long 1 BTC @50,000 with 50,000 of margin: tier 1's root is P = 0 (equity = N >= MM at every price),
        # every higher tier's is negative: never liquidated
        (1_000, 500_000, 50_000, None),
    ],
    ids=[
        "long-on-tier-1-2-boundary",
        "short-on-tier-1-2-boundary",
        "long-in-tier-4",
        "long-in-last-tier",
        "long-above-last-cap",
        "long-at-one-tick",
        "long-collateral-equals-cost",
    ],  # fmt: skip
)
def test_liquidation_price_tier_search(btcusdt, size, entry_ticks, collateral_usdt, expected):
    cost = size * entry_ticks * btcusdt.value_per_lot_tick
    got = liquidation_price_exact(size, cost, money(str(collateral_usdt)), btcusdt)
    assert got == expected
    if expected is not None:  # equity equals maintenance margin there
        m = position_metrics(size, cost, money(str(collateral_usdt)), expected, btcusdt)
        assert m.equity == m.maintenance_margin


def test_liquidation_price_skips_a_tier_with_mmr_100_percent():
    # tiers: [0, 1,000) at MMR 50%, [1,000, 2,000) at MMR 100% (cum 1,000 x 50% = 500). In the second tier a
    # long's equity - MM = collateral - cost + 500 does not depend on the price (the root's denominator
    # N (1 - 100%) is 0): no root there. Long 1 BTC @3,000 with 4,000 of margin: tier 1's root is
    # N = (3,000 - 4,000) / 0.5 < 0, and equity - MM = 1,500 > 0 in tier 2: never liquidated.
    from decimal import Decimal

    from delever.instruments import Instrument

    tiers = RiskTiers.from_brackets("mmr-100", [("1000", 2, "0.5", "0.5"), ("2000", 1, "1", "1")])
    inst = Instrument("TEST", Decimal("0.1"), Decimal("0.001"), tiers)
    assert tiers.tiers[1].maintenance_amount == money(500)
    assert liquidation_price_exact(1_000, 1_000 * 30_000 * 100, money(4_000), inst) is None


def test_liquidation_price_search_goes_past_a_100_percent_tier():
    # tiers [0, 1,000) at 50%, [1,000, 2,000) at 100% (cum 1,000 x 50% = 500), [2,000, 3,000) at 50% (cum 500 +
    # 2,000 x (50% - 100%) = -500): MMR may fall from a tier to the next (from_brackets allows it). Long 1 BTC
    # @3,000 with 2,400 of margin (cost - margin = 600): tier 1's root N = 600 / 0.5 = 1,200 is above its cap;
    # tier 2 has no root (MMR 100%: the denominator is 0); tier 3's N = (600 + 500) / 0.5 = 2,200 is in it:
    # P = 2,200.0 (22,000 ticks). Equity there 2,400 + 2,200 - 3,000 = 1,600 = MM 2,200 x 50% + 500.
    from decimal import Decimal

    from delever.instruments import Instrument

    tiers = RiskTiers.from_brackets(
        "mmr-100-then-50", [("1000", 2, "0.5", "0.5"), ("2000", 1, "1", "1"), ("3000", 2, "0.5", "0.5")]
    )
    inst = Instrument("TEST", Decimal("0.1"), Decimal("0.001"), tiers)
    assert [t.maintenance_amount for t in tiers.tiers] == [0, money(500), money(-500)]
    assert liquidation_price_exact(1_000, 1_000 * 30_000 * 100, money(2_400), inst) == 22_000


@pytest.mark.parametrize(
    "rule, wallet, own, other, own_mm, total_mm, expected",
    [
        # Binance (whole account): wallet + the other positions' uPnL, whatever the MMs: 1,000 + 1,000
        (BACKING_WHOLE_ACCOUNT, 1_000_000_000, -1_500_000_000, 1_000_000_000, 442_500_000, 598_500_000,
         2_000_000_000),
        # dYdX (margin.cross_backing's docstring, money units): TNC = 1,000 - 1,500 + 1,000 = 500 (5e8);
        # 5e8 x 442,500,000 / 598,500,000 = 369,674,185.46 -> down 369,674,185; + 1,500,000,000 (minus own uPnL)
        (BACKING_MM_SHARE, 1_000_000_000, -1_500_000_000, 1_000_000_000, 442_500_000, 598_500_000,
         1_869_674_185),
        # dYdX with no MM at all: the whole-account rule
        (BACKING_MM_SHARE, 1_000_000_000, -1_500_000_000, 1_000_000_000, 0, 0, 2_000_000_000),
        # dYdX, the position holds no MM of a total of 1 unit: its share of TNC is 0, backing -own = 1,500
        (BACKING_MM_SHARE, 1_000_000_000, -1_500_000_000, 1_000_000_000, 0, 1, 1_500_000_000),
        # dYdX with TNC -7 and half the MM: -7 x 1 / 2 = -3.5 rounds down to -4 (less backing); - own 3: -7
        (BACKING_MM_SHARE, 0, 3, -10, 1, 2, -7),
    ],
    ids=["whole-account", "mm-share-rounds-down", "mm-share-without-mm", "mm-share-of-zero", "mm-share-negative-tnc"],
)  # fmt: skip
def test_cross_backing_by_hand(rule, wallet, own, other, own_mm, total_mm, expected):
    got = cross_backing(rule, wallet, own, other, own_mm, total_mm)
    assert got == expected and isinstance(got, int)
