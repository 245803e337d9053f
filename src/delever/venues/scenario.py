"""Running the engine's scenarios under a venue's rulebook, and comparing the rulebooks on one scenario.

:func:`apply_venue` merges a rulebook's engine-expressible rules (tiers, liquidation fee, partial
liquidation style, backstop, socialized loss, funding parameters: :meth:`Rulebook.scenario_overrides`) and
its ADL ranking, trigger and fill price (:meth:`Rulebook.engine_adl_policy`, :meth:`Rulebook.engine_adl_rule`)
over a scenario; what the engine cannot express is listed by :meth:`Rulebook.engine_gaps` and shown next to
each result, so nobody mistakes a stand-in for the venue.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from decimal import Decimal
from fractions import Fraction

from ..errors import InputError
from ..inverse import coin_amounts
from ..scenario import Scenario, merge_overrides
from ..workers import die_with_parent
from . import VENUES, get_venue


def apply_venue(scenario: Scenario, name: str, start_price: Fraction | None = None) -> Scenario:
    """``scenario`` under venue ``name``'s rulebook (raises InputError for an unknown venue).

    A linear scenario under a venue whose contract is inverse (BitMEX XBTUSD) becomes a scenario of that
    contract (:mod:`delever.inverse`): every money amount converts to µcoin at ``start_price`` (quote per coin;
    default: the scenario's first index price), its instrument is the venue's contract."""
    rb = get_venue(name)
    data = scenario.model_dump(exclude={"base_dir"})
    symbol = scenario.instrument.symbol if scenario.instrument.symbol in rb.instruments else None
    c = rb.contract(symbol or rb.engine_symbol())
    if c.contract == "inverse" and scenario.instrument.settlement == "linear":
        if start_price is None:
            from ..engine.market import index_path

            start_price = Fraction(Decimal(repr(float(index_path(scenario).index[0]))))
        data = coin_amounts(data, Scenario, start_price)
        data["instrument"] = {
            **data["instrument"],
            "symbol": c.symbol,
            "settlement": "inverse",
            "contract_value": c.contract_size,
            "base": c.settle,
            "quote": c.quote,
            "tick_size": c.tick_size,
            "lot_size": c.lot_size,
            "rate_per_size": Decimal(0),
        }
    merged = merge_overrides(data, rb.scenario_overrides(symbol))
    policy = rb.engine_adl_policy()
    if policy is not None:
        merged["adl"] = {"policy": policy}
    merged["adl"] = {**merged.get("adl", {}), **rb.engine_adl_rule()}
    merged["name"] = f"{scenario.name}-{name}"
    try:
        return Scenario.model_validate({**merged, "base_dir": scenario.base_dir})
    except ValueError as exc:
        raise InputError(f"venue {name!r} does not fit this scenario: {exc}", field="venue") from None


def venue_run_inputs(scenario: Scenario, name: str, seed: int, base=None):
    """``(venue scenario, market)`` of a run of ``scenario`` under venue ``name``'s rulebook.

    The rule, for ``delever run --venue NAME`` and for every row of the venue comparison alike: the book is
    built once from the scenario as written (generated under the scenario's own tiers and limits, or read from
    its file), then the venue's rules apply from the first step (its tiers, fees, liquidation procedure and
    ADL ranking; a position above the venue's maximum leverage is liquidated at the first step). A venue
    changes the rules, never the book, so every venue is compared on the same accounts. ``base``: the
    scenario's already prepared market, if there is one.

    Raises:
        InputError: an unknown venue, one that does not fit the scenario, or bad scenario files.
    """
    import dataclasses

    from ..engine import prepare
    from ..engine.market import coin_market, start_price

    base = base if base is not None else prepare(scenario, seed)
    sc = apply_venue(scenario, name, start_price(base) if scenario.instrument.settlement == "linear" else None)
    inst = sc.margin.instrument(sc.instrument.build())  # the [margin] fee rate in its MMR
    if inst.inverse and not base.instrument.inverse:  # the book and path in the venue's inverse contract
        return sc, coin_market(base, sc, inst)
    return sc, dataclasses.replace(base, instrument=inst)


def compare_rows(scenario: Scenario, seed: int, base=None, workers: int = 1, progress=None) -> list[dict]:
    """One row per rulebook: liquidations, bad debt, fund end, ADL notional, on the scenario's path and on
    one book (:func:`venue_run_inputs`: the row of venue X is what ``delever run --venue X`` gives).

    ``workers`` > 1 runs the rulebooks in that many forked processes (where the platform forks; each run is a
    pure function of its inputs, so the rows are the same as run here, in the same order). ``progress(done,
    total)`` is called as rulebooks finish."""
    from ..engine import prepare

    # one book for every venue: the comparison is of the rules, not the books (``base``: an already prepared
    # market of the scenario, whose book runs do not change)
    base = base if base is not None else prepare(scenario, seed)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        global _SHARED
        _SHARED = (scenario, seed, base)  # inherited by the forked workers, not pickled
        sys.stdout.flush()  # a worker must not print again what this process has buffered
        sys.stderr.flush()
        try:
            context = multiprocessing.get_context("fork")
            # workers die with this process when it is killed (delever.workers); on Ctrl-C or SIGTERM the
            # queued rulebooks are cancelled and each worker ends after its current one (killing them instead
            # can leave the executor's manager thread spinning, and the exit waiting on it)
            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(VENUES)),
                mp_context=context,
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
            try:
                futures = [pool.submit(_shared_row, name) for name in VENUES]
                if progress:
                    for done, _ in enumerate(as_completed(futures), start=1):
                        progress(done, len(futures))
                rows = [f.result() for f in futures]
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
            return rows
        except (BrokenProcessPool, OSError):
            pass  # no process pool here (no shared memory for its locks) or a worker died: run them here
        finally:
            _SHARED = None
    rows = []
    for name in VENUES:
        rows.append(_row(name, scenario, seed, base))
        if progress:
            progress(len(rows), len(VENUES))
    return rows


_SHARED: tuple | None = None
"""``(scenario, seed, market)`` of the comparison the forked workers of :func:`compare_rows` run."""


def _shared_row(name: str) -> dict:
    assert _SHARED is not None
    return _row(name, *_SHARED)


def _row(name: str, scenario: Scenario, seed: int, base) -> dict:
    """The comparison row of rulebook ``name`` (see :func:`compare_rows`)."""
    from ..engine import run
    from ..engine.market import start_price
    from ..output import summarize

    rb = VENUES[name]
    sc, market = venue_run_inputs(scenario, name, seed, base)
    s = summarize(run(sc, seed, market=market))
    # an inverse contract's run from a linear scenario is in µcoin: its rate back to the scenario's quote is the
    # first index price its book converted at (delever.inverse.coin_book)
    converted = market.instrument.inverse and scenario.instrument.settlement == "linear"
    rate = float(start_price(base)) / 1_000_000 if converted else 1.0
    return {
        "venue": name,
        "liquidations": s["liquidations"],
        "bad_debt": float(s["bad_debt"]),
        "bad_debt_unrecovered": float(s["bad_debt_unrecovered"]),
        "insurance_fund_end": float(s["insurance_fund_end"]),
        "adl_notional": float(s["adl_notional"]),
        "socialized_loss": float(s["socialized_loss"]),
        "adl_policy": sc.adl.policy,
        "conservation_error": s["conservation_error"],
        "gaps": rb.engine_gaps(scenario.instrument.symbol if scenario.instrument.symbol in rb.instruments else None),
        "symbol": market.instrument.symbol,
        "money": market.instrument.quote,
        "quote_rate": rate,
    }


ROW_MONEY = ("bad_debt", "bad_debt_unrecovered", "insurance_fund_end", "adl_notional", "socialized_loss")
"""The money fields of a comparison row (:func:`compare_rows`), in the row's ``money``."""


def in_scenario_quote(row: dict) -> dict:
    """A comparison row with its money fields (:data:`ROW_MONEY`) in the scenario's quote: times ``quote_rate``,
    the first index price per µcoin for an inverse contract's run of a linear scenario (1 otherwise)."""
    return {**row, **{k: row[k] * row["quote_rate"] for k in ROW_MONEY}}


def compare_venues(scenario: Scenario, seed: int, base=None, workers: int = 1, progress=None) -> dict:
    """A report section: the venue comparison table (see :func:`compare_rows`)."""
    rows = compare_rows(scenario, seed, base, workers, progress)
    from ..report.page import note
    from ..report.sections import venue_table

    quote = scenario.instrument.quote
    converted = [f"{r['venue']} ({r['symbol']}, run in {r['money']})" for r in rows if r["quote_rate"] != 1.0]
    also = (
        f" Inverse contracts ({', '.join(converted)}) run in the coin, their book converted at the first index "
        f"price; their amounts are shown in {quote} at that price."
        if converted
        else ""
    )
    html = note(
        "The same index path and book under each rulebook's tiers, fees, liquidation procedure and ADL ranking "
        f"(amounts in {quote}).{also}"
    ) + venue_table([in_scenario_quote(r) for r in rows], quote)
    return {"title": "Venues compared", "html": str(html), "rows": rows}
