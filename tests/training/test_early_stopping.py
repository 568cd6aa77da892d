"""Early stopping (#25): ``patience = P`` stops once the validation PSNR has not improved for P
epochs and returns the best epoch's parameters — the very parameters a run of exactly that
many epochs ends with — and a resumed run stops where one run would have."""

from __future__ import annotations

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import SolveError, SpecError
from lbdsl.training import train
from lbdsl.training.settings import Adam
from train_helpers import build_net

NET = """
network n {
    input u : 6
    param W1 : 24x6 = normal(std = 0.6, seed = 0)
    param W2 : 6x24 = normal(std = 0.3, seed = 1)
    h = relu(W1 @ u)
    y = W2 @ h
    output y
}"""


def _problem():
    """A tiny noisy training set that Adam overfits: the validation error falls, then rises."""
    rng = np.random.default_rng(0)
    x, xv = rng.standard_normal((12, 6)), rng.standard_normal((200, 6))
    A = rng.standard_normal((6, 6)) / 3
    y = x @ A.T + 0.5 * rng.standard_normal((12, 6))
    yv = xv @ A.T

    def validate(params):
        pred = np.maximum(xv @ np.asarray(params["W1"]).T, 0) @ np.asarray(params["W2"]).T
        return {"validation_psnr": -10 * np.log10(np.mean((pred - yv) ** 2))}
    return x, y, validate


def test_patience_stops_at_the_best_epoch_and_keeps_its_parameters():
    x, y, validate = _problem()
    net = build_net(NET)
    res = train(net, x, y, Adam(lr=0.05, epochs=300, batch=12, patience=5), validate=validate)
    psnr = res.history.metrics["validation_psnr"]
    best = int(np.argmax(psnr))
    assert res.stop_reason == "tol" and res.epochs == best + 5 < 300
    assert f"parameters of epoch {best}" in res.message
    same = train(net, x, y, Adam(lr=0.05, epochs=best, batch=12), validate=validate)
    for name in res.params:
        np.testing.assert_array_equal(res.params[name], same.params[name])


def test_a_resumed_run_stops_where_one_run_would_have():
    x, y, validate = _problem()
    net = build_net(NET)
    one = train(net, x, y, Adam(lr=0.05, epochs=300, batch=12, patience=5), validate=validate)
    states = []
    train(net, x, y, Adam(lr=0.05, epochs=one.epochs - 2, batch=12, patience=5),
          validate=validate, checkpoint=states.append)
    again = train(net, x, y, Adam(lr=0.05, epochs=300, batch=12, patience=5),
                  validate=validate, resume=states[-1])
    assert again.epochs == one.epochs and again.stop_reason == "tol"
    for name in one.params:
        np.testing.assert_array_equal(again.params[name], one.params[name])


def test_patience_needs_validation_data():
    x, y, _ = _problem()
    with pytest.raises(SolveError, match="validation"):
        train(build_net(NET), x, y, Adam(epochs=3, patience=2))
    text = NET + "\ntrain n {\n    data = digits(n = 20)\n    loss = mse\n" \
        "    optimizer = adam(epochs = 5, patience = 2)\n}\n"
    with pytest.raises(SpecError, match="no `validation` data"):
        lbdsl.loads(text)


#: A digits DAE that Adam overfits on 20 noisy samples: the validation PSNR peaks, then falls.
DAE = """network dae {
    input  u  : 8x8
    param  W1 : 32x64 = normal(std = 0.125, seed = 0)
    param  W2 : 64x32 = normal(std = 0.18, seed = 1)
    code = relu(W1 @ u)
    y    = W2 @ code
    output y
}
train dae {
    data       = digits(n = 20, split = "train", noise = 0.3, seed = 0)
    validation = digits(n = 100, split = "test", noise = 0.3, seed = 1)
    loss       = mse
    optimizer  = adam(lr = 0.05, epochs = 200, batch = 20, patience = 3)
    figures    = false
}
"""


def test_a_train_task_with_patience_stops_early_and_its_checkpoint_keeps_the_best(tmp_path):
    from lbdsl.tasks.train.checkpoint import read

    (tmp_path / "dae.lbn").write_text(DAE)
    [result] = lbdsl.load(tmp_path / "dae.lbn").solve(out=tmp_path / "out", verbose=False)
    rep = result.report
    psnr = rep["history"]["validation_psnr"]
    assert rep["stop_reason"] == "tol" and rep["epochs"] < 200
    assert rep["epochs"] == int(np.argmax(psnr)) + 3
    state, _, _ = read(tmp_path / "out" / "train-dae" / "checkpoint.npz")
    assert state.best is not None and state.best["epoch"] == int(np.argmax(psnr))
    for name, value in state.best["params"].items():
        np.testing.assert_array_equal(value, result.weights[name])


def test_the_report_gives_the_kept_epochs_numbers(tmp_path):
    """Its validation PSNR is the best epoch's (the weights written are that epoch's), not the
    last epoch's."""
    [result] = lbdsl.loads(DAE).solve(verbose=False)
    rep, hist = result.report, result.report["history"]
    best = int(np.argmax(hist["validation_psnr"]))
    assert rep["kept_epoch"] == best and rep["validation_psnr"] == max(hist["validation_psnr"])
    assert rep["validation_psnr"] != hist["validation_psnr"][-1]
    assert rep["mse_loss"] == hist["mse_loss"][best]


def test_with_patience_a_run_that_reaches_its_epoch_cap_keeps_the_best_epoch_too():
    x, y, validate = _problem()
    net = build_net(NET)
    full = train(net, x, y, Adam(lr=0.05, epochs=300, batch=12, patience=5), validate=validate)
    cap = full.epochs           # past the best, before patience would have stopped it
    res = train(net, x, y, Adam(lr=0.05, epochs=cap - 1, batch=12, patience=5),
                validate=validate)
    assert res.stop_reason == "max_iter" and res.kept_epoch == full.kept_epoch
    assert "every epoch ran; the parameters of epoch" in res.message
    for name in res.params:
        np.testing.assert_array_equal(res.params[name], full.params[name])
