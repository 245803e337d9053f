"""The market's inputs in a scenario: the contract and its tiers, the index path, the order book's depth, the mark rule,
the liquidation fee and the insurance fund."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..instruments import Instrument
from ..tiers import TIER_TABLES, RiskTiers
from ..validate import Money, Rate
from .base import ConfigModel
from .levels import PriceLevelsConfig


class TierRow(ConfigModel):
    """One risk-limit bracket: cap, max leverage, MMR and IMR (fractions). The cap is a notional in quote units
    (``tier_basis = "notional"``, the bracket ``floor <= notional < cap``) or a size in base units
    (``"size"``, inclusive: the bracket holds sizes up to ``cap``; :meth:`delever.tiers.RiskTiers.size_brackets`)."""

    cap: Annotated[Money, Field(gt=0)]
    max_leverage: Annotated[Decimal, Field(gt=0, le=10_000)]
    mmr: Annotated[Rate, Field(gt=0, le=1)]
    imr: Annotated[Rate, Field(gt=0, le=1)] | None = None


def build_tiers(
    name: str,
    tiers: str | list[TierRow],
    basis: str = "notional",
    maintenance_amount: str = "derived",
    lot_size: Decimal = Decimal("0.001"),
    rate_per_size: Decimal = Decimal(0),
) -> RiskTiers:
    """A built-in tier table by name (:data:`delever.tiers.TIER_TABLES`) or ``name``'s table of explicit rows,
    on the tier ``basis`` (``"notional"`` or ``"size"``, caps in base units converted at ``lot_size``), with the
    maintenance amount ``"derived"`` or ``"none"`` and a size-linear rate per base unit (:mod:`delever.tiers`).

    Raises:
        ValueError: an unknown table name, inconsistent rows, or a size basis with a derived maintenance amount
            (the cum rule is a notional's).
    """
    if isinstance(tiers, str):
        if tiers not in TIER_TABLES:
            raise ValueError(f"unknown tier table {tiers!r}; known: {', '.join(sorted(TIER_TABLES))}")
        if basis != "notional" or maintenance_amount != "derived":
            raise ValueError(f"tier table {tiers!r} is a notional table with its maintenance amounts: give rows")
        out = TIER_TABLES[tiers]
    else:
        rows = [(str(t.cap), str(t.max_leverage), str(t.mmr), None if t.imr is None else str(t.imr)) for t in tiers]
        if basis == "size":
            if maintenance_amount != "none":
                raise ValueError('size tiers have no maintenance amount: set maintenance_amount = "none"')
            return RiskTiers.size_brackets(name, rows, lot_size, rate_per_size)
        out = RiskTiers.from_brackets(name, rows, maintenance_amount)
    return out.with_rate_per_size(rate_per_size, lot_size) if rate_per_size else out


class InstrumentConfig(ConfigModel):
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
    tier_basis: Literal["notional", "size"] = "notional"
    """What the tier caps measure: the notional (quote; Binance, Bybit, Bitget) or the position size (base
    units, inclusive caps; OKX's contracts, BitMEX's XBT value: :meth:`delever.tiers.RiskTiers.size_brackets`)."""
    maintenance_amount: Literal["derived", "none"] = "derived"
    """``derived``: Binance's cum makes MM continuous across brackets; ``none``: MM = tier MMR x notional (Bitget,
    OKX, BitMEX; required on the size basis)."""
    rate_per_size: Annotated[Rate, Field(ge=0, lt=1)] = Decimal(0)
    """Added to every MMR and IMR per base unit of position size (Deribit BTC_USDC: 0.00005, i.e. ``MM = 1% +
    size_BTC x 0.005%``, venues.md section 5, TV-25); must be whole in 1e-12 per lot."""
    settlement: Literal["linear", "inverse"] = "linear"
    """``inverse``: a coin-margined perpetual (BitMEX XBTUSD) of ``contract_value`` ``quote`` a contract, margined
    and settled in ``base`` (:mod:`delever.inverse`): ``lot_size`` counts contracts, ``tick_size`` is the venue's
    quoted tick (kept for reference: the engine's grid is finer), and every money amount of the scenario (fund,
    wallets, tier caps, limits) is in µ``base`` (µXBT)."""
    contract_value: Annotated[Decimal, Field(gt=0)] = Decimal(1)
    """An inverse contract's value in ``quote`` (XBTUSD: 1 USD)."""

    @model_validator(mode="after")
    def _inverse(self) -> InstrumentConfig:
        if self.settlement == "inverse" and self.kind != "perpetual":
            raise ValueError("settlement: an inverse contract must be a perpetual (inverse dated futures do not run)")
        if self.settlement == "inverse" and isinstance(self.tiers, str):
            raise ValueError(
                f"tiers: an inverse contract's tiers are rows with caps in µ{self.base}, not a named table"
            )
        return self

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: str | list[TierRow]) -> str | list[TierRow]:
        # the rows alone (caps increasing, rates); the basis and maintenance amount are checked with them below
        build_tiers("tiers", tiers, maintenance_amount="derived" if isinstance(tiers, str) else "none")
        return tiers

    @model_validator(mode="after")
    def _tier_rule(self) -> InstrumentConfig:
        try:
            self.tier_table("tiers")
        except ValueError as exc:
            raise ValueError(f"tiers: {exc}") from None
        return self

    def tier_table(self, name: str) -> RiskTiers:
        """The :class:`~delever.tiers.RiskTiers` of this section (:func:`build_tiers`)."""
        return build_tiers(
            name, self.tiers, self.tier_basis, self.maintenance_amount, self.lot_size, self.rate_per_size
        )

    def build(self) -> Instrument:
        """The :class:`~delever.instruments.Instrument` (raises ValueError on inconsistent values); an inverse
        contract's in its reciprocal form (:mod:`delever.inverse`)."""
        if self.settlement == "inverse":
            from ..inverse import INVERSE_TICK, coin_label

            return Instrument(
                self.symbol,
                INVERSE_TICK,
                self.lot_size,
                self.tier_table(f"{self.symbol}-custom"),
                base="contracts",
                quote=coin_label(self.base),
                contract_value=self.contract_value,
                contract_quote=self.quote,
                coin=self.base,
                quoted_tick_size=self.tick_size,
            )
        return Instrument(
            self.symbol,
            self.tick_size,
            self.lot_size,
            self.tier_table(f"{self.symbol}-custom"),
            kind=self.kind,
            base=self.base,
            quote=self.quote,
            expiry=self.expiry,
        )


