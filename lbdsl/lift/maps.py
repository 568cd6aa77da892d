"""The linear maps of a layer, built from its parameters: ``A_θ`` of the pre-activation
``A_θ u + b`` and the residual's ``V_θ``.

A map holds the *structure* — its layer type (:mod:`lbdsl.ir.layers`), which parameter,
transposed or not, the convolution's geometry — and ``params`` (name → array) supplies the
values at every call, so that inversion (the network's own parameters, fixed) and training
(parameters that change every step) run the same products and the same gradients.  Rows are
samples: ``x (..., size_in)`` → ``(..., size_out)``, every variable flattened row-major.

The layer type gives the operator for the weights (:mod:`lbdsl.ops`), which gives the gradient
in its matrix or kernel (``weight_grad``) and the trace of the Gram matrix behind its
Jacobian in the parameter (``gram_trace``) or its largest eigenvalue (``gram_norm``); the
layer type maps them back to the parameter's shape (the transpose for ``W.T @ x``, a row for a
1-D ``W``).  Nothing here knows one layer type from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ..ir.layers import LAYER_TYPES, LayerType
from ..ir.nodes import LinearMap, Shape, size_of
from ..ops.base import ParametrisedOperator

__all__ = ["WeightMap", "weight_map", "residual_map"]

Params = dict[str, Any]


@dataclass(frozen=True)
class WeightMap:
    """``x ↦ A_θ x`` for ``θ = params[weight]`` (see the module docstring); ``in_shape`` and
    ``out_shape`` are the shapes the operator maps between (its layer type's ``shapes``)."""

    kind: str
    weight: str
    in_shape: Shape
    out_shape: Shape
    transposed: bool = False
    kernel: tuple[int, int] | None = None
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    output_padding: int | tuple[int, int] = 0

    @property
    def layer_type(self) -> LayerType:
        return LAYER_TYPES[self.kind]

    @property
    def in_size(self) -> int:
        return size_of(self.in_shape)

    def operator(self, params: Params) -> ParametrisedOperator:
        """``A_θ`` as an operator on the declared shapes."""
        return self.layer_type.operator(self, params[self.weight])

    def forward(self, params: Params, x: Any) -> Any:
        """``A_θ x`` for flat rows ``x (..., in_size)``."""
        return _flat_apply(self.operator(params).forward, x, self.in_shape, size_of(self.out_shape))

    def adjoint(self, params: Params, g: Any) -> Any:
        """``A_θᵀ g`` for flat rows ``g (..., out_size)``."""
        return _flat_apply(self.operator(params).adjoint, g, self.out_shape, self.in_size)

    def weight_grad(self, params: Params, x: Any, r: Any) -> Any:
        """``∇_θ ⟨r, A_θ x⟩`` summed over the rows, in ``θ``'s shape."""
        w = params[self.weight]
        g = self.operator(params).weight_grad(self._rows(x, self.in_shape),
                                              self._rows(r, self.out_shape))
        return self.layer_type.weight_grad(self, g, w)

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
        return self.layer_type.rows(self, x, shape)

    def power_step(self, params: Params, v: Any) -> tuple[Any, float]:
        """One power iteration on ``AᵀA`` from the unit row ``v (1, in_size)``: the next unit
        vector and ``‖AᵀA v‖`` (a lower bound on ``‖A‖²``, at least ``‖A v‖²``)."""
        xp = array_namespace(v)
        w = self.adjoint(params, self.forward(params, v))
        est = float(xp.linalg.vector_norm(w))
        if est > 0.0:
            v = w / est
        return v, est


def _flat_apply(apply: Any, x: Any, shape_in: Shape, size_out: int) -> Any:
    """``apply`` on the flat rows ``x (..., size(shape_in))``, flat again afterwards."""
    xp = array_namespace(x)
    batch = tuple(x.shape[:-1])
    y = apply(xp.reshape(x, (*batch, *shape_in)))
    return xp.reshape(y, (*batch, size_out))


def weight_map(m: LinearMap) -> WeightMap:
    """The runtime map of one of the IR's maps, on the shapes its operator takes."""
    in_shape, out_shape = LAYER_TYPES[m.kind].shapes(m)
    return WeightMap(m.kind, m.weight, tuple(in_shape), tuple(out_shape), m.transposed,
                     m.kernel, m.stride, m.padding, m.output_padding)


def residual_map(weight: str, transposed: bool, in_size: int, out_size: int) -> WeightMap:
    """The map ``V_θ`` of a residual layer ``u = u_base ± V σ(…)`` (a matrix or its transpose)."""
    return WeightMap("matmul", weight, (in_size,), (out_size,), transposed)
