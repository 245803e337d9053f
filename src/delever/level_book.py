"""A discrete order book: resting price levels (side, price, size) instead of the calibrated depth curve.

Why: a limit order (dYdX v4's IOC liquidation order at its fillable price, ../shared/specs/engines.md section 1)
means what it means at a venue only against a book of discrete levels: it fills level by level up to its limit
and may fill partially or not at all (:func:`delever.liquidity.lots_within_limit`).

Sources of the levels (the scenario's ``[liquidity.levels]``, :class:`delever.config.levels.PriceLevelsConfig`):

- an **L2 snapshot file** (CSV or Parquet, columns ``side`` (``bid``/``ask``), ``price`` (quote), ``size``
  (base units)), :func:`load_levels`. Each size is floored to whole lots (a level of less than one lot is an
  error); levels of one side at one price add up. The snapshot's mid ``(best bid + best ask) / 2`` is the centre
  its levels are measured from: a level at ``price`` lies at the fractional distance ``|price - mid| / mid``;
- **generated** from the calibrated curve, :func:`levels_from_curve`: one level every ``spacing`` (a fraction
  of the centre) on each side, out to the last calibrated band, each holding the curve's depth between the
  previous level and itself, floored to whole lots (the floors' remainders carry to the next level, so the
  levels hold the curve's depth to within one lot).

Model, the same as the curve's (:mod:`delever.liquidity`) so that every stage that trades against a book runs
unchanged: the levels move with the book's centre (the index) at their fractional distances, and the book's
state is the signed quantity it has absorbed and not yet refilled (``net``). A side's cumulative depth is a
step function of the distance (:meth:`PriceLevels.curve`): the marginal price at an absorbed quantity is the
price of the level that quantity reaches, and an order fills each level it crosses at that level's price.
Refill: ``net`` decays by ``2 ** (-dt / half_life)`` each step, as the curve's does: the deepest consumed
lots come back first, the best level last. Past the last level the book is unlimited at
:data:`delever.liquidity.MAX_IMPACT` (the curve's backstop: a market order always completes; a limit order
inside the levels never reaches it). Prices are float64 ticks (``centre x (1 +- distance)``); a fill's VWAP is
rounded to a tick against the taker by the stage, so float noise can cost the account at most one tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError
from .instruments import Instrument
from .liquidity import MAX_IMPACT, DepthCurve

LEVEL_COLUMNS = ("side", "price", "size")
SIDES = ("bid", "ask")


@dataclass(frozen=True)
class PriceLevels:
    """Resting levels per side at fractional distances from the centre.

    Attributes:
        bid_distance, ask_distance: float64 (n,), strictly increasing, in (0, :data:`MAX_IMPACT`).
        bid_lots, ask_lots: int64 (n,), > 0, the lots resting at each distance.
    """

    bid_distance: np.ndarray
    bid_lots: np.ndarray
    ask_distance: np.ndarray
    ask_lots: np.ndarray

    def curve(self) -> DepthCurve:
        """The step-shaped :class:`~delever.liquidity.DepthCurve` of these levels: on a distance grid of every
        level of both sides, each level appears twice (the cumulative depth just before and just after it), and
        the grid ends at :data:`MAX_IMPACT` with the total depth. Between levels the depth is flat (no quantity
        rests there), so the inverse curve ``x(D)`` is the distance of the level that ``D`` reaches."""
        xs = sorted(set(self.bid_distance.tolist()) | set(self.ask_distance.tolist()))
        bids = dict(zip(self.bid_distance.tolist(), self.bid_lots.tolist()))
        asks = dict(zip(self.ask_distance.tolist(), self.ask_lots.tolist()))
        dist, bid, ask = [0.0], [0.0], [0.0]
        cb = ca = 0
        for x in xs:
            dist += [x, x]
            bid.append(float(cb))
            ask.append(float(ca))
            cb += bids.get(x, 0)
            ca += asks.get(x, 0)
            bid.append(float(cb))
            ask.append(float(ca))
        dist.append(MAX_IMPACT)
        bid.append(float(cb))
        ask.append(float(ca))
        return DepthCurve(np.array(dist), np.array(bid), np.array(ask))


def _read(path: Path) -> pa.Table:
    if not path.exists():
        raise InputError("file not found", file=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        types = {c: pa.string() for c in LEVEL_COLUMNS}
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from exc


def load_levels(path: str | Path, inst: Instrument) -> PriceLevels:
    """The levels of an L2 snapshot file (CSV/Parquet, :data:`LEVEL_COLUMNS`), sizes in base units floored to
    ``inst``'s lots, distances from the snapshot's mid (module docstring).

    Raises:
        InputError: the file is missing or unreadable, a column is missing, a row's side is not ``bid``/``ask``,
            a price or size is not a finite number > 0, a size is under one lot, a side has no level, the best
            bid is not below the best ask, or a level lies at or beyond :data:`MAX_IMPACT` from the mid (file,
            row, field named; rows are 1-based counting the header).
    """
    path = Path(path)
    table = _read(path)
    missing = [c for c in LEVEL_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; expected {', '.join(LEVEL_COLUMNS)}",
                         file=str(path), row=1)  # fmt: skip
    cols = {c: table.column(c).to_pylist() for c in LEVEL_COLUMNS}
    lot = Fraction(inst.lot_size)
    levels: dict[str, dict[Fraction, int]] = {"bid": {}, "ask": {}}
    for i in range(table.num_rows):
        row = i + 2

        def num(field: str, i: int = i, row: int = row) -> Fraction:
            raw = cols[field][i]
            try:
                d = Decimal(str(raw).strip())
            except (InvalidOperation, ValueError):
                raise InputError(f"not a number: {raw!r}", file=str(path), row=row, field=field) from None
            if not d.is_finite() or d <= 0:
                raise InputError(f"must be a finite number > 0 (got {raw!r})", file=str(path), row=row, field=field)
            return Fraction(d)

        side = str(cols["side"][i]).strip().lower()
        if side not in SIDES:
            raise InputError(f"must be bid or ask (got {cols['side'][i]!r})", file=str(path), row=row, field="side")
        price = num("price")
        lots = int(num("size") / lot)  # floored: a level never offers more than it holds
        if lots < 1:
            raise InputError(f"under one lot ({inst.lot_size})", file=str(path), row=row, field="size")
        levels[side][price] = levels[side].get(price, 0) + lots
    for side in SIDES:
        if not levels[side]:
            raise InputError(f"no {side} level", file=str(path), field="side")
    best_bid, best_ask = max(levels["bid"]), min(levels["ask"])
    if best_bid >= best_ask:
        raise InputError(f"crossed or locked book: best bid {float(best_bid)} >= best ask {float(best_ask)}",
                         file=str(path), field="price")  # fmt: skip
    mid = (best_bid + best_ask) / 2
    out = []
    for side in SIDES:
        prices = sorted(levels[side], reverse=side == "bid")
        dist = [abs(p - mid) / mid for p in prices]
        if dist[-1] >= Fraction(MAX_IMPACT):
            raise InputError(f"a {side} level at {float(prices[-1])} lies {float(dist[-1]):.0%} from the mid "
                             f"{float(mid)}; at most {MAX_IMPACT:.0%}", file=str(path), field="price")  # fmt: skip
        out += [np.array([float(x) for x in dist]), np.array([levels[side][p] for p in prices], dtype=np.int64)]
    return PriceLevels(*out)


def levels_from_curve(curve: DepthCurve, spacing: float) -> PriceLevels:
    """Levels every ``spacing`` (fraction of the centre, > 0) on each side of ``curve``, out to its last
    calibrated point before :data:`MAX_IMPACT`: level ``i`` at ``i x spacing`` holds the curve's depth between
    ``(i - 1) x spacing`` and ``i x spacing`` plus the previous levels' floor remainders, floored to lots; levels
    that hold nothing are left out.

    Raises:
        ValueError: ``spacing`` not > 0, or a side that gets no level (the curve's depth within the spacing is
            under one lot).
    """
    if not spacing > 0:
        raise ValueError(f"level spacing must be > 0, got {spacing}")
    reach = float(curve.distance[-2]) if curve.distance.shape[0] > 2 else float(curve.distance[-1])
    n = max(int(np.floor(reach / spacing + 1e-9)), 1)
    x = spacing * np.arange(1, n + 1)
    out = []
    for lots in (curve.bid_lots, curve.ask_lots):
        cum = np.floor(np.interp(x, curve.distance, lots)).astype(np.int64)
        size = np.diff(np.concatenate([[0], cum]))
        keep = size > 0
        if not keep.any():
            raise ValueError(f"no level holds a lot at spacing {spacing}: the curve is too thin")
        out += [x[keep].astype(np.float64), size[keep]]
    return PriceLevels(*out)


def order_book_curve(liquidity, calibrated: DepthCurve, inst: Instrument, resolve) -> DepthCurve:
    """The book a run trades against: ``calibrated`` unless the scenario's ``[liquidity.levels]`` (``liquidity``
    a :class:`delever.config.market.LiquidityConfig`) asks for discrete levels, from its file (``resolve`` turns
    the scenario's path into a file) or generated at its spacing."""
    cfg = liquidity.levels
    if cfg is None:
        return calibrated
    if cfg.file is not None:
        return load_levels(resolve(cfg.file), inst).curve()
    return levels_from_curve(calibrated, float(cfg.spacing_pct) / 100).curve()
