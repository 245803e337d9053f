"""The inputs and outputs of an ADL allocation policy: :class:`Winners` (the counterparties in profit,
one row each, money in int64 units) and :class:`Allocation` (haircuts, contracts closed, shortfall,
overshoot). Units and exactness as :mod:`delever.adl.policies`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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


def make_allocation(
    name: str, need: int, h: np.ndarray, closed: np.ndarray | None = None, state=None, **info
) -> Allocation:
    """The :class:`Allocation` of policy ``name`` for ``need`` (money) from its haircuts ``h`` (int64 (n,)) and,
    for policies that close whole contracts, ``closed`` (int64 (n,) lots); ``info`` goes to ``Allocation.info``.
    Shortfall ``max(0, need - sum h)`` and overshoot ``max(0, sum h - need)`` are derived here."""
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


def check_need(need) -> int:
    """``need`` (the ADL budget, money units) as an int.

    Raises:
        ValueError: not an integer, or negative."""
    if int(need) != need or need < 0:
        raise ValueError(f"need: must be an integer >= 0 (money units), got {need!r}")
    return int(need)
