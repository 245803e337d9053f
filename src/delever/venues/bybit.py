"""Bybit (../shared/specs/venues.md section 3).

Documented rules used:

- **Tiers**: BTCUSDT's 20 risk limits (https://bybitx.global/pt-PT/announcement-info/margin-parameters),
  ``MM = PV * MMR - deduction``, ``deduction_n = RiskLimit_{n-1} * (MMR_n - MMR_{n-1}) + deduction_{n-1}``
  (TV-23); ``IMR = 1 / max leverage`` (rounded up to a ppm). Inverse BTCUSD: tier 1 only (150 BTC, MM 0.5%,
  IM 1%, 100x; the API example in repo bybit-exchange/docs, docs/v5/market/risk-limit.mdx).
- **Isolated liquidation price** (the ``"entry"`` basis: MM at the entry value): USDT
  ``LP_long = EP - (IM - MM)/size - extraMargin/size`` (TV-14); inverse UTA
  ``LP_long = Qty / [PV + (IM - MM)]``, ``LP_short = Qty / [PV - (IM - MM)]`` (TV-19).
- **Bankruptcy price**: ``BP_long = EP * (1 - IMR)`` (USDT, TV-13), inverse ``EP * lev / (lev + 1)``; long BP
  rounded **up** and short BP **down** to the tick (0.5 on BTCUSD, TV-08), liquidation prices the same way
  (TV-08's 7,773.50).
- **Inverse cross** (old, long): ``Qty*(1/EP - 1/LP) = -(Bal - OrderMargin - Qty/EP*MMR - Qty*0.00075/BP)``,
  ``BP = 1.00075*Qty/(Qty/EP + Bal - OrderMargin)`` (help centre, venues.md section 3); the short mirrors it
  [INF]. Order margin is 0 for a single position.
- **Liquidation**: tier by tier (lower the risk limit, cancel orders, FillOrKill of ``value - lower risk
  limit``, else take over at BP); remaining margin to the fund.
- **ADL**: grouped-pool trigger (2025): ``pnlRatio = (symbol PnL - symbol 8h max PnL) / pool 8h max balance``,
  start at -0.30, stop above -0.25, pool balance above ``adlTriggerThreshold`` (TV-04, TV-05); equity ADL when
  the pool balance <= 0 (TV-06). Filled at the BP of the liquidated order; maker fee to the ADL'd trader, taker
  fee to the liquidated order.
- **Funding**: ``I = (0.06% - 0.03%) / 3 = 0.01%``; ``F = avgP + clamp(I - avgP, 0.05%, -0.05%)`` with
  ``avgP`` weighted by minute index (:func:`time_weighted_premium`).

Stand-ins:

- The current ADL ranking formula is not recovered ("highest profit and effective leverage"; the old page
  shows a BitMEX-style "Ranking =" column): BitMEX's formula.
- ``adlRankIndicator`` 1-5 mapping is not published: BitMEX's 20% lights among positions in profit, 0 for the
  rest (:func:`delever.venues.adl_rules.indicator_positive_lights`).
- ``adlTriggerThreshold``: 10,000 (the API response examples; the doc examples use 1).
- Cross margin on USDT contracts: the exact trigger (``"mark"`` basis); Bybit's cross formula is not in
  venues.md.
- ETHUSDT's tiers are not in venues.md: the BTCUSDT table. BTCUSD above 150 BTC: no tier recovered (over the
  limit).
- Taker fee 0.075% (the inverse cross formula's 0.00075). No separate liquidation fee rate is in venues.md.
- Tick and lot sizes (not in venues.md): BTCUSDT 0.1 / 0.001 BTC, ETHUSDT 0.01 / 0.01 ETH, BTCUSD 0.5 /
  1 contract of 1 USD (https://api.bybit.com/v5/market/instruments-info; TV-08 shows BTCUSD's 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..tiers import RiskTiers
from .exact import INVERSE_MONEY_SCALE, frac
from .margin_models import BracketMargin, scaled_brackets
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure, MarginMode, PriceRounding
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook
from .solver import inverse_price

INSTRUMENTS_INFO = "https://api.bybit.com/v5/market/instruments-info (not in venues.md; values at the time of writing)"
TAKER_FEE = Fraction(75, 100_000)
"""0.075%: the fee term of Bybit's old inverse cross formula (``Qty * 0.00075 / BP``)."""

