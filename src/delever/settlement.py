"""Dated futures at expiry: the settlement price and final settlement (issue #7, part 2).

**Settlement price.** The arithmetic mean of the underlying index over the ``window_s`` seconds before expiry
(every step whose time ``t`` satisfies ``expiry - window < t <= expiry``), rounded to the nearest tick (ties to
even). Binance settles its delivery contracts on "the average of the price index every second for the last 30
minutes before delivery", 1,800 index values, since 11 November 2024 (an hour before; Binance announcement of
2024-11-04, reported at https://www.chaincatcher.com/en/article/2150246); with one-second steps the default
window of 1,800 s is exactly that rule.

**Option series** (issue #16; :mod:`delever.options.engine_market`): a European series settles through the same
path, at its intrinsic value at the underlying's settlement price (:func:`option_settlement_ticks`): ``S`` is the
mean of the underlying's index over the same window, rounded to the underlying's tick as above (Deribit's
delivery price is likewise a 30-minute index average; that rule is not in ../shared/specs/venues.md, so the
Binance-cited rule above is what is used), and the series settles at ``max(S - K, 0)`` (call) or ``max(K - S, 0)``
(put) in its premium ticks, rounded down: against the holder of the option (the long, who receives it); the
writer pays the same price, so money is conserved exactly. A coin-settled series beside an inverse underlying
(:mod:`delever.inverse`) pays ``intrinsic / S`` coin (Deribit's inverse options,
https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options), ``S`` the mean of the USD index
rounded to the contract's quoted tick, in its µcoin ticks, rounded down likewise.

**Final settlement** (:func:`final_settlement`), at the first step at or after expiry, before that step's margin
sweep, modelled on dYdX v4's final settlement (``protocol/x/clob/keeper/final_settlement.go`` and
``deleveraging.go``; ../shared/specs/engines.md section 1: in FINAL_SETTLEMENT, negative-TNC subaccounts are
deleveraged at their bankruptcy price against opposite positions, the others at the oracle price):

1. Every account's equity is marked with the future at the settlement price ``S`` and every other instrument
   at its current mark (cross accounts net all their positions; an isolated position counts alone).
2. **Negative equity: deleveraging at the bankruptcy price.** Each trader position on the future whose margin
   has negative equity (most negative first, then position index) is closed at its bankruptcy price ``BP``:
   the price at which its margin's equity is zero with everything else held (rounded up for a long, down
   for a short, so that the close leaves no debt; :func:`delever.margin.bankruptcy_price`). The other side
   of those lots is taken from profitable opposite positions of solvent trader accounts, chosen and sized
   by the scenario's ADL policy (queue policies in their rank order; allocation policies in proportion to
   their capacity measure; :mod:`delever.adl.queue`). dYdX iterates counterparties from a pseudo-random
   offset without ranking; the venue's own ADL ranking is used here instead, which keeps the run a pure
   function of (scenario, seed). As in dYdX ("non-overlapping bankruptcy prices"), a counterparty gives at
   most as many lots as keep its own equity >= 0: each lot closed at ``BP`` instead of ``S`` costs it
   ``|BP - S| * V``.
3. **Everything else at the settlement price.** Every position still open on the future, the liquidity
   providers' included, is closed at ``S``: its PnL ``size * S * V - cost`` is realized (paid between accounts
   through the clearing house, :data:`delever.events.SETTLEMENT_POOL`; with open interest balanced the
   payments sum to zero exactly). An isolated position's margin returns to its account's wallet.
4. **What the opposite side could not absorb** (lots of a negative-equity position left for step 3) leaves a
   negative balance. An isolated position's is paid by the future's insurance fund, and what the fund cannot
   pay stays on the closed position as unrecovered bad debt (as in :mod:`delever.liquidation`). A cross
   account with nothing else open is paid the same way; one that still holds positions on other instruments
   keeps its negative equity, and the next margin sweep liquidates those positions (their own fund and ADL
   take the deficit: cross margin).

After it, the future's open interest is zero; money is conserved exactly (every fill is a trade between two
positions at one price, :func:`delever.liquidation.apply_trade`, and every payout a transfer from the fund).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from . import events as ev
from .adl.queue import capacity_measure, eligible, winners_of
from .adl.policies import allocate_lots
from .book import Book
from .errors import InputError
from .instruments import MICRO, Instrument, reciprocal_index
from .columns import BookCols
from .liquidation import apply_trade
from .margin import BACKING_WHOLE_ACCOUNT, bankruptcy_price, cross_backing


def expiry_ns(inst: Instrument) -> int:
    """A dated future's expiry in ns since the Unix epoch (naive times are UTC)."""
    e = inst.expiry
    e = e if e.tzinfo is not None else e.replace(tzinfo=UTC)
    return int(e.timestamp()) * 1_000_000_000 + e.microsecond * 1_000


