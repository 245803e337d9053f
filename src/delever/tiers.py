"""Risk-limit tiers: notional brackets with max leverage, maintenance margin rate and maintenance amount.

A position's maintenance margin is ``MM = notional * MMR - maintenance_amount`` with the MMR and
maintenance amount ("cum") of the bracket its notional falls in (Binance, ../shared/specs/venues.md section 1,
https://www.binance.com/en/futures/trading-rules/perpetual/portfolio-margin/notional-limit). The maintenance
amount makes MM continuous across brackets; Binance publishes it and it follows
``cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}`` (COIN-M article cited in venues.md section 1; test vector
TV-22 lists the BTCUSDT values). Bybit's "deduction" (TV-23) and Hyperliquid's deduction follow the same rule.

Bracket membership: a notional ``n`` is in tier ``k`` when ``floor_k <= n < cap_k`` (floors are the previous
caps); a notional above the last cap uses the last tier, and :meth:`RiskTiers.max_leverage_for` reports it.

Two more rules a scenario can select (``[instrument]`` ``tier_basis``, ``maintenance_amount``, ``rate_per_size``,
:class:`delever.config.market.InstrumentConfig`):

- **size basis** (:meth:`RiskTiers.size_brackets`): brackets of position *size*, not notional. OKX's tiers are
  numbers of contracts (venues.md section 4, TV-15: 15,000 contracts are tier 3, 2,000 the top of tier 1);
  BitMEX's risk limits are position values in XBT (section 2, TV-24), and an inverse contract's value in coin
  at the mark is the size in base units of the linear position the engine runs, so its steps are size brackets
  in BTC. Caps are inclusive ("up to 2,000 contracts") and given in base units; they become lot floors,
  ``floor_{k+1} = floor(cap_k / lot_size) + 1``: a position of ``L`` lots is in tier ``k`` iff ``L * lot_size <=
  cap_k``, exactly (no rounding for or against the account: membership only). The MMR of the tier applies to
  the whole notional (no maintenance amount), as OKX's margin ratio and BitMEX's steps publish it.
- **no maintenance amount** (``maintenance_amount="none"``): ``MM = MMR x notional`` of the tier the position
  is in (Bitget, section 8: "MM = tier MMR x PV at mark"; OKX, BitMEX). The requirement jumps up at a cap.
- **size-linear rate** (``rate_per_lot``): every MMR and IMR grows by a rate per lot held, Deribit's linear
  perpetuals ``MM = 1% + size_BTC * 0.005%``, ``IM = 2% + size_BTC * 0.005%`` (section 5, TV-25). Stored in
  units of 1e-12 per lot (0.005% per BTC at 0.001 BTC a lot is 50,000e-12); ``MM = ceil(notional * (MMR +
  lots * rate_per_lot)) - cum``, the rate capped at 100% (a requirement never above the notional).

Units: notional floors and caps, maintenance amounts in money units (``delever.units``), rates in ppm; size
floors and caps in lots.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

import numpy as np

from .units import MONEY_SCALE, PPM, money, mul_ppm_ceil, rate_ppm

PICO = 10**12
"""Units of :attr:`RiskTiers.rate_per_lot`: 1e-12 of a rate per lot (a ppm is 10**6 of them)."""
BASIS_NOTIONAL = 0
"""Tier floors are notionals (money units): Binance, Bybit, Bitget brackets."""
BASIS_SIZE = 1
"""Tier floors are position sizes (lots): OKX contracts, BitMEX's XBT values (module docstring)."""


