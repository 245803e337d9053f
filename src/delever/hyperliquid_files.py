"""Readers of the packaged Hyperliquid 10 October 2025 files (``delever/data/hyperliquid_btc_20251010``, see its
SOURCE.md) for :mod:`delever.hyperliquid_book`: the BTC positions, the ADL'd users and the per-ticker totals. Values
are read as exact decimals; a missing column or a bad value is an InputError naming the file, row and field."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .errors import InputError

POSITION_COLUMNS = (
    "user_address",
    "asset",
    "side",
    "position_size",
    "realized_pnl",
    "was_liquidated",
    "was_adl",
    "had_pre_existing_position",
)


ADL_USER_COLUMNS = ("user", "adl_notional", "account_value_realtime")


@dataclass(frozen=True)
class PositionRow:
    """One row of the positions file (sizes base, money USD as ``Decimal``)."""

    user: str
    long: bool
    size_after: Decimal
    realized_pnl: Decimal
    liquidated: bool
    adl: bool
    pre_existing: bool


def read_rows(path: Path, needed: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """``(row number, row)`` for each data row of the CSV at ``path`` (row 2 is the first after the header).

    Raises:
        InputError: an unreadable file or a missing ``needed`` column.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path), row=1)
        return list(enumerate(reader, start=2))


def read_decimal(text: str, path: Path, row: int, field: str) -> Decimal:
    """``text`` as an exact finite decimal.

    Raises:
        InputError: not a finite number (naming ``path``, ``row`` and ``field``).
    """
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"not a number: {text!r}", file=str(path), row=row, field=field) from None
    if not d.is_finite():
        raise InputError(f"not a finite number: {text!r}", file=str(path), row=row, field=field)
    return d


def _flag(text: str, path: Path, row: int, field: str) -> bool:
    t = text.strip()
    if t not in ("True", "False"):
        raise InputError(f"must be True or False (got {text!r})", file=str(path), row=row, field=field)
    return t == "True"


def read_positions(path: Path, coin: str) -> list[PositionRow]:
    """The rows of ``coin`` in a positions file (columns :data:`POSITION_COLUMNS`).

    Raises:
        InputError: a missing column, a bad number or flag, a side other than LONG/SHORT, a duplicate account.
    """
    out, seen = [], set()
    for row, r in read_rows(path, POSITION_COLUMNS):
        if r["asset"] != coin:
            continue
        side = r["side"].strip()
        if side not in ("LONG", "SHORT"):
            raise InputError(f"must be LONG or SHORT (got {side!r})", file=str(path), row=row, field="side")
        user = r["user_address"].strip()
        if not user or user in seen:
            raise InputError("empty or duplicate account", file=str(path), row=row, field="user_address")
        seen.add(user)
        size = read_decimal(r["position_size"], path, row, "position_size")
        if size < 0:
            raise InputError(f"must be >= 0 (got {size})", file=str(path), row=row, field="position_size")
        out.append(
            PositionRow(
                user,
                side == "LONG",
                size,
                read_decimal(r["realized_pnl"], path, row, "realized_pnl"),
                _flag(r["was_liquidated"], path, row, "was_liquidated"),
                _flag(r["was_adl"], path, row, "was_adl"),
                _flag(r["had_pre_existing_position"], path, row, "had_pre_existing_position"),
            )
        )
    if not out:
        raise InputError(f"no {coin} rows", file=str(path), field="asset")
    return out


def read_adl_users(path: Path) -> dict[str, tuple[Decimal, Decimal]]:
    """``user -> (adl_notional, account_value_realtime)`` (USD) of an ``adl_by_user_REALTIME.csv`` file."""
    out = {}
    for row, r in read_rows(path, ADL_USER_COLUMNS):
        notional = read_decimal(r["adl_notional"], path, row, "adl_notional")
        if notional < 0:
            raise InputError(f"must be >= 0 (got {notional})", file=str(path), row=row, field="adl_notional")
        out[r["user"].strip()] = (
            notional,
            read_decimal(r["account_value_realtime"], path, row, "account_value_realtime"),
        )
    return out


def ticker_value(path: Path, key: str, coin: str, column: str) -> Decimal:
    """``column`` of the row whose ``key`` column is ``coin`` (e.g. BTC's ``liq_notional``).

    Raises:
        InputError: no such row or column, or not a number.
    """
    for row, r in read_rows(path, (key, column)):
        if r[key].strip() == coin:
            return read_decimal(r[column], path, row, column)
    raise InputError(f"no {coin} row", file=str(path), field=key)
