"""Ablation: the same scenario and seed with every enabled mechanism on, then with each turned off in turn
(and with all off), so that each mechanism's effect on liquidations, bad debt and ADL is measured against
the same run without it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pyarrow as pa

from .engine import RunResult, prepare, run
from .output import summarize
from .scenario import Scenario

METRICS = (
    "liquidations",
    "liquidated_notional",
    "bad_debt",
    "bad_debt_unrecovered",
    "socialized_loss",
    "insurance_fund_end",
    "adl_notional",
    "accounts_adl",
    "min_mark_price",
    "conservation_error",
)


def without(scenario: Scenario, names: list[str]) -> Scenario:
    """The scenario with the named mechanisms switched off."""
    mech = scenario.mechanisms
    update = {n: getattr(mech, n).model_copy(update={"enabled": False}) for n in names}
    return scenario.model_copy(update={"mechanisms": mech.model_copy(update=update)})


def variant_count(scenario: Scenario) -> int:
    """How many runs :func:`ablate` reports: all enabled, one without each enabled mechanism, and none."""
    n = len(scenario.mechanisms.enabled())
    return 1 + n + (1 if n else 0)


def ablate(
    scenario: Scenario,
    seed: int,
    base: RunResult | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict]:
    """Rows ``{"variant", *METRICS}``: "all enabled", "without NAME" per enabled mechanism, "none".

    ``progress(done, total, label)`` is called before each variant runs (``done`` variants finished).
    """
    enabled = scenario.mechanisms.enabled()
    variants: list[tuple[str, Scenario]] = [("all enabled", scenario)]
    variants += [(f"without {n}", without(scenario, [n])) for n in enabled]
    if enabled:
        variants.append(("none", without(scenario, enabled)))
    rows = []
    for i, (label, sc) in enumerate(variants):
        if progress:
            progress(i, len(variants), label)
        result = base if (label == "all enabled" and base is not None) else run(sc, seed, market=prepare(sc, seed))
        s = summarize(result)
        rows.append({"variant": label, **{k: s[k] for k in METRICS}})
    if progress:
        progress(len(variants), len(variants), "")
    return rows


def table(rows: list[dict]) -> pa.Table:
    """The rows as an Arrow table (money columns as float quote units for CSV readers)."""
    cols: dict[str, list] = {k: [] for k in ("variant", *METRICS)}
    for r in rows:
        for k in cols:
            v = r[k]
            cols[k].append(float(v) if isinstance(v, Decimal) else v)
    return pa.table(cols)
