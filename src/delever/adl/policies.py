"""Auto-deleveraging policies: who pays a round's ADL budget, and how much, as pure functions over arrays.

The problem (../shared/specs/adl_policies.md, "The problem"): a round of ADL must move a budget ``B`` (the
bankruptcy-gap transfer, money units) from the winners - profitable positions on the other side - to cover a
deficit. A policy chooses haircuts ``h`` with ``0 <= h_i <= u_i`` (``u_i``: the winner's capacity, by
default its unrealised profit) and ``sum(h) = B``. Every policy here takes a :class:`Winners` (one row per
winner, numpy arrays) and the need ``B`` and returns an :class:`Allocation`; they are registered by name in
:data:`POLICIES`:

==========================  ================================================================================
name                        rule
==========================  ================================================================================
``queue-bitmex``            queue by PnL% x effective leverage (BitMEX, venues.md section 2)
``queue-binance``           queue by max(0, uPnL) / max(1, wallet) x margin ratio (Binance, venues.md s. 1)
``queue-hyperliquid``       queue by (mark / entry) x (notional / account value) (Hyperliquid, venues.md s. 6)
``queue-bitget``            queue by ROI x account MMR (Bitget, venues.md section 8)
``pro-rata-pnl``            capped pro rata on unrealised profit
``pro-rata-equity``         capped pro rata on equity
``pro-rata-notional``       capped pro rata on position notional
``pro-rata-contracts``      the same fraction of every winner's contracts, whole contracts (exchange style)
``risk-aware``              RAP / levered pro rata: ``h_i = min(u_i, tau u_i lambda_i g(lambda_i))``
``water-filling``           cut the most levered first until leverages are equal (Campbell et al. 2026)
``min-max``                 minimise ``max_i h_i / e_i`` (continuous; the closed form is pro rata on equity)
``min-max-integer``         the same over whole contracts (``scipy.optimize.milp``)
``socialized-loss``         pro rata over all of the period's winners' profit (Deribit, old OKX)
``online-mirror-descent``   multi-round: entropic mirror descent on the simplex of budget shares
``hierarchy``               queue by a configured hierarchy of keys (:mod:`delever.adl.hierarchy`; the
                            registered default: effective leverage, then notional, then funding received)
``random-offset``           no ranking: positions in index order from a pseudo-random start (dYdX v4,
                            engines.md section 1), seeded from the run's seed and the step
==========================  ================================================================================

**Units.** Money arrays (``pnl``, ``equity``, ``notional``, ``capacity``, haircuts) are int64 money units
(:data:`delever.units.MONEY_SCALE` per quote unit), contracts int64 lots, leverage and prices float64 (prices
only enter the Hyperliquid score as the ratio mark / entry, so any common unit will do).

**Exactness.** Haircuts are integers. A continuous rule is computed in floating point (or exact integers
where its weights are integers) and rounded by largest remainder under the caps, so that
``sum(haircut) == min(B, capacity that the rule may use)`` exactly; whatever the rule cannot place is the
``shortfall``. Policies that close whole contracts (the queue's last position, ``pro-rata-contracts``,
``min-max-integer``) may take slightly more than ``B``: the ``overshoot``, less than one contract's value per
partially closed winner. Closing ``k`` of a winner's ``c`` available contracts costs it
``ceil(k * u / c)`` (a requirement rounds up, units.py), so closing all of them costs exactly ``u``; a winner
with ``c = 0`` (no lot information) is divisible to the money unit.

**Determinism.** Ties are broken by row index (queue: score descending, then index; largest remainder:
remainder descending, then capacity descending, then index).

Sources: ../shared/specs/adl_policies.md (problem, families, metrics); ../shared/specs/venues.md (venue
scores); Chitra, "Autodeleveraging: Impossibilities and Optimization", arXiv:2512.01112 (pro rata, RAP,
min-max, queue overshoot; code github.com/pluriholonomic/autodeleveraging-analysis, MIT); Chitra, Thogiti,
Trujillo Ramirez, Xu, "Autodeleveraging as Online Learning", arXiv:2602.15182 (online policies); Campbell,
Hey, Moallemi, Nutz, "Risk-Based Auto-Deleveraging", arXiv:2603.15963 (water-filling on leverage).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..units import MONEY_SCALE
from . import scores
from .hierarchy import DEFAULT_KEYS, HierarchyRule

__all__ = [
    "Allocation",
    "POLICIES",
    "Policy",
    "Winners",
    "allocate",
    "allocate_lots",
    "capped_split",
    "get_policy",
    "hierarchy_policy",
    "lot_haircut",
    "random_offset",
    "rotation_scores",
    "rotation_start",
]

# --------------------------------------------------------------------------------------------------------
# inputs and outputs


def _i64(a, n: int, name: str) -> np.ndarray:
    out = np.asarray(a)
    if out.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {out.shape}")
    if out.dtype.kind not in "iub":
        if not np.all(np.isfinite(out)) or not np.all(out == np.round(out)):
            raise ValueError(f"{name}: must be integers (money units / lots)")
    return out.astype(np.int64)


def _f64(a, n: int, name: str) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {out.shape}")
    return out


@dataclass(frozen=True)
class Winners:
    """The winners of one ADL round, one row each (arrays of one length ``n``).

    Required:
        pnl: int64 money, unrealised profit >= 0 (the default capacity ``u``).
        equity: int64 money, the account's equity (may be <= 0: such a winner gets no equity weight).
        notional: int64 money >= 0, the position's notional.
        contracts: int64 lots >= 0 available to close this round (0: no lot information, divisible).
        leverage: float64, the winner's leverage for the leverage-based rules (risk-aware, water-filling);
            non-finite or <= 0 is read as infinite (an account with no equity is the most levered). The queue
            scores use notional / equity, as the venues define them.
        entry_price, mark_price: float64, the position's average entry and the mark (any one unit): the entry
            value ``notional x entry / mark`` (= ``|cost|``, for longs and shorts alike) and the Hyperliquid
            ratio.

    Optional (``None`` gives the stated default):
        capacity: int64 money, the most this round may take from each (default ``pnl``).
        wallet: int64 money, Binance's wallet balance (default ``equity - pnl``).
        maintenance_margin: int64 money, for the Binance and Bitget scores (default: proportional to
            notional, i.e. one maintenance rate for all, which leaves the ranking unchanged).
        period_pnl: int64 money, the period's profit, weights of socialized loss and the online policy's
            first shares (default ``pnl``).
        period_capacity: int64 money, what socialized loss may take: all of the period's winners, not only
            this round's (default ``capacity``).
        funding_received: int64 money, net funding each position received over the hierarchy's window
            (received > 0; the ``funding_received`` key of :mod:`delever.adl.hierarchy`; default 0).
        age_s: float64 seconds since each position was opened (the ``position_age`` key; default 0).
        side: int64 +1 (long) / -1 (short) per winner, the direction of the Hyperliquid ratio (default +1).
    """

    pnl: np.ndarray
    equity: np.ndarray
    notional: np.ndarray
    contracts: np.ndarray
    leverage: np.ndarray
    entry_price: np.ndarray
    mark_price: np.ndarray
    capacity: np.ndarray | None = None
    wallet: np.ndarray | None = None
    maintenance_margin: np.ndarray | None = None
    period_pnl: np.ndarray | None = None
    period_capacity: np.ndarray | None = None
    funding_received: np.ndarray | None = None
    age_s: np.ndarray | None = None
    side: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = int(np.asarray(self.pnl).shape[0]) if np.ndim(self.pnl) == 1 else -1
        if n < 0:
            raise ValueError("pnl: expected a one-dimensional array")
        s = object.__setattr__
        s(self, "pnl", _i64(self.pnl, n, "pnl"))
        s(self, "equity", _i64(self.equity, n, "equity"))
        s(self, "notional", _i64(self.notional, n, "notional"))
        s(self, "contracts", _i64(self.contracts, n, "contracts"))
        s(self, "leverage", _f64(self.leverage, n, "leverage"))
        s(self, "entry_price", _f64(self.entry_price, n, "entry_price"))
        s(self, "mark_price", _f64(self.mark_price, n, "mark_price"))
        for name in ("capacity", "wallet", "maintenance_margin", "period_pnl", "period_capacity", "funding_received",
                     "side"):  # fmt: skip
            v = getattr(self, name)
            if v is not None:
                s(self, name, _i64(v, n, name))
        if self.age_s is not None:
            s(self, "age_s", _f64(self.age_s, n, "age_s"))
        if np.any(self.pnl < 0):
            raise ValueError("pnl: must be >= 0 (winners' unrealised profit)")
        if np.any(self.cap < 0) or np.any(self.contracts < 0) or np.any(self.notional < 0):
            raise ValueError("capacity, contracts and notional must be >= 0")
        if np.any(self.contracts >= 3_000_000_000):
            raise ValueError("contracts: at most 3e9 lots per winner (exact lot arithmetic in int64)")

    @property
    def n(self) -> int:
        """Number of winners."""
        return int(self.pnl.shape[0])

    @property
    def cap(self) -> np.ndarray:
        """Capacity ``u`` of this round (``capacity`` or ``pnl``), int64 money."""
        return self.pnl if self.capacity is None else self.capacity

    @property
    def wallet_balance(self) -> np.ndarray:
        return self.equity - self.pnl if self.wallet is None else self.wallet

    @property
    def mm(self) -> np.ndarray:
        """Maintenance margin (money; proportional-to-notional proxy when not given)."""
        return self.notional if self.maintenance_margin is None else self.maintenance_margin

    @classmethod
    def from_arrays(
        cls,
        pnl,
        equity=None,
        notional=None,
        contracts=None,
        leverage=None,
        entry_price=None,
        mark_price=None,
        **optional,
    ) -> Winners:
        """Convenience constructor for tests and small examples: missing arrays get neutral values
        (equity = notional = pnl, contracts 0 (divisible), leverage = notional / equity, prices 1)."""
        pnl = np.asarray(pnl, dtype=np.int64)
        n = pnl.shape[0]
        equity = pnl.copy() if equity is None else np.asarray(equity, dtype=np.int64)
        notional = pnl.copy() if notional is None else np.asarray(notional, dtype=np.int64)
        if leverage is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                leverage = np.where(equity > 0, notional / np.where(equity > 0, equity, 1), np.inf)
        return cls(
            pnl=pnl,
            equity=equity,
            notional=notional,
            contracts=np.zeros(n, dtype=np.int64) if contracts is None else contracts,
            leverage=leverage,
            entry_price=np.ones(n) if entry_price is None else entry_price,
            mark_price=np.ones(n) if mark_price is None else mark_price,
            **optional,
        )


@dataclass
class Allocation:
    """A policy's answer for one round.

    Attributes:
        policy: the policy's name.
        need: the budget ``B`` asked for (money).
        haircut: int64 (n,) money taken from each winner, ``0 <= haircut_i <= capacity_i``.
        closed_contracts: int64 (n,) contracts closed, for the rules that close contracts (queue,
            contract rules); ``None`` otherwise.
        shortfall: ``max(0, B - sum(haircut))``: what the capacity the rule may use could not cover.
        overshoot: ``max(0, sum(haircut) - B)``: taken beyond the need by whole-contract rounding.
        state: carried to the next round by stateful (online) policies; ``None`` otherwise.
        info: rule-specific diagnostics (water level, tau, solver status, ...).
    """

    policy: str
    need: int
    haircut: np.ndarray
    closed_contracts: np.ndarray | None = None
    shortfall: int = 0
    overshoot: int = 0
    state: object | None = None
    info: dict = field(default_factory=dict)

    @property
    def budget(self) -> int:
        """Money actually taken: ``sum(haircut)``."""
        return int(self.haircut.sum())


def _finish(name: str, need: int, h: np.ndarray, closed: np.ndarray | None = None, state=None, **info) -> Allocation:
    total = int(h.sum())
    return Allocation(
        policy=name,
        need=int(need),
        haircut=h.astype(np.int64),
        closed_contracts=closed,
        shortfall=max(0, int(need) - total),
        overshoot=max(0, total - int(need)),
        state=state,
        info=info,
    )


def _check_need(need) -> int:
    if int(need) != need or need < 0:
        raise ValueError(f"need: must be an integer >= 0 (money units), got {need!r}")
    return int(need)


# --------------------------------------------------------------------------------------------------------
# exact building blocks


def _largest_remainder(
    total: int, targets: np.ndarray, caps: np.ndarray, *, exact: tuple[np.ndarray, int] | None = None
) -> np.ndarray:
    """Integers ``x`` with ``sum(x) == min(total, sum(caps))``, ``0 <= x <= caps``, closest to ``targets``.

    ``targets`` (float, summing to about ``total``) are floored, then the units still missing go one each
    to the largest remainders (ties: larger cap, then lower index), repeatedly, skipping capped entries;
    float excess (floors summing above ``total``) is taken back from the smallest remainders. With
    ``exact=(w, W)`` (integer weights and their sum) the targets are ``total * w / W`` computed exactly in
    Python integers.
    """
    caps = caps.astype(np.int64)
    n = caps.shape[0]
    goal = min(int(total), int(caps.sum()))
    if n == 0 or goal == 0:
        return np.zeros(n, dtype=np.int64)
    if exact is not None:
        w, W = exact
        num = np.asarray(w).astype(object) * int(total)  # Python integers: exact
        base = num // int(W)
        rem = ((num - base * int(W)) / int(W)).astype(np.float64)
        x = np.minimum(base.astype(np.int64), caps)
    else:
        t = np.clip(np.nan_to_num(targets.astype(np.float64), nan=0.0, posinf=0.0), 0.0, None)
        fl = np.floor(t)
        rem = t - fl
        x = np.minimum(fl, caps.astype(np.float64)).astype(np.int64)
    idx = np.arange(n)
    for _ in range(64):
        missing = goal - int(x.sum())
        if missing == 0:
            return x
        if missing > 0:
            room = np.flatnonzero(x < caps)
            order = room[np.lexsort((idx[room], -caps[room], -rem[room]))]
            if missing >= order.size:
                # every open entry gets a unit; whole units beyond remainders go by remaining room
                give = np.minimum(caps[order] - x[order], max(1, missing // max(order.size, 1)))
                take = np.minimum(np.cumsum(give), missing)
                give = np.diff(np.concatenate([[0], take]))
                x[order] += give
            else:
                x[order[:missing]] += 1
        else:
            have = np.flatnonzero(x > 0)
            order = have[np.lexsort((-idx[have], caps[have], rem[have]))]
            excess = -missing
            if excess >= order.size:
                give = np.minimum(x[order], max(1, excess // max(order.size, 1)))
                take = np.minimum(np.cumsum(give), excess)
                x[order] -= np.diff(np.concatenate([[0], take]))
            else:
                x[order[:excess]] -= 1
    raise AssertionError("largest remainder did not converge")  # pragma: no cover


def capped_split(need: int, caps: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Capped weighted pro rata: ``h_i = min(caps_i, tau * weights_i)`` with ``sum(h) = need``, in integers.

    The unique water level ``tau`` is found exactly by sorting the saturation levels ``caps_i / w_i``
    (winners whose cap binds pay their cap; the rest share what is left in proportion to their weights,
    i.e. the excess of capped winners is redistributed). Only winners with ``caps > 0`` and
    ``weights > 0`` pay; infinite weights saturate first (shared among themselves pro rata to caps). If
    ``need`` exceeds what they can pay, all of them pay their cap (the caller reports the shortfall).
    Integer weights are split exactly (Python integers), float weights in float64; both are rounded by
    :func:`_largest_remainder`. Returns ``(haircuts int64, tau)`` (``tau = inf`` when saturated).
    """
    caps = np.asarray(caps, dtype=np.int64)
    w = np.asarray(weights)
    n = caps.shape[0]
    h = np.zeros(n, dtype=np.int64)
    wf = w.astype(np.float64)
    elig = (caps > 0) & (wf > 0)
    need = int(need)
    if need <= 0 or not elig.any():
        return h, 0.0
    if int(caps[elig].sum()) <= need:
        h[elig] = caps[elig]
        return h, math.inf
    inf = elig & np.isinf(wf)
    if inf.any():
        cap_inf = int(caps[inf].sum())
        if cap_inf >= need:
            sub, _ = capped_split(need, np.where(inf, caps, 0), np.where(inf, caps, 0))
            return sub, math.inf
        h[inf] = caps[inf]
        need -= cap_inf
        elig &= ~inf
    ii = np.flatnonzero(elig)
    c = caps[ii]
    wi = w[ii]
    ratio = c / wi.astype(np.float64)
    order = np.lexsort((ii, ratio))
    c_o = c[order].astype(np.float64)
    w_o = wi[order].astype(np.float64)
    cap_before = np.concatenate([[0.0], np.cumsum(c_o)[:-1]])
    w_from = np.cumsum(w_o[::-1])[::-1]
    tau_k = (need - cap_before) / w_from
    ok = np.flatnonzero(tau_k <= ratio[order])
    k = int(ok[0]) if ok.size else len(order) - 1
    sat = ii[order[:k]]
    act = ii[order[k:]]
    h[sat] = caps[sat]
    rest = need - int(caps[sat].sum())
    tau = float(tau_k[k])
    if w.dtype.kind in "iu":
        wa = w[act]
        h[act] = _largest_remainder(rest, None, caps[act], exact=(wa, int(wa.astype(object).sum())))
    else:
        wa = w[act].astype(np.float64)
        h[act] = _largest_remainder(rest, rest * wa / wa.sum(), caps[act])
    return h, tau


