"""The proximal-gradient form ``F = S + G`` of an inverse problem, what ``gradient`` and
``lifted`` share: the data as rows of the problem's backend, the starting point in any of its
shapes, the regulariser's prox on the input (:class:`~.input_prox.InputProx`, asked for at
least a tenth of ``tol``), and the run of the accelerated proximal gradient (:mod:`.fista`)
with the callables a solver's form provides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..backend import asarray
from ..errors import SolveError
from ..options import check_options, option
from ..lift.compact import LiftedProblem
from .base import Monitor, Stopping
from .fista import APGOptions, APGResult, Composite, minimise
from .input_prox import InputProx
from .problems import InverseProblem

__all__ = ["APGSettings", "ProximalForm", "batch_of", "initial_input"]


def batch_of(f: Any, lp: LiftedProblem) -> tuple[int, ...]:
    out = lp.K.shape_out[0]
    if f.ndim < 1 or int(f.shape[-1]) != out:
        raise SolveError(f"the data has shape {tuple(f.shape)}; the network's output has "
                         f"{out} entries")
    return tuple(f.shape[:-1])


def initial_input(problem: InverseProblem, x0: Any, batch: tuple[int, ...]) -> Any:
    """``x0`` (None, the input in any of its shapes, with or without batch axes) as a flat
    ``(*batch, size(u_0))`` array of the problem's namespace and dtype."""
    lp = problem.lifted
    xp, n0 = lp.xp, lp.u_blocks[0].size
    if x0 is None:
        return xp.zeros((*batch, n0), dtype=lp.dtype)
    u0 = asarray(xp, x0, lp.dtype)
    size = math.prod(u0.shape) if u0.ndim else 1
    if size == math.prod(batch) * n0:
        return xp.reshape(u0, (*batch, n0))
    if size == n0:
        return xp.broadcast_to(xp.reshape(u0, (n0,)), (*batch, n0)) * 1.0
    raise SolveError(f"the starting point has {size} entries; the input has {n0} "
                     f"(times the batch {batch})")




@dataclass(frozen=True)
class APGSettings:
    """What the accelerated proximal gradient takes from a solver's settings: the stopping
    rule, ``backtracking`` (adapt the step from the first), ``momentum`` (None: FISTA's
    sequence; a number in ``[0, 1)``: a constant extrapolation)."""

    stopping: Stopping = field(default_factory=Stopping)
    backtracking: bool = option("boolean", True, doc="adapt the step from the first")
    momentum: float | None = option("unit", None, doc="a constant extrapolation (FISTA's "
                                    "sequence when not given)")

    def __post_init__(self) -> None:
        check_options(self)         # every option field, the solvers' own ones too


@dataclass
class ProximalForm:
    """A solver's ``S`` and ``G`` on one problem (subclasses give ``smooth``, ``smooth_grad``
    and ``metrics``, and ``nonsmooth``, ``prox`` where ``G`` is more than the regulariser on
    the input); ``name`` is the solver's, for its refusal."""

    name: ClassVar[str]
    problem: InverseProblem
    settings: Any

    def __post_init__(self) -> None:
        p = self.problem
        self.lp = lp = p.lifted
        self.xp = lp.xp
        self.f = asarray(self.xp, p.f, lp.dtype)
        self.batch = batch_of(self.f, lp)
        self.reg = InputProx.from_problem(p)
        tol = self.settings.stopping.tol
        self.reg.floor = 0.1 * tol if tol is not None else self.reg.floor

    def nonsmooth(self, x: Any) -> float:
        """``G``: the regulariser on the input (a form with more in ``G`` overrides it)."""
        return self.reg.value(x)

    def prox(self, v: Any, tau: float) -> Any:
        """``prox_{τG}``."""
        return self.reg.prox(v, tau)

    def minimise(self, x_start: Any, lipschitz: float, monitor: Monitor | None,
                 resume: dict[str, Any] | None) -> APGResult:
        """Accelerated proximal gradient on ``S + G`` from ``x_start`` (or ``resume``)."""
        settings = self.settings
        options = APGOptions(lipschitz=lipschitz, backtracking=settings.backtracking,
                             momentum=settings.momentum)
        composite = Composite(smooth=self.smooth, smooth_grad=self.smooth_grad,
                              nonsmooth=self.nonsmooth, prox=self.prox, metrics=self.metrics,
                              state=self.reg.state, restore=self.reg.restore)
        return minimise(composite, x_start, options, settings.stopping, monitor, resume)
