"""``check NET { lambda = …, rho = … }``: reading its settings into a :class:`CheckTask`."""

from __future__ import annotations

from ...syntax import tree
from . import records as m
from . import reader as r
from .schema import Context, Read, Schema, typed_task

__all__ = ["CHECK", "finish_check"]


def _lam_rho(expr: tree.Expr, what: str, ctx: Context) -> float:
    return r.weight(expr, what)


CHECK = Schema(
    kind="check",
    readers={"lambda": _lam_rho, "rho": _lam_rho},
    hints={"lam": "the setting is spelled `lambda`"},
    shown=("lambda", "rho")
)


def finish_check(read: Read, task: tree.Task, ctx: Context) -> m.CheckTask | None:
    """The typed task (None if any problem was found)."""
    return None if read.problems else typed_task(m.CheckTask, read, task)
