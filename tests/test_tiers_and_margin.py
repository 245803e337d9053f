"""Risk-limit tiers and the single-position margin formulas, checked against hand arithmetic and the spec's
test vectors (../shared/specs/venues.md section 12)."""

import pytest

from delever.margin import (
    bankruptcy_price,
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
