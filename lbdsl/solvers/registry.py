"""The inversion solvers: the one list of them, and the choices that read it.

Each solver declares itself in its module (:class:`~.info.SolverInfo`: its ``solve``, settings,
fidelities, what it asks of the regulariser and the network, its warm start); this registry
lists them, in the order in which ``solver = auto`` tries them (:func:`candidates`).  A new
solver is its module and one line here (or ``SOLVERS.register(MY_SOLVER)``).
"""

from __future__ import annotations

from typing import Any

from ..errors import SolveError
from ..prox.regularisers.composite import RegulariserForm
from ..registry import Registry
from . import coordinate, gradient, lbfgs, lifted, pdhg
from .info import SolverInfo

__all__ = ["SOLVERS", "candidates", "choose", "require"]

SOLVERS: Registry[SolverInfo] = Registry(
    "solver", (pdhg.SOLVER, coordinate.SOLVER, lbfgs.SOLVER, lifted.SOLVER, gradient.SOLVER))


def candidates(fidelity: str) -> tuple[str, ...]:
    """The solvers ``solver = auto`` may pick for ``fidelity``, in the order it tries them."""
    return tuple(name for name, info in SOLVERS.items() if fidelity in info.auto)


def choose(fidelity: str, form: RegulariserForm, structure: Any) -> tuple[str, str]:
    """``(solver, why)``: the first of :func:`candidates` that accepts the problem's form (the
    last one when none does: it then says why, in one line, when it is run)."""
    names = candidates(fidelity)
    for name in names:
        if SOLVERS[name].refuses(fidelity, form, structure) is None:
            return name, f"auto: {SOLVERS[name].why}"
    return names[-1], f"auto: {SOLVERS[names[-1]].why}"


def require(name: str, problem: Any) -> None:
    """Refuse, in one line (``SolveError``), a problem the solver ``name`` does not accept,
    naming the solver ``auto`` would use instead."""
    form = (problem.fidelity, problem.regulariser.form, problem.structure)
    reason = SOLVERS[name].refuses(*form)
    if reason is None:
        return
    takers = [n for n in candidates(problem.fidelity) if SOLVERS[n].refuses(*form) is None]
    raise SolveError(reason + (f"; use the `{takers[0]}` solver" if takers else ""))
