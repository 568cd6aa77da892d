"""Accelerated proximal gradient (FISTA) with backtracking and monotone restart: the engine that
``lifted`` and ``gradient`` share.

It minimises a composite ``F(x) = S(x) + G(x)`` with ``S`` differentiable (its gradient
Lipschitz with an unknown constant ``L``) and ``G`` proper, convex, lsc with a computable
``prox_{τG}``.  One iteration (Beck & Teboulle 2009, with the safeguards of O'Donoghue & Candès
2015 and Beck & Teboulle's monotone variant)::

    y      = x_k + β_k (x_k − x_{k−1})                     β_k = (t_k − 1)/t_{k+1}, FISTA's t_k
    x_+    = prox_{G/L}(y − ∇S(y)/L)                        with L found by backtracking:
             S(x_+) ≤ S(y) + ⟨∇S(y), x_+ − y⟩ + (L/2)‖x_+ − y‖²      (the descent lemma)
    if F(x_+) > F(x_k): restart (t = 1) and take the plain step from y = x_k instead
    if ⟨y − x_+, x_+ − x_k⟩ > 0: restart the momentum at the next iteration

The second test is O'Donoghue & Candès's gradient restart, immune to rounding in ``F``; the
first (with a rounding allowance) is what makes the method monotone.
Backtracking starts each iteration from ``decrease · L`` (so a pessimistic first estimate, e.g.
from power iteration, is forgotten) and multiplies ``L`` by ``increase`` until the descent
inequality holds.  The plain step from ``x_k`` satisfies ``F(x_+) ≤ F(x_k)`` whenever the
inequality holds, so with ``monotone = True`` the objective never increases (up to rounding and
an inexact prox) — also on nonconvex ``S``, where the method is proximal gradient with
occasional extrapolation and converges to stationary points.  On convex problems it keeps
FISTA's ``O(1/k²)`` rate.  A fixed ``momentum`` replaces FISTA's ``β_k`` by a constant (the
heavy-ball-like option users know from training).

Stopping follows :mod:`.base`: every ``check_every`` iterations the relative change per
iteration and the optimality measure ``‖x_+ − y‖ / ‖y‖`` (the relative proximal-gradient
fixed-point residual, zero exactly at stationary points) are compared with ``tol``.  The change
is averaged over the check window, ``‖x_k − x_{k−c}‖ / (c‖x_{k−c}‖)``: a restart makes one plain
step, which on an ill-conditioned problem is far shorter than the accelerated steps around it,
and testing that single step ended runs at their first restart.  Both measures scale with the
step ``1/L``, so on ill-conditioned problems they are small long before convergence: with
``tol = 1e-4`` a 32×32 ReLU-perceptron TV inversion stopped after 20 iterations at twice the
optimal objective, with ``tol = 1e-6`` after 1,900 within 2·10⁻⁵ of it.

A non-finite gradient or a step that stays non-finite while ``L`` grows by ``2^60`` ends the run
with the last finite iterate (``"diverged"``); ``KeyboardInterrupt`` from the monitor (at a check
before ``max_iter``) ends it with the current one (``"interrupted"``) and keeps the whole state
of the method at that check (``APGResult.state``: iterates, momentum ``t``, ``L``, the check
window, the history, and the problem's own state, e.g. a TV prox's warm-start dual), from which
``resume`` goes on exactly; so does a stop at a ``max_iter`` on the check grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace

from .base import History, Monitor, Stopping, StopReason, is_finite
from .driver import Diverged, run

__all__ = ["Composite", "APGOptions", "APGResult", "APG", "minimise", "vdot", "norm"]


def vdot(a: Any, b: Any) -> float:
    """``⟨a, b⟩`` over every entry (batch axes included), as a Python float."""
    xp = array_namespace(a, b)
    return float(xp.sum(a * b))


def norm(a: Any) -> float:
    """``‖a‖₂`` over every entry, as a Python float."""
    xp = array_namespace(a)
    return float(xp.linalg.vector_norm(xp.reshape(a, (-1,))))


@dataclass(frozen=True, eq=False)
class Composite:
    """``F = S + G`` as callables.

    ``smooth_grad(x) -> (S(x), ∇S(x))``; ``smooth(x) -> S(x)``; ``nonsmooth(x) -> G(x)``;
    ``prox(v, step) = prox_{step·G}(v)``; ``metrics(x)`` adds what a check reports (a solver
    may report the objective there in a numerically better form than ``S + G``, and a
    constraint residual).
    """

    smooth: Callable[[Any], float]
    smooth_grad: Callable[[Any], tuple[float, Any]]
    nonsmooth: Callable[[Any], float]
    prox: Callable[[Any, float], Any]
    metrics: Callable[[Any], dict[str, float]] | None = None
    state: Callable[[], dict[str, Any]] | None = None      # what the callables keep between
    restore: Callable[[dict[str, Any]], None] | None = None  # calls (for ``resume``)


@dataclass(frozen=True)
class APGOptions:
    """How the steps are chosen.  ``lipschitz``: the first estimate of ``L`` (step ``1/L``)."""

    lipschitz: float
    backtracking: bool = True
    momentum: float | None = None      # None: FISTA's t_k; a number in [0, 1): constant β
    monotone: bool = True
    increase: float = 2.0
    decrease: float = 0.9

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lipschitz) and self.lipschitz > 0):
            raise ValueError(f"the Lipschitz estimate must be positive and finite, "
                             f"got {self.lipschitz!r}")
        if self.momentum is not None and not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not (self.increase > 1.0 and 0.0 < self.decrease <= 1.0):
            raise ValueError("backtracking needs increase > 1 and 0 < decrease <= 1")


@dataclass
class APGResult:
    x: Any
    iterations: int
    stop_reason: StopReason
    history: History
    lipschitz: float
    objective: float
    change: float
    optimality: float
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    state: dict[str, Any] | None = None


_MAX_BACKTRACKS = 60


def _slack(x: Any, *values: float) -> float:
    """Rounding allowance for comparisons of objective values of size ``values``."""
    xp = array_namespace(x)
    eps = float(xp.finfo(x.dtype).eps)
    return 10.0 * eps * max([1.0] + [abs(v) for v in values if math.isfinite(v)])


class APG:
    """The iteration of the module docstring, as an :class:`~.driver.Iteration`."""

    optimality = "optimality"
    keeps_best = True       # every iterate feasible, ``objective`` the problem's own (driver)
    #: the variables a check keeps, to go on exactly from them
    _STATE = ("x", "x_prev", "s_x", "f_x", "size_x", "t", "L", "change", "opt", "x_check",
              "k_check")

    def __init__(self, problem: Composite, x0: Any, options: APGOptions) -> None:
        self.problem, self.options = problem, options
        self.L = options.lipschitz
        self.x = self.x_prev = self.x_check = x0
        self.s_x = problem.smooth(x0)
        g_x = problem.nonsmooth(x0)
        self.f_x = self.s_x + g_x if math.isfinite(self.s_x) else math.inf
        # S and G may be large with a small sum (S ≈ −½‖v‖² and G ≈ ½‖z‖² in ``lifted``): the
        # rounding allowance of a comparison of F follows the size of the parts, not of F
        self.size_x = max(abs(self.s_x), abs(g_x)) if math.isfinite(self.f_x) else 0.0
        self.t = 1.0
        self.change = self.opt = math.inf
        self.k_check = 0

    def state(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self._STATE},
                "problem": self.problem.state() if self.problem.state else None}

    def restore(self, state: dict[str, Any]) -> None:
        for name in self._STATE:
            setattr(self, name, state[name])
        if self.problem.restore is not None:
            self.problem.restore(state["problem"])

    def finite(self) -> bool:
        return True       # every trial point is tested inside the step

    def _step_from(self, y: Any, L: float) -> tuple[Any, float, float] | None:
        """``(x_+, S(x_+), L)`` by backtracking from ``y``; None when nothing finite is found."""
        problem, options = self.problem, self.options
        s_y, g_y = problem.smooth_grad(y)
        if not (math.isfinite(s_y) and is_finite(g_y)):
            return None
        if options.backtracking:
            L = L * options.decrease
        for _ in range(_MAX_BACKTRACKS):
            x_new = problem.prox(y - g_y / L, 1.0 / L)
            s_new = problem.smooth(x_new) if is_finite(x_new) else math.nan
            if not options.backtracking:
                return (x_new, s_new, L) if math.isfinite(s_new) else None
            if math.isfinite(s_new):
                d = x_new - y
                model = s_y + vdot(g_y, d) + 0.5 * L * vdot(d, d)
                if s_new <= model + _slack(y, s_y, s_new, model):
                    return x_new, s_new, L
            L *= options.increase
        return None

    def step(self) -> None:
        problem, options, x = self.problem, self.options, self.x
        if options.momentum is None:
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * self.t * self.t))
            beta = (self.t - 1.0) / t_next
        else:
            t_next, beta = self.t, options.momentum
        y = x + beta * (x - self.x_prev) if beta > 0.0 else x
        found = self._step_from(y, self.L)
        extrapolated = y is not x
        g_new = math.nan
        if found is not None and options.monotone and extrapolated:
            g_new = problem.nonsmooth(found[0])
            f_new = found[1] + g_new
            if not f_new <= self.f_x + _slack(x, self.size_x, found[1], g_new):
                found, g_new = None, math.nan     # restart: the plain step from x_k
        if found is None and extrapolated:
            y, t_next = x, 1.0
            found = self._step_from(y, self.L)
        if found is None:
            raise Diverged("the gradient or every trial step was NaN/inf; returning the last "
                           "finite iterate")
        x_new, s_new, self.L = found
        if y is not x and vdot(y - x_new, x_new - x) > 0.0:
            t_next = 1.0      # the step turned against the momentum: restart it next time
        if math.isnan(g_new):
            g_new = problem.nonsmooth(x_new)
        self.opt = norm(x_new - y) / max(norm(y), 1e-12)
        self.x_prev, self.x, self.s_x, self.f_x, self.t = x, x_new, s_new, s_new + g_new, t_next
        self.size_x = max(abs(s_new), abs(g_new))

    def metrics(self) -> dict[str, float]:
        out = {"objective": self.f_x, "change": self.change, "optimality": self.opt,
               "step": 1.0 / self.L}
        if self.problem.metrics is not None:
            out.update(self.problem.metrics(self.x))
        return out

    def check(self, k: int) -> dict[str, float]:
        """The change averaged over the window since the last check (module docstring)."""
        self.change = norm(self.x - self.x_check) / ((k - self.k_check)
                                                     * max(norm(self.x_check), 1e-12))
        self.x_check, self.k_check = self.x, k
        return self.metrics()


def minimise(problem: Composite, x0: Any, options: APGOptions, stopping: Stopping,
             monitor: Monitor | None = None, resume: dict[str, Any] | None = None,
             ) -> APGResult:
    """Minimise ``problem`` from ``x0`` (see the module docstring) under the one loop
    (:func:`~.driver.run`), or go on from the ``state`` of an interrupted run (``resume``;
    ``x0`` is then ignored)."""
    it = APG(problem, x0, options)
    out = run(it, stopping, monitor, resume)
    k = out.iterations
    metrics = out.metrics if out.history.iteration[-1:] == [k] else it.metrics()
    return APGResult(x=it.x, iterations=k, stop_reason=out.reason, history=out.history,
                     lipschitz=it.L, objective=float(metrics.get("objective", it.f_x)),
                     change=it.change, optimality=it.opt, metrics=metrics,
                     message=out.message if out.reason == "diverged" or out.kept else "",
                     state=out.state)
