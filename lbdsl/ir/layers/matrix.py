"""The matrix layer types: ``A @ x + b`` and ``A.T @ x + b`` with a declared parameter
(``matmul``), and ``dense(x, WIDTH)``, which creates its weight and bias (``dense``).

Both apply ``M = as_matrix(θ)`` (a 1-D ``θ`` is a row) or its transpose to the row-major
flattening of ``x``: the operator is :class:`lbdsl.ops.dense.Dense` on flat vectors; in ONNX
``Flatten → MatMul(Mᵀ) → Add(b)``; in PyTorch ``Flatten`` and ``Linear``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from ...ops.dense import Dense
from ...syntax import tree
from ..nodes import Affine, Shape, as_matrix, format_shape, size_of
from .base import CreatingLayerType, LayerType

__all__ = ["MatMul", "DenseLayer"]


class _Matrix(LayerType):
    """What ``matmul`` and ``dense`` share: the matrix, its runtime and its export."""

    def shapes(self, a: Any) -> tuple[Shape, Shape]:
        # ``@`` multiplies the row-major flattening of its input (language.md)
        return (size_of(a.in_shape),), (size_of(a.out_shape),)

    def operator(self, a: Any, weight: Any) -> Dense:
        xp = array_namespace(weight)
        m = xp.reshape(weight, (1, -1)) if weight.ndim == 1 else weight
        return Dense(xp.matrix_transpose(m) if a.transposed else m)

    def rows(self, a: Any, x: Any, shape: Shape) -> Any:
        return array_namespace(x).reshape(x, (-1, shape[0])) if x.ndim != 2 else x

    def weight_grad(self, a: Any, g: Any, weight: Any) -> Any:
        xp = array_namespace(g)
        g = xp.matrix_transpose(g) if a.transposed else g
        return g if g.shape == weight.shape else xp.reshape(g, weight.shape)

    def onnx(self, g: Any, a: Any, x: str, x_shape: tuple[int, ...],
             values: dict[str, Any], base: str) -> str:
        matrix = as_matrix(values[a.weight], a.transposed)            # (out, in)
        flat = x if len(x_shape) == 1 else g.op("Flatten", [x], f"{base}_flat", axis=1)
        y = g.op("MatMul", [flat, g.const(f"{base}_WT", matrix.T)], f"{base}_matmul")
        if a.bias:
            y = g.op("Add", [y, g.const(f"{base}_b", values[a.bias].reshape(-1))], f"{base}_add")
        return g.reshape(y, a.out_shape, f"{base}_shape") if len(a.out_shape) > 1 else y

    def torch(self, a: Any, x_shape: tuple[int, ...], values: dict[str, Any],
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        matrix = as_matrix(values[a.weight], a.transposed)
        bias = values[a.bias].reshape(-1) if a.bias else None
        state = {"weight": matrix} | ({"bias": bias} if bias is not None else {})
        flatten = [("Flatten", (), {})] if len(a.in_shape) > 1 else []
        return flatten + [("Linear", (matrix.shape[1], matrix.shape[0]),
                           {"bias": bias is not None, "state": state})]


class MatMul(_Matrix):
    """``A @ x (+ b)`` and ``A.T @ x (+ b)``: ``A`` a declared matrix (or vector: a row)."""

    name: ClassVar[str] = "matmul"
    usage: ClassVar[str] = "`A @ x`, `A @ x + b`, `A.T @ x`, `A.T @ x + b`"

    def read(self, b: Any, expr: tree.Expr, target: str) -> Affine:
        """``A @ x``, ``A @ x + b`` or ``b + A @ x`` (``.T`` on ``A`` allowed)."""
        bias = None
        mat = expr
        if isinstance(expr, tree.BinOp) and expr.op == "+":
            if isinstance(expr.left, tree.BinOp) and expr.left.op == "@":
                mat, bias = expr.left, expr.right
            elif isinstance(expr.right, tree.BinOp) and expr.right.op == "@":
                mat, bias = expr.right, expr.left
        if not (isinstance(mat, tree.BinOp) and mat.op == "@"):
            what = "a call" if isinstance(expr, tree.Call) else "this expression"
            b.fail(expr.span, f"{what} is not an affine map",
                   f"an affine map is {b.affine_forms()}")
        if isinstance(mat.right, tree.Call) and not b.creates(mat.right.func):
            b.fail(mat.right.span, "an activation cannot be nested inside another layer's "
                   "affine map", "give the inner layer a name of its own: "
                   "h = relu(W @ x); y = tanh(A @ h)")
        if not isinstance(mat.right, tree.Name):
            b.fail(mat.right.span, "the right of `@` must be a variable name",
                   f"an affine map is {b.affine_forms()}")
        x = b.var_ref(mat.right, "the right of `@`")
        return self.build(b, mat.left, x, bias, mat, whole=expr)

    def build(self, b: Any, mat_expr: tree.Expr, x: str, bias_expr: tree.Expr | None,
              span_expr: tree.Expr, whole: tree.Expr | None = None) -> Affine:
        """``A @ x (+ b)`` from its parts; ``span_expr`` is the ``@`` (where a mismatch is
        reported), ``whole`` the full affine expression."""
        w, transposed = b.param_ref(mat_expr, "the left of `@`")
        w_shape = b.params[w].shape
        x_shape = b.shape_of_var(x)
        w_text = b.params[w].declared_name + (".T" if transposed else "")
        x_text = b.display(x)
        out: Shape | None = None
        if w_shape is not None:
            if len(w_shape) > 2:
                b.fail(mat_expr.span, f"`{w_text}` is {format_shape(w_shape)}, but the left "
                       "of `@` must be a matrix (or a vector, read as a row)", "declare it as MxN")
            rows, cols = (1, w_shape[0]) if len(w_shape) == 1 else w_shape
            m, n = (cols, rows) if transposed else (rows, cols)
            out = (m,)
            if x_shape is not None and size_of(x_shape) != n:
                shown = (f"{size_of(x_shape)} entries (shape {format_shape(x_shape)})"
                         if len(x_shape) > 1 else f"{size_of(x_shape)} entries")
                b.error(span_expr.span, f"`{w_text}` is {m}x{n} but `{x_text}` has {shown}: "
                        f"the inner dimensions of `{w_text} @ {x_text}` must agree",
                        f"`@` multiplies the row-major flattening of `{x_text}`, so `{w_text}` "
                        f"needs {size_of(x_shape)} columns")
        bias = self._bias(b, bias_expr, out, w_text, x_text)
        span = (whole or span_expr).span
        return Affine("matmul", x, w, transposed, bias, x_shape, out, span)  # type: ignore[arg-type]

    @staticmethod
    def _bias(b: Any, bias_expr: tree.Expr | None, out: Shape | None, w_text: str,
              x_text: str) -> str | None:
        """The bias parameter of ``A @ x + b`` (its size checked against the rows of A)."""
        if bias_expr is None:
            return None
        if not isinstance(bias_expr, tree.Name):
            b.fail(bias_expr.span, "the bias must be a parameter name",
                   f"an affine map is {b.affine_forms()}")
        kind, ref = b.lookup(bias_expr)
        if kind == "var":
            b.fail(bias_expr.span, f"`{bias_expr.id}` is a variable, but the bias must be a "
                   "parameter", "a residual layer is x = x + V @ ACT(...)")
        b_shape = b.params[ref].shape
        if b_shape is not None and out is not None and size_of(b_shape) != out[0]:
            b.error(bias_expr.span, f"the bias `{bias_expr.id}` has {size_of(b_shape)} "
                    f"entries but `{w_text} @ {x_text}` has {out[0]}",
                    f"declare `param {bias_expr.id} : {out[0]}`")
        return ref

    def describe(self, a: Any, x: str) -> str:
        text = f"{a.weight}{'.T' if a.transposed else ''} @ {x}"
        return f"{text} + {a.bias}" if a.bias else text

    def ties(self, a: Any, v_weight: str, v_transposed: bool) -> bool:
        return a.weight == v_weight and v_transposed != a.transposed


class DenseLayer(CreatingLayerType, _Matrix):
    """``dense(x, WIDTH)``: a created ``WIDTH × size(x)`` weight and ``WIDTH`` bias, PyTorch's
    ``Linear`` initialisation, or ``init = load("f.npz")``."""

    name: ClassVar[str] = "dense"
    call: ClassVar[str | None] = "dense"
    usage: ClassVar[str] = "`dense(x, WIDTH)`"

    def read(self, b: Any, call: tree.Call, target: str) -> Affine:
        x, width, kws = self.arguments(b, call)
        x_shape = b.shape_of_var(x)
        fan_in = size_of(x_shape) if x_shape is not None else None
        w, bias = self.create(b, target, call, kws, (width, fan_in) if fan_in else None, width,
                              fan_in)
        return Affine("dense", x, w, False, bias, x_shape, (width,), call.span)  # type: ignore[arg-type]

    def describe(self, a: Any, x: str) -> str:
        return f"dense({x}, {a.out_shape[0]})"
