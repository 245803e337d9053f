"""The event log: one row per liquidation fill, maker (liquidity-provider) fill, fee, insurance-fund movement,
ADL fill and unrecovered bad debt, and the events of the optional mechanisms (:mod:`delever.mechanisms`).

Every row is the view of one account: ``amount`` is the signed change of that account's balance the event
caused (realized PnL for a fill, minus a fee, plus an insurance payout), so for each kind the money has a
payer and a payee: a fill's counterparty has its own row, and fees and payouts name the insurance fund
(:data:`INSURANCE_FUND`) as counterparty. Sizes are signed lots (> 0 bought), prices ticks, amounts money
units; :func:`to_table` adds the same in quote/base decimals for readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .units import MONEY_SCALE

LIQUIDATION_FILL = 0
"""The liquidated account's order filled against the book (counterparty :data:`BOOK`)."""
LP_FILL = 1
"""A liquidity-provider account's share of a liquidation fill (counterparty: the liquidated account)."""
LIQUIDATION_FEE = 2
"""Liquidation fee paid by the liquidated account to the insurance fund (amount < 0)."""
INSURANCE_PAYOUT = 3
"""Insurance fund covering a bankrupt account's negative balance (amount > 0)."""
ADL_FILL = 4
"""The bankrupt account's position closed against an ADL counterparty at the bankruptcy price."""
ADL_COUNTERPARTY_FILL = 5
"""An ADL'd (profitable, opposite-side) position closed at the bankrupt account's bankruptcy price."""
BAD_DEBT = 6
"""Negative balance left after the insurance fund and ADL (unrecovered; amount < 0, nothing moves)."""
DELEVERAGE_FILL = 7
"""Proactive deleveraging: a high-leverage position reduced against the book (counterparty :data:`BOOK`)."""
BACKSTOP_TAKEOVER = 8
"""A position handed to the backstop vault: the account's side of the transfer (counterparty: the vault)."""
BACKSTOP_VAULT_FILL = 9
"""The backstop vault's side of a takeover (counterparty: the account)."""
BACKSTOP_MARGIN = 10
"""Margin the backstop vault keeps from a taken-over account (amount < 0 for the account, > 0 for the vault
in a second row of the same kind)."""
CLAWBACK = 11
"""Socialized loss: a winner's share of the step's unrecovered deficits (amount < 0; counterparty: the
:data:`SOCIALIZED_LOSS_POOL`, which pays the bankrupt accounts in :data:`CLAWBACK_RECEIVED` rows)."""
CLAWBACK_RECEIVED = 12
"""Socialized loss received by a bankrupt account (amount > 0; counterparty: the socialized-loss pool)."""
FUNDING = 13
"""A funding payment (amount < 0 paid, > 0 received; counterparty :data:`FUNDING_POOL`)."""
FUNDING_ROUNDING = 14
"""What rounding funding payments against the accounts left over, credited to the insurance fund (account
:data:`INSURANCE_FUND`)."""
SETTLEMENT = 15
"""A dated future's position closed at the settlement price at expiry (amount: realized PnL; counterparty
:data:`SETTLEMENT_POOL`; :mod:`delever.settlement`)."""

KIND_NAMES = (
    "liquidation_fill",
    "lp_fill",
    "liquidation_fee",
    "insurance_payout",
    "adl_fill",
    "adl_counterparty_fill",
    "bad_debt",
    "deleverage_fill",
    "backstop_takeover",
    "backstop_vault_fill",
    "backstop_margin",
    "clawback",
    "clawback_received",
    "funding",
    "funding_rounding",
    "settlement",
)

INSURANCE_FUND = -1
"""Counterparty id of the instrument's insurance fund."""
BOOK = -2
"""Counterparty id of the order book (its resting depth belongs to the liquidity-provider accounts)."""
SOCIALIZED_LOSS_POOL = -4
"""Counterparty id of socialized loss: winners pay into it, bankrupt accounts are paid from it (net zero)."""
FUNDING_POOL = -3
"""Counterparty id of funding payments: each interval, longs and shorts pay into and out of it, net zero
except the rounding remainder, which goes to the insurance fund."""

