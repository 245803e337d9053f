"""The packaged replays of real crashes: scenarios shipped in ``delever/data/scenarios`` whose price path (and,
for Hyperliquid, book) comes from the day itself, run by ``delever replay NAME`` or ``delever run NAME``.

Each replay's report carries its stylised facts (:mod:`delever.facts`); where the project's data holds the
real figures of the day (Hyperliquid, 10 October 2025), the report puts them beside the replay's, each traced
to its file (:mod:`delever.hyperliquid_book`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class Replay:
    """A packaged replay: its name (the scenario's), scenario file under ``delever/data/scenarios`` and a
    one-line account of what is real in it."""

    name: str
    scenario: str
    real: str


REPLAYS: tuple[Replay, ...] = (
    Replay(
        "binance-btcusdt-2020-03-12",
        "binance-btcusdt-2020-03-12.toml",
        "Binance BTCUSDT 1-minute prices, 12 Mar 2020 08:51 to 13 Mar 03:12 UTC (16:04-22:25 missing: a line)",
    ),
    Replay(
        "binance-btcusdt-2021-05-19",
        "binance-btcusdt-2021-05-19.toml",
        "Binance BTCUSDT 1-minute prices, 19 May 2021 10:46-15:15 UTC",
    ),
    Replay(
        "binance-btcusdt-2025-10-10",
        "binance-btcusdt-2025-10-10.toml",
        "Binance BTCUSDT 1-minute prices and bookDepth, 10 Oct 2025 21:01-23:11 UTC (the default scenario)",
    ),
    Replay(
        "hyperliquid-btc-2025-10-10",
        "hyperliquid-btc-2025-10-10.toml",
        "Hyperliquid BTC positions touched on 10 Oct 2025 21:15-21:27 UTC (book), Binance BTCUSDT prices of the day",
    ),
)
"""Every packaged replay, in date order of the crash."""


def replay_names() -> list[str]:
    """Names of the packaged replays."""
    return [r.name for r in REPLAYS]


def replay_path(name: str) -> Path:
    """The scenario file of the packaged replay ``name``.

    Raises:
        InputError: (field ``NAME``) an unknown name, listing the known ones.
    """
    from .marketdata import packaged_data_path

    for r in REPLAYS:
        if r.name == name:
            return packaged_data_path(f"scenarios/{r.scenario}")
    raise InputError(f"no packaged replay {name!r}; known: {', '.join(replay_names())}", field="NAME")


def scenario_argument(arg: Path | None) -> Path | None:
    """``delever run``'s argument: a packaged replay's name stands for its scenario file when no file of that
    name exists."""
    if arg is None or arg.exists() or str(arg) not in replay_names():
        return arg
    return replay_path(str(arg))
