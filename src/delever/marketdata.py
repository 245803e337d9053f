"""Loaders for the real market data that calibrates the default scenario.

Two public Binance data sets are packaged under ``delever/data/binance_btcusdt_20251010/`` (provenance,
licence and caveats in that folder's ``SOURCE.md``):

* 1-minute klines of the BTCUSDT USDⓈ-M perpetual, 10 Oct 2025 21:01 → 23:10 UTC (the crash), read by
  :func:`load_klines` into :class:`Klines`;
* Binance Data Vision ``bookDepth`` snapshots (every ~30 s, cumulative resting depth within ±1…±5 % of the
  reference price), 12:00 → 23:59 UTC, read by :func:`load_book_depth` into :class:`BookDepth` and
  summarised for one time window by :func:`calibrate_depth` into a :class:`DepthProfile`.

The bookDepth bid side is corrupt from ``CORRUPT_BID_FROM`` (a stale crossed bid); :func:`calibrate_depth`
documents and applies the work-around.

Units: prices and notionals in quote currency (USDT), quantities in base currency (BTC), times in UTC epoch
milliseconds (klines) or nanoseconds (depth). Every problem with an input raises
:class:`delever.errors.InputError` naming the file, the 1-based row (the header is row 1) and the field.
"""

from __future__ import annotations

import csv
import importlib.resources
import math
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from delever.errors import InputError

__all__ = [
    "CORRUPT_BID_FROM",
    "BookDepth",
    "DepthProfile",
    "Klines",
    "ask_depth_series",
    "calibrate_depth",
    "load_book_depth",
    "load_klines",
    "packaged_data_path",
    "profile_at_price",
]

#: First bookDepth snapshot whose bid side is corrupt (a stale bid at ≈121,363.66 above the ask; SOURCE.md).
CORRUPT_BID_FROM = "2025-10-10T15:30:42Z"

#: The bookDepth band labels, in the order of the columns of :attr:`BookDepth.depth_base`: bids then asks.
DEPTH_BANDS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)

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


def packaged_data_path(name: str) -> pathlib.Path:
    """Path of a data file shipped inside the package, e.g. ``"binance_btcusdt_20251010/BTCUSDT-...csv"``.

    ``name`` is relative to ``delever/data/`` and uses ``/`` separators. The package must be installed as
    files on disk (a normal or editable install), which is how delever is distributed.

    Raises:
        InputError: (field ``"name"``) if no such file is packaged.
    """
    resource = importlib.resources.files("delever").joinpath("data", *name.split("/"))
    path = pathlib.Path(str(resource))
    if not path.is_file():
        raise InputError(f"no packaged data file {name!r} (looked for {path})", file=str(path), field="name")
    return path


# --------------------------------------------------------------------------------------------------- klines


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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv_rows(path: pathlib.Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based row number, fields) for every non-blank line of a CSV file."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", file=str(path)) from None
    with handle:
        try:
            for row_no, fields in enumerate(csv.reader(handle), start=1):
                if fields and any(f.strip() for f in fields):
                    yield row_no, fields
        except (UnicodeDecodeError, csv.Error) as err:
            raise InputError(f"not a readable CSV file: {err}", file=str(path)) from None


def _parse_float(text: str, file: str, row: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"must be a number (got {text!r})", file=file, row=row, field=field) from None
    if not math.isfinite(value):
        raise InputError(f"must be finite (got {text!r})", file=file, row=row, field=field)
    return value


