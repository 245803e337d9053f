"""The order book's depth profile for one time window, calibrated from a :class:`~delever.book_depth.BookDepth`
(:func:`calibrate_depth`), carried to another price level (:func:`profile_at_price`), and the ask depth over
time (:func:`ask_depth_series`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from delever.errors import InputError

from .book_depth import CORRUPT_BID_FROM, BookDepth
from .market_csv import iso_utc, parse_utc, to_ns


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
        lo, hi = to_ns(parse_utc(start)), to_ns(parse_utc(end))
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
            f"no bookDepth snapshot in {what} [{iso_utc(lo)}, {iso_utc(hi)})",
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
    corrupt_ns = to_ns(parse_utc(CORRUPT_BID_FROM))
    window_text = f"[{iso_utc(lo)}, {iso_utc(hi)})"

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
            f"the per-band median of {c_count} clean snapshots in [{iso_utc(c_lo)}, {iso_utc(c_hi)}) "
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
        window_start=iso_utc(lo),
        window_end=iso_utc(hi),
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
