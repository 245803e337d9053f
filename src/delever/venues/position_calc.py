"""One position under a venue's rules (:class:`PositionCalculator`, mixed into
:class:`delever.venues.rulebook.Rulebook`, for ``delever position``): margins, PnL, liquidation and bankruptcy
prices, ADL inputs, from the values a person types (decimal strings, validated with clear errors)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


from ..errors import InputError, finite_decimal
from .exact import ceil_frac, floor_frac, frac, to_decimal
from .rules import (
    MarginMode,
)
from .results import PositionResult


def _dec(x: Decimal | str | int | float | None, field_name: str) -> Decimal | None:
    if x is None:
        return None
    return finite_decimal(x, field_name)


class PositionCalculator:
    """The ``delever position`` computation of a rulebook (methods of :class:`~delever.venues.rulebook.Rulebook`)."""

    # --- one position ----------------------------------------------------------------------------------

    def position(
        self,
        symbol: str,
        side: str | int,
        size: Decimal | str,
        entry: Decimal | str,
        *,
        wallet: Decimal | str | None = None,
        leverage: Decimal | str | None = None,
        margin_mode: str = "isolated",
        mark: Decimal | str | None = None,
    ) -> PositionResult:
        """One position under these rules, from human inputs (quote prices, base or contract sizes).

        ``wallet`` (settlement asset) is the isolated margin or the cross wallet; ``leverage`` sets it to
        ``ceil(entry notional / leverage)``; with neither, 10x or the tier's max if lower. ``mark`` defaults to
        ``entry``.

        Raises:
            InputError: with ``field`` the argument at fault (``symbol``, ``side``, ``size``, ``entry``,
                ``mark``, ``wallet``, ``leverage``, ``margin_mode``).
        """
        c = self.contract(symbol)
        sd = {"long": 1, "short": -1, "1": 1, "-1": -1}.get(str(side).lower())
        if sd is None:
            raise InputError(f"must be long or short (got {side!r})", field="side")
        if margin_mode not in ("isolated", "cross"):
            raise InputError(f"must be isolated or cross (got {margin_mode!r})", field="margin_mode")
        lots = c.size_to_lots(size)
        e_d = _dec(entry, "entry")
        if e_d is None or e_d <= 0:
            raise InputError(f"must be > 0 (got {entry})", field="entry")
        m_d = _dec(mark, "mark")
        if m_d is not None and m_d <= 0:
            raise InputError(f"must be > 0 (got {mark})", field="mark")
        if wallet is not None and leverage is not None:
            raise InputError("give --wallet or --leverage, not both", field="wallet")
        e = frac(e_d)
        m = frac(m_d) if m_d is not None else e
        s = sd * lots
        n_e = c.notional(s, e)
        if c.margin.over_limit(n_e, s):
            raise InputError(
                f"notional {to_decimal(n_e / c.money_scale, 6)} {c.settle} is above {self.name} "
                f"{c.symbol}'s largest risk limit",
                field="size",
            )
        b_e = c.margin.band(n_e, s)
        scale = c.money_scale
        if wallet is not None:
            w = _dec(wallet, "wallet")
            assert w is not None
            if w <= 0:
                raise InputError(f"must be > 0 (got {wallet})", field="wallet")
            cw = Fraction(w) * scale
            if cw.denominator != 1:
                raise InputError(f"{wallet} is finer than 1/{scale} {c.settle}", field="wallet")
            collateral = int(cw)
            lev = n_e / collateral
            if lev > b_e.max_leverage:
                raise InputError(
                    f"implies leverage {to_decimal(lev, 4)}x, above the tier's max "
                    f"{to_decimal(b_e.max_leverage, 4)}x (tier {b_e.index + 1})",
                    field="wallet",
                )
        else:
            if leverage is None:
                lev = min(Fraction(10), b_e.max_leverage)
            else:
                lv = _dec(leverage, "leverage")
                assert lv is not None
                if lv <= 0:
                    raise InputError(f"must be > 0 (got {leverage})", field="leverage")
                lev = Fraction(lv)
                if lev > b_e.max_leverage:
                    raise InputError(
                        f"{leverage}x is above the tier's max {to_decimal(b_e.max_leverage, 4)}x "
                        f"(tier {b_e.index + 1} at notional {to_decimal(n_e / scale, 6)} {c.settle})",
                        field="leverage",
                    )
            collateral = ceil_frac(n_e * (1 / lev + self.leverage_fee_reserve))
        mode: MarginMode = "isolated" if margin_mode == "isolated" else "cross"
        n_m = c.notional(s, m)
        b_m = c.margin.band(n_m, s)
        mm = c.margin.maintenance_margin(n_m, s)
        upnl = floor_frac(c.upnl(s, e, m))
        equity = collateral + upnl
        req = mm + ceil_frac(n_m * self.liquidation_extra_mmr)
        return PositionResult(
            venue=self.name,
            symbol=c.symbol,
            side=sd,
            lots=lots,
            contracts=c.contracts(lots),
            entry_price=e_d,
            mark_price=m_d if m_d is not None else e_d,
            notional=round(n_m),
            leverage=lev,
            collateral=collateral,
            initial_margin=ceil_frac(n_m / lev),
            maintenance_margin=mm,
            mmr=b_m.mmr,
            unrealized_pnl=upnl,
            equity=equity,
            liquidation_price=self.liquidation_price(c.symbol, sd, lots, e, collateral, mode),
            bankruptcy_price=self.bankruptcy_price(c.symbol, sd, lots, e, collateral, mode),
            margin_mode=mode,
            tier=b_e.index,
            max_leverage=b_e.max_leverage,
            liquidatable=equity < req,
            settle=c.settle,
            money_scale=scale,
            tick_size=c.tick_size,
            contract_size=c.contract_size,
        )

    # --- liquidation procedure -------------------------------------------------------------------------
