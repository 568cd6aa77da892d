"""Training residual networks, lifted and by backpropagation.

- lifted: the Θ-gradient (a residual's ``V`` and a tied ``W = Vᵀ`` included) against central
  differences of the batch objective; the state sweeps against CVXPY on a convex state
  subproblem through a residual sum; monotone descent in full batch (tied, untied, ``−``);
  resuming from a mid-run state is bit-identical;
- backprop: ``∇_Θ`` of the MSE against PyTorch autograd (float64, 1e-8); Adam decreases it;
- a residual branch bias ``c`` and a network whose output is a residual sum (fitted by
  ``½‖u_L − y‖²``): in every test above, and against backpropagation — at the forward pass the
  lifted objective is the MSE and the gradients of the last ``V`` and ``c`` are backprop's.
"""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import namespace
from lbdsl.training.settings import Adam, ImplicitSGD
from lbdsl.lift.network import lifted_network
from lbdsl.training import state_penalty, train
from lbdsl.training.backprop import mse_gradient
from lbdsl.training.lifted import LiftedRoles, LiftedTrainer
from train_helpers import build_net

NETS = {
    "tied": """
        network t { input u : 4
          h = relu(dense(u, 6))
          repeat 2 { param W : 5x6 = normal(std = 0.4, seed = 1)
                     param b : 5 = normal(std = 0.1, seed = 2)
                     h = h + W.T @ relu(W @ h + b) }
          y = dense(h, 3)  output y }""",
    "untied": """
        network n { input u : 4
          h = tanh(dense(u, 6))
          param A : 5x6 = normal(std = 0.4, seed = 3)  param V : 6x5 = normal(std = 0.4, seed = 4)
          h = h + V @ soft(A @ h, theta = 0.05)
          y = dense(h, 3)  output y }""",
    "minus": """
        network m { input u : 4
          param A : 5x4 = normal(std = 0.4, seed = 5)  param V : 4x5 = normal(std = 0.4, seed = 6)
          u = u - V @ sigmoid(A @ u)
          y = leaky_relu(dense(u, 3), a = 0.3)  output y }""",
    "branch_bias": """
        network q { input u : 4
          h = tanh(dense(u, 6))
          param A : 5x6 = normal(std = 0.4, seed = 7)  param V : 6x5 = normal(std = 0.4, seed = 8)
          param c : 6 = normal(std = 0.2, seed = 9)
          h = h + V @ soft(A @ h, theta = 0.05) + c
          y = dense(h, 3)  output y }""",
    # a pre-activation with two biases
    "two_biases": """
        network tb { input u : 4
          param A : 5x4 = normal(std = 0.4, seed = 15)  param b : 5 = normal(std = 0.1, seed = 16)
          param b2 : 5 = normal(std = 0.1, seed = 17)  param V : 4x5 = normal(std = 0.4, seed = 18)
          u = u + V @ relu(A @ u + b + b2)
          y = dense(u, 3)  output y }""",
    # the output is the residual sum: no z of its own to pin
    "residual_output": """
        network o { input u : 4
          h = tanh(dense(u, 3))
          param A : 5x3 = normal(std = 0.4, seed = 10)  param V : 3x5 = normal(std = 0.4, seed = 11)
          param c : 3 = normal(std = 0.2, seed = 12)
          h = h + V @ relu(A @ h) + c
          output h }""",
    "tied_residual_output": """
        network p { input u : 4
          h = dense(u, 3)
          repeat 2 { param W : 5x3 = normal(std = 0.4, seed = 13)
                     param b : 5 = normal(std = 0.1, seed = 14)
                     h = h - W.T @ sigmoid(W @ h + b) }
          output h }""",
}


def _setup(name: str, n: int = 6, seed: int = 0):
    net = build_net(NETS[name])
    rt = lifted_network(net)
    roles = LiftedRoles.of(rt)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rt.u_blocks[0].size))
    y = rng.standard_normal((n, rt.u_blocks[rt.output_block].size))
    tape = rt.tape(x)
    states = {roles.keys[l]: tape.act[l] + 0.1 * rng.standard_normal(tape.act[l].shape)
              for l in roles.hidden}
    for l in roles.hidden:   # keep every state inside the domain of its Ψ
        states[roles.keys[l]] = rt.layers[l].psi.project_domain(states[roles.keys[l]], 1e-3)
    if roles.pinned is not None:
        y = rt.layers[roles.pinned].psi.project_domain(y)
    return rt, roles, x, y, states


