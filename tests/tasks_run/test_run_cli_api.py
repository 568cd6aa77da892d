"""The command line and the Python API around the runner: exit statuses, Ctrl-C, warnings,
train tasks, backends, progress lines."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_INVERT
from run_standin import StandIn

import lbdsl
from lbdsl.cli import main
from lbdsl.tasks import TaskResult

ROOT = Path(__file__).resolve().parents[2]

TWO_TASKS = TINY_INVERT + """
invert tiny {
    truth = image("camera", size = 8x8)
    data  = forward(truth)
    solver = pdhg(max_iter = 10)
}
"""


class SigintAt(StandIn):
    """A stand-in that receives a real SIGINT (Ctrl-C) at one iteration."""

    def __init__(self, name: str, at: int) -> None:
        super().__init__(name)
        self.at = at

    def solve(self, problem, settings, *, x0=None, monitor=None):  # noqa: ANN001, ANN201
        def poke(it: int, metrics: dict[str, float]) -> None:
            if it == self.at:
                os.kill(os.getpid(), signal.SIGINT)  # the guard turns it into a request ...
            monitor(it, metrics)  # ... that the monitor honours at once or at the next check
        return super().solve(problem, settings, x0=x0, monitor=poke)


def test_ctrl_c_writes_the_last_iterate_reports_interrupted_and_exits_130(
        standins, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from lbdsl.solvers.registry import SOLVERS

    monkeypatch.setitem(SOLVERS, "pdhg", SigintAt("pdhg", at=20).info(SOLVERS["pdhg"]))
    out = tmp_path / "o"
    assert main(["solve", str(write_spec(TWO_TASKS)), "--out", str(out)]) == 130
    folder = out / "invert-tiny"
    report = json.loads((folder / "report.json").read_text())
    assert report["stop_reason"] == "interrupted" and report["iterations"] in (20, 30)
    with np.load(folder / "result.npz") as npz:
        assert npz["u"].shape == (8, 8) and np.all(npz["u"] > 0)
    assert not (out / "invert-tiny-2").exists()  # the run stopped there
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_keyboard_interrupt_from_the_monitor_is_an_interrupted_result(
        standins, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lbdsl.tasks import progress

    def stop(self, iteration: int, metrics: dict[str, float]) -> None:  # noqa: ANN001
        if iteration >= 30:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.Progress, "__call__", stop)
    results = lbdsl.load(write_spec(TWO_TASKS)).solve(out=tmp_path / "o", verbose=False)
    assert [r.status for r in results] == ["interrupted"]
    assert results[0].report["stop_reason"] == "interrupted"
    assert results[0].report["iterations"] == 30


def test_an_interrupted_spec_given_as_text_says_how_to_go_on_in_python(
        standins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No command reruns a spec given as text (`lbdsl solve --resume` would solve the built-in
    demo): the line says to solve the same text again with resume=True."""
    from lbdsl.solvers.registry import SOLVERS

    monkeypatch.setitem(SOLVERS, "pdhg", SigintAt("pdhg", at=20).info(SOLVERS["pdhg"]))
    results = lbdsl.loads(TWO_TASKS).solve(out=tmp_path / "o")
    assert [r.status for r in results] == ["interrupted"]
    err = capsys.readouterr().err
    assert (f"to go on, solve the same spec text into {tmp_path / 'o'} with the same "
            "overrides and resume=True") in err
    assert "lbdsl solve" not in err


