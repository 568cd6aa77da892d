"""``chunk = K`` in an ``invert`` task: a batch solved K rows at a time (the serial side; the
Dask side is tests/test_distributed.py).  The rows are independent problems, so the merged
result equals the whole batch solved at once to the solver's tolerance."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lbdsl
import lbdsl.tasks.invert as invert
from run_helpers import TINY_NET

SPEC = TINY_NET + """invert tiny {
    truth = load("batch.npy")
    data = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 3000, tol = 1e-10)
    CHUNK
    figures = false
}
"""


def _solve(tmp_path: Path, chunk: str, name: str) -> Any:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "batch.npy", rng.uniform(0.0, 1.0, (7, 8, 8)))
    path = tmp_path / f"{name}.lbn"
    path.write_text(SPEC.replace("CHUNK", chunk))
    (result,) = lbdsl.load(path).solve(out=tmp_path / name, verbose=False)
    return result


def test_chunks_give_the_whole_batch_to_tolerance(tmp_path):
    whole = _solve(tmp_path, "", "whole")
    parts = _solve(tmp_path, "chunk = 3", "parts")
    assert parts.ok and parts.u.shape == whole.u.shape == (7, 8, 8)
    assert np.abs(parts.u - whole.u).max() < 1e-6
    assert parts.report["objective"] == pytest.approx(whole.report["objective"], rel=1e-8)
    assert np.array_equal(parts.arrays["f"], whole.arrays["f"])   # the same data, drawn once
    assert "checkpoint" not in parts.report                       # groups keep no state
    groups = parts.report["chunks"]
    assert [g["rows"] for g in groups] == [[0, 3], [3, 6], [6, 7]]
    assert max(g["iterations"] for g in groups) == parts.report["iterations"]
    assert sum(g["objective"] for g in groups) == pytest.approx(parts.report["objective"],
                                                                rel=1e-12)


def test_a_chunk_as_large_as_the_batch_is_one_solve(tmp_path):
    whole = _solve(tmp_path, "", "whole")
    one = _solve(tmp_path, "chunk = 7", "one")
    assert np.array_equal(one.u, whole.u) and one.report["iterations"] == whole.report[
        "iterations"]


def test_a_ctrl_c_in_a_group_leaves_the_groups_not_reached_as_nan(tmp_path, monkeypatch):
    solve_group = invert.solve_group

    def first_then_stop(task, prep, rows, console):
        solved = solve_group(task, prep, rows, console)
        return dataclasses.replace(solved, stop_requested=True)   # as after a Ctrl-C

    monkeypatch.setattr(invert, "solve_group", first_then_stop)
    result = _solve(tmp_path, "chunk = 3", "cut")
    assert np.all(np.isfinite(result.u[:3])) and np.all(np.isnan(result.u[3:]))
    assert result.report["stop_reason"] == "interrupted" and result.status == "interrupted"
