"""A book of Hyperliquid BTC positions at 10 October 2025 21:15 UTC, built from the public reconstruction of the
day's fills, and the day's real stylised facts to put beside a replay's (issue #12, item 3).

Inputs (packaged in ``delever/data/hyperliquid_btc_20251010``; provenance in its SOURCE.md):

- ``positions_btc.csv``: one row per account that traded BTC in 21:15-21:27 (the BTC rows of
  ../shared/data/hyperliquid-oct10-positions): ``side`` (from the start position), ``position_size`` *after*
  the window, ``was_liquidated``, ``was_adl``, ``realized_pnl`` (closed PnL in the window, USD),
  ``had_pre_existing_position``. It lacks, for most rows, the size at the start, the entry price, the
  collateral and the margin mode.
- ``adl_by_user_btc.csv``: those rows of ../shared/data/hyperliquid-oct10-adl ``adl_by_user_REALTIME.csv``
  whose account was ADL'd on BTC: ``adl_notional`` (USD, all coins) and ``account_value_realtime`` (cash-only
  balance at ADL time).
- ``liq_and_adl_by_ticker_12min.csv`` (BTC row: liquidated notional) and ``adl_net_volume_full_12min.csv`` (BTC
  row: average ADL price).

Every gap is filled by a stated assumption (:class:`~delever.scenario.HyperliquidBookConfig` holds the
values, :func:`book_inputs` lists them in the report's Inputs section):

1. **Who is in the book**: accounts with a position before 21:15 (``had_pre_existing_position``); positions
   opened inside the window are left out (they were not in the book at the start), and so are positions their
   owners closed in the window without being liquidated or ADL'd (their size is not in the file, and the engine
   has no voluntary trades).
2. **Size at the start**: ADL'd positions: the account's ADL notional over the BTC average ADL price, plus the
   size left after the window (the ADL notional covers all coins an account was ADL'd on: the overcount is
   shown in the Inputs section). Liquidated positions: BTC's liquidated notional shared out in proportion to
   each position's realised loss (``|realized_pnl|``, i.e. a common leverage), over the first index price,
   plus the size left after the window. Others: the size after the window.
3. **Entry price**: the run's first index price for every position (the file has none for pre-existing
   positions), so nobody starts with unrealised PnL.
4. **Collateral**: cross margin for all (Hyperliquid's default; the file has no margin mode). ADL'd accounts:
   their cash-only account value at ADL time, at least the initial margin at the coin's max leverage.
   Liquidated: notional / ``liquidated_leverage``. Others: notional / ``survivor_leverage``.

The replay runs Hyperliquid's ADL trigger (an account value below zero) and fill price (the previous mark) when
its scenario selects them (``[adl] trigger``/``fill``, :mod:`delever.adl.trigger`); the report states the rule
that ran beside Hyperliquid's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np

from .book import Book, lp_sizes
from .errors import InputError
from .hyperliquid_facts import RealFact, adl_rule_text, comparison_rows, real_facts, replay_comparison
from .hyperliquid_files import PositionRow, read_adl_users, read_positions, ticker_value
from .instruments import Instrument
from .units import MONEY_SCALE, money

# The file readers and the real facts live in their own modules; named here too, as the replay's API.
__all__ = [
    "GROUPS",
    "BookPlan",
    "PositionRow",
    "RealFact",
    "adl_rule_text",
    "book_inputs",
    "build_book",
    "comparison_rows",
    "plan_book",
    "read_adl_users",
    "read_positions",
    "real_facts",
    "replay_comparison",
    "ticker_value",
]


GROUPS = ("adl", "liquidated", "survivor")
"""The three groups of the book: ADL'd, liquidated (not ADL'd), neither (still open after the window)."""


@dataclass(frozen=True)
class BookPlan:
    """The book before it becomes lots and money: per position (P,) the account label, side, size at the start
    (base, float64), collateral (USD, float64) and group (index into :data:`GROUPS`); ``counts`` of the file's
    rows by what happened to them; ``adl_notional_used`` (USD): the ADL notional the ADL'd sizes came from."""

    labels: list[str]
    long: np.ndarray
    size: np.ndarray
    collateral: np.ndarray
    group: np.ndarray
    counts: dict[str, int]
    adl_notional_used: float


