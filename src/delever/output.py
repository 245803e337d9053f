"""What a run writes: ``summary.json``, ``events.parquet``, ``accounts.parquet`` (one row per account,
:func:`accounts_table`), ``steps.parquet`` and ``report.html``.

Summary fields (money in quote units as exact decimal numbers; ``units`` repeats every money field as an
integer count of money units, and ``conservation_error`` is such an integer):

- ``accounts`` trader accounts (liquidity providers are counted in ``lp_accounts``), ``positions``, ``steps``;
- ``liquidations`` positions liquidated (a position liquidated at two different steps counts twice),
  ``accounts_liquidated``, ``liquidated_notional`` (closed notional at fill prices, book and ADL parts);
- ``bad_debt``: the shortfall below bankruptcy of liquidation fills (what the insurance fund paid plus what
  it could not pay); ``socialized_loss`` (what clawback recovered of the latter); ``bad_debt_unrecovered``
  (what is left: negative balances of unprotected accounts, or when no winner could pay);
  ``insurance_fund_paid``; ``liquidation_fees``;
- ``insurance_fund_start``, ``insurance_fund_end``, ``insurance_fund_min``;
- ``adl_events`` ADL counterparty fills, ``adl_notional``, ``accounts_adl``, ``adl_cost_vs_mark``: what the
  ADL'd counterparties gave up (> 0) or gained (< 0) by closing at the bankruptcy price instead of the step's
  mark (a position liquidated above its bankruptcy price at the mark but filled below it in the book has a
  bankruptcy price better than the mark for its counterparties);
- ``min_mark_price``, ``min_index_price``, ``max_mark_drawdown_pct`` (largest fall from a running peak);
- ``conservation_error``: change of the money identity (:mod:`delever.book`) over the run, in money units;
- ``facts``: the run's stylised facts (:mod:`delever.facts`: time to first ADL, ADL waves, leverage at ADL and
  at liquidation, ADL concentration, negative-equity accounts, liquidations per minute, fund drawdown).

Files are written into a temporary directory next to the target and moved into place at the end, so a
failed run leaves no partial output (:mod:`delever.outdir`: only a directory delever made is replaced).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from .engine import RunResult
from .facts import facts_of_run, facts_section
from .hyperliquid_facts import replay_comparison
from .outdir import writing
from .units import MONEY_SCALE, exact_sum


def _instruments(r: RunResult) -> list:
    return r.instruments or [r.instrument]


def _row_value(r: RunResult) -> np.ndarray:
    """Money per lot-tick of each event row's instrument."""
    v = np.array([i.value_per_lot_tick for i in _instruments(r)], dtype=np.int64)
    return v[r.events["instrument"]] if r.events["instrument"].size else np.zeros(0, dtype=np.int64)


def _q(units: int) -> Decimal:
    return Decimal(int(units)) / MONEY_SCALE


