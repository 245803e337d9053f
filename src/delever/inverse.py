"""Inverse (coin-margined) contracts, run as the linear contract on the reciprocal price.

An inverse perpetual (BitMEX XBTUSD, ../shared/specs/venues.md section 2) is a contract worth ``cv`` USD whose
PnL, margin, fees, funding and insurance fund are in the coin. A long of ``N`` contracts entered at ``E`` and
closed at ``P`` earns ``N cv (1/E - 1/P)`` coin (TV-28: ``15,000 x (1/750 - 1/800) = 1.25 XBT``). With
``q = cv / P``, the coin value of one contract, that is ``-N (q_P - q_E)``: the PnL of a **short** of ``N`` units
of a linear contract priced ``q`` in coin. Every other amount of the venue is linear in ``q`` too: the position
value ``N q`` (BitMEX's risk limits in XBT, TV-24; its funding ``MarkValue x F``, TV-28), margins, fees and the
insurance fund. So delever runs an inverse contract as that linear contract, in the one engine, and converts at
the edges:

- **Prices**: engine ticks of :data:`INVERSE_TICK` µcoin per contract (1e-12 coin: at 112,000 USD one tick is
  0.0125 USD, 40 times finer than XBTUSD's 0.5 USD tick); the venue price is ``P = cv / q``
  (:meth:`delever.instruments.Instrument.display_prices`). A price rounded against an account on ``q`` is
  rounded against it on ``P`` too (``P`` falls as ``q`` rises), so the engine's rounding rule carries over; a
  venue rounding its bankruptcy price to its own USD tick may differ by less than that tick.
- **Sizes**: lots of contracts with the opposite sign (a USD long is a reciprocal short;
  :meth:`~delever.instruments.Instrument.display_sizes` flips them back).
- **Money**: in µcoin (the run's quote label is ``"µXBT"``), at the engine's money scale of 1e-6 of it, so one
  money unit is 1e-12 coin (1e-4 satoshi): every amount of a scenario with an inverse contract (insurance fund,
  wallets, tier caps, limits) is in µcoin.
- **Order book**: the USD book mirrored (:func:`reciprocal_profile`): USD bids resting ``x`` below ``P`` are
  reciprocal asks ``x / (1 - x)`` above ``q``, USD asks ``x`` above are bids ``x / (1 + x)`` below, each
  ``contracts = base x P / cv`` at the reference price.
- **Funding**: the premium in USD terms, ``M / I - 1 = (q_I - q_M) / q_M`` (:func:`usd_premium`), and the rate
  the venue computes from it, paid with the opposite sign by the reciprocal sides (longs in USD pay when
  ``F > 0``), on the position value ``N q_M``: BitMEX's ``Funding = MarkValue x F`` exactly
  (:mod:`delever.mechanisms.funding`).

What runs on ``q`` rather than on ``P``: the mark rule's basis EMA (``q_I + EMA(q_trade - q_I)``, equal to the EMA
of the USD basis to first order), the mark band and the circuit breakers' relative moves (``x`` on ``P`` is
``x / (1 - x)`` on ``q``). A USDT-margined book runs under an inverse contract (``delever run --venue bitmex``)
through :func:`coin_book`: each position keeps its USD exposure at its entry (``N = size x E / cv`` contracts, so
its PnL in USD at any price is the linear one), and every amount converts at the run's first index price.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import get_args

import numpy as np
from pydantic import BaseModel

from .book import Book, lp_sizes
from .depth_profile import DepthProfile
from .instruments import MICRO, Instrument, reciprocal_index
from .prices import PricePath
from .units import MONEY_SCALE
from .validate import money_amount

INVERSE_TICK = Decimal("0.000001")
"""An inverse contract's engine tick: µcoin per contract (1e-12 coin)."""


def coin_label(coin: str) -> str:
    """The money label of a run with an inverse contract in ``coin``: ``"µXBT"``."""
    return f"µ{coin}"


def reciprocal_path(path: PricePath, contract_value: Decimal) -> PricePath:
    """``path`` with its index as :func:`reciprocal_index` (µcoin per contract); the times are unchanged."""
    return dataclasses.replace(
        path, index=reciprocal_index(path.index, contract_value), source=f"{path.source} (reciprocal: cv / P)"
    )


