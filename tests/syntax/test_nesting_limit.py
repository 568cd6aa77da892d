"""The nesting limit: the deepest expression the parser accepts goes through every later
stage (all recursive over expressions) without a RecursionError, and one level more is a spec
error with a caret, never a traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import lbdsl
from lbdsl.errors import SpecError
from lbdsl.syntax.parser import MAX_NESTING, parse

NET = """network p {{
    input u : 1
    param W : 1x1 = {init}
    h = relu({pre})
    output h
}}
invert p {{
    truth = linspace(0.1, 1)
    data = forward(truth)
    figures = false
    solver = pdhg(max_iter = 3)
}}
"""

KINDS: dict[str, Callable[[int], str]] = {
    "negation": lambda n: NET.format(init="eye", pre="-" * n + "(W @ u)"),
    "sum": lambda n: NET.format(init="eye", pre=" + ".join(["W @ u"] * n)),
    "repeat": lambda n: NET.format(init="eye", pre="W @ u").replace(
        "    h = relu(W @ u)\n", "repeat 1 {\n" * n + "    h = relu(W @ u)\n" + "}\n" * n),
    "parentheses": lambda n: NET.format(init="eye", pre="(" * n + "W @ u" + ")" * n),
}


def _deepest(make: Callable[[int], str]) -> int:
    """The largest n whose spec parses (the limit is near MAX_NESTING for every kind)."""
    for n in range(MAX_NESTING + 10, 0, -1):
        try:
            parse(make(n))
            return n
        except SpecError as err:
            assert "nests more than" in str(err), str(err)
    raise AssertionError("nothing parses")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_deepest_accepted_spec_runs_and_one_more_is_refused(kind: str, tmp_path) -> None:
    make = KINDS[kind]
    n = _deepest(make)
    assert MAX_NESTING - 3 <= n <= MAX_NESTING   # the template adds at most 3 levels
    spec = lbdsl.loads(make(n))
    spec.check()
    assert "network p" in spec.show()
    [result] = spec.solve(out=tmp_path, verbose=False)
    assert result.status == "ok", result
    with pytest.raises(SpecError, match=f"nests more than {MAX_NESTING} levels") as info:
        lbdsl.loads(make(n + 1))
    assert "^" in str(info.value)


def test_a_list_at_the_limit_is_read_without_recursing_too_deep() -> None:
    """A nested list's shape must match its parameter's: the deepest one the parser accepts is
    a shape error (in one diagnostic), not a RecursionError."""
    def make(n: int) -> str:
        return NET.format(init="[" * n + "1" + "]" * n, pre="W @ u")

    n = _deepest(make)
    assert n == MAX_NESTING
    with pytest.raises(SpecError, match="the list is 1x1x1"):
        lbdsl.loads(make(n))
