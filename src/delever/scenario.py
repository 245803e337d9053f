"""Scenarios: a TOML file validated with pydantic, every parameter with its unit and default.

Paths in a scenario are relative to the scenario file, or ``package:NAME`` for data shipped inside delever
(``src/delever/data``). Quote amounts and rates are decimal strings or numbers (converted exactly). Unknown
keys are errors. Errors name the file, the line of the offending key where it can be found, and the field.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, UTC
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .adl.hierarchy import DEFAULT_KEYS as DEFAULT_HIERARCHY_KEYS
from .errors import InputError
from .instruments import Instrument
from .tiers import TIER_TABLES, RiskTiers
from .validate import MAX_SEED, Money, Rate, scenario_problem

PACKAGE_PREFIX = "package:"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no inf/nan anywhere


class TierRow(_Model):
    """One risk-limit bracket: notional cap (quote), max leverage, MMR and IMR (fractions)."""

    cap: Annotated[Money, Field(gt=0)]
    max_leverage: Annotated[Decimal, Field(gt=0, le=10_000)]
    mmr: Annotated[Rate, Field(gt=0, le=1)]
    imr: Annotated[Rate, Field(gt=0, le=1)] | None = None


def build_tiers(name: str, tiers: str | list[TierRow]) -> RiskTiers:
    """A built-in tier table by name (:data:`delever.tiers.TIER_TABLES`) or ``name``'s table of explicit rows.

    Raises:
        ValueError: an unknown table name or inconsistent rows.
    """
    if isinstance(tiers, str):
        if tiers not in TIER_TABLES:
            raise ValueError(f"unknown tier table {tiers!r}; known: {', '.join(sorted(TIER_TABLES))}")
        return TIER_TABLES[tiers]
    rows = [(str(t.cap), str(t.max_leverage), str(t.mmr), None if t.imr is None else str(t.imr)) for t in tiers]
    return RiskTiers.from_brackets(name, rows)


class InstrumentConfig(_Model):
    """The contract: symbol, kind, increments, tiers (a built-in table name or explicit rows); a
    ``dated_future`` has an ``expiry`` (UTC) and settles there (:mod:`delever.settlement`)."""

    symbol: str = "BTCUSDT"
    kind: Literal["perpetual", "dated_future"] = "perpetual"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.1")
    lot_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.001")
    expiry: datetime | None = None
    settlement_window_s: Annotated[float, Field(gt=0)] = 1_800.0
    """A dated future's settlement price averages its index over this many seconds before expiry."""
    tiers: str | Annotated[list[TierRow], Field(min_length=1)] = "binance-btcusdt-2021"

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: str | list[TierRow]) -> str | list[TierRow]:
        build_tiers("tiers", tiers)  # ValueError naming the table or the tier at fault
        return tiers

    def build(self) -> Instrument:
        """The :class:`~delever.instruments.Instrument` (raises ValueError on inconsistent values)."""
        return Instrument(
            self.symbol,
            self.tick_size,
            self.lot_size,
            build_tiers(f"{self.symbol}-custom", self.tiers),
            kind=self.kind,
            base=self.base,
            quote=self.quote,
            expiry=self.expiry,
        )


class PricesConfig(_Model):
    """The index path: a kline CSV (Binance layout) and an optional UTC window. ``gap_fill``: what to do with
    missing bars inside the window (:mod:`delever.prices`): ``"error"`` (default: an InputError naming the
    file and the gap), ``"linear"`` (a straight line from the last close to the next open) or ``"hold"``
    (the last close until the next bar opens). ``stretch_to_low``: see the field."""

    file: str
    start: datetime | None = None
    end: datetime | None = None
    gap_fill: Literal["error", "linear", "hold"] = "error"
    stretch_to_low: Annotated[Decimal, Field(gt=0)] | None = None
    """Scale every move of the path from its first price so that its minimum becomes this price
    (:func:`delever.prices.stretch_to_low`); None: the path as recorded."""


