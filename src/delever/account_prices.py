"""One account with several positions under a venue's rules, priced as the engine prices it (issue #11):
``delever position --position SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN] ...`` (:mod:`delever.cli.venues` renders
it). A position is cross (backed by the account's cross wallet) unless it names its own isolated margin.

For each isolated position, its own margin backs it and nothing else does (the engine's isolated rule,
../shared/specs/venues.md section 1, ``WB`` = the position's isolated wallet, no other position's uPnL or MM):

- liquidation price: the mark at which margin + uPnL first falls below its MM (:func:`delever.sweep.trigger_price`
  with the isolated margin as backing; the highest such price for a long, the lowest for a short);
- bankruptcy price: the price at which margin + uPnL is 0 (:func:`delever.margin.bankruptcy_price`, rounded up for
  a long and down for a short), where the liquidation stage closes it in ADL.

For each cross position, with the account's other cross positions held at their marks:

- liquidation price: the engine's trigger, the mark of this position's instrument at which the margin sweep
  (:func:`delever.sweep.margin_sweep`) first lists the account: the highest such price for a long, the lowest for a
  short (:func:`delever.sweep.trigger_price` with the position backed by the cross wallet plus the other positions'
  uPnL less their MM, Binance's ``WB - TMM1 + UPNL1``, ../shared/specs/venues.md section 1);
- bankruptcy price: the price at which the liquidation stage closes it in ADL
  (:func:`delever.margin.account_bankruptcy_price` under the venue's cross backing rule: Binance's whole account
  ``WB + UPNL1``, or dYdX v4's ``-DNNV - TNC x |DMMR| / TMMR``, engines.md section 1), rounded up for a long and down
  for a short;
- ADL score: what the venue's ADL queue ranks the position by when it is a winner (uPnL > 0 and account equity >
  0; :mod:`delever.adl.queue` under :meth:`delever.venues.base.Rulebook.engine_adl_policy`), with the account's
  equity; its place in the queue needs the other accounts of the book (none for dYdX's seeded rotation).

Positions are linear contracts with bracket tiers (the engine's instruments, :meth:`Rulebook.instrument`), one per
symbol (as a book file); sizes are signed base quantities (negative: short). The account's equity is its cross
wallet plus the cross positions' uPnL plus each isolated position's margin and uPnL; its maintenance margin the sum
over every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

from . import margin
from .adl.policies import get_policy
from .adl.queue import winners_of
from .book import Book
from .errors import InputError
from .columns import AccountValuation, BookCols
from .sweep import NEVER_LONG, NEVER_SHORT, account_health, trigger_price
from .tiers import tier_arrays
from .units import MONEY_SCALE


@dataclass(frozen=True)
class PositionSpec:
    """One ``SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN]`` argument: symbol, signed size (base units), entry and mark
    (quote; the mark defaults to the entry), and the isolated margin (settlement asset; None: a cross position)."""

    symbol: str
    size: Decimal
    entry: Decimal
    mark: Decimal
    isolated_margin: Decimal | None = None


ISOLATED = "isolated="


def parse_position(text: str) -> PositionSpec:
    """Parse ``SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN]`` (``BTCUSDT:-0.5@100000:98500``,
    ``ETHUSDT:2@4000:isolated=800``).

    Raises:
        InputError(field="position"): a malformed argument, a zero size, a price <= 0, an isolated margin < 0.
    """
    try:
        symbol, rest = text.split(":", 1)
        size_s, prices = rest.split("@", 1)
        parts = prices.split(":")
        margin_s = parts.pop()[len(ISOLATED) :] if parts[-1].startswith(ISOLATED) else None
        if len(parts) > 2:
            raise ValueError(text)
        entry_s, mark_s = parts[0], parts[1] if len(parts) == 2 else ""
        size, entry = Decimal(size_s), Decimal(entry_s)
        mark = Decimal(mark_s) if mark_s else entry
        isolated_margin = None if margin_s is None else Decimal(margin_s)
    except (ValueError, InvalidOperation):
        raise InputError(f"{text!r}: expected SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN], e.g. "
                         "BTCUSDT:-0.5@100000:98500", field="position") from None  # fmt: skip
    if not symbol or size == 0 or not size.is_finite():
        raise InputError(f"{text!r}: the size must be a non-zero number (negative: short)", field="position")
    if not (entry.is_finite() and mark.is_finite()) or entry <= 0 or mark <= 0:
        raise InputError(f"{text!r}: entry and mark must be > 0", field="position")
    if isolated_margin is not None and (not isolated_margin.is_finite() or isolated_margin < 0):
        raise InputError(f"{text!r}: the isolated margin must be >= 0", field="position")
    return PositionSpec(symbol, size, entry, mark, isolated_margin)


@dataclass(frozen=True)
class AccountPosition:
    """One position of the account as the engine sees it (prices in quote, money in the settlement asset)."""

    symbol: str
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    notional: Decimal
    unrealized_pnl: Decimal
    maintenance_margin: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal
    adl_score: float | None
    margin_mode: str = "cross"
    isolated_margin: Decimal | None = None
    """The position's own margin (isolated positions; None for cross)."""
    liquidatable: bool = False
    """Whether the margin sweep lists this position now (its isolated margin, or its cross account, below MM)."""


