"""The peer workloads of issue #6, for delever and for FLOX (PyPI ``lrvx``, the optional extra ``bench``).

Both engines get the same book and the same mark path. The book: ``n`` one-position accounts, isolated
margin, entry price 100, position sizes of 1-20 base units (notional 100-2,000 quote, always inside Binance's
first risk-limit tier, MMR 0.4%, where delever's Binance 2021 tiers and FLOX's Binance profile agree: FLOX's
``LiquidationEngine.binance_um_futures()`` uses ``MM = notional x MMR`` by notional tier, no maintenance amount,
no liquidation fee), margin ``ceil(notional / leverage)``. FLOX runs with zero liquidation slippage, and
delever with a flat order book so deep that every fill is exactly at the mark (``DepthCurve.linear`` with
1e30 lots per 1%) and a mark equal to the index (basis EMA 0, tick 0.125 so that path prices are exact
binary fractions), liquidation fee 0 and one liquidity-provider account holding the traders' net position (it
takes the other side of the book fills; FLOX has no counterparty and closes at the mark).

Cases (``case``):

- ``healthy``: mixed sides, leverage 2-50x, one mark at 100: a full-book margin sweep that finds nobody.
  delever's time is one full mark-to-market sweep kernel (:func:`delever.sweep.single_position_sweep`, the
  sweep for books whose accounts hold one position, checked equal to :func:`delever.sweep.margin_sweep`), FLOX's one
  ``on_mark``.
- ``all-liquidated``: longs at 10x, one mark at 90.25 (below the maintenance trigger 90.36, above bankruptcy
  90): every position liquidated, no bad debt.
- ``every-second``: longs at 10x (even positions) and 3x (odd), mark 90.25: half are liquidated.
- ``adl-empty-fund``: longs at 10x (even) and shorts of the same size at 2-50x (odd), insurance fund 0, mark
  85: every long is bankrupt (bankruptcy 90) and its loss is auto-deleveraged against the shorts.
- ``crash``: mixed sides, leverage 2-50x, the 40-tick path 100, 99, ..., 60 (:func:`delever.paths.crash_path`),
  fund 900,000,000 (FLOX's Binance default).

For the last four, delever's time is :func:`delever.engine.run` on a prepared market (book copies, trigger
prices, every step, events, money check included); FLOX's the ``on_mark`` calls of the path on a freshly
loaded engine (loading ``n`` positions through ``open_position`` is not timed for either). Outcomes compared:
liquidations, what the insurance fund paid, and positions hit by ADL. The ADL counts differ by design: delever
closes the bankrupt order's quantity against counterparties at the bankruptcy price (Binance, BitMEX; the
last one partially), FLOX closes whole profitable positions until their PnL covers the deficit.

Run ``python -m benchmarks.peer`` for the table (``--sizes 1000,10000``; 1e6 with ``DELEVER_BENCH_1M=1``,
FLOX's slow 1e6 cases with ``DELEVER_BENCH_FLOX_SLOW=1`` as well).
"""

from __future__ import annotations

try:  # first: once pyarrow (imported by delever.engine) is loaded, lrvx's libstdc++ finds no static TLS left
    import lrvx as _lrvx

    FLOX_IMPORT_ERROR = ""
except ImportError as _exc:
    _lrvx = None
    FLOX_IMPORT_ERROR = str(_exc)

import argparse
import math
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, UTC
from decimal import Decimal

import numpy as np

from delever.book import Book
from delever.columns import AccountValuation, BookCols, SweepCols
from delever.engine import Market, run
from delever.instruments import Instrument
from delever.liquidity import DepthCurve
from delever.marketdata import DepthProfile
from delever.output import summarize
from delever.paths import crash_path
from delever.prices import PricePath
from delever.scenario import Scenario
from delever.sweep import margin_sweep, single_position_sweep
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import MONEY_SCALE