def summarize(r: RunResult) -> dict:
    """The summary dict (JSON-able; money as ``Decimal`` converted by :func:`write_outputs`)."""
    e = r.events
    kind = e["kind"]
    v = _row_value(r)
    tick = r.instrument.tick_size
    fills = (kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)
    liq_keys = np.unique(e["step"][fills] * (r.book.n_positions + 1) + e["position"][fills])
    notional = np.abs(e["size"]) * e["price"] * v
    adl_cp = kind == ev.ADL_COUNTERPARTY_FILL
    # money sums as exact Python ints (issue #11): many rows of int64 amounts can add up beyond int64
    payouts = exact_sum(e["amount"][kind == ev.INSURANCE_PAYOUT])
    shortfall_left = -exact_sum(e["amount"][kind == ev.BAD_DEBT])
    clawed_back = exact_sum(e["amount"][kind == ev.CLAWBACK_RECEIVED])
    unrecovered = shortfall_left - clawed_back
    marks = r.steps.mark_ticks
    peak = np.maximum.accumulate(marks) if marks.size else marks
    dd = float(np.max((peak - marks) / peak)) * 100 if marks.size else 0.0
    first = adl_cp & (e["instrument"] == 0)  # marks of the first instrument (the only one unless cross-margin)
    mark_at_step = marks[e["step"][first]] if first.any() else np.zeros(0, dtype=np.int64)
    # a counterparty buying (size > 0) at a price above the mark gave up (price - mark) per lot
    haircut = int(np.sum(e["size"][first] * (e["price"][first] - mark_at_step) * v[first]))
    units = {
        "liquidated_notional": exact_sum(notional[fills]),
        "bad_debt": payouts + shortfall_left,
        "bad_debt_unrecovered": unrecovered,
        "socialized_loss": clawed_back,
        "insurance_fund_paid": payouts,
        "liquidation_fees": -exact_sum(e["amount"][kind == ev.LIQUIDATION_FEE]),
        "insurance_fund_start": r.fund_start,
        "insurance_fund_end": int(r.steps.fund[-1]) if r.steps.fund.size else r.fund_start,
        "insurance_fund_min": int(min(r.fund_start, int(r.steps.fund.min()) if r.steps.fund.size else r.fund_start)),
        "adl_notional": exact_sum(notional[adl_cp]),
        "adl_cost_vs_mark": haircut,
    }
    n_lp = r.lp_accounts
    long_oi, short_oi = r.book.open_interest(0)
    out = {
        "scenario": r.scenario.name,
        "seed": r.seed,
        "accounts": int((~r.book.exempt).sum()),
        "lp_accounts": n_lp,
        "positions": int((~r.book.exempt[r.book.account]).sum()),
        "steps": int(r.steps.time_ns.shape[0]),
        "liquidations": int(liq_keys.size),
        "accounts_liquidated": int(np.unique(e["account"][fills]).size),
        "liquidated_notional": _q(units["liquidated_notional"]),
        "bad_debt": _q(units["bad_debt"]),
        "bad_debt_unrecovered": _q(units["bad_debt_unrecovered"]),
        "socialized_loss": _q(units["socialized_loss"]),
        "insurance_fund_paid": _q(units["insurance_fund_paid"]),
        "liquidation_fees": _q(units["liquidation_fees"]),
        "insurance_fund_start": _q(units["insurance_fund_start"]),
        "insurance_fund_end": _q(units["insurance_fund_end"]),
        "insurance_fund_min": _q(units["insurance_fund_min"]),
        "adl_events": int(adl_cp.sum()),
        "adl_notional": _q(units["adl_notional"]),
        "accounts_adl": int(np.unique(e["account"][adl_cp]).size),
        "adl_cost_vs_mark": _q(units["adl_cost_vs_mark"]),
        "min_mark_price": Decimal(int(marks.min())) * tick if marks.size else None,
        "min_index_price": round(float(r.steps.index_ticks.min()) * float(tick), 2) if marks.size else None,
        "max_mark_drawdown_pct": round(dd, 4),
        "open_interest_end": float(Decimal(long_oi) * r.instrument.lot_size),
        "open_interest_balanced": long_oi == short_oi,
        "conservation_error": int(r.money_end - r.money_start),
        "mechanisms": mechanisms_summary(r),
        "units": units,
    }
    if "settlement" in r.extra:
        out["settlement"] = r.extra["settlement"]
    out["facts"] = facts_of_run(r)
    return out


def mechanisms_summary(r: RunResult) -> dict:
    """Per enabled mechanism: steps it fired, accounts it touched, notional it moved (quote), and its own
    figures (vault PnL, halts, calibrated elasticity, funding rates ...)."""
    out = {}
    for name, rec in r.extra.items():
        if name == "settlement":  # a dated future's expiry, not a mechanism: its own summary key
            continue
        row = {}
        for k, v in rec.items():
            if k in ("notional", "vault_pnl"):
                row[k] = _q(v)
            else:
                row[k] = v
        out[name] = row
    return out


def steps_table(r: RunResult) -> pa.Table:
    """One row per step: prices (quote), per-step liquidation and ADL aggregates, fund and cumulative bad debt."""
    return _steps_table(r.steps, r.events, _row_value(r), float(r.instrument.tick_size), r.book.n_positions)


def instrument_steps(r: RunResult) -> list[dict] | None:
    """A multi-instrument run's step table per instrument, as :func:`steps_table` over that instrument's
    series and events (its own fund, or the one shared fund), for the report: ``[{"symbol", "base", "steps",
    "expiry_ns", "fund_shared"}]``; None for a single-instrument run."""
    if not r.instrument_steps:
        return None
    out = []
    v = _row_value(r)
    per = r.extra.get("cross_margin", {}).get("instruments", [])
    shared = any(p.get("insurance_fund_shared") for p in per)
    for m, (inst, series) in enumerate(zip(_instruments(r), r.instrument_steps, strict=True)):
        sel = r.events["instrument"] == m
        events = {k: a[sel] for k, a in r.events.items()}
        expiry = None if inst.expiry is None else int(inst.expiry.timestamp()) * 1_000_000_000
        out.append(
            {
                "symbol": inst.symbol,
                "base": inst.base,
                "steps": _steps_table(series, events, v[sel], float(inst.tick_size), r.book.n_positions),
                "expiry_ns": expiry,
                "fund_shared": shared,
            }
        )
    return out


