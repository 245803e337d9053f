"""The venue's cross backing rule in the engine (issue #11): ``[liquidation] cross_backing`` (``whole-account``,
Binance's ``WB + UPNL1``, venues.md section 1; ``mm-share``, dYdX v4's ``-DNNV - TNC x |DMMR| / TMMR``, engines.md
section 1) sets the bankruptcy price at which the liquidation stage closes a cross position of a multi-position
account, ``delever run --venue dydx`` sets ``mm-share``, and the engine's price equals ``delever position``'s
(:func:`delever.account_prices.account_view`) for the same account.

The run: a flat market (every 1-minute bar at BTC 100,000; ETH and SOL follow with correlation 1, so they stay at
their start prices 4,000 and 200), insurance funds at 0 and a book so thin that the liquidation of 1 BTC cannot be
paid for: what the book cannot fill goes to ADL at the bankruptcy price, which the test reads from the ADL fills.
Flat MMR: BTC 1%, ETH 2%, SOL 2.5% of notional.

Account ``x`` (two positions), wallet 1,000: long 1 BTC @101,500 (uPnL -1,500, MM 1,000) and short 10 ETH @4,100
(uPnL +1,000, MM 800): TNC 500 < TMMR 1,800, liquidated while solvent.
  whole-account: BTC backed by 1,000 + 1,000 = 2,000 -> 101,500 - 2,000 = 99,500.0.
  mm-share: 100,000 - 500 x 1,000 / 1,800 = 99,722.22... -> up (tick 0.1) 99,722.3.
Account ``y`` (three positions), wallet 2,000: long 1 BTC @101,000 (uPnL -1,000, MM 1,000), short 10 ETH @4,050
(uPnL +500, MM 800) and long 100 SOL @205 (uPnL -500, MM 500): TNC 1,000 < TMMR 2,300.
  whole-account: BTC backed by 2,000 + 500 - 500 = 2,000 -> 101,000 - 2,000 = 99,000.0.
  mm-share: 100,000 - 1,000 x 1,000 / 2,300 = 99,565.217... -> up 99,565.3.
Counterparty ``cp`` (rich) holds the opposite of both: short 2 BTC @101,500 (in profit, the ADL winner), long 20
ETH and short 100 SOL at the marks; the book's net is 0 on each instrument.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from delever import events as ev
from delever.account_prices import PositionSpec, account_view
from delever.engine import run as run_engine
from delever.margin import BACKING_MM_SHARE, BACKING_WHOLE_ACCOUNT
from delever.scenario import default_scenario_path, load_scenario

DEPTH = default_scenario_path().parent / "binance-2025-10-10-cross-margin.toml"
T0 = 1_760_130_000_000  # 2025-10-10T21:00:00Z, ms

SCENARIO = """
name = "flat-three-instruments"
seed = 1
step_seconds = 1.0

[instrument]
symbol = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"
tiers = [{{ cap = "1000000000", max_leverage = "20", mmr = "0.01", imr = "0.05" }}]

[prices]
file = "{klines}"

[liquidity]
depth_file = "package:binance_btcusdt_20251010/BTCUSDT-bookDepth-2025-10-10.csv"
depth_window_start = 2025-10-10T21:00:00Z
depth_window_end = 2025-10-10T21:05:00Z
depth_scale = 0.000001
lp_accounts = 1
lp_wallet = "1000000"

[insurance_fund]
balance = "0"

[liquidation]
cross_backing = "{rule}"

[book]
file = "{book}"

[mechanisms.cross_margin]
enabled = true

[[mechanisms.cross_margin.instruments]]
symbol = "ETHUSDT"
tick_size = "0.01"
lot_size = "0.001"
tiers = [{{ cap = "1000000000", max_leverage = "20", mmr = "0.02", imr = "0.05" }}]
start_price = "4000"
correlation = 1.0
depth_scale = 0.000001

