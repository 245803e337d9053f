"""A discrete order book of resting price levels in a scenario (``[liquidity.levels]``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from .base import ConfigModel


class PriceLevelsConfig(ConfigModel):
    """Trade against discrete price levels instead of the calibrated curve (:mod:`delever.level_book`), so a
    limit order (``[liquidation] order = "fillable-price-ioc"``) fills level by level up to its limit.

    Exactly one of: ``file``, an L2 snapshot (CSV/Parquet, columns ``side`` bid/ask, ``price`` quote, ``size``
    base units; :func:`delever.level_book.load_levels`), or ``spacing_pct``, levels generated from the
    calibrated curve every ``spacing_pct`` percent of the centre (:func:`delever.level_book.levels_from_curve`).
    """

    file: str | None = None
    spacing_pct: Annotated[Decimal, Field(gt=0, le=10)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PriceLevelsConfig:
        if (self.file is None) == (self.spacing_pct is None):
            raise ValueError("give exactly one of liquidity.levels.file and liquidity.levels.spacing_pct")
        return self
