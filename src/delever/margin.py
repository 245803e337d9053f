"""Margin maths for one position, in exact integers: the reference formulas of the engine.

Every function here is plain Python on unbounded ints (no overflow) and is the reference the compiled sweep
(:mod:`delever.sweep`) is tested against. The compiled twins the kernels call (int64, ``*_compiled``, at the
end of the module) live here too, next to their references, and are tested equal to them
(tests/test_margin_twins.py): the tiered maintenance margin, the bankruptcy price and the cross backing.

Units: sizes in lots (signed, long > 0), prices in ticks, money in money units (``delever.units``); ``cost`` is
the signed entry value of a position, ``size * entry * V`` where ``V = instrument.value_per_lot_tick`` (a
position opened in several fills carries the sum of their values, so its average entry price
``cost / (size * V)`` need not be a whole tick).

Formulas (../shared/specs/venues.md):

- notional ``|size| * mark * V``; unrealized PnL ``size * mark * V - cost``.
- margin balance (equity) ``collateral + uPnL``, where collateral is the isolated margin of an isolated
  position, or the cross wallet balance plus other positions' uPnL (Binance ``WB + UPNL1``, section 1).
- maintenance margin ``ceil(notional * MMR) - cum`` by tier (section 1, Binance notional-limit page);
  initial margin ``ceil(notional * IMR)``.
- liquidation when ``equity < MM`` (Binance "Collateral < Maintenance Margin", section 1).
- margin ratio ``MM / equity`` (Binance); effective leverage ``notional / equity`` (BitMEX
  ``|MarkValue| / (MarkValue - BankruptValue)``, section 2); PnL% ``uPnL / |cost|`` (BitMEX, section 2).
- bankruptcy price: the price at which equity is 0, ``(cost - collateral) / (size * V)``; rounded up for a
  long and down for a short, so a close at the rounded price never leaves bad debt (Bybit rounds a long's
  bankruptcy price up, test vector TV-08).
- liquidation price: the price at which equity equals MM,
  ``(cost - collateral - cum) / (V * (size - |size| * MMR))`` with the MMR and cum of the tier the
  liquidation notional falls in (Binance: "if the LP falls in a different tier ... recompute", section 1);
  rounded towards the mark (up for a long, down for a short), i.e. conservatively.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import njit

from .instruments import Instrument
from .intops import mul_div_floor, mul_ppm_ceil
from .tiers import PICO, rate_pico


def notional(size: int, price: int, inst: Instrument) -> int:
    """``|size| * price * V`` in money units (size in lots, price in ticks)."""
    return abs(size) * price * inst.value_per_lot_tick


def unrealized_pnl(size: int, cost: int, price: int, inst: Instrument) -> int:
    """``size * price * V - cost`` in money units."""
    return size * price * inst.value_per_lot_tick - cost


def maintenance_margin(size: int, price: int, inst: Instrument) -> int:
    """Tiered maintenance margin at ``price`` (money units, rounded up)."""
    return inst.tiers.maintenance_margin(notional(size, price, inst), size)


def initial_margin(size: int, price: int, inst: Instrument) -> int:
    """Tiered initial margin at ``price`` (money units, rounded up)."""
    return inst.tiers.initial_margin(notional(size, price, inst), size)


def margin_ratio(mm: int, equity: int) -> float:
    """``MM / equity``; liquidation at 1.0 or above; ``inf`` when equity <= 0."""
    return mm / equity if equity > 0 else float("inf")


def effective_leverage(notional_value: int, equity: int) -> float:
    """``notional / equity``; ``inf`` when equity <= 0."""
    return notional_value / equity if equity > 0 else float("inf")


def pnl_pct(upnl: int, cost: int) -> float:
    """``uPnL / |cost|`` as a fraction (0.1 = +10%); 0 for a flat position."""
    return upnl / abs(cost) if cost else 0.0


def bankruptcy_price_exact(size: int, cost: int, collateral: int, inst: Instrument) -> Fraction:
    """Exact price in ticks at which ``collateral + uPnL = 0``.

    Raises:
        ValueError: ``size == 0``.
    """
    return zero_equity_price(size, cost, collateral, inst.value_per_lot_tick)


def zero_equity_price(size: int, cost: int | Fraction, collateral: int | Fraction, value: int | Fraction) -> Fraction:
    """The one bankruptcy-price formula of a linear contract: the exact price at which ``collateral + size *
    price * value - cost = 0``, i.e. ``(cost - collateral) / (size * value)``; ``value`` is the money per lot
    per price unit (per tick for the engine, per quote unit for the venue rulebooks), ``cost`` the signed
    entry value ``size * entry * value``. Unrounded; callers round against the account.

    Raises:
        ValueError: ``size == 0``.
    """
    if size == 0:
        raise ValueError("a flat position has no bankruptcy price")
    return (Fraction(cost) - Fraction(collateral)) / (size * Fraction(value))


def bankruptcy_price(size: int, cost: int, collateral: int, inst: Instrument) -> int:
    """Bankruptcy price in ticks, rounded up for a long and down for a short (never below 0)."""
    bp = bankruptcy_price_exact(size, cost, collateral, inst)
    ticks = -((-bp.numerator) // bp.denominator) if size > 0 else bp.numerator // bp.denominator
    return max(ticks, 0)


BACKING_WHOLE_ACCOUNT = 0
"""Cross backing rule of Binance (and the engine's default): a position is backed by the wallet plus the
uPnL of the account's other cross positions at their marks (``WB + UPNL1``, venues.md section 1)."""
BACKING_MM_SHARE = 1
"""Cross backing rule of dYdX v4: the position keeps the share ``|DMMR| / TMMR`` of the account's equity
(``-DNNV - TNC x |DMMR| / TMMR``, ../shared/specs/engines.md section 1)."""


def cross_backing(rule: int, wallet: int, own_upnl: int, other_upnl: int, own_mm: int, total_mm: int) -> int:
    """The money that backs one cross position of a multi-position account at the marks: the ``collateral``
    to give :func:`bankruptcy_price` so that closing the whole position at that price leaves the account
    with what the venue's rule keeps for its other positions.

    Args:
        rule: :data:`BACKING_WHOLE_ACCOUNT` (Binance cross: ``wallet + other_upnl``; the close at the
            bankruptcy price leaves the account's equity at 0 with the other positions at their marks) or
            :data:`BACKING_MM_SHARE` (dYdX v4: the close consumes only the position's share of the account's
            total net collateral ``TNC = wallet + own_upnl + other_upnl``, ``floor(TNC x own_mm / total_mm) -
            own_upnl``; with ``total_mm == 0`` the whole-account rule is used).
        wallet: the account's cross wallet (money).
        own_upnl, other_upnl: uPnL of this position and the sum over the account's other cross positions,
            each at its instrument's mark (money).
        own_mm, total_mm: maintenance margin of this position and the sum over the account's cross positions
            (money, >= 0).

    Rounding: the share rounds down (less backing: a long's bankruptcy price is higher, a short's lower, so a
    close at it never needs fund money: against the account, never against solvency). A single-position
    account gets ``wallet`` under both rules.

    Example (dYdX): wallet 1,000, long 1 BTC @100,000 (uPnL -1,500 at 98,500, MM 442.5) and short 10 ETH
    @4,000 (uPnL +1,000 at 3,900, MM 156): TNC 500, TMMR 598.5, backing ``500 x 442.5 / 598.5 + 1,500 =
    1,869.67``, so the BTC bankruptcy price is ``100,000 - 1,869.67 = 98,130.33 = 98,500 - 500 x 442.5 / 598.5``
    (``-DNNV - TNC x |DMMR| / TMMR``).
    Binance: backing ``1,000 + 1,000 = 2,000``, bankruptcy price 98,000.
    """
    if rule == BACKING_MM_SHARE and total_mm > 0:
        tnc = wallet + own_upnl + other_upnl
        return (tnc * own_mm) // total_mm - own_upnl
    return wallet + other_upnl


def account_bankruptcy_price(
    rule: int, size: int, cost: int, wallet: int, other_upnl: int, own_mm: int, total_mm: int, mark: int,
    inst: Instrument,
) -> int:  # fmt: skip
    """Bankruptcy price (ticks) of a cross position inside a multi-position account (:func:`cross_backing`
    at ``mark`` ticks, then :func:`bankruptcy_price`: up for a long, down for a short)."""
    own_upnl = unrealized_pnl(size, cost, mark, inst)
    return bankruptcy_price(size, cost, cross_backing(rule, wallet, own_upnl, other_upnl, own_mm, total_mm), inst)


def liquidation_price_exact(size: int, cost: int, collateral: int, inst: Instrument) -> Fraction | None:
    """Exact price in ticks at which equity equals maintenance margin, or ``None`` if there is none
    (a long collateralised beyond its notional is never liquidated).

    Tries each tier and keeps the one whose notional at the resulting price lies in that tier.
    """
    if size == 0:
        raise ValueError("a flat position has no liquidation price")
    v = inst.value_per_lot_tick
    tiers = inst.tiers
    for t in tiers.tiers:
        rate = Fraction(rate_pico(t.mmr_ppm, abs(size), tiers.rate_per_lot), PICO)
        den = Fraction(v) * (Fraction(size) - abs(size) * rate)
        if den == 0:
            continue
        p = Fraction(cost - collateral - t.maintenance_amount) / den
        if p <= 0:
            continue
        key = tiers.key(size, Fraction(abs(size) * v) * p)
        last = t is tiers.tiers[-1]
        if t.floor <= key and (key < t.cap or last):
            return p
    return None


def liquidation_price(size: int, cost: int, collateral: int, inst: Instrument) -> int | None:
    """Liquidation price in ticks, rounded up for a long and down for a short; ``None`` if none."""
    lp = liquidation_price_exact(size, cost, collateral, inst)
    if lp is None:
        return None
    return -((-lp.numerator) // lp.denominator) if size > 0 else lp.numerator // lp.denominator


@dataclass(frozen=True)
class PositionMetrics:
    """Everything a trader sees for one position at one mark price (money in money units, prices in ticks)."""

    notional: int
    unrealized_pnl: int
    equity: int
    maintenance_margin: int
    initial_margin: int
    margin_ratio: float
    effective_leverage: float
    pnl_pct: float
    liquidatable: bool
    bankruptcy_price: int
    liquidation_price: int | None


def position_metrics(size: int, cost: int, collateral: int, mark: int, inst: Instrument) -> PositionMetrics:
    """All the formulas above for one position; ``collateral`` as defined in the module docstring."""
    n = notional(size, mark, inst)
    u = unrealized_pnl(size, cost, mark, inst)
    eq = collateral + u
    mm = inst.tiers.maintenance_margin(n, size)
    return PositionMetrics(
        notional=n,
        unrealized_pnl=u,
        equity=eq,
        maintenance_margin=mm,
        initial_margin=inst.tiers.initial_margin(n, size),
        margin_ratio=margin_ratio(mm, eq),
        effective_leverage=effective_leverage(n, eq),
        pnl_pct=pnl_pct(u, cost),
        liquidatable=eq < mm,
        bankruptcy_price=bankruptcy_price(size, cost, collateral, inst),
        liquidation_price=liquidation_price(size, cost, collateral, inst),
    )


# ------------------------------------------------------------------------------------------------ compiled twins
# int64 twins of the references above, for the numba kernels; each is tested equal to its reference.


@njit(cache=True, nogil=True)
def bracket_index_compiled(notional: int, floors: np.ndarray, k: int) -> int:
    """Index of the bracket (of ``k`` in one instrument's int64 ``floors``) that a notional falls in (compiled
    twin of :meth:`delever.tiers.RiskTiers.index_for`; tables are short, so a linear scan)."""
    j = 0
    while j + 1 < k and notional >= floors[j + 1]:
        j += 1
    return j


@njit(cache=True, nogil=True)
def tier_index_compiled(notional: int, m: int, floors: np.ndarray, k: int) -> int:
    """:func:`bracket_index_compiled` in row ``m`` of the instruments' padded (M, k) ``floors``."""
    return bracket_index_compiled(notional, floors[m], k)


@njit(cache=True, nogil=True)
def margin_at_tier_compiled(notional: int, mmr_ppm: int, cum: int) -> int:
    """Compiled twin of :func:`delever.tiers.bracket_maintenance_margin` (rate in ppm): ``ceil(notional * MMR) -
    cum`` in int64 without forming the product, for a known bracket."""
    return mul_ppm_ceil(notional, mmr_ppm) - cum


@njit(cache=True, nogil=True)
def bracket_maintenance_margin_compiled(
    notional: int, floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, k: int
) -> int:
    """Exact tiered MM (money units, rounded up) of a notional on one instrument's int64 (k,) tables."""
    j = bracket_index_compiled(notional, floors, k)
    return margin_at_tier_compiled(notional, mmr[j], cum[j])


@njit(cache=True, nogil=True)
def maintenance_margin_compiled(
    notional: int, m: int, floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, k: int
) -> int:  # fmt: skip
    """Compiled twin of :func:`maintenance_margin` (via :meth:`delever.tiers.RiskTiers.maintenance_margin`):
    exact tiered MM of a notional (money units) on instrument ``m``, tier tables as
    :func:`delever.engine.tier_arrays` builds them (int64 (M, k))."""
    return bracket_maintenance_margin_compiled(notional, floors[m], mmr[m], cum[m], k)


@njit(cache=True, nogil=True)
def maintenance_margins(
    notional: np.ndarray, floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, lots: np.ndarray, basis: int, rate: int
) -> np.ndarray:  # fmt: skip
    """:func:`tier_requirement_compiled` of every position (``notional`` money and ``lots`` >= 0, int64 (n,)) on
    one instrument's (k,) tables, tier basis and size rate: int64 (n,) MM, exact (no int64 product is formed)."""
    out = np.empty(notional.shape[0], dtype=np.int64)
    k = floors.shape[0]
    for i in range(notional.shape[0]):
        out[i] = tier_requirement_compiled(notional[i], lots[i], floors, mmr, cum, k, basis, rate)
    return out


@njit(cache=True, nogil=True)
def requirement_compiled(notional: int, lots: int, mmr_ppm: int, rate_per_lot: int, cum: int) -> int:
    """Compiled twin of :func:`delever.tiers.requirement`: ``ceil(notional * (MMR + lots * rate_per_lot)) - cum``
    (money, ``notional >= 0``, ``lots >= 0``), the size-linear rate in 1e-12 per lot capped at 100%; exact in
    int64 (the product is never formed: :func:`delever.intops.mul_div_floor`)."""
    if rate_per_lot == 0:
        return mul_ppm_ceil(notional, mmr_ppm) - cum
    r = mmr_ppm * (PICO // 1_000_000) + min(lots, PICO // rate_per_lot + 1) * rate_per_lot
    if r > PICO:
        r = PICO
    return -mul_div_floor(-notional, r, PICO) - cum


@njit(cache=True, nogil=True)
def tier_requirement_compiled(
    value: int, lots: int, floors: np.ndarray, mmr: np.ndarray, cum: np.ndarray, k: int, basis: int, rate_per_lot: int
) -> int:  # fmt: skip
    """The MM (money, rounded up) of a position of ``lots`` (>= 0) whose requirement is taken on ``value``
    (money: its notional at the mark, or its entry value, :mod:`delever.requirement`), on one instrument's
    int64 (k,) tables: the tier of its notional (``basis`` 0) or of its size (``basis`` 1, lots), then
    :func:`requirement_compiled`. Compiled twin of :meth:`delever.tiers.RiskTiers.maintenance_margin`."""
    j = bracket_index_compiled(lots if basis == 1 else value, floors, k)
    return requirement_compiled(value, lots, mmr[j], rate_per_lot, cum[j])


@njit(cache=True, nogil=True)
def bankruptcy_price_compiled(size: int, cost: int, collateral: int, v: int) -> int:
    """Compiled twin of :func:`bankruptcy_price`: ``(cost - collateral) / (size * V)`` ticks, rounded up for a
    long and down for a short, never below 0 (``size != 0``; ``v`` = value per lot-tick)."""
    num = cost - collateral
    den = size * v
    ticks = -((-num) // den) if size > 0 else num // den
    return ticks if ticks > 0 else 0


@njit(cache=True, nogil=True)
def cross_backing_compiled(rule: int, wallet: int, own_upnl: int, other_upnl: int, own_mm: int, total_mm: int) -> int:
    """Compiled twin of :func:`cross_backing` (rule 0 Binance whole account, rule 1 dYdX v4 share of TNC)."""
    if rule == BACKING_MM_SHARE and total_mm > 0:
        tnc = wallet + own_upnl + other_upnl
        return mul_div_floor(tnc, own_mm, total_mm) - own_upnl
    return wallet + other_upnl