[[mechanisms.cross_margin.instruments]]
symbol = "SOLUSDT"
tick_size = "0.01"
lot_size = "0.01"
tiers = [{{ cap = "1000000000", max_leverage = "20", mmr = "0.025", imr = "0.05" }}]
start_price = "200"
correlation = 1.0
depth_scale = 0.000001
"""

# account -> [(symbol, size, entry)], cross wallet
ACCOUNTS = {
    "x": ([("BTCUSDT", "1", "101500"), ("ETHUSDT", "-10", "4100")], "1000"),
    "y": ([("BTCUSDT", "1", "101000"), ("ETHUSDT", "-10", "4050"), ("SOLUSDT", "100", "205")], "2000"),
    "cp": ([("BTCUSDT", "-2", "101500"), ("ETHUSDT", "20", "4000"), ("SOLUSDT", "-100", "200")], "10000000"),
}
MARKS = {"BTCUSDT": Decimal("100000"), "ETHUSDT": Decimal("4000"), "SOLUSDT": Decimal("200")}

# (account, rule, hand-worked BTC bankruptcy price): module docstring
CASES = [
    pytest.param("x", "whole-account", "99500.0", id="2pos-solvent-whole-account"),
    pytest.param("x", "mm-share", "99722.3", id="2pos-solvent-mm-share"),
    pytest.param("y", "whole-account", "99000.0", id="3pos-solvent-whole-account"),
    pytest.param("y", "mm-share", "99565.3", id="3pos-solvent-mm-share"),
]


def scenario(tmp_path, rule: str):
    klines = tmp_path / "flat.csv"
    klines.write_text("".join(f"{T0 + 60_000 * k},100000,100000,100000,100000,1,{T0 + 60_000 * k + 59_999},"
                              "100000,1,0.5,50000,0\n" for k in range(3)))  # fmt: skip
    book = tmp_path / "book.csv"
    rows = [f"{a},{s},{q},{e},cross,{w}" for a, (pos, w) in ACCOUNTS.items() for s, q, e in pos]
    book.write_text("account,instrument,size,entry_price,margin_mode,collateral\n" + "\n".join(rows) + "\n")
    f = tmp_path / "scenario.toml"
    f.write_text(SCENARIO.format(klines=klines, book=book, rule=rule))
    return load_scenario(f)


def rules_of(result, rule: int):
    """The run's instruments and backing rule as the rulebook ``account_view`` reads (``instrument(symbol)``,
    ``cross_backing_rule``, ``engine_adl_policy()``, ``name``)."""
    by_symbol = {i.symbol: i for i in result.instruments}
    return SimpleNamespace(name="scenario", instrument=by_symbol.__getitem__, cross_backing_rule=rule,
                           engine_adl_policy=lambda: None)  # fmt: skip


def btc_adl_prices(result, account: str) -> set[int]:
    e = result.events
    a = result.account_labels.index(account)
    rows = (e["kind"] == ev.ADL_FILL) & (e["account"] == a) & (e["instrument"] == 0)
    assert set(e["step"][rows].tolist()) == {0}
    return set(e["price"][rows].tolist())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for rule in ("whole-account", "mm-share"):
        sc = scenario(tmp_path_factory.mktemp(rule), rule)
        out[rule] = run_engine(sc, sc.seed, check_every_step=True)
    return out


@pytest.mark.parametrize(("account", "rule", "hand"), CASES)
def test_the_engine_closes_at_the_rules_bankruptcy_price_as_delever_position(runs, account, rule, hand):
    r = runs[rule]
    btc = r.instruments[0]
    # liquidated at the first step, whose marks are the flat prices (so the hand arithmetic holds)
    for m, symbol in enumerate(MARKS):
        assert r.instrument_steps[m].mark_ticks[0] == r.instruments[m].price_to_ticks(MARKS[symbol])
    assert btc_adl_prices(r, account) == {btc.price_to_ticks(Decimal(hand))}
    # delever position, for the same account at the same marks under the same rule
    pos, wallet = ACCOUNTS[account]
    specs = [PositionSpec(s, Decimal(q), Decimal(e), MARKS[s]) for s, q, e in pos]
    code = BACKING_MM_SHARE if rule == "mm-share" else BACKING_WHOLE_ACCOUNT
    view = account_view(rules_of(r, code), wallet, specs)
    assert view.positions[0].bankruptcy_price == Decimal(hand)
    assert r.money_end == r.money_start


@pytest.mark.parametrize("account", ["x", "y"])
def test_the_two_rules_give_different_prices(runs, account):
    assert btc_adl_prices(runs["whole-account"], account) != btc_adl_prices(runs["mm-share"], account)


@pytest.mark.parametrize(("venue", "rule"), [("dydx", "mm-share"), ("binance", "whole-account"),
                                             ("hyperliquid", "whole-account")])  # fmt: skip
def test_run_venue_sets_the_rulebooks_backing_rule(venue, rule):
    from delever.venues.scenario import apply_venue

    sc = apply_venue(load_scenario(DEPTH), venue)  # the packaged cross-margin scenario, multi-position accounts
    assert sc.liquidation.cross_backing == rule
    code = BACKING_MM_SHARE if rule == "mm-share" else BACKING_WHOLE_ACCOUNT
    assert sc.liquidation.backing_rule() == code


def test_a_run_under_dydx_uses_the_mm_share(tmp_path):
    """``--venue dydx`` on a multi-instrument scenario: the stage closes at the MM-share bankruptcy price (the
    per-step limits of dYdX's rulebook hold: 50 orders per step, none binding here)."""
    from delever.venues.scenario import apply_venue

    full = apply_venue(scenario(tmp_path, "whole-account"), "dydx")
    assert full.liquidation.cross_backing == "mm-share" and full.liquidation.limits_on()
    # under dYdX's own order and trigger x (TNC 500 >= 0) is never deleveraged: its IOCs fill in part on this
    # thin book (the rest waits for a later step), and only a zero fill with TNC < 0 deleverages (ioc_order)
    r = run_engine(full, full.seed, check_every_step=True)
    e = r.events
    assert not ((e["kind"] == ev.ADL_FILL) & (e["account"] == r.account_labels.index("x"))).any()
    assert r.money_end == r.money_start
    # the market order with the fund-cannot-pay trigger deleverages it at once, at its MM-share bankruptcy price
    sc = full.model_copy(update={
        "liquidation": full.liquidation.model_copy(update={"order": "market", "max_insurance_lost_per_step": None}),
        "adl": full.adl.model_copy(update={"trigger": "fund-cannot-pay"}),
    })  # fmt: skip
    r = run_engine(sc, sc.seed, check_every_step=True)
    # dYdX's tiers on BTC (MMR 3%: MM 3,000), the scenario's on ETH (MM 800): TNC 500, TMMR 3,800;
    # 100,000 - 500 x 3,000 / 3,800 = 99,605.26... -> up (tick 0.1) 99,605.3
    assert btc_adl_prices(r, "x") == {r.instruments[0].price_to_ticks(Decimal("99605.3"))}
    assert r.money_end == r.money_start
    assert np.all(r.book.size[r.book.account == r.account_labels.index("x")] == 0)
