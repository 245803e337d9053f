"""Hyperliquid (../shared/specs/venues.md section 6).

Documented rules used:

- **Margin tiers** (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers): ``MM = notional *
  MMR - deduction``, ``MMR(n) = IMR at max leverage of tier n / 2``, ``deduction(n) = deduction(n-1) +
  lower_bound(n) * (MMR(n) - MMR(n-1))``. BTC 0-150M 40x, >150M 20x; ETH 0-100M 25x, >100M 15x.
- **Liquidation price** (text quoted by https://docs.hyena.trade/trading/liquidation):
  ``liq_price = price - side * margin_available / position_size / (1 - l * side)``, ``l = 1 /
  maintenance_leverage`` = MMR: the exact trigger (``"mark"`` basis); tests check the two agree.
- **Liquidation** (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations): market orders for
  the position; above 100k USDC only 20% is sent, then a 30 s cooldown in which the whole position goes
  (TV-34); no clearance fee; what is left stays with the trader. Below 2/3 of MM: **backstop liquidation** by
  the liquidator vault (HLP), which keeps the maintenance margin.
- **ADL** (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging): when an account value or
  an isolated position value is negative; ranked by ``(mark / entry) * (notional / account value)`` among
  users in profit; closed at the **previous mark price**; no public indicator.
- **Funding**: 8-hour ``F = avgP + clamp(I - avgP, -0.05%, 0.05%)``, I = 0.01% per 8 h, paid hourly at F/8,
  capped at 4% an hour.
- **Mark price** (venues.md section 6: "CEX prices + own book"; the formula from
  https://hyperliquid.gitbook.io/hyperliquid-docs/trading/robust-price-indices): the median of (1) the oracle
  plus a 150 s EMA of (Hyperliquid mid - oracle), (2) the median of best bid, best ask and last trade, (3) the
  median of Binance, OKX and Bybit perp mids; used for margining and liquidations. The engine's mark
  ``median(index, index + EMA(last - index), last)`` (:mod:`delever.mark`) is that median with the other venues'
  perps at the index (the crash is not modelled on them) and the book's marginal price for (2): run with
  ``[mark] basis_ema_s = 150`` (:data:`MARK_BASIS_EMA_S`). No band on the mark is published.

Stand-ins:

- Shorts' ADL index: the doc's index falls as a short gains (section 6 "not stated"); a short uses
  ``entry / mark`` (:func:`delever.venues.adl_rules.score_hyperliquid`).
- ETH's second tier has ``MMR = 1 / (2 * 15) = 3.3333...%``, not a whole ppm: it is rounded **up** to
  3.3334% (IMR 6.6667%), against the account, and its deduction derived from that (1,333,400 USDC).
- Tiers have no published upper bound: the last tier is open-ended (cap 1e12 USDC).
- The backstop vault's loss threshold that triggers ADL is unpublished (section 13).
- Tick and lot sizes (not in venues.md): BTC ``szDecimals`` 5 (lot 0.00001) and integer prices (tick 1);
  ETH ``szDecimals`` 4 and tick 0.1 (prices: 5 significant figures, integers always allowed; Hyperliquid API
  ``meta``, values at the time of writing).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..tiers import RiskTiers
from .exact import LINEAR_MONEY_SCALE, NO_CAP
from .margin_models import BracketMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure, MarkRule
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

META = "Hyperliquid info API 'meta' (szDecimals; not in venues.md; values at the time of writing)"

BTC_TIERS = RiskTiers.from_brackets(
    "hyperliquid-btc", [("150000000", 40, "0.0125", "0.025"), (NO_CAP, 20, "0.025", "0.05")]
)
"""BTC: 0-150M 40x (MMR 1.25%), above 20x (MMR 2.5%, deduction 1,875,000 USDC)."""
ETH_TIERS = RiskTiers.from_brackets(
    "hyperliquid-eth", [("100000000", 25, "0.02", "0.04"), (NO_CAP, 15, "0.033334", "0.066667")]
)
"""ETH: 0-100M 25x (MMR 2%), above 15x (MMR 1/30 rounded up to 3.3334%)."""

BACKSTOP_BELOW_MM = Fraction(2, 3)
SLICE_ABOVE = 100_000 * LINEAR_MONEY_SCALE

ROBUST_PRICES = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/robust-price-indices"
MARK_BASIS_EMA_S = 150.0
"""Seconds: the mark's "150 second exponential moving average" of (mid - oracle), whose update weights the past
by ``exp(-t / 2.5 minutes)`` (:data:`ROBUST_PRICES`): a time constant of 2.5 min = 150 s."""


def backstop_triggered(equity: int, maintenance_margin: int) -> bool:
    """``equity < 2/3 * MM``: the liquidator vault takes the position (and the remaining margin) over."""
    return 3 * equity < 2 * maintenance_margin


def documented_liquidation_price(
    price: Fraction, side: int, margin_available: Fraction, size: Fraction, mmr: Fraction
) -> Fraction:
    """Hyperliquid's text: ``price - side * margin_available / position_size / (1 - l * side)``, ``l = MMR``;
    ``margin_available = equity - MM`` at ``price`` (quote units, base size)."""
    return price - side * margin_available / size / (1 - mmr * side)


RULEBOOK = Rulebook(
    name="hyperliquid",
    display_name="Hyperliquid",
    summary="Two tiers per coin; 20% slices over 100k with a 30 s cooldown; HLP backstop below 2/3 MM; ADL at "
    "the previous mark.",
    sources=(
        "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
        ROBUST_PRICES,
        "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers",
        "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging",
        "https://hyperliquid.gitbook.io/hyperliquid-docs/hypercore/vaults/protocol-vaults",
        "https://docs.hyena.trade/trading/liquidation",
        "https://docs.tings.xyz/core-mechanics/liquidations",
        "https://hyperliquid-co.gitbook.io/wiki/architecture/hypercore/dex/clearinghouse/funding",
    ),
    instruments={
        "BTC": VenueInstrument(
            "BTC",
            "linear",
            "BTC",
            "USDC",
            "USDC",
            Decimal(1),
            Decimal("0.00001"),
            Decimal(1),
            BracketMargin(BTC_TIERS),
            META,
        ),
        "ETH": VenueInstrument(
            "ETH",
            "linear",
            "ETH",
            "USDC",
            "USDC",
            Decimal("0.1"),
            Decimal("0.0001"),
            Decimal(1),
            BracketMargin(ETH_TIERS),
            META,
        ),
    },
    liquidation=LiquidationProcedure(
        style="slices",
        slice_fraction=Fraction(1, 5),
        slice_above=SLICE_ABOVE,
        cooldown_s=30.0,
        backstop_below_mm=BACKSTOP_BELOW_MM,
        summary="Market orders for the position, stopping once MM is met (the rest stays with the trader, no "
        "clearance fee); above 100k USDC 20% at a time, then a 30 s cooldown in which orders are for the "
        "whole position. Equity < 2/3 MM: backstop by the liquidator vault (cross: all cross positions and "
        "margin; isolated: that position), MM not returned.",
        loss_after_fund="backstop_then_adl",
        surplus_to="trader",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "negative_equity",
            "An account value or isolated position value becomes negative (and, since 2025, "
            "liquidator-vault losses above an unpublished threshold).",
        ),
        ranking="hyperliquid",
        ranking_summary="(mark / entry) x (notional / account value) among users in profit (shorts: entry / mark, "
        "stand-in).",
        fill_price="previous_mark",
        indicator="none",
        indicator_summary="No public indicator.",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="none (no clearance fee)",
        adl_fee="not published",
        summary="No liquidation fee; the backstop vault keeps the MM.",
    ),
    funding=FundingRule(
        style="clamped_interest",
        interval_hours=8,
        interest=Fraction(1, 10_000),
        clamp=Fraction(5, 10_000),
        cap=Fraction(32, 100),
        payments_per_interval=8,
        summary="8 h F = avgP + clamp(I - avgP, -0.05%, 0.05%), I = 0.01%; paid hourly at F/8 on size x oracle; "
        "cap 4% an hour (32% per 8 h); premium sampled every 5 s.",
    ),
    mark=MarkRule(
        None,
        "Median of oracle + 150 s EMA(mid - oracle), median(bid, ask, last) and the CEX perps' median; run as the "
        "engine's median with a 150 s basis EMA, the CEX perps at the index. No band published.",
        ROBUST_PRICES,
        basis_ema_s=MARK_BASIS_EMA_S,
    ),
    stand_ins=(
        "Shorts' ADL index: entry / mark (the doc's index is ambiguous for shorts).",
        "Mark: the other venues' perp mids (third input of the median) stand at the index.",
        "ETH tier 2 MMR 1/30 rounded up to 3.3334% (IMR 6.6667%).",
        "Open-ended last tier (cap 1e12 USDC).",
        "Backstop-vault ADL threshold unpublished.",
        "Tick/lot sizes: API meta values, not in venues.md.",
    ),
)
