"""The linear-operator contract every operator (dense, conv2d, ∇, block operators) satisfies.

An operator ``A : ℝ^{shape_in} → ℝ^{shape_out}`` has ``forward(x) = A x`` and
``adjoint(y) = Aᵀ y`` with ``⟨A x, y⟩ = ⟨x, Aᵀ y⟩``.  Both accept leading batch axes:
``x`` of shape ``(..., *shape_in)`` maps to ``(..., *shape_out)``.  Arrays may come from any
array-API namespace; operators never branch on which.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["LinearOperator"]


@runtime_checkable
class LinearOperator(Protocol):
    """``A`` with ``forward`` (A x) and ``adjoint`` (Aᵀ y) on arrays of any array-API namespace."""

    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]

    def forward(self, x: Any) -> Any:
        """``A x`` for ``x`` of shape ``(..., *shape_in)``."""
        ...

    def adjoint(self, y: Any) -> Any:
        """``Aᵀ y`` for ``y`` of shape ``(..., *shape_out)``."""
        ...