def basis_left(time_ns: np.ndarray, inst: Instrument) -> np.ndarray:
    """float64 (T,): the share of a dated future's starting basis left at each time (1 at the start, falling
    linearly to 0 at expiry and staying 0); all 0 for a perpetual."""
    if inst.expiry is None or time_ns.size == 0:
        return np.zeros(time_ns.shape[0])
    span = max(expiry_ns(inst) - int(time_ns[0]), 1)
    return np.clip((expiry_ns(inst) - time_ns) / span, 0.0, 1.0)


def check_expiry(inst: Instrument, start_ns: int, field: str) -> None:
    """Raise :class:`~delever.errors.InputError` (naming ``field``) when a dated future expires at or before
    the start of the price path (``start_ns``); nothing for a perpetual."""
    if inst.expiry is not None and expiry_ns(inst) <= start_ns:
        raise InputError(f"{inst.symbol} expires at or before the start of the price path", field=field)


def settle_at(book: Book, m: int, inst: Instrument, path, t: int, window_s: float, marks: np.ndarray,
              vpl: np.ndarray, fund: np.ndarray, policy, buf: ev.EventBuffer,
              position_data=None, underlying: Instrument | None = None) -> SettlementReport:  # fmt: skip
    """Settle instrument ``m`` at step ``t`` of its index ``path`` (:class:`~delever.prices.PricePath`): the
    settlement price over ``window_s`` seconds (:func:`settlement_price_ticks`) becomes ``marks[m]`` and every
    position is settled at it (:func:`final_settlement`, which documents the other arguments). An option series
    (``inst.kind == "option"``) takes its ``underlying`` instrument and that instrument's index ``path``, and
    settles at its intrinsic value (:func:`option_settlement_ticks`)."""
    if inst.kind == "option":
        S = option_settlement_ticks(path.time_ns[: t + 1], path.index[: t + 1], inst, window_s, underlying)
    else:
        S = settlement_price_ticks(path.time_ns[: t + 1], path.index[: t + 1], expiry_ns(inst), window_s,
                                   float(inst.tick_size))  # fmt: skip
    marks[m] = S
    return final_settlement(book, m, inst, S, marks, vpl, fund, policy, buf, position_data, step=t)


def settlement_price_ticks(time_ns: np.ndarray, index: np.ndarray, expiry_ns: int, window_s: float, tick: float) -> int:
    """Settlement price in ticks: mean of ``index`` (quote, float64 (T,)) over the steps of ``time_ns``
    (int64 ns (T,)) within ``(expiry - window, expiry]``, rounded to the nearest ``tick`` (module docstring).

    Raises:
        ValueError: no step falls in the window (the path ends before expiry or the window is empty).
    """
    start = expiry_ns - int(round(window_s * 1e9))
    sel = (time_ns > start) & (time_ns <= expiry_ns)
    if not sel.any():
        raise ValueError("no index value in the settlement window: the price path does not reach the expiry")
    return int(np.rint(float(np.mean(index[sel])) / tick))


def option_settlement_ticks(time_ns: np.ndarray, index: np.ndarray, inst: Instrument, window_s: float,
                            underlying: Instrument) -> int:  # fmt: skip
    """Settlement price of option series ``inst`` in its premium ticks: the intrinsic value at the underlying's
    settlement price ``S`` (:func:`settlement_price_ticks` of the underlying's ``index`` over ``window_s`` seconds,
    in ``underlying``'s ticks), ``max(S - K, 0)`` for a call, ``max(K - S, 0)`` for a put, rounded down to the
    series' tick (against the long holder; module docstring). Exact (decimal).

    Raises:
        ValueError: no index value in the window (:func:`settlement_price_ticks`).
    """
    if underlying.inverse:  # the mean of the USD index (not of cv / P), on the venue's USD tick
        usd = reciprocal_index(index, underlying.contract_value)
        tick = underlying.quoted_tick_size
        s = settlement_price_ticks(time_ns, usd, expiry_ns(inst), window_s, float(tick)) * tick
    else:
        s = settlement_price_ticks(time_ns, index, expiry_ns(inst), window_s, float(underlying.tick_size))
        s = s * underlying.tick_size
    intrinsic = max(s - inst.strike, Decimal(0)) if inst.option_type == "call" else max(inst.strike - s, Decimal(0))
    if underlying.inverse and s > 0:  # a coin-settled series pays intrinsic / S coin, in µcoin ticks
        intrinsic = intrinsic / s * MICRO
    return int((intrinsic / inst.tick_size).to_integral_value(ROUND_FLOOR))


