"""Binance kline files (the index path): one bar a row, read into :class:`Klines` (:mod:`delever.marketdata`)."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from delever.errors import InputError

from .market_csv import is_number, parse_float, parse_int, read_csv_rows

# Plausible epoch-ms range (2010 .. 2100): catches files in seconds or microseconds, which would otherwise
# load silently with a bar length off by 1000x.
_MIN_EPOCH_MS = 1_262_304_000_000


_MAX_EPOCH_MS = 4_102_444_800_000


# Binance kline layout: column position -> canonical name (used in errors when the file has no header).
_KLINE_COLUMNS = {
    0: "open_time",
    1: "open",
    2: "high",
    3: "low",
    4: "close",
    5: "volume",
    6: "close_time",
    9: "taker_buy_volume",
}


_KLINE_MIN_FIELDS = 10


@dataclass(frozen=True)
class Klines:
    """Candles of one instrument: one row per bar, sorted by open time (consecutive bars not required).

    All arrays have shape ``(n_bars,)``; prices are quote currency per base unit, volumes are base units.
    """

    open_time_ms: np.ndarray  # int64, UTC epoch ms of bar start
    bar_ms: int  # bar length in ms: close_time - open_time + 1, the same for every row
    open: np.ndarray  # float64
    high: np.ndarray  # float64
    low: np.ndarray  # float64
    close: np.ndarray  # float64
    volume_base: np.ndarray  # float64, traded base quantity
    taker_buy_base: np.ndarray  # float64, base quantity bought by takers (sells = volume - this)
    source: str  # the path read


def load_klines(path: str | pathlib.Path) -> Klines:
    """Read a Binance-layout kline CSV (with or without a header row) into :class:`Klines`.

    Columns are matched by position, as in Binance Data Vision kline files: 0 open_time (ms), 1 open,
    2 high, 3 low, 4 close, 5 volume (base), 6 close_time (ms), 9 taker_buy_volume (base); the others
    (quote volume, trade count, taker-buy quote volume, ignore) are not read. The first line is a header
    when its first cell is not a number; error messages then use the file's own column names.

    Every row is checked: all read fields numeric and finite, times integer epoch milliseconds, prices > 0,
    low <= high, low <= min(open, close), high >= max(open, close), 0 <= taker_buy_volume <= volume,
    open_time strictly increasing, and close_time - open_time + 1 equal for all rows (that is ``bar_ms``).

    Raises:
        InputError: on the first violation, naming the file, the 1-based row (header = row 1) and the field;
            also if the file is missing, unreadable or has no data rows.
    """
    path = pathlib.Path(path)
    file = str(path)
    names = dict(_KLINE_COLUMNS)
    open_time: list[int] = []
    prices: list[tuple[float, float, float, float]] = []
    volume: list[float] = []
    taker_buy: list[float] = []
    bar_ms: int | None = None

    for row_no, fields in read_csv_rows(path):
        if row_no == 1 and not is_number(fields[0]):
            # Header: keep the file's names for messages, but trust positions (names vary across dumps).
            if len(fields) >= _KLINE_MIN_FIELDS:
                names = {i: fields[i].strip() or names[i] for i in _KLINE_COLUMNS}
            continue
        if len(fields) < _KLINE_MIN_FIELDS:
            raise InputError(
                f"expected at least {_KLINE_MIN_FIELDS} columns in Binance kline layout, got {len(fields)}",
                file=file,
                row=row_no,
            )
        t_open = parse_int(fields[0], file, row_no, names[0])
        o, h, lo, c = (parse_float(fields[i], file, row_no, names[i]) for i in (1, 2, 3, 4))
        vol = parse_float(fields[5], file, row_no, names[5])
        t_close = parse_int(fields[6], file, row_no, names[6])
        buy = parse_float(fields[9], file, row_no, names[9])

        if not _MIN_EPOCH_MS <= t_open < _MAX_EPOCH_MS:
            raise InputError(
                f"must be UTC epoch milliseconds between 2010 and 2100 (got {t_open}; seconds or microseconds?)",
                file=file,
                row=row_no,
                field=names[0],
            )
        if open_time and t_open <= open_time[-1]:
            raise InputError(
                f"must be strictly increasing (got {t_open} after {open_time[-1]})",
                file=file,
                row=row_no,
                field=names[0],
            )
        this_bar = t_close - t_open + 1
        if this_bar <= 0:
            raise InputError(
                f"must be after {names[0]} (got {t_close} <= {t_open})", file=file, row=row_no, field=names[6]
            )
        if bar_ms is None:
            bar_ms = this_bar
        elif this_bar != bar_ms:
            raise InputError(
                f"bar length {this_bar} ms differs from the first row's {bar_ms} ms",
                file=file,
                row=row_no,
                field=names[6],
            )
        for i, value in ((1, o), (2, h), (3, lo), (4, c)):
            if value <= 0:
                raise InputError(f"price must be > 0 (got {value})", file=file, row=row_no, field=names[i])
        if h < lo:
            raise InputError(f"high {h} is below low {lo}", file=file, row=row_no, field=names[2])
        if lo > min(o, c):
            raise InputError(f"low {lo} is above min(open, close) = {min(o, c)}", file=file, row=row_no, field=names[3])
        if h < max(o, c):
            raise InputError(f"high {h} is below max(open, close) = {max(o, c)}", file=file, row=row_no, field=names[2])
        if vol < 0:
            raise InputError(f"must be >= 0 (got {vol})", file=file, row=row_no, field=names[5])
        if not 0 <= buy <= vol:
            raise InputError(
                f"must lie in [0, {names[5]}] = [0, {vol}] (got {buy})", file=file, row=row_no, field=names[9]
            )
        open_time.append(t_open)
        prices.append((o, h, lo, c))
        volume.append(vol)
        taker_buy.append(buy)

    if bar_ms is None:
        raise InputError("no data rows", file=file)
    ohlc = np.array(prices, dtype=np.float64)
    return Klines(
        open_time_ms=np.array(open_time, dtype=np.int64),
        bar_ms=bar_ms,
        open=ohlc[:, 0].copy(),
        high=ohlc[:, 1].copy(),
        low=ohlc[:, 2].copy(),
        close=ohlc[:, 3].copy(),
        volume_base=np.array(volume, dtype=np.float64),
        taker_buy_base=np.array(taker_buy, dtype=np.float64),
        source=file,
    )
