"""Ctrl-C during an ``invert`` task and ``lbdsl solve --resume``: a run interrupted in any of its
solves (a fixed α, the n-th solve of an α rule, the baseline) and resumed ends with the same
``result.npz``, bit for bit on NumPy, as a run that never stopped; the interrupted run leaves a
result, a report saying where it stopped, and a checkpoint; a checkpoint of another problem, or
one past ``max_iter``, is refused in one line.  One test interrupts a real ``lbdsl`` process
with a signal from outside."""

from __future__ import annotations

import dataclasses

import json
import os
import signal
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_NET

from lbdsl.cli import main
from lbdsl.solvers.registry import SOLVERS
from lbdsl.tasks import progress
from lbdsl.tasks.invert import checkpoint as sc

FIXED = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.5, seed = 3)
    regulariser = 0.01 * tv + nonneg
    baseline    = true
    solver      = pdhg(max_iter = 80, tol = 1e-12)
    figures     = false
}
"""

RULE = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(relative = 0.05, seed = 3)
    regulariser = tv
    alpha       = discrepancy(delta = auto, alpha0 = 64, q = 0.25)
    solver      = pdhg(max_iter = 60, tol = 1e-12)
    figures     = false
}
"""

@pytest.fixture(autouse=True)
def _gradient_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The baseline by `gradient`, which runs every iteration of these tiny problems (`lbfgs`,
    the default, converges on them within 40): what is tested here is the resume machinery,
    which is the same for every solver (each solver's own resume: test_solver_resume.py)."""
    lbfgs = SOLVERS["lbfgs"]
    monkeypatch.setitem(SOLVERS, "lbfgs", dataclasses.replace(lbfgs, auto=frozenset()))


FOLDER = "invert-tiny"


def _solve(spec: Path, out: Path, *sets: str, resume: bool = False) -> int:
    args = ["solve", str(spec), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return main(args + (["--resume"] if resume else []))


def _arrays(out: Path, folder: str = FOLDER) -> dict[str, np.ndarray]:
    with np.load(out / folder / "result.npz", allow_pickle=False) as npz:
        return {key: np.array(npz[key]) for key in npz.files}


def _report(out: Path, folder: str = FOLDER) -> dict:
    return json.loads((out / folder / "report.json").read_text())


def _same_results(a: Path, b: Path, folder: str = FOLDER) -> None:
    x, y = _arrays(a, folder), _arrays(b, folder)
    assert sorted(x) == sorted(y)
    for key in x:
        assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes(), key
    ra, rb = _report(a, folder), _report(b, folder)
    for key in ("iterations", "stop_reason", "objective", "alpha", "alpha_rule", "psnr"):
        assert ra.get(key) == rb.get(key), key
    assert ra.get("baseline", {}).get("iterations") == rb.get("baseline", {}).get("iterations")


def _ctrl_c(monkeypatch: pytest.MonkeyPatch, label: str, iteration: int,
            occurrence: int = 1) -> None:
    """A real SIGINT sent while the ``occurrence``-th progress display whose label starts with
    ``label`` shows ``iteration`` — the guard turns it into a stop at that very check."""
    shown = progress.Progress.__call__
    seen: list[int] = []

    def call(self, it, metrics):  # noqa: ANN001, ANN202
        if self.label.startswith(label) and it == iteration:
            seen.append(1)
            if len(seen) == occurrence:
                os.kill(os.getpid(), signal.SIGINT)
        shown(self, it, metrics)

    monkeypatch.setattr(progress.Progress, "__call__", call)


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every ``(label, iteration)`` the progress display is shown: what the solvers ran."""
    shown = progress.Progress.__call__
    calls: list[tuple[str, int]] = []

    def call(self, it, metrics):  # noqa: ANN001, ANN202
        calls.append((self.label, int(it)))
        shown(self, it, metrics)

    monkeypatch.setattr(progress.Progress, "__call__", call)
    return calls


@pytest.mark.parametrize("label, sets", [
    ("pdhg", ()),                                          # in the main solve (admm)
    ("pdhg", ("solver.tau=0.002",)),                       # (condat_vu)
    ("lifted", ("solver=lifted(max_iter = 80, tol = 1e-12)",)),
    ("baseline", ()),                                      # in the baseline (gradient)
])
def test_interrupted_and_resumed_equals_a_run_that_never_stopped(
        label: str, sets: tuple[str, ...], write_spec, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "whole", *sets) == 0
    with monkeypatch.context() as patch:
        _ctrl_c(patch, label, 30)
        assert _solve(spec, tmp_path / "parts", *sets) == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    rep = _report(tmp_path / "parts")
    stopped = rep["baseline"] if label == "baseline" else rep
    assert stopped["stop_reason"] == "interrupted" and stopped["iterations"] == 30
    assert rep["checkpoint"] == {"file": sc.FILE, "solves": 1,
                                 "baseline": label == "baseline", "complete": False}
    assert sc.FILE in rep["files"] and (tmp_path / "parts" / FOLDER / sc.FILE).exists()
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", *sets, resume=True) == 0
    out = capsys.readouterr().out
    assert ("1 solve(s) and the baseline" if label == "baseline" else "1 solve(s)") + \
        ", stopped before it finished, at iteration 30" in out
    assert "resumed at iteration 30" in out
    # the interrupted solve went on from iteration 30 (its next check is 40), and a finished
    # main solve was not run again
    resumed = [it for lab, it in ran if lab.startswith(label)]
    assert resumed[0] == 40 and resumed[-1] == 80
    if label == "baseline":
        assert all(lab.startswith("baseline") for lab, _ in ran)
    _same_results(tmp_path / "parts", tmp_path / "whole")
    rep = _report(tmp_path / "parts")
    in_baseline = label == "baseline"
    assert rep["resumed_from"] == {"solves": 1, "iteration": None if in_baseline else 30,
                                   "baseline": in_baseline,
                                   "baseline_iteration": 30 if in_baseline else None}
    assert rep["checkpoint"]["complete"] is True
    assert _report(tmp_path / "whole")["resumed_from"] is None


def test_an_alpha_rule_replays_its_finished_solves_and_resumes_the_third(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(RULE)
    assert _solve(spec, tmp_path / "whole") == 0
    tried = _report(tmp_path / "whole")["alpha_rule"]["tried"]
    assert len(tried) >= 4, "the rule must need several solves for this test to mean much"
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 20, occurrence=3)
        assert _solve(spec, tmp_path / "parts") == 130
    assert _report(tmp_path / "parts")["checkpoint"]["solves"] == 3
    capsys.readouterr()
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", resume=True) == 0
    out = capsys.readouterr().out
    assert out.count("from the checkpoint") == 2 and "resumed at iteration 20" in out
    assert ran[0][1] == 30 and "resumed at iteration 20" in ran[0][0]
    _same_results(tmp_path / "parts", tmp_path / "whole")


def test_a_second_interruption_and_resume_still_ends_the_same(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "whole") == 0
    for label, it in (("pdhg", 20), ("baseline", 40)):
        with monkeypatch.context() as patch:
            _ctrl_c(patch, label, it)
            assert _solve(spec, tmp_path / "parts", resume=True) == 130
    assert _solve(spec, tmp_path / "parts", resume=True) == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


def _interrupted(spec: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 30)
        assert _solve(spec, out) == 130


@pytest.mark.parametrize("change, what", [
    ("regulariser=0.02 * tv + nonneg", "`regulariser`"),
    ("data=forward(truth) + gaussian(sigma = 0.5, seed = 4)", "the data"),
    ("solver.tol=1e-10", "the solver or its settings"),
    ("dtype=float32", "`dtype`"),
])
def test_a_checkpoint_of_another_problem_is_refused_in_one_line(
        change: str, what: str, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    _interrupted(spec, tmp_path / "o", monkeypatch)
    capsys.readouterr()
    assert _solve(spec, tmp_path / "o", change, resume=True) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume" in err and what in err
    assert "without --resume" in err
    assert (tmp_path / "o" / FOLDER / sc.FILE).exists()   # refused: nothing lost


def test_a_longer_max_iter_on_resume_equals_that_many_from_the_start(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    _interrupted(spec, tmp_path / "parts", monkeypatch)
    assert _solve(spec, tmp_path / "parts", "solver.max_iter=120", resume=True) == 0
    assert _solve(spec, tmp_path / "whole", "solver.max_iter=120") == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")
    capsys.readouterr()
    _interrupted(spec, tmp_path / "short", monkeypatch)
    assert _solve(spec, tmp_path / "short", "solver.max_iter=20", resume=True) == 1
    assert "at iteration 30, beyond max_iter = 20" in capsys.readouterr().err


def test_resume_without_a_checkpoint_solves_from_the_start(
        write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "a", resume=True) == 0
    assert "no checkpoint in" in capsys.readouterr().out
    assert _solve(spec, tmp_path / "b") == 0
    _same_results(tmp_path / "a", tmp_path / "b")


def test_a_damaged_or_foreign_checkpoint_is_one_line(
        write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    folder = tmp_path / "o" / FOLDER
    folder.mkdir(parents=True)
    for content in (b"PK\x03\x04 not really a zip", b"\x80\x04 a pickle"):
        (folder / sc.FILE).write_bytes(content)
        assert _solve(spec, tmp_path / "o", resume=True) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot read the checkpoint" in err
    # a train task's checkpoint in an invert folder
    np.savez(folder / sc.FILE, meta=np.frombuffer(b'{"format": %d}' % sc.FORMAT, dtype=np.uint8))
    assert _solve(spec, tmp_path / "o", resume=True) == 1
    assert "not the checkpoint of an invert task" in capsys.readouterr().err


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum, status, inherited_ignore", [
    (signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGHUP, 129, False),
    (signal.SIGINT, 130, True),   # a background job of a non-interactive shell ignores SIGINT
], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGINT-inherited-ignored"])
def test_a_real_signal_from_outside_then_resume(signum: int, status: int,
                                                inherited_ignore: bool, write_spec,
                                                tmp_path: Path) -> None:
    """``lbdsl solve`` in its own process, a stop signal sent by this one once the solver
    reports progress: exit ``128 + signal``, a result and a checkpoint, and the exact command
    that goes on; resuming it to ``k + 30`` iterations gives what ``max_iter = k + 30`` from the
    start gives."""
    spec = write_spec(FIXED.replace("baseline    = true", "baseline    = false")
                      .replace("max_iter = 80", "max_iter = 100000000"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lbdsl", "solve", str(spec), "--out"]
    proc = subprocess.Popen(command + [str(tmp_path / "parts"), "--set", "seed=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_ignore_sigint if inherited_ignore else None)
    try:
        for line in proc.stdout:  # the first progress line: the solver is iterating
            if "iteration" in line:
                break
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    hint = err.rsplit(": ", 1)[-1].strip()
    assert hint == shlex.join(["lbdsl", "solve", str(spec), "--out", str(tmp_path / "parts"),
                               "--set", "seed=0", "--resume"]), err
    k = _report(tmp_path / "parts")["iterations"]
    assert k >= 10 and _report(tmp_path / "parts")["stop_reason"] == "interrupted"
    more = f"solver.max_iter={k + 30}"
    done = subprocess.run(command + [str(tmp_path / "parts"), "--set", more, "--resume"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first = next(line for line in done.stdout.splitlines() if ": iteration " in line)
    assert f"resumed at iteration {k}: iteration {k + 10}/" in first   # not from the start
    assert _solve(spec, tmp_path / "whole", more) == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


TWO_TASKS = FIXED + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.5, seed = 4)
    regulariser = 0.02 * tv
    solver      = pdhg(max_iter = 80, tol = 1e-12)
    figures     = false
}
"""


def test_a_task_that_had_finished_is_taken_from_its_checkpoint_not_solved_again(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the second task of two; --resume replays the first from its folder's checkpoint
    (no solver runs for it) and finishes the second: both as in a run that never stopped."""
    spec = write_spec(TWO_TASKS)
    assert _solve(spec, tmp_path / "whole") == 0
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 30, occurrence=2)   # the first task's solve is the 1st pdhg
        assert _solve(spec, tmp_path / "parts") == 130
    assert _report(tmp_path / "parts")["checkpoint"]["complete"] is True
    assert _report(tmp_path / "parts", "invert-tiny-2")["stop_reason"] == "interrupted"
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", resume=True) == 0
    assert [it for _, it in ran] == list(range(40, 90, 10))   # only the rest of task 2
    for folder in (FOLDER, "invert-tiny-2"):
        _same_results(tmp_path / "parts", tmp_path / "whole", folder)


def test_a_solve_that_stopped_at_max_iter_goes_on_when_max_iter_is_raised(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """80 iterations, then --resume to 120, is 120 iterations — for the solve and the
    baseline, each going on from iteration 80 (on the check grid, so no check is added)."""
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "parts") == 0
    assert "stopped at max_iter = 80 before reaching tol" in capsys.readouterr().out
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", "solver.max_iter=120", resume=True) == 0
    assert ran[0] == ("pdhg, resumed at iteration 80", 90)
    assert ("baseline gradient, resumed at iteration 80", 90) in ran
    assert _solve(spec, tmp_path / "whole", "solver.max_iter=120") == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")
    with monkeypatch.context() as patch:   # and unchanged, nothing is solved at all
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", "solver.max_iter=120", resume=True) == 0
    assert ran == []
    _same_results(tmp_path / "parts", tmp_path / "whole")


def test_a_finished_solve_is_solved_again_under_a_lower_max_iter(
        write_spec, tmp_path: Path) -> None:
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "parts") == 0
    assert _solve(spec, tmp_path / "parts", "solver.max_iter=40", resume=True) == 0
    assert _solve(spec, tmp_path / "whole", "solver.max_iter=40") == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")
    assert _report(tmp_path / "parts")["iterations"] == 40


def test_a_finished_task_edited_since_is_solved_again_with_a_note(
        write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(--resume meant for another task of the spec must not make an edited one fail)"""
    spec = write_spec(FIXED)
    assert _solve(spec, tmp_path / "parts") == 0
    capsys.readouterr()
    edit = "regulariser=0.02 * tv + nonneg"
    assert _solve(spec, tmp_path / "parts", edit, resume=True) == 0
    out = capsys.readouterr().out
    assert "`regulariser` changed; the task had finished, so it is solved again" in out
    assert _solve(spec, tmp_path / "whole", edit) == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


LOADED = """
network tiny {
    input  u : 8x8
    param  W : 32x64 = normal(std = 1, seed = 0)
    h = relu(W @ u)
    output h
}
invert tiny {
    data        = load("f.npy")
    regulariser = 0.01 * tv
    solver      = pdhg(max_iter = 80, tol = 1e-12)
    figures     = false
}
"""


def test_the_input_shape_and_the_backend_are_part_of_the_fingerprint(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(LOADED)
    np.save(spec.parent / "f.npy", np.abs(np.random.default_rng(0).standard_normal(32)))
    _interrupted(spec, tmp_path / "o", monkeypatch)
    capsys.readouterr()
    spec.write_text(LOADED.replace("input  u : 8x8", "input  u : 4x16"))  # same W, same data
    assert _solve(spec, tmp_path / "o", resume=True) == 1
    assert "the network (its input, layers or parameters) changed" in capsys.readouterr().err
    spec.write_text(LOADED)
    args = ["solve", str(spec), "--out", str(tmp_path / "o"), "--backend", "array_api_strict"]
    assert main(args + ["--resume"]) == 1
    assert "the backend changed" in capsys.readouterr().err


def _edit_checkpoint(path: Path, edit) -> None:  # noqa: ANN001
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    edit(meta, arrays)
    np.savez(path, **arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


@pytest.mark.parametrize("edit, message", [
    (lambda m, a: m.update(tree={"dict": []}), "cannot read the checkpoint"),
    (lambda m, a: m["tree"]["dict"].update(baseline=5), "cannot read the checkpoint"),
    (lambda m, a: m["tree"]["dict"]["solves"]["list"][0]["result"].update(
        stop_reason="bogus"), "cannot read the checkpoint"),
    (lambda m, a: a.update({k: np.zeros(3) for k in a}), "has u of shape (3,)"),
    (lambda m, a: m["tree"]["dict"]["solves"]["list"][0]["result"].update(history=3),
     "cannot read the checkpoint"),
    (lambda m, a: m["tree"]["dict"]["solves"]["list"][0]["result"].update(objective="x"),
     "cannot read the checkpoint"),
    (lambda m, a: m.update(format=1), "written by another version of lbdsl"),
    (lambda m, a: m["tree"]["dict"]["solves"]["list"][0]["result"]["state"]["dict"].pop("k"),
     "does not fit this problem"),
])
def test_a_checkpoint_with_the_right_bytes_but_a_wrong_structure_is_one_line(
        edit, message: str, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(FIXED)
    _interrupted(spec, tmp_path / "o", monkeypatch)
    _edit_checkpoint(tmp_path / "o" / FOLDER / sc.FILE, edit)
    capsys.readouterr()
    assert _solve(spec, tmp_path / "o", resume=True) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_ctrl_c_at_the_baselines_last_check_still_stops_the_run(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The baseline ends as it would have (its last check is its end), the task is complete,
    and the remaining tasks are not run; --resume takes the first whole and runs the second."""
    spec = write_spec(TWO_TASKS)
    assert _solve(spec, tmp_path / "whole") == 0
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "baseline", 80)
        assert _solve(spec, tmp_path / "parts") == 130
    rep = _report(tmp_path / "parts")
    assert rep["baseline"]["stop_reason"] == "max_iter" and rep["stop_reason"] == "max_iter"
    assert rep["checkpoint"]["complete"] is True
    assert not (tmp_path / "parts" / "invert-tiny-2").exists()
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", resume=True) == 0
    assert {label for label, _ in ran} == {"pdhg"}   # task 2's solve only
    for folder in (FOLDER, "invert-tiny-2"):
        _same_results(tmp_path / "parts", tmp_path / "whole", folder)


def test_a_rule_stopped_in_its_third_solve_reports_that_solve_not_a_made_up_choice(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(RULE)
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 20, occurrence=3)
        assert _solve(spec, tmp_path / "parts") == 130
    rep = _report(tmp_path / "parts")
    tried = [t["alpha"] for t in rep["alpha_rule"]["tried"]]
    assert len(tried) == 3 and rep["alpha"] == tried[-1] == 64 * 0.25 ** 2
    assert rep["stop_reason"] == "interrupted" and rep["iterations"] == 20
    assert "interrupted before the rule had chosen" in rep["alpha_rule"]["note"]


def test_an_interrupted_rule_resumed_under_another_max_iter(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Its first solve stopped at the old max_iter = 60: it goes on from there to 70, and the
    solves after it, which started from its old result, are run again."""
    spec = write_spec(RULE)
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 20, occurrence=3)
        assert _solve(spec, tmp_path / "parts") == 130
    capsys.readouterr()
    assert _solve(spec, tmp_path / "parts", "solver.max_iter=70", resume=True) == 0
    out = capsys.readouterr().out
    assert "from the checkpoint" not in out and out.count("resumed at iteration 60") == 1
    assert _report(tmp_path / "parts")["resumed_from"] == {
        "solves": 1, "iteration": 60, "baseline": False, "baseline_iteration": None}
    assert _solve(spec, tmp_path / "whole", "solver.max_iter=70") == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


def test_a_rule_whose_last_solve_was_interrupted_is_not_complete(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the rule's last solve: the rule still returns (on that unfinished solve), but
    the task is not complete — the report says so, and --resume finishes it as a run that
    never stopped would."""
    spec = write_spec(RULE)
    assert _solve(spec, tmp_path / "whole") == 0
    n = len(_report(tmp_path / "whole")["alpha_rule"]["tried"])
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "pdhg", 20, occurrence=n)
        assert _solve(spec, tmp_path / "parts") == 130
    rep = _report(tmp_path / "parts")
    assert rep["checkpoint"]["complete"] is False
    assert "rests on a solve that did not finish" in rep["alpha_rule"]["note"]
    assert _solve(spec, tmp_path / "parts", resume=True) == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


def test_a_solve_that_met_tol_on_the_check_grid_is_taken_under_a_raised_max_iter(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(FIXED.replace("tol = 1e-12", "tol = 1e-2"))
    assert _solve(spec, tmp_path / "parts") == 0
    assert _report(tmp_path / "parts")["stop_reason"] == "tol"
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", "solver.max_iter=200", resume=True) == 0
    assert [label for label, _ in ran if label.startswith("pdhg")] == []
    assert _solve(spec, tmp_path / "whole", "solver.max_iter=200") == 0
    _same_results(tmp_path / "parts", tmp_path / "whole")


HYBRID = FIXED.replace("baseline    = true", "fidelity    = hybrid")


def test_hybrid_interrupted_in_its_refinement_resumes_to_the_same_result(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refinement is the task's second solve: a Ctrl-C there keeps the Bregman solve, and
    --resume goes on with the refinement from its state (the auto patch of this file makes it
    `gradient`, which runs all 80 iterations)."""
    spec = write_spec(HYBRID)
    assert _solve(spec, tmp_path / "whole") == 0
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "refine", 30)
        assert _solve(spec, tmp_path / "parts") == 130
    rep = _report(tmp_path / "parts")
    assert rep["stop_reason"] == "interrupted" and rep["iterations"] == 30
    assert rep["hybrid"]["start"]["stop_reason"] == "max_iter"
    assert rep["checkpoint"]["solves"] == 2 and rep["checkpoint"]["complete"] is False
    with monkeypatch.context() as patch:
        ran = _record(patch)
        assert _solve(spec, tmp_path / "parts", resume=True) == 0
    labels = {label for label, _ in ran}
    assert labels == {"refine gradient, resumed at iteration 30"}
    _same_results(tmp_path / "parts", tmp_path / "whole")
    assert _report(tmp_path / "parts")["checkpoint"]["complete"] is True
