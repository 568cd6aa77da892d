"""The ``lifted`` solver against independent oracles.

- the substitution ``T`` solves ``M u = V z`` and is adjoint to its backward pass;
- ``∇S`` against central finite differences;
- on feed-forward, tied and untied residual, shallow and conv networks: the constraint holds to
  1e-6 (relative), the objective is at most the objective of the lifted ground truth, and the
  reported objective is ``E + J`` re-evaluated from the returned ``(u, z)`` by the IR's forward
  pass and the catalogue's Bregman penalty;
- noiseless data of injective networks: the input is recovered to 1e-3;
- single layers: CVXPY (Clarabel) on the equivalent convex problem;
- warm start, divergence guard, interruption, refusals, array_api_strict and float32.
"""

from __future__ import annotations

import math
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.regularisers.indicators import Box, NonNeg
from lbdsl.prox.regularisers.l1 import L1
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.prox.regularisers.tv import TV
from lbdsl.solvers.base import Stopping
from lbdsl.lift.network import Substitution
from lbdsl.solvers.lifted import LiftedSettings, _Lifted, solve
from lbdsl.solvers.registry import require
from lbdsl.solvers.problems import InverseProblem, Term

from lifted_zoo import host, lifted, output_of

MULTI = ["ff2_leaky", "ff3_mixed", "res_tied", "res_untied", "res_branch_bias", "terms_conv",
         "shallow", "conv_tv", "every_psi"]


def _settings(max_iter: int = 20000, tol: float = 1e-8) -> LiftedSettings:
    return LiftedSettings(Stopping(max_iter=max_iter, tol=tol))


def _truth(name: str, n0: int, rng: np.random.Generator) -> np.ndarray:
    if name == "conv_tv":  # piecewise constant: what TV is for
        return np.kron(np.eye(2), np.ones((3, 3))).reshape(1, 36)
    return rng.normal(size=(3 if n0 == 1 else 1, n0))


def _regulariser(name: str, alpha: float) -> tuple[tuple[Term, ...], Any]:
    if name == "conv_tv":
        tv = TV((6, 6))
        return (Term(alpha, tv),), lambda u: alpha * float(tv.value(u.reshape(-1, 6, 6)))
    return (Term(alpha, L2Squared()),), lambda u: 0.5 * alpha * float(np.sum(u * u))


# ---------------------------------------------------------------- the substitution

@pytest.mark.parametrize("name", MULTI)
def test_substitution_solves_the_constraint_and_has_an_adjoint(name: str) -> None:
    lp = lifted(name)
    T = Substitution(lp)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, T.shape_in[0]))
    u = T.forward(x)
    z = x[:, lp.u_blocks[0].size:]
    assert np.allclose(lp.M.forward(u), lp.V.forward(z), atol=1e-12)
    assert np.allclose(u[:, :lp.u_blocks[0].size], x[:, :lp.u_blocks[0].size])
    g = rng.normal(size=(2, T.shape_out[0]))
    assert abs(np.sum(u * g) - np.sum(x * T.adjoint(g))) <= 1e-10 * np.linalg.norm(u) * \
        np.linalg.norm(g)


@pytest.mark.parametrize("name", MULTI)
@pytest.mark.parametrize("lam", [1.0, 3.0])
def test_smooth_part_gradient_matches_finite_differences(name: str, lam: float) -> None:
    lp = lifted(name)
    rng = np.random.default_rng(1)
    n0 = lp.u_blocks[0].size
    f = rng.normal(size=(2, lp.K.shape_out[0]))
    run = _Lifted(InverseProblem(lp, f, lam=lam), LiftedSettings())
    x = rng.normal(size=(2, n0 + lp.z_size))
    _, g = run.smooth_grad(x)
    for _ in range(3):
        d = rng.normal(size=x.shape)
        h = 1e-6
        fd = (run.smooth(x + h * d) - run.smooth(x - h * d)) / (2 * h)
        assert fd == pytest.approx(float(np.sum(g * d)), rel=1e-6, abs=1e-6)


# ---------------------------------------------------------------- multi-layer problems

@pytest.mark.parametrize("name", MULTI)
def test_lifted_is_feasible_and_beats_the_lifted_ground_truth(name: str) -> None:
    lp = lifted(name)
    rng = np.random.default_rng(1)
    u_true = _truth(name, lp.u_blocks[0].size, rng)
    clean = output_of(name, u_true)
    f = clean + 0.05 * rng.normal(size=clean.shape)
    terms, J = _regulariser(name, 1e-2)
    lam = 2.0
    res = solve(InverseProblem(lp, f, terms=terms, lam=lam), _settings(tol=1e-7))
    assert res.stop_reason == "tol", res.message
    assert res.residual <= 1e-6
    u, z = host(res.lifted["u"]), host(res.lifted["z"])
    u0 = u[:, :lp.u_blocks[0].size]
    # the constraint, independently: M u = V z + c
    mu, vz = host(lp.M.forward(u)), host(lp.V.forward(z))
    vz = vz if lp.c is None else vz + host(lp.c)[None, :]
    assert np.linalg.norm(mu - vz) <= 1e-6 * max(np.linalg.norm(mu), 1.0)
    # the reported objective is E + J at the returned point
    pre = host(lp.W.forward(u) + lp.b)
    energy = (0.5 * lam * np.sum((host(lp.K.forward(u)) - f) ** 2)
              + float(np.sum(host(lp.bregman(z, pre)))) + J(u0))
    assert res.objective == pytest.approx(energy, rel=1e-9, abs=1e-12)
    # ... and at most the objective of the lifted ground truth (u†, z† = forward pass): B = 0
    at_truth = 0.5 * lam * np.sum((clean - f) ** 2) + J(u_true)
    assert res.objective <= at_truth + 1e-12
    assert np.allclose(host(res.u).reshape(u_true.shape), u0)