@dataclass
class SettlementReport:
    """What one final settlement did (money in money units, sizes in lots, prices in ticks)."""

    settlement_price: int
    positions_settled: int
    negative_equity_positions: int
    deleveraged_lots: int
    deleveraged_notional: int
    settled_pnl_paid: int
    """Sum of the positive PnL realized at the settlement price (what winners received from losers)."""
    insurance_fund_paid: int
    bad_debt_unrecovered: int
    step: int = -1
    """The step of the run at which the future settled."""

    def as_dict(self, inst: Instrument) -> dict:
        """JSON-able figures: the settlement price in quote (exact decimal string), sizes in base, money in
        money units (as every ``units`` figure of the summary)."""
        return {
            "step": self.step,
            "settlement_price": str(self.settlement_price * inst.tick_size),
            "positions_settled": self.positions_settled,
            "negative_equity_positions": self.negative_equity_positions,
            "deleveraged_size": str(self.deleveraged_lots * inst.lot_size),
            "deleveraged_notional": self.deleveraged_notional,
            "settled_pnl_paid": self.settled_pnl_paid,
            "insurance_fund_paid": self.insurance_fund_paid,
            "bad_debt_unrecovered": self.bad_debt_unrecovered,
        }


def _equities(book: Book, marks: np.ndarray, vpl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact (position uPnL, position equity, account equity) at ``marks``: an isolated position's equity
    is its margin plus uPnL, a cross account's its wallet plus the uPnL of its cross positions."""
    upnl = book.size * marks[book.instrument] * vpl[book.instrument] - book.cost
    cross = ~book.isolated
    acc_eq = book.wallet.copy()
    np.add.at(acc_eq, book.account[cross], upnl[cross])
    pos_eq = np.where(book.isolated, book.collateral + upnl, 0)
    return upnl, pos_eq, acc_eq


def final_settlement(
    book: Book,
    m: int,
    inst: Instrument,
    settle_ticks: int,
    marks: np.ndarray,
    vpl: np.ndarray,
    fund: np.ndarray,
    policy,
    buf: ev.EventBuffer,
    position_data=None,
    step: int = -1,
) -> SettlementReport:
    """Settle every open position of instrument ``m`` at expiry (module docstring); mutates ``book`` and
    ``fund`` (the future's one-element insurance fund) and appends the events to ``buf``.

    Args:
        book: the whole book (every instrument); positions of ``m`` are flat afterwards.
        m: the future's instrument index; ``inst`` its :class:`~delever.instruments.Instrument`.
        settle_ticks: the settlement price (:func:`settlement_price_ticks`).
        marks: int64 (instruments,) current marks in ticks (entry ``m`` is ignored: ``S`` is used).
        vpl: int64 (instruments,) value per lot-tick of each instrument.
        policy: the :class:`~delever.adl.policies.Policy` that picks the counterparties of step 2.
        position_data: the ADL hierarchy's per-position columns (as :class:`~delever.adl.queue.AdlQueue`).
        step: the run's step, recorded in the report.

    Events: ``ADL_FILL`` / ``ADL_COUNTERPARTY_FILL`` for step 2 (price ``BP``), ``SETTLEMENT`` per position closed
    at ``S`` (amount: realized PnL; counterparty :data:`~delever.events.SETTLEMENT_POOL`), ``INSURANCE_PAYOUT`` and
    ``BAD_DEBT`` for step 4.
    """
    S = int(settle_ticks)
    v = int(vpl[m])
    marks_s = np.asarray(marks, dtype=np.int64).copy()
    marks_s[m] = S
    trader = ~book.exempt[book.account]
    on_future = book.instrument == m
    upnl, pos_eq, acc_eq = _equities(book, marks_s, vpl)
    was_open = np.flatnonzero(on_future & (book.size != 0))
    live = was_open[trader[was_open]]
    margin_eq = np.where(book.isolated[live], pos_eq[live], acc_eq[book.account[live]])
    negative = live[margin_eq < 0]
    negative = negative[np.lexsort((negative, margin_eq[margin_eq < 0]))]
    is_negative = np.zeros(book.n_positions, dtype=bool)
    is_negative[negative] = True
    tiers = (inst.tiers.floors, inst.tiers.mmr_ppm, inst.tiers.cum, inst.tiers.basis, inst.tiers.rate_per_lot)
    first = buf.n

    cols = BookCols.of(book)

    def trade(x: int, delta: int, price: int) -> int:
        """Trade on the book and keep the equities at S exact: a trade at ``price`` moves its margin's equity
        at S by ``-delta * (price - S) * V`` (:func:`delever.liquidation.apply_trade`)."""
        realized = apply_trade(x, delta, price, cols, v)
        change = -delta * (price - S) * v
        if book.isolated[x]:
            pos_eq[x] += change
        else:
            acc_eq[book.account[x]] += change
        upnl[x] = book.size[x] * S * v - book.cost[x]
        return realized

    deleveraged = deleveraged_notional = 0
    for p in negative.tolist():
        s, a = int(book.size[p]), int(book.account[p])
        # what backs it at the bankruptcy price: its isolated margin, or its account with the other positions at
        # their marks (the whole-account rule of the liquidation stage, :func:`delever.margin.cross_backing`)
        if book.isolated[p]:
            backing = int(book.collateral[p])
        else:
            w, own = int(book.wallet[a]), int(upnl[p])
            backing = cross_backing(BACKING_WHOLE_ACCOUNT, w, own, int(acc_eq[a]) - w - own, 0, 0)
        bp = max(bankruptcy_price(s, int(book.cost[p]), backing, inst), 1)
        sign = 1 if s > 0 else -1
        opposite, c_upnl, c_eq, wallet, mm = eligible(book, -sign, m, S, v, is_negative, tiers, pos_eq, acc_eq)
        gap = abs(bp - S) * v  # what each lot closed at BP instead of S costs the counterparty
        lots = np.abs(book.size[opposite])
        capacity = np.minimum(lots, c_eq // gap) if gap > 0 else lots
        keep = capacity > 0
        if not keep.any():
            continue
        opposite, capacity = opposite[keep], capacity[keep]
        w = winners_of(book, -sign, opposite, c_upnl[keep], c_eq[keep], wallet[keep], mm[keep], S, v, policy,
                       position_data)  # fmt: skip
        scores = policy.score(w) if policy.score is not None else np.zeros(w.n)
        take = allocate_lots(policy, abs(s), capacity, scores, capacity_measure(policy.name, w))
        for q, k in zip(opposite[take > 0].tolist(), take[take > 0].tolist()):
            r1 = trade(p, -sign * k, bp)
            r2 = trade(q, sign * k, bp)
            qa = int(book.account[q])
            buf.append_rows(ev.ADL_FILL, a, qa, p, -sign * k, bp, r1)
            buf.append_rows(ev.ADL_COUNTERPARTY_FILL, qa, a, q, sign * k, bp, r2)
            deleveraged += k
            deleveraged_notional += k * bp * v
    # step 3: every open position of the future at S; equities at S do not change
    open_ = np.flatnonzero(on_future & (book.size != 0))
    size = book.size[open_]
    realized = size * S * v - book.cost[open_]
    iso = book.isolated[open_]
    np.add.at(book.collateral, open_[iso], realized[iso])
    np.add.at(book.wallet, book.account[open_[~iso]], realized[~iso])
    book.size[open_] = 0
    book.cost[open_] = 0
    buf.append_rows(ev.SETTLEMENT, book.account[open_], ev.SETTLEMENT_POOL, open_, -size, S, realized)
    # step 4: isolated margins go home; what the opposite side could not absorb goes to the fund
    paid = unrecovered = 0
    for p in was_open[book.isolated[was_open]].tolist():
        a, bal = int(book.account[p]), int(book.collateral[p])
        if bal < 0:
            bal, pay, left = _cover(buf, fund, a, p, bal)
            paid, unrecovered = paid + pay, unrecovered + left
            if bal < 0:  # as in liquidation: the loss stays with the closed isolated position
                book.collateral[p] = bal
                continue
        book.wallet[a] += bal
        book.collateral[p] = 0
    holds = np.bincount(book.account[book.size != 0], minlength=book.n_accounts)
    for p in negative[~book.isolated[negative]].tolist():
        a = int(book.account[p])
        if acc_eq[a] >= 0 or holds[a]:
            continue  # solvent, or left to the next margin sweep on the account's other positions
        bal, pay, left = _cover(buf, fund, a, p, int(acc_eq[a]))
        book.wallet[a] += pay
        paid, unrecovered = paid + pay, unrecovered + left
    c = buf.cols
    rows = slice(first, buf.n)
    settled = c["kind"][rows] == ev.SETTLEMENT
    return SettlementReport(
        settlement_price=S,
        positions_settled=int(settled.sum()),
        negative_equity_positions=int(negative.size),
        deleveraged_lots=deleveraged,
        deleveraged_notional=deleveraged_notional,
        settled_pnl_paid=int(np.maximum(c["amount"][rows][settled], 0).sum()),
        insurance_fund_paid=paid,
        bad_debt_unrecovered=unrecovered,
        step=step,
    )


def _cover(buf: ev.EventBuffer, fund: np.ndarray, account: int, position: int, balance: int) -> tuple[int, int, int]:
    """The fund pays what it can of a negative ``balance``; the rest is logged as unrecovered bad debt. Returns
    ``(balance after, paid, unrecovered)``; the caller credits the payment to the margin."""
    pay = min(-balance, int(fund[0]))
    if pay:
        fund[0] -= pay
        balance += pay
        buf.append_rows(ev.INSURANCE_PAYOUT, account, ev.INSURANCE_FUND, position, amount=pay)
    if balance < 0:
        buf.append_rows(ev.BAD_DEBT, account, ev.INSURANCE_FUND, position, amount=balance)
    return balance, pay, max(-balance, 0)


def settled(extra: dict) -> list[tuple[str, dict]]:
    """``(symbol or "", figures)`` of each future a run settled, from its ``extra`` (see :func:`report_section`)."""
    rows = []
    if extra.get("settlement"):
        rows.append(("", extra["settlement"]))
    for inst in extra.get("cross_margin", {}).get("instruments", []):
        if inst.get("settlement"):
            rows.append((inst["symbol"], inst["settlement"]))
    return rows


def summary_line(symbol: str, st: dict) -> str:
    """One line for the terminal: price, positions settled, deleveraging, fund and bad debt (quote)."""
    from .units import MONEY_SCALE

    return (
        f"final settlement {symbol + ' ' if symbol else ''}at {Decimal(st['settlement_price']):,} (step "
        f"{st['step']:,}): {st['positions_settled']:,} positions closed, {st['negative_equity_positions']:,} with "
        f"negative equity deleveraged ({st['deleveraged_size']} base at their bankruptcy prices), fund paid "
        f"{st['insurance_fund_paid'] / MONEY_SCALE:,.2f}, unrecovered {st['bad_debt_unrecovered'] / MONEY_SCALE:,.2f}"
    )


def report_section(extra: dict) -> dict | None:
    """A report section (``{"title", "html"}``) with each settled future's figures, from a run's ``extra``
    (``extra["settlement"]`` of a single-instrument run, the per-instrument ``settlement`` of a multi-instrument
    run); ``None`` when nothing settled. Money in quote."""
    from html import escape

    from .units import MONEY_SCALE

    rows = settled(extra)
    if not rows:
        return None
    money_keys = ("deleveraged_notional", "settled_pnl_paid", "insurance_fund_paid", "bad_debt_unrecovered")
    html = (
        "<p>At expiry every open position of a dated future is closed at the settlement price (the mean of the "
        "index over the settlement window); positions whose margin has negative equity are first deleveraged at "
        "their bankruptcy price against solvent winners (dYdX v4's final settlement). Money in quote.</p>"
    )
    for symbol, st in rows:
        cells = "".join(
            f"<tr><td>{escape(k)}</td><td>"
            + (f"{v / MONEY_SCALE:,.2f}" if k in money_keys else escape(f"{v:,}" if isinstance(v, int) else str(v)))
            + "</td></tr>"
            for k, v in st.items()
        )
        html += f"<h3>{escape(symbol)}</h3>" if symbol else ""
        html += f"<table><tbody>{cells}</tbody></table>"
    return {"title": "Final settlement", "html": html}
