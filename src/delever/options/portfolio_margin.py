"""Scenario-grid portfolio margin of many accounts holding options and futures (Deribit's model), vectorised.

What is published, and what this module does with it:

- **Grid** (https://support.deribit.com/hc/en-us/articles/25944756247837-Portfolio-Margin): the portfolio of one
  settlement currency is revalued under a "maximum underlying price move e.g. +/-16% ... broken down into 9 evenly
  spaced buckets ... including a bucket for zero price movement", each under "Volatility Range Up, Same, and
  Down"; "the worst performing of the tested scenarios is used to calculate the total margin requirements".
  Parameters (BTC, from Deribit's ``private/pme/simulate`` API example,
  https://deribit-upcoming.mintlify.app/api-reference/account-management/private-simulate): ``price_range 0.16``,
  ``buckets_count 4`` (``2 x 4 + 1 = 9`` price buckets), ``vol_scenarios_count 3``, ``volatility_range_up 0.5``,
  ``volatility_range_down 0.25``, ``short_term_vega_power 0.3``, ``long_term_vega_power 0.13``,
  ``min_volatility_for_shock_up 0.5``, ``extended_table_factor 1``, ``mm_factor 0.8``.
- **Volatility shock** of an option of ``d`` days to expiry (the rule behind those parameters as restated by
  https://docs.oreome.com/docs/scenario/risk-scenario-advanced [3P], matching the older Deribit statement "maximum
  implied volatility change of (30/days to expiration)^0.30", https://www.deribit.com/pages/docs/portfoliomargin)::

      up   = max(vol (1 + volatility_range_up   (30/d)^p), min_volatility_for_shock_up)
      down = max(vol (1 - volatility_range_down (30/d)^p), 0)
      p = short_term_vega_power if d < 30 else long_term_vega_power;   d >= 1 day (floor)

- **Extended table** (Deribit page above): price moves "-66%, -33%, +50%, +100%, +200%, +300%, +400%, +500%", "only
  on Volatility Range Up", "only a fraction of simulated P&L", "application of a dampener". Deribit does not publish
  the fraction nor the dampener's formula. Here the fraction is ``extended_table_factor x price_range / |move|``
  (the weights Paradex publishes for the same eight moves: 24%, 48%, 32%, 16%, 8%, 5.33%, 4%, 3.2% at a 16% range,
  https://docs.paradex.trade/risk/portfolio-margin [3P]); **no dampener is applied** (not published).
- **Add-ons** (older Deribit statement, https://www.deribit.com/pages/docs/portfoliomargin): a contingency of
  0.01 BTC "per option for all net short options per strike" (call +10 and put -20 at one strike: net -10, adds
  10 x 0.01 BTC) and of "1.00% of underlying value ... for offsetting futures" (long 100 BTC of future A and short
  100 BTC of future B: adds 1% x 100 BTC). Deribit's current add-ons (delta shock, roll shock, annualised move
  risk; parameters ``max_delta_shock``, ``annualised_move_risk`` in the API example) have no published formula
  and are **not modelled**.
- **Initial and maintenance**: IM = worst loss + add-ons; MM = ``mm_factor x IM`` (``mm_factor 0.8`` in the API
  example; reading it as the MM/IM ratio is an inference from its name).

Scenario P&L per base unit (per lot of quote notional for inverse futures), relative to the current marks, with the
forward of each series moved by ``m``: options ``V(F(1+m), vol') - V(F, vol)`` (quote, Black-76), divided by the
forward of each state for inverse series (``V'/F' - V/F``, coin); linear futures ``F m``; inverse futures of quote
notional ``N``: ``N (1/F - 1/F')`` coin (Deribit's BTC-PERPETUAL risk vector in the API example is proportional
to ``1 - 1/(1+m)``; tested). The valuation is instantaneous (no time decay) at each series' current implied vol.

Money: the requirement rounds **up** to whole money units of the settlement currency (``SeriesTable.money_scale``,
:func:`.money.ceil_money`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .black76 import black76_price
from .money import ceil_money
from .series import CALL, FUTURE, SeriesTable

VOL_DOWN, VOL_SAME, VOL_UP = -1, 0, 1
"""Volatility scenario codes of :attr:`ScenarioGrid.vol_code`."""


@dataclass(frozen=True)
class PortfolioMarginParams:
    """Parameters of the model (module docstring); defaults are Deribit BTC's (:data:`DERIBIT_BTC`).

    Attributes:
        price_range, buckets_count: standard price moves ``i x price_range / buckets_count``, ``|i| <= buckets``.
        volatility_range_up, volatility_range_down, short_term_vega_power, long_term_vega_power,
        min_volatility_for_shock_up: the volatility shock.
        vega_power_days: days to expiry below which the short-term power applies (30).
        min_days: floor of days to expiry in the shock (1).
        extended_moves: the extended table's price moves.
        extended_table_factor: scales the extended table's P&L fraction.
        option_contingency: coin per base unit of net short options per (expiry, strike).
        futures_offset_contingency: fraction of the underlying value of offsetting futures.
        mm_factor: MM / IM.
    """

    price_range: float = 0.16
    buckets_count: int = 4
    volatility_range_up: float = 0.5
    volatility_range_down: float = 0.25
    short_term_vega_power: float = 0.3
    long_term_vega_power: float = 0.13
    min_volatility_for_shock_up: float = 0.5
    vega_power_days: float = 30.0
    min_days: float = 1.0
    extended_moves: tuple[float, ...] = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    extended_table_factor: float = 1.0
    option_contingency: float = 0.01
    futures_offset_contingency: float = 0.01
    mm_factor: float = 0.8

    def __post_init__(self) -> None:
        if not (0 < self.price_range < 1) or self.buckets_count < 1:
            raise ValueError("PortfolioMarginParams: 0 < price_range < 1 and buckets_count >= 1")
        if self.volatility_range_up < 0 or not (0 <= self.volatility_range_down <= 1):
            raise ValueError("PortfolioMarginParams: volatility ranges must be >= 0 (down <= 1)")
        if any(m <= -1 for m in self.extended_moves):
            raise ValueError("PortfolioMarginParams: extended moves must be > -100%")
        if self.option_contingency < 0 or self.futures_offset_contingency < 0 or not (0 < self.mm_factor <= 1):
            raise ValueError("PortfolioMarginParams: contingencies >= 0 and 0 < mm_factor <= 1")


DERIBIT_BTC = PortfolioMarginParams()
"""Deribit BTC (sources in the module docstring)."""


@dataclass(frozen=True)
class ScenarioGrid:
    """Scenarios as arrays of shape ``(n_scenarios,)``: price move, vol code, P&L weight, extended flag."""

    price_move: np.ndarray
    vol_code: np.ndarray
    weight: np.ndarray
    extended: np.ndarray

    @classmethod
    def from_params(cls, params: PortfolioMarginParams = DERIBIT_BTC) -> ScenarioGrid:
        """The standard grid (price ascending, then vol down, same, up) followed by the extended table."""
        steps = np.arange(-params.buckets_count, params.buckets_count + 1)
        moves = steps * params.price_range / params.buckets_count
        std_move = np.repeat(moves, 3)
        std_vol = np.tile([VOL_DOWN, VOL_SAME, VOL_UP], moves.size)
        ext = np.asarray(params.extended_moves, dtype=np.float64)
        ext_weight = params.extended_table_factor * params.price_range / np.abs(ext)
        return cls(
            price_move=np.concatenate([std_move, ext]),
            vol_code=np.concatenate([std_vol, np.full(ext.size, VOL_UP)]).astype(np.int8),
            weight=np.concatenate([np.ones(std_move.size), ext_weight]),
            extended=np.concatenate([np.zeros(std_move.size, bool), np.ones(ext.size, bool)]),
        )

    @property
    def n_scenarios(self) -> int:
        return int(self.price_move.size)


def vol_shock_factor(days, params: PortfolioMarginParams = DERIBIT_BTC) -> np.ndarray:
    """``(30 / d)^p`` with ``d = max(days, min_days)`` and the power by term (module docstring)."""
    d = np.maximum(np.asarray(days, dtype=np.float64), params.min_days)
    power = np.where(d < params.vega_power_days, params.short_term_vega_power, params.long_term_vega_power)
    return (params.vega_power_days / d) ** power


def shocked_vols(vol, years, params: PortfolioMarginParams = DERIBIT_BTC) -> np.ndarray:
    """Vols under the down, same and up scenarios, shape ``(n, 3)`` for ``n`` series (module docstring)."""
    vol = np.asarray(vol, dtype=np.float64)
    factor = vol_shock_factor(np.asarray(years, dtype=np.float64) * 365.0, params)
    up = np.maximum(vol * (1.0 + params.volatility_range_up * factor), params.min_volatility_for_shock_up)
    down = np.maximum(vol * (1.0 - params.volatility_range_down * factor), 0.0)
    return np.stack([down, vol, up], axis=-1)


def scenario_unit_pnl(
    table: SeriesTable, forward, vol, grid: ScenarioGrid, params: PortfolioMarginParams = DERIBIT_BTC
) -> np.ndarray:
    """P&L of one unit of each series under each scenario, shape ``(n_series, n_scenarios)``, settlement currency.

    Args:
        table: the series; for an inverse future one unit is one quote unit of notional (e.g. 1 USD).
        forward: forward of each series' expiry (its future's mark), shape ``(n_series,)``.
        vol: current implied vol of each series (ignored for futures), shape ``(n_series,)``.
        grid: the scenarios.
        params: the volatility shock's parameters.
    """
    f0 = np.asarray(forward, dtype=np.float64)
    vol = np.asarray(vol, dtype=np.float64)
    option = table.is_option
    f1 = f0[:, None] * (1.0 + grid.price_move[None, :])
    vols = shocked_vols(np.where(option, vol, 0.0), table.years, params)  # (n, 3)
    vol1 = vols[:, grid.vol_code + 1]  # codes -1, 0, 1 -> columns 0, 1, 2
    strike = np.where(option, table.strike, 1.0)[:, None]
    years = table.years[:, None]
    is_call = (table.kind == CALL)[:, None]
    v0 = black76_price(f0[:, None], strike, vol[:, None], years, is_call)
    v1 = black76_price(f1, strike, vol1, years, is_call)
    if table.inverse:
        option_pnl = v1 / f1 - v0 / f0[:, None]
        future_pnl = 1.0 / f0[:, None] - 1.0 / f1
    else:
        option_pnl = v1 - v0
        future_pnl = f1 - f0[:, None]
    return np.where(option[:, None], option_pnl, future_pnl)


@dataclass(frozen=True)
class PortfolioMargin:
    """Result per account (arrays of shape ``(n_accounts,)``).

    Attributes:
        im, mm: initial and maintenance margin, int64 money units of the settlement currency (rounded up).
        worst_loss: the grid's worst (weighted) loss, float, settlement currency (>= 0).
        worst_scenario: index into the grid of that loss (the zero move with unchanged vol where nothing loses).
        option_contingency, futures_contingency: the add-ons, float, settlement currency.
    """

    im: np.ndarray
    mm: np.ndarray
    worst_loss: np.ndarray
    worst_scenario: np.ndarray
    option_contingency: np.ndarray
    futures_contingency: np.ndarray


def _strike_groups(table: SeriesTable) -> np.ndarray:
    """Group id of each option series by (expiry, strike); -1 for futures."""
    option = table.is_option
    keys = np.stack([table.years, table.strike], axis=1)
    _, group = np.unique(keys[option], axis=0, return_inverse=True)
    out = np.full(table.n_series, -1, dtype=np.int64)
    out[option] = group.ravel()
    return out


def portfolio_margin(
    table: SeriesTable,
    account,
    series,
    lots,
    n_accounts: int,
    forward,
    vol,
    params: PortfolioMarginParams = DERIBIT_BTC,
    grid: ScenarioGrid | None = None,
) -> PortfolioMargin:
    """Portfolio margin of ``n_accounts`` accounts from their positions (structure of arrays).

    Args:
        table: the series (one settlement currency).
        account: int account id of each position in ``[0, n_accounts)``, shape ``(n,)``.
        series: int series index of each position, shape ``(n,)``.
        lots: signed int64 lots of each position (long > 0); an account may hold a series in several rows.
        n_accounts: number of accounts.
        forward: forward of each series, shape ``(n_series,)`` (quote per base unit, > 0).
        vol: implied vol of each series, shape ``(n_series,)``.
        params: model parameters (module docstring).
        grid: scenarios; ``ScenarioGrid.from_params(params)`` by default.

    Returns:
        :class:`PortfolioMargin`.

    Raises:
        ValueError: mismatched shapes, ids out of range or a forward <= 0.
    """
    grid = grid if grid is not None else ScenarioGrid.from_params(params)
    account = np.asarray(account, dtype=np.int64)
    series = np.asarray(series, dtype=np.int64)
    lots = np.asarray(lots, dtype=np.int64)
    forward = np.asarray(forward, dtype=np.float64)
    if not (account.shape == series.shape == lots.shape):
        raise ValueError("portfolio_margin: account, series and lots must have one shape")
    if forward.shape != (table.n_series,) or np.any(forward <= 0):
        raise ValueError("portfolio_margin: forward must be > 0, one per series")
    if account.size and (account.min() < 0 or account.max() >= n_accounts):
        raise ValueError("portfolio_margin: account id out of range")
    if series.size and (series.min() < 0 or series.max() >= table.n_series):
        raise ValueError("portfolio_margin: series index out of range")

    # lots sum as float64 integers (exact below 2^53), so opposite rows cancel exactly; then to base units
    holdings = sp.csr_matrix((lots.astype(np.float64), (account, series)), shape=(n_accounts, table.n_series))
    holdings.sum_duplicates()
    holdings.data *= table.lot_size[holdings.indices]

    # the weights scale whole scenarios, so they apply to the per-series P&L before the product (fewer multiplies)
    unit_pnl = scenario_unit_pnl(table, forward, vol, grid, params) * grid.weight[None, :]
    weighted = holdings @ unit_pnl  # (n_accounts, n_scenarios)
    worst_scenario = np.argmin(weighted, axis=1)
    worst_loss = np.maximum(-np.take_along_axis(weighted, worst_scenario[:, None], axis=1).ravel(), 0.0)
    # where nothing loses, report the zero move with unchanged vol (the scenario that always gives 0)
    zero = int(np.flatnonzero((grid.price_move == 0) & (grid.vol_code == VOL_SAME) & ~grid.extended)[0])
    worst_scenario = np.where(worst_loss > 0, worst_scenario, zero)

    # option contingency: net short base units per (account, expiry, strike), calls and puts together, valued
    # in the settlement currency (inverse: 1 coin per base unit; linear: the group's forward in quote)
    group = _strike_groups(table)
    option = group >= 0
    option_contingency = np.zeros(n_accounts)
    if option.any():
        n_groups = int(group.max()) + 1
        to_group = sp.csr_matrix(
            (np.ones(int(option.sum())), (np.flatnonzero(option), group[option])), shape=(table.n_series, n_groups)
        )
        group_value = np.ones(n_groups)
        if not table.inverse:
            group_value[group[option]] = forward[option]
        net = (holdings @ to_group).tocsr()
        net.data = np.maximum(-net.data, 0.0) * group_value[net.indices]
        option_contingency = params.option_contingency * np.asarray(net.sum(axis=1)).ravel()

    # futures offset contingency: the smaller of the long and short futures' underlying value (inverse: notional
    # / F coin; linear: base units x F quote)
    future = np.flatnonzero(table.kind == FUTURE)
    futures_contingency = np.zeros(n_accounts)
    if future.size:
        value_per_unit = 1.0 / forward[future] if table.inverse else forward[future]
        fut = holdings[:, future].tocsr() @ sp.diags(value_per_unit)
        long_value = np.asarray(fut.maximum(0).sum(axis=1)).ravel()
        short_value = np.asarray((-fut).maximum(0).sum(axis=1)).ravel()
        futures_contingency = params.futures_offset_contingency * np.minimum(long_value, short_value)

    im_float = worst_loss + option_contingency + futures_contingency
    scale = table.money_scale
    im = ceil_money(im_float * scale)
    mm = ceil_money(params.mm_factor * im_float * scale)
    return PortfolioMargin(im, mm, worst_loss, worst_scenario, option_contingency, futures_contingency)
