"""Input limits checked at the boundary, before any work: exact scales, and sizes whose exact state fits int64.

The engine keeps money as int64 micro-units of the quote (:mod:`delever.units`). A value that is finer than
that scale cannot be represented, and a value too large for it would overflow somewhere in the run (a sum of
wallets, a notional, an equity). So every money input is checked, where it is read, against:

- the money scale: a multiple of ``1 / MONEY_SCALE`` (0.000001 quote), rates a multiple of ``1 / PPM``;
- :data:`MAX_MONEY_UNITS` = 2^61 micro-units (2,305,843,009,213.693952 quote) for any single amount, any
  position's notional and cost, and the total money of a run (wallets, collateral, funds), which leaves a
  factor 4 below the int64 limit (2^63) for what a run adds up on the way (equity = wallet + PnL, a
  fund plus fees);
- :data:`MAX_SEED` for seeds (PCG64 takes any non-negative integer; seeds are written as int64 and uint64).

The pydantic types :data:`Money`, :data:`Rate` carry the first two checks into the scenario's fields; errors
are ``ValueError`` there (pydantic turns them into the scenario's :class:`~delever.errors.InputError` with the
field and line); :func:`check_money` raises ``ValueError`` with the same message for other readers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from .errors import InputError
from .units import MONEY_SCALE, PPM

MAX_MONEY_UNITS = 2**61
"""Largest money amount (micro-units) of any single input, position notional, or a run's total money."""

MAX_MONEY = Decimal(MAX_MONEY_UNITS) / MONEY_SCALE
""":data:`MAX_MONEY_UNITS` in quote units (2,305,843,009,213.693952)."""

MAX_SEED = 2**63 - 1
"""Largest seed (int64)."""

MONEY_STEP = Decimal(1) / MONEY_SCALE
RATE_STEP = Decimal(1) / PPM


def limit_text() -> str:
    """The money limit as the messages state it."""
    return f"{MAX_MONEY:,} quote (2^61 micro-units, so that exact sums stay within int64)"


def check_money(value: Decimal, what: str = "amount") -> Decimal:
    """``value`` (quote) if it is finite, a whole number of micro-units, and at most :data:`MAX_MONEY` in size.

    Raises:
        ValueError: the message names the scale (0.000001) or the limit.
    """
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number (got {value})")
    if abs(value) > MAX_MONEY:
        raise ValueError(f"{what} {value} exceeds the limit of {limit_text()}")
    if value % MONEY_STEP != 0:
        raise ValueError(f"{what} {value} is finer than the money scale 0.000001 (micro-units of the quote)")
    return value


def check_rate(value: Decimal, what: str = "rate") -> Decimal:
    """``value`` if it is finite and a whole number of parts per million.

    Raises:
        ValueError: the message names the scale (0.000001, ppm).
    """
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number (got {value})")
    if abs(value) > 10**9:  # no rate is that large; the remainder below needs the quotient to fit the context
        raise ValueError(f"{what} {value} is out of range")
    if value % RATE_STEP != 0:
        raise ValueError(f"{what} {value} is finer than the rate scale 0.000001 (parts per million)")
    return value


def money_amount(value: Decimal) -> Decimal:
    """The validator of :data:`Money` (named, so a scenario's money fields can be found: :mod:`delever.inverse`)."""
    return check_money(value, "amount")


Money = Annotated[Decimal, AfterValidator(money_amount)]
"""A quote amount: exact, on the money scale, within :data:`MAX_MONEY`."""

Rate = Annotated[Decimal, AfterValidator(lambda v: check_rate(v, "rate"))]
"""A rate converted to parts per million (fees, margin rates, slice fractions)."""


def check_total_money(units: int, what: str) -> None:
    """Raise ``ValueError`` when a run's total money ``units`` (micro-units) exceeds :data:`MAX_MONEY_UNITS`."""
    if abs(units) > MAX_MONEY_UNITS:
        raise ValueError(f"{what} {Decimal(units) / MONEY_SCALE} exceeds the limit of {limit_text()}")


MAX_SECONDS = 315_360_000.0
"""Longest duration a scenario may give (10 years, in seconds): times are int64 nanoseconds in the run."""

