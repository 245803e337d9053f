"""The tables of a run (:mod:`delever.output`): ``steps.parquet`` (one row per step, and per instrument in a
multi-instrument run), ``accounts.parquet`` (one row per account), ``events.parquet`` (exact) and the events as
the report reads them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import events as ev
from .engine import RunResult
from .units import MONEY_SCALE


def run_instruments(r: RunResult) -> list:
    """The run's instruments (:class:`~delever.instruments.Instrument`), one for a single-instrument run."""
    return r.instruments or [r.instrument]


def event_values(r: RunResult) -> np.ndarray:
    """Money per lot-tick of each event row's instrument."""
    v = np.array([i.value_per_lot_tick for i in run_instruments(r)], dtype=np.int64)
    return v[r.events["instrument"]] if r.events["instrument"].size else np.zeros(0, dtype=np.int64)


def steps_table(r: RunResult) -> pa.Table:
    """One row per step: prices (quote), per-step liquidation and ADL aggregates, fund and cumulative bad debt."""
    return _steps_table(r.steps, r.events, event_values(r), r.instrument, r.book.n_positions)


def instrument_steps(r: RunResult) -> list[dict] | None:
    """A multi-instrument run's step table per instrument, as :func:`steps_table` over that instrument's
    series and events (its own fund, or the one shared fund), for the report: ``[{"symbol", "base", "steps",
    "expiry_ns", "fund_shared"}]``; None for a single-instrument run."""
    if not r.instrument_steps:
        return None
    out = []
    v = event_values(r)
    per = r.extra.get("cross_margin", {}).get("instruments", [])
    shared = any(p.get("insurance_fund_shared") for p in per)
    for m, (inst, series) in enumerate(zip(run_instruments(r), r.instrument_steps, strict=True)):
        sel = r.events["instrument"] == m
        events = {k: a[sel] for k, a in r.events.items()}
        expiry = None if inst.expiry is None else int(inst.expiry.timestamp()) * 1_000_000_000
        out.append(
            {
                "symbol": inst.symbol,
                "base": inst.base,
                "steps": _steps_table(series, events, v[sel], inst, r.book.n_positions),
                "expiry_ns": expiry,
                "fund_shared": shared,
            }
        )
    return out