def _objective(trainer: LiftedTrainer, params, x, y, states) -> float:
    return trainer.evaluate(params, x, y, states)["objective"]


@pytest.mark.parametrize("name", NETS)
def test_the_lifted_theta_gradient_matches_central_differences(name):
    rt, roles, x, y, states = _setup(name)
    trainer = LiftedTrainer(roles, {}, namespace("numpy"), np.float64)
    params = {k: rt.params[k] for k in rt.param_names}
    trainer.refresh_norms(params)
    grads, lips = trainer.theta_gradient(params, trainer.batch(params, x, y, states))
    assert set(grads) == set(params) and all(lips[k] > 0 for k in grads)
    rng = np.random.default_rng(1)
    for pname, g in grads.items():
        d = rng.standard_normal(params[pname].shape)

        def f(t, pname=pname, d=d):
            p = dict(params)
            p[pname] = params[pname] + t * d
            return _objective(trainer, p, x, y, states)

        h = 1e-6
        fd = (f(h) - f(-h)) / (2 * h)
        assert float(np.sum(g * d)) == pytest.approx(fd, rel=1e-6, abs=1e-9), pname


def test_state_sweeps_through_a_residual_sum_converge_to_the_cvxpy_solution():
    """Θ fixed; one free state, the residual's activation z: ``u₂ = u + V z``, the output
    ``relu(W₂ u₂ + b₂)`` pinned to y.  ``B(z, A u + b) + B(y, W₂(u + V z) + b₂) + α‖z‖₁`` is
    convex in z; the sweeps must reach CVXPY's minimiser."""
    cp = pytest.importorskip("cvxpy")
    net = build_net("""
        network r { input u : 4
          param A : 5x4 = normal(std = 0.7, seed = 1)  param b : 5 = normal(std = 0.3, seed = 2)
          param V : 4x5 = normal(std = 0.5, seed = 3)
          u = u + V @ relu(A @ u + b)
          param W2 : 3x4 = normal(std = 0.7, seed = 4)  param b2 : 3 = normal(std = 0.3, seed = 5)
          y = relu(W2 @ u + b2)  output y }""")
    rt = lifted_network(net)
    p = rt.params
    roles = LiftedRoles.of(rt)
    (l,) = roles.hidden
    alpha = 0.1
    trainer = LiftedTrainer(roles, {l: state_penalty(l1=alpha)}, namespace("numpy"), np.float64)
    rng = np.random.default_rng(6)
    u = rng.standard_normal((5, 4))
    y = np.abs(rng.standard_normal((5, 3)))
    pre1 = u @ p["A"].T + p["b"]
    batch = trainer.batch(p, u, y, {roles.keys[l]: np.maximum(pre1, 0)})
    for _ in range(4000):
        trainer.sweep(p, batch)
    z = cp.Variable((5, 5), nonneg=True)
    pre2 = (u + z @ p["V"].T) @ p["W2"].T + np.ones((5, 1)) @ p["b2"][None, :]
    objective = (0.5 * cp.sum_squares(z) - cp.sum(cp.multiply(z, pre1))
                 + 0.5 * cp.sum_squares(cp.pos(pre2)) - cp.sum(cp.multiply(y, pre2))
                 + alpha * cp.sum(cp.abs(z)))
    cp.Problem(cp.Minimize(objective)).solve(solver="CLARABEL")
    assert np.max(np.abs(trainer.states(batch)[roles.keys[l]] - z.value)) <= 1e-6


@pytest.mark.parametrize("name", NETS)
def test_lifted_training_of_a_residual_network_descends_monotonically(name):
    net = build_net(NETS[name])
    rng = np.random.default_rng(7)
    x = rng.random((20, 4))
    y = rng.standard_normal((20, 3))
    res = train(net, x, y, ImplicitSGD(epochs=25, batch=20, tau=1.0, inner=3))
    obj = np.array(res.history.metrics["objective"])
    assert obj[-1] < 0.8 * obj[0]
    assert np.all(np.diff(obj) <= 1e-12 * np.abs(obj[:-1]))
    # a residual's state is its activation, named after the sum it feeds
    residual = [k for k in res.lifted_states if "." in k]
    assert residual and all(res.lifted_states[k].shape[0] == 20 for k in residual)


