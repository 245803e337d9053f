"""Partial liquidation in tier mode with N tiers per step (OKX, Bitget: two; venues.md sections 4 and 8), the
lowest tiers closed whole (OKX: tiers 1-2), on size tiers and with the MM on entry value, by hand (TV-15)."""

from __future__ import annotations

import numpy as np
import pytest

from delever.mechanisms.partial import TierRule, plan, tier_lots
from delever.requirement import ENTRY_ISOLATED
from delever.tiers import BASIS_SIZE, RiskTiers

U = 1_000_000
V = 100  # tick 0.1 x lot 0.001 BTC
MARK = 500_000  # 50,000 USDT
# OKX stand-in caps 2,000 / 10,000 / 18,000 / 26,000 contracts of 0.01 BTC = 20 / 100 / 180 / 260 BTC, MMR 1% /
# 1.5% / 2% / 2.5% (venues.md section 4), in lots of 0.001 BTC
OKX = RiskTiers.size_brackets(
    "okx",
    [
        ("20", 75, "0.01", "0.013"),
        ("100", 50, "0.015", "0.02"),
        ("180", 20, "0.02", "0.05"),
        ("260", "18.18", "0.025", "0.055"),
    ],
    "0.001",
)
TIERS = (OKX.floors, OKX.mmr_ppm, OKX.cum)
TWO = TierRule(tiers_per_step=2, whole_tiers=2, basis=BASIS_SIZE)


@pytest.mark.parametrize(
    "btc, equity_usdt, rule, closed_btc",
    [
        # TV-15: 15,000 contracts (150 BTC, tier 3) below its MMR -> close 13,000 contracts to reach tier 1 (keep
        # 2,000 = 20 BTC). Two tiers a step from tier 3 reaches tier 1; with 12,000 USDT: tier 2 would keep 100 BTC
        # (MM 100 x 50,000 x 1.5% = 75,000 > 12,000), tier 1 keeps 20 BTC (MM 20 x 50,000 x 1% = 10,000 <= 12,000)
        pytest.param("150", 12_000, TWO, "130", id="tv15_tier3_two_tiers_to_tier1"),
        # one tier a step: only tier 2 is tried (75,000 > 12,000) and the position drops to it all the same
        # (the published step): close 150 - 100 = 50 BTC, liquidated again at the next step
        pytest.param("150", 12_000, TierRule(1, 1, BASIS_SIZE), "50", id="tier3_one_tier_a_step"),
        # the engine's default (any number of tiers): the highest lower tier that restores it, tier 1
        pytest.param("150", 12_000, TierRule(0, 1, BASIS_SIZE), "130", id="tier3_any_number_of_tiers"),
        # tier 4 (250 BTC), two a step, 50,000 USDT: tier 3 keeps 180 BTC (MM 180,000), tier 2 keeps 100 BTC (MM
        # 75,000): neither restores it: down two tiers all the same, to tier 2: close 150 BTC
        pytest.param("250", 50_000, TWO, "150", id="tier4_two_tiers_none_restores"),
        # ... with 80,000 USDT tier 2 restores it (75,000 <= 80,000): the same 150 BTC; with 200,000 tier 3
        # (180,000 <= 200,000) is the highest that restores it: close 70 BTC
        pytest.param("250", 200_000, TWO, "70", id="tier4_two_tiers_tier3_restores"),
        # tier 2 (50 BTC) with whole_tiers 2 (OKX: tiers 1-2 liquidated in full at BP): whole
        pytest.param("50", 1_000, TWO, "0", id="okx_tier2_whole"),
        # ... and with whole_tiers 1 it drops to tier 1 (keep 20 BTC, MM 10,000 <= 12,000): close 30 BTC
        pytest.param("50", 12_000, TierRule(2, 1, BASIS_SIZE), "30", id="tier2_to_tier1"),
    ],
)
def test_tier_lots_n_tiers_per_step(btc, equity_usdt, rule, closed_btc):
    lots = int(float(btc) * 1000)
    got = tier_lots(lots, equity_usdt * U, MARK, V, *TIERS, 0, 0, rule)
    assert got == int(float(closed_btc) * 1000)


def test_kept_part_on_entry_value_rounds_against_the_account():
    # MM on entry value (Bybit isolated, BitMEX): 150 BTC entered at 60,000 (cost 9,000,000 USDT), mark 50,000, two
    # tiers a step from tier 3. The kept 20 BTC carries ceil(9,000,000 x 20 / 150) = 1,200,000 USDT of entry value:
    # MM 1% = 12,000. With 12,000 USDT it is restored (12,000 >= 12,000): close 130 BTC; with 11,999.999999 it
    # is not, and the position still drops two tiers (the published step): the same 130 BTC
    rule = TierRule(2, 2, BASIS_SIZE, 0, ENTRY_ISOLATED)
    cost = 150_000 * 600_000 * V
    assert tier_lots(150_000, 12_000 * U, MARK, V, *TIERS, 0, 0, rule, cost, True) == 130_000
    # on the mark value (a cross position under the isolated-only entry rule) the kept part's MM is 10,000
    assert tier_lots(150_000, 10_000 * U, MARK, V, *TIERS, 0, 0, TierRule(0, 1, BASIS_SIZE, 0, ENTRY_ISOLATED), cost,
                     False) == 130_000  # fmt: skip
    # isolated, entry value, any number of tiers: 11,999.999999 restores none (tier 2 keeps 100 BTC worth 6,000,000
    # at entry: 90,000) -> whole
    assert tier_lots(150_000, 12_000 * U - 1, MARK, V, *TIERS, 0, 0, TierRule(0, 1, BASIS_SIZE, 0, ENTRY_ISOLATED),
                     cost, True) == 0  # fmt: skip


def test_plan_skips_the_whole_tiers():
    # plan sizes only positions above the whole tiers: 50 BTC (tier 2) and 150 BTC (tier 3) with whole_tiers 2
    sizes = np.array([50_000, -150_000], dtype=np.int64)
    out = plan("tier", np.arange(2), sizes, np.array([12_000 * U, 12_000 * U]), MARK, V, *TIERS, 0, 0, 0,
               np.zeros(2), 0.0, 0.0, None, TWO)  # fmt: skip
    assert out.tolist() == [0, 130_000]
