"""The matrix layer types: ``A @ x`` and ``A.T @ x`` with a declared parameter (``matmul``),
and ``dense(x, WIDTH)``, which creates its weight and bias (``dense``).

Both apply ``M = as_matrix(θ)`` (a 1-D ``θ`` is a row) or its transpose to the row-major
flattening of ``x``: the operator is :class:`lbdsl.ops.dense.Dense` on flat vectors; in ONNX
``Flatten → MatMul(Mᵀ) (→ Add(b))``; in PyTorch ``Flatten`` and ``Linear``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from ...ops.dense import Dense
from ...syntax import tree
from ..nodes import LinearMap, Shape, as_matrix, format_shape, size_of
from .base import CreatingLayerType, LayerType

__all__ = ["MatMul", "DenseLayer"]


class _Matrix(LayerType):
    """What ``matmul`` and ``dense`` share: the matrix, its runtime and its export."""

    def shapes(self, m: Any) -> tuple[Shape, Shape]:
        # ``@`` multiplies the row-major flattening of its input (language.md)
        return (size_of(m.in_shape),), (size_of(m.out_shape),)

    def operator(self, m: Any, weight: Any) -> Dense:
        xp = array_namespace(weight)
        w = xp.reshape(weight, (1, -1)) if weight.ndim == 1 else weight
        return Dense(xp.matrix_transpose(w) if m.transposed else w)

    def rows(self, m: Any, x: Any, shape: Shape) -> Any:
        return array_namespace(x).reshape(x, (-1, shape[0])) if x.ndim != 2 else x

    def weight_grad(self, m: Any, g: Any, weight: Any) -> Any:
        xp = array_namespace(g)
        g = xp.matrix_transpose(g) if m.transposed else g
        return g if g.shape == weight.shape else xp.reshape(g, weight.shape)

    def onnx(self, g: Any, m: Any, x: str, x_shape: Shape, values: dict[str, Any], base: str,
             bias: Any = None) -> str:
        matrix = as_matrix(values[m.weight], m.transposed)            # (out, in)
        flat = x if len(x_shape) == 1 else g.op("Flatten", [x], f"{base}_flat", axis=1)
        y = g.op("MatMul", [flat, g.const(f"{base}_WT", matrix.T)], f"{base}_matmul")
        if bias is not None:
            y = g.op("Add", [y, g.const(f"{base}_b", bias.reshape(-1))], f"{base}_add")
        return g.reshape(y, m.out_shape, f"{base}_shape") if len(m.out_shape) > 1 else y

    def torch(self, m: Any, x_shape: Shape, values: dict[str, Any], bias: Any = None,
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        matrix = as_matrix(values[m.weight], m.transposed)
        state = {"weight": matrix} | ({"bias": bias.reshape(-1)} if bias is not None else {})
        flatten = [("Flatten", (), {})] if len(x_shape) > 1 else []
        return flatten + [("Linear", (matrix.shape[1], matrix.shape[0]),
                           {"bias": bias is not None, "state": state})]


class MatMul(_Matrix):
    """``A @ x`` and ``A.T @ x``: ``A`` a declared matrix (or vector: a row)."""

    name: ClassVar[str] = "matmul"
    usage: ClassVar[str] = "`A @ x`, `A.T @ x`"

    def applies(self, shape: Shape | None) -> bool:
        return shape is None or len(shape) <= 2

    def read_at(self, b: Any, weight: str, transposed: bool, in_shape: Shape | None,
                at: Any, left: Any, x_text: str) -> LinearMap:
        w_shape = b.params[weight].shape
        w_text = b.params[weight].declared_name + (".T" if transposed else "")
        out: Shape | None = None
        if w_shape is not None:
            rows, cols = (1, w_shape[0]) if len(w_shape) == 1 else w_shape
            m, n = (cols, rows) if transposed else (rows, cols)
            out = (m,)
            if in_shape is not None and size_of(in_shape) != n:
                shown = (f"{size_of(in_shape)} entries (shape {format_shape(in_shape)})"
                         if len(in_shape) > 1 else f"{size_of(in_shape)} entries")
                b.error(at.span, f"`{w_text}` is {m}x{n} but `{x_text}` has {shown}: the inner "
                        f"dimensions of `{w_text} @ {x_text}` must agree",
                        f"`@` multiplies the row-major flattening of `{x_text}`, so `{w_text}` "
                        f"needs {size_of(in_shape)} columns")
        return LinearMap("matmul", weight, transposed, in_shape, out)  # type: ignore[arg-type]

    def describe(self, m: Any, x: str) -> str:
        x = f"({x})" if " " in x else x
        return f"{m.weight}{'.T' if m.transposed else ''} @ {x}"

    def ties(self, m: Any, v_weight: str, v_transposed: bool) -> bool:
        return m.weight == v_weight and v_transposed != m.transposed


class DenseLayer(CreatingLayerType, _Matrix):
    """``dense(x, WIDTH)``: a created ``WIDTH × size(x)`` weight and ``WIDTH`` bias, PyTorch's
    ``Linear`` initialisation, or ``init = load("f.npz")``; ``dense(x, C x H x W)`` gives its
    output that shape (an image a convolution can read), with ``C·H·W`` rows."""

    name: ClassVar[str] = "dense"
    calls: ClassVar[tuple[str, ...]] = ("dense",)
    usage: ClassVar[str] = "`dense(x, WIDTH)`"

    def read(self, b: Any, call: tree.Call, target: str, in_shape: Shape | None,
             ) -> tuple[LinearMap, str | None]:
        out = call.args[1] if len(call.args) == 2 else None
        if isinstance(out, tree.Shape):     # an image (or any) shape: dense(code, 8x7x7)
            if min(out.dims) < 1:
                b.fail(out.span, f"the output shape of `dense` has a zero or negative "
                       f"dimension ({format_shape(out.dims)})")
            shape = tuple(int(d) for d in out.dims)
            kws = b.keywords(call, self.keywords, self.usage.strip("`"))
        else:
            width, kws = self.arguments(b, call)
            shape = (width,)
        width = size_of(shape)
        fan_in = size_of(in_shape) if in_shape is not None else None
        w, bias = self.create(b, target, call, kws, (width, fan_in) if fan_in else None, width,
                              fan_in)
        return LinearMap("dense", w, False, in_shape, shape), bias  # type: ignore[arg-type]

    def describe(self, m: Any, x: str) -> str:
        return f"dense({x}, {format_shape(m.out_shape)})"

    def torch(self, m: Any, x_shape: Shape, values: dict[str, Any], bias: Any = None,
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        mods = super().torch(m, x_shape, values, bias)
        if len(m.out_shape) > 1:            # (N, C·H·W) → (N, C, H, W)
            mods.append(("Unflatten", (1, tuple(m.out_shape)), {}))
        return mods
