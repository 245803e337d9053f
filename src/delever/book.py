"""The columnar book: accounts and positions as a numpy structure of arrays, with small object views.

Accounts (shape (a,)): ``wallet`` (int64 money: the cross wallet balance, i.e. deposits plus realized PnL,
fees and payouts, excluding isolated margin), ``exempt`` (bool: liquidity-provider accounts, whose
positions are the order book's resting depth, and the backstop vault; never liquidated nor ADL'd) and
``protected`` (bool: negative-balance protection, used by socialized loss).

Positions (shape (n,)): ``account`` and ``instrument`` (int64 indices), ``size`` (int64 lots, signed),
``cost`` (int64 money, signed entry value ``size * entry * V``), ``collateral`` (int64 money: isolated margin,
0 for cross), ``isolated`` (bool), ``entry_leverage`` (float64, leverage when the position was opened; for
reports only), ``opened_ns`` (int64, when the position was opened, ns since the Unix epoch, UTC: the position
age of the ADL hierarchy; 0 when unknown).

Money identity (what the engine conserves, exactly): ``sum(wallet) + sum(collateral) - sum(cost) +
insurance funds``. With balanced open interest (``sum(size) == 0`` per instrument), ``-sum(cost)`` equals the
sum of every position's unrealized PnL at any common mark, so this is "wallets + isolated margins +
unrealized PnL + insurance fund": money moves between accounts and the fund, and is never created.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .instruments import Instrument
from .margin import PositionMetrics, position_metrics
from .units import exact_sum


def lp_sizes(net: int, count: int) -> np.ndarray:
    """The liquidity providers' sizes (int64 lots, (count,)) that close the traders' net size ``net``: ``-net``
    split as evenly as whole lots allow, the first ``(-net) mod count`` one lot more, so they sum to ``-net``."""
    sizes = np.full(count, -net // count, dtype=np.int64)
    sizes[: (-net) % count] += 1
    return sizes


@dataclass
class Book:
    """Structure of arrays; see the module docstring for units. Build with :meth:`from_arrays`."""

    wallet: np.ndarray
    exempt: np.ndarray
    account: np.ndarray
    instrument: np.ndarray
    size: np.ndarray
    cost: np.ndarray
    collateral: np.ndarray
    isolated: np.ndarray
    entry_leverage: np.ndarray
    protected: np.ndarray
    opened_ns: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        *,
        wallet,
        account,
        size,
        cost,
        collateral=None,
        isolated=None,
        instrument=None,
        exempt=None,
        entry_leverage=None,
        protected=None,
        opened_ns=None,
        copy: bool = True,
    ) -> Book:
        """Validate shapes and types and build a book (arrays are copied into their canonical dtypes;
        ``copy=False``: arrays already of their canonical dtype are taken as they are, for a caller that
        hands over arrays it made for the book).

        Raises:
            ValueError: mismatched lengths, an account index out of range, or an isolated position's
                collateral on a cross position.
        """
        n = len(size)

        def col(a, dtype) -> np.ndarray:
            return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)

        wallet = col(wallet, np.int64)
        book = cls(
            wallet=wallet,
            exempt=np.zeros(wallet.shape[0], dtype=bool) if exempt is None else col(exempt, bool),
            account=col(account, np.int64),
            instrument=np.zeros(n, dtype=np.int64) if instrument is None else col(instrument, np.int64),
            size=col(size, np.int64),
            cost=col(cost, np.int64),
            collateral=np.zeros(n, dtype=np.int64) if collateral is None else col(collateral, np.int64),
            isolated=np.zeros(n, dtype=bool) if isolated is None else col(isolated, bool),
            entry_leverage=np.zeros(n) if entry_leverage is None else col(entry_leverage, np.float64),
            protected=np.ones(wallet.shape[0], dtype=bool) if protected is None else col(protected, bool),
            opened_ns=np.zeros(n, dtype=np.int64) if opened_ns is None else col(opened_ns, np.int64),
        )
        for f in ("account", "instrument", "cost", "collateral", "isolated", "entry_leverage", "opened_ns"):
            if getattr(book, f).shape != (n,):
                raise ValueError(f"book column {f!r} has {getattr(book, f).shape[0]} rows, expected {n}")
        if book.exempt.shape != wallet.shape or book.protected.shape != wallet.shape:
            raise ValueError("book columns 'exempt' and 'protected' must have one row per account")
        if n and (book.account.min() < 0 or book.account.max() >= wallet.shape[0]):
            raise ValueError("book column 'account' refers to an account that does not exist")
        if np.any(book.collateral[~book.isolated] != 0):
            raise ValueError("a cross position cannot hold isolated collateral")
        return book

    @property
    def n_accounts(self) -> int:
        return int(self.wallet.shape[0])

    @property
    def n_positions(self) -> int:
        return int(self.size.shape[0])

    def copy(self) -> Book:
        """A deep copy (every column)."""
        return Book(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def snapshot(self) -> Book:
        """A copy of the columns a run changes (wallet, size, cost, collateral) sharing the others (account,
        instrument, isolated, exempt, protected, entry leverage, opening time), which the engine never writes:
        a run's starting book for reports at half the memory of :meth:`copy`."""
        mutable = ("wallet", "size", "cost", "collateral")
        return Book(**{f.name: getattr(self, f.name).copy() if f.name in mutable else getattr(self, f.name)
                       for f in fields(self)})  # fmt: skip

    def packed_snapshot(self) -> PackedSnapshot:
        """:meth:`snapshot`, held in less memory until it is needed (:class:`PackedSnapshot`)."""
        return PackedSnapshot(self)

    def total_money(self, insurance_funds: np.ndarray | int = 0) -> int:
        """The conserved money identity (module docstring), as a Python int (exact)."""
        return (
            exact_sum(self.wallet)
            + exact_sum(self.collateral)
            - exact_sum(self.cost)
            + exact_sum(np.atleast_1d(np.asarray(insurance_funds, dtype=np.int64)))
        )

    def positions_by_account(self) -> tuple[np.ndarray, np.ndarray]:
        """``(start, positions)``: int64 (a+1,) and int64 (n,), account ``a``'s positions are
        ``positions[start[a]:start[a + 1]]`` (ascending index). Built once per book (positions never change
        account) and kept; what the liquidation stage reads to value an account across its instruments."""
        cached = self.__dict__.get("_by_account")
        if cached is None or cached[1].shape[0] != self.n_positions:
            acc = self.account
            if acc.size < 2 or bool(np.all(acc[1:] >= acc[:-1])):  # already in account order (generated books)
                positions = np.arange(self.n_positions, dtype=np.int64)
            else:
                positions = np.argsort(acc, kind="stable").astype(np.int64)
            start = np.zeros(self.n_accounts + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.account, minlength=self.n_accounts), out=start[1:])
            cached = (start, positions)
            self.__dict__["_by_account"] = cached
        return cached

    def one_position_per_account(self) -> bool:
        """True when no account holds more than one position (kept with :meth:`positions_by_account`)."""
        start, positions = self.positions_by_account()
        cached = self.__dict__.get("_single")
        if cached is None or cached[0] is not positions:
            cached = (positions, bool(np.all(np.diff(start) <= 1)))
            self.__dict__["_single"] = cached
        return cached[1]

    def open_interest(self, instrument: int = 0) -> tuple[int, int]:
        """``(long lots, short lots)`` of one instrument; a closed book has them equal."""
        s = self.size[self.instrument == instrument]
        return int(s[s > 0].sum()), int(-s[s < 0].sum())

    def first_position(self) -> np.ndarray:
        """int64 (a,): each account's first position index (-1 for an account without positions)."""
        out = np.full(self.n_accounts, -1, dtype=np.int64)
        out[self.account[::-1]] = np.arange(self.n_positions, dtype=np.int64)[::-1]  # the first one wins
        return out

    def nbytes(self) -> int:
        """Memory held by the columns, in bytes."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    def account_view(self, a: int) -> Account:
        """Object view of one account (reads the arrays; does not copy them)."""
        return Account(self, a)

    def position_view(self, i: int) -> Position:
        """Object view of one position."""
        return Position(self, i)


INT64_HEADROOM = 2**62
"""The most money (money units) a run's whole book may hold, gross, at the highest price it can see: half of
int64. Money is conserved, so no single int64 cell of the run (a wallet, a margin, an insurance fund, a trade's
value, an account's equity) can then reach more than this, and the compiled kernels' sums cannot wrap."""


def check_int64_headroom(
    book: Book, value_per_lot_tick, max_price_ticks, insurance_funds=(), *, source: str = "book",
    field: str = "size",
) -> None:  # fmt: skip
    """Reject a book whose figures could overflow the engine's int64 state (issue #11, exact totals).

    The gross money of the run, ``sum(|wallet|) + sum(|collateral| + |cost| + |size| x max_price x V) +
    sum(|fund|)`` (every position at the highest price of its instrument's path, ``max_price_ticks`` per
    instrument, ticks), must stay below :data:`INT64_HEADROOM`. A book far below the limit passes on a float64
    screen; one near it is summed in exact Python ints.

    Raises:
        InputError: naming ``source`` (the book file or ``book.generator``), ``field`` (what to lower), the
            largest account, the total and the limit, in quote units.
    """
    from .errors import InputError

    limit = INT64_HEADROOM
    vf = np.asarray(value_per_lot_tick, dtype=np.float64)[book.instrument]
    tf = np.asarray(max_price_ticks, dtype=np.float64)[book.instrument]
    gross_f = np.abs(book.cost.astype(np.float64)) + np.abs(book.size * 1.0) * tf * vf + np.abs(book.collateral * 1.0)
    acc_f = np.abs(book.wallet.astype(np.float64)) + np.bincount(book.account, gross_f, minlength=book.n_accounts)
    funds = [abs(int(f)) for f in insurance_funds]
    if float(acc_f.sum()) + sum(funds) < limit / 2:
        return
    vpl = np.asarray(value_per_lot_tick, dtype=object)[book.instrument]
    top = np.asarray(max_price_ticks, dtype=object)[book.instrument]
    gross = np.abs(book.cost.astype(object)) + np.abs(book.size.astype(object)) * top * vpl
    gross = gross + np.abs(book.collateral.astype(object))
    per_account = np.abs(book.wallet.astype(object))
    np.add.at(per_account, book.account, gross)
    total = int(per_account.sum()) + sum(funds)
    if total >= limit:
        worst = int(np.argmax(acc_f))
        raise InputError(
            f"the book holds {total / 1e6:.6g} quote units gross (wallets, margins and positions at the highest "
            f"price; the largest, account {worst}, {float(per_account[worst]) / 1e6:.6g}); the engine's int64 state "
            f"allows {limit / 1e6:.6g} quote units (2**62 money units)",
            file=source, field=field,
        )  # fmt: skip


_MUTABLE = ("wallet", "size", "cost", "collateral")
_I32 = np.iinfo(np.int32)


def _pack(a: np.ndarray) -> tuple[int, np.ndarray | None, np.ndarray]:
    """``(n, None, values)`` dense or ``(n, indices, values)`` of the nonzero rows, whichever is smaller, with
    values (and indices) as int32 where they fit: exact, :func:`_unpack` gives ``a`` back."""
    n = a.shape[0]
    value_type = np.int32 if n == 0 or (int(a.min()) >= _I32.min and int(a.max()) <= _I32.max) else np.int64
    index_type = np.int32 if n < 2**31 else np.int64
    nonzero = int(np.count_nonzero(a))
    vb, ib = np.dtype(value_type).itemsize, np.dtype(index_type).itemsize
    if nonzero * (vb + ib) < n * vb:
        idx = np.flatnonzero(a)
        return n, idx.astype(index_type), a[idx].astype(value_type)
    return n, None, a.astype(value_type)


def _unpack(packed: tuple[int, np.ndarray | None, np.ndarray]) -> np.ndarray:
    n, idx, values = packed
    if idx is None:
        return values.astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    out[idx] = values
    return out


class PackedSnapshot:
    """A book's :meth:`Book.snapshot` held compactly while a run changes the book (issue #6's memory per
    position): the columns a run changes are packed (int32 where every value fits, only the nonzero rows
    where that is smaller: isolated margin, say, is zero for every cross position); the others are shared.
    :meth:`book` unpacks it into the exact same book as :meth:`Book.snapshot` would have given."""

    def __init__(self, book: Book) -> None:
        self._shared = {f.name: getattr(book, f.name) for f in fields(book) if f.name not in _MUTABLE}
        self._packed = {name: _pack(getattr(book, name)) for name in _MUTABLE}

    def nbytes(self) -> int:
        """Memory held by the packed columns, in bytes."""
        return sum(a.nbytes for _, idx, v in self._packed.values() for a in ((v,) if idx is None else (idx, v)))

    def book(self) -> Book:
        """The snapshot as a :class:`Book` (int64 columns, as :meth:`Book.snapshot`)."""
        return Book(**self._shared, **{name: _unpack(p) for name, p in self._packed.items()})


@dataclass(frozen=True)
class Position:
    """A read-only view of row ``index`` of a :class:`Book` (units as in the module docstring)."""

    book: Book
    index: int

    @property
    def account(self) -> int:
        return int(self.book.account[self.index])

    @property
    def size(self) -> int:
        return int(self.book.size[self.index])

    @property
    def cost(self) -> int:
        return int(self.book.cost[self.index])

    @property
    def isolated(self) -> bool:
        return bool(self.book.isolated[self.index])

    @property
    def collateral(self) -> int:
        """The money backing the position: its isolated margin, or its account's cross wallet."""
        if self.isolated:
            return int(self.book.collateral[self.index])
        return int(self.book.wallet[self.account])

    def entry_price(self, inst: Instrument) -> float:
        """Average entry price in quote units (float: display only)."""
        return self.cost / (self.size * inst.value_per_lot_tick) * float(inst.tick_size) if self.size else 0.0

    def metrics(self, mark: int, inst: Instrument) -> PositionMetrics:
        """Margin metrics at ``mark`` ticks (:func:`delever.margin.position_metrics`); for a cross position
        the collateral is its account's wallet (single-position cross account, as Binance's formula with
        TMM1 = UPNL1 = 0)."""
        return position_metrics(self.size, self.cost, self.collateral, mark, inst)


