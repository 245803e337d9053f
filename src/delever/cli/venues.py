"""``delever position`` and ``delever venues``: one position, and the rulebooks, under a venue's rules.

``register(app)`` adds both commands to a typer app (``delever.cli.app`` in the installed CLI):

- ``delever position --venue NAME --symbol SYM --side long|short --size QTY --entry PRICE
  [--wallet AMOUNT | --leverage X] [--margin-mode isolated|cross] [--mark PRICE] [--json]`` computes one
  position under :mod:`delever.venues` (:meth:`delever.venues.base.Rulebook.position`). ``--size`` counts
  base units for linear contracts and contracts for inverse ones; ``--wallet`` is in the settlement asset.
  ``--json`` prints one object with ccxt's unified position keys plus ``bankruptcyPrice`` and ``adlQuantile``
  (null: it needs the whole book); numbers are exact decimals.
- ``delever position --venue NAME --wallet AMOUNT --position SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN]
  --position ... [--json]`` computes one account with several positions (signed sizes, one per symbol; cross, or
  isolated with their own margin) as the engine prices it (:mod:`delever.account_prices`): each position's
  liquidation price (a cross one with the others at their marks), bankruptcy price (an isolated one's own
  margin, a cross one's under the venue's cross backing rule), and ADL score.
- ``delever venues`` lists the rulebooks; ``delever venues NAME`` shows one's tiers and rules.

Bad input exits with status 2 and a message naming the argument (``--size: must be > 0 (got -1)``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError

EXIT_BAD_INPUT = 2

_FLAGS = {"margin_mode": "--margin-mode", "name": "NAME"}


def _fail(exc: InputError) -> None:
    flag = _FLAGS.get(exc.field or "", f"--{exc.field}" if exc.field else "")
    typer.echo(f"error: {flag}: {exc.message}" if flag else f"error: {exc.message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _to_jsonable(obj: Any, marks: dict[str, str]) -> Any:
    """Replace Decimals with unique string marks (re-inserted as bare numbers after ``json.dumps``)."""
    if isinstance(obj, dict):
        return {k: _to_jsonable(v, marks) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_jsonable(v, marks) for v in obj]
    if isinstance(obj, Decimal):
        key = f"@@dec{len(marks)}@@"
        marks[key] = format(obj, "f")
        return key
    return obj


def exact_json(obj: dict[str, Any]) -> str:
    """JSON with ``Decimal`` values written as exact decimal numbers (``json`` would need floats)."""
    marks: dict[str, str] = {}
    text = json.dumps(_to_jsonable(obj, marks))
    for key, num in marks.items():
        text = text.replace(f'"{key}"', num)
    return text


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, Decimal):
        return f"{v:,f}"
    return str(v)


def position(
    venue: Annotated[str, typer.Option(help="Rulebook name (see `delever venues`).")],
    symbol: Annotated[str | None, typer.Option(help="The venue's symbol, e.g. BTCUSDT.")] = None,
    side: Annotated[str | None, typer.Option(help="long or short.")] = None,
    size: Annotated[str | None, typer.Option(help="Size: base units (linear) or contracts (inverse).")] = None,
    entry: Annotated[str | None, typer.Option(help="Entry price (quote).")] = None,
    wallet: Annotated[str | None, typer.Option(help="Isolated margin or cross wallet (settlement asset).")] = None,
    leverage: Annotated[
        str | None,
        typer.Option(help="Leverage; margin = entry notional / leverage (default 10x, or the tier's max if lower)."),
    ] = None,
    margin_mode: Annotated[str, typer.Option("--margin-mode", help="isolated or cross.")] = "isolated",
    mark: Annotated[str | None, typer.Option(help="Mark price (default: the entry price).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (ccxt position keys).")] = False,
    positions: Annotated[
        list[str] | None,
        typer.Option(
            "--position",
            help="SYMBOL:SIZE@ENTRY[:MARK][:isolated=MARGIN], repeatable: one account with these positions (size "
            "< 0: short; cross unless given its own isolated margin; --wallet is the cross wallet). Replaces "
            "--symbol/--side/--size/--entry.",
        ),
    ] = None,
) -> None:
    """Compute one position under a venue's rules: margins, PnL, liquidation and bankruptcy prices; or, with
    --position, every position of one cross account as the engine prices it."""
    from ..venues import get_venue

    if positions:
        _account(venue, positions, wallet, as_json)
        return
    try:
        missing = [f for f, v in (("symbol", symbol), ("side", side), ("size", size), ("entry", entry)) if v is None]
        if missing:
            raise InputError("required unless --position is given", field=missing[0])
        assert symbol is not None and side is not None and size is not None and entry is not None
        rb = get_venue(venue)
        res = rb.position(
            symbol, side, size, entry, wallet=wallet, leverage=leverage, margin_mode=margin_mode, mark=mark
        )
    except InputError as exc:
        _fail(exc)
        return
    data = res.to_ccxt()
    if as_json:
        typer.echo(exact_json(data))
        return
    info = data["info"]
    t = Table(
        title=f"{rb.display_name} {res.symbol}: {data['side']} {_fmt(data['contracts'])} contracts", header_style="bold"
    )
    t.add_column("field")
    t.add_column("value", justify="right")
    rows = [
        ("entry price", data["entryPrice"]),
        ("mark price", data["markPrice"]),
        (f"notional ({res.settle})", data["notional"]),
        ("leverage", data["leverage"]),
        (f"collateral ({res.settle})", data["collateral"]),
        ("initial margin", data["initialMargin"]),
        ("maintenance margin", data["maintenanceMargin"]),
        ("maintenance margin rate", data["maintenanceMarginPercentage"]),
        ("unrealized PnL", data["unrealizedPnl"]),
        ("equity", info["equity"]),
        ("liquidation price", data["liquidationPrice"]),
        ("bankruptcy price", data["bankruptcyPrice"]),
        ("margin mode", data["marginMode"]),
        ("tier (max leverage)", f"{info['tier']} ({_fmt(info['maxLeverage'])}x)"),
        ("liquidatable at mark", info["liquidatable"]),
        ("ADL quantile", "n/a (needs the whole book)"),
    ]
    for k, v in rows:
        t.add_row(k, _fmt(v))
    Console(width=100).print(t)


def _account(venue: str, positions: list[str], wallet: str | None, as_json: bool) -> None:
    """``delever position --position ...``: one cross account's positions (:mod:`delever.account_prices`)."""
    from dataclasses import asdict

    from ..account_prices import account_view, parse_position
    from ..venues import get_venue

    try:
        specs = [parse_position(p) for p in positions]
        if wallet is None and any(spec.isolated_margin is None for spec in specs):
            raise InputError("the account's cross wallet is required with a cross --position", field="wallet")
        view = account_view(get_venue(venue), wallet or "0", specs)
    except InputError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(exact_json(asdict(view)))
        return
    t = Table(
        title=f"{view.venue}: account, cross wallet {_fmt(view.wallet)}, equity {_fmt(view.equity)}, maintenance "
        f"margin {_fmt(view.maintenance_margin)}{' (liquidatable)' if view.liquidatable else ''}",
        header_style="bold",
    )
    cols = ("symbol", "margin", "size", "entry", "mark", "uPnL", "MM", "liquidation price", "bankruptcy price",
            "ADL score")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col in ("symbol", "margin") else "right")
    for p in view.positions:
        score = "-" if p.adl_score is None else f"{p.adl_score:.6g}"
        mode = "cross" if p.isolated_margin is None else f"isolated {_fmt(p.isolated_margin)}"
        t.add_row(p.symbol, mode, _fmt(p.size), _fmt(p.entry_price), _fmt(p.mark_price), _fmt(p.unrealized_pnl),
                  _fmt(p.maintenance_margin), _fmt(p.liquidation_price), _fmt(p.bankruptcy_price), score)  # fmt: skip
    console = Console(width=140)
    console.print(t)
    console.print(
        f"Each cross position's prices with the account's other cross positions at their marks; an isolated one "
        f"is backed by its own margin. Cross bankruptcy: {view.backing_rule} backing; "
        f"ADL score: {view.adl_policy} (a winner's; its place in the queue needs the whole book).",
        highlight=False,
    )


