"""Numbers and units as every delever report shows them.

Money is shown in quote units with 2 decimals (``1,137,434.77``): the exact micro-unit values stay in the
files (``summary.json``, ``events.parquet``, the CSVs). Counts have thousands separators and no decimals;
prices keep the decimals of their value (at least 2); percentages 2 decimals; times are UTC clock times.
:data:`SUMMARY_FIELDS` gives each summary key its label and its unit, so that no number is shown without one.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

NO_VALUE = "—"

SUMMARY_FIELDS: dict[str, tuple[str, str]] = {
    "scenario": ("Scenario", "text"),
    "seed": ("Seed", "id"),
    "accounts": ("Accounts", "count"),
    "lp_accounts": ("Liquidity-provider accounts", "count"),
    "positions": ("Positions", "count"),
    "steps": ("Steps", "count"),
    "liquidations": ("Liquidations", "count"),
    "accounts_liquidated": ("Accounts liquidated", "count"),
    "liquidated_notional": ("Liquidated notional", "money"),
    "bad_debt": ("Bad debt: shortfall below bankruptcy", "money"),
    "bad_debt_unrecovered": ("Bad debt left unrecovered", "money"),
    "socialized_loss": ("Socialized loss (clawed back from winners)", "money"),
    "insurance_fund_paid": ("Insurance fund paid out", "money"),
    "liquidation_fees": ("Liquidation fees to the fund", "money"),
    "insurance_fund_start": ("Insurance fund, start", "money"),
    "insurance_fund_end": ("Insurance fund, end", "money"),
    "insurance_fund_min": ("Insurance fund, minimum", "money"),
    "adl_events": ("ADL fills (counterparty side)", "count"),
    "adl_notional": ("ADL notional", "money"),
    "accounts_adl": ("Accounts hit by ADL", "count"),
    "adl_cost_vs_mark": ("ADL counterparties' cost vs closing at mark", "money"),
    "min_mark_price": ("Minimum mark price", "price"),
    "min_index_price": ("Minimum index price", "price"),
    "max_mark_drawdown_pct": ("Maximum mark drawdown", "pct"),
    "open_interest_end": ("Open interest, end (one side)", "base"),
    "open_interest_balanced": ("Open interest balanced (longs = shorts)", "bool"),
    "conservation_error": ("Conservation error", "money_units"),
}
"""Summary key -> (label, kind); kinds: money (quote, 2 decimals), money_units (micro-units, exact), count,
price (quote per base), base (base units), pct, bool, id, text."""


def to_decimal(value: Any) -> Decimal | None:
    """``value`` (int, float, Decimal, numeric string) as a Decimal; None for anything else or non-finite."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, (int, np.integer)):
        return Decimal(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return Decimal(repr(f)) if math.isfinite(f) else None
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _fixed(d: Decimal, decimals: int) -> str:
    s = f"{d:,.{decimals}f}"
    return s[1:] if s.startswith("-") and not any(c in "123456789" for c in s) else s  # no "-0.00"


def money(value: Any, unit: str = "") -> str:
    """Quote money with 2 decimals (rounded half-even, for display only); ``unit`` appended when given."""
    d = to_decimal(value)
    if d is None:
        return NO_VALUE if value is None else str(value)
    return _fixed(d, 2) + (f" {unit}" if unit else "")


def count(value: Any) -> str:
    """A whole count with thousands separators."""
    d = to_decimal(value)
    return NO_VALUE if d is None else _fixed(d, 0)


def signed_count(value: Any) -> str:
    """A change of a count: ``+168``, ``-3``, ``0``."""
    d = to_decimal(value)
    return NO_VALUE if d is None else ("+" if d > 0 else "") + _fixed(d, 0)


def signed_money(value: Any) -> str:
    """A change of money: ``+1,234.50``."""
    d = to_decimal(value)
    return NO_VALUE if d is None else ("+" if d > 0 else "") + _fixed(d, 2)


def price(value: Any) -> str:
    """A price: its own decimals (a tick can be finer than a cent), at least 2."""
    d = to_decimal(value)
    if d is None:
        return NO_VALUE
    places = max(2, -d.normalize().as_tuple().exponent) if d != 0 else 2
    return _fixed(d, min(places, 10))


def quantity(value: Any) -> str:
    """A base quantity with its own decimals (at most 8), thousands separators."""
    d = to_decimal(value)
    if d is None:
        return NO_VALUE
    places = max(0, -d.normalize().as_tuple().exponent) if d != 0 else 0
    return _fixed(d, min(places, 8))


def pct(value: Any, decimals: int = 2) -> str:
    """A percentage given in percent: ``13.56%``."""
    d = to_decimal(value)
    return NO_VALUE if d is None else f"{_fixed(d, decimals)}%"


def share(value: Any, decimals: int = 1) -> str:
    """A fraction shown as a percentage: 0.994 -> ``99.4%``."""
    d = to_decimal(value)
    return NO_VALUE if d is None else f"{_fixed(d * 100, decimals)}%"


def utc_clock(ns: int) -> str:
    """Nanoseconds since the epoch as a UTC clock time ``21:19:37`` (``.250`` added for sub-second times)."""
    t = np.datetime64(int(ns), "ns")
    s = str(np.datetime_as_string(t, unit="ms"))[11:]
    return s[:-4] if s.endswith(".000") else s


def utc_datetime(ns: int) -> str:
    """Nanoseconds since the epoch as ``2025-10-10 21:19:37 UTC``."""
    t = np.datetime64(int(ns), "ns")
    s = str(np.datetime_as_string(t, unit="s")).replace("T", " ")
    return f"{s} UTC"


def summary_label(key: str, quote: str = "USDT", base: str = "BTC", price_unit: str | None = None) -> str:
    """The label of summary ``key`` with its unit in parentheses (prices in ``price_unit``, default ``quote per
    base``; an inverse contract's are ``USD per XBT`` while its money is µXBT)."""
    label, kind = SUMMARY_FIELDS.get(key, (key.replace("_", " ").capitalize(), ""))
    price = price_unit or f"{quote} per {base}"
    # money units are 1e-6 of the quote; of a µcoin quote (an inverse contract's run) 1e-12 of the coin
    units = f"1e-12 {quote[1:]}" if quote.startswith("µ") else f"micro-{quote}"
    unit = {"money": quote, "price": price, "base": base, "money_units": units}.get(kind)
    if kind == "" and key.endswith("_pct"):
        kind = "pct"
    return f"{label} ({unit})" if unit else label


def summary_value(key: str, value: Any) -> str:
    """Summary ``value`` formatted by the kind of ``key`` (:data:`SUMMARY_FIELDS`); unknown keys: counts for
    integers, ``_pct`` keys as percentages, other numbers with up to 6 significant decimals."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "yes" if value else "no"
    kind = SUMMARY_FIELDS.get(key, ("", ""))[1]
    if kind == "money":
        return money(value)
    if kind in ("count", "money_units"):
        return count(value)
    if kind == "id":
        return str(value)
    if kind == "price":
        return price(value)
    if kind == "base":
        return quantity(value)
    if kind == "pct" or key.endswith("_pct"):
        return pct(value)
    if isinstance(value, (int, np.integer)):
        return count(value)
    d = to_decimal(value)
    if d is None:
        return str(value)
    return _fixed(d, min(6, max(0, -d.normalize().as_tuple().exponent)))
