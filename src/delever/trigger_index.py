"""An index of trigger prices, so that a step finds its liquidations without touching the whole book.

Each position's exact trigger price (:func:`delever.sweep.trigger_price`) only changes when the position or
its account changes, which happens to the few positions a liquidation step touches. The index keeps the
longs sorted by trigger, highest first, and the shorts lowest first; a step reads only the head of each
list (the positions the mark has reached) plus a short list of positions whose trigger changed since the
index was built ("pending"). Entries go stale when their position's trigger changes or the position
closes; a stale entry is recognised (its key no longer equals the position's trigger) and skipped, and the
index is rebuilt once the pending list grows past ``max(4096, n / 16)``: the entries still valid, already in
order, are merged with the sorted pending ones in O(n) (the same lists a full sort gives: the order is total,
trigger then position index). Positions are stored as int32 (int64 for books of 2**31 positions or more).

A step therefore costs O(liquidated + pending) instead of O(n); the listed set equals
:func:`delever.sweep.trigger_sweep`'s (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .columns import KERNEL, TriggerCols


@njit(**KERNEL)
def scan_triggers(mark, ix, step, out) -> int:
    """Write the positions of index ``ix`` (a :class:`delever.columns.TriggerCols`) that ``mark`` (ticks) has
    reached into ``out``, each once per ``step`` (stamped); return how many."""
    size, trigger, stamp = ix.size, ix.trigger, ix.stamp
    long_key, long_idx, short_key, short_idx = ix.long_key, ix.long_idx, ix.short_key, ix.short_idx
    head, pending, n_pending, bounds = ix.head, ix.pending, ix.n_pending, ix.bounds
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
    if mark > bounds[0] and mark < bounds[1]:
        return count  # no pending long's trigger is as high as the mark, no pending short's as low
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


@njit(**KERNEL)
def _bound(positions, size, trigger, bounds) -> None:
    """Widen ``bounds`` (highest trigger of a pending long, lowest of a pending short) by ``positions``."""
    for t in range(positions.shape[0]):
        i = positions[t]
        if size[i] > 0:
            bounds[0] = max(bounds[0], trigger[i])
        elif size[i] < 0:
            bounds[1] = min(bounds[1], trigger[i])


@njit(**KERNEL)
def _compact(sign, size, trigger, key, idx, skip) -> int:
    """Move the entries still valid (position on side ``sign``, key equal to its trigger) and not in ``skip``
    to the front of ``key``/``idx``, in order; return how many."""
    c = 0
    for j in range(key.shape[0]):
        i = idx[j]
        s = size[i]
        if skip[i] or trigger[i] != key[j] or not ((s > 0) if sign > 0 else (s < 0)):
            continue
        key[c] = key[j]
        idx[c] = i
        c += 1
    return c


@njit(**KERNEL)
def _merge(sign, key, idx, c, new_key, new_idx, out_key, out_idx) -> None:
    """Merge ``key[:c]`` and ``new_key`` (each sorted: trigger descending for longs, ascending for shorts,
    then position ascending) into ``out_key``/``out_idx``."""
    a = 0
    b = 0
    k = new_key.shape[0]
    for o in range(c + k):
        if b >= k:
            take_old = True
        elif a >= c:
            take_old = False
        else:
            ka = key[a]
            kb = new_key[b]
            if ka == kb:
                take_old = idx[a] < new_idx[b]
            elif sign > 0:
                take_old = ka > kb
            else:
                take_old = ka < kb
        if take_old:
            out_key[o] = key[a]
            out_idx[o] = idx[a]
            a += 1
        else:
            out_key[o] = new_key[b]
            out_idx[o] = new_idx[b]
            b += 1


class TriggerIndex:
    """Sorted trigger prices of one instrument's positions (see the module docstring).

    Arguments are the book's ``size`` and the ``trigger`` array the engine keeps up to date; both are read,
    never written. Positions that can never be liquidated (flat, liquidity providers) carry sentinel
    triggers and never reach the head of a list. Steps passed to :meth:`scan` must be below 2**31.
    """

    def __init__(self, size: np.ndarray, trigger: np.ndarray) -> None:
        self._size = size
        self._trigger = trigger
        n = size.shape[0]
        self._idx_type = np.int32 if n < 2**31 else np.int64
        self._stamp = np.full(n, -1, dtype=np.int32)
        self.max_pending = max(4096, n // 16)
        self.rebuilds = 0
        self._build()

    def _build(self) -> None:
        """The lists from scratch: every long (short) position by trigger, position index breaking ties."""
        s, t = self._size, self._trigger
        longs = np.flatnonzero(s > 0)
        key = t[longs]
        order = np.argsort(-key, kind="stable")
        self.long_idx, self.long_key = longs[order].astype(self._idx_type), key[order]
        del longs, key, order
        shorts = np.flatnonzero(s < 0)
        key = t[shorts]
        order = np.argsort(key, kind="stable")
        self.short_idx, self.short_key = shorts[order].astype(self._idx_type), key[order]
        self._reset()

    def _reset(self) -> None:
        self.head = np.zeros(2, dtype=np.int64)
        self.pending = np.zeros(1024, dtype=np.int64)
        self.n_pending = 0
        # the highest trigger of a pending long and the lowest of a pending short (as they were reported: a
        # position whose size or trigger changes is reported again), so a scan the mark leaves between them
        # need not read the pending list
        self.bounds = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max], dtype=np.int64)
        self.rebuilds += 1

    def _rebuild(self) -> None:
        """The lists again, by merging the valid entries with the pending positions (equal to :meth:`_build`)."""
        s, t = self._size, self._trigger
        skip = np.zeros(s.shape[0], dtype=bool)
        skip[self.pending[: self.n_pending]] = True
        pend = np.flatnonzero(skip)  # the pending positions, once each, ascending (O(n), no sort)
        for sign in (1, -1):
            new = pend[s[pend] > 0] if sign > 0 else pend[s[pend] < 0]  # ascending positions
            new_key = t[new]
            order = np.argsort(-new_key if sign > 0 else new_key, kind="stable")
            new, new_key = new[order], new_key[order]
            key, idx = (self.long_key, self.long_idx) if sign > 0 else (self.short_key, self.short_idx)
            c = _compact(sign, s, t, key, idx, skip)
            out_key = np.empty(c + new.shape[0], dtype=np.int64)
            out_idx = np.empty(c + new.shape[0], dtype=self._idx_type)
            _merge(sign, key, idx, c, new_key, new.astype(self._idx_type), out_key, out_idx)
            if sign > 0:
                self.long_key, self.long_idx = out_key, out_idx
            else:
                self.short_key, self.short_idx = out_key, out_idx
            del key, idx
        self._reset()

    def changed(self, positions: np.ndarray) -> None:
        """Record positions whose trigger was recomputed (or that opened). A flat one is left out: it never fires
        (the scan skips it in the lists as a stale entry), and a liquidation step that closes 1e4-1e5 positions would
        otherwise fill the pending list with them and force a rebuild of the lists every few steps."""
        positions = positions[self._size[positions] != 0]
        k = positions.shape[0]
        if self.n_pending + k > self.pending.shape[0]:
            grown = np.zeros(max(2 * self.pending.shape[0], self.n_pending + k), dtype=np.int64)
            grown[: self.n_pending] = self.pending[: self.n_pending]
            self.pending = grown
        self.pending[self.n_pending : self.n_pending + k] = positions
        self.n_pending += k
        _bound(positions, self._size, self._trigger, self.bounds)
        if self.n_pending > self.max_pending:
            self._rebuild()

    def columns(self) -> TriggerCols:
        """The index's arrays as the compiled scan reads them (shared, not copied)."""
        return TriggerCols(
            self._size,
            self._trigger,
            self.long_key,
            self.long_idx,
            self.short_key,
            self.short_idx,
            self.head,
            self.pending,
            int(self.n_pending),
            self.bounds,
            self._stamp,
        )

    def scan(self, mark: int, step: int, out: np.ndarray) -> int:
        """Write the positions the mark (ticks) has reached into ``out``; return how many (each once)."""
        return scan_triggers(mark, self.columns(), step, out)