def _depth_at(distance: np.ndarray, depth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Cumulative depth at distances ``at``: linear through ``(0, 0)`` and the bands, past the last band with
    the last band's density (as :meth:`delever.liquidity.DepthCurve.from_profile` extends it)."""
    d = np.concatenate([[0.0], distance])
    v = np.concatenate([[0.0], depth])
    inside = np.interp(at, d, v)
    density = (v[-1] - v[-2]) / (d[-1] - d[-2])
    return np.where(at > d[-1], v[-1] + density * (at - d[-1]), inside)


def reciprocal_profile(profile: DepthProfile, price: float, contract_value: Decimal) -> DepthProfile:
    """The USD book ``profile`` (base units at distances from the reference ``price``) as the reciprocal book of
    an inverse contract, in contracts at the same distances (module docstring): the reciprocal ask side at
    distance ``d`` is the USD bid depth within ``d / (1 + d)`` below ``P``, the bid side the USD ask depth
    within ``d / (1 - d)`` above, each ``base x price / cv`` contracts; notionals in µcoin at ``price``.

    Raises:
        ValueError: a price that is not > 0.
    """
    if not price > 0:
        raise ValueError(f"reference price must be > 0 (got {price})")
    dist = np.asarray(profile.distance, dtype=np.float64)
    per_base = price / float(contract_value)  # contracts per base unit at the reference price
    ask = _depth_at(dist, np.asarray(profile.bid_base, dtype=np.float64), dist / (1.0 + dist)) * per_base
    bid = _depth_at(dist, np.asarray(profile.ask_base, dtype=np.float64), dist / (1.0 - dist)) * per_base
    coin_per_contract = float(contract_value) * MICRO / price
    return DepthProfile(
        distance=profile.distance,
        bid_base=bid,
        ask_base=ask,
        bid_notional=bid * coin_per_contract,
        ask_notional=ask * coin_per_contract,
        window_start=profile.window_start,
        window_end=profile.window_end,
        snapshots=profile.snapshots,
        method=profile.method + f" Mirrored for the inverse contract at {price:,.2f} (reciprocal price, contracts).",
    )


def usd_premium(mark: float, index: float) -> float:
    """The premium ``M / I - 1`` of USD prices from the reciprocal mark and index (any positive units):
    ``(q_I - q_M) / q_M``."""
    return (index - mark) / mark


def to_coin_units(units: int, price: Fraction) -> int:
    """Linear money units (1e-6 quote) as inverse money units (1e-6 µcoin) at ``price`` (quote per coin, taken
    as the contract's quote: USDT as USD), rounded down: ``floor(units x 1e6 / price)``."""
    q = Fraction(int(units) * MICRO) / price
    return q.numerator // q.denominator


def to_coin_amount(amount: Decimal, price: Fraction) -> Decimal:
    """A quote amount (``Decimal``) in µcoin at ``price``, rounded down to the money scale."""
    units = to_coin_units(int((amount * MONEY_SCALE).to_integral_value(ROUND_FLOOR)), price)
    return Decimal(units) / MONEY_SCALE


def _money_field(annotation, metadata=()) -> bool:
    """True if a pydantic field of ``annotation`` and ``metadata`` (possibly ``X | None`` or ``Annotated``) is a
    Money amount (its validator is :func:`delever.validate.money_amount`)."""
    for meta in (*metadata, *getattr(annotation, "__metadata__", ())):
        if getattr(meta, "func", None) is money_amount:
            return True
    return any(_money_field(a) for a in get_args(annotation) if a is not type(None))


def _models(annotation) -> list[type[BaseModel]]:
    """The pydantic models inside ``annotation`` (``M``, ``M | None``, ``list[M]``, ``Annotated[list[M], ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models(a)]


def coin_amounts(data: dict, model: type[BaseModel], price: Fraction) -> dict:
    """``data`` (a dumped scenario section of ``model``) with every Money field (:data:`delever.validate.Money`)
    converted to µcoin at ``price`` (:func:`to_coin_amount`), nested sections and lists of rows included."""
    out = dict(data)
    for name, info in model.model_fields.items():
        value = out.get(name)
        if value is None:
            continue
        if _money_field(info.annotation, info.metadata) and isinstance(value, (Decimal, int, str)):
            out[name] = to_coin_amount(Decimal(str(value)), price)
            continue
        for sub in _models(info.annotation):
            if isinstance(value, dict):
                out[name] = coin_amounts(value, sub, price)
            elif isinstance(value, list):
                out[name] = [coin_amounts(v, sub, price) if isinstance(v, dict) else v for v in value]
    return out


def coin_book(book: Book, linear: Instrument, inverse: Instrument, price: Fraction, start_ticks: int) -> Book:
    """A book of the linear ``linear`` contract (money 1e-6 quote) as a book of the inverse contract ``inverse``
    in its reciprocal form (module docstring), at ``price`` (quote per coin, the run's first index price):

    - a position of ``s`` base units entered at ``E`` becomes ``N = s x E / cv`` contracts (whole lots, nearest;
      at least one), a reciprocal size of ``-N``, with its coin cost ``-N x cv / E`` rounded up (its PnL in USD
      at any price is the linear position's; the rounding is against the account);
    - wallets and isolated collateral convert at ``price``, rounded down (:func:`to_coin_units`);
    - the liquidity providers hold the opposite of the traders' net size, entered at ``start_ticks``.

    Raises:
        ValueError: a book of several instruments (one contract converts at a time).
    """
    if book.n_positions and int(book.instrument.max()) != 0:
        raise ValueError("a book of several instruments cannot run under an inverse contract")
    lot_c = Fraction(inverse.lot_size) * Fraction(inverse.contract_value)  # quote per lot of contracts
    v_q = inverse.value_per_lot_tick
    exempt_pos = book.exempt[book.account]
    size = np.zeros(book.n_positions, dtype=np.int64)
    cost = np.zeros(book.n_positions, dtype=np.int64)
    for i in np.flatnonzero(~exempt_pos & (book.size != 0)):
        entry_value = Fraction(int(book.cost[i]), MONEY_SCALE)  # quote, signed: s x E
        lots = max(1, round(abs(entry_value) / lot_c))
        side = 1 if book.size[i] > 0 else -1
        size[i] = -side * lots
        # the coin cost of the reciprocal position at the linear position's entry E = s E / s
        entry = entry_value / (Fraction(int(book.size[i])) * Fraction(linear.lot_size))
        c = inverse.entry_cost(int(size[i]), entry)
        cost[i] = -((-c.numerator) // c.denominator)  # rounded up: a higher cost is a lower PnL
    lp = np.flatnonzero(exempt_pos)
    if lp.size:
        share = lp_sizes(int(size.sum()), lp.size)
        size[lp] = share
        cost[lp] = share * start_ticks * v_q
    return Book.from_arrays(
        wallet=[to_coin_units(int(w), price) for w in book.wallet],
        exempt=book.exempt,
        account=book.account,
        instrument=book.instrument,
        size=size,
        cost=cost,
        collateral=[to_coin_units(int(c), price) for c in book.collateral],
        isolated=book.isolated,
        entry_leverage=book.entry_leverage,
        protected=book.protected,
        opened_ns=book.opened_ns,
    )