SETTLEMENT_POOL = -5
"""Counterparty id of final settlement: the clearing house that collects what the losers of a dated future
owe at the settlement price and pays the winners (net zero when open interest is balanced)."""

COLUMNS = ("kind", "account", "counterparty", "position", "size", "price", "amount", "indicator")


@dataclass
class EventBuffer:
    """Growable columnar buffer the compiled liquidation stage writes into (int64 columns except
    ``kind`` and ``indicator``, int8). ``n`` rows are valid."""

    capacity: int = 4096
    n: int = 0
    cols: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cols:
            self.cols = {
                c: np.zeros(self.capacity, dtype=np.int8 if c in ("kind", "indicator") else np.int64) for c in COLUMNS
            }

    def append_rows(self, kind: int, account, counterparty, position, size=0, price=0, amount=0) -> None:
        """Append rows of one ``kind``: each argument a scalar (every row) or an array (one value per row);
        the number of rows is the longest array's (1 when all are scalars); indicator 0."""
        k = max((np.size(x) for x in (account, counterparty, position, size, price, amount) if np.ndim(x)), default=1)
        if k == 0:
            return
        self.ensure(k)
        c, sl = self.cols, slice(self.n, self.n + k)
        c["kind"][sl], c["account"][sl], c["counterparty"][sl], c["position"][sl] = (
            kind,
            account,
            counterparty,
            position,
        )
        c["size"][sl], c["price"][sl], c["amount"][sl], c["indicator"][sl] = size, price, amount, 0
        self.n += k

    def ensure(self, extra: int) -> None:
        """Grow (doubling) so that ``extra`` more rows fit."""
        need = self.n + extra
        if need <= self.capacity:
            return
        cap = max(need, 2 * self.capacity)
        for c, a in self.cols.items():
            b = np.zeros(cap, dtype=a.dtype)
            b[: self.n] = a[: self.n]
            self.cols[c] = b
        self.capacity = cap


_NARROW = {
    "kind": np.int8,
    "account": np.int32,
    "counterparty": np.int32,
    "position": np.int32,
    "size": np.int32,
    "price": np.int32,
    "amount": np.int64,
    "indicator": np.int8,
}
"""The log's storage type of each buffer column while the run goes on: int32 where values usually fit (ids,
lots, ticks); a column is widened to int64 the first time a value does not fit, so values are always exact."""

_I32 = np.iinfo(np.int32)


