"""The MSE baseline: backpropagated gradients against central differences for every Ψ (dense and
conv layers, with state penalties), and SGD / Adam decreasing the loss."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import namespace, to_numpy
from lbdsl.ir.tasks.records import PenaltyTerms, PenaltyTerm
from lbdsl.training.settings import SGD, Adam, ImplicitSGD
from lbdsl.training import state_penalty, train
from lbdsl.training.backprop import mse_gradient, mse_objective
from lbdsl.lift.network import lifted_network
from lbdsl.training.lifted import LiftedRoles, LiftedTrainer
from train_helpers import build_net, teacher_data

ACTIVATIONS = ["identity", "relu", "leaky_relu(a = 0.2)", "elu", "soft(theta = 0.1)", "clip",
               "tanh", "sigmoid", "softmax"]


def _act(name: str, arg: str) -> str:
    if "(" in name:
        head, rest = name.split("(", 1)
        return f"{head}({arg}, {rest}"
    return f"{name}({arg})"


def dense_net(act: str):
    return build_net(f"""
        network n {{
            input u : 5
            h = {_act(act, "dense(u, 4)")}
            param W : 3x4 = normal(std = 0.5, seed = 7)
            y = relu(W @ h)
            output y
        }}""")


CONV_SPEC = """
    network c {
        input img : 2x5x4
        f = tanh(conv2d(img, 3, kernel = 3x2, stride = 2, padding = 1))
        g = soft(conv2d(f, 2, kernel = 2, padding = 1), theta = 0.05)
        param V : 6x32 = normal(std = 0.3, seed = 1)
        y = V @ g
        output y
    }"""


def _check_gradient(net, penalties: dict, seed: int) -> None:
    xp = namespace("numpy")
    model = lifted_network(net, xp)
    params = {name: model.params[name] for name in model.param_names}
    block = {blk.var: j for j, blk in enumerate(model.u_blocks)}
    penalties = {block[v]: pen for v, pen in penalties.items()}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, model.u_blocks[0].size))
    y = rng.standard_normal((4, model.u_blocks[model.output_block].size))
    grads = mse_gradient(model, params, x, y, penalties)
    assert set(grads) == set(params)
    for name, g in grads.items():
        direction = rng.standard_normal(params[name].shape)

        def loss(t, name=name, direction=direction):
            p = dict(params)
            p[name] = params[name] + t * direction
            return mse_objective(model, p, x, y, penalties)["objective"]

        h = 1e-6
        fd = (loss(h) - loss(-h)) / (2 * h)
        got = float(np.sum(g * direction))
        assert abs(fd - got) <= 1e-6 * (1 + abs(fd)), name


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_backprop_gradient_matches_central_differences_dense(act):
    _check_gradient(dense_net(act), {"h": state_penalty(l1=0.05, l2sq=0.1)}, seed=len(act))


def test_backprop_gradient_matches_central_differences_conv():
    _check_gradient(build_net(CONV_SPEC), {"g": state_penalty(l1=0.05)}, seed=3)


def test_for_one_linear_layer_backprop_and_the_lifted_gradient_coincide():
    """With one identity layer B = ½‖y − Wx − b‖²: the two losses and gradients are the same."""
    net = build_net("""
        network ls { input u : 5
            param W : 3x5 = normal(seed = 0)
            param b : 3 = normal(seed = 1)
            y = W @ u + b
            output y }""")
    xp = namespace("numpy")
    model = lifted_network(net, xp)
    params = model.params
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    lifted = LiftedTrainer(LiftedRoles.of(model), {}, xp, xp.float64)
    g_lift, _ = lifted.theta_gradient(params, lifted.batch(params, x, y, {}))
    g_bp = mse_gradient(model, params, x, y, {})
    for name in params:
        np.testing.assert_allclose(g_bp[name], g_lift[name], rtol=1e-12, atol=1e-14)
    assert lifted.evaluate(params, x, y, {})["objective"] == pytest.approx(
        mse_objective(model, params, x, y, {})["mse_loss"], rel=1e-12)


TOY = """
    network toy {
        input u : 4
        param W1 : 16x4 = normal(std = 0.5, seed = SEED)
        param b1 : 16 = zeros
        h = relu(W1 @ u + b1)
        z = soft(dense(h, 8), theta = 0.01)
        y = dense(z, 2)
        output y
    }"""


@pytest.mark.parametrize("optimizer", [SGD(lr=0.05, momentum=0.9, epochs=40, batch=16),
                                       SGD(lr=0.05, epochs=40, batch=16),
                                       Adam(lr=0.01, epochs=40, batch=16)],
                         ids=["sgd-momentum", "sgd", "adam"])
def test_sgd_and_adam_decrease_the_mse(xp, optimizer):
    teacher, student = build_net(TOY.replace("SEED", "1")), build_net(TOY.replace("SEED", "2"))
    x, y = teacher_data(teacher, 64 if xp.__name__.endswith("numpy") else 32, seed=0)
    pen = PenaltyTerms(terms=(PenaltyTerm(name="l1", variable="z", weight=1e-3),))
    res = train(student, x, y, optimizer, xp=xp, penalties=pen, seed=1)
    assert res.method == "backprop" and res.stop_reason == "max_iter"
    obj = res.history.metrics["objective"]
    assert obj[-1] < 0.4 * obj[0]
    assert to_numpy(res.params["W1"]).shape == (16, 4)


def test_mse_with_implicit_sgd_is_refused():
    from lbdsl.errors import SolveError
    net = dense_net("relu")
    with pytest.raises(SolveError, match="implicit_sgd"):
        train(net, np.zeros((2, 5)), np.zeros((2, 3)), ImplicitSGD(), loss="mse")
