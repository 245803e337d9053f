"""OKX (../shared/specs/venues.md section 4).

Documented rules used:

- **Margin**: tiers are numbers of contracts; liquidation when ``(margin + PnL) / (faceValue * |contracts| *
  mark * (tier MMR + fee rate)) <= 100%`` (isolated USDT-margined, https://open-lib.com/11556.html [3P rewrite
  of OKX help]): :class:`delever.venues.margin_models.SizeBracketMargin` with the taker fee added to the MMR in the
  trigger (``liquidation_extra_mmr``).
- **Liquidation**: tier >= 3 with the ratio between the lowest tier's and the current tier's ``MMR + fee``:
  reduce **two tiers** per step and repeat (newer rule, https://www.amorrr.com/14966.html [3P]); tiers 1-2 are
  liquidated in full at BP. The old coin-margined rule (reduce to tier 1, TV-15:
  https://supdljgzdhc.okx.com/hc/en-us/articles/360020411711-V-Forced-Partial-or-Full-Liquidation) gives the
  same first order from tier 3.
- **ADL**: insurance fund down 30% from its 8-hour peak, or exhausted
  (https://www.ouchyi.rocks/es-la/help/what-is-the-mechanism-for-the-strong-level-in-advance-what-is-the-use);
  liquidated positions matched with the highest-ranked counterparties **at the current mark price**; no loss
  socialisation afterwards. Position field ``adl`` 0-5.
- **Funding** (https://www.okx.com/help/360053909272): ``F = clamp(MA(Premium - Interest), floor, cap)``,
  interest 0, ``Premium = [(BestBid + BestAsk)/2 - Index] / Index``, settled 00/08/16 UTC; caps BTC ±0.375%,
  majors ±0.75%.

Stand-ins:

- **BTC-USDT-SWAP's tier table is not recovered** (venues.md sections 4 and 13). Rates: the 2022 alt USDT-swap
  table (T1 1.00%/1.30% 75x, T2 1.5%/2.0% 50x, T3 2.0%/5.0% 20x, T4 2.5%/5.5% 18.18x, then +0.5% MMR and IMR a
  tier, https://news.wikibit.com/ru/notice/bdetail/202203012154234198.html). Caps (not published with those
  rates): tier 1 up to 2,000 contracts (TV-15's tier-1 bound), then +8,000 contracts a tier (2,000 / 10,000 /
  18,000 / ...), chosen only so that TV-15's 15,000 contracts fall in tier 3. ETH-USDT-SWAP uses the same.
- Ranking formula not recovered: the [3P] rewrite's "Profit: ROI / margin ratio"
  (https://mlmrehab.com/15032.html), with OKX's margin ratio ``equity / MM``, i.e. ``ROI * MM / equity``, and
  ``ROI * equity / MM`` in loss (:func:`delever.venues.adl_rules.score_roi_mmr`).
- ``adl`` 0-5 mapping not published: 20% lights among positions in profit, 0 for the rest.
- Taker fee 0.05% (the fee rate in the trigger and the liquidation fee ``PV x taker fee``, 3P
  https://bilikayo.com/18302.html): OKX's fee schedule is not in venues.md.
- Contract sizes, ticks and lots (not in venues.md): BTC-USDT-SWAP 0.01 BTC a contract, tick 0.1; ETH-USDT-SWAP
  0.1 ETH, tick 0.01; one contract a lot (https://www.okx.com/api/v5/public/instruments?instType=SWAP).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from .margin_models import SizeBracketMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

INSTRUMENTS_API = (
    "https://www.okx.com/api/v5/public/instruments?instType=SWAP (not in venues.md; values at the time of writing)"
)
TAKER_FEE = Fraction(5, 10_000)
"""Stand-in taker fee 0.05% (OKX's fee schedule is not in venues.md)."""

_STANDIN_ROWS: list[tuple[int, str | int, str, str]] = [
    # (cap in contracts, max leverage, MMR, IMR): 2022 alt USDT-swap rates; caps are the stand-in above
    (2_000, 75, "0.01", "0.013"),
    (10_000, 50, "0.015", "0.02"),
    (18_000, 20, "0.02", "0.05"),
    (26_000, "18.18", "0.025", "0.055"),
    (34_000, "16.66", "0.03", "0.06"),
    (42_000, "15.38", "0.035", "0.065"),
    (50_000, "14.28", "0.04", "0.07"),
    (58_000, "13.33", "0.045", "0.075"),
]

BTC_USDT_SWAP_STANDIN = SizeBracketMargin.build("okx-btc-usdt-swap-standin", _STANDIN_ROWS)
"""Stand-in tiers (BTC table not recovered): 2022 alt rates, caps 2,000 + 8,000 k contracts."""
ETH_USDT_SWAP_STANDIN = SizeBracketMargin.build("okx-eth-usdt-swap-standin", _STANDIN_ROWS)
"""Stand-in: the same table for ETH-USDT-SWAP."""

_FUNDING_SUMMARY = (
    "F = clamp(MA(Premium - Interest), floor, cap), Interest 0, MA over the settlement interval "
    "of per-minute premiums; settle 00/08/16 UTC; funding capped so margin stays >= MM + "
    "liquidation fee."
)

RULEBOOK = Rulebook(
    name="okx",
    display_name="OKX",
    summary="Contract-count tiers (BTC table not recovered); two tiers per partial step; ADL at the mark.",
    sources=(
        "https://www.okx.com/help/iv-introduction-to-auto-deleveraging-adl",
        "https://www.ouchyi.rocks/es-la/help/what-is-the-mechanism-for-the-strong-level-in-advance-what-is-the-use",
        "https://supdljgzdhc.okx.com/hc/en-us/articles/360020411711-V-Forced-Partial-or-Full-Liquidation",
        "https://www.amorrr.com/14966.html",
        "https://open-lib.com/11556.html",
        "https://bilikayo.com/18302.html",
        "https://news.wikibit.com/ru/notice/bdetail/202203012154234198.html",
        "https://www.okx.com/help/360053909272",
        "https://www.okx.com/help/okx-to-optimize-funding-rate-calculation",
    ),
    instruments={
        "BTC-USDT-SWAP": VenueInstrument(
            "BTC-USDT-SWAP",
            "linear",
            "BTC",
            "USDT",
            "USDT",
            Decimal("0.1"),
            Decimal("0.01"),
            Decimal("0.01"),
            BTC_USDT_SWAP_STANDIN,
            INSTRUMENTS_API,
        ),
        "ETH-USDT-SWAP": VenueInstrument(
            "ETH-USDT-SWAP",
            "linear",
            "ETH",
            "USDT",
            "USDT",
            Decimal("0.01"),
            Decimal("0.1"),
            Decimal("0.1"),
            ETH_USDT_SWAP_STANDIN,
            INSTRUMENTS_API,
        ),
    },
    liquidation=LiquidationProcedure(
        style="tier_steps",
        tiers_per_step=2,
        full_below_tier=2,
        summary="Tier >= 3 and margin ratio between the lowest tier's and the current tier's (MMR + fee): reduce "
        "two tiers per step (orders slightly better than market), re-check, repeat; tiers 1-2: full "
        "liquidation at BP. Cross long + short: offset pairs first.",
        loss_after_fund="adl",
        surplus_to="insurance_fund",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "fund_drawdown",
            "The fund falls 30% (straight line) from its peak within 8 hours (rate_adl_start), or its "
            "balance falls below the ADL balance (bal_adl_start); premarket: liquidation volume.",
            drawdown=Fraction(3, 10),
            window_hours=8,
        ),
        ranking="roi_mmr",
        ranking_summary="Not recovered; stand-in from a 3P rewrite: ROI / margin ratio (OKX ratio = equity / MM).",
        fill_price="mark",
        indicator="positive_lights",
        indicator_summary="adl 0-5, smaller = weaker (mapping not published: 20% lights stand-in).",
    ),
    fees=FeeRule(
        liquidation_fee=TAKER_FEE,
        liquidation_fee_to="insurance_fund",
        adl_fee="not published (counterparty PnL realised at the mark)",
        taker_fee=TAKER_FEE,
        summary="Liquidation fee = PV x taker fee (3P); the surplus of liquidations feeds the fund.",
    ),
    funding=FundingRule(
        style="moving_average",
        interval_hours=8,
        cap=Fraction(375, 100_000),
        summary=_FUNDING_SUMMARY + " BTC cap ±0.375%.",
    ),
    funding_by_symbol={
        "ETH-USDT-SWAP": FundingRule(
            style="moving_average",
            interval_hours=8,
            cap=Fraction(75, 10_000),
            summary=_FUNDING_SUMMARY + " Majors cap ±0.75%.",
        )
    },
    liquidation_extra_mmr=TAKER_FEE,
    stand_ins=(
        "BTC-USDT-SWAP tiers NOT RECOVERED: 2022 alt USDT-swap rates; caps 2,000 contracts (TV-15) + 8,000 a tier.",
        "ETH-USDT-SWAP tiers: the same stand-in.",
        "ADL ranking: 3P 'ROI / margin ratio' (OKX's formula not recovered).",
        "adl 0-5 mapping: 20% lights among positions in profit.",
        "Taker fee 0.05% in the trigger and the liquidation fee.",
        "Contract/tick/lot sizes: instruments API values, not in venues.md.",
        "ADL end (adlRecRate/adlRecBal) not published: drawdown ADL stops once the drawdown is back below 30%.",
    ),
)
