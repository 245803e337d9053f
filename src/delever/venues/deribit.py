"""Deribit (../shared/specs/venues.md section 5).

Documented rules used:

- **Margin, linear perpetuals** (https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual,
  TV-25): BTC_USDC ``IM = 2% + size_BTC * 0.005%``, ``MM = 1% + size_BTC * 0.005%``; SOL_USDC ``IM = 4% +
  size * 0.0005%``, ``MM = 2% + size * 0.0005%`` (:class:`delever.venues.margin_models.SizeLinearMargin`).
- **Liquidation** (https://www.deribit.com/docs/auto-liquidation/): incremental, small market slices (an old
  version: 10 contracts x 25 rounds a second = at most 250 contracts, $2,500, a second, TV-32), futures first,
  stops once equity is above MM; the trader keeps the rest; liquidation orders pay an extra fee to the fund.
- **No ADL** (https://support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund): the fund covers
  negative equity; if it is depleted, further bankruptcies are "socialized among the winning traders for that
  day" (:func:`socialize_among_winners`).
- **Funding** (https://support.deribit.com/hc/en-us/articles/31424939178397-Funding-Specifications):
  ``Premium = (Mark - Index) / Index``, ``F = min(MaxCap, max(MinCap, max(0.025%, Premium) + min(-0.025%,
  Premium)))``, ``payment = F * size * (period / 8h)`` accrued every millisecond (TV-31).

Stand-ins:

- The single-position liquidation price is not published: the exact trigger (``"mark"`` basis) with the
  size-linear MM, whose rate does not move with the price [INF].
- ETH_USDC's margin rule is not in venues.md: BTC_USDC's rule per ETH.
- Liquidation fee: the current rate is not recovered; the old 0.5% (BTC) and 0.9% (ETH) levels, SOL as ETH.
- The socialised-loss split is not published beyond "among the winning traders for that day": pro rata to
  each winner's positive PnL of the day, exactly (largest remainder).
- Increment of the linear contracts: 10 lots a round (the old 10-contract increment), 25 rounds a second.
- ``MinCap``/``MaxCap`` of funding are not in venues.md: no cap.
- Tick and lot sizes (not in venues.md): BTC_USDC-PERPETUAL tick 1, 0.001 BTC; ETH_USDC-PERPETUAL 0.1 / 0.01
  ETH; SOL_USDC-PERPETUAL 0.01 / 0.1 SOL (Deribit ``public/get_instruments``, values at the time of writing).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from .exact import pro_rata
from .margin_models import SizeLinearMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

GET_INSTRUMENTS = "Deribit public/get_instruments (not in venues.md; values at the time of writing)"

OLD_INCREMENT_CONTRACTS = 10
"""Old incremental liquidation: 10 contracts a round (TV-32)."""
OLD_ROUNDS_PER_S = 25
"""... 25 rounds a second (TV-32)."""
INVERSE_CONTRACT_USD = 10
"""BTC-PERPETUAL's (inverse) contract: 10 USD, so 250 contracts a second is $2,500 a second (TV-32)."""


def _btc_rule(name: str, lot: str) -> SizeLinearMargin:
    return SizeLinearMargin(name, Decimal(lot), Fraction(2, 100), Fraction(1, 100), Fraction(5, 100_000))


def max_liquidation_rate(increment: int = OLD_INCREMENT_CONTRACTS, rounds_per_s: int = OLD_ROUNDS_PER_S) -> int:
    """Contracts a second the incremental liquidation can close (TV-32: 10 x 25 = 250)."""
    return increment * rounds_per_s


def socialize_among_winners(loss: int, day_pnl: Sequence[int]) -> list[int]:
    """Each account's share of a loss the fund could not pay: pro rata to its positive PnL of the day
    (losers pay nothing), exact; no winner pays more than its day's profit."""
    gains = [max(0, p) for p in day_pnl]
    if loss > sum(gains):
        raise ValueError(f"loss {loss} exceeds the day's winnings {sum(gains)}")
    return pro_rata(loss, gains)


