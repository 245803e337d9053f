"""Packaged replays: price gaps are errors unless filled as the scenario says, depth scaled in quote notional
carries across price levels, and each replay runs with money conserved."""

from pathlib import Path

import numpy as np
import pytest

from delever.errors import InputError
from delever.marketdata import DepthProfile, load_klines, packaged_data_path, profile_at_price
from delever.prices import path_from_klines

MIN = 60_000
T0 = 1_584_000_000_000  # 2020-03-12 08:00:00 UTC, a whole minute


def _klines(tmp_path: Path, minutes: list[int], name: str = "k.csv") -> Path:
    """Bars at the given minutes after T0; bar m opens at 100 + m and closes at 100 + m + 0.5."""
    rows = ["open_time,open,high,low,close,volume,close_time,quote_volume,trades,taker_buy_volume,tbq,ignore"]
    for m in minutes:
        o, c = 100 + m, 100 + m + 0.5
        rows.append(f"{T0 + m * MIN},{o},{c},{o},{c},1,{T0 + (m + 1) * MIN - 1},1,1,0.5,1,0")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gap_inside_the_window_is_an_error_naming_file_and_gap(tmp_path):
    path = _klines(tmp_path, [0, 1, 2, 5, 6])  # minutes 3 and 4 missing
    kl = load_klines(path)
    with pytest.raises(InputError) as info:
        path_from_klines(kl, 1.0)
    text = str(info.value)
    assert str(path) in text
    assert "no bars from 2020-03-12 08:03 UTC to 2020-03-12 08:04 UTC (2 missing)" in text
    assert info.value.field == "prices.gap_fill"


def test_gap_outside_the_window_is_not_an_error(tmp_path):
    kl = load_klines(_klines(tmp_path, [0, 1, 2, 5, 6]))
    path = path_from_klines(kl, 1.0, T0, T0 + 3 * MIN)  # bars 0..2 only
    assert path.steps == 180 and path.filled_gaps == ()


@pytest.mark.parametrize(
    ("fill", "at_minute_4"),
    [
        # a line from bar 2's close 102.5 at 08:02:59.999 to bar 5's open 105 at 08:05:00: at 08:04:00 it has
        # covered (60,001 / 120,001) of the 2.5 rise
        ("linear", 102.5 + 2.5 * 60_001 / 120_001),
        # bar 2's close, held until a millisecond before bar 5 opens
        ("hold", 102.5),
    ],
    ids=["linear-join", "hold-last-close"],
)
def test_gap_filled_as_the_scenario_says(tmp_path, fill, at_minute_4):
    kl = load_klines(_klines(tmp_path, [0, 1, 2, 5, 6]))
    path = path_from_klines(kl, 1.0, gap_fill=fill)
    assert path.filled_gaps == ((T0 + 3 * MIN, T0 + 5 * MIN),)
    assert path.index[4 * 60] == pytest.approx(at_minute_4, rel=1e-12)
    assert path.index[5 * 60] == 105.0  # bar 5's open, whatever the fill


def test_the_packaged_2020_file_has_its_gap():
    kl = load_klines(packaged_data_path("binance_btcusdt_20200312/btcusdt_perp_1m_2020-03-12.csv"))
    assert kl.open_time_ms.size == 719  # SOURCE.md
    with pytest.raises(InputError, match=r"no bars from 2020-03-12 16:04 UTC to 2020-03-12 22:25 UTC \(382 missing\)"):
        path_from_klines(kl, 1.0)


def _profile() -> DepthProfile:
    notional = np.array([1.0, 2.0, 3.0, 4.0, 5.0]) * 1e6
    return DepthProfile(np.array([0.01, 0.02, 0.03, 0.04, 0.05]), notional / 100_000, notional / 100_000,
                        notional, notional, "a", "b", 1, "test")  # fmt: skip


@pytest.mark.parametrize(
    ("price", "base_1pct"),
    # 1,000,000 USDT within 1 %: 10 BTC at 100,000 (as recorded), 125 BTC at 8,000, 25 BTC at 40,000
    [(100_000.0, 10.0), (8_000.0, 125.0), (40_000.0, 25.0)],
    ids=["recording-price", "2020-level", "2021-level"],
)
def test_depth_in_quote_keeps_the_dollars(price, base_1pct):
    p = profile_at_price(_profile(), price)
    assert p.bid_base[0] == pytest.approx(base_1pct) and p.ask_base[0] == pytest.approx(base_1pct)
    np.testing.assert_allclose(p.ask_base * price, _profile().ask_notional)


