"""Stylised facts of a run: the figures that made real crashes famous, computed from the event log and the
step series (issue #12, item 1), so that a replay can be put beside what really happened.

Every fact is a pure function of the run's outputs (:class:`FactInputs`: the event log of
:mod:`delever.events`, the per-step times, marks and fund, the starting and final books). Definitions:

- ``seconds_first_liquidation_to_first_adl``: time of the first ADL fill minus the time of the first
  liquidation fill (book or ADL side), seconds; ``None`` when either never happened. Times are step times, so
  the resolution is the scenario's ``step_seconds``.
- ``adl_waves``: the ADL counterparty fills grouped in time order; a fill more than ``wave_gap_s`` seconds
  after the previous one starts a new wave (Chitra's wave split, arXiv:2512.01112, used a 5 s gap: the
  default). Each wave: start, end, fills, notional (``|size| * price`` at the ADL price, quote).
- ``adl_leverage`` / ``liquidated_leverage``: *effective* leverage ``gross notional at the mark / equity`` of
  each account when the engine first ADL'd (resp. liquidated) it, measured at that step's mark before the
  step's events (unweighted median and 90th percentile over accounts). Accounts with equity <= 0 at that
  moment have no finite leverage: they are counted in ``nonpositive_equity`` and left out of the quantiles.
- ``adl_concentration``: share of the ADL notional (counterparty side) taken by the ``ceil(1%)`` largest
  ADL'd accounts and by the 10 largest (:func:`delever.adl.metrics.top_share`).
- ``negative_equity_during_run``: accounts whose equity was below zero (a) at the mark of a step at which the
  engine liquidated, ADL'd, took over or deleveraged them (before that step's events), (b) after their
  liquidation fills, as the balance the insurance fund's payout and the unrecovered bad debt record (the
  part ADL covers is no money flow: ADL fills at the bankruptcy price, which leaves the balance at zero;
  there (a) applies), or (c) at the end; ``total`` sums each such account's lowest equity, ``worst`` is the
  lowest. An account the engine never touched was above maintenance margin at every step's mark (else it
  would have been liquidated), so it cannot be missed; between step marks the log says nothing.
- ``negative_equity_at_end``: the same on the final book at the last mark (exact, from the run result).
- ``liquidations_per_minute``: liquidations (a position liquidated at a step, as the summary counts them)
  and liquidated notional per UTC minute, for the minutes that had any, with the peak minute.
- ``fund_drawdown``: the insurance fund's largest fall from its running peak (starting balance included),
  in quote and percent of that peak, and the lowest balance with the first time it was reached.

Equity reconstruction (exact integers): every fill goes through one trade rule under which ``balance -
cost`` of a position changes by exactly ``-size * price * V`` (:func:`delever.liquidation.apply_trade`), and
each row's ``amount`` is the change of its account's balance. So, before step ``s``, a position's size and
cost are its starting values plus its fill rows before ``s`` (``size``, and ``size * price * V + amount``),
and an account's equity is ``wallet + isolated margins + sum(amount before s) + sum(size * mark * V -
cost)``. Money figures are exact quote decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from . import events as ev
from .adl.metrics import top_share
from .book import Book
from .units import MONEY_SCALE

DEFAULT_WAVE_GAP_S = 5.0
"""Default gap between ADL waves, seconds (the 5 s of Chitra's wave split, arXiv:2512.01112)."""

POSITION_CHANGING_KINDS = (
    ev.LIQUIDATION_FILL,
    ev.LP_FILL,
    ev.ADL_FILL,
    ev.ADL_COUNTERPARTY_FILL,
    ev.DELEVERAGE_FILL,
    ev.BACKSTOP_TAKEOVER,
    ev.BACKSTOP_VAULT_FILL,
    ev.SETTLEMENT,
)
"""Event kinds that trade a position (through the trade rule of :func:`delever.liquidation.apply_trade`)."""

ENGINE_ACTION_KINDS = (ev.LIQUIDATION_FILL, ev.ADL_FILL, ev.BACKSTOP_TAKEOVER, ev.DELEVERAGE_FILL)
"""Kinds by which the engine acts on an account in trouble (the steps where its equity is inspected)."""

NS_PER_S = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_S


@dataclass(frozen=True)
class FactInputs:
    """What the facts are computed from.

    ``events``: the event log columns (:meth:`delever.events.EventLog.columns`: ``step``, ``time_ns``,
    ``kind``, ``account``, ``position``, ``size`` lots, ``price`` ticks, ``amount`` money units), all (R,).
    ``time_ns``, ``mark_ticks``, ``fund``: per step (T,) int64. ``fund_start``: money units. ``start`` and
    ``end``: the books before and after the run (same positions). ``value_per_lot_tick``: money units per
    lot per tick (single instrument).
    """

    events: dict[str, np.ndarray]
    time_ns: np.ndarray
    mark_ticks: np.ndarray
    fund: np.ndarray
    fund_start: int
    start: Book
    end: Book
    value_per_lot_tick: int


def _quote(units: int | float) -> Decimal:
    return Decimal(int(units)) / MONEY_SCALE


def _iso(ns: int) -> str:
    ns = int(ns)
    t = datetime.fromtimestamp(ns // NS_PER_S, tz=UTC)
    frac = ns % NS_PER_S
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{frac // 1_000_000:03d}Z" if frac else f"{text}Z"


def _quantiles(x: np.ndarray) -> tuple[float | None, float | None]:
    if x.size == 0:
        return None, None
    return round(float(np.median(x)), 4), round(float(np.quantile(x, 0.9)), 4)


def _sums_before(key: np.ndarray, step: np.ndarray, value: np.ndarray, q_key: np.ndarray, q_step: np.ndarray):
    """For each query ``(q_key[i], q_step[i])``: the sum of ``value`` over rows with ``key == q_key[i]`` and
    ``step < q_step[i]`` (int64, exact). Shapes: rows (R,), queries (Q,)."""
    if q_key.size == 0:
        return np.zeros(0, dtype=np.int64)
    if key.size == 0:
        return np.zeros(q_key.shape[0], dtype=np.int64)
    span = int(max(int(step.max()), int(q_step.max()))) + 2
    combined = key.astype(np.int64) * span + step.astype(np.int64)
    order = np.argsort(combined, kind="stable")
    combined = combined[order]
    csum = np.concatenate([[0], np.cumsum(value[order].astype(np.int64))])
    hi = np.searchsorted(combined, q_key.astype(np.int64) * span + q_step, side="left")
    lo = np.searchsorted(combined, q_key.astype(np.int64) * span, side="left")
    return csum[hi] - csum[lo]


def equity_before(fi: FactInputs, accounts: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity and gross notional (money units, int64 (Q,)) of each ``accounts[i]`` at the mark of
    ``steps[i]``, before that step's events (see the module docstring for the exact reconstruction)."""
    e, b, v = fi.events, fi.start, fi.value_per_lot_tick
    accounts = np.asarray(accounts, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    if accounts.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    trade = np.isin(e["kind"], POSITION_CHANGING_KINDS)
    # positions of each queried account, one query row per (query, position)
    by_account = np.argsort(b.account, kind="stable")
    first = np.searchsorted(b.account[by_account], accounts, side="left")
    count = np.searchsorted(b.account[by_account], accounts, side="right") - first
    q_of = np.repeat(np.arange(accounts.size), count)
    offsets = np.arange(q_of.size) - np.repeat(np.cumsum(count) - count, count)
    pos = by_account[np.repeat(first, count) + offsets]
    q_steps = steps[q_of]
    d_size = _sums_before(e["position"][trade], e["step"][trade], e["size"][trade], pos, q_steps)
    d_cost = _sums_before(
        e["position"][trade],
        e["step"][trade],
        e["size"][trade] * e["price"][trade] * v + e["amount"][trade],
        pos,
        q_steps,
    )
    size = b.size[pos] + d_size
    cost = b.cost[pos] + d_cost
    mark = fi.mark_ticks[q_steps]
    upnl = size * mark * v - cost
    amounts = _sums_before(e["account"], e["step"], e["amount"], accounts, steps)
    # np.add.at on int64 keeps the sums exact (bincount's float weights would round them)
    equity = b.wallet[accounts].astype(np.int64) + amounts
    np.add.at(equity, q_of, b.collateral[pos] + upnl)
    gross = np.zeros(accounts.size, dtype=np.int64)
    np.add.at(gross, q_of, np.abs(size) * mark * v)
    return equity, gross


def _leverage(fi: FactInputs, mask: np.ndarray) -> dict:
    """Effective leverage of the accounts of the rows in ``mask`` at the first step such a row names them."""
    e = fi.events
    acc, step = e["account"][mask], e["step"][mask]
    if acc.size == 0:
        return {"accounts": 0, "median": None, "p90": None, "nonpositive_equity": 0}
    order = np.lexsort((step, acc))
    acc, step = acc[order], step[order]
    keep = np.concatenate([[True], acc[1:] != acc[:-1]])
    acc, step = acc[keep], step[keep]
    equity, gross = equity_before(fi, acc, step)
    positive = equity > 0
    lev = gross[positive] / equity[positive]
    med, p90 = _quantiles(lev)
    return {"accounts": int(acc.size), "median": med, "p90": p90, "nonpositive_equity": int((~positive).sum())}


def _waves(time_ns: np.ndarray, notional: np.ndarray, gap_s: float) -> list[dict]:
    if time_ns.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(time_ns) > gap_s * NS_PER_S) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [time_ns.size]])
    return [
        {
            "start": _iso(time_ns[a]),
            "end": _iso(time_ns[b - 1]),
            "seconds": (int(time_ns[b - 1]) - int(time_ns[a])) / NS_PER_S,
            "fills": int(b - a),
            "notional": _quote(int(notional[a:b].sum())),
        }
        for a, b in zip(starts, ends)
    ]


def _negative(equity_by_account: dict[int, int]) -> dict:
    neg = np.array([x for x in equity_by_account.values() if x < 0], dtype=np.int64)
    return {
        "accounts": int(neg.size),
        "total": _quote(int(neg.sum())) if neg.size else Decimal(0),
        "worst": _quote(int(neg.min())) if neg.size else None,
    }


def final_equity(book: Book, mark_ticks: int, value_per_lot_tick: int) -> np.ndarray:
    """Equity of every account (int64 money units, (accounts,)) of ``book`` at ``mark_ticks``: wallet plus
    isolated margins plus ``size * mark * V - cost`` of its positions."""
    eq = book.wallet.astype(np.int64).copy()
    np.add.at(eq, book.account, book.collateral + book.size * int(mark_ticks) * value_per_lot_tick - book.cost)
    return eq


def stylised_facts(fi: FactInputs, wave_gap_s: float = DEFAULT_WAVE_GAP_S) -> dict:
    """The facts of the module docstring (money as exact quote ``Decimal``; times ISO 8601 UTC).

    Raises:
        ValueError: ``wave_gap_s`` negative.
    """
    if wave_gap_s < 0:
        raise ValueError("wave_gap_s must be >= 0")
    e, v = fi.events, fi.value_per_lot_tick
    kind = e["kind"]
    trader = ~fi.start.exempt
    notional = np.abs(e["size"]) * e["price"] * v
    liq_fill = (kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)
    adl = kind == ev.ADL_COUNTERPARTY_FILL
    t = e["time_ns"]
    first_liq = int(t[liq_fill].min()) if liq_fill.any() else None
    first_adl = int(t[adl].min()) if adl.any() else None
    gap = (first_adl - first_liq) / NS_PER_S if first_liq is not None and first_adl is not None else None

    adl_idx = np.flatnonzero(adl)
    adl_idx = adl_idx[np.argsort(t[adl_idx], kind="stable")]
    waves = _waves(t[adl_idx], notional[adl_idx], wave_gap_s)

    # concentration over ADL'd accounts
    acc_adl, inv = np.unique(e["account"][adl], return_inverse=True)
    per_account = np.zeros(acc_adl.size, dtype=np.int64)
    np.add.at(per_account, inv, notional[adl])
    ranked = np.sort(per_account.astype(np.float64))  # ascending, as top_share's presorted form wants
    k1 = math.ceil(0.01 * acc_adl.size)
    concentration = {
        "accounts": int(acc_adl.size),
        "top1pct_accounts": int(k1),
        "top1pct_share": round(top_share(ranked, k1, presorted=True), 6) if acc_adl.size else None,
        "top10_share": round(top_share(ranked, 10, presorted=True), 6) if acc_adl.size else None,
    }

    # equity at every step the engine acted on an account, and at the end
    act = np.isin(kind, ENGINE_ACTION_KINDS) & (e["account"] >= 0)
    pairs = np.unique(np.stack([e["account"][act], e["step"][act]], axis=1), axis=0) if act.any() else None
    lowest: dict[int, int] = {}
    if pairs is not None:
        eq, _ = equity_before(fi, pairs[:, 0], pairs[:, 1])
        for a, x in zip(pairs[:, 0].tolist(), eq.tolist()):
            lowest[a] = min(x, lowest.get(a, x))
    # the balance an account was left with after its liquidation fills, as the fund's payout and the
    # unrecovered bad debt record it (payout rows > 0 cover a negative balance; bad-debt rows < 0 are what is left)
    cover = ((kind == ev.INSURANCE_PAYOUT) | (kind == ev.BAD_DEBT)) & (e["account"] >= 0)
    if cover.any():
        left = np.where(kind[cover] == ev.INSURANCE_PAYOUT, -e["amount"][cover], e["amount"][cover])
        keys, inv = np.unique(np.stack([e["account"][cover], e["step"][cover]], axis=1), axis=0, return_inverse=True)
        balance = np.zeros(keys.shape[0], dtype=np.int64)
        np.add.at(balance, inv.ravel(), left)
        for a, x in zip(keys[:, 0].tolist(), balance.tolist()):
            lowest[a] = min(x, lowest.get(a, x))
    end_mark = int(fi.mark_ticks[-1]) if fi.mark_ticks.size else 0
    end_eq = final_equity(fi.end, end_mark, v)
    at_end = {int(a): int(end_eq[a]) for a in np.flatnonzero(trader & (end_eq < 0))}
    for a, x in at_end.items():
        lowest[a] = min(x, lowest.get(a, x))
    lowest = {a: x for a, x in lowest.items() if trader[a]}

    # liquidations per minute: a position liquidated at a step counts once (as the summary counts them)
    minute = t // NS_PER_MINUTE
    keys = e["step"][liq_fill] * (fi.start.n_positions + 1) + e["position"][liq_fill]
    _, first_row = np.unique(keys, return_index=True)
    mins, inv = np.unique(minute[liq_fill], return_inverse=True)
    inv = inv.ravel()
    counts = np.bincount(inv[first_row], minlength=mins.size).astype(np.int64)
    amounts = np.zeros(mins.size, dtype=np.int64)
    np.add.at(amounts, inv, notional[liq_fill])
    per_minute = [
        {"minute": _iso(int(m) * NS_PER_MINUTE), "liquidations": int(c), "notional": _quote(int(a))}
        for m, c, a in zip(mins, counts, amounts)
    ]
    peak = int(np.argmax(counts)) if counts.size else None

    # fund drawdown from the running peak, the starting balance included
    fund = np.concatenate([[int(fi.fund_start)], fi.fund.astype(np.int64)])
    running = np.maximum.accumulate(fund)
    dd = running - fund
    worst = int(np.argmax(dd))
    low = int(np.argmin(fund))
    fund_facts = {
        "max_drawdown": _quote(int(dd[worst])),
        "max_drawdown_pct": round(100.0 * int(dd[worst]) / int(running[worst]), 4) if running[worst] > 0 else None,
        "min": _quote(int(fund[low])),
        "time_of_min": None if low == 0 else _iso(int(fi.time_ns[low - 1])),
    }

    return {
        "wave_gap_s": wave_gap_s,
        "first_liquidation_time": None if first_liq is None else _iso(first_liq),
        "first_adl_time": None if first_adl is None else _iso(first_adl),
        "seconds_first_liquidation_to_first_adl": gap,
        "adl_waves": {"count": len(waves), "waves": waves},
        "adl_leverage": _leverage(fi, adl & (e["account"] >= 0)),
        "liquidated_leverage": _leverage(fi, liq_fill & (e["account"] >= 0)),
        "adl_concentration": concentration,
        "negative_equity_during_run": _negative(lowest),
        "negative_equity_at_end": _negative(at_end),
        "liquidations_per_minute": {
            "minutes_with_liquidations": len(per_minute),
            "peak_minute": per_minute[peak]["minute"] if peak is not None else None,
            "peak_liquidations": int(counts[peak]) if peak is not None else 0,
            "peak_notional": per_minute[peak]["notional"] if peak is not None else Decimal(0),
            "minutes": per_minute,
        },
        "fund_drawdown": fund_facts,
    }


def facts_of_run(r) -> dict:
    """:func:`stylised_facts` of a :class:`~delever.engine.RunResult`, with the scenario's wave gap
    (``[facts] adl_wave_gap_s``). A multi-instrument (cross-margin) run has one mark series per instrument,
    which the step series does not keep: its facts are not computed, and the dict says so."""
    if r.instruments is not None and len(r.instruments) > 1:
        return {"not_computed": "multi-instrument run: the step series keeps the first instrument's mark only"}
    fi = FactInputs(
        events=r.events,
        time_ns=r.steps.time_ns,
        mark_ticks=r.steps.mark_ticks,
        fund=r.steps.fund,
        fund_start=r.fund_start,
        start=r.book_start,
        end=r.book,
        value_per_lot_tick=r.instrument.value_per_lot_tick,
    )
    return stylised_facts(fi, r.scenario.facts.adl_wave_gap_s)
