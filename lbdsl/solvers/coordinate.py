"""``coordinate``: the seed's closed-form coordinate descent for shallow sums (math.md §3).

The network is ``y = cᵀ σ(w u_0 + b) + d`` with a scalar input ``u_0``, ``m`` hidden units
``h_j = σ(w_j u_0 + b_j)`` (any elementwise Ψ of the catalogue) and ``J = (α/2)|u_0|²``.  The
lifting keeps the linear layer as its own identity-Ψ step (``z_2 = y``), so for data ``f``

    E = (λ/2)(y − f)² + ½(y − cᵀh − d)² + Σ_j B_{Ψ}(h_j, w_j u_0 + b_j) + (α/2)u_0²

and minimising over ``y`` in closed form (``y* = (λf + cᵀh + d)/(1 + λ)``) leaves

    F(u_0, h) = (γ/2)(f̃ − cᵀh)² + Σ_j B_Ψ(h_j, w_j u_0 + b_j) + (α/2)u_0²,
    γ = λ/(1 + λ),  f̃ = f − d.

The seed's objective is ``γ = 1``: ``λ = ∞`` (``lam = math.inf``), the output pinned to the
data, the linear layer's penalty ``½(f − cᵀh − d)²`` being the misfit — the same convention as
``lifted``, which therefore solves the same problem for every λ.

**h_l: exact coordinate minimisation.**  With ``r_l = f̃ − Σ_{j≠l} c_j h_j``, ``x_l = w_l u_0 +
b_l`` and ``B_Ψ(h, x) = ½h² + Ψ(h) − h x + Φ*(x)``, the optimality condition
``0 ∈ −γc_l(r_l − c_l h) + h − x_l + ∂Ψ(h)`` gives

    h_l = prox_{Ψ/(1+γc_l²)}( (γ c_l r_l + x_l) / (1 + γ c_l²) ),

the seed's formula at ``γ = 1``, taken in Gauss–Seidel order (new ``h_j`` for ``j < l``).

**u_0: a proximal-linear step, not exact minimisation.**  ``F`` depends on ``u_0`` through
``g(u_0) = Σ_j [Φ*(w_j u_0 + b_j) − h_j (w_j u_0 + b_j)]`` plus ``(α/2)u_0²``;
``g'(u_0) = Σ_j w_j(σ(w_j u_0 + b_j) − h_j)`` is Lipschitz with constant ``‖w‖²``
(``0 ≤ σ' ≤ 1``).  The seed's update

    u_0 ← (1 + α/‖w‖²)^{−1} (u_0 − ‖w‖^{−2} Σ_j w_j (σ(w_j u_0 + b_j) − h_j))

is exactly ``prox_{(α/‖w‖²)·½|·|²}(u_0 − g'(u_0)/‖w‖²)``: one forward–backward step on the
majoriser ``g(u) ≤ g(u_0) + g'(u_0)(u − u_0) + (‖w‖²/2)(u − u_0)²`` (descent lemma), which it
minimises exactly together with ``(α/2)u²``.  It equals the exact minimiser over ``u_0`` only
when ``g`` is that quadratic, i.e. when every unit sits where ``Φ*'' = 1`` (every ReLU active);
otherwise it is a majorise–minimise step: ``F`` still decreases monotonically, and a fixed point
is a stationary point of ``F`` (``g'(u_0) + αu_0 = 0`` and every ``h_l`` optimal).

A batch of independent scalar problems (``f`` of shape ``(batch, 1)``, e.g. a ``linspace`` truth
with ``n = N``) is solved at once, vectorised over the batch.  Any other network, regulariser or
constraint is refused with a one-line reason.  Stopping: the relative change of ``(u_0, h)`` over
one sweep and the relative stationarity residual (one Jacobi sweep of the same maps) below
``tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace

from ..backend import asarray, to_numpy
from ..errors import SolveError
from ..lift.blocks import BlockOperator
from ..lift.compact import LiftedProblem
from ..lift.structure import structure
from .base import Monitor, SolveResult, Stopping, is_finite
from .driver import Diverged
from .driver import run as drive
from .info import SolverInfo
from .proximal import batch_of, initial_input
from .problems import InverseProblem

__all__ = ["CoordinateSettings", "ShallowSum", "shallow_structure", "solve", "SOLVER"]


@dataclass(frozen=True)
class CoordinateSettings:
    stopping: Stopping = field(default_factory=Stopping)


@dataclass(frozen=True, eq=False)
class ShallowSum:
    """``y = cᵀ σ(w u + b) + d`` read off a lifted problem (host floats for the unit loops)."""

    psi: Any
    w: tuple[float, ...]
    b: Any            # (m,) on the problem's namespace
    c: tuple[float, ...]
    d: float


def _matrix(entry: Any, rows: int, cols: int, xp: Any, dtype: Any) -> Any:
    op = BlockOperator((rows,), (cols,), {(0, 0): entry})
    return to_numpy(op.forward(xp.eye(cols, dtype=dtype)))   # row j = A e_j


def shallow_structure(lp: LiftedProblem) -> ShallowSum:
    """The shallow sum of ``lp`` (``SolveError`` with the reason when it is not one)."""
    reason = structure(lp).shallow_sum
    if reason:
        raise SolveError(f"`coordinate`: {reason}")
    hidden, last = lp.layers
    m = hidden.z_size
    w = _matrix(lp.W.entries[(0, 0)], m, 1, lp.xp, lp.dtype)[0]          # (m,)
    c = _matrix(lp.W.entries[(1, hidden.output_block)], 1, m, lp.xp, lp.dtype)[:, 0]
    b_all = lp.b
    d = float(to_numpy(lp.z_block(b_all, last))[0])
    return ShallowSum(hidden.psi, tuple(float(v) for v in w), lp.z_block(b_all, hidden),
                      tuple(float(v) for v in c), d)


@dataclass
class _Sweeps:
    """The coordinate maps of the module docstring on a batch ``(B,)`` of scalar problems."""

    net: ShallowSum
    f: Any            # (B,) = f − d
    gamma: float
    alpha: float

    def __post_init__(self) -> None:
        self.wn2 = sum(v * v for v in self.net.w)
        self.xp = array_namespace(self.f)

    def pre(self, u0: Any, j: int) -> Any:
        return self.net.w[j] * u0 + self.net.b[j]

    def unit(self, j: int, rest: Any, u0: Any) -> Any:
        """The exact minimiser over ``h_j`` given ``rest = Σ_{i≠j} c_i h_i``."""
        cj = self.net.c[j]
        scale = 1.0 + self.gamma * cj * cj
        v = (self.gamma * cj * (self.f - rest) + self.pre(u0, j)) / scale
        return self.net.psi.prox_scaled(v, 1.0 / scale)

    def input_step(self, u0: Any, h: list[Any]) -> Any:
        """The seed's proximal-linear step on ``u_0``."""
        if self.wn2 == 0.0:
            return u0 * 0.0
        grad = sum(self.net.w[j] * (self.net.psi.prox(self.pre(u0, j)) - h[j])
                   for j in range(len(h)))
        return (u0 - grad / self.wn2) / (1.0 + self.alpha / self.wn2)

    def sweep(self, u0: Any, h: list[Any]) -> tuple[Any, list[Any]]:
        c = self.net.c
        h = list(h)
        total = sum(c[j] * h[j] for j in range(len(h)))
        for j in range(len(h)):
            new = self.unit(j, total - c[j] * h[j], u0)
            total = total + c[j] * (new - h[j])
            h[j] = new
        return self.input_step(u0, h), h

    def jacobi(self, u0: Any, h: list[Any]) -> tuple[Any, list[Any]]:
        c = self.net.c
        total = sum(c[j] * h[j] for j in range(len(h)))
        return (self.input_step(u0, h),
                [self.unit(j, total - c[j] * h[j], u0) for j in range(len(h))])

    def objective(self, u0: Any, h: list[Any]) -> float:
        xp = self.xp
        c = self.net.c
        r = self.f - sum(c[j] * h[j] for j in range(len(h)))
        x = xp.stack([self.pre(u0, j) for j in range(len(h))], axis=-1)
        hs = xp.stack(h, axis=-1)
        return float(0.5 * self.gamma * xp.sum(r * r) + xp.sum(self.net.psi.bregman(hs, x))
                     + 0.5 * self.alpha * xp.sum(u0 * u0))