@dataclass(frozen=True)
class Account:
    """A read-only view of account ``index`` of a :class:`Book`."""

    book: Book
    index: int

    @property
    def wallet(self) -> int:
        return int(self.book.wallet[self.index])

    @property
    def is_liquidity_provider(self) -> bool:
        return bool(self.book.exempt[self.index])

    @property
    def positions(self) -> list[Position]:
        return [Position(self.book, int(i)) for i in np.flatnonzero(self.book.account == self.index)]


def with_extra_account(book: Book, wallet: int, instruments: int = 1) -> tuple[Book, int, int]:
    """A copy of ``book`` with one more exempt account (e.g. the backstop vault) holding a flat position on each
    of instruments ``0..instruments-1`` (positions ``n, n+1, ...`` in instrument order); returns ``(book,
    account index, index of its first position)``."""
    a, n = book.n_accounts, book.n_positions
    k = instruments
    grown = Book.from_arrays(
        wallet=np.append(book.wallet, wallet),
        exempt=np.append(book.exempt, True),
        account=np.append(book.account, np.full(k, a)),
        instrument=np.append(book.instrument, np.arange(k)),
        size=np.append(book.size, np.zeros(k, dtype=np.int64)),
        cost=np.append(book.cost, np.zeros(k, dtype=np.int64)),
        collateral=np.append(book.collateral, np.zeros(k, dtype=np.int64)),
        isolated=np.append(book.isolated, np.zeros(k, dtype=bool)),
        entry_leverage=np.append(book.entry_leverage, np.zeros(k)),
        protected=np.append(book.protected, True),
        opened_ns=np.append(book.opened_ns, np.zeros(k, dtype=np.int64)),
    )
    return grown, a, n
