"""Lifted Bregman training against exact oracles: least squares (numpy.linalg.lstsq), the ridge
problem of one implicit step, the convex ReLU problem and the state subproblem (CVXPY); monotone
descent in the deterministic full-batch setting; the lifted states after training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lbdsl.backend import namespace, to_numpy
from reference_forward import forward as reference_forward
from lbdsl.ir.nodes import Param
from lbdsl.ir.tasks.records import PenaltyTerms, PenaltyTerm
from lbdsl.training.settings import SGD, Adam, ImplicitSGD
from lbdsl.training import state_penalty, predict, train
from lbdsl.lift.network import lifted_network
from lbdsl.training.lifted import LiftedRoles, LiftedTrainer
from train_helpers import build_net, rel, teacher_data

LINEAR = """
network ls {
    input u : 5
    param W : 3x5 = normal(std = 0.3, seed = 0)
    param b : 3   = zeros
    y = W @ u + b
    output y
}
"""

RELU = LINEAR.replace("y = W @ u + b", "y = relu(W @ u + b)").replace("5", "4")

DEEP = """
network deep {
    input u : 4
    param W1 : 8x4 = normal(std = 0.6, seed = SEED1)
    param b1 : 8   = normal(std = 0.2, seed = SEED2)
    param W2 : 8x8 = normal(std = 0.4, seed = SEED3)
    param b2 : 8   = normal(std = 0.2, seed = SEED4)
    param W3 : 3x8 = normal(std = 0.4, seed = SEED5)
    param b3 : 3   = zeros
    h1 = relu(W1 @ u + b1)
    h2 = relu(W2 @ h1 + b2)
    y  = W3 @ h2 + b3
    output y
}
"""


def deep(seed: int):
    text = DEEP
    for k in range(5, 0, -1):
        text = text.replace(f"SEED{k}", str(seed + k))
    return build_net(text)


def _least_squares_data(n: int = 40, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)) + 0.5
    y = rng.standard_normal((n, 3))
    return x, y, np.hstack([x, np.ones((n, 1))])


def test_single_identity_layer_converges_to_least_squares(xp):
    """One linear layer: B = ½‖y − Wx − b‖², so full-batch lifted training with a huge τ is
    proximal gradient on least squares."""
    net = build_net(LINEAR)
    x, y, a = _least_squares_data()
    sol = np.linalg.lstsq(a, y, rcond=None)[0]
    res = train(net, x, y, ImplicitSGD(epochs=1, batch=100, tau=1e8, inner=1500), xp=xp)
    assert rel(to_numpy(res.params["W"]), sol[:5].T) <= 1e-6
    assert rel(to_numpy(res.params["b"]), sol[5]) <= 1e-6
    assert res.stop_reason == "max_iter" and res.method == "lifted"


def test_float32_smoke():
    net = build_net(LINEAR)
    x, y, a = _least_squares_data()
    sol = np.linalg.lstsq(a, y, rcond=None)[0]
    res = train(net, x, y, ImplicitSGD(epochs=3, batch=100, tau=1e8, inner=300),
                dtype="float32")
    assert res.params["W"].dtype == np.float32
    assert all(h < 1e30 for h in res.history.metrics["objective"])
    assert rel(res.params["W"], sol[:5].T) <= 1e-3


def test_one_implicit_step_solves_the_anchored_ridge_problem():
    """With τ finite, one full-batch step is argmin ½·mean‖y − Wx − b‖² + (1/2τ)‖Θ − Θ⁰‖²,
    i.e. (AᵀA/n + I/τ) Θ = Aᵀy/n + Θ⁰/τ."""
    net = build_net(LINEAR)
    x, y, a = _least_squares_data()
    tau, n = 0.5, x.shape[0]
    theta0 = np.vstack([net.params["W"].value.T, net.params["b"].value[None, :]])
    want = np.linalg.solve(a.T @ a / n + np.eye(6) / tau, a.T @ y / n + theta0 / tau)
    res = train(net, x, y, ImplicitSGD(epochs=1, batch=n, tau=tau, inner=400))
    assert rel(res.params["W"], want[:5].T) <= 1e-9
    assert rel(res.params["b"], want[5]) <= 1e-9


def test_single_relu_layer_reaches_the_cvxpy_optimum():
    """mean B_relu(y, Wx + b) = mean[½‖pos(Wx + b)‖² − ⟨y, Wx + b⟩ + ½‖y‖²]: convex in (W, b)."""
    cp = pytest.importorskip("cvxpy")
    net = build_net(RELU)
    rng = np.random.default_rng(2)
    n = 30
    x = rng.standard_normal((n, 4))
    w_true, b_true = rng.standard_normal((3, 4)), 0.3 * rng.standard_normal(3)
    y = np.maximum(np.maximum(x @ w_true.T + b_true, 0) + 0.3 * rng.standard_normal((n, 3)), 0)
    w, b = cp.Variable((3, 4)), cp.Variable(3)
    z = x @ w.T + np.ones((n, 1)) @ cp.reshape(b, (1, 3), order="C")
    objective = (0.5 * cp.sum_squares(cp.pos(z)) - cp.sum(cp.multiply(y, z))
                 + 0.5 * np.sum(y ** 2)) / n
    problem = cp.Problem(cp.Minimize(objective))
    problem.solve(solver="CLARABEL")
    res = train(net, x, y, ImplicitSGD(epochs=1, batch=n, tau=1e8, inner=2000))
    got = res.history.metrics["objective"][-1]
    assert got >= problem.value - 1e-6 * abs(problem.value)
    assert abs(got - problem.value) <= 1e-4 * abs(problem.value)


def test_state_sweeps_converge_to_the_cvxpy_solution_of_the_state_subproblem():
    """Θ fixed, two ReLU layers and 0.1·l1 on the hidden state: the x-update of the lifted
    module docstring, iterated, must reach argmin_x B_1(x, W1 u + b1) + B_2(y, W2 x + b2)
    + 0.1‖x‖₁ — a convex problem in x, solved independently by CVXPY."""
    cp = pytest.importorskip("cvxpy")
    net = build_net("""
        network two {
            input u : 4
            param W1 : 6x4 = normal(std = 0.7, seed = 1)
            param b1 : 6   = normal(std = 0.3, seed = 2)
            param W2 : 3x6 = normal(std = 0.7, seed = 3)
            param b2 : 3   = normal(std = 0.3, seed = 4)
            h = relu(W1 @ u + b1)
            y = relu(W2 @ h + b2)
            output y
        }""")
    xp = namespace("numpy")
    rt = lifted_network(net, xp)
    params = rt.params
    rng = np.random.default_rng(5)
    n = 5
    u = rng.standard_normal((n, 4))
    y = np.abs(rng.standard_normal((n, 3)))
    alpha = 0.1
    trainer = LiftedTrainer(LiftedRoles.of(rt), {0: state_penalty(l1=alpha)}, xp, xp.float64)
    z1 = u @ params["W1"].T + params["b1"]
    batch = trainer.batch(params, u, y, {"h": np.maximum(z1, 0)})
    for _ in range(3000):
        trainer.sweep(params, batch)

    h = cp.Variable((n, 6), nonneg=True)
    z2 = h @ params["W2"].T + np.ones((n, 1)) @ params["b2"][None, :]
    objective = (0.5 * cp.sum_squares(h) - cp.sum(cp.multiply(h, z1))        # B_1 up to const
                 + 0.5 * cp.sum_squares(cp.pos(z2)) - cp.sum(cp.multiply(y, z2))  # B_2 up to const
                 + alpha * cp.sum(cp.abs(h)))
    cp.Problem(cp.Minimize(objective)).solve(solver="CLARABEL")
    assert np.max(np.abs(trainer.states(batch)["h"] - h.value)) <= 1e-6


NETS_FOR_DESCENT = {
    "dense": """
        network d {
            input u : 6
            param W1 : 8x6 = normal(std = 0.5, seed = 1)
            param b1 : 8   = zeros
            z1 = relu(W1 @ u + b1)
            z2 = soft(dense(z1, 5), theta = 0.05)
            z3 = leaky_relu(dense(z2, 8), a = 0.2)
            y  = dense(z3, 4)
            output y
        }""",
    "conv": """
        network c {
            input img : 1x5x5
            f = relu(conv2d(img, 3, kernel = 3, padding = 1))
            g = soft(conv2d(f, 2, kernel = 2, stride = 2), theta = 0.02)
            y = dense(g, 6)
            output y
        }""",
    "smooth": """
        network s {
            input u : 6
            h = tanh(dense(u, 5))
            g = sigmoid(dense(h, 4))
            y = softmax(dense(g, 3))
            output y
        }""",
}
PENALISED = {"dense": "z2", "conv": "g", "smooth": "g"}


@pytest.mark.parametrize("kind", sorted(NETS_FOR_DESCENT))
def test_lifted_objective_decreases_monotonically_in_full_batch(kind):
    net = build_net(NETS_FOR_DESCENT[kind])
    rng = np.random.default_rng(7)
    n = 24
    x = rng.random((n, *net.input_shape))
    if kind == "smooth":                                    # one-hot labels for softmax
        y = np.eye(3)[rng.integers(0, 3, n)]
    else:
        y = rng.standard_normal((n, *net.output_shape))
    pen = PenaltyTerms(terms=(PenaltyTerm(name="l1", variable=PENALISED[kind], weight=0.05),))
    res = train(net, x, y, ImplicitSGD(epochs=40, batch=n, tau=1.0, inner=3), penalties=pen)
    obj = np.array(res.history.metrics["objective"])
    assert obj[-1] < 0.7 * obj[0]
    assert np.all(np.diff(obj) <= 1e-12 * np.abs(obj[:-1]))


def test_after_training_the_forward_pass_matches_the_lifted_states():
    """A teacher–student problem (the student has the teacher's architecture).

    Threshold.  B_Ψ(y, z) ≥ ½‖y − σ(z)‖² and σ is 1-Lipschitz, so the forward pass F_l and the
    states x^l satisfy ‖F_l − x^l‖ ≤ ‖W_l‖₂‖F_{l−1} − x^{l−1}‖ + (2 Σ_n B_l)^½: the deviation
    is controlled by the hidden layers' Bregman terms, which training drives down with the
    objective.  We check that inequality (it must hold exactly) and that, after training,
    the bound — hence the deviation — is below 10% of the last hidden layer's norm (with these
    settings the bound is about 8% and the deviation 6%, while the lifted objective has fallen
    to under 1% of its starting value; the margin absorbs BLAS-order rounding across machines).
    """
    teacher, student = deep(0), deep(10)
    x, y = teacher_data(teacher, 200, seed=0)
    res = train(student, x, y, ImplicitSGD(epochs=100, batch=50, tau=10.0, inner=5), seed=0)
    hist = res.history.metrics
    assert hist["objective"][-1] < 0.01 * hist["objective"][0]
    rt = lifted_network(student)
    p = res.params
    vals = [x.reshape(200, -1)] + [res.lifted_states[blk.var].reshape(200, -1)
                                   for blk in rt.u_blocks[1:-1]] + [y]
    fwd = rt.tape(x.reshape(200, -1), p).blocks
    bound = 0.0
    for layer in rt.layers[:-1]:
        z = layer.pre(p, vals)
        bregman = float(np.sum(layer.psi.bregman(vals[layer.output_block], z)))
        bound = np.linalg.norm(p[layer.A.weight], 2) * bound + np.sqrt(2 * bregman)
        deviation = np.linalg.norm(fwd[layer.output_block] - vals[layer.output_block])
        assert deviation <= bound * (1 + 1e-9)
    last = rt.layers[-2].output_block
    assert bound <= 0.10 * np.linalg.norm(vals[last])
    assert rel(fwd[last], vals[last]) <= 0.10
    assert hist["residual"][-1] <= 0.10


def test_training_is_deterministic_and_backends_agree(xp):
    net = deep(0)
    x, y = teacher_data(deep(3), 12, seed=1)
    settings = ImplicitSGD(epochs=3, batch=5, tau=1.0, inner=2)
    ref = train(net, x, y, settings, seed=4)
    again = train(net, x, y, settings, xp=xp, seed=4)
    other = train(net, x, y, settings, seed=5)
    for name in ref.params:
        np.testing.assert_allclose(to_numpy(again.params[name]), ref.params[name],
                                   rtol=1e-12, atol=1e-12)
    for v in ref.lifted_states:
        np.testing.assert_allclose(to_numpy(again.lifted_states[v]), ref.lifted_states[v],
                                   rtol=1e-12, atol=1e-12)
    assert not np.allclose(other.params["W1"], ref.params["W1"])


def test_lifted_states_start_at_the_forward_pass_in_sample_order():
    net = deep(0)
    x, y = teacher_data(deep(3), 9, seed=2)
    res = train(net, x, y, ImplicitSGD(epochs=0, batch=4))
    pred = reference_forward(net, x)
    np.testing.assert_allclose(res.lifted_states["h2"], pred["h2"], rtol=0, atol=1e-12)
    assert res.history.metrics["residual"] == [0.0]
    # after training: still one row per sample, in the order given
    res = train(net, x, y, ImplicitSGD(epochs=2, batch=4))
    assert res.lifted_states["h1"].shape == (9, 8)


@pytest.mark.parametrize("optimizer", [SGD(lr=0.05, momentum=0.5, epochs=30, batch=8),
                                       Adam(lr=0.01, epochs=30, batch=8)], ids=["sgd", "adam"])
def test_explicit_optimizers_on_the_lifted_loss_decrease_it(optimizer):
    net = deep(0)
    x, y = teacher_data(deep(3), 32, seed=3)
    res = train(net, x, y, optimizer, loss="bregman")
    obj = res.history.metrics["objective"]
    assert res.method == "lifted" and obj[-1] < 0.5 * obj[0]


def test_targets_outside_the_output_domain_are_projected_and_counted():
    net = build_net(RELU)
    x = np.random.default_rng(0).standard_normal((6, 4))
    y = np.full((6, 3), 0.5)
    y[0, 0] = y[3, 2] = -1.0
    res = train(net, x, y, ImplicitSGD(epochs=2, batch=3))
    assert res.projected_targets == 2 and "2 target entries" in res.message
    assert np.isfinite(res.history.metrics["objective"]).all()


def test_predict_runs_the_trained_network():
    net = deep(0)
    x, y = teacher_data(deep(3), 7, seed=4)
    res = train(net, x, y, ImplicitSGD(epochs=1, batch=7))
    trained = dataclasses.replace(net, params={
        k: Param(p.name, p.shape, res.params[k], p.span, p.origin) for k, p in net.params.items()})
    np.testing.assert_allclose(predict(net, res.params, x),
                               reference_forward(trained, x)["y"], rtol=1e-12, atol=1e-12)


def test_the_input_gram_bound_is_exact_at_the_reference_and_above_lambda_max_after():
    """``_input_gram``: ``λ_max`` of the rows' (patches') Gram matrix at a batch's first call
    (dense ``eigvalsh`` of the explicit patch matrix as the oracle), then
    ``(σ_ref + ‖P(Δ)‖_F)²`` — never below the new ``λ_max`` — until the next batch resets it."""
    net = build_net("""network c { input u : 1x6x6
        h = relu(conv2d(u, 2, kernel = 3, padding = 1))
        y = dense(h, 4)  output y }""")
    rt = lifted_network(net)
    trainer = LiftedTrainer(LiftedRoles.of(rt), {}, namespace("numpy"), np.float64)
    rng = np.random.default_rng(3)
    u = {0: rng.random((5, 36)), 1: rng.random((5, 72))}

    def exact(layer, x):          # λ_max of Σ_n J_nᵀJ_n, from the map applied to unit weights
        w = layer.A.weight
        cols = []
        for idx in range(rt.params[w].size):
            p = {w: np.zeros_like(rt.params[w])}
            p[w].reshape(-1)[idx] = 1.0
            cols.append(layer.A.forward(p, x).reshape(-1))
        j = np.stack(cols, axis=1)
        return np.linalg.eigvalsh(j.T @ j)[-1]

    for layer in rt.layers:
        x = u[layer.index]
        first = trainer._input_gram(layer, rt.params, x)
        assert first == pytest.approx(exact(layer, x), rel=1e-10)
        moved = x + 0.01 * rng.standard_normal(x.shape)
        bound = trainer._input_gram(layer, rt.params, moved)
        assert exact(layer, moved) <= bound <= 1.1 * exact(layer, moved)