class _Descent:
    """The sweeps as an :class:`~.driver.Iteration`: ``change`` is the relative change of
    ``(u_0, h)`` over the last sweep, ``residual`` the relative stationarity residual (one
    Jacobi sweep of the same maps), measured at checks."""

    optimality = "residual"

    def __init__(self, run: _Sweeps, u0: Any, h: list[Any]) -> None:
        self.run, self.u0, self.h = run, u0, list(h)
        self.change = self.residual = math.inf
        self.checked = False

    def step(self) -> None:
        new = self.run.sweep(self.u0, self.h)
        if not (is_finite(new[0]) and all(is_finite(v) for v in new[1])):
            raise Diverged("a sweep produced NaN/inf; returning the last finite iterate")
        self.change = _diff_norm(new, (self.u0, self.h)) / max(_flat_norm(self.u0, self.h),
                                                                 1e-12)
        self.u0, self.h = new
        self.checked = False

    def finite(self) -> bool:
        return True       # every sweep is tested as it is made

    def stationarity(self) -> float:
        u0, h = self.u0, self.h
        return _diff_norm(self.run.jacobi(u0, h), (u0, h)) / max(_flat_norm(u0, h), 1e-12)

    def check(self, k: int) -> dict[str, float]:
        self.residual, self.checked = self.stationarity(), True
        return {"objective": self.run.objective(self.u0, self.h), "residual": self.residual,
                "change": self.change}

    def state(self) -> dict[str, Any]:
        return {"u0": self.u0, "h": tuple(self.h), "change": self.change,
                "residual": self.residual, "checked": self.checked}

    def restore(self, state: dict[str, Any]) -> None:
        self.u0, self.h = state["u0"], list(state["h"])
        self.change, self.residual = float(state["change"]), float(state["residual"])
        self.checked = bool(state["checked"])


