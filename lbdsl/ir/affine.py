"""The affine forms of a layer, read through their layer types (:mod:`.layers`).

A mixin of the network builder (:mod:`.build`): :meth:`AffineForms.affine` hands an expression
to the layer type that writes it (``dense(...)``, ``conv2d(...)`` by their call, ``A @ x`` by
its syntax), and the methods below are what a layer type's reading needs of the builder:
numbers, keywords, and the parameters a creating form plans (PyTorch's default
initialisation, seeded by name).  Errors go through the builder's ``error`` / ``fail``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SourceSpan
from ..syntax import tree
from . import params as init
from .layers import LAYER_TYPES
from .nodes import Affine, Shape

__all__ = ["AffineForms", "PlannedParam", "span_line", "affine_forms"]


def affine_forms() -> str:
    """The affine forms a spec may write, in words (from the layer types)."""
    usages = [t.usage for t in LAYER_TYPES.values() if t.usage]
    return ", ".join(usages[:-1]) + f" or {usages[-1]}"


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
        """``expr`` read by the layer type that writes it."""
        if isinstance(expr, tree.Call) and self.creates(expr.func):
            return LAYER_TYPES[expr.func].read(self, expr, target)
        return LAYER_TYPES["matmul"].read(self, expr, target)

    def matmul(self, mat_expr: tree.Expr, x: str, bias_expr: tree.Expr | None,
               span_expr: tree.Expr, target: str, whole: tree.Expr | None = None) -> Affine:
        """``A @ x (+ b)`` from its parts (the outer map of ``y = A @ ACT(...) + b``)."""
        return LAYER_TYPES["matmul"].build(self, mat_expr, x, bias_expr, span_expr, whole)

    @staticmethod
    def creates(func: str) -> bool:
        """Whether ``func(...)`` is a layer type that creates its parameters (``dense``)."""
        return func in LAYER_TYPES and LAYER_TYPES[func].creates

    @staticmethod
    def affine_forms() -> str:
        return affine_forms()

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
