"""``alpha = sweep(...)`` through ``lbdsl solve``: the table, the pick, the files.

The residuals in the table are recomputed here from the network's own forward pass
(``relu(W u + b)`` with the spec's W, b) on solutions of fixed-α tasks at the same α; the pick
is checked against the definition over the table; ``alpha_sweep.csv`` must say what
``report.json`` says.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_NET

from lbdsl.cli import main
from lbdsl.pipeline import load

TASK = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    regulariser = tv
    alpha       = ALPHA
    solver      = pdhg(max_iter = 3000, tol = 1e-9)
    FIGURES
}
"""


def _run(write_spec, tmp_path: Path, alpha: str, name: str, figures: bool = False):
    text = TASK.replace("ALPHA", alpha).replace("FIGURES", "" if figures else "figures = false")
    spec = write_spec(text, name=f"{name}.lbn")
    out = tmp_path / name
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    folder = out / "invert-tiny"
    with np.load(folder / "result.npz") as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    return folder, arrays, json.loads((folder / "report.json").read_text()), spec


def test_discrepancy_pick_over_the_table_with_residuals_recomputed(write_spec, tmp_path):
    folder, arrays, report, spec = _run(write_spec, tmp_path,
                                        "sweep(1e-3, 1, n = 5, delta = auto, tau = 1.2)",
                                        "sweep", figures=True)
    info = report["alpha_rule"]
    rows = info["table"]
    assert info["rule"] == "sweep" and info["pick"] == "discrepancy"
    assert [r["alpha"] for r in rows] == pytest.approx([1.0, 10 ** -0.75, 10 ** -1.5,
                                                        10 ** -2.25, 1e-3], rel=1e-12)
    bound = info["bound"]
    assert bound == pytest.approx(1.2 * report["data"]["noise_norm"], rel=1e-12)
    within = [r["alpha"] for r in rows if r["residual"] <= bound]
    assert within and report["alpha"] == max(within)
    # the residual of a row, recomputed: a fixed-alpha solve there, through relu(W u + b),
    # against the data as measured (δ's reference: not the projected, thresholded f_solver)
    net = load(spec).networks["tiny"]
    W, b = (np.asarray(net.params[k].value) for k in ("W", "b"))
    for row in (rows[1], rows[3]):
        _, fixed, _, _ = _run(write_spec, tmp_path, repr(row["alpha"]), f"a{rows.index(row)}")
        u = fixed["u"].reshape(-1)
        r = np.linalg.norm(np.maximum(W @ u + b, 0.0) - fixed["f"].reshape(-1))
        assert row["residual"] == pytest.approx(r, rel=1e-5, abs=1e-7)
    chosen = next(r for r in rows if r["alpha"] == report["alpha"])
    u = arrays["u"].reshape(-1)
    assert chosen["residual"] == pytest.approx(
        np.linalg.norm(np.maximum(W @ u + b, 0.0) - arrays["f"].reshape(-1)), rel=1e-9)
    assert chosen["psnr"] == pytest.approx(report["psnr"], rel=1e-12)
    # the files: the CSV says what the report says; the figure is there
    with open(folder / "alpha_sweep.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [float(t["alpha"]) for t in table] == [r["alpha"] for r in rows]
    assert [float(t["residual"]) for t in table] == [r["residual"] for r in rows]
    assert [float(t["psnr"]) for t in table] == [r["psnr"] for r in rows]
    assert {"alpha_sweep.csv", "alpha_sweep.png"} <= set(report["files"])
    assert (folder / "alpha_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_delta_the_lcurve_picks_and_a_later_fixed_run_removes_the_files(
        write_spec, tmp_path):
    folder, _, report, _ = _run(write_spec, tmp_path, "sweep(1e-3, 1, n = 6)", "lc")
    info = report["alpha_rule"]
    assert info["pick"] == "lcurve" and "bound" not in info
    assert report["alpha"] in [r["alpha"] for r in info["table"]]
    assert report["alpha"] == (info["lcurve_alpha"] or info["table"][-1]["alpha"])
    assert info["best_psnr_alpha"] == max(info["table"], key=lambda r: r["psnr"])["alpha"]
    assert (folder / "alpha_sweep.csv").exists() and not (folder / "alpha_sweep.png").exists()
    # the same folder, now at a fixed alpha: the sweep's files are not left behind
    spec = write_spec(TASK.replace("ALPHA", "0.01").replace("FIGURES", "figures = false"),
                      name="lc.lbn")
    assert main(["solve", str(spec), "--out", str(tmp_path / "lc")]) == 0
    assert not (folder / "alpha_sweep.csv").exists()
