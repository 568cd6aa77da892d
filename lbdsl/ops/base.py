"""The linear-operator contracts.

Every operator (dense, conv2d, ∇, block operators) is a :class:`LinearOperator`:
``A : ℝ^{shape_in} → ℝ^{shape_out}`` has ``forward(x) = A x`` and ``adjoint(y) = Aᵀ y`` with
``⟨A x, y⟩ = ⟨x, Aᵀ y⟩``.  Both accept leading batch axes: ``x`` of shape
``(..., *shape_in)`` maps to ``(..., *shape_out)``.  Arrays may come from any array-API
namespace; operators never branch on which.

The operator of a layer type (a dense matrix, a convolution: ``A_θ`` with its weights ``θ``)
is a :class:`ParametrisedOperator`: it also gives the gradient in ``θ`` and the bounds on that
gradient's Lipschitz constant that training and the lifted solvers take their steps from, and
a copy in another dtype.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["LinearOperator", "ParametrisedOperator"]


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


@runtime_checkable
class ParametrisedOperator(LinearOperator, Protocol):
    """``A_θ`` of a layer: a :class:`LinearOperator` with what training needs of ``θ``.

    For inputs ``x (N, *shape_in)`` and output adjoints ``r (N, *shape_out)``, the Jacobians
    ``J_n`` of ``θ ↦ A_θ x_n`` satisfy ``Σ_n J_nᵀ J_n = G ⊗ I`` with ``G`` the Gram matrix of
    the inputs (of their patches, for a convolution).
    """

    def weight_grad(self, x: Any, r: Any) -> Any:
        """``∇_θ Σ_n ⟨r_n, A_θ x_n⟩``, in the operator's own weight layout."""
        ...

    def gram_trace(self, x: Any) -> float:
        """``trace G`` (an upper bound of ``λ_max G``, cheap)."""
        ...

    def gram_norm(self, x: Any) -> float:
        """``λ_max G``."""
        ...

    def gram_rows(self, x: Any) -> Any:
        """Rows ``P`` with ``PᵀP = G`` (the inputs, or their patches)."""
        ...

    def astype(self, dtype: Any) -> "ParametrisedOperator":
        """The same operator with its weights in ``dtype``."""
        ...
