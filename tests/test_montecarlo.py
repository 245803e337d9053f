"""Monte Carlo sweeps (:mod:`delever.montecarlo`, :mod:`delever.cli.sweep`): the same table from a local process
pool and from dask.distributed on a LocalCluster; batching and worker counts do not change it; money is
conserved in every run; grid errors name the key; the files and the ``delever sweep`` command.

The scenario is the packaged default with 300 generated accounts over a 90-step window, and jump-heavy
paths (about one -3% jump every 30 s) so that runs liquidate, pay bad debt from the fund and auto-deleverage.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from delever import montecarlo as mc
from delever.cli.sweep import parse_grid, register
from delever.report.sweep_page import sweep_page, write_sweep
from delever.engine import prepare
from delever.paths import path_seeds
from delever.scenario import default_scenario_path, load_scenario

WINDOW = {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:11:30Z"}
JUMPS = {"lam": 1e6, "jump_mean": -0.03, "jump_sd": 0.03}
GRID = {"insurance_fund.balance": ["0", "20000"]}
PATHS = 4


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(
        default_scenario_path(), overrides={"book": {"generator": {"accounts": 300}}, "prices": WINDOW}
    )


@pytest.fixture(scope="module")
def local_table(scenario):
    return mc.sweep(scenario, PATHS, "gbm-jump", GRID, engine="local", workers=2, seed=5, model_params=JUMPS, batch=1)


def test_table_layout_order_and_conservation(scenario, local_table):
    t = local_table
    assert t.num_rows == 2 * PATHS
    assert t.column_names == ["point", "path", "seed", "insurance_fund.balance", *mc.METRICS]
    assert t.column("point").to_pylist() == [0] * PATHS + [1] * PATHS
    assert t.column("path").to_pylist() == list(range(PATHS)) * 2
    assert t.column("seed").to_pylist() == path_seeds(5, PATHS).tolist() * 2
    assert t.column("insurance_fund.balance").to_pylist() == [0] * PATHS + [20000] * PATHS
    assert t.schema.field("bad_debt").type == mc.MONEY_TYPE
    assert t.column("conservation_error").to_pylist() == [0] * t.num_rows
    # the paths do the whole chain: liquidations everywhere, ADL when the fund is empty
    assert min(t.column("liquidations").to_pylist()) > 0
    assert all(a > 0 for a in t.column("adl_events").to_pylist()[:PATHS])
    assert t.column("insurance_fund_min").to_pylist()[PATHS:] <= [Decimal(20000)] * PATHS
    meta = mc.sweep_metadata(t)
    assert (meta["paths"], meta["seed"], meta["steps"], meta["model"]) == (PATHS, 5, 90, "gbm-jump")
    assert meta["grid"] == GRID


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_table(scenario, local_table):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        t = mc.sweep(
            scenario,
            PATHS,
            "gbm-jump",
            GRID,
            engine="dask",
            address=cluster.scheduler_address,
            seed=5,
            model_params=JUMPS,
            batch=1,
        )
    assert t.equals(local_table, check_metadata=True)


def test_batching_and_workers_do_not_change_the_table(scenario, local_table):
    seen = []
    t = mc.sweep(
        scenario,
        PATHS,
        "gbm-jump",
        GRID,
        engine="local",
        workers=1,
        seed=5,
        model_params=JUMPS,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert t.equals(local_table, check_metadata=True)
    assert seen[-1] == (2 * PATHS, 2 * PATHS) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_row_is_reproduced_from_its_seed(scenario, local_table):
    sc = mc.apply_overrides(scenario, {"insurance_fund.balance": "0"})
    market = prepare(sc, 5)
    seed = local_table.column("seed")[2].as_py()
    row = mc.run_path(sc, market, "gbm-jump", mc.P.model_params("gbm-jump", JUMPS), seed, 90, 5)
    assert row["liquidations"] == local_table.column("liquidations")[2].as_py()
    assert Decimal(row["bad_debt"]).scaleb(-6) == local_table.column("bad_debt")[2].as_py()


def test_model_grid_keys_and_garch(scenario):
    t = mc.sweep(scenario, 2, "garch", {"model.vol": ["0.5", "4"]}, workers=1, seed=1, steps=30)
    assert t.column("model.vol").type == pa.float64()
    assert t.column("model.vol").to_pylist() == [0.5, 0.5, 4.0, 4.0]
    assert mc.sweep_metadata(t)["steps"] == 30
    assert t.column("conservation_error").to_pylist() == [0] * 4


@pytest.mark.parametrize(
    "key, match",
    [
        ("insurance_fund.balanse", "no field 'balanse'"),
        ("nope", "has no field 'nope'"),
        ("insurance_fund", "is a table"),
        ("fees.liquidation_fee_rate.x", "not a table"),
        ("model.vol", "path model 'gbm-jump' has parameters"),
    ],
)
def test_unknown_grid_keys_are_named(scenario, key, match):
    with pytest.raises(ValueError, match=re.escape(key)) as err:
        mc.sweep(scenario, 1, grid={key: [1]}, workers=1)
    assert re.search(match, str(err.value))


def test_rejected_grid_value_names_the_field(scenario):
    with pytest.raises(ValueError, match="insurance_fund.balance"):
        mc.sweep(scenario, 1, grid={"insurance_fund.balance": ["-1"]}, workers=1)


def test_bad_arguments(scenario):
    with pytest.raises(ValueError, match="unknown engine"):
        mc.sweep(scenario, 1, engine="spark")
    with pytest.raises(ValueError, match="paths"):
        mc.sweep(scenario, 0)


def test_ray_without_ray_names_the_extra(scenario):
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(mc.EngineUnavailable, match=re.escape("pip install delever[ray]")):
            mc.sweep(scenario, 1, engine="ray")
    else:  # pragma: no cover - only where Ray is installed
        pytest.skip("Ray is installed")


def test_write_sweep_files(tmp_path, local_table):
    out = tmp_path / "res" / "sweep-x"
    write_sweep(local_table, out)
    write_sweep(local_table, out)  # a directory delever made is replaced
    assert sorted(p.name for p in out.iterdir()) == [".delever.json", "report.html", "sweep.parquet"]
    assert pq.read_table(out / "sweep.parquet").equals(local_table, check_metadata=True)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count(get_plotlyjs()[:500]) == 1
    for text in (
        "Bad debt",
        "Insurance fund drawdown",
        "ADL notional",
        "p5",
        "p50",
        "p95",
        "p99",
        "insurance_fund.balance=20000",
        'id="fig-bad_debt"',
    ):
        assert text in page
    assert sweep_page(local_table) == page  # deterministic
    assert not [p for p in (tmp_path / "res").iterdir() if p.name.startswith(".delever")]


def test_report_draws_the_empirical_exceedance_step_function(local_table):
    from delever.report.figures import exceedance
    from delever.report.sweep_page import exceedance_figure

    fig = exceedance_figure(local_table, "bad_debt", "bad debt (USDT)")
    for trace, (_, _, v) in zip(fig.data, mc.point_values(local_table, "bad_debt"), strict=True):
        x, y = exceedance(v)
        assert trace.line.shape == "hv"
        assert list(trace.x) == pytest.approx(x.tolist()) and list(trace.y) == pytest.approx(y.tolist())


def test_point_stats(local_table):
    stats = mc.point_stats(local_table, "adl_notional")
    assert [s["point"] for s in stats] == [0, 1] and stats[0]["paths"] == PATHS
    v = np.array([float(x) for x in local_table.column("adl_notional").to_pylist()[:PATHS]])
    assert stats[0]["p50"] == pytest.approx(np.quantile(v, 0.5))
    assert stats[0]["share_positive"] == 1.0


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()

    @a.callback()
    def main() -> None:  # a group, so that "sweep" is a subcommand as in the real app
        pass

    register(a)
    return a


@pytest.fixture
def scenario_file(tmp_path) -> Path:
    text = default_scenario_path().read_text(encoding="utf-8")
    text, n = re.subn(r"^accounts = \d+$", "accounts = 300", text, flags=re.M)
    assert n == 1
    text, n = re.subn(
        r"^(file = \"package:[^\"]*_1m_[^\"]*\")$",
        r"\1" + f"\nstart = {WINDOW['start']}\nend = {WINDOW['end']}",
        text,
        flags=re.M,
    )
    assert n == 1
    path = tmp_path / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_sweep_writes_table_and_report(app, scenario_file, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "sweep",
            str(scenario_file),
            "--paths",
            "3",
            "--workers",
            "1",
            "--grid",
            "insurance_fund.balance=0,1000",
            "--grid",
            "model.lam=1e6",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    t = pq.read_table(out / "sweep.parquet")
    assert t.num_rows == 6 and t.column("seed").to_pylist()[:3] == path_seeds(3, 3).tolist()
    assert t.column("model.lam").to_pylist() == [1e6] * 6
    assert (out / "report.html").exists()
    assert "Bad debt" in res.output and "p99" in res.output and "wrote" in res.output


def test_cli_default_out_dir(app, scenario_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["sweep", str(scenario_file), "--paths", "1", "--workers", "1", "--steps", "10", "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "delever-out" / "sweep-binance-btcusdt-2025-10-10" / "sweep.parquet").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--grid", "insurance_fund.balance"], "--grid 'insurance_fund.balance'"),
        (["--grid", "insurance_fund.balance=1,,2"], "--grid 'insurance_fund.balance=1,,2'"),
        (["--grid", "=1"], "--grid '=1'"),
        (["--grid", "a=1", "--grid", "a=2"], "given twice"),
        (["--grid", "liquidity.depth_scal=1,2"], "--grid liquidity.depth_scal=1,2"),
        (["--grid", "model.nu=3"], "--grid model.nu=3"),
        (["--grid", "liquidity.depth_scale=-1"], "liquidity.depth_scale"),
        (["--engine", "spark"], "--engine 'spark'"),
        (["--model", "heston"], "--model 'heston'"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_argument(app, scenario_file, tmp_path, args, needle):
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(scenario_file), "--paths", "1", "--workers", "1", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert "".join(needle.split()) in "".join(res.output.split()), res.output
    assert not out.exists()


def test_parse_grid():
    assert parse_grid(["a.b=1, 2", "model.x=0.5"]) == {"a.b": ["1", "2"], "model.x": ["0.5"]}
    with pytest.raises(ValueError, match="expected key=v1,v2"):
        parse_grid(["a.b=1,"])
