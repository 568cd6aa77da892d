"""From syntax-tree tasks to typed tasks, for one task or a whole module.

:func:`build_task` reads one ``invert`` / ``train`` / ``check`` block; every independent mistake
in it is reported in one :class:`SpecError`.  :func:`build_tasks` does a whole file: it also
checks that each task names a network of the file (:func:`check_task_networks`) and attaches the
source text so that errors quote their lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ...errors import Diagnostic, SpecError
from ...syntax import tree
from . import records as m
from . import reader as r
from .kinds import TASK_KINDS
from .schema import Context, Schema, read_settings

__all__ = ["SCHEMAS", "context", "build_task", "build_tasks", "check_task_networks",
           "task_network_problems"]



class _Schemas(Mapping[str, Schema]):
    """The schema of each registered task kind (a view: a kind registered later is in it)."""

    def __getitem__(self, kind: str) -> Schema:
        return TASK_KINDS[kind].schema

    def __iter__(self) -> Iterator[str]:
        return iter(TASK_KINDS)

    def __len__(self) -> int:
        return len(TASK_KINDS)


#: The task kinds and the settings each accepts (from :data:`~.kinds.TASK_KINDS`).
SCHEMAS: Mapping[str, Schema] = _Schemas()

Variables = Mapping[str, tuple[int, ...]]


def context(task: tree.Task, network: Any = None) -> Context:
    """What the readers know of ``task``'s network.

    ``network`` is None (nothing known), a mapping display name → shape, or a
    :class:`~lbdsl.ir.nodes.NetworkIR` (then a rebound name means its last version, a hidden
    layer ``y.relu`` may be named too, and the input's shape is known).
    """
    name = task.network.id
    if network is None:
        return Context(name)
    if isinstance(network, Mapping):
        shapes = {k: tuple(v) for k, v in network.items()}
        return Context(name, shapes, {k: k for k in shapes})
    shapes, ids = {}, {}
    for var in network.variables.values():  # definition order: the last version wins
        shapes[var.id] = tuple(var.shape) if var.shape is not None else ()
        ids[var.id] = var.id
        # what a spec writes: the name (its last binding), or `y.relu` for a hidden layer
        written = var.name if not var.hidden else re.sub(r"#[0-9]+", "", var.id)
        shapes[written] = shapes[var.id]
        ids[written] = var.id
    visible = {k: v for k, v in shapes.items() if "#" not in k}
    input_var = network.variables.get(network.input)
    return Context(name, visible, {k: ids[k] for k in visible},
                   input_var.name if input_var is not None else network.input,
                   network.input, tuple(network.input_shape))


def build_task(task: tree.Task, variables: Any = None) -> m.Task:
    """The typed task of ``task``.

    ``variables`` — a mapping display name → shape, or the network's
    :class:`~lbdsl.ir.nodes.NetworkIR` — enables the checks that need the network: names in
    ``penalty = 0.01 * l1(z3)`` and, with the IR, the shape of the ground truth.

    Raises :class:`SpecError` with every problem of the task.
    """
    schema = SCHEMAS.get(task.kind)
    if schema is None:
        raise SpecError.at(task.span, f"unknown task kind `{task.kind}`",
                           r.suggest(task.kind, SCHEMAS, noun="task kinds"))
    ctx = context(task, variables)
    read = read_settings(task, schema, ctx, SCHEMAS)
    built = TASK_KINDS[task.kind].finish(read, task, ctx)
    if read.problems or built is None:
        raise SpecError(_ordered(read.problems))
    return built


def _ordered(problems: list[Diagnostic]) -> list[Diagnostic]:
    """In source order (stable: several problems at one place keep their order)."""
    return sorted(problems, key=lambda d: (d.span.file, d.span.line, d.span.column)
                  if d.span is not None else ("", 0, 0))


def task_network_problems(module: tree.Module) -> list[Diagnostic]:
    """One diagnostic per task whose network is not defined in the file."""
    names = [n.name.id for n in module.networks]
    problems = []
    for task in module.tasks:
        if task.network.id not in names:
            hint = r.suggest(task.network.id, names, noun="networks in this file")
            problems.append(Diagnostic(task.network.span, f"`{task.kind}` names network "
                                       f"`{task.network.id}`, which is not defined in this file",
                                       hint or "define it with `network NAME { ... }`"))
    return problems


def check_task_networks(module: tree.Module) -> None:
    """Raise :class:`SpecError` (with the source) if a task names a network the file lacks."""
    problems = task_network_problems(module)
    if problems:
        raise SpecError(problems, module.source)


def build_tasks(module: tree.Module,
                variables: Mapping[str, Any] | None = None) -> list[m.Task]:
    """Every task of ``module``, typed; all problems of all tasks in one :class:`SpecError`.

    ``variables`` maps a network name to its variables (a mapping display name → shape, or
    its NetworkIR); a network missing from it gets no variable checks.
    """
    problems = task_network_problems(module)
    built: list[m.Task] = []
    for task in module.tasks:
        net_vars = None if variables is None else variables.get(task.network.id)
        try:
            built.append(build_task(task, net_vars))
        except SpecError as err:
            problems.extend(err.diagnostics)
    if problems:
        raise SpecError(_ordered(problems), module.source)
    return built
