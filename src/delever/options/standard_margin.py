"""Standard (per-position) initial and maintenance margin of option positions (Deribit, OKX), vectorised.

Per base unit of a **short** option, inverse (coin-settled) BTC/ETH options, amounts in coin, ``S`` the
underlying's index (mark) price, ``mark`` the option's mark price in coin::

    short call  IM = max(0.15 - OTM / S, 0.10) + mark             MM = 0.075 + mark
    short put   IM = max(max(0.15 - OTM / S, 0.10) + mark, MM)    MM = max(0.075, 0.075 * mark) + mark
    OTM (call) = max(K - S, 0),  OTM (put) = max(S - K, 0)

Source: Deribit's standard-margin formulas for options as restated by doc.tslab.pro, "Deribit Margin Requirements
Calculation" (which links Deribit's calculation sheet), identical in form and rates to those of
https://docs.dopp.finance/product/architecture/margin-system and, per underlying price, of bit.com's BTC/ETH options
(https://helpcenter.bit.com/hc/en-us/articles/11039356631321-3-Margin-Rules-for-USD-Margined-Options). Deribit's own
current support article with this table was not found in the stored material; the rates are parameters
(:class:`StandardMarginRates`).

**Linear** (USDC-settled) options: the same requirement converted to the quote currency at the index price, i.e.
every coin amount times ``S`` (``max(0.15 S - OTM, 0.10 S) + mark_quote`` ...), as Deribit computes linear
contracts' margin "in the margin currency ... on the index price of the underlying currency"
(https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual) and as bit.com publishes it for
USD-margined options.

**Long** options: by default the requirement is the option's mark value, IM = MM = mark (Deribit's published
rule, https://www.deribit.com/docs/margin-calculation/: "Long call/put: Initial margin: Mark Price of the option;
Maintenance Margin: same as Initial Margin"), so a long option neither needs nor lends margin in an account whose
equity counts it at its mark. ``long_requirement="none"`` gives IM = MM = 0 (bit.com's rule for buyers).

**OKX** (unified account, non-portfolio margin, https://www.okx.com/help/ii-option-margin) publishes the same
shape with its own rates and a tiered "Margin Factor" ``MF``, the out-of-the-money amount measured against the
same-expiry forward's mark price, no IM >= MM clause for puts, and no requirement on long options::

    short IM = max(a, b - OTM / forward) * MF + mark;   short call MM = c * MF + mark;
    short put MM = max(c, c * mark) * MF + mark;          a = 0.1, b = 0.15, c = 0.03 (BTC) / 0.05 (ETH)

USD-margined OKX options multiply the rate terms by the index price, as here for linear series. Binance's option
margin formula was not found in the stored material and is not modelled.

Standard margin looks at each position alone ("it only looks each position separately",
https://support.deribit.com/hc/en-us/articles/25944811317149-Margin-types-and-usage): a covered call is
margined as a future plus a naked short call.

Money: each position's requirement rounds **up** to a whole money unit (a requirement, ``delever.units``;
:mod:`.money`), then sums exactly in int64 per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .money import ceil_money
from .series import CALL, FUTURE, SeriesTable


@dataclass(frozen=True)
class StandardMarginRates:
    """Rates of the formulas (fractions of the underlying price), in OKX's general form (module docstring).

    Attributes:
        initial, initial_floor, maintenance: ``b``, ``a`` and ``c`` (Deribit 0.15, 0.10, 0.075).
        margin_factor: multiplies the rate terms (OKX's tiered "Margin Factor"; Deribit 1).
        put_initial_at_least_maintenance: a short put's IM is at least its MM (Deribit: yes; OKX: no).
        long_requirement: ``"mark"`` (IM = MM = the long option's mark) or ``"none"`` (0).
    """

    initial: float = 0.15
    initial_floor: float = 0.10
    maintenance: float = 0.075
    margin_factor: float = 1.0
    put_initial_at_least_maintenance: bool = True
    long_requirement: Literal["mark", "none"] = "mark"


DERIBIT_BTC_ETH = StandardMarginRates()
"""Deribit BTC and ETH options (module docstring)."""

OKX_BTC = StandardMarginRates(maintenance=0.03, put_initial_at_least_maintenance=False, long_requirement="none")
"""OKX BTC options, unified account, margin factor 1 (the tier-1 value; pass the tier's factor for larger books)."""

OKX_ETH = StandardMarginRates(maintenance=0.05, put_initial_at_least_maintenance=False, long_requirement="none")
"""OKX ETH options (as :data:`OKX_BTC` with ``c = 0.05``)."""


def requirement_per_unit(
    table: SeriesTable,
    series,
    index_price: float,
    mark,
    short,
    rates: StandardMarginRates = DERIBIT_BTC_ETH,
    otm_price=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial and maintenance requirement of one base unit of each position, in the settlement currency (float).

    Args:
        table: the series (one settlement).
        series: int series index of each position, shape ``(n,)``; futures are not margined here.
        index_price: underlying index ``S`` (quote per base unit).
        mark: option mark per base unit of each position's series, in the settlement currency (coin for
            inverse, quote for linear), shape ``(n,)`` (e.g. :func:`.series.unit_values`).
        short: bool, shape ``(n,)``: True for a short position.
        rates: the rates.
        otm_price: price the out-of-the-money amount is measured against and divided by, per position or
            scalar; ``None`` = ``index_price`` (Deribit). OKX uses the same-expiry forward's mark price.

    Returns:
        ``(im, mm)`` float64 arrays of shape ``(n,)``.

    Raises:
        ValueError: a position on a future, or ``index_price <= 0``.
    """
    if not index_price > 0:
        raise ValueError("standard margin: index_price must be > 0")
    idx = np.asarray(series, dtype=np.int64)
    kind = table.kind[idx]
    if np.any(kind == FUTURE):
        raise ValueError("standard margin: option positions only (futures have their own margin)")
    strike = table.strike[idx]
    mark = np.asarray(mark, dtype=np.float64)
    ref = np.asarray(index_price if otm_price is None else otm_price, dtype=np.float64)
    call = kind == CALL
    otm = np.where(call, np.maximum(strike - ref, 0.0), np.maximum(ref - strike, 0.0))
    # the formulas in coin; a linear series scales every coin rate term by S (mark is already in quote)
    scale = 1.0 if table.inverse else index_price
    mf = rates.margin_factor
    base = np.maximum(rates.initial - otm / ref, rates.initial_floor) * mf * scale
    c = rates.maintenance * mf
    mm_short = np.where(call, c * scale, np.maximum(c * scale, c * mark)) + mark
    im_short = base + mark
    if rates.put_initial_at_least_maintenance:
        im_short = np.where(call, im_short, np.maximum(im_short, mm_short))
    long_req = mark if rates.long_requirement == "mark" else np.zeros_like(mark)
    short = np.asarray(short, dtype=bool)
    return np.where(short, im_short, long_req), np.where(short, mm_short, long_req)


def position_margin_money(
    table: SeriesTable,
    series,
    lots,
    index_price: float,
    mark,
    rates: StandardMarginRates = DERIBIT_BTC_ETH,
    otm_price=None,
    money_scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial and maintenance margin of each option position in integer money units, rounded up.

    Args:
        table, series, index_price, mark, rates, otm_price: as :func:`requirement_per_unit`.
        lots: signed int64 lots per position (short < 0).
        money_scale: money units per settlement-currency unit; None: the table's (:attr:`.series.SeriesTable.
            money_scale`). An engine run of inverse series counts money in 1e-12 coin (:mod:`delever.inverse`).

    Returns:
        ``(im, mm)`` int64 arrays of shape ``(n,)``: ``|lots| * lot_size * requirement * money_scale`` rounded up
        (:func:`.money.ceil_money`).
    """
    lots = np.asarray(lots, dtype=np.int64)
    im, mm = requirement_per_unit(table, series, index_price, mark, lots < 0, rates, otm_price)
    scale = table.money_scale if money_scale is None else money_scale
    units = np.abs(lots).astype(np.float64) * table.lot_size[np.asarray(series, dtype=np.int64)] * scale
    return ceil_money(units * im), ceil_money(units * mm)


def per_account(values, account, n_accounts: int) -> np.ndarray:
    """Exact int64 sum of per-position money ``values`` into ``n_accounts`` accounts (``account`` ids)."""
    out = np.zeros(n_accounts, dtype=np.int64)
    np.add.at(out, np.asarray(account, dtype=np.int64), np.asarray(values, dtype=np.int64))
    return out
