"""Read a book of positions from CSV or Parquet (a risk team's own book).

One row per position; an account may hold several positions, at most one per instrument (a portfolio,
issue #11). Columns:

=============== ========================================================================================
``account``     account label (text or integer); the rows of one account share it
``instrument``  optional: the instrument's symbol (e.g. ``ETHUSDT``); empty or absent: the scenario's
                (first) instrument. Required to tell instruments apart in a multi-instrument scenario
``size``        signed base quantity (long > 0), a multiple of the instrument's lot size, not 0; for an
                inverse contract (:mod:`delever.inverse`) signed contracts (a USD long > 0)
``entry_price`` average entry price (quote; an inverse contract's in USD), > 0; need not be a whole tick (a
                position built in fills)
``margin_mode`` ``cross`` or ``isolated``
``collateral``  quote posted (µcoin with an inverse contract), >= 0: on an isolated row the position's
                isolated margin; on a cross row the account's cross wallet balance, given once per account:
                every cross row of an account must give the same value (an error names the first row that
                differs)
``opened_at``   optional: when the position was opened, ISO 8601 (UTC when no offset is given), not after
                the scenario's start; empty or absent: at the start (the ADL hierarchy's position age)
=============== ========================================================================================

Today's single-instrument files (one row per account, no ``instrument`` column) read as before.

Values are read as text and converted exactly (``Decimal``), so nothing is lost to floats. The book is
closed by liquidity-provider accounts as in :func:`delever.generator.generate_book`.

Errors name the file, the row (1-based, the header is row 1; for Parquet the data row number plus one) and
the field, and nothing is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .book import Book, lp_sizes
from .errors import InputError
from .instruments import Instrument
from .units import MONEY_SCALE, money
from .validate import MAX_MONEY_UNITS, check_money, check_total_money, limit_text

COLUMNS = ("account", "size", "entry_price", "margin_mode", "collateral")
OPTIONAL_COLUMNS = ("opened_at", "instrument")


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
    inst: Instrument | Sequence[Instrument],
    start_price_ticks: int | Sequence[int],
    lp_accounts: int,
    lp_wallet: Decimal,
    max_account_notional: Decimal | None = None,
    start_time_ns: int = 0,
) -> tuple[Book, list[str]]:
    """The book in ``path`` plus liquidity providers; returns ``(book, account labels)``.

    ``inst`` is the scenario's instrument, or its instruments in order (a row's ``instrument`` symbol picks
    one; the book's instrument index is its place in the list), with ``start_price_ticks`` one each. Accounts
    are numbered in order of first appearance; the liquidity providers come last and hold, on every
    instrument, the opposite of the traders' net position there.

    With ``max_account_notional`` (position limits on, :mod:`delever.mechanisms.limits`), a row whose entry
    notional exceeds it, or whose leverage at entry (entry notional / collateral) exceeds its tier's max
    leverage, is an error. ``start_time_ns`` (ns since the Unix epoch) is the scenario's start: the opening
    time of positions without ``opened_at`` and of the liquidity providers.

    Raises:
        InputError: a missing column, an unparsable or out-of-range value, an unknown instrument, a second
            position of an account on one instrument, cross rows of an account that disagree on its wallet, a
            limit.
    """
    instruments = [inst] if isinstance(inst, Instrument) else list(inst)
    starts = [int(start_price_ticks)] if isinstance(start_price_ticks, int | np.integer) else list(start_price_ticks)
    if len(starts) != len(instruments):
        raise ValueError("one start price per instrument")
    by_symbol = {i.symbol: k for k, i in enumerate(instruments)}
    path = Path(path)
    table = read_table(path)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}", file=str(path), row=1
        )
    cols = {c: table.column(c).to_pylist() for c in COLUMNS}
    opened_col = table.column("opened_at").to_pylist() if "opened_at" in table.column_names else None
    symbol_col = table.column("instrument").to_pylist() if "instrument" in table.column_names else None
    n = table.num_rows
    opened = np.full(n, int(start_time_ns), dtype=np.int64)
    if n == 0:
        raise InputError("the book has no positions", file=str(path))
    size = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    posted = np.zeros(n, dtype=np.int64)
    isolated = np.zeros(n, dtype=bool)
    instrument = np.zeros(n, dtype=np.int64)
    account = np.zeros(n, dtype=np.int64)
    start_of_row = np.zeros(n, dtype=np.int64)
    labels: list[str] = []
    index_of: dict[str, int] = {}
    held: set[tuple[int, int]] = set()
    wallet_row: dict[int, tuple[int, int]] = {}  # account -> (its cross wallet, the row that gave it)
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
        if not label:
            raise InputError("empty account", file=str(path), row=row, field="account")
        symbol = str(symbol_col[i]).strip() if symbol_col is not None and symbol_col[i] is not None else ""
        m = by_symbol.get(symbol, -1) if symbol else 0
        if m < 0:
            raise InputError(f"unknown instrument {symbol!r}; the scenario has {', '.join(by_symbol)}",
                             file=str(path), row=row, field="instrument")  # fmt: skip
        if label not in index_of:
            index_of[label] = len(labels)
            labels.append(label)
        acc = index_of[label]
        if (acc, m) in held:
            where = "instrument" if symbol_col is not None else "account"
            raise InputError(f"account {label!r} already holds a position on {instruments[m].symbol}",
                             file=str(path), row=row, field=where)  # fmt: skip
        held.add((acc, m))
        account[i], instrument[i] = acc, m
        inst_m = instruments[m]
        v = inst_m.value_per_lot_tick
        start_of_row[i] = starts[m]
        try:
            lots = inst_m.venue_lots(num("size"))
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
        if abs(lots) * starts[m] * v > MAX_MONEY_UNITS:
            raise InputError(
                f"notional {abs(Decimal(lots)) * starts[m] * v / MONEY_SCALE} at the start "
                f"price exceeds the limit of {limit_text()}",
                file=str(path),
                row=row,
                field="size",
            )
        if max_account_notional is not None:
            entry_notional = abs(Decimal(lots) * inst_m.lot_size * entry)
            if inst_m.inverse:  # the position's value in µcoin at its entry: contracts x cv / E
                entry_notional = abs(Decimal(lots) * inst_m.lot_size * inst_m.contract_value * 10**6 / entry)
            if entry_notional > max_account_notional:
                raise InputError(
                    f"entry notional {entry_notional} exceeds the account limit {max_account_notional}",
                    file=str(path),
                    row=row,
                    field="size",
                )
            max_lev = inst_m.tiers.max_leverage_for(money(entry_notional.quantize(Decimal("0.000001"))))
            if max_lev == 0 or entry_notional > coll * max_lev:
                raise InputError(
                    f"leverage {entry_notional / coll if coll else 'infinite'} above the tier's max {max_lev}x",
                    file=str(path),
                    row=row,
                    field="collateral",
                )
        size[i] = lots
        # entry value rounded up for a long and down for a short (signed cost rounds up): against the account
        exact = inst_m.entry_cost(lots, entry)
        if abs(exact) > MAX_MONEY_UNITS:
            raise InputError(
                f"entry notional {Decimal(int(abs(exact))) / MONEY_SCALE} exceeds the limit of {limit_text()}",
                file=str(path),
                row=row,
                field="entry_price",
            )
        cost[i] = -((-exact.numerator) // exact.denominator)
        isolated[i] = mode == "isolated"
        if not isolated[i]:
            given = wallet_row.setdefault(acc, (int(posted[i]), row))
            if given[0] != int(posted[i]):
                raise InputError(
                    f"a cross row's collateral is the account's wallet, given as {Decimal(given[0]) / 10**6} on row "
                    f"{given[1]}; this row gives {coll}", file=str(path), row=row, field="collateral",
                )  # fmt: skip
        if opened_col is not None and opened_col[i] is not None and str(opened_col[i]).strip():
            opened[i] = _opened_ns(opened_col[i], int(start_time_ns), str(path), row)

    try:
        check_total_money(
            int(posted.sum(dtype=object)) + lp_accounts * money(lp_wallet), "total collateral + LP wallets"
        )
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field="collateral") from None
    n_acc = len(labels)
    vpl = np.array([i.value_per_lot_tick for i in instruments], dtype=np.int64)[instrument]
    notional = np.abs(size) * start_of_row * vpl
    equity = posted + size * start_of_row * vpl - cost
    lev = np.where(equity > 0, notional / np.maximum(equity, 1), np.inf)
    wallet = np.zeros(n_acc + lp_accounts, dtype=np.int64)
    for acc, (w, _) in wallet_row.items():
        wallet[acc] = w
    wallet[n_acc:] = money(lp_wallet)
    lp = {k: [] for k in ("account", "instrument", "size", "cost")}
    for m, inst_m in enumerate(instruments):
        if not (instrument == m).any() and m > 0:
            continue  # an instrument nobody holds gets no liquidity-provider positions
        net = int(size[instrument == m].sum())
        lp_size = lp_sizes(net, lp_accounts)
        lp["account"].append(np.arange(n_acc, n_acc + lp_accounts))
        lp["instrument"].append(np.full(lp_accounts, m, dtype=np.int64))
        lp["size"].append(lp_size)
        lp["cost"].append(lp_size * starts[m] * inst_m.value_per_lot_tick)
    n_lp = sum(a.size for a in lp["account"])
    book = Book.from_arrays(
        wallet=wallet,
        exempt=np.concatenate([np.zeros(n_acc, dtype=bool), np.ones(lp_accounts, dtype=bool)]),
        account=np.concatenate([account, *lp["account"]]),
        instrument=np.concatenate([instrument, *lp["instrument"]]),
        size=np.concatenate([size, *lp["size"]]),
        cost=np.concatenate([cost, *lp["cost"]]),
        collateral=np.concatenate([np.where(isolated, posted, 0), np.zeros(n_lp, dtype=np.int64)]),
        isolated=np.concatenate([isolated, np.zeros(n_lp, dtype=bool)]),
        entry_leverage=np.concatenate([lev, np.zeros(n_lp)]),
        opened_ns=np.concatenate([opened, np.full(n_lp, int(start_time_ns), dtype=np.int64)]),
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
