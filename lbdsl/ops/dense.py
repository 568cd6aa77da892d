"""A dense matrix as a linear operator on flat vectors, with its gradient in the matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from .norm import gram_lambda_max

__all__ = ["Dense"]


@dataclass(frozen=True, eq=False)
class Dense:
    """``W ∈ ℝ^{m×n}`` acting on flat vectors: ``forward(x) = W x``, ``adjoint(y) = Wᵀ y``.

    Batched: ``x`` of shape ``(..., n)`` maps to ``x Wᵀ`` of shape ``(..., m)``, ``y`` of shape
    ``(..., m)`` to ``y W``.  The result has the promoted dtype of ``x`` and ``W``: build the
    operator in the dtype you solve in (:meth:`astype`).  ``W.T`` is the operator ``Wᵀ``.
    """

    matrix: Any

    def __post_init__(self) -> None:
        if self.matrix.ndim != 2:
            raise ValueError(f"Dense needs a 2-D matrix, got shape {tuple(self.matrix.shape)}")

    @property
    def shape_in(self) -> tuple[int, ...]:
        return (int(self.matrix.shape[1]),)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return (int(self.matrix.shape[0]),)

    def forward(self, x: Any) -> Any:
        """``W x`` for ``x`` of shape ``(..., n)``: computed as ``x Wᵀ`` so batches are rows."""
        xp = array_namespace(x, self.matrix)
        return xp.matmul(x, xp.matrix_transpose(self.matrix))

    def adjoint(self, y: Any) -> Any:
        """``Wᵀ y`` for ``y`` of shape ``(..., m)``, computed as ``y W``."""
        xp = array_namespace(y, self.matrix)
        return xp.matmul(y, self.matrix)

    def weight_grad(self, x: Any, r: Any) -> Any:
        """``∇_W ⟨r, W x⟩ = Σ_n r_n x_nᵀ`` for rows ``x (B, n)``, ``r (B, m)``: ``rᵀ x``, (m, n)."""
        xp = array_namespace(x, r)
        return xp.matmul(xp.matrix_transpose(r), x)

    def gram_trace(self, x: Any) -> float:
        """``Σ_n ‖x_n‖² = trace G``, ``G = Σ_n x_n x_nᵀ``: the Jacobians ``J_n`` of ``W ↦ W x_n``
        have ``Σ_n J_nᵀ J_n = G ⊗ I``, so ``trace G ≥ λ_max`` bounds the Lipschitz constant of
        ``∇_W Σ_n φ(W x_n)`` for any ``φ`` with a 1-Lipschitz gradient."""
        xp = array_namespace(x)
        return float(xp.sum(x * x))

    def gram_norm(self, x: Any) -> float:
        """``λ_max(G)``, ``G = Σ_n x_n x_nᵀ``: the Lipschitz constant of ``∇_W Σ_n φ(W x_n)`` for
        any ``φ`` with a 1-Lipschitz gradient (``Σ_n J_nᵀ J_n = G ⊗ I`` has ``G``'s spectrum) —
        up to ``rank G`` times smaller than ``trace G``."""
        return gram_lambda_max(x)

    def gram_rows(self, x: Any) -> Any:
        """The rows ``P`` whose ``PᵀP`` is ``G`` (here ``x`` itself)."""
        return x

    @property
    def T(self) -> "Dense":  # noqa: N802 - the mathematical name a spec writes (``W.T @ x``)
        """The operator ``Wᵀ`` (a view of the same storage where the backend allows it)."""
        xp = array_namespace(self.matrix)
        return Dense(xp.matrix_transpose(self.matrix))

    def transpose(self) -> "Dense":
        """Same as :attr:`T`."""
        return self.T

    def astype(self, dtype: Any) -> "Dense":
        """The same operator with its matrix stored in ``dtype``."""
        xp = array_namespace(self.matrix)
        return Dense(xp.astype(self.matrix, dtype))
