"""Option margin and the liquidation order of option accounts in the engine's step loop (issue #16, part 3).

The step loop's options mechanism (:mod:`delever.mechanisms.base`; built when a scenario has ``[options]``,
whose series are instruments of the run, :mod:`.engine_market`). What it adds to the one loop:

- **Margin** (phase 5', :meth:`OptionMargin.after_sweep`, after every margin sweep of the whole book): the
  venue's standard option margin (:mod:`.standard_margin`; Deribit's rates by default, OKX's on
  ``[options] margin = "okx"``), per lot and per side of every series at this step's underlying index ``S`` and
  the series' mark: ``mm_lot[side] = ceil(lot_size x requirement_per_unit(S, mark) x MONEY_SCALE)``, rounded up
  to a whole money unit (against the account, :func:`.money.ceil_money`), so a position's requirement is
  exactly ``|lots| x mm_lot[side]`` and an account's is an exact int64 sum. Deribit's long option: ``mm_lot =
  mark x V``, the lot's value at the mark, so a bought option lends no margin. The option tiers of the sweep are
  empty (:func:`.engine_market.option_tiers`), so the account's MM is its futures' tiered MM plus this sum;
  an account whose exact equity (futures and options at their marks) falls below it is listed with all its
  open positions, as the sweep lists a cross account.
- **Order** (phase 5a, :meth:`OptionMargin.take`): Deribit liquidates "futures first then options (towards
  delta-neutral), stops once MM < equity" (https://www.deribit.com/docs/auto-liquidation/, venues.md
  section 5). The engine closes a liquidatable account instrument by instrument in instrument order, and the
  options come after every future (:mod:`.engine_market`); before each instrument after the first, an
  account whose exact equity is back above its MM (with the option margin) keeps its remaining positions.
- **Towards delta-neutral** (phase 5a on an option instrument, :meth:`OptionMargin.take`, with
  :func:`delta_choice`): an account still under water when the step reaches its options closes **one**
  option position this step, the one whose close brings its portfolio delta closest to 0 (Deribit's "towards
  delta-neutral", venues.md section 5). Portfolio delta, base units: ``D = sum(futures lots x lot_size) +
  sum(option lots x lot_size x delta)`` over the account's open positions on the options' base, ``delta`` the
  Black-76 forward delta (:func:`.black76.black76_delta`) at this step's underlying index and the series'
  implied vol and time to expiry (:mod:`.engine_market`'s paths). With inverse (coin-settled) series the delta
  is Deribit's "DeltaTotal" in BTC, which leaves out the equity: an option's Black-76 delta less its premium in
  coin ("If you buy a call option with delta 0.50 for 0.10 BTC, your DeltaTotal will increase with 0.40",
  Deribit's FAQ as quoted in https://greekslive.medium.com/bitcoin-options-premium-and-its-delta-d6674cc519e5
  [3P]), a future's its size in BTC, ``USD contracts x cv / S`` (:func:`base_units_per_lot`); closing option
  position ``r`` leaves
  ``|D - d_r|``. Among the positions with ``|D - d_r| < |D|`` the smallest wins (ties: the larger underlying
  notional ``|lots| x lot_size``, then the lower instrument); if none reduces ``|D|`` (the account is
  delta-neutral already, or every close adds delta) the one that frees the most option margin wins (ties:
  the lower instrument). The choice is made once per account and step, when the account first reaches an
  option instrument (after its futures' close). Its other option positions wait for the next step, where
  the account is listed again if still under water (and keeps them if healthy). Approximation: Deribit
  closes in slices, which are not modelled; one whole option position per account per step stands for
  them, and Deribit's incremental slices of futures are not modelled either. A chosen position on a series
  halted this step waits with the others.
- **Books** (phase 2, :meth:`OptionMargin.before_marks`): each series' book has this step's half-spread,
  which widens with its implied vol (:func:`.engine_market.half_spreads`).

The rest is the engine's, per series as per any instrument: the liquidation stage closes an option position
against its book at the account's bankruptcy price; what a fill leaves below bankruptcy the insurance fund pays
(one fund per series, or the scenario's shared fund: Deribit's one fund per currency); when the fund is short,
ADL on the series (OKX: "ADL applies to perpetuals, expiry futures, options", venues.md section 4), or with
``[mechanisms.socialized_loss]`` on, Deribit's socialized loss (venues.md section 5), which replaces ADL. Money
moves only through the stage, so the engine's conservation check covers options.

Limits (refused by :func:`delever.config.options.options_problem`): the rules that read a position's own MM
inside the compiled stage (partial and incremental liquidation, MM-share backing, the IOC orders' limits, the
backstop) would not see the option margin.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from ..config.options import options_problem
from ..errors import InputError
from ..mechanisms.base import Batch, Mechanism
from .black76 import black76_delta
from .engine_market import (
    half_spreads,
    margin_rates,
    option_instruments,
    option_paths,
    premium_unit_money,
    settlement_marks,
    spread_curve,
)
from .money import ceil_money
from .series import CALL, SeriesTable
from .standard_margin import requirement_per_unit

SCREEN_GUARD = 1_024
"""Money units beyond the sweep's float screen of an account's MM (off by at most its position count plus a
relative 1e-9, :func:`delever.sweep.margin_sweep`) within which the option margin decides the account exactly."""

ACCOUNT_TYPES = ("futures only", "covered call writer", "hedged put writer", "naked writer", "option buyer")
"""Account types of an option run (:func:`account_types`)."""


def account_types(
    book, first_option: int, is_call: np.ndarray, base_instrument: int = 0, base_side: int = 1
) -> np.ndarray:
    """Type of every account (index into :data:`ACCOUNT_TYPES`) from its positions: a writer of a call with a
    long position on ``base_instrument`` is a covered call writer, of a put with a short one a hedged put
    writer, any other writer a naked writer; an account holding only bought options a buyer; else futures only
    (liquidity providers included). ``base_side``: -1 when ``base_instrument`` is an inverse contract, whose
    engine size is the opposite of its USD side (:mod:`delever.inverse`). int64 (accounts,)."""
    types = np.zeros(book.n_accounts, dtype=np.int64)
    held = book.size != 0
    base = np.zeros(book.n_accounts, dtype=np.int64)
    on_base = held & (book.instrument == base_instrument)
    base[book.account[on_base]] = np.sign(book.size[on_base]) * base_side
    opt = held & (book.instrument >= first_option)
    call = np.zeros(book.size.shape[0], dtype=bool)
    call[opt] = is_call[book.instrument[opt] - first_option]
    short = opt & (book.size < 0)
    buyers = np.unique(book.account[opt & (book.size > 0)])
    types[buyers] = 4
    naked = np.unique(book.account[short])
    types[naked] = 3
    covered = short & call & (base[book.account] > 0)
    hedged = short & ~call & (base[book.account] < 0)
    types[book.account[covered]] = 1
    types[book.account[hedged]] = 2
    types[book.exempt] = 0
    return types


def delta_choice(account, row, instrument, lots, delta, futures_delta, freed_margin) -> np.ndarray:
    """The option position each account closes this step (module docstring, "Towards delta-neutral"; Deribit,
    venues.md section 5, https://www.deribit.com/docs/auto-liquidation/).

    Args: per open option position, all of length n: ``account``, ``row`` (book row), ``instrument`` int64,
    ``lots`` int64 signed size, ``delta`` float64 its delta in base units (``lots x lot_size x`` Black-76
    delta), ``freed_margin`` int64 its option MM (money); ``futures_delta`` float64 (accounts,) each account's
    futures delta in base units.

    Returns: int64, one book row per account present in ``account``: the position whose close leaves the
    smallest ``|D - d|`` among those with ``|D - d| < |D|`` (``D`` the account's futures delta plus all its
    options' ``delta``; ties: larger ``|lots|``, then lower instrument), else the one with the largest
    ``freed_margin`` (ties: lower instrument).
    """
    if row.size == 0:
        return row.copy()
    total = futures_delta.copy()
    np.add.at(total, account, delta)
    before = np.abs(total[account])
    after = np.abs(total[account] - delta)
    reduces = after < before
    key = np.where(reduces, after, -freed_margin.astype(np.float64))
    size_key = np.where(reduces, -np.abs(lots), 0)
    order = np.lexsort((instrument, size_key, key, ~reduces, account))
    first = np.ones(order.size, dtype=bool)
    first[1:] = account[order][1:] != account[order][:-1]
    return row[order[first]]


def underlying_of(inst) -> str:
    """What an instrument's delta is counted in: its base, or an inverse contract's coin (:mod:`delever.inverse`)."""
    return inst.coin if inst.inverse else inst.base


def base_units_per_lot(inst, index: float) -> float:
    """Delta of one engine lot of a future in base units at ``index`` (quote per base unit): its lot size, or for an
    inverse contract ``-lot x cv / index`` (a reciprocal lot is the opposite side, worth ``cv / index`` coin a
    contract: the BTC an inverse position stands for)."""
    if inst.inverse:
        return -float(inst.lot_size) * float(inst.contract_value) / index
    return float(inst.lot_size)


class OptionMargin(Mechanism):
    """The options mechanism (module docstring). Figures (summary.json ``mechanisms.options``; money in micro-units,
    as the per-instrument figures): per account type, the accounts, their exact equity and futures MM at the start,
    their option MM at the start and at its peak over the run's sweeps, and the accounts liquidated."""

    name = "options"
    per_step = True

    @classmethod
    def from_scenario(cls, scenario) -> OptionMargin | None:
        """The mechanism of a scenario with ``[options]``, else None.

        Raises:
            InputError: the scenario turns on a rule the option margin cannot serve
                (:func:`delever.config.options.options_problem`; checked here too, since a venue's rulebook,
                ``delever run --venue``, may turn one on after the scenario file was validated).
        """
        if scenario.options is None:
            return None
        problem = options_problem(scenario)
        if problem is not None:
            raise InputError(problem[1], field=".".join(problem[0]))
        return cls(scenario)

    def __init__(self, scenario) -> None:
        self.cfg = scenario.options
        self.rates = margin_rates(self.cfg)
        self.t = 0

    def setup(self, sim) -> None:
        cfg, b = self.cfg, sim.book
        self.instruments = option_instruments(sim.scenario, sim.M)
        self.first = int(self.instruments[0])
        paths = option_paths(cfg, sim.scenario, sim.paths[0], sim.insts[0])
        self.spreads = half_spreads(cfg, paths, float(cfg.tick_size))
        self.vol, self.years = paths.vol, paths.years
        self.index = paths.forward  # the underlying's index in quote per base unit (an inverse one's P, not cv / P)
        self.inverse = cfg.settlement == "inverse"
        t0 = datetime.fromtimestamp(int(sim.time_ns[0]) / 1e9, UTC) if sim.T else paths.series[0].expiry
        self.table = SeriesTable.from_options(paths.series, t0)
        self.series_all = np.arange(len(paths.series), dtype=np.int64)
        # money per lot per settlement-currency unit of requirement (quote; coin for inverse series)
        self.unit_money = float(cfg.lot_size) * premium_unit_money(cfg)
        rows = (b.instrument >= self.first) & ~b.exempt[b.account]
        self.positions = np.flatnonzero(rows)  # the traders' option rows (rows never change account or series)
        self.series_of = b.instrument[self.positions] - self.first
        self.accounts_of = b.account[self.positions]
        self.holders = np.unique(self.accounts_of)
        # one position of each holder: sweep.account_health values its whole account from any of its positions
        rep = np.full(b.n_accounts, -1, dtype=np.int64)
        rep[self.accounts_of[::-1]] = self.positions[::-1]
        self.rep = rep
        self.types = account_types(b, self.first, self.table.kind[self.series_all] == CALL,
                                   base_side=-1 if sim.insts[0].inverse else 1)  # fmt: skip
        n_types = len(ACCOUNT_TYPES)
        self.peak_mm = np.zeros(n_types, dtype=np.int64)
        self.start_mm: np.ndarray | None = None
        self.start_books = np.zeros((2, n_types), dtype=np.int64)  # per type: equity and futures MM at the start
        self.liquidated = np.zeros(b.n_accounts, dtype=bool)
        self.kept_positions = 0  # option positions an account kept once its futures' close made it healthy
        self.waiting_positions = 0  # option positions of an under-water account left for a later step
        # the traders' futures rows on the options' base (their lots are delta, lot_size base units each)
        base = sim.insts[self.first].base
        same_base = np.array([underlying_of(i) == base and i.kind != "option" for i in sim.insts[: self.first]])
        futures = (b.instrument < self.first) & ~b.exempt[b.account]
        futures[futures] = same_base[b.instrument[futures]]
        self.future_rows = np.flatnonzero(futures)
        self.future_insts = sim.insts[: self.first]
        self.chosen = np.full(b.n_accounts, -1, dtype=np.int64)  # each account's option row closed this step
        self.chosen_step = -1

    # -- margin ------------------------------------------------------------------------------------------
    def lot_margins(self, sim) -> tuple[np.ndarray, np.ndarray]:
        """``(long, short)`` int64 (n_series,): maintenance margin of one lot of each series (money, rounded up)
        at this step's index and the series' marks (module docstring); 0 for a settled series (no position left)."""
        s = float(self.index[self.t])
        mark = settlement_marks(self.cfg, sim.marks[self.instruments])
        n = self.series_all.size
        _, mm_long = requirement_per_unit(self.table, self.series_all, s, mark, np.zeros(n, bool), self.rates)
        _, mm_short = requirement_per_unit(self.table, self.series_all, s, mark, np.ones(n, bool), self.rates)
        settled = np.array([sim.settled[int(m)] is not None for m in self.instruments], dtype=bool)
        long_lot, short_lot = ceil_money(mm_long * self.unit_money), ceil_money(mm_short * self.unit_money)
        return np.where(settled, 0, long_lot), np.where(settled, 0, short_lot)

    def option_mm(self, sim) -> tuple[np.ndarray, np.ndarray]:
        """Option maintenance margin as the book stands now, exact: int64 (accounts,) per account and int64
        (len(positions),) per trader option row (``|lots| x mm_lot[side]``)."""
        long_lot, short_lot = self.lot_margins(sim)
        size = sim.book.size[self.positions]
        per_position = np.abs(size) * np.where(size < 0, short_lot[self.series_of], long_lot[self.series_of])
        out = np.zeros(sim.book.n_accounts, dtype=np.int64)
        np.add.at(out, self.accounts_of, per_position)
        return out, per_position

    def after_sweep(self, sim, out: np.ndarray, count: int) -> int:
        """Phase 5': add the option margin to the sweep's account MM (``sim.acc_mm``) and list every open
        position of an account the option margin makes liquidatable; returns the new count."""
        b = sim.book
        opt_mm, per_position = self.option_mm(sim)
        sim.pos_mm[self.positions] = per_position
        listed = np.zeros(b.n_accounts, dtype=bool)
        listed[b.account[out[:count]]] = True
        # the sweep's MM of an account it did not list is a float screen within a few units (delever.sweep); an
        # account whose exact equity clears that screen plus its option MM by SCREEN_GUARD is not liquidatable, the
        # others are decided exactly (sweep.account_health: exact equity and futures MM)
        others = self.holders[~listed[self.holders]]
        screened = sim.acc_mm[others] + opt_mm[others]
        sim.acc_mm[others] = screened
        guard = SCREEN_GUARD + 1e-9 * np.abs(screened.astype(np.float64))
        close = others[(sim.acc_eq[others] - screened).astype(np.float64) <= guard]
        if close.size:
            equity, mm, _ = sim.account_margins(self.rep[close])
            sim.acc_mm[close] = mm + opt_mm[close]
            fresh = close[equity < sim.acc_mm[close]]
        else:
            fresh = close
        done = self.holders[listed[self.holders]]
        sim.acc_mm[done] += opt_mm[done]
        n_types = len(ACCOUNT_TYPES)
        by_type = np.zeros(n_types, dtype=np.int64)
        np.add.at(by_type, self.types[self.holders], opt_mm[self.holders])
        if self.start_mm is None:
            self.start_mm = by_type
            self.start_books = self.account_figures(sim)
        np.maximum(self.peak_mm, by_type, out=self.peak_mm)
        if fresh.size == 0:
            return count
        new = np.zeros(b.n_accounts, dtype=bool)
        new[fresh] = True
        more = np.flatnonzero(new[b.account] & (b.size != 0) & ~b.isolated)
        out[count : count + more.size] = more
        return count + more.size

    def account_figures(self, sim) -> np.ndarray:
        """int64 (2, types): the exact equity and futures MM of every trader account (an isolated account: its
        position's margin and MM), summed per account type."""
        b = sim.book
        first = np.full(b.n_accounts, -1, dtype=np.int64)
        first[b.account[::-1]] = np.arange(b.n_positions - 1, -1, -1)
        traders = np.flatnonzero((first >= 0) & ~b.exempt)
        equity, mm, _ = sim.account_margins(first[traders])
        out = np.zeros((2, len(ACCOUNT_TYPES)), dtype=np.int64)
        np.add.at(out[0], self.types[traders], equity)
        np.add.at(out[1], self.types[traders], mm)
        return out

    # -- the step ----------------------------------------------------------------------------------------
    def before_marks(self, sim, t: int, live: list[int]) -> None:
        """Phase 2: this step's option books (half-spread widening with the series' vol)."""
        self.t = t
        for k, m in enumerate(self.instruments):
            if int(m) in live:
                sim.curves[m] = spread_curve(float(self.spreads[t, k]), self.cfg.depth_lots_per_pct).arrays()

    def take(self, sim, batch: Batch) -> None:
        """Phase 5a: after the first instrument, an account back above its MM keeps its positions (Deribit's
        "stops once MM < equity"); on an option instrument, an account still under water keeps in the batch only
        its one option position of this step (towards delta-neutral; module docstring)."""
        if batch.m == 0 or not batch.order.size:
            return
        equity, mm, _ = sim.account_margins(batch.order)
        opt_mm, _ = self.option_mm(sim)
        under = equity < mm + opt_mm[sim.book.account[batch.order]]
        if batch.m >= self.first:
            self.kept_positions += int((~under).sum())
        batch.keep(under)
        if batch.m >= self.first and batch.order.size:
            self.keep_delta_choice(sim, batch)

    def keep_delta_choice(self, sim, batch: Batch) -> None:
        """Keep in an option batch only each account's chosen option position of this step (module docstring,
        "Towards delta-neutral"); the choice of an account is made the first time this step it reaches here."""
        if self.chosen_step != batch.t:
            self.chosen.fill(-1)
            self.chosen_step = batch.t
        accounts = sim.book.account[batch.order]
        new = np.unique(accounts[self.chosen[accounts] == -1])
        if new.size:
            self.choose(sim, new)
        keep = self.chosen[accounts] == batch.order
        self.waiting_positions += int((~keep).sum())
        batch.keep(keep)

    def choose(self, sim, accounts: np.ndarray) -> None:
        """Set ``chosen[a]`` for every account of ``accounts`` (int64, unique) from its open option positions as
        the book stands now (:func:`delta_choice`)."""
        b = sim.book
        mine = np.zeros(b.n_accounts, dtype=bool)
        mine[accounts] = True
        open_ = b.size[self.positions] != 0
        sel = mine[self.accounts_of] & open_
        rows, series, lots = self.positions[sel], self.series_of[sel], b.size[self.positions[sel]]
        fut = self.future_rows[mine[b.account[self.future_rows]]]
        s = float(self.index[self.t])
        futures_delta = np.zeros(b.n_accounts)
        base_per_lot = np.array([base_units_per_lot(i, s) for i in self.future_insts])
        np.add.at(futures_delta, b.account[fut], b.size[fut] * base_per_lot[b.instrument[fut]])
        lot = float(self.cfg.lot_size)
        delta = black76_delta(s, self.table.strike[series], self.vol[self.t, series], self.years[self.t, series],
                              self.table.kind[series] == CALL)  # fmt: skip
        if self.inverse:  # Deribit's DeltaTotal: Black-76's delta less the premium in coin (module docstring)
            delta = delta - settlement_marks(self.cfg, sim.marks[self.instruments[series]])
        per_lot = lot * delta
        _, freed = self.option_mm(sim)
        chosen = delta_choice(b.account[rows], rows, b.instrument[rows], lots, lots * per_lot, futures_delta,
                              freed[sel])  # fmt: skip
        self.chosen[accounts] = -2  # an account with no open option position closes none here
        self.chosen[b.account[chosen]] = chosen

    def after_stage(self, sim, batch: Batch) -> None:
        if batch.ran:
            self.liquidated[sim.book.account[batch.order]] = True

    def finish(self, sim, extra: dict) -> None:
        n_types = len(ACCOUNT_TYPES)
        accounts = np.bincount(self.types, minlength=n_types)
        liquidated = np.bincount(self.types[self.liquidated], minlength=n_types)
        start = self.start_mm if self.start_mm is not None else np.zeros(n_types, dtype=np.int64)
        extra[self.name] = {
            "margin": self.cfg.margin,
            "kept_option_positions": self.kept_positions,
            "waiting_option_positions": self.waiting_positions,
            "account_types": {
                name: {
                    "accounts": int(accounts[k]),
                    "equity_start": int(self.start_books[0, k]),
                    "futures_mm_start": int(self.start_books[1, k]),
                    "option_mm_start": int(start[k]),
                    "option_mm_peak": int(self.peak_mm[k]),
                    "liquidated_accounts": int(liquidated[k]),
                }
                for k, name in enumerate(ACCOUNT_TYPES)
            },
        }
