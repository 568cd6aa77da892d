"""The single-layer problem every ``pdhg`` variant solves, in the pieces the variants use.

    min_u  D(u) + a·TV(u) + g(u),     D(u) = B_Ψ(f, W u + b),
    g(u) = l·‖u‖₁ + (c/2)‖u‖² + χ_{[lo, hi]}(u)

``D`` is smooth with ``∇D(u) = Wᵀ(σ(W u + b) − f)`` (σ = prox_Ψ, 1-Lipschitz, so ``∇D`` is
‖W‖²-Lipschitz; no derivative of σ is used).  TV is the only non-separable term: the variants
reach it through ``∇`` and the conjugate of ``a‖·‖_{2,1}`` (the projection onto balls of radius
``a``).  ``g`` is separable and its prox is a composition of closed forms (:meth:`Penalty.prox`).

Arrays carry one leading batch axis here: ``u`` is ``(B, n)`` and ``f`` is ``(B, m)``; a single
right-hand side is a batch of one.  Values (objective, ``D``) are per batch row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ...errors import SolveError
from ...lift.blocks import BlockOperator
from ...ops.gradient import Gradient
from ...prox.regularisers.base import unweighted
from ...prox.regularisers.indicators import Box, NonNeg
from ...prox.regularisers.l1 import L1, soft_threshold
from ...prox.regularisers.l2sq import L2Squared
from ...prox.regularisers.mixed_norm import project_balls
from ...prox.regularisers.tv import TV
from ..problems import InverseProblem

__all__ = ["Penalty", "SingleLayer", "single_layer"]


def row_norms(x: Any) -> Any:
    """``‖x_i‖`` of each batch row ``(B, …)`` (every axis after the first flattened)."""
    xp = array_namespace(x)
    return xp.linalg.vector_norm(xp.reshape(x, (x.shape[0], -1)), axis=1)


@dataclass(frozen=True)
class Penalty:
    """``a·TV + l·‖·‖₁ + (c/2)‖·‖² + χ_{[lo, hi]}`` collected from a problem's terms."""

    shape: tuple[int, ...]
    tv: float = 0.0
    l1: float = 0.0
    l2sq: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf

    @property
    def gradient(self) -> Gradient | None:
        """``∇`` on the input's shape when TV is present."""
        return Gradient(self.shape) if self.tv > 0 else None

    @property
    def has_box(self) -> bool:
        return self.lo > -math.inf or self.hi < math.inf

    @property
    def separable(self) -> bool:
        """Whether ``g`` is not identically zero."""
        return bool(self.l1 or self.l2sq or self.has_box)

    def prox(self, v: Any, s: Any) -> Any:
        """``prox_{s·g}(v) = clip(soft(v, s·l) / (1 + s·c), lo, hi)``.

        In one dimension the prox of a convex φ plus an interval's indicator is the projection of
        ``prox_φ``, and ``prox_{s(l|·| + (c/2)(·)²)} = soft(·, s·l)/(1 + s·c)`` (complete the
        square after thresholding); ``s`` may be an array (one step per entry).
        """
        xp = array_namespace(v)
        out = soft_threshold(v, s * self.l1) if self.l1 else v
        if self.l2sq:
            out = out / (1.0 + s * self.l2sq)
        if self.has_box:
            out = xp.clip(out, min=None if math.isinf(self.lo) else self.lo,
                          max=None if math.isinf(self.hi) else self.hi)
        return out

    def project_tv_dual(self, p: Any) -> Any:
        """``prox_{σ(a‖·‖_{2,1})*}(p)``: each ``p_i`` onto the ball of radius ``a`` (every σ)."""
        return project_balls(p, self.tv, -len(self.shape) - 1)

    def value(self, u: Any) -> Any:
        """``a·TV(u) + l‖u‖₁ + (c/2)‖u‖²`` per batch row (``+inf`` outside the box, with the
        constraints' own rounding slack)."""
        xp = array_namespace(u)
        total = xp.zeros(u.shape[:1], dtype=u.dtype)
        if self.tv:
            grad = Gradient(self.shape)
            g = grad.forward(xp.reshape(u, (u.shape[0], *self.shape)))
            norms = xp.linalg.vector_norm(g, axis=1)
            total = total + self.tv * xp.sum(xp.reshape(norms, (u.shape[0], -1)), axis=1)
        if self.l1:
            total = total + self.l1 * xp.sum(xp.abs(u), axis=1)
        if self.l2sq:
            total = total + 0.5 * self.l2sq * xp.sum(u * u, axis=1)
        if self.has_box:
            slack = math.sqrt(float(xp.finfo(u.dtype).eps))
            lo = self.lo - slack * max(1.0, abs(self.lo))
            hi = self.hi + slack * max(1.0, abs(self.hi))
            inside = xp.all((u >= lo) & (u <= hi), axis=1)
            total = xp.where(inside, total, xp.full_like(total, math.inf))
        return total

    @classmethod
    def from_problem(cls, problem: InverseProblem) -> "Penalty":
        """Collect the terms; refuse (``SolveError``) a kind ``pdhg`` cannot split."""
        shape = tuple(int(n) for n in problem.input_shape)
        tv = l1 = l2sq = 0.0
        lo, hi = -math.inf, math.inf
        items = [(t.reg, float(t.weight)) for t in problem.terms]
        items += [(c, 1.0) for c in problem.constraints]
        for reg, weight in items:
            reg, weight = unweighted(reg, weight)
            if isinstance(reg, (NonNeg, Box)):
                lo = max(lo, 0.0 if isinstance(reg, NonNeg) else reg.lo)
                hi = min(hi, math.inf if isinstance(reg, NonNeg) else reg.hi)
                continue
            if not (math.isfinite(weight) and weight >= 0):
                raise SolveError(f"pdhg: the weight of `{reg.name}` must be finite and >= 0, "
                                 f"got {weight:g}")
            if isinstance(reg, TV):
                if math.prod(reg.shape) != math.prod(shape):
                    raise SolveError(f"pdhg: tv acts on shape {reg.shape} but the input has "
                                     f"shape {shape}")
                shape = tuple(reg.shape)
                tv += weight
            elif isinstance(reg, L1):
                l1 += weight
            elif isinstance(reg, L2Squared):
                l2sq += weight
            else:
                raise SolveError(f"pdhg cannot split the regulariser `{reg.name}` (it handles "
                                 "tv, l1, l2sq, nonneg and box); use the `lifted` solver")
        if lo > hi:
            raise SolveError(f"pdhg: the constraints on the input are empty (lo = {lo:g} > "
                             f"hi = {hi:g})")
        return cls(shape, tv, l1, l2sq, lo, hi)


