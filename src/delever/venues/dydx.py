"""dYdX v4 (../shared/specs/engines.md section 1; repo dydxprotocol/v4-chain, main 84d4664).

Documented rules used (``protocol/x/clob/keeper/liquidations.go``, ``deleveraging.go``):

- **Liquidatable** iff TMMR > 0 and TNC < TMMR (total net collateral below total maintenance margin).
- **Bankruptcy price**: ``-DNNV - TNC * |DMMR| / TMMR``, rounded so that closing exactly at it needs no
  insurance money; for one position closed whole it is the price at which equity is 0 (the base rule).
- **Fillable price** (the limit of the IOC liquidation order): ``(PNNV - ABR * SMMR * PMMR) / PS`` with
  ``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)``; subticks rounded **up for sells and down for buys**
  (:func:`delever.fillable_price.fillable_price`, re-exported here). Defaults BA = 1.0, SMMR = 0.1
  (``LiquidationsConfig_Default``).
- **Insurance fund per fill**: ``fill quote - bankruptcy quote``; if <= 0 the fund pays; if > 0 the liquidated
  account pays ``min(leftover, MaxLiquidationFeePpm * |fill quote|)`` (0.5%) to the fund and keeps the rest.
- **Deleveraging**: only for subaccounts whose liquidation filled **zero** this block and whose TNC < 0; the
  whole position is offset against opposite-side subaccounts from a **pseudo-random start**, at most 500 checked;
  **no ranking**; at the bankruptcy price; no fee.
- **Margin**: liquidity tier "Large-Cap": ``initial_margin_ppm`` 50,000 (5%, 20x), ``maintenance_fraction_ppm``
  600,000 (MM = 60% of IM = 3%) (v4-chain genesis ``liquidity_tiers``, found in its sample genesis files).

Stand-ins:

- BTC-USD and ETH-USD both in the Large-Cap tier; the open-interest margin increase (OIMF) is not modelled.
- Funding is not in venues.md or engines.md: the premium itself, hourly (``"premium"`` style).
- Per-block limits (a step stands for a block; :mod:`delever.mechanisms.block_limits`): the
  ``LiquidationsConfig_Default`` values of engines.md section 1 (min position notional $0.001, max portion 100%,
  $100M notional per subaccount per block, ``MaxQuantumsInsuranceLost`` $100M per subaccount per block) and
  ``MaxLiquidationAttemptsPerBlock`` 50; the mainnet governance values are not in the specs.
- The liquidation order runs as the engine's fillable-price IOC (:mod:`delever.ioc_order`) with the ``zero-fill``
  ADL trigger: fund first, deleveraging only after a zero fill with TNC < 0. The engine's "equity" of a cross
  position is its margin's backing (``-DNNV - TNC x |DMMR| / TMMR``) plus its uPnL; a fill's bankruptcy quote
  takes the position's share of it pro rata to the lots closed (dYdX's ``DMMR`` of a linear MM).
- Deleveraging order: the engine's ``random-offset`` policy (position order from a start drawn from the run's
  seed, the step and the side; the collateral check of :func:`delever.liquidation.winner_capacity`); the
  engine's pool is the opposite side's positions in profit (dYdX iterates every opposite position, at most 500).
- Tick and lot sizes (not in venues.md): BTC-USD tick 1, step 0.0001 BTC; ETH-USD tick 0.1, step 0.001 ETH
  (dYdX indexer ``/v4/perpetualMarkets``, values at the time of writing).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..fillable_price import BANKRUPTCY_ADJUSTMENT, SPREAD_TO_MMR, fillable_price, fillable_price_ticks
from ..margin import BACKING_MM_SHARE
from ..tiers import RiskTiers
from .exact import NO_CAP, ceil_frac
from .margin_models import BracketMargin
from .contract import VenueInstrument
from .rules import FeeRule, FundingRule, LiquidationProcedure
from .adl_rules import AdlRule, AdlTrigger
from .rulebook import Rulebook

__all__ = ["BANKRUPTCY_ADJUSTMENT", "RULEBOOK", "SPREAD_TO_MMR", "fillable_price", "fillable_price_ticks",
           "insurance_fund_delta"]  # fmt: skip

INDEXER = "dYdX indexer /v4/perpetualMarkets (not in venues.md; values at the time of writing)"
MAX_LIQUIDATION_ATTEMPTS_PER_BLOCK = 50
"""``MaxLiquidationAttemptsPerBlock`` (``protocol/x/clob/flags/flags.go``, engines.md section 1)."""
MIN_POSITION_NOTIONAL_LIQUIDATED = Fraction(1, 1000)
"""``PositionBlockLimits.MinPositionNotionalLiquidated`` default (USD 0.001)."""
MAX_NOTIONAL_LIQUIDATED = Fraction(100_000_000)
"""``SubaccountBlockLimits.MaxNotionalLiquidated`` default (USD 100M per subaccount per block)."""
MAX_QUANTUMS_INSURANCE_LOST = Fraction(100_000_000)
"""``SubaccountBlockLimits.MaxQuantumsInsuranceLost`` default (USD 100M per subaccount per block)."""
MAX_LIQUIDATION_FEE = Fraction(5, 1000)
"""``MaxLiquidationFeePpm`` default 5,000 ppm (0.5%); the testnet genesis script sets 1.5%."""
LARGE_CAP = RiskTiers.from_brackets("dydx-large-cap", [(NO_CAP, 20, "0.03", "0.05")])
"""Large-Cap liquidity tier: IM 5%, MM 60% of IM = 3%, no brackets."""


def insurance_fund_delta(
    fill_quote: int, bankruptcy_quote: int, leftover: int, max_fee: Fraction = MAX_LIQUIDATION_FEE
) -> int:
    """Money to the fund (> 0) or from it (< 0) for one liquidation fill (quote received for the closed delta).

    ``fill_quote - bankruptcy_quote <= 0``: the fund pays the gap. Otherwise the account pays
    ``min(leftover, max_fee * |fill_quote|)`` (rounded up, a fee owed) and keeps the rest.
    """
    gap = fill_quote - bankruptcy_quote
    if gap <= 0:
        return gap
    return min(leftover, ceil_frac(max_fee * abs(fill_quote)))


RULEBOOK = Rulebook(
    cross_backing_rule=BACKING_MM_SHARE,  # -DNNV - TNC x |DMMR| / TMMR (engines.md section 1)
    name="dydx",
    display_name="dYdX v4",
    summary="Large-Cap tier (5%/3%); IOC at the fillable price; deleveraging from a random offset at BP.",
    sources=(
        "https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go",
        "https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/deleveraging.go",
        "https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/types/liquidations_config.go",
        "https://nautilustrader.io/docs/core-latest/nautilus_dydx/proto/dydxprotocol/perpetuals/struct.LiquidityTier.html",
    ),
    instruments={
        "BTC-USD": VenueInstrument(
            "BTC-USD",
            "linear",
            "BTC",
            "USD",
            "USDC",
            Decimal(1),
            Decimal("0.0001"),
            Decimal(1),
            BracketMargin(LARGE_CAP),
            INDEXER,
        ),
        "ETH-USD": VenueInstrument(
            "ETH-USD",
            "linear",
            "ETH",
            "USD",
            "USDC",
            Decimal("0.1"),
            Decimal("0.001"),
            Decimal(1),
            BracketMargin(LARGE_CAP),
            INDEXER,
        ),
    },
    liquidation=LiquidationProcedure(
        style="fillable_price_ioc",
        summary="Up to 50 candidates a block (sorted by |fillable - oracle| / oracle, notional, hash); one "
        "perpetual per subaccount per block; IOC at the fillable price against the book. Fill worse than "
        "BP: the fund pays (rejected if the fund would go negative or the per-block insurance-lost limit is "
        "hit). Better: min(leftover, 0.5% of the fill) to the fund, the rest stays with the trader.",
        loss_after_fund="adl",
        surplus_to="trader",
        max_orders_per_step=MAX_LIQUIDATION_ATTEMPTS_PER_BLOCK,
        position_min_notional=MIN_POSITION_NOTIONAL_LIQUIDATED,
        account_max_notional_per_step=MAX_NOTIONAL_LIQUIDATED,
        max_insurance_lost_per_step=MAX_QUANTUMS_INSURANCE_LOST,
    ),
    adl=AdlRule(
        trigger=AdlTrigger(
            "negative_equity",
            "The liquidation order filled nothing this block and TNC < 0 (or the market is in final settlement).",
            fund_first=True,
        ),
        ranking="none",
        ranking_summary="No ranking: opposite-side subaccounts from a pseudo-random start, at most 500 checked; an "
        "offset that would break the counterparty's collateral check is skipped.",
        fill_price="bankruptcy",
        indicator="none",
        indicator_summary="None (dYdX publishes no ADL indicator; the engine's random-offset queue shows 0).",
        queue="random_offset",
    ),
    fees=FeeRule(
        liquidation_fee=MAX_LIQUIDATION_FEE,
        liquidation_fee_to="insurance_fund",
        adl_fee="none",
        summary="min(leftover, 0.5% x |fill quote|) to the fund, per fill.",
    ),
    funding=FundingRule(
        style="premium", interval_hours=1, summary="Not in venues.md or engines.md: stand-in F = premium, hourly."
    ),
    stand_ins=(
        "BTC-USD and ETH-USD in the Large-Cap tier (5% / 3%); OIMF not modelled.",
        "Funding: F = premium, hourly (rule not in the specs).",
        "Per-block limits: LiquidationsConfig_Default values and 50 liquidations per block (a step stands for a "
        "block); mainnet governance values not in the specs.",
        "Tick/lot sizes: indexer values, not in venues.md.",
    ),
)
