"""Diagonally preconditioned PDHG (``variant = "precond"``), Pock & Chambolle (2011), α = 1.

The data term goes to the dual as well: ``D(u) = h(W u + b)`` with ``h(z) = Φ*(z) − ⟨f, z⟩``
(up to a constant), ``h*(y) = Φ(y + f)``, so with ``K = [W; ∇]`` and duals ``(y, p)``::

    x⁺ = prox_{Tg}(x − T(Wᵀy + ∇ᵀp))
    x̄  = 2x⁺ − x
    y⁺ = prox_{Σ₁h*}(y + Σ₁(W x̄ + b)) = prox_{Σ₁Φ}(y + Σ₁(W x̄ + b) + f) − f
    p⁺ = P_{‖p_i‖ ≤ a}(p + Σ₂ ∇x̄)

with ``T_j = τ / Σ_i |K_ij|`` and ``Σ_i = σ / Σ_j |K_ij|`` (``|∇|`` has row sums 2 and column
sums ≤ 2·ndim).  ``‖Σ^{½} K T^{½}‖² ≤ τσ`` (Pock & Chambolle, Lemma 2), so the iteration converges
whenever ``τσ ≤ 1``; given steps that break it are refused.  ``prox_{Σ₁Φ}`` is Ψ's ``prox_phi``
with one step per entry.  The TV dual's steps are uniform within each pixel's group (the
boundary rows of ``∇`` are zero and never move), so its prox stays the radial projection.

**Balancing.**  Only ``τσ`` is fixed by the theory; the ratio ``s = τ/σ`` decides the speed.
The default is ``τ = 1/σ = (‖W‖²/‖∇‖²)^{½}`` (the best of a sweep on experiment 1, and the
ratio that balances the two blocks' operator norms).  With ``adapt = True`` and no user steps it
is tuned by the adaptive balancing of Goldstein, Li & Yuan (2015) — slower on experiment 1, so
off by default: every ``adapt_every`` iterations, if the relative primal residual exceeds 1.5 ×
the dual one, ``τ ← τ/(1 − a)``, ``σ ← σ(1 − a)``; the reverse
likewise; then ``a ← 0.95 a`` (``a₀ = ½``), which makes the changes summable and keeps the
convergence guarantee.  Stops adapting after ``adapt_until`` iterations.

**Optimality measure**: the PDHG residuals in the preconditioned metric, vanishing exactly at a
saddle point::

    r_P = T⁻¹(x − x⁺) − Wᵀ(y − y⁺) − ∇ᵀ(p − p⁺)      r_D = Σ⁻¹((y, p) − (y⁺, p⁺)) − K(x − x⁺)

relative to ``‖Wᵀy⁺‖ + ‖∇ᵀp⁺‖`` and ``‖W x⁺ + b‖ + ‖∇x⁺‖``.  One pass over ``W`` each way per
iteration (``W x⁺`` is kept by linearity: ``W x⁺ = ½(W x̄ + W x)``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


from ...errors import SolveError
from ...lift.blocks import BlockOperator, Entry
from ..base import is_finite
from .driver import PrimalDual
from .condat_vu import lipschitz
from .problem import SingleLayer, row_norms
from .settings import PDHGSettings, StepSizeError

__all__ = ["Preconditioned", "absolute_operator"]


def absolute_operator(prob: SingleLayer) -> BlockOperator:
    """``|W|`` (entrywise absolute values) for a dense or conv2d ``W``; ``SolveError`` else."""
    xp = prob.xp
    entry = prob.W.entries[(0, 0)]
    op = entry.op
    if op is None:
        return prob.W
    for name in ("matrix", "kernel"):
        if hasattr(op, name) and dataclasses.is_dataclass(op):
            absolute = dataclasses.replace(op, **{name: xp.abs(getattr(op, name))})
            return BlockOperator(prob.W.row_sizes, prob.W.col_sizes,
                                 {(0, 0): Entry(abs(entry.coef), absolute, entry.label)})
    raise SolveError("pdhg (precond) needs the entries of W (a dense or conv2d layer); "
                     "use variant = \"condat_vu\"")


class Preconditioned(PrimalDual):
    """The iteration of the module docstring on a :class:`SingleLayer`."""

    name = "precond"

    def __init__(self, prob: SingleLayer, settings: PDHGSettings, u0: Any,
                 p0: Any = None, warm: bool = False) -> None:
        xp = prob.xp
        self.prob, self.xp, self.settings = prob, xp, settings
        dtype = prob.dtype
        self.grad = prob.penalty.gradient
        absW = absolute_operator(prob)
        ones_n = xp.ones((1, prob.n), dtype=dtype)
        ones_m = xp.ones((1, prob.m), dtype=dtype)
        row = absW.forward(ones_n)                       # Σ_j |W_ij|, (1, m)
        col = absW.adjoint(ones_m)                       # Σ_i |W_ij|, (1, n)
        if self.grad is not None:
            # column sums of |∇|: per axis, [i < n−1] + [i > 0]
            ones_img = xp.ones((1, *prob.penalty.shape), dtype=dtype)
            col = col + xp.reshape(self._grad_col_sums(ones_img), (1, -1))
        tiny = float(xp.finfo(dtype).smallest_normal)
        self.T0 = 1.0 / xp.clip(col, min=tiny)
        self.S0 = 1.0 / xp.clip(row, min=tiny)
        self.S0_tv = 0.5
        tau, sigma = settings.tau, settings.sigma
        if tau is not None and sigma is not None and tau * sigma > 1.0 + 1e-12:
            raise StepSizeError(f"pdhg (precond): tau = {tau:g}, sigma = {sigma:g} violate "
                                f"τσ <= 1 (the diagonal steps are τ/Σ_i|K_ij| and "
                                f"σ/Σ_j|K_ij|): take sigma <= {1.0 / tau:.6g}")
        if tau is None and sigma is None:
            k2 = self.grad.norm_squared_bound if self.grad is not None else 1.0
            tau = math.sqrt(max(lipschitz(prob, settings.norm_safety), 1e-300) / k2)
        if tau is None:
            tau = 1.0 / sigma  # type: ignore[operator]
        if sigma is None:
            sigma = 1.0 / tau
        self.tau, self.sigma = float(tau), float(sigma)
        self.adapt = bool(settings.adapt) and settings.tau is None and settings.sigma is None
        self.a = 0.5
        self.k = 0
        self.x = self.x_prev = u0
        self.Wx = self.Wx_prev = prob.W.forward(u0)
        # cold: y = 0 (σ(b) − f, the dual of x = 0, sends the first steps far off);
        # warm: the optimality condition y = σ(W x + b) − f of the given x
        self.y = (prob.psi.prox(self.Wx + prob.b) - prob.f if warm
                  else xp.zeros_like(self.Wx))
        self.y_prev = self.y
        if self.grad is not None:
            self.p = (xp.astype(p0, dtype) if p0 is not None
                      else xp.zeros((prob.batch, *self.grad.shape_out), dtype=dtype))
        else:
            self.p = None
        self.p_prev = self.p
        self.WTy = self.WTy_prev = prob.W.adjoint(self.y)
        self.T_used, self.S_used = self.tau * self.T0, self.sigma * self.S0
        self._cache: tuple[int, Any] | None = None

    def _grad_col_sums(self, ones_img: Any) -> Any:
        xp = self.xp
        shape = self.prob.penalty.shape
        total = None
        for a, n in enumerate(shape):
            idx = xp.arange(n)
            count = xp.astype(idx < n - 1, self.prob.dtype) + xp.astype(idx > 0, self.prob.dtype)
            count = xp.reshape(count, tuple(n if b == a else 1 for b in range(len(shape))))
            total = count if total is None else total + count
        return total * ones_img

    def step(self) -> None:
        prob = self.prob
        T = self.tau * self.T0
        S1 = self.sigma * self.S0
        direction = self.WTy if self.p is None else self.WTy + self._div_t(self.p)
        x = prob.penalty.prox_separable(self.x - T * direction, T)
        xbar = 2.0 * x - self.x
        Wxbar = prob.W.forward(xbar)
        v = self.y + S1 * (Wxbar + prob.b) + prob.f
        y = prob.psi.prox_phi(v, S1) - prob.f
        if self.p is not None:
            self.p_prev = self.p
            self.p = prob.penalty.project_dual(
                self.p + (self.sigma * self.S0_tv) * self._grad(xbar))
        self.x_prev, self.x = self.x, x
        self.Wx_prev, self.Wx = self.Wx, 0.5 * (Wxbar + self.Wx)
        self.y_prev, self.y = self.y, y
        self.WTy_prev, self.WTy = self.WTy, prob.W.adjoint(y)
        self.T_used, self.S_used = T, S1
        self.k += 1
        s = self.settings
        if self.adapt and self.k % s.adapt_every == 0 and self.k <= s.adapt_until:
            self._balance()

    def _residuals(self) -> tuple[Any, Any]:
        """Relative primal and dual residuals per batch row (cached per iteration)."""
        if self._cache is not None and self._cache[0] == self.k:
            return self._cache[1]
        xp, prob = self.xp, self.prob
        tiny = float(xp.finfo(prob.dtype).smallest_normal)
        dx = self.x_prev - self.x
        r_p = dx / self.T_used - (self.WTy_prev - self.WTy)
        scale_p = row_norms(self.WTy)
        r_d = row_norms((self.y_prev - self.y) / self.S_used - (self.Wx_prev - self.Wx)) ** 2
        scale_d = row_norms(self.Wx + prob.b)
        if self.p is not None:
            dp = self.p_prev - self.p
            r_p = r_p - self._div_t(dp)
            scale_p = scale_p + row_norms(self._div_t(self.p))
            r_d = r_d + row_norms(dp / (self.sigma * self.S0_tv) - self._grad(dx)) ** 2
            scale_d = scale_d + row_norms(self._grad(self.x))
        out = (row_norms(r_p) / xp.clip(scale_p, min=tiny), xp.sqrt(r_d) / xp.clip(scale_d, min=tiny))
        self._cache = (self.k, out)
        return out

    def _balance(self) -> None:
        xp = self.xp
        p, d = self._residuals()
        p, d = float(xp.max(p)), float(xp.max(d))
        if p > 1.5 * d:
            self.tau, self.sigma = self.tau / (1.0 - self.a), self.sigma * (1.0 - self.a)
        elif d > 1.5 * p:
            self.tau, self.sigma = self.tau * (1.0 - self.a), self.sigma / (1.0 - self.a)
        else:
            return
        self.a *= 0.95

    def measure(self) -> tuple[Any, float]:
        xp, prob = self.xp, self.prob
        p, d = self._residuals()
        objective = prob.data_value(self.Wx + prob.b) + prob.penalty.row_values(self.x)
        return objective, float(xp.max(xp.maximum(p, d)))

    def extras(self) -> dict[str, float]:
        return {"tau": self.tau, "sigma": self.sigma}

    def finite(self) -> bool:
        return (is_finite(self.x) and is_finite(self.y) and is_finite(self.WTy)
                and (self.p is None or is_finite(self.p)))

    def state(self) -> Any:
        return (self.x, self.x_prev, self.Wx, self.Wx_prev, self.y, self.y_prev, self.p,
                self.p_prev, self.WTy, self.WTy_prev, self.tau, self.sigma, self.a, self.k,
                self.T_used, self.S_used)

    def restore(self, state: Any) -> None:
        (self.x, self.x_prev, self.Wx, self.Wx_prev, self.y, self.y_prev, self.p, self.p_prev,
         self.WTy, self.WTy_prev, self.tau, self.sigma, self.a, self.k, self.T_used,
         self.S_used) = state
        self._cache = None

    def duals(self) -> dict[str, Any]:
        out: dict[str, Any] = {"y": self.y}
        if self.p is not None:
            out["p"] = self.p
        return out
