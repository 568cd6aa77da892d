"""Helpers for the task tests: a small network, and a task body parsed with the real parser."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lbdsl.errors import SpecError
from lbdsl.syntax import tree
from lbdsl.syntax.parser import parse

#: A network for every task test; its task starts on line NET_LINES + 1, its first setting on
#: line NET_LINES + 2, column 5.
NET = """network net {
    input  u  : 8x8
    param  W  : 16x64 = normal(std = 1, seed = 0)
    param  b  : 16    = zeros
    param  V  : 8x16  = normal(std = 1, seed = 1)
    z1 = relu(W @ u + b)
    z3 = V @ z1
    output z3
}
"""
NET_LINES = NET.count("\n")
FIRST = NET_LINES + 2

#: The variables of ``net`` as a mapping display name → shape (what the IR reports).
VARIABLES = {"u": (8, 8), "z1": (16,), "z3": (8,)}


def source_of(body: str, kind: str = "invert", network: str = "net") -> str:
    """A file with ``NET`` and one task whose settings are ``body`` (one per line, indented)."""
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return NET + f"{kind} {network} {{\n{lines}\n}}\n"


def task_tree(body: str, kind: str = "invert", network: str = "net") -> tree.Task:
    """The syntax tree of the task of :func:`source_of`."""
    return parse(source_of(body, kind, network), "t.lbn").tasks[0]


@dataclass(frozen=True)
class Problem:
    line: int
    column: int
    message: str
    hint: str


def problems(build, *args) -> list[Problem]:
    """The diagnostics of the SpecError ``build(*args)`` must raise."""
    with pytest.raises(SpecError) as info:
        build(*args)
    return [Problem(d.span.line if d.span else 0, d.span.column if d.span else 0, d.message,
                    d.hint or "") for d in info.value.diagnostics]


def unspanned(obj):
    """``obj`` with every ``span`` / ``spans`` / ``*_span`` field emptied, recursively: for
    comparing a built value with an expected one written by hand."""
    import dataclasses
    from types import MappingProxyType

    if isinstance(obj, tuple):
        return tuple(unspanned(x) for x in obj)
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name == "spans":
            changes[f.name] = MappingProxyType({})
        elif f.name == "span" or f.name.endswith("_span"):
            changes[f.name] = None
        else:
            changes[f.name] = unspanned(value)
    return dataclasses.replace(obj, **changes)
