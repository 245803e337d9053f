"""Shared fixtures: a BTCUSDT-like instrument with round numbers (tick 0.1 USDT, lot 0.001 BTC, so one lot
moving one tick is worth 100 money units = 0.0001 USDT)."""

from decimal import Decimal

import pytest

from delever.instruments import Instrument
from delever.tiers import BINANCE_BTCUSDT_2021


@pytest.fixture
def btcusdt() -> Instrument:
    return Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)
