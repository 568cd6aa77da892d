"""``gradient``: the baseline users know — a smooth fidelity of the network output plus ``J``,
by accelerated proximal gradient (FISTA) with backtracking through backpropagation.

    fidelity = l2:       min_{u_0}  ½‖N(u_0) − f‖² + Σ_i α_i J_i(u_0) + Σ_j χ_{C_j}(u_0)
    fidelity = bregman:  min_{u_0}  B_Ψ(f, W u_0 + b) + …          (single layer only)

The smooth term and its gradient are :class:`.misfit.Misfit` (the reverse pass for ``l2``;
``Wᵀ(σ(W u_0 + b) − f)``, Lipschitz with ``‖W‖²``, for the single-layer Bregman fidelity).  The regularisers act through
``prox_{τG}`` of their sum (:class:`.input_prox.InputProx`: closed forms for l1, l2sq,
nonneg, box; TV by its dual projected-gradient prox, warm-started from the previous call's dual,
asked for an accuracy that follows the outer iteration's progress, down to a tenth of ``tol``).

Steps: ``lr`` is the first step ``1/L``; by default ``L`` starts from a secant estimate
``‖∇S(x_0 + εd) − ∇S(x_0)‖ / ‖εd‖`` along a seeded random direction, and backtracking (on by
default) adapts it.  The misfit of a nonconvex network is not convex: the engine's monotone
restart keeps the objective non-increasing, and the iterates converge to a stationary point
(on convex instances — a linear network, a single layer with the Bregman fidelity — to the
minimiser at FISTA's rate).  ``momentum`` None is FISTA's sequence; a number in ``[0, 1)`` a
constant extrapolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import asarray
from ..options import option
from .base import Monitor, SolveResult
from .fista import norm
from .info import SolverInfo
from .misfit import Misfit
from .proximal import APGSettings, ProximalForm, initial_input
from .problems import InverseProblem

__all__ = ["GradientSettings", "solve", "SOLVER"]


@dataclass(frozen=True)
class GradientSettings(APGSettings):
    """``lr``: first step (default from a secant estimate); the rest: :class:`APGSettings`."""

    lr: float | None = option("positive", None, doc="the first step")


@dataclass
class _Baseline(ProximalForm):
    name = "gradient"
    settings: GradientSettings

    def __post_init__(self) -> None:
        super().__post_init__()
        self.misfit = Misfit(self.lp, self.f, self.problem.fidelity == "bregman")

    def smooth(self, u0: Any) -> float:
        return self.misfit.value(u0)

    def smooth_grad(self, u0: Any) -> tuple[float, Any]:
        return self.misfit.value_grad(u0)

    def metrics(self, u0: Any) -> dict[str, float]:
        return {"misfit": self.misfit.misfit(u0)}

    def lipschitz(self, u0: Any) -> float:
        if self.settings.lr is not None:
            return 1.0 / self.settings.lr
        xp = self.xp
        d = asarray(xp, np.random.default_rng(0).standard_normal(tuple(u0.shape)), u0.dtype)
        eps = 1e-4 * max(norm(u0), 1.0) / norm(d)
        _, g0 = self.smooth_grad(u0)
        _, g1 = self.smooth_grad(u0 + eps * d)
        secant = norm(g1 - g0) / (eps * norm(d))
        if math.isfinite(secant) and secant > 0:
            return secant
        return self.lp.jacobian_bound() ** 2


def solve(problem: InverseProblem, settings: GradientSettings | None = None, *,
          x0: Any = None, monitor: Monitor | None = None,
          resume: dict[str, Any] | None = None) -> SolveResult:
    """Solve the smooth-fidelity problem (module docstring) from ``x0`` (default 0), or go on
    from the ``state`` of an interrupted result (``resume``)."""
    settings = settings or GradientSettings()
    SOLVER.require(problem)
    run = _Baseline(problem, settings)
    u_start = initial_input(problem, None if resume else x0, run.batch)
    # resuming, L comes from the state: the secant estimate would cost two gradients
    lipschitz = float(resume["iteration"]["L"]) if resume else run.lipschitz(u_start)
    out = run.minimise(u_start, lipschitz, monitor, resume)
    return SolveResult(
        u=run.xp.reshape(out.x, (*run.batch, *problem.input_shape)),
        iterations=out.iterations, stop_reason=out.stop_reason, objective=out.objective,
        residual=out.optimality, history=out.history,
        lifted={"u": run.lp.forward(out.x), "lipschitz": out.lipschitz,
                "inner_iterations": run.reg.inner_iterations},
        message=out.message, solver="gradient", state=out.state)


SOLVER = SolverInfo(
    "gradient", solve, GradientSettings, fidelities=frozenset({"bregman", "l2"}),
    regulariser="proximable", needs={"bregman": "single_layer"}, auto=frozenset({"l2"}),
    why="quadratic fidelity")
