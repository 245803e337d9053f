"""Cross-margin contagion: several perpetuals, cross accounts holding positions on more than one, so that a loss
on one instrument liquidates positions on the others (issue #4, item 9).

Inputs (``[mechanisms.cross_margin]``, :class:`delever.scenario.CrossMarginConfig`): the scenario's instrument
(BTCUSDT on its real index path) and one or more extra perpetuals whose index paths follow a stated
correlation model, since ../shared/data holds no ETH or SOL path for 10 October 2025 (its ETH 10-minute data,
stablesims-eth-10m, covers 12 March 2020 and 19 May 2021 only): ``r = beta * (rho * r_index + sqrt(1 - rho^2)
* sigma_index * eps)`` per step, eps standard normal from the scenario seed. A fraction ``holders_fraction`` of
the cross trader accounts also opens a position on each extra instrument at its start price (side, notional and
leverage drawn as the generator draws them, cut with position limits on to what keeps the account's entry
notional over all its instruments within ``limits.max_account_notional``; the margin is added to the cross
wallet), and the liquidity-provider accounts take the opposite of the traders' net position there too.

This module prepares the market (:func:`prepare_multi`); the run is the engine's one step loop
(:class:`delever.engine.Simulation`, whose docstring says what each mechanism does per instrument). Each step:
every instrument's mark (:mod:`delever.mark`) from its own book (:mod:`delever.liquidity`, the
calibrated depth shape at ``depth_scale`` of its notional); one full margin sweep over all instruments
(:func:`delever.sweep.margin_sweep`: a cross account's equity and MM sum over its positions); every position of
a liquidatable account is closed, instrument by instrument, each in its own book with its own insurance fund
and its own ADL queue (ADL stays per instrument, as on Hyperliquid, where "ADL never crossed assets",
venues.md section 11). Order and size within an account: every position, whole, in the scenario's instrument
order (a stand-in: Binance first tries one large IOC order to bring the account back above maintenance and
dYdX liquidates by a per-position ratio, engines.md section 1; with partial liquidation on, each position is
sized by the partial rule of its own instrument's tiers).
A close's bankruptcy price follows the account (issue #11): the position is backed by
the wallet plus the uPnL of the account's other positions at their marks (Binance ``WB + UPNL1``,
:func:`delever.margin.cross_backing`), so closing it there leaves the account's equity at zero. A deficit left
while the account still holds positions on other instruments is carried to their closes, later in the same
step: the last close settles it with that instrument's fund and ADL queue - the contagion - and a solvent
account never receives fund money. A position liquidated while its own PnL was positive (it was taken down by
another instrument) is counted as a contagion liquidation.

Dated futures (issue #7): an extra instrument with ``kind = "dated_future"`` and ``index = "underlying"`` is a
future on the scenario's own underlying; its book is centred on the index plus a basis that shrinks to 0 at
expiry, calendar-spread accounts hold the opposite of their perpetual position on it, and at the first step at
or after its expiry it is settled (:func:`delever.settlement.final_settlement`) before that step's margin
sweep, after which its mark stays at the settlement price and it takes no further part in the run.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import numpy as np

from .book import Book, check_int64_headroom, lp_sizes
from .engine.market import MultiMarket, prepare
from .errors import InputError
from .instruments import Instrument
from .liquidity import DepthCurve
from .mechanisms import registry
from .prices import PricePath
from .scenario import CrossInstrumentConfig, Scenario, build_tiers
from .settlement import basis_left, check_expiry
from .units import money


def correlated_path(base: PricePath, cfg: CrossInstrumentConfig, rng: np.random.Generator) -> PricePath:
    """The extra instrument's index path from the base path's log returns (module docstring)."""
    r = np.diff(np.log(base.index))
    sigma = float(np.std(r)) if r.size else 0.0
    eps = rng.standard_normal(r.size)
    rho = cfg.correlation
    rx = cfg.beta * (rho * r + np.sqrt(max(1.0 - rho * rho, 0.0)) * sigma * eps)
    index = float(cfg.start_price) * np.exp(np.concatenate([[0.0], np.cumsum(rx)]))
    return PricePath(base.time_ns.copy(), index, f"correlated with {base.source} (beta {cfg.beta}, rho {rho})")


@dataclasses.dataclass
class ExtraInstrument:
    """One extra instrument of a multi-instrument run before its positions: the instrument, its index path, its
    book centre (quote, float64 (T,)), its start price (ticks) and the generator that drew its path (and draws
    its holders next, so that a run stays a pure function of (scenario, seed))."""

    inst: Instrument
    path: PricePath
    centre: np.ndarray
    start_ticks: int
    rng: np.random.Generator


def extra_instruments(scenario: Scenario, seed: int, base_inst: Instrument, base_path: PricePath
                      ) -> list[ExtraInstrument]:  # fmt: skip
    """The scenario's extra instruments (``mechanisms.cross_margin.instruments``) with their paths (module
    docstring). Raises InputError when a dated future expires before the path starts."""
    out = []
    t0 = int(base_path.time_ns[0])
    for k, cfg in enumerate(scenario.mechanisms.cross_margin.instruments, start=1):
        rng = np.random.Generator(np.random.PCG64([seed, k]))
        tiers = scenario.margin.tiers(build_tiers(f"{cfg.symbol}-scenario", cfg.tiers))
        underlying = base_inst.base if cfg.index == "underlying" else cfg.symbol.replace("USDT", "")
        inst = Instrument(cfg.symbol, cfg.tick_size, cfg.lot_size, tiers, kind=cfg.kind, base=underlying,
                          expiry=cfg.expiry)  # fmt: skip
        if cfg.index == "underlying":
            path = PricePath(base_path.time_ns.copy(), base_path.index.copy(), f"{base_path.source} (same underlying)")
        else:
            path = correlated_path(base_path, cfg, rng)
        centre = path.index * (1.0 + cfg.basis_pct / 100.0 * basis_left(path.time_ns, inst))
        check_expiry(inst, t0, f"mechanisms.cross_margin.instruments[{k - 1}].expiry")
        start_ticks = inst.price_to_ticks(Decimal(repr(float(centre[0]))), rounding="floor")
        out.append(ExtraInstrument(inst, path, centre, start_ticks, rng))
    return out


def prepare_multi(scenario: Scenario, seed: int) -> MultiMarket:
    """Build the base market and add each extra instrument's path, depth and positions.

    A generated book gets its extra positions here (module docstring); a book file (:mod:`delever.bookio`)
    gives every position itself, on any of the scenario's instruments (its ``instrument`` column), and the
    liquidity providers close it on each."""
    extras: list[ExtraInstrument] = []

    def instruments_for(base_inst: Instrument, base_path: PricePath) -> tuple[list[Instrument], list[int]]:
        extras.extend(extra_instruments(scenario, seed, base_inst, base_path))
        return [e.inst for e in extras], [e.start_ticks for e in extras]

    base = prepare(scenario, seed, extra_instruments=instruments_for)
    if not extras:  # a generated book: prepare did not ask
        extras = extra_instruments(scenario, seed, base.instrument, base.path)
    if extras and base.instrument.inverse:  # their paths and books are in the quote; an inverse run's money is coin
        raise InputError("an inverse contract runs without other futures in cross margin (its option series may "
                         "be inverse: [options] settlement)", field="mechanisms.cross_margin")  # fmt: skip
    from_file = scenario.book.generator is None
    cm = scenario.mechanisms.cross_margin
    gen = scenario.book.generator
    instruments, paths, curves = [base.instrument], [base.path], [base.curve]
    centres, windows = [base.path.index], [scenario.instrument.settlement_window_s]
    funds = [money(scenario.insurance_fund.balance)]
    b = base.book
    cols = {
        f.name: [getattr(b, f.name)] for f in dataclasses.fields(b) if f.name not in ("wallet", "exempt", "protected")
    }
    wallet = b.wallet.copy()
    trader_cross = np.flatnonzero(~b.exempt[b.account] & ~b.isolated & (b.instrument == 0))
    lp_accounts = np.flatnonzero(b.exempt)
    first_position = b.first_position()
    base_start = float(base.path.index[0])
    cap = registry.book_rules(scenario).max_account_notional  # position limits (the mechanisms' book phase)
    cap = None if cap is None else money(cap)
    used = np.zeros(b.n_accounts, dtype=np.int64)  # each account's entry notional so far (limits)
    np.add.at(used, b.account, np.abs(b.cost))
    t0 = int(base.path.time_ns[0])
    for k, (cfg, x) in enumerate(zip(cm.instruments, extras), start=1):
        inst, path, centre, start_ticks, rng = x.inst, x.path, x.centre, x.start_ticks, x.rng
        tiers = inst.tiers
        start_price = float(centre[0])
        profile = dataclasses.replace(
            base.depth,
            bid_base=base.depth.bid_base * base_start / start_price,
            ask_base=base.depth.ask_base * base_start / start_price,
        )
        curve = DepthCurve.from_profile(profile, inst, cfg.depth_scale)
        instruments.append(inst)
        paths.append(path)
        centres.append(centre)
        curves.append(curve)
        funds.append(money(cfg.insurance_fund))
        windows.append(cfg.settlement_window_s)
        if from_file:
            continue  # the file gave this instrument's positions
        held = rng.random(trader_cross.size) < cfg.holders_fraction
        holders = trader_cross[held]
        side = np.where(rng.random(holders.size) < 0.5, 1, -1)
        median = float(gen.notional_median) if gen else 5_000.0
        sig = gen.notional_sigma if gen else 1.5
        notional_q = median * np.exp(rng.normal(0.0, sig, holders.size))
        v = inst.value_per_lot_tick
        lots = np.maximum(1, np.rint(notional_q / (start_ticks * float(inst.tick_size) * float(inst.lot_size)))).astype(
            np.int64
        )
        size = side * lots
        if cfg.spread_fraction > 0:  # calendar spreads: the opposite of the account's first position
            rest = trader_cross[~held]
            spreaders = rest[rng.random(rest.size) < cfg.spread_fraction]
            base_size = b.size[first_position[spreaders]]
            ratio = Fraction(base.instrument.lot_size) / Fraction(cfg.lot_size)  # the same base quantity
            spread_lots = np.maximum(1, np.abs(base_size) * ratio.numerator // ratio.denominator)
            holders = np.concatenate([holders, spreaders])
            size = np.concatenate([size, -np.sign(base_size) * spread_lots])
            lots = np.abs(size)
        if cap is not None:  # position limits: the account's entry notional over all its instruments <= the cap
            unit = start_ticks * v
            room = np.maximum(cap - used[holders], 0) // unit
            lots = np.minimum(lots, room)
            kept = lots > 0
            holders, lots, size = holders[kept], lots[kept], np.sign(size[kept]) * lots[kept]
            np.add.at(used, holders, lots * unit)
        lev = np.maximum(b.entry_leverage[first_position[holders]], 1.0)
        max_lev = float(max(t.max_leverage for t in tiers.tiers))
        lev = np.minimum(lev, max_lev)
        margin = np.ceil(lots * start_ticks * v / lev).astype(np.int64)
        np.add.at(wallet, holders, margin)  # the extra position's margin, deposited into the cross wallet
        net = int(size.sum())
        lp_size = lp_sizes(net, lp_accounts.size)
        acc = np.concatenate([holders, lp_accounts])
        sz = np.concatenate([size, lp_size])
        cols["account"].append(acc)
        cols["instrument"].append(np.full(acc.size, k, dtype=np.int64))
        cols["size"].append(sz)
        cols["cost"].append(sz * start_ticks * v)
        cols["collateral"].append(np.zeros(acc.size, dtype=np.int64))
        cols["isolated"].append(np.zeros(acc.size, dtype=bool))
        cols["entry_leverage"].append(np.concatenate([lev, np.zeros(lp_accounts.size)]))
        cols["opened_ns"].append(np.full(acc.size, t0, dtype=np.int64))
    book = Book.from_arrays(
        wallet=wallet, exempt=b.exempt, protected=b.protected, **{k: np.concatenate(v) for k, v in cols.items()}
    )
    # every instrument at twice its path's highest price (as :func:`delever.engine.prepare`)
    tops = [2 * int(np.ceil(float(c.max()) / float(i.tick_size))) + 1 for c, i in zip(centres, instruments)]
    source, field = (str(scenario.book.file), "size") if from_file else ("book.generator", "notional_median")
    check_int64_headroom(book, [i.value_per_lot_tick for i in instruments], tops, funds, source=source,
                         field=field)  # fmt: skip
    market = MultiMarket(base, instruments, paths, curves, funds, book, centres, windows)
    if scenario.options is None:
        return market
    from .options.engine_market import add_options  # option series come after every future (issue #16)

    return add_options(market, scenario, seed)
