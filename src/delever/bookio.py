"""Read a book of positions from CSV or Parquet (a risk team's own book).

One row per position, one instrument, at most one position per account. Columns:

=============== ========================================================================================
``account``     account label (text or integer); unique
``size``        signed base quantity (long > 0), a multiple of the instrument's lot size, not 0
``entry_price`` average entry price (quote), > 0; need not be a whole tick (a position built in fills)
``margin_mode`` ``cross`` or ``isolated``
``collateral``  quote posted: the isolated margin, or the account's cross wallet balance; >= 0
``opened_at``   optional: when the position was opened, ISO 8601 (UTC when no offset is given), not after
                the scenario's start; empty or absent: at the start (the ADL hierarchy's position age)
=============== ========================================================================================

Values are read as text and converted exactly (``Decimal``), so nothing is lost to floats. The book is
closed by liquidity-provider accounts as in :func:`delever.generator.generate_book`.

Errors name the file, the row (1-based, the header is row 1; for Parquet the data row number plus one) and
the field, and nothing is returned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .book import Book
from .errors import InputError
from .instruments import Instrument
from .units import MONEY_SCALE, money
from .validate import MAX_MONEY_UNITS, check_money, check_total_money, limit_text

COLUMNS = ("account", "size", "entry_price", "margin_mode", "collateral")
OPTIONAL_COLUMNS = ("opened_at",)


def read_table(path: Path) -> pa.Table:
    """The file as a table of strings (CSV) or as stored (Parquet). Raises InputError if unreadable."""
    if not path.exists():
        raise InputError("file not found", file=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        types = {c: pa.string() for c in COLUMNS + OPTIONAL_COLUMNS}
        opts = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
        return pacsv.read_csv(path, convert_options=opts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from exc


def load_book(
    path: str | Path,
    inst: Instrument,
    start_price_ticks: int,
    lp_accounts: int,
    lp_wallet: Decimal,
    max_account_notional: Decimal | None = None,
    start_time_ns: int = 0,
) -> tuple[Book, list[str]]:
    """The book in ``path`` plus liquidity providers; returns ``(book, account labels)``.

    With ``max_account_notional`` (position limits on, :mod:`delever.mechanisms.limits`), a row whose entry
    notional exceeds it, or whose leverage at entry (entry notional / collateral) exceeds its tier's max
    leverage, is an error. ``start_time_ns`` (ns since the Unix epoch) is the scenario's start: the opening
    time of positions without ``opened_at`` and of the liquidity providers.

    Raises:
        InputError: a missing column, an unparsable or out-of-range value, a duplicate account, a limit.
    """
    path = Path(path)
    table = read_table(path)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}", file=str(path), row=1
        )
    cols = {c: table.column(c).to_pylist() for c in COLUMNS}
    opened_col = table.column("opened_at").to_pylist() if "opened_at" in table.column_names else None
    n = table.num_rows
    opened = np.full(n, int(start_time_ns), dtype=np.int64)
    if n == 0:
        raise InputError("the book has no positions", file=str(path))
    v = inst.value_per_lot_tick
    size = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    posted = np.zeros(n, dtype=np.int64)
    isolated = np.zeros(n, dtype=bool)
    labels: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        row = i + 2

        def num(field: str, i: int = i, row: int = row) -> Decimal:
            raw = cols[field][i]
            try:
                d = Decimal(str(raw).strip())
            except InvalidOperation:
                raise InputError(f"not a number: {raw!r}", file=str(path), row=row, field=field) from None
            if not d.is_finite():
                raise InputError(f"not a finite number: {raw!r}", file=str(path), row=row, field=field)
            return d

        label = str(cols["account"][i]).strip()
        if not label or label in seen:
            raise InputError("empty or duplicate account", file=str(path), row=row, field="account")
        seen.add(label)
        labels.append(label)
        try:
            lots = inst.size_to_lots(num("size"))
        except ValueError as exc:
            raise InputError(str(exc), file=str(path), row=row, field="size") from None
        if lots == 0:
            raise InputError("size must not be 0", file=str(path), row=row, field="size")
        entry = num("entry_price")
        if entry <= 0:
            raise InputError(f"must be > 0 (got {entry})", file=str(path), row=row, field="entry_price")
        mode = str(cols["margin_mode"][i]).strip().lower()
        if mode not in ("cross", "isolated"):
            raise InputError(
                f"must be 'cross' or 'isolated' (got {mode!r})", file=str(path), row=row, field="margin_mode"
            )
        coll = num("collateral")
        if coll < 0:
            raise InputError(f"must be >= 0 (got {coll})", file=str(path), row=row, field="collateral")
        try:
            posted[i] = money(check_money(coll, "collateral"))
        except ValueError as exc:
            raise InputError(str(exc), file=str(path), row=row, field="collateral") from None
        if abs(lots) * start_price_ticks * v > MAX_MONEY_UNITS:
            raise InputError(
                f"notional {abs(Decimal(lots)) * inst.lot_size * start_price_ticks * inst.tick_size} at the start "
                f"price exceeds the limit of {limit_text()}",
                file=str(path),
                row=row,
                field="size",
            )
        if max_account_notional is not None:
            entry_notional = abs(Decimal(lots) * inst.lot_size * entry)
            if entry_notional > max_account_notional:
                raise InputError(
                    f"entry notional {entry_notional} exceeds the account limit {max_account_notional}",
                    file=str(path),
                    row=row,
                    field="size",
                )
            max_lev = inst.tiers.max_leverage_for(money(entry_notional.quantize(Decimal("0.000001"))))
            if max_lev == 0 or entry_notional > coll * max_lev:
                raise InputError(
                    f"leverage {entry_notional / coll if coll else 'infinite'} above the tier's max {max_lev}x",
                    file=str(path),
                    row=row,
                    field="collateral",
                )
        size[i] = lots
        # entry value rounded up for a long and down for a short (signed cost rounds up): against the account
        value = Decimal(lots) * entry / inst.tick_size * v
        if abs(value) > MAX_MONEY_UNITS:
            raise InputError(
                f"entry notional {abs(value) / MONEY_SCALE} exceeds the limit of {limit_text()}",
                file=str(path),
                row=row,
                field="entry_price",
            )
        cost[i] = int(value.to_integral_value(rounding="ROUND_CEILING"))
        isolated[i] = mode == "isolated"
        if opened_col is not None and opened_col[i] is not None and str(opened_col[i]).strip():
            opened[i] = _opened_ns(opened_col[i], int(start_time_ns), str(path), row)

    try:
        check_total_money(
            int(posted.sum(dtype=object)) + lp_accounts * money(lp_wallet), "total collateral + LP wallets"
        )
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field="collateral") from None
    net = int(size.sum())
    lp_size = np.full(lp_accounts, -net // lp_accounts, dtype=np.int64)
    lp_size[: (-net) % lp_accounts] += 1
    notional = np.abs(size) * start_price_ticks * v
    equity = posted + size * start_price_ticks * v - cost
    lev = np.where(equity > 0, notional / np.maximum(equity, 1), np.inf)
    book = Book.from_arrays(
        wallet=np.concatenate([np.where(isolated, 0, posted), np.full(lp_accounts, money(lp_wallet))]),
        exempt=np.concatenate([np.zeros(n, dtype=bool), np.ones(lp_accounts, dtype=bool)]),
        account=np.arange(n + lp_accounts),
        size=np.concatenate([size, lp_size]),
        cost=np.concatenate([cost, lp_size * start_price_ticks * v]),
        collateral=np.concatenate([np.where(isolated, posted, 0), np.zeros(lp_accounts, dtype=np.int64)]),
        isolated=np.concatenate([isolated, np.zeros(lp_accounts, dtype=bool)]),
        entry_leverage=np.concatenate([lev, np.zeros(lp_accounts)]),
        opened_ns=np.concatenate([opened, np.full(lp_accounts, int(start_time_ns), dtype=np.int64)]),
    )
    return book, labels + [f"lp-{j}" for j in range(lp_accounts)]


def _opened_ns(raw: object, start_time_ns: int, file: str, row: int) -> int:
    """``opened_at`` as ns since the Unix epoch (naive times are UTC); not after the start."""
    if isinstance(raw, datetime):
        t = raw
    else:
        try:
            t = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise InputError(f"not an ISO 8601 time: {raw!r}", file=file, row=row, field="opened_at") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    ns = int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1_000
    if ns > start_time_ns:
        raise InputError("after the scenario's start", file=file, row=row, field="opened_at")
    return ns
