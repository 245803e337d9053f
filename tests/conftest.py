"""Shared fixtures: a BTCUSDT-like instrument with round numbers (tick 0.1 USDT, lot 0.001 BTC, so one lot
moving one tick is worth 100 money units = 0.0001 USDT)."""

from decimal import Decimal

import pytest

from delever.instruments import Instrument
from delever.tiers import BINANCE_BTCUSDT_2021


@pytest.fixture
def btcusdt() -> Instrument:
    return Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), BINANCE_BTCUSDT_2021)


# CI runs from a clean clone with no example database: derandomize so a run is reproducible (hypothesis then
# draws its examples from a fixed seed per test), as every other result of this project is.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
