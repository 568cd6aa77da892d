"""ISGD-BP, the seed's third baseline (#25): implicit SGD with backpropagated gradients.

Checked against the closed-form implicit step on a quadratic loss, and against the same
iteration written in PyTorch with autograd's gradients on a small ReLU network."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.errors import SolveError, SpecError
from lbdsl.lift.network import lifted_network
from lbdsl.training import train
from lbdsl.training.optim import ImplicitUpdate
from lbdsl.training.settings import OPTIMIZERS, ISGDBP
from train_helpers import build_net, teacher_data

torch = pytest.importorskip("torch")


def test_the_inner_iterations_converge_to_the_exact_implicit_step():
    """ℓ(θ) = ½θᵀAθ − cᵀθ: argmin ℓ(θ) + (1/2τ)‖θ − θ_k‖² = (A + I/τ)⁻¹(c + θ_k/τ)."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((6, 6))
    A, c, theta_k, tau = m @ m.T / 6 + np.eye(6), rng.standard_normal(6), rng.standard_normal(6), 0.7
    lr = 1.0 / (np.linalg.eigvalsh(A).max() + 1 / tau)
    step = ImplicitUpdate(lr=lr, tau=tau, inner=2000)
    out = step.proximal({"t": theta_k}, lambda p: {"t": A @ p["t"] - c})
    exact = np.linalg.solve(A + np.eye(6) / tau, c + theta_k / tau)
    np.testing.assert_allclose(out["t"], exact, rtol=1e-10, atol=1e-12)
    assert step.state() == {}


NET = """
network n {
    input u : 5
    param W : 4x5 = normal(std = 0.5, seed = 3)
    param b : 4 = normal(std = 0.1, seed = 4)
    h = relu(W @ u + b)
    output h
}"""


def test_one_full_batch_epoch_is_the_same_iteration_written_in_pytorch():
    net = build_net(NET)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 5)), np.abs(rng.standard_normal((8, 4)))
    settings = ISGDBP(lr=0.2, tau=0.5, inner=4, epochs=1, batch=8)
    ours = train(net, x, y, settings, loss="mse", seed=0)
    start = lifted_network(net).params
    W = torch.tensor(np.asarray(start["W"]), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(np.asarray(start["b"]), dtype=torch.float64, requires_grad=True)
    W0, b0 = W.detach().clone(), b.detach().clone()
    X, Y = torch.tensor(x), torch.tensor(y)
    for _ in range(4):
        loss = 0.5 * ((torch.relu(X @ W.T + b) - Y) ** 2).sum() / 8
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= 0.2 * (gW + (W - W0) / 0.5)
            b -= 0.2 * (gb + (b - b0) / 0.5)
    np.testing.assert_allclose(np.asarray(ours.params["W"]), W.detach().numpy(), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(np.asarray(ours.params["b"]), b.detach().numpy(), rtol=1e-12,
                               atol=1e-13)
    assert ours.method == "backprop" and ours.optimizer == "isgd_bp"


def test_isgd_bp_decreases_the_mse_over_epochs():
    teacher = build_net(NET.replace("seed = 3", "seed = 5"))
    x, y = teacher_data(teacher, 64, seed=0)
    res = train(build_net(NET), x, y, ISGDBP(lr=0.1, tau=1.0, inner=3, epochs=30, batch=16),
                seed=1)
    obj = res.history.metrics["objective"]
    assert res.stop_reason == "max_iter" and obj[-1] < 0.5 * obj[0]


def test_isgd_bp_needs_the_mse_loss():
    assert OPTIMIZERS["isgd_bp"] is ISGDBP
    with pytest.raises(SolveError, match="isgd_bp"):
        train(build_net(NET), np.zeros((2, 5)), np.zeros((2, 4)), ISGDBP(), loss="bregman")
    import lbdsl

    text = NET + "\ntrain n {\n    data = digits(n = 20)\n    optimizer = isgd_bp(inner = 2)\n}\n"
    with pytest.raises(SpecError, match="add loss = mse"):
        lbdsl.loads(text)


def test_a_step_the_anchor_alone_would_make_diverge_is_refused():
    with pytest.raises(SolveError, match="lr < 2·tau"):
        train(build_net(NET), np.zeros((2, 5)), np.zeros((2, 4)),
              ISGDBP(lr=0.01, tau=1e-320), loss="mse")
