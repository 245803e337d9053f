"""Kraken Futures (../shared/specs/venues.md section 7).

Documented rules used:

- **Equity Protection Process**
  (https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process): balances never go
  negative. Trigger: portfolio value < MM. (1) Liquidation: an IOC order whose limit keeps equity >= 0, i.e. at
  the bankruptcy price (:func:`ioc_limit_price`); a fill better than BP -> **the client keeps the remainder**;
  (2) Assignment: the unfilled remainder goes to opt-in liquidity providers (TV-33, :func:`assigned`);
  (3) Unwind: what is left is offset against opposing positions (an "unwind queue" exists in the API).
- **Margin**: IM from 2%, MM from 1%
  (https://support.kraken.com/hc/en-us/articles/360022835651-Leverage-Margining-Summary). TV-17 (inverse
  PI_XBTUSD): long 1,000 contracts at 8,000 with 0.01 BTC of margin -> LP 7,481, IOC limit 7,407 (BP): the
  exact trigger (``"mark"`` basis) with MM = 1% of the value at the price.

The engine runs the process as ``[liquidation] order = "bankruptcy-ioc"`` (:mod:`delever.ioc_order`) with the
``negative-equity`` ADL trigger (:mod:`delever.adl.trigger`): the IOC's limit is the position's bankruptcy price
(rounded against the account); it takes the book up to it (level by level, or along the depth curve) and stops;
the client keeps a better fill's remainder (no fee); what it did not fill is unwound in the same step against the
opposing positions at the bankruptcy price, so no fund pays. What differs is listed by
:meth:`~delever.venues.bridge.EngineBridge.engine_gaps`: assignment is not separate from the unwind.

Stand-ins:

- Assignment: who opts in to the Position Assignment Program is not published; the engine assigns nothing
  separately: the unfilled rest goes to the unwind queue.
- Only the first margin level (2% / 1%, 50x) is in venues.md: one open-ended tier for every contract.
- The unwind queue's order is not published: BitMEX's ranking key; the unwind price is not published: the
  bankruptcy price; the API's unwind-queue indicator: 20% lights among positions in profit.
- Liquidation fee: partial liquidations with fees go live 2026-03-26, rate not in venues.md: none.
- Funding: not in venues.md: the premium itself, hourly.
- Tick and lot sizes (not in venues.md): PI_XBTUSD tick 0.5, 1 contract of 1 USD; PF_XBTUSD tick 1, 0.0001 BTC;
  PF_ETHUSD tick 0.1, 0.001 ETH (Kraken Futures ``/derivatives/api/v3/instruments``, values at the time of
  writing).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..tiers import RiskTiers
from .exact import INVERSE_MONEY_SCALE, NO_CAP
from .margin_models import BracketMargin, scaled_brackets
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

INSTRUMENTS_API = "Kraken Futures /derivatives/api/v3/instruments (not in venues.md; values at the time of writing)"

LINEAR_TIER = RiskTiers.from_brackets("kraken-pf-standin", [(NO_CAP, 50, "0.01", "0.02")])
"""One open-ended tier: IM 2%, MM 1% (the documented first level)."""
INVERSE_TIER = scaled_brackets("kraken-pi-xbtusd-standin", [("21000000", 50, "0.01", "0.02")], INVERSE_MONEY_SCALE)
"""The same for PI_XBTUSD, in satoshis; open-ended (cap: 21M BTC, every bitcoin)."""


def assigned(position: int, filled_in_book: int) -> int:
    """Contracts passed to the assignment program: what the IOC liquidation left (TV-33)."""
    return abs(position) - abs(filled_in_book)


RULEBOOK = Rulebook(
    name="kraken",
    display_name="Kraken Futures",
    summary="IOC at BP, client keeps the surplus; then assignment to opt-in LPs, then unwind.",
    sources=(
        "https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process",
        "https://support.kraken.com/hc/en-us/articles/360022835651-Leverage-Margining-Summary",
        "https://support.kraken.com/hc/pt-br/articles/360022835231-Example-assignment",
        "https://support.kraken.com/hc/en-us/articles/4844463246100-Margining-Liquidations-Multi-Collateral",
    ),
    instruments={
        "PI_XBTUSD": VenueInstrument(
            "PI_XBTUSD",
            "inverse",
            "XBT",
            "USD",
            "XBT",
            Decimal("0.5"),
            Decimal(1),
            Decimal(1),
            BracketMargin(INVERSE_TIER),
            INSTRUMENTS_API,
        ),
        "PF_XBTUSD": VenueInstrument(
            "PF_XBTUSD",
            "linear",
            "XBT",
            "USD",
            "USD",
            Decimal(1),
            Decimal("0.0001"),
            Decimal(1),
            BracketMargin(LINEAR_TIER),
            INSTRUMENTS_API,
        ),
        "PF_ETHUSD": VenueInstrument(
            "PF_ETHUSD",
            "linear",
            "ETH",
            "USD",
            "USD",
            Decimal("0.1"),
            Decimal("0.001"),
            Decimal(1),
            BracketMargin(LINEAR_TIER),
            INSTRUMENTS_API,
        ),
    },
    liquidation=LiquidationProcedure(
        style="ioc_assignment_unwind",
        summary="IOC order with a limit keeping equity >= 0 (the client keeps a better fill's remainder); the "
        "unfilled rest is assigned to opt-in liquidity providers; what is left is unwound against "
        "opposing positions. Partial liquidations with fees from 2026-03-26.",
        loss_after_fund="assignment_then_unwind",
        surplus_to="trader",
    ),
    adl=AdlRule(
        trigger=AdlTrigger("assignment_unfilled", "Assignment could not place the remainder: it is unwound."),
        ranking="bitmex",
        ranking_summary="Unwind-queue order not published: BitMEX's PnL% x EffLev as a stand-in.",
        fill_price="bankruptcy",
        indicator="positive_lights",
        indicator_summary="The API has an unwind queue; its mapping is not published (20% lights stand-in).",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="none (the client keeps the remainder)",
        adl_fee="not published",
        summary="No liquidation fee before 2026-03-26; the new rate is not recovered.",
    ),
    funding=FundingRule(style="premium", interval_hours=1, summary="Not in venues.md: stand-in F = premium, hourly."),
    stand_ins=(
        "One open-ended tier at IM 2% / MM 1% (only the first level is documented).",
        "Unwind order: BitMEX's key; unwind price: BP; indicator: 20% lights.",
        "Assignment to opt-in liquidity providers: not separate from the unwind (who opts in is not published).",
        "Liquidation fee: none (rate from 2026-03-26 not recovered).",
        "Funding: F = premium, hourly.",
        "Tick/lot sizes: instruments API values, not in venues.md.",
    ),
)


def ioc_limit_price(symbol: str, side: int, lots: int, entry: Fraction | Decimal | str, collateral: int) -> int | None:
    """The IOC liquidation order's limit in ticks: the bankruptcy price, rounded so that equity stays >= 0
    (up for a long's sell, down for a short's buy)."""
    return RULEBOOK.bankruptcy_price(symbol, side, lots, entry, collateral)