BTCUSDT_TIERS = RiskTiers.from_brackets(
    "bybit-btcusdt",
    [
        # (risk limit USDT, max leverage, MMR); IMR = 1 / max leverage. venues.md section 3, TV-23.
        ("2000000", 100, "0.005", None),
        ("2600000", 90, "0.0056", None),
        ("3200000", 80, "0.0063", None),
        ("3800000", 75, "0.0067", None),
        ("4400000", 70, "0.0071", None),
        ("5000000", 65, "0.0077", None),
        ("5600000", 55, "0.0091", None),
        ("8500000", 50, "0.01", None),
        ("10000000", 45, "0.013", None),
        ("14000000", 40, "0.015", None),
        ("20000000", 35, "0.016", None),
        ("28000000", 30, "0.02", None),
        ("38000000", 25, "0.025", None),
        ("50000000", 20, "0.029", None),
        ("55000000", 19, "0.03", None),
        ("60000000", 18, "0.035", None),
        ("65000000", 17, "0.036", None),
        ("70000000", 16, "0.038", None),
        ("75000000", 15, "0.04", None),
        ("80000000", 14, "0.045", None),
    ],
)
"""Bybit BTCUSDT, 20 tiers (https://bybitx.global/pt-PT/announcement-info/margin-parameters)."""

PUBLISHED_DEDUCTIONS_USDT = (
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
)
"""The deductions Bybit publishes for the 20 tiers (TV-23 checks the derived ones against these)."""

ETHUSDT_STANDIN = RiskTiers("bybit-ethusdt-standin (BTCUSDT table)", BTCUSDT_TIERS.tiers)
"""Stand-in: Bybit's ETHUSDT table is not in venues.md."""

BTCUSD_TIERS = scaled_brackets("bybit-btcusd", [("150", 100, "0.005", "0.01")], INVERSE_MONEY_SCALE)
"""Inverse BTCUSD tier 1 (150 BTC, MM 0.5%, IM 1%, 100x), in satoshis; higher tiers not recovered."""


def interest_rate(
    quote_rate: Fraction = Fraction(6, 10_000), base_rate: Fraction = Fraction(3, 10_000), intervals_per_day: int = 3
) -> Fraction:
    """``I = (quote interest - base interest) / intervals`` (TV-29: (0.06% - 0.03%) / 3 = 0.01%)."""
    return (Fraction(quote_rate) - Fraction(base_rate)) / intervals_per_day


def time_weighted_premium(premiums: Sequence[Fraction | str]) -> Fraction:
    """``avgP = sum_i P_i * i / sum_i i`` over the interval's minute premiums, i = 1..60N (later weighs more)."""
    ps = [frac(p) for p in premiums]
    den = len(ps) * (len(ps) + 1) // 2
    return sum((p * (i + 1) for i, p in enumerate(ps)), Fraction(0)) / den


@dataclass(frozen=True)
class BybitRulebook(Rulebook):
    """Bybit: the base rules plus its old inverse cross formulas (fee to close at BP in the requirement)."""

    def _bankruptcy_price(
        self, c: VenueInstrument, s: int, e: Fraction, cf: Fraction, margin_mode: MarginMode
    ) -> Fraction | None:
        """Inverse cross: ``BP_long = (1 + f) Q / (Q/EP + Bal)``, ``BP_short = (1 - f) Q / (Q/EP - Bal)``
        (``Q`` = quantity in money x price units, ``f`` the 0.075% taker fee); otherwise the base rule."""
        if not (margin_mode == "cross" and c.contract == "inverse"):
            return super()._bankruptcy_price(c, s, e, cf, margin_mode)
        side = 1 if s > 0 else -1
        p = inverse_price(abs(s) * c.k(), e, side, cf)
        return None if p is None else (1 + side * self.fees.taker_fee) * p

    def _liquidation_price(
        self, c: VenueInstrument, s: int, e: Fraction, cf: Fraction, margin_mode: MarginMode
    ) -> Fraction | None:
        """Inverse cross: ``Q/LP = Q/EP + side*(Bal - MM_E - Q f / BP)`` with ``MM_E`` at the entry value."""
        if not (margin_mode == "cross" and c.contract == "inverse"):
            return super()._liquidation_price(c, s, e, cf, margin_mode)
        bp = self._bankruptcy_price(c, s, e, cf, margin_mode)
        q = abs(s) * c.k()
        b = c.margin.band(q / e, abs(s))
        mm = q / e * b.mmr - b.cum
        fee = q * self.fees.taker_fee / bp if bp else Fraction(0)
        return inverse_price(q, e, 1 if s > 0 else -1, cf - mm - fee)


