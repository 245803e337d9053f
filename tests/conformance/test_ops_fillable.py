"""Conformance of :func:`delever.operations.fillable_price` (dYdX v4's IOC liquidation limit,
``(PNNV - ABR x SMMR x PMMR) / PS``, ../shared/specs/engines.md section 1,
https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go) on dYdX's own
instruments (BTC-USD: tick 1, MMR 3%; ETH-USD: tick 0.1, MMR 3%; BA 1.0 and SMMR 0.1, ``LiquidationsConfig_Default``).
Each row's arithmetic is in its comment; every row is also checked against the exact-fraction reference.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from ops_accounts import account, inst, pos

from delever.errors import InputError
from delever.fillable_price import fillable_price as fillable_reference
from delever.fillable_price import fillable_price_ticks
from delever.operations import fillable_price

BTC, ETH = inst("dydx", "BTC-USD"), inst("dydx", "ETH-USD")
SOURCE = "engines.md s1 https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go"

ROWS = [
    # (account, symbol, expected limit (quote), TNC, TMMR, PMMR (quote))
    pytest.param(
        # TNC = 500 - 400 = 100, PMMR = TMMR = 99,600 x 3% = 2,988, ABR = 1 - 100/2,988 = 2,888/2,988;
        # D = ABR x 0.1 x 2,988 / 1 = 288.8 -> 99,311.2, a sell rounds up to 99,312
        account("a", "500", pos(BTC, "1", "100000", mark="99600")),
        "BTC-USD", "99312", "100", "2988", "2988",
        id="long-below-mm-sell-rounds-up",
    ),
    pytest.param(
        # TNC = 200 - 400 = -200 <= 0: ABR clamps to 1; D = 0.1 x 2,988 = 298.8 -> 99,301.2, up to 99,302
        account("a", "200", pos(BTC, "1", "100000", mark="99600")),
        "BTC-USD", "99302", "-200", "2988", "2988",
        id="long-bankrupt-abr-clamped-to-1",
    ),
    pytest.param(
        # TNC = 5,000 - 400 = 4,600 >= TMMR 2,988: not liquidatable, ABR 0, the limit is the oracle
        account("a", "5000", pos(BTC, "1", "100000", mark="99600")),
        "BTC-USD", "99600", "4600", "2988", "2988",
        id="healthy-limit-is-the-oracle",
    ),
    pytest.param(
        # short 1 BTC @100,000 marked 100,400: TNC = 500 - 400 = 100, PMMR = 100,400 x 3% = 3,012;
        # D = (1 - 100/3,012) x 0.1 x 3,012 = 291.2 -> 100,691.2, a buy rounds down to 100,691
        account("a", "500", pos(BTC, "-1", "100000", mark="100400")),
        "BTC-USD", "100691", "100", "3012", "3012",
        id="short-below-mm-buy-rounds-down",
    ),
    pytest.param(
        # cross: long 1 BTC @100,000 (mark 98,500, uPnL -1,500, MM 2,955) and short 10 ETH @4,000 (mark 3,900,
        # uPnL +1,000, MM 1,170); TNC = 1,000 - 500 = 500, TMMR = 4,125, ABR = 3,625/4,125;
        # BTC: D = 3,625/4,125 x 0.1 x 2,955 = 259.68 -> 98,240.32, up to 98,241
        account("a", "1000", pos(BTC, "1", "100000", mark="98500"), pos(ETH, "-10", "4000", mark="3900")),
        "BTC-USD", "98241", "500", "4125", "2955",
        id="cross-long-beside-a-short",
    ),
    pytest.param(
        # the same account's ETH short: D = 3,625/4,125 x 0.1 x 1,170 / 10 = 10.28 -> 3,910.28, down to 3,910.2
        account("a", "1000", pos(BTC, "1", "100000", mark="98500"), pos(ETH, "-10", "4000", mark="3900")),
        "ETH-USD", "3910.2", "500", "4125", "1170",
        id="cross-short-beside-a-long",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("acct", "symbol", "limit", "tnc", "tmmr", "pmmr"), ROWS)
def test_fillable_price(acct, symbol, limit, tnc, tmmr, pmmr):
    got = fillable_price(acct, symbol)
    assert got.price == Decimal(limit)
    assert (got.tnc, got.tmmr, got.pmmr) == tuple(int(Decimal(x) * 1_000_000) for x in (tnc, tmmr, pmmr))
    # the engine's integer form equals the exact-fraction reference rounded to the tick
    p = acct.position(symbol)
    i = p.instrument
    ref = fillable_reference(
        Fraction(p.mark) * Fraction(i.tick_size),
        Fraction(p.size) * Fraction(i.lot_size),
        Fraction(got.tnc, 10**6),
        Fraction(got.tmmr, 10**6),
        Fraction(got.pmmr, 10**6),
    )
    expected_ticks = fillable_price_ticks(ref, Fraction(i.tick_size), 1 if p.size > 0 else -1)
    assert got.ticks == (p.mark if got.tnc >= got.tmmr else expected_ticks)


def test_fillable_price_rejects_an_unknown_symbol_and_a_bad_ratio():
    live = account("a", "500", pos(BTC, "1", "100000", mark="99600"))
    with pytest.raises(InputError) as e:
        fillable_price(live, "BTC-USD", bankruptcy_adjustment_ppm=999_999)
    assert e.value.field == "bankruptcy_adjustment_ppm"
    with pytest.raises(InputError) as e:
        fillable_price(live, "ETH-USD")
    assert e.value.field == "symbol"
