"""Prices of one position under a venue's rules (:class:`PriceSolver`, mixed into
:class:`delever.venues.rulebook.Rulebook`): maintenance and initial margin, liquidation price (mark or entry
basis, tier by tier) and bankruptcy price, exact in fractions of the quote and rounded to the tick against the
account. Formulas in the module docstring of :mod:`delever.venues.rulebook`; the linear bankruptcy price is the
engine's (:func:`delever.margin.zero_equity_price`).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


from ..margin import cross_backing, zero_equity_price
from .exact import floor_frac, frac
from .margin_models import MarginBand
from .contract import VenueInstrument
from .rules import LpBasis, MarginMode


def inverse_price(q: Fraction, entry: Fraction, side: int, margin: Fraction) -> Fraction | None:
    """The inverse contract's price ``P`` with ``Q/P = Q/E + side * margin`` (``Q`` the position's size in money x
    price units, ``E`` its entry, ``margin`` money: the collateral less what must stay, at which the position is
    closed), or None where ``Q/E + side * margin <= 0`` (a short backed beyond its entry value has no such price).
    The bankruptcy price is ``margin`` = the collateral; the entry-basis liquidation price, the collateral less the
    maintenance margin at entry (venues.md section 1 and 3)."""
    den = q / entry + side * margin
    return q / den if den > 0 else None


class PriceSolver:
    """Margin and price solving of a rulebook (methods of :class:`~delever.venues.rulebook.Rulebook`)."""

    def maintenance_margin(self, symbol: str, lots: int, price: Fraction | Decimal | str) -> int:
        """MM of ``lots`` at ``price`` (quote), money units, rounded up."""
        c = self.contract(symbol)
        return c.margin.maintenance_margin(c.notional(lots, frac(price)), lots)

    def initial_margin(self, symbol: str, lots: int, price: Fraction | Decimal | str) -> int:
        """Tier IM of ``lots`` at ``price`` (quote), money units, rounded up."""
        c = self.contract(symbol)
        return c.margin.initial_margin(c.notional(lots, frac(price)), lots)

    def _ticks(self, symbol: str, side: int, price: Fraction | None) -> int | None:
        """``price`` in ticks, rounded per :attr:`rounding` for ``side``; None stays None."""
        return None if price is None else self.contract(symbol).price_to_ticks(price, self.rounding.for_side(side))

    def _basis(self, margin_mode: MarginMode) -> LpBasis:
        return self.lp_basis_isolated if margin_mode == "isolated" else self.lp_basis_cross

    def _gap(
        self, c: VenueInstrument, s: int, entry: Fraction, collateral: Fraction, price: Fraction, band: MarginBand
    ) -> Fraction:
        """``equity - requirement`` at ``price`` with ``band`` (mark basis)."""
        n = c.notional(s, price)
        return collateral + c.upnl(s, entry, price) - (n * (band.mmr + self.liquidation_extra_mmr) - band.cum)

    def _solve(
        self, c: VenueInstrument, s: int, entry: Fraction, collateral: Fraction, mmr: Fraction, cum: int
    ) -> Fraction | None:
        """Price where ``C + uPnL(P) = notional(P) * mmr - cum`` (mark basis), or None."""
        k = c.k()
        if c.contract == "linear":
            den = k * (s - abs(s) * mmr)
            p = (s * k * entry - collateral - cum) / den if den else None
        else:
            den = collateral + cum + s * k / entry
            p = k * (s + abs(s) * mmr) / den if den else None
        return p if p is not None and p > 0 else None

    def liquidation_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> Fraction | None:
        """Exact liquidation price (quote) of one position, or None if it has none.

        ``lots`` > 0, ``side`` +1/-1, ``collateral`` money units: the isolated margin, or for cross the wallet
        balance less other positions' MM plus their uPnL (Binance ``WB - TMM1 + UPNL1``, section 1).
        """
        c = self.contract(symbol)
        return self._liquidation_price(c, side * abs(lots), frac(entry), Fraction(collateral), margin_mode)

    def _liquidation_price(
        self, c: VenueInstrument, s: int, e: Fraction, cf: Fraction, margin_mode: MarginMode
    ) -> Fraction | None:
        """:meth:`liquidation_price_exact` of signed lots ``s`` (the step a venue's rulebook may override)."""
        side = 1 if s > 0 else -1
        if self._basis(margin_mode) == "entry":
            b = c.margin.band(c.notional(s, e), s)
            mm = c.notional(s, e) * (b.mmr + self.liquidation_extra_mmr) - b.cum
            if c.contract == "linear":
                p = e + (mm - cf) / (s * c.k())
                return p if p > 0 else None
            return inverse_price(abs(s) * c.k(), e, side, cf - mm)
        found: list[Fraction] = []
        for b in c.margin.bands(s):
            p = self._solve(c, s, e, cf, b.mmr + self.liquidation_extra_mmr, b.cum)
            if p is not None and c.margin.band(c.notional(s, p), s).index == b.index:
                found.append(p)
        # a jump up in MM at a tier boundary can cross equity without a root inside any tier
        for n, upper in c.margin.boundaries(s):
            p = Fraction(n, c.k() * abs(s)) if c.contract == "linear" else c.k() * abs(s) / Fraction(n)
            if p > 0 and self._gap(c, s, e, cf, p, upper) <= 0:
                found.append(p)
        if not found:
            return None
        # the first price at which the position fails, coming from the safe side
        return max(found) if side > 0 else min(found)

    def liquidation_price(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> int | None:
        """Liquidation price in ticks, rounded per :attr:`rounding`; None if none."""
        return self._ticks(
            symbol, side, self.liquidation_price_exact(symbol, side, lots, entry, collateral, margin_mode)
        )

    def bankruptcy_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> Fraction | None:
        """Exact price (quote) at which equity is 0: ``E - C/(s*q*S)`` (linear), ``s*K/(C + s*K/E)`` (inverse).

        A linear long collateralised beyond its notional has 0 (it cannot go bankrupt); an inverse short
        collateralised beyond its entry value has none (None).
        """
        c = self.contract(symbol)
        return self._bankruptcy_price(c, side * abs(lots), frac(entry), Fraction(collateral), margin_mode)

    def _bankruptcy_price(
        self, c: VenueInstrument, s: int, e: Fraction, cf: Fraction, margin_mode: MarginMode
    ) -> Fraction | None:
        """:meth:`bankruptcy_price_exact` of signed lots ``s`` (the step a venue's rulebook may override)."""
        if c.contract == "linear":  # the engine's formula (delever.margin), in quote units
            return max(Fraction(0), zero_equity_price(s, s * c.k() * e, cf, c.k()))
        return inverse_price(abs(s) * c.k(), e, 1 if s > 0 else -1, cf)

    def account_bankruptcy_price_exact(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        mark: Fraction | Decimal | str,
        wallet: int,
        other_upnl: int = 0,
        other_mm: int = 0,
    ) -> Fraction | None:
        """Exact bankruptcy price (quote) of one cross position inside a multi-position account (issue #11):
        the position is backed by :func:`delever.margin.cross_backing` under :attr:`cross_backing_rule` (the
        one implementation the engine's liquidation stage compiles), then :meth:`bankruptcy_price_exact`.

        ``wallet`` the account's cross wallet, ``other_upnl`` / ``other_mm`` the uPnL and MM of its other cross
        positions at their marks (money units); this position's uPnL and MM are taken at ``mark``.
        """
        c = self.contract(symbol)
        s = side * abs(lots)
        m = frac(mark)
        own_upnl = floor_frac(c.upnl(s, frac(entry), m))
        own_mm = c.margin.maintenance_margin(c.notional(s, m), s)
        backing = cross_backing(self.cross_backing_rule, int(wallet), own_upnl, int(other_upnl), own_mm,
                                own_mm + int(other_mm))  # fmt: skip
        return self.bankruptcy_price_exact(symbol, side, lots, entry, backing, "cross")

    def bankruptcy_price(
        self,
        symbol: str,
        side: int,
        lots: int,
        entry: Fraction | Decimal | str,
        collateral: int | Fraction,
        margin_mode: MarginMode = "isolated",
    ) -> int | None:
        """Bankruptcy price in ticks, rounded per :attr:`rounding` (so a close there leaves no bad debt)."""
        return self._ticks(
            symbol, side, self.bankruptcy_price_exact(symbol, side, lots, entry, collateral, margin_mode)
        )
