"""A corpus of malformed inputs (issue #13 item 2): scenario files, book files (CSV and Parquet) and every
command's arguments. Each case must exit with status 2, print one message naming the file / row / field or
the argument at fault, show no traceback, and write nothing (no output directory, no temporary directory).

Inputs are the packaged default scenario with 300 accounts and a 10-minute price window, broken one way at a
time; every case fails before a run starts (the ones that need the prepared inputs fail right after loading
them), so the corpus runs in seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from delever.cli import EXIT_BAD_INPUT, app
from delever.scenario import default_scenario_path

runner = CliRunner()


def base_text() -> str:
    text = default_scenario_path().read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", "accounts = 300", text, flags=re.M)
    text = text.replace(
        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"\n',
        '[prices]\nfile = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv"\n'
        "start = 2025-10-10T21:01:00Z\nend = 2025-10-10T21:11:00Z\n",
    )
    assert "start = 2025-10-10T21:01:00Z" in text
    return text


def set_key(text: str, table: str, key: str, value: str) -> str:
    """``text`` with ``key = value`` in ``[table]`` (replaced if there, else added; the table too); ``table``
    ``""`` is the top level."""
    lines = text.splitlines()
    header = f"[{table}]" if table else None
    start = 0
    if header is not None:
        if header not in lines:
            return text + f"\n{header}\n{key} = {value}\n"
        start = lines.index(header) + 1
    i = start
    while i < len(lines) and not lines[i].startswith("["):
        if re.match(rf"^{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
        i += 1
    lines.insert(start if header is not None else 0, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def drop_key(text: str, key: str) -> str:
    return re.sub(rf"^{re.escape(key)}\s*=.*\n", "", text, flags=re.M)


def with_book_file(text: str, name: str) -> str:
    text = re.sub(r"^\[book\.generator\]\n(?:(?!\[).*\n?)*", "", text, flags=re.M)
    return text + f'\n[book]\nfile = "{name}"\n'


@dataclass
class Case:
    """A malformed input: ``args`` (with ``{sc}`` for the scenario path, ``{out}`` for the output directory,
    ``{tmp}`` for the test's folder), the scenario text, extra files, and what the message must name."""

    args: list[str]
    expect: list[str]
    text: str | bytes | None = None
    files: dict[str, bytes | pa.Table] = field(default_factory=dict)


CASES: dict[str, Case] = {}


def scenario_case(cid: str, text: str | bytes, *expect: str) -> None:
    CASES[f"scenario-{cid}"] = Case(["run", "{sc}", "--out", "{out}", "-q"], ["scenario.toml", *expect], text)


def key_case(cid: str, table: str, key: str, value: str, *expect: str) -> None:
    dotted = f"{table}.{key}" if table else key
    scenario_case(cid, set_key(base_text(), table, key, value), dotted, *expect)


# ------------------------------------------------------------------------------------ scenario: encodings


_B = base_text()
scenario_case("utf16-with-bom", _B.encode("utf-16"), "UTF-8")
scenario_case("utf16-le-no-bom", _B.encode("utf-16-le"), "UTF-8")
scenario_case("latin1-description", set_key(_B, "", "description", '"caf\xe9"').encode("latin-1"), "UTF-8", "row")
scenario_case("binary-random-bytes", bytes(range(256)) * 4, "UTF-8")
scenario_case("nul-bytes-in-text", _B.replace("[mark]", "[mark]\x00"), "binary")
scenario_case("empty-file", "", "name", "Field required")
scenario_case("comments-only", "# nothing here\n", "name", "Field required")
scenario_case("toml-unclosed-string", _B.replace('name = "', 'name = "x\n', 1), "TOML syntax error", "row")
scenario_case("toml-duplicate-key", "seed = 1\n" + _B, "TOML syntax error", "row")
scenario_case("toml-duplicate-table", _B + "\n[mark]\nbasis_ema_s = 1\n", "TOML syntax error")
scenario_case("toml-bad-table-header", _B.replace("[fees]", "[fees"), "TOML syntax error")
scenario_case("toml-value-missing", _B.replace("step_seconds = 1.0", "step_seconds ="), "TOML syntax error")

# --------------------------------------------------------------------------------------- scenario: values

for cid, table, key, value, *expect in [
    # top level
    ("name-empty", "", "name", '""', "at least 1"),
    ("name-with-slash", "", "name", '"a/b"', "pattern"),
    ("name-parent-dir", "", "name", '"../x"', "pattern"),
    ("seed-negative", "", "seed", "-1", "greater than or equal to 0"),
    ("seed-above-int64", "", "seed", str(2**64), "9223372036854775807"),
    ("seed-text", "", "seed", '"abc"', "integer"),
    ("seed-fraction", "", "seed", "1.5", "integer"),
    ("step-seconds-zero", "", "step_seconds", "0", "greater than 0"),
    ("step-seconds-negative", "", "step_seconds", "-1.0", "greater than 0"),
    ("step-seconds-inf", "", "step_seconds", "inf", "finite"),
    ("step-seconds-nan", "", "step_seconds", "nan", "finite"),
    ("step-seconds-above-an-hour", "", "step_seconds", "7200", "3600"),
    ("unknown-top-level-key", "", "colour", '"red"', "Extra inputs"),
    # instrument
    ("tick-size-zero", "instrument", "tick_size", '"0"', "greater than 0"),
    ("tick-size-negative", "instrument", "tick_size", '"-0.1"', "greater than 0"),
    ("tick-size-text", "instrument", "tick_size", '"abc"', "decimal"),
    ("tick-size-inf", "instrument", "tick_size", '"inf"', "finite"),
    ("lot-size-zero", "instrument", "lot_size", '"0"', "greater than 0"),
    ("lot-size-nan", "instrument", "lot_size", "nan", "finite"),
    ("tiers-unknown-table", "instrument", "tiers", '"nope"', "unknown tier table"),
    ("tiers-empty-list", "instrument", "tiers", "[]", "at least 1"),
    (
        "tiers-unsorted-caps",
        "instrument",
        "tiers",
        '[{cap = "1000000", max_leverage = "20", mmr = "0.01"}, {cap = "50000", max_leverage = "50", mmr = "0.005"}]',
        "cap",
    ),
    ("tier-mmr-zero", "instrument", "tiers", '[{cap = "1000000", max_leverage = "20", mmr = "0"}]', "mmr"),
    ("tier-mmr-above-one", "instrument", "tiers", '[{cap = "1000000", max_leverage = "20", mmr = "2"}]', "mmr"),
    (
        "tier-mmr-finer-than-ppm",
        "instrument",
        "tiers",
        '[{cap = "1000000", max_leverage = "20", mmr = "0.0000001"}]',
        "0.000001",
    ),
    (
        "tier-cap-finer-than-money",
        "instrument",
        "tiers",
        '[{cap = "1000000.0000001", max_leverage = "20", mmr = "0.01"}]',
        "money scale 0.000001",
    ),
    ("tier-cap-1e30", "instrument", "tiers", '[{cap = "1e30", max_leverage = "20", mmr = "0.01"}]', "2^61"),
    ("tier-max-leverage-zero", "instrument", "tiers", '[{cap = "1000000", max_leverage = "0", mmr = "0.01"}]', "0"),
    (
        "tier-imr-below-mmr",
        "instrument",
        "tiers",
        '[{cap = "1000000", max_leverage = "20", mmr = "0.05", imr = "0.01"}]',
        "IMR",
    ),
    ("tier-unknown-key", "instrument", "tiers", '[{cap = "1000000", max_leverage = "20", mmr = "0.01", x = 1}]', "x"),
    ("instrument-kind-unknown", "instrument", "kind", '"option"', "perpetual"),
    ("settlement-window-inf", "instrument", "settlement_window_s", "inf", "finite"),
    ("settlement-window-zero", "instrument", "settlement_window_s", "0", "greater than 0"),
    # prices
    ("prices-file-missing", "prices", "file", '"nope.csv"', "nope.csv"),
    ("prices-start-after-end", "prices", "start", "2025-10-10T22:00:00Z", "prices.end", "before"),
    ("prices-start-equals-end", "prices", "start", "2025-10-10T21:11:00Z", "prices.end", "before"),
    ("prices-start-not-a-time", "prices", "start", '"yesterday"', "datetime"),
    ("prices-unknown-package-file", "prices", "file", '"package:nope/x.csv"', "nope/x.csv"),
    # liquidity
    ("depth-scale-zero", "liquidity", "depth_scale", "0", "greater than 0"),
    ("depth-scale-negative", "liquidity", "depth_scale", "-1", "greater than 0"),
    ("depth-scale-inf", "liquidity", "depth_scale", "inf", "finite"),
    ("depth-scale-nan", "liquidity", "depth_scale", "nan", "finite"),
    ("depth-scale-1e9", "liquidity", "depth_scale", "1e9", "1000"),
    ("resilience-negative", "liquidity", "resilience_half_life_s", "-1", "greater than or equal to 0"),
    ("resilience-inf", "liquidity", "resilience_half_life_s", "inf", "finite"),
    ("resilience-1e15-seconds", "liquidity", "resilience_half_life_s", "1e15", "10 years"),
    ("lp-accounts-zero", "liquidity", "lp_accounts", "0", "greater than or equal to 1"),
    ("lp-accounts-above-1000", "liquidity", "lp_accounts", "1001", "1000"),
    ("lp-accounts-fraction", "liquidity", "lp_accounts", "1.5", "integer"),
    ("lp-wallet-zero", "liquidity", "lp_wallet", '"0"', "greater than 0"),
    ("lp-wallet-finer-than-money", "liquidity", "lp_wallet", '"1000.0000001"', "money scale 0.000001"),
    ("lp-wallet-1e20", "liquidity", "lp_wallet", '"1e20"', "2^61"),
    ("lp-wallet-total-over-limit", "liquidity", "lp_wallet", '"1000000000000"', "lp_accounts", "2^61"),
    ("lp-wallet-text", "liquidity", "lp_wallet", '"lots"', "decimal"),
    ("lp-wallet-inf", "liquidity", "lp_wallet", '"Infinity"', "finite"),
    ("depth-window-reversed", "liquidity", "depth_window_start", "2025-10-10T21:10:00Z", "depth_window_end"),
    ("depth-window-empty", "liquidity", "depth_window_start", "2025-10-10T21:05:00Z", "depth_window_end"),
    ("depth-file-missing", "liquidity", "depth_file", '"depth.csv"', "depth.csv"),
    # mark, fees, fund
    ("basis-ema-negative", "mark", "basis_ema_s", "-1", "greater than or equal to 0"),
    ("basis-ema-inf", "mark", "basis_ema_s", "inf", "finite"),
    ("basis-ema-1e12", "mark", "basis_ema_s", "1e12", "10 years"),
    ("fee-rate-negative", "fees", "liquidation_fee_rate", '"-0.1"', "greater than or equal to 0"),
    ("fee-rate-above-one", "fees", "liquidation_fee_rate", '"1.5"', "less than or equal to 1"),
    ("fee-rate-finer-than-ppm", "fees", "liquidation_fee_rate", '"0.0000001"', "0.000001"),
    ("fee-rate-nan", "fees", "liquidation_fee_rate", '"NaN"', "finite"),
    ("fund-negative", "insurance_fund", "balance", '"-1"', "greater than or equal to 0"),
    ("fund-1e30", "insurance_fund", "balance", '"1e30"', "2^61"),
    ("fund-finer-than-money", "insurance_fund", "balance", '"0.0000001"', "money scale 0.000001"),
    ("fund-text", "insurance_fund", "balance", '"a lot"', "decimal"),
    ("fund-inf", "insurance_fund", "balance", '"inf"', "finite"),
    ("fund-float-inf", "insurance_fund", "balance", "inf", "finite"),
    # generator
    ("accounts-zero", "book.generator", "accounts", "0", "greater than or equal to 1"),
    ("accounts-negative", "book.generator", "accounts", "-5", "greater than or equal to 1"),
    ("accounts-1e9", "book.generator", "accounts", "1000000000", "50000000"),
    ("accounts-fraction", "book.generator", "accounts", "1.5", "integer"),
    ("accounts-text", "book.generator", "accounts", '"many"', "integer"),
    ("long-fraction-above-one", "book.generator", "long_fraction", "1.5", "less than or equal to 1"),
    ("long-fraction-nan", "book.generator", "long_fraction", "nan", "finite"),
    ("notional-median-zero", "book.generator", "notional_median", '"0"', "greater than 0"),
    ("notional-median-1e15", "book.generator", "notional_median", '"1e15"', "2^61"),
    ("notional-median-times-accounts", "book.generator", "notional_median", '"10000000000"', "accounts", "2^61"),
    ("notional-median-finer-than-money", "book.generator", "notional_median", '"0.0000001"', "0.000001"),
    ("notional-sigma-above-5", "book.generator", "notional_sigma", "6", "less than or equal to 5"),
    ("notional-sigma-inf", "book.generator", "notional_sigma", "inf", "finite"),
    ("leverage-median-below-one", "book.generator", "leverage_median", "0.5", "greater than or equal to 1"),
    ("leverage-median-inf", "book.generator", "leverage_median", "inf", "finite"),
    ("leverage-max-zero", "book.generator", "leverage_max", "0", "greater than or equal to 1"),
    ("entry-sigma-above-one", "book.generator", "entry_sigma", "2", "less than or equal to 1"),
    ("isolated-fraction-negative", "book.generator", "isolated_fraction", "-0.1", "greater than or equal to 0"),
    ("age-mean-inf", "book.generator", "age_mean_s", "inf", "finite"),
    ("age-mean-negative", "book.generator", "age_mean_s", "-1", "greater than or equal to 0"),
    ("age-mean-1e12", "book.generator", "age_mean_s", "1e12", "10 years"),
    ("generator-unknown-key", "book.generator", "colour", '"red"', "Extra inputs"),
    # mechanisms
    ("halt-inf", "mechanisms.circuit_breaker", "halt_s", "inf", "finite"),
    ("halt-1e300", "mechanisms.circuit_breaker", "halt_s", "1e300", "10 years"),
    ("breaker-window-zero", "mechanisms.circuit_breaker", "window_s", "0", "greater than 0"),
    ("breaker-move-negative", "mechanisms.circuit_breaker", "move_pct", "-3", "greater than 0"),
    ("funding-interval-inf", "mechanisms.funding", "interval_s", "inf", "finite"),
    ("funding-interval-zero", "mechanisms.funding", "interval_s", "0", "greater than 0"),
    ("funding-cap-zero", "mechanisms.funding", "cap", '"0"', "greater than 0"),
    ("funding-interest-nan", "mechanisms.funding", "interest_rate", '"nan"', "finite"),
    ("slice-fraction-one", "mechanisms.partial_liquidation", "slice_fraction", '"1"', "less than 1"),
    ("slice-fraction-finer-than-ppm", "mechanisms.partial_liquidation", "slice_fraction", '"0.0000001"', "0.000001"),
    ("slice-min-notional-negative", "mechanisms.partial_liquidation", "slice_min_notional", '"-1"', "greater"),
    ("partial-mode-unknown", "mechanisms.partial_liquidation", "mode", '"half"', "tier"),
    ("vault-wallet-1e20", "mechanisms.backstop", "vault_wallet", '"1e20"', "2^61"),
    ("equity-ratio-above-one", "mechanisms.backstop", "equity_ratio", '"2"', "less than or equal to 1"),
    ("dynamic-margin-windows-reversed", "mechanisms.dynamic_margin", "short_window_s", "7200", "long_window_s"),
    ("dynamic-margin-cap-below-one", "mechanisms.dynamic_margin", "cap", "0.5", "greater than or equal to 1"),
    ("withdrawal-elasticity-text", "mechanisms.mm_withdrawal", "elasticity", '"high"', "number"),
    ("withdrawal-windows-reversed", "mechanisms.mm_withdrawal", "short_window_s", "7200", "long_window_s"),
    ("withdrawal-min-scale-zero", "mechanisms.mm_withdrawal", "min_scale", "0", "greater than 0"),
    ("limits-cap-zero", "mechanisms.limits", "max_account_notional", '"0"', "greater than 0"),
    ("limits-cap-finer-than-money", "mechanisms.limits", "max_account_notional", '"1.0000001"', "0.000001"),
    ("protected-fraction-above-one", "mechanisms.socialized_loss", "protected_fraction", "2", "less than or equal"),
    ("proactive-trigger-leverage-one", "mechanisms.proactive_deleveraging", "trigger_leverage", "1", "greater"),
    ("proactive-max-accounts-zero", "mechanisms.proactive_deleveraging", "max_accounts_per_step", "0", "greater"),
    ("cross-margin-without-instruments", "mechanisms.cross_margin", "enabled", "true", "instruments"),
    ("unknown-mechanism", "mechanisms", "teleport", "{enabled = true}", "Extra inputs"),
    # adl
    ("adl-policy-unknown", "adl", "policy", '"coin-flip"', "unknown ADL policy"),
    ("adl-keys-empty", "adl", "keys", "[]", "at least one key"),
    ("adl-key-unknown", "adl", "keys", '["height desc"]', "height"),
    ("adl-weights-negative", "adl", "weights", "[-1.0]", "greater than or equal to 0"),
    ("adl-form-unknown", "adl", "form", '"random"', "lexicographic"),
    ("adl-funding-window-inf", "adl", "funding_window_s", "inf", "finite"),
]:
    key_case(cid, table, key, value, *expect)

scenario_case("book-file-and-generator", _B + '\n[book]\nfile = "b.csv"\n', "book")
scenario_case(
    "book-neither-file-nor-generator", re.sub(r"^\[book\.generator\]\n(?:(?!\[).*\n?)*", "", _B, flags=re.M), "book"
)
scenario_case(
    "dated-future-expiry-before-start",
    set_key(set_key(_B, "instrument", "kind", '"dated_future"'), "instrument", "expiry", "2025-10-01T08:00:00Z"),
    "instrument.expiry",
    "before the start",
)
scenario_case("perpetual-with-expiry", set_key(_B, "instrument", "expiry", "2025-12-26T08:00:00Z"), "instrument")
scenario_case("missing-prices-table", re.sub(r"^\[prices\]\n(?:(?!\[).*\n?)*", "", _B, flags=re.M), "prices")
scenario_case("missing-depth-window", drop_key(_B, "depth_window_start"), "depth_window_start")
scenario_case("prices-file-is-a-directory", set_key(_B, "prices", "file", '"adir"'), "adir")
CASES["scenario-prices-file-is-a-directory"].files["adir/"] = b""
# files the scenario points at: the message names that file
for cid, name in [
    ("prices-file-missing", "nope.csv"),
    ("prices-unknown-package-file", "nope/x.csv"),
    ("depth-file-missing", "depth.csv"),
    ("prices-file-is-a-directory", "adir"),
]:
    CASES[f"scenario-{cid}"].expect = [name]
CASES["scenario-cross-margin-without-instruments"].expect = ["scenario.toml", "mechanisms", "cross_margin"]
CASES["scenario-adl-policy-unknown"].expect = ["scenario.toml", "'adl'", "coin-flip"]
CASES["scenario-file-missing"] = Case(["run", "{tmp}/nope.toml", "--out", "{out}"], ["nope.toml"])
CASES["scenario-file-is-a-directory"] = Case(["run", "{tmp}", "--out", "{out}"], ["cannot read scenario"])


# ------------------------------------------------------------------------------------------- book files

HEADER = "account,size,entry_price,margin_mode,collateral"
GOOD_ROW = "a1,0.5,60000,cross,10000"


def book_case(cid: str, content: bytes | str | pa.Table, *expect: str, name: str | None = None) -> None:
    name = name or ("book.parquet" if isinstance(content, pa.Table) else "book.csv")
    raw = content.encode("utf-8") if isinstance(content, str) else content
    CASES[f"book-{cid}"] = Case(
        ["run", "{sc}", "--out", "{out}", "-q"], [name, *expect], with_book_file(_B, name), {name: raw}
    )


def csv_row(cid: str, row: str, *expect: str) -> None:
    book_case(cid, f"{HEADER}\n{GOOD_ROW}\n{row}\n", "row 3", *expect)


for cid, row, *expect in [
    ("size-zero", "a2,0,60000,cross,100", "size"),
    ("size-text", "a2,abc,60000,cross,100", "size", "not a number"),
    ("size-empty", "a2,,60000,cross,100", "size"),
    ("size-1e15", "a2,1e15,60000,cross,100", "size", "2^61"),
    ("size-not-a-lot-multiple", "a2,0.0001,60000,cross,100", "size"),
    ("size-inf", "a2,inf,60000,cross,100", "size", "finite"),
    ("size-nan", "a2,nan,60000,cross,100", "size", "finite"),
    ("entry-zero", "a2,0.5,0,cross,100", "entry_price", "> 0"),
    ("entry-negative", "a2,0.5,-1,cross,100", "entry_price", "> 0"),
    ("entry-1e300", "a2,0.5,1e300,cross,100", "entry_price", "2^61"),
    ("entry-text", "a2,0.5,cheap,cross,100", "entry_price", "not a number"),
    ("entry-inf", "a2,0.5,Infinity,cross,100", "entry_price", "finite"),
    ("margin-mode-unknown", "a2,0.5,60000,both,100", "margin_mode"),
    ("margin-mode-empty", "a2,0.5,60000,,100", "margin_mode"),
    ("collateral-negative", "a2,0.5,60000,cross,-1", "collateral", ">= 0"),
    ("collateral-1e20", "a2,0.5,60000,cross,1e20", "collateral", "2^61"),
    ("collateral-finer-than-money", "a2,0.5,60000,cross,100.0000001", "collateral", "money scale 0.000001"),
    ("collateral-text", "a2,0.5,60000,cross,plenty", "collateral", "not a number"),
    ("collateral-nan", "a2,0.5,60000,cross,NaN", "collateral", "finite"),
    ("account-duplicate", "a1,0.5,60000,cross,100", "account", "already holds a position"),
    ("account-empty", ",0.5,60000,cross,100", "account"),
]:
    csv_row(cid, row, *expect)

book_case("missing-column", "account,size,entry_price,margin_mode\na1,0.5,60000,cross\n", "collateral", "row 1")
book_case("header-only", HEADER + "\n", "no positions")
book_case("empty-file", "", "cannot read")
book_case("utf16", f"{HEADER}\n{GOOD_ROW}\n".encode("utf-16"), "cannot read")
book_case("binary", bytes(range(256)) * 8, "cannot read")
book_case("too-many-fields", f"{HEADER}\n{GOOD_ROW},extra\n", "cannot read")
book_case("opened-at-not-a-time", f"{HEADER},opened_at\n{GOOD_ROW},yesterday\n", "row 2", "opened_at")
book_case("opened-at-after-start", f"{HEADER},opened_at\n{GOOD_ROW},2030-01-01T00:00:00Z\n", "row 2", "opened_at")
book_case(
    "total-collateral-over-limit",
    f"{HEADER}\n" + "".join(f"a{i},0.001,60000,cross,2000000000000\n" for i in range(3)),
    "collateral",
    "2^61",
)
CASES["book-file-missing"] = Case(
    ["run", "{sc}", "--out", "{out}", "-q"], ["nobook.csv", "not found"], with_book_file(_B, "nobook.csv")
)


def parquet(**cols) -> pa.Table:
    base = {
        "account": ["a1"],
        "size": ["0.5"],
        "entry_price": ["60000"],
        "margin_mode": ["cross"],
        "collateral": ["10000"],
    }
    base.update(cols)
    return pa.table(base)


book_case("parquet-size-minus-2-62", parquet(size=pa.array([-(2**62)], pa.int64())), "row 2", "size", "2^61")
book_case("parquet-size-float-nan", parquet(size=pa.array([float("nan")])), "row 2", "size", "finite")
book_case("parquet-collateral-1e20", parquet(collateral=pa.array([1e20])), "row 2", "collateral", "2^61")
book_case("parquet-entry-1e300", parquet(entry_price=pa.array([1e300])), "row 2", "entry_price", "2^61")
book_case("parquet-entry-negative", parquet(entry_price=pa.array([-5.0])), "row 2", "entry_price")
book_case("parquet-missing-column", parquet().drop_columns(["margin_mode"]), "margin_mode")
book_case("parquet-zero-rows", parquet().slice(0, 0), "no positions")
book_case("parquet-duplicate-account", pa.concat_tables([parquet(), parquet()]), "row 3", "account")
book_case("parquet-margin-mode-null", parquet(margin_mode=pa.array([None], pa.string())), "margin_mode")
book_case("parquet-corrupt-bytes", b"PAR1" + bytes(200) + b"PAR1", "cannot read", name="book.parquet")


# --------------------------------------------------------------------------------------- command arguments

RUN = ["run", "{sc}", "--out", "{out}", "-q"]


def arg_case(cid: str, args: list[str], *expect: str) -> None:
    CASES[f"args-{cid}"] = Case(args, list(expect), _B)


for cid, args, *expect in [
    ("run-seed-negative", [*RUN, "--seed", "-1"], "--seed"),
    ("run-seed-above-int64", [*RUN, "--seed", str(2**63)], "--seed"),
    ("run-seed-text", [*RUN, "--seed", "abc"], "--seed"),
    ("run-out-existing-file", ["run", "{sc}", "--out", "{tmp}/scenario.toml"], "--out", "is a file"),
    ("run-out-under-a-file", ["run", "{sc}", "--out", "{tmp}/scenario.toml/sub"], "--out", "is a file"),
    ("run-out-300-char-name", ["run", "{sc}", "--out", "{tmp}/" + "x" * 300], "--out", "longer"),
    ("run-out-dot", ["run", "{sc}", "--out", "."], "--out", "working directory"),
    ("run-set-without-equals", [*RUN, "--set", "seed"], "--set"),
    ("run-set-empty-key", [*RUN, "--set", "=5"], "--set"),
    ("run-set-unknown-key", [*RUN, "--set", "liquidity.colour=1"], "liquidity.colour"),
    ("run-set-depth-scale-inf", [*RUN, "--set", "liquidity.depth_scale=inf"], "liquidity.depth_scale", "finite"),
    ("run-set-fund-finer", [*RUN, "--set", 'insurance_fund.balance="1e-7"'], "insurance_fund.balance", "0.000001"),
    ("run-set-seed-negative", [*RUN, "--set", "seed=-3"], "seed"),
    ("run-set-conflict", [*RUN, "--set", "a=1", "--set", "a.b=2"], "--set"),
    ("run-venue-unknown", [*RUN, "--venue", "nope"], "nope"),
    ("run-unknown-option", [*RUN, "--colour", "red"], "--colour"),
    ("compare-seed-negative", ["compare", "{sc}", "--out", "{out}", "--seed", "-1"], "--seed"),
    ("compare-policy-unknown", ["compare", "{sc}", "--out", "{out}", "--policy", "coin"], "--policy", "coin"),
    ("compare-out-dot", ["compare", "{sc}", "--out", "."], "--out"),
    ("compare-out-file", ["compare", "{sc}", "--out", "{tmp}/scenario.toml"], "--out", "is a file"),
    ("compare-scenario-missing", ["compare", "{tmp}/nope.toml", "--out", "{out}"], "nope.toml"),
    ("sweep-seed-negative", ["sweep", "{sc}", "--out", "{out}", "--seed", "-1"], "--seed"),
    ("sweep-paths-zero", ["sweep", "{sc}", "--out", "{out}", "--paths", "0"], "--paths"),
    ("sweep-paths-negative", ["sweep", "{sc}", "--out", "{out}", "--paths", "-5"], "--paths"),
    ("sweep-paths-text", ["sweep", "{sc}", "--out", "{out}", "--paths", "many"], "--paths"),
    ("sweep-workers-zero", ["sweep", "{sc}", "--out", "{out}", "--workers", "0"], "--workers"),
    ("sweep-steps-zero", ["sweep", "{sc}", "--out", "{out}", "--steps", "0"], "--steps"),
    ("sweep-batch-zero", ["sweep", "{sc}", "--out", "{out}", "--batch", "0"], "--batch"),
    ("sweep-model-unknown", ["sweep", "{sc}", "--out", "{out}", "--model", "brownian"], "--model"),
    ("sweep-engine-unknown", ["sweep", "{sc}", "--out", "{out}", "--engine", "spark"], "--engine"),
    ("sweep-grid-without-equals", ["sweep", "{sc}", "--out", "{out}", "--grid", "x"], "--grid"),
    ("sweep-grid-empty-value", ["sweep", "{sc}", "--out", "{out}", "--grid", "seed=1,,2"], "--grid"),
    ("sweep-grid-unknown-key", ["sweep", "{sc}", "--out", "{out}", "--grid", "colour=1,2"], "--grid", "colour"),
    ("sweep-grid-key-twice", ["sweep", "{sc}", "--out", "{out}", "--grid", "seed=1", "--grid", "seed=2"], "--grid"),
    (
        "sweep-grid-depth-scale-inf",
        ["sweep", "{sc}", "--out", "{out}", "--paths", "1", "--grid", "liquidity.depth_scale=inf"],
        "--grid",
        "depth_scale",
    ),
    (
        "sweep-grid-fund-finer",
        ["sweep", "{sc}", "--out", "{out}", "--paths", "1", "--grid", "insurance_fund.balance=0.0000001"],
        "--grid",
        "insurance_fund.balance",
    ),
    (
        "sweep-grid-model-sigma-negative",
        ["sweep", "{sc}", "--out", "{out}", "--paths", "1", "--grid", "model.sigma=-1"],
        "--grid",
        "sigma",
    ),
    ("sweep-out-dot", ["sweep", "{sc}", "--out", "."], "--out"),
    ("sweep-out-file", ["sweep", "{sc}", "--out", "{tmp}/scenario.toml"], "--out", "is a file"),
    ("adl-event-seed-negative", ["adl-event", "--out", "{out}", "--seed", "-1"], "--seed"),
    ("adl-event-replicas-negative", ["adl-event", "--out", "{out}", "--replicas", "-1"], "--replicas"),
    ("adl-event-replicas-zero", ["adl-event", "--out", "{out}", "--replicas", "0"], "--replicas"),
    ("adl-event-replicas-huge", ["adl-event", "--out", "{out}", "--replicas", "1000000"], "--replicas"),
    ("adl-event-policy-unknown", ["adl-event", "--out", "{out}", "--policy", "coin"], "policy", "coin"),
    ("adl-event-out-dot", ["adl-event", "--out", "."], "--out"),
    ("adl-event-out-file", ["adl-event", "--out", "{tmp}/scenario.toml"], "--out", "is a file"),
    ("venues-unknown", ["venues", "nope"], "NAME", "nope"),
]:
    arg_case(cid, args, *expect)

POSITION = ["position", "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry", "60000"]
for cid, extra, *expect in [
    ("venue-unknown", ["--venue", "nope", "--size", "1"], "nope"),
    ("side-unknown", ["--side", "up", "--size", "1"], "side"),
    ("size-text", ["--size", "one"], "size"),
    ("size-negative", ["--size", "-1"], "size"),
    ("size-inf", ["--size", "inf"], "size"),
    ("size-nan", ["--size", "nan"], "size"),
    ("entry-zero", ["--size", "1", "--entry", "0"], "entry"),
    ("entry-inf", ["--size", "1", "--entry", "inf"], "entry"),
    ("leverage-zero", ["--size", "1", "--leverage", "0"], "leverage"),
    ("leverage-text", ["--size", "1", "--leverage", "high"], "leverage"),
    ("wallet-negative", ["--size", "1", "--wallet", "-1"], "wallet"),
    ("wallet-and-leverage", ["--size", "1", "--wallet", "100", "--leverage", "5"], "wallet"),
    ("margin-mode-unknown", ["--size", "1", "--margin-mode", "both"], "--margin-mode"),
    ("mark-nan", ["--size", "1", "--mark", "nan"], "mark"),
    ("symbol-unknown", ["--size", "1", "--symbol", "DOGEUSDT"], "symbol"),
]:
    arg_case(f"position-{cid}", [*POSITION, *extra], *expect)


# ----------------------------------------------------------------------------------------------- the test


def flat(s: str) -> str:
    return "".join(s.split())


def materialise(case: Case, tmp: Path) -> list[str]:
    sc = tmp / "scenario.toml"
    if case.text is not None:
        sc.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode("utf-8"))
    for name, content in case.files.items():
        if name.endswith("/"):
            (tmp / name).mkdir()
        elif isinstance(content, pa.Table):
            pq.write_table(content, tmp / name)
        else:
            (tmp / name).write_bytes(content)
    out = tmp / "out"
    return [a.replace("{sc}", str(sc)).replace("{out}", str(out)).replace("{tmp}", str(tmp)) for a in case.args]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 150, len(CASES)


@pytest.mark.parametrize("cid", list(CASES))
def test_malformed_input_exits_2_naming_it_and_writes_nothing(cid, tmp_path):
    case = CASES[cid]
    work = tmp_path / "w"
    work.mkdir()
    args = materialise(case, work)
    before = sorted(os.listdir(work))
    old = os.getcwd()
    os.chdir(work)
    try:
        result = runner.invoke(app, args)
    finally:
        os.chdir(old)
    out = flat(result.output)
    assert result.exit_code == EXIT_BAD_INPUT, f"exit {result.exit_code}: {result.output}{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in result.output
    for needle in case.expect:
        assert flat(needle) in out, f"message does not name {needle!r}: {result.output}"
    assert sorted(os.listdir(work)) == before, "something was written"
