"""The provenance of a run's inputs for its report: which are real data (with their source), generated (seeded)
or assumed (parameter values)."""

from __future__ import annotations

from .engine import RunResult


def inputs_provenance(r: RunResult) -> list[dict]:
    """Which inputs are real data (with source), generated (seeded) or assumed (parameter values)."""
    sc = r.scenario
    d = r.depth
    rows = [
        {
            "name": "Index price path",
            "kind": "real",
            "value": f"{r.path.steps:,} steps of {sc.step_seconds:g} s",
            "source": f"{sc.prices.file} (Binance BTCUSDT perpetual 1-minute klines; OHLC path inside each bar: "
            "open, nearer extreme, other extreme, close)",
        },
        *_gap_rows(r),
        *_stretch_rows(r),
        {
            "name": "Order-book depth shape",
            "kind": "real",
            "value": "bid lots within 1..5%: "
            + ", ".join(f"{x:,.0f}" for x in d.bid_base)
            + "; ask: "
            + ", ".join(f"{x:,.0f}" for x in d.ask_base),
            "source": f"{sc.liquidity.depth_file}. {d.method}",
        },
    ]
    if sc.book.generator is not None:
        g = sc.book.generator
        rows.append(
            {
                "name": "Book of positions",
                "kind": "generated",
                "value": f"{g.accounts:,} accounts, seed {r.seed}; long fraction {g.long_fraction}, notional "
                f"lognormal median {g.notional_median} USDT sigma {g.notional_sigma}; leverage "
                f"lognormal median {g.leverage_median}x sigma {g.leverage_sigma} max {g.leverage_max}x; "
                f"entry dispersion {g.entry_sigma}; isolated {g.isolated_fraction}",
                "source": "delever.generator (README: The default book)",
            }
        )
    elif sc.book.hyperliquid is not None:
        from .hyperliquid_book import book_inputs

        rows += book_inputs(sc, float(r.path.index[0]))
    else:
        rows.append(
            {
                "name": "Book of positions",
                "kind": "real",
                "value": f"{r.book.n_positions - r.lp_accounts:,} positions",
                "source": str(sc.book.file),
            }
        )
    liq = sc.liquidity
    rows += [
        _depth_scale_row(r),
        {
            "name": "Book resilience half-life",
            "kind": "assumed",
            "value": f"{liq.resilience_half_life_s:g} s",
            "source": "Obizhaeva-Wang style refill (delever.liquidity)",
        },
        {
            "name": "Liquidity providers",
            "kind": "assumed",
            "value": f"{liq.lp_accounts} accounts x {liq.lp_wallet} USDT",
            "source": "hold the book's resting depth",
        },
        {
            "name": "Mark price basis EMA",
            "kind": "assumed",
            "value": f"{sc.mark.basis_ema_s:g} s",
            "source": "Deribit legacy mark (specs/venues.md section 5), median as Binance",
        },
        {
            "name": "Mark band",
            "kind": "assumed",
            "value": "none" if sc.mark.max_deviation_pct is None else f"{sc.mark.max_deviation_pct:g}% of the index",
            "source": "[mark] max_deviation_pct (delever.mark); a venue's published band under --venue",
        },
        {
            "name": "Liquidation fee",
            "kind": "assumed",
            "value": f"{sc.fees.liquidation_fee_rate}",
            "source": "Binance's old BTCUSDT rate (specs/venues.md section 1)",
        },
        {
            "name": "Insurance fund, start",
            "kind": "assumed",
            "value": f"{sc.insurance_fund.balance} USDT",
            "source": "scenario parameter (Binance's real fund balance is not in the data)",
        },
        {
            "name": "Risk-limit tiers",
            "kind": "real",
            "value": r.instrument.tiers.name,
            "source": "Binance BTCUSDT brackets of 2021-03-18 (specs/venues.md section 1; historical)"
            if sc.instrument.tiers == "binance-btcusdt-2021"
            else "the scenario's tier rows (instrument.tiers; sources in the scenario file)",
        },
    ]
    return rows


def _gap_rows(r: RunResult) -> list[dict]:
    """One Inputs row per gap in the price file that the scenario filled (``prices.gap_fill``)."""
    from .prices import describe_gap

    if not r.path.filled_gaps:
        return []
    how = {
        "linear": "a straight line from the last close before the gap to the next open",
        "hold": "the last close before the gap held until the next bar opens",
    }[r.path.gap_fill]
    return [
        {
            "name": "Price gap, filled",
            "kind": "assumed",
            "value": describe_gap(g, r.path.bar_ms),
            "source": f"{r.scenario.prices.file}: prices.gap_fill = {r.path.gap_fill!r}: {how}; nothing inside is real",
        }
        for g in r.path.filled_gaps
    ]


def _stretch_rows(r: RunResult) -> list[dict]:
    low = r.scenario.prices.stretch_to_low
    if low is None:
        return []
    return [
        {
            "name": "Price path stretched",
            "kind": "assumed",
            "value": f"every move from the first price scaled so that the low is {low:,} "
            f"(min index {float(r.path.index.min()):,.2f})",
            "source": "prices.stretch_to_low (delever.prices.stretch_to_low): the recorded path's shape, a deeper low",
        }
    ]


def _depth_scale_row(r: RunResult) -> dict:
    """The depth scale, and what it scaled from what (base quantities, or quote notional at the run's price)."""
    liq = r.scenario.liquidity
    d = r.depth
    if liq.depth_scale_basis == "quote":
        price = float(r.path.index[0])
        return {
            "name": "Depth scale",
            "kind": "assumed",
            "value": f"{liq.depth_scale:g} x Binance's resting USD notional of {d.window_start}..{d.window_end} "
            f"(within 1%: bids {d.bid_notional[0]:,.0f}, asks {d.ask_notional[0]:,.0f} USDT), converted to "
            f"base at the run's first index price {price:,.2f}: {liq.depth_scale * d.bid_base[0]:,.3f} / "
            f"{liq.depth_scale * d.ask_base[0]:,.3f} {r.instrument.base} within 1%",
            "source": "depth_scale_basis = 'quote': the simulated venue's share of Binance's resting depth in "
            "dollars, which carries the recorded shape to another price level",
        }
    return {
        "name": "Depth scale",
        "kind": "assumed",
        "value": f"{liq.depth_scale:g} x Binance's depth (base quantities as recorded)",
        "source": "the simulated venue's share of Binance's resting depth",
    }