@pytest.mark.parametrize("name, lam", [("ff2_leaky", 1.0), ("ff2_leaky", math.inf),
                                       ("res_tied", 1.0), ("res_tied", 50.0)])
def test_lifted_recovers_the_input_of_an_injective_network(name: str, lam: float) -> None:
    lp = lifted(name)
    rng = np.random.default_rng(2)
    u_true = rng.normal(size=(1, lp.u_blocks[0].size))
    f = output_of(name, u_true)
    res = solve(InverseProblem(lp, f, terms=(Term(1e-9, L2Squared()),), lam=lam),
                _settings(tol=1e-10))
    assert res.stop_reason == "tol"
    assert np.max(np.abs(host(res.u).reshape(u_true.shape) - u_true)) <= 1e-3
    assert res.residual <= 1e-12


def test_lifted_converges_quickly_on_the_tied_residual_network() -> None:
    """A regression guard on the iteration count (measured: about 40 at tol 1e-8)."""
    lp = lifted("res_tied")
    u_true = np.array([[0.3, -0.7]])
    res = solve(InverseProblem(lp, output_of("res_tied", u_true),
                               terms=(Term(1e-6, L2Squared()),)), _settings(tol=1e-8))
    assert res.stop_reason == "tol" and res.iterations <= 300


# ---------------------------------------------------------------- single layers: CVXPY

def _cvxpy_solve(objective: Any, constraints: list[Any] = ()) -> float:
    problem = cp.Problem(cp.Minimize(objective), list(constraints))
    # Clarabel's default gaps (1e-8) leave the exponential-cone optimum ~3e-5 off in u
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert problem.status == cp.OPTIMAL
    return float(problem.value)


def test_single_relu_layer_with_l1_and_nonneg_matches_cvxpy() -> None:
    """λ = ∞: ``min_u B_relu(f, W u + b) + α‖u‖₁ + χ(u ≥ 0)`` (math.md §3), convex in u."""
    lp = lifted("single_relu")
    W, b = lp.W.dense(np, np.float64)[:, :6], host(lp.b)
    rng = np.random.default_rng(3)
    u_true = np.abs(rng.normal(size=6))
    f = np.maximum(np.maximum(W @ u_true + b, 0) + 0.1 * rng.normal(size=12), 0)  # in dom Ψ
    alpha = 0.05
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, L1()),), constraints=(NonNeg(),),
                               lam=math.inf), _settings(tol=1e-10))
    u = cp.Variable(6)
    x = W @ u + b
    best = _cvxpy_solve(cp.sum(0.5 * cp.square(cp.pos(x)) - cp.multiply(f, x)) + 0.5 * f @ f
                        + alpha * cp.norm1(u), [u >= 0])
    assert res.stop_reason == "tol"
    assert np.allclose(host(res.u), u.value, atol=1e-5)
    assert res.objective == pytest.approx(best, rel=1e-7)
    assert np.allclose(host(res.lifted["z"]), f)        # the output is pinned to the data


def test_single_sigmoid_layer_with_l2sq_and_box_matches_cvxpy() -> None:
    """``B_sigmoid(f, x) = Σ log(1 + eˣ) − f x + Φ(f)``: logistic loss, exponential cone."""
    lp = lifted("single_sigmoid")
    W, b = lp.W.dense(np, np.float64)[:, :5], host(lp.b)
    rng = np.random.default_rng(4)
    f = np.clip(1 / (1 + np.exp(-(W @ rng.normal(size=5) + b))) + 0.05 * rng.normal(size=9),
                0.01, 0.99)
    alpha = 0.1
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, L2Squared()),),
                               constraints=(Box(-0.5, 0.8),), lam=math.inf),
                _settings(tol=1e-10))
    u = cp.Variable(5)
    x = W @ u + b
    phi_f = float(np.sum(f * np.log(f) + (1 - f) * np.log(1 - f)))
    best = _cvxpy_solve(cp.sum(cp.logistic(x) - cp.multiply(f, x)) + phi_f
                        + 0.5 * alpha * cp.sum_squares(u), [u >= -0.5, u <= 0.8])
    assert res.stop_reason == "tol"
    assert np.allclose(host(res.u), u.value, atol=1e-5)
    assert res.objective == pytest.approx(best, rel=1e-6)