class PricesConfig(ConfigModel):
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


class LiquidityConfig(ConfigModel):
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
    levels: PriceLevelsConfig | None = None
    """Discrete price levels instead of the calibrated curve (:class:`~delever.config.levels.PriceLevelsConfig`)."""


class MarkConfig(ConfigModel):
    """Mark-price rule (:mod:`delever.mark`): basis EMA time constant in seconds, and the mark's band.

    ``max_deviation_pct``: the mark is held within this many percent of the index at every step (the clamp of
    :func:`delever.mark.mark_of`); 0 makes the mark the index (a venue that margins at its oracle price); unset
    (the default, and the built-in scenario's): no band. ``delever run --venue NAME`` sets the venue's published
    band (:attr:`delever.venues.base.Rulebook.mark`)."""

    basis_ema_s: Annotated[float, Field(ge=0)] = 30.0
    max_deviation_pct: Annotated[float, Field(ge=0, le=100)] | None = None


class FeesConfig(ConfigModel):
    """Liquidation fee rate on the closed notional (Binance's old BTCUSDT rate: 0.3%, venues.md section 1)."""

    liquidation_fee_rate: Annotated[Rate, Field(ge=0, le=1)] = Decimal("0.003")


class InsuranceFundConfig(ConfigModel):
    """Starting balance of the instrument's insurance fund (quote), and whether a multi-instrument run pools one
    fund across its instruments (``shared``; dYdX v4 cross markets, Mango v4, Bybit's grouped pools: the
    venues are cited in :mod:`delever.insurance`). A shared fund starts with ``balance`` plus every extra
    instrument's ``insurance_fund``; with one instrument ``shared`` changes nothing."""

    balance: Annotated[Money, Field(ge=0)] = Decimal(0)
    shared: bool = False
