"""Scenarios: a TOML file validated with pydantic, every parameter with its unit and default.

Paths in a scenario are relative to the scenario file, or ``package:NAME`` for data shipped inside delever
(``src/delever/data``). Quote amounts and rates are decimal strings or numbers (converted exactly). Unknown
keys are errors. Errors name the file, the line of the offending key where it can be found, and the field.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError
from .instruments import Instrument
from .tiers import TIER_TABLES, RiskTiers

PACKAGE_PREFIX = "package:"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierRow(_Model):
    """One risk-limit bracket: notional cap (quote), max leverage, MMR and IMR (fractions)."""

    cap: Annotated[Decimal, Field(gt=0)]
    max_leverage: Annotated[Decimal, Field(gt=0)]
    mmr: Annotated[Decimal, Field(gt=0, le=1)]
    imr: Annotated[Decimal, Field(gt=0, le=1)] | None = None


class InstrumentConfig(_Model):
    """The contract: symbol, kind, increments, tiers (a built-in table name or explicit rows)."""

    symbol: str = "BTCUSDT"
    kind: Literal["perpetual", "dated_future"] = "perpetual"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.1")
    lot_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.001")
    expiry: datetime | None = None
    tiers: str | list[TierRow] = "binance-btcusdt-2021"

    def build(self) -> Instrument:
        """The :class:`~delever.instruments.Instrument` (raises ValueError on inconsistent values)."""
        if isinstance(self.tiers, str):
            if self.tiers not in TIER_TABLES:
                raise ValueError(f"unknown tier table {self.tiers!r}; known: {', '.join(sorted(TIER_TABLES))}")
            tiers = TIER_TABLES[self.tiers]
        else:
            tiers = RiskTiers.from_brackets(
                f"{self.symbol}-custom",
                [(str(t.cap), str(t.max_leverage), str(t.mmr), None if t.imr is None else str(t.imr))
                 for t in self.tiers],
            )
        return Instrument(self.symbol, self.tick_size, self.lot_size, tiers, kind=self.kind, base=self.base,
                          quote=self.quote, expiry=self.expiry)


class PricesConfig(_Model):
    """The index path: a kline CSV (Binance layout) and an optional UTC window."""

    file: str
    start: datetime | None = None
    end: datetime | None = None


class LiquidityConfig(_Model):
    """Order-book depth (calibrated from a Binance bookDepth file over a window), its scale and refill."""

    depth_file: str
    depth_window_start: datetime
    depth_window_end: datetime
    depth_scale: Annotated[float, Field(gt=0)] = 1.0
    resilience_half_life_s: Annotated[float, Field(ge=0)] = 60.0
    lp_accounts: Annotated[int, Field(ge=1, le=1000)] = 4
    lp_wallet: Annotated[Decimal, Field(gt=0)] = Decimal(1_000_000_000)


class MarkConfig(_Model):
    """Mark-price rule (:mod:`delever.mark`): basis EMA time constant in seconds."""

    basis_ema_s: Annotated[float, Field(ge=0)] = 30.0


class FeesConfig(_Model):
    """Liquidation fee rate on the closed notional (Binance's old BTCUSDT rate: 0.3%, venues.md section 1)."""

    liquidation_fee_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.003")


class InsuranceFundConfig(_Model):
    """Starting balance of the instrument's insurance fund (quote)."""

    balance: Annotated[Decimal, Field(ge=0)] = Decimal(0)


class GeneratorConfig(_Model):
    """Parameters of :func:`delever.generator.generate_book` (quote amounts in quote units)."""

    accounts: Annotated[int, Field(ge=1, le=50_000_000)] = 100_000
    long_fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    notional_median: Annotated[Decimal, Field(gt=0)] = Decimal(5_000)
    notional_sigma: Annotated[float, Field(ge=0, le=5)] = 1.5
    leverage_median: Annotated[float, Field(ge=1)] = 5.0
    leverage_sigma: Annotated[float, Field(ge=0, le=5)] = 1.0
    leverage_max: Annotated[float, Field(ge=1)] = 100.0
    entry_sigma: Annotated[float, Field(ge=0, le=1)] = 0.02
    isolated_fraction: Annotated[float, Field(ge=0, le=1)] = 0.3


class BookConfig(_Model):
    """Either a file of positions (CSV/Parquet, :mod:`delever.bookio`) or a generator."""

    file: str | None = None
    generator: GeneratorConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BookConfig:
        if (self.file is None) == (self.generator is None):
            raise ValueError("give exactly one of book.file and book.generator")
        return self


class Scenario(_Model):
    """A whole run: ``(scenario, seed)`` determines the output."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    step_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    instrument: InstrumentConfig = InstrumentConfig()
    prices: PricesConfig
    liquidity: LiquidityConfig
    mark: MarkConfig = MarkConfig()
    fees: FeesConfig = FeesConfig()
    insurance_fund: InsuranceFundConfig = InsuranceFundConfig()
    book: BookConfig
    base_dir: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: str) -> Path:
        """A path from the scenario: ``package:NAME`` or relative to the scenario file."""
        if path.startswith(PACKAGE_PREFIX):
            from .marketdata import packaged_data_path

            return packaged_data_path(path[len(PACKAGE_PREFIX):])
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p


def _utc_ms(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


def window_ms(t: datetime | None) -> int | None:
    """UTC epoch ms of a scenario time (naive times are UTC)."""
    return _utc_ms(t)


def _line_of(text: str, loc: tuple) -> int | None:
    """Best-effort line number of the key a pydantic error points at (the last string in its path)."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{keys[-1]} ") or stripped.startswith(f"{keys[-1]}=") or \
                stripped.startswith(f"[{'.'.join(keys)}]"):
            return n
    return None


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"TOML syntax error: {exc}", file=str(path), row=getattr(exc, "lineno", None)) from None
    if overrides:
        data = _merge(data, overrides)
    try:
        scenario = Scenario.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise InputError(f"{err['msg']}{more}", file=str(path), row=_line_of(text, err["loc"]),
                         field=field) from None
    try:
        scenario.instrument.build()
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field="instrument") from None
    return scenario


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_scenario_path() -> Path:
    """The built-in default scenario file (Binance BTCUSDT, 10 October 2025 from 21:00 UTC)."""
    from .marketdata import packaged_data_path

    return packaged_data_path("scenarios/binance-btcusdt-2025-10-10.toml")
