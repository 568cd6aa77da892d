"""The summary table of ``lbdsl solve`` tells how every solve of a row ended (#28): a quadratic
baseline that did not converge shows in the row's status, and its time counts in the row's."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from lbdsl.tasks.result import TaskResult
from lbdsl.tasks.summary import summary_table


def _render(results: list[TaskResult], width: int) -> str:
    console = Console(width=width, record=True, markup=False, highlight=False,
                      color_system=None)
    console.print(summary_table(results, width))
    return console.export_text()


def _invert(baseline: dict[str, Any] | None, status: str = "ok") -> TaskResult:
    """An invert task's result as ``write_invert`` builds it (the report keys it reads)."""
    report: dict[str, Any] = {
        "kind": "invert", "solver": {"name": "pdhg"}, "iterations": 2000,
        "stop_reason": "max_iter", "converged": False, "time_s": 7.96, "objective": 0.934739,
        "psnr": 40.48}
    if baseline is not None:
        report["baseline"] = {"fidelity": "l2", "solver": "lbfgs", "psnr": 38.64, **baseline}
    return TaskResult("invert", "perceptron", 12, status, None, report)  # type: ignore[arg-type]


def _row(text: str) -> str:
    return next(ln for ln in text.splitlines() if ln.strip().startswith("invert perceptron"))


@pytest.mark.parametrize("width", [132, 100])
def test_a_baseline_that_stalled_shows_and_its_time_counts(width: int) -> None:
    """The issue's case: the baseline took 98.4 s and stalled; the row said ``ok … 7.96s``."""
    result = _invert({"iterations": 264, "stop_reason": "stalled", "converged": False,
                      "time_s": 98.4})
    text = _render([result], width)
    row = _row(text)
    assert " ok* " in row and "106.36s" in row and "7.96s" not in row, row   # 7.96 + 98.4
    assert ("* invert perceptron:12: ok, but its quadratic baseline (lbfgs) did not converge "
            "(stop: stalled after 264 iterations)") in " ".join(text.split()), text
    for cell in ("2000", "max_iter", "0.934739", "40.48 dB"):   # nothing squeezed out
        assert cell in row, row


def test_a_converged_baseline_leaves_the_status_ok_and_adds_its_time() -> None:
    result = _invert({"iterations": 80, "stop_reason": "tol", "converged": True,
                      "time_s": 0.5})
    text = _render([result], 132)
    row = _row(text)
    assert " ok " in row and "baseline tol" not in row and "did not converge" not in text
    assert "8.46s" in row, row


def test_without_a_baseline_the_row_is_as_before() -> None:
    row = _row(_render([_invert(None)], 132))
    assert " ok " in row and "baseline" not in row and "7.96s" in row, row


def test_a_failed_task_keeps_its_status() -> None:
    result = _invert({"stop_reason": "diverged", "converged": False, "time_s": 1.0},
                     status="failed")
    row = _row(_render([result], 132))
    assert " failed " in row and "ok, baseline" not in row, row


def test_a_certificate_counts_once_in_the_time_of_the_first_task_that_used_it() -> None:
    """The issue: `check` cost minutes that no row showed.  Two tasks of one network share one
    certificate (computed once per run): the first row carries its time."""
    cert = {"network": "perceptron", "lam": 1.0, "rho": 1000.0, "modulus": 0.0, "time_s": 2.0}
    first, second = _invert(None), _invert(None)
    first.report["certificate"] = dict(cert)
    second.report["certificate"] = dict(cert)
    rows = [ln for ln in _render([first, second], 132).splitlines()
            if ln.strip().startswith("invert perceptron")]
    assert "9.96s" in rows[0] and "7.96s" in rows[1], rows
