"""The insurance funds of a run: one per instrument, or one fund shared by every instrument.

Which venues pool one fund across symbols (the scenario option ``[insurance_fund] shared = true``):

- dYdX v4: "isolated markets use ``insurance-fund:<perpId>``, cross markets share ``insurance-fund``"
  (../shared/specs/engines.md section 1, ``GetInsuranceFundName``);
- Mango v4: one group insurance vault for the group's markets (engines.md sections 0 and 3);
- Bybit since 2025: grouped insurance pools, "portfolio pools of up to 9 correlated contracts"; a symbol with an
  excessive loss may be moved out into its own pool (../shared/specs/venues.md section 3);
- Binance (old): "one shared fund for all perps except BTCUSDT and ETHUSDT" (venues.md section 1).

Per instrument (the default, ``shared = false``): OKX keeps separate funds per business line and, within a line,
per underlying and settlement currency (venues.md section 4); dYdX's isolated markets and Injective's markets
have their own (engines.md sections 1 and 6).

A shared fund starts with the sum of the configured balances (the scenario's ``insurance_fund.balance`` plus each
extra instrument's ``insurance_fund``): the pool of what the per-instrument funds would hold. Every instrument's
liquidations pay their fees into it and draw their payouts from it, so one instrument's bad debt is paid with
fees another instrument's liquidations brought in. Money is unchanged by pooling: the run's money identity
sums the funds (:meth:`delever.book.Book.total_money`), one balance instead of several.
"""

from __future__ import annotations

import numpy as np


class InsuranceFunds:
    """The run's fund balances and which instrument uses which.

    ``balance`` int64 (F,) money, mutated in place by the engine and its kernels (the kernels take the one-element
    view :meth:`of` of an instrument's fund, so a payout on instrument ``m`` moves the shared balance); ``fund_of``
    int64 (M,) the fund index of each instrument (all 0 when shared, ``m`` otherwise); ``starts`` the funds'
    starting balances (money, (F,)).
    """

    def __init__(self, starts: list[int], shared: bool) -> None:
        """``starts``: each instrument's configured starting balance (money, (M,)); ``shared``: one fund for all
        (starting with their sum) instead of one each."""
        m = len(starts)
        self.shared = bool(shared) and m > 1
        if self.shared:
            self.starts = [int(sum(int(s) for s in starts))]
            self.fund_of = np.zeros(m, dtype=np.int64)
        else:
            self.starts = [int(s) for s in starts]
            self.fund_of = np.arange(m, dtype=np.int64)
        self.balance = np.array(self.starts, dtype=np.int64)

    def of(self, m: int) -> np.ndarray:
        """Instrument ``m``'s fund as a one-element int64 view of :attr:`balance` (writes go to the fund)."""
        f = int(self.fund_of[m])
        return self.balance[f : f + 1]

    def start_of(self, m: int) -> int:
        """Starting balance (money) of instrument ``m``'s fund (the shared one's when shared)."""
        return self.starts[int(self.fund_of[m])]

    def total_series(self, per_instrument: list[np.ndarray]) -> np.ndarray:
        """The sum over the funds of a per-step balance series, from each instrument's series of its own fund
        (``per_instrument`` int64 (T,) each): a shared fund counted once, not once per instrument."""
        firsts = [int(np.flatnonzero(self.fund_of == f)[0]) for f in range(len(self.starts))]
        return np.sum([per_instrument[m] for m in firsts], axis=0)