class LiquidityConfig(_Model):
    """Order-book depth (calibrated from a Binance bookDepth file over a window), its scale and refill."""

    depth_file: str
    depth_window_start: datetime
    depth_window_end: datetime
    depth_scale: Annotated[float, Field(gt=0, le=1_000)] = 1.0
    depth_scale_basis: Literal["base", "quote"] = "base"
    """What ``depth_scale`` multiplies: ``"base"`` the recorded base quantities (BTC within each band, right
    at the recording's price level only), ``"quote"`` the recorded quote notional, converted to base at the
    run's first index price (:func:`delever.marketdata.profile_at_price`), which carries the depth across
    price levels (a 2025 shape in BTC is ~15x thinner in USD at 2020's prices)."""
    resilience_half_life_s: Annotated[float, Field(ge=0)] = 60.0
    lp_accounts: Annotated[int, Field(ge=1, le=1000)] = 4
    lp_wallet: Annotated[Money, Field(gt=0)] = Decimal(1_000_000_000)


class MarkConfig(_Model):
    """Mark-price rule (:mod:`delever.mark`): basis EMA time constant in seconds, and the mark's band.

    ``max_deviation_pct``: the mark is held within this many percent of the index at every step (the clamp of
    :func:`delever.mark.mark_of`); 0 makes the mark the index (a venue that margins at its oracle price); unset
    (the default, and the built-in scenario's): no band. ``delever run --venue NAME`` sets the venue's published
    band (:attr:`delever.venues.base.Rulebook.mark`)."""

    basis_ema_s: Annotated[float, Field(ge=0)] = 30.0
    max_deviation_pct: Annotated[float, Field(ge=0, le=100)] | None = None


class FeesConfig(_Model):
    """Liquidation fee rate on the closed notional (Binance's old BTCUSDT rate: 0.3%, venues.md section 1)."""

    liquidation_fee_rate: Annotated[Rate, Field(ge=0, le=1)] = Decimal("0.003")


class InsuranceFundConfig(_Model):
    """Starting balance of the instrument's insurance fund (quote), and whether a multi-instrument run pools one
    fund across its instruments (``shared``; dYdX v4 cross markets, Mango v4, Bybit's grouped pools: the
    venues are cited in :mod:`delever.insurance`). A shared fund starts with ``balance`` plus every extra
    instrument's ``insurance_fund``; with one instrument ``shared`` changes nothing."""

    balance: Annotated[Money, Field(ge=0)] = Decimal(0)
    shared: bool = False


class GeneratorConfig(_Model):
    """Parameters of :func:`delever.generator.generate_book` (quote amounts in quote units)."""

    accounts: Annotated[int, Field(ge=1, le=50_000_000)] = 100_000
    long_fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    notional_median: Annotated[Money, Field(gt=0)] = Decimal(5_000)
    notional_sigma: Annotated[float, Field(ge=0, le=5)] = 1.5
    leverage_median: Annotated[float, Field(ge=1, le=10_000)] = 5.0
    leverage_sigma: Annotated[float, Field(ge=0, le=5)] = 1.0
    leverage_max: Annotated[float, Field(ge=1, le=10_000)] = 100.0
    entry_sigma: Annotated[float, Field(ge=0, le=1)] = 0.02
    isolated_fraction: Annotated[float, Field(ge=0, le=1)] = 0.3
    age_mean_s: Annotated[float, Field(ge=0)] = 259_200.0
    """Mean position age at the start, seconds (exponential; the ADL hierarchy's ``position_age`` key)."""


class HyperliquidBookConfig(_Model):
    """A book built from the public reconstruction of Hyperliquid's 10 October 2025 fills
    (:mod:`delever.hyperliquid_book`, whose docstring states every assumption): the files, the coin, and the
    two leverages the files do not give.

    ``liquidated_leverage``: leverage at the start of the positions that were liquidated (collateral =
    notional / it). ``survivor_leverage``: likewise for those neither liquidated nor ADL'd."""

    positions_file: str = "package:hyperliquid_btc_20251010/positions_btc.csv"
    adl_users_file: str = "package:hyperliquid_btc_20251010/adl_by_user_btc.csv"
    tickers_file: str = "package:hyperliquid_btc_20251010/liq_and_adl_by_ticker_12min.csv"
    adl_volume_file: str = "package:hyperliquid_btc_20251010/adl_net_volume_full_12min.csv"
    coin: str = "BTC"
    liquidated_leverage: Annotated[float, Field(ge=1)] = 20.0
    survivor_leverage: Annotated[float, Field(ge=1)] = 3.0


