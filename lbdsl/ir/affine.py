"""The affine forms of a layer: ``A @ x (+ b)``, ``A.T @ x (+ b)``, ``dense``, ``conv2d``.

A mixin of the network builder (:mod:`.build`): each method reads one form from the syntax
tree, resolves its names, infers its output shape, plans the parameters ``dense`` and
``conv2d`` create (PyTorch's default initialisation, seeded by name), and returns an
:class:`~lbdsl.ir.nodes.Affine`.  Errors go through the builder's ``error`` / ``fail``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SourceSpan
from ..ops.conv import conv2d_output_shape
from ..syntax import tree
from . import params as init
from .nodes import Affine, Shape, format_shape, size_of

__all__ = ["AFFINE_FORMS", "CREATING", "AffineForms", "PlannedParam", "span_line"]

AFFINE_FORMS = ("`A @ x`, `A @ x + b`, `A.T @ x`, `A.T @ x + b`, `dense(x, WIDTH)` or "
                "`conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)`")

#: the affine forms that create their own parameters
CREATING = ("dense", "conv2d")


@dataclass
class PlannedParam:
    """A parameter known by name and shape, initialised only once the whole network checks."""

    name: str                    # final name
    declared_name: str
    shape: Shape | None
    plan: init.InitPlan | None   # None: its declaration failed
    span: SourceSpan | None
    created: bool


def span_line(span: SourceSpan | None) -> int:
    return span.line if span is not None else 0


class AffineForms:
    """The builder's methods for pre-activations (mixed into ``_NetworkBuilder``)."""


    def affine(self, expr: tree.Expr, target: str) -> Affine:
        if isinstance(expr, tree.Call) and expr.func == "dense":
            return self.dense(expr, target)
        if isinstance(expr, tree.Call) and expr.func == "conv2d":
            return self.conv2d(expr, target)
        bias = None
        mat = expr
        if isinstance(expr, tree.BinOp) and expr.op == "+":
            if isinstance(expr.left, tree.BinOp) and expr.left.op == "@":
                mat, bias = expr.left, expr.right
            elif isinstance(expr.right, tree.BinOp) and expr.right.op == "@":
                mat, bias = expr.right, expr.left
        if not (isinstance(mat, tree.BinOp) and mat.op == "@"):
            what = "a call" if isinstance(expr, tree.Call) else "this expression"
            self.fail(expr.span, f"{what} is not an affine map",
                      f"an affine map is {AFFINE_FORMS}")
        if isinstance(mat.right, tree.Call) and mat.right.func not in CREATING:
            self.fail(mat.right.span, "an activation cannot be nested inside another layer's "
                      "affine map", "give the inner layer a name of its own: "
                      "h = relu(W @ x); y = tanh(A @ h)")
        if not isinstance(mat.right, tree.Name):
            self.fail(mat.right.span, "the right of `@` must be a variable name",
                      f"an affine map is {AFFINE_FORMS}")
        x = self.var_ref(mat.right, "the right of `@`")
        return self.matmul(mat.left, x, bias, mat, target, whole=expr)

    def matmul(self, mat_expr: tree.Expr, x: str, bias_expr: tree.Expr | None,
               span_expr: tree.Expr, target: str, whole: tree.Expr | None = None) -> Affine:
        """``A @ x (+ b)``; ``span_expr`` is the ``@`` (where a mismatch is reported), ``whole``
        the full affine expression."""
        w, transposed = self.param_ref(mat_expr, "the left of `@`")
        w_shape = self.params[w].shape
        x_shape = self.shape_of_var(x)
        w_text = self.params[w].declared_name + (".T" if transposed else "")
        x_text = self.display(x)
        out: Shape | None = None
        if w_shape is not None:
            if len(w_shape) > 2:
                self.fail(mat_expr.span, f"`{w_text}` is {format_shape(w_shape)}, but the left "
                          "of `@` must be a matrix (or a vector, read as a row)",
                          "declare it as MxN")
            rows, cols = (1, w_shape[0]) if len(w_shape) == 1 else w_shape
            m, n = (cols, rows) if transposed else (rows, cols)
            out = (m,)
            if x_shape is not None and size_of(x_shape) != n:
                shown = (f"{size_of(x_shape)} entries (shape {format_shape(x_shape)})"
                         if len(x_shape) > 1 else f"{size_of(x_shape)} entries")
                self.error(span_expr.span, f"`{w_text}` is {m}x{n} but `{x_text}` has {shown}: "
                           f"the inner dimensions of `{w_text} @ {x_text}` must agree",
                           f"`@` multiplies the row-major flattening of `{x_text}`, so `{w_text}` "
                           f"needs {size_of(x_shape)} columns")
        b = None
        if bias_expr is not None:
            if isinstance(bias_expr, tree.Name):
                kind, ref = self.lookup(bias_expr)
                if kind == "var":
                    self.fail(bias_expr.span, f"`{bias_expr.id}` is a variable, but the bias "
                              "must be a parameter", "a residual layer is x = x + V @ ACT(...)")
                b = ref
            else:
                self.fail(bias_expr.span, "the bias must be a parameter name",
                          f"an affine map is {AFFINE_FORMS}")
            b_shape = self.params[b].shape
            if b_shape is not None and out is not None and size_of(b_shape) != out[0]:
                self.error(bias_expr.span, f"the bias `{bias_expr.id}` has {size_of(b_shape)} "
                           f"entries but `{w_text} @ {x_text}` has {out[0]}",
                           f"declare `param {bias_expr.id} : {out[0]}`")
        span = (whole or span_expr).span
        return Affine("matmul", x, w, transposed, b, x_shape, out, span)  # type: ignore[arg-type]

    def positive_int(self, expr: tree.Expr, what: str, least: int = 1) -> int:
        value = init.literal_number(expr)
        if value is None or isinstance(value, float) or value < least:
            need = "a positive integer" if least == 1 else f"an integer >= {least}"
            got = getattr(expr, "text", None) or (str(value) if value is not None else "that")
            self.fail(expr.span, f"{what} must be {need}, got {got}")
        return int(value)

    def created_name(self, target: str, part: str, call: tree.Call) -> str:
        base = f"{target}_{part}{self.suffix()}"
        name, k = base, 2
        while name in self.params and self.params[name].created:
            name, k = f"{base}_{k}", k + 1
        if name in self.params:
            self.fail(call.func_span, f"`{call.func}` creates the parameter `{name}`, but a "
                      f"parameter of that name is declared on line "
                      f"{span_line(self.params[name].span)}",
                      "rename that parameter or this layer's output")
        return name

    def create_param(self, name: str, shape: Shape | None, fan_in: int | None,
                     call: tree.Call, given: tree.Keyword | None = None) -> None:
        """Plan a created weight or bias: PyTorch's default, or the ``init = INIT`` given
        (a keyless ``load("f.npz")`` reads it under its created name, ``x_W`` / ``x_b``)."""
        plan = init.default_init(name, fan_in, call.span) if fan_in else None
        if given is not None and shape is not None:
            try:
                plan = init.plan_init(given.value, shape, name)
            except init.InitError as err:
                d = err.diagnostic
                self.fail(d.span, d.message, d.hint)
        self.params[name] = PlannedParam(name, name, shape, plan, call.span, created=True)

    def _keywords(self, call: tree.Call, allowed: tuple[str, ...], usage: str,
                  ) -> dict[str, tree.Keyword]:
        kws: dict[str, tree.Keyword] = {}
        for kw in call.kwargs:
            if kw.name not in allowed:
                self.fail(kw.span, f"`{call.func}` has no argument `{kw.name}`", f"write {usage}")
            if kw.name in kws:
                self.fail(kw.span, f"`{kw.name}` is given twice")
            kws[kw.name] = kw
        return kws

    def dense(self, call: tree.Call, target: str) -> Affine:
        usage = "dense(x, WIDTH) or dense(x, WIDTH, init = load(\"f.npz\"))"
        if len(call.args) != 2:
            self.fail(call.span, f"`dense` takes two arguments: {usage}")
        kws = self._keywords(call, ("init",), usage)
        x = self.var_ref(call.args[0], "the input of `dense`")
        width = self.positive_int(call.args[1], "the width of `dense`")
        x_shape = self.shape_of_var(x)
        w = self.created_name(target, "W", call)
        b = self.created_name(target, "b", call)
        fan_in = size_of(x_shape) if x_shape is not None else None
        self.create_param(w, (width, fan_in) if fan_in else None, fan_in, call, kws.get("init"))
        self.create_param(b, (width,), fan_in, call, kws.get("init"))
        return Affine("dense", x, w, False, b, x_shape, (width,), call.span)  # type: ignore[arg-type]

    def conv2d(self, call: tree.Call, target: str) -> Affine:
        usage = "conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)"
        if len(call.args) != 2:
            self.fail(call.span, f"`conv2d` takes two positional arguments: {usage}")
        kws = self._keywords(call, ("kernel", "stride", "padding", "init"), usage)
        if "kernel" not in kws:
            self.fail(call.span, "`conv2d` needs `kernel = K`", f"write {usage}")
        x = self.var_ref(call.args[0], "the input of `conv2d`")
        channels = self.positive_int(call.args[1], "the channel count of `conv2d`")
        kexpr = kws["kernel"].value
        if isinstance(kexpr, tree.Shape):
            if len(kexpr.dims) != 2 or min(kexpr.dims) < 1:
                self.fail(kexpr.span, "a conv2d kernel is K or KHxKW with positive sizes")
            kernel = (int(kexpr.dims[0]), int(kexpr.dims[1]))
        else:
            k = self.positive_int(kexpr, "the kernel size of `conv2d`")
            kernel = (k, k)
        stride = (self.positive_int(kws["stride"].value, "the stride of `conv2d`")
                  if "stride" in kws else 1)
        padding = (self.positive_int(kws["padding"].value, "the padding of `conv2d`", least=0)
                   if "padding" in kws else 0)
        x_shape = self.shape_of_var(x)
        in_shape: Shape | None = None
        out: Shape | None = None
        if x_shape is not None:
            if len(x_shape) == 2:
                in_shape = (1, *x_shape)
            elif len(x_shape) == 3:
                in_shape = x_shape
            else:
                self.fail(call.args[0].span, f"`{self.display(x)}` is {format_shape(x_shape)}, "
                          "but conv2d needs an image CxHxW (or HxW, one channel)",
                          "declare the input with its image shape, e.g. 1x28x28")
            try:
                ho, wo = conv2d_output_shape(in_shape[1], in_shape[2], kernel, stride, padding)
            except ValueError:
                span = kws["kernel"].span
                self.fail(span, f"the {kernel[0]}x{kernel[1]} kernel is larger than "
                          f"`{self.display(x)}` ({in_shape[1]}x{in_shape[2]}) padded by "
                          f"{padding} ({in_shape[1] + 2 * padding}x"
                          f"{in_shape[2] + 2 * padding})",
                          "use a smaller kernel or more padding")
            out = (channels, ho, wo)
        w = self.created_name(target, "W", call)
        b = self.created_name(target, "b", call)
        fan_in = in_shape[0] * kernel[0] * kernel[1] if in_shape is not None else None
        self.create_param(w, (channels, in_shape[0], *kernel) if in_shape else None,
                          fan_in, call, kws.get("init"))
        self.create_param(b, (channels,), fan_in, call, kws.get("init"))
        return Affine("conv2d", x, w, False, b, in_shape, out, call.span,  # type: ignore[arg-type]
                      kernel=kernel, stride=stride, padding=padding)