def test_a_not_certified_network_is_warned_about_but_solved(
        standins, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec("""
network minus {
    input u : 2
    param W : 2x2 = normal(std = 0.5, seed = 0)
    u = u - W.T @ relu(W @ u)
    output u
}
invert minus { truth = linspace(0, 1) data = forward(truth) solver = lifted(max_iter = 10) }
""")
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "NOT certified" in captured.out
    assert "WARNING: network minus is NOT certified" in captured.err
    report = json.loads((tmp_path / "o" / "invert-minus" / "report.json").read_text())
    assert report["certificate"]["certified"] is False and report["iterations"] == 10
    assert standins["lifted"].calls


def test_a_train_task_fails_in_one_line_and_the_others_still_run(
        standins, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT.replace("invert tiny", 'train tiny { data = load("none.npz") }\n'
                                                         "invert tiny"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.npz" in err and "no such file" in err
    assert (tmp_path / "o" / "invert-tiny" / "report.json").exists()
    assert not (tmp_path / "o" / "train-tiny").exists()


def test_cupy_without_a_gpu_is_one_line_and_exit_1(write_spec,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import cupy  # noqa: F401
        has_gpu = bool(cupy.cuda.is_available())
    except Exception:
        has_gpu = False
    if has_gpu:
        pytest.skip("a GPU is available here")
    assert main(["solve", str(write_spec(TINY_INVERT)), "--backend", "cupy"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "cupy" in captured.err
    assert captured.out == ""


def test_progress_is_a_few_plain_lines_when_not_a_terminal(
        standins, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT.replace("max_iter = 40", "max_iter = 1000"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "iteration" in ln]
    assert 5 <= len(lines) <= 12 and "objective" in lines[0]
    assert "solver: pdhg (as written in the spec)" in out
    assert "invert tiny" in out and "max_iter" in out  # the summary table
    assert "\x1b[" not in out  # no terminal escapes in a log


def test_auto_solver_choice_is_printed(standins, write_spec, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT.replace("solver      = pdhg(max_iter = 40)",
                                          "solver = auto(max_iter = 20)"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    assert "solver: pdhg (auto: single layer, Bregman fidelity)" in capsys.readouterr().out


def test_python_api_returns_usable_results(standins, write_spec, tmp_path: Path) -> None:
    spec = lbdsl.load(write_spec(TWO_TASKS))
    assert set(spec.check()) == {"tiny"} and spec.check()["tiny"].certified
    assert "invert tiny" in spec.show()
    results = spec.solve(out=tmp_path / "o", overrides=["alpha=0.5"], verbose=False)
    assert [type(r) for r in results] == [TaskResult, TaskResult]
    first, second = results
    assert first.ok and first.u.shape == (8, 8) and first.path == tmp_path / "o" / "invert-tiny"
    assert second.path.name == "invert-tiny-2"
    assert first.report["alpha"] == 0.5 and first.report["psnr"] > 0
    on_disk = json.loads((first.path / "report.json").read_text())
    assert on_disk["psnr"] == first.report["psnr"]
    with np.load(first.path / "result.npz") as npz:
        np.testing.assert_array_equal(npz["u"], first.u)


def test_python_api_reports_failed_tasks_without_raising(standins, write_spec,
                                                         tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("invert tiny", 'train tiny { data = load("none.npz") }\n'
                                                         "invert tiny"))
    train, invert = lbdsl.load(spec).solve(out=tmp_path / "o", verbose=False)
    assert train.status == "failed" and "none.npz" in train.error and train.u is None
    assert invert.ok


def test_check_tasks_print_their_certificate(standins, write_spec, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_INVERT + "\ncheck tiny { lambda = 2 }\n")
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    assert "at λ = 2" in capsys.readouterr().out


def test_delta_auto_is_the_true_noise_norm_and_the_rule_is_reported(
        standins, write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("0.01 * tv", "tv").replace(
        "solver ", "alpha = discrepancy(delta = auto, tau = 1.5, max_tries = 4)\n    solver "))
    results = lbdsl.load(spec).solve(out=tmp_path / "o", verbose=False)
    report = results[0].report
    rule = report["alpha_rule"]
    assert rule["rule"] == "discrepancy" and rule["delta"] == report["data"]["noise_norm"]
    assert rule["tau"] == 1.5 and 1 <= len(rule["tried"]) <= 4 + 6
    assert report["alpha"] == rule["alpha"]
    alphas = [call[0].terms[0].weight for call in standins["pdhg"].calls]
    assert alphas[:2] == [1.0, 0.5]  # alpha0, alpha0·q, ...
    assert report["weights"][0]["effective"] == report["alpha"]
    # warm starts: every solve after the first starts from a previous solution
    assert standins["pdhg"].calls[0][2] is None
    assert all(call[2] is not None for call in standins["pdhg"].calls[1:])


def test_the_demo_writes_into_lbdsl_out_demo(standins, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "--set", "solver.max_iter=20"]) == 0
    report = json.loads((tmp_path / "lbdsl-out" / "demo" / "invert-perceptron" /
                         "report.json").read_text())
    assert report["spec"]["file"] == "<demo>" and len(report["spec"]["sha256"]) == 64
    assert report["iterations"] == 20
