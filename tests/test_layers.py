"""The package's layers (../shared/DESIGN.md, "Where the code goes next"), read from the source's imports (every
``import``, at module level or inside a function, parsed with :mod:`ast`):

- no import cycles between delever modules;
- the command line (:mod:`delever.cli`) is imported by nothing outside it, and the engine
  (:mod:`delever.engine`) only by the modules that run it (:data:`RUNS_THE_ENGINE`): nothing low (state,
  stages, mechanisms, ADL, venues' rules) imports either;
- presentation libraries (typer, rich, plotly) only in :mod:`delever.report` and :mod:`delever.cli`;
- no private name (``_x``; dunders such as ``__version__`` are public) imported from another delever module.

The checker itself is tested on small made-up packages, so that each rule is seen to fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import delever

PRESENTATION = ("typer", "rich", "plotly")
PRESENTATION_HOMES = ("delever.report", "delever.cli")
RUNS_THE_ENGINE = {
    "delever.contagion",  # prepares a multi-instrument market on top of engine.market.prepare
    "delever.checkpoint",  # saves and restores a Simulation
    "delever.output",  # writes a RunResult
    "delever.output_tables",  # the tables of a RunResult
    "delever.run_summary",  # the summary of a RunResult
    "delever.provenance",  # the provenance of a RunResult's inputs
    "delever.ablation",
    "delever.compare",
    "delever.montecarlo",
    "delever.venues.scenario",  # the experiments: run the engine many times
    "delever.warmup",  # runs the packaged scenarios to fill numba's cache
}


@dataclass
class Graph:
    """The imports of a package: ``edges[module]`` the delever modules it imports, ``names[module]`` the
    ``(module, name)`` pairs of its ``from X import name`` imports from delever modules, ``external[module]``
    the top-level packages it imports from outside."""

    modules: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    external: dict[str, set[str]] = field(default_factory=dict)


def import_graph(package_dir: Path) -> Graph:
    """The :class:`Graph` of the package at ``package_dir`` (its name: the folder's)."""
    root = package_dir.name
    files = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        files[".".join(parts)] = (path, parts if is_init else parts[:-1])
    g = Graph(modules=set(files))
    for name, (path, package) in files.items():
        edges, names, external = set(), set(), set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != root:
                    external.add(source.split(".")[0])
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if full in files:  # a submodule
                        edges.add(full)
                    else:
                        edges.add(source)
                        names.add((source, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    if top == root:
                        edges.add(alias.name)
                    else:
                        external.add(top)
        g.edges[name] = {e for e in edges if e in files and e != name}
        g.names[name] = names
        g.external[name] = external
    return g


def cycles(g: Graph) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g.modules):
        if v not in index:
            visit(v)
    return sorted(found)


def private_imports(g: Graph, allowed=frozenset()) -> list[tuple[str, str, str]]:
    """``(importer, module, name)`` for each private name (one leading underscore, not a dunder) imported
    from another module, less ``allowed`` ``(module, name)`` pairs."""
    return sorted(
        (m, src, n)
        for m, names in g.names.items()
        for src, n in names
        if n.startswith("_") and not n.startswith("__") and src != m and (src, n) not in allowed
    )


def presentation_outside(g: Graph, libraries=PRESENTATION, homes=PRESENTATION_HOMES) -> list[tuple[str, str]]:
    """``(module, library)`` for each presentation library imported outside its ``homes`` packages."""
    return sorted(
        (m, lib)
        for m, libs in g.external.items()
        for lib in libs & set(libraries)
        if not any(m == h or m.startswith(h + ".") for h in homes)
    )


def importers_of(g: Graph, target: str) -> set[str]:
    """Modules outside ``target`` (a module or package) that import it or one of its submodules."""
    inside = lambda m: m == target or m.startswith(target + ".")  # noqa: E731
    return {m for m, deps in g.edges.items() if not inside(m) and any(inside(d) for d in deps)}


SRC = Path(delever.__file__).resolve().parent
GRAPH = import_graph(SRC)


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_no_private_names_imported_across_modules():
    assert private_imports(GRAPH) == []


def test_presentation_only_in_report_and_cli():
    assert presentation_outside(GRAPH) == []


def test_nothing_imports_the_command_line():
    assert importers_of(GRAPH, "delever.cli") == set()


def test_only_the_runners_import_the_engine():
    runners = {m for m in importers_of(GRAPH, "delever.engine") if not m.startswith("delever.cli.")}
    assert runners - RUNS_THE_ENGINE == set()


def test_the_graph_sees_the_package():
    # the checker reads what is there: the engine package, its step loop, and its import of the protocol
    assert {"delever.engine", "delever.engine.simulation", "delever.mechanisms.base"} <= GRAPH.modules
    assert "delever.mechanisms.registry" in GRAPH.edges["delever.engine.simulation"]
    assert "typer" in GRAPH.external["delever.cli.app"]


# -- the checker on made-up packages: each rule fails where it should --------------------------------------


def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


@pytest.mark.parametrize(
    "files, expected",
    [
        pytest.param({"a.py": "from . import b\n", "b.py": "from .a import x\n"}, [["pkg.a", "pkg.b"]], id="two-cycle"),
        pytest.param(
            {"a.py": "def f():\n    from .b import y\n", "b.py": "from .c import z\n", "c.py": "import pkg.a\n"},
            [["pkg.a", "pkg.b", "pkg.c"]],
            id="three-cycle-through-a-function-level-import",
        ),
        pytest.param(
            {
                "sub/__init__.py": "from .m import x\n",
                "sub/m.py": "from ..a import y\n",
                "a.py": "from .sub import m\n",
            },
            [["pkg.a", "pkg.sub.m"]],
            id="cycle-across-subpackage",
        ),
        pytest.param({"a.py": "from . import b\n", "b.py": "import numpy\n"}, [], id="no-cycle"),
    ],
)
def test_cycle_checker(tmp_path, files, expected):
    assert cycles(import_graph(write_package(tmp_path, files))) == expected


def test_private_name_checker(tmp_path):
    pkg = write_package(
        tmp_path,
        {
            "a.py": "_hidden = 1\n__version__ = '1'\n",
            "b.py": "from .a import _hidden, __version__\n",
            "c.py": "from .a import _hidden\n",
        },
    )
    g = import_graph(pkg)
    assert private_imports(g) == [("pkg.b", "pkg.a", "_hidden"), ("pkg.c", "pkg.a", "_hidden")]
    assert private_imports(g, {("pkg.a", "_hidden")}) == []


def test_presentation_checker(tmp_path):
    pkg = write_package(
        tmp_path,
        {
            "core.py": "def f():\n    import rich.table\n",
            "report/page.py": "import plotly.graph_objects as go\n",
            "cli/app.py": "import typer\n",
        },
    )
    g = import_graph(pkg)
    assert presentation_outside(g, homes=("pkg.report", "pkg.cli")) == [("pkg.core", "rich")]


def test_importers_checker(tmp_path):
    pkg = write_package(
        tmp_path,
        {
            "engine/__init__.py": "from .sim import run\n",
            "engine/sim.py": "",
            "low.py": "from .engine.sim import run\n",
        },
    )
    assert importers_of(import_graph(pkg), "pkg.engine") == {"pkg.low"}
