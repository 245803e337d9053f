"""An index of trigger prices, so that a step finds its liquidations without touching the whole book.

Each position's exact trigger price (:func:`delever.sweep.trigger_price`) only changes when the position or
its account changes, which happens to the few positions a liquidation step touches. The index keeps the
longs sorted by trigger, highest first, and the shorts lowest first; a step reads only the head of each
list (the positions the mark has reached) plus a short list of positions whose trigger changed since the
index was built ("pending"). Entries go stale when their position's trigger changes or the position
closes; a stale entry is recognised (its key no longer equals the position's trigger) and skipped, and the
index is rebuilt once the pending list grows past ``max(4096, n / 16)``.

A step therefore costs O(liquidated + pending) instead of O(n); the listed set equals
:func:`delever.sweep.trigger_sweep`'s (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _scan(
    mark, size, trigger, long_key, long_idx, short_key, short_idx, head, pending, n_pending, stamp, step, out
) -> int:
    count = 0
    # longs, highest trigger first: liquidatable while key >= mark
    h = head[0]
    j = h
    advancing = True
    while j < long_key.shape[0] and long_key[j] >= mark:
        i = long_idx[j]
        if size[i] > 0 and trigger[i] == long_key[j]:
            advancing = False
            if stamp[i] != step:
                stamp[i] = step
                out[count] = i
                count += 1
        elif advancing:
            h = j + 1  # a stale prefix never becomes valid again: skip it from now on
        j += 1
    head[0] = h
    h = head[1]
    j = h
    advancing = True
    while j < short_key.shape[0] and short_key[j] <= mark:
        i = short_idx[j]
        if size[i] < 0 and trigger[i] == short_key[j]:
            advancing = False
            if stamp[i] != step:
                stamp[i] = step
                out[count] = i
                count += 1
        elif advancing:
            h = j + 1
        j += 1
    head[1] = h
    for t in range(n_pending):
        i = pending[t]
        s = size[i]
        if stamp[i] == step:
            continue
        if (s > 0 and mark <= trigger[i]) or (s < 0 and mark >= trigger[i]):
            stamp[i] = step
            out[count] = i
            count += 1
    return count


class TriggerIndex:
    """Sorted trigger prices of one instrument's positions (see the module docstring).

    Arguments are the book's ``size`` and the ``trigger`` array the engine keeps up to date; both are read,
    never written. Positions that can never be liquidated (flat, liquidity providers) carry sentinel
    triggers and never reach the head of a list.
    """

    def __init__(self, size: np.ndarray, trigger: np.ndarray) -> None:
        self._size = size
        self._trigger = trigger
        self._stamp = np.full(size.shape[0], -1, dtype=np.int64)
        self.rebuilds = 0
        self._build()

    def _build(self) -> None:
        s, t = self._size, self._trigger
        longs = np.flatnonzero(s > 0)
        shorts = np.flatnonzero(s < 0)
        lo = longs[np.argsort(-t[longs], kind="stable")]
        sh = shorts[np.argsort(t[shorts], kind="stable")]
        self.long_idx, self.long_key = lo.astype(np.int64), t[lo].copy()
        self.short_idx, self.short_key = sh.astype(np.int64), t[sh].copy()
        self.head = np.zeros(2, dtype=np.int64)
        self.pending = np.zeros(1024, dtype=np.int64)
        self.n_pending = 0
        self.rebuilds += 1

    def changed(self, positions: np.ndarray) -> None:
        """Record positions whose trigger was recomputed (or that opened)."""
        k = positions.shape[0]
        if self.n_pending + k > max(4096, self._size.shape[0] // 16):
            self._build()
            return
        if self.n_pending + k > self.pending.shape[0]:
            grown = np.zeros(max(2 * self.pending.shape[0], self.n_pending + k), dtype=np.int64)
            grown[: self.n_pending] = self.pending[: self.n_pending]
            self.pending = grown
        self.pending[self.n_pending : self.n_pending + k] = positions
        self.n_pending += k

    def scan(self, mark: int, step: int, out: np.ndarray) -> int:
        """Write the positions the mark (ticks) has reached into ``out``; return how many (each once)."""
        return _scan(
            mark,
            self._size,
            self._trigger,
            self.long_key,
            self.long_idx,
            self.short_key,
            self.short_idx,
            self.head,
            self.pending,
            self.n_pending,
            self._stamp,
            step,
            out,
        )
