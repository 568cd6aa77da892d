"""The pre-activation of a layer: a linear expression over earlier variables plus biases.

A mixin of the network builder (:mod:`.build`): :meth:`AffineForms.affine` reads

    LIN  =  TERM ± TERM ± …          TERM  =  [c *] MAP @ LIN  |  [c *] CALL  |  [c *] x  |  b
    MAP  =  A | A.T                  CALL  =  dense(x, 64) | conv2d(LIN, 8, kernel = 3) | …

into an :class:`~lbdsl.ir.nodes.Affine` — terms ``c·(M_1 ∘ ⋯ ∘ M_k)(x)``, a map applied to a
sum distributing over it, and bias parameters — each map by its layer type
(:mod:`.layers`: ``A @`` by the one that takes a parameter of ``A``'s shape, a call by its
name).  The methods below are also what a layer type's reading needs of the builder:
numbers, keywords, and the parameters a creating form plans (PyTorch's default
initialisation, seeded by name).  Errors go through the builder's ``error`` / ``fail``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SourceSpan
from ..syntax import tree
from . import params as init
from .layers import LAYER_TYPES, call_type
from .nodes import Affine, LinearMap, Shape, Term, format_shape, size_of

__all__ = ["AffineForms", "PlannedParam", "span_line", "affine_forms"]


def affine_forms() -> str:
    """The maps a linear expression may apply, in words (from the layer types)."""
    usages = [t.usage for t in LAYER_TYPES.values() if t.usage]
    return ", ".join(usages[:-1]) + f" or {usages[-1]}"


@dataclass
class _Sum:
    """A linear expression being read: its terms, bias parameters, and the source of each
    term for messages."""

    terms: list[Term] = field(default_factory=list)
    biases: list[tuple[str, tree.Expr]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def scaled(self, c: float) -> "_Sum":
        return _Sum([Term(c * t.coef, t.maps, t.input, t.in_shape) for t in self.terms],
                    list(self.biases), list(self.texts))

    def plus(self, other: "_Sum") -> "_Sum":
        return _Sum(self.terms + other.terms, self.biases + other.biases,
                    self.texts + other.texts)


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
        """``expr`` read as a linear expression plus biases (module docstring)."""
        if isinstance(expr, (tree.Number, tree.String, tree.Shape, tree.ListLit)):
            self.fail(expr.span, "this expression is not an affine map",
                      f"an affine map applies {affine_forms()} to variables")
        read = self.linear(expr, target)
        if not read.terms:
            self.fail(expr.span, "this expression reads no variable: a layer needs one",
                      f"an affine map applies {affine_forms()} to variables")
        out = self._common_shape(read, expr)
        seen: set[str] = set()
        for name, bias_expr in read.biases:
            if name in seen:
                self.fail(bias_expr.span, f"the bias `{self.params[name].declared_name}` is "
                          "added twice", "add it once (declare the sum as one bias)")
            seen.add(name)
            self._check_bias(name, bias_expr, out, read.texts[0])
        return Affine(tuple(read.terms), tuple(n for n, _ in read.biases), out, expr.span)

    def linear(self, expr: tree.Expr, target: str) -> _Sum:
        """The terms and biases of ``expr`` (a map applied to a sum distributes over it)."""
        if isinstance(expr, tree.BinOp) and expr.op in "+-":
            right = self.linear(expr.right, target)
            if expr.op == "-":
                right = self._scaled_by(right, -1.0, expr.op_span, "`-`")
            return self.linear(expr.left, target).plus(right)
        if isinstance(expr, tree.Neg):
            return self._scaled_by(self.linear(expr.operand, target), -1.0, expr.span, "`-`")
        if isinstance(expr, tree.BinOp) and expr.op == "*":
            return self._scaled(expr, target)
        if isinstance(expr, tree.BinOp) and expr.op == "@":
            return self._applied(expr, target)
        if isinstance(expr, tree.Call):
            return self._call(expr, target)
        if isinstance(expr, tree.Number):
            self.fail(expr.span, "a number is not a term of a linear expression",
                      "a number scales a term (2 * x); a constant offset is a bias parameter "
                      "(param c : N = ones, or a list)")
        if isinstance(expr, tree.Attr):
            self.fail(expr.span, f"`{self._text(expr)}` is a map: apply it with `@`",
                      f"e.g. {self._text(expr)} @ x")
        if isinstance(expr, tree.Name):
            kind, ref = self.lookup(expr)
            if kind == "param":
                return _Sum(biases=[(ref, expr)])
            shape = self.shape_of_var(ref)
            return _Sum([Term(1.0, (), ref, shape)], texts=[self.display(ref)])  # type: ignore[arg-type]
        self.fail(expr.span, "this expression is not an affine map",
                  f"an affine map applies {affine_forms()} to variables")

    def _scaled(self, expr: tree.BinOp, target: str) -> _Sum:
        """``c * LIN`` or ``LIN * c`` with ``c`` a number."""
        for number, rest in ((expr.left, expr.right), (expr.right, expr.left)):
            c = init.literal_number(number)
            if c is not None:
                return self._scaled_by(self.linear(rest, target), float(c), expr.span, "`*`")
        self.fail(expr.op_span, "`*` scales a linear expression by a number",
                  "e.g. 0.1 * L @ x; a matrix is applied with `@`")

    def _scaled_by(self, read: _Sum, c: float, where: SourceSpan, how: str) -> _Sum:
        """``c · read``: the terms scaled; a bias is added as it is — a scaled or subtracted
        one is refused (declare it with its values), as is a created call's (which carries
        its bias)."""
        if read.biases and c != 1.0:
            name, expr = read.biases[0]
            if isinstance(expr, tree.Call):
                self.fail(where, f"`{expr.func}(...)` adds its bias, which {how} does not "
                          "scale", "scale a map without a bias: a declared matrix "
                          "(0.5 * W @ x) or kernel (0.5 * conv_t(K, x, ...))")
            label = self.params[name].declared_name
            self.fail(where, f"the bias `{label}` is added as it is, not scaled or subtracted",
                      "declare it with the values to add (its negation for `- b`)")
        return read.scaled(c)

    def _applied(self, expr: tree.BinOp, target: str) -> _Sum:
        """``A @ LIN`` (``A.T @ LIN``): the map of the layer type that takes ``A``."""
        if isinstance(expr.right, tree.Call) and not self.is_map(expr.right.func):
            self.fail(expr.right.span, "an activation cannot be nested inside another "
                      "layer's affine map", "give the inner layer a name of its own: "
                      "h = relu(W @ x); y = tanh(A @ h)")
        if isinstance(expr.left, tree.Neg):
            a = self._text(expr.left.operand)
            self.fail(expr.left.span, f"`-{a} @ x` reads as `(-{a}) @ x`, and `-{a}` is not a "
                      "map", f"write -({a} @ x) or -1 * {a} @ x")
        w, transposed = self.param_ref(expr.left, "the left of `@`")
        inner = self.linear(expr.right, target)
        if not inner.terms:
            if isinstance(expr.right, tree.Name):
                self.fail(expr.right.span, f"`{expr.right.id}` is a parameter, but the right "
                          "of `@` must be a variable (the input or a layer's output)")
            self.fail(expr.right.span, "the right of `@` must be a variable or a linear "
                      "expression of variables", f"an affine map applies {affine_forms()}")
        if inner.biases:
            name, where = inner.biases[0]
            what = f"`{self._text(where)}` adds its bias" if isinstance(where, tree.Call) \
                else f"the bias `{self.params[name].declared_name}` is"
            self.fail(where.span, f"{what} inside the map `{self._text(expr.left)} @`",
                      "a map applies to variables: add a bias outside it (A @ x + b), or "
                      "name the inner layer (h = dense(x, 8)) or put an activation around it "
                      "(V @ relu(dense(x, 8)))")
        in_shape = self._common_shape(inner, expr.right)
        kind = self._at_kind(w, expr.left)
        m = LAYER_TYPES[kind].read_at(self, w, transposed, in_shape, expr, expr.left,
                                      self._text(expr.right, inner))
        return self._mapped(inner, m, f"{self._text(expr.left)} @ {self._text(expr.right, inner)}")

    def _call(self, call: tree.Call, target: str) -> _Sum:
        """A layer type's call form (``dense(x, 64)``), applied to its input expression."""
        kind = call_type(call.func)
        if kind is None:
            self.fail(call.span, "an activation cannot be nested inside another layer's "
                      "affine map", "give the inner layer a name of its own: "
                      "h = relu(W @ x); y = tanh(A @ h)")
        position = kind.input_argument
        if len(call.args) <= position:
            self.fail(call.span, f"`{call.func}` needs its input: {kind.usage}")
        inner = self.linear(call.args[position], target)
        if inner.biases or not inner.terms:
            self.fail(call.args[position].span, f"the input of `{call.func}` must be a "
                      "variable or a linear expression of variables")
        in_shape = self._common_shape(inner, call.args[position])
        m, bias = kind.read(self, call, target, in_shape)
        out = self._mapped(inner, m, self._text(call))
        if bias is not None:
            out.biases.append((bias, call))
        return out

    def _mapped(self, inner: _Sum, m: LinearMap, text: str) -> _Sum:
        return _Sum([Term(t.coef, (m, *t.maps), t.input, t.in_shape) for t in inner.terms],
                    texts=[text] * len(inner.terms))

    def _at_kind(self, weight: str, where: tree.Expr) -> str:
        shape = self.params[weight].shape
        for name, kind in LAYER_TYPES.items():
            if kind.applies(shape):
                return name
        self.fail(where.span, f"`{self.params[weight].declared_name}` is "
                  f"{format_shape(shape or ())}, which `@` cannot apply",
                  "a matrix (MxN, or a vector read as a row) or a convolution kernel "
                  "(C_out x C_in x K x K)")

    def _common_shape(self, read: _Sum, where: tree.Expr) -> Shape:
        """The shape the terms share (sizes must agree; the most structured shape wins)."""
        shapes = [t.out_shape for t in read.terms]
        known = [s for s in shapes if s is not None]
        if not known:
            return None  # type: ignore[return-value]
        size = size_of(known[0])
        for shape, text in zip(shapes, read.texts):
            if shape is not None and size_of(shape) != size:
                self.fail(where.span, f"the terms of this sum differ in size: `{read.texts[0]}` "
                          f"has {size} entries, `{text}` {size_of(shape)}",
                          "every term of a layer's pre-activation maps to the same shape")
        shaped = {s for s in known if len(s) > 1}     # a vector fits any shape of its size
        if len(shaped) > 1:
            a, b = sorted(shaped)[:2]
            self.fail(where.span, f"the terms of this sum have different shapes "
                      f"({format_shape(a)} and {format_shape(b)})",
                      "a sum's terms are the same image (or vectors of its size)")
        return max(known, key=len)

    def _check_bias(self, name: str, expr: tree.Expr, out: Shape | None, text: str) -> None:
        """A bias has ``size(out)`` entries, or one per output channel of an image."""
        shape = self.params[name].shape
        if shape is None or out is None:
            return
        n = size_of(shape)
        if n != size_of(out) and not (len(out) == 3 and n == out[0]):
            label = self.params[name].declared_name
            need = size_of(out) if len(out) != 3 else f"{size_of(out)} (or {out[0]}, one a channel)"
            self.error(expr.span, f"the bias `{label}` has {n} entries but `{text}` has "
                       f"{size_of(out)}", f"declare `param {label} : {need}`")

    def _text(self, expr: tree.Expr, read: _Sum | None = None) -> str:
        """How a spec wrote ``expr`` (for messages): a name, ``A.T``, or the first term's."""
        if isinstance(expr, tree.Name):
            return expr.id
        if isinstance(expr, tree.Attr) and isinstance(expr.value, tree.Name):
            return f"{expr.value.id}.{expr.attr}"
        if isinstance(expr, tree.Call):
            return f"{expr.func}(...)"
        return read.texts[0] if read is not None and read.texts else "(...)"

    def matmul(self, mat_expr: tree.Expr, x: str, bias_expr: tree.Expr | None,
               span_expr: tree.Expr, target: str, whole: tree.Expr | None = None) -> Affine:
        """``A @ x (+ b)`` from its parts (the outer map of ``y = A @ ACT(...) + b``)."""
        w, transposed = self.param_ref(mat_expr, "the left of `@`")
        if self._at_kind(w, mat_expr) != "matmul":
            self.fail(mat_expr.span, f"`{self.params[w].declared_name}` is "
                      f"{format_shape(self.params[w].shape or ())}, but the outer map of "
                      "`y = A @ ACT(...)` is a matrix", "a kernel applies inside the "
                      "activation's argument, or as a layer of its own")
        shape = self.shape_of_var(x)
        m = LAYER_TYPES["matmul"].read_at(self, w, transposed, shape, span_expr, mat_expr,
                                          self.display(x))
        biases: tuple[str, ...] = ()
        if bias_expr is not None:
            if not isinstance(bias_expr, tree.Name) or self.lookup(bias_expr)[0] != "param":
                self.fail(bias_expr.span, "the bias must be a parameter name",
                          f"an affine map applies {affine_forms()}")
            b = self.lookup(bias_expr)[1]
            self._check_bias(b, bias_expr, m.out_shape, f"{self._text(mat_expr)} @ "
                             f"{self.display(x)}")
            biases = (b,)
        return Affine((Term(1.0, (m,), x, shape),), biases, m.out_shape,  # type: ignore[arg-type]
                      (whole or span_expr).span)

    @staticmethod
    def is_map(func: str) -> bool:
        """Whether ``func(...)`` writes a map (``dense``, ``conv_t``), not an activation."""
        return call_type(func) is not None

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

    def keywords(self, call: tree.Call, allowed: tuple[str, ...], usage: str,
                 ) -> dict[str, tree.Keyword]:
        kws: dict[str, tree.Keyword] = {}
        for kw in call.kwargs:
            if kw.name not in allowed:
                self.fail(kw.span, f"`{call.func}` has no argument `{kw.name}`", f"write {usage}")
            if kw.name in kws:
                self.fail(kw.span, f"`{kw.name}` is given twice")
            kws[kw.name] = kw
        return kws