class BookConfig(_Model):
    """One of: a file of positions (CSV/Parquet, :mod:`delever.bookio`), a generator, or a Hyperliquid book
    built from the 10 October 2025 data (:mod:`delever.hyperliquid_book`)."""

    file: str | None = None
    generator: GeneratorConfig | None = None
    hyperliquid: HyperliquidBookConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BookConfig:
        if sum(x is not None for x in (self.file, self.generator, self.hyperliquid)) != 1:
            raise ValueError("give exactly one of book.file, book.generator and book.hyperliquid")
        return self


class PartialLiquidationConfig(_Model):
    """Partial liquidation (:mod:`delever.mechanisms.partial`): ``tier`` reduces a position to the highest
    lower risk-limit tier at which it is back above maintenance margin (BitMEX, Bybit: venues.md sections
    2-3); ``slice`` sends ``slice_fraction`` of positions above ``slice_min_notional`` (quote) per order and,
    within ``cooldown_s`` of a partial, the whole position (Hyperliquid, venues.md section 6, TV-34)."""

    enabled: bool = False
    mode: Literal["tier", "slice"] = "tier"
    slice_fraction: Annotated[Rate, Field(gt=0, lt=1)] = Decimal("0.2")
    slice_min_notional: Annotated[Money, Field(ge=0)] = Decimal(100_000)
    cooldown_s: Annotated[float, Field(ge=0)] = 30.0


class BackstopConfig(_Model):
    """A backstop liquidity vault (Hyperliquid's HLP liquidator, venues.md section 6) that takes over whole
    positions whose equity is below ``equity_ratio`` x MM, at the mark (at the bankruptcy price if equity < 0),
    keeping the remaining margin; ``vault_wallet`` (quote) is its starting capital."""

    enabled: bool = False
    equity_ratio: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.666667")
    vault_wallet: Annotated[Money, Field(gt=0)] = Decimal(50_000_000)


class ProactiveDeleveragingConfig(_Model):
    """Reduce the most levered accounts towards ``target_leverage`` when a stress trigger trips: the mark moved
    more than ``price_move_pct`` within ``window_s``, or the insurance fund fell more than
    ``fund_drawdown_pct`` within it, or the traders' aggregate leverage exceeds ``system_leverage``."""

    enabled: bool = False
    window_s: Annotated[float, Field(gt=0)] = 300.0
    price_move_pct: Annotated[float, Field(gt=0)] = 4.0
    fund_drawdown_pct: Annotated[float, Field(gt=0)] = 30.0
    system_leverage: Annotated[float, Field(gt=0)] = 1_000.0
    trigger_leverage: Annotated[float, Field(gt=1)] = 25.0
    target_leverage: Annotated[float, Field(gt=1)] = 10.0
    max_accounts_per_step: Annotated[int, Field(ge=1)] = 500


class DynamicMarginConfig(_Model):
    """Maintenance and initial margin rates scaled by ``clip(sigma_short / sigma_long, 1, cap)`` of the index's
    realised volatility, refreshed every ``update_every_s`` and applied to existing positions."""

    enabled: bool = False
    short_window_s: Annotated[float, Field(gt=0)] = 300.0
    long_window_s: Annotated[float, Field(gt=0)] = 3_600.0
    cap: Annotated[float, Field(ge=1)] = 2.0
    update_every_s: Annotated[float, Field(gt=0)] = 60.0


class CircuitBreakerConfig(_Model):
    """Halt liquidation fills for ``halt_s`` when the mark moves more than ``move_pct`` within ``window_s``;
    liquidatable accounts wait and are liquidated when the halt ends if still below maintenance margin."""

    enabled: bool = False
    window_s: Annotated[float, Field(gt=0)] = 60.0
    move_pct: Annotated[float, Field(gt=0)] = 3.0
    halt_s: Annotated[float, Field(gt=0)] = 60.0


class LimitsConfig(_Model):
    """Per-account notional cap (quote) and per-tier max leverage, enforced on the generated book and on books
    read from files (rows over a limit are errors)."""

    enabled: bool = False
    max_account_notional: Annotated[Money, Field(gt=0)] = Decimal(5_000_000)


