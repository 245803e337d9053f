"""The ``[options]`` section: European option series as instruments of a cross-margin run (issue #16, parts 3-4).

What each field does in the run is documented where it acts: the series' premium paths, books and positions in
:mod:`delever.options.engine_market`, their margin and liquidation in :mod:`delever.options.engine_margin`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import ConfigModel
from ..validate import Money


class OptionSeriesConfig(ConfigModel):
    """One listed series: a European call or put of one strike (quote) and expiry, on the scenario's underlying,
    settled as ``[options] settlement`` says (linear: Deribit's USDC-settled options,
    https://support.deribit.com/hc/en-us/articles/25944750999581-Linear-USDC-Options; inverse: its BTC options)."""

    symbol: Annotated[str, Field(min_length=1)]
    kind: Literal["call", "put"]
    strike: Annotated[Decimal, Field(gt=0)]
    expiry: datetime


class OptionsConfig(ConfigModel):
    """Option series of the run and the book of option holders.

    - ``series``: the listed series (at least one), each expiring after the window's start; one expiring inside
      the window settles at its first step at or after expiry (:mod:`delever.settlement`: its intrinsic value
      at the mean of the underlying's index over the last ``settlement_window_s`` seconds before expiry).
    - ``settlement``: ``"linear"`` (quote-settled, Deribit's USDC options) or ``"inverse"`` (coin-settled, Deribit's
      BTC options, https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options: premium, margin and
      payoff in the coin); an inverse series runs beside an inverse ``[instrument]`` (:mod:`delever.inverse`), the
      run's money then being µcoin.
    - ``tick_size`` / ``lot_size``: premium increment (quote; µcoin for inverse series, so 100 is Deribit's 0.0001
      BTC) and base units per lot of every series.
    - ``margin``: the standard option margin rates (``"deribit"`` or ``"okx"``,
      :mod:`delever.options.standard_margin`).
    - ``vol_rule``, ``spot_vol_beta``, ``vol_shock``, ``vol_shock_at``: the implied-vol dynamics
      (:mod:`delever.options.vol_dynamics`); the shock (relative, 0.5 = every vol x 1.5) applies from
      ``vol_shock_at`` on (from the start when unset). ``surface_file``: a grid surface CSV
      (:class:`delever.options.surface.GridSurface`); unset = the documented default SVI surface.
    - ``half_spread``: the books' half-spread as a fraction of the premium at the series' starting vol, widening
      in proportion to the vol (:mod:`delever.options.engine_market`); ``depth_lots_per_pct``: lots resting per
      1% of the premium beyond the spread, each side.
    - ``insurance_fund``: each series' own fund (quote) when ``[insurance_fund] shared`` is off.
    - the book (generated books only): ``covered_call_fraction`` of the cross trader accounts long the scenario's
      instrument write calls on the same quantity; ``hedged_put_fraction`` of those short it write puts on the
      same quantity; ``naked_fraction`` of all cross trader accounts write a random series, ``buyer_fraction``
      buy one; ``extra_series_fraction`` of all those holders also hold one or two more series (the same side and
      lots on other series, :func:`delever.options.engine_market.extra_series`); each deposits
      ``margin_multiple`` x each position's standard initial margin.
    """

    series: Annotated[list[OptionSeriesConfig], Field(min_length=1)]
    settlement: Literal["linear", "inverse"] = "linear"
    tick_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.1")
    lot_size: Annotated[Decimal, Field(gt=0)] = Decimal("0.01")
    margin: Literal["deribit", "okx"] = "deribit"
    vol_rule: Literal["sticky_strike", "sticky_moneyness"] = "sticky_strike"
    spot_vol_beta: Annotated[float, Field(ge=-10, le=10)] = 0.0
    vol_shock: Annotated[float, Field(gt=-1, le=10)] = 0.0
    vol_shock_at: datetime | None = None
    surface_file: str | None = None
    settlement_window_s: Annotated[float, Field(gt=0)] = 1_800.0
    half_spread: Annotated[float, Field(gt=0, le=0.5)] = 0.02
    depth_lots_per_pct: Annotated[float, Field(gt=0)] = 50.0
    insurance_fund: Annotated[Money, Field(ge=0)] = Decimal(0)
    covered_call_fraction: Annotated[float, Field(ge=0, le=1)] = 0.2
    hedged_put_fraction: Annotated[float, Field(ge=0, le=1)] = 0.2
    naked_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05
    buyer_fraction: Annotated[float, Field(ge=0, le=1)] = 0.1
    margin_multiple: Annotated[float, Field(ge=1, le=100)] = 1.5
    extra_series_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _distinct_symbols(self) -> OptionsConfig:
        symbols = [s.symbol for s in self.series]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"options.series: symbols must be distinct (got {symbols})")
        return self


def options_problem(scenario) -> tuple[tuple[str, ...], str] | None:
    """What an option run needs of the rest of the scenario, as ``(field path, message)`` or None.

    The option margin (:mod:`delever.options.engine_margin`) is added to the account's requirement outside the
    tier tables, so the rules that read a position's own MM inside the compiled stage would not see it: partial and
    incremental liquidation, dYdX's MM-share backing, the IOC orders' limits (TNC / TMMR) and the backstop's
    MM-ratio trigger are refused. Funding pays
    perpetuals only by kind, so it is refused too (an option pays none). The option book is drawn from a
    generated book.
    """
    if scenario.options is None:
        return None
    mech = scenario.mechanisms
    refused = {
        ("mechanisms", "partial_liquidation", "enabled"): mech.partial_liquidation.enabled,
        ("mechanisms", "incremental_liquidation", "enabled"): mech.incremental_liquidation.enabled,
        ("mechanisms", "backstop", "enabled"): mech.backstop.enabled,
        ("mechanisms", "funding", "enabled"): mech.funding.enabled,
        ("liquidation", "cross_backing"): scenario.liquidation.cross_backing == "mm-share",
        ("liquidation", "order"): scenario.liquidation.order != "market",
    }
    for loc, on in refused.items():
        if on:
            return loc, f"{'.'.join(loc)} is not supported with [options] (delever.config.options.options_problem)"
    if scenario.book.generator is None:
        return ("book",), "[options] needs a generated book ([book.generator]) to draw the option holders from"
    if (scenario.options.settlement == "inverse") != (scenario.instrument.settlement == "inverse"):
        return ("options", "settlement"), (
            "[options] settlement must match [instrument] settlement: a run has one money (the quote for linear "
            "series, the coin for inverse ones, delever.inverse)"
        )
    return None
