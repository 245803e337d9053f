"""The ADL counterparties of one instrument within one step, under a chosen ADL policy.

Eligible counterparties: opposite-side positions in profit at the step's mark, not being liquidated this
step, not liquidity providers or the backstop vault. Ranking is a snapshot at the step's mark (venues
recompute it periodically: Binance's ``adlQuantile`` every 30 s, venues.md section 1).

Queue policies (``queue-bitmex``, ``queue-binance``, ``queue-hyperliquid``, ``queue-bitget``;
:mod:`delever.adl.policies`) close whole positions in score order, the last one partially. Only the head of
the queue is usually needed, so it is built in chunks with ``np.argpartition`` (O(n) per chunk) rather than
a full sort: 256 positions first, then four times more each time the liquidation stage asks. Order is
canonical: score descending, then position index ascending.

Every other policy (pro-rata, risk-aware, water-filling, min-max, socialized, online) splits the lots a
bankrupt position must close among all eligible counterparties with
:func:`delever.adl.policies.allocate_lots`, in proportion to the policy's capacity measure
(:data:`CAPACITY`), capped at each position's size: the cascade engine works in lots at the bankruptcy price;
the money-budget forms of these policies are in :mod:`delever.adl.policies` (used by ``delever adl-event``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from ..columns import BookCols, PoolCols
from .policies import Winners, allocate_lots, get_policy, rotation_scores, rotation_start
from ..margin import tier_requirement_compiled
from .ranking import lights_from_cumulative, side_quantity

FIRST_CHUNK = 256
NO_LIMIT = np.iinfo(np.int64).max
SCORE_BLOCK = 65_536
"""Positions read at a time when a queue policy scores a side's winners (memory: one block's figures, not the
whole side's; queue scores are elementwise)."""

CAPACITY: dict[str, str] = {
    "pro-rata-pnl": "pnl",
    "pro-rata-equity": "equity",
    "pro-rata-notional": "notional",
    "pro-rata-contracts": "contracts",
    "risk-aware": "pnl_x_leverage",
    "water-filling": "notional_x_leverage",
    "min-max": "equity",
    "min-max-integer": "equity",
    "socialized-loss": "pnl",
    "online-mirror-descent": "pnl",
}
"""Capacity measure by which each non-queue policy splits lots in the cascade engine."""


@njit(cache=True, nogil=True)
def adl_pool(
    book, side, instrument_id, mark, v, tiers, excluded, pos_equity, acc_equity, lo, hi, inline_equity, out, write
) -> int:
    """Eligible counterparties of one side (+1 longs, -1 shorts) of instrument ``instrument_id`` among positions
    ``lo..hi-1`` of ``book`` (a :class:`delever.columns.BookCols`) at ``mark`` (ticks; ``v`` money per
    lot-tick): written to ``out`` (a :class:`delever.columns.PoolCols`: position index, uPnL, equity, wallet
    (the position's collateral: isolated margin or cross wallet), MM). Returns how many.

    ``tiers`` = (floors, mmr, cum) int64 (k,) of the instrument, its tier basis and size rate (:mod:`delever.tiers`);
    ``excluded`` bool (n,) positions being liquidated this step; ``pos_equity`` (n,)/``acc_equity`` (a,) the sweep's
    equities (money).
    ``inline_equity``: every account holds one position, so equity is its collateral plus its uPnL and the
    sweep's equity arrays are not read; ``write`` False only counts (to size the outputs exactly).
    """
    floors, mmr, cum, basis, rate = tiers
    k = floors.shape[0]
    size, cost, isolated, account = book.size, book.cost, book.isolated, book.account
    collateral, wallet = book.collateral, book.wallet
    count = 0
    for i in range(lo, hi):
        s = size[i]
        if s == 0 or (s > 0) != (side > 0) or book.instrument[i] != instrument_id:
            continue
        if book.exempt[account[i]] or excluded[i]:
            continue
        upnl = s * mark * v - cost[i]
        if upnl <= 0:
            continue
        if inline_equity:
            eq = (collateral[i] if isolated[i] else wallet[account[i]]) + upnl
        else:
            eq = pos_equity[i] if isolated[i] else acc_equity[account[i]]
        if eq <= 0:
            continue
        if not write:
            count += 1
            continue
        notional = (s if s > 0 else -s) * mark * v
        out.idx[count] = i
        out.upnl[count] = upnl
        out.equity[count] = eq
        out.wallet[count] = collateral[i] if isolated[i] else wallet[account[i]]
        out.mm[count] = tier_requirement_compiled(notional, s if s > 0 else -s, floors, mmr, cum, k, basis, rate)
        count += 1
    return count