def rate_pico(mmr_ppm: int, lots: int, rate_per_lot: int) -> int:
    """The size-linear rate ``MMR + lots * rate_per_lot`` in 1e-12 units, capped at 100% (module docstring)."""
    r = mmr_ppm * (PICO // PPM)
    if rate_per_lot and lots:
        r += min(lots, PICO // rate_per_lot + 1) * rate_per_lot
    return min(r, PICO)


def requirement(notional: int | Fraction, lots: int, mmr_ppm: int, rate_per_lot: int, cum: int) -> int:
    """``ceil(notional * (MMR + lots * rate_per_lot)) - cum`` (money units, rounded up: a requirement), the
    bracket's MM with the size-linear rate; equal to :func:`bracket_maintenance_margin` when ``rate_per_lot``
    is 0. Compiled twin: :func:`delever.margin.requirement_compiled`."""
    if not rate_per_lot:
        return bracket_maintenance_margin(notional, Fraction(mmr_ppm, PPM), cum)
    return bracket_maintenance_margin(notional, Fraction(rate_pico(mmr_ppm, abs(lots), rate_per_lot), PICO), cum)


def bracket_maintenance_margin(notional: int | Fraction, mmr: Fraction, cum: int | Fraction) -> int:
    """``ceil(notional * MMR) - cum`` (money units; a requirement rounds up) for a position whose bracket is
    known: the one reference of the tiered maintenance margin (Binance notional brackets, venues.md section 1).
    ``notional`` money units (int, or an exact fraction at a fractional price), ``mmr`` the exact rate (e.g.
    ``Fraction(mmr_ppm, PPM)``), ``cum`` the bracket's maintenance amount. Its compiled twin is
    :func:`delever.margin.margin_at_tier_compiled` (rates in ppm, tested equal)."""
    x = Fraction(notional) * mmr
    return -((-x.numerator) // x.denominator) - cum


def per_lot(rate_per_size: Decimal | str, lot_size: Decimal) -> int:
    """A size-linear rate per base unit as 1e-12 per lot (:data:`PICO`).

    Raises:
        ValueError: negative, or not a whole number of 1e-12 per lot.
    """
    x = Decimal(str(rate_per_size)) * lot_size * PICO
    if x < 0 or x != x.to_integral_value():
        raise ValueError(f"rate per size {rate_per_size} at lot {lot_size} is not a whole number of 1e-12 per lot")
    return int(x)


def _rows(brackets, to_cap, derive_cum: bool) -> tuple[RiskTier, ...]:
    """The tiers of ``(cap, max_leverage, mmr, imr)`` rows: ``to_cap`` turns a cap into the floor of the next
    tier (money, or lots); the maintenance amount derived (the cum rule of the module docstring) or 0."""
    tiers: list[RiskTier] = []
    floor = 0
    prev_mmr = 0
    cum = 0
    for i, (cap_q, lev, mmr, imr) in enumerate(brackets):
        cap = to_cap(cap_q)
        lev_d = Decimal(str(lev))
        mmr_p = rate_ppm(mmr)
        if imr is not None:
            imr_p = rate_ppm(imr)
        else:
            imr_p = int((Decimal(PPM) / lev_d).to_integral_value(rounding=ROUND_CEILING))
        if cap <= floor:
            raise ValueError(f"tier {i + 1}: cap {cap_q} must be above the previous cap")
        if not (0 < mmr_p <= PPM and 0 < imr_p <= PPM):
            raise ValueError(f"tier {i + 1}: rates must be in (0, 1]")
        if mmr_p > imr_p:
            raise ValueError(f"tier {i + 1}: MMR {mmr} above IMR")
        if derive_cum:
            # floor * (MMR_n - MMR_{n-1}) must be whole money units for MM to stay exact
            step, rem = divmod(floor * (mmr_p - prev_mmr), PPM)
            if rem:
                raise ValueError(f"tier {i + 1}: maintenance amount is not a whole money unit")
            cum += step
        tiers.append(RiskTier(floor, cap, lev_d, mmr_p, imr_p, cum))
        floor, prev_mmr = cap, mmr_p
    return tuple(tiers)


@dataclass(frozen=True)
class RiskTier:
    """One bracket: ``floor <= key < cap`` (the notional in money units, or the size in lots on the size basis),
    max leverage, MMR and IMR (ppm), cum (money)."""

    floor: int
    cap: int
    max_leverage: Decimal
    mmr_ppm: int
    imr_ppm: int
    maintenance_amount: int


@dataclass(frozen=True)
class RiskTiers:
    """An ordered table of brackets; build it with :meth:`from_brackets` (notional) or :meth:`size_brackets`.

    Arrays for the compiled sweep are in :attr:`floors`, :attr:`mmr_ppm`, :attr:`cum` (int64, shape (k,)).
    ``basis`` :data:`BASIS_NOTIONAL` (floors in money) or :data:`BASIS_SIZE` (floors in lots); ``rate_per_lot``
    the size-linear rate (1e-12 per lot, 0 = none). A tier's key is :meth:`key` of a position.
    """

    name: str
    tiers: tuple[RiskTier, ...]
    basis: int = BASIS_NOTIONAL
    rate_per_lot: int = 0

    @classmethod
    def from_brackets(
        cls,
        name: str,
        brackets: list[tuple[str | int, str | int, str, str | None]],
        maintenance_amount: str = "derived",
    ) -> RiskTiers:
        """Build tiers from ``(cap_quote, max_leverage, mmr, imr)`` rows in increasing cap order.

        ``cap_quote`` is in quote units (e.g. ``"50000"`` USDT), ``mmr``/``imr`` are fractions (``"0.004"``).
        ``imr=None`` means ``1 / max_leverage`` rounded up to a ppm. The maintenance amount is derived with
        the cum rule above, exactly, in money units (``maintenance_amount="derived"``), or is 0 in every tier
        (``"none"``: the tier's MMR on the whole notional, Bitget, module docstring).

        Raises:
            ValueError: caps not increasing, rates outside (0, 1], MMR above IMR, or a cum that is not a
                whole number of money units.
        """
        return cls(name, _rows(brackets, money, maintenance_amount == "derived"))

    @classmethod
    def size_brackets(
        cls,
        name: str,
        brackets: list[tuple[str | int, str | int, str, str | None]],
        lot_size: Decimal | str,
        rate_per_size: Decimal | str = "0",
    ) -> RiskTiers:
        """Size brackets (module docstring): ``(cap_base, max_leverage, mmr, imr)`` rows, ``cap_base`` the largest
        size of the tier in base units (inclusive), no maintenance amount; ``rate_per_size`` the size-linear rate
        per base unit (Deribit 0.00005 per BTC), which must be a whole number of 1e-12 per lot.

        Raises:
            ValueError: caps that do not increase by at least one lot, bad rates, or a size-linear rate that is
                not whole in 1e-12 per lot.
        """
        lot = Decimal(str(lot_size))

        def cap_lots(cap_base: str | int) -> int:  # lots up to the inclusive cap, plus one: the next tier's floor
            return int(Decimal(str(cap_base)) // lot) + 1

        return cls(name, _rows(brackets, cap_lots, False), BASIS_SIZE, per_lot(rate_per_size, lot))

    def with_rate_per_size(self, rate_per_size: Decimal | str, lot_size: Decimal | str) -> RiskTiers:
        """The same brackets with a size-linear rate per base unit (:meth:`size_brackets`)."""
        return RiskTiers(self.name, self.tiers, self.basis, per_lot(rate_per_size, Decimal(str(lot_size))))

    def with_added_rate(self, add_ppm: int) -> RiskTiers:
        """Every tier's MMR raised by ``add_ppm`` (the fee rate OKX and BitMEX add to the MMR in the
        liquidation condition, venues.md sections 2 and 4). The maintenance amounts stay: with a derived cum,
        ``cum_n = floor_n (MMR_n - MMR_{n-1}) + cum_{n-1}`` depends only on differences of MMR (tier 1's cum
        is 0), so the requirement is ``MM + notional x add`` in every tier. IMR is raised as far as the MMR
        needs."""
        if add_ppm == 0:
            return self
        tiers = tuple(
            RiskTier(t.floor, t.cap, t.max_leverage, min(t.mmr_ppm + add_ppm, PPM),
                     max(t.imr_ppm, min(t.mmr_ppm + add_ppm, PPM)), t.maintenance_amount)
            for t in self.tiers
        )  # fmt: skip
        return RiskTiers(f"{self.name} + {add_ppm} ppm", tiers, self.basis, self.rate_per_lot)

    @property
    def continuous(self) -> bool:
        """Whether the requirement is continuous in the notional: notional floors, maintenance amounts that
        join the brackets (to a money unit) and no size-linear rate."""
        if self.basis != BASIS_NOTIONAL or self.rate_per_lot:
            return False
        return all(
            abs(b.floor * b.mmr_ppm - b.maintenance_amount * PPM - (b.floor * a.mmr_ppm - a.maintenance_amount * PPM))
            <= PPM
            for a, b in zip(self.tiers, self.tiers[1:])
        )

    def key(self, lots: int, notional: int | Fraction) -> int | Fraction:
        """What the tier of a position of ``lots`` with this notional is looked up by: its notional (money) or,
        on the size basis, its size (lots)."""
        return abs(lots) if self.basis == BASIS_SIZE else notional

    @property
    def floors(self) -> np.ndarray:
        """int64 (k,) bracket floors in money units."""
        return np.array([t.floor for t in self.tiers], dtype=np.int64)

    @property
    def mmr_ppm(self) -> np.ndarray:
        """int64 (k,) maintenance margin rates in ppm."""
        return np.array([t.mmr_ppm for t in self.tiers], dtype=np.int64)

    @property
    def imr_ppm(self) -> np.ndarray:
        """int64 (k,) initial margin rates in ppm."""
        return np.array([t.imr_ppm for t in self.tiers], dtype=np.int64)

    @property
    def cum(self) -> np.ndarray:
        """int64 (k,) maintenance amounts in money units."""
        return np.array([t.maintenance_amount for t in self.tiers], dtype=np.int64)

    def index_for(self, key: int | Fraction) -> int:
        """0-based tier index for a tier key (:meth:`key`: a notional in money units, or a size in lots on the
        size basis; the last tier above the last cap)."""
        return max(0, min(len(self.tiers) - 1, bisect_right([t.floor for t in self.tiers], key) - 1))

    def tier_for(self, key: int | Fraction) -> RiskTier:
        """The bracket a tier key (:meth:`index_for`) falls in."""
        return self.tiers[self.index_for(key)]

    def _lots(self, lots: int | None) -> int:
        if lots is None:
            if self.basis == BASIS_SIZE or self.rate_per_lot:
                raise ValueError(f"{self.name}: size tiers and size-linear rates need the position's lots")
            return 0
        return abs(lots)

    def maintenance_margin(self, notional: int | Fraction, lots: int | None = None) -> int:
        """``ceil(notional * (MMR + lots * rate_per_lot)) - cum`` in money units (requirement: rounds up), the
        tier found by :meth:`key`; ``lots`` needed on the size basis or with a size-linear rate.

        Raises:
            ValueError: ``lots`` missing where needed."""
        q = self._lots(lots)
        t = self.tier_for(self.key(q, notional))
        return requirement(notional, q, t.mmr_ppm, self.rate_per_lot, t.maintenance_amount)

    def initial_margin(self, notional: int, lots: int | None = None) -> int:
        """``ceil(notional * (IMR + lots * rate_per_lot))`` in money units (Deribit's IM shares the MM's size
        rate, venues.md section 5)."""
        q = self._lots(lots)
        t = self.tier_for(self.key(q, notional))
        if not self.rate_per_lot:
            return mul_ppm_ceil(notional, t.imr_ppm)
        return requirement(notional, q, t.imr_ppm, self.rate_per_lot, 0)

    def max_leverage_for(self, notional: int, lots: int | None = None) -> Decimal:
        """Max leverage allowed at this notional (0 above the last cap: the position is over the limit)."""
        key = self.key(self._lots(lots), notional)
        if key > self.tiers[-1].cap or (self.basis == BASIS_SIZE and key == self.tiers[-1].cap):
            return Decimal(0)
        return self.tier_for(key).max_leverage

    def describe(self) -> list[dict[str, str]]:
        """Rows for display: floor, cap (quote), max leverage, MMR %, IMR %, maintenance amount (quote)."""
        return [
            {
                "floor": str(Decimal(t.floor) / MONEY_SCALE),
                "cap": str(Decimal(t.cap) / MONEY_SCALE),
                "max_leverage": str(t.max_leverage),
                "mmr_pct": str(Decimal(t.mmr_ppm) / 10_000),
                "imr_pct": str(Decimal(t.imr_ppm) / 10_000),
                "maintenance_amount": str(Decimal(t.maintenance_amount) / MONEY_SCALE),
            }
            for t in self.tiers
        ]


BINANCE_BTCUSDT_2021 = RiskTiers.from_brackets(
    "binance-btcusdt-2021",
    [
        # Binance BTCUSDT brackets announced 2021-03-18 (../shared/specs/venues.md section 1,
        # https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6): cap, lev, MMR, IMR.
        ("50000", 125, "0.004", "0.008"),
        ("250000", 100, "0.005", "0.01"),
        ("1000000", 50, "0.01", "0.02"),
        ("10000000", 20, "0.025", "0.05"),
        ("20000000", 10, "0.05", "0.10"),
        ("50000000", 5, "0.10", "0.20"),
        ("100000000", 4, "0.125", "0.25"),
        ("200000000", 3, "0.15", "0.333"),
        ("300000000", 2, "0.25", "0.50"),
        ("500000000", 1, "0.50", "1.00"),
    ],
)
"""Binance BTCUSDT risk-limit tiers of 2021 (historical: the current table differs and was not recovered)."""

TIER_TABLES: dict[str, RiskTiers] = {BINANCE_BTCUSDT_2021.name: BINANCE_BTCUSDT_2021}
"""Built-in tier tables by name, for scenario files."""


def tier_arrays(tiers: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The margin tiers of instruments ``0..M-1`` (:class:`RiskTiers` each) as the kernels take
    them: ``floors``, ``mmr_ppm``, ``cum`` int64 (M, k), k the most tiers of any, rows padded with an
    unreachable floor, and ``n_tiers`` int64 (M,)."""
    k = max(len(t.tiers) for t in tiers)
    big = np.iinfo(np.int64).max
    floors = np.full((len(tiers), k), big, dtype=np.int64)
    mmr = np.zeros((len(tiers), k), dtype=np.int64)
    cum = np.zeros((len(tiers), k), dtype=np.int64)
    for m, t in enumerate(tiers):
        n = len(t.tiers)
        floors[m, :n], mmr[m, :n], cum[m, :n] = t.floors, t.mmr_ppm, t.cum
    return floors, mmr, cum, np.array([len(t.tiers) for t in tiers], dtype=np.int64)


def tier_rules(tiers: list, backing_rule: int, mm_entry: int) -> tuple[int, np.ndarray, np.ndarray, int, int]:
    """The fields of :class:`delever.columns.AccountValuation` after its tier arrays, for instruments ``0..M-1``
    (:class:`RiskTiers` each): ``(backing_rule, tier_basis, rate_per_lot, mm_entry, general)``; ``tier_basis`` and
    ``rate_per_lot`` int64 (M,), ``mm_entry`` the entry-value bits (:mod:`delever.requirement`). ``general`` is 0,
    and the two arrays are length-1 zeros the kernels then do not read, when every instrument has notional tiers
    with no size rate and no MM is on entry value: the engine's default requirement."""
    basis = np.array([t.basis for t in tiers], dtype=np.int64)
    rate = np.array([t.rate_per_lot for t in tiers], dtype=np.int64)
    if not mm_entry and not basis.any() and not rate.any():
        return int(backing_rule), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), 0, 0
    return int(backing_rule), basis, rate, int(mm_entry), 1
