"""Drift v2 (../shared/specs/engines.md section 2; repo drift-labs/protocol-v2, master 0ae3e3b).

Documented rules used (``programs/drift/src/controller/liquidation.rs``, ``math/liquidation.rs``,
``controller/insurance.rs``):

- **Liquidation** triggers on the maintenance margin plus ``liquidation_margin_buffer_ratio``; open orders are
  cancelled first. A liquidator **takes the position over at the oracle price**; the user pays a liquidator fee
  (growing each slot after a grace period up to ``max_liquidation_fee``) and an insurance-fund fee
  ``min(if_liquidation_fee, 0.95 * (margin_ratio - liquidator_fee - shortage / (base * price)))``. The share
  taken is capped by time (``initial_pct_to_liquidate`` plus slots / ``liquidation_duration``); positions under
  $50 can be taken whole.
- **Bankruptcy**: the loss is paid first by the insurance fund (capped by ``quote_max_insurance -
  quote_settled_insurance``), then by the market's fee pool, and the rest is **socialised**: ``loss / (|long OI|
  + |short OI|)`` is added to ``cumulative_funding_rate_long`` and subtracted from the short rate, so every open
  contract on **both sides** pays the same per-unit amount at its next funding settlement
  (:func:`socialized_charges`). No ADL queue. The insurance fund's payment is ``min(loss, vault - 1,
  quote_max_insurance - quote_settled_insurance)`` (``resolve_perp_bankruptcy``): the vault keeps one unit
  (:data:`INSURANCE_VAULT_KEEP`).

The engine runs these as: the takeover at the oracle (``[mechanisms.backstop] style = "oracle-takeover"``, the
vault standing for the liquidators, :mod:`delever.mechanisms.backstop`), the fund's caps
(``[mechanisms.insurance_cap]``, :mod:`delever.mechanisms.insurance_cap`) and the loss through funding
(``[mechanisms.socialized_loss] mode = "funding"``, :mod:`delever.mechanisms.socialized`).
- **Max leverage**: BTC-PERP 20x (https://docs.drift.trade/protocol/trading/margin/per-market-leverage).
- **Mark band**: the oracle guard rail ``PriceDivergenceGuardRails::default()``,
  ``mark_oracle_percent_divergence = PERCENTAGE_PRECISION / 10`` (10%), in ``programs/drift/src/state/state.rs``
  (commit 0979445; :data:`MARK_ORACLE_DIVERGENCE`): the protocol treats a mark more than 10% from the oracle
  as divergent. The engine runs it as ``[mark] max_deviation_pct = 10`` (the mark clamped within 10% of the
  index). Liquidation itself is a takeover at the oracle price (above), not a trade on the book.

Stand-ins:

- Maintenance margin ratio: not in venues.md or engines.md: half the initial ratio (2.5%), Hyperliquid's
  ``MM = IM at max leverage / 2`` convention; ETH-PERP the same as BTC-PERP.
- ``liquidation_margin_buffer_ratio``, the liquidator and insurance fees: values not in the specs; 0 in the
  trigger, and no fee rate.
- The takeover is modelled as a full close (the time-based cap's parameters are not in the specs), by one
  liquidator (the engine's vault, 50,000,000 USDC of capital), at the index standing for the oracle.
- ``quote_max_insurance`` per market: not in the specs; no per-market cap (the vault's one unit applies).
- The market's fee pool, which pays after the fund and before socialization: the engine has none (its
  liquidation fees go to the insurance fund); not modelled.
- Funding: hourly; its formula is not in the specs: the premium itself.
- Tick and lot sizes (not in venues.md): BTC-PERP tick 0.1, step 0.0001 BTC; ETH-PERP tick 0.01, step 0.001 ETH
  (Drift SDK market configs, values at the time of writing).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from ..tiers import RiskTiers
from .exact import NO_CAP, pro_rata
from .margin_models import BracketMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure, MarkRule
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

MARKET_CONFIGS = "Drift SDK perp market configs (not in venues.md; values at the time of writing)"

BTC_PERP = RiskTiers.from_brackets("drift-btc-perp", [(NO_CAP, 20, "0.025", "0.05")])
"""IM 5% (20x, documented); MM 2.5% (stand-in: half of IM)."""


INSURANCE_VAULT_KEEP = Fraction(1, 1_000_000)
"""Quote (USDC) the insurance fund vault always keeps: ``insurance_fund_vault_balance.saturating_sub(1)`` in
``resolve_perp_bankruptcy`` is one unit of QUOTE_PRECISION (1e-6), so 0.000001 USDC."""


MARK_ORACLE_DIVERGENCE = Fraction(10)
"""Percent: ``PERCENTAGE_PRECISION_U64 / 10`` of ``PriceDivergenceGuardRails``' default
``mark_oracle_percent_divergence`` (drift-labs/protocol-v2 ``programs/drift/src/state/state.rs``, commit
0979445): a tenth of PERCENTAGE_PRECISION (100%) is 10%."""


def socialized_loss_per_unit(loss: int, long_oi: int, short_oi: int) -> Fraction:
    """``loss / (|long OI| + |short OI|)``: added to the long cumulative funding rate and subtracted from the
    short one, so each open unit on either side pays it (money per lot)."""
    return Fraction(loss, abs(long_oi) + abs(short_oi))


def socialized_charges(loss: int, sizes: Sequence[int]) -> list[int]:
    """Each position's share of a socialised loss (money units): pro rata to ``|size|`` on both sides, split
    exactly (largest remainder) so the charges sum to ``loss``."""
    return pro_rata(loss, [abs(s) for s in sizes])


RULEBOOK = Rulebook(
    name="drift",
    display_name="Drift v2",
    summary="Takeover at oracle by a liquidator; fund, then fee pool, then loss socialised via cumulative funding.",
    sources=(
        "https://github.com/drift-labs/protocol-v2/blob/0ae3e3b/programs/drift/src/controller/liquidation.rs",
        "https://github.com/drift-labs/protocol-v2/blob/0ae3e3b/programs/drift/src/controller/insurance.rs",
        "https://github.com/drift-labs/protocol-v2/blob/0ae3e3b/programs/drift/src/math/liquidation.rs",
        "https://docs.drift.trade/protocol/trading/margin/per-market-leverage",
        "https://github.com/drift-labs/protocol-v2/blob/0979445/programs/drift/src/state/state.rs",
    ),
    instruments={
        "BTC-PERP": VenueInstrument(
            "BTC-PERP",
            "linear",
            "BTC",
            "USD",
            "USDC",
            Decimal("0.1"),
            Decimal("0.0001"),
            Decimal(1),
            BracketMargin(BTC_PERP),
            MARKET_CONFIGS,
        ),
        "ETH-PERP": VenueInstrument(
            "ETH-PERP",
            "linear",
            "ETH",
            "USD",
            "USDC",
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal(1),
            BracketMargin(RiskTiers("drift-eth-perp-standin", BTC_PERP.tiers)),
            MARKET_CONFIGS,
        ),
    },
    liquidation=LiquidationProcedure(
        style="takeover",
        summary="Cancel orders; a liquidator takes base at the oracle price, the user paying a liquidator fee and "
        "an IF fee; the share is capped by time. Bankrupt: fund (capped per market), then the market fee "
        "pool, then socialised through the cumulative funding rate on both sides.",
        loss_after_fund="socialized_funding",
        surplus_to="trader",
        insurance_keep=INSURANCE_VAULT_KEEP,
    ),
    adl=AdlRule(
        trigger=AdlTrigger("none", "No ADL queue: an uncovered loss is socialised through funding."),
        ranking="none",
        ranking_summary="n/a (every open unit on both sides pays the same per-unit loss).",
        fill_price="none",
        indicator="none",
        indicator_summary="None.",
        queue="none",
    ),
    fees=FeeRule(
        liquidation_fee=None,
        liquidation_fee_to="liquidator and insurance fund",
        adl_fee="n/a",
        summary="Liquidator fee (grows to max_liquidation_fee) and IF fee min(if_liquidation_fee, 0.95 x "
        "(margin ratio - liquidator fee - shortage / (base x price))); rates not in the specs.",
    ),
    funding=FundingRule(
        style="premium", interval_hours=1, summary="Hourly; formula not in the specs: stand-in F = premium."
    ),
    mark=MarkRule(
        MARK_ORACLE_DIVERGENCE,
        "Oracle guard rail: a mark more than 10% from the oracle is divergent (mark_oracle_percent_divergence); "
        "run as the mark clamped within 10% of the index.",
        "https://github.com/drift-labs/protocol-v2/blob/0979445/programs/drift/src/state/state.rs "
        "(PriceDivergenceGuardRails::default)",
    ),
    stand_ins=(
        "MMR 2.5% = half of the 5% IMR (Drift's maintenance ratio not in the specs); ETH-PERP as BTC-PERP.",
        "Liquidation buffer, liquidator and IF fee rates: not in the specs (0 / none).",
        "Takeover closes the whole position (time-based cap parameters not in the specs), one liquidator (the "
        "engine's vault), at the index as the oracle.",
        "quote_max_insurance per market: not in the specs (no per-market cap on the fund's payouts).",
        "Fee pool between the fund and socialization: none in the engine (not modelled).",
        "Funding: F = premium, hourly.",
        "Tick/lot sizes: SDK market configs, not in venues.md.",
    ),
)