def _steps_table(series, e: dict, v: np.ndarray, tick: float, n_positions: int) -> pa.Table:
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
            "index_price": series.index_ticks * tick,
            "mark_price": series.mark_ticks * tick,
            "trade_price": series.last_ticks * tick,
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
    insts = _instruments(r)
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
    insts = _instruments(r)
    return ev.to_table(r.events, [i.symbol for i in insts], [i.tick_size for i in insts], [i.lot_size for i in insts])


def _report_events(r: RunResult) -> pa.Table:
    e = r.events
    insts = _instruments(r)
    symbols = np.array([i.symbol for i in insts], dtype=object)
    lots = np.array([float(i.lot_size) for i in insts])
    ticks = np.array([float(i.tick_size) for i in insts])
    m = e["instrument"]
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
            "size": e["size"] * lots[m] if m.size else e["size"] * 1.0,
            "price": e["price"] * ticks[m] if m.size else e["price"] * 1.0,
            "amount": e["amount"] / MONEY_SCALE,
        }
    )


def inputs_provenance(r: RunResult) -> list[dict]:
    """Which inputs are real data (with source), generated (seeded) or assumed (parameter values)."""
    sc = r.scenario
    d = r.depth
    rows = [
        {
            "name": "Index price path",
            "kind": "real",
            "value": f"{r.path.steps:,} steps of {sc.step_seconds:g} s",
            "source": f"{sc.prices.file} (Binance BTCUSDT perpetual 1-minute klines; OHLC path inside each bar: "
            "open, nearer extreme, other extreme, close)",
        },
        *_gap_rows(r),
        *_stretch_rows(r),
        {
            "name": "Order-book depth shape",
            "kind": "real",
            "value": "bid lots within 1..5%: "
            + ", ".join(f"{x:,.0f}" for x in d.bid_base)
            + "; ask: "
            + ", ".join(f"{x:,.0f}" for x in d.ask_base),
            "source": f"{sc.liquidity.depth_file}. {d.method}",
        },
    ]
    if sc.book.generator is not None:
        g = sc.book.generator
        rows.append(
            {
                "name": "Book of positions",
                "kind": "generated",
                "value": f"{g.accounts:,} accounts, seed {r.seed}; long fraction {g.long_fraction}, notional "
                f"lognormal median {g.notional_median} USDT sigma {g.notional_sigma}; leverage "
                f"lognormal median {g.leverage_median}x sigma {g.leverage_sigma} max {g.leverage_max}x; "
                f"entry dispersion {g.entry_sigma}; isolated {g.isolated_fraction}",
                "source": "delever.generator (README: The default book)",
            }
        )
    elif sc.book.hyperliquid is not None:
        from .hyperliquid_book import book_inputs

        rows += book_inputs(sc, float(r.path.index[0]))
    else:
        rows.append(
            {
                "name": "Book of positions",
                "kind": "real",
                "value": f"{r.book.n_positions - r.lp_accounts:,} positions",
                "source": str(sc.book.file),
            }
        )
    liq = sc.liquidity
    rows += [
        _depth_scale_row(r),
        {
            "name": "Book resilience half-life",
            "kind": "assumed",
            "value": f"{liq.resilience_half_life_s:g} s",
            "source": "Obizhaeva-Wang style refill (delever.liquidity)",
        },
        {
            "name": "Liquidity providers",
            "kind": "assumed",
            "value": f"{liq.lp_accounts} accounts x {liq.lp_wallet} USDT",
            "source": "hold the book's resting depth",
        },
        {
            "name": "Mark price basis EMA",
            "kind": "assumed",
            "value": f"{sc.mark.basis_ema_s:g} s",
            "source": "Deribit legacy mark (specs/venues.md section 5), median as Binance",
        },
        {
            "name": "Mark band",
            "kind": "assumed",
            "value": "none" if sc.mark.max_deviation_pct is None else f"{sc.mark.max_deviation_pct:g}% of the index",
            "source": "[mark] max_deviation_pct (delever.mark); a venue's published band under --venue",
        },
        {
            "name": "Liquidation fee",
            "kind": "assumed",
            "value": f"{sc.fees.liquidation_fee_rate}",
            "source": "Binance's old BTCUSDT rate (specs/venues.md section 1)",
        },
        {
            "name": "Insurance fund, start",
            "kind": "assumed",
            "value": f"{sc.insurance_fund.balance} USDT",
            "source": "scenario parameter (Binance's real fund balance is not in the data)",
        },
        {
            "name": "Risk-limit tiers",
            "kind": "real",
            "value": r.instrument.tiers.name,
            "source": "Binance BTCUSDT brackets of 2021-03-18 (specs/venues.md section 1; historical)"
            if sc.instrument.tiers == "binance-btcusdt-2021"
            else "the scenario's tier rows (instrument.tiers; sources in the scenario file)",
        },
    ]
    return rows


