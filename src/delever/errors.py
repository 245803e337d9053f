"""Errors raised on bad input.

Every error about input names where the problem is (file, row, field) so that a user can fix it
without reading the code; the CLI turns them into a message and a non-zero exit, and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass
class InputError(Exception):
    """Bad input: a file, a row of it (1-based, counting the header as row 1), a field, and what is wrong.

    Any of ``file``, ``row`` and ``field`` may be ``None`` when it does not apply (a CLI argument has no
    row). ``str(err)`` gives one line such as ``book.csv, row 12, field 'size': must be > 0 (got -3)``.
    """

    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConservationError(AssertionError):
    """Money was created or destroyed: the engine's ledger identity does not hold (a bug, never input)."""


def finite_decimal(value, field: str) -> Decimal:
    """``value`` (a number or its text, as a person types it) as a finite :class:`~decimal.Decimal`.

    Raises:
        InputError(field=field): not a number, or not finite (NaN, infinity).
    """
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InputError(f"not a number: {value!r}", field=field) from None
    if not d.is_finite():
        raise InputError(f"not a finite number: {value!r}", field=field)
    return d
