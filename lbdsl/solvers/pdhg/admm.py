"""ADMM with the exact ``u``-solve: the fast default of ``pdhg`` (``variant = "admm"``).

Splitting ``min_u D(u) + a·TV(u) + g(u)`` as ``z₁ = W u + b``, ``z₂ = ∇u``, ``z₃ = u`` (the
last only when ``g ≠ 0`` or there is no TV) with penalties ``r₁, r₂, r₃`` and unscaled duals
``y_i``, one iteration with over-relaxation ``γ`` (Boyd et al. 2011, §3.4.3) is

    u     = (r₁WᵀW + r₂∇ᵀ∇ + r₃I)⁻¹ (r₁Wᵀ(z₁ − b − y₁/r₁) + r₂∇ᵀ(z₂ − y₂/r₂) + r₃(z₃ − y₃/r₃))
    a_i   = γ K_i u + (1 − γ) z_i                       (K₁u = W u + b, K₂ = ∇, K₃ = I)
    z₁    = prox_{Φ*/r₁}(a₁ + (y₁ + f)/r₁)              (h₁(z) = Φ*(z) − ⟨f, z⟩: D = h₁(Wu + b))
    z₂    = w − P_{a/r₂}(w),  w = a₂ + y₂/r₂            (group soft-thresholding)
    z₃    = prox_{g/r₃}(a₃ + y₃/r₃)
    y_i  += r_i (a_i − z_i)

The ``u``-solve is exact and costs one pass over ``W`` each way (:mod:`.woodbury`, in the DCT
basis of :mod:`.dct`).  ``prox_{cΦ*}`` needs only Ψ's scaled prox, written without the
cancellation of Moreau's ``x − c·prox_{Φ/c}(x/c)``: with ``y = x/(1 + c)``, ``s = 1/(1 + c)``,

    prox_{cΦ*}(x) = y + c·(y − prox_{sΨ}(y))

(from ``prox_{Φ/c}(x/c) = prox_{sΨ}(y)`` — math.md §1's ``prox_{μΦ}`` — and Moreau's identity).

**Penalties.**  ``r₂ = rho`` (default 1), ``r₁ = r₂ c_∇/c_W`` and ``r₃ = r₂ c_∇`` where ``c_A`` is
the mean squared column norm of ``A`` (so each block starts with the same curvature per
unknown).  Every ``adapt_every`` iterations up to ``adapt_until``, residual balancing (He, Yang
& Wang 2000; Boyd et al. §3.4.1) per block and per problem of the batch: with the relative
primal residual ``p_i = ‖K_iu − z_i‖ / max(‖K_iu‖, ‖z_i‖)`` and dual residual
``d_i = r_i‖K_iᵀ(z_i − z_i⁻)‖ / ‖K_iᵀy_i‖``, ``r_i ← 2r_i`` if ``p_i > 10 d_i`` and ``r_i/2`` if
``d_i > 10 p_i``.  ``r₃`` stays tied to ``r₂`` when both exist (the eigendecomposition of
:mod:`.woodbury` depends on ``r₃/r₂`` only); ``r₁/r₂`` changes at no cost.  Adapting stops after
``adapt_until`` iterations, after which the usual ADMM convergence theory applies.

**Optimality measure** (the ``residual`` of the stopping rule): the larger of the relative
primal residual ``(Σ‖K_iu − z_i‖²)^{½} / max((Σ‖K_iu‖²)^{½}, (Σ‖z_i‖²)^{½})`` and the relative
dual residual ``Σ_i r_i‖K_iᵀ(z_i − z_i⁻)‖ / Σ_i ‖K_iᵀ y_i‖`` (an upper bound of Boyd's), max over
the batch.  Both vanish exactly at a KKT point.

**Returned iterate**: ``u`` — or ``z₃`` when ``g ≠ 0``, which satisfies the constraints exactly.
Warm start from ``(u, p)``: ``z = (W u + b, ∇u, u)``, ``y₁ = σ(W u + b) − f`` (the optimality
condition of ``z₁``), ``y₂ = p``, ``y₃ = −(Wᵀy₁ + ∇ᵀy₂)`` (that of ``u``): a KKT point is a
fixed point, so a converged warm start stops at the first check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...backend import asarray
from ..base import is_finite
from .driver import PrimalDual
from .dct import DCT, neumann_eigenvalues
from .problem import SingleLayer, row_norms
from .settings import PDHGSettings
from .woodbury import SpectralSystem

__all__ = ["ADMM", "dense_rows", "prox_phi_conj"]


def prox_phi_conj(psi: Any, x: Any, c: Any) -> Any:
    """``prox_{cΦ*}(x) = y + c(y − prox_{sΨ}(y))`` with ``y = x/(1+c)``, ``s = 1/(1+c)``.

    No cancellation: for ReLU and ``y > 0`` the bracket is exactly 0 (Moreau's form
    ``x − c·prox_{Φ/c}(x/c)`` subtracts two numbers of size ``|x|`` to get ``x/(1+c)``).
    """
    y = x / (1.0 + c)
    return y + c * (y - psi.prox_scaled(y, 1.0 / (1.0 + c)))


def dense_rows(prob: SingleLayer) -> Any:
    """``W`` as a dense ``(m, n)`` matrix: the matrix of a dense layer, else ``W`` applied to
    the identity (``Wᵀ I_m``, one batched adjoint)."""
    xp = prob.xp
    entry = prob.W.entries[(0, 0)]
    matrix = getattr(entry.op, "matrix", None)
    if matrix is not None and tuple(matrix.shape) == (prob.m, prob.n):
        return entry.coef * xp.astype(matrix, prob.dtype)
    eye = xp.eye(prob.m, dtype=prob.dtype)
    return prob.W.adjoint(eye)


def _gradient_frobenius_sq(shape: tuple[int, ...]) -> float:
    """``‖∇‖_F²``: each nonzero difference has two entries ±1."""
    n = math.prod(shape)
    return float(sum(2 * (k - 1) * (n // k) for k in shape))


class ADMM(PrimalDual):
    """The iteration of the module docstring on a :class:`SingleLayer` (batch rows independent)."""

    name = "admm"
    out: Any = None         # ADMM reports its own iterate (not a property of the base)
    out_prev: Any = None

    def __init__(self, prob: SingleLayer, settings: PDHGSettings, u0: Any, p0: Any = None,
                 rho0: Any = None, warm: bool = False) -> None:
        xp = prob.xp
        self.prob, self.xp, self.settings = prob, xp, settings
        pen = prob.penalty
        self.grad = pen.gradient
        self.use_tv = self.grad is not None
        self.use_box = pen.has_separable_part or not self.use_tv
        self.report_z3 = pen.has_separable_part
        n, dtype = prob.n, prob.dtype
        self.shape = pen.shape
        rows = dense_rows(prob)
        c_w = float(xp.sum(rows * rows)) / n
        if c_w == 0.0:
            c_w = 1.0  # W = 0: the data term is constant and the solve is the base alone
        self.basis = DCT(xp, self.shape, dtype) if self.use_tv else None
        c_grad = _gradient_frobenius_sq(self.shape) / n if self.use_tv else 1.0
        c_grad = c_grad if c_grad > 0 else 1.0
        border = self.use_tv and not self.use_box
        if self.use_tv:
            lam = neumann_eigenvalues(self.shape).reshape(-1)
            if self.use_box:
                self.kappa3 = c_grad
                mu = lam + self.kappa3
            else:
                self.kappa3 = 0.0
                mu = lam.copy()
                mu[0] = c_grad  # the border's κ: any κ > 0 is exact; this one is well scaled
            Wt = self._to_basis(rows)
        else:
            self.kappa3 = 1.0
            mu = np.ones(n)
            Wt = rows
        self.system = SpectralSystem(Wt, xp.asarray(mu, dtype=dtype), border)
        del rows, Wt  # the system keeps Qᵀ W̃ only
        B = prob.batch
        rb = settings.rho if settings.rho is not None else 1.0
        r1 = rb * (c_grad if self.use_tv else 1.0) / c_w
        self.r1 = xp.full((B, 1), r1, dtype=dtype)
        self.rb = xp.full((B, 1), rb, dtype=dtype)
        if rho0 is not None and settings.rho is None:
            # a warm start keeps the penalties the previous run had balanced
            given = [xp.reshape(asarray(xp, r, dtype), (-1, 1)) for r in rho0]
            if all(int(g.shape[0]) in (1, B) for g in given):
                self.r1 = xp.broadcast_to(given[0], (B, 1))
                self.rb = xp.broadcast_to(given[1], (B, 1))
        self._init_state(u0, p0, warm)
        self.k = 0

    # -- helpers ----------------------------------------------------------------------------
    def _in_basis(self, u: Any, inverse: bool = False) -> Any:
        """Rows ``u (B, n)`` in the DCT basis (``inverse``: back from it); as they are without
        TV."""
        if self.basis is None:
            return u
        xp = self.xp
        img = xp.reshape(u, (u.shape[0], *self.shape))
        out = self.basis.inverse(img) if inverse else self.basis.forward(img)
        return xp.reshape(out, (u.shape[0], -1))

    def _to_basis(self, u: Any) -> Any:
        return self._in_basis(u)

    def _from_basis(self, uhat: Any) -> Any:
        return self._in_basis(uhat, inverse=True)

    def _img_scale(self, r: Any) -> Any:
        """A ``(B, 1)`` penalty broadcast against a gradient ``(B, d, *shape)``."""
        return self.xp.reshape(r, (r.shape[0],) + (1,) * (len(self.shape) + 1))

    @property
    def r2(self) -> Any:
        return self.rb

    @property
    def r3(self) -> Any:
        return self.kappa3 * self.rb if self.use_tv else self.rb

    def _init_state(self, u0: Any, p0: Any, warm: bool) -> None:
        xp, prob = self.xp, self.prob
        self.u = self.u_prev = u0
        self.Wu = prob.W.forward(u0)
        self.z1 = self.Wu + prob.b
        zeros_m = xp.zeros_like(self.z1)
        self.y1 = prob.psi.prox(self.z1) - prob.f if warm else zeros_m
        self.z2 = self._grad(u0) if self.use_tv else None
        if self.use_tv:
            self.y2 = (xp.astype(p0, prob.dtype) if p0 is not None and warm
                       else xp.zeros_like(self.z2))
        else:
            self.y2 = None
        self.z3 = u0 if self.use_box else None
        if self.use_box:
            if warm:
                y3 = -prob.W.adjoint(self.y1)
                if self.use_tv:
                    y3 = y3 - self._div_t(self.y2)
                self.y3 = y3
            else:
                self.y3 = xp.zeros_like(u0)
        else:
            self.y3 = None
        self.prev_z = (self.z1, self.z2, self.z3)
        self.out = self.z3 if self.report_z3 else self.u
        self.out_prev = self.out
        self._residual_cache: tuple[int, Any] | None = None

    # -- the iteration ------------------------------------------------------------------------
    def step(self) -> None:
        prob, gamma = self.prob, self.settings.relaxation
        r1, r2, r3 = self.r1, self.r2, self.r3
        v1 = self.z1 - prob.b - self.y1 / r1
        h = None
        if self.use_tv:
            r2i = self._img_scale(r2)
            h = r2 * self._div_t(self.z2 - self.y2 / r2i)
        if self.use_box:
            h3 = r3 * self.z3 - self.y3
            h = h3 if h is None else h + h3
        hhat = self._to_basis(h)
        uhat, Wu = self.system.solve(v1, hhat, r1, self.rb)
        u = self._from_basis(uhat)
        self.prev_z = (self.z1, self.z2, self.z3)
        self.u_prev, self.u, self.Wu = self.u, u, Wu
        # z₁, y₁: the data term through prox_{Φ*/r₁}
        a1 = gamma * (Wu + prob.b) + (1.0 - gamma) * self.z1
        x = a1 + (self.y1 + prob.f) / r1
        z1 = prox_phi_conj(prob.psi, x, 1.0 / r1)
        self.y1 = self.y1 + r1 * (a1 - z1)
        self.z1 = z1
        if self.use_tv:
            r2i = self._img_scale(r2)
            a2 = gamma * self._grad(u) + (1.0 - gamma) * self.z2
            w = a2 + self.y2 / r2i
            z2 = w - prob.penalty.project_dual(w, prob.penalty.dual_radius(r2i))   # w − P_{a/r₂}(w)
            self.y2 = self.y2 + r2i * (a2 - z2)
            self.z2 = z2
        if self.use_box:
            a3 = gamma * u + (1.0 - gamma) * self.z3
            z3 = prob.penalty.prox_separable(a3 + self.y3 / r3, 1.0 / r3)
            self.y3 = self.y3 + r3 * (a3 - z3)
            self.z3 = z3
        self.out_prev = self.out
        self.out = self.z3 if self.report_z3 else self.u
        self.k += 1
        s = self.settings
        if s.adapt is not False and self.k % s.adapt_every == 0 and self.k <= s.adapt_until:
            self._balance()

    # -- residuals, balancing -----------------------------------------------------------------
    def _residuals(self) -> dict[str, Any]:
        """Per block and per row: primal, its scale, dual, its scale (cached per iteration)."""
        if self._residual_cache is not None and self._residual_cache[0] == self.k:
            return self._residual_cache[1]
        xp, prob = self.xp, self.prob
        z1_old, z2_old, z3_old = self.prev_z
        Ku1 = self.Wu + prob.b
        # one pass over W̃ for both ‖Wᵀ Δz₁‖ and ‖Wᵀ y₁‖ (C is orthogonal: norms agree)
        B = prob.batch
        both = self.system.adjoint_norms(xp.concat([self.z1 - z1_old, self.y1], axis=0))
        out = {"p": [row_norms(Ku1 - self.z1)], "ps": [xp.maximum(row_norms(Ku1), row_norms(self.z1))],
               "d": [self.r1[:, 0] * both[:B]], "ds": [both[B:]]}
        if self.use_tv:
            Ku2 = self._grad(self.u)
            out["p"].append(row_norms(Ku2 - self.z2))
            out["ps"].append(xp.maximum(row_norms(Ku2), row_norms(self.z2)))
            out["d"].append(self.r2[:, 0] * row_norms(self._div_t(self.z2 - z2_old)))
            out["ds"].append(row_norms(self._div_t(self.y2)))
        if self.use_box:
            out["p"].append(row_norms(self.u - self.z3))
            out["ps"].append(xp.maximum(row_norms(self.u), row_norms(self.z3)))
            out["d"].append(self.r3[:, 0] * row_norms(self.z3 - z3_old))
            out["ds"].append(row_norms(self.y3))
        self._residual_cache = (self.k, out)
        return out

    def _balance(self) -> None:
        xp = self.xp
        res = self._residuals()
        tiny = float(xp.finfo(self.prob.dtype).smallest_normal)

        def factor(i: int) -> Any:
            p = res["p"][i] / xp.clip(res["ps"][i], min=tiny)
            d = res["d"][i] / xp.clip(res["ds"][i], min=tiny)
            one = xp.ones_like(p)
            up = xp.where(p > 10.0 * d, 2.0 * one, one)
            down = xp.where(d > 10.0 * p, 0.5 * one, one)
            return xp.reshape(up * down, (-1, 1))

        self.r1 = self.r1 * factor(0)
        self.rb = self.rb * factor(1)  # the TV block, or z₃'s when there is no TV

    def measure(self) -> tuple[Any, float]:
        xp, prob = self.xp, self.prob
        res = self._residuals()
        tiny = float(xp.finfo(prob.dtype).smallest_normal)
        p = xp.sqrt(sum(r * r for r in res["p"])) / xp.clip(
            xp.sqrt(sum(s * s for s in res["ps"])), min=tiny)
        d = sum(res["d"]) / xp.clip(sum(res["ds"]), min=tiny)
        residual = float(xp.max(xp.maximum(p, d)))
        if self.report_z3:
            objective = prob.objective(self.z3)
        else:
            objective = prob.data_value(self.Wu + prob.b) + prob.penalty.row_values(self.u)
        return objective, residual

    def extras(self) -> dict[str, float]:
        xp = self.xp
        return {"rho_data": float(xp.mean(self.r1)), "rho": float(xp.mean(self.rb))}

    def finite(self) -> bool:
        parts = [self.u, self.z1, self.y1] + [a for a in (self.z2, self.y2, self.z3, self.y3)
                                              if a is not None]
        return all(is_finite(a) for a in parts)

    def state(self) -> Any:
        return (self.u, self.u_prev, self.Wu, self.z1, self.z2, self.z3, self.y1, self.y2,
                self.y3, self.r1, self.rb, self.prev_z, self.out, self.out_prev, self.k)

    def restore(self, state: Any) -> None:
        (self.u, self.u_prev, self.Wu, self.z1, self.z2, self.z3, self.y1, self.y2, self.y3,
         self.r1, self.rb, self.prev_z, self.out, self.out_prev, self.k) = state
        self._residual_cache = None

    def duals(self) -> dict[str, Any]:
        """``p`` (TV dual), ``y`` (data dual ``σ(z₁) − f`` at a solution), ``rho``."""
        out: dict[str, Any] = {"y": self.y1,
                               "rho": (self.r1[:, 0], self.rb[:, 0])}
        if self.y2 is not None:
            out["p"] = self.y2
        return out
