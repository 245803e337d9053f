"""The parameter grid of a Monte Carlo sweep (:mod:`delever.montecarlo`): its keys (dotted scenario paths or
``model.NAME`` path-model parameters), checked against the scenario's fields, and its points (the Cartesian
product of the value lists, keys in the order given), each with its scenario and path-model parameters."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from . import paths as P
from .scenario import Scenario

MODEL_PREFIX = "model."


@dataclasses.dataclass(frozen=True)
class Point:
    """One parameter point: its grid values, the scenario with them applied and the path-model parameters."""

    index: int
    values: dict[str, Any]
    scenario: Scenario
    params: Any


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class in a field annotation (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def check_key(key: str, model: str) -> None:
    """Raise ``ValueError`` naming ``key`` unless it is a scenario field path or ``model.<parameter>``."""
    if key.startswith(MODEL_PREFIX):
        P.model_params(model, {})  # unknown model
        name = key[len(MODEL_PREFIX) :]
        known = [f.name for f in dataclasses.fields(P.MODELS[model][0])]
        if name not in known:
            raise ValueError(f"unknown key {key!r}: path model {model!r} has parameters {', '.join(known)}")
        return
    cls: type[BaseModel] | None = Scenario
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = {k: f for k, f in cls.model_fields.items() if not f.exclude} if cls is not None else {}
        if part not in fields:
            where = ".".join(parts[:i]) or "the scenario"
            raise ValueError(
                f"unknown key {key!r}: {where} has no field {part!r}"
                + (f" (fields: {', '.join(fields)})" if fields else "")
            )
        cls = _model_class(fields[part].annotation)
        if i < len(parts) - 1 and cls is None:
            raise ValueError(f"unknown key {key!r}: {'.'.join(parts[: i + 1])} is not a table")
    if cls is not None:
        raise ValueError(f"key {key!r} is a table; give one of its fields ({', '.join(cls.model_fields)})")


def apply_overrides(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with dotted-key ``values`` set (validated as if read from its file).

    Raises:
        ValueError: an unknown key or a value the scenario rejects (the message names the key).
    """
    data = scenario.model_dump()
    for key, value in values.items():
        check_key(key, "gbm-jump")
        node = data
        *head, last = key.split(".")
        for part in head:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    try:
        return Scenario.model_validate({**data, "base_dir": scenario.base_dir})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"{field}: {err['msg']} (grid values {values})") from None


def grid_points(
    scenario: Scenario, model: str, grid: dict[str, Sequence[Any]] | None, model_values: dict[str, Any] | None = None
) -> list[Point]:
    """The grid's points in canonical order (Cartesian product, keys in the order given, values in order).

    Raises:
        ValueError: an empty value list, an unknown key or a rejected value (naming the key).
    """
    grid = dict(grid or {})
    for key, vals in grid.items():
        check_key(key, model)
        if len(vals) == 0:
            raise ValueError(f"grid key {key!r} has no values")
    keys = list(grid)
    out = []
    for i, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
        values = dict(zip(keys, combo, strict=True))
        sc_values = {k: v for k, v in values.items() if not k.startswith(MODEL_PREFIX)}
        mv = {
            **(model_values or {}),
            **{k[len(MODEL_PREFIX) :]: v for k, v in values.items() if k.startswith(MODEL_PREFIX)},
        }
        try:
            params = P.model_params(model, mv)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path model parameters {mv}: {exc}") from None
        sc = apply_overrides(scenario, sc_values) if sc_values else scenario
        out.append(Point(i, values, sc, params))
    return out
