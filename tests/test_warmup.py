"""``python -m delever.warmup`` (issue #17 goal 3): it finds the package's kernels, shrinks the packaged scenarios,
and its runs call every kernel a packaged run calls."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

from delever import warmup
from delever.cli import app
from delever.scenario import default_scenario_path, load_scenario

REFERENCE_ONLY = {"sweep.single_position_sweep", "trigger_price.trigger_sweep", "allocation.split_into"}
"""Kernels no packaged run calls: the full sweep for one-position books and the trigger sweep, the references the
benchmarks and tests check the fast paths against (:mod:`benchmarks.peer`, :mod:`delever.trigger_index`), and the
largest-remainder split with its own scratch (runs call :func:`delever.allocation.split_into_scratch`); whether a
test ran them earlier in the session decides if they are cached, so the test accepts both."""


def test_kernels_are_the_compiled_functions_of_their_own_modules():
    found = warmup.kernels()
    for name in (
        "sweep.margin_sweep",
        "engine.quiet.quiet_steps",
        "adl.queue.adl_pool",
        "trigger_index.scan_triggers",
        "allocation.split_many_into",
    ):
        assert name in found
    for name, dispatcher in found.items():
        module, _, function = name.rpartition(".")
        assert dispatcher.py_func.__module__ == f"delever.{module}" and dispatcher.py_func.__name__ == function
    # a kernel imported into another module (engine/quiet.py imports trigger_index.scan_triggers) is listed
    # once, at home
    assert "engine.quiet.scan_triggers" not in found
    # the liquidation driver's inlined steps compile only inside it
    assert "liquidation.liquidate" in found and "liquidation.fund_budget" not in found


@pytest.mark.parametrize("fund_zero", [True, False], ids=["fund-emptied", "fund-kept"])
def test_small_shrinks_the_generated_book_and_empties_the_fund(fund_zero):
    packaged = load_scenario(default_scenario_path())
    sc = warmup.small(default_scenario_path(), fund_zero=fund_zero)
    assert packaged.book.generator.accounts == 100_000 and sc.book.generator.accounts == warmup.ACCOUNTS == 2_000
    assert sc.insurance_fund.balance == (0 if fund_zero else packaged.insurance_fund.balance)
    assert sc.seed == packaged.seed and sc.mechanisms == packaged.mechanisms


def test_cli_warmup_prints_the_kernels_ready_and_those_not_reached(monkeypatch):
    def fake_warm_up(progress=None):  # the runs themselves are the slow test below
        progress("scenario-a")
        return warmup.WarmupReport(
            [("scenario-a", 0.1)], ["sweep.margin_sweep", "mark.mark_of"], ["sweep.trigger_sweep"]
        )

    monkeypatch.setattr(warmup, "warm_up", fake_warm_up)
    res = CliRunner().invoke(app, ["warmup"])
    assert res.exit_code == 0, res.output
    assert "warming up: scenario-a" in res.output
    assert "2 kernels ready in numba's cache" in res.output
    assert res.output.rstrip().endswith("(compiled at first use): sweep.trigger_sweep")


@pytest.mark.slow
def test_warm_up_runs_every_packaged_scenario_and_reaches_every_kernel_a_run_calls():
    report = warmup.warm_up()
    names = [name for name, _ in report.runs]
    scenarios = sorted(p.stem for p in default_scenario_path().parent.glob("*.toml"))
    assert sorted(names[:-2]) == scenarios and names[0] == default_scenario_path().stem
    assert names[-2:] == ["venue rulebooks", "largest-remainder splits"]
    assert set(report.not_reached) <= REFERENCE_ONLY
    assert set(report.ready) | set(report.not_reached) == set(warmup.kernels())


def test_split_twins_compile_both_largest_remainder_twins_for_the_types_split_passes():
    from delever import allocation

    warmup.split_twins()
    for twin in (allocation.split_many_into, allocation.split_capped_into):
        assert twin.signatures, twin.py_func.__name__
        # split() passes int64 totals and C-contiguous int64 arrays: the one specialization a real run uses
        assert all(str(t) in ("int64", "array(int64, 1d, C)") for t in twin.signatures[0])


def test_on_disk_is_numbas_own_index_for_the_current_source(tmp_path, monkeypatch):
    from delever import intops

    warmup.split_twins()
    # a helper compiled inside the twins (mul_div_floor, in _split) is cached with them
    assert warmup.on_disk(intops.mul_div_floor)
    # a kernel in a new source file (a new cache folder): not cached until its first call compiles it
    source = "from numba import njit\n\n\n@njit(cache=True)\ndef add(x):\n    return x + 1\n"
    (tmp_path / "fresh_kernel.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = importlib.import_module("fresh_kernel")
    assert not warmup.on_disk(fresh.add)
    assert fresh.add(1) == 2
    assert warmup.on_disk(fresh.add)