def lot_haircut(k: np.ndarray, cap: np.ndarray, contracts: np.ndarray) -> np.ndarray:
    """Money taken by closing ``k`` of ``contracts`` lots of a winner with capacity ``cap``:
    ``ceil(k * cap / contracts)`` exactly in int64 (``k * (cap % c)`` stays below ``c**2 < 2**63``);
    ``cap`` when ``k == contracts``; ``k`` is taken as money when ``contracts == 0`` (divisible)."""
    k = np.asarray(k, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    c = np.asarray(contracts, dtype=np.int64)
    safe = np.where(c > 0, c, 1)
    q, r = np.divmod(cap, safe)
    out = k * q + (-((-(k * r)) // safe))
    return np.where(c > 0, out, np.minimum(k, cap))


def _lots_for(amount: np.ndarray, cap: np.ndarray, contracts: np.ndarray) -> np.ndarray:
    """Fewest lots whose :func:`lot_haircut` is >= ``amount`` (capped at all lots); money when c == 0."""
    amount = np.asarray(amount, dtype=np.int64)
    c = np.asarray(contracts, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    safe_cap = np.where(cap > 0, cap, 1)
    # k >= amount * c / cap; start from the float estimate and correct by one either way
    est = np.floor(amount.astype(np.float64) * c / safe_cap).astype(np.int64)
    est = np.clip(est, 0, c)
    for _ in range(3):
        low = lot_haircut(est, cap, c) < amount
        est = np.where(low & (est < c), est + 1, est)
        prev = np.clip(est - 1, 0, c)
        high = (est > 0) & (lot_haircut(prev, cap, c) >= amount)
        est = np.where(high, prev, est)
    return np.where(c > 0, est, np.minimum(amount, cap))


# --------------------------------------------------------------------------------------------------------
# queue family


def entry_value(w: Winners) -> np.ndarray:
    """|Entry value| = notional x entry / mark (money, float): what the profit is a percentage of. With the
    position's real entry and mark this is ``|lots x entry x V| = |cost|`` for a long and a short alike: the
    rule of the venue rulebooks' scores (:class:`delever.venues.base.AdlInputs` ``cost``; issue #11)."""
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
    kl = _lots_for(np.array([rest]), caps[last], contracts[last])
    k[last] = np.where(contracts[last] > 0, kl, 0)
    h[last] = np.where(contracts[last] > 0, lot_haircut(kl, caps[last], contracts[last]), rest)
    return h, k


def _queue(name: str, score: Callable[[Winners], np.ndarray]):
    def policy(w: Winners, need: int, state=None) -> Allocation:
        need = _check_need(need)
        s = score(w)
        h, k = queue_fill(need, w.cap, w.contracts, s)
        return _finish(name, need, h, k)

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


queue_bitmex = _queue("queue-bitmex", score_bitmex)
queue_binance = _queue("queue-binance", score_binance)
queue_hyperliquid = _queue("queue-hyperliquid", score_hyperliquid)
queue_bitget = _queue("queue-bitget", score_bitget)

# --------------------------------------------------------------------------------------------------------
# random offset (dYdX v4)


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
    need = _check_need(need)
    start = 0 if state is None else int(state) % max(w.n, 1)
    h, k = queue_fill(need, w.cap, w.contracts, rotation_scores(w.n, start))
    return _finish("random-offset", need, h, k, start=start)


# --------------------------------------------------------------------------------------------------------
# pro-rata family


def pro_rata_pnl(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on profit: ``h_i = min(u_i, tau * pnl_i)``, ``sum h = B`` (capped pro rata with the capped
    excess redistributed; with the default capacity ``u = pnl`` simply ``h_i = B pnl_i / sum(pnl)``).

    Source: specs/adl_policies.md "Pro-rata"; Chitra 2025 (arXiv:2512.01112): capped pro rata is the unique
    rule that is Sybil-resistant, monotone and scale-invariant. Exact integer split (largest remainder).
    Units: money.
    """
    need = _check_need(need)
    h, tau = capped_split(need, w.cap, w.pnl)
    return _finish("pro-rata-pnl", need, h, tau=tau)


def pro_rata_equity(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on equity: ``h_i = min(u_i, tau * max(e_i, 0))``, ``sum h = B``; a winner with equity <= 0
    pays nothing. Source: specs/adl_policies.md "Pro-rata" (variants by capacity); Chitra 2025. Units: money.
    """
    need = _check_need(need)
    h, tau = capped_split(need, w.cap, np.maximum(w.equity, 0))
    return _finish("pro-rata-equity", need, h, tau=tau)


def pro_rata_notional(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on notional: ``h_i = min(u_i, tau * notional_i)``, ``sum h = B``. Source: specs/adl_policies.md
    "Pro-rata" (variants by capacity). Units: money."""
    need = _check_need(need)
    h, tau = capped_split(need, w.cap, w.notional)
    return _finish("pro-rata-notional", need, h, tau=tau)


def pro_rata_contracts(w: Winners, need: int, state=None) -> Allocation:
    """Pro rata on contracts (exchange style, whole contracts): every winner closes the same fraction
    ``theta`` of its ``c_i`` contracts, ``k_i = floor(theta c_i)``, with ``theta`` the largest fraction whose
    haircuts ``sum_i ceil(k_i u_i / c_i)`` stay <= ``B``; then one more contract each to the largest
    remainders ``theta c_i - k_i`` (ties: more capacity, lower index) until ``B`` is covered. Capped at
    ``c_i`` (all contracts = the whole capacity ``u_i``). Overshoot < the last added contract's value.

    Winners with ``c_i = 0`` have no lots and are split as money (pro rata on capacity).
    Source: specs/adl_policies.md "Pro-rata" (integer contracts); the paper's ``contract_pr``
    (Chitra 2025, policy_per_wave_metrics.csv). Units: contracts (lots) and money.
    """
    need = _check_need(need)
    cap, c = w.cap, w.contracts
    n = w.n
    # a winner with lots but no capacity closes nothing (it could not pay); c == 0 -> divisible in money
    lots = np.where(cap > 0, c, 0)
    units = np.where(lots > 0, lots, np.where(cap > 0, cap, 0))  # the "contracts" to split pro rata
    if need == 0 or int(units.sum()) == 0:
        return _finish("pro-rata-contracts", need, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    if int(cap[units > 0].sum()) <= need:
        h = np.where(units > 0, cap, 0)
        return _finish("pro-rata-contracts", need, h, lots.copy(), theta=1.0)

    def cost(k: np.ndarray, sel=slice(None)) -> np.ndarray:
        return np.where(lots[sel] > 0, lot_haircut(k, cap[sel], lots[sel]), k)

    lo, hi = 0.0, 1.0  # cost(floor(lo * units)) <= need < cost(floor(hi * units)) (hi: all, > need)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if int(cost(np.floor(mid * units).astype(np.int64)).sum()) <= need:
            lo = mid
        else:
            hi = mid
    k = np.minimum(np.floor(lo * units).astype(np.int64), units)
    h = cost(k)
    missing = need - int(h.sum())
    if missing > 0:
        frac = lo * units - k
        room = np.flatnonzero(k < units)
        order = room[np.lexsort((room, -cap[room], -frac[room]))]
        extra = cost(k[order] + 1, order) - h[order]
        cum = np.cumsum(extra)
        j = int(np.searchsorted(cum, missing, side="left"))
        add = order[: j + 1]
        k[add] += 1
        h = cost(k)
    closed = np.where(lots > 0, k, 0)
    return _finish("pro-rata-contracts", need, h, closed, theta=lo)


# --------------------------------------------------------------------------------------------------------
# risk-based rules


def _lev(w: Winners) -> np.ndarray:
    lam = w.leverage.astype(np.float64)
    return np.where(np.isfinite(lam) & (lam > 0), lam, np.inf)


def risk_aware(w: Winners, need: int, state=None, *, g0: float = 1.0, g1: float = 0.0) -> Allocation:
    """Risk-aware pro rata (RAP; levered pro rata): ``h_i = min(u_i, tau * u_i * lambda_i * g(lambda_i))``,
    ``g(lambda) = g0 + g1 * lambda`` (linear; the default ``g = 1`` is levered pro rata, Chitra 2025 eq. 21:
    haircut share proportional to leverage), ``tau`` solved by bisection so that ``sum h = B``.

    ``u_i`` is the capacity (haircut-able endowment, PnL by default), ``lambda_i`` the leverage (non-finite
    or <= 0 read as infinite: paid first, in full). The haircut fraction of the endowment,
    ``min(1, tau lambda g(lambda))``, is the paper's reverse water-filling with risk density
    ``rho(lambda) = lambda g(lambda)`` (arXiv:2512.01112, appendix "Risk-Aware Pro-Rata (RAP)",
    specs/adl_policies.md). Bisection: ``S(tau) = sum min(u, tau u rho)`` is increasing; 200 halvings of
    ``[0, 1 / min rho]`` on a log scale, then the float haircuts are rounded by largest remainder under the
    caps so that the sum is exact. Source: specs/adl_policies.md "Risk-aware pro-rata (RAP)"; Chitra 2025
    (arXiv:2512.01112). Units: money; ``tau`` in 1 / leverage.
    """
    need = _check_need(need)
    cap = w.cap
    lam = _lev(w)
    rho = np.where(np.isinf(lam), np.inf, lam * (g0 + g1 * np.where(np.isinf(lam), 0.0, lam)))
    if np.any(rho[np.isfinite(rho)] < 0):
        raise ValueError("risk_aware: g must keep lambda * g(lambda) >= 0")
    n = w.n
    elig = (cap > 0) & (rho > 0)
    total = int(cap[elig].sum())
    if need == 0 or total == 0:
        return _finish("risk-aware", need, np.zeros(n, dtype=np.int64), tau=0.0)
    if total <= need:
        return _finish("risk-aware", need, np.where(elig, cap, 0), tau=math.inf)
    capf = np.where(elig, cap, 0).astype(np.float64)
    inf = elig & np.isinf(rho)
    if capf[inf].sum() >= need:  # the infinitely levered alone cover the need
        h, _ = capped_split(need, np.where(inf, cap, 0), np.where(inf, cap, 0))
        return _finish("risk-aware", need, h, tau=math.inf)
    fin = elig & ~inf
    r = rho[fin]

    def S(tau: float) -> float:
        return capf[inf].sum() + np.minimum(capf[fin], tau * capf[fin] * r).sum()

    lo, hi = 0.0, 1.0 / r.min()
    for _ in range(200):
        mid = 0.5 * (lo + hi) if lo == 0.0 else math.sqrt(lo * hi)
        if mid <= lo or mid >= hi:
            break
        if S(mid) < need:
            lo = mid
        else:
            hi = mid
    tau = hi
    target = np.zeros(n)
    target[inf] = capf[inf]
    target[fin] = np.minimum(capf[fin], tau * capf[fin] * r)
    target *= need / target.sum()
    h = _largest_remainder(need, target, np.where(elig, cap, 0))
    return _finish("risk-aware", need, h, tau=tau)


def water_filling(w: Winners, need: int, state=None) -> Allocation:
    """Water-filling on leverage (Campbell, Hey, Moallemi, Nutz 2026, arXiv:2603.15963; specs/adl_policies.md):
    reduce the most levered winners first until their leverages are equal, i.e. minimise the largest
    post-ADL leverage.

    Closing a fraction ``f_i`` of a winner's position takes ``f_i u_i`` (the whole position: its whole
    capacity) and leaves leverage ``lambda_i (1 - f_i)`` (equity held fixed). For a level ``L``,
    ``f_i = max(0, 1 - L / lambda_i)``; ``L`` is the unique level with ``sum_i u_i f_i = B`` (closed form on
    the sorted leverages: with the top-``k`` set, ``L = (sum u - B) / sum(u / lambda)``). Leverage non-finite
    or <= 0 (no equity) is infinite: such winners are cut first and in full. Haircuts ``h_i = u_i f_i``
    rounded by largest remainder under the caps. Source: specs/adl_policies.md "Water-filling on leverage";
    Campbell et al. 2026 (arXiv:2603.15963). Units: money; ``L`` in leverage (info ``level``).
    """
    need = _check_need(need)
    cap = w.cap
    n = w.n
    lam = _lev(w)
    elig = cap > 0
    total = int(cap[elig].sum())
    if need == 0 or total == 0:
        return _finish("water-filling", need, np.zeros(n, dtype=np.int64), level=math.inf)
    if total <= need:
        return _finish("water-filling", need, np.where(elig, cap, 0), level=0.0)
    inf = elig & np.isinf(lam)
    if int(cap[inf].sum()) >= need:
        h, _ = capped_split(need, np.where(inf, cap, 0), np.where(inf, cap, 0))
        return _finish("water-filling", need, h, level=math.inf)
    rest = need - int(cap[inf].sum())
    ii = np.flatnonzero(elig & ~inf)
    order = ii[np.lexsort((ii, -lam[ii]))]  # most levered first
    u = cap[order].astype(np.float64)
    la = lam[order]
    su = np.cumsum(u)
    sul = np.cumsum(u / la)
    L_k = (su - rest) / sul  # level if exactly the top k+1 are cut
    nxt = np.concatenate([la[1:], [0.0]])
    ok = np.flatnonzero((L_k >= nxt) & (L_k <= la))
    k = int(ok[0]) if ok.size else int(np.argmin(np.abs(L_k - np.clip(L_k, nxt, la))))
    L = float(max(L_k[k], 0.0))
    target = np.zeros(n)
    target[inf] = cap[inf]
    target[order] = u * np.maximum(0.0, 1.0 - L / la)
    h = _largest_remainder(need, target, np.where(elig, cap, 0))
    return _finish("water-filling", need, h, level=L)


# --------------------------------------------------------------------------------------------------------
# min-max burden


def min_max(w: Winners, need: int, state=None) -> Allocation:
    """Min-max burden, continuous: minimise ``max_i h_i / e_i`` s.t. ``sum h = B``, ``0 <= h_i <= u_i``.

    Implemented as its closed form, not by an LP solver: the LP's KKT conditions give ``h_i = min(u_i,
    M e_i)`` with the level ``M`` set by the budget, which is exactly capped pro rata on equity
    (:func:`pro_rata_equity`; specs/adl_policies.md "Min-max burden": "the continuous optimum is pro-rata on
    equity"). Winners with ``e_i <= 0`` cannot carry any burden and pay nothing. ``info['M']`` is the optimal
    max ratio (float, before integer rounding). Source: specs/adl_policies.md "Min-max burden"; Chitra 2025
    (arXiv:2512.01112). Units: money; ``M`` dimensionless.
    """
    need = _check_need(need)
    h, tau = capped_split(need, w.cap, np.maximum(w.equity, 0))
    return _finish("min-max", need, h, M=tau)


def _minmax_level(need: float, g: np.ndarray, e: np.ndarray, c: np.ndarray) -> float:
    """Smallest ``M`` with ``F(M) = sum_i g_i min(c_i, floor(M e_i / g_i)) >= need`` (bisection)."""

    def F(M: float) -> float:
        return float((g * np.minimum(c, np.floor(M * e / g))).sum())

    lo, hi = 0.0, 1.0
    while F(hi) < need:
        hi *= 2.0
        if hi > 1e300:
            raise AssertionError("min-max level unbounded")  # pragma: no cover
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if F(mid) >= need:
            hi = mid
        else:
            lo = mid
    return hi


def min_max_integer(
    w: Winners, need: int, state=None, *, time_limit: float = 5.0, method: str = "two-stage"
) -> Allocation:
    """Min-max burden over whole contracts (integer program, solved with ``scipy.optimize.milp``/HiGHS).

    Variables ``k_i`` (contracts closed, integers in ``[0, c_i]``), each worth ``g_i = u_i / c_i``:

        minimise ``M``  s.t.  ``sum_i g_i k_i >= B``,  ``g_i k_i <= M e_i``  (winners with ``e_i > 0``).

    ``method="two-stage"`` (default): the optimal ``M*`` is the smallest ``M`` with
    ``sum_i g_i min(c_i, floor(M e_i / g_i)) >= B`` (feasibility is monotone in ``M``), found by bisection;
    then ``milp`` minimises the overshoot ``sum g_i k_i`` over ``0 <= k_i <= min(c_i, floor(M* e_i / g_i))``,
    ``sum g_i k_i >= B``: the lexicographic optimum (least max burden, then least overshoot).
    ``method="milp"`` hands the one-stage program above to ``milp`` (for small instances and to check the
    first; its big-M scaling is fragile on large, badly scaled books). Haircuts are ``ceil(k_i u_i / c_i)``.
    Winners with ``c_i = 0`` count as one contract worth ``u_i``; winners with ``e_i <= 0`` pay nothing.
    Source: specs/adl_policies.md "Min-max burden"; the paper's ``fixed_point_ilp_integer``
    (Chitra 2025). Units: contracts and money; ``info['M']`` the max haircut / equity reached.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    need = _check_need(need)
    n = w.n
    cap = w.cap
    c_eff = np.where(w.contracts > 0, w.contracts, 1)
    elig = (cap > 0) & (w.equity > 0)
    zeros = np.zeros(n, dtype=np.int64)
    if need == 0 or not elig.any():
        return _finish("min-max-integer", need, zeros, zeros.copy(), M=0.0, status="trivial")
    if int(cap[elig].sum()) <= need:
        h = np.where(elig, cap, 0)
        k = np.where(elig, w.contracts, 0)
        return _finish("min-max-integer", need, h, k, M=float(np.max(h[elig] / w.equity[elig])), status="saturated")
    ii = np.flatnonzero(elig)
    scale = float(need)
    g = cap[ii] / c_eff[ii] / scale  # budget-relative contract values (conditioning)
    e = w.equity[ii] / scale
    c = c_eff[ii].astype(np.float64)
    status = ""
    k_sol = None
    if method == "milp":
        from scipy.sparse import csr_array, diags, hstack, vstack

        m = ii.size
        A = vstack([csr_array(np.concatenate([g, [0.0]])[None, :]), hstack([diags(g), csr_array(-e[:, None])])]).tocsr()
        lb = np.concatenate([[1.0], np.full(m, -np.inf)])
        ub = np.concatenate([[np.inf], np.zeros(m)])
        obj = np.zeros(m + 1)
        obj[-1] = 1.0
        res = milp(
            obj,
            constraints=LinearConstraint(A, lb, ub),
            integrality=np.concatenate([np.ones(m), [0]]),
            bounds=Bounds(np.zeros(m + 1), np.concatenate([c, [np.inf]])),
            options={"time_limit": time_limit},
        )
        status = f"milp: {res.message}"
        if res.x is not None:
            k_sol = np.round(res.x[:-1])
    elif method != "two-stage":
        raise ValueError(f"min_max_integer: unknown method {method!r}")
    if k_sol is None:
        M = _minmax_level(1.0, g, e, c)
        kmax = np.minimum(c, np.floor(M * e / g))
        sel = np.flatnonzero(kmax > 0)
        res = milp(
            g[sel],
            constraints=LinearConstraint(g[sel][None, :], 1.0, np.inf),
            integrality=np.ones(sel.size),
            bounds=Bounds(np.zeros(sel.size), kmax[sel]),
            options={"time_limit": time_limit},
        )
        status = (status + "; " if status else "") + f"two-stage milp: {res.message}"
        k_sol = np.zeros(ii.size)
        if res.x is not None:
            k_sol[sel] = np.round(res.x)
        else:  # pragma: no cover - time limit without incumbent: take every contract up to M*
            k_sol[sel] = kmax[sel]
    k = zeros.copy()
    k[ii] = np.clip(k_sol, 0, c).astype(np.int64)
    h = np.where(w.contracts > 0, lot_haircut(k, cap, w.contracts), k * cap)
    # the solver's feasibility tolerance (1e-6 of B) may leave a few money units short: close one more
    # contract where the resulting burden h / e is lowest, as many as needed
    for _ in range(64):
        short = need - int(h.sum())
        if short <= 0:
            break
        room = ii[k[ii] < c_eff[ii]]
        if room.size == 0:
            break
        nxt = np.where(w.contracts[room] > 0, lot_haircut(k[room] + 1, cap[room], w.contracts[room]), cap[room])
        order = np.lexsort((room, nxt / w.equity[room]))
        j = int(np.searchsorted(np.cumsum((nxt - h[room])[order]), short, side="left"))
        k[room[order[: j + 1]]] += 1
        h = np.where(w.contracts > 0, lot_haircut(k, cap, w.contracts), k * cap)
    # the program sees contract values g k, the haircut is ceil(k u / c) >= g k: give back contracts that the
    # rounding up made unnecessary, one at a time, the largest one that still keeps sum >= B (lowers burdens)
    for _ in range(10_000):
        excess = int(h.sum()) - need
        if excess <= 0:
            break
        t = ii[k[ii] > 0]
        prev = np.where(w.contracts[t] > 0, lot_haircut(k[t] - 1, cap[t], w.contracts[t]), 0)
        dec = h[t] - prev
        fits = np.flatnonzero(dec <= excess)
        if fits.size == 0:
            break
        j = fits[np.lexsort((t[fits], -dec[fits]))[0]]
        k[t[j]] -= 1
        h[t[j]] = prev[j]
    closed = np.where(w.contracts > 0, k, 0)
    M = float(np.max(h[ii] / w.equity[ii])) if ii.size else 0.0
    return _finish("min-max-integer", need, h, closed, M=M, status=status)


# --------------------------------------------------------------------------------------------------------
# socialized loss and the online policy


def socialized_loss(w: Winners, need: int, state=None) -> Allocation:
    """Socialized loss (clawback): all of the period's winners pay pro rata to their period profit,
    ``h_i = min(U_i, tau * P_i)``, ``sum h = B``, with ``P = period_pnl`` and ``U = period_capacity``
    (defaults: this round's ``pnl`` and capacity), whether or not they are on the other side of this round.

    Source: Deribit, "socialized among the winning traders for that day" (venues.md section 5); old OKX /
    Huobi clawback (specs/adl_policies.md "Socialized loss"). Source: as above. Exact integer split.
    Units: money.
    """
    need = _check_need(need)
    P = w.pnl if w.period_pnl is None else w.period_pnl
    U = w.cap if w.period_capacity is None else w.period_capacity
    h, tau = capped_split(need, U, P)
    return _finish("socialized-loss", need, h, tau=tau)


@dataclass
class MirrorDescentState:
    """State of :func:`online_mirror_descent` between rounds: budget shares ``v`` (float64 (n,), on the
    simplex) and the number of rounds played ``t``."""

    v: np.ndarray
    t: int = 0


def online_mirror_descent(w: Winners, need: int, state: MirrorDescentState | None = None) -> Allocation:
    """Online policy for multi-round (multi-wave) ADL: entropic mirror descent (exponentiated gradient) on the
    simplex of budget shares (Chitra, Thogiti, Trujillo Ramirez, Xu 2026, arXiv:2602.15182;
    specs/adl_policies.md "Online").

    Round ``t``: haircuts ``h_t = capped split of B_t by shares v_t`` (``h_i = min(u_i, tau v_i)``, exact
    integers). Loss revealed after the round: each winner's burden ``l_i = h_i / (P_i + 1)`` in ``[0, 1]``
    (haircut over its period profit ``P = period_pnl``): the gradient of the linear surrogate
    ``<v, l>`` of the fairness loss ``max_i h_i / u_i``. Update ``v_{t+1,i} ∝ v_{t,i} exp(-eta_t l_i)``.

    Step size rule: ``eta_t = sqrt(ln(n) / t)``, ``n`` the winners with ``P > 0``: the anytime rule
    ``eta_t = D / (G sqrt(t))`` of the OMD regret theorem (arXiv:2512.01112, appendix "Regret Analysis") with
    the entropic diameter ``D = sqrt(ln n)`` and losses bounded by ``G = 1``, giving ``O(sqrt(T ln n))``
    regret against the best fixed share vector. First shares ``v_1 ∝ P`` (round 1 is pro rata on period
    profit); a winner that paid more than its share so far gets a smaller share later. The budget is the
    round's need (every policy of this library is handed ``B_t``), so this is the paper's vector controller,
    not its severity (budget-learning) controller. Source: specs/adl_policies.md "Online"; arXiv:2602.15182;
    the paper code's ``VectorMirrorDescent`` (Euclidean, ``eta_t = eta0 / sqrt(t)``) is the projected-gradient
    sibling of this entropic version. Units: money; ``state`` carries ``v`` and ``t``.
    """
    need = _check_need(need)
    P = (w.pnl if w.period_pnl is None else w.period_pnl).astype(np.float64)
    if state is None:
        tot = P.sum()
        v = P / tot if tot > 0 else np.zeros(w.n)
        state = MirrorDescentState(v=v, t=0)
    if state.v.shape != (w.n,):
        raise ValueError("online_mirror_descent: state does not match the winners")
    t = state.t + 1
    h, tau = capped_split(need, w.cap, state.v)
    npos = int(np.count_nonzero(P > 0))
    eta = math.sqrt(math.log(npos) / t) if npos > 1 else 0.0
    loss = h / (P + 1.0)
    v = state.v * np.exp(-eta * loss)
    s = v.sum()
    v = v / s if s > 0 else v
    return _finish("online-mirror-descent", need, h, state=MirrorDescentState(v=v, t=t), eta=eta, tau=tau)


# --------------------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Policy:
    """A registered policy: ``name``, ``family`` (``queue``, ``pro-rata``, ``risk``, ``min-max``, ``online``)
    and ``fn(winners, need, state=None) -> Allocation``; ``stateful`` policies carry ``Allocation.state`` to
    the next round. ``score`` (queue family) ranks winners; :func:`allocate_lots` uses ``family``. ``needs``:
    the optional :class:`Winners` columns the policy reads (``funding_received``, ``age_s``), which the
    cascade engine then supplies; ``rule``: the hierarchy of a ``hierarchy`` policy; ``elementwise``: below."""

    name: str
    family: str
    fn: Callable[..., Allocation]
    stateful: bool = False
    score: Callable[[Winners], np.ndarray] | None = None
    needs: frozenset[str] = frozenset()
    rule: HierarchyRule | None = None
    elementwise: bool = True
    """Whether ``score`` of a winner depends on that winner's row alone (the venue scores), so that a large
    side may be scored a block at a time; a hierarchy's ranks depend on the whole side."""
    rotating: bool = False
    """A queue in position order from a seeded start offset (``random-offset``): the cascade engine orders it
    with :func:`rotation_start` / :func:`rotation_scores` and shows no ADL indicator."""

    def __call__(self, winners: Winners, need: int, state=None) -> Allocation:
        return self.fn(winners, need, state=state)

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


def hierarchy_policy(rule: HierarchyRule) -> Policy:
    """The ``hierarchy`` queue policy for ``rule`` (:mod:`delever.adl.hierarchy`): winners in the rule's
    order, whole positions, the last partially (as every queue, :func:`queue_fill`)."""
    fn = _queue("hierarchy", rule.score)
    fn.__doc__ = f"""Queue by a hierarchy of keys ({rule.describe()}): winners in the hierarchy's order (ties on
    every key by index) pay their whole capacity until ``B`` is met, the last one in whole contracts.

    Source: :mod:`delever.adl.hierarchy` (keys and why each is chosen; ../shared/specs/venues.md sections 1-3
    for the leverage, PnL% and margin-ratio definitions). Units: money in, money out; funding received in
    money, position age in seconds.
    """
    return Policy("hierarchy", "queue", fn, score=rule.score, needs=rule.needs, rule=rule, elementwise=False)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in [
        Policy("queue-bitmex", "queue", queue_bitmex, score=score_bitmex),
        Policy("queue-binance", "queue", queue_binance, score=score_binance),
        Policy("queue-hyperliquid", "queue", queue_hyperliquid, score=score_hyperliquid),
        Policy("queue-bitget", "queue", queue_bitget, score=score_bitget),
        Policy("pro-rata-pnl", "pro-rata", pro_rata_pnl),
        Policy("pro-rata-equity", "pro-rata", pro_rata_equity),
        Policy("pro-rata-notional", "pro-rata", pro_rata_notional),
        Policy("pro-rata-contracts", "pro-rata", pro_rata_contracts),
        Policy("risk-aware", "risk", risk_aware),
        Policy("water-filling", "risk", water_filling),
        Policy("min-max", "min-max", min_max),
        Policy("min-max-integer", "min-max", min_max_integer),
        Policy("socialized-loss", "pro-rata", socialized_loss),
        Policy("online-mirror-descent", "online", online_mirror_descent, stateful=True),
        hierarchy_policy(HierarchyRule.from_config(DEFAULT_KEYS)),
        Policy("random-offset", "queue", random_offset, elementwise=False, rotating=True),
    ]
}
"""Every policy by name (the names of scenarios, the CLI and the API)."""


def get_policy(name: str | Policy) -> Policy:
    """The policy called ``name`` (or ``name`` itself if it is a :class:`Policy`).

    Raises:
        KeyError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, Policy):
        return name
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown ADL policy {name!r}; known: {', '.join(POLICIES)}") from None


def allocate(policy: str | Policy, winners: Winners, need: int, state=None) -> Allocation:
    """Run one round of ``policy`` (a name or a :class:`Policy`)."""
    return get_policy(policy)(winners, need, state=state)


# --------------------------------------------------------------------------------------------------------
# lots, for the cascade engine


def allocate_lots(
    policy: str | Policy,
    need_lots: int,
    sizes: np.ndarray,
    scores: np.ndarray,
    capacities: np.ndarray,
    *,
    leverage: np.ndarray | None = None,
) -> np.ndarray:
    """Lots each counterparty closes when an ADL must close ``need_lots`` lots of a bankrupt position.

    Args:
        policy: a name or :class:`Policy`.
        need_lots: lots to close (>= 0).
        sizes: int64 (n,) lots each eligible counterparty holds (> 0).
        scores: float64 (n,) ranking scores (queue family: highest first, ties by index).
        capacities: (n,) weights of the proportional rules (int or float, >= 0): the policy's capacity
            (PnL, equity, notional, contracts, or e.g. ``pnl * leverage`` for risk-aware) - the caller picks.

    Returns:
        int64 (n,) with ``0 <= lots_i <= sizes_i`` and ``sum == min(need_lots, sizes.sum())``. Queue
        family: whole sizes in score order, the last partially. Every other family: ``need_lots`` split in
        proportion to ``capacities`` by largest remainder, capped at the sizes, the capped excess
        redistributed to the others in proportion (:func:`capped_split`); if the positive-capacity
        counterparties cannot absorb it all, the rest goes to the others in proportion to size.
        With ``leverage`` (float64 (n,), optional), ``water-filling`` and ``risk-aware`` use their exact lot
        forms instead: the money rule with each position's lots as its capacity (water-filling closes
        ``s_i max(0, 1 - L / lambda_i)`` lots, levelling leverage; risk-aware ``min(s_i, tau s_i lambda_i)``),
        leverage <= 0 or non-finite read as infinite, as in the money forms.
    """
    p = get_policy(policy)
    sizes = np.asarray(sizes, dtype=np.int64)
    n = sizes.shape[0]
    if np.any(sizes <= 0):
        raise ValueError("allocate_lots: sizes must be > 0")
    need = min(int(need_lots), int(sizes.sum()))
    if need < 0:
        raise ValueError("allocate_lots: need_lots must be >= 0")
    if need == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if p.family == "queue":
        s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
        order = np.lexsort((np.arange(n), -s))
        cum = np.cumsum(sizes[order])
        out = np.zeros(n, dtype=np.int64)
        j = int(np.searchsorted(cum, need, side="left"))
        out[order[:j]] = sizes[order[:j]]
        out[order[j]] = need - (int(cum[j - 1]) if j > 0 else 0)
        return out
    if leverage is not None and p.name in ("water-filling", "risk-aware"):
        lots = p(Winners.from_arrays(pnl=sizes, leverage=np.asarray(leverage, dtype=np.float64)), need)
        return lots.haircut
    w = np.asarray(capacities)
    if w.dtype.kind not in "iuf":
        w = w.astype(np.float64)
    w = np.where(w > 0, w, 0)
    out, _ = capped_split(need, sizes, w)
    left = need - int(out.sum())
    if left > 0:
        more, _ = capped_split(left, sizes - out, sizes - out)
        out += more
    return out
