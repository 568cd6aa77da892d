"""The runner with the real solvers on tiny problems: every route ends with a sensible result
(the solvers' own accuracy is tested in tests/solvers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_INVERT

from lbdsl.cli import main


def _report(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "report.json").read_text())


def test_single_layer_by_pdhg_with_the_gradient_baseline(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("pdhg(max_iter = 40)", "pdhg(max_iter = 300)")
                      .replace("sigma = 0.5", "sigma = 0.05")
                      .replace("solver ", "baseline = true\n    solver "))
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    report = _report(out, "invert-tiny")
    assert report["stop_reason"] in ("tol", "max_iter") and np.isfinite(report["objective"])
    assert report["psnr"] > 5 and report["baseline"]["stop_reason"] != "diverged"
    with np.load(out / "invert-tiny" / "result.npz") as npz:
        assert npz["u"].min() >= -1e-9  # the nonneg constraint reached the solver
        assert npz["u_baseline"].shape == (8, 8)


def test_shallow_batch_by_coordinate_descent(write_spec, tmp_path: Path) -> None:
    spec = write_spec("""
network shallow {
    input  u : 1
    param  w : 8x1 = ones
    param  b : 8   = linspace(0, -1.4)
    param  c : 1x8 = linspace(0.2, 0.6)
    y = c @ relu(w @ u + b)
    output y
}
invert shallow {
    truth       = linspace(0.1, 1.5, n = 15)
    data        = forward(truth)
    regulariser = l2sq
    alpha       = 1e-6
    solver      = auto(max_iter = 300, tol = 1e-10)
}
""")
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    report = _report(out, "invert-shallow")
    assert report["solver"]["name"] == "coordinate" and report["data"]["problems"] == 15
    with np.load(out / "invert-shallow" / "result.npz") as npz:
        assert np.max(np.abs(npz["u"] - npz["truth"])) < 0.2


def test_tied_residual_network_by_the_lifted_solver(write_spec, tmp_path: Path) -> None:
    spec = write_spec("""
network res {
    input u : 1
    repeat 3 {
        param W : 6x1 = normal(std = 0.5, seed = 0)
        param b : 6   = normal(std = 0.1, seed = 1)
        u = u + W.T @ relu(W @ u + b)
    }
    output u
}
invert res {
    truth       = linspace(-1, 1, n = 10)
    data        = forward(truth) + gaussian(sigma = 1e-3)
    regulariser = l2sq
    alpha       = 1e-6
    solver      = lifted(max_iter = 500, tol = 1e-9)
}
""")
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    report = _report(out, "invert-res")
    assert report["certificate"]["kind"] == "symbolic" and report["certificate"]["certified"]
    assert report["psnr"] > 30
    assert report["domain_projection"]["psi"] == "none"


@pytest.mark.parametrize("rule", ["discrepancy(delta = auto, tau = 1.2, max_tries = 8)",
                                  "apriori(delta = auto)"])
def test_alpha_rules_with_pdhg(write_spec, tmp_path: Path, rule: str) -> None:
    spec = write_spec(TINY_INVERT.replace("0.01 * tv", "tv").replace(
        "pdhg(max_iter = 40)", "pdhg(max_iter = 200)").replace(
        "solver ", f"alpha = {rule}\n    solver "))
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    report = _report(out, "invert-tiny")
    chosen = report["alpha_rule"]
    assert report["alpha"] == chosen["alpha"] > 0
    assert chosen["delta"] == pytest.approx(report["data"]["noise_norm"])
    if chosen["rule"] == "discrepancy" and chosen["satisfied"]:
        assert chosen["residual"] <= 1.2 * chosen["delta"] * (1 + 1e-9)