RULEBOOK = Rulebook(
    name="deribit",
    display_name="Deribit",
    summary="Size-linear IM/MM; incremental liquidation; no ADL: socialized loss among the day's winners.",
    sources=(
        "https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual",
        "https://support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund",
        "https://www.deribit.com/docs/auto-liquidation/",
        "https://support.deribit.com/hc/en-us/articles/31424939178397-Funding-Specifications",
        "https://www.deribit.com/pages/docs",
        "https://legacy.deribit.com/pages/docs/futures",
    ),
    instruments={
        "BTC_USDC-PERPETUAL": VenueInstrument(
            "BTC_USDC-PERPETUAL",
            "linear",
            "BTC",
            "USDC",
            "USDC",
            Decimal(1),
            Decimal("0.001"),
            Decimal("0.001"),
            _btc_rule("deribit-btc-usdc", "0.001"),
            GET_INSTRUMENTS,
        ),
        "ETH_USDC-PERPETUAL": VenueInstrument(
            "ETH_USDC-PERPETUAL",
            "linear",
            "ETH",
            "USDC",
            "USDC",
            Decimal("0.1"),
            Decimal("0.01"),
            Decimal("0.01"),
            _btc_rule("deribit-eth-usdc-standin (BTC rule)", "0.01"),
            GET_INSTRUMENTS,
        ),
        "SOL_USDC-PERPETUAL": VenueInstrument(
            "SOL_USDC-PERPETUAL",
            "linear",
            "SOL",
            "USDC",
            "USDC",
            Decimal("0.01"),
            Decimal("0.1"),
            Decimal("0.1"),
            SizeLinearMargin(
                "deribit-sol-usdc", Decimal("0.1"), Fraction(4, 100), Fraction(2, 100), Fraction(5, 1_000_000)
            ),
            GET_INSTRUMENTS,
        ),
    },
    liquidation=LiquidationProcedure(
        style="incremental",
        increment_lots=OLD_INCREMENT_CONTRACTS,
        rounds_per_s=OLD_ROUNDS_PER_S,
        summary="Small market slices (old: 10 contracts x 25 rounds/s; another version 200 contracts x 20/s), "
        "futures first then options, until equity is above MM; the trader keeps the rest; liquidation "
        "orders pay an extra fee to the fund, added hourly.",
        loss_after_fund="socialized_winners",
        surplus_to="trader",
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "none",
            "No ADL. If the fund is depleted, bankruptcies are socialised among that day's winners (none to date).",
        ),
        ranking="none",
        ranking_summary="n/a (pro rata to the day's profits, stand-in split).",
        fill_price="none",
        indicator="none",
        indicator_summary="None.",
        queue="none",
    ),
    fees=FeeRule(
        liquidation_fee=Fraction(5, 1000),
        liquidation_fee_to="insurance_fund",
        adl_fee="n/a",
        summary="Old levels: BTC futures/perpetual 0.5%, ETH 0.9% (current rate not recovered).",
        by_symbol={"ETH_USDC-PERPETUAL": Fraction(9, 1000), "SOL_USDC-PERPETUAL": Fraction(9, 1000)},
    ),
    funding=FundingRule(
        style="dead_band",
        interval_hours=8,
        dead_band=Fraction(25, 100_000),
        summary="Premium = (Mark - Index) / Index; F = max(0.025%, P) + min(-0.025%, P) within "
        "[MinCap, MaxCap] (not in venues.md: none); payment = F x size x period / 8 h.",
    ),
    stand_ins=(
        "Liquidation price: exact trigger with the size-linear MM (Deribit publishes none).",
        "ETH_USDC margin: BTC_USDC's rule per ETH.",
        "Liquidation fee: old 0.5% (BTC), 0.9% (ETH; SOL as ETH).",
        "Socialised loss: pro rata to the day's positive PnL.",
        "Linear increment: 10 lots x 25 rounds/s.",
        "Funding caps: none (MinCap/MaxCap not in venues.md).",
        "Tick/lot sizes: get_instruments values, not in venues.md.",
    ),
)
