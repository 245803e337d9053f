"""The ADL queue of one instrument within one step, built lazily in rank order.

Ranking is a snapshot at the step's mark price (venues recompute it periodically: Binance's ``adlQuantile``
every 30 s, venues.md section 1). Only the head of the queue is usually needed, so it is built in chunks
with ``np.argpartition`` (O(n) per chunk) rather than a full sort: 256 positions first, then four times more
each time the liquidation stage asks. Order is canonical: score descending, then position index ascending,
so runs are deterministic whatever the partition's internal order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ranking import adl_candidates, side_quantity

FIRST_CHUNK = 256


class AdlQueue:
    """Both sides' queues for one instrument: arrays the compiled liquidation stage reads and advances.

    Attributes (side 0 = longs, 1 = shorts): ``queue`` int64 (2, cap) position indices in rank order,
    ``indicator`` int8 (2, cap) their ADL lights (1..5) at ranking time, ``length``/``pointer``/``available``
    (int64 (2,): entries built, next entry, lots left) and ``complete`` (int64 (2,), 1 once every eligible
    position is queued).
    """

    def __init__(self, book, instrument_id: int, mark: int, v: int,
                 equities: Callable[[], tuple[np.ndarray, np.ndarray]], excluded: np.ndarray) -> None:
        """``equities()`` returns ``(position equity, account equity)`` as the sweep defines them; it is
        called only if this step needs ADL."""
        self._book = book
        self._args = (instrument_id, mark, v, excluded)
        self._equities = equities
        self.queue = np.zeros((2, FIRST_CHUNK), dtype=np.int64)
        self.indicator = np.zeros((2, FIRST_CHUNK), dtype=np.int8)
        self.length = np.zeros(2, dtype=np.int64)
        self.pointer = np.zeros(2, dtype=np.int64)
        self.available = np.zeros(2, dtype=np.int64)
        self.complete = np.zeros(2, dtype=np.int64)
        self._cand: list[tuple[np.ndarray, np.ndarray] | None] = [None, None]
        self._cum = [0, 0]
        self._total = [0, 0]
        self._chunk = [FIRST_CHUNK, FIRST_CHUNK]

    def _candidates(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cand[side] is None:
            b = self._book
            inst, mark, v, excl = self._args
            pos_eq, acc_eq = self._equities()
            sign = 1 if side == 0 else -1
            n = b.size.shape[0]
            idx = np.empty(n, dtype=np.int64)
            score = np.empty(n, dtype=np.float64)
            m = adl_candidates(sign, inst, b.size, b.cost, b.isolated, b.account, b.instrument, b.exempt,
                               excl, mark, v, pos_eq, acc_eq, idx, score)
            self._cand[side] = (idx[:m].copy(), score[:m].copy())
            self._total[side] = side_quantity(sign, inst, b.size, b.account, b.instrument, b.exempt)
        return self._cand[side]  # type: ignore[return-value]

    def extend(self, side: int) -> None:
        """Append the next chunk of ``side``'s eligible positions in rank order (or mark it complete)."""
        idx, score = self._candidates(side)
        if idx.shape[0] == 0:
            self.complete[side] = 1
            return
        k = min(self._chunk[side], idx.shape[0])
        if k < idx.shape[0]:
            part = np.argpartition(-score, k - 1)
            kth = -score[part[k - 1]]
            # canonical ties at the boundary: every score strictly above, then equal scores by index
            above = np.flatnonzero(-score < kth)
            equal = np.flatnonzero(-score == kth)
            take = np.concatenate([above, equal[np.argsort(idx[equal], kind="stable")][: k - above.size]])
        else:
            take = np.arange(idx.shape[0])
        take = take[np.lexsort((idx[take], -score[take]))]
        chosen = idx[take]
        lots = np.abs(self._book.size[chosen])
        cum = self._cum[side] + np.cumsum(lots)
        total = max(self._total[side], 1)
        lights = (6 - (-((-5 * cum) // total))).astype(np.int8)
        self._cum[side] = int(cum[-1]) if cum.size else self._cum[side]
        self._append(side, chosen, lights, int(lots.sum()))
        keep = np.ones(idx.shape[0], dtype=bool)
        keep[take] = False
        self._cand[side] = (idx[keep], score[keep])
        self._chunk[side] *= 4
        if not keep.any():
            self.complete[side] = 1

    def _append(self, side: int, chosen: np.ndarray, lights: np.ndarray, lots: int) -> None:
        n0 = int(self.length[side])
        need = n0 + chosen.size
        if need > self.queue.shape[1]:
            cap = max(need, 2 * self.queue.shape[1])
            q = np.zeros((2, cap), dtype=np.int64)
            ind = np.zeros((2, cap), dtype=np.int8)
            q[:, : self.queue.shape[1]] = self.queue
            ind[:, : self.indicator.shape[1]] = self.indicator
            self.queue, self.indicator = q, ind
        self.queue[side, n0:need] = chosen
        self.indicator[side, n0:need] = lights
        self.length[side] = need
        self.available[side] += lots
