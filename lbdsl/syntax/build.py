"""The lark Transformer: a parse tree of ``grammar/lbn.lark`` → the frozen :mod:`.tree` dataclasses.

It only *builds*: every node gets its source span, literals are decoded, and the few checks that
belong to the syntax (a shape is positive integers, a repeat count is a positive integer, keyword
arguments come after positional ones and are not repeated, string escapes are known) are
collected as diagnostics rather than raised, so that one pass reports all of them.
"""

from __future__ import annotations

import math
import re

from lark import Token, Transformer_NonRecursive, Tree, v_args
from lark.tree import Meta

from ..errors import Diagnostic, SourceSpan, SpecError
from ..limits import MAX_MAGNITUDE
from .tree import (
    Assign, Attr, BinOp, Call, Expr, InputDecl, Keyword, ListLit, Module, Name, Neg, Network,
    Number, Output, ParamDecl, Repeat, Setting, Shape, String, Task,
)

__all__ = ["build_module"]

_INTEGER = re.compile(r"[0-9]+")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_SHAPE_HINT = "a shape is positive integers joined by `x`, like `64x64`, `1x28x28` or `784`"


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def build_module(parse_tree: Tree, source: str, file: str) -> Module:
    """The :class:`Module` for a lark parse tree; a :class:`SpecError` if a syntax check fails."""
    builder = _Builder(file)
    items = builder.transform(parse_tree)
    if builder.diagnostics:
        raise SpecError(builder.diagnostics, source)
    networks = tuple(item for item in items if isinstance(item, Network))
    tasks = tuple(item for item in items if isinstance(item, Task))
    return Module(file, source, networks, tasks)


#: keyword arguments whose ``HxW`` value may have a zero (a padding of one axis only)
_MAY_BE_ZERO = ("padding", "output_padding")


