"""Binance USDⓈ-M Futures (../shared/specs/venues.md section 1).

Documented rules used:

- **Tiers**: BTCUSDT brackets of 2021-03-18 (:data:`delever.tiers.BINANCE_BTCUSDT_2021`,
  https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6), ``MM = notional * MMR -
  cum`` with ``cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}`` (TV-22).
- **Liquidation price**: one-way mode, ``LP = (WB - TMM1 + UPNL1 + cumB - Side*Pos*EP) / (Pos*MMR_B -
  Side*Pos)`` with the MMR and cum of the tier the LP falls in ("recompute", section 1): the base class's
  ``"mark"`` basis. Cross margin passes ``WB - TMM1 + UPNL1`` as the collateral. Hedge mode is not modelled.
- **Liquidation**: one IOC order for the position ("Smart Liquidation"), the rest taken over by the insurance
  fund at the bankruptcy price; fee 0.3% on BTCUSDT and 0.5% on other perpetuals (old Zendesk text), to the fund.
- **ADL**: when the fund cannot take the bankrupt position; LeveragePnl ranking (TV-03); closed at the
  bankruptcy price of the initial liquidated order, no trading fee; API ``adlQuantile`` 0-4.
- **Funding**: ``F = P + clamp(I - P, 0.05%, -0.05%)``, I = 0.01% per 8 h.

Stand-ins (Binance does not publish them, or venues.md did not recover them):

- ETHUSDT's tier table is not in venues.md: it uses the BTCUSDT 2021 brackets (a stated stand-in).
- The current liquidation ("Insurance Clearance") fee is not recovered: the old 0.3% / 0.5% are used.
- BTCUSDT's funding cap is not in venues.md (only per-symbol examples such as OGNUSDT ±3%): no cap.
- Tick and lot sizes are not in venues.md: BTCUSDT 0.1 / 0.001 BTC (the repository's default instrument),
  ETHUSDT 0.01 / 0.001 ETH (https://fapi.binance.com/fapi/v1/exchangeInfo, values at the time of writing).
- The mapping of the LeveragePnl quantile to ``adlQuantile`` 0-4 is not published: quintile buckets
  (:func:`delever.venues.adl_rules.indicator_binance`).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..tiers import BINANCE_BTCUSDT_2021, RiskTiers
from .margin_models import BracketMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

EXCHANGE_INFO = "https://fapi.binance.com/fapi/v1/exchangeInfo (not in venues.md; values at the time of writing)"

ETHUSDT_STANDIN = RiskTiers("binance-ethusdt-standin (BTCUSDT 2021 brackets)", BINANCE_BTCUSDT_2021.tiers)
"""Stand-in: Binance's ETHUSDT table is not in venues.md, so ETHUSDT reuses the BTCUSDT 2021 brackets."""

RULEBOOK = Rulebook(
    name="binance",
    display_name="Binance USDⓈ-M Futures",
    summary="Brackets with maintenance amount; full IOC liquidation then fund takeover; LeveragePnl ADL at BP.",
    sources=(
        "https://www.binance.com/en/support/faq/360033525471",
        "https://dev.binance.vision/t/how-to-caculating-leverage-pnl-quantile/17801",
        "https://binance.zendesk.com/hc/en-us/articles/360033525271-Liquidation",
        "https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93",
        "https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6",
        "https://docs.traderwagon.com/faq/futures-trading-introduction/liquidation-protocol",
        "https://www.binance.com/en/square/post/588537",
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
            BracketMargin(BINANCE_BTCUSDT_2021),
            EXCHANGE_INFO,
        ),
        "ETHUSDT": VenueInstrument(
            "ETHUSDT",
            "linear",
            "ETH",
            "USDT",
            "USDT",
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal(1),
            BracketMargin(ETHUSDT_STANDIN),
            EXCHANGE_INFO,
        ),
    },
    liquidation=LiquidationProcedure(
        style="full",
        summary="Cancel open orders; one large IOC order to reduce the requirement; if still below MM the "
        "position is closed at the bankruptcy price and taken over by the insurance fund "
        "(venues.md section 1, Smart Liquidation).",
        loss_after_fund="adl",
        surplus_to="insurance_fund",
    ),
    adl=AdlRule(
        trigger=AdlTrigger("fund_cannot_pay", "The insurance fund cannot accept the bankrupt position."),
        ranking="binance",
        ranking_summary="LeveragePnl = max(0, uPnL) / max(1, WB) x MM / (WB + uPnL) (TV-03).",
        fill_price="bankruptcy",
        indicator="binance_quantile",
        indicator_summary="adlQuantile 0-4 from rank / count, every 30 s (mapping to 0-4: quintile stand-in).",
    ),
    fees=FeeRule(
        liquidation_fee=Fraction(3, 1000),
        liquidation_fee_to="insurance_fund",
        adl_fee="none (closed at the bankruptcy price, no trading fee)",
        summary="0.3% on BTCUSDT, 0.5% on other perpetuals, on the liquidated amount (old text; current "
        "'Insurance Clearance Fee' rates not recovered).",
        by_symbol={"ETHUSDT": Fraction(5, 1000)},
    ),
    funding=FundingRule(
        style="clamped_interest",
        interval_hours=8,
        interest=Fraction(1, 10_000),
        clamp=Fraction(5, 10_000),
        summary="F = P + clamp(I - P, 0.05%, -0.05%), I = 0.01% / 8 h; impact notional = 200 USDT of margin; "
        "BTCUSDT cap not recovered (none applied).",
    ),
    stand_ins=(
        "ETHUSDT tiers: BTCUSDT 2021 brackets (ETHUSDT table not in venues.md).",
        "Liquidation fee: old 0.3% (BTCUSDT) / 0.5% (others); current rate not recovered.",
        "Funding cap: none (BTCUSDT cap not in venues.md).",
        "adlQuantile mapping: quintiles of rank / count; 0 when LeveragePnl is 0.",
        "Tick/lot sizes: exchangeInfo values, not in venues.md.",
    ),
)
