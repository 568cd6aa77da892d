"""The seed's Condat–Vũ iteration (``variant = "condat_vu"``): the reference, slow on experiment 1.

With ``D`` explicit (``∇D`` is ``L``-Lipschitz, ``L = ‖W‖²``), ``g`` in the primal prox and TV in
the dual (``p_i`` in the ball of radius ``a``), Condat (2013) / Vũ (2013)::

    x⁺ = prox_{τg}(x − τ(∇D(x) + ∇ᵀp))
    p⁺ = P_{‖p_i‖ ≤ a}(p + σ∇(2x⁺ − x))

converges when ``1/τ − σ‖∇‖² ≥ L/2`` (math.md §3; ``‖∇‖² ≤ 4·ndim`` is used for ``‖∇‖²``, and
``L`` is a power-iteration estimate times ``norm_safety``).  Default steps: ``σ‖∇‖² = L/2``, so
``τ = 1/L``.  Given only one of ``τ``, ``σ``, the other is the largest the rule allows.

**Optimality measure**: the PDHG fixed-point residuals, which vanish exactly at a saddle point
and are elements of the optimality conditions at ``(x⁺, p⁺)``::

    r_P = (x − x⁺)/τ − (∇D(x) − ∇D(x⁺)) − ∇ᵀ(p − p⁺)  ∈ ∇D(x⁺) + ∂g(x⁺) + ∇ᵀp⁺
    r_D = (p − p⁺)/σ − ∇(x − x⁺)                     ∈ ∂(a‖·‖_{2,1})*(p⁺) − ∇x⁺

reported as ``max(‖r_P‖ / (‖∇D(x⁺)‖ + ‖∇ᵀp⁺‖), ‖r_D‖ / ‖∇x⁺‖)`` (max over the batch).  Each
iteration costs one pass over ``W`` each way; ``∇D(x⁺)`` is computed once and reused by the next
iteration.
"""

from __future__ import annotations

from typing import Any


from ...ops.norm import operator_norm
from ..base import is_finite
from .driver import PrimalDual
from .problem import SingleLayer, row_norms
from .settings import PDHGSettings, StepSizeError

__all__ = ["CondatVu", "condat_vu_steps", "lipschitz"]


def lipschitz(prob: SingleLayer, safety: float) -> float:
    """``safety · ‖W‖²`` from power iteration (an upper bound of ``L`` for ``safety`` > 1)."""
    norm = operator_norm(prob.W, prob.xp, prob.dtype, iters=300, tol=1e-7, seed=0)
    return safety * norm * norm


def condat_vu_steps(L: float, k2: float, tau: float | None,
                    sigma: float | None) -> tuple[float, float]:
    """``(τ, σ)`` with ``1/τ − σ·k2 ≥ L/2``; refuses (``StepSizeError``) given ones that fail.

    ``k2`` bounds ``‖∇‖²`` (0 without TV, when ``σ`` is irrelevant and ``τ ≤ 2/L``).
    """
    if k2 == 0.0:
        tau_max = 2.0 / L if L > 0 else float("inf")
        if tau is not None and tau > tau_max * (1 + 1e-12):
            raise StepSizeError(f"pdhg (condat_vu): tau = {tau:g} is too large: the step rule "
                                f"1/τ ≥ ‖W‖²/2 needs tau <= {tau_max:.6g} (‖W‖² ≈ {L:.6g})")
        return (tau if tau is not None else (1.0 / L if L > 0 else 1.0)), (sigma or 1.0)
    if tau is None and sigma is None:
        sigma = (L / 2.0) / k2 if L > 0 else 1.0
    if tau is None:
        return 1.0 / (L / 2.0 + sigma * k2), float(sigma)  # type: ignore[operator]
    if sigma is None:
        room = 1.0 / tau - L / 2.0
        if room <= 0:
            raise StepSizeError(
                f"pdhg (condat_vu): tau = {tau:g} is too large: the step rule "
                f"1/τ − σ‖∇‖² ≥ ‖W‖²/2 needs tau < 2/‖W‖² = {2.0 / L:.6g} for any sigma > 0 "
                f"(‖W‖² ≈ {L:.6g}, ‖∇‖² ≤ {k2:g})")
        return float(tau), room / k2
    if 1.0 / tau - sigma * k2 < (L / 2.0) * (1 - 1e-12):
        raise StepSizeError(
            f"pdhg (condat_vu): tau = {tau:g}, sigma = {sigma:g} violate the step rule "
            f"1/τ − σ‖∇‖² ≥ ‖W‖²/2 (‖W‖² ≈ {L:.6g}, ‖∇‖² ≤ {k2:g}): with this sigma, tau <= "
            f"{1.0 / (L / 2.0 + sigma * k2):.6g}")
    return float(tau), float(sigma)


