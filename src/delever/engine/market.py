"""The prepared inputs of a run: :func:`prepare` loads the scenario's index path, calibrates its order-book
depth and builds (or loads) the starting book under what the enabled mechanisms ask of it (their book phase,
:func:`delever.mechanisms.registry.book_rules`), checked against int64 headroom; a multi-instrument market
(:class:`MultiMarket`) is prepared by :func:`delever.contagion.prepare_multi` on top of :func:`prepare`.

Raises :class:`~delever.errors.InputError` on bad input (file, row and field named).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..book import Book, check_int64_headroom
from ..bookio import load_book
from ..generator import GeneratorParams, generate_book
from ..errors import InputError
from ..instruments import Instrument
from ..inverse import coin_book, reciprocal_path, reciprocal_profile
from ..level_book import order_book_curve
from ..liquidity import DepthCurve
from ..mechanisms import registry
from ..marketdata import BookDepth, DepthProfile, calibrate_depth, load_book_depth, load_klines, profile_at_price
from ..prices import PricePath, path_from_klines, stretch_to_low
from ..scenario import Scenario, window_ms
from ..units import money


@dataclass
class Market:
    """The prepared inputs of a run (instrument, index path, depth curve, starting book)."""

    instrument: Instrument
    path: PricePath
    depth: DepthProfile
    curve: DepthCurve
    book: Book
    start_price_ticks: int
    labels: list[str] | None
    depth_raw: BookDepth | None = None
    """The raw bookDepth snapshots the depth was calibrated from (market-maker withdrawal calibrates on them)."""


@dataclass
class MultiMarket:
    """The inputs of a multi-instrument run: instruments, index paths, book centres (the index, or a dated
    future's index plus its basis; quote, float64 (T,)), depth curves and settlement windows (seconds; dated
    futures only), one each, and the book."""

    base: Market
    instruments: list[Instrument]
    paths: list[PricePath]
    curves: list[DepthCurve]
    funds: list[int]
    book: Book
    centres: list[np.ndarray]
    settlement_windows: list[float]


def prepare(scenario: Scenario, seed: int, extra_instruments=None) -> Market:
    """Load and build every input of a run (raises :class:`~delever.errors.InputError` on bad input).

    ``extra_instruments(instrument, path)``, for a multi-instrument run (:func:`delever.contagion.prepare_multi`),
    returns the other instruments and their start prices (ticks): a book file may then hold positions on
    any of them (its ``instrument`` column); it is called only when the book comes from a file."""
    inst = scenario.margin.instrument(scenario.instrument.build())  # the [margin] fee rate in its MMR
    path = index_path(scenario)
    liq = scenario.liquidity
    depth_raw = load_book_depth(scenario.resolve(liq.depth_file))
    profile = calibrate_depth(depth_raw, liq.depth_window_start.isoformat(), liq.depth_window_end.isoformat())
    if liq.depth_scale_basis == "quote":
        profile = profile_at_price(profile, float(path.index[0]))
    if inst.inverse:  # the reciprocal price and book of delever.inverse
        _inverse_inputs_supported(scenario)
        profile = reciprocal_profile(profile, float(path.index[0]), inst.contract_value)
        path = reciprocal_path(path, inst.contract_value)
    curve = order_book_curve(liq, DepthCurve.from_profile(profile, inst, liq.depth_scale), inst, scenario.resolve)
    start_ticks = inst.price_to_ticks(Decimal(repr(float(path.index[0]))), rounding="floor")
    # what the enabled mechanisms ask of the book (phase -1 of delever.mechanisms.base: caps, protected accounts)
    rules = registry.book_rules(scenario)
    cap, protected = rules.max_account_notional, rules.protected_fraction
    labels = None
    if scenario.book.generator is not None:
        g = scenario.book.generator
        params = GeneratorParams(**g.model_dump())
        if inst.inverse:  # a long in USD is a reciprocal short
            params = dataclasses.replace(params, long_fraction=1.0 - params.long_fraction)
        book = generate_book(
            params, inst, start_ticks, seed, liq.lp_accounts, liq.lp_wallet, cap, protected, int(path.time_ns[0])
        )
    elif scenario.book.hyperliquid is not None:
        from ..hyperliquid_book import build_book

        book, labels, _ = build_book(scenario, inst, start_ticks, liq.lp_accounts, liq.lp_wallet, int(path.time_ns[0]))
    else:
        insts, starts = [inst], [start_ticks]
        if extra_instruments is not None:
            more, more_starts = extra_instruments(inst, path)
            insts, starts = insts + list(more), starts + list(more_starts)
        book, labels = load_book(
            scenario.resolve(scenario.book.file or ""),
            insts,
            starts,
            liq.lp_accounts,
            liq.lp_wallet,
            cap,
            start_time_ns=int(path.time_ns[0]),
        )
        if len(insts) > 1:  # the multi-instrument run checks the headroom with every instrument's prices
            return Market(inst, path, profile, curve, book, start_ticks, labels, depth_raw)
    # the highest price the run can see: twice the path's highest index, beyond any mark the book can make
    top = 2 * inst.price_to_ticks(Decimal(repr(float(path.index.max()) if path.steps else 0.0)), rounding="ceil") + 1
    generated = scenario.book.generator is not None
    check_int64_headroom(book, [inst.value_per_lot_tick], [top], [money(scenario.insurance_fund.balance)],
                         source="book.generator" if generated else str(scenario.book.file),
                         field="notional_median" if generated else "size")  # fmt: skip
    market = Market(inst, path, profile, curve, book, start_ticks, labels, depth_raw)
    return market


def index_path(scenario: Scenario) -> PricePath:
    """The scenario's index path in the venue's prices (quote per base; raises InputError on a bad file)."""
    kl = load_klines(scenario.resolve(scenario.prices.file))
    pc = scenario.prices
    path = path_from_klines(kl, scenario.step_seconds, window_ms(pc.start), window_ms(pc.end), pc.gap_fill)
    if pc.stretch_to_low is not None:
        path = stretch_to_low(path, float(pc.stretch_to_low))
    return path


def _inverse_inputs_supported(scenario: Scenario) -> None:
    """Raise InputError for the inputs an inverse contract does not run with (yet): a Hyperliquid book, discrete
    price levels (other futures in cross margin: :func:`delever.contagion.prepare_multi`). A book file gives its
    sizes in contracts and prices in USD (:mod:`delever.bookio`)."""
    problem = None
    if scenario.book.hyperliquid is not None:
        problem = ("book.hyperliquid", "an inverse contract runs a generated book or a book file, not Hyperliquid's")
    elif scenario.liquidity.levels is not None:
        problem = ("liquidity.levels", "an inverse contract runs the calibrated depth curve, not price levels")
    if problem is not None:
        raise InputError(problem[1], field=problem[0])


def coin_market(base: Market, scenario: Scenario, inst: Instrument) -> Market:
    """The prepared market ``base`` of a linear contract as the market of the inverse contract ``inst``
    (:mod:`delever.inverse`), for a run of a USDT-margined scenario under a venue whose contract is inverse
    (:func:`delever.venues.scenario.venue_run_inputs`): the reciprocal index path and depth at the first
    index price, and the book converted there (:func:`delever.inverse.coin_book`).

    Raises:
        InputError: a multi-instrument book."""
    price = float(base.path.index[0])
    path = reciprocal_path(base.path, inst.contract_value)
    profile = reciprocal_profile(base.depth, price, inst.contract_value)
    curve = DepthCurve.from_profile(profile, inst, scenario.liquidity.depth_scale)
    start_ticks = inst.price_to_ticks(Decimal(repr(float(path.index[0]))), rounding="floor")
    try:
        book = coin_book(base.book, base.instrument, inst, start_price(base), start_ticks)
    except ValueError as exc:
        raise InputError(str(exc), field="instrument.settlement") from None
    return Market(inst, path, profile, curve, book, start_ticks, base.labels, base.depth_raw)


def start_price(market: Market) -> Fraction:
    """The first index price of a linear ``market``, exactly as the float the path holds (quote per base)."""
    return Fraction(Decimal(repr(float(market.path.index[0]))))
