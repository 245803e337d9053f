"""The state the single operations take and return: positions and accounts in the engine's integer units, the
transfers an operation makes, and the engine's book that an operation runs on.

Units (:mod:`delever.units`): **money** in integer micro-units of the quote asset (1 USDT = 1,000,000), **sizes**
in integer lots of the instrument's ``lot_size`` (signed, long > 0), **prices** in integer ticks of its
``tick_size``. ``V = instrument.value_per_lot_tick`` converts ``lots x ticks`` to money exactly.

A position's ``cost`` is its signed entry value, ``sum(lots x entry ticks x V)`` over its open lots (the engine's
:class:`delever.book.Book` column; the average entry ``cost / (size x V)`` ticks need not be a whole tick). An
account's **quote balance** is its cross wallet plus its isolated margins less its positions' costs: the money
the engine's identity conserves (:meth:`delever.book.Book.total_money`), and what a trade moves between two
accounts (each side's quote balance changes by ``-lots bought x price x V``, :func:`delever.liquidation.apply_trade`).
Every :class:`Transfer` an operation reports is a change of quote balances (or of the insurance fund), so the
transfers into a party sum to the change of its quote balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..book import Book
from ..columns import AccountValuation, BookCols
from ..errors import InputError, finite_decimal
from ..instruments import Instrument
from ..margin import BACKING_MM_SHARE, BACKING_WHOLE_ACCOUNT
from ..tiers import tier_arrays
from ..units import money

INSURANCE_FUND = "insurance fund"
"""The party name of the insurance fund in a :class:`Transfer`."""
SETTLEMENT_POOL = "settlement pool"
"""The party name of the clearing house that final settlement pays through (:data:`delever.events.SETTLEMENT_POOL`)."""

BACKING_RULES = {"whole-account": BACKING_WHOLE_ACCOUNT, "mm-share": BACKING_MM_SHARE}
"""The cross backing rules by the scenario's names (``[liquidation] cross_backing``,
:class:`delever.config.liquidation.LiquidationConfig`): Binance's whole account ``WB + UPNL1``
(../shared/specs/venues.md section 1) and dYdX v4's share of TNC ``-DNNV - TNC x |DMMR| / TMMR``
(../shared/specs/engines.md section 1)."""


def backing_rule_of(rule: str | int) -> int:
    """The engine's backing rule constant of ``rule`` (a name of :data:`BACKING_RULES` or the constant itself).

    Raises:
        InputError(field="backing_rule"): an unknown rule.
    """
    if isinstance(rule, str) and rule in BACKING_RULES:
        return BACKING_RULES[rule]
    if not isinstance(rule, bool) and rule in (BACKING_WHOLE_ACCOUNT, BACKING_MM_SHARE):
        return int(rule)
    raise InputError(f"must be one of {', '.join(BACKING_RULES)} (got {rule!r})", field="backing_rule")


def check_int(value, field: str, *, minimum: int | None = None) -> int:
    """``value`` as an int (a Python or numpy integer, not a bool), at least ``minimum``.

    Raises:
        InputError(field=field): not an integer, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"must be an integer (got {value!r})", field=field)
    if minimum is not None and value < minimum:
        raise InputError(f"must be >= {minimum} (got {value})", field=field)
    return int(value)


