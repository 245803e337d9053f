"""The public names of a venue rulebook, by the import path they have always had (``delever.venues.base``).

The rulebook is split by concept (issue #11): :mod:`~delever.venues.exact` (money scales, exact rounding, the
money split), :mod:`~delever.venues.margin_models` (margin schedules), :mod:`~delever.venues.contract` (one
contract), :mod:`~delever.venues.rules` (rounding, liquidation, fees, mark, funding as data),
:mod:`~delever.venues.adl_rules` (ADL trigger, scores, indicators), :mod:`~delever.venues.results`
(:class:`PositionResult`), :mod:`~delever.venues.solver` (margins and prices), :mod:`~delever.venues.bridge`
(the engine's view) and :mod:`~delever.venues.rulebook` (:class:`Rulebook`, formulas in its docstring). Code in
this package imports from those modules; this one keeps ``from delever.venues.base import ...`` working.
"""

from __future__ import annotations

from .exact import (
    INVERSE_MONEY_SCALE,
    LINEAR_MONEY_SCALE,
    NO_CAP,
    ceil_frac,
    floor_frac,
    frac,
    plain,
    pro_rata,
    to_decimal,
)
from .margin_models import (
    BracketMargin,
    MarginBand,
    MarginModel,
    SizeBracketMargin,
    SizeLinearMargin,
    StepMargin,
    scaled_brackets,
    without_deduction,
)
from .contract import ContractType, VenueInstrument
from .rules import (
    FeeRule,
    FundingRule,
    LiquidationProcedure,
    LiquidationStyle,
    LossAllocation,
    LpBasis,
    MarginMode,
    MarkRule,
    NO_PUBLISHED_BAND,
    PriceRounding,
)
from .adl_rules import (
    AdlInputs,
    AdlRule,
    AdlTrigger,
    INDICATORS,
    SCORES,
    ScoreFn,
    indicator_binance,
    indicator_bitmex,
    indicator_none,
    indicator_positive_lights,
    score_binance,
    score_bitmex,
    score_hyperliquid,
    score_none,
    score_roi_mmr,
)
from .results import PositionResult
from .bridge import EngineBridge
from .solver import PriceSolver
from .rulebook import Rulebook

__all__ = [
    "INVERSE_MONEY_SCALE",
    "LINEAR_MONEY_SCALE",
    "NO_CAP",
    "ceil_frac",
    "floor_frac",
    "frac",
    "plain",
    "pro_rata",
    "to_decimal",
    "BracketMargin",
    "MarginBand",
    "MarginModel",
    "SizeBracketMargin",
    "SizeLinearMargin",
    "StepMargin",
    "scaled_brackets",
    "without_deduction",
    "ContractType",
    "VenueInstrument",
    "FeeRule",
    "FundingRule",
    "LiquidationProcedure",
    "LiquidationStyle",
    "LossAllocation",
    "LpBasis",
    "MarginMode",
    "MarkRule",
    "NO_PUBLISHED_BAND",
    "PriceRounding",
    "AdlInputs",
    "AdlRule",
    "AdlTrigger",
    "INDICATORS",
    "SCORES",
    "ScoreFn",
    "indicator_binance",
    "indicator_bitmex",
    "indicator_none",
    "indicator_positive_lights",
    "score_binance",
    "score_bitmex",
    "score_hyperliquid",
    "score_none",
    "score_roi_mmr",
    "PositionResult",
    "EngineBridge",
    "PriceSolver",
    "Rulebook",
]