WINDOWS = (
    (("prices", "start"), ("prices", "end")),
    (("liquidity", "depth_window_start"), ("liquidity", "depth_window_end")),
    (("mechanisms", "dynamic_margin", "short_window_s"), ("mechanisms", "dynamic_margin", "long_window_s")),
    (("mechanisms", "mm_withdrawal", "short_window_s"), ("mechanisms", "mm_withdrawal", "long_window_s")),
)
"""Pairs of scenario fields where the first must be below the second (windows, and short before long)."""


def _get(model, loc: tuple[str, ...]):
    for key in loc:
        model = getattr(model, key, None)
        if model is None:
            return None
    return model


def _durations(model, loc: tuple[str, ...]):
    """``(loc, seconds)`` of every duration field (name ending in ``_s``) in a pydantic model tree."""
    from pydantic import BaseModel

    for name in type(model).model_fields:
        value = getattr(model, name)
        here = (*loc, name)
        if isinstance(value, BaseModel):
            yield from _durations(value, here)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _durations(item, (*here, str(i)))
        elif name.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
            yield here, float(value)


def scenario_problem(scenario) -> tuple[tuple[str, ...], str] | None:
    """The first problem of a validated scenario that its fields' own types cannot see: a duration above
    :data:`MAX_SECONDS`, a window whose start is not before its end (naming both fields), or total money
    (liquidity providers' wallets, insurance funds, the backstop vault) above :data:`MAX_MONEY`.

    Returns:
        ``(field path, message)``, or None when there is none.
    """
    for loc, seconds in _durations(scenario, ()):
        if seconds > MAX_SECONDS:
            return loc, f"{seconds:g} s is longer than the limit of {MAX_SECONDS:,.0f} s (10 years)"
    for first, second in WINDOWS:
        a, b = _get(scenario, first), _get(scenario, second)
        if a is not None and b is not None:
            try:
                ordered = a < b
            except TypeError:  # an aware and a naive time: naive times are UTC
                from datetime import UTC

                ordered = a.replace(tzinfo=a.tzinfo or UTC) < b.replace(tzinfo=b.tzinfo or UTC)
            if not ordered:
                return first, (f"{'.'.join(first)} ({a}) must be before {'.'.join(second)} ({b}); swap them or fix one")
    liq = scenario.liquidity
    mech = scenario.mechanisms
    total = liq.lp_wallet * liq.lp_accounts + scenario.insurance_fund.balance
    parts = "liquidity.lp_wallet x liquidity.lp_accounts + insurance_fund.balance"
    if mech.backstop.enabled:
        total += mech.backstop.vault_wallet
        parts += " + mechanisms.backstop.vault_wallet"
    if mech.cross_margin.enabled:
        total += sum((i.insurance_fund for i in mech.cross_margin.instruments), Decimal(0))
        parts += " + the cross instruments' insurance funds"
    if total > MAX_MONEY:
        return ("liquidity", "lp_wallet"), f"{parts} = {total} exceeds the limit of {limit_text()}"
    gen = scenario.book.generator
    if gen is not None and gen.notional_median * gen.accounts > MAX_MONEY:
        return ("book", "generator", "notional_median"), (
            f"notional_median x accounts = {gen.notional_median * gen.accounts} exceeds the limit of {limit_text()}"
        )
    return None


def check_prepared(scenario, market, file: str | None = None) -> None:
    """Checks that need the loaded inputs, run before any work: a dated future (the scenario's, or a cross
    instrument) must expire after the start of the price path. ``file``: the scenario file, for the message.

    Raises:
        InputError: naming the expiry field.
    """
    from .settlement import check_expiry

    start = int(market.path.time_ns[0])
    try:
        check_expiry(market.instrument, start, "instrument.expiry")
    except InputError as exc:
        raise InputError(exc.message, file=file, field=exc.field) from None
    cross = scenario.mechanisms.cross_margin
    if cross.enabled:
        for k, cfg in enumerate(cross.instruments):
            if cfg.expiry is not None and _utc_ns(cfg.expiry) <= start:
                raise InputError(
                    f"{cfg.symbol} expires at or before the start of the price path",
                    file=file,
                    field=f"mechanisms.cross_margin.instruments[{k}].expiry",
                )


def _utc_ns(t) -> int:
    from datetime import UTC

    t = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1_000