def _gap_rows(r: RunResult) -> list[dict]:
    """One Inputs row per gap in the price file that the scenario filled (``prices.gap_fill``)."""
    from .prices import describe_gap

    if not r.path.filled_gaps:
        return []
    how = {
        "linear": "a straight line from the last close before the gap to the next open",
        "hold": "the last close before the gap held until the next bar opens",
    }[r.path.gap_fill]
    return [
        {
            "name": "Price gap, filled",
            "kind": "assumed",
            "value": describe_gap(g, r.path.bar_ms),
            "source": f"{r.scenario.prices.file}: prices.gap_fill = {r.path.gap_fill!r}: {how}; nothing inside is real",
        }
        for g in r.path.filled_gaps
    ]


def _stretch_rows(r: RunResult) -> list[dict]:
    low = r.scenario.prices.stretch_to_low
    if low is None:
        return []
    return [
        {
            "name": "Price path stretched",
            "kind": "assumed",
            "value": f"every move from the first price scaled so that the low is {low:,} "
            f"(min index {float(r.path.index.min()):,.2f})",
            "source": "prices.stretch_to_low (delever.prices.stretch_to_low): the recorded path's shape, a deeper low",
        }
    ]


def _depth_scale_row(r: RunResult) -> dict:
    """The depth scale, and what it scaled from what (base quantities, or quote notional at the run's price)."""
    liq = r.scenario.liquidity
    d = r.depth
    if liq.depth_scale_basis == "quote":
        price = float(r.path.index[0])
        return {
            "name": "Depth scale",
            "kind": "assumed",
            "value": f"{liq.depth_scale:g} x Binance's resting USD notional of {d.window_start}..{d.window_end} "
            f"(within 1%: bids {d.bid_notional[0]:,.0f}, asks {d.ask_notional[0]:,.0f} USDT), converted to "
            f"base at the run's first index price {price:,.2f}: {liq.depth_scale * d.bid_base[0]:,.3f} / "
            f"{liq.depth_scale * d.ask_base[0]:,.3f} {r.instrument.base} within 1%",
            "source": "depth_scale_basis = 'quote': the simulated venue's share of Binance's resting depth in "
            "dollars, which carries the recorded shape to another price level",
        }
    return {
        "name": "Depth scale",
        "kind": "assumed",
        "value": f"{liq.depth_scale:g} x Binance's depth (base quantities as recorded)",
        "source": "the simulated venue's share of Binance's resting depth",
    }


def _json_default(o: object) -> object:
    if isinstance(o, Decimal):
        return float(o) if o != o.to_integral_value() else int(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def leverage_samples(r: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry leverage of liquidated and of ADL'd positions (one sample per position), and the ADL indicator
    each ADL'd position had when first hit."""
    e = r.events
    kind = e["kind"]
    fills = (kind == ev.LIQUIDATION_FILL) | (kind == ev.ADL_FILL)
    liq_pos = np.unique(e["position"][fills])
    adl = kind == ev.ADL_COUNTERPARTY_FILL
    adl_pos, first = np.unique(e["position"][adl], return_index=True)
    lev = r.book_start.entry_leverage
    return lev[liq_pos], lev[adl_pos], e["indicator"][adl][first]


def write_outputs(
    r: RunResult, out_dir: Path, extra_sections: list[dict] | None = None, ablation: pa.Table | None = None
) -> dict:
    """Write every output file into ``out_dir`` atomically (temp dir, then rename); return the summary.
    ``ablation``: the ablation's table (:func:`delever.ablation.table`), written as ``ablation.csv``."""
    from .report import write_report

    summary = summarize(r)
    with writing(out_dir, "run") as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        pq.write_table(events_table(r), tmp / "events.parquet")
        pq.write_table(accounts_table(r), tmp / "accounts.parquet")
        steps = steps_table(r)
        pq.write_table(steps, tmp / "steps.parquet")
        if ablation is not None:
            import pyarrow.csv as pacsv

            pacsv.write_csv(ablation, tmp / "ablation.csv")
        lev_liq, lev_adl, ind = leverage_samples(r)
        report_summary = {
            k: float(v) if isinstance(v, Decimal) else v for k, v in summary.items() if not isinstance(v, dict)
        }
        write_report(
            tmp / "report.html",
            title=f"delever run: {r.scenario.name}",
            summary=report_summary,
            steps=steps,
            events=_report_events(r),
            leverage_liquidated=lev_liq,
            leverage_adl=lev_adl,
            adl_indicator=ind,
            inputs=inputs_provenance(r),
            extra_sections=[
                facts_section(summary["facts"], replay_comparison(summary, r.scenario)),
                *(extra_sections or []),
            ],  # fmt: skip
            instrument_steps=instrument_steps(r),
            quote=r.instrument.quote,
            base=r.instrument.base,
        )
    return summary
