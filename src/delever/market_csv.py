"""The CSV rows, numeric fields and UTC times of the market data files (:mod:`delever.marketdata`): every bad
value raises :class:`delever.errors.InputError` naming the file, the 1-based row (the header is row 1) and the
field."""

from __future__ import annotations

import csv
import math
import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime

from delever.errors import InputError


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (a header row has names, a data row numbers)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv_rows(path: pathlib.Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based row number, fields) for every non-blank line of a CSV file."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", file=str(path)) from None
    with handle:
        try:
            for row_no, fields in enumerate(csv.reader(handle), start=1):
                if fields and any(f.strip() for f in fields):
                    yield row_no, fields
        except (UnicodeDecodeError, csv.Error) as err:
            raise InputError(f"not a readable CSV file: {err}", file=str(path)) from None


def parse_float(text: str, file: str, row: int, field: str) -> float:
    """``text`` as a finite float.

    Raises:
        InputError: not a finite number (naming ``file``, ``row`` and ``field``).
    """
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"must be a number (got {text!r})", file=file, row=row, field=field) from None
    if not math.isfinite(value):
        raise InputError(f"must be finite (got {text!r})", file=file, row=row, field=field)
    return value


def parse_int(text: str, file: str, row: int, field: str) -> int:
    """``text`` as an integer.

    Raises:
        InputError: not an integer (naming ``file``, ``row`` and ``field``).
    """
    try:
        return int(text.strip())
    except ValueError:
        raise InputError(f"must be an integer (got {text!r})", file=file, row=row, field=field) from None


def parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 time; a time without an offset is taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def to_ns(moment: datetime) -> int:
    """UTC epoch nanoseconds of an aware ``moment`` (exact)."""
    # Integer arithmetic: a float timestamp() would lose sub-microsecond exactness at 1e18 ns.
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def iso_utc(ns: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of UTC epoch nanoseconds ``ns`` (whole seconds)."""
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