def venues(
    name: Annotated[str | None, typer.Argument(help="A rulebook to show in full.")] = None,
) -> None:
    """List the venue rulebooks, or show one's tiers and rules."""
    from ..venues import VENUES, get_venue

    console = Console(width=140)
    if name is None:
        t = Table(title="delever venue rulebooks", header_style="bold")
        for col in ("name", "venue", "contracts", "liquidation", "ADL"):
            t.add_column(col)
        for rb in VENUES.values():
            contracts = ", ".join(f"{s} ({c.contract})" for s, c in rb.instruments.items())
            t.add_row(rb.name, rb.display_name, contracts, rb.liquidation_style(), rb.adl_label())
        console.print(t)
        return
    try:
        rb = get_venue(name)
    except InputError as exc:
        _fail(InputError(exc.message, field="name"))
        return
    d = rb.describe()
    console.print(f"[bold]{rb.display_name}[/] ({rb.name}): {rb.summary}")
    for sym, c in d["contracts"].items():  # type: ignore[union-attr]
        t = Table(
            title=f"{sym}: {c['contract']}, settle {c['settle']}, tick {c['tick_size']}, lot {c['lot_size']}, "
            f"contract {c['contract_size']}; {c['margin']} '{c['tiers_name']}'",
            header_style="bold",
        )
        for col in ("tier", "floor", "cap", "max_leverage", "mmr_pct", "imr_pct", "maintenance_amount"):
            t.add_column(col, justify="right")
        for row in c["tiers"]:
            t.add_row(
                *(row[k] for k in ("tier", "floor", "cap", "max_leverage", "mmr_pct", "imr_pct", "maintenance_amount"))
            )
        console.print(t)
    r = Table(title="rules", header_style="bold", show_lines=True)
    r.add_column("rule")
    r.add_column("value")
    for section in ("liquidation", "adl", "fees", "funding", "mark"):
        for k, v in d[section].items():  # type: ignore[union-attr]
            r.add_row(f"{section}.{k}", _fmt(v))
    console.print(r)
    eng = d["engine"]
    console.print(
        f"[bold]engine[/] (delever run --venue {rb.name}): contract {eng['symbol']}, ADL policy "  # type: ignore[index]
        f"{eng['adl_policy']}, ADL trigger {eng['adl_rule']['trigger']}, fill "  # type: ignore[index]
        f"{eng['adl_rule'].get('fill', 'none')}; not expressible: {'; '.join(eng['gaps']) or 'none'}",
        highlight=False,
    )  # type: ignore[index]
    console.print("[bold]stand-ins[/] (rules the venue does not publish):")
    for s in d["stand_ins"]:  # type: ignore[union-attr]
        console.print(f"  - {s}", highlight=False)
    console.print("[bold]sources[/]:")
    for s in d["sources"]:  # type: ignore[union-attr]
        console.print(f"  - {s}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``position`` and ``venues`` to ``app``."""
    app.command("position")(position)
    app.command("venues")(venues)
