"""``fidelity = hybrid``: the Bregman solve, then the quadratic problem from its solution.

Checked against the two stages run separately: the start is bit for bit the result of the same
task with ``fidelity = bregman``, the final result that of the ``lbfgs`` solver called on the
quadratic problem from that start; the refinement lowers the (smoothed) quadratic objective
of its start; the spec checks treat the written solver as the first stage's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_NET

from lbdsl.cli import main
from lbdsl.solvers import lbfgs
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.misfit import Misfit
from lbdsl.solvers.problems import InverseProblem, Term
from lbdsl.lift.compact import lift
from lbdsl.pipeline import load
from lbdsl.prox.regularisers import TV

TASK = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    fidelity    = FIDELITY
    regulariser = 0.01 * tv
    solver      = pdhg(max_iter = 300, tol = 1e-8)
    figures     = false
}
"""


def _run(write_spec, tmp_path: Path, fidelity: str) -> tuple[dict, dict]:
    spec = write_spec(TASK.replace("FIDELITY", fidelity), name=f"{fidelity}.lbn")
    out = tmp_path / fidelity
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    folder = out / "invert-tiny"
    with np.load(folder / "result.npz") as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    return arrays, json.loads((folder / "report.json").read_text())


def test_hybrid_is_the_bregman_solve_then_lbfgs_from_it(write_spec, tmp_path: Path) -> None:
    hyb, report = _run(write_spec, tmp_path, "hybrid")
    breg, _ = _run(write_spec, tmp_path, "bregman")
    assert np.array_equal(hyb["u_start"], breg["u"])
    assert report["fidelity"] == "hybrid" and report["hybrid"]["refine_solver"] == "lbfgs"
    assert report["hybrid"]["start"]["fidelity"] == "bregman"
    # the second stage, run here by hand on the same quadratic problem from the same start
    spec = write_spec(TASK.replace("FIDELITY", "hybrid"), name="again.lbn")
    lp = lift(load(spec).networks["tiny"])
    problem = InverseProblem(lp, hyb["f"].reshape(-1), terms=(Term(0.01, TV((8, 8))),),
                             fidelity="l2")
    again = lbfgs.solve(problem, lbfgs.LBFGSSettings(Stopping(max_iter=300, tol=1e-8)),
                        x0=hyb["u_start"])
    assert np.array_equal(np.asarray(again.u), hyb["u"])
    assert report["iterations"] == again.iterations
    misfit = Misfit(lp, hyb["f"].reshape(1, -1), False)
    reg = problem.regulariser

    def quadratic(u: np.ndarray) -> float:
        return misfit.value(u.reshape(1, -1)) + reg.value(u.reshape(1, -1))

    def smoothed(u: np.ndarray) -> float:     # F_eps at the final eps: what lbfgs decreases
        return misfit.value(u.reshape(1, -1)) + reg.smoothed(u.reshape(1, -1), 1e-3)[0]

    assert again.lifted["eps"] == 1e-3        # from a given start: no continuation
    assert smoothed(hyb["u"]) < smoothed(hyb["u_start"])
    assert report["objective"] == pytest.approx(quadratic(hyb["u"]), rel=1e-12)
    assert report["psnr"] != report["hybrid"]["start"]["psnr"]


def test_the_written_solver_is_the_first_stages(write_spec, capsys) -> None:
    spec = write_spec(TASK.replace("FIDELITY", "hybrid").replace("pdhg(max_iter = 300, "
                                                                  "tol = 1e-8)", "lbfgs"))
    assert main(["check", str(spec)]) == 0     # lbfgs takes a single layer's Bregman problem
    spec = write_spec(TINY_NET + """
invert tiny { truth = image("shepp_logan", size = 8x8)  data = forward(truth)
              fidelity = hybrid  regulariser = tv  solver = coordinate }""", name="c.lbn")
    assert main(["check", str(spec)]) == 2
    assert "the `coordinate` solver handles only" in capsys.readouterr().err