CASES = ("healthy", "all-liquidated", "every-second", "adl-empty-fund", "crash")
SIZES = (1_000, 10_000, 100_000, 1_000_000)
INSTRUMENT = Instrument("PEERUSDT", Decimal("0.125"), Decimal("0.001"), BINANCE_BTCUSDT_2021, base="PEER")
ENTRY = 100.0
ENTRY_TICKS = 800
FLOX_DEFAULT_FUND = 900_000_000
DEPTH_LOTS_PER_PCT = 1e30
LP_WALLET = 10**18  # money units: 1e12 quote
SEED = 6

# FLOX figures quoted in issue #6 (seconds), measured there on the same 2-core machine
ISSUE_FLOX = {
    ("healthy", 1_000_000): 0.0073,
    ("all-liquidated", 1_000_000): 0.175,
    ("every-second", 100_000): 1.8,
    ("adl-empty-fund", 100_000): 2.0,
    ("crash", 100_000): 3.1,
    ("crash", 1_000_000): 436.0,
}


def want_1m() -> bool:
    return os.environ.get("DELEVER_BENCH_1M", "") not in ("", "0")


def want_flox_slow() -> bool:
    return os.environ.get("DELEVER_BENCH_FLOX_SLOW", "") not in ("", "0")


def flox_available() -> bool:
    """Whether lrvx (FLOX) imported. It fails with "cannot allocate memory in static TLS block" when pyarrow
    was imported first: import this module (or lrvx) before delever.engine, or preload the system libstdc++."""
    return _lrvx is not None


def flox_is_slow(case: str, n: int) -> bool:
    """FLOX's cost grows quadratically in these cases (minutes at 1e6): opt in with DELEVER_BENCH_FLOX_SLOW."""
    return n >= 1_000_000 and case in ("every-second", "adl-empty-fund", "crash")


@dataclass(frozen=True)
class Workload:
    """One case at one size: trader positions (lots, signed; isolated margin, money units), marks, fund."""

    case: str
    n: int
    size: np.ndarray
    margin: np.ndarray
    prices: np.ndarray
    fund: int

    @property
    def leverage(self) -> np.ndarray:
        return np.abs(self.size) * ENTRY_TICKS * INSTRUMENT.value_per_lot_tick / self.margin


def workload(case: str, n: int, seed: int = SEED) -> Workload:
    """The book and path of ``case`` with ``n`` positions (module docstring); seeded, deterministic."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    lots = rng.integers(1_000, 20_001, n).astype(np.int64)  # 1-20 base: 100-2,000 quote at 100
    idx = np.arange(n)
    fund = 0
    if case in ("healthy", "crash"):
        side = np.where(rng.random(n) < 0.5, 1, -1)
        lev = rng.uniform(2.0, 50.0, n)
        prices = np.array([ENTRY]) if case == "healthy" else crash_path(100.0, 60.0, 40).index
        fund = FLOX_DEFAULT_FUND * MONEY_SCALE
    elif case == "all-liquidated":
        side, lev, prices = np.ones(n, dtype=np.int64), np.full(n, 10.0), np.array([90.25])
        fund = FLOX_DEFAULT_FUND * MONEY_SCALE
    elif case == "every-second":
        side, lev, prices = np.ones(n, dtype=np.int64), np.where(idx % 2 == 0, 10.0, 3.0), np.array([90.25])
        fund = FLOX_DEFAULT_FUND * MONEY_SCALE
    else:  # adl-empty-fund: pairs of a 10x long and a short of the same size
        side = np.where(idx % 2 == 0, 1, -1)
        lots = np.repeat(lots[::2], 2)[:n]
        lev = np.where(side > 0, 10.0, rng.uniform(2.0, 50.0, n))
        prices = np.array([85.0])
    size = (side * lots).astype(np.int64)
    notional = lots * ENTRY_TICKS * INSTRUMENT.value_per_lot_tick
    margin = np.ceil(notional / lev).astype(np.int64)
    return Workload(case, n, size, margin, np.asarray(prices, dtype=np.float64), int(fund))


# ----------------------------------------------------------------------------------------------------------
# delever
# ----------------------------------------------------------------------------------------------------------


def delever_book(w: Workload) -> Book:
    """Traders as isolated one-position accounts ``0..n-1``; account ``n`` is the liquidity provider, long
    or short the traders' net position at the entry price."""
    n = w.n
    v = INSTRUMENT.value_per_lot_tick
    lp_size = -int(w.size.sum())
    size = np.concatenate([w.size, [lp_size]]).astype(np.int64)
    return Book.from_arrays(
        wallet=np.concatenate([np.zeros(n, dtype=np.int64), [LP_WALLET]]),
        exempt=np.concatenate([np.zeros(n, dtype=bool), [True]]),
        account=np.arange(n + 1, dtype=np.int64),
        size=size,
        cost=size * ENTRY_TICKS * v,
        collateral=np.concatenate([w.margin, [0]]),
        isolated=np.concatenate([np.ones(n, dtype=bool), [False]]),
        entry_leverage=np.concatenate([w.leverage, [0.0]]),
    )