class SocializedLossConfig(_Model):
    """Instead of ADL, bad debt the fund cannot pay is clawed back from the winners' unrealized profit pro rata
    (Deribit's socialized loss, venues.md section 5); accounts without negative-balance protection keep their
    negative balance as a debt instead (``protected_fraction`` of generated accounts are protected)."""

    enabled: bool = False
    protected_fraction: Annotated[float, Field(ge=0, le=1)] = 1.0


class MarketMakerWithdrawalConfig(_Model):
    """Book depth scaled by ``clip((sigma_short / sigma_long) ** -elasticity, min_scale, 1)``: depth thins as
    volatility rises and refills as it calms; ``elasticity = "calibrated"`` fits it to the real ask +1% depth
    fall of 10 October 2025 (:func:`delever.mechanisms.withdrawal.calibrate_elasticity`)."""

    enabled: bool = False
    elasticity: Annotated[float, Field(ge=0)] | Literal["calibrated"] = "calibrated"
    min_scale: Annotated[float, Field(gt=0, le=1)] = 0.1
    short_window_s: Annotated[float, Field(gt=0)] = 300.0
    long_window_s: Annotated[float, Field(gt=0)] = 3_600.0


class FundingConfig(_Model):
    """Funding every ``interval_s`` (aligned to UTC multiples): ``F = P + clamp(I - P, -clamp, +clamp)`` with
    the premium ``P`` the interval's average of ``(mark - index) / index`` and ``I`` the interest per interval
    (Binance/Bybit/BitMEX, venues.md sections 1-3), capped at ``cap``; longs pay shorts when F > 0."""

    enabled: bool = False
    interval_s: Annotated[float, Field(gt=0)] = 28_800.0
    interest_rate: Decimal = Decimal("0.0001")
    clamp: Annotated[Decimal, Field(ge=0)] = Decimal("0.0005")
    cap: Annotated[Decimal, Field(gt=0)] = Decimal("0.03")


class CrossInstrumentConfig(_Model):
    """A second or third instrument for a multi-instrument cross-margin run (:mod:`delever.contagion`).

    ``index = "correlated"`` (a perpetual on another underlying): its index path is the scenario's index
    path's one-step log returns times ``beta``, correlated ``correlation`` with them (``r = beta * (rho *
    r_index + sqrt(1 - rho^2) * sigma_index * eps)``, eps standard normal, seeded), from ``start_price``.
    ``index = "underlying"`` (a contract on the scenario's own underlying, e.g. a dated future beside the
    perpetual): its index is the scenario's index path. Its order book is the calibrated depth shape with
    ``depth_scale`` of its notional. ``tiers``: a built-in table name or explicit rows, as the scenario's
    instrument.

    ``kind = "dated_future"`` makes it a future that expires at ``expiry`` (UTC) and settles at the mean of
    its index over the last ``settlement_window_s`` seconds (:mod:`delever.settlement`); before expiry its
    book is centred ``basis_pct`` percent above the index, the premium shrinking linearly to 0 at expiry.

    Positions: ``holders_fraction`` of the cross trader accounts open one at a random side; then
    ``spread_fraction`` of the remaining cross trader accounts hold a calendar spread: the opposite of their
    position on the scenario's instrument, of the same base quantity (rounded down to a lot, at least one).
    """

    symbol: str
    tick_size: Annotated[Decimal, Field(gt=0)]
    lot_size: Annotated[Decimal, Field(gt=0)]
    tiers: str | Annotated[list[TierRow], Field(min_length=1)]

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: str | list[TierRow]) -> str | list[TierRow]:
        build_tiers("tiers", tiers)  # ValueError naming the table or the tier at fault
        return tiers

    start_price: Annotated[Decimal, Field(gt=0)] | None = None
    index: Literal["correlated", "underlying"] = "correlated"
    beta: Annotated[float, Field(gt=0)] = 1.0
    correlation: Annotated[float, Field(ge=-1, le=1)] = 0.8
    depth_scale: Annotated[float, Field(gt=0, le=1_000)] = 0.15
    insurance_fund: Annotated[Money, Field(ge=0)] = Decimal(0)
    holders_fraction: Annotated[float, Field(ge=0, le=1)] = 0.3
    spread_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    kind: Literal["perpetual", "dated_future"] = "perpetual"
    expiry: datetime | None = None
    settlement_window_s: Annotated[float, Field(gt=0)] = 1_800.0
    basis_pct: Annotated[float, Field(ge=-50, le=50)] = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> CrossInstrumentConfig:
        if self.index == "correlated" and self.start_price is None:
            raise ValueError(f"{self.symbol}: a correlated index needs a start_price")
        if (self.kind == "dated_future") != (self.expiry is not None):
            raise ValueError(f"{self.symbol}: a dated future needs an expiry, a perpetual has none")
        if isinstance(self.tiers, str):
            build_tiers(self.symbol, self.tiers)  # raises ValueError on an unknown table
        if self.basis_pct and self.kind != "dated_future":
            raise ValueError(f"{self.symbol}: basis_pct applies to a dated future only")
        return self