def test_depth_in_quote_rejects_a_bad_price():
    with pytest.raises(InputError, match="price"):
        profile_at_price(_profile(), 0.0)


def test_quote_basis_scales_the_curve_by_the_price_ratio():
    """The same scenario with basis "quote" holds (recorded price / start price) times the base depth of
    basis "base" at each band, within the ratio of the two prices the profile reads."""
    from delever.engine import prepare
    from delever.scenario import load_scenario

    path = packaged_data_path("scenarios/binance-btcusdt-2020-03-12.toml")
    small = {"book": {"generator": {"accounts": 100}}}
    quote = prepare(load_scenario(path, small), 0)
    base = prepare(load_scenario(path, {**small, "liquidity": {"depth_scale_basis": "base"}}), 0)
    start = float(quote.path.index[0])
    assert start == 7402.12  # the 08:51 open
    # quote basis: 0.15 of the recorded USD notional within 1 %, in BTC at 7,402.12
    lots_1pct = np.interp(0.01, quote.curve.distance, quote.curve.ask_lots)
    assert lots_1pct * 0.001 == pytest.approx(0.15 * quote.depth.ask_notional[0] / start, rel=1e-9)
    # base basis: 0.15 of the recorded BTC
    assert np.interp(0.01, base.curve.distance, base.curve.ask_lots) * 0.001 == pytest.approx(
        0.15 * base.depth.ask_base[0], rel=1e-9
    )


@pytest.mark.parametrize("name", ["binance-btcusdt-2020-03-12", "binance-btcusdt-2021-05-19"])
def test_binance_replay_conserves_money(name):
    from delever.engine import run
    from delever.output import summarize
    from delever.scenario import load_scenario

    sc = load_scenario(packaged_data_path(f"scenarios/{name}.toml"), {"book": {"generator": {"accounts": 5000}}})
    s = summarize(run(sc))
    assert s["conservation_error"] == 0
    assert s["liquidations"] > 0
    assert "adl_waves" in s["facts"]


def test_cli_lists_and_runs_replays(tmp_path):
    import json

    from typer.testing import CliRunner

    from delever.cli import app
    from delever.replays import replay_names

    runner = CliRunner()
    listed = runner.invoke(app, ["replay"])
    assert listed.exit_code == 0
    for name in replay_names():
        assert name in listed.output
    unknown = runner.invoke(app, ["replay", "no-such-crash"])
    assert unknown.exit_code == 2 and "no packaged replay" in unknown.output
    done = runner.invoke(app, ["run", "binance-btcusdt-2021-05-19", "--out", str(tmp_path / "r"), "-q"])
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["scenario"] == "binance-btcusdt-2021-05-19" and summary["conservation_error"] == 0
    assert "Stylised facts" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize(
    ("low", "expected_min", "expected_max"),
    # a path 110 -> 100 -> 105: a low of 90 doubles every move from 110, a low of 100 keeps the path
    [(90.0, 90.0, 110.0), (100.0, 100.0, 110.0)],
    ids=["double-the-fall", "as-recorded"],
)
def test_stretch_to_low_scales_moves_from_the_first_price(tmp_path, low, expected_min, expected_max):
    from delever.prices import PricePath, stretch_to_low

    # first price 110, minimum 100: k = (110 - low) / (110 - 100); the first price stays
    path = PricePath(np.arange(3, dtype=np.int64), np.array([110.0, 100.0, 105.0]), "p.csv")
    out = stretch_to_low(path, low)
    k = (110 - low) / 10
    np.testing.assert_allclose(out.index, [110.0, 110.0 - 10 * k, 110.0 - 5 * k])
    assert out.index.min() == expected_min and out.index.max() == expected_max


def test_stretch_to_low_rejects_a_low_above_the_start():
    from delever.prices import PricePath, stretch_to_low

    path = PricePath(np.arange(3, dtype=np.int64), np.array([110.0, 100.0, 105.0]), "p.csv")
    with pytest.raises(InputError, match="between 0 and the path's first price"):
        stretch_to_low(path, 120.0)
