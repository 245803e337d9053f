"""The rulebook of one venue: its contracts, margin schedule, liquidation procedure, ADL rule, fees and funding.

A :class:`Rulebook` is data (frozen dataclasses) plus a few small policies (methods). Each venue module
(``binance.py`` ...) builds one and documents, rule by rule, where it comes from
(../shared/specs/venues.md, cited by section and URL) and which rules are **stand-ins** because the venue does
not publish them.

Units (:mod:`delever.units`):

- **Money** is an int count of ``1 / money_scale`` of the settlement asset: micro-USDT/USDC (1e6) for linear
  contracts, satoshis (1e8, BitMEX's ``XBt``) for inverse (coin-margined) contracts.
- **Prices** in results are int ticks of the contract's ``tick_size``; inside the solvers they are exact
  ``Fraction`` s of the quote currency, so an average entry price need not sit on a tick.
- **Sizes** are int lots: base units (e.g. 0.001 BTC) for linear contracts, contracts (e.g. 1 USD) for inverse.
- **Rates** are exact ``Fraction`` s here (tier tables keep their ppm ints, :mod:`delever.tiers`).

Rounding (the engine's rule, README "Money is exact"): requirements (margins) round **up**, PnL rounds
**down**, and liquidation and bankruptcy prices round to the tick **against the account** (up for a long, down
for a short) unless the venue publishes another rule (Bybit does, and it is the same: venues.md section 3,
TV-08).

Value of a position of ``s`` lots (signed, long > 0) at price ``P`` (quote), in money units:

- linear: ``s * q * P * S`` with ``q`` the lot size in base units and ``S`` the money scale;
  uPnL ``s * q * S * (P - E)``;
- inverse: ``s * K / P`` with ``K = lot * contract_size(quote) * S``; uPnL ``s * K * (1/E - 1/P)``
  (BitMEX TV-28: 15,000 XBTUSD from 750 to 800 -> 1.25 XBT).

Liquidation price: the price at which equity ``C + uPnL(P)`` equals the maintenance requirement. Venues
differ in *which* requirement:

- ``"mark"`` basis (Binance, Hyperliquid, Kraken, dYdX, ...): ``MM(P) = notional(P) * MMR - cum``, with the
  tier the notional at ``P`` falls in (Binance: "if the LP falls in a different tier ... recompute", section 1).
  Linear: ``P = (s*q*S*E - C - cum) / (q*S*(s - |s|*MMR))``; inverse:
  ``P = K*(s + |s|*MMR) / (C + cum + s*K/E)``.
- ``"entry"`` basis (Bybit's published isolated formulas, BitMEX's inverse formula): the requirement is fixed at
  the entry value, ``MM_E = notional(E) * MMR - cum``. Linear ``P = E + (MM_E - C) / (s*q*S)``
  (Bybit ``LP_long = EP - (IM - MM)/size``); inverse ``P = s*K / (C - MM_E + s*K/E)``
  (Bybit UTA ``LP_long = Qty / [PV + (IM - MM)]``, TV-19).

Bankruptcy price: equity 0, ``P = E - C/(s*q*S)`` (linear), ``P = s*K / (C + s*K/E)`` (inverse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..instruments import Instrument
from ..margin import BACKING_WHOLE_ACCOUNT
from .exact import ceil_frac, floor_frac, frac
from .margin_models import BracketMargin
from .contract import VenueInstrument
from .rules import (
    FeeRule,
    FundingRule,
    LiquidationProcedure,
    LpBasis,
    MarkRule,
    NO_PUBLISHED_BAND,
    PriceRounding,
)
from .adl_rules import AdlInputs, AdlRule, INDICATORS, SCORES
from .bridge import EngineBridge
from .solver import PriceSolver
from .position_calc import PositionCalculator
from .description import RulebookDescription


@dataclass(frozen=True)
class Rulebook(PriceSolver, PositionCalculator, RulebookDescription, EngineBridge):
    """A venue's rules. Subclasses (one per venue module) override a policy where the venue differs.

    Attributes:
        name: registry key (``binance``); display_name: for people.
        summary: one line; sources: URLs (from venues.md); stand_ins: every rule used without a venue source.
        instruments: contracts by symbol.
        liquidation, adl, fees, funding: the rules as data.
        rounding: price rounding to the tick.
        lp_basis_isolated / lp_basis_cross: ``"mark"`` or ``"entry"`` requirement in the liquidation price
            (module docstring).
        liquidation_extra_mmr: added to the MMR in the liquidation condition (OKX: the taker fee, "MMR + fee
            rate"; BitMEX: taker fee + funding rate).
        leverage_fee_reserve: added to ``1 / leverage`` in the margin posted for a leverage (BitMEX
            ``IM = 1/lev + 2 * takerFee``).
        funding_by_symbol: per-symbol funding rules (OKX caps differ by symbol).
    """

    name: str
    display_name: str
    summary: str
    sources: tuple[str, ...]
    instruments: Mapping[str, VenueInstrument]
    liquidation: LiquidationProcedure
    adl: AdlRule
    fees: FeeRule
    funding: FundingRule
    rounding: PriceRounding = field(default_factory=PriceRounding)
    lp_basis_isolated: LpBasis = "mark"
    lp_basis_cross: LpBasis = "mark"
    liquidation_extra_mmr: Fraction = Fraction(0)
    leverage_fee_reserve: Fraction = Fraction(0)
    funding_by_symbol: Mapping[str, FundingRule] = field(default_factory=dict)
    stand_ins: tuple[str, ...] = ()
    cross_backing_rule: int = BACKING_WHOLE_ACCOUNT
    """How a cross position of a multi-position account is backed (:func:`delever.margin.cross_backing`):
    the whole account (Binance ``WB + UPNL1``) or dYdX v4's share of TNC (``BACKING_MM_SHARE``)."""
    mark: MarkRule = NO_PUBLISHED_BAND
    """The venue's mark rule (:class:`MarkRule`): its band around the index, run as ``[mark] max_deviation_pct``,
    and its basis EMA where published (``[mark] basis_ema_s``)."""

    def funding_for(self, symbol: str) -> FundingRule:
        """The funding rule of ``symbol`` (per-symbol caps where the venue has them)."""
        return self.funding_by_symbol.get(self.contract(symbol).symbol, self.funding)

    # --- contracts -------------------------------------------------------------------------------------

    def contract(self, symbol: str) -> VenueInstrument:
        """The contract ``symbol`` (case-insensitive).

        Raises:
            InputError(field="symbol"): unknown symbol, listing the venue's.
        """
        for s, c in self.instruments.items():
            if s.upper() == str(symbol).upper():
                return c
        raise InputError(
            f"unknown symbol {symbol!r} on {self.name}; known: {', '.join(self.instruments)}", field="symbol"
        )

    def instrument(self, symbol: str) -> Instrument:
        """The engine's :class:`delever.instruments.Instrument` for a linear contract with bracket tiers.

        Raises:
            InputError: (field ``symbol``) an inverse contract or a non-bracket schedule: the cascade engine models
                linear contracts with Binance-style brackets (inverse maths is in this rulebook's own formulas).
        """
        c = self.contract(symbol)
        if c.contract != "linear" or not isinstance(c.margin, BracketMargin):
            raise InputError(
                f"{self.name} {c.symbol}: the engine needs a linear contract with bracket "
                f"tiers (this one is {c.contract}, {c.margin.kind})",
                field="symbol",
            )
        return Instrument(c.symbol, c.tick_size, c.lot_size, c.margin.tiers, base=c.base, quote=c.quote)

    def liquidation_order_lots(
        self, symbol: str, lots: int, price: Fraction | Decimal | str, *, in_cooldown: bool = False
    ) -> int:
        """Lots the first liquidation order closes for a position of ``lots`` (signed or not) at ``price``.

        ``full``/``takeover``/``ioc_assignment_unwind``/``fillable_price_ioc``: all of it. ``tier_steps``: down
        to the largest size whose tier is ``tiers_per_step`` below the current one (all of it below
        ``full_below_tier``). ``slices``: ``ceil(fraction * lots)`` above ``slice_above`` outside a cooldown.
        ``incremental``: ``increment_lots``.
        """
        c = self.contract(symbol)
        n = abs(lots)
        lp = self.liquidation
        p = frac(price)
        if lp.style == "tier_steps":
            idx = c.margin.band(c.notional(n, p), n).index
            if idx < lp.full_below_tier:
                return n
            target = max(0, idx - lp.tiers_per_step)
            lo, hi = 0, n  # largest kept size with tier <= target (monotone in size)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if c.margin.band(c.notional(mid, p), mid).index <= target:
                    lo = mid
                else:
                    hi = mid - 1
            return n - lo
        if lp.style == "slices":
            if not in_cooldown and c.notional(n, p) > lp.slice_above:
                return ceil_frac(n * lp.slice_fraction)
            return n
        if lp.style == "incremental":
            return min(n, lp.increment_lots)
        return n

    def fund_delta(
        self, symbol: str, side: int, lots: int, bankruptcy: Fraction | Decimal | str, fill: Fraction | Decimal | str
    ) -> int:
        """Money the insurance fund gains (> 0) or pays (< 0) when a bankrupt position of ``lots`` closes at
        ``fill`` instead of its bankruptcy price: ``uPnL from BP to fill`` (``s*q*S*(fill - BP)`` linear,
        ``s*K*(1/BP - 1/fill)`` inverse), rounded down. Where the trader keeps a better fill's surplus
        (``surplus_to == "trader"``: Hyperliquid, Kraken, dYdX, Deribit, Drift) the fund only pays shortfalls.
        Liquidation fees are separate (:attr:`fees`; dYdX's capped fee:
        :func:`delever.venues.dydx.insurance_fund_delta`).
        """
        c = self.contract(symbol)
        gap = floor_frac(c.upnl(side * abs(lots), frac(bankruptcy), frac(fill)))
        return gap if self.liquidation.surplus_to == "insurance_fund" else min(0, gap)

    # --- ADL -------------------------------------------------------------------------------------------

    def adl_score(self, inputs: AdlInputs) -> np.ndarray:
        """The ranking key of each position of one side (float64, higher = deleveraged first)."""
        return SCORES[self.adl.ranking](inputs)

    def adl_order(self, inputs: AdlInputs, *, start: int = 0) -> np.ndarray:
        """Indices in the order the queue takes them: score descending, then index ascending; for a
        ``random_offset`` queue (dYdX), index order rotated to begin at ``start``; empty where the venue has no
        queue (Drift, Deribit)."""
        n = inputs.upnl.shape[0]
        if self.adl.queue == "none":  # no ADL queue (the loss is socialised): nobody is deleveraged
            return np.empty(0, dtype=np.int64)
        if self.adl.queue == "random_offset":
            return (np.arange(n) + (start % n if n else 0)) % max(n, 1)
        score = self.adl_score(inputs)
        return np.lexsort((np.arange(n), -score))

    def adl_indicator(self, scores: np.ndarray, quantities: np.ndarray) -> np.ndarray:
        """The venue's indicator for each position of one side (int8)."""
        return INDICATORS[self.adl.indicator](scores, quantities)

    def adl_fill_price(self, bankruptcy: int, mark: int, previous_mark: int | None = None) -> int:
        """Ticks at which an ADL'd counterparty is closed: the bankrupt order's BP, the mark, or the previous
        mark (Hyperliquid)."""
        rule = self.adl.fill_price
        if rule == "mark":
            return mark
        if rule == "previous_mark":
            return mark if previous_mark is None else previous_mark
        return bankruptcy
