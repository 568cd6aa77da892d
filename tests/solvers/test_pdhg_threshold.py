"""The noise threshold of Bregman data (docs/inversion.md): lbdsl's solve of the thresholded
data is the optimum CVXPY finds for the same convex problem, written from the definitions."""

from __future__ import annotations

import numpy as np
import pytest

import lbdsl
from pdhg_cases import cvxpy_optimum, objective_np

SPEC = """
network p {
    input  u : 8x8
    param  W : 96x64 = normal(std = 1, seed = 0)
    param  b : 96 = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}
invert p {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(relative = 0.01, seed = 3)
    regulariser = 0.05 * tv
    solver      = pdhg(max_iter = 60000, tol = 1e-9)
}
"""


def test_the_thresholded_solve_is_cvxpys_optimum_of_the_thresholded_problem():
    [result] = lbdsl.loads(SPEC).solve(verbose=False)
    assert result.status == "ok", result.error
    net = lbdsl.loads(SPEC).network("p")
    W, b = net.params["W"].value, net.params["b"].value
    f_thr = np.ravel(result.arrays["f_solver"])
    assert result.report["noise_threshold"]["snapped"] > 0    # the threshold did something
    u_ref, obj_ref = cvxpy_optimum(W, b, f_thr, "relu", (8, 8), tv=0.05)
    u = np.ravel(result.u)
    ours = objective_np(W, b, f_thr, u, "relu", (8, 8), tv=0.05)
    assert ours == pytest.approx(obj_ref, rel=1e-5)
    assert np.linalg.norm(u - u_ref) <= 1e-3 * np.linalg.norm(u_ref)
