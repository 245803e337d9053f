"""``accounts.parquet`` (issue #11): one row per account, exact decimals, agreeing with the run's summary and
its money identity."""

from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest

from delever import engine
from delever.engine import run as run_engine
from delever.output import write_outputs
from delever.scenario import default_scenario_path, load_scenario
from delever.units import MONEY_SCALE
from core_stack import MECHANISMS_OFF

THIN = {
    "book": {"generator": {"accounts": 300, "leverage_median": 20.0}},
    "insurance_fund": {"balance": 0},
    "liquidity": {"depth_scale": 0.0005},
}
CROSS = default_scenario_path().parent / "binance-2025-10-10-cross-margin.toml"
CROSS_SMALL = {
    "mechanisms": MECHANISMS_OFF,  # the core stack on the packaged market
    "book": {"generator": {"accounts": 800}},
    "prices": {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:25:00Z"},
    "liquidity": {"depth_scale": 0.002},
    "insurance_fund": {"balance": "5000"},
}


def units(column) -> np.ndarray:
    """Exact decimal column -> int64 money units."""
    return np.array([int(d * MONEY_SCALE) for d in column.to_pylist()], dtype=np.int64)


@pytest.mark.parametrize(
    "which", [pytest.param("single-instrument-thin-book", id="single"), pytest.param("cross-margin", id="cross")]
)
def test_accounts_parquet_agrees_with_the_summary_and_the_money_identity(which, tmp_path):
    if which == "cross-margin":
        sc = load_scenario(CROSS, CROSS_SMALL)
        r = run_engine(sc, sc.seed)
    else:
        sc = load_scenario(default_scenario_path(), overrides=THIN)
        r = engine.run(sc, 11)
    summary = write_outputs(r, tmp_path / "out")
    t = pq.read_table(tmp_path / "out" / "accounts.parquet")
    assert t.column_names == ["account", "liquidity_provider", "equity_end", "wallet_end", "positions_end",
                              "liquidated", "adl", "insurance_paid", "bad_debt"]  # fmt: skip
    assert t.num_rows == r.book.n_accounts
    assert t.schema.field("equity_end").type.scale == 6
    wallet = units(t.column("wallet_end"))
    assert np.array_equal(wallet, r.book.wallet)
    # open interest is balanced on every instrument, so the positions' values at any mark cancel: the equities
    # add up to the money identity less the insurance funds, exactly
    equity = units(t.column("equity_end"))
    fund_end = int(summary["units"]["insurance_fund_end"])
    assert int(equity.sum()) == r.money_end - fund_end
    assert int(t.column("liquidated").to_numpy().sum()) == summary["accounts_liquidated"]
    assert int(t.column("adl").to_numpy().sum()) == summary["accounts_adl"]
    assert Decimal(int(units(t.column("insurance_paid")).sum())) / MONEY_SCALE == summary["insurance_fund_paid"]
    bad = units(t.column("bad_debt"))
    assert (bad >= 0).all()
    assert int(bad.sum()) == int(summary["units"]["bad_debt"]) - int(summary["units"]["insurance_fund_paid"])
    open_ = np.bincount(r.book.account[r.book.size != 0], minlength=r.book.n_accounts)
    assert np.array_equal(t.column("positions_end").to_numpy(), open_)
