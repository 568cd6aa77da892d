"""``lifted``: the multi-layer lifted Bregman inversion problem of math.md §3, for any network.

    min_{u,z}  E^ρ_Ψ(u, z) + J(u_0),
    E^ρ_Ψ = (λ/2)‖K u − f‖² + B_Ψ(z, W u + b) + χ_{=0}(M u − V z) + (ρ/2)‖M u − V z‖²

**Eliminating the constraint.**  The lifting gives every step of the network its own new block
``u_o`` (SSA), so block row ``l`` of ``M`` is ``s_l·I`` at ``u_o`` (and ``−s_l·I`` at the residual
base ``u_base``, a block written earlier), ``s_l = ±1``.  Restricted to ``(u_1, …, u_L)``, ``M`` is
block lower-triangular with ``±I`` on the diagonal, hence invertible, and ``M u = V z`` holds iff

    u = T(u_0, z):     u_o = z_l  (plain step),      u_o = u_base + s_l V_l z_l  (residual)

by forward substitution: ``T`` is linear, its adjoint the backward substitution.  On the feasible
set ``(ρ/2)‖M u − V z‖² = 0``, so the minimisers do not depend on ρ (ρ matters to the convexity
certificate, which, when it holds, makes ``E^ρ`` convex and a fortiori its restriction below),
and the problem is, exactly, the unconstrained composite problem in ``x = (u_0, z)``

    min_x  S(x) + G(x),    S(x) = (λ/2)‖K T x − f‖² + Φ*(W T x + b) − ⟨z, W T x + b⟩,
                           G(x) = J(u_0) + Φ(z),      Φ = ½‖·‖² + Ψ  (so S + G = E on {Mu = Vz})

using ``B_Ψ(z, v) = Φ(z) + Φ*(v) − ⟨z, v⟩``.  With ``v = W T x + b``:

    ∇S(x) = Tᵀ[λ Kᵀ(K T x − f) + Wᵀ(prox_Ψ(v) − z)] − (0, v)

(``∇Φ* = prox_Ψ``: no derivative of σ), and ``∇S`` is Lipschitz with constant at most
``λ‖KT‖² + ‖WT‖² + 2‖WT‖`` (``∇²Φ* ⪯ I``; the bilinear term contributes ``2‖WT‖``), estimated
by power iteration.  ``G`` is separable: ``prox_{τΦ_l}`` per layer (:meth:`Psi.prox_phi`) and
``prox_{τJ}`` on ``u_0`` (:class:`.input_prox.InputProx`; TV by its dual, warm-started, to an
accuracy that follows the outer progress; ``lifted["inner_iterations"]`` counts its steps).  The
solver is accelerated proximal gradient with backtracking and monotone restart
(:mod:`.fista`): ``O(1/k²)`` where the problem is convex (e.g. certified tied residual
networks), monotone descent to a stationary point otherwise (plain feed-forward networks are
never certified: ``u_0`` meets the rest only through the bilinear term).  The iterates are
feasible by construction: the reported ``‖M u − V z‖`` is rounding.

**λ = ∞** (``lam = math.inf``) pins the output, ``K u = f``: for a plain last step this fixes
``z_L = f`` and turns the last layer's penalty into the Bregman fidelity ``B_Ψ(f, W u_{L−1} + b)``
— for one layer the problem ``B_Ψ(f, W u + b) + αJ(u)`` of math.md §3, for a shallow sum
whose last step is the linear layer ``y = c @ h`` the seed's objective ``½|f − cᵀh|² + …``.
``f`` must then lie in the last Ψ's domain (the caller projects it).

Warm start: ``x0`` is the input (any of its shapes, batch axes allowed; ``z`` then starts at the
forward pass of ``x0``, where ``B = 0``) or a previous result's ``lifted`` dict ``{"u", "z"}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


from ..backend import asarray
from ..errors import SolveError
from ..lift.network import Substitution
from ..ops.compose import Composed
from ..ops.norm import operator_norm
from ..options import option
from .base import Monitor, SolveResult
from .fista import norm
from .info import SolverInfo
from .proximal import APGSettings, ProximalForm, initial_input
from .problems import InverseProblem

__all__ = ["LiftedSettings", "solve", "SOLVER"]


@dataclass(frozen=True)
class LiftedSettings(APGSettings):
    """``tau``: the first step (default ``1/L`` from power iteration, ``power_iterations``
    products); the rest: :class:`~.proximal.APGSettings`."""

    tau: float | None = option("positive", None, doc="the first step")
    power_iterations: int = 50


@dataclass
class _Lifted(ProximalForm):
    """``S``, ``G``, their prox and the reported metrics, for one problem."""

    name = "lifted"
    settings: LiftedSettings

    def __post_init__(self) -> None:
        super().__post_init__()
        p, lp = self.problem, self.lp
        if not (p.lam > 0):
            raise SolveError(f"lifted needs lambda > 0, got {p.lam!r}")
        self.T = Substitution(lp)
        self.lam = float(p.lam)
        self.pinned = None    # the layer whose z-block λ = ∞ fixes to the data
        if math.isinf(self.lam):
            self.pinned = self._pinned_layer()
        self.n0 = lp.u_blocks[0].size

    def _pinned_layer(self) -> Any:
        lp = self.lp
        reason = self.problem.structure.plain_output
        if reason:
            raise SolveError(f"lambda = inf pins the output, which needs a plain (non-residual) "
                             f"last layer, but {reason}; use a finite lambda")
        layer = next(layer for layer in lp.layers if layer.output_block == lp.output_block)
        if not math.isfinite(float(self.xp.sum(layer.psi.phi(self.f)))):
            raise SolveError(f"lambda = inf pins the output to the data, which lies outside the "
                             f"domain of `{layer.psi}`: project it first")
        return layer

    # -- the pieces of F = S + G ---------------------------------------------------------------
    def pre(self, x: Any) -> tuple[Any, Any]:
        u = self.T.point(x)
        return u, self.lp.W.forward(u) + self.lp.b

    def _phi_conj(self, v: Any) -> float:
        lp = self.lp
        return sum(float(self.xp.sum(layer.psi.phi_conj(lp.z_block(v, layer))))
                   for layer in lp.layers)

    def _data(self, u: Any) -> tuple[float, Any]:
        if self.pinned is not None:
            return 0.0, None
        r = self.lp.K.forward(u) - self.f
        return 0.5 * self.lam * float(self.xp.sum(r * r)), r

    def smooth(self, x: Any) -> float:
        _, z = self.T.split(x)
        u, v = self.pre(x)
        data, _ = self._data(u)
        return data + self._phi_conj(v) - float(self.xp.sum(z * v))

    def smooth_grad(self, x: Any) -> tuple[float, Any]:
        xp, lp = self.xp, self.lp
        _, z = self.T.split(x)
        u, v = self.pre(x)
        data, r = self._data(u)
        value = data + self._phi_conj(v) - float(xp.sum(z * v))
        gu = lp.W.adjoint(lp.prox(v) - z)
        if r is not None:
            gu = gu + self.lam * lp.K.adjoint(r)
        g = self.T.adjoint(gu)
        zero = xp.zeros((*v.shape[:-1], self.n0), dtype=v.dtype)
        return value, g - xp.concat([zero, v], axis=-1)

    def nonsmooth(self, x: Any) -> float:
        u0, z = self.T.split(x)
        phi = sum(float(self.xp.sum(layer.psi.phi(self.lp.z_block(z, layer))))
                  for layer in self.lp.layers)
        return self.reg.value(u0) + phi

    def prox(self, v: Any, tau: float) -> Any:
        xp, lp = self.xp, self.lp
        v0, vz = self.T.split(v)
        parts = [self.reg.prox(v0, tau)]
        for layer in lp.layers:
            if self.pinned is layer:
                parts.append(xp.broadcast_to(self.f, (*v.shape[:-1], layer.z_size)) * 1.0)
            else:
                parts.append(layer.psi.prox_phi(lp.z_block(vz, layer), tau))
        return xp.concat(parts, axis=-1)

    def objective(self, x: Any) -> float:
        """``E + J`` evaluated stably (B through the catalogue's cancellation-free form)."""
        u0, z = self.T.split(x)
        u, v = self.pre(x)
        data, _ = self._data(u)
        return data + float(self.xp.sum(self.lp.bregman(z, v))) + self.reg.value(u0)

    def metrics(self, x: Any) -> dict[str, float]:
        lp = self.lp
        _, z = self.T.split(x)
        u = self.T.point(x)
        mu, vz = lp.constraint_sides(u, z)
        gap = norm(mu - vz)
        out = {"objective": self.objective(x) + 0.5 * float(self.problem.rho) * gap * gap,
               "residual": gap / max(norm(mu), norm(vz), 1e-12),
               "misfit": norm(lp.K.forward(u) - self.f)}
        return out

    # -- set-up --------------------------------------------------------------------------------
    def lipschitz(self) -> float:
        if self.settings.tau is not None:
            return 1.0 / self.settings.tau
        lp, xp = self.lp, self.xp
        # backtracking corrects a rough estimate; a fixed step needs an upper bound
        rough = self.settings.backtracking
        norm_of = lambda op: operator_norm(  # noqa: E731
            op, xp, lp.dtype, iters=self.settings.power_iterations * (1 if rough else 10),
            tol=1e-3 if rough else 1e-9, safety=1.01 if rough else 1.05)
        wt = norm_of(Composed((lp.W, self.T)))
        L = wt * wt + 2.0 * wt
        if self.pinned is None:
            kt = norm_of(Composed((lp.K, self.T)))
            L += self.lam * kt * kt
        return max(L, 1e-12)

    def start(self, x0: Any) -> Any:
        xp, lp = self.xp, self.lp
        if isinstance(x0, dict):
            u = asarray(xp, x0["u"], lp.dtype)
            z = asarray(xp, x0["z"], lp.dtype)
            u0 = xp.reshape(u[..., :self.n0], (*self.batch, self.n0))
            z = xp.reshape(z, (*self.batch, lp.z_size))
        else:
            u0 = initial_input(self.problem, x0, self.batch)
            u = lp.forward(u0)
            z = lp.prox(lp.W.forward(u) + lp.b)
        if self.pinned is not None:
            layer = self.pinned
            z = xp.concat([z[..., :layer.z_offset],
                           xp.broadcast_to(self.f, (*self.batch, layer.z_size)),
                           z[..., layer.z_offset + layer.z_size:]], axis=-1)
        return xp.concat([u0, z], axis=-1)


def solve(problem: InverseProblem, settings: LiftedSettings | None = None, *, x0: Any = None,
          monitor: Monitor | None = None, resume: dict[str, Any] | None = None) -> SolveResult:
    """Solve the lifted problem (module docstring); ``x0`` warm-starts, ``monitor`` observes,
    ``resume`` goes on from the ``state`` of an interrupted result."""
    settings = settings or LiftedSettings()
    SOLVER.require(problem)
    run = _Lifted(problem, settings)
    x_start = run.start(None if resume else x0)
    lipschitz = float(resume["iteration"]["L"]) if resume else run.lipschitz()
    out = run.minimise(x_start, lipschitz, monitor, resume)
    xp = run.xp
    u0, z = run.T.split(out.x)
    return SolveResult(
        u=xp.reshape(u0, (*run.batch, *problem.input_shape)),
        iterations=out.iterations, stop_reason=out.stop_reason,
        objective=float(out.metrics.get("objective", out.objective)),
        residual=float(out.metrics.get("residual", math.nan)), history=out.history,
        lifted={"u": run.T.point(out.x), "z": z, "lipschitz": out.lipschitz,
                "inner_iterations": run.reg.inner_iterations},
        message=out.message, solver="lifted", state=out.state)


SOLVER = SolverInfo(
    "lifted", solve, LiftedSettings, fidelities=frozenset({"bregman"}), regulariser="proximable",
    auto=frozenset({"bregman"}), why="deep network, Bregman fidelity")
