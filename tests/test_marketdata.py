"""Tests of delever.marketdata: the packaged real data (numbers traceable to SOURCE.md) and bad input."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime

import numpy as np
import pytest

from delever.errors import InputError
from delever.marketdata import (
    CORRUPT_BID_FROM,
    ask_depth_series,
    calibrate_depth,
    load_book_depth,
    load_klines,
    packaged_data_path,
)

KLINES = "binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"
DEPTH = "binance_btcusdt_20251010/BTCUSDT-bookDepth-2025-10-10.csv"
HEADER = (
    "open_time_ms,open,high,low,close,volume_btc,close_time_ms,quote_volume_usdt,trades,"
    "taker_buy_volume_btc,taker_buy_quote_volume_usdt,ignore\n"
)
# Two real rows of the packaged klines file (21:01 and 21:02 UTC).
ROW1 = (
    "1760130060000,114571.70,114878.60,114561.50,114793.00,866.717,1760130119999,"
    "99440887.69680,25648,495.370,56833955.70240,0\n"
)
ROW2 = (
    "1760130120000,114793.10,114911.00,114624.50,114685.60,704.981,1760130179999,"
    "80892030.12330,20727,346.013,39704532.17120,0\n"
)


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def depth():
    return load_book_depth(packaged_data_path(DEPTH))


def _ask1_near(depth, iso: str) -> float:
    times, notional = ask_depth_series(depth, band=1)
    return float(notional[np.argmin(np.abs(times - _ns(iso)))])


# ------------------------------------------------------------------------------------------ real data


def test_klines_match_source_md():
    k = load_klines(packaged_data_path(KLINES))
    assert len(k.open_time_ms) == 130
    assert k.open_time_ms[0] == 1760130060000  # 2025-10-10 21:01 UTC
    assert k.bar_ms == 60_000
    assert k.open_time_ms.dtype == np.int64 and k.low.dtype == np.float64
    assert k.low.min() == 101516.5
    assert k.open_time_ms[np.argmin(k.low)] == _ns("2025-10-10T21:20:00") // 1_000_000
    assert k.open[0] == 114571.70 and k.taker_buy_base[0] == 495.370
    assert np.all(k.taker_buy_base <= k.volume_base)


def test_klines_without_header(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(ROW1 + ROW2)
    k = load_klines(path)
    assert list(k.open_time_ms) == [1760130060000, 1760130120000]
    assert k.bar_ms == 60_000
    assert k.source == str(path)


def test_book_depth_shape(depth):
    # 12:00:07 .. 23:59:30, every ~30 s; the row with a leading space (21:34:32) still completes its snapshot.
    assert depth.depth_base.shape == (1440, 10) == depth.notional.shape
    assert list(depth.percentage) == [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]
    assert np.all(np.diff(depth.time_ns) > 0)
    assert _ns("2025-10-10T21:34:32") in depth.time_ns
    assert depth.time_ns[0] == _ns("2025-10-10T12:00:07")


def test_ask_1pct_notional_collapses_as_in_source_md(depth):
    assert _ask1_near(depth, "2025-10-10T21:00:00") == pytest.approx(250e6, rel=0.15)
    assert _ask1_near(depth, "2025-10-10T21:20:00") == pytest.approx(67e6, rel=0.15)


def test_calibrate_after_corruption_estimates_bids(depth):
    p = calibrate_depth(depth, "2025-10-10T21:00:00Z", "2025-10-10T21:05:00Z")
    assert p.snapshots == 10  # two per minute
    assert (p.window_start, p.window_end) == ("2025-10-10T21:00:00Z", "2025-10-10T21:05:00Z")
    np.testing.assert_allclose(p.distance, [0.01, 0.02, 0.03, 0.04, 0.05])
    for side in (p.bid_base, p.ask_base, p.bid_notional, p.ask_notional):
        assert side.shape == (5,)
        assert np.all(side > 0)
        assert np.all(np.diff(side) >= 0)
    # The recorded bids read ≈ $2.1 M (the stale bid); the estimate must not.
    assert p.bid_notional[0] > 50e6
    assert "corrupt" in p.method and CORRUPT_BID_FROM in p.method


def test_calibrate_before_corruption_uses_recorded_bids(depth):
    start, end = "2025-10-10T14:00:00Z", "2025-10-10T15:00:00Z"
    p = calibrate_depth(depth, start, end)
    mask = (depth.time_ns >= _ns("2025-10-10T14:00:00")) & (depth.time_ns < _ns("2025-10-10T15:00:00"))
    assert p.snapshots == int(mask.sum())
    recorded = np.median(depth.notional[mask][:, [4, 3, 2, 1, 0]], axis=0)  # bands -1..-5
    np.testing.assert_allclose(p.bid_notional, np.maximum.accumulate(recorded))


def test_calibrate_scales_clean_bids_by_ask_change(depth):
    clean = ("2025-10-10T14:00:00Z", "2025-10-10T15:00:00Z")
    p = calibrate_depth(depth, "2025-10-10T21:00:00Z", "2025-10-10T21:05:00Z", clean_bid_window=clean)

    def medians(lo: str, hi: str) -> np.ndarray:
        mask = (depth.time_ns >= _ns(lo)) & (depth.time_ns < _ns(hi))
        return np.median(depth.notional[mask], axis=0)

    now, before = medians("2025-10-10T21:00:00", "2025-10-10T21:05:00"), medians(*(t[:-1] for t in clean))
    asks, bids = [5, 6, 7, 8, 9], [4, 3, 2, 1, 0]  # columns of bands +1..+5 and -1..-5
    # one factor for the whole bid side: the change of the ask side's total within 5% (band +5)
    ask_total_now = np.maximum.accumulate(now[asks])[-1]
    ask_total_before = np.maximum.accumulate(before[asks])[-1]
    expected = before[bids] * ask_total_now / ask_total_before
    np.testing.assert_allclose(p.ask_notional, np.maximum.accumulate(now[asks]))
    np.testing.assert_allclose(p.bid_notional, np.maximum.accumulate(expected))


def test_calibrate_empty_window(depth):
    with pytest.raises(InputError) as err:
        calibrate_depth(depth, "2025-10-11T00:00:00Z", "2025-10-11T01:00:00Z")
    assert err.value.field == "window"


def test_calibrate_rejects_clean_window_overlapping_corruption(depth):
    with pytest.raises(InputError) as err:
        calibrate_depth(
            depth,
            "2025-10-10T21:00:00Z",
            "2025-10-10T21:05:00Z",
            ("2025-10-10T15:00:00Z", "2025-10-10T16:00:00Z"),
        )
    assert err.value.field == "window"


# ------------------------------------------------------------------------------------------ bad input


def test_non_numeric_price_names_row_and_field(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(HEADER + ROW1 + ROW2.replace("114911.00", "abc"))
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert (err.value.file, err.value.row, err.value.field) == (str(path), 3, "high")
    assert "row 3" in str(err.value) and "'high'" in str(err.value)


def test_non_numeric_without_header_uses_canonical_name(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(ROW1.replace("114561.50", "x"))
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert (err.value.row, err.value.field) == (1, "low")


def test_high_below_low_rejected(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    # high 114500 < low 114561.50 (and below open/close).
    path.write_text(HEADER + ROW1.replace("114878.60", "114500.00"))
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert (err.value.row, err.value.field) == (2, "high")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (ROW1.replace("114571.70", "-1"), "open"),  # price <= 0
        (ROW1.replace("114561.50", "114600.00"), "low"),  # low above open
        (
            ROW1.replace("1760130119999", "1760130179999"),
            "close_time_ms",
        ),  # 2-minute bar after a 1-minute one
        (ROW1.replace(",495.370,", ",900.000,"), "taker_buy_volume_btc"),  # taker buys > volume
        (ROW1.replace("114793.00", "nan"), "close"),
    ],
)
def test_bad_second_row_rejected(tmp_path: pathlib.Path, row: str, field: str):
    path = tmp_path / "k.csv"
    # A valid bar one minute before ROW1, so the bad row is row 3 and only its intended defect trips.
    first = ROW1.replace("1760130060000", "1760130000000").replace("1760130119999", "1760130059999")
    path.write_text(HEADER + first + row)
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert (err.value.row, err.value.field) == (3, field)


def test_open_time_must_increase(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(HEADER + ROW2 + ROW1)
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert (err.value.row, err.value.field) == (3, "open_time_ms")


def test_microsecond_times_rejected(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(
        HEADER + ROW1.replace("1760130060000", "1760130060000000").replace("1760130119999", "1760130119999999")
    )
    with pytest.raises(InputError) as err:
        load_klines(path)
    assert err.value.field == "open_time_ms"


def test_missing_file_raises_input_error(tmp_path: pathlib.Path):
    missing = tmp_path / "nope.csv"
    for loader in (load_klines, load_book_depth):
        with pytest.raises(InputError) as err:
            loader(missing)
        assert err.value.file == str(missing)
    with pytest.raises(InputError):
        packaged_data_path("binance_btcusdt_20251010/nope.csv")


def test_empty_klines_file(tmp_path: pathlib.Path):
    path = tmp_path / "k.csv"
    path.write_text(HEADER)
    with pytest.raises(InputError, match="no data rows"):
        load_klines(path)


def _depth_rows(stamp: str, skip: int | None = None) -> str:
    return "".join(
        f"{stamp},{band},{abs(band) * 10.0},{abs(band) * 1.2e6}\n"
        for band in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
        if band != skip
    )


def test_book_depth_bad_notional_names_row_and_field(tmp_path: pathlib.Path):
    path = tmp_path / "d.csv"
    text = "timestamp,percentage,depth,notional,weighted_avg_price\n" + _depth_rows("2025-10-10 21:00:07")
    path.write_text(text.replace("6000000.0", "oops", 1))  # band -5's notional, on row 2
    with pytest.raises(InputError) as err:
        load_book_depth(path)
    assert (err.value.row, err.value.field) == (2, "notional")


def test_book_depth_bad_band_and_time(tmp_path: pathlib.Path):
    path = tmp_path / "d.csv"
    path.write_text("timestamp,percentage,depth,notional\n2025-10-10 21:00:07,7,1,1\n")
    with pytest.raises(InputError) as err:
        load_book_depth(path)
    assert (err.value.row, err.value.field) == (2, "percentage")
    path.write_text("timestamp,percentage,depth,notional\n2025-10-10 21:00:07,1,1,1\nyesterday,1,1,1\n")
    with pytest.raises(InputError) as err:
        load_book_depth(path)
    assert (err.value.row, err.value.field) == (3, "timestamp")


def test_book_depth_drops_incomplete_snapshot_and_strips_space(tmp_path: pathlib.Path):
    path = tmp_path / "d.csv"
    complete = _depth_rows("2025-10-10 21:00:07").replace("2025-10-10 21:00:07,-1", " 2025-10-10 21:00:07,-1")
    path.write_text("timestamp,percentage,depth,notional\n" + complete + _depth_rows("2025-10-10 21:00:37", skip=3))
    d = load_book_depth(path)
    assert list(d.time_ns) == [_ns("2025-10-10T21:00:07")]
    assert d.notional[0, 9] == 6.0e6  # band +5
