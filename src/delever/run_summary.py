"""The summary of a run (``summary.json``, :mod:`delever.output`).

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
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from . import events as ev
from .engine import RunResult
from .facts import facts_of_run
from .output_tables import event_values
from .units import MONEY_SCALE, exact_sum


def _q(units: int) -> Decimal:
    return Decimal(int(units)) / MONEY_SCALE


def _min_price(inst, marks: np.ndarray) -> Decimal | None:
    """The lowest mark as the venue's price: exact ticks x tick_size, or an inverse contract's USD price (its
    highest reciprocal mark) to 8 decimals."""
    if not marks.size:
        return None
    if inst.inverse:
        return Decimal(repr(float(inst.display_prices(int(marks.max()))))).quantize(Decimal("1e-8"))
    return Decimal(int(marks.min())) * inst.tick_size


def summarize(r: RunResult) -> dict:
    """The summary dict (JSON-able; money as ``Decimal`` converted by :func:`write_outputs`)."""
    e = r.events
    kind = e["kind"]
    v = event_values(r)
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
    shown = r.instrument.display_prices(marks)  # the venue's prices (an inverse contract's in USD)
    shown_index = r.instrument.display_prices(r.steps.index_ticks)
    peak = np.maximum.accumulate(shown) if marks.size else shown
    dd = float(np.max((peak - shown) / peak)) * 100 if marks.size else 0.0
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
        "min_mark_price": _min_price(r.instrument, marks),
        "min_index_price": round(float(shown_index.min()), 2) if marks.size else None,
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
