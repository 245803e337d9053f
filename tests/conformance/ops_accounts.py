"""Named instruments and account builders for the single-operation conformance tables (tests/conformance), in quote
units as the venues' examples state them; :mod:`delever.operations` takes integer money, lots and ticks.

Instruments are the venues' own engine instruments (:meth:`delever.venues.rulebook.Rulebook.instrument`) where the
engine can model the contract (linear, bracket tiers); BitMEX's and OKX's are inverse or non-bracket contracts, so
their rows use :data:`GENERIC_BTC` (Binance's BTCUSDT 2021 brackets, tick 0.1, lot 0.001), which the operations
under test do not read beyond its tick, lot and tiers.
"""

from __future__ import annotations

from decimal import Decimal

from delever.instruments import Instrument
from delever.operations import AccountState, PositionState
from delever.tiers import BINANCE_BTCUSDT_2021
from delever.units import money
from delever.venues import get_venue

GENERIC_BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)


def inst(venue: str, symbol: str) -> Instrument:
    """The venue's engine instrument ``symbol``."""
    return get_venue(venue).instrument(symbol)


def pos(instrument: Instrument, size: str, entry: str, mark: str | None = None, isolated: str | None = None):
    """A position from quote units (size in base, prices and margin in quote)."""
    return PositionState.of(instrument, size, entry, mark=mark, isolated_margin=isolated)


def account(name: str, wallet: str, *positions: PositionState) -> AccountState:
    """An account named ``name`` with a cross wallet of ``wallet`` quote."""
    return AccountState(money(wallet), positions, name)


def usd(x: str | int) -> int:
    """Quote units to money units."""
    return money(x)


def ticks(instrument: Instrument, price: str) -> int:
    """A quote price on the tick to ticks."""
    return instrument.price_to_ticks(price)
