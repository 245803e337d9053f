"""``delever offset``: deleverage ``--size`` of account A's position against account B at a price, under a venue's
rules (:func:`delever.operations.offset`, dYdX's ``OffsetSubaccountPerpetualPosition`` with its collateral check).

    delever offset --venue dydx --symbol BTC-USD --size 1 \\
        --a-wallet 1000 --a-position BTC-USD:1@100000:98500 \\
        --b-wallet 100 --b-position BTC-USD:-2@101000:98500 [--price 99000] [--json]

Accounts are given as ``delever position --position`` reads them (``SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN]``,
repeatable; quote units). ``--price`` defaults to A's bankruptcy price under the venue's cross backing rule
(:func:`delever.operations.bankruptcy_price`: dYdX's and Binance's ADL price). A rejected offset (B's collateral
check) is a result, printed with the lots B could take; bad input exits with status 2 naming the argument.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError
from .terminal import fail


def offset_command(
    venue: Annotated[str, typer.Option(help="Rulebook name (see `delever venues`).")],
    symbol: Annotated[str, typer.Option(help="The instrument to deleverage, e.g. BTC-USD.")],
    size: Annotated[str, typer.Option(help="Base size to offset (> 0).")],
    a_position: Annotated[list[str], typer.Option("--a-position", help="A's SYMBOL:SIZE@ENTRY[:MARK][:isolated=M].")],
    b_position: Annotated[list[str], typer.Option("--b-position", help="B's positions, the same form.")],
    a_wallet: Annotated[str, typer.Option("--a-wallet", help="A's cross wallet (quote).")] = "0",
    b_wallet: Annotated[str, typer.Option("--b-wallet", help="B's cross wallet (quote).")] = "0",
    price: Annotated[str | None, typer.Option(help="Offset price (default: A's bankruptcy price).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (exact decimals).")] = False,
) -> None:
    """Deleverage SIZE of account A's position against account B's opposite one at a price, with dYdX's collateral
    check on B: the accounts after, the transfer and what B could take."""
    from ..account_prices import parse_position
    from ..operations import AccountState, PositionState, bankruptcy_price, offset
    from ..operations.state import backing_rule_of
    from ..units import money, money_to_decimal
    from ..venues import get_venue
    from .venues import exact_json

    try:
        rb = get_venue(venue)

        def account(name: str, wallet: str, texts: list[str]) -> AccountState:
            specs = [parse_position(t) for t in texts]
            positions = [PositionState.of(rb.instrument(s.symbol), s.size, s.entry, s.mark, s.isolated_margin)
                         for s in specs]  # fmt: skip
            try:
                return AccountState(money(wallet), positions, name)
            except ValueError as exc:
                raise InputError(str(exc), field=f"{name.lower()}-wallet") from None

        a, b = account("A", a_wallet, a_position), account("B", b_wallet, b_position)
        inst = rb.instrument(symbol)
        sym = inst.symbol
        lots = inst.size_to_lots(size) if _on_lot(size, inst.lot_size) else None
        if lots is None or lots <= 0:
            raise InputError(f"{size} is not a positive whole number of lots ({inst.lot_size})", field="size")
        bp = bankruptcy_price(a, sym, backing_rule=backing_rule_of(rb.cross_backing_rule))
        ticks = bp.ticks if price is None else _price_ticks(inst, price)
        out = offset(a, b, sym, lots, ticks)
    except InputError as exc:
        fail(exc)
        return

    def usd(x: int) -> Decimal:
        return money_to_decimal(x)

    rows = {
        "venue": rb.name,
        "symbol": sym,
        "bankruptcy_price_a": bp.price,
        "price": ticks * inst.tick_size,
        "accepted": out.accepted,
        "reason": out.reason,
        "size": out.lots * inst.lot_size,
        "b_can_take": out.capacity * inst.lot_size,
        "transfers": [{"payer": t.payer, "payee": t.payee, "amount": usd(t.amount)} for t in out.transfers],
        "accounts": [
            {"name": x.name, "wallet": usd(x.wallet), "equity": usd(x.equity()),
             "size_left": x.position(sym).size * inst.lot_size, "realized_pnl": usd(r)}
            for x, r in zip((out.deleveraged, out.offsetting), out.realized_pnl)
        ],
    }  # fmt: skip
    if as_json:
        typer.echo(exact_json(rows))
        return
    console = Console(width=120)
    verdict = "accepted" if out.accepted else f"rejected: {out.reason}"
    console.print(
        f"{rb.display_name} {sym}: offset {size} at {rows['price']:,f} (A's bankruptcy price {bp.price:,f}); "
        f"B can take {rows['b_can_take']:,f}; {verdict}",
        highlight=False,
    )
    t = Table(header_style="bold")
    for col in ("account", "wallet", "equity at marks", f"{sym} left", "realized PnL"):
        t.add_column(col, justify="left" if col == "account" else "right")
    for acc in rows["accounts"]:
        t.add_row(acc["name"], f"{acc['wallet']:,f}", f"{acc['equity']:,f}", f"{acc['size_left']:,f}",
                  f"{acc['realized_pnl']:,f}")  # fmt: skip
    console.print(t)
    for tr in rows["transfers"]:
        console.print(f"{tr['payer']} pays {tr['payee']} {tr['amount']:,f}", highlight=False)


def _on_lot(size: str, lot: Decimal) -> bool:
    try:
        q = Decimal(size) / lot
    except ArithmeticError:
        return False
    return q.is_finite() and q == q.to_integral_value()


def _price_ticks(inst, price: str) -> int:
    try:
        return inst.price_to_ticks(price)
    except ValueError as exc:
        raise InputError(str(exc), field="price") from None


def register(app: typer.Typer) -> None:
    """Add ``delever offset`` to ``app``."""
    app.command("offset")(offset_command)
