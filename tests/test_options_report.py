"""The option run's report rows (:mod:`delever.report.options_section`): micro-units to quote, kinds grouped, shares
of each account type (hand examples)."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup

from delever.report.options_section import account_type_rows, kind_rows, options_html

OPTIONS = {
    "margin": "deribit",
    "kept_option_positions": 3,
    "account_types": {
        "naked writer": {"accounts": 4, "equity_start": 10_000_000, "futures_mm_start": 1_500_000,
                         "option_mm_start": 2_000_000, "option_mm_peak": 3_250_000, "liquidated_accounts": 1},
        "futures only": {"accounts": 0, "equity_start": 0, "futures_mm_start": 0, "option_mm_start": 0,
                         "option_mm_peak": 0, "liquidated_accounts": 0},
    },
}  # fmt: skip


def _instrument(kind, liquidations, notional, bad_debt, adl, flow):
    return {"kind": kind, "liquidations": liquidations, "liquidated_notional": notional, "bad_debt": bad_debt,
            "adl_notional": adl, "insurance_fund_flow": flow}  # fmt: skip


def test_account_type_rows_in_quote_with_the_share_liquidated():
    naked, futures = account_type_rows(OPTIONS)
    # 2,000,000 micro = 2 USDT; 3,250,000 = 3.25; 1 of 4 accounts liquidated = 25%
    assert naked["mm_start"] == Decimal(2) and naked["mm_peak"] == Decimal("3.25")
    assert naked["equity_start"] == Decimal(10) and naked["futures_mm_start"] == Decimal("1.5")
    assert naked["liquidated_share"] == 0.25
    assert futures["liquidated_share"] == 0.0  # no accounts: no division


def test_kind_rows_group_perpetuals_and_dated_futures_as_futures():
    rows = kind_rows([
        _instrument("perpetual", 3, 1_000_000, 0, 0, 500),
        _instrument("dated_future", 2, 2_000_000, 1_000_000, 0, -700),
        _instrument("option", 5, 250_000, 10, 40, 3),
        _instrument("option", 1, 750_000, 0, 60, -3),
    ])  # fmt: skip
    futures, options = rows
    assert (futures["kind"], futures["instruments"], futures["liquidations"]) == ("futures", 2, 5)
    assert futures["notional"] == Decimal(3) and futures["bad_debt"] == Decimal(1)
    assert futures["fund_flow"] == Decimal("-0.0002")  # (500 - 700) micro
    assert (options["instruments"], options["liquidations"], options["notional"]) == (2, 6, Decimal(1))
    assert options["adl_notional"] == Decimal("0.0001") and options["fund_flow"] == Decimal(0)


def test_options_html_shows_the_three_tables():
    instruments = [_instrument("option", 1, 1_000_000, 0, 0, 0)]
    summary = {"insurance_fund_start": "100", "insurance_fund_end": "7", "socialized_loss": "2", "bad_debt": "9",
               "adl_notional": "0", "insurance_fund_paid": "93",
               "mechanisms": {"cross_margin": {"instruments": instruments}}}  # fmt: skip
    html = options_html(OPTIONS, summary)
    assert isinstance(html, Markup)
    for title in ("Margin per account type", "Liquidations by instrument kind", "Fund, ADL and socialized loss"):
        assert title in html
    assert "3.25" in html and "25.0%" in html
