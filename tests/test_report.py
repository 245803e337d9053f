"""The HTML report: written, complete, offline, deterministic, and robust to empty inputs."""

from __future__ import annotations

import html
import pathlib
import re

import numpy as np
import pyarrow as pa
import pytest

from delever.report import write_report
from delever.report.html import bar_buckets, format_value, minmax_indices

T0_NS = 1_700_000_000 * 1_000_000_000
TS = pa.timestamp("ns", tz="UTC")
HEADINGS = (
    "Summary",
    "Prices",
    "Liquidations",
    "Insurance fund and bad debt",
    "Auto-deleveraging (ADL)",
    "Effective leverage",
    "ADL indicator",
    "Events by kind",
    "Inputs",
)


def make_steps(n: int, seed: int = 1) -> pa.Table:
    """n steps, one a second: a price crash at 60% of the run, liquidations around it, the fund draining."""
    rng = np.random.default_rng(seed)
    idx = 30_000 + np.cumsum(rng.normal(0, 5, n))
    idx[int(0.6 * n) :] *= 0.9
    liq = np.where(rng.random(n) < 0.2, rng.integers(1, 4, n), 0)
    liq_notional = liq * rng.uniform(1_000, 50_000, n)
    adl_fills = np.where(rng.random(n) < 0.05, rng.integers(1, 3, n), 0)
    adl_notional = adl_fills * rng.uniform(500, 5_000, n)
    fund = np.maximum(1_000_000 - np.cumsum(liq_notional) * 0.01, 0.0)
    return pa.table(
        {
            "step": pa.array(np.arange(n, dtype=np.int64)),
            "time": pa.array(T0_NS + np.arange(n, dtype=np.int64) * 1_000_000_000, type=pa.int64()).cast(TS),
            "index_price": idx,
            "mark_price": idx + rng.normal(0, 1, n),
            "trade_price": idx + rng.normal(0, 3, n),
            "liquidated_notional": liq_notional,
            "liquidations": pa.array(liq.astype(np.int64)),
            "insurance_fund": fund,
            "adl_notional": adl_notional,
            "adl_fills": pa.array(adl_fills.astype(np.int64)),
            "bad_debt": np.cumsum(np.where(fund == 0, liq_notional * 0.001, 0.0)),
        }
    )


def make_events(n: int, n_steps: int, seed: int = 2) -> pa.Table:
    rng = np.random.default_rng(seed)
    kinds = [
        "liquidation_fill",
        "lp_fill",
        "liquidation_fee",
        "insurance_payout",
        "adl_fill",
        "adl_counterparty_fill",
        "bad_debt",
    ]
    step = np.sort(rng.integers(0, max(n_steps, 1), n)).astype(np.int64)
    return pa.table(
        {
            "step": pa.array(step),
            "time": pa.array(T0_NS + step * 1_000_000_000, type=pa.int64()).cast(TS),
            "account": pa.array(rng.integers(0, 100, n).astype(np.int64)),
            "counterparty": pa.array(rng.integers(-1, 100, n).astype(np.int64)),
            "instrument": pa.array(["BTCUSDT"] * n, type=pa.string()),
            "kind": pa.array([kinds[i] for i in rng.integers(0, len(kinds), n)], type=pa.string()),
            "size": rng.normal(0, 0.5, n),
            "price": rng.uniform(25_000, 31_000, n),
            "amount": rng.normal(0, 100, n),
        }
    )


SUMMARY = {
    "accounts": 1200,
    "steps": 50,
    "liquidations": 31,
    "liquidated_notional": 1234567.891234,
    "bad_debt": "4321.5",
    "insurance_fund_start": 1_000_000.0,
    "insurance_fund_end": 987654.32,
    "insurance_fund_min": 950000.0,
    "adl_events": 4,
    "adl_notional": 12000.5,
    "accounts_adl": 3,
    "min_mark_price": 26543.2,
    "max_mark_drawdown_pct": 12.3456,
    "conservation_error": 0.0,
}
INPUTS = [
    {"name": "BTCUSDT mark price", "kind": "real", "value": "1s klines", "source": "venue archive"},
    {"name": "account book", "kind": "generated", "value": "1,200 accounts", "source": "seed 7"},
    {"name": "MMR", "kind": "assumed", "value": "0.4 %", "source": "tier 1 <default>"},
]


def write(path: pathlib.Path, n_steps: int = 50, n_events: int = 400, **over) -> str:
    rng = np.random.default_rng(3)
    kw = {
        "title": "Test run",
        "summary": SUMMARY,
        "steps": make_steps(n_steps),
        "events": make_events(n_events, n_steps),
        "leverage_liquidated": rng.lognormal(3.5, 0.6, 30),
        "leverage_adl": rng.lognormal(1.5, 0.8, 12),
        "adl_indicator": rng.integers(1, 6, 12),
        "inputs": INPUTS,
        "extra_sections": [{"title": "Venue comparison", "html": "<table><tr><td>x</td></tr></table>"}],
    }
    kw.update(over)
    write_report(path, **kw)
    return path.read_text(encoding="utf-8")


