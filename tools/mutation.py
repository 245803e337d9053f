"""Mutation testing of the money modules with cosmic-ray (not part of CI's default run: it takes long).

    python tools/mutation.py                      # every money module, one after the other
    python tools/mutation.py liquidation units    # some of them
    python tools/mutation.py --list               # the modules, their functions and tests
    python tools/mutation.py --recheck sweep      # run an earlier session's survivors against today's tests
    python tools/mutation.py --summary            # scores of the sessions under .mutation/ (no run)
    python tools/mutation.py --sample 0.3 sweep   # a seeded uniform 30% sample of the mutants (a slow machine)
    python tools/mutation.py --resume liquidation # finish an interrupted session
    python tools/mutation.py --recheck liquidation --tests tests/test_portfolio_money.py
                                                  # the survivors against only the named tests (added since)

For each module: a scratch copy of ``src/`` and ``tests/`` under ``.mutation/<module>/`` (cosmic-ray mutates
the file on disk, so the working tree is never touched), a cosmic-ray session limited to the module's money
functions (line ranges found by name with ``ast``, so they follow the code) and to the operators of
:data:`OPERATORS`, a baseline, then every mutant against the module's fast targeted tests. The numba kernels run
with ``NUMBA_DISABLE_JIT=1`` (plain Python: no compilation per mutant; the tests pass both ways). Results:
``.mutation/<module>/session.sqlite`` (``cr-report`` reads it) and a summary line per module in
``.mutation/scores.json``; survivors are printed with their diff. A survivor is either killed by a new test or
listed, with the reason it is equivalent, in tests/MUTANTS.md.

Run it niced on a shared machine (``nice -n 19 python tools/mutation.py ...``).
"""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
R = "tests/test_money_rounding.py"

# module -> (file under src/delever, functions to mutate (None: every function), test arguments to pytest)
MODULES: dict[str, tuple[str, list[str] | None, list[str]]] = {
    "units": ("units.py", None, [R, "tests/test_tiers_and_margin.py"]),
    "margin": ("margin.py", None, [R, "tests/test_tiers_and_margin.py", "tests/test_sweep_reference.py"]),
    "sweep": (
        "sweep.py",
        None,
        [
            R,
            "tests/test_liquidation.py",
            "tests/test_sweep_reference.py",
            "tests/test_single_sweep.py",
            "tests/test_trigger_index.py",
            "tests/test_portfolio_money.py",
        ],
    ),  # fmt: skip
    "liquidation": (
        "liquidation.py",
        [
            "apply_trade",
            "book_fill_price",
            "book_execute",
            "margin_equity",
            "winner_capacity",
            "usable_queue_lots",
            "margin_backing",
            "fund_budget",
            "partial_fill",
            "charge_fee",
            "fundable_book_lots",
            "adl_fills",
            "settle_balance",
            "liquidate",
        ],
        # the split kernels' own tests: cross-account backing (portfolio), the ADL trigger's fund budget
        [
            R,
            "tests/test_liquidation.py",
            "tests/test_portfolio_money.py",
            "tests/test_adl_triggers.py",
            "tests/test_position_account.py",
            "-k",
            "not runs_under_each_rule and not survives_a_checkpoint",
        ],
    ),  # fmt: skip
    "adl.queue": ("adl/queue.py", None, [R, "tests/test_liquidation.py", "tests/test_adl_hierarchy.py"]),
    "adl.policies": (
        "adl/policies/splits.py",
        ["capped_split", "round_targets"],
        [R, "tests/test_adl_policies.py"],
    ),  # fmt: skip
    "adl.policies.registry": ("adl/policies/registry.py", ["allocate_lots"], [R, "tests/test_adl_policies.py"]),
    "allocation": ("allocation.py", None, ["tests/test_allocation.py", R]),  # the killing tests first (-x)
    "settlement": (
        "settlement.py",
        ["final_settlement", "_cover", "settlement_price_ticks", "basis_left", "_equities"],
        [
            R,
            "tests/test_settlement.py",
            "-k",
            "not expiry_settles and not trigger_index_and_full_sweep "
            "and not settles_at_expiry and not calendar and not cli_runs",
        ],
    ),  # fmt: skip
    "mechanisms.funding": ("mechanisms/funding.py", None, [R, "tests/test_mechanisms.py", "-k", "funding or rounding"]),
    "mechanisms.socialized": (
        "mechanisms/socialized.py",
        None,
        [R, "tests/test_mechanisms.py", "-k", "pro_rata or social or rounding"],
    ),  # fmt: skip
    "mechanisms.partial": (
        "mechanisms/partial.py",
        None,
        [R, "tests/test_mechanisms.py", "-k", "partial or slice or tier or rounding"],
    ),  # fmt: skip
    "mechanisms.backstop": (
        "mechanisms/backstop.py",
        None,
        [R, "tests/test_mechanisms.py", "-k", "backstop or rounding"],
    ),  # fmt: skip
    # the money kernels; the mechanism class around them (trigger bookkeeping) is exercised by whole runs
    "mechanisms.proactive": ("mechanisms/proactive.py", ["select", "reduce_positions"], [R]),  # fmt: skip
}