@dataclass(frozen=True, eq=False)
class SingleLayer:
    """``N(u) = σ(W u + b)`` with data ``f`` (``(B, m)``) and the penalty ``J``."""

    W: BlockOperator       # flat (…, n) → (…, m)
    b: Any                 # (m,)
    psi: Any
    f: Any                 # (B, m)
    penalty: Penalty
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
        return self.data_value(z) + self.penalty.value(u)

    def image(self, u: Any) -> Any:
        """``u`` (``(B, n)``) in the input's shape, batch axis first."""
        return self.xp.reshape(u, (u.shape[0], *self.penalty.shape))


def single_layer(problem: InverseProblem) -> SingleLayer:
    """The pieces of a one-layer Bregman problem; ``SolveError`` with a reason otherwise."""
    if problem.fidelity != "bregman":
        raise SolveError("pdhg solves the Bregman fidelity only; the quadratic fidelity `l2` "
                         "needs the `gradient` solver")
    if not problem.is_single_layer:
        raise SolveError("pdhg needs a single layer N(u) = σ(W u + b); this network has "
                         f"{len(problem.lifted.layers)} layer(s) or a residual step: use the "
                         "`lifted` solver")
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
    return SingleLayer(W, b, layer.psi, f, Penalty.from_problem(problem), batched)