@dataclass(frozen=True)
class AccountView:
    """The account: its positions, cross wallet, equity (cross wallet, cross uPnL, isolated margins and uPnL) and
    maintenance margin (every position's) at the marks, whether the sweep liquidates any of its positions now, and
    the venue's ADL policy and backing rule names."""

    venue: str
    positions: list[AccountPosition]
    wallet: Decimal
    equity: Decimal
    maintenance_margin: Decimal
    liquidatable: bool
    adl_policy: str
    backing_rule: str


def account_book(rulebook, wallet: Decimal, specs: list[PositionSpec]):
    """The engine's view of the account: ``(book, instruments, marks)``, a :class:`delever.book.Book` of one
    account (positions in the order given; cross, or isolated with their own margin), the
    :class:`delever.instruments.Instrument` of each position and the marks (ticks, int64 (positions,)).

    Raises:
        InputError: an unknown or non-engine symbol (field ``symbol``), two positions on one symbol or a size finer
            than the lot (field ``position``), a wallet or isolated margin finer than the money unit (field
            ``wallet`` or ``position``).
    """
    insts, sizes, costs, marks, isolated, collateral = [], [], [], [], [], []
    seen: set[str] = set()
    for spec in specs:
        inst = rulebook.instrument(spec.symbol)
        if inst.symbol in seen:
            raise InputError(f"{inst.symbol} given twice: an account holds one position per instrument",
                             field="position")  # fmt: skip
        seen.add(inst.symbol)
        lots = spec.size / inst.lot_size
        if lots != lots.to_integral_value():
            raise InputError(f"{spec.symbol}: size {spec.size} is not a whole number of lots ({inst.lot_size})",
                             field="position")  # fmt: skip
        entry = spec.entry / inst.tick_size
        v = inst.value_per_lot_tick
        insts.append(inst)
        sizes.append(int(lots))
        # the entry value at an entry price off the tick: exact in money units, rounded against the account
        cost_exact = int(lots) * entry * v
        costs.append(int(cost_exact.to_integral_value(rounding="ROUND_CEILING")))
        # a mark off the tick rounds against the account: down for a long, up for a short
        marks.append(inst.price_to_ticks(spec.mark, rounding="floor" if lots > 0 else "ceil"))
        isolated.append(spec.isolated_margin is not None)
        margin_units = (spec.isolated_margin or Decimal(0)) * MONEY_SCALE
        if margin_units != margin_units.to_integral_value():
            raise InputError(f"{spec.symbol}: isolated margin {spec.isolated_margin} is finer than the money unit",
                             field="position")  # fmt: skip
        collateral.append(int(margin_units))
    w = wallet * MONEY_SCALE
    if w != w.to_integral_value():
        raise InputError(f"{wallet} is finer than the money unit", field="wallet")
    n = len(specs)
    book = Book.from_arrays(wallet=[int(w)], exempt=[False], account=[0] * n, instrument=list(range(n)), size=sizes,
                            cost=costs, collateral=collateral, isolated=isolated)  # fmt: skip
    return book, insts, np.array(marks, dtype=np.int64)


