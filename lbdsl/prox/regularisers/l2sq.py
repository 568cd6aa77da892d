"""``J(u) = ½‖u‖²`` (Tikhonov)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace

from .base import Fold, Regulariser

__all__ = ["L2Squared"]


@dataclass(frozen=True)
class L2Squared(Regulariser):
    """``J(u) = ½Σu_i²``; ``J* = J``; ``prox_{cJ}(v) = v / (1 + c)``; 1-strongly convex."""

    name: ClassVar[str] = "l2sq"
    summary: ClassVar[str] = "½‖u‖² (Tikhonov)"
    fold: ClassVar[Fold] = "quadratic"
    penalises_states: ClassVar[bool] = True
    modulus: ClassVar[float] = 1.0

    def _value(self, u: Any) -> Any:
        xp = array_namespace(u)
        return 0.5 * xp.sum(u * u)

    def _row_values(self, u: Any) -> Any:
        xp = array_namespace(u)
        return 0.5 * xp.sum(u * u, axis=-1)

    def _subgradient(self, u: Any) -> Any:
        return u

    def _smoothed(self, u: Any, eps: float) -> tuple[Any, Any]:
        """Smooth already: ``(½‖u‖², u)``."""
        return self._value(u), u

    def _prox(self, v: Any, c: Any, **_options: Any) -> Any:
        return v / (1.0 + c)

    def _conj(self, v: Any) -> Any:
        return self._value(v)

    def _conj_prox(self, v: Any, c: Any, **_options: Any) -> Any:
        """``prox_{cJ*} = prox_{cJ}`` since ``J* = J``."""
        return v / (1.0 + c)
