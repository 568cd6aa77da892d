"""``J(u) = ‖u‖₁``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace

from .base import Fold, Regulariser, feasibility_tol

__all__ = ["L1", "soft_threshold"]


def soft_threshold(v: Any, c: Any) -> Any:
    """``prox_{c‖·‖₁}(v) = sign(v)·max(|v| − c, 0)``."""
    xp = array_namespace(v)
    return xp.sign(v) * xp.clip(xp.abs(v) - c, min=0.0)


@dataclass(frozen=True)
class L1(Regulariser):
    """``J(u) = Σ|u_i|``; ``J* = ι_{‖·‖_∞ ≤ 1}``; ``prox_{cJ}`` soft-thresholds at ``c``;
    ``prox_{cJ*}`` clips to ``[−1, 1]``."""

    name: ClassVar[str] = "l1"
    summary: ClassVar[str] = "‖u‖₁"
    fold: ClassVar[Fold] = "separable"
    penalises_states: ClassVar[bool] = True

    def _value(self, u: Any) -> Any:
        xp = array_namespace(u)
        return xp.sum(xp.abs(u))

    def _row_values(self, u: Any) -> Any:
        xp = array_namespace(u)
        return xp.sum(xp.abs(u), axis=-1)

    def _subgradient(self, u: Any) -> Any:
        """``sign(u)`` (0 at 0, the subgradient of least norm)."""
        return array_namespace(u).sign(u)

    def _smoothed(self, u: Any, eps: float) -> tuple[Any, Any]:
        """``Σ_i (u_i² + ε²)^½``, within ``ε`` per entry of ``‖u‖₁``; gradient ``u/(u² + ε²)^½``."""
        xp = array_namespace(u)
        mag = xp.sqrt(u * u + eps * eps)
        return xp.sum(mag), u / mag

    def prox_with_psi(self, psi: Any, w: Any, kappa: float, weight: float) -> Any:
        """``prox_{κ(Ψ + a|·|)}(w)`` for a separable Ψ, ``a = weight``: on ``u > 0`` the term is
        the linear ``a·u``, on ``u < 0`` it is ``−a·u``, so with ``p = prox_{κΨ}(w − κa)`` and
        ``m = prox_{κΨ}(w + κa)`` (``p ≤ m``: proxes are monotone) it is ``p`` if ``p > 0``,
        ``m`` if ``m < 0``, else 0 (then ``p ≤ 0 ≤ m`` puts 0 in the domain and satisfies the
        optimality condition) ``= max(p, 0) + min(m, 0)``.  Soft thresholding adds thresholds:
        ``θ|·| + a|·| = (θ + a)|·|``.  A Ψ that is not separable (softmax, whose states lie on
        the simplex where ``‖x‖₁ = 1``) is left to its own prox: there the term is constant."""
        if not psi.elementwise:
            return psi.prox_scaled(w, kappa)
        theta = psi.l1_weight
        if theta > 0:
            return psi.prox_scaled(w, kappa * (theta + weight) / theta)
        xp = array_namespace(w)
        shift = kappa * weight
        p = psi.prox_scaled(w - shift, kappa)
        m = psi.prox_scaled(w + shift, kappa)
        return xp.maximum(p, 0.0) + xp.minimum(m, 0.0)

    def _prox(self, v: Any, c: Any, **_options: Any) -> Any:
        return soft_threshold(v, c)

    def _conj(self, v: Any) -> Any:
        """``ι_{‖v‖_∞ ≤ 1}`` (tested with slack :func:`feasibility_tol`)."""
        xp = array_namespace(v)
        inside = xp.abs(v) <= 1.0 + feasibility_tol(v)
        return xp.sum(xp.where(inside, xp.zeros_like(v), xp.full_like(v, float("inf"))))

    def _conj_prox(self, v: Any, c: Any, **_options: Any) -> Any:
        """``prox_{cJ*}(v) = min(max(v, −1), 1)``, the projection onto the ∞-norm unit ball."""
        xp = array_namespace(v)
        return xp.clip(v, min=-1.0, max=1.0)