class CrossMarginConfig(_Model):
    """Cross-margin contagion: a fraction of the cross accounts also hold positions on other perpetuals with
    correlated paths, or on dated futures of the same underlying (calendar spreads), so that a loss on one
    instrument liquidates positions on the others; each instrument
    keeps its own book, insurance fund and ADL queue (ADL stays per instrument, as on Hyperliquid,
    venues.md section 11: "ADL never crossed assets")."""

    enabled: bool = False
    instruments: list[CrossInstrumentConfig] = []


class MechanismsConfig(_Model):
    """Every deleveraging mechanism beyond the default full liquidation + insurance fund + ADL; all off by
    default, each switchable (``delever run --set mechanisms.NAME.enabled=true``)."""

    partial_liquidation: PartialLiquidationConfig = PartialLiquidationConfig()
    backstop: BackstopConfig = BackstopConfig()
    proactive_deleveraging: ProactiveDeleveragingConfig = ProactiveDeleveragingConfig()
    dynamic_margin: DynamicMarginConfig = DynamicMarginConfig()
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    limits: LimitsConfig = LimitsConfig()
    socialized_loss: SocializedLossConfig = SocializedLossConfig()
    mm_withdrawal: MarketMakerWithdrawalConfig = MarketMakerWithdrawalConfig()
    funding: FundingConfig = FundingConfig()
    cross_margin: CrossMarginConfig = CrossMarginConfig()

    @model_validator(mode="after")
    def _cross_margin_instruments(self) -> MechanismsConfig:
        if self.cross_margin.enabled:
            if not self.cross_margin.instruments:
                raise ValueError("cross_margin needs at least one [[mechanisms.cross_margin.instruments]]")
        return self

    def enabled(self) -> list[str]:
        """Names of the mechanisms that are on."""
        return [name for name in type(self).model_fields if getattr(self, name).enabled]


class FactsConfig(_Model):
    """Settings of the stylised facts every run reports (:mod:`delever.facts`): ADL fills more than
    ``adl_wave_gap_s`` seconds apart belong to different waves (default 5 s, Chitra's wave split);
    ``compare_with`` names a real event whose figures the report shows beside the run's."""

    adl_wave_gap_s: Annotated[float, Field(ge=0)] = 5.0
    compare_with: Literal["hyperliquid-2025-10-10"] | None = None
    """A real event whose facts the report puts beside the run's, each traced to its data file."""


