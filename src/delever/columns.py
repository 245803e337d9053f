"""Bundles of columns the compiled kernels take, instead of 20-37 loose arrays (../shared/DESIGN.md, "Where the
code goes next"; issue #11 item 7).

Each bundle is a :class:`typing.NamedTuple` of numpy arrays and scalars: numba accepts a namedtuple as an argument
and reads its fields by name (``book.size[p]``), so a kernel's signature says which state it reads and writes,
and a field added to a bundle does not change every call. Arrays are shared, not copied: a kernel that writes
``book.wallet[a]`` writes the book. A bundle is built for each kernel call (the arrays of a growing buffer or
queue are replaced when they grow), by the ``of``/``make`` constructors below, which also fix each field's
dtype so that a kernel is compiled once.

Units (``../shared/DESIGN.md``, :mod:`delever.units`): money in integer micro-units of the quote asset, sizes in
lots (signed, > 0 long), prices in ticks; ``V`` (money per lot-tick) converts ``lots x ticks`` to money.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .margin import BACKING_WHOLE_ACCOUNT

KERNEL = {"cache": True, "nogil": True, "_nrt": False}
"""Options of the kernels that take these bundles and allocate nothing (:mod:`delever.sweep`,
:func:`delever.liquidation.liquidate`, ...): compiled without numba's reference counting (``_nrt=False``). With
counting, every read of a bundle's array field and every call that passes a bundle increfs and decrefs the array
(atomic operations that numba's pruning does not remove across branches and calls): that cost the liquidation
stage about 200 ns per liquidated position, 40% of the peer benchmark's mass liquidation (issue #11 item 7).
A kernel that allocates (``np.zeros``, ...) cannot use them; nor needs them if it reads each field once per call
rather than per element (:func:`delever.sweep.margin_sweep`)."""


class BookCols(NamedTuple):
    """The book's position and account columns (:class:`delever.book.Book`); ``n`` positions, ``a`` accounts.

    - ``size`` int64 (n,): lots, signed (> 0 long);
    - ``cost`` int64 (n,): money, ``sum(lots x entry ticks x V)`` of the open lots, signed as ``size``;
    - ``collateral`` int64 (n,): money, an isolated position's margin (0 for a cross position);
    - ``isolated`` bool (n,): isolated margin mode;
    - ``account`` int64 (n,): the position's account;
    - ``instrument`` int64 (n,): the position's instrument (0..M-1);
    - ``wallet`` int64 (a,): money, each account's cross wallet;
    - ``exempt`` bool (a,): liquidity-provider (and vault) accounts, never liquidated or ADL'd;
    - ``acc_start`` int64 (a+1,) and ``acc_positions`` int64 (n,): account ``a``'s positions are
      ``acc_positions[acc_start[a]:acc_start[a + 1]]`` (:meth:`delever.book.Book.positions_by_account`).
    """

    size: np.ndarray
    cost: np.ndarray
    collateral: np.ndarray
    isolated: np.ndarray
    account: np.ndarray
    instrument: np.ndarray
    wallet: np.ndarray
    exempt: np.ndarray
    acc_start: np.ndarray
    acc_positions: np.ndarray

    @classmethod
    def of(cls, book) -> BookCols:
        """The columns of a :class:`delever.book.Book` (shared, not copied)."""
        acc_start, acc_positions = book.positions_by_account()
        return cls(
            book.size,
            book.cost,
            book.collateral,
            book.isolated,
            book.account,
            book.instrument,
            book.wallet,
            book.exempt,
            acc_start,
            acc_positions,
        )


class EventCols(NamedTuple):
    """The event buffer's columns (:class:`delever.events.EventBuffer`, one row per money movement, schema in
    :mod:`delever.events`) and its row count; ``cap`` rows of room.

    - ``kind`` int8 (cap,): event kind (``delever.events.LIQUIDATION_FILL``, ...);
    - ``account`` int64 (cap,): the account whose money moves;
    - ``counterparty`` int64 (cap,): the other account, or a pool (``BOOK``, ``INSURANCE_FUND``, ...: < 0);
    - ``position`` int64 (cap,): the position traded or settled;
    - ``size`` int64 (cap,): lots traded (signed, > 0 bought), 0 for a transfer;
    - ``price`` int64 (cap,): ticks of the trade (0 for a transfer);
    - ``amount`` int64 (cap,): money, the account's realized PnL or transfer (> 0 received);
    - ``indicator`` int8 (cap,): the ADL indicator light (1..5) of an ADL fill, else 0;
    - ``n`` int64 (1,): rows written (a kernel appends at ``n[0]`` and advances it).
    """

    kind: np.ndarray
    account: np.ndarray
    counterparty: np.ndarray
    position: np.ndarray
    size: np.ndarray
    price: np.ndarray
    amount: np.ndarray
    indicator: np.ndarray
    n: np.ndarray

    @classmethod
    def of(cls, buf) -> EventCols:
        """The columns of an :class:`delever.events.EventBuffer` with its row count; after the kernel, hand the
        count back with ``buf.n = cols.rows()``."""
        c = buf.cols
        return cls(
            c["kind"],
            c["account"],
            c["counterparty"],
            c["position"],
            c["size"],
            c["price"],
            c["amount"],
            c["indicator"],
            np.array([buf.n], dtype=np.int64),
        )

    def rows(self) -> int:
        """Rows written."""
        return int(self.n[0])


_EVENT_DTYPES = (np.int8,) + (np.int64,) * 6 + (np.int8, np.int64)
EVENT_COLS_TYPE = numba.typeof(EventCols(*(np.zeros(1, dtype=t) for t in _EVENT_DTYPES)))
"""The numba type of :class:`EventCols` (int8 ``kind``/``indicator``, int64 otherwise, all C-contiguous): the
one signature :func:`delever.liquidation.emit_event` is compiled for."""


class QueueCols(NamedTuple):
    """One instrument's ADL queues (:class:`delever.adl.queue.AdlQueue`), both sides (0 = longs, 1 = shorts),
    ``cap`` entries of room per side.

    - ``queue`` int64 (2, cap): position indices in rank order;
    - ``indicator`` int8 (2, cap): each entry's ADL light (1..5) at ranking time;
    - ``take`` int64 (2, cap): lots each entry may still give;
    - ``length`` / ``pointer`` / ``available`` int64 (2,): entries built, next entry, lots left in the queue;
    - ``complete`` int64 (2,): 1 once every eligible position is queued;
    - ``prepared_for`` / ``request`` int64 (2,): allocation policies, the order index the queue was prepared
      for and the lots the kernel asks for;
    - ``alloc_mode`` int: 0 a queue policy (whole positions in rank order), 1 an allocation policy.
    """

    queue: np.ndarray
    indicator: np.ndarray
    take: np.ndarray
    length: np.ndarray
    pointer: np.ndarray
    available: np.ndarray
    complete: np.ndarray
    prepared_for: np.ndarray
    request: np.ndarray
    alloc_mode: int

    @classmethod
    def of(cls, q) -> QueueCols:
        """The arrays of an :class:`delever.adl.queue.AdlQueue` (shared, not copied)."""
        return cls(
            q.queue,
            q.indicator,
            q.take,
            q.length,
            q.pointer,
            q.available,
            q.complete,
            q.prepared_for,
            q.request,
            int(q.alloc_mode),
        )


class LiquidityCols(NamedTuple):
    """One instrument's order book as the liquidation kernels trade against it (:mod:`delever.liquidity`).

    - ``centre`` float: the book's centre (the index, or a dated future's index plus basis), ticks;
    - ``net`` float64 (1,): lots the book has absorbed net (> 0 bought from liquidations), moved by each fill;
    - ``curve``: :meth:`delever.liquidity.DepthCurve.arrays`;
    - ``lp_pos`` int64 (k,): the liquidity-provider positions that take the other side of book fills;
    - ``lp_weight`` int64 (k,): their integer shares of the book;
    - ``lp_share`` int64 (k,) and ``lp_rem`` int64 (k,): scratch, the lots of one fill each provider takes and
      the split's remainders (:func:`delever.allocation.split_into_scratch`).
    """

    centre: float
    net: np.ndarray
    curve: tuple
    lp_pos: np.ndarray
    lp_weight: np.ndarray
    lp_share: np.ndarray
    lp_rem: np.ndarray

    @classmethod
    def make(cls, centre, net: np.ndarray, curve: tuple, lp_pos: np.ndarray, lp_weight: np.ndarray) -> LiquidityCols:
        """A book at ``centre`` ticks with a fresh scratch array."""
        k = lp_pos.shape[0]
        return cls(float(centre), net, curve, lp_pos, lp_weight, np.zeros(k, dtype=np.int64), np.zeros(k, np.int64))


class AccountValuation(NamedTuple):
    """What the liquidation stage reads to value an account across its instruments (issue #11), ``M``
    instruments, tier tables of ``k`` columns:

    - ``marks`` int64 (M,): every instrument's mark, ticks;
    - ``vpls`` int64 (M,): every instrument's money per lot-tick;
    - ``floors`` / ``mmr`` / ``cum`` int64 (M, k): the tier tables (notional floors, money; MM rates, ppm;
      maintenance amounts, money; :func:`delever.sweep.maintenance_margin`), ``n_tiers`` int64 (M,) the
      columns used;
    - ``backing_rule`` int: how a cross position of a multi-position account is backed
      (:data:`delever.margin.BACKING_WHOLE_ACCOUNT`, Binance, or ``BACKING_MM_SHARE``, dYdX v4);
    - the scenario's margin rule (:mod:`delever.requirement`), read only when ``general`` is 1 (0: every
      instrument's MM is its notional tiers' at the mark, and the defaults below are never read):
      ``tier_basis`` int64 (M,) (:data:`delever.tiers.BASIS_NOTIONAL` or ``BASIS_SIZE``), ``rate_per_lot`` int64
      (M,) (the size-linear rate, 1e-12 per lot), ``mm_entry`` int (bit 1: isolated positions' MM on their entry
      value, bit 2: cross positions').
    """

    marks: np.ndarray
    vpls: np.ndarray
    floors: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    n_tiers: np.ndarray
    backing_rule: int = BACKING_WHOLE_ACCOUNT
    tier_basis: np.ndarray = np.zeros(1, dtype=np.int64)
    rate_per_lot: np.ndarray = np.zeros(1, dtype=np.int64)
    mm_entry: int = 0
    general: int = 0

    @classmethod
    def single(cls, mark: int, v: int, tiers=None, backing_rule: int = BACKING_WHOLE_ACCOUNT) -> AccountValuation:
        """One instrument at ``mark`` ticks, ``v`` money per lot-tick, ``tiers`` a
        :class:`delever.tiers.RiskTiers` (needed by the dYdX share rule only)."""
        if tiers is None:
            floors = mmr = cum = np.zeros((1, 1), dtype=np.int64)
        else:
            floors, mmr, cum = tiers.floors[None, :], tiers.mmr_ppm[None, :], tiers.cum[None, :]
        return cls(
            np.array([mark], dtype=np.int64),
            np.array([v], dtype=np.int64),
            floors,
            mmr,
            cum,
            np.array([floors.shape[1]], dtype=np.int64),
            int(backing_rule),
        )


class AdlControl(NamedTuple):
    """When and at which price ADL runs (:mod:`delever.adl.trigger`).

    - ``on`` int: 1 ADL on; 0 sends everything to the book (the fund pays what it can, the rest stays as bad
      debt for socialized loss to recover);
    - ``ctl`` int64 (``CTL_SIZE``,): the trigger code, the drawdown state (switched by the kernel as the fund
      moves) and its thresholds (:meth:`delever.adl.trigger.AdlTriggerState.control`);
    - ``fill_px`` int64 (1,): the ADL fill price, ticks, or -1 for the bankrupt position's bankruptcy price.
    """

    on: int
    ctl: np.ndarray
    fill_px: np.ndarray


class MarkState(NamedTuple):
    """What forms one instrument's last price and mark each step (:mod:`delever.mark`, :mod:`delever.liquidity`).

    - ``index_ticks`` float64 (T,): the index path, ticks;
    - ``net`` float64 (1,): lots the book has absorbed net, decaying by ``refill`` each step;
    - ``refill`` float: the book's per-step refill factor (:func:`delever.liquidity.refill_factor`);
    - ``curve``: :meth:`delever.liquidity.DepthCurve.arrays`;
    - ``ema`` float64 (1,): the mark's basis EMA, ticks (updated);
    - ``alpha`` float: the EMA's weight of one step; ``band`` float: the mark's band around the index (fraction).
    """

    index_ticks: np.ndarray
    net: np.ndarray
    refill: float
    curve: tuple
    ema: np.ndarray
    alpha: float
    band: float


class SeriesCols(NamedTuple):
    """One instrument's per-step series (T steps): ``mark`` int64 (T,) ticks, ``last`` float64 (T,) the book's
    last (marginal) price, ticks, ``fund`` int64 (T,) the insurance fund, money."""

    mark: np.ndarray
    last: np.ndarray
    fund: np.ndarray


class SweepCols(NamedTuple):
    """What the full margin sweep writes (:func:`delever.sweep.margin_sweep`); ``n`` positions, ``a`` accounts.

    - ``pos_equity`` int64 (n,): money, an isolated position's margin + uPnL, a cross position's uPnL;
    - ``pos_mm`` int64 (n,): money, a position's maintenance margin (exact for listed positions);
    - ``acc_equity`` int64 (a,): money, each account's cross wallet + cross uPnL;
    - ``acc_mm`` int64 (a,): money, each account's cross MM (exact for accounts with a listed position).
    """

    pos_equity: np.ndarray
    pos_mm: np.ndarray
    acc_equity: np.ndarray
    acc_mm: np.ndarray

    @classmethod
    def zeros(cls, n: int, a: int) -> SweepCols:
        """Zeroed columns for ``n`` positions and ``a`` accounts."""
        return cls(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(a, np.int64), np.zeros(a, np.int64))


class TriggerCols(NamedTuple):
    """A :class:`delever.trigger_index.TriggerIndex` (its module docstring explains the lists); ``n`` positions.

    - ``size`` int64 (n,): the book's sizes (read); ``trigger`` int64 (n,): each position's trigger, ticks;
    - ``long_key`` int64 / ``long_idx`` int32 or int64: longs by trigger, highest first; ``short_key`` /
      ``short_idx``: shorts, lowest first;
    - ``head`` int64 (2,): first entry of each list still to read;
    - ``pending`` int64 and ``n_pending`` int: positions whose trigger changed since the lists were built;
    - ``bounds`` int64 (2,): highest pending long trigger, lowest pending short trigger;
    - ``stamp`` int32 (n,): the step at which a position was last listed.
    """

    size: np.ndarray
    trigger: np.ndarray
    long_key: np.ndarray
    long_idx: np.ndarray
    short_key: np.ndarray
    short_idx: np.ndarray
    head: np.ndarray
    pending: np.ndarray
    n_pending: int
    bounds: np.ndarray
    stamp: np.ndarray


class PoolCols(NamedTuple):
    """The eligible ADL counterparties of one side (:func:`delever.adl.queue.adl_pool`), ``k`` rows, int64:
    ``idx`` position, ``upnl`` uPnL (money), ``equity`` its margin's equity (money), ``wallet`` its collateral
    (isolated margin or cross wallet, money), ``mm`` its maintenance margin (money)."""

    idx: np.ndarray
    upnl: np.ndarray
    equity: np.ndarray
    wallet: np.ndarray
    mm: np.ndarray

    @classmethod
    def empty(cls, k: int) -> PoolCols:
        """Five uninitialised int64 columns of ``k`` rows."""
        return cls(*(np.empty(k, dtype=np.int64) for _ in range(5)))
