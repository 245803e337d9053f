"""Scenarios: a TOML file validated with pydantic, every parameter with its unit and default.

Paths in a scenario are relative to the scenario file, or ``package:NAME`` for data shipped inside delever
(``src/delever/data``). Quote amounts and rates are decimal strings or numbers (converted exactly). Unknown
keys are errors. Errors name the file, the line of the offending key where it can be found, and the field.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from .config.adl import AdlConfig
from .config.base import ConfigModel
from .config.book import BookConfig, GeneratorConfig, HyperliquidBookConfig
from .config.liquidation import LiquidationConfig
from .config.margin import MarginConfig
from .config.market import (
    FeesConfig,
    InstrumentConfig,
    InsuranceFundConfig,
    LiquidityConfig,
    MarkConfig,
    PricesConfig,
    TierRow,
    build_tiers,
)
from .config.mechanisms import CrossInstrumentConfig, CrossMarginConfig, MechanismsConfig
from .config.options import OptionsConfig, options_problem
from .errors import InputError
from .validate import MAX_SEED, scenario_problem

# The sections live in delever.config; they are named here too, as the scenario's public API.
__all__ = [
    "AdlConfig",
    "BookConfig",
    "CrossInstrumentConfig",
    "CrossMarginConfig",
    "FactsConfig",
    "FeesConfig",
    "GeneratorConfig",
    "HyperliquidBookConfig",
    "InstrumentConfig",
    "InsuranceFundConfig",
    "LiquidationConfig",
    "LiquidityConfig",
    "MarginConfig",
    "MarkConfig",
    "MechanismsConfig",
    "OptionsConfig",
    "PricesConfig",
    "Scenario",
    "TierRow",
    "build_tiers",
    "default_scenario_path",
    "load_scenario",
    "merge_overrides",
    "parse_set",
    "window_ms",
]

PACKAGE_PREFIX = "package:"


class FactsConfig(ConfigModel):
    """Settings of the stylised facts every run reports (:mod:`delever.facts`): ADL fills more than
    ``adl_wave_gap_s`` seconds apart belong to different waves (default 5 s, Chitra's wave split);
    ``compare_with`` names a real event whose figures the report shows beside the run's."""

    adl_wave_gap_s: Annotated[float, Field(ge=0)] = 5.0
    compare_with: Literal["hyperliquid-2025-10-10"] | None = None
    """A real event whose facts the report puts beside the run's, each traced to its data file."""


class Scenario(ConfigModel):
    """A whole run: ``(scenario, seed)`` determines the output."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    step_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    instrument: InstrumentConfig = InstrumentConfig()
    prices: PricesConfig
    liquidity: LiquidityConfig
    mark: MarkConfig = MarkConfig()
    fees: FeesConfig = FeesConfig()
    insurance_fund: InsuranceFundConfig = InsuranceFundConfig()
    book: BookConfig
    mechanisms: MechanismsConfig = MechanismsConfig()
    liquidation: LiquidationConfig = LiquidationConfig()
    margin: MarginConfig = MarginConfig()
    adl: AdlConfig = AdlConfig()
    facts: FactsConfig = FactsConfig()
    options: OptionsConfig | None = None
    """Option series in the run's accounts (issue #16; :mod:`delever.options.engine_market`)."""
    base_dir: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: str) -> Path:
        """A path from the scenario: ``package:NAME`` or relative to the scenario file."""
        if path.startswith(PACKAGE_PREFIX):
            from .marketdata import packaged_data_path

            return packaged_data_path(path[len(PACKAGE_PREFIX) :])
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p