def plan_book(
    rows: list[PositionRow],
    adl_users: dict[str, tuple[Decimal, Decimal]],
    liquidated_notional: Decimal,
    adl_price: Decimal,
    start_price: float,
    liquidated_leverage: float,
    survivor_leverage: float,
    max_leverage: float,
    lot_size: Decimal,
) -> BookPlan:
    """Apply the module docstring's assumptions 1, 2 and 4 to the rows (assumption 3, the entry price, is
    applied by :func:`build_book`).

    Raises:
        InputError: an ADL'd row whose account is not in ``adl_users`` (field ``user``).
    """
    counts = {
        "rows": len(rows),
        "pre_existing": sum(r.pre_existing for r in rows),
        "opened_in_window": sum(not r.pre_existing for r in rows),
        "liquidated": sum(r.liquidated for r in rows),
        "adl": sum(r.adl for r in rows),
        "liquidated_and_adl": sum(r.liquidated and r.adl for r in rows),
    }
    # the file's sizes carry float dust (8e-17 BTC): a size under one lot is a closed position
    kept = [r for r in rows if r.pre_existing and (r.adl or r.liquidated or r.size_after >= lot_size)]
    counts["closed_by_owner_left_out"] = sum(
        r.pre_existing and not (r.adl or r.liquidated) and r.size_after < lot_size for r in rows
    )
    group = np.array([0 if r.adl else 1 if r.liquidated else 2 for r in kept], dtype=np.int64)
    after = np.array([float(r.size_after) for r in kept])
    size = after.copy()
    collateral = np.zeros(len(kept))
    adl_used = 0.0
    for i, r in enumerate(kept):
        if r.adl:
            if r.user not in adl_users:
                raise InputError("an ADL'd account without an ADL row", field="user", row=None)
            notional, value = adl_users[r.user]
            adl_used += float(notional)
            size[i] += float(notional / adl_price)
            collateral[i] = max(float(value), size[i] * start_price / max_leverage)
    liq = group == 1
    loss = np.array([abs(float(r.realized_pnl)) for r in kept])
    if liq.any() and loss[liq].sum() > 0:
        size[liq] += float(liquidated_notional) * loss[liq] / loss[liq].sum() / start_price
    collateral[liq] = size[liq] * start_price / liquidated_leverage
    collateral[group == 2] = size[group == 2] * start_price / survivor_leverage
    for g, name in enumerate(GROUPS):
        counts[f"book_{name}"] = int((group == g).sum())
    return BookPlan(
        [r.user for r in kept],
        np.array([r.long for r in kept], dtype=bool),
        size,
        collateral,
        group,
        counts,
        adl_used,
    )


def _inputs(scenario):
    cfg = scenario.book.hyperliquid
    coin = cfg.coin
    rows = read_positions(scenario.resolve(cfg.positions_file), coin)
    adl_users = read_adl_users(scenario.resolve(cfg.adl_users_file))
    liq_notional = ticker_value(scenario.resolve(cfg.tickers_file), "ticker", coin, "liq_notional")
    adl_price = ticker_value(scenario.resolve(cfg.adl_volume_file), "ticker", coin, "avg_price")
    return cfg, rows, adl_users, liq_notional, adl_price


def build_book(
    scenario, inst: Instrument, start_price_ticks: int, lp_accounts: int, lp_wallet: Decimal, start_time_ns: int
) -> tuple[Book, list[str], BookPlan]:
    """The book of the module docstring for ``scenario`` (whose ``book.hyperliquid`` is set), closed by
    ``lp_accounts`` liquidity providers as :func:`delever.bookio.load_book` closes a book; returns ``(book,
    account labels, plan)``. Sizes are rounded to whole lots (half to even; positions of 0 lots are left out)
    and collateral down to a money unit (against the account).

    Raises:
        InputError: bad input files (file, row, field named).
    """
    cfg, rows, adl_users, liq_notional, adl_price = _inputs(scenario)
    start_price = float(start_price_ticks * inst.tick_size)
    max_lev = float(inst.tiers.max_leverage_for(0)) if inst.tiers.max_leverage_for(0) else 1.0
    plan = plan_book(rows, adl_users, liq_notional, adl_price, start_price, cfg.liquidated_leverage,
                     cfg.survivor_leverage, max_lev, inst.lot_size)  # fmt: skip
    lots = np.rint(plan.size / float(inst.lot_size)).astype(np.int64)
    keep = lots > 0
    lots = np.where(plan.long, lots, -lots)[keep]
    posted = np.array(
        [
            money(Decimal(repr(float(c))).quantize(Decimal(1) / MONEY_SCALE, rounding=ROUND_DOWN))
            for c in plan.collateral
        ]
    )[keep]
    labels = [u for u, k in zip(plan.labels, keep) if k]
    n = lots.size
    v = inst.value_per_lot_tick
    cost = lots * start_price_ticks * v  # entry = the first index price (assumption 3)
    net = int(lots.sum())
    lp_size = lp_sizes(net, lp_accounts)
    notional = np.abs(lots) * start_price_ticks * v
    lev = notional / np.maximum(posted, 1)
    book = Book.from_arrays(
        wallet=np.concatenate([posted, np.full(lp_accounts, money(lp_wallet))]),
        exempt=np.concatenate([np.zeros(n, dtype=bool), np.ones(lp_accounts, dtype=bool)]),
        account=np.arange(n + lp_accounts),
        size=np.concatenate([lots, lp_size]),
        cost=np.concatenate([cost, lp_size * start_price_ticks * v]),
        entry_leverage=np.concatenate([lev, np.zeros(lp_accounts)]),
        opened_ns=np.full(n + lp_accounts, int(start_time_ns), dtype=np.int64),
    )
    return book, labels + [f"lp-{j}" for j in range(lp_accounts)], plan