RULEBOOK = BybitRulebook(
    name="bybit",
    display_name="Bybit",
    summary="20 BTCUSDT tiers with deduction; entry-value LP; tier-by-tier liquidation; pool-drawdown ADL at BP.",
    sources=(
        "https://bybitx.global/pt-PT/announcement-info/margin-parameters",
        "https://testnet.bybit.com/en-US/help-center/s/article/Liquidation-Price-USDT-Contract",
        "https://testnet.bybit.com/ar-SA/help-center/article/Liquidation-Price-Calculation-under-Isolated-Mode-Unified-Trading-Account",
        "https://help.bybit.com/hc/en-us/articles/360011431853-What-is-Bankruptcy-Price-",
        "https://help.bybit.com/hc/en-us/articles/900000031623-What-is-Auto-Deleveraging-ADL-",
        "https://testnet.bybitx.global/en/help-center/article/Auto-Deleveraging-ADL",
        "https://bybit-exchange.github.io/docs/v5/market/adl-alert",
        "https://bybit.com/pt-BR/help-center/bybitHC_Article/?id=000001098&language=en_US",
        "https://help.bybit.com/hc/en-us/articles/360039261114-What-is-funding-rate-and-predicted-rate-",
    ),
    instruments={
        "BTCUSDT": VenueInstrument(
            "BTCUSDT",
            "linear",
            "BTC",
            "USDT",
            "USDT",
            Decimal("0.1"),
            Decimal("0.001"),
            Decimal(1),
            BracketMargin(BTCUSDT_TIERS),
            INSTRUMENTS_INFO,
        ),
        "ETHUSDT": VenueInstrument(
            "ETHUSDT",
            "linear",
            "ETH",
            "USDT",
            "USDT",
            Decimal("0.01"),
            Decimal("0.01"),
            Decimal(1),
            BracketMargin(ETHUSDT_STANDIN),
            INSTRUMENTS_INFO,
        ),
        "BTCUSD": VenueInstrument(
            "BTCUSD",
            "inverse",
            "BTC",
            "USD",
            "BTC",
            Decimal("0.5"),
            Decimal(1),
            Decimal(1),
            BracketMargin(BTCUSD_TIERS),
            INSTRUMENTS_INFO,
        ),
    },
    liquidation=LiquidationProcedure(
        style="tier_steps",
        tiers_per_step=1,
        full_below_tier=1,
        summary="Lowest tier: cancel orders, close at BP. Higher: lower the risk limit keeping orders; cancel "
        "orders and lower it; FillOrKill of (position value - lower risk limit); else taken over at BP. "
        "Better than BP -> remaining margin to the fund; worse -> fund; fund short -> ADL.",
        loss_after_fund="adl",
        surplus_to="insurance_fund",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "pnl_drawdown",
            "Since 2025 (grouped pools): pnlRatio = (symbol PnL - symbol 8h max PnL) / pool 8h max balance; ADL when "
            "pool balance > adlTriggerThreshold and pnlRatio <= -0.30, until pnlRatio > -0.25; pool balance <= 0 "
            "-> equity ADL until > 0. Before: the fund cannot cover.",
            window_hours=8,
            pnl_ratio_start=Fraction(-3, 10),
            pnl_ratio_stop=Fraction(-1, 4),
            balance_threshold=Fraction(10_000),
            while_on="deficit",
        ),
        ranking="bitmex",
        ranking_summary="'highest profit and effective leverage' (formula not recovered): BitMEX's PnL% x EffLev "
        "as a stand-in.",
        fill_price="bankruptcy",
        indicator="positive_lights",
        indicator_summary="adlRankIndicator 0 = no position, 1-5 (mapping not published: 20% lights stand-in).",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="insurance_fund",
        adl_fee="maker fee charged to the ADL'd trader, taker fee to the liquidated order",
        taker_fee=TAKER_FEE,
        summary="A fill better than BP sends the remaining margin to the fund; no separate rate in venues.md.",
    ),
    funding=FundingRule(
        style="clamped_interest",
        interval_hours=8,
        interest=Fraction(1, 10_000),
        clamp=Fraction(5, 10_000),
        summary="I = (0.06% - 0.03%) / 3; F = avgP + clamp(I - avgP, 0.05%, -0.05%), avgP weighted by minute "
        "index over the interval.",
    ),
    rounding=PriceRounding("ceil", "floor", "Bybit: long BP rounded up, short BP down, to the tick (TV-08)"),
    lp_basis_isolated="entry",
    lp_basis_cross="mark",
    stand_ins=(
        "ADL ranking: BitMEX's formula (Bybit's current formula not recovered).",
        "adlRankIndicator mapping: 20% lights among positions in profit, 0 otherwise.",
        "adlTriggerThreshold 10,000 (API examples; doc examples use 1).",
        "USDT cross LP: exact trigger at the mark (Bybit's cross formula not in venues.md).",
        "ETHUSDT tiers: BTCUSDT's; BTCUSD: tier 1 only.",
        "Taker fee 0.075% (old inverse cross formula).",
        "Tick/lot sizes: instruments-info values, not in venues.md.",
    ),
)
