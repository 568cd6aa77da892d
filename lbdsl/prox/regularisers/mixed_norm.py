"""The mixed norm ``‖p‖_{2,1} = Σ_i ‖p_i‖₂`` over one component axis (TV through its dual)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace

from .base import Regulariser, feasibility_tol

__all__ = ["MixedNorm21", "project_balls"]


def project_balls(p: Any, radius: Any, axis: int) -> Any:
    """Pointwise projection onto ``{‖p_i‖₂ ≤ radius}``: ``p_i / max(1, ‖p_i‖₂ / radius)``.

    ``i`` runs over every index but ``axis``, the component axis (``−(ndim+1)`` for a gradient).
    """
    xp = array_namespace(p)
    norms = xp.linalg.vector_norm(p, axis=axis, keepdims=True)
    return p / xp.clip(norms / radius, min=1.0)


@dataclass(frozen=True)
class MixedNorm21(Regulariser):
    """``J(p) = Σ_i ‖p_i‖₂``, the 2-norm taken over ``axis`` (default −3: ``(2, H, W)`` gradients).

    ``prox_{cJ}(p)_i = max(1 − c/‖p_i‖, 0)·p_i`` (group soft-thresholding);
    ``J* = ι_{‖p_i‖ ≤ 1 ∀i}``, so ``prox_{cJ*}`` is the pointwise projection onto the unit ball for
    every ``c`` — computed directly, exact and cheaper than Moreau's identity.  ``TV(u) = J(∇u)``.
    """

    axis: int = -3
    name: ClassVar[str] = "l21"

    def _norms(self, p: Any) -> Any:
        xp = array_namespace(p)
        return xp.linalg.vector_norm(p, axis=self.axis, keepdims=True)

    def _value(self, p: Any) -> Any:
        xp = array_namespace(p)
        return xp.sum(self._norms(p))

    def _prox(self, p: Any, c: Any, **_options: Any) -> Any:
        xp = array_namespace(p)
        norms = self._norms(p)
        # max(‖p_i‖ − c, 0)/‖p_i‖ without 0/0 where p_i = 0 (the numerator is 0 there)
        shrink = xp.clip(norms - c, min=0.0) / xp.where(norms > 0, norms, xp.ones_like(norms))
        return shrink * p

    def _conj(self, p: Any) -> Any:
        xp = array_namespace(p)
        norms = self._norms(p)
        inside = norms <= 1.0 + feasibility_tol(p)
        return xp.sum(xp.where(inside, xp.zeros_like(norms), xp.full_like(norms, float("inf"))))

    def _conj_prox(self, p: Any, c: Any, **_options: Any) -> Any:
        return project_balls(p, 1.0, self.axis)
