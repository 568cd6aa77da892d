"""``check NET { lambda = …, rho = … }``: reading its settings into a :class:`CheckTask`."""

from __future__ import annotations

from types import MappingProxyType

from ...syntax import tree
from . import records as m
from . import reader as r
from .schema import Context, Read, Schema

__all__ = ["CHECK", "finish_check"]


def _positive(expr: tree.Expr, what: str, ctx: Context) -> float:
    return r.positive(expr, what)


CHECK = Schema(
    kind="check",
    readers={"lambda": _positive, "rho": _positive},
    hints={"lam": "the setting is spelled `lambda`"},
)


def finish_check(read: Read, task: tree.Task, ctx: Context) -> m.CheckTask | None:
    """The typed task (None if any problem was found)."""
    if read.problems:
        return None
    return m.CheckTask(network=task.network.id, lam=read.values.get("lambda", 1.0),
                       rho=read.values.get("rho"), given=frozenset(read.given),
                       spans=MappingProxyType(dict(read.spans)), span=task.span,
                       network_span=task.network.span)
