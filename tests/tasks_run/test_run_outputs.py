"""``lbdsl solve`` end to end on tiny specs (stand-in solvers): folders, files, report keys,
metrics checked independently, atomic writes, numbering, paths that try to escape."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_INVERT
from skimage.data import shepp_logan_phantom
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

import lbdsl.outputs
from lbdsl.cli import main
from lbdsl.tasks.layout import LOCK_FILE

PNG = b"\x89PNG\r\n\x1a\n"

#: Every key report.json must hold for an invert task with a known truth.
REPORT_KEYS = {
    "certificate", "settings", "solver", "iterations", "stop_reason", "time_s", "objective",
    "residual", "alpha", "alpha_rule", "weights", "psnr", "ssim", "relative_error",
    "domain_projection", "data", "versions", "backend", "dtype", "seed", "spec", "files",
}


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_invert_writes_result_report_and_figures(standins, write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT)
    out = tmp_path / "results"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    folder = out / "invert-tiny"
    assert {p.name for p in folder.iterdir()} == {"result.npz", "report.json", "checkpoint.npz",
                                                  "reconstruction.png", "convergence.png",
                                                  LOCK_FILE}
    for png in ("reconstruction.png", "convergence.png"):
        assert (folder / png).read_bytes().startswith(PNG)
    with np.load(folder / "result.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert arrays["u"].shape == (8, 8)
    assert arrays["truth"].shape == (8, 8) and arrays["f"].shape == (32,)
    assert {"u_full", "z", "f_solver", "f_clean", "history_iteration",
            "history_objective", "history_residual"} <= set(arrays)
    report = json.loads((folder / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["iterations"] == 40 and report["stop_reason"] == "max_iter"
    assert report["certificate"]["certified"] is True
    assert report["solver"]["name"] == "pdhg" and report["backend"] == "numpy"
    assert report["dtype"] == "float64" and report["seed"] == 0
    assert set(report["versions"]) >= {"lbdsl", "numpy", "python"}
    assert report["settings"]["written"]["regulariser"] == "0.01 * tv + nonneg"
    assert report["settings"]["defaults"]["rho"] == 1000.0
    assert report["weights"][0] == {"term": "tv", "weight": 0.01, "effective": 0.01}
    assert report["files"][-1] == "report.json"
    import hashlib
    assert report["spec"]["sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()


def test_truth_and_metrics_agree_with_scikit_image(standins, write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT)
    main(["solve", str(spec), "--out", str(tmp_path / "r")])
    folder = tmp_path / "r" / "invert-tiny"
    report = json.loads((folder / "report.json").read_text())
    with np.load(folder / "result.npz") as npz:
        truth, u = npz["truth"], npz["u"]
    phantom = resize(shepp_logan_phantom(), (8, 8), anti_aliasing=True)
    expected = (phantom - phantom.min()) / (phantom.max() - phantom.min())
    np.testing.assert_allclose(truth, expected, atol=1e-12)
    assert truth.min() == 0.0 and truth.max() == 1.0
    assert report["psnr"] == pytest.approx(peak_signal_noise_ratio(expected, u, data_range=1.0))
    assert report["ssim"] == pytest.approx(structural_similarity(expected, u, data_range=1.0))
    assert report["relative_error"] == pytest.approx(
        np.linalg.norm(u - expected) / np.linalg.norm(expected))
    assert report["psnr"] == pytest.approx(-10 * np.log10(np.mean((u - expected) ** 2)))


def test_second_task_of_a_kind_gets_dash_2_and_a_rerun_reuses_folders(
        standins, write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT + """
