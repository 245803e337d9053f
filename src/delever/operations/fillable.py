"""dYdX v4's fillable price of one position inside an account: the limit of its IOC liquidation order.

The formula is :mod:`delever.fillable_price` (``(PNNV - ABR x SMMR x PMMR) / PS``, ../shared/specs/engines.md
section 1, https://github.com/dydxprotocol/v4-chain/blob/84d4664/protocol/x/clob/keeper/liquidations.go); the
account's inputs come from the liquidation stage's own health kernel (:func:`delever.sweep.account_health`): ``TNC``
the account's net collateral (an isolated position's margin plus its uPnL), ``TMMR`` the maintenance margin of its
cross positions (an isolated position's own), ``PMMR`` the position's own maintenance margin, all at the marks given.
This module only selects the position and reports; the IOC stage (:mod:`delever.ioc_order`) computes the same limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..fillable_price import adjusted_bankruptcy_rating, fillable_limit_ticks
from ..margin import BACKING_WHOLE_ACCOUNT
from ..sweep import account_health
from ..units import PPM
from .state import AccountState, Market, check_int


@dataclass(frozen=True)
class FillablePrice:
    """The fillable price of one position.

    Attributes:
        symbol: the position's instrument.
        ticks: the IOC's limit in ticks: ``mark - floor(D)`` for a long (a sell), ``mark + floor(D)`` for a short,
            ``D = ABR x SMMR x PMMR / (|size| x V)`` ticks; the mark itself when the account is not below MM.
        price: the venue's price of ``ticks`` (``ticks x tick_size`` in quote units; an inverse contract's USD
            price, :meth:`~delever.instruments.Instrument.venue_price`).
        tnc: the account's total net collateral, money units.
        tmmr: its total maintenance margin, money units.
        pmmr: the position's own maintenance margin, money units.
        abr: the adjusted bankruptcy rating ``clamp(BA x (1 - TNC / TMMR), 0, 1)`` (0 when ``TMMR`` is 0).
    """

    symbol: str
    ticks: int
    price: Decimal
    tnc: int
    tmmr: int
    pmmr: int
    abr: Fraction


def fillable_price(
    account: AccountState,
    symbol: str,
    *,
    bankruptcy_adjustment_ppm: int = PPM,
    spread_to_mmr_ppm: int = PPM // 10,
) -> FillablePrice:
    """The fillable price of ``account``'s position on ``symbol`` at its mark (module docstring).

    Args:
        account: the account, every position at its mark (ticks).
        symbol: the position's instrument symbol.
        bankruptcy_adjustment_ppm: ``BA`` in ppm, >= 1,000,000 (dYdX's default 1.0).
        spread_to_mmr_ppm: ``SMMR`` in ppm, >= 0 (dYdX's default 0.1).

    Raises:
        InputError: no position on ``symbol`` or a flat one (field ``symbol``), a ratio out of range (its field).

    Example (engines.md section 1 with BA 1, SMMR 0.1): wallet 500 USDT, long 1 BTC @100,000 marked 99,600 at an
    MMR of 1%: TNC = 500 - 400 = 100, TMMR = PMMR = 996, ABR = 1 - 100/996 = 896/996, so the limit is
    ``99,600 - 896/996 x 0.1 x 996 = 99,510.4``, 99,511 in whole dollar ticks (a sell rounds up).
    """
    check_int(bankruptcy_adjustment_ppm, "bankruptcy_adjustment_ppm", minimum=PPM)
    check_int(spread_to_mmr_ppm, "spread_to_mmr_ppm", minimum=0)
    i = account.index(symbol)
    pos = account.positions[i]
    if pos.size == 0:
        raise InputError(f"{account.name}'s {symbol} position is flat: it has no fillable price", field="symbol")
    market = Market.of([account])
    order = np.array([market.position_of[0][i]], dtype=np.int64)
    tnc, tmmr, pmmr = (np.zeros(1, dtype=np.int64) for _ in range(3))
    account_health(order, market.cols(), market.valuation(BACKING_WHOLE_ACCOUNT), tnc, tmmr, pmmr)
    tnc_, tmmr_, pmmr_ = int(tnc[0]), int(tmmr[0]), int(pmmr[0])
    v = pos.instrument.value_per_lot_tick
    ticks = fillable_limit_ticks(
        pos.mark, pos.size, v, tnc_, tmmr_, pmmr_, bankruptcy_adjustment_ppm, spread_to_mmr_ppm
    )
    ba = Fraction(bankruptcy_adjustment_ppm, PPM)
    abr = adjusted_bankruptcy_rating(Fraction(tnc_), Fraction(tmmr_), ba) if tmmr_ > 0 else Fraction(0)
    return FillablePrice(symbol, ticks, pos.instrument.venue_price(ticks), tnc_, tmmr_, pmmr_, abr)
