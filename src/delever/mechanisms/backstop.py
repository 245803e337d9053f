"""The backstop liquidity vault (Hyperliquid's HLP liquidator, ../shared/specs/venues.md section 6): when a
liquidatable account's equity is below ``equity_ratio`` x maintenance margin (Hyperliquid: 2/3), the vault
takes over the whole position instead of the book, and keeps the account's remaining margin ("MM not
returned: the buffer keeps backstop profitable on average").

Account-level (issue #11): a cross position is judged by its account, as the margin sweep judges it: the account's
equity (cross wallet plus the uPnL of every open cross position, each at its instrument's mark) against the sum of
those positions' MM, both as the book stands when the position's instrument comes up in the step (so after the
step's earlier liquidations). Once the vault has taken one of an account's cross positions at a step, it takes the
account's other cross positions at that step too (Hyperliquid's backstop takes over the account, not one
position), and the account's remaining margin goes to the vault when its last cross position is taken. An
isolated position is judged by its own margin and MM, and its margin goes with it.

Takeover price: the mark; for a margin already below zero at the marks (equity < 0), its bankruptcy price with the
account backing it (the cross wallet plus the other cross positions' uPnL at their marks, Binance ``WB + UPNL1``,
:func:`delever.margin.cross_backing`; an isolated position's own margin), rounded against solvency, so the margin
ends at exactly >= 0 and the vault absorbs the loss. The vault is an account of the book (never liquidated,
never ADL'd) whose PnL the report tracks.

**Takeover at the oracle** (``style = "oracle-takeover"``; Drift v2, ../shared/specs/engines.md section
2, drift-labs/protocol-v2 ``controller/liquidation.rs`` ``liquidate_perp``): a liquidator takes the position's base
**at the oracle price** (the engine's index, the instrument's book centre; rounded to a whole tick against the
account: down for a long, up for a short) and the account keeps its margin: it pays only the liquidation fee
(``ceil(rate x notional)``, to the fund, capped at what it has: Drift's liquidator and insurance-fund fee rates
are not in the specs, the scenario's rate stands in) and, left below zero, is bankrupt: the fund pays what it may
(:mod:`.insurance_cap`) and the rest is its bad debt, socialized after the stage (:mod:`.socialized`; Drift:
through the cumulative funding rate). :func:`take_over_at_oracle`; the settlement is the liquidation stage's own
(:func:`delever.liquidation.settle_balance`). The liquidator (the vault) takes every position the sweep found
(its ``equity_ratio`` is not used: every position below MM); Drift's time-based cap on the share taken
(``initial_pct_to_liquidate``, ``liquidation_duration``) is not in the specs, so the whole position is taken.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..book import with_extra_account
from ..columns import AccountValuation, BookCols, EventCols
from ..events import BACKSTOP_MARGIN, BACKSTOP_TAKEOVER, BACKSTOP_VAULT_FILL
from ..liquidation import apply_trade, emit_event, margin_backing, settle_balance
from ..margin import bankruptcy_price_compiled
from ..sweep import account_cross_sums, position_requirement
from ..units import money
from .base import Mechanism


@njit(cache=True, nogil=True)
def take_over(order, step, taken_at, ratio_num, ratio_den, vault_pos, mark, book, val, v, keep, events) -> int:
    """Hand positions ``order[k]`` (one instrument, at ``mark`` ticks, ``v`` money per lot-tick) whose margin is
    below ``ratio_num / ratio_den`` x its MM to the vault's position ``vault_pos`` (module docstring); ``keep[k]`` is
    set to 0 for those (1 for the rest). ``taken_at`` int64 (accounts,) the step (plus one) at which the vault last
    took an account's cross position: set here for ``step``, and an account taken at this step has its further cross
    positions taken without a new test. ``book`` a :class:`delever.columns.BookCols` (mutated), ``val`` a
    :class:`delever.columns.AccountValuation` (every instrument's mark, value per lot-tick and tier table),
    ``events`` a :class:`delever.columns.EventCols`: the caller ensures room for 4 events per position.
    Returns how many."""
    vault_acc = book.account[vault_pos]
    taken = 0
    for k in range(order.shape[0]):
        p = order[k]
        s = book.size[p]
        keep[k] = 1
        if s == 0:
            continue
        a = book.account[p]
        m = book.instrument[p]
        own_upnl = s * mark * v - book.cost[p]
        other_upnl = 0
        other_open = 0
        if book.isolated[p]:
            equity = book.collateral[p] + own_upnl
            mm = position_requirement(s, book.cost[p], mark, v, True, m, val)
            whole_account = False
        else:
            u_all, mm, n_open = account_cross_sums(a, book, val, True)
            equity = book.wallet[a] + u_all
            other_upnl = u_all - own_upnl
            other_open = n_open - 1
            whole_account = taken_at[a] == step + 1
        if not whole_account and equity * ratio_den >= ratio_num * mm:
            continue
        keep[k] = 0
        if not book.isolated[p]:
            taken_at[a] = step + 1
        b0 = book.collateral[p] if book.isolated[p] else book.wallet[a] + other_upnl
        price = mark
        if equity < 0:  # bankrupt at the marks: the bankruptcy price of the margin backing it (>= 1 tick)
            price = max(bankruptcy_price_compiled(s, book.cost[p], b0, v), 1)
        r1 = apply_trade(p, -s, price, book, v)
        r2 = apply_trade(vault_pos, s, price, book, v)
        emit_event(events, BACKSTOP_TAKEOVER, a, vault_acc, p, -s, price, r1, 0)
        emit_event(events, BACKSTOP_VAULT_FILL, vault_acc, a, vault_pos, s, price, r2, 0)
        # the margin goes with the account's last cross position (its other ones still need it), or with an
        # isolated position
        bal = book.collateral[p] if book.isolated[p] else (book.wallet[a] if other_open == 0 else 0)
        if bal > 0:
            if book.isolated[p]:
                book.collateral[p] = 0
            else:
                book.wallet[a] = 0
            book.wallet[vault_acc] += bal
            emit_event(events, BACKSTOP_MARGIN, a, vault_acc, p, 0, 0, -bal, 0)
            emit_event(events, BACKSTOP_MARGIN, vault_acc, a, vault_pos, 0, 0, bal, 0)
        taken += 1
    return taken


@njit(cache=True, nogil=True)
def take_over_at_oracle(order, oracle, vault_pos, book, val, v, fund, fee_ppm, events) -> int:
    """Hand every position ``order[k]`` (one instrument; ``v`` money per lot-tick) to the liquidator's position
    ``vault_pos`` at the oracle ``oracle`` (ticks, float: a long's at its floor, a short's at its ceiling, at least
    one tick), the account keeping its margin less the fee ``fee_ppm`` x notional, a deficit paid by ``fund``
    (int64 (1,)) as far as it goes and the rest a ``BAD_DEBT`` row (:func:`delever.liquidation.settle_balance`).
    ``book`` a :class:`delever.columns.BookCols` (mutated), ``val`` a :class:`delever.columns.AccountValuation`,
    ``events`` a :class:`delever.columns.EventCols` (the caller ensures room for 4 events per position). Returns
    how many positions were taken."""
    vault_acc = book.account[vault_pos]
    lo = max(int(np.floor(oracle)), 1)
    hi = max(int(np.ceil(oracle)), 1)
    taken = 0
    for k in range(order.shape[0]):
        p = order[k]
        s = book.size[p]
        if s == 0:
            continue
        a = book.account[p]
        price = lo if s > 0 else hi
        _, other_upnl, other_open = margin_backing(p, book, val, v)
        r1 = apply_trade(p, -s, price, book, v)
        r2 = apply_trade(vault_pos, s, price, book, v)
        emit_event(events, BACKSTOP_TAKEOVER, a, vault_acc, p, -s, price, r1, 0)
        emit_event(events, BACKSTOP_VAULT_FILL, vault_acc, a, vault_pos, s, price, r2, 0)
        notional = (s if s > 0 else -s) * price * v
        settle_balance(p, notional, other_upnl, other_open, book, fund, events, fee_ppm)
        taken += 1
    return taken


def ratio_fraction(equity_ratio) -> tuple[int, int]:
    """The threshold as an exact fraction ``(num, den)`` of a decimal such as 0.666667."""
    from fractions import Fraction

    f = Fraction(str(equity_ratio))
    return f.numerator, f.denominator


def vault_equity(book, vault_pos: int, mark: int, v: int) -> int:
    """The vault's equity at ``mark``: its wallet plus its position's unrealized PnL (money)."""
    a = int(book.account[vault_pos])
    return int(book.wallet[a]) + int(book.size[vault_pos]) * mark * v - int(book.cost[vault_pos])


class Backstop(Mechanism):
    """The step loop's backstop vault (:mod:`delever.mechanisms.base`): an exempt account appended to the
    book, with one flat position per instrument; before the book sees a batch, the vault takes over
    (:func:`take_over`) the positions whose account's (or isolated margin's) equity is below ``equity_ratio`` x
    its MM, and every cross position of an account it took at that step (``taken_at``, per account). The summary
    reports the vault's PnL at the last marks."""

    name = "backstop"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> Backstop | None:
        bs = scenario.mechanisms.backstop
        return cls(bs) if bs.enabled else None

    def add_accounts(self, sim, book):
        # the vault holds one (flat) position on each instrument
        book, self.vault_acc, first = with_extra_account(book, money(self.config.vault_wallet), sim.M)
        self.vault_positions = np.arange(first, first + sim.M, dtype=np.int64)
        return book

    def setup(self, sim) -> None:
        self.ratio = ratio_fraction(self.config.equity_ratio)
        self.taken_at = np.zeros(sim.book.n_accounts, dtype=np.int64)  # step + 1 of each account's last takeover

    def take(self, sim, batch) -> None:
        """Hand the positions below the vault's threshold (their accounts' equity and MM now, at every
        instrument's mark) to the vault's position on the batch's instrument; with ``style = "oracle-takeover"``
        every position of the batch, at the oracle (:func:`take_over_at_oracle`)."""
        b, buf, m, mark, order = sim.book, sim.buf, batch.m, batch.mark, batch.order
        buf.ensure(4 * order.size + 8)
        keep = np.ones(order.size, dtype=np.int64)
        num, den = self.ratio
        v = int(sim.vpl[m])
        notional = np.abs(b.size[order]) * mark * v
        events = EventCols.of(buf)
        vault = int(self.vault_positions[m])
        valuation = AccountValuation(sim.marks, sim.vpl, *sim.tier_args(), *sim.rule)
        if self.config.style == "oracle-takeover":  # a liquidator's takeover at the oracle (Drift; module docstring)
            valuation = sim.valuation(sim.marks.copy())
            keep[:] = 0
            taken = take_over_at_oracle(
                order, batch.centre, vault, BookCols.of(b), valuation, v, sim.funds.of(m), sim.fee_ppm, events
            )
        else:
            taken = take_over(
                order, batch.t, self.taken_at, num, den, vault, mark, BookCols.of(b), valuation, v, keep, events
            )
        buf.n = events.rows()
        if taken:
            sim.note(self.name, b.account[order[keep == 0]], int(notional[keep == 0].sum()))
        batch.keep(keep == 1)

    def finish(self, sim, extra: dict) -> None:
        b = sim.book
        vault_end = int(b.wallet[self.vault_acc])
        for m in range(sim.M):
            last_mark = int(sim.mark_s_all[m][-1]) if sim.T else 0
            vault_end += vault_equity(b, int(self.vault_positions[m]), last_mark, int(sim.vpl[m])) - int(
                b.wallet[self.vault_acc]
            )
        extra[self.name]["vault_pnl"] = vault_end - money(self.config.vault_wallet)