OPERATORS = [
    # arithmetic: the sign and rounding bugs of money code
    r"core/ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Add|Mul_FloorDiv|FloorDiv_Mul|FloorDiv_Div|Div_FloorDiv|Mod_FloorDiv)$",
    # boundaries and directions
    r"core/ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_Gt|Gt_Lt|LtE_GtE|GtE_LtE|Eq_NotEq|NotEq_Eq)$",
    r"core/ReplaceUnaryOperator_(Delete_USub|Delete_Not)$",
    r"core/(NumberReplacer|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd)$",
    r"core/(ZeroIterationForLoop|ReplaceContinueWithBreak|ReplaceBreakWithContinue)$",
]
"""Operators kept (regular expressions on cosmic-ray's operator names); every other is filtered out. Left out:
the twelve-way binary replacements (``+`` to ``**``, ``<<``, ``^`` ...: mostly type errors, not money bugs),
``is``/``is not``, decorator removal (removing ``@njit`` is an equivalent mutant by design) and variable swaps."""

TIMEOUT_S = 120.0
SAMPLE = 1.0
"""Share of the mutants run (``--sample 0.3``): 1 runs every one."""
TESTS: list[str] | None = None
"""``--tests a b ...`` (last on the command line): the test arguments of a ``--recheck`` or ``--resume`` in
place of the module's list (:data:`MODULES`), e.g. only tests added since the survivors passed the others."""


def function_lines(path: Path, names: list[str] | None) -> list[str]:
    """``["first-last", ...]`` line ranges of the named functions (every function and method when ``names`` is
    None), less the lines of calls to ``emit_event`` (the event row writer: its literal arguments are row fields such
    as the ADL light, not money). Raises ``SystemExit`` naming a function that is not there (a rename must not
    shrink the run silently)."""
    tree = ast.parse(path.read_text())
    found: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.setdefault(node.name, []).append(node)
    missing = [n for n in names or [] if n not in found]
    if missing:
        raise SystemExit(f"{path}: no function named {missing}: update tools/mutation.py")
    chosen = [f for n in (names if names is not None else list(found)) for f in found[n]]
    lines = {i for f in chosen for i in range(f.lineno, f.end_lineno + 1)}
    for f in chosen:
        for node in ast.walk(f):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "emit_event":
                lines -= set(range(node.lineno, node.end_lineno + 1))
    ranges, start = [], None
    for i in sorted(lines) + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            ranges.append(f"{start}-{prev}")
            start = prev = i
    return ranges