def strip_plotlyjs(page: str) -> str:
    """The page without the inlined plotly.js bundle (whose own source mentions URLs it never loads here)."""
    return re.sub(r"<script>/\*\*\s*\* plotly\.js.*?</script>", "", page, count=1, flags=re.DOTALL)


def test_page_written_with_sections_offline(tmp_path: pathlib.Path) -> None:
    page = write(tmp_path / "r.html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for h in (*HEADINGS, "Venue comparison"):
        assert f">{h}</h2>" in page, h
    # plotly.js inlined exactly once; no script or resource loaded from the network.
    assert page.count("* plotly.js v") == 1
    assert not re.search(r"<script[^>]*\ssrc\s*=", page)
    rest = strip_plotlyjs(page)
    assert len(rest) < len(page) - 1_000_000  # the bundle was found and removed
    assert "http://" not in rest and "https://" not in rest
    assert not re.search(r"(src|href)\s*=\s*[\"']?//", rest)
    for fig in ("fig-prices", "fig-liquidations", "fig-insurance", "fig-adl", "fig-leverage", "fig-adl-indicator"):
        assert f'id="{fig}"' in page, fig
    # Summary formatting, inputs escaping and kind colouring, extra HTML inserted raw.
    # money in quote with 2 decimals, every value with its unit
    assert "1,234,567.89" in page and "4,321.50" in page and "12.35%" in page
    assert "Liquidated notional (USDT)" in page and "Minimum mark price (USDT per BTC)" in page
    assert "tier 1 &lt;default&gt;" in page
    assert 'class="kind kind-real"' in page and 'class="kind kind-assumed"' in page
    assert "<table><tr><td>x</td></tr></table>" in page


def test_deterministic(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "a.html")
    write(tmp_path / "b.html")
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_empty_inputs_still_valid(tmp_path: pathlib.Path) -> None:
    page = write(
        tmp_path / "e.html",
        n_events=0,
        leverage_liquidated=np.array([]),
        leverage_adl=np.array([]),
        adl_indicator=None,
        extra_sections=None,
        inputs=[],
    )
    for h in HEADINGS:
        assert f">{h}</h2>" in page, h
    assert "No events in this run." in page
    assert "No liquidated or ADL'd accounts" in html.unescape(page)
    assert "No ADL indicator data" in page
    assert page.count("* plotly.js v") == 1


def test_empty_steps(tmp_path: pathlib.Path) -> None:
    page = write(
        tmp_path / "z.html",
        n_steps=0,
        n_events=0,
        leverage_liquidated=np.array([]),
        leverage_adl=np.array([]),
        adl_indicator=np.array([], dtype=np.int64),
    )
    assert page.count("No steps in this run.") == 2 and "No liquidations in this run." in page


def test_large_run_downsampled(tmp_path: pathlib.Path) -> None:
    page = write(tmp_path / "big.html", n_steps=10_000, n_events=5_000)
    # plotly.js is ~4.8 MB; the data of 10k steps must add little on top of it.
    assert len(page.encode()) - len(strip_plotlyjs(page).encode()) > 4_000_000
    assert len(strip_plotlyjs(page).encode()) < 1_000_000


def test_minmax_keeps_extremes() -> None:
    y = np.sin(np.linspace(0, 20, 100_000))
    y[54_321] = -50.0  # a one-step crash low
    y[7_777] = np.nan
    idx = minmax_indices(y, 3_000)
    assert len(idx) <= 3_000 and 54_321 in idx and idx[0] == 0 and idx[-1] == len(y) - 1
    assert np.all(np.diff(idx) > 0)
    assert np.array_equal(minmax_indices(y[:10], 3_000), np.arange(10))


def test_bar_buckets_preserve_totals() -> None:
    rng = np.random.default_rng(0)
    v = np.where(rng.random(10_000) < 0.5, rng.uniform(1, 10, 10_000), 0.0)
    pos, (s,), bucket = bar_buckets(v, 3_000)
    assert bucket == 4 and len(pos) <= 3_000 and s.sum() == pytest.approx(v.sum())
    sparse = np.zeros(10_000)
    sparse[[5, 500, 9_999]] = [1.0, 2.0, 3.0]
    pos, (s,), bucket = bar_buckets(sparse, 3_000)
    assert bucket == 1 and pos.tolist() == [5, 500, 9_999] and s.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("accounts", 1234567, "1,234,567"),
        ("bad_debt", 1234.5, "1,234.50"),
        ("bad_debt", "98765432.004999", "98,765,432.00"),
        ("bad_debt", "-0.001", "0.00"),
        ("min_mark_price", "101516.5", "101,516.50"),
        ("min_mark_price", "0.00012", "0.00012"),
        ("open_interest_end", 6409.223, "6,409.223"),
        ("max_mark_drawdown_pct", 12.3456, "12.35%"),
        ("conservation_error", 0.0, "0"),
        ("x", "n/a", "n/a"),
        ("x", None, "—"),
        ("x", True, "yes"),
    ],
)
def test_format_value(key: str, value: object, text: str) -> None:
    assert format_value(key, value) == text