def _utc_ms(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def window_ms(t: datetime | None) -> int | None:
    """UTC epoch ms of a scenario time (naive times are UTC)."""
    return _utc_ms(t)


def _line_of(text: str, loc: tuple) -> int | None:
    """Best-effort line number of the key a pydantic error points at: the key's line inside its table
    (``[a.b]`` header, or a dotted key at the top level), else the table's header line."""
    keys = [str(k) for k in loc if isinstance(k, str)]
    if not keys:
        return None
    table, key = keys[:-1], keys[-1]
    current: list[str] = []
    header_line = None
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = [k.strip() for k in stripped.strip("[]").split(".")]
            if current == keys:
                header_line = n
            continue
        name = stripped.split("=", 1)[0].strip() if "=" in stripped else None
        if name is None:
            continue
        full = current + [k.strip() for k in name.split(".")]
        if full == table + [key]:
            return n
    return header_line


def load_scenario(path: str | Path, overrides: dict | None = None) -> Scenario:
    """Read and validate a scenario TOML file; ``overrides`` (nested dict) are merged over it.

    Raises:
        InputError: unreadable file, TOML syntax error (with its line), or invalid values (with field path
            and line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read scenario: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte {exc.start}); save the scenario as UTF-8 TOML", file=str(path), row=line
        ) from None
    if "\x00" in text:
        raise InputError(
            "not UTF-8 TOML text (it holds NUL bytes: binary, or UTF-16); save the scenario as UTF-8", file=str(path)
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_in_message(str(exc))
        raise InputError(f"TOML syntax error: {exc}", file=str(path), row=line) from None
    if overrides:
        data = merge_overrides(data, overrides)
    try:
        scenario = Scenario.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        errors = exc.errors()
        err = _most_specific(errors)
        loc = _field_loc(err["loc"])
        field = ".".join(str(x) for x in loc)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise InputError(f"{msg}{more}", file=str(path), row=_line_of(text, loc), field=field) from None
    try:
        scenario.instrument.build()
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field="instrument") from None
    problem = scenario_problem(scenario) or options_problem(scenario)
    if problem is not None:
        loc, message = problem
        raise InputError(message, file=str(path), row=_line_of(text, loc), field=".".join(loc))
    return scenario


_UNION_TAGS = {"str", "int", "float", "bool", "decimal", "datetime", "list", "dict", "none"}


def _field_loc(loc: tuple) -> tuple:
    """A pydantic error location without the union-member tags pydantic inserts (``str``,
    ``list[TierRow]``, ``constrained-float``, ...): the scenario's own field path."""
    return tuple(x for x in loc if isinstance(x, int) or (str(x).isidentifier() and str(x) not in _UNION_TAGS))


def _most_specific(errors: list[dict]) -> dict:
    """The first error, or, when it is one member of a union that failed (a value that is neither a table
    name nor a list of rows), the error of the member that went deepest (the row and field at fault)."""
    first = errors[0]
    field = _field_loc(first["loc"])
    same = [e for e in errors if _field_loc(e["loc"])[: len(field)] == field]
    return max(same, key=lambda e: (len(e["loc"]), not e["type"].endswith("_type")))


def _line_in_message(message: str) -> int | None:
    import re

    m = re.search(r"at line (\d+)", message)
    return int(m.group(1)) if m else None


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``; values are TOML literals, or strings if not.

    Raises:
        InputError: an item without ``=`` or with an empty key (field ``--set``).
    """
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or any(not k for k in key.strip().split(".")):
            raise InputError(f"expected key=value, got {item!r}", field="--set")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        node = out
        parts = key.strip().split(".")
        for k in parts[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"{key}: conflicts with another --set", field="--set")
        node[parts[-1]] = value
    return out


def merge_overrides(base: dict, over: dict) -> dict:
    """``base`` (a scenario's TOML data) with ``over`` merged into it: nested tables key by key, any other value
    replaced; neither argument is changed."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_overrides(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_scenario_path() -> Path:
    """The built-in default scenario file (Binance BTCUSDT, 10 October 2025 from 21:00 UTC)."""
    from .marketdata import packaged_data_path

    return packaged_data_path("scenarios/binance-btcusdt-2025-10-10.toml")
