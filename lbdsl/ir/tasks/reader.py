"""Reading task values out of syntax-tree expressions, with errors that point at the culprit.

A reader takes an expression and a label for messages (``"`tol`"``) and returns a plain Python
value, or raises :class:`Invalid` carrying one or more diagnostics.  :func:`bind` matches a call's
arguments against a small signature the way Python does (positional, then keywords), reporting
every bad argument of the call at once.  Nothing here knows which task a value belongs to.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ...errors import Diagnostic, SourceSpan
from ...options import options
from ...syntax import tree
from ..params import literal_number

__all__ = [
    "Invalid", "fail", "show", "suggest", "number", "positive", "nonnegative", "integer",
    "string", "choice", "boolean", "shape", "numeric_value", "Arg", "REQUIRED", "bind",
    "terms_of_sum", "sum_terms", "split_weight", "named_call", "DOMAIN_READERS", "option_args",
]


class Invalid(Exception):
    """One setting (or one call) could not be read; ``diagnostics`` says why, all of it."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


def fail(span: SourceSpan | None, message: str, hint: str | None = None) -> NoReturn:
    """Abandon the value being read with a single diagnostic."""
    raise Invalid([Diagnostic(span, message, hint)])


# --- messages --------------------------------------------------------------------------------

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "@": 3}


