"""The compiled margin twins the kernels call (delever.margin ``*_compiled``) equal the exact references:
tiered maintenance margin and bankruptcy price (hypothesis on random tier tables and positions), plus
hand-worked cases at tier boundaries and rounding edges. The cross-backing twin is tested in
tests/test_portfolio_money.py (``test_compiled_backing_equals_the_reference``)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.engine import tier_arrays
from delever.instruments import Instrument
from delever.margin import (
    bankruptcy_price,
    bankruptcy_price_compiled,
    maintenance_margin,
    maintenance_margin_compiled,
    maintenance_margins,
    margin_at_tier_compiled,
)
from delever.tiers import BINANCE_BTCUSDT_2021, RiskTiers, bracket_maintenance_margin
from delever.units import money

BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)
V = BTC.value_per_lot_tick  # 0.001 BTC x 0.1 USDT = 0.0001 USDT = 100 money units
FLOORS, MMR, CUM, N_TIERS = tier_arrays([BINANCE_BTCUSDT_2021])


@pytest.mark.parametrize(
    "size, price_ticks, mm_usdt",
    [
        # 1 BTC (1,000 lots) at 49,999.9 USDT: notional 49,999.9, tier 1 (0.4%): ceil(199.9996) = 199.9996
        pytest.param(1_000, 499_999, "199.9996", id="long_tier1_below_boundary"),
        # 1 BTC at 50,000: tier 2 (0.5%, cum 50): 250 - 50 = 200, continuous at the boundary
        pytest.param(-1_000, 500_000, "200", id="short_tier2_at_boundary"),
        # 20 BTC at 50,000 = 1M: tier 4 (2.5%, cum 16,300): 25,000 - 16,300 = 8,700
        pytest.param(20_000, 500_000, "8700", id="long_tier4"),
    ],
)
def test_maintenance_margin_twin_by_hand(size, price_ticks, mm_usdt):
    notional = abs(size) * price_ticks * V
    assert maintenance_margin(size, price_ticks, BTC) == money(mm_usdt)
    assert maintenance_margin_compiled(notional, 0, FLOORS, MMR, CUM, N_TIERS[0]) == money(mm_usdt)


@pytest.mark.parametrize(
    "size, entry_ticks, collateral_usdt, expected_ticks",
    [
        # long 1 BTC @50,000 with 1,000: BP = 49,000 exactly = 490,000 ticks
        pytest.param(1_000, 500_000, "1000", 490_000, id="long_exact"),
        # long 1 BTC @50,000 with 1,000.05: BP 48,999.95 = 489,999.5 ticks -> up to 490,000 (against the account)
        pytest.param(1_000, 500_000, "1000.05", 490_000, id="long_rounds_up"),
        # short 1 BTC @50,000 with 1,000.05: BP 51,000.05 = 510,000.5 ticks -> down to 510,000
        pytest.param(-1_000, 500_000, "1000.05", 510_000, id="short_rounds_down"),
        # long with more collateral than notional: BP below 0 -> 0
        pytest.param(1_000, 500_000, "60000", 0, id="long_overcollateralised_floor_zero"),
    ],
)
def test_bankruptcy_price_twin_by_hand(size, entry_ticks, collateral_usdt, expected_ticks):
    cost = size * entry_ticks * V
    c = money(collateral_usdt)
    assert bankruptcy_price(size, cost, c, BTC) == expected_ticks
    assert bankruptcy_price_compiled(size, cost, c, V) == expected_ticks


@settings(max_examples=200, deadline=None)
@given(
    brackets=st.lists(
        st.tuples(st.integers(1, 10**7), st.integers(1, 1000)), min_size=1, max_size=6, unique_by=lambda b: b[0]
    ),
    notional=st.integers(0, 10**17),
)
def test_maintenance_margin_twin_equals_reference(brackets, notional):
    # random monotone tables: caps increasing, MMR in ppm steps of 0.1% (cum stays a whole money unit)
    brackets = sorted(brackets)
    rows, mmr = [], 0
    for cap, step in brackets:
        mmr = min(mmr + step, 1000)
        rows.append((str(cap), 1, str(Decimal(mmr) / 1000), None))
    tiers = RiskTiers.from_brackets("random", rows)
    floors, mmr_a, cum, n = tier_arrays([BINANCE_BTCUSDT_2021, tiers])
    assert maintenance_margin_compiled(notional, 1, floors, mmr_a, cum, n[1]) == tiers.maintenance_margin(notional)


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(-(10**6), 10**6).filter(bool),
    entry=st.integers(1, 10**7),
    collateral=st.integers(-(10**12), 10**13),
)
def test_bankruptcy_price_twin_equals_reference(size, entry, collateral):
    cost = size * entry * V
    got = bankruptcy_price_compiled(size, cost, collateral, V)
    assert got == bankruptcy_price(size, cost, collateral, BTC)
    # the rounding is against the account: closing at the price leaves >= 0 (long up, short down)
    if got > 0:
        assert collateral + size * got * V - cost >= 0


@settings(max_examples=300, deadline=None)
@given(notional=st.integers(0, 2**62), mmr_ppm=st.integers(0, 10**6), cum=st.integers(0, 10**12))
def test_bracket_formula_twin_equals_reference(notional, mmr_ppm, cum):
    # the one formula ceil(notional * MMR) - cum: exact Fraction reference vs the int64 twin (no product formed)
    assert margin_at_tier_compiled(notional, mmr_ppm, cum) == bracket_maintenance_margin(
        notional, Fraction(mmr_ppm, 10**6), cum
    )


@settings(max_examples=100, deadline=None)
@given(notionals=st.lists(st.integers(0, 10**16), min_size=0, max_size=40))
def test_maintenance_margins_array_equals_reference(notionals):
    t = BINANCE_BTCUSDT_2021
    lots = np.zeros(len(notionals), dtype=np.int64)  # notional tiers with no size rate: lots are not read
    got = maintenance_margins(np.array(notionals, dtype=np.int64), t.floors, t.mmr_ppm, t.cum, lots, 0, 0)
    assert got.tolist() == [t.maintenance_margin(n) for n in notionals]


def test_bracket_formula_at_a_fractional_notional():
    # venue rulebooks price in exact fractions: notional 100,000.5 money units at 0.4% = 400.002 -> up to 401,
    # minus cum 0 -> 401 (a requirement rounds up)
    assert bracket_maintenance_margin(Fraction(200_001, 2), Fraction(4, 1000), 0) == 401