def _steps_table(series, e: dict, v: np.ndarray, inst, n_positions: int) -> pa.Table:
    T = series.time_ns.shape[0]
    kind, step = e["kind"], e["step"]
    notional = (np.abs(e["size"]) * e["price"] * v).astype(np.float64) / MONEY_SCALE
    fills = (kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)
    adl = kind == ev.ADL_COUNTERPARTY_FILL
    liq_first = np.zeros(len(kind), dtype=bool)
    if fills.any():
        keys = step[fills] * (n_positions + 1) + e["position"][fills]
        _, first = np.unique(keys, return_index=True)
        liq_first[np.flatnonzero(fills)[first]] = True
    debt = np.where(kind == ev.INSURANCE_PAYOUT, e["amount"], 0) - np.where(kind == ev.BAD_DEBT, e["amount"], 0)
    return pa.table(
        {
            "step": np.arange(T, dtype=np.int64),
            "time": pa.array(series.time_ns, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "index_price": inst.display_prices(series.index_ticks),
            "mark_price": inst.display_prices(series.mark_ticks),
            "trade_price": inst.display_prices(series.last_ticks),
            "liquidated_notional": np.bincount(step[fills], weights=notional[fills], minlength=T)[:T],
            "liquidations": np.bincount(step[liq_first], minlength=T)[:T].astype(np.int64),
            "insurance_fund": series.fund.astype(np.float64) / MONEY_SCALE,
            "adl_notional": np.bincount(step[adl], weights=notional[adl], minlength=T)[:T],
            "adl_fills": np.bincount(step[adl], minlength=T)[:T].astype(np.int64),
            "bad_debt": np.cumsum(np.bincount(step, weights=debt.astype(np.float64), minlength=T)[:T]) / MONEY_SCALE,
        }
    )


def accounts_table(r: RunResult) -> pa.Table:
    """One row per account of the run (issue #11), written to ``accounts.parquet``; money as exact decimals
    (quote units, decimal128 scale 6, as events.parquet):

    ``account`` (index, as in events), ``liquidity_provider`` (bool), ``equity_end`` (wallet + isolated margins +
    uPnL of every open position at its instrument's last mark), ``wallet_end``, ``positions_end`` (open
    positions), ``liquidated`` (the account has a liquidation or ADL fill as the liquidated side), ``adl`` (it was
    an ADL counterparty), ``insurance_paid`` (what the insurance funds paid it), ``bad_debt`` (its unrecovered
    deficit: the negated sum of its ``bad_debt`` rows, >= 0).
    """
    b = r.book
    a = b.n_accounts
    insts = run_instruments(r)
    vpl = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
    if r.marks_end is not None:
        marks = np.asarray(r.marks_end, dtype=np.int64)
    elif r.steps.mark_ticks.size:
        marks = np.full(len(insts), int(r.steps.mark_ticks[-1]), dtype=np.int64)
    else:
        marks = None
    equity = b.wallet.copy()
    np.add.at(equity, b.account, b.collateral)
    if marks is not None:
        open_ = b.size != 0
        upnl = b.size[open_] * marks[b.instrument[open_]] * vpl[b.instrument[open_]] - b.cost[open_]
        np.add.at(equity, b.account[open_], upnl)
    positions_end = np.bincount(b.account[b.size != 0], minlength=a).astype(np.int64)
    e = r.events
    kind, acc, amount = e["kind"], e["account"], e["amount"]

    def flag(rows: np.ndarray) -> np.ndarray:
        out = np.zeros(a, dtype=bool)
        out[acc[rows][(acc[rows] >= 0) & (acc[rows] < a)]] = True
        return out

    def total(rows: np.ndarray) -> np.ndarray:
        out = np.zeros(a, dtype=np.int64)
        np.add.at(out, acc[rows], amount[rows])
        return out

    return pa.table(
        {
            "account": np.arange(a, dtype=np.int64),
            "liquidity_provider": b.exempt.copy(),
            "equity_end": ev.decimal_array(equity, 6),
            "wallet_end": ev.decimal_array(b.wallet, 6),
            "positions_end": positions_end,
            "liquidated": flag((kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)),
            "adl": flag(kind == ev.ADL_COUNTERPARTY_FILL),
            "insurance_paid": ev.decimal_array(total(kind == ev.INSURANCE_PAYOUT), 6),
            "bad_debt": ev.decimal_array(-total(kind == ev.BAD_DEBT), 6),
        }
    )


def events_table(r: RunResult) -> pa.Table:
    """The exact event table written to ``events.parquet`` (see :func:`delever.events.to_table`)."""
    insts = run_instruments(r)
    return ev.to_table(r.events, insts)


def report_events(r: RunResult) -> pa.Table:
    """The events as the report reads them: floats in quote and base units, kind and instrument names."""
    e = r.events
    insts = run_instruments(r)
    symbols = np.array([i.symbol for i in insts], dtype=object)
    m = e["instrument"]
    size, price = np.zeros(m.shape[0]), np.zeros(m.shape[0])
    for k, inst in enumerate(insts):  # the venue's sizes and prices (an inverse contract's contracts and USD)
        sel = m == k
        size[sel], price[sel] = inst.display_sizes(e["size"][sel]), inst.display_prices(e["price"][sel])
    return pa.table(
        {
            "step": e["step"],
            "time": pa.array(e["time_ns"], type=pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "account": e["account"],
            "counterparty": e["counterparty"],
            "instrument": pa.array(symbols[m] if m.size else [], type=pa.string()),
            "kind": pa.array(
                np.array(ev.KIND_NAMES)[e["kind"].astype(np.int64)] if len(e["kind"]) else [], type=pa.string()
            ),
            "size": size,
            "price": price,
            "amount": e["amount"] / MONEY_SCALE,
        }
    )
