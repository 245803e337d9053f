"""The object graph of a simulation as NumPy arrays and JSON (no pickle), for checkpoints
(:mod:`delever.checkpoint`): every array under its attribute path, and the rest of the graph (scalars, lists,
dicts, which object each attribute is, which attributes are the same object, RNG states) as a JSON-able tree. The
objects reachable from the simulation's inputs (scenario, prepared market) are not captured: a restore replaces
the state of a simulation freshly built from the same inputs."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import numpy as np


def capture_state(sim: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON-able graph of ``sim``'s state; its arrays are added to ``arrays`` under their attribute paths."""
    return _capture(sim, inputs=_input_ids(sim), arrays=arrays)


def restore_state(graph: Any, sim: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Put the state ``graph`` (with its ``arrays``) of :func:`capture_state` back into ``sim``; returns ``sim``.

    Raises:
        KeyError, IndexError, AttributeError, TypeError: the graph does not fit ``sim``.
    """
    return _restore(graph, sim, arrays, {}, "")


def _input_ids(sim) -> set[int]:
    """Ids of every object reachable from the simulation's inputs (scenario, prepared market)."""
    ids: set[int] = set()
    stack = [sim.__dict__.get("market"), sim.__dict__.get("scenario")]
    while stack:
        o = stack.pop()
        if o is None or isinstance(o, int | float | bool | str) or id(o) in ids:
            continue
        ids.add(id(o))
        if isinstance(o, list | tuple):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif hasattr(o, "__dict__") and not isinstance(o, type):
            stack.extend(vars(o).values())
    return ids


def _is_state_object(o: Any) -> bool:
    return (
        hasattr(o, "__dict__")
        and not isinstance(o, type)
        and not callable(o)
        and type(o).__module__.startswith("delever.")
        and not _is_pydantic(o)
    )


def _is_pydantic(o: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(o, BaseModel)


def _capture(o: Any, inputs: set[int], arrays: dict, path: str = "", seen: dict | None = None) -> Any:
    seen = {} if seen is None else seen
    if o is None or isinstance(o, bool | str):
        return o
    if isinstance(o, int) and not isinstance(o, np.integer):
        return o
    if isinstance(o, float) and not isinstance(o, np.floating):
        return {"float": repr(o)}
    if isinstance(o, np.generic):
        return {"scalar": o.dtype.str, "value": o.item() if o.dtype.kind != "f" else repr(o.item())}
    if isinstance(o, Decimal):
        return {"decimal": str(o)}
    if path and id(o) in inputs:
        return {"keep": True}  # an input: the rebuilt simulation holds the same
    if id(o) in seen:
        return {"alias": seen[id(o)]}
    if isinstance(o, np.ndarray):
        if o.dtype.hasobject:
            raise TypeError(f"{path}: an object array cannot be checkpointed")
        seen[id(o)] = path
        arrays[path] = o
        return {"array": path}
    if isinstance(o, np.random.Generator):
        seen[id(o)] = path
        return {"rng": type(o.bit_generator).__name__, "state": encode_value(o.bit_generator.state)}
    if isinstance(o, list | tuple):
        seen[id(o)] = path
        items = [_capture(x, inputs, arrays, f"{path}[{i}]", seen) for i, x in enumerate(o)]
        return {"list" if isinstance(o, list) else "tuple": items}
    if isinstance(o, dict):
        if not all(isinstance(k, str) for k in o):
            raise TypeError(f"{path}: a dict with non-text keys cannot be checkpointed")
        seen[id(o)] = path
        return {"dict": {k: _capture(v, inputs, arrays, f"{path}.{k}", seen) for k, v in o.items()}}
    if _is_state_object(o):
        seen[id(o)] = path
        attrs = {k: _capture(v, inputs, arrays, f"{path}.{k}" if path else k, seen) for k, v in vars(o).items()}
        return {"object": f"{type(o).__module__}:{type(o).__qualname__}", "attrs": attrs}
    return {"keep": True}  # functions, types, frozen sets, ...: rebuilt identically by the constructor


def _current(base: Any, path: str) -> Any:
    """The value at ``path`` in the freshly built simulation ``base`` (for ``keep`` nodes)."""
    o = base
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            o = o[int(part[1:-1])]
        elif isinstance(o, dict):
            o = o[part]
        else:
            o = getattr(o, part)
    return o


def _restore(node: Any, base: Any, arrays: dict, made: dict, path: str) -> Any:
    if node is None or isinstance(node, bool | int | str):
        return node
    if "float" in node:
        return float(node["float"])
    if "scalar" in node:
        dtype = np.dtype(node["scalar"])
        return dtype.type(float(node["value"]) if dtype.kind == "f" else node["value"])
    if "decimal" in node:
        return Decimal(node["decimal"])
    if "keep" in node:
        return _current(base, path) if path else base
    if "alias" in node:
        return made[node["alias"]]
    if "array" in node:
        made[path] = arrays[node["array"]]
        return made[path]
    if "rng" in node:
        bit_generator = getattr(np.random, node["rng"])()
        bit_generator.state = decode_value(node["state"])
        made[path] = np.random.Generator(bit_generator)
        return made[path]
    if "list" in node:
        out: list = []
        made[path] = out
        out.extend(_restore(x, base, arrays, made, f"{path}[{i}]") for i, x in enumerate(node["list"]))
        return out
    if "tuple" in node:
        made[path] = tuple(_restore(x, base, arrays, made, f"{path}[{i}]") for i, x in enumerate(node["tuple"]))
        return made[path]
    if "dict" in node:
        d: dict = {}
        made[path] = d
        for k, v in node["dict"].items():
            d[k] = _restore(v, base, arrays, made, f"{path}.{k}")
        return d
    module, qualname = node["object"].split(":")
    if not module.startswith("delever."):
        raise TypeError(f"{path}: not a delever object: {module}")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    obj = base if not path else cls.__new__(cls)
    if type(obj) is not cls:
        raise TypeError(f"{path or 'simulation'}: {type(obj).__name__} is not {qualname}")
    made[path] = obj
    attrs = {k: _restore(v, base, arrays, made, f"{path}.{k}" if path else k) for k, v in node["attrs"].items()}
    if not path:
        obj.__dict__.clear()
    obj.__dict__.update(attrs)
    return obj


def encode_value(v: Any) -> Any:
    """JSON-able form of a recorded value, keeping NumPy types (``{"__np__": dtype, ...}``)."""
    if isinstance(v, np.ndarray):
        return {"__ndarray__": v.dtype.str, "shape": list(v.shape), "data": v.ravel().tolist()}
    if isinstance(v, np.generic):
        return {"__np__": v.dtype.str, "value": v.item()}
    if isinstance(v, float):
        return {"__float__": repr(v)}
    if isinstance(v, dict):
        return {"__dict__": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if isinstance(v, list | tuple):
        return {"__list__" if isinstance(v, list) else "__tuple__": [encode_value(x) for x in v]}
    if isinstance(v, Decimal):
        return {"__decimal__": str(v)}
    return v


def decode_value(v: Any) -> Any:
    """The value :func:`encode_value` encoded."""
    if not isinstance(v, dict):
        return v
    if "__ndarray__" in v:
        return np.array(v["data"], dtype=np.dtype(v["__ndarray__"])).reshape(v["shape"])
    if "__np__" in v:
        return np.dtype(v["__np__"]).type(v["value"])
    if "__float__" in v:
        return float(v["__float__"])
    if "__dict__" in v:
        return {decode_value(k): decode_value(x) for k, x in v["__dict__"]}
    if "__list__" in v:
        return [decode_value(x) for x in v["__list__"]]
    if "__tuple__" in v:
        return tuple(decode_value(x) for x in v["__tuple__"])
    if "__decimal__" in v:
        return Decimal(v["__decimal__"])
    raise ValueError(f"not a recorded value: {v!r}")