def config_text(module_file: str, lines: list[str], tests: list[str], python: str) -> str:
    cmd = " ".join([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                    "-m", "'not slow'", *[f"'{t}'" if " " in t else t for t in tests]])  # fmt: skip
    rel = f"src/delever/{module_file}"
    return "\n".join([
        "[cosmic-ray]",
        f'module-path = "{rel}"',
        f"timeout = {TIMEOUT_S}",
        "excluded-modules = []",
        f"test-command = {json.dumps(cmd)}",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "[cosmic-ray.filters.operators-filter]",
        "exclude-operators = [" + json.dumps("^(?!(" + "|".join(f"(?:{o})" for o in OPERATORS) + "))") + "]",
        "[cosmic-ray.filters.line-filter.lines]",
        f"{json.dumps(rel)} = {json.dumps(lines)}",
        "",
    ])  # fmt: skip


def _env(work: Path) -> dict:
    # no plugin autoload: pytest starts in half the time (the tests need none of the plugins)
    return dict(os.environ, PYTHONPATH=str(work / "src"), NUMBA_DISABLE_JIT="1", PYTHONDONTWRITEBYTECODE="1",
                NUMBA_CACHE_DIR=str(work / ".numba-cache"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # fmt: skip


def _cr(work: Path, *args: str, capture: bool = False) -> str:
    bindir = Path(sys.executable).parent
    r = subprocess.run([str(bindir / args[0]), *args[1:]], cwd=work, env=_env(work), check=True,
                       capture_output=capture, text=True)  # fmt: skip
    return r.stdout if capture else ""


def run_module(name: str) -> dict:
    """A fresh session for ``name``: copy, init, filter, baseline, every mutant."""
    module_file, functions, tests = MODULES[name]
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    lines = function_lines(work / "src" / "delever" / module_file, functions)
    shutil.copy(work / "src" / "delever" / module_file, work / "original.py")  # to restore after an interrupted run
    (work / "config.toml").write_text(config_text(module_file, lines, tests, sys.executable))
    _cr(work, "cosmic-ray", "init", "config.toml", "session.sqlite")
    _cr(work, "cr-filter-operators", "session.sqlite", "config.toml")
    _cr(work, "cr-filter-lines", "session.sqlite", "--config", "config.toml")
    if SAMPLE < 1.0:
        sample_pending(work)
    _cr(work, "cosmic-ray", "baseline", "config.toml")
    _cr(work, "cosmic-ray", "exec", "config.toml", "session.sqlite")
    return summarize(name)


def sample_pending(work: Path) -> None:
    """Keep a seeded random share :data:`SAMPLE` of the pending mutants; mark the rest skipped ("not in the
    sample"), so the score is an estimate on a uniform sample (for a machine too slow for every mutant)."""
    with sqlite3.connect(work / "session.sqlite") as db:
        pending = sorted(j for (j,) in db.execute(
            "SELECT job_id FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results)"))  # fmt: skip
        rng = random.Random(18)
        out = [j for j in pending if rng.random() >= SAMPLE]
        db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                       "VALUES ('SKIPPED', 'not in the sample', NULL, NULL, ?)", [(j,) for j in out])  # fmt: skip


def _refresh(name: str) -> None:
    """Today's ``src/``, ``tests/`` and test list (:data:`MODULES`) into the session's copy of ``name``, the
    mutated module kept as the session began (its mutants' positions refer to it; if it has changed since,
    start a fresh session instead)."""
    work = WORK / name
    module_file = MODULES[name][0]
    if (ROOT / "src" / "delever" / module_file).read_text() != (work / "original.py").read_text():
        print(f"note: src/delever/{module_file} changed since this session began; the mutants are of the old text")
    for part in ("src", "tests"):
        shutil.rmtree(work / part)
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy(work / "original.py", work / "src" / "delever" / module_file)
    shutil.rmtree(work / ".hypothesis", ignore_errors=True)
    # today's test list of the module (MODULES), not the one the session began with
    config = (work / "config.toml").read_text().splitlines()
    lines = json.loads(
        next(c for c in config if c.startswith(json.dumps(f"src/delever/{module_file}") + " = ")).split(" = ", 1)[1]
    )
    tests = TESTS if TESTS is not None else MODULES[name][2]
    (work / "config.toml").write_text(config_text(module_file, lines, tests, sys.executable))


def resume_module(name: str) -> dict:
    """Finish an interrupted session of ``name`` (the module file restored first) against the current tests,
    sampling what is pending when ``--sample`` is given."""
    work = WORK / name
    _refresh(name)
    if SAMPLE < 1.0:
        sample_pending(work)
    _cr(work, "cosmic-ray", "exec", "config.toml", "session.sqlite")
    return summarize(name)


def recheck_module(name: str) -> dict:
    """Run the survivors of an earlier session of ``name`` again against the current tests (after new tests
    were written for them): ``src/`` and ``tests/`` are copied afresh (:func:`_refresh`), the survivors' results
    dropped, and ``exec`` runs what is pending."""
    work = WORK / name
    if not (work / "session.sqlite").exists():
        raise SystemExit(f"no earlier session for {name}: run it first")
    _refresh(name)
    with sqlite3.connect(work / "session.sqlite") as db:
        db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    _cr(work, "cosmic-ray", "baseline", "config.toml")
    _cr(work, "cosmic-ray", "exec", "config.toml", "session.sqlite")
    return summarize(name)


def summarize(name: str) -> dict:
    """Counts of the session of ``name`` (skipped mutants, outside the chosen functions or operators, aside);
    the survivors go to ``survivors.json`` beside it."""
    work = WORK / name
    dump = _cr(work, "cosmic-ray", "dump", "session.sqlite", capture=True)
    killed = survived = incompetent = pending = not_sampled = 0
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            pending += 1
            continue
        if result.get("worker_outcome") == "skipped":
            not_sampled += result.get("output") == "not in the sample"
            continue
        outcome = result.get("test_outcome")
        if outcome == "killed":
            killed += 1
        elif outcome == "survived":
            survived += 1
            m = item["mutations"][0]
            survivors.append({"line": m["start_pos"][0], "operator": m["operator_name"], "diff": result.get("diff")})
        else:
            incompetent += 1
    total = killed + survived
    (work / "survivors.json").write_text(json.dumps(survivors, indent=1))
    score = round(100 * killed / total, 1) if total else None
    return {"module": name, "mutants": total, "killed": killed, "survived": survived, "incompetent": incompetent,
            "pending": pending, "not_sampled": not_sampled, "score": score}  # fmt: skip


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for name, (f, funcs, tests) in MODULES.items():
            print(f"{name}: src/delever/{f} {funcs or 'all functions'}; tests {' '.join(tests)}")
        return 0
    global SAMPLE, TESTS
    if "--tests" in argv:
        TESTS = argv[argv.index("--tests") + 1 :]
        argv = argv[: argv.index("--tests")]
    recheck = "--recheck" in argv
    resume = "--resume" in argv
    summary_only = "--summary" in argv
    if "--sample" in argv:
        SAMPLE = float(argv[argv.index("--sample") + 1])
        argv = argv[: argv.index("--sample")] + argv[argv.index("--sample") + 2 :]
    argv = [a for a in argv if not a.startswith("--")]
    names = argv or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; choose from {list(MODULES)}")
    scores_path = WORK / "scores.json"
    WORK.mkdir(exist_ok=True)
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    for name in names:
        if summary_only and not (WORK / name / "session.sqlite").exists():
            continue
        s = (
            summarize(name)
            if summary_only
            else recheck_module(name)
            if recheck
            else resume_module(name)
            if resume
            else run_module(name)
        )
        scores[name] = s
        scores_path.write_text(json.dumps(scores, indent=1))
        print(json.dumps(s))
        for sv in json.loads((WORK / name / "survivors.json").read_text()):
            print(f"SURVIVED {name}:{sv['line']} {sv['operator']}\n{''.join(sv['diff'] or '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