def ranking_tiers(tiers: tuple) -> tuple:
    """``(floors, mmr, cum, basis, rate)`` for :func:`adl_pool` from the three notional-tier arrays or the five."""
    floors, mmr, cum, *rule = tiers
    return floors, mmr, cum, int(rule[0]) if rule else 0, int(rule[1]) if rule else 0


def eligible(
    book,
    sign: int,
    instrument_id: int,
    mark: int,
    v: int,
    excluded,
    tiers,
    pos_equity,
    acc_equity,
    inline_equity: bool = False,
) -> tuple[np.ndarray, ...]:
    """The eligible ADL counterparties of one side of one instrument (:func:`adl_pool`) as exactly sized
    int64 arrays ``(index, uPnL, equity, collateral, MM)``; ``tiers`` as :func:`ranking_tiers` reads them."""
    cols = BookCols.of(book)
    args = (
        cols,
        sign,
        instrument_id,
        mark,
        v,
        ranking_tiers(tiers),
        excluded,
        pos_equity,
        acc_equity,
        0,
        book.n_positions,
        inline_equity,
    )
    m = adl_pool(*args, PoolCols.empty(0), False)
    out = PoolCols.empty(m)
    adl_pool(*args, out, True)
    return tuple(out)


def canonical_order(keys: np.ndarray) -> np.ndarray:
    """The permutation (int64 (n,)) that sorts ``keys`` (float64 (n,)) ascending, equal keys by position
    ascending: the same as ``np.argsort(keys, kind="stable")``, at the cost of numpy's unstable sort (a vectorized
    quicksort, about 40% faster on a 500,000-entry side than the stable merge sort) plus one pass to put runs of
    equal keys, usually few, back in position order (only those entries are sorted again)."""
    order = np.argsort(keys)
    ordered = keys[order]
    tied = ordered[1:] == ordered[:-1]
    if not tied.any():
        return order
    in_run = np.zeros(keys.shape[0], dtype=bool)
    in_run[1:] |= tied
    in_run[:-1] |= tied
    at = np.flatnonzero(in_run)
    # runs of equal keys occupy the same slots after the fix: sorting those slots by (key, position) reorders
    # each run within itself
    order[at] = order[at][np.lexsort((order[at], ordered[at]))]
    return order


def winners_of(book, sign: int, idx, upnl, equity, wallet, mm, mark: int, v: int, policy, position_data) -> Winners:
    """The :class:`~delever.adl.policies.Winners` of positions ``idx`` (int64 (k,)) of one side (``sign`` +1
    longs, -1 shorts) at ``mark`` (ticks): uPnL, equity, the position's collateral (isolated margin or cross
    wallet) and MM are money arrays (k,). The optional columns ``policy.needs`` come from
    ``position_data(name)`` (full (n,) columns; zeros when it is ``None``). Leverage = notional / equity
    (equity floored at one money unit); entry and mark are the position's own (the entry value is then
    ``|cost|`` for both sides, :func:`delever.adl.policies.score_bitmex`), ``side`` gives the Hyperliquid
    ratio its direction."""
    lots = np.abs(book.size[idx])
    k = idx.shape[0]
    notional = lots * mark * v
    entry = np.abs(book.cost[idx]) / np.maximum(lots * v, 1)
    extra = {}
    for col in policy.needs:
        full = position_data(col) if position_data is not None else None
        extra[col] = np.zeros(k) if full is None else full[idx]
    return Winners(
        pnl=upnl,
        equity=equity,
        notional=notional,
        contracts=lots,
        leverage=notional / np.maximum(equity, 1),
        entry_price=entry,
        mark_price=np.full(k, float(mark)),
        side=np.full(k, sign, dtype=np.int64),
        wallet=wallet,
        maintenance_margin=mm,
        **extra,
    )


def capacity_measure(policy_name: str, w: Winners) -> np.ndarray:
    """The weights by which a non-queue policy splits lots in the cascade engine (:data:`CAPACITY`)."""
    measure = CAPACITY.get(policy_name, "pnl")
    return {
        "pnl": w.pnl,
        "equity": w.equity,
        "notional": w.notional,
        "contracts": w.contracts,
        "pnl_x_leverage": w.pnl * w.leverage,
        "notional_x_leverage": w.notional * w.leverage,
    }[measure]


