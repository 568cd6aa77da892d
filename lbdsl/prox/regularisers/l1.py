"""``J(u) = ‖u‖₁``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace

from .base import Regulariser, feasibility_tol

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

    def _value(self, u: Any) -> Any:
        xp = array_namespace(u)
        return xp.sum(xp.abs(u))

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
