"""The single-layer problem every ``pdhg`` variant solves, in the pieces the variants use.

    min_u  D(u) + a·TV(u) + g(u),     D(u) = B_Ψ(f, W u + b),
    g(u) = l·‖u‖₁ + (c/2)‖u‖² + χ_{[lo, hi]}(u)

``D`` is smooth with ``∇D(u) = Wᵀ(σ(W u + b) − f)`` (σ = prox_Ψ, 1-Lipschitz, so ``∇D`` is
‖W‖²-Lipschitz; no derivative of σ is used).  The regulariser is the problem's
:class:`~lbdsl.prox.regularisers.composite.RegulariserSum`: TV is the only non-separable term,
which the variants reach through ``∇`` and the conjugate of ``a‖·‖_{2,1}`` (the projection onto
balls of radius ``a``); ``g`` is separable and its prox is a composition of closed forms.

Arrays carry one leading batch axis here: ``u`` is ``(B, n)`` and ``f`` is ``(B, m)``; a single
right-hand side is a batch of one.  Values (objective, ``D``) are per batch row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ...errors import SolveError
from ...lift.blocks import BlockOperator
from ...prox.regularisers.composite import RegulariserSum
from ..problems import InverseProblem

__all__ = ["SingleLayer", "single_layer", "row_norms"]


def row_norms(x: Any) -> Any:
    """``‖x_i‖`` of each batch row ``(B, …)`` (every axis after the first flattened)."""
    xp = array_namespace(x)
    return xp.linalg.vector_norm(xp.reshape(x, (x.shape[0], -1)), axis=1)


@dataclass(frozen=True, eq=False)
class SingleLayer:
    """``N(u) = σ(W u + b)`` with data ``f`` (``(B, m)``) and the penalty ``J``."""

    W: BlockOperator       # flat (…, n) → (…, m)
    b: Any                 # (m,)
    psi: Any
    f: Any                 # (B, m)
    penalty: RegulariserSum
    batched: bool          # whether the caller's f had a batch axis

    @property
    def xp(self) -> Any:
        return array_namespace(self.f)

    @property
    def dtype(self) -> Any:
        return self.f.dtype

    @property
    def n(self) -> int:
        return int(self.W.col_sizes[0])

    @property
    def m(self) -> int:
        return int(self.W.row_sizes[0])

    @property
    def batch(self) -> int:
        return int(self.f.shape[0])

    def affine(self, u: Any) -> Any:
        """``W u + b``."""
        return self.W.forward(u) + self.b

    def data_value(self, z: Any) -> Any:
        """``B_Ψ(f, z)`` per batch row at the pre-activation ``z = W u + b``."""
        return self.psi.bregman(self.f, z)

    def data_gradient(self, u: Any) -> Any:
        """``∇D(u) = Wᵀ(σ(W u + b) − f)``."""
        return self.W.adjoint(self.psi.prox(self.affine(u)) - self.f)

    def objective(self, u: Any, z: Any = None) -> Any:
        """``D(u) + J(u)`` per batch row (``z = W u + b`` when the caller has it)."""
        z = self.affine(u) if z is None else z
        return self.data_value(z) + self.penalty.row_values(u)

    def image(self, u: Any) -> Any:
        """``u`` (``(B, n)``) in the input's shape, batch axis first."""
        return self.xp.reshape(u, (u.shape[0], *self.penalty.shape))


def single_layer(problem: InverseProblem) -> SingleLayer:
    """The pieces of a one-layer Bregman problem (the caller has checked that it is one)."""
    lp = problem.lifted
    xp = lp.xp
    layer = lp.layers[0]
    entry = lp.W.entries[(layer.index, layer.input_block)]
    n = lp.u_blocks[layer.input_block].size
    W = BlockOperator((layer.z_size,), (n,), {(0, 0): entry})
    f = xp.asarray(problem.f, dtype=lp.dtype)
    if f.shape[-1] != layer.z_size or f.ndim > 2:
        raise SolveError(f"pdhg: the data must have shape ({layer.z_size},) or "
                         f"(batch, {layer.z_size}), got {tuple(f.shape)}")
    batched = f.ndim == 2
    if not batched:
        f = xp.reshape(f, (1, layer.z_size))
    b = xp.asarray(lp.z_block(lp.b, layer), dtype=lp.dtype)
    return SingleLayer(W, b, layer.psi, f, problem.regulariser, batched)
