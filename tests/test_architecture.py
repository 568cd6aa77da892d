"""The import structure docs/architecture.md states, read off the source (every ``import`` and
``from … import``, at module level and inside functions):

* no import cycle among lbdsl's modules;
* the numerical library — ``solvers``, ``training``, ``certify``, ``lift``, ``ops``, ``prox`` —
  imports nothing from the front end or the runners, so that it is usable from Python with
  arrays alone;
* ``ir`` (the network IR) imports neither the numerical library's solvers nor the runners.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1] / "lbdsl"

NUMERICAL = ("lbdsl.solvers", "lbdsl.training", "lbdsl.certify", "lbdsl.lift", "lbdsl.ops",
             "lbdsl.prox")
FRONT_END = ("lbdsl.ir.tasks", "lbdsl.tasks", "lbdsl.syntax", "lbdsl.pipeline", "lbdsl.program",
             "lbdsl.api", "lbdsl.cli", "lbdsl.distributed", "lbdsl.exchange", "lbdsl.builder")


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _graph() -> nx.DiGraph:
    """Module → the lbdsl modules it imports (the most specific one each names)."""
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [*subs, base]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    g.add_edge(name, target)
    return g


@pytest.fixture(scope="module")
def imports() -> nx.DiGraph:
    return _graph()


def test_the_walk_sees_the_imports_it_should(imports: nx.DiGraph) -> None:
    """A check of the checker: edges known to be there, module-level and inside a function."""
    assert imports.has_edge("lbdsl.pipeline", "lbdsl.program")
    assert imports.has_edge("lbdsl.tasks.context", "lbdsl.certify.certificate")  # in a method
    assert imports.has_edge("lbdsl.solvers.registry", "lbdsl.solvers.pdhg")


def test_no_module_imports_itself_back(imports: nx.DiGraph) -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(imports) if len(c) > 1]
    assert cycles == []


def test_the_numerical_library_imports_no_front_end(imports: nx.DiGraph) -> None:
    wrong = [(a, b) for a, b in imports.edges
             if a.startswith(NUMERICAL) and b.startswith(FRONT_END)]
    assert wrong == []


def test_the_network_ir_imports_no_solver_and_no_runner(imports: nx.DiGraph) -> None:
    network_ir = [m for m in imports if m.startswith("lbdsl.ir")
                  and not m.startswith("lbdsl.ir.tasks")]
    wrong = [(a, b) for a in network_ir for b in imports.successors(a)
             if b.startswith(("lbdsl.solvers", "lbdsl.training", "lbdsl.tasks", "lbdsl.lift",
                              "lbdsl.ir.tasks", "lbdsl.pipeline"))]
    assert wrong == []
