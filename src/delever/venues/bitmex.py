"""BitMEX (../shared/specs/venues.md section 2).

Documented rules used:

- **Risk limits** (https://bitmex.com/app/riskLimitsExamples, TV-24): ``MMR = baseMM + steps * baseMM``,
  ``IMR = baseIM + steps * baseMM``; XBTUSD base MM 0.50%, base IM 1.00% (2024-03-14), base risk limit 200 XBT,
  step 150 XBT (2021-08-31): :class:`delever.venues.margin_models.StepMargin` on the position value in satoshis.
- **Liquidation price, inverse** [3P: BitMEX support quoted on Reddit, section 2]: ``IM = 1/lev + 2*takerFee``,
  ``MM = 0.50% + takerFee + fundingRate``, long ``LP = EP / (1 + IM - MM)``, short ``LP = EP / (1 - IM + MM)``:
  the ``"entry"`` basis with the taker fee (and funding rate) added to the MMR and ``2 * takerFee`` reserved in
  the margin posted for a leverage.
- **Liquidation**: lowest tier: cancel orders, then the engine takes the position over with a limit at the
  bankruptcy price. Higher tiers: drop to a lower risk limit, cancel orders, FillOrKill down to a lower tier,
  else take over at BP (tier by tier). The maintenance margin is lost to the insurance fund.
- **ADL**: unfilled when the mark reaches BP and the contract's fund is depleted; ``PnL% * EffLev`` ranking
  (``PnL% / EffLev`` in loss), longs and shorts separately; filled at the BP of the initial liquidated order;
  5 lights in 20% steps (TV-01, TV-02).
- **Funding** (https://bitmex.com/app/perpetualContractsGuideExamples): ``I = (QuoteRate - BaseRate) /
  FundingInterval`` (3 a day), ``F = P + clamp(I - P, 0.05%, -0.05%)``, paid 04/12/20 UTC on the mark value.

Stand-ins:

- Taker fee 0.075% (in the LP formula's fee terms) and a funding rate of 0 in ``MM``: the formula takes the
  rates of the moment, venues.md gives no value.
- ETHUSDT: BitMEX's ETH risk limits are not in venues.md; XBTUSD's rates are used with the base limit and
  step converted at a stated 100,000 USDT/XBT (20,000,000 and 15,000,000 USDT); its LP uses the same
  entry-basis formula (linear form).
- Tick and lot sizes are not in venues.md: XBTUSD tick 0.5 USD, lot 100 contracts of 1 USD; ETHUSDT tick
  0.05, lot 0.001 ETH (https://www.bitmex.com/api/v1/instrument, values at the time of writing).
- BitMEX's largest risk limit is not in venues.md: 100 steps.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from .exact import INVERSE_MONEY_SCALE, LINEAR_MONEY_SCALE
from .margin_models import StepMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

INSTRUMENT_API = "https://www.bitmex.com/api/v1/instrument (not in venues.md; values at the time of writing)"
TAKER_FEE = Fraction(75, 100_000)
"""Stand-in taker fee 0.075% for the LP formula's fee terms (not in venues.md)."""

XBTUSD_RISK_LIMITS = StepMargin(
    "bitmex-xbtusd",
    base_limit=200 * INVERSE_MONEY_SCALE,
    step=150 * INVERSE_MONEY_SCALE,
    base_mmr=Fraction(5, 1000),
    base_imr=Fraction(1, 100),
    step_rate=Fraction(5, 1000),
)
"""XBTUSD: base 200 XBT, step 150 XBT, base MM 0.50%, base IM 1.00%, +0.50% per step (TV-24)."""

ETHUSDT_STANDIN = StepMargin(
    "bitmex-ethusdt-standin",
    base_limit=20_000_000 * LINEAR_MONEY_SCALE,
    step=15_000_000 * LINEAR_MONEY_SCALE,
    base_mmr=Fraction(5, 1000),
    base_imr=Fraction(1, 100),
    step_rate=Fraction(5, 1000),
)
"""Stand-in: XBTUSD's rates, limits converted at 100,000 USDT/XBT (BitMEX's ETH limits not in venues.md)."""


