"""A loaded spec: the first two stages, parse → IR (networks and typed tasks).

:func:`load` reads a file (or the built-in demo), :func:`loads` a spec given as text; both apply
``--set`` overrides.  What follows these stages — lift, certify, the tasks — is
:mod:`lbdsl.pipeline`'s; a Dask worker rebuilds a program here from the text the caller read.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import Diagnostic, SpecError
from .ir.build import build_network
from .ir.nodes import ModuleIR, NetworkIR
from .ir.params import MAX_PARAM_BYTES
from .ir.tasks import OVERRIDE_FILE, apply_overrides_to_module, build_task, task_network_problems
from .paths import spec_dir
from .syntax import tree
from .syntax.parser import parse, parse_file

__all__ = ["Program", "load", "loads", "build_module", "demo_source", "DEMO"]

#: Name shown for the built-in demo spec.
DEMO = "<demo>"


@dataclass(frozen=True, eq=False)
class Program:
    """A loaded spec: its syntax tree and its IR (networks and typed tasks)."""

    module: tree.Module
    ir: ModuleIR

    @property
    def networks(self) -> dict[str, NetworkIR]:
        return self.ir.networks

    @property
    def tasks(self) -> tuple[Any, ...]:
        return self.ir.tasks


def demo_source() -> str:
    """The text of the built-in demo spec (shipped inside the package)."""
    return (resources.files("lbdsl") / "demo.lbn").read_text(encoding="utf-8")


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Program:
    """Parse and build a spec file (``None``: the built-in demo), applying ``--set`` overrides."""
    return _build(parse(demo_source(), DEMO) if path is None else parse_file(path), overrides)


def loads(text: str, overrides: list[str] | tuple[str, ...] = (),
          file: str = "<string>") -> Program:
    """Parse and build a spec given as text (``file`` names it in messages; ``load(...)``
    paths in it are relative to the working directory)."""
    return _build(parse(text, file), overrides)


def _build(module: tree.Module, overrides: list[str] | tuple[str, ...]) -> Program:
    if not overrides:
        return Program(module, build_module(module))
    try:
        module = apply_overrides_to_module(module, list(overrides))
        return Program(module, build_module(module))
    except SpecError as err:  # let diagnostics in `--set:N` quote the override they point at
        raise err.with_sources({OVERRIDE_FILE: "\n".join(overrides)}) from None


def build_module(module: tree.Module, *, max_param_bytes: int = MAX_PARAM_BYTES) -> ModuleIR:
    """Every network of ``module`` (:func:`lbdsl.ir.build.build_network`), and its tasks
    (:func:`lbdsl.ir.tasks.build_task`: a task whose network failed is still checked, without
    the network); all errors of the file in one :class:`SpecError`."""
    file_dir = spec_dir(module.file)
    diags: list[Diagnostic] = []
    networks: dict[str, NetworkIR] = {}
    first: dict[str, tree.Network] = {}
    for net in module.networks:
        name = net.name.id
        if name in first:
            line = first[name].name.span.line if first[name].name.span else 0
            diags.append(Diagnostic(net.name.span, f"network `{name}` is already defined on "
                                    f"line {line}", "give each network its own name"))
            continue
        first[name] = net
        try:
            networks[name] = build_network(net, file_dir, source=module.source,
                                           max_param_bytes=max_param_bytes)
        except SpecError as exc:
            diags.extend(exc.diagnostics)
    diags.extend(task_network_problems(module))
    tasks: list[Any] = []
    for task in module.tasks:
        if task.network.id not in first:
            continue
        try:
            tasks.append(build_task(task, networks.get(task.network.id)))
        except SpecError as exc:
            diags.extend(exc.diagnostics)
    if diags:
        diags.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise SpecError(diags, module.source)
    return ModuleIR(module.file, module.source, networks, tuple(tasks))
