"""The report toolkit (:mod:`delever.report.format`, ``figures``, ``page``, ``sections``) and the pages built on it:
money in quote with 2 decimals, every axis titled, the exceedance step function, the activity zoom, transfers
apart from realized PnL, per-instrument figures with expiry markers, mechanism sections without raw Python,
and the compare, sweep and adl-event pages."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from delever.report import format as fmt
from delever.report.figures import activity_window, exceedance, layout
from delever.report.html import write_report
from delever.report.page import table
from delever.report.sections import ablation_table, mechanism_sections

T0 = 1_760_130_000 * 10**9  # 2025-10-10 21:00:00 UTC
TS = pa.timestamp("ns", tz="UTC")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1137434.774999"), "1,137,434.77"),  # display rounding only; the file keeps the micro-units
        (Decimal("12117.745"), "12,117.74"),  # half-even on the exact decimal
        (0.51, "0.51"),
        (-61995.255, "-61,995.26"),  # float repr 61995.255 rounds half-even at the exact decimal of the repr
        (Decimal("-0.004"), "0.00"),  # no "-0.00"
        ("1000000", "1,000,000.00"),
    ],
    ids=["micro-units", "half-even", "float", "negative", "negative-zero", "string"],
)
def test_money_two_decimals(value, text):
    assert fmt.money(value) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [(T0 + (19 * 60 + 37) * 10**9, "21:19:37"), (T0 + 250_000_000, "21:00:00.250")],
    ids=["whole-second", "sub-second"],
)
def test_utc_clock(ns, text):
    assert fmt.utc_clock(ns) == text


def test_exceedance_is_the_empirical_step_function():
    # 8 paths, 6 without ADL (0) and 2 with (5 and 10): above 0 are 2/8 = 25%, above 5 is 1/8 = 12.5%, above 10 none
    x, y = exceedance(np.array([0, 0, 10, 0, 0, 5, 0, 0]))
    assert x.tolist() == [0, 0, 5, 10]
    assert y.tolist() == [100.0, 25.0, 12.5, 0.0]


def test_activity_window_ignores_stragglers():
    ns = T0 + np.arange(7_200, dtype=np.int64) * 10**9
    count = np.zeros(7_200)
    count[1_177:1_180] = [300, 3_000, 485]  # ADL within three seconds of 21:19:37 ...
    count[6_000] = 1  # ... and one straggler 80 minutes later
    (lo, hi), first, last = activity_window(ns, count, coverage=0.99)
    assert (first, last) == (1_177, 1_179)
    # at least 60 s wide around those three seconds, plus 10% on each side
    assert lo == "2025-10-10T21:19:02" and hi == "2025-10-10T21:20:14"
    assert activity_window(ns, np.zeros(7_200)) is None


def test_every_axis_needs_a_title():
    import plotly.graph_objects as go

    with pytest.raises(ValueError, match="unit"):
        layout(go.Figure(), x_title="", y_title="USDT")


def test_tables_scroll():
    assert str(table(["a"], [["1"]])).startswith('<div class="scroll"><table>')


# ----------------------------------------------------------------------------------------------------------
# The run page
# ----------------------------------------------------------------------------------------------------------


def steps(n: int, *, adl_at: tuple[int, ...] = (), price: float = 100_000.0) -> pa.Table:
    adl = np.zeros(n, dtype=np.int64)
    adl[list(adl_at)] = 2
    liq = np.zeros(n, dtype=np.int64)
    liq[list(adl_at)] = 3
    return pa.table(
        {
            "step": pa.array(np.arange(n, dtype=np.int64)),
            "time": pa.array(T0 + np.arange(n, dtype=np.int64) * 10**9, type=pa.int64()).cast(TS),
            "index_price": np.full(n, price),
            "mark_price": np.full(n, price - 5),
            "trade_price": np.full(n, price - 9),
            "liquidated_notional": liq * 1_000.0,
            "liquidations": pa.array(liq),
            "insurance_fund": np.full(n, 5_000.0),
            "adl_notional": adl * 250.0,
            "adl_fills": pa.array(adl),
            "bad_debt": np.zeros(n),
        }
    )


def events(rows: list[tuple[str, str, float, float, float]]) -> pa.Table:
    """rows of (instrument, kind, size, price, amount)."""
    n = len(rows)
    return pa.table(
        {
            "step": pa.array(np.zeros(n, dtype=np.int64)),
            "time": pa.array(np.full(n, T0, dtype=np.int64), type=pa.int64()).cast(TS),
            "account": pa.array(np.arange(n, dtype=np.int64)),
            "counterparty": pa.array(np.full(n, -1, dtype=np.int64)),
            "instrument": pa.array([r[0] for r in rows], type=pa.string()),
            "kind": pa.array([r[1] for r in rows], type=pa.string()),
            "size": np.array([r[2] for r in rows]),
            "price": np.array([r[3] for r in rows]),
            "amount": np.array([r[4] for r in rows]),
        }
    )


def page(tmp_path, **over) -> str:
    kw = {
        "title": "t",
        "summary": {"bad_debt": Decimal("1137434.77"), "max_mark_drawdown_pct": 13.5611, "liquidations": 17_556},
        "steps": steps(7_200, adl_at=(1_177, 1_178)),
        "events": events([("BTCUSDT", "liquidation_fee", 0, 0, -3.5)]),
        "leverage_liquidated": np.array([5.0]),
        "leverage_adl": np.array([20.0]),
        "adl_indicator": np.array([5, 5, 5]),
        "inputs": [],
    }
    kw.update(over)
    write_report(tmp_path / "r.html", **kw)
    return (tmp_path / "r.html").read_text(encoding="utf-8")


def figure_json(text: str, div_id: str) -> dict:
    """The JSON of one plotly figure of a page (its data and layout)."""
    pattern = r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"'
    m = re.search(pattern, text, re.S)
    assert m, div_id
    return {"data": json.loads(m.group(1)), "layout": json.loads(m.group(2))}


def test_adl_axis_zooms_to_the_adl_and_mark_is_drawn_last(tmp_path):
    text = page(tmp_path)
    adl = figure_json(text, "fig-adl")
    # ADL at 21:19:37 and :38: a 60 s window centred on 21:19:37.5, 6 s margins, whole seconds
    assert adl["layout"]["xaxis"]["range"] == ["2025-10-10T21:19:01", "2025-10-10T21:20:13"]
    prices = figure_json(text, "fig-prices")
    assert [t["name"] for t in prices["data"]] == ["trade (venue last)", "index", "mark"]
    assert prices["layout"]["xaxis"]["range"] == ["2025-10-10T21:00:00", "2025-10-10T22:59:59"]
    for fig in (adl, prices, figure_json(text, "fig-insurance"), figure_json(text, "fig-liquidations")):
        assert "(" in fig["layout"]["yaxis"]["title"]["text"] or fig["layout"]["yaxis"]["title"]["text"] == "USDT"
        assert "UTC" in fig["layout"]["xaxis"]["title"]["text"]


def test_one_indicator_light_is_a_sentence_not_a_chart(tmp_path):
    text = page(tmp_path)
    assert 'id="fig-adl-indicator"' not in text and "All 3 ADL&#39;d positions showed light 5" in text
    text = page(tmp_path, adl_indicator=np.array([5, 4, 5, 1]))
    assert 'id="fig-adl-indicator"' in text


def test_summary_money_and_units(tmp_path):
    text = html.unescape(page(tmp_path))
    assert "Bad debt: shortfall below bankruptcy (USDT)" in text and ">1,137,434.77<" in text
    assert ">13.56%<" in text and ">17,556<" in text


def test_transfers_apart_from_realized_pnl(tmp_path):
    ev = events(
        [
            ("BTCUSDT", "liquidation_fee", 0.0, 0.0, -3.25),
            ("BTCUSDT", "liquidation_fee", 0.0, 0.0, -1.75),  # 5.00 paid by liquidated accounts to the fund
            ("BTCUSDT", "insurance_payout", 0.0, 0.0, 40.0),
            ("BTCUSDT", "funding", 0.0, 0.0, -2.0),
            ("BTCUSDT", "funding", 0.0, 0.0, 1.5),  # the receiving side: its own transfer row
            ("BTCUSDT", "liquidation_fill", -1.0, 100.0, -900.0),
            ("BTCUSDT", "lp_fill", 1.0, 100.0, 12.5),
            ("BTCUSDT", "settlement", 2.0, 50.0, 30.0),
            ("BTCUSDT", "settlement", -2.0, 50.0, -20.0),  # gains 30.00 and losses -20.00, never netted to +10
        ]
    )
    text = html.unescape(page(tmp_path, events=ev))
    part = text[text.index('<section id="events">') : text.index('<section id="inputs">')]
    transfers = part[: part.index("Fills:")]
    fills = part[part.index("Fills:") :]
    assert "liquidated accounts → insurance fund" in transfers and ">5.00<" in transfers
    assert "insurance fund → bankrupt accounts" in transfers and ">40.00<" in transfers
    assert "accounts paying funding → funding pool" in transfers and ">2.00<" in transfers
    assert "funding pool → accounts receiving funding" in transfers and ">1.50<" in transfers
    assert "liquidation_fill" not in transfers and "settlement" not in transfers
    assert ">30.00<" in fills and ">-20.00<" in fills and ">10.00<" not in fills
    assert ">-900.00<" in fills and ">12.50<" in fills


def test_per_instrument_prices_funds_and_expiry(tmp_path):
    per = [
        {"symbol": "BTCUSDT", "base": "BTC", "steps": steps(3_600, adl_at=(100,)), "expiry_ns": None},
        {"symbol": "BTCUSDT_251010", "base": "BTC", "steps": steps(3_600, price=100_500.0),
         "expiry_ns": T0 + 1_800 * 10**9},
    ]  # fmt: skip
    text = page(tmp_path, steps=steps(3_600, adl_at=(100,)), instrument_steps=per)
    second = figure_json(text, "fig-prices-2")
    assert "BTCUSDT_251010" in second["layout"]["yaxis"]["title"]["text"]
    assert any(s["x0"] == "2025-10-10T21:30:00" for s in second["layout"]["shapes"])
    assert "expiry 21:30:00" in text
    funds = figure_json(text, "fig-insurance")
    assert [t["name"] for t in funds["data"]][:2] == ["BTCUSDT insurance fund", "BTCUSDT_251010 insurance fund"]


# ----------------------------------------------------------------------------------------------------------
# Mechanism sections and ablation
# ----------------------------------------------------------------------------------------------------------


def test_mechanism_sections_render_no_raw_python():
    summary = {
        "mechanisms": {
            "circuit_breaker": {"fired_steps": 2, "accounts": 0, "notional": Decimal("0"), "halts": [(60, 120)],
                                "halted_steps": 60},
            "funding": {"fired_steps": 3, "accounts": 10, "notional": Decimal("5.5"), "rates_ppb": [500_000, -250_000]},
            "cross_margin": {"fired_steps": 1, "accounts": 2, "notional": Decimal("1"),
                             "instruments": [{"symbol": "BTCUSDT", "liquidations": 5, "bad_debt": 41_600_000,
                                              "insurance_fund_start": 1_000_000_000_000,
                                              "insurance_fund_end": 41_600_000,
                                              "kind": "perpetual", "min_mark": 99100.3, "open_interest_end": 1.5}]},
        }
    }  # fmt: skip
    rows = [
        {"variant": "all enabled", "liquidations": 8_728, "bad_debt": Decimal("10.5"), "bad_debt_unrecovered": 0,
         "insurance_fund_end": Decimal("0.28"), "adl_notional": Decimal("1"), "accounts_adl": 5},
        {"variant": "without circuit_breaker", "liquidations": 8_560, "bad_debt": Decimal("12"),
         "bad_debt_unrecovered": 0, "insurance_fund_end": Decimal("0.6"), "adl_notional": Decimal("2"),
         "accounts_adl": 7},
    ]  # fmt: skip
    ns = T0 + np.arange(200, dtype=np.int64) * 10**9
    out = {s["title"]: html.unescape(s["html"]) for s in mechanism_sections(summary, rows, ns)}
    breaker = out["Mechanism: circuit_breaker"]
    assert ">21:01:00<" in breaker and ">21:02:00<" in breaker and "(60, 120)" not in breaker
    assert ">+168<" in breaker and "+168.00" not in breaker  # counts carry no decimals
    assert ">-1.50<" in breaker  # bad debt 10.50 with it, 12.00 without
    funding = out["Mechanism: funding"]
    assert "rates_ppb" not in funding and "[" not in funding and "+0.0500%" in funding and "-0.0250%" in funding
    cross = out["Mechanism: cross_margin"]
    assert "{" not in cross and ">41.60<" in cross and ">1,000,000.00<" in cross


def test_ablation_table_units():
    rows = [{"variant": "all enabled", "liquidations": 17_556, "bad_debt": Decimal("1137434.77")}]
    text = html.unescape(str(ablation_table(rows)))
    assert "bad debt (USDT)" in text and ">17,556<" in text and ">1,137,434.77<" in text


def test_compare_page_styled_with_units(tmp_path):
    from delever.report.compare_page import write_compare_page

    def row(name, haircuts):
        return {"policy": name, "liquidations": 10, "bad_debt": 1.5, "accounts_adl": 2, "haircut_total": 3.25,
                "max_haircut_share_equity": 0.5, "top1pct_share": 1.0, "gini": 0.25, "leverage_median": 5.0,
                "conservation_error": 0, "_haircuts": np.array(haircuts, dtype=np.int64)}  # fmt: skip

    write_compare_page(tmp_path / "c.html", [row("queue-bitmex", [1_250_000, 2_000_000]), row("pro-rata-pnl", [])], "c")
    text = html.unescape((tmp_path / "c.html").read_text())
    body = text[text.index("<main>") :]  # past the inlined plotly.js
    assert ":mod:" not in body and "``" not in body and "<style>" in text and 'class="scroll"' in body
    assert "haircuts, total (USDT)" in text and ">3.25<" in text and "top 1% share of haircuts (%)" in text
    fig = figure_json(text, "fig-haircuts")
    assert fig["layout"]["height"] >= 320 and "USDT" in fig["layout"]["xaxis"]["title"]["text"]
