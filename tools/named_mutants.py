"""Apply each of the ten deliberate money bugs of issue #18 to a scratch copy of ``src/`` and check that the test
named for it fails (the mutant is killed). Run from the repository root:

    python tools/named_mutants.py            # all ten
    python tools/named_mutants.py M2 M5      # some

The numba kernels run with ``NUMBA_DISABLE_JIT=1`` (plain Python: no compilation per mutant). Exit status 1 if
a mutant survives or a mutation no longer applies (its source line was changed: update the list and
tests/MUTANTS.md together). The same table is in tests/MUTANTS.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T = "tests/test_money_rounding.py::"

# id, file under src/delever, original text (must occur exactly once), mutated text, killing test(s)
MUTANTS = [
    (
        "M1",
        "liquidation.py",
        "fee = min(mul_ppm_ceil(closed_notional, fee_ppm), bal)",
        "fee = min((closed_notional * fee_ppm) // 1_000_000, bal)",
        [T + "test_book_fill_rounds_against_the_taker_and_the_fee_rounds_up"],
    ),
    (
        "M2",
        "margin.py",
        "ticks = -((-num) // den) if size > 0 else num // den",
        "ticks = num // den if size > 0 else num // den",
        [T + "test_kernel_bankruptcy_price_of_a_long_off_tick_rounds_up"],
    ),
    (
        "M3",
        "book_trade.py",
        "ck = q * k - ((-(r * k)) // s)",
        "ck = q * k + ((r * k) // s)",
        [
            T + "test_partial_close_releases_cost_rounded_against_the_account",
            T + "test_partial_liquidation_rounds_released_cost_and_fee_against_the_account",
        ],
    ),
    (
        "M4",
        "adl/queue.py",
        "order[at] = order[at][np.lexsort((order[at], ordered[at]))]",
        "order[at] = order[at][np.lexsort((-order[at], ordered[at]))]",
        [T + "test_adl_equal_scores_go_to_the_lower_position_index_first"],
    ),
    (
        "M5",
        "liquidation.py",
        "if -fin <= budget:",
        "if -fin < budget:",
        [T + "test_largest_book_part_the_fund_covers_at_the_exact_boundary"],
    ),
    (
        "M6",
        "allocation.py",
        "if rem[j] > rem[best]:",
        "if rem[j] >= rem[best]:",
        [T + "test_liquidity_providers_share_the_fill_by_largest_remainder"],
    ),
    (
        "M7",
        "adl/queue.py",
        "take = canonical_order(neg)\n",
        "take = canonical_order(-neg)\n",
        ["tests/test_liquidation.py::test_empty_fund_deleverages_top_ranked_short_first_then_partially_the_next"],
    ),
    (
        "M8",
        "liquidation.py",
        "pay = min(-bal, fund[0])",
        "pay = min(-bal - 1, fund[0])",
        [T + "test_fill_worse_than_bankruptcy_fund_pays_the_exact_deficit"],
    ),
    (
        "M9",
        "mechanisms/funding.py",
        "amount = q * rate + (r * rate) // PPB",
        "amount = q * rate - ((-(r * rate)) // PPB)",
        [T + "test_funding_payers_round_up_receivers_round_down"],
    ),
    (
        "M10",
        "margin.py",
        "ticks = -((-bp.numerator) // bp.denominator) if size > 0",
        "ticks = bp.numerator // bp.denominator if size > 0",
        [T + "test_reference_bankruptcy_price_rounds_against_the_account"],
    ),
]


def run(mutant) -> bool:
    """True if the mutant is killed: every test named for it fails."""
    mid, rel, old, new, tests = mutant
    with tempfile.TemporaryDirectory(prefix=f"delever-{mid}-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        path = src / "delever" / rel
        text = path.read_text()
        if text.count(old) != 1:
            print(f"{mid}: the original text no longer occurs exactly once in {rel}: {old!r}")
            return False
        path.write_text(text.replace(old, new))
        env = dict(os.environ, PYTHONPATH=str(src), NUMBA_DISABLE_JIT="1", PYTHONDONTWRITEBYTECODE="1")
        killed = True
        for test in tests:
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test],
                               cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
            status = "killed" if r.returncode == 1 else ("SURVIVED" if r.returncode == 0 else f"error {r.returncode}")
            print(f"{mid} {rel}: {status} by {test}")
            killed &= r.returncode == 1
        return killed


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or m[0] in argv]
    results = [run(m) for m in chosen]
    print(f"{sum(results)}/{len(results)} named mutants killed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
