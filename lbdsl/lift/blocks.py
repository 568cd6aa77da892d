"""Block operators: a sparse grid of linear operators acting on concatenated flat blocks.

``(A x)_i = Σ_j A_ij x_j`` where ``x_j`` is the ``j``-th slice of a flat vector.  An entry is a
scalar multiple of the identity (``coef · I``, ``op is None``) or ``coef · op`` for a linear
operator ``op`` acting on the block's declared shape.  The identity entries are what the
symbolic certificate reads; the others make the operator matrix-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace

from ..ops.base import LinearOperator

__all__ = ["Entry", "BlockOperator"]


@dataclass(frozen=True, eq=False)
class Entry:
    """``coef · op`` (``op`` None means the identity); ``label`` is how tables print it."""

    coef: float
    op: LinearOperator | None
    label: str

    @property
    def is_identity_multiple(self) -> bool:
        return self.op is None


def _apply(op: LinearOperator, x: Any, shape_in: tuple[int, ...], size_out: int,
           adjoint: bool) -> Any:
    """Apply ``op`` (or its adjoint) to the flat block ``x (..., n)``, returning flat ``(..., m)``."""
    xp = array_namespace(x)
    batch = tuple(x.shape[:-1])
    y = (op.adjoint if adjoint else op.forward)(xp.reshape(x, (*batch, *shape_in)))
    return xp.reshape(y, (*batch, size_out))


@dataclass(frozen=True, eq=False)
class BlockOperator:
    """A block operator ``ℝ^{Σ col_sizes} → ℝ^{Σ row_sizes}`` with sparse ``entries[(i, j)]``."""

    row_sizes: tuple[int, ...]
    col_sizes: tuple[int, ...]
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)

    @property
    def shape_in(self) -> tuple[int, ...]:
        return (sum(self.col_sizes),)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return (sum(self.row_sizes),)

    def _offsets(self, sizes: tuple[int, ...]) -> list[int]:
        out = [0]
        for s in sizes:
            out.append(out[-1] + s)
        return out

    def _product(self, x: Any, adjoint: bool) -> Any:
        xp = array_namespace(x)
        in_sizes, out_sizes = ((self.row_sizes, self.col_sizes) if adjoint
                               else (self.col_sizes, self.row_sizes))
        in_off = self._offsets(in_sizes)
        batch = tuple(x.shape[:-1])
        acc: list[Any] = [None] * len(out_sizes)
        for (i, j), entry in self.entries.items():
            src, dst = (i, j) if adjoint else (j, i)
            block = x[..., in_off[src]:in_off[src + 1]]
            if entry.op is None:
                term = block
            else:
                shape_in = entry.op.shape_out if adjoint else entry.op.shape_in
                term = _apply(entry.op, block, tuple(shape_in), out_sizes[dst], adjoint)
            if entry.coef != 1.0:
                term = entry.coef * term
            acc[dst] = term if acc[dst] is None else acc[dst] + term
        parts = [a if a is not None else xp.zeros((*batch, n), dtype=x.dtype, device=_device(x))
                 for a, n in zip(acc, out_sizes)]
        return xp.concat(parts, axis=-1) if parts else xp.zeros((*batch, 0), dtype=x.dtype)

    def forward(self, x: Any) -> Any:
        """``A x`` for flat ``x`` of shape ``(..., Σ col_sizes)``."""
        return self._product(x, adjoint=False)

    def adjoint(self, y: Any) -> Any:
        """``Aᵀ y`` for flat ``y`` of shape ``(..., Σ row_sizes)``."""
        return self._product(y, adjoint=True)

    def identity_coefficients(self) -> dict[tuple[int, int], float] | None:
        """``{(i, j): c}`` when every entry is ``c · I`` (all blocks then have one size), else None."""
        if any(e.op is not None for e in self.entries.values()):
            return None
        return {ij: e.coef for ij, e in self.entries.items()}

    def label(self, i: int, j: int) -> str:
        """The printable block ``(i, j)``: ``I``, ``−I``, ``W_3``, ``W_3ᵀ`` or ``0``."""
        entry = self.entries.get((i, j))
        return "0" if entry is None else entry.label

    def nnz_blocks(self) -> int:
        return len(self.entries)

    def dense(self, xp: Any, dtype: Any) -> Any:
        """The assembled matrix (small problems only: certificates and tests)."""
        n = sum(self.col_sizes)
        eye = xp.eye(n, dtype=dtype)
        return xp.matrix_transpose(self.forward(eye))


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)


def block_size(shape: tuple[int, ...]) -> int:
    """Length of a block of ``shape`` once flattened."""
    return math.prod(shape)
