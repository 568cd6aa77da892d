"""Every bad input of the catalogue (tests/errors/cases.py) through the real command line: the
documented exit status, a message that says what is wrong, never a traceback, and nothing
written outside the working directory.

docs/errors.md is generated from the same table: ``python scripts/make_errors_doc.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from cases import CASES, Case, run_case, skip_reason


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    reason = skip_reason(case)
    if reason:
        pytest.skip(reason)
    workdir = tmp_path / "work"
    outcome = run_case(case, workdir)
    assert "Traceback" not in outcome.text, outcome.text
    assert "internal error" not in outcome.text, outcome.text
    # nothing drives the terminal: no escape sequence from a file, a name or a message
    assert "\x1b" not in outcome.text, repr(outcome.text)
    assert outcome.status == case.status, outcome.text
    assert case.message in outcome.text, outcome.text
    if case.status == 2 and not outcome.stderr.startswith("usage:"):
        assert "error:" in outcome.stderr  # FILE:LINE:COL: error: ... or error: ...
    if case.status == 1:
        # a runtime failure is one line: `error: ...` with no continuation lines
        errors = [ln for ln in outcome.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, outcome.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # nothing written outside
    if case.post is not None:
        case.post(workdir)


def test_the_catalogue_covers_every_class_and_exit_status() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 60
    per_class = Counter(c.cls for c in CASES)
    assert all(n >= 3 for n in per_class.values()), per_class
    assert {1, 2, 3} <= {c.status for c in CASES}