def interest_rate(quote_rate: Fraction, base_rate: Fraction, intervals_per_day: int = 3) -> Fraction:
    """``I = (QuoteRate - BaseRate) / FundingInterval`` for daily borrowing rates (TV-28: (1% - 0.25%) / 3)."""
    return (Fraction(quote_rate) - Fraction(base_rate)) / intervals_per_day


RULEBOOK = Rulebook(
    name="bitmex",
    display_name="BitMEX",
    summary="Base + step risk limits; tier-by-tier liquidation, MM lost to the fund; PnL% x leverage ADL at BP.",
    sources=(
        "https://www.bitmex.com/app/autoDeleveraging",
        "https://www.bitmex.com/app/autoDeleveragingExamples",
        "https://support.bitmex.com/hc/en-gb/articles/18589621443357-What-is-Auto-Deleveraging",
        "https://www.bitmex.com/app/liquidation",
        "https://testnet.bitmex.com/app/liquidationExamples",
        "https://bitmex.com/app/riskLimitsExamples",
        "https://bitmex.com/app/perpetualContractsGuideExamples",
        "https://redlib.hbubli.cc/r/BitMEX/search?q=flair_name%3A%22Solved%22&restrict_sr=on",
    ),
    instruments={
        "XBTUSD": VenueInstrument(
            "XBTUSD",
            "inverse",
            "XBT",
            "USD",
            "XBT",
            Decimal("0.5"),
            Decimal(100),
            Decimal(1),
            XBTUSD_RISK_LIMITS,
            INSTRUMENT_API,
        ),
        "ETHUSDT": VenueInstrument(
            "ETHUSDT",
            "linear",
            "ETH",
            "USDT",
            "USDT",
            Decimal("0.05"),
            Decimal("0.001"),
            Decimal(1),
            ETHUSDT_STANDIN,
            INSTRUMENT_API,
        ),
    },
    liquidation=LiquidationProcedure(
        style="tier_steps",
        tiers_per_step=1,
        full_below_tier=1,
        summary="Lowest risk limit: cancel orders, then take over at a limit at BP. Higher: drop to a lower risk "
        "limit, cancel orders, FillOrKill down to a lower tier, else take over at BP. Fill better than BP "
        "-> surplus to the fund; worse -> the fund aggresses; still unfilled -> ADL (venues.md section 2).",
        loss_after_fund="adl",
        surplus_to="insurance_fund",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "fund_cannot_pay",
            "The liquidation is unfilled when the mark reaches BP and the contract's fund is depleted.",
        ),
        ranking="bitmex",
        ranking_summary="PnL% x EffLev (PnL% > 0), PnL% / EffLev (< 0); EffLev = |MarkValue| / (MarkValue - "
        "BankruptValue); longs and shorts ranked separately.",
        fill_price="bankruptcy",
        indicator="bitmex_lights",
        indicator_summary="5 lights in 20% steps of cumulative quantity (TV-01).",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="insurance_fund",
        adl_fee="not stated (closed at BP of the initial liquidated order)",
        taker_fee=TAKER_FEE,
        summary="No separate liquidation fee: the maintenance margin is lost and a fill better than BP goes to "
        "the insurance fund.",
    ),
    funding=FundingRule(
        style="clamped_interest",
        interval_hours=8,
        interest=Fraction(1, 10_000),
        clamp=Fraction(5, 10_000),
        summary="I = (QuoteRate - BaseRate) / 3; F = P + clamp(I - P, 0.05%, -0.05%); Funding = MarkValue x F "
        "at 04/12/20 UTC.",
    ),
    lp_basis_isolated="entry",
    lp_basis_cross="entry",
    liquidation_extra_mmr=TAKER_FEE,
    leverage_fee_reserve=2 * TAKER_FEE,
    stand_ins=(
        "Taker fee 0.075% and funding rate 0 in the LP formula's MM (rates of the moment, not in venues.md).",
        "ETHUSDT risk limits: XBTUSD's rates, limits at 100,000 USDT/XBT (ETH limits not in venues.md).",
        "Cross margin: the same LP formula with the wallet as the margin.",
        "Tick/lot sizes: instrument API values, not in venues.md; largest risk limit: 100 steps.",
    ),
)