class AdlConfig(_Model):
    """The ADL policy (:mod:`delever.adl.policies`): a queue (``queue-bitmex`` default, ``queue-binance``,
    ``queue-hyperliquid``, ``queue-bitget``), the configurable ``hierarchy`` queue, or an allocation rule
    (``pro-rata-pnl`` ...).

    ``keys``, ``form``, ``weights`` and ``funding_window_s`` configure the ``hierarchy`` policy
    (:mod:`delever.adl.hierarchy`): ``keys = ["effective_leverage desc", "notional desc", ...]`` in priority
    order, combined lexicographically or as a weighted sum of ranks (one weight per key), and the window
    (seconds) over which ``funding_received`` sums a position's funding. They are kept, unused, under the other
    policies, so that ``delever compare`` can run the scenario's hierarchy beside them.
    """

    policy: str = "queue-bitmex"
    keys: list[str] = Field(default_factory=lambda: list(DEFAULT_HIERARCHY_KEYS))
    form: Literal["lexicographic", "weighted"] = "lexicographic"
    weights: list[Annotated[float, Field(ge=0)]] | None = None
    funding_window_s: Annotated[float, Field(gt=0)] = 28_800.0
    trigger: Literal["fund-cannot-pay", "negative-equity", "fund-drawdown"] = "fund-cannot-pay"
    """When a liquidation's loss goes to ADL rather than the insurance fund (:mod:`delever.adl.trigger`):
    ``fund-cannot-pay`` (Binance, BitMEX: the fund cannot pay the book close's deficit), ``negative-equity``
    (Hyperliquid: the account's value would go below zero; the fund is not used first) or ``fund-drawdown``
    (OKX, Bybit's pool drawdown: the fund fell ``drawdown_pct`` from its peak within ``drawdown_window_s``;
    otherwise ``fund-cannot-pay``)."""
    fill: Literal["bankruptcy", "mark", "previous-mark"] = "bankruptcy"
    """ADL fill price: the bankrupt position's bankruptcy price (Binance, BitMEX, Bybit), the mark (OKX) or the
    previous step's mark (Hyperliquid); what a fill other than the bankruptcy price leaves on the bankrupt
    account is settled with the insurance fund (:mod:`delever.adl.trigger`)."""
    drawdown_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(30)
    """``fund-drawdown``: ADL starts when the fund is at or below its peak within the window less this percent
    (OKX: "a straight-line decrease of 30% from the peak value of the risk reserve within 8 hours")."""
    drawdown_stop_pct: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    """``fund-drawdown``: ADL, once started, stops when the drawdown is back below this percent (Bybit:
    ``adlStopRatio`` -0.25 against a start at -0.30); default ``drawdown_pct`` (OKX's end threshold
    ``adlRecRate`` is not published)."""
    drawdown_window_s: Annotated[float, Field(gt=0)] = 28_800.0
    """``fund-drawdown``: the window (seconds) over which the fund's peak is taken (OKX, Bybit: 8 h)."""
    drawdown_close: Literal["whole-position", "deficit"] = "whole-position"
    """``fund-drawdown``, while on: ``whole-position`` (OKX: "no more market liquidation orders; liquidated
    positions matched directly with highest-ranked counterparties") or ``deficit`` (Bybit: the book first,
    the part the fund would have to pay is deleveraged)."""

    @field_validator("keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        from .adl.hierarchy import HierarchyKey

        for k in keys:
            HierarchyKey.parse(k)  # ValueError names the key and the known ones
        if not keys:
            raise ValueError("at least one key")
        return keys

    @model_validator(mode="after")
    def _known(self) -> AdlConfig:
        from .adl.policies import POLICIES

        if self.policy not in POLICIES:
            raise ValueError(f"unknown ADL policy {self.policy!r}; known: {', '.join(POLICIES)}")
        self.hierarchy()  # raises ValueError on a bad key, direction or weights
        if self.drawdown_stop_pct is not None and self.drawdown_stop_pct > self.drawdown_pct:
            raise ValueError(
                f"drawdown_stop_pct {self.drawdown_stop_pct} exceeds drawdown_pct {self.drawdown_pct}: ADL would "
                "stop before it starts"
            )
        return self

    def hierarchy(self):
        """The :class:`~delever.adl.hierarchy.HierarchyRule` of ``keys``/``form``/``weights``."""
        from .adl.hierarchy import HierarchyRule

        return HierarchyRule.from_config(self.keys, self.form, self.weights)

    def build(self, policy: str | None = None):
        """The :class:`~delever.adl.policies.Policy` to run: ``policy`` (default: this config's), with this
        config's hierarchy when it is ``hierarchy``."""
        from .adl.policies import get_policy, hierarchy_policy

        name = self.policy if policy is None else policy
        return hierarchy_policy(self.hierarchy()) if name == "hierarchy" else get_policy(name)


class LiquidationConfig(_Model):
    """Per-step limits of the liquidation stage (:mod:`delever.mechanisms.block_limits`; dYdX v4's per-block
    limits, ../shared/specs/engines.md section 1, ``liquidations_config.go``). A step stands for a block. All
    off by default (no limit); the dYdX rulebook sets them (:mod:`delever.venues.dydx`).

    ``max_positions_per_step``: liquidation orders per step (``MaxLiquidationAttemptsPerBlock``, 50 on dYdX);
    the least collateralised first, the rest wait. ``position_min_notional`` (quote) and
    ``position_max_portion_pct``: a position's order is at most ``max(min notional, portion x notional)``
    (``PositionBlockLimits``). ``account_max_notional_per_step`` (quote): notional liquidated per account per
    step (``SubaccountBlockLimits.MaxNotionalLiquidated``). In a multi-instrument run (``mechanisms.cross_margin``)
    the count and the account budget hold over every instrument's liquidations of the step.

    ``cross_backing``: what backs one cross position of a multi-position account at its bankruptcy price
    (:func:`delever.margin.cross_backing`): ``whole-account`` (the default; Binance cross, ``WB + UPNL1``, the
    wallet plus the other cross positions' uPnL, ../shared/specs/venues.md section 1) or ``mm-share`` (dYdX v4,
    ``-DNNV - TNC x |DMMR| / TMMR``: the position keeps its share of the account's total net collateral,
    ../shared/specs/engines.md section 1). The venue rulebooks set it (:meth:`delever.venues.bridge.EngineBridge.
    scenario_overrides`); a single-position account is backed by its wallet under both.
    """

    max_positions_per_step: Annotated[int, Field(ge=1)] | None = None
    position_min_notional: Annotated[Money, Field(ge=0)] = Decimal(0)
    position_max_portion_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(100)
    account_max_notional_per_step: Annotated[Money, Field(gt=0)] | None = None
    cross_backing: Literal["whole-account", "mm-share"] = "whole-account"

    def backing_rule(self) -> int:
        """``cross_backing`` as the kernels' rule number (:data:`delever.margin.BACKING_WHOLE_ACCOUNT` or
        :data:`delever.margin.BACKING_MM_SHARE`)."""
        from .margin import BACKING_MM_SHARE, BACKING_WHOLE_ACCOUNT

        return BACKING_MM_SHARE if self.cross_backing == "mm-share" else BACKING_WHOLE_ACCOUNT

    def limits_on(self) -> bool:
        """Whether any per-step limit can bind (a portion below 100%, a per-step count or account budget)."""
        return (
            self.max_positions_per_step is not None
            or self.position_max_portion_pct < 100
            or self.account_max_notional_per_step is not None
        )

    def block_limits(self):
        """The :class:`~delever.mechanisms.block_limits.BlockLimits` in engine units (money, ppm)."""
        from .mechanisms.block_limits import NO_LIMIT, BlockLimits
        from .units import money, rate_ppm

        acc = self.account_max_notional_per_step
        return BlockLimits(
            max_positions=NO_LIMIT if self.max_positions_per_step is None else self.max_positions_per_step,
            position_min_notional=money(self.position_min_notional),
            position_portion_ppm=rate_ppm(self.position_max_portion_pct / 100),
            account_max_notional=NO_LIMIT if acc is None else money(acc),
        )


class Scenario(_Model):
    """A whole run: ``(scenario, seed)`` determines the output."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    step_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    instrument: InstrumentConfig = InstrumentConfig()
    prices: PricesConfig
    liquidity: LiquidityConfig
    mark: MarkConfig = MarkConfig()
    fees: FeesConfig = FeesConfig()
    insurance_fund: InsuranceFundConfig = InsuranceFundConfig()
    book: BookConfig
    mechanisms: MechanismsConfig = MechanismsConfig()
    liquidation: LiquidationConfig = LiquidationConfig()
    adl: AdlConfig = AdlConfig()
    facts: FactsConfig = FactsConfig()
    base_dir: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: str) -> Path:
        """A path from the scenario: ``package:NAME`` or relative to the scenario file."""
        if path.startswith(PACKAGE_PREFIX):
            from .marketdata import packaged_data_path

            return packaged_data_path(path[len(PACKAGE_PREFIX) :])
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p


def _utc_ms(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def window_ms(t: datetime | None) -> int | None:
    """UTC epoch ms of a scenario time (naive times are UTC)."""
    return _utc_ms(t)


def _line_of(text: str, loc: tuple) -> int | None:
    """Best-effort line number of the key a pydantic error points at: the key's line inside its table
    (``[a.b]`` header, or a dotted key at the top level), else the table's header line."""
    keys = [str(k) for k in loc if isinstance(k, str)]
    if not keys:
        return None
    table, key = keys[:-1], keys[-1]
    current: list[str] = []
    header_line = None
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = [k.strip() for k in stripped.strip("[]").split(".")]
            if current == keys:
                header_line = n
            continue
        name = stripped.split("=", 1)[0].strip() if "=" in stripped else None
        if name is None:
            continue
        full = current + [k.strip() for k in name.split(".")]
        if full == table + [key]:
            return n
    return header_line


def load_scenario(path: str | Path, overrides: dict | None = None) -> Scenario:
    """Read and validate a scenario TOML file; ``overrides`` (nested dict) are merged over it.

    Raises:
        InputError: unreadable file, TOML syntax error (with its line), or invalid values (with field path
            and line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read scenario: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte {exc.start}); save the scenario as UTF-8 TOML", file=str(path), row=line
        ) from None
    if "\x00" in text:
        raise InputError(
            "not UTF-8 TOML text (it holds NUL bytes: binary, or UTF-16); save the scenario as UTF-8", file=str(path)
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_in_message(str(exc))
        raise InputError(f"TOML syntax error: {exc}", file=str(path), row=line) from None
    if overrides:
        data = merge_overrides(data, overrides)
    try:
        scenario = Scenario.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        errors = exc.errors()
        err = _most_specific(errors)
        loc = _field_loc(err["loc"])
        field = ".".join(str(x) for x in loc)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise InputError(f"{msg}{more}", file=str(path), row=_line_of(text, loc), field=field) from None
    try:
        scenario.instrument.build()
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field="instrument") from None
    problem = scenario_problem(scenario)
    if problem is not None:
        loc, message = problem
        raise InputError(message, file=str(path), row=_line_of(text, loc), field=".".join(loc))
    return scenario


_UNION_TAGS = {"str", "int", "float", "bool", "decimal", "datetime", "list", "dict", "none"}


def _field_loc(loc: tuple) -> tuple:
    """A pydantic error location without the union-member tags pydantic inserts (``str``,
    ``list[TierRow]``, ``constrained-float``, ...): the scenario's own field path."""
    return tuple(x for x in loc if isinstance(x, int) or (str(x).isidentifier() and str(x) not in _UNION_TAGS))


def _most_specific(errors: list[dict]) -> dict:
    """The first error, or, when it is one member of a union that failed (a value that is neither a table
    name nor a list of rows), the error of the member that went deepest (the row and field at fault)."""
    first = errors[0]
    field = _field_loc(first["loc"])
    same = [e for e in errors if _field_loc(e["loc"])[: len(field)] == field]
    return max(same, key=lambda e: (len(e["loc"]), not e["type"].endswith("_type")))


def _line_in_message(message: str) -> int | None:
    import re

    m = re.search(r"at line (\d+)", message)
    return int(m.group(1)) if m else None


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``; values are TOML literals, or strings if not.

    Raises:
        InputError: an item without ``=`` or with an empty key (field ``--set``).
    """
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or any(not k for k in key.strip().split(".")):
            raise InputError(f"expected key=value, got {item!r}", field="--set")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        node = out
        parts = key.strip().split(".")
        for k in parts[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"{key}: conflicts with another --set", field="--set")
        node[parts[-1]] = value
    return out


def merge_overrides(base: dict, over: dict) -> dict:
    """``base`` (a scenario's TOML data) with ``over`` merged into it: nested tables key by key, any other value
    replaced; neither argument is changed."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_overrides(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_scenario_path() -> Path:
    """The built-in default scenario file (Binance BTCUSDT, 10 October 2025 from 21:00 UTC)."""
    from .marketdata import packaged_data_path

    return packaged_data_path("scenarios/binance-btcusdt-2025-10-10.toml")
