"""The syntax tree of a ``.lbn`` file: frozen dataclasses, each carrying its source span.

The parser only *builds* these; it evaluates nothing.  Meaning (which call is an activation,
which sum is a residual layer, what a shape is) is given by the IR builder.  Expressions are
one small generic language shared by networks and tasks:

    expr := Number | String | Name | Shape | ListLit | Call | BinOp | Neg | Attr

with precedence ``+ -`` < ``*`` < ``@`` < unary ``-`` < postfix (``.T``, calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..errors import SourceSpan

__all__ = [
    "Number", "String", "Name", "Shape", "ListLit", "Keyword", "Call", "BinOp", "Neg", "Attr",
    "Expr", "InputDecl", "ParamDecl", "Assign", "Repeat", "Output", "Statement", "Network",
    "Setting", "Task", "Module",
]


# --- expressions -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Number:
    """A numeric literal; ``text`` is the source spelling (``1e-4``), ``value`` its value."""

    value: int | float
    text: str
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class String:
    """A double-quoted string literal, unescaped."""

    value: str
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier: a variable, a parameter, an activation or a bare setting (``bregman``)."""

    id: str
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Shape:
    """A shape literal ``64x64`` (an integer alone, where a shape is expected, is a Number)."""

    dims: tuple[int, ...]
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class ListLit:
    """``[1, 2, 3]`` (may nest: ``[[1, 0], [0, 1]]``)."""

    items: tuple["Expr", ...]
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Keyword:
    """``name = value`` inside a call."""

    name: str
    value: "Expr"
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Call:
    """``func(args..., key = value, ...)``; ``func_span`` locates the callee's name."""

    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]
    span: SourceSpan
    func_span: SourceSpan


@dataclass(frozen=True, slots=True)
class BinOp:
    """``left OP right`` with ``op`` one of ``+ - * @``; ``op_span`` locates the operator."""

    op: str
    left: "Expr"
    right: "Expr"
    span: SourceSpan
    op_span: SourceSpan


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus ``-x`` (a negative numeric literal is folded into a Number)."""

    operand: "Expr"
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Attr:
    """``value.attr`` — in practice ``W.T``, the transpose."""

    value: "Expr"
    attr: str
    span: SourceSpan


Expr = Union[Number, String, Name, Shape, ListLit, Call, BinOp, Neg, Attr]


# --- network statements ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InputDecl:
    """``input NAME : SHAPE``."""

    name: Name
    shape: Shape
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """``param NAME : SHAPE = INIT``; INIT is a Call (``normal(...)``), Name (``zeros``) or ListLit."""

    name: Name
    shape: Shape
    init: Expr
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Assign:
    """``NAME = EXPR``: a lifted layer, a linear layer or a residual layer (decided by the IR)."""

    target: Name
    value: Expr
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Repeat:
    """``repeat N { body }``; ``count`` is a Number so that its span is known."""

    count: Number
    body: tuple["Statement", ...]
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Output:
    """``output NAME``."""

    name: Name
    span: SourceSpan


Statement = Union[InputDecl, ParamDecl, Assign, Repeat, Output]


@dataclass(frozen=True, slots=True)
class Network:
    """``network NAME { statements }``."""

    name: Name
    body: tuple[Statement, ...]
    span: SourceSpan


# --- tasks -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Setting:
    """``key = value`` inside a task."""

    key: Name
    value: Expr
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Task:
    """``invert NET { ... }``, ``train NET { ... }`` or ``check NET { ... }``."""

    kind: str
    network: Name
    settings: tuple[Setting, ...]
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Module:
    """A whole ``.lbn`` file: its networks and tasks in source order, and the text they came from."""

    file: str
    source: str
    networks: tuple[Network, ...]
    tasks: tuple[Task, ...]
