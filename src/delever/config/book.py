"""The book of a scenario: a file of positions, the generator's parameters, or the Hyperliquid reconstruction."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from ..validate import Money
from .base import ConfigModel


class GeneratorConfig(ConfigModel):
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


class HyperliquidBookConfig(ConfigModel):
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


class BookConfig(ConfigModel):
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
