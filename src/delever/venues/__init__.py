"""Venue rulebooks, selectable by name: each major venue's margin, liquidation and ADL rules as published
(../shared/specs/venues.md), with every unpublished rule a stated stand-in (see each module's docstring).

``VENUES`` maps a name to its :class:`~delever.venues.rulebook.Rulebook`; :func:`get_venue` looks one up for the
CLI, scenario files and the Python API.
"""

from __future__ import annotations

from ..errors import InputError
from . import binance, bitget, bitmex, bybit, deribit, drift, dydx, generic, hyperliquid, kraken, okx
from .contract import VenueInstrument
from .adl_rules import AdlInputs
from .results import PositionResult
from .rulebook import Rulebook

VENUES: dict[str, Rulebook] = {
    m.RULEBOOK.name: m.RULEBOOK
    for m in (binance, bitmex, bybit, okx, hyperliquid, dydx, drift, deribit, kraken, bitget, generic)
}
"""Rulebooks by name, in the order issue #3 lists them."""


def get_venue(name: str) -> Rulebook:
    """The rulebook called ``name`` (case-insensitive).

    Raises:
        InputError(field="venue"): unknown name; the message lists the known ones.
    """
    rb = VENUES.get(str(name).strip().lower())
    if rb is None:
        raise InputError(f"unknown venue {name!r}; known: {', '.join(VENUES)}", field="venue")
    return rb


__all__ = ["VENUES", "AdlInputs", "PositionResult", "Rulebook", "VenueInstrument", "get_venue"]