class EventLog:
    """Events of a whole run, appended step by step: per step the buffer's rows plus step and time.

    Memory (issue #6): rows are stored once, in growable columns of the narrow types of :data:`_NARROW`;
    ``step``, ``time_ns`` and ``instrument`` are the same for all the rows of one append and are kept once per
    append. :meth:`columns` builds the run's int64 columns one at a time, releasing each stored column as it
    goes, so the end of a run never holds the log twice.
    """

    def __init__(self) -> None:
        self.n = 0
        self._cols: dict[str, np.ndarray] = {c: np.zeros(0, dtype=t) for c, t in _NARROW.items()}
        self._starts: list[int] = []
        self._meta: list[tuple[int, int, int]] = []  # (step, time_ns, instrument) of each append
        self._done: dict[str, np.ndarray] | None = None

    def _grow(self, need: int) -> None:
        cap = self._cols["kind"].shape[0]
        if need <= cap:
            return
        cap = max(need, cap + cap // 2, 4096)
        for c, a in self._cols.items():
            b = np.empty(cap, dtype=a.dtype)
            b[: self.n] = a[: self.n]
            self._cols[c] = b

    def append(self, buf: EventBuffer, step: int, time_ns: int, instrument: int) -> None:
        """Move the buffer's ``n`` rows into the log and reset the buffer."""
        k = buf.n
        if k == 0:
            return
        if self._done is not None:
            raise RuntimeError("the event log was already turned into columns")
        n = self.n
        self._grow(n + k)
        for c, a in buf.cols.items():
            rows = a[:k]
            store = self._cols[c]
            if store.dtype == np.int32 and (int(rows.min()) < _I32.min or int(rows.max()) > _I32.max):
                wide = np.empty(store.shape[0], dtype=np.int64)
                wide[:n] = store[:n]
                self._cols[c] = store = wide
            store[n : n + k] = rows
        self._starts.append(n)
        self._meta.append((int(step), int(time_ns), int(instrument)))
        self.n = n + k
        buf.n = 0

    def columns(self) -> dict[str, np.ndarray]:
        """All rows, in the order they happened: ``step``, ``time_ns``, ``instrument`` and the buffer's
        columns, int64 except ``kind`` and ``indicator`` (int8). The first call turns the log into these
        columns (releasing its storage); later calls return the same arrays."""
        if self._done is not None:
            return self._done
        n = self.n
        counts = np.diff(np.array([*self._starts, n], dtype=np.int64))
        meta = np.array(self._meta, dtype=np.int64).reshape(-1, 3)
        out = {c: np.repeat(meta[:, j], counts) for j, c in enumerate(("step", "time_ns", "instrument"))}
        for c in COLUMNS:
            a = self._cols.pop(c)
            out[c] = a[:n].astype(np.int8 if c in ("kind", "indicator") else np.int64)  # a copy: frees ``a``
            del a
        self._starts, self._meta = [], []
        self._done = out
        return out


def decimal_array(values: np.ndarray, scale: int) -> pa.Array:
    """Exact decimal128(38, ``scale``) Arrow array of int64 counts of ``10**-scale`` (money units with scale 6)."""
    # a decimal128's storage is its unscaled integer, two's complement in 128 bits, little endian; the int64
    # values are sign-extended into it directly
    v = np.ascontiguousarray(values, dtype=np.int64)
    words = np.empty((v.shape[0], 2), dtype=np.int64)
    words[:, 0] = v
    words[:, 1] = np.where(v < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(38, scale), v.shape[0], [None, pa.py_buffer(words.tobytes())])


def to_table(cols: dict[str, np.ndarray], instruments: list) -> pa.Table:
    """Arrow table of the events of a run of ``instruments`` (:class:`~delever.instruments.Instrument`): exact
    integer columns (``size_lots``, ``price_ticks``, ``amount_units``) and the same as exact decimals (``size``
    base, ``price`` and ``amount`` quote: decimal128). For an inverse contract (:mod:`delever.inverse`) the
    integer columns are the engine's reciprocal ones (µcoin per contract, the reciprocal side), ``size`` is signed
    contracts (a USD long > 0) and ``price`` the USD price ``cv / q`` rounded half-even to 1e-8 (not exact)."""
    inst = cols["instrument"]
    symbols = [i.symbol for i in instruments]
    tick = np.array([int(i.tick_size * 10**8) for i in instruments], dtype=np.int64)[inst] if len(inst) else inst
    lot = np.array([int(i.lot_size * 10**8) for i in instruments], dtype=np.int64)[inst] if len(inst) else inst
    size8, price8 = cols["size"] * lot, cols["price"] * tick
    for k, i in enumerate(instruments):
        sel = inst == k
        if i.inverse and sel.any():
            size8[sel] = -size8[sel]
            price8[sel] = np.rint(i.display_prices(cols["price"][sel]) * 10**8).astype(np.int64)

    dec = decimal_array
    kinds = np.array(KIND_NAMES)[cols["kind"].astype(np.int64)] if len(inst) else np.array([], dtype=str)
    time = pa.array(cols["time_ns"], type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    return pa.table(
        {
            "step": cols["step"],
            "time": time,
            "account": cols["account"],
            "counterparty": cols["counterparty"],
            "instrument": pa.array(np.array(symbols, dtype=object)[inst] if len(inst) else [], type=pa.string()),
            "kind": pa.array(kinds, type=pa.string()),
            "size": dec(size8, 8),
            "price": dec(price8, 8),
            "amount": dec(cols["amount"], 6),
            "size_lots": cols["size"],
            "price_ticks": cols["price"],
            "amount_units": cols["amount"],
            "adl_indicator": cols["indicator"],
            "position": cols["position"],
        }
    )


assert MONEY_SCALE == 10**6  # the amount decimal scale above assumes micro-units
