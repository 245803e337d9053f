"""The margin rules a scenario selects beyond Binance's notional brackets (issue #15 item 4, margin rules):
size tiers (OKX contracts), BitMEX's steps on XBT values, no maintenance amount (Bitget), the size-linear rate
(Deribit), the MM on entry value (BitMEX, Bybit) and the fee rate added to the MMR (OKX, BitMEX), each traced by hand to
../shared/specs/venues.md; the compiled twins equal the references; the venue rulebooks carry them in
``scenario_overrides``."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.config.margin import MarginConfig
from delever.margin import requirement_compiled, tier_requirement_compiled
from delever.scenario import default_scenario_path, load_scenario
from delever.tiers import BASIS_SIZE, RiskTiers, requirement
from delever.units import MONEY_SCALE
from delever.venues import get_venue

U = MONEY_SCALE  # money units per USDT


def venue_instrument(venue: str):
    """The default scenario's instrument (tick 0.1, lot 0.001 BTC, V = 100 money per lot-tick) under ``venue``'s
    ``scenario_overrides``, its ``[margin]`` fee rate folded in (as a run builds it)."""
    sc = load_scenario(default_scenario_path(), overrides=get_venue(venue).scenario_overrides())
    return sc, sc.margin.instrument(sc.instrument.build())


# ------------------------------------------------------------------------------------------- tier tables


@pytest.mark.parametrize(
    "btc, tier, mm_usdt",
    [
        # OKX stand-in caps 2,000 / 10,000 / 18,000 contracts of 0.01 BTC = 20 / 100 / 180 BTC (inclusive),
        # MMR 1% / 1.5% / 2% + the 0.05% fee rate of the trigger; at 50,000 USDT:
        # 20 BTC (2,000 contracts, TV-15's top of tier 1): 1,000,000 x 1.05% = 10,500
        pytest.param("20", 0, "10500", id="okx_2000_contracts_top_of_tier1"),
        # 20.001 BTC: tier 2, 1,000,050 x 1.55% = 15,500.775
        pytest.param("20.001", 1, "15500.775", id="okx_one_lot_above_tier1"),
        # 150 BTC = TV-15's 15,000 contracts: tier 3, 7,500,000 x 2.05% = 153,750
        pytest.param("150", 2, "153750", id="okx_15000_contracts_tier3"),
    ],
)
def test_okx_size_tiers_by_contracts(btc, tier, mm_usdt):
    _, inst = venue_instrument("okx")
    lots = int(Decimal(btc) / inst.lot_size)
    notional = lots * 500_000 * inst.value_per_lot_tick  # at 50,000 USDT
    assert inst.tiers.basis == BASIS_SIZE and inst.tiers.index_for(lots) == tier
    assert inst.tiers.maintenance_margin(notional, lots) == int(Decimal(mm_usdt) * U)


@pytest.mark.parametrize(
    "btc, mmr_pct",
    [
        # BitMEX TV-24: 180 XBT -> MM 0.50% (+ 0.075% taker fee in the trigger); 200 XBT is still the base limit
        pytest.param("180", "0.575", id="bitmex_180_xbt_base"),
        pytest.param("200", "0.575", id="bitmex_200_xbt_base_inclusive"),
        # 230 XBT (> 200, one step of 150): MM 1.00% (+ 0.075%)
        pytest.param("230", "1.075", id="bitmex_230_xbt_one_step"),
        # 500 XBT: two steps (350 < 500 <= 500): 1.50% (+ 0.075%)
        pytest.param("500", "1.575", id="bitmex_500_xbt_two_steps"),
    ],
)
def test_bitmex_steps_run_on_the_position_value_in_xbt(btc, mmr_pct):
    # XBTUSD's risk limits are position values in XBT; its inverse contract's notional in the engine is that value
    # (delever.inverse: money units of 1e-12 XBT), so the MM of a position worth N XBT is N x MMR XBT
    from delever.venues.scenario import apply_venue

    sc = apply_venue(load_scenario(default_scenario_path()), "bitmex", Fraction(20_000))
    inst = sc.margin.instrument(sc.instrument.build())
    value = int(Decimal(btc) * 10**12)
    expected = Decimal(btc) * Decimal(mmr_pct) / 100 * 10**12
    assert inst.inverse and inst.tiers.maintenance_margin(value) == int(expected)


def test_bitget_brackets_have_no_maintenance_amount():
    # Bitget: MM = tier MMR x PV (no deduction). 60,000 USDT is in the 2nd stand-in bracket (50,000-250,000, 0.5%):
    # MM = 300 USDT, where Binance's derived cum would give 300 - 50 = 250
    _, inst = venue_instrument("bitget")
    assert inst.tiers.maintenance_margin(60_000 * U) == 300 * U
    assert not inst.tiers.continuous  # the MM jumps at a cap: 49,999.9 x 0.4% = 199.9996, 50,000 x 0.5% = 250


@pytest.mark.parametrize(
    "btc, price, mm_usdc, im_usdc",
    [
        # TV-25: BTC_USDC @100,000, 25 BTC: MM 1% + 25 x 0.005% = 1.125% -> 28,125; IM 2.125% -> 53,125
        pytest.param("25", 100_000, "28125", "53125", id="deribit_25_btc"),
        # 350 BTC: IM 2% + 1.75% = 3.75% -> 1,312,500 (MM 2.75% -> 962,500)
        pytest.param("350", 100_000, "962500", "1312500", id="deribit_350_btc"),
    ],
)
def test_deribit_size_linear_rate(btc, price, mm_usdc, im_usdc):
    _, inst = venue_instrument("deribit")
    lots = int(Decimal(btc) / inst.lot_size)
    notional = lots * price * 10 * inst.value_per_lot_tick
    assert inst.tiers.maintenance_margin(notional, lots) == int(Decimal(mm_usdc) * U)
    assert inst.tiers.initial_margin(notional, lots) == int(Decimal(im_usdc) * U)


def test_deribit_sol_size_linear_rate_at_its_lot():
    # TV-25 SOL_USDC @200: MM = 2% + size x 0.0005%; 25 SOL -> 2.0125% x 5,000 = 100.625; IM 4.0125% -> 200.625;
    # 6,000 SOL -> IM 4% + 3% = 7% x 1,200,000 = 84,000. Lot 0.1 SOL: 0.0005% x 0.1 = 5e-7 = 500,000e-12 a lot
    t = RiskTiers.from_brackets("sol", [("1000000000000", 25, "0.02", "0.04")], "none").with_rate_per_size(
        "0.000005", "0.1"
    )
    assert t.rate_per_lot == 500_000
    assert t.maintenance_margin(5_000 * U, 250) == 100_625_000
    assert t.initial_margin(5_000 * U, 250) == 200_625_000
    assert t.initial_margin(1_200_000 * U, 60_000) == 84_000 * U


def test_size_linear_rate_is_capped_at_the_notional():
    # 1% + 19,900 BTC x 0.005% = 100.5% -> capped at 100%: MM = the notional
    t = RiskTiers.from_brackets("d", [("1000000000000", 50, "0.01", "0.02")], "none").with_rate_per_size(
        "0.00005", "0.001"
    )
    assert t.maintenance_margin(1_000 * U, 19_900_000) == 1_000 * U


@pytest.mark.parametrize(
    "tiers, lot, rate, message",
    [
        pytest.param({"tier_basis": "size"}, "0.001", "0", "maintenance_amount", id="size_basis_needs_no_cum"),
        pytest.param(
            {"maintenance_amount": "none", "rate_per_size": "0.000001"}, "0.0000001", "", "1e-12", id="rate_not_whole"
        ),
    ],
)
def test_bad_tier_rules_are_named(tiers, lot, rate, message):
    from delever.errors import InputError

    overrides = {"instrument": {"tiers": [{"cap": "20", "max_leverage": "75", "mmr": "0.01"}], **tiers}}
    overrides["instrument"]["lot_size"] = lot
    overrides["instrument"]["tick_size"] = "10"
    with pytest.raises(InputError, match=message):
        load_scenario(default_scenario_path(), overrides=overrides)


# ------------------------------------------------------------------------------------------- twins


@st.composite
def tables(draw):
    k = draw(st.integers(1, 5))
    caps = sorted(draw(st.lists(st.integers(1, 10**7), min_size=k, max_size=k, unique=True)))
    mmrs = sorted(draw(st.lists(st.integers(1, 200_000), min_size=k, max_size=k)))
    rows = [(str(c), 10, str(Decimal(r) / 10**6), "1") for c, r in zip(caps, mmrs)]
    basis = draw(st.sampled_from(["notional", "size"]))
    rate = draw(st.sampled_from(["0", "0.00005", "0.000001"]))
    if basis == "size":
        return RiskTiers.size_brackets("t", rows, "0.001", rate)
    return RiskTiers.from_brackets("t", rows, "none").with_rate_per_size(rate, "0.001")


@settings(max_examples=200, deadline=None)
@given(tables(), st.integers(0, 2**40), st.integers(0, 10**9))
def test_compiled_requirement_equals_the_reference(t, notional, lots):
    k = len(t.tiers)
    got = tier_requirement_compiled(notional, lots, t.floors, t.mmr_ppm, t.cum, k, t.basis, t.rate_per_lot)
    assert got == t.maintenance_margin(notional, lots)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**62), st.integers(0, 10**12), st.integers(0, 10**6), st.integers(0, 10**8))
def test_requirement_twin_exact_without_forming_the_product(notional, lots, mmr_ppm, rate):
    assert requirement_compiled(notional, lots, mmr_ppm, rate, 0) == requirement(notional, lots, mmr_ppm, rate, 0)


# ------------------------------------------------------------------------------------------- [margin] options


def test_fee_rate_added_to_every_mmr_keeps_the_maintenance_amounts():
    # Binance 2021 tier 2 (0.5%, cum 50) + 0.05%: at 100,000 USDT, 100,000 x 0.55% - 50 = 500, i.e. the MM (450)
    # plus 100,000 x 0.05% = 50 (cum depends only on differences of MMR)
    from delever.tiers import BINANCE_BTCUSDT_2021

    t = MarginConfig(mmr_fee_rate="0.0005").tiers(BINANCE_BTCUSDT_2021)
    assert BINANCE_BTCUSDT_2021.maintenance_margin(100_000 * U) == 450 * U
    assert t.maintenance_margin(100_000 * U) == 500 * U
    assert [x.maintenance_amount for x in t.tiers] == [x.maintenance_amount for x in BINANCE_BTCUSDT_2021.tiers]


def test_margin_options_of_the_rulebooks():
    assert get_venue("okx").margin_rule() == {"mmr_fee_rate": "0.0005"}
    assert get_venue("bitmex").margin_rule() == {
        "maintenance_value_isolated": "entry",
        "maintenance_value_cross": "entry",
        "mmr_fee_rate": "0.00075",
    }
    assert get_venue("bybit").margin_rule() == {"maintenance_value_isolated": "entry"}
    assert get_venue("binance").margin_rule() == {}
    assert MarginConfig(maintenance_value_isolated="entry").mm_entry() == 1
    assert MarginConfig(maintenance_value_cross="entry").mm_entry() == 2


def test_closed_gaps_are_gone():
    lines = {n: " ".join(get_venue(n).engine_gaps()) for n in ("okx", "bitmex", "bybit", "deribit", "bitget")}
    for n, text in lines.items():
        assert "scenario keeps its own tier table" not in text, n
        assert "liquidation trigger" not in text, n
        assert "tiers per step" not in text, n
    assert lines["bitmex"] == ""  # the inverse contract runs (delever.inverse)
    over = get_venue("okx").scenario_overrides()
    assert over["mechanisms"]["partial_liquidation"] == {  # type: ignore[index]
        "enabled": True,
        "mode": "tier",
        "tiers_per_step": 2,
        "whole_tiers": 2,
    }
    assert Fraction(over["margin"]["mmr_fee_rate"]) == Fraction(5, 10_000)  # type: ignore[index]


def test_dynamic_margin_keeps_the_size_basis_and_no_maintenance_amount():
    # volatility-scaled margins (x1.5) of OKX's size tiers: 1% -> 1.5%, 1.5% -> 2.25%, floors in lots unchanged,
    # still no maintenance amount: 150 BTC (tier 3, 2% -> 3%) at 50,000 -> 7,500,000 x 3% = 225,000
    from delever.mechanisms.dynamic_margin import scaled_tiers

    rows = [("20", 75, "0.01", "0.013"), ("100", 50, "0.015", "0.02"), ("180", 20, "0.02", "0.05")]
    base = RiskTiers.size_brackets("okx", rows, "0.001")
    s = scaled_tiers(base, 1.5)
    assert s.basis == BASIS_SIZE and s.floors.tolist() == base.floors.tolist() and not s.cum.any()
    assert s.mmr_ppm.tolist()[:3] == [15_000, 22_500, 30_000]
    assert s.maintenance_margin(7_500_000 * U, 150_000) == 225_000 * U