def book_inputs(scenario, start_price: float) -> list[dict]:
    """The report's Inputs rows for the Hyperliquid book: what is real, and each assumption with its value."""
    cfg, rows, adl_users, liq_notional, adl_price = _inputs(scenario)
    inst = scenario.instrument.build()
    max_lev = float(inst.tiers.max_leverage_for(0)) or 1.0
    plan = plan_book(rows, adl_users, liq_notional, adl_price, start_price, cfg.liquidated_leverage,
                     cfg.survivor_leverage, max_lev, inst.lot_size)  # fmt: skip
    c = plan.counts
    btc_adl = ticker_value(scenario.resolve(cfg.tickers_file), "ticker", cfg.coin, "adl_notional")
    return [
        {
            "name": "Book of positions",
            "kind": "real",
            "value": f"{c['book_adl']:,} ADL'd, {c['book_liquidated']:,} liquidated, {c['book_survivor']:,} other "
            f"{cfg.coin} positions (of {c['rows']:,} rows: {c['liquidated']:,} liquidated, {c['adl']:,} ADL'd, "
            f"{c['liquidated_and_adl']:,} both)",
            "source": f"{cfg.positions_file} (Hyperliquid fills of 21:15-21:27 UTC, ConejoCapital/HyperAnalyzeADL)",
        },
        {
            "name": "Price path (venue)",
            "kind": "assumed",
            "value": "Binance BTCUSDT's path of the day; Hyperliquid's BTC fell further (about 112,000 to 97,000 "
            "in 21:15-21:27 against Binance's low of 101,516.50)"
            + (f"; stretched to {scenario.prices.stretch_to_low:,}" if scenario.prices.stretch_to_low else ""),
            "source": "Hyperliquid's prices are not in the data (the fall is the positions repository's summary, "
            "hyperliquid_btc_20251010/SOURCE.md); prices.stretch_to_low deepens the path",
        },
        {
            "name": "Positions left out",
            "kind": "assumed",
            "value": f"{c['opened_in_window']:,} opened inside the window, {c['closed_by_owner_left_out']:,} closed "
            "by their owners in it",
            "source": "not in the book at 21:15 / size not in the file and no voluntary trades in the engine",
        },
        {
            "name": "Size at the start, ADL'd",
            "kind": "assumed",
            "value": f"account's ADL notional / {adl_price:,.2f} (BTC average ADL price) + size after; ADL "
            f"notional used {plan.adl_notional_used:,.0f} USD against BTC's {float(btc_adl):,.0f}",
            "source": f"{cfg.adl_users_file} (all coins of the account), {cfg.adl_volume_file}, {cfg.tickers_file}",
        },
        {
            "name": "Size at the start, liquidated",
            "kind": "assumed",
            "value": f"BTC's liquidated notional {float(liq_notional):,.0f} USD shared in proportion to each "
            f"position's realised loss, at {start_price:,.2f}, + size after",
            "source": f"{cfg.tickers_file} (liq_notional), {cfg.positions_file} (realized_pnl)",
        },
        {
            "name": "Entry price",
            "kind": "assumed",
            "value": f"{start_price:,.2f} for every position (the run's first index price)",
            "source": "the file has no entry price for pre-existing positions: nobody starts with unrealised PnL",
        },
        {
            "name": "Collateral and margin mode",
            "kind": "assumed",
            "value": f"cross for all; ADL'd: account value at ADL (at least notional / {max_lev:g}); liquidated: "
            f"notional / {cfg.liquidated_leverage:g}; others: notional / {cfg.survivor_leverage:g}",
            "source": f"{cfg.adl_users_file} (account_value_realtime); book.hyperliquid.liquidated_leverage and "
            "survivor_leverage (scenario values, reasons in the scenario file)",
        },
        {
            "name": "ADL trigger and fill price",
            "kind": "scenario value",
            "value": adl_rule_text(scenario.adl) + "; Hyperliquid's: an account value below zero, filled at the "
            "previous mark",
            "source": "adl.trigger and adl.fill (delever.adl.trigger); venues.md section 6",
        },
    ]