def delever_market(w: Workload) -> Market:
    """A market with the workload's book, its marks as the index path (1 s steps) and a bottomless flat book."""
    path = PricePath(
        time_ns=np.arange(w.prices.shape[0], dtype=np.int64) * 1_000_000_000, index=w.prices, source=f"peer:{w.case}"
    )
    dist = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    base = DEPTH_LOTS_PER_PCT * 100 * dist * float(INSTRUMENT.lot_size)
    depth = DepthProfile(
        dist, base, base, base * ENTRY, base * ENTRY, "", "", 0, "synthetic: flat and bottomless (zero slippage)"
    )
    curve = DepthCurve.linear(DEPTH_LOTS_PER_PCT)
    return Market(INSTRUMENT, path, depth, curve, delever_book(w), ENTRY_TICKS, None)


def delever_scenario(w: Workload) -> Scenario:
    """The run parameters: no fee, the workload's fund, mark = index (no basis EMA), 1 s steps."""
    t = datetime(2025, 1, 1, tzinfo=UTC)
    return Scenario.model_validate(
        {
            "name": f"peer-{w.case}-{w.n}",
            "step_seconds": 1.0,
            "instrument": {
                "symbol": INSTRUMENT.symbol,
                "base": "PEER",
                "tick_size": str(INSTRUMENT.tick_size),
                "lot_size": str(INSTRUMENT.lot_size),
                "tiers": BINANCE_BTCUSDT_2021.name,
            },
            "prices": {"file": "synthetic"},
            "liquidity": {
                "depth_file": "synthetic",
                "depth_window_start": t,
                "depth_window_end": t,
                "resilience_half_life_s": 0.0,
                "lp_accounts": 1,
            },
            "mark": {"basis_ema_s": 0.0},
            "fees": {"liquidation_fee_rate": "0"},
            "insurance_fund": {"balance": str(Decimal(w.fund) / MONEY_SCALE)},
            "book": {"file": "synthetic"},
        }
    )


def sweep_args(book: Book, mark: int) -> tuple:
    """Arguments of :func:`delever.sweep.margin_sweep` for ``book`` at ``mark`` ticks."""
    n, a = book.n_positions, book.n_accounts
    val = AccountValuation.single(mark, INSTRUMENT.value_per_lot_tick, INSTRUMENT.tiers)
    return BookCols.of(book), val, SweepCols.zeros(n, a), np.zeros(n, np.int64)


@dataclass
class Outcome:
    """What a run did: liquidations, what the insurance fund paid (quote), positions hit by ADL."""

    liquidations: int
    fund_paid: float
    adl_positions: int
    conservation_error: int = 0