class AdlQueue:
    """Arrays the compiled liquidation stage reads and advances, for both sides (0 = longs, 1 = shorts).

    ``queue`` int64 (2, cap) position indices in order, ``take`` int64 (2, cap) lots each entry may give,
    ``indicator`` int8 (2, cap) ADL lights (1..5, queue policies) at ranking time, ``length``/``pointer``/
    ``available`` (int64 (2,): entries built, next entry, lots left), ``complete`` (1 once every eligible
    position is queued), ``prepared_for``/``request`` (allocation policies: the order index the queue was
    prepared for, and the lots asked).
    """

    def __init__(
        self,
        book,
        instrument_id: int,
        mark: int,
        v: int,
        equities: Callable[[], tuple[np.ndarray, np.ndarray]] | None,
        excluded: np.ndarray,
        policy,
        tiers: tuple,
        position_data: Callable[[str], np.ndarray] | None = None,
        offset_key: tuple[int, ...] = (0,),
    ) -> None:
        """``equities()`` returns ``(position equity, account equity)`` as the sweep defines them; it is
        called only if this step needs ADL; ``None`` when every account holds one position (equity is then
        computed from the position itself). ``policy``: a name or a :class:`~delever.adl.policies.Policy`.
        ``tiers`` = (floors, mmr, cum) of the instrument, then optionally its tier basis and size rate
        (:mod:`delever.tiers`; default notional, none). ``position_data(name)`` returns a per-position
        column (shape (n,)) the policy ``needs`` (``funding_received`` int64 money, ``age_s`` float64
        seconds); called only when the policy reads one and this step needs ADL (default: zeros).
        ``offset_key``: non-negative integers (the run's seed, the step, ...) from which a ``rotating`` policy
        (``random-offset``, dYdX) draws each side's start offset (:func:`~delever.adl.policies.rotation_start`
        of ``offset_key + (side,)``), so the order is a pure function of (scenario, seed)."""
        self._book = book
        self._args = (instrument_id, mark, v, excluded)
        self._equities = equities
        self._position_data = position_data
        self._offset_key = tuple(int(k) for k in offset_key)
        self.policy = get_policy(policy)
        self.alloc_mode = 0 if self.policy.family == "queue" else 1
        self._tiers = ranking_tiers(tiers)
        self.queue = np.zeros((2, FIRST_CHUNK), dtype=np.int64)
        self.take = np.zeros((2, FIRST_CHUNK), dtype=np.int64)
        self.indicator = np.zeros((2, FIRST_CHUNK), dtype=np.int8)
        self.length = np.zeros(2, dtype=np.int64)
        self.pointer = np.zeros(2, dtype=np.int64)
        self.available = np.zeros(2, dtype=np.int64)
        self.complete = np.zeros(2, dtype=np.int64)
        self.prepared_for = np.full(2, -1, dtype=np.int64)
        self.request = np.zeros(2, dtype=np.int64)
        self._pool: list[dict | None] = [None, None]
        self._cum = [0, 0]
        self._total = [0, 0]
        self._chunk = [FIRST_CHUNK, FIRST_CHUNK]

    def _candidates(self, side: int) -> dict:
        if self._pool[side] is None:
            b = self._book
            inst, mark, v, excl = self._args
            inline = self._equities is None
            if inline:
                pos_eq = acc_eq = np.zeros(1, dtype=np.int64)
            else:
                pos_eq, acc_eq = self._equities()
            sign = 1 if side == 0 else -1
            if self.alloc_mode == 0 and self.policy.score is not None and self.policy.elementwise:
                # queue policies keep only each winner's score, an elementwise function of its figures: the book
                # is read a block of positions at a time, so a side of a large book never holds every winner's
                # figures at once (the pool's order, ascending position index, is the same)
                n = b.size.shape[0]
                cols = BookCols.of(b)
                args = (cols, sign, inst, mark, v, self._tiers, excl, pos_eq, acc_eq)
                w = None
                blocks = []
                for lo in range(0, n, SCORE_BLOCK):
                    hi = min(lo + SCORE_BLOCK, n)
                    blocks.append((lo, hi, adl_pool(*args, lo, hi, inline, PoolCols.empty(0), False)))
                m = sum(k for _, _, k in blocks)
                idx, score = np.empty(m, dtype=np.int64), np.empty(m)
                at = 0
                for lo, hi, k in blocks:
                    block_out = PoolCols(idx[at : at + k], *(np.empty(k, dtype=np.int64) for _ in range(4)))
                    adl_pool(*args, lo, hi, inline, block_out, True)
                    upnl, eq, wal, mm = block_out[1:]
                    block = winners_of(
                        b, sign, idx[at : at + k], upnl, eq, wal, mm, mark, v, self.policy, self._position_data
                    )
                    score[at : at + k] = np.nan_to_num(self.policy.score(block), nan=-np.inf)
                    at += k
            else:
                idx, upnl, eq, wal, mm = eligible(b, sign, inst, mark, v, excl, self._tiers, pos_eq, acc_eq, inline)
                m = idx.shape[0]
                w = winners_of(b, sign, idx, upnl, eq, wal, mm, mark, v, self.policy, self._position_data)
                if self.policy.rotating:  # dYdX: position order from a seeded start, no ranking
                    score = rotation_scores(m, rotation_start(self._offset_key + (side,), m))
                else:
                    score = self.policy.score(w) if self.policy.score is not None else np.zeros(m)
                score = np.nan_to_num(score, nan=-np.inf)
            self._pool[side] = {
                "idx": idx,
                "winners": w,
                "score": score,
                # queue policies: the positions not queued yet (ascending) and their negated scores
                "rest": idx,
                "rest_neg": None,
            }
            self._total[side] = side_quantity(sign, inst, b.size, b.account, b.instrument, b.exempt)
        return self._pool[side]  # type: ignore[return-value]

    def extend(self, side: int) -> None:
        """Queue policies: append the next chunk of ``side``'s eligible positions in rank order.

        The positions not queued yet are kept compacted (``rest``, ascending, with their negated scores), so a
        chunk costs one ``np.argpartition`` over them and a sort of the chunk; once the chunk would be at least
        half of what is left, everything left is queued at once (one sort instead of further partitions: the
        order, and so the liquidation, is the same, the queue only holds its tail earlier)."""
        pool = self._candidates(side)
        rest = pool["rest"]
        if rest.shape[0] == 0:
            self.complete[side] = 1
            return
        neg = pool["rest_neg"]
        if neg is None:
            neg = -pool["score"]
            pool["score"] = None  # only the negated copy is read from here on
        n_rest = rest.shape[0]
        k = self._chunk[side]
        if 2 * k < n_rest:
            part = np.argpartition(neg, k - 1)
            kth = neg[part[k - 1]]
            del part
            # canonical ties at the boundary: every score strictly above, then equal scores by index
            above = np.flatnonzero(neg < kth)
            equal = np.flatnonzero(neg == kth)[: k - above.size]
            take = np.concatenate([above, equal])
            take.sort()
            # ``take`` ascending and ``rest`` ascending: a stable sort by score keeps ties in index order
            take = take[canonical_order(neg[take])]
            keep = np.ones(n_rest, dtype=bool)
            keep[take] = False
            pool["rest"], pool["rest_neg"] = rest[keep], neg[keep]
        else:
            take = canonical_order(neg)
            pool["rest"], pool["rest_neg"] = rest[:0], neg[:0]
        chosen = rest[take]
        del neg, take
        lots = np.abs(self._book.size[chosen])
        cum = self._cum[side] + np.cumsum(lots)
        total = max(self._total[side], 1)
        lights = lights_from_cumulative(cum, total)
        if self.policy.rotating:  # dYdX publishes no ADL indicator
            lights[:] = 0
        self._cum[side] = int(cum[-1]) if cum.size else self._cum[side]
        self._append(side, chosen, np.full(chosen.size, NO_LIMIT, dtype=np.int64), lights, int(lots.sum()))
        self._chunk[side] *= 4
        if pool["rest"].shape[0] == 0:
            self.complete[side] = 1

    def prepare(self, side: int, order_index: int) -> None:
        """Allocation policies: split ``request[side]`` lots among all eligible counterparties now."""
        pool = self._candidates(side)
        b = self._book
        idx = pool["idx"]
        sizes = np.abs(b.size[idx])
        live = sizes > 0
        idx, sizes = idx[live], sizes[live]
        cap = capacity_measure(self.policy.name, pool["winners"])[live]
        # float weights: the split is still exact in lots (largest remainder), and much faster than the
        # Python-integer path the money forms need
        lots = allocate_lots(self.policy, int(self.request[side]), sizes, np.zeros(sizes.size), cap.astype(np.float64))
        give = lots > 0
        self.length[side] = 0
        self.pointer[side] = 0
        self.available[side] = 0
        self._append(side, idx[give], lots[give], np.zeros(int(give.sum()), dtype=np.int8), int(lots.sum()))
        self.complete[side] = 1
        self.prepared_for[side] = order_index

    def _append(self, side: int, chosen: np.ndarray, take: np.ndarray, lights: np.ndarray, lots: int) -> None:
        n0 = int(self.length[side])
        need = n0 + chosen.size
        if need > self.queue.shape[1]:
            cap = max(need, 2 * self.queue.shape[1])
            q = np.zeros((2, cap), dtype=np.int64)
            t = np.zeros((2, cap), dtype=np.int64)
            ind = np.zeros((2, cap), dtype=np.int8)
            q[:, : self.queue.shape[1]] = self.queue
            t[:, : self.take.shape[1]] = self.take
            ind[:, : self.indicator.shape[1]] = self.indicator
            self.queue, self.take, self.indicator = q, t, ind
        self.queue[side, n0:need] = chosen
        self.take[side, n0:need] = take
        self.indicator[side, n0:need] = lights
        self.length[side] = need
        self.available[side] += lots
