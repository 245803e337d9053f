"""The maintenance requirement of one position under the scenario's margin rule, as the kernels compute it.

The engine's default (Binance, ../shared/specs/venues.md section 1): the tier of the position's notional at the
mark, ``MM = ceil(notional x MMR) - cum``, liquidation when equity < MM. A scenario can select, per
:class:`delever.config.margin.MarginConfig` and the instrument's tiers (:mod:`delever.tiers`):

- **entry value** (``[margin] maintenance_value_isolated`` / ``maintenance_value_cross = "entry"``): the MM is
  taken on the position's entry value ``|cost|`` (the sum of its open lots' ``lots x entry x V``), not on its
  notional at the mark. BitMEX's inverse liquidation price ``LP = EP / (1 + IM - MM)`` fixes the MM at entry
  (venues.md section 2, [3P] BitMEX support); Bybit's isolated ``LP_long = EP - (IM - MM) / size`` with ``MM =
  PV x MMR - deduction`` at entry (section 3, TV-14, TV-19). The tier is the entry value's (or the size's).
- **size tiers** and the **size-linear rate** (:attr:`delever.tiers.RiskTiers.basis`, ``rate_per_lot``): OKX,
  BitMEX, Deribit (:mod:`delever.tiers` docstring).
- the **fee rate added to the MMR** (``[margin] mmr_fee_rate``) is folded into the instrument's tier table
  (:meth:`delever.tiers.RiskTiers.with_added_rate`) before the run, so it needs nothing here.

Rounding: the requirement rounds up (against the account), as the default's. The ADL ranking's MM (Binance's and
Bitget's scores, :func:`delever.adl.queue.adl_pool`) is the counterparty's notional at the mark on its tier basis
with the size rate, whatever ``[margin]`` says: the scores rank by margin ratio at the mark.
"""

from __future__ import annotations

from numba import njit

from .columns import KERNEL
from .margin import maintenance_margin_compiled, tier_requirement_compiled

ENTRY_ISOLATED = 1
"""``mm_entry`` bit: isolated positions' MM on their entry value."""
ENTRY_CROSS = 2
"""``mm_entry`` bit: cross positions' MM on their entry value."""


@njit(**KERNEL)
def position_requirement(s: int, cost: int, px: int, v: int, isolated: bool, m: int, val) -> int:
    """MM (money, rounded up) of a position of ``s`` lots (signed), entry value ``cost`` (money, signed), on
    instrument ``m`` at ``px`` ticks (``v`` money per lot-tick), isolated or cross, under the rule of ``val``
    (a :class:`delever.columns.AccountValuation`; module docstring)."""
    lots = s if s > 0 else -s
    if val.general == 0:
        return maintenance_margin_compiled(lots * px * v, m, val.floors, val.mmr, val.cum, val.n_tiers[m])
    on_entry = val.mm_entry & (ENTRY_ISOLATED if isolated else ENTRY_CROSS)
    value = (cost if cost > 0 else -cost) if on_entry else lots * px * v
    return tier_requirement_compiled(
        value, lots, val.floors[m], val.mmr[m], val.cum[m], val.n_tiers[m], val.tier_basis[m], val.rate_per_lot[m]
    )