def test_single_linear_layer_with_finite_lambda_matches_cvxpy() -> None:
    """Identity Ψ, λ = 3: ``(λ/2)‖z − f‖² + ½‖z − (W u + b)‖² + α‖u‖₁`` jointly convex."""
    lp = lifted("single_identity")
    W, b = lp.W.dense(np, np.float64)[:, :5], host(lp.b)
    rng = np.random.default_rng(5)
    f = rng.normal(size=8)
    lam, alpha = 3.0, 0.2
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, L1()),), lam=lam), _settings(tol=1e-10))
    u, z = cp.Variable(5), cp.Variable(8)
    _cvxpy_solve(0.5 * lam * cp.sum_squares(z - f) + 0.5 * cp.sum_squares(z - W @ u - b)
                 + alpha * cp.norm1(u))
    assert np.allclose(host(res.u), u.value, atol=1e-6)
    assert np.allclose(host(res.lifted["z"]), z.value, atol=1e-6)


# ---------------------------------------------------------------- warm start and guards

def test_warm_start_from_the_solution_stops_at_the_first_check() -> None:
    lp = lifted("res_untied")
    f = output_of("res_untied", np.array([[0.2, -0.1, 0.4]]))
    problem = InverseProblem(lp, f, terms=(Term(1e-3, L2Squared()),))
    first = solve(problem, _settings(tol=1e-9))
    again = solve(problem, _settings(tol=1e-9), x0=first.lifted)
    assert again.stop_reason == "tol" and again.iterations <= 10
    assert np.allclose(host(again.u), host(first.u), atol=1e-7)
    from_input = solve(problem, _settings(tol=1e-9), x0=host(first.u))
    assert from_input.iterations < first.iterations


def test_a_fixed_step_that_is_far_too_long_diverges_to_the_last_finite_iterate() -> None:
    lp = lifted("ff3_mixed")
    f = output_of("ff3_mixed", np.ones((1, 3)))
    settings = LiftedSettings(Stopping(max_iter=500), tau=1e3, backtracking=False, momentum=0.9)
    with np.errstate(all="ignore"):
        res = solve(InverseProblem(lp, f), settings)
    assert res.stop_reason == "diverged"
    assert np.all(np.isfinite(host(res.u))) and np.all(np.isfinite(host(res.lifted["z"])))


def test_keyboard_interrupt_from_the_monitor_stops_cleanly() -> None:
    lp = lifted("ff2_leaky")
    f = output_of("ff2_leaky", np.ones((1, 4)))
    seen: list[int] = []

    def monitor(k: int, metrics: dict[str, float]) -> None:
        assert {"objective", "residual", "change"} <= set(metrics)
        seen.append(k)
        if k >= 20:
            raise KeyboardInterrupt

    res = solve(InverseProblem(lp, f), _settings(tol=1e-14), monitor=monitor)
    assert res.stop_reason == "interrupted" and res.iterations == 20 and seen == [10, 20]
    assert np.all(np.isfinite(host(res.u)))


def test_refusals_are_one_line_reasons() -> None:
    lp = lifted("res_tied")
    f = np.zeros((1, 2))
    with pytest.raises(SolveError, match="plain"):
        solve(InverseProblem(lp, f, lam=math.inf))
    with pytest.raises(SolveError, match="`fidelity = l2` asks for the quadratic problem$"):
        solve(InverseProblem(lp, f, fidelity="l2"))
    with pytest.raises(SolveError, match="use the `lbfgs` solver"):
        require("lifted", InverseProblem(lp, f, fidelity="l2"))
    with pytest.raises(SolveError, match="entries"):
        solve(InverseProblem(lp, np.zeros((1, 5))))


# ---------------------------------------------------------------- backends and dtypes

def test_lifted_on_every_backend(xp: Any) -> None:
    lp = lifted("res_tied", xp)
    u_true = np.array([[0.5, -0.3], [0.1, 0.2]])
    f = xp.asarray(output_of("res_tied", u_true))
    res = solve(InverseProblem(lp, f, terms=(Term(1e-8, L2Squared()),)), _settings(tol=1e-9))
    assert res.stop_reason == "tol"
    assert np.max(np.abs(host(res.u) - u_true)) <= 1e-3
    assert res.residual <= 1e-12


def test_lifted_keeps_float32(xp: Any) -> None:
    lp = lifted("ff2_leaky", xp, xp.float32)
    u_true = np.array([[0.5, -0.3, 0.2, 1.0]])
    f = xp.asarray(output_of("ff2_leaky", u_true), dtype=xp.float32)
    res = solve(InverseProblem(lp, f, terms=(Term(1e-6, L2Squared()),)),
                _settings(max_iter=3000, tol=1e-4))
    assert res.u.dtype == xp.float32 and res.lifted["z"].dtype == xp.float32
    assert res.stop_reason in ("tol", "max_iter")
    assert np.max(np.abs(host(res.u) - u_true)) <= 1e-2
