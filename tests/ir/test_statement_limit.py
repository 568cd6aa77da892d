"""Every statement of a network counts against MAX_UNROLLED_STATEMENTS, not only those a
`repeat` unrolls: 200,000 plain statements would otherwise take minutes and gigabytes."""

from __future__ import annotations

import pytest

import lbdsl
from lbdsl.errors import SpecError
from lbdsl.ir import build


def _spec(n: int) -> str:
    body = "".join(f"    h{i} = relu(u)\n" for i in range(n))
    return f"network p {{\n    input u : 2\n{body}    output h0\n}}\n"


def test_plain_statements_count_against_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "MAX_UNROLLED_STATEMENTS", 6)
    lbdsl.loads(_spec(4))                       # 4 assignments and an input and an output
    with pytest.raises(SpecError, match="has 7 statements; a network may have at most 6"):
        lbdsl.loads(_spec(5))
