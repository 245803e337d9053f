"""``delever position`` and ``delever venues`` through typer's CliRunner on a local app."""

import json
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from delever.cli.venues import register
from delever.venues import VENUES

app = typer.Typer()
register(app)
runner = CliRunner()

CCXT_KEYS = {
    "symbol",
    "side",
    "contracts",
    "entryPrice",
    "markPrice",
    "notional",
    "leverage",
    "collateral",
    "initialMargin",
    "maintenanceMargin",
    "maintenanceMarginPercentage",
    "unrealizedPnl",
    "liquidationPrice",
    "marginMode",
    "bankruptcyPrice",
    "adlQuantile",
}

BASE = ["position", "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--size", "1", "--entry", "50000"]


def run_json(args):
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout, parse_float=Decimal)


def test_position_json_has_the_ccxt_keys_and_exact_numbers():
    d = run_json([*BASE, "--leverage", "20"])
    assert CCXT_KEYS <= set(d)
    # 1 BTC at 50,000, 20x: margin 2,500; BP 47,500; LP 47,690.8 (Binance 2021 tier 2 at 50,000 notional for the
    # tier/MM, tier 1 at the LP); MM at the mark = 50,000 x 0.5% - 50 = 200
    assert d["symbol"] == "BTCUSDT" and d["side"] == "long" and d["marginMode"] == "isolated"
    assert d["collateral"] == 2500 and d["initialMargin"] == 2500 and d["leverage"] == 20
    assert d["liquidationPrice"] == Decimal("47690.8") and d["bankruptcyPrice"] == 47500
    assert d["maintenanceMargin"] == 200 and d["maintenanceMarginPercentage"] == Decimal("0.005")
    assert d["adlQuantile"] is None and d["unrealizedPnl"] == 0


def test_position_json_cross_wallet_and_mark():
    d = run_json([*BASE, "--wallet", "5000", "--margin-mode", "cross", "--mark", "49000"])
    # 10x implied; uPnL = 1 x (49,000 - 50,000) = -1,000; LP (tier 1) = 45,000 / 0.996 = 45,180.72 -> 45,180.8
    assert d["marginMode"] == "cross" and d["leverage"] == 10
    assert d["unrealizedPnl"] == -1000 and d["markPrice"] == 49000 and d["notional"] == 49000
    assert d["liquidationPrice"] == Decimal("45180.8")


def test_position_json_inverse_settles_in_coin():
    d = run_json(
        [
            "position",
            "--venue",
            "bybit",
            "--symbol",
            "BTCUSD",
            "--side",
            "long",
            "--size",
            "60000",
            "--entry",
            "50000",
            "--leverage",
            "10",
        ]
    )
    # TV-19: PV 1.2 BTC, IM 0.12, MM 0.006; LP 45,662.10 -> 45,662.5 on the 0.5 tick
    assert d["contracts"] == 60000 and d["notional"] == Decimal("1.2") and d["collateral"] == Decimal("0.12")
    assert d["maintenanceMargin"] == Decimal("0.006") and d["liquidationPrice"] == Decimal("45662.5")
    assert d["info"]["settle"] == "BTC"


def test_position_table():
    res = runner.invoke(app, [*BASE, "--leverage", "20"])
    assert res.exit_code == 0
    assert "liquidation price" in res.stdout and "47,690.8" in res.stdout and "bankruptcy price" in res.stdout


@pytest.mark.parametrize("name", list(VENUES))
def test_position_runs_on_every_venue(name):
    rb = VENUES[name]
    sym, c = next(iter(rb.instruments.items()))
    size = "1" if c.contract == "linear" else "10000"
    d = run_json(
        [
            "position",
            "--venue",
            name,
            "--symbol",
            sym,
            "--side",
            "short",
            "--size",
            size,
            "--entry",
            "50000",
            "--leverage",
            "5",
        ]
    )
    assert CCXT_KEYS <= set(d) and d["side"] == "short"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--size", "-1"], "--size"),
        (["--size", "0"], "--size"),
        (["--size", "0.0005"], "--size"),  # not a multiple of the 0.001 lot
        (["--size", "lots"], "--size"),
        (["--entry", "0"], "--entry"),
        (["--entry", "-5"], "--entry"),
        (["--mark", "0"], "--mark"),
        (["--venue", "ftx"], "--venue"),
        (["--symbol", "DOGEUSDT"], "--symbol"),
        (["--side", "up"], "--side"),
        (["--margin-mode", "portfolio"], "--margin-mode"),
        (["--leverage", "126"], "--leverage"),  # tier 2 (50,000 notional) allows 100x
        (["--leverage", "-2"], "--leverage"),
        (["--wallet", "100"], "--wallet"),  # 500x implied
        (["--wallet", "0"], "--wallet"),
        (["--wallet", "1000", "--leverage", "10"], "--wallet"),  # both
        (["--size", "20000"], "--size"),  # 1e9 USDT: above the largest risk limit
    ],
)
def test_position_bad_input_exits_2_naming_the_argument(args, flag):
    base = dict(zip(BASE[1::2], BASE[2::2]))
    extra = dict(zip(args[0::2], args[1::2]))
    merged = {**base, **extra}
    res = runner.invoke(app, ["position", *[x for kv in merged.items() for x in kv]])
    assert res.exit_code == 2, res.output
    assert f"{flag}:" in res.output


def test_position_missing_required_option_exits_2():
    res = runner.invoke(app, ["position", "--venue", "binance"])
    assert res.exit_code == 2


def test_venues_lists_every_rulebook():
    res = runner.invoke(app, ["venues"])
    assert res.exit_code == 0
    for name in VENUES:
        assert name in res.stdout


def test_venues_name_shows_tiers_rules_and_stand_ins():
    res = runner.invoke(app, ["venues", "okx"])
    assert res.exit_code == 0
    out = res.stdout
    assert "BTC-USDT-SWAP" in out and "18.18" in out and "stand-ins" in out
    assert "NOT RECOVERED" in out and "adl.fill_price" in out


def test_venues_unknown_name_exits_2():
    res = runner.invoke(app, ["venues", "ftx"])
    assert res.exit_code == 2 and "unknown venue" in res.output
