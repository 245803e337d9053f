"""Bitget (../shared/specs/venues.md section 8).

Documented rules used:

- **Liquidation** (https://www.bitget.club/futures/introduction/liquidation-summarize): cross liquidation when
  equity < the sum of tier MM with ``MM = tier MMR x PV at mark`` (no deduction); cancel orders -> net hedged
  long/short -> partial liquidation reducing **two tiers** -> the remaining position as market orders.
- **ADL** (https://www.bitget.live/bg/support/articles/12560603800805; 2025-09-27 version
  https://www.bitget.cloud/support/articles/12560603800805): triggered when the coin's fund is used up (newer:
  it "drops by 30% from its peak"); ends when the fund is positive (newer: recovers to 90% of the threshold);
  matched at the bankruptcy price, no fee. Cross ranking: ``positionROI * accountMMR`` in profit,
  ``positionROI / accountMMR`` in loss, ``positionROI = UPnL / |PV at entry|``.

Stand-ins:

- Bitget's tier tables are not in venues.md: Binance's BTCUSDT 2021 brackets (rates, caps, leverage) with **no**
  maintenance amount, since Bitget's MM is ``MMR x PV``; ETHUSDT the same.
- Where partial liquidation gives way to a full close is not stated: tiers 1-2 are closed in full (as OKX).
- The ADL trigger's newer text states no window nor end threshold: the peak since the run's start, ADL on while
  the fund is 30% or more below it and off once it is back above that (the end, "90% of the threshold", refers to
  an unpublished threshold); what is deleveraged while on is not stated: the part the fund would pay (the book
  first), as Bybit's drawdown rule.
- "Lights" count not stated: BitMEX's 5 lights in 20% steps. ``accountMMR`` read as MM / equity [INF].
- Liquidation fee and funding are not in venues.md: no fee rate; Binance's funding formula.
- Tick and lot sizes (not in venues.md): BTCUSDT 0.1 / 0.001 BTC, ETHUSDT 0.01 / 0.01 ETH (Bitget
  ``/api/v2/mix/market/contracts``, values at the time of writing).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..tiers import BINANCE_BTCUSDT_2021
from .margin_models import BracketMargin, without_deduction
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

CONTRACTS_API = "Bitget /api/v2/mix/market/contracts (not in venues.md; values at the time of writing)"

STANDIN_TIERS = without_deduction("bitget-standin (Binance 2021 brackets, MM = MMR x PV)", BINANCE_BTCUSDT_2021)
"""Stand-in: Binance's 2021 BTCUSDT brackets with no maintenance amount (Bitget's tables not in venues.md)."""

RULEBOOK = Rulebook(
    name="bitget",
    display_name="Bitget",
    summary="Tier MMR on the whole PV; partial liquidation two tiers at a time; ROI x MMR ADL at BP, no fee.",
    sources=(
        "https://www.bitget.club/futures/introduction/liquidation-summarize",
        "https://www.bitget.live/bg/support/articles/12560603800805",
        "https://www.bitget.cloud/support/articles/12560603800805",
        "https://www.glassgs.com/es-AR/support/articles/12560603800805",
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
            BracketMargin(STANDIN_TIERS),
            CONTRACTS_API,
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
            BracketMargin(STANDIN_TIERS),
            CONTRACTS_API,
        ),
    },
    liquidation=LiquidationProcedure(
        style="tier_steps",
        tiers_per_step=2,
        full_below_tier=2,
        summary="Cancel orders; net hedged long/short; partial liquidation reducing two tiers; the remaining "
        "position as market orders.",
        loss_after_fund="adl",
        surplus_to="insurance_fund",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "fund_drawdown",
            "The coin's fund is used up (newer text: it drops 30% from its peak); "
            "ends when positive (newer: back to 90% of the threshold).",
            drawdown=Fraction(3, 10),
            while_on="deficit",
        ),
        ranking="roi_mmr",
        ranking_summary="positionROI x accountMMR (profit), positionROI / accountMMR (loss).",
        fill_price="bankruptcy",
        indicator="bitmex_lights",
        indicator_summary="Lights (count not stated: 5 in 20% steps, stand-in).",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="insurance_fund",
        adl_fee="none",
        summary="ADL: no fee, clawback paused; liquidation fee rate not in venues.md.",
    ),
    funding=FundingRule(
        style="clamped_interest",
        interval_hours=8,
        interest=Fraction(1, 10_000),
        clamp=Fraction(5, 10_000),
        summary="Not in venues.md: stand-in Binance's F = P + clamp(I - P, 0.05%, -0.05%).",
    ),
    stand_ins=(
        "Tiers: Binance 2021 BTCUSDT brackets without maintenance amount (Bitget's tables not in venues.md).",
        "Full close below tier 3 (where partial stops is not stated).",
        "ADL on a 30% fund drawdown: the peak since the run's start (no window stated); ends when the drawdown is "
        "back under 30% (90% of an unpublished threshold); deleverages the deficit part while on (not stated).",
        "Indicator: 5 lights; accountMMR = MM / equity.",
        "No liquidation fee rate; funding as Binance.",
        "Tick/lot sizes: contracts API values, not in venues.md.",
    ),
)