def _flat_norm(u0: Any, h: list[Any]) -> float:
    xp = array_namespace(u0)
    return math.sqrt(float(xp.sum(u0 * u0)) + sum(float(xp.sum(v * v)) for v in h))


def _diff_norm(a: tuple[Any, list[Any]], b: tuple[Any, list[Any]]) -> float:
    return _flat_norm(a[0] - b[0], [p - q for p, q in zip(a[1], b[1])])


def solve(problem: InverseProblem, settings: CoordinateSettings | None = None, *,
          x0: Any = None, monitor: Monitor | None = None,
          resume: dict[str, Any] | None = None) -> SolveResult:
    """Coordinate descent on ``F`` (module docstring) from ``x0`` (default 0; ``h`` starts at
    the forward pass of ``x0``, or at a previous result's ``lifted["z"]`` when ``x0`` is that
    result's ``lifted`` dict); ``resume`` goes on from the ``state`` of an interrupted result
    (the sweep is deterministic: its iterate, count and history are all it needs)."""
    settings = settings or CoordinateSettings()
    stopping = settings.stopping
    lp = problem.lifted
    SOLVER.require(problem)
    net = shallow_structure(lp)
    alpha = problem.regulariser.quadratic_weight   # J = (α/2)|u|², the one regulariser it takes
    xp = lp.xp
    f = asarray(xp, problem.f, lp.dtype)
    batch = batch_of(f, lp)
    lam = float(problem.lam)
    if not lam > 0:
        raise SolveError(f"coordinate needs lambda > 0, got {problem.lam!r}")
    gamma = 1.0 if math.isinf(lam) else lam / (1.0 + lam)
    run = _Sweeps(net, f[..., 0] - net.d, gamma, alpha)
    m = len(net.w)
    if isinstance(x0, dict):
        u0 = xp.reshape(asarray(xp, x0["u"], lp.dtype)[..., 0], batch)
        z = xp.reshape(asarray(xp, x0["z"], lp.dtype), (*batch, lp.z_size))
        h = [z[..., j] for j in range(m)]
    else:
        u0 = initial_input(problem, x0, batch)[..., 0]
        h = [net.psi.prox(run.pre(u0, j)) for j in range(m)]

    it = _Descent(run, u0, h)
    out = drive(it, stopping, monitor, resume)
    u0, h = it.u0, it.h
    hs = xp.stack(h, axis=-1)
    s = sum(net.c[j] * h[j] for j in range(m)) + net.d
    y = f[..., 0] if math.isinf(lam) else (lam * f[..., 0] + s) / (1.0 + lam)
    u_full = xp.concat([u0[..., None], hs, y[..., None]], axis=-1)
    z = xp.concat([hs, y[..., None]], axis=-1)
    residual = it.residual if it.checked else it.stationarity()
    return SolveResult(u=xp.reshape(u0, (*batch, *problem.input_shape)),
                       iterations=out.iterations, stop_reason=out.reason,
                       objective=run.objective(u0, h), residual=residual, history=out.history,
                       lifted={"u": u_full, "z": z},
                       message=out.message if out.reason == "diverged" else "",
                       solver="coordinate", state=out.state)


SOLVER = SolverInfo(
    "coordinate", solve, CoordinateSettings, fidelities=frozenset({"bregman"}),
    regulariser="quadratic", needs={"bregman": "shallow_sum"}, auto=frozenset({"bregman"}),
    why="shallow sum with l2sq")
