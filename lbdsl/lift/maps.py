"""The linear maps of a layer, built from its parameters: ``A_θ`` of the pre-activation
``A_θ u + b`` and the residual's ``V_θ``.

A map holds the *structure* — which parameter, transposed or not, the convolution's geometry —
and ``params`` (name → array) supplies the values at every call, so that inversion (the
network's own parameters, fixed) and training (parameters that change every step) run the same
products and the same gradients.  Rows are samples: ``x (..., size_in)`` → ``(..., size_out)``,
every variable flattened row-major.

Each map asks its operator (:mod:`lbdsl.ops`) for the gradient in its matrix or kernel
(``weight_grad``) and the trace of the Gram matrix behind its Jacobian in the parameter
(``gram_trace``) or its largest eigenvalue (``gram_norm``), and maps them back to the
parameter's shape: the transpose for ``W.T @ x``, a row for a 1-D ``W``.  ``weight_map(affine)`` picks the class by the IR's affine kind
(:data:`MAPS`); a new layer type is one class here and one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ..ir.nodes import Affine, Shape, size_of
from ..ops.base import LinearOperator
from ..ops.conv import Conv2d
from ..ops.dense import Dense

__all__ = ["WeightMap", "DenseMap", "ConvMap", "MAPS", "weight_map", "residual_map"]

Params = dict[str, Any]


@dataclass(frozen=True)
class WeightMap:
    """``x ↦ A_θ x`` for ``θ = params[weight]`` (see the module docstring)."""

    weight: str
    in_shape: Shape
    out_shape: Shape

    @property
    def in_size(self) -> int:
        return size_of(self.in_shape)

    def operator(self, params: Params) -> LinearOperator:
        """``A_θ`` as an operator on the declared shapes."""
        raise NotImplementedError

    def _to_param(self, g: Any, w: Any) -> Any:
        """The operator's weight gradient in the parameter's own shape."""
        return g

    def forward(self, params: Params, x: Any) -> Any:
        """``A_θ x`` for flat rows ``x (..., in_size)``."""
        return _flat_apply(self.operator(params).forward, x, self.in_shape, size_of(self.out_shape))

    def adjoint(self, params: Params, g: Any) -> Any:
        """``A_θᵀ g`` for flat rows ``g (..., out_size)``."""
        return _flat_apply(self.operator(params).adjoint, g, self.out_shape, self.in_size)

    def weight_grad(self, params: Params, x: Any, r: Any) -> Any:
        """``∇_θ ⟨r, A_θ x⟩`` summed over the rows, in ``θ``'s shape."""
        w = params[self.weight]
        return self._to_param(self.operator(params).weight_grad(self._rows(x, self.in_shape),
                                                                self._rows(r, self.out_shape)), w)

    def gram_trace(self, params: Params, x: Any) -> float:
        """``trace G`` where ``Σ_n J_nᵀ J_n = G ⊗ I`` for the Jacobians ``J_n`` of ``θ ↦ A_θ x_n``
        (the input Gram matrix, one per output row or channel; it does not depend on ``θ``)."""
        return self.operator(params).gram_trace(self._rows(x, self.in_shape))

    def gram_norm(self, params: Params, x: Any) -> float:
        """``λ_max G`` for the same ``G``: the Lipschitz constant of ``∇_θ Σ_n φ(A_θ x_n)``."""
        return self.operator(params).gram_norm(self._rows(x, self.in_shape))

    def gram_rows(self, params: Params, x: Any) -> Any:
        """The rows (patches) ``P`` of the input with ``PᵀP = G``."""
        return self.operator(params).gram_rows(self._rows(x, self.in_shape))

    def _rows(self, x: Any, shape: Shape) -> Any:
        return x

    def power_step(self, params: Params, v: Any) -> tuple[Any, float]:
        """One power iteration on ``AᵀA`` from the unit row ``v (1, in_size)``: the next unit
        vector and ``‖AᵀA v‖`` (a lower bound on ``‖A‖²``, at least ``‖A v‖²``)."""
        xp = array_namespace(v)
        w = self.adjoint(params, self.forward(params, v))
        est = float(xp.linalg.vector_norm(w))
        if est > 0.0:
            v = w / est
        return v, est


@dataclass(frozen=True)
class DenseMap(WeightMap):
    """``A = M`` or ``Mᵀ`` (``transposed``) with ``M = as_matrix(θ)`` (a 1-D θ is a row)."""

    transposed: bool = False

    def operator(self, params: Params) -> Dense:
        w = params[self.weight]
        xp = array_namespace(w)
        m = xp.reshape(w, (1, -1)) if w.ndim == 1 else w
        return Dense(xp.matrix_transpose(m) if self.transposed else m)

    def _to_param(self, g: Any, w: Any) -> Any:
        xp = array_namespace(g)
        g = xp.matrix_transpose(g) if self.transposed else g
        return g if g.shape == w.shape else xp.reshape(g, w.shape)

    def _rows(self, x: Any, shape: Shape) -> Any:
        return array_namespace(x).reshape(x, (-1, shape[0])) if x.ndim != 2 else x



@dataclass(frozen=True)
class ConvMap(WeightMap):
    """``A = conv(·, K)`` (cross-correlation) with ``K = θ`` of shape ``(C_out, C_in, k_h, k_w)``;
    ``in_shape = (C_in, H, W)``."""

    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    padding: int = 0

    def operator(self, params: Params) -> Conv2d:
        return Conv2d(params[self.weight], (self.in_shape[-2], self.in_shape[-1]), self.stride,
                      self.padding)

    def _rows(self, x: Any, shape: Shape) -> Any:
        return array_namespace(x).reshape(x, (-1, *shape))



def _flat_apply(apply: Any, x: Any, shape_in: Shape, size_out: int) -> Any:
    """``apply`` on the flat rows ``x (..., size(shape_in))``, flat again afterwards."""
    xp = array_namespace(x)
    batch = tuple(x.shape[:-1])
    y = apply(xp.reshape(x, (*batch, *shape_in)))
    return xp.reshape(y, (*batch, size_out))


def _dense_map(affine: Affine) -> DenseMap:
    # ``@`` multiplies the row-major flattening of its input (language.md)
    return DenseMap(affine.weight, (affine.in_size,), (affine.out_size,),
                    transposed=affine.transposed)


def _conv_map(affine: Affine) -> ConvMap:
    in_shape = affine.in_shape if len(affine.in_shape) == 3 else (1, *affine.in_shape)
    return ConvMap(affine.weight, tuple(in_shape), tuple(affine.out_shape),
                   kernel=affine.kernel or (1, 1), stride=affine.stride, padding=affine.padding)


#: The map of each IR affine kind (``Affine.kind``).
MAPS = {"matmul": _dense_map, "dense": _dense_map, "conv2d": _conv_map}


def weight_map(affine: Affine) -> WeightMap:
    """The map ``A_θ`` of a layer's pre-activation."""
    return MAPS[affine.kind](affine)


def residual_map(weight: str, transposed: bool, in_size: int, out_size: int) -> DenseMap:
    """The map ``V_θ`` of a residual layer ``u = u_base ± V σ(…)`` (a matrix or its transpose)."""
    return DenseMap(weight, (in_size,), (out_size,), transposed=transposed)
