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

import importlib.resources
import pathlib

from .book_depth import CORRUPT_BID_FROM, DEPTH_BANDS, BookDepth, load_book_depth
from .depth_profile import DepthProfile, ask_depth_series, calibrate_depth, profile_at_price
from .errors import InputError
from .klines import Klines, load_klines

# The loaders live in klines, book_depth and depth_profile; named here as the market data's API.
__all__ = [
    "CORRUPT_BID_FROM",
    "DEPTH_BANDS",
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