def _parse_int(text: str, file: str, row: int, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InputError(f"must be an integer (got {text!r})", file=file, row=row, field=field) from None


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

    for row_no, fields in _read_csv_rows(path):
        if row_no == 1 and not _is_number(fields[0]):
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
        t_open = _parse_int(fields[0], file, row_no, names[0])
        o, h, lo, c = (_parse_float(fields[i], file, row_no, names[i]) for i in (1, 2, 3, 4))
        vol = _parse_float(fields[5], file, row_no, names[5])
        t_close = _parse_int(fields[6], file, row_no, names[6])
        buy = _parse_float(fields[9], file, row_no, names[9])

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


# ------------------------------------------------------------------------------------------------ bookDepth


@dataclass(frozen=True)
class BookDepth:
    """Binance ``bookDepth`` snapshots: cumulative resting depth within ±1…±5 % of the reference price.

    Column ``j`` of the 2-D arrays is band ``percentage[j]``; negative bands are bids, positive asks.
    A band's value is cumulative: band -3 includes everything in bands -1 and -2.
    """

    time_ns: np.ndarray  # int64 (n_snapshots,), UTC epoch ns, strictly increasing
    percentage: np.ndarray  # int64 (10,), the band labels -5..-1, 1..5 in this order
    depth_base: np.ndarray  # float64 (n_snapshots, 10), cumulative base quantity within the band
    notional: np.ndarray  # float64 (n_snapshots, 10), cumulative quote notional within the band
    source: str  # the path read


def _parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 time; a time without an offset is taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _to_ns(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp() would lose sub-microsecond exactness at 1e18 ns.
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _iso_utc(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_book_depth(path: str | pathlib.Path) -> BookDepth:
    """Read a Binance Data Vision ``bookDepth`` CSV into :class:`BookDepth`.

    Columns by position: 0 timestamp (UTC, ``YYYY-MM-DD HH:MM:SS``; leading spaces, which some rows have,
    are stripped), 1 percentage (an integer band label in -5..-1, 1..5), 2 depth (cumulative base quantity),
    3 notional (cumulative quote); further columns (weighted_avg_price) are ignored. A header row is
    recognised by a first cell that is not a time. Rows are grouped by timestamp into snapshots, sorted by
    time; a snapshot that lacks any of the ten bands is dropped (Binance occasionally writes partial ones).

    Raises:
        InputError: naming row and field for a bad time, a non-integer or unknown band, a repeated band within
            one snapshot, or a depth/notional that is not a finite number >= 0; also for a missing or
            unreadable file or one without a complete snapshot.
    """
    path = pathlib.Path(path)
    file = str(path)
    band_index = {band: j for j, band in enumerate(DEPTH_BANDS)}
    names = ["timestamp", "percentage", "depth", "notional"]
    snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    parsed_times: dict[str, int] = {}  # many rows share a timestamp: parse each once

    for row_no, fields in _read_csv_rows(path):
        stamp = fields[0].strip()
        if row_no == 1:
            try:
                _parse_utc(stamp)
            except ValueError:
                if len(fields) >= len(names):
                    names = [f.strip() or n for f, n in zip(fields, names)]
                continue
        if len(fields) < 4:
            raise InputError(f"expected at least 4 columns, got {len(fields)}", file=file, row=row_no)
        t_ns = parsed_times.get(stamp)
        if t_ns is None:
            try:
                t_ns = _to_ns(_parse_utc(stamp))
            except ValueError:
                raise InputError(
                    f"must be a UTC time like 2025-10-10 21:00:07 (got {fields[0]!r})",
                    file=file,
                    row=row_no,
                    field=names[0],
                ) from None
            parsed_times[stamp] = t_ns
        band = _parse_int(fields[1], file, row_no, names[1])
        if band not in band_index:
            raise InputError(f"must be one of {list(DEPTH_BANDS)} (got {band})", file=file, row=row_no, field=names[1])
        base = _parse_float(fields[2], file, row_no, names[2])
        quote = _parse_float(fields[3], file, row_no, names[3])
        for value, field in ((base, names[2]), (quote, names[3])):
            if value < 0:
                raise InputError(f"must be >= 0 (got {value})", file=file, row=row_no, field=field)
        if t_ns not in snapshots:
            snapshots[t_ns] = (np.full(len(DEPTH_BANDS), np.nan), np.full(len(DEPTH_BANDS), np.nan))
        base_row, quote_row = snapshots[t_ns]
        j = band_index[band]
        if not np.isnan(base_row[j]):
            raise InputError(f"band {band} appears twice in snapshot {stamp}", file=file, row=row_no, field=names[1])
        base_row[j] = base
        quote_row[j] = quote

    complete = sorted(t for t, (b, _) in snapshots.items() if not np.isnan(b).any())
    if not complete:
        raise InputError("no complete snapshot (all ten bands -5..-1, 1..5 at one timestamp)", file=file)
    return BookDepth(
        time_ns=np.array(complete, dtype=np.int64),
        percentage=np.array(DEPTH_BANDS, dtype=np.int64),
        depth_base=np.stack([snapshots[t][0] for t in complete]),
        notional=np.stack([snapshots[t][1] for t in complete]),
        source=file,
    )


@dataclass(frozen=True)
class DepthProfile:
    """Cumulative resting depth of one moment, per side, at distances 1 %..5 % from the reference price.

    Every array has shape ``(5,)`` and entry ``k`` is the depth within ``distance[k]``; each side is
    non-decreasing in distance. Quantities are base units, notionals quote currency.
    """

    distance: np.ndarray  # float64 (5,) = [0.01, 0.02, 0.03, 0.04, 0.05]
    bid_base: np.ndarray  # float64 (5,) cumulative base quantity within distance on the bid side
    ask_base: np.ndarray  # float64 (5,)
    bid_notional: np.ndarray  # float64 (5,) quote
    ask_notional: np.ndarray  # float64 (5,)
    window_start: str  # ISO UTC start of the averaging window (inclusive)
    window_end: str  # ISO UTC end of the averaging window (exclusive)
    snapshots: int  # snapshots averaged
    method: str  # how the profile was obtained (for the report's inputs section)


def _window_ns(start: str, end: str, what: str) -> tuple[int, int]:
    try:
        lo, hi = _to_ns(_parse_utc(start)), _to_ns(_parse_utc(end))
    except ValueError:
        raise InputError(
            f"{what} must be ISO-8601 UTC times like 2025-10-10T21:00:00Z (got {start!r}, {end!r})",
            field="window",
        ) from None
    if hi <= lo:
        raise InputError(f"{what} must end after it starts (got {start} .. {end})", field="window")
    return lo, hi


def _window_medians(depth: BookDepth, lo: int, hi: int, what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-band medians of base depth and notional over snapshots in [lo, hi)."""
    mask = (depth.time_ns >= lo) & (depth.time_ns < hi)
    count = int(mask.sum())
    if count == 0:
        raise InputError(
            f"no bookDepth snapshot in {what} [{_iso_utc(lo)}, {_iso_utc(hi)})",
            file=depth.source,
            field="window",
        )
    # Median, not mean: single snapshots swing several-fold when a large order is placed or pulled.
    return np.median(depth.depth_base[mask], axis=0), np.median(depth.notional[mask], axis=0), count


def _side(values: np.ndarray, bands: tuple[int, ...], percentage: np.ndarray) -> np.ndarray:
    cols = [int(np.flatnonzero(percentage == b)[0]) for b in bands]
    return values[cols]


def calibrate_depth(
    depth: BookDepth,
    start: str,
    end: str,
    clean_bid_window: tuple[str, str] = ("2025-10-10T13:00:00Z", "2025-10-10T15:30:00Z"),
) -> DepthProfile:
    """Typical cumulative depth per side over the window ``[start, end)`` (ISO-8601 UTC times).

    Ask side: per-band median over the snapshots in the window. Bid side: the same, if the window ends at or
    before :data:`CORRUPT_BID_FROM`. Otherwise the recorded bids are unusable (a stale crossed bid distorts
    every bid band), so each bid band is estimated as its median over ``clean_bid_window`` (which must end
    by :data:`CORRUPT_BID_FROM`) times the ratio of the window's to the clean window's median
    total ask depth within 5% (one factor for the whole side, which keeps the clean bid shape), i.e. both sides
    are assumed to have thinned in the same proportion. Base quantities are scaled by the ask base ratio and
    notionals by the ask notional ratio. Per-band medians of cumulative
    bands need not be monotone, so each side is made non-decreasing in distance with a running maximum.

    Raises:
        InputError: (field ``"window"``) for an unparsable or empty window, a clean window that overlaps the
            corrupt period, or a window holding no snapshot.
    """
    lo, hi = _window_ns(start, end, "window")
    ask_bands, bid_bands = (1, 2, 3, 4, 5), (-1, -2, -3, -4, -5)
    pct = depth.percentage
    base, notional, count = _window_medians(depth, lo, hi, "window")
    ask_base, ask_notional = _side(base, ask_bands, pct), _side(notional, ask_bands, pct)
    corrupt_ns = _to_ns(_parse_utc(CORRUPT_BID_FROM))
    window_text = f"[{_iso_utc(lo)}, {_iso_utc(hi)})"

    if hi <= corrupt_ns:
        bid_base, bid_notional = _side(base, bid_bands, pct), _side(notional, bid_bands, pct)
        method = (
            f"Binance bookDepth, per-band median of {count} snapshots in {window_text} on both sides; the "
            f"window ends before the corrupt bid side (stale crossed bid from {CORRUPT_BID_FROM}), so bids "
            "are as recorded."
        )
    else:
        c_lo, c_hi = _window_ns(*clean_bid_window, "clean_bid_window")
        if c_hi > corrupt_ns:
            raise InputError(
                f"clean_bid_window must end by {CORRUPT_BID_FROM}, when the recorded bids become corrupt",
                field="window",
            )
        c_base, c_notional, c_count = _window_medians(depth, c_lo, c_hi, "clean_bid_window")
        # One factor for the whole side (the ratio of total ask depth within 5%) keeps the clean window's
        # bid shape; band-by-band ratios would flatten it, as the ask side thickened near the price but
        # thinned further out between the two windows.
        clean_ask_base, clean_ask_notional = _side(c_base, ask_bands, pct), _side(c_notional, ask_bands, pct)
        base_ratio = ask_base[-1] / clean_ask_base[-1] if clean_ask_base[-1] > 0 else 1.0
        notional_ratio = ask_notional[-1] / clean_ask_notional[-1] if clean_ask_notional[-1] > 0 else 1.0
        bid_base = _side(c_base, bid_bands, pct) * base_ratio
        bid_notional = _side(c_notional, bid_bands, pct) * notional_ratio
        method = (
            f"Binance bookDepth: asks are the per-band median of {count} snapshots in {window_text}. "
            f"The recorded bid side is corrupt from {CORRUPT_BID_FROM} (stale crossed bid), so bids are "
            f"the per-band median of {c_count} clean snapshots in [{_iso_utc(c_lo)}, {_iso_utc(c_hi)}) "
            "scaled by one factor, the change of total ask depth within 5% between the two windows (both "
            "sides assumed to thin in the same proportion)."
        )

    # Cumulative depth cannot shrink with distance, but band-by-band medians (and, after scaling by
    # per-band ratios, the bid estimate) can.
    return DepthProfile(
        distance=np.array([0.01, 0.02, 0.03, 0.04, 0.05]),
        bid_base=np.maximum.accumulate(bid_base),
        ask_base=np.maximum.accumulate(ask_base),
        bid_notional=np.maximum.accumulate(bid_notional),
        ask_notional=np.maximum.accumulate(ask_notional),
        window_start=_iso_utc(lo),
        window_end=_iso_utc(hi),
        snapshots=count,
        method=method + " Each side is made non-decreasing in distance (running maximum).",
    )


def profile_at_price(profile: DepthProfile, price: float) -> DepthProfile:
    """The same resting quote notional per band, as base quantities at ``price`` (quote per base): ``base =
    notional / price``. A depth shape recorded at one price level carries to another in USD terms (a
    bookDepth of October 2025 at ~121,000 USDT moved to March 2020's ~7,900 holds the same dollars, ~15x the
    BTC), rather than in BTC terms (the same BTC, ~15x fewer dollars).

    Raises:
        InputError: (field ``"price"``) a price that is not a finite number > 0.
    """
    if not (math.isfinite(price) and price > 0):
        raise InputError(f"price must be a finite number > 0 (got {price})", field="price")
    bid_base = np.asarray(profile.bid_notional, dtype=np.float64) / price
    ask_base = np.asarray(profile.ask_notional, dtype=np.float64) / price
    return DepthProfile(
        distance=profile.distance,
        bid_base=bid_base,
        ask_base=ask_base,
        bid_notional=profile.bid_notional,
        ask_notional=profile.ask_notional,
        window_start=profile.window_start,
        window_end=profile.window_end,
        snapshots=profile.snapshots,
        method=profile.method + f" Converted to base at {price:,.2f} per base, keeping each band's quote notional.",
    )


def ask_depth_series(depth: BookDepth, band: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Time series of the ask side's cumulative notional within ``band`` % of the reference price.

    Returns ``(time_ns, notional)``, both shape ``(n_snapshots,)`` (int64 UTC epoch ns, float64 quote), for
    calibrating how fast market makers withdrew. Ask bands stay usable after :data:`CORRUPT_BID_FROM`, though
    the distorted reference price makes them approximate (see SOURCE.md).

    Raises:
        InputError: (field ``"band"``) if ``band`` is not one of 1..5.
    """
    matches = np.flatnonzero(depth.percentage == band)
    if band not in (1, 2, 3, 4, 5) or matches.size == 0:
        raise InputError(f"ask band must be one of 1..5 (got {band})", file=depth.source, field="band")
    return depth.time_ns.copy(), depth.notional[:, int(matches[0])].copy()