class DeleverRunner:
    """Times delever on a workload: ``prepare`` once, then ``__call__`` runs it (the part that is timed)."""

    def __init__(self, w: Workload) -> None:
        self.w = w
        self.market = delever_market(w)
        self.scenario = delever_scenario(w)
        self.mark = int(round(w.prices[0] / float(INSTRUMENT.tick_size)))
        self.args = sweep_args(self.market.book, self.mark)
        # every account of these books holds one position: the sweep for such books (same set, tested)
        self.single_args = self.args[:2] + (np.zeros(self.market.book.n_positions, np.int64),)
        self.result = None

    def __call__(self):
        if self.w.case == "healthy":
            return single_position_sweep(*self.single_args)
        self.result = run(self.scenario, 0, market=self.market)
        return self.result

    def outcome(self) -> Outcome:
        if self.w.case == "healthy":
            found = int(single_position_sweep(*self.single_args))
            assert found == int(margin_sweep(*self.args))  # the general sweep agrees
            return Outcome(found, 0.0, 0)
        r = self.result if self.result is not None else self()
        s = summarize(r)
        return Outcome(
            int(s["liquidations"]),
            float(s["insurance_fund_paid"]),
            int(s["accounts_adl"]),
            int(s["conservation_error"]),
        )


# ----------------------------------------------------------------------------------------------------------
# FLOX
# ----------------------------------------------------------------------------------------------------------


class FloxRunner:
    """Times FLOX on a workload: ``load()`` builds a fresh engine (not timed), ``__call__`` steps the marks."""

    def __init__(self, w: Workload) -> None:
        if _lrvx is None:
            raise RuntimeError(f"lrvx (FLOX) is not importable: {FLOX_IMPORT_ERROR}")
        self.lrvx = _lrvx
        self.w = w
        lot = float(INSTRUMENT.lot_size)
        self.qty = (w.size * lot).tolist()
        self.equity = (w.margin / MONEY_SCALE).tolist()
        self.prices = w.prices.tolist()
        self.engine = None
        self.outcomes: list[dict] = []

    def load(self) -> None:
        e = self.lrvx.LiquidationEngine.binance_um_futures()
        e.set_liquidation_slippage_bps(0.0)
        e.set_insurance_fund_capital(self.w.fund / MONEY_SCALE)
        op = e.open_position
        for i, (q, eq) in enumerate(zip(self.qty, self.equity, strict=True)):
            op(i + 1, 0, q, ENTRY, eq)
        self.engine = e

    def __call__(self):
        on_mark = self.engine.on_mark
        self.outcomes = [on_mark(0, p) for p in self.prices]
        return self.outcomes

    def outcome(self) -> Outcome:
        e = self.engine
        return Outcome(int(e.liquidations_count()), float(sum(e.deficits_paid_by_fund())), int(e.adl_closeouts_count()))


# ----------------------------------------------------------------------------------------------------------
# Measurement and the table
# ----------------------------------------------------------------------------------------------------------


def repeats_for(n: int) -> int:
    return 7 if n <= 10_000 else 3 if n <= 100_000 else 1


def time_delever(w: Workload, repeats: int) -> tuple[float, Outcome]:
    """Median seconds of delever on ``w`` (after a warm-up call that loads the compiled kernels)."""
    r = DeleverRunner(w)
    DeleverRunner(workload(w.case, 64))()  # compile / load the kernels outside the timing
    times = []
    for _ in range(repeats if w.case != "healthy" else max(repeats, 5)):
        t0 = time.perf_counter()
        r()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), r.outcome()


def time_flox(w: Workload, repeats: int) -> tuple[float, Outcome]:
    """Median seconds of FLOX's ``on_mark`` calls on ``w`` (a fresh engine each repeat, except ``healthy``)."""
    f = FloxRunner(w)
    times = []
    f.load()
    for i in range(repeats if w.case != "healthy" else max(repeats, 5)):
        if i and w.case != "healthy":
            f.load()
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), f.outcome()


def memory_bandwidth_gbs() -> float:
    """Read bandwidth (GB/s) of this machine: the best of 5 sums over a 256 MiB int64 array."""
    a = np.ones(32 * 1024 * 1024, dtype=np.int64)
    a.sum()
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best / 1e9


