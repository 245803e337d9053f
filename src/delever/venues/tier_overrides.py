"""A venue contract's margin schedule in the scenario's tier representation (``[instrument]`` ``tiers``,
``tier_basis``, ``maintenance_amount``, ``rate_per_size``: :class:`delever.config.market.InstrumentConfig`), so
that ``delever run --venue NAME`` runs the venue's table (:meth:`delever.venues.bridge.EngineBridge.
scenario_overrides`). Each schedule of :mod:`delever.venues.margin_models`:

- :class:`BracketMargin` (Binance, Bybit, Hyperliquid, dYdX, Drift, Bitget): notional brackets, caps in quote
  units, the maintenance amount ``derived`` (Binance's cum) or ``none`` (Bitget: ``MM = tier MMR x PV``,
  venues.md section 8). A linear contract only: an inverse bracket table's caps are in coin (Bybit BTCUSD).
- :class:`SizeBracketMargin` (OKX, TV-15): size brackets; a cap of ``n`` lots is ``n x lot_size`` base units
  (OKX: one contract a lot, 0.01 BTC), inclusive, no maintenance amount.
- :class:`StepMargin` (BitMEX, TV-24): ``MMR = baseMM + k x step rate``, ``IMR = baseIM + k x step rate`` for
  ``k = 0 .. max_steps``, caps ``base + k x step``, as notional tiers: XBTUSD's limits are position values in XBT,
  which is what an inverse contract's notional is in the engine (:mod:`delever.inverse`: ``contracts x q``, in
  µXBT), a linear contract's (ETHUSDT) in the quote. No maintenance amount (the MMR applies to the whole value).
- :class:`SizeLinearMargin` (Deribit, TV-25): one notional tier at the base rates (``MM = 1%``, ``IM = 2%``) with
  the size-linear rate per base unit (``0.005%`` per BTC); Deribit publishes no cap, so the one tier's cap is
  the engine's largest notional (a position above it still uses the tier).

Rates are exact in ppm (the engine's unit); a schedule that does not rebuild exactly returns None (and the venue
lists the tier gap).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..tiers import RiskTiers
from .contract import VenueInstrument
from .exact import LINEAR_MONEY_SCALE, plain, to_decimal
from .margin_models import BracketMargin, SizeBracketMargin, SizeLinearMargin, StepMargin

NO_CAP_QUOTE = "1000000000000"
"""The one tier's cap (quote) of a schedule without a published cap (Deribit): 1e12, within the engine's money
limit; the last tier applies above its cap anyway."""


def _rate(x: Fraction) -> str:
    return str(plain(to_decimal(x, 8)))


def _leverage(imr: Fraction) -> str:
    """``1 / IMR`` rounded down to 0.01 (less leverage: against the account)."""
    return str(plain(Decimal((100 / imr).__floor__()) / 100))


def scenario_tiers(c: VenueInstrument) -> dict[str, object] | None:
    """The ``[instrument]`` overrides that express ``c``'s margin schedule (module docstring), or None."""
    m = c.margin
    if isinstance(m, BracketMargin) and c.contract == "linear":
        tiers = m.tiers.tiers
        none = all(t.maintenance_amount == 0 for t in tiers) and len(tiers) > 1
        rows = [
            {
                "cap": str(plain(Decimal(t.cap) / LINEAR_MONEY_SCALE)),
                "max_leverage": str(t.max_leverage),
                "mmr": str(plain(Decimal(t.mmr_ppm) / 1_000_000)),
                "imr": str(plain(Decimal(t.imr_ppm) / 1_000_000)),
            }
            for t in tiers
        ]
        amount = "none" if none else "derived"
        rebuilt = RiskTiers.from_brackets(
            "check", [(r["cap"], r["max_leverage"], r["mmr"], r["imr"]) for r in rows], amount
        )
        if rebuilt.tiers != tiers:
            return None
        out: dict[str, object] = {"tiers": rows}
        if none:
            out["maintenance_amount"] = "none"
        return out
    if isinstance(m, SizeBracketMargin) and c.contract == "linear":
        rows = [
            {"cap": str(plain(cap * c.lot_size)), "max_leverage": _rate(lev), "mmr": _rate(mmr), "imr": _rate(imr)}
            for cap, lev, mmr, imr in zip(m.caps, m.max_leverages, m.mmrs, m.imrs)
        ]
        return {"tiers": rows, "tier_basis": "size", "maintenance_amount": "none"}
    if isinstance(m, StepMargin):
        rows = []
        for k in range(m.max_steps + 1):
            mmr, imr = m.base_mmr + k * m.step_rate, m.base_imr + k * m.step_rate
            if imr > 1:
                break
            # a limit is inclusive (steps = ceil((value - base) / step)): exact on size tiers; one money unit above
            # it on notional tiers (floor <= notional < cap)
            top = m.base_limit + k * m.step
            if c.contract == "inverse":  # satoshis to the engine's µcoin money units (1e-12 coin: delever.inverse)
                top = top * (1_000_000 * LINEAR_MONEY_SCALE // c.money_scale)
            cap = Decimal(top + 1) / LINEAR_MONEY_SCALE
            rows.append({"cap": str(plain(cap)), "max_leverage": _leverage(imr), "mmr": _rate(mmr), "imr": _rate(imr)})
        return {"tiers": rows, "maintenance_amount": "none"}
    if isinstance(m, SizeLinearMargin) and c.contract == "linear":
        row = {
            "cap": NO_CAP_QUOTE,
            "max_leverage": _leverage(m.im_base),
            "mmr": _rate(m.mm_base),
            "imr": _rate(m.im_base),
        }
        return {"tiers": [row], "maintenance_amount": "none", "rate_per_size": _rate(m.slope)}
    return None