@v_args(meta=True)
class _Builder(Transformer_NonRecursive):
    """Rule callbacks take ``(meta, children)``; token callbacks (``NAME`` …) take the token."""

    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=True)
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    # --- helpers ---------------------------------------------------------------------------

    def _span(self, meta: Meta) -> SourceSpan:
        return SourceSpan(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _token_span(self, token: Token) -> SourceSpan:
        return SourceSpan(self.file, token.line, token.column, token.end_line, token.end_column)

    def _error(self, span: SourceSpan, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(span, message, hint))

    def _positive_int(self, number: Number, what: str, hint: str) -> int:
        """``number`` as a positive int, or a recorded diagnostic (and 1)."""
        if isinstance(number.value, int) and number.value > 0:
            return number.value
        self._error(number.span, f"{what} must be a positive integer, not `{_clip(number.text)}`", hint)
        return 1

    # --- tokens ----------------------------------------------------------------------------

    def NAME(self, token: Token) -> Name:
        return Name(str(token), self._token_span(token))

    def NUMBER(self, token: Token) -> Number:
        text = str(token)
        span = self._token_span(token)
        # float() first: int() of a few thousand digits is refused by Python, and slow before
        magnitude = float(text)
        if not magnitude <= MAX_MAGNITUDE:
            self._error(span, f"number `{_clip(text)}` is out of range: a spec's numbers are at "
                              f"most {MAX_MAGNITUDE:.0e} in magnitude",
                        "lbdsl squares and multiplies them in float64 (at most about 1.8e308); "
                        "rescale the problem")
            return Number(1, text, span)   # reported once: no second complaint downstream
        value: int | float = int(text) if _INTEGER.fullmatch(text) else magnitude
        return Number(value, text, span)

    def SHAPE(self, token: Token) -> Shape:
        span = self._token_span(token)
        parts = str(token).split("x")
        if any(len(part) > 12 for part in parts):   # far beyond every size limit
            self._error(span, f"shape `{_clip(str(token))}` is out of range", _SHAPE_HINT)
            return Shape((1,), span)
        dims = tuple(int(part) for part in parts)
        if 0 in dims:
            self._error(span, f"shape `{token}` has a zero dimension", _SHAPE_HINT)
        return Shape(dims, span)

    def STRING(self, token: Token) -> String:
        return String(self._unescape(token), self._token_span(token))

    def _unescape(self, token: Token) -> str:
        """The text between the quotes with ``\\" \\\\ \\n \\t`` decoded; others are errors."""
        body = str(token)[1:-1]
        out: list[str] = []
        k = 0
        while k < len(body):
            char = body[k]
            if char != "\\":
                out.append(char)
                k += 1
                continue
            escaped = body[k + 1]
            if escaped in _ESCAPES:
                out.append(_ESCAPES[escaped])
            else:
                column = token.column + 1 + k
                span = SourceSpan(self.file, token.line, column, token.line, column + 2)
                self._error(span, f"unknown escape `\\{escaped}` in a string",
                            "known escapes are \\\" \\\\ \\n \\t; write paths with `/`")
                out.append(escaped)
            k += 2
        return "".join(out)

    # --- file, networks, statements ------------------------------------------------------------

    def start(self, meta: Meta, items: list) -> list:
        return items

    def network(self, meta: Meta, children: list) -> Network:
        name, *body = children
        return Network(name, tuple(body), self._span(meta))

    def input_decl(self, meta: Meta, children: list) -> InputDecl:
        name, shape = children
        return InputDecl(name, shape, self._span(meta))

    def param_decl(self, meta: Meta, children: list) -> ParamDecl:
        name, shape, init = children
        return ParamDecl(name, shape, init, self._span(meta))

    def shape_spec(self, meta: Meta, children: list) -> Shape:
        (value,) = children
        if isinstance(value, Shape):
            return value
        size = self._positive_int(value, "a one-dimensional shape", _SHAPE_HINT)
        return Shape((size,), value.span)

    def assign(self, meta: Meta, children: list) -> Assign:
        target, value = children
        return Assign(target, value, self._span(meta))

    def repeat(self, meta: Meta, children: list) -> Repeat:
        count, *body = children
        self._positive_int(count, "a repeat count", "write `repeat N { ... }` with N ≥ 1")
        return Repeat(count, tuple(body), self._span(meta))

    def output(self, meta: Meta, children: list) -> Output:
        (name,) = children
        return Output(name, self._span(meta))

    # --- tasks -------------------------------------------------------------------------------

    def task(self, meta: Meta, children: list) -> Task:
        kind, network, *settings = children
        return Task(str(kind), network, tuple(settings), self._span(meta))

    def setting(self, meta: Meta, children: list) -> Setting:
        key, value = children
        return Setting(key, value, self._span(meta))

    # --- expressions ---------------------------------------------------------------------------

    def binop(self, meta: Meta, children: list) -> BinOp:
        left, op, right = children
        return BinOp(str(op), left, right, self._span(meta), self._token_span(op))

    def neg(self, meta: Meta, children: list) -> Expr:
        _minus, operand = children
        span = self._span(meta)
        # Fold `-3` (not `-(3)`, whose span ends after the parenthesis, nor `--3`).
        if (isinstance(operand, Number) and not operand.text.startswith("-")
                and (operand.span.end_line, operand.span.end_column)
                == (span.end_line, span.end_column)):
            return Number(-operand.value, "-" + operand.text, span)
        return Neg(operand, span)

    def attr(self, meta: Meta, children: list) -> Attr:
        value, name = children
        return Attr(value, name.id, self._span(meta))

    def call(self, meta: Meta, children: list) -> Call:
        func, *arguments = children
        args: list[Expr] = []
        kwargs: list[Keyword] = []
        seen: set[str] = set()
        for argument in arguments:
            if isinstance(argument, Keyword):
                if argument.name in seen:
                    self._error(argument.span, f"keyword argument `{argument.name}` is repeated",
                                f"give `{argument.name}` once")
                seen.add(argument.name)
                kwargs.append(argument)
            else:
                if kwargs:
                    self._error(argument.span, "positional argument after a keyword argument",
                                f"write positional arguments first: "
                                f"`{func.id}(x, ..., key = value)`")
                args.append(argument)
        return Call(func.id, tuple(args), tuple(kwargs), self._span(meta), func.span)

    def keyword(self, meta: Meta, children: list) -> Keyword:
        name, value = children
        if name.id in _MAY_BE_ZERO and isinstance(value, Shape):
            # a padding per axis may be zero on one (`padding = 1x0`): the layer checks it
            self.diagnostics = [d for d in self.diagnostics if d.span != value.span]
        return Keyword(name.id, value, self._span(meta))

    def list_literal(self, meta: Meta, items: list) -> ListLit:
        return ListLit(tuple(items), self._span(meta))

    def paren(self, meta: Meta, children: list) -> Expr:
        (inner,) = children
        return inner