def account_view(rulebook, wallet: Decimal | str, specs: list[PositionSpec]) -> AccountView:
    """Price every position of one account (module docstring) under ``rulebook``
    (:class:`delever.venues.base.Rulebook`: what is read of it is ``instrument(symbol)``, ``cross_backing_rule``,
    ``engine_adl_policy()`` and ``name``); ``wallet`` the cross wallet (settlement asset).

    Raises:
        InputError: as :func:`account_book`; no position (field ``position``).
    """
    if not specs:
        raise InputError("give at least one --position SYMBOL:SIZE@ENTRY[:MARK]", field="position")
    try:
        wallet_d = Decimal(str(wallet))
    except InvalidOperation:
        raise InputError(f"must be a number (got {wallet!r})", field="wallet") from None
    book, insts, marks = account_book(rulebook, wallet_d, specs)
    scale = MONEY_SCALE
    vpls = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
    floors, mmr, cum, n_tiers = tier_arrays([i.tiers for i in insts])
    n = book.n_positions
    order = np.arange(n, dtype=np.int64)
    equity, total_mm, own_mm = (np.zeros(n, dtype=np.int64) for _ in range(3))
    account_health(order, BookCols.of(book), AccountValuation(marks, vpls, floors, mmr, cum, n_tiers), equity,
                   total_mm, own_mm)  # fmt: skip
    upnl = book.size * marks * vpls - book.cost
    iso = book.isolated
    w = int(book.wallet[0])
    cross_upnl = int(upnl[~iso].sum())
    eq = w + cross_upnl  # the cross account's equity (account_health's for a cross position)
    mm_all = int(own_mm[~iso].sum())  # the cross positions' MM
    n_cross = int((~iso).sum())
    policy_name = rulebook.engine_adl_policy() or "queue-bitmex"
    policy = get_policy(policy_name)
    out = []
    for p in range(n):
        inst, s, c, v, mark = insts[p], int(book.size[p]), int(book.cost[p]), int(vpls[p]), int(marks[p])
        if iso[p]:  # its own margin backs it (the engine's margin_backing and trigger for an isolated position)
            backing = int(book.collateral[p])
            trig = trigger_price(s, c, backing, v, p, floors, mmr, cum, int(n_tiers[p]))
            bp = margin.bankruptcy_price(s, c, backing, inst)
            margin_eq = backing + int(upnl[p])
        else:
            other_upnl = cross_upnl - int(upnl[p])
            other_mm = mm_all - int(own_mm[p])
            trig = trigger_price(s, c, w + other_upnl - other_mm, v, p, floors, mmr, cum, int(n_tiers[p]))
            if n_cross == 1:  # the liquidation stage backs an account's only cross position with its wallet
                bp = margin.bankruptcy_price(s, c, w, inst)
            else:
                bp = margin.account_bankruptcy_price(rulebook.cross_backing_rule, s, c, w, other_upnl,
                                                     int(own_mm[p]), mm_all, mark, inst)  # fmt: skip
            margin_eq = eq
        liq = None if trig in (NEVER_LONG, NEVER_SHORT) else trig
        score = None
        if upnl[p] > 0 and margin_eq > 0 and policy.score is not None and not policy.rotating:
            idx = np.array([p], dtype=np.int64)
            one = lambda x: np.array([x], dtype=np.int64)  # noqa: E731
            won = winners_of(book, 1 if s > 0 else -1, idx, one(int(upnl[p])), one(margin_eq),
                             one(int(book.collateral[p]) if iso[p] else w), one(int(own_mm[p])), mark, v, policy,
                             None)  # fmt: skip
            score = float(policy.score(won)[0])
        out.append(
            AccountPosition(
                symbol=inst.symbol,
                size=Decimal(s) * inst.lot_size,
                entry_price=Decimal(c) / (Decimal(s) * v) * inst.tick_size,
                mark_price=Decimal(mark) * inst.tick_size,
                notional=Decimal(abs(s) * mark * v) / scale,
                unrealized_pnl=Decimal(int(upnl[p])) / scale,
                maintenance_margin=Decimal(int(own_mm[p])) / scale,
                liquidation_price=None if liq is None else Decimal(liq) * inst.tick_size,
                bankruptcy_price=Decimal(bp) * inst.tick_size,
                adl_score=score,
                margin_mode="isolated" if iso[p] else "cross",
                isolated_margin=Decimal(int(book.collateral[p])) / scale if iso[p] else None,
                liquidatable=bool(equity[p] < total_mm[p]),
            )
        )
    rule = "dYdX v4 MM share" if rulebook.cross_backing_rule == margin.BACKING_MM_SHARE else "whole account"
    iso_eq = int((book.collateral[iso] + upnl[iso]).sum())
    return AccountView(rulebook.name, out, Decimal(w) / scale, Decimal(eq + iso_eq) / scale,
                       Decimal(int(own_mm.sum())) / scale, any(p.liquidatable for p in out), policy_name,
                       rule)  # fmt: skip
