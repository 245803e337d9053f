"""The queue family: winners ranked by a venue's score (:mod:`delever.adl.scores`, the one implementation the
venue rulebooks share) pay whole positions, the last partially; and dYdX v4's random offset, a queue in
position order from a seeded start. Sources: venues.md sections 1-8; specs/adl_policies.md "Queue".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...units import MONEY_SCALE
from .. import scores
from .winners import Allocation, Winners, check_need, make_allocation
from .splits import lot_haircut, lots_for


def entry_value(w: Winners) -> np.ndarray:
    """|Entry value| = notional x entry / mark (money, float): what the profit is a percentage of. With the
    position's real entry and mark this is ``|lots x entry x V| = |cost|`` for a long and a short alike: the
    rule of the venue rulebooks' scores (:class:`delever.venues.adl_rules.AdlInputs` ``cost``; issue #11)."""
    return scores.entry_value(w.notional, w.entry_price, w.mark_price)


def score_bitmex(w: Winners) -> np.ndarray:
    """BitMEX: ``PnL% x effective leverage``, ``PnL% = uPnL / |entry value|`` (:func:`entry_value`), effective
    leverage = notional / equity; ``-inf`` when equity <= 0 (:func:`delever.adl.scores.bitmex`, the venue
    rulebook's own function)."""
    return scores.bitmex(w.pnl, entry_value(w), w.notional, w.equity)


def score_binance(w: Winners) -> np.ndarray:
    """Binance: ``max(0, uPnL) / max(1, wallet) x MM / (wallet + uPnL)``, the 1 one quote unit
    (:func:`delever.adl.scores.binance`)."""
    return scores.binance(w.pnl, w.wallet_balance, w.mm, float(MONEY_SCALE))


def score_hyperliquid(w: Winners) -> np.ndarray:
    """Hyperliquid: ``(mark / entry) x (notional / account value)``, a short (``side`` -1) by ``entry / mark``
    (:func:`delever.adl.scores.hyperliquid`); without ``side`` every winner is read as a long (callers that
    pass the value ratio ``1 + PnL%`` as mark / entry)."""
    side = np.ones(w.n) if w.side is None else w.side
    return scores.hyperliquid(w.pnl, side, w.mark_price, w.entry_price, w.notional, w.equity)


def score_bitget(w: Winners) -> np.ndarray:
    """Bitget (cross): ``positionROI x accountMMR`` (:func:`delever.adl.scores.roi_mmr`); with the default
    notional-proportional maintenance margin this ranks as BitMEX does."""
    return scores.roi_mmr(w.pnl, entry_value(w), w.mm, w.equity)


