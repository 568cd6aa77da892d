"""A solver that diverges, through the command line: one line on stderr (no warnings, no
traceback), exit status 1, and its last finite iterate written — exactly the iterate a run
stopped by ``max_iter`` at that iteration ends with — with a report that says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lbdsl.cli import main

# a linear 16 → 16 layer (‖W‖² ≈ 60) and a fixed gradient step of 10: each step multiplies the
# error by about 600 until it overflows
SPEC = """
network p {
    input u : 4x4
    param W : 16x16 = normal(std = 1, seed = 0)
    param b : 16 = zeros
    h = W @ u + b
    output h
}
invert p {
    truth    = image("shepp_logan", size = 4x4)
    data     = forward(truth)
    fidelity = l2
    solver   = gradient(max_iter = 5000, lr = 10, backtracking = false)
}
"""


def _run(tmp_path: Path, out: str, *sets: str) -> tuple[int, dict, np.ndarray]:
    spec = tmp_path / "spec.lbn"
    spec.write_text(SPEC)
    args = ["solve", str(spec), "--out", str(tmp_path / out)]
    for s in sets:
        args += ["--set", s]
    status = main(args)
    folder = tmp_path / out / "invert-p"
    report = json.loads((folder / "report.json").read_text())
    with np.load(folder / "result.npz", allow_pickle=False) as npz:
        return status, report, np.array(npz["u"])


def test_a_diverging_solver_stops_with_its_last_finite_iterate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report, u = _run(tmp_path, "o")
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err and "Warning" not in err
    k = report["iterations"]
    assert f"the solver `gradient` diverged after {k} iterations" in err
    assert report["stop_reason"] == "diverged" and 10 < k < 5000
    assert np.all(np.isfinite(u)) and np.abs(u).max() > 1e100   # finite, and far gone
    assert {"result.npz", "report.json", "reconstruction.png"} <= set(report["files"])
    # the same solver stopped by max_iter at that iteration, on its way out: it keeps the
    # iterate of its lowest objective and says so (a diverged run keeps its last finite one)
    capsys.readouterr()
    status_k, report_k, u_k = _run(tmp_path, "k", f"solver.max_iter={k}")
    assert status_k == 0 and report_k["stop_reason"] == "max_iter"
    out = capsys.readouterr().out
    assert f"note: the solver stopped at max_iter = {k} before reaching tol" in out
    assert "the objective rose after iteration" in report_k["message"]
    assert "the objective rose after iteration" in out
    assert np.abs(u_k).max() < np.abs(u).max() and report_k["objective"] < report["objective"]


def test_the_same_step_with_backtracking_converges(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report, u = _run(tmp_path, "o", "solver.backtracking=true", "solver.tol=1e-10")
    assert status == 0 and report["stop_reason"] == "tol"
    assert report["relative_error"] < 1e-4   # noise-free data and an invertible W
    # the network's certificate is about the Bregman problem, not this quadratic one
    assert report["certificate"]["certified"] and report["certificate_applies"] is False
    assert "quadratic fidelity ½‖N(u) − f‖² is not covered" in capsys.readouterr().out


TRAIN = """
network p {
    input u : 4x4
    param W : 16x16 = normal(std = 1, seed = 0)
    param b : 16 = zeros
    h = W @ u + b
    output h
}
train p {
    data      = digits(n = 40, seed = 0)
    loss      = mse
    optimizer = sgd(lr = 1000, epochs = 20, batch = 10)
    figures   = false
}
"""


def test_a_diverging_training_names_a_smaller_step(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """SGD with lr = 1000 on a linear layer overflows: one line, exit 1, the last finite
    epoch kept, and the line proposes lr / 5."""
    pytest.importorskip("sklearn")
    spec = tmp_path / "train.lbn"
    spec.write_text(TRAIN.replace("4x4", "8x8").replace("16x16", "64x64").replace(": 16", ": 64"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "diverged" in err and "optimizer = sgd(lr = 200, …)" in err
    with np.load(tmp_path / "o" / "train-p" / "weights.npz") as w:
        assert all(np.all(np.isfinite(w[k])) for k in w.files)