invert tiny {
    truth = image("camera", size = 8x8)
    data  = forward(truth)
    solver = pdhg(max_iter = 10)
}
""")
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["invert-tiny", "invert-tiny-2"]
    first = json.loads((out / "invert-tiny" / "report.json").read_text())
    second = json.loads((out / "invert-tiny-2" / "report.json").read_text())
    assert first["task_line"] < second["task_line"]
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["invert-tiny", "invert-tiny-2"]


def test_default_folder_is_lbdsl_out_spec_stem(standins, write_spec, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(TINY_INVERT, name="mine.lbn")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["solve", str(spec)]) == 0
    assert (work / "lbdsl-out" / "mine" / "invert-tiny" / "report.json").exists()


def test_save_is_relative_to_the_spec_folder(standins, write_spec, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(TINY_INVERT.replace("solver", 'save = "runs/a"\n    solver'))
    monkeypatch.chdir(tmp_path)
    assert main(["solve", str(spec)]) == 0
    assert (spec.parent / "runs" / "a" / "invert-tiny" / "result.npz").exists()


def test_out_overrides_a_traversing_save_and_nothing_escapes(standins, write_spec,
                                                             tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("solver", 'save = "../../x"\n    solver'),
                      folder="a/b")
    out = tmp_path / "a" / "b" / "out"
    before = _files(tmp_path)
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    new = _files(tmp_path) - before
    assert new and all(out in p.parents for p in new)
    assert not (tmp_path / "x").exists()


def test_an_explicit_save_may_leave_the_spec_folder_but_not_its_task_folder(
        standins, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT.replace("solver", 'save = "../x"\n    solver'), folder="a/b")
    monkeypatch.chdir(tmp_path)   # the output root: `save` may leave a/b, not the root
    before = _files(tmp_path)
    assert main(["solve", str(spec)]) == 0
    new = _files(tmp_path) - before
    assert new and all(p.parent == tmp_path / "a" / "x" / "invert-tiny" for p in new)
    assert (tmp_path / "a" / "x" / "invert-tiny" / LOCK_FILE) in new
    # the folder is printed as where it is, not as `…/a/b/../x/…` (#28)
    out = capsys.readouterr().out
    assert "  wrote a/x/invert-tiny\n" in out and "/../" not in out, out
    row = next(ln for ln in out.splitlines() if ln.strip().startswith("invert tiny"))
    assert row.rstrip().endswith(" a/x/invert-tiny"), row           # the summary's output


def test_a_symlinked_task_folder_that_leads_outside_is_refused(
        standins, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "invert-tiny").symlink_to(elsewhere, target_is_directory=True)
    assert main(["solve", str(spec), "--out", str(out)]) == 1
    assert list(elsewhere.iterdir()) == []
    assert "refusing to write" in capsys.readouterr().err


def test_task_folder_names_are_sanitised() -> None:
    from lbdsl.tasks.layout import Allocator, sanitise

    assert sanitise("../../etc") == "etc" and "/" not in sanitise("a/b") and sanitise("..") == "task"
    alloc = Allocator()
    base = Path("somewhere")
    assert alloc.folder(base, "invert", "../x").parent == base
    assert alloc.folder(base, "invert", "net").name == "invert-net"
    assert alloc.folder(base, "invert", "net").name == "invert-net-2"


def test_a_write_that_fails_midway_leaves_no_partial_file(
        standins, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT)
    out = tmp_path / "o"
    calls = {"n": 0}
    real_fsync = os.fsync

    def flaky_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # result.npz goes through; the first figure fails mid-write
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(lbdsl.outputs.os, "fsync", flaky_fsync)
    assert main(["solve", str(spec), "--out", str(out)]) == 1
    names = {p.name for p in (out / "invert-tiny").iterdir()} - {LOCK_FILE}
    assert names == {"result.npz"}  # complete; no temporary, no figure, no report
    with np.load(out / "invert-tiny" / "result.npz") as npz:
        assert npz["u"].shape == (8, 8)
    err = capsys.readouterr().err
    assert "No space left on device" in err and err.count("\n") == 1


def test_interrupted_write_leaves_no_temporary(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lbdsl.outputs.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lbdsl.outputs.write_json_atomic(tmp_path / "report.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_figures_false_writes_no_png_and_removes_stale_ones(standins, write_spec,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["solve", str(write_spec(TINY_INVERT)), "--out", str(out)]) == 0
    assert (out / "invert-tiny" / "convergence.png").exists()
    (out / "invert-tiny" / "notes.txt").write_text("mine")
    spec = write_spec(TINY_INVERT.replace("solver", "figures = false\n    solver"))
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    names = {p.name for p in (out / "invert-tiny").iterdir()}
    assert names == {"result.npz", "report.json", "checkpoint.npz", "notes.txt", LOCK_FILE}


def test_baseline_runs_the_lbfgs_solver_on_the_raw_data(standins, write_spec,
                                                        tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("solver", "baseline = true\n    solver"))
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    (problem, _, _), = standins["lbfgs"].calls
    assert problem.fidelity == "l2"
    with np.load(out / "invert-tiny" / "result.npz") as npz:
        np.testing.assert_array_equal(np.asarray(problem.f), npz["f"])  # not projected
        assert npz["u_baseline"].shape == (8, 8)
        assert np.any(npz["f_solver"] != npz["f"])
    report = json.loads((out / "invert-tiny" / "report.json").read_text())
    assert report["baseline"]["solver"] == "lbfgs" and "psnr" in report["baseline"]


def test_batch_of_scalar_problems_draws_the_function_and_its_inverse(
        standins, write_spec, tmp_path: Path) -> None:
    spec = write_spec("""
