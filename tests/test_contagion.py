"""Cross-margin contagion (issue #4, item 9): a loss on one instrument liquidates positions on the others, ADL
stays per instrument, and money is conserved across instruments."""

import numpy as np
import pytest

from delever import events as ev
from delever.contagion import correlated_path, prepare_multi
from delever.engine import run as run_engine
from delever.prices import PricePath
from delever.scenario import CrossInstrumentConfig, default_scenario_path, load_scenario
from core_stack import MECHANISMS_OFF

CROSS = default_scenario_path().parent / "binance-2025-10-10-cross-margin.toml"
SMALL = {
    "mechanisms": MECHANISMS_OFF,  # the core stack on the packaged market
    "book": {"generator": {"accounts": 1500}},
    "prices": {"start": "2025-10-10T21:10:00Z", "end": "2025-10-10T21:25:00Z"},
    "liquidity": {"depth_scale": 0.002},
    "insurance_fund": {"balance": "5000"},
}


@pytest.fixture(scope="module")
def small_run():
    sc = load_scenario(CROSS, SMALL)
    return sc, run_engine(sc, sc.seed, check_every_step=True)


def test_money_is_conserved_and_open_interest_balanced_on_every_instrument(small_run):
    _, r = small_run
    assert r.money_end == r.money_start
    for m in range(len(r.instruments)):
        long_, short = r.book.open_interest(m)
        assert long_ == short


def test_losses_on_one_instrument_liquidate_profitable_positions_on_another(small_run):
    sc, r = small_run
    per = r.extra["cross_margin"]["instruments"]
    assert [p["symbol"] for p in per] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert sum(p["contagion_liquidations"] for p in per) > 0
    # a liquidation fill that realized a profit closed a winning position: only an account with another,
    # losing position on another instrument can be liquidated while holding it
    e = r.events
    start = r.book_start
    won = np.flatnonzero((e["kind"] == ev.LIQUIDATION_FILL) & (e["amount"] > 0))
    assert won.size > 0
    held = np.bincount(start.account[start.size != 0], minlength=start.n_accounts)
    assert (held[e["account"][won]] >= 2).all()


def test_adl_never_crosses_instruments(small_run):
    _, r = small_run
    e = r.events
    start = r.book_start
    adl = np.flatnonzero((e["kind"] == ev.ADL_FILL) | (e["kind"] == ev.ADL_COUNTERPARTY_FILL))
    # the position each ADL row names is on the instrument the row is logged under
    assert np.array_equal(start.instrument[e["position"][adl]], e["instrument"][adl])


def test_extra_positions_are_opened_by_cross_accounts_only():
    sc = load_scenario(CROSS, SMALL)
    mm = prepare_multi(sc, sc.seed)
    b = mm.book
    extra = (b.instrument > 0) & ~b.exempt[b.account]
    assert extra.any()
    assert not b.isolated[extra].any()
    # about holders_fraction of the cross traders hold ETH (0.3) and SOL (0.2)
    cross_traders = int((~b.isolated & ~b.exempt[b.account] & (b.instrument == 0)).sum())
    eth = int((extra & (b.instrument == 1)).sum())
    assert 0.25 < eth / cross_traders < 0.35


def test_correlated_path_has_the_stated_beta_and_correlation():
    n = 20_000
    rng = np.random.Generator(np.random.PCG64(1))
    r = rng.normal(0, 0.001, n)
    base = PricePath(np.arange(n + 1, dtype=np.int64), 100 * np.exp(np.concatenate([[0], np.cumsum(r)])), "test")
    cfg = CrossInstrumentConfig(
        symbol="X",
        tick_size="0.01",
        lot_size="0.01",
        tiers=[{"cap": "1000000", "max_leverage": "10", "mmr": "0.05"}],
        start_price="50",
        beta=1.5,
        correlation=0.8,
    )
    x = correlated_path(base, cfg, np.random.Generator(np.random.PCG64(2)))
    rx = np.diff(np.log(x.index))
    assert x.index[0] == pytest.approx(50.0)
    assert np.corrcoef(rx, r)[0, 1] == pytest.approx(0.8, abs=0.02)
    assert np.std(rx) / np.std(r) == pytest.approx(1.5, rel=0.03)


def test_cross_margin_needs_an_instrument():
    with pytest.raises(Exception, match="at least one"):
        load_scenario(CROSS, {"mechanisms": {"cross_margin": {"instruments": []}}})
