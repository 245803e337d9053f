"""Option series as instruments of a run: their premium paths, their books and the option holders (issue #16, part 3).

Design (the smallest sound way for an option to be an instrument of the engine's one step loop): each series of
``[options]`` (:class:`delever.config.options.OptionsConfig`) is one more instrument of a multi-instrument run
(:class:`delever.engine.market.MultiMarket`), after the scenario's instrument and its cross-margin instruments.
Everything the loop does per instrument then applies to it unchanged: a book centre, a mark, a book the
liquidation stage trades against, an insurance fund, an ADL queue; its positions are rows of the one book
(``size`` in lots, ``cost`` the signed entry value), so a cross account's equity sums its futures' and options'
unrealised PnL in the one margin sweep.

- **Expiry**: a series expiring inside the window settles at its first step at or after expiry through the dated
  futures' final settlement (:mod:`delever.settlement`), at its intrinsic value at the underlying's settlement
  price (the index mean over ``settlement_window_s``); from then on it has no book and no margin.
- **Settlement**: linear (quote-settled, Deribit's USDC options), so one lot-tick is worth ``V = lot_size x
  tick_size`` money as for a linear future and ``size x mark x V - cost`` is the option's PnL since entry. An
  account's equity is then Deribit's (balance plus the options' value, premiums paid or received): the engine's
  wallet holds the cash before the premium and ``cost`` the premium, so ``wallet + value - cost`` is the same
  sum. Inverse (coin-settled) series are not instruments of a run: the engine's money is the quote currency.
- **Premium path** (the book centre, quote): Black-76 (:mod:`.black76`) on the underlying's index path as the
  forward (no rates, no basis: a short-dated option on the index), with time to expiry shrinking step by step,
  at the implied vol of :mod:`.vol_dynamics` (the surface, the rule, the spot-vol beta) with the vol shock
  applied from ``vol_shock_at`` on: ``sigma_t = max(floor, surface x (1 + shock_t) + beta ln(F_t / F_0))``,
  ``shock_t = vol_shock`` from that time, 0 before.
- **Book**: resting depth around the premium (:class:`delever.liquidity.DepthCurve`) with a half-spread that
  widens with implied vol: ``h_t = max(half_spread x sigma_t / sigma_0, tick / premium_t)``, capped at 0.5 (a
  documented stand-in of this project, not a calibration: the half-spread as a share of the premium scales with
  the series' vol against its starting vol, so a vol shock or a sell-off that lifts vol widens the books in
  proportion; at least one tick, so a cheap wing option quotes wide); beyond the spread
  ``depth_lots_per_pct`` lots per 1% of the premium each side. Nothing rests inside the spread (its first
  ``1e-6`` lot), so the first lot of a forced order fills about ``h_t`` away from the premium. The mark is the
  engine's (:mod:`delever.mark`: the premium plus the book's basis, banded).
- **Holders** (:func:`add_options`): drawn from the generated book's cross trader accounts (fractions of
  :class:`~delever.config.options.OptionsConfig`): covered-call writers (long the scenario's instrument, short
  calls of the same base quantity), futures-hedged put writers (short it, short puts of the same quantity),
  naked writers and buyers of a random series (underlying notional drawn as the generator draws it). Each
  deposits ``margin_multiple`` x the position's standard initial margin (a buyer: its premium) into its cross
  wallet; ``extra_series_fraction`` of the holders also hold one or two more series (:func:`extra_series`);
  the liquidity providers take the opposite of the traders' net position on every series.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from ..book import Book, check_int64_headroom, lp_sizes
from ..errors import InputError
from ..instruments import Instrument
from ..liquidity import MAX_IMPACT, DepthCurve
from ..prices import PricePath
from ..tiers import RiskTier, RiskTiers
from ..instruments import MICRO, reciprocal_index
from ..units import MONEY_SCALE, money
from .black76 import black76_price
from .series import OptionSeries, SeriesTable
from .standard_margin import DERIBIT_BTC_ETH, OKX_BTC, StandardMarginRates, position_margin_money
from .surface import DEFAULT_SURFACE, GridSurface
from .vol_dynamics import VolDynamics

MAX_HALF_SPREAD = 0.5
"""Widest half-spread of an option book (fraction of the premium)."""
INSIDE_SPREAD_LOTS = 1e-6
"""Lots resting inside the spread (the depth curve needs a strictly increasing start)."""
RATES = {"deribit": DERIBIT_BTC_ETH, "okx": OKX_BTC}
"""The standard margin rates ``[options] margin`` names (:mod:`.standard_margin`)."""


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def option_series(cfg) -> list[OptionSeries]:
    """The configured series (:class:`.series.OptionSeries`, settled as ``[options] settlement``)."""
    return [
        OptionSeries(s.symbol, s.kind, s.strike, _utc(s.expiry), settlement=cfg.settlement, lot_size=cfg.lot_size)
        for s in cfg.series
    ]


def underlying_index(path: PricePath, underlying: Instrument) -> np.ndarray:
    """The underlying's index in the venue's prices (quote per base unit), float64 (T,): the path itself, or for an
    inverse underlying (its path the reciprocal ``cv / P`` in µcoin, :mod:`delever.inverse`) ``P`` back."""
    if underlying.inverse:
        return reciprocal_index(path.index, underlying.contract_value)
    return np.asarray(path.index, dtype=np.float64)


def premium_unit_money(cfg) -> float:
    """Money units per 1 settlement-currency unit of a series' requirement or premium: ``MONEY_SCALE`` (quote) for
    linear series, ``MICRO x MONEY_SCALE`` for inverse ones (the run's money is µcoin, a premium is in coin)."""
    return float(MONEY_SCALE) * (MICRO if cfg.settlement == "inverse" else 1)


def settlement_marks(cfg, ticks) -> np.ndarray:
    """Series marks (ticks) in the settlement currency per base unit, float64: quote, or coin for inverse series
    (ticks of ``tick_size`` µcoin)."""
    unit = float(cfg.tick_size) / (MICRO if cfg.settlement == "inverse" else 1)
    return np.asarray(ticks, dtype=np.float64) * unit


def margin_rates(cfg) -> StandardMarginRates:
    """The standard option margin rates of ``[options] margin``."""
    return RATES[cfg.margin]


def option_tiers(symbol: str) -> RiskTiers:
    """A tier table with no requirement: an option's margin is added outside the tiers
    (:mod:`.engine_margin`), so the sweep's tiered MM of an option position is 0."""
    return RiskTiers(f"{symbol}-option", (RiskTier(0, 2**62, Decimal(1), 0, 1_000_000, 0),))


@dataclasses.dataclass(frozen=True)
class OptionPaths:
    """Every series along the path: ``vol`` and ``premium`` (per base unit, in the series' price unit: quote, or
    µcoin for inverse series) float64 (T, n), ``years`` float64 (T, n) time to expiry, ``forward`` float64 (T,) the
    underlying index (quote per base unit)."""

    series: list[OptionSeries]
    vol: np.ndarray
    premium: np.ndarray
    years: np.ndarray
    forward: np.ndarray


def option_paths(cfg, scenario, path: PricePath, underlying: Instrument | None = None) -> OptionPaths:
    """Vols and Black-76 premiums of every series on the index path of ``underlying`` (the scenario's instrument;
    module docstring). An inverse series' premium is the quote premium divided by the forward, in µcoin (Deribit's
    BTC options, https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options).

    Raises:
        InputError: a series expiring at or before the start of the price window, or an unreadable surface file.
    """
    series = option_series(cfg)
    surface = DEFAULT_SURFACE
    if cfg.surface_file is not None:
        try:
            surface = GridSurface.from_csv(scenario.resolve(cfg.surface_file))
        except (OSError, ValueError) as exc:
            raise InputError(str(exc), file=str(cfg.surface_file), field="options.surface_file") from None
    start_ns = int(path.time_ns[0]) if path.steps else 0
    for k, s in enumerate(series):
        if int(s.expiry.timestamp() * 1e9) <= start_ns:
            raise InputError(
                f"{s.symbol} expires at {s.expiry.isoformat()}, at or before the start of the price window",
                field=f"options.series[{k}].expiry",
            )
    expiry_ns = np.array([int(s.expiry.timestamp()) * 1_000_000_000 for s in series], dtype=np.int64)
    years = (expiry_ns[None, :] - path.time_ns[:, None]).astype(np.float64) / 1e9 / (365.0 * 86_400.0)
    # from expiry on a series is settled (no book, no premium is read): a floor of one second keeps the figures
    # finite there
    years = np.maximum(years, 1.0 / (365.0 * 86_400.0))
    strike = np.array([float(s.strike) for s in series])
    forward = underlying_index(path, underlying) if underlying is not None else np.asarray(path.index, np.float64)
    calm = VolDynamics(cfg.vol_rule, cfg.spot_vol_beta, 0.0, surface=surface)
    shocked = VolDynamics(cfg.vol_rule, cfg.spot_vol_beta, cfg.vol_shock, surface=surface)
    f0 = forward[0] if forward.size else 1.0
    vol = calm.implied_vol(strike, years, forward[:, None], f0)
    if cfg.vol_shock:
        at = 0 if cfg.vol_shock_at is None else int(_utc(cfg.vol_shock_at).timestamp()) * 1_000_000_000
        after = path.time_ns >= at
        vol = np.where(after[:, None], shocked.implied_vol(strike, years, forward[:, None], f0), vol)
    is_call = np.array([s.kind == "call" for s in series])
    premium = black76_price(forward[:, None], strike, vol, years, is_call)
    if cfg.settlement == "inverse":
        premium = premium / forward[:, None] * MICRO
    return OptionPaths(series, vol, premium, years, forward)


def spread_curve(half_spread: float, lots_per_pct: float) -> DepthCurve:
    """An option book: nothing inside ``half_spread`` (fraction of the premium), ``lots_per_pct`` lots per 1%
    beyond it, each side (module docstring)."""
    h = min(max(half_spread, 1e-9), MAX_HALF_SPREAD)
    dist = np.array([0.0, h, MAX_IMPACT])
    lots = np.array([0.0, INSIDE_SPREAD_LOTS, INSIDE_SPREAD_LOTS + lots_per_pct * (MAX_IMPACT - h) * 100.0])
    return DepthCurve(dist, lots, lots.copy())


def half_spreads(cfg, paths: OptionPaths, tick: float) -> np.ndarray:
    """Half-spread of every series' book at every step, float64 (T, n): ``max(half_spread x sigma_t / sigma_0,
    tick / premium_t)``, capped at :data:`MAX_HALF_SPREAD` (module docstring)."""
    widen = cfg.half_spread * paths.vol / paths.vol[:1]
    floor = tick / np.maximum(paths.premium, 1e-12)
    return np.minimum(np.maximum(widen, floor), MAX_HALF_SPREAD)


def _draw_lots(rng, count: int, gen, start_price: float, lot: float) -> np.ndarray:
    """Lots of ``count`` option positions, underlying notional drawn as the generator draws it."""
    median = float(gen.notional_median)
    notional = median * np.exp(rng.normal(0.0, gen.notional_sigma, count))
    return np.maximum(1, np.rint(notional / (start_price * lot))).astype(np.int64)


def extra_series(rng, fraction: float, n_series: int, account: np.ndarray, series: np.ndarray, lots: np.ndarray):
    """The holders' positions with more series: each holder (one row of ``account`` / ``series`` / ``lots``, int64
    (n,) each, one row per account) is drawn with probability ``fraction`` to hold one or two more series
    (equally likely; at most ``n_series - 1``), distinct and other than its own, drawn uniformly without
    replacement, on the same side with the same lots (a writer writes more, a buyer buys more). Returns the rows
    with the extra ones appended. No draw when ``fraction`` is 0 (earlier draws of the seed are unchanged either
    way: these come last)."""
    if fraction <= 0 or n_series < 2 or account.size == 0:
        return account, series, lots
    picked = rng.random(account.size) < fraction
    more = np.minimum(rng.integers(1, 3, account.size), n_series - 1)
    offsets = 1 + np.argsort(rng.random((account.size, n_series - 1)), axis=1)  # a permutation of 1..n-1 per row
    extra_acc, extra_ser, extra_lots = [account], [series], [lots]
    for k in range(2):
        take = picked & (more > k)
        extra_acc.append(account[take])
        extra_ser.append((series[take] + offsets[take, k]) % n_series)
        extra_lots.append(lots[take])
    return np.concatenate(extra_acc), np.concatenate(extra_ser), np.concatenate(extra_lots)


def add_options(market, scenario, seed: int):
    """``market`` (a :class:`delever.engine.market.MultiMarket`) with the ``[options]`` series as extra
    instruments and the option holders' positions (module docstring). A pure function of (scenario, seed).

    Raises:
        InputError: a series expiring at or before the start of the price window, or a book whose figures
            overflow int64.
    """
    cfg = scenario.options
    base, b = market.base, market.book
    paths = option_paths(cfg, scenario, base.path, base.instrument)
    series = paths.series
    inverse = cfg.settlement == "inverse"
    n_series = len(series)
    tick, lot = float(cfg.tick_size), float(cfg.lot_size)
    start_ticks = np.floor(paths.premium[0] / tick).astype(np.int64)
    insts = [
        Instrument(
            s.symbol,
            cfg.tick_size,
            cfg.lot_size,
            option_tiers(s.symbol),
            kind="option",
            base=base.instrument.coin if inverse else base.instrument.base,
            quote=base.instrument.quote,
            expiry=s.expiry,
            strike=s.strike,
            option_type=s.kind,
        )  # fmt: skip
        for s in series
    ]
    first = len(market.instruments)
    spreads0 = half_spreads(cfg, paths, tick)[0] if base.path.steps else np.full(n_series, cfg.half_spread)
    curves = [spread_curve(float(h), cfg.depth_lots_per_pct) for h in spreads0]
    opt_paths = [
        PricePath(base.path.time_ns.copy(), paths.premium[:, k].copy(), f"Black-76 of {s.symbol} on {base.path.source}")
        for k, s in enumerate(series)
    ]
    rng = np.random.Generator(np.random.PCG64([seed, 16_000]))
    gen = scenario.book.generator
    first_position = b.first_position()
    trader_cross = np.flatnonzero(~b.exempt[b.account] & ~b.isolated & (b.instrument == 0))
    s0 = float(paths.forward[0])
    # the holders' futures in base units, long > 0 (an inverse contract's reciprocal size is the opposite of its
    # USD side, and its contracts are worth lot x cv / S0 base units at the start)
    base_lot = float(base.instrument.lot_size)
    if base.instrument.inverse:
        base_lot = -base_lot * float(base.instrument.contract_value) / s0
    perp = b.size[trader_cross] * np.sign(base_lot)
    calls = np.flatnonzero([s.kind == "call" for s in series])
    puts = np.flatnonzero([s.kind == "put" for s in series])
    acc, ser, size = [], [], []
    taken = np.zeros(b.n_accounts, dtype=bool)

    def hedged(mask, kinds, sign):  # writers of the same base quantity as their position on the instrument
        if kinds.size == 0:
            return
        holders = trader_cross[mask]
        lots = np.maximum(1, np.abs(b.size[first_position[holders]]) * abs(base_lot) // lot).astype(np.int64)
        acc.append(holders)
        ser.append(kinds[rng.integers(0, kinds.size, holders.size)])
        size.append(sign * lots)
        taken[holders] = True

    hedged((perp > 0) & (rng.random(trader_cross.size) < cfg.covered_call_fraction), calls, -1)
    hedged((perp < 0) & (rng.random(trader_cross.size) < cfg.hedged_put_fraction), puts, -1)
    for fraction, sign in ((cfg.naked_fraction, -1), (cfg.buyer_fraction, 1)):
        free = trader_cross[~taken[trader_cross]]
        holders = free[rng.random(free.size) < fraction]
        acc.append(holders)
        ser.append(rng.integers(0, n_series, holders.size))
        # the generator's notional is in the run's money: quote, or µcoin (1e6 a base unit of coin)
        size.append(sign * _draw_lots(rng, holders.size, gen, float(MICRO) if inverse else s0, lot))
        taken[holders] = True
    acc_a, ser_a, size_a = extra_series(rng, cfg.extra_series_fraction, n_series, np.concatenate(acc),
                                        np.concatenate(ser), np.concatenate(size))  # fmt: skip
    # deposits: margin_multiple x the standard IM (a buyer's IM under Deribit's rule is its premium; under OKX's
    # none, so a buyer deposits the premium it pays)
    table = SeriesTable.from_options(series, datetime.fromtimestamp(int(base.path.time_ns[0]) / 1e9, UTC))
    mark_unit = settlement_marks(cfg, start_ticks[ser_a])
    im, _ = position_margin_money(table, ser_a, size_a, s0, mark_unit, margin_rates(cfg),
                                  money_scale=premium_unit_money(cfg))  # fmt: skip
    premium_paid = np.where(size_a > 0, size_a * start_ticks[ser_a] * insts[0].value_per_lot_tick, 0)
    deposit = np.ceil(np.maximum(im, premium_paid) * cfg.margin_multiple).astype(np.int64)
    wallet = b.wallet.copy()
    np.add.at(wallet, acc_a, deposit)
    lp_accounts = np.flatnonzero(b.exempt)
    cols = {
        f.name: [getattr(b, f.name)] for f in dataclasses.fields(b) if f.name not in ("wallet", "exempt", "protected")
    }
    t0 = int(base.path.time_ns[0])
    for k in range(n_series):
        mine = ser_a == k
        holders, sz = acc_a[mine], size_a[mine]
        net = int(sz.sum())
        lp_size = lp_sizes(net, lp_accounts.size)
        a = np.concatenate([holders, lp_accounts])
        s = np.concatenate([sz, lp_size])
        cols["account"].append(a)
        cols["instrument"].append(np.full(a.size, first + k, dtype=np.int64))
        cols["size"].append(s)
        cols["cost"].append(s * int(start_ticks[k]) * insts[k].value_per_lot_tick)
        cols["collateral"].append(np.zeros(a.size, dtype=np.int64))
        cols["isolated"].append(np.zeros(a.size, dtype=bool))
        cols["entry_leverage"].append(np.zeros(a.size))
        cols["opened_ns"].append(np.full(a.size, t0, dtype=np.int64))
    book = Book.from_arrays(
        wallet=wallet, exempt=b.exempt, protected=b.protected, **{k: np.concatenate(v) for k, v in cols.items()}
    )
    instruments = list(market.instruments) + insts
    centres = list(market.centres) + [p.index for p in opt_paths]
    funds = list(market.funds) + [money(cfg.insurance_fund)] * n_series
    tops = [2 * int(np.ceil(float(c.max()) / float(i.tick_size))) + 1 for c, i in zip(centres, instruments)]
    check_int64_headroom(book, [i.value_per_lot_tick for i in instruments], tops, funds, source="book.generator",
                         field="notional_median")  # fmt: skip
    return dataclasses.replace(
        market,
        instruments=instruments,
        paths=list(market.paths) + opt_paths,
        curves=list(market.curves) + curves,
        funds=funds,
        book=book,
        centres=centres,
        settlement_windows=list(market.settlement_windows) + [cfg.settlement_window_s] * n_series,
    )


def option_instruments(scenario, n_instruments: int) -> np.ndarray:
    """Instrument numbers of the ``[options]`` series in a run of ``n_instruments`` (they come last)."""
    n = 0 if scenario.options is None else len(scenario.options.series)
    return np.arange(n_instruments - n, n_instruments, dtype=np.int64)


__all__ = [
    "OptionPaths",
    "add_options",
    "extra_series",
    "half_spreads",
    "margin_rates",
    "option_instruments",
    "option_paths",
    "option_series",
    "option_tiers",
    "spread_curve",
]