@dataclass(frozen=True)
class PositionState:
    """One position: ``size`` lots (signed, long > 0; 0 = flat), ``cost`` its signed entry value (money, the sign of
    ``size``, 0 when flat), ``mark`` its instrument's mark (ticks, >= 1) and ``isolated_margin`` (money) for an
    isolated position, ``None`` for a cross one (backed by the account's wallet).

    Raises:
        InputError: a non-integer field, a mark below 1 tick, or a cost that does not have the sign of the size
            (field ``size``, ``cost``, ``mark`` or ``isolated_margin``).
    """

    instrument: Instrument
    size: int
    cost: int
    mark: int
    isolated_margin: int | None = None

    def __post_init__(self) -> None:
        s = check_int(self.size, "size")
        c = check_int(self.cost, "cost")
        check_int(self.mark, "mark", minimum=1)
        if self.isolated_margin is not None:
            check_int(self.isolated_margin, "isolated_margin")
        if (s == 0) != (c == 0) or s * c < 0:
            raise InputError(f"a cost of {c} does not fit a size of {s} lots (same sign; 0 only when flat)",
                             field="cost")  # fmt: skip

    @classmethod
    def of(cls, instrument: Instrument, size, entry, mark=None, isolated_margin=None) -> PositionState:
        """A position from quote units as a person types them (``size`` base units, ``entry``/``mark`` quote prices,
        ``isolated_margin`` quote; for an inverse contract, :mod:`delever.inverse`: ``size`` signed contracts,
        prices in USD, ``isolated_margin`` in µcoin), as ``delever position --position`` reads them
        (:func:`delever.account_prices.account_book`): the cost is rounded up to the money unit and a mark off the
        tick rounds against the account (down for a long, up for a short); ``mark`` defaults to ``entry``.

        Raises:
            InputError: a size that is 0 or not a whole number of lots (field ``size``), a price <= 0 (``entry``,
                ``mark``), a margin finer than the money unit (``isolated_margin``).
        """
        size_d, entry_d = finite_decimal(size, "size"), finite_decimal(entry, "entry")
        mark_d = entry_d if mark is None else finite_decimal(mark, "mark")
        lots_d = size_d / instrument.lot_size
        if size_d == 0 or lots_d != lots_d.to_integral_value():
            raise InputError(f"{instrument.symbol}: {size} is not a non-zero whole number of lots "
                             f"({instrument.lot_size})", field="size")  # fmt: skip
        for name, d in (("entry", entry_d), ("mark", mark_d)):
            if d <= 0:
                raise InputError(f"must be > 0 (got {d})", field=name)
        lots = instrument.venue_lots(size_d)  # an inverse contract's USD long is a reciprocal short
        cost = instrument.entry_cost(lots, entry_d)
        margin = None
        if isolated_margin is not None:
            try:
                margin = money(isolated_margin)
            except ValueError as exc:
                raise InputError(str(exc), field="isolated_margin") from None
        mark_ticks = instrument.venue_price_to_ticks(mark_d, rounding="floor" if lots > 0 else "ceil")
        return cls(instrument, lots, -((-cost.numerator) // cost.denominator), max(mark_ticks, 1), margin)

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def isolated(self) -> bool:
        return self.isolated_margin is not None

    def unrealized_pnl(self, price: int | None = None) -> int:
        """``size x price x V - cost`` (money) at ``price`` ticks (default: the mark)."""
        p = self.mark if price is None else price
        return self.size * p * self.instrument.value_per_lot_tick - self.cost

    def notional(self) -> int:
        """``|size| x mark x V`` (money)."""
        return abs(self.size) * self.mark * self.instrument.value_per_lot_tick

    def maintenance_margin(self) -> int:
        """The instrument's tiered maintenance margin at the mark (money, rounded up; :mod:`delever.tiers`; the size
        in lots picks the tier on a size basis and scales a size-linear rate)."""
        return self.instrument.tiers.maintenance_margin(self.notional(), abs(self.size))


@dataclass(frozen=True)
class AccountState:
    """One account: its cross ``wallet`` (money), its ``positions`` (at most one per instrument symbol) and a
    ``name`` that :class:`Transfer` rows use.

    Raises:
        InputError: a non-integer wallet (field ``wallet``), two positions on one symbol or an empty name
            (field ``positions`` / ``name``).
    """

    wallet: int
    positions: tuple[PositionState, ...]
    name: str = "account"

    def __post_init__(self) -> None:
        check_int(self.wallet, "wallet")
        object.__setattr__(self, "positions", tuple(self.positions))
        symbols = [p.symbol for p in self.positions]
        if len(set(symbols)) != len(symbols):
            raise InputError(f"{self.name}: one position per instrument (got {symbols})", field="positions")
        if not self.name:
            raise InputError("an account needs a name", field="name")

    def index(self, symbol: str) -> int:
        """The index of the position on ``symbol``.

        Raises:
            InputError(field="symbol"): the account holds no position on ``symbol``.
        """
        for i, p in enumerate(self.positions):
            if p.symbol == symbol:
                return i
        raise InputError(f"{self.name} holds no {symbol} position (it holds {[p.symbol for p in self.positions]})",
                         field="symbol")  # fmt: skip

    def position(self, symbol: str) -> PositionState:
        """The position on ``symbol`` (:meth:`index`)."""
        return self.positions[self.index(symbol)]

    def quote_balance(self) -> int:
        """Cross wallet plus isolated margins less the positions' costs (money; module docstring)."""
        return self.wallet + sum((p.isolated_margin or 0) - p.cost for p in self.positions)

    def equity(self) -> int:
        """Cross wallet plus isolated margins plus every position's uPnL at its mark (money)."""
        return self.wallet + sum((p.isolated_margin or 0) + p.unrealized_pnl() for p in self.positions)

    def margin_equity(self, symbol: str) -> int:
        """Equity (money) of the margin that backs the position on ``symbol`` at the marks: its isolated margin plus
        its uPnL, or the cross wallet plus every cross position's uPnL (:func:`delever.liquidation.margin_equity`)."""
        p = self.position(symbol)
        if p.isolated:
            return p.isolated_margin + p.unrealized_pnl()
        return self.wallet + sum(q.unrealized_pnl() for q in self.positions if not q.isolated)


@dataclass(frozen=True)
class Transfer:
    """``amount`` money (> 0) moved from ``payer`` to ``payee`` (account names, :data:`INSURANCE_FUND` or
    :data:`SETTLEMENT_POOL`), and ``what`` it is for."""

    payer: str
    payee: str
    amount: int
    what: str


def net_transfers(transfers, party: str) -> int:
    """What ``party`` received less what it paid over ``transfers`` (money)."""
    return sum(t.amount for t in transfers if t.payee == party) - sum(t.amount for t in transfers if t.payer == party)


@dataclass
class Market:
    """The engine's view of some accounts: a :class:`delever.book.Book` of them (accounts in the order given, each
    account's positions in its order), the instruments (by first appearance), their marks (ticks) and values per
    lot-tick (money), and ``position_of[a][i]``, the book row of position ``i`` of account ``a``."""

    book: Book
    instruments: list[Instrument]
    marks: np.ndarray
    vpls: np.ndarray
    position_of: list[list[int]]

    @classmethod
    def of(cls, accounts) -> Market:
        """The market of ``accounts`` (a sequence of :class:`AccountState`).

        Raises:
            InputError: two positions on one symbol with different instruments or different marks (field
                ``instrument`` or ``mark``), or two accounts with one name (field ``name``).
        """
        names = [a.name for a in accounts]
        if len(set(names)) != len(names):
            raise InputError(f"account names must differ (got {names})", field="name")
        insts: list[Instrument] = []
        marks: list[int] = []
        by_symbol: dict[str, int] = {}
        cols: dict[str, list] = {k: [] for k in ("account", "instrument", "size", "cost", "collateral", "isolated")}
        position_of = []
        for a, acc in enumerate(accounts):
            rows = []
            for p in acc.positions:
                m = by_symbol.get(p.symbol)
                if m is None:
                    m = by_symbol[p.symbol] = len(insts)
                    insts.append(p.instrument)
                    marks.append(p.mark)
                elif insts[m] != p.instrument:
                    raise InputError(f"{p.symbol}: two different instruments under one symbol", field="instrument")
                elif marks[m] != p.mark:
                    raise InputError(f"{p.symbol}: one instrument has one mark (got {marks[m]} and {p.mark} ticks)",
                                     field="mark")  # fmt: skip
                rows.append(len(cols["size"]))
                for k, v in zip(cols, (a, m, p.size, p.cost, p.isolated_margin or 0, p.isolated)):
                    cols[k].append(v)
            position_of.append(rows)
        book = Book.from_arrays(wallet=[acc.wallet for acc in accounts], **cols)
        vpls = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
        return cls(book, insts, np.array(marks, dtype=np.int64), vpls, position_of)

    def valuation(self, backing_rule: int) -> AccountValuation:
        """The liquidation stage's valuation bundle of this market under ``backing_rule``."""
        floors, mmr, cum, n_tiers = tier_arrays([i.tiers for i in self.instruments])
        return AccountValuation(self.marks, self.vpls, floors, mmr, cum, n_tiers, int(backing_rule))

    def cols(self) -> BookCols:
        """The book's columns as the kernels take them (shared with :attr:`book`)."""
        return BookCols.of(self.book)

    def accounts(self, before) -> tuple[AccountState, ...]:
        """The accounts ``before`` (as given to :meth:`of`) with the book's current wallets and positions."""
        b = self.book
        out = []
        for a, acc in enumerate(before):
            positions = tuple(
                PositionState(
                    p.instrument, int(b.size[r]), int(b.cost[r]), p.mark, int(b.collateral[r]) if p.isolated else None
                )  # fmt: skip
                for p, r in zip(acc.positions, self.position_of[a])
            )
            out.append(AccountState(int(b.wallet[a]), positions, acc.name))
        return tuple(out)
