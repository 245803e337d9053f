"""The stylised facts of a run (:mod:`delever.facts`) as text rows (report and CLI) and as the report's
"Stylised facts" section, with a replay's figures beside the real event's where they are known."""

from __future__ import annotations


def fact_rows(facts: dict) -> list[tuple[str, str]]:
    """``(fact, value)`` text rows of :func:`stylised_facts`'s dict, in reading order (report and CLI)."""
    if "not_computed" in facts:
        return [("stylised facts", f"not computed: {facts['not_computed']}")]

    def num(x, fmt="{:,.2f}") -> str:
        return "n/a" if x is None else fmt.format(float(x))

    lev_a, lev_l = facts["adl_leverage"], facts["liquidated_leverage"]
    conc, waves = facts["adl_concentration"], facts["adl_waves"]
    neg_run, neg_end = facts["negative_equity_during_run"], facts["negative_equity_at_end"]
    per_min, fund = facts["liquidations_per_minute"], facts["fund_drawdown"]
    rows = [
        ("first liquidation", facts["first_liquidation_time"] or "none"),
        ("first ADL fill", facts["first_adl_time"] or "none"),
        (
            "seconds from first liquidation to first ADL",
            num(facts["seconds_first_liquidation_to_first_adl"], "{:,.0f}"),
        ),
        (f"ADL waves (gap > {facts['wave_gap_s']:g} s)", f"{waves['count']:,}"),
    ]
    for i, w in enumerate(waves["waves"][:5], start=1):
        rows.append((f"  wave {i}", f"{w['start']} to {w['end']}: {w['fills']:,} fills, {num(w['notional'])} notional"))
    if waves["count"] > 5:
        rows.append(("  ...", f"{waves['count'] - 5:,} more waves in summary.json"))
    rows += [
        ("ADL'd accounts", f"{conc['accounts']:,}"),
        ("effective leverage of ADL'd accounts at ADL: median / p90", f"{num(lev_a['median'])} / {num(lev_a['p90'])}"),
        (
            "effective leverage of liquidated accounts at liquidation: median / p90",
            f"{num(lev_l['median'])} / {num(lev_l['p90'])} ({lev_l['nonpositive_equity']:,} of {lev_l['accounts']:,} "
            "at equity <= 0, left out)",
        ),
        (
            f"share of ADL notional: top 1% ({conc['top1pct_accounts']:,} accounts) / top 10",
            f"{num(conc['top1pct_share'], '{:.1%}')} / {num(conc['top10_share'], '{:.1%}')}",
        ),
        (
            "accounts with equity below zero during the run: count / total / worst",
            f"{neg_run['accounts']:,} / {num(neg_run['total'])} / {num(neg_run['worst'])}",
        ),
        (
            "accounts with equity below zero at the end: count / total / worst",
            f"{neg_end['accounts']:,} / {num(neg_end['total'])} / {num(neg_end['worst'])}",
        ),
        (
            "liquidations per minute: peak (minute) / minutes with any",
            f"{per_min['peak_liquidations']:,} ({per_min['peak_minute'] or 'none'}) / "
            f"{per_min['minutes_with_liquidations']:,}",
        ),
        ("liquidated notional in the peak minute", num(per_min["peak_notional"])),
        (
            "insurance fund: max drawdown (pct of peak) / minimum (time)",
            f"{num(fund['max_drawdown'])} ({num(fund['max_drawdown_pct'], '{:.2f}%')}) / {num(fund['min'])} "
            f"({fund['time_of_min'] or 'start'})",
        ),
    ]
    return rows


def facts_section(facts: dict, real: list[dict] | None = None) -> dict:
    """A report section (``{"title", "html"}``) of the facts; ``real``: rows ``{"fact", "replay", "real",
    "source"}`` putting a replay's figures beside the real ones, each traced to its data file."""
    import html

    def table(head: tuple[str, ...], rows) -> str:
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    text = (
        "<p class='note'>Computed from the event log and the step series (delever.facts; definitions in "
        'its docstring); per-minute and per-wave lists are in summary.json under "facts".</p>'
        + table(("fact", "value"), fact_rows(facts))
    )
    if real:
        text += "<h3>This replay beside what really happened</h3>" + table(
            ("fact", "replay", "real", "real figure from"),
            [(r["fact"], r["replay"], r["real"], r["source"]) for r in real],
        )
    return {"title": "Stylised facts", "html": text}