network shallow {
    input  u : 1
    param  w : 6x1 = ones
    param  b : 6   = linspace(0, -1)
    param  c : 1x6 = ones
    y = c @ relu(w @ u + b)
    output y
}
invert shallow {
    truth       = linspace(0, 1.5, n = 12)
    data        = forward(truth)
    regulariser = l2sq
    alpha       = 1e-4
    solver      = coordinate(max_iter = 20)
}
""")
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    folder = out / "invert-shallow"
    assert (folder / "function.png").read_bytes().startswith(PNG)
    assert not (folder / "reconstruction.png").exists()
    with np.load(folder / "result.npz") as npz:
        assert npz["u"].shape == (12, 1) and npz["truth"].shape == (12, 1)
        assert npz["f"].shape == (12, 1)
    (problem, _, _), = standins["coordinate"].calls
    assert tuple(problem.f.shape) == (12, 1)


# --- the output root, and two runs at once ---------------------------------------------------

ESCAPE = """network n { input u : 2  param W : 2x2 = eye  h = relu(W @ u)  output h }
invert n { truth = linspace(0, 1)  data = forward(truth)  solver = pdhg(max_iter = 5)
           save = "../outside"  figures = false }
"""


def test_allow_outside_lets_a_save_leave_the_root(tmp_path: Path, monkeypatch) -> None:
    import lbdsl
    from lbdsl.cli import main

    work = tmp_path / "work"
    work.mkdir()
    (work / "spec.lbn").write_text(ESCAPE)
    monkeypatch.chdir(work)
    assert main(["solve", "spec.lbn"]) == 2 and not (tmp_path / "outside").exists()
    assert main(["solve", "spec.lbn", "--allow-outside"]) == 0
    assert (tmp_path / "outside" / "invert-n" / "result.npz").exists()
    (res,) = lbdsl.load("spec.lbn").solve(verbose=False)
    assert res.status == "spec_error" and "outside the output root" in res.error
    (res,) = lbdsl.load("spec.lbn").solve(verbose=False, allow_outside=True)
    assert res.status == "ok"


def test_two_runs_into_one_folder_at_once_both_end_cleanly(tmp_path: Path) -> None:
    """The second finds the folder locked and says so in one line; the first finishes and its
    results read back."""
    import os
    import signal
    import subprocess
    import sys

    spec = tmp_path / "spec.lbn"
    spec.write_text("""network n { input u : 4x4  param W : 8x16 = normal(seed = 0)
                                 h = relu(W @ u)  output h }
invert n { truth = image("shepp_logan", size = 4x4)
           data = forward(truth) + gaussian(sigma = 0.1, seed = 1)  regulariser = 0.1 * tv
           solver = pdhg(max_iter = 100000000, tol = 1e-30)  figures = false }
""")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lbdsl", "solve", str(spec), "--out", str(tmp_path / "o")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        for line in first.stdout:          # it holds the folder and is iterating
            if "iteration" in line:
                break
        second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        first.send_signal(signal.SIGTERM)  # stop the first cleanly: it writes its result
        first.communicate(timeout=120)
    finally:
        first.kill()
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert "another lbdsl run is writing to" in second.stderr
    assert first.returncode == 143
    import numpy as np

    with np.load(tmp_path / "o" / "invert-n" / "result.npz") as result:
        assert result["u"].shape == (4, 4)
