"""``train``'s contract: refusals, parameter names that ``load(...)`` reads back, stop reasons,
the monitor and validation hooks."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.errors import SolveError
from reference_forward import forward as reference_forward
from lbdsl.training.settings import SGD, Adam, ImplicitSGD
from lbdsl.training import predict, train
from train_helpers import build_net, teacher_data

REPEATED = """
network r {
    input u : 4
    repeat 2 {
        param W : 4x4 = LOADW
        param b : 4   = LOADB
        u = relu(W @ u + b)
    }
    y = dense(u, 3)
    output y
}
"""


def test_trained_weights_load_back_under_their_spec_names(tmp_path):
    net = build_net(REPEATED.replace("LOADW", "normal(std = 0.5, seed = 1)")
                    .replace("LOADB", "zeros"))
    x, y = teacher_data(net, 20, seed=0)
    res = train(net, x, y + 0.1, ImplicitSGD(epochs=2, batch=8))
    saved = res.numpy_params()
    assert sorted(saved) == ["W_1", "W_2", "b_1", "b_2", "y_W", "y_b"]
    np.savez(tmp_path / "weights.npz", **saved)
    spec = (REPEATED.replace("LOADW", 'load("weights.npz")').replace("LOADB", 'load("weights.npz")')
            .replace("y = dense(u, 3)", "param y_W : 3x4 = load(\"weights.npz\")\n"
                     "    param y_b : 3 = load(\"weights.npz\")\n    y = y_W @ u + y_b"))
    loaded = build_net(spec, name=str(tmp_path / "spec.lbn"))
    np.testing.assert_allclose(reference_forward(loaded, x)["y"], predict(net, res.params, x),
                               rtol=1e-12, atol=1e-12)


def test_a_layer_of_several_terms_is_refused_by_lifted_training_in_one_line_not_by_backprop():
    """Lifted training's Θ-step takes one map ``A x + b`` per layer (its gradient is Lipschitz
    with the input Gram); a sum over several variables or a composition is trained by
    backpropagation."""
    net = build_net("""
        network res {
            input u : 3
            param W : 3x3 = normal(seed = 0)
            param b : 3 = zeros
            h = relu(W @ u + b)
            y = W @ h + 0.5 * u
            output y
        }""")
    with pytest.raises(SolveError) as err:
        train(net, np.zeros((2, 3)), np.zeros((2, 3)), ImplicitSGD())
    message = str(err.value)
    assert "\n" not in message and "layer 2 (line 7)" in message and "loss = mse" in message
    res = train(net, np.ones((2, 3)), np.zeros((2, 3)), Adam(epochs=2))
    assert res.stop_reason == "max_iter" and res.method == "backprop"


def test_data_of_the_wrong_shape_are_refused():
    net = build_net(REPEATED.replace("LOADW", "eye").replace("LOADB", "zeros"))
    with pytest.raises(SolveError, match="samples of 4 entries"):
        train(net, np.zeros((3, 5)), np.zeros((3, 3)))
    with pytest.raises(SolveError, match="3 inputs but 2 targets"):
        train(net, np.zeros((3, 4)), np.zeros((2, 3)))
    with pytest.raises(SolveError, match="NaN"):
        train(net, np.full((3, 4), np.nan), np.zeros((3, 3)))


def test_divergence_keeps_the_last_finite_parameters():
    net = build_net("""
        network lin { input u : 4
            param W : 3x4 = normal(seed = 0)
            y = W @ u
            output y }""")
    x, y = teacher_data(net, 16, seed=0)
    with np.errstate(over="ignore", invalid="ignore"):
        res = train(net, x, y, SGD(lr=1e6, epochs=10, batch=1))
    assert res.stop_reason == "diverged" and "diverged" in res.message
    assert all(np.isfinite(p).all() for p in res.params.values())
    assert 0 < res.epochs < 10


def test_monitor_and_validation_see_every_epoch_and_interrupts_stop_cleanly():
    net = build_net(REPEATED.replace("LOADW", "normal(std = 0.5, seed = 1)")
                    .replace("LOADB", "zeros"))
    x, y = teacher_data(net, 16, seed=0)
    seen = []

    def monitor(epoch, metrics):
        seen.append((epoch, dict(metrics)))
        if epoch == 3:
            raise KeyboardInterrupt

    def validate(params):
        return {"val_mse": float(np.mean((predict(net, params, x) - y) ** 2))}

    res = train(net, x, y, ImplicitSGD(epochs=10, batch=4), monitor=monitor, validate=validate)
    assert res.stop_reason == "interrupted" and res.epochs == 3
    assert [e for e, _ in seen] == [0, 1, 2, 3]
    assert {"objective", "residual", "mse_loss", "val_mse"} <= set(seen[-1][1])
    assert res.history.iteration == [0, 1, 2, 3]
    assert res.history.metrics["val_mse"][-1] == seen[-1][1]["val_mse"]


def test_same_seed_same_batches_for_every_method():
    """Both methods draw the epoch orders from one generator: the first epoch's order fixes the
    lifted states' row order, which ``lifted_states`` undoes (rows stay in sample order)."""
    net = build_net(REPEATED.replace("LOADW", "normal(std = 0.5, seed = 1)")
                    .replace("LOADB", "zeros"))
    x, y = teacher_data(net, 10, seed=0)
    a = train(net, x, y, SGD(lr=0.01, epochs=2, batch=3), seed=7)
    b = train(net, x, y, SGD(lr=0.01, epochs=2, batch=3), seed=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


@pytest.mark.parametrize("where", ["validate", "checkpoint"])
@pytest.mark.parametrize("settings", [ImplicitSGD(epochs=4, batch=4, inner=2),
                                      Adam(lr=0.01, epochs=4, batch=4)], ids=["lifted", "adam"])
def test_a_ctrl_c_in_a_check_or_a_checkpoint_rolls_back_to_the_last_complete_epoch(where,
                                                                                  settings):
    """A second Ctrl-C lands anywhere: in the validation of an epoch (before it is recorded) or
    in its checkpoint (after): the result is the last complete epoch, consistently."""
    net = build_net(REPEATED.replace("LOADW", "eye").replace("LOADB", "zeros"))
    x = np.random.default_rng(0).random((12, 4))
    y = np.random.default_rng(1).random((12, 3))
    calls = []

    def hook(*_):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return {}

    kwargs = {"validate": hook} if where == "validate" else {"checkpoint": hook}
    res = train(net, x, y, settings, **kwargs)
    assert res.stop_reason == "interrupted"
    # validate runs at epochs 0, 1, 2 (interrupted in 2's check: epoch 1 is the last complete);
    # checkpoint at 1, 2, 3 (interrupted after 3 was recorded: epoch 3 is complete)
    expected = 1 if where == "validate" else 3
    assert res.epochs == expected and res.state.epoch == expected
    assert res.history.iteration == list(range(expected + 1))
    for name, value in res.state.params.items():
        np.testing.assert_array_equal(value, res.params[name])
