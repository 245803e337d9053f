"""Running the engine's scenarios under a venue's rulebook, and comparing the rulebooks on one scenario.

:func:`apply_venue` merges a rulebook's engine-expressible rules (tiers, liquidation fee, partial
liquidation style, backstop, socialized loss, funding parameters: :meth:`Rulebook.scenario_overrides`) and
its ADL ranking (:meth:`Rulebook.engine_adl_policy`) over a scenario; what the engine cannot express is listed
by :meth:`Rulebook.engine_gaps` and shown next to each result, so nobody mistakes a stand-in for the venue.
"""

from __future__ import annotations

import html

from ..errors import InputError
from ..scenario import Scenario, _merge
from . import VENUES, get_venue


def apply_venue(scenario: Scenario, name: str) -> Scenario:
    """``scenario`` under venue ``name``'s rulebook (raises InputError for an unknown venue)."""
    rb = get_venue(name)
    data = scenario.model_dump(exclude={"base_dir"})
    symbol = scenario.instrument.symbol if scenario.instrument.symbol in rb.instruments else None
    merged = _merge(data, rb.scenario_overrides(symbol))
    policy = rb.engine_adl_policy()
    if policy is not None:
        merged["adl"] = {"policy": policy}
    merged["name"] = f"{scenario.name}-{name}"
    try:
        return Scenario.model_validate({**merged, "base_dir": scenario.base_dir})
    except ValueError as exc:
        raise InputError(f"venue {name!r} does not fit this scenario: {exc}", field="venue") from None


def compare_rows(scenario: Scenario, seed: int, base=None) -> list[dict]:
    """One row per rulebook: liquidations, bad debt, fund end, ADL notional, on the scenario's path and on
    one book (generated or read once, with the scenario's own tiers; positions above a venue's max leverage
    are liquidated at its first step)."""
    import dataclasses

    from ..engine import prepare, run
    from ..output import summarize

    # one book for every venue: the comparison is of the rules, not the books (``base``: an already prepared
    # market of the scenario, whose book runs do not change)
    base = base if base is not None else prepare(scenario, seed)
    rows = []
    for name, rb in VENUES.items():
        sc = apply_venue(scenario, name)
        market = dataclasses.replace(base, instrument=sc.instrument.build())
        s = summarize(run(sc, seed, market=market))
        rows.append(
            {
                "venue": name,
                "liquidations": s["liquidations"],
                "bad_debt": float(s["bad_debt"]),
                "bad_debt_unrecovered": float(s["bad_debt_unrecovered"]),
                "insurance_fund_end": float(s["insurance_fund_end"]),
                "adl_notional": float(s["adl_notional"]),
                "socialized_loss": float(s["socialized_loss"]),
                "adl_policy": sc.adl.policy,
                "conservation_error": s["conservation_error"],
                "gaps": rb.engine_gaps(
                    scenario.instrument.symbol if scenario.instrument.symbol in rb.instruments else None
                ),
            }
        )
    return rows


def compare_venues(scenario: Scenario, seed: int, base=None) -> dict:
    """A report section: the venue comparison table (see :func:`compare_rows`)."""
    rows = compare_rows(scenario, seed, base)
    head = (
        "venue",
        "liquidations",
        "bad debt",
        "unrecovered",
        "fund end",
        "ADL notional",
        "socialized",
        "ADL rule",
        "not expressible in the engine",
    )
    body = ""
    for r in rows:
        gaps = "; ".join(r["gaps"][:3]) + (" ..." if len(r["gaps"]) > 3 else "")
        cells = (
            r["venue"],
            f"{r['liquidations']:,}",
            f"{r['bad_debt']:,.0f}",
            f"{r['bad_debt_unrecovered']:,.0f}",
            f"{r['insurance_fund_end']:,.0f}",
            f"{r['adl_notional']:,.0f}",
            f"{r['socialized_loss']:,.0f}",
            r["adl_policy"],
            gaps,
        )
        body += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
    table = (
        "<p class='note'>The same index path and book under each rulebook's tiers, fees, liquidation "
        "procedure and ADL ranking (amounts in USDT).</p><table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{body}</tbody></table>"
    )
    return {"title": "Venues compared", "html": table, "rows": rows}