def queue_fill(need: int, caps: np.ndarray, contracts: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy queue: winners in score order (descending, ties by index) pay their whole capacity (all
    their contracts closed) until the need is met; the last one closes the fewest whole contracts that
    cover the rest (overshoot below one contract's value). Returns ``(haircut, closed_contracts)``."""
    n = caps.shape[0]
    h = np.zeros(n, dtype=np.int64)
    k = np.zeros(n, dtype=np.int64)
    elig = np.flatnonzero(caps > 0)
    if need <= 0 or elig.size == 0:
        return h, k
    order = elig[np.lexsort((elig, -np.nan_to_num(scores[elig], nan=-np.inf, posinf=np.inf)))]
    cum = np.cumsum(caps[order])
    j = int(np.searchsorted(cum, need, side="left"))  # first position whose cumulative cap reaches need
    if j >= order.size:
        h[order] = caps[order]
        k[order] = contracts[order]
        return h, k
    whole = order[:j]
    h[whole] = caps[whole]
    k[whole] = contracts[whole]
    last = order[j : j + 1]
    rest = need - (int(cum[j - 1]) if j > 0 else 0)
    kl = lots_for(np.array([rest]), caps[last], contracts[last])
    k[last] = np.where(contracts[last] > 0, kl, 0)
    h[last] = np.where(contracts[last] > 0, lot_haircut(kl, caps[last], contracts[last]), rest)
    return h, k


def queue_policy(name: str, score: Callable[[Winners], np.ndarray]):
    """The queue policy ``name`` ranking winners by ``score`` (float64 (n,), higher first, ties by index): whole
    capacities in that order until the need is met, the last winner in whole contracts (:func:`queue_fill`)."""

    def policy(w: Winners, need: int, state=None) -> Allocation:
        need = check_need(need)
        s = score(w)
        h, k = queue_fill(need, w.cap, w.contracts, s)
        return make_allocation(name, need, h, k)

    policy.__name__ = name.replace("-", "_")
    policy.__doc__ = f"""Queue ({name}): sort winners by the venue's score, highest first, and take whole positions
    (whole capacity, all contracts) until ``B`` is met, the last one partially in whole contracts.

    Score: {score.__doc__}

    Source: the venue's section of ../shared/specs/venues.md (cited in the score) and specs/adl_policies.md
    "Queue". Overshoot: below one contract's value (whole-contract rounding of the last position). The headline
    queue overshoot of the 10 October 2025 event (Chitra 2025, specs/adl_policies.md) is measured in
    wealth, against a no-ADL replay, not in this haircut space. Units: money in, money out.
    """
    return policy


queue_bitmex = queue_policy("queue-bitmex", score_bitmex)
queue_binance = queue_policy("queue-binance", score_binance)
queue_hyperliquid = queue_policy("queue-hyperliquid", score_hyperliquid)
queue_bitget = queue_policy("queue-bitget", score_bitget)


def rotation_start(key: tuple[int, ...], n: int) -> int:
    """The pseudo-random start offset, in ``[0, n)``, of a counterparty iteration over ``n`` positions.

    dYdX v4 (engines.md section 1, ``protocol/x/clob/keeper/deleveraging.go``) iterates the subaccounts with an
    opposite-side position from a pseudo-random start. Here the start is a pure function of ``key`` (non-negative
    integers: the run's seed, the step, the instrument, the side), drawn with numpy's ``SeedSequence`` /
    ``default_rng``, so a run stays a pure function of (scenario, seed). ``n`` <= 0 gives 0.
    """
    if n <= 0:
        return 0
    if any(k < 0 for k in key):
        raise ValueError(f"rotation_start: key must be non-negative integers, got {key!r}")
    return int(np.random.default_rng(np.random.SeedSequence([int(k) for k in key])).integers(n))


def rotation_scores(n: int, start: int) -> np.ndarray:
    """Queue scores (float64 (n,), higher first) that order rows ``start, start + 1, ..., n - 1, 0, ...,
    start - 1``: ``-((i - start) mod n)``; all distinct, so the queue's tie-break by index never applies."""
    if n <= 0:
        return np.zeros(0)
    return -((np.arange(n, dtype=np.int64) - int(start)) % n).astype(np.float64)


def random_offset(w: Winners, need: int, state=None) -> Allocation:
    """Random offset (dYdX v4): no ranking; winners in row order from a start offset, each paying its whole
    capacity (all its contracts) until ``B`` is met, the last one partially in whole contracts (:func:`queue_fill`).

    The start: ``state`` (an int, default 0: row order). The cascade engine draws it for each step, instrument
    and side from the run's seed (:func:`rotation_start`, :class:`delever.adl.queue.AdlQueue`); there its rows
    are the opposite side's eligible positions in position-index order, and each offset passes the kernel's
    collateral check (:func:`delever.liquidation.winner_capacity`: a counterparty that would fall below zero
    equity gives only what it can, the next one is tried), as dYdX's "non-overlapping bankruptcy prices".
    No ADL indicator: dYdX publishes none.

    Source: ../shared/specs/engines.md section 1 (Deleveraging: "iterated from a pseudo-random start, at most 500
    checked ... There is no ranking by PnL or leverage"). Units: money in, money out.
    """
    need = check_need(need)
    start = 0 if state is None else int(state) % max(w.n, 1)
    h, k = queue_fill(need, w.cap, w.contracts, rotation_scores(w.n, start))
    return make_allocation("random-offset", need, h, k, start=start)