def sweep_bytes(n: int) -> int:
    """Bytes the healthy sweep must read for ``n`` one-position accounts: size, cost, collateral, account (8 each),
    isolated (1) and the account's wallet (8) per position; :func:`delever.sweep.single_position_sweep` reads the
    exempt flag only for positions near their requirement (none in ``healthy``)."""
    return n * (5 * 8 + 1)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:,.2f} ms" if x < 1 else f"{x:,.2f} s"


def measure(cases=CASES, sizes=SIZES, with_flox: bool | None = None) -> list[dict]:
    """Rows of the comparison: case, n, delever and FLOX seconds, ratio, both outcomes."""
    with_flox = flox_available() if with_flox is None else with_flox
    rows = []
    for n in sizes:
        for case in cases:
            w = workload(case, n)
            reps = repeats_for(n)
            td, od = time_delever(w, reps)
            row = {"case": case, "n": n, "delever_s": td, "delever": od, "flox_s": None, "flox": None}
            if with_flox and (not flox_is_slow(case, n) or want_flox_slow()):
                tf, of = time_flox(w, reps if not flox_is_slow(case, n) else 1)
                row.update(flox_s=tf, flox=of)
            rows.append(row)
    return rows


def print_table(rows: list[dict], bandwidth_gbs: float | None = None, write=print) -> None:
    """The comparison as a plain-text table (``write`` takes one line)."""
    head = (
        f"{'case':<15} {'positions':>10} {'delever':>11} {'FLOX':>11} {'FLOX/delever':>12}  "
        f"{'liquidations d/F':>21} {'fund paid d/F (quote)':>31} {'ADL positions d/F':>19}"
    )
    write(head)
    write("-" * len(head))
    for r in rows:
        d, f = r["delever"], r["flox"]
        ratio = f"{r['flox_s'] / r['delever_s']:,.2f}x" if r["flox_s"] else "-"
        liq = f"{d.liquidations:,}/{f.liquidations:,}" if f else f"{d.liquidations:,}/-"
        paid = f"{d.fund_paid:,.2f}/{f.fund_paid:,.2f}" if f else f"{d.fund_paid:,.2f}/-"
        adl = f"{d.adl_positions:,}/{f.adl_positions:,}" if f else f"{d.adl_positions:,}/-"
        write(
            f"{r['case']:<15} {r['n']:>10,} {fmt_s(r['delever_s']):>11} {fmt_s(r['flox_s']):>11} "
            f"{ratio:>12}  {liq:>21} {paid:>31} {adl:>19}"
        )
    if bandwidth_gbs:
        write(
            f"memory read bandwidth {bandwidth_gbs:,.1f} GB/s; full-sweep bound at 1e6 positions: "
            f"{sweep_bytes(1_000_000) / bandwidth_gbs / 1e9 * 1e3:,.2f} ms "
            f"({sweep_bytes(1_000_000) / 1e6:,.0f} MB read)"
        )
    bad = [r for r in rows if r["delever"].conservation_error]
    write("delever conservation_error: " + ("0 in every run" if not bad else f"NON-ZERO in {len(bad)} runs"))


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line entry
    ap = argparse.ArgumentParser(description="delever vs FLOX on the peer workloads of issue #6")
    ap.add_argument(
        "--sizes", default=None, help="comma-separated sizes (default 1e3..1e5, 1e6 with DELEVER_BENCH_1M=1)"
    )
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-flox", action="store_true")
    args = ap.parse_args(argv)
    sizes = (
        [int(float(s)) for s in args.sizes.split(",")]
        if args.sizes
        else [s for s in SIZES if s < 1_000_000 or want_1m()]
    )
    rows = measure(args.cases.split(","), sizes, with_flox=False if args.no_flox else None)
    print_table(rows, memory_bandwidth_gbs())


if __name__ == "__main__":  # pragma: no cover
    main()
