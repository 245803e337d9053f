"""Binance Data Vision ``bookDepth`` files: snapshots of cumulative resting depth within +-1..+-5 % of the reference
price, read into :class:`BookDepth` (:mod:`delever.marketdata`). The bid side is corrupt from
:data:`CORRUPT_BID_FROM` (a stale crossed bid; :func:`delever.depth_profile.calibrate_depth` works around it)."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from delever.errors import InputError

from .market_csv import parse_float, parse_int, parse_utc, read_csv_rows, to_ns

#: First bookDepth snapshot whose bid side is corrupt (a stale bid at ≈121,363.66 above the ask; SOURCE.md).
CORRUPT_BID_FROM = "2025-10-10T15:30:42Z"


#: The bookDepth band labels, in the order of the columns of :attr:`BookDepth.depth_base`: bids then asks.
DEPTH_BANDS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)


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

    for row_no, fields in read_csv_rows(path):
        stamp = fields[0].strip()
        if row_no == 1:
            try:
                parse_utc(stamp)
            except ValueError:
                if len(fields) >= len(names):
                    names = [f.strip() or n for f, n in zip(fields, names)]
                continue
        if len(fields) < 4:
            raise InputError(f"expected at least 4 columns, got {len(fields)}", file=file, row=row_no)
        t_ns = parsed_times.get(stamp)
        if t_ns is None:
            try:
                t_ns = to_ns(parse_utc(stamp))
            except ValueError:
                raise InputError(
                    f"must be a UTC time like 2025-10-10 21:00:07 (got {fields[0]!r})",
                    file=file,
                    row=row_no,
                    field=names[0],
                ) from None
            parsed_times[stamp] = t_ns
        band = parse_int(fields[1], file, row_no, names[1])
        if band not in band_index:
            raise InputError(f"must be one of {list(DEPTH_BANDS)} (got {band})", file=file, row=row_no, field=names[1])
        base = parse_float(fields[2], file, row_no, names[2])
        quote = parse_float(fields[3], file, row_no, names[3])
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