def show(expr: tree.Expr, limit: int = 48) -> str:
    """The expression written back as source (for ``got `...``` in messages), shortened."""
    text = _show(expr, 0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(expr: Any, outer: int) -> str:
    if isinstance(expr, tree.Number):
        return expr.text
    if isinstance(expr, tree.String):
        escaped = expr.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(expr, tree.Name):
        return expr.id
    if isinstance(expr, tree.Shape):
        return "x".join(str(d) for d in expr.dims)
    if isinstance(expr, tree.ListLit):
        return "[" + ", ".join(_show(item, 0) for item in expr.items) + "]"
    if isinstance(expr, tree.Call):
        parts = [_show(a, 0) for a in expr.args]
        parts += [f"{k.name} = {_show(k.value, 0)}" for k in expr.kwargs]
        return f"{expr.func}({', '.join(parts)})"
    if isinstance(expr, tree.BinOp):
        level = _PRECEDENCE.get(expr.op, 1)
        text = f"{_show(expr.left, level)} {expr.op} {_show(expr.right, level + 1)}"
        return f"({text})" if level < outer else text
    if isinstance(expr, tree.Neg):
        return "-" + _show(expr.operand, 4)
    if isinstance(expr, tree.Attr):
        return f"{_show(expr.value, 5)}.{expr.attr}"
    return str(expr)  # pragma: no cover - every tree node is handled above


def named_call(expr: tree.Expr, what: str, known: Iterable[str], noun: str,
               example: str) -> tree.Call:
    """``expr`` as a call of one of ``known`` (a bare name is a call without arguments); else
    an error at it, with the closest name."""
    known = list(known)
    if isinstance(expr, tree.Name):
        expr = tree.Call(expr.id, (), (), expr.span, expr.span)
    if not isinstance(expr, tree.Call):
        fail(expr.span, f"{what} must be {example}, got `{show(expr)}`",
             f"{noun}s: {', '.join(known)}")
    if expr.func not in known:
        fail(expr.func_span, f"unknown {noun} `{expr.func}`",
             suggest(expr.func, known, noun=f"{noun}s"))
    return expr


def suggest(word: str, candidates: Iterable[str], *, noun: str = "") -> str:
    """``did you mean `x`?`` when something is close, else the list of what is allowed."""
    pool = sorted(set(candidates))
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if match:
        return f"did you mean `{match[0]}`?"
    listing = ", ".join(f"`{c}`" for c in pool)
    return f"{noun or 'choices'}: {listing}" if pool else ""


# --- scalar readers --------------------------------------------------------------------------

def numeric_value(expr: tree.Expr) -> float | int | None:
    """The value of a numeric literal (also ``-x`` and products of literals), else None."""
    return literal_number(expr, products=True)


def bounded(expr: tree.Expr, what: str, ok: Callable[[float], bool], need: str,
            hint: str | None = None) -> float:
    """A finite number for which ``ok`` holds, else ``{what} must {need}, got `…```."""
    value = numeric_value(expr)
    if value is None or not math.isfinite(value) or not ok(value):
        fail(expr.span, f"{what} must {need}, got `{show(expr)}`", hint)
    return float(value)


def number(expr: tree.Expr, what: str) -> float:
    """Any finite number."""
    value = numeric_value(expr)
    if value is None or isinstance(value, bool):
        fail(expr.span, f"{what} must be a number, got `{show(expr)}`")
    if not math.isfinite(value):
        fail(expr.span, f"{what} must be a finite number, got `{show(expr)}`")
    return float(value)


def positive(expr: tree.Expr, what: str) -> float:
    """A number > 0."""
    return bounded(expr, what, lambda v: v > 0, "be a positive number")


def weight(expr: tree.Expr, what: str) -> float:
    """λ or ρ: a number in :data:`~.records.WEIGHT_RANGE`."""
    from .records import WEIGHT_RANGE

    lo, hi = WEIGHT_RANGE
    return bounded(expr, what, lambda v: lo <= v <= hi, f"be a number from {lo:g} to {hi:g}")


def nonnegative(expr: tree.Expr, what: str) -> float:
    """A number >= 0."""
    return bounded(expr, what, lambda v: v >= 0, "be a number >= 0")


def integer(expr: tree.Expr, what: str, minimum: int | None = None) -> int:
    """An integer (``1e4`` counts: its value is integral), optionally at least ``minimum``."""
    value = numeric_value(expr)
    need = "an integer" if minimum is None else f"an integer >= {minimum}"
    if value is None or not math.isfinite(value) or value != int(value):
        fail(expr.span, f"{what} must be {need}, got `{show(expr)}`")
    if minimum is not None and value < minimum:
        fail(expr.span, f"{what} must be {need}, got `{show(expr)}`")
    return int(value)


def string(expr: tree.Expr, what: str) -> str:
    """A double-quoted string."""
    if not isinstance(expr, tree.String):
        hint = (f'write it in double quotes: "{expr.id}"' if isinstance(expr, tree.Name)
                else None)
        fail(expr.span, f"{what} must be a string, got `{show(expr)}`", hint)
    return expr.value


def nonempty_string(expr: tree.Expr, what: str, need: str) -> str:
    """A double-quoted string that is not empty (``{what} must {need}``)."""
    text = string(expr, what)
    if not text:
        fail(expr.span, f"{what} must {need}, got an empty string")
    return text


def file_name(expr: tree.Expr, what: str) -> str:
    """A file's path (relative to the spec file)."""
    return nonempty_string(expr, what, "be a file name")


def choice(expr: tree.Expr, what: str, choices: Sequence[str], *, noun: str = "name",
           quoted: bool = False) -> str:
    """One of ``choices``, written as a bare name (or, with ``quoted``, also as a string)."""
    if isinstance(expr, tree.Name) or (quoted and isinstance(expr, tree.String)):
        word = expr.id if isinstance(expr, tree.Name) else expr.value
        if word in choices:
            return word
        fail(expr.span, f"unknown {noun} `{word}`", suggest(word, choices, noun=f"{noun}s"))
    listing = " | ".join(choices)
    fail(expr.span, f"{what} must be one of {listing}, got `{show(expr)}`")


_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")


def boolean(expr: tree.Expr, what: str) -> bool:
    """``true`` / ``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if isinstance(expr, tree.Name):
        if expr.id in _TRUE:
            return True
        if expr.id in _FALSE:
            return False
        fail(expr.span, f"{what} must be true or false, got `{expr.id}`",
             suggest(expr.id, ("true", "false")))
    value = numeric_value(expr)
    if value in (0, 1) and isinstance(expr, tree.Number):
        return bool(value)
    fail(expr.span, f"{what} must be true or false, got `{show(expr)}`")


def shape(expr: tree.Expr, what: str) -> tuple[int, ...]:
    """A shape ``64x64``, or a single positive integer (a 1-D shape)."""
    if isinstance(expr, tree.Shape):
        if any(d < 1 for d in expr.dims):
            fail(expr.span, f"{what} must have positive dimensions, got `{show(expr)}`")
        return tuple(expr.dims)
    value = numeric_value(expr)
    if isinstance(expr, tree.Number) and value is not None and value == int(value) and value >= 1:
        return (int(value),)
    fail(expr.span, f"{what} must be a shape such as 64x64, got `{show(expr)}`")


# --- calls -----------------------------------------------------------------------------------

class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Arg:
    """A parameter of a call form: its name, reader, default, and whether it may be positional."""

    name: str
    read: Callable[[tree.Expr, str], Any]
    default: Any = REQUIRED
    positional: bool = False


@dataclass(frozen=True, slots=True)
class Bound:
    """A call's arguments after :func:`bind`: values (defaults filled in) and given spans."""

    values: Mapping[str, Any]
    spans: Mapping[str, SourceSpan]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def bind(call: tree.Call, params: Sequence[Arg], *, example: str | None = None) -> Bound:
    """Match ``call``'s arguments to ``params``; report every bad one of them together."""
    problems: list[Diagnostic] = []
    given: dict[str, tree.Expr] = {}
    positional = [p for p in params if p.positional]
    for index, arg in enumerate(call.args):
        if index >= len(positional):
            names = ", ".join(p.name for p in positional)
            takes = (f"at most {len(positional)} positional argument"
                     f"{'' if len(positional) == 1 else 's'} ({names})" if positional
                     else "no positional arguments")
            kw = ", ".join(f"{p.name} = …" for p in params if not p.positional)
            problems.append(Diagnostic(arg.span, f"`{call.func}` takes {takes}, got "
                                       f"{len(call.args)}",
                                       f"pass options by name: {call.func}({kw})" if kw
                                       else example))
            break
        given[positional[index].name] = arg
    known = {p.name: p for p in params}
    for kw in call.kwargs:
        if kw.name not in known:
            options = [p.name for p in params]
            hint = suggest(kw.name, options, noun=f"options of `{call.func}`")
            if not options:
                hint = f"`{call.func}` takes no options"
            problems.append(Diagnostic(kw.span, f"`{call.func}` has no option `{kw.name}`", hint))
            continue
        if kw.name in given:
            problems.append(Diagnostic(kw.span, f"`{kw.name}` is given twice in `{call.func}`"))
            continue
        given[kw.name] = kw.value
    values: dict[str, Any] = {}
    spans: dict[str, SourceSpan] = {}
    for p in params:
        if p.name in given:
            expr = given[p.name]
            try:
                values[p.name] = p.read(expr, f"`{p.name}`")
                spans[p.name] = expr.span
            except Invalid as err:
                problems.extend(err.diagnostics)
        elif p.default is REQUIRED:
            problems.append(Diagnostic(call.span, f"`{call.func}` needs `{p.name}`",
                                       f"e.g. {example}" if example else None))
        else:
            values[p.name] = p.default
    if problems:
        raise Invalid(problems)
    return Bound(values, spans)


# --- sums ------------------------------------------------------------------------------------

def terms_of_sum(expr: tree.Expr) -> tuple[list[tree.Expr], list[Diagnostic]]:
    """The terms of ``a + b + c``, and a diagnostic for each ``-`` between terms (weights are
    positive; the subtracted term is still returned, so that its own errors are found too)."""
    if isinstance(expr, tree.BinOp) and expr.op in ("+", "-"):
        left, left_problems = terms_of_sum(expr.left)
        right, right_problems = terms_of_sum(expr.right)
        problems = left_problems + right_problems
        if expr.op == "-":
            problems.append(Diagnostic(expr.op_span, "terms are added with `+`; a term cannot "
                                       "be subtracted", "every weight must be positive"))
        return left + right, problems
    return [expr], []



def read_sum(expr: tree.Expr, what: str, parse: Callable[[tree.Expr], Any],
             key: Callable[[Any], str], hint: str) -> tuple[Any, ...]:
    """The terms of ``a * t1 + t2 + …``, each read by ``parse``; every problem of every term
    reported together, and a term whose ``key`` (how it is named in the message) repeats an
    earlier one's refused (with ``hint``)."""
    parts, problems = terms_of_sum(expr)
    terms: list[Any] = []
    for term in parts:
        try:
            parsed = parse(term)
        except Invalid as err:
            problems.extend(err.diagnostics)
            continue
        if any(key(t) == key(parsed) for t in terms):
            problems.append(Diagnostic(term.span, f"`{key(parsed)}` appears twice in {what}",
                                       hint))
            continue
        terms.append(parsed)
    if problems:
        raise Invalid(problems)
    return tuple(terms)

def sum_terms(expr: tree.Expr) -> list[tree.Expr]:
    """:func:`terms_of_sum`, raising :class:`Invalid` at the first ``-``."""
    terms, problems = terms_of_sum(expr)
    if problems:
        raise Invalid(problems)
    return terms


def split_weight(term: tree.Expr) -> tuple[tree.Expr | None, tree.Expr]:
    """``w * t`` or ``t * w`` → (w, t); a term without a weight → (None, t)."""
    if isinstance(term, tree.BinOp) and term.op == "*":
        if numeric_value(term.left) is not None or isinstance(term.left, tree.Neg):
            return term.left, term.right
        if numeric_value(term.right) is not None or isinstance(term.right, tree.Neg):
            return term.right, term.left
        return term.left, term.right
    return None, term


def count(expr: tree.Expr, what: str) -> int:
    """An integer ≥ 1 (iterations, epochs, batch sizes)."""
    return integer(expr, what, minimum=1)


def unit(expr: tree.Expr, what: str) -> float:
    """A number in [0, 1) (momentum, Adam's betas)."""
    return bounded(expr, what, lambda v: 0 <= v < 1, f"satisfy 0 <= {what.strip('`')} < 1")


#: The reader of each option domain (:mod:`lbdsl.options`).
DOMAIN_READERS: Mapping[str, Callable[[tree.Expr, str], Any]] = {
    "number": number, "positive": positive, "nonnegative": nonnegative, "count": count,
    "unit": unit, "boolean": boolean,
}


def option_args(cls: type, *, positional: bool = False,
                skip: Iterable[str] = ()) -> tuple[Arg, ...]:
    """The :class:`Arg` of each option the dataclass ``cls`` declares (:mod:`lbdsl.options`),
    in field order, each read by its domain's reader; ``positional``: they may be given
    positionally (a regulariser's parameters)."""
    left_out = set(skip)
    return tuple(Arg(o.name, DOMAIN_READERS[o.domain],
                     REQUIRED if o.required else o.default, positional)
                 for o in options(cls) if o.name not in left_out)