class CondatVu(PrimalDual):
    """The iteration of the module docstring on a :class:`SingleLayer` (batch rows independent)."""

    name = "condat_vu"

    def __init__(self, prob: SingleLayer, settings: PDHGSettings, u0: Any,
                 p0: Any = None) -> None:
        xp = prob.xp
        self.prob, self.xp = prob, xp
        pen = prob.penalty
        self.grad = pen.gradient
        L = lipschitz(prob, settings.norm_safety)
        k2 = self.grad.norm_squared_bound if self.grad is not None else 0.0
        self.tau, self.sigma = condat_vu_steps(L, k2, settings.tau, settings.sigma)
        self.L = L
        self.x = self.x_prev = u0
        if self.grad is not None:
            self.p = (xp.astype(p0, prob.dtype) if p0 is not None
                      else xp.zeros((prob.batch, *self.grad.shape_out), dtype=prob.dtype))
        else:
            self.p = None
        self.p_prev = self.p
        self.z = prob.affine(u0)
        self.g = self._data_gradient(self.z)
        self.g_prev = self.g

    def _data_gradient(self, z: Any) -> Any:
        return self.prob.W.adjoint(self.prob.psi.prox(z) - self.prob.f)

    def step(self) -> None:
        prob, tau = self.prob, self.tau
        direction = self.g if self.p is None else self.g + self._div_t(self.p)
        x = prob.penalty.prox_separable(self.x - tau * direction, tau)
        if self.p is not None:
            self.p_prev = self.p
            ascent = self.sigma * self._grad(2.0 * x - self.x)
            self.p = prob.penalty.project_dual(self.p + ascent)
        self.x_prev, self.x = self.x, x
        self.z = prob.affine(x)
        self.g_prev, self.g = self.g, self._data_gradient(self.z)

    def measure(self) -> tuple[Any, float]:
        xp, prob = self.xp, self.prob
        tiny = float(xp.finfo(prob.dtype).smallest_normal)
        dx = self.x_prev - self.x
        r_p = dx / self.tau - (self.g_prev - self.g)
        scale_p = row_norms(self.g)
        worst = None
        if self.p is not None:
            dp = self.p_prev - self.p
            r_p = r_p - self._div_t(dp)
            scale_p = scale_p + row_norms(self._div_t(self.p))
            r_d = dp / self.sigma - self._grad(dx)
            worst = row_norms(r_d) / xp.clip(row_norms(self._grad(self.x)), min=tiny)
        rel = row_norms(r_p) / xp.clip(scale_p, min=tiny)
        rel = rel if worst is None else xp.maximum(rel, worst)
        return prob.data_value(self.z) + prob.penalty.row_values(self.x), float(xp.max(rel))

    def extras(self) -> dict[str, float]:
        return {"tau": self.tau, "sigma": self.sigma}

    def finite(self) -> bool:
        return is_finite(self.x) and is_finite(self.g) and (self.p is None or is_finite(self.p))

    def state(self) -> Any:
        return (self.x, self.x_prev, self.p, self.p_prev, self.z, self.g, self.g_prev)

    def restore(self, state: Any) -> None:
        self.x, self.x_prev, self.p, self.p_prev, self.z, self.g, self.g_prev = state

    def duals(self) -> dict[str, Any]:
        out: dict[str, Any] = {"y": self.prob.psi.prox(self.z) - self.prob.f}
        if self.p is not None:
            out["p"] = self.p
        return out
