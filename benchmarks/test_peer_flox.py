"""delever against FLOX (``lrvx``) on the peer workloads of issue #6 (:mod:`benchmarks.peer`), 1e3..1e6 positions.

Run: ``python -m pytest benchmarks/test_peer_flox.py --benchmark-only``. Each (case, size) is one benchmark per
engine; FLOX's are skipped when ``lrvx`` (the ``bench`` extra) is not installed. The FLOX test also checks that
both engines did the same work (liquidations and insurance-fund payouts equal; ADL counts differ by design, see
:mod:`benchmarks.peer`), and the module prints the comparison table at the end. 1e6 positions run with
``DELEVER_BENCH_1M=1``; FLOX's three quadratic cases at 1e6 (minutes each) also need
``DELEVER_BENCH_FLOX_SLOW=1``. ``python -m benchmarks.peer`` prints the same table without pytest.
"""

from __future__ import annotations

from . import peer  # noqa: I001 - first: it imports lrvx before anything loads pyarrow

import contextlib

import pytest

SIZES = [n for n in peer.SIZES if n < 1_000_000 or peer.want_1m()]


def _rounds(n: int) -> int:
    return 5 if n <= 10_000 else 3 if n <= 100_000 else 1


@pytest.fixture(scope="module")
def comparison(request):
    """Collects (case, n) -> {engine: (median s, outcome)} and prints the table when the module ends."""
    results: dict = {}
    yield results
    rows = []
    for (case, n), r in sorted(results.items(), key=lambda kv: (kv[0][1], peer.CASES.index(kv[0][0]))):
        if "delever" not in r:
            continue
        flox = r.get("flox", (None, None))
        rows.append(
            {
                "case": case,
                "n": n,
                "delever_s": r["delever"][0],
                "delever": r["delever"][1],
                "flox_s": flox[0],
                "flox": flox[1],
            }
        )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if rows and reporter is not None:
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line("")
            reporter.write_line("delever vs FLOX (median s; FLOX/delever > 1: delever is faster; d/F = delever/FLOX)")
            peer.print_table(rows, write=reporter.write_line)


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", peer.CASES)
def test_delever(benchmark, comparison, case, n):
    w = peer.workload(case, n)
    runner = peer.DeleverRunner(w)
    peer.DeleverRunner(peer.workload(case, 64))()  # load the compiled kernels outside the timing
    if case == "healthy":
        benchmark(runner)
    else:
        benchmark.pedantic(runner, rounds=_rounds(n), iterations=1)
    out = runner.outcome()
    assert out.conservation_error == 0
    if case == "healthy":
        assert out.liquidations == 0
    elif case in ("all-liquidated", "every-second"):
        assert out.liquidations == (n if case == "all-liquidated" else n // 2)
    elif case == "adl-empty-fund":
        assert out.liquidations == n // 2 and out.adl_positions > 0 and out.fund_paid == 0
    benchmark.extra_info.update(
        positions=n, liquidations=out.liquidations, fund_paid=out.fund_paid, adl_positions=out.adl_positions
    )
    if _median(benchmark) is not None:
        comparison.setdefault((case, n), {})["delever"] = (_median(benchmark), out)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", peer.CASES)
def test_flox(benchmark, comparison, case, n):
    if not peer.flox_available():
        pytest.skip(f"FLOX (lrvx, pip install delever[bench]) not importable: {peer.FLOX_IMPORT_ERROR}")
    if peer.flox_is_slow(case, n) and not peer.want_flox_slow():
        pytest.skip("FLOX takes minutes here (quadratic); set DELEVER_BENCH_FLOX_SLOW=1")
    w = peer.workload(case, n)
    flox = peer.FloxRunner(w)
    if case == "healthy":
        flox.load()
        benchmark(flox)
    else:
        benchmark.pedantic(
            flox, setup=flox.load, rounds=_rounds(n) if not peer.flox_is_slow(case, n) else 1, iterations=1
        )
    out = flox.outcome()
    benchmark.extra_info.update(
        positions=n, liquidations=out.liquidations, fund_paid=out.fund_paid, adl_positions=out.adl_positions
    )
    mine = comparison.get((case, n), {}).get("delever", (None, None))[1] or peer.DeleverRunner(w).outcome()
    assert out.liquidations == mine.liquidations  # the same work
    assert out.fund_paid == pytest.approx(mine.fund_paid, rel=1e-9, abs=1e-6 * max(1, n))
    assert (out.adl_positions > 0) == (mine.adl_positions > 0)
    if _median(benchmark) is not None:
        comparison.setdefault((case, n), {})["flox"] = (_median(benchmark), out)