@pytest.mark.parametrize("name", ["tied", "untied", "residual_output"])
def test_resuming_lifted_residual_training_is_bit_identical(name):
    net = build_net(NETS[name])
    rng = np.random.default_rng(8)
    x, y = rng.random((15, 4)), rng.standard_normal((15, 3))
    settings = ImplicitSGD(epochs=4, batch=6, tau=1.0, inner=2)
    whole = train(net, x, y, settings, seed=3)
    half = train(net, x, y, ImplicitSGD(epochs=2, batch=6, tau=1.0, inner=2), seed=3)
    resumed = train(net, x, y, settings, seed=3, resume=half.state)
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k])
    for k in whole.lifted_states:
        np.testing.assert_array_equal(resumed.lifted_states[k], whole.lifted_states[k])


def test_the_mse_gradient_of_a_residual_mlp_matches_pytorch_autograd():
    torch = pytest.importorskip("torch")
    net = build_net(NETS["untied"])
    rt = lifted_network(net)
    params = {k: rt.params[k] for k in rt.param_names}
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tanh(torch.tensor(x) @ t["h_W"].T + t["h_b"])
    a = t["A"] @ h.T                                          # (5, B)
    soft = torch.sign(a) * torch.clamp(a.abs() - 0.05, min=0)
    h = h + (t["V"] @ soft).T
    out = h @ t["y_W"].T + t["y_b"]
    (0.5 * torch.sum((out - torch.tensor(y)) ** 2) / 8).backward()
    grads = mse_gradient(rt, params, x, y, {})
    for k, g in grads.items():
        np.testing.assert_allclose(g, t[k].grad.numpy(), rtol=0, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("name", NETS)
def test_adam_trains_a_residual_network(name):
    net = build_net(NETS[name])
    rng = np.random.default_rng(10)
    x, y = rng.random((32, 4)), 0.5 * rng.standard_normal((32, 3))
    res = train(net, x, y, Adam(lr=0.01, epochs=60, batch=8), seed=1)
    obj = res.history.metrics["objective"]
    assert res.method == "backprop" and obj[-1] < 0.8 * obj[0]


@pytest.mark.parametrize("name", ["residual_output", "tied_residual_output"])
def test_at_the_forward_pass_a_residual_outputs_lifted_loss_is_backprops(name):
    """States at the forward pass make every Bregman term zero, so the lifted objective is
    ``(1/N) Σ ½‖N(x) − y‖²``, the MSE; the gradient in the last residual's ``V`` and ``c``
    (which enter nothing else) is then backpropagation's."""
    rt, roles, x, y, _ = _setup(name, n=9)
    assert roles.pinned is None and roles.hidden == tuple(range(len(rt.layers)))
    params = {k: rt.params[k] for k in rt.param_names}
    tape = rt.tape(x, params)
    states = {roles.keys[l]: tape.act[l] for l in roles.hidden}
    trainer = LiftedTrainer(roles, {}, namespace("numpy"), np.float64)
    mse = 0.5 * np.sum((tape.blocks[rt.output_block] - y) ** 2) / len(x)
    assert _objective(trainer, params, x, y, states) == pytest.approx(mse, rel=1e-12)
    trainer.refresh_norms(params)
    grads, _ = trainer.theta_gradient(params, trainer.batch(params, x, y, states))
    back = mse_gradient(rt, params, x, y, {})
    last = rt.layers[-1]
    for name_ in ([last.V.weight] if name == "residual_output" else []) + \
            ([last.branch_bias] if last.branch_bias else []):
        np.testing.assert_allclose(grads[name_], back[name_], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("optimizer", [ImplicitSGD(epochs=40, batch=40, tau=1.0, inner=3),
                                       Adam(lr=0.01, epochs=40, batch=10)])
def test_a_residual_output_trains_lifted_and_its_forward_mse_falls_as_backprops(optimizer):
    """Lifted (implicit SGD, Adam on the lifted loss) and backpropagation on the same residual-
    output network and teacher data: each lowers the forward pass's MSE."""
    from lbdsl.training import predict

    net = build_net(NETS["residual_output"])
    teacher = build_net(NETS["residual_output"].replace("seed = 1", "seed = 2"))
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 4))
    y = predict(teacher, {k: p.value for k, p in teacher.params.items()}, x)
    start = {k: p.value for k, p in net.params.items()}
    mse0 = np.mean(np.sum((predict(net, start, x) - y) ** 2, axis=1))
    lifted = train(net, x, y, optimizer, loss="bregman", seed=1)
    backprop = train(net, x, y, Adam(lr=0.01, epochs=40, batch=10), seed=1)
    assert lifted.method == "lifted" and backprop.method == "backprop"
    for res in (lifted, backprop):
        mse = np.mean(np.sum((predict(net, res.params, x) - y) ** 2, axis=1))
        assert mse < 0.5 * mse0
