"""Backpropagation and the ``gradient`` baseline against independent oracles.

- every Ψ's ``σ'ᵀ g`` and the whole reverse pass (dense, transposed, linear, conv2d with stride
  and padding, tied and untied residuals of both signs) against central finite differences of
  the IR's reference forward pass, at points away from the kinks;
- FISTA on convex instances (a linear network with l1, or with TV and a box; a single layer
  with the Bregman fidelity) against CVXPY;
- monotone descent on a nonconvex network; guards; array_api_strict and float32.
"""

from __future__ import annotations

import math
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.catalogue import (Clip, Identity, LeakyReLU, ReLU, Sigmoid, SoftThreshold,
                                  Softmax, Tanh)
from lbdsl.prox.regularisers.indicators import Box, NonNeg
from lbdsl.prox.regularisers.l1 import L1
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.prox.regularisers.tv import TV
from lbdsl.solvers import lifted
from lbdsl.lift.network import activation_vjp
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.gradient import GradientSettings, solve
from lbdsl.solvers.registry import require
from lbdsl.solvers.problems import InverseProblem, Term

from lifted_zoo import host, lifted as lift_zoo, output_of

PSIS = [Identity(), ReLU(), LeakyReLU(0.3), SoftThreshold(0.4), Clip(-0.5, 0.7), Tanh(),
        Sigmoid(), Softmax()]
KINKS = {ReLU: lambda p: (0.0,), LeakyReLU: lambda p: (0.0,),
         SoftThreshold: lambda p: (-p.theta, p.theta), Clip: lambda p: (p.lo, p.hi)}
BACKPROP_NETWORKS = ["every_psi", "transposed_linear", "res_every_sign", "res_tied",
                     "res_untied", "conv", "ff3_mixed", "shallow"]


def _settings(max_iter: int = 20000, tol: float = 1e-9, **kw: Any) -> GradientSettings:
    return GradientSettings(Stopping(max_iter=max_iter, tol=tol), **kw)


def _away_from_kinks(psi: Any, x: np.ndarray, margin: float) -> bool:
    kinks = KINKS.get(type(psi), lambda p: ())(psi)
    return all(np.min(np.abs(x - k)) > margin for k in kinks)


@pytest.mark.parametrize("psi", PSIS, ids=lambda p: p.name)
def test_activation_vjp_matches_finite_differences(psi: Any) -> None:
    rng = np.random.default_rng(0)
    x = 1.5 * rng.normal(size=(3, 6))
    assert _away_from_kinks(psi, x, 1e-3)
    g, d = rng.normal(size=x.shape), rng.normal(size=x.shape)
    h = 1e-6
    fd = np.sum(g * (np.asarray(psi.prox(x + h * d)) - np.asarray(psi.prox(x - h * d)))) / (2 * h)
    assert float(np.sum(np.asarray(activation_vjp(psi, x, g)) * d)) == pytest.approx(fd, rel=1e-6,
                                                                                    abs=1e-9)


@pytest.mark.parametrize("name", BACKPROP_NETWORKS)
def test_backprop_matches_finite_differences_of_the_reference_forward_pass(name: str) -> None:
    lp = lift_zoo(name)
    rng = np.random.default_rng(3)
    n0 = lp.u_blocks[0].size
    u0 = rng.normal(size=(2, n0))
    tape = lp.tape(u0)
    for layer, x in zip(lp.layers, tape.pre):     # every pre-activation is away from its kinks
        assert _away_from_kinks(layer.psi, np.asarray(x), 1e-4), layer.psi
    assert np.allclose(host(tape.blocks[lp.output_block]), output_of(name, u0), atol=1e-12)
    g = rng.normal(size=(2, lp.K.shape_out[0]))
    grad = host(lp.vjp(tape, {lp.output_block: g})[0])
    for _ in range(3):
        d = rng.normal(size=u0.shape)
        h = 1e-6
        fd = np.sum(g * (output_of(name, u0 + h * d) - output_of(name, u0 - h * d))) / (2 * h)
        assert float(np.sum(grad * d)) == pytest.approx(fd, rel=1e-6, abs=1e-8)


# ---------------------------------------------------------------- convex instances: CVXPY

def _cvxpy(objective: Any, constraints: list[Any] = ()) -> float:
    problem = cp.Problem(cp.Minimize(objective), list(constraints))
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.OPTIMAL
    return float(problem.value)


def test_fista_on_a_linear_network_with_l1_matches_cvxpy() -> None:
    lp = lift_zoo("single_identity")
    W, b = lp.W.dense(np, np.float64)[:, :5], host(lp.b)
    f = np.random.default_rng(5).normal(size=8)
    alpha = 0.3
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, L1()),), fidelity="l2"), _settings())
    u = cp.Variable(5)
    best = _cvxpy(0.5 * cp.sum_squares(W @ u + b - f) + alpha * cp.norm1(u))
    assert res.stop_reason == "tol"
    assert np.allclose(host(res.u), u.value, atol=1e-6)
    assert res.objective == pytest.approx(best, rel=1e-8)


def _tv_cvxpy(U: Any) -> Any:
    """Isotropic TV with forward differences and a Neumann boundary (the last difference 0)."""
    n = U.shape[0]
    dx = cp.vstack([U[1:, :] - U[:-1, :], np.zeros((1, n))])
    dy = cp.hstack([U[:, 1:] - U[:, :-1], np.zeros((n, 1))])
    return cp.sum(cp.norm(cp.vstack([cp.vec(dx, order="C"), cp.vec(dy, order="C")]), 2, axis=0))


def test_fista_with_tv_and_a_box_matches_cvxpy() -> None:
    """TV's prox is iterative (warm-started dual) and composed with the box by FGP."""
    lp = lift_zoo("linear_image")
    W = lp.W.dense(np, np.float64)[:, :25]
    truth = np.zeros((5, 5))
    truth[1:4, 2:5] = 1.0
    f = W @ truth.reshape(-1) + 0.05 * np.random.default_rng(6).normal(size=15)
    alpha = 0.05
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, TV((5, 5))),),
                               constraints=(Box(0.0, 0.8),), fidelity="l2"), _settings(tol=1e-9))
    U = cp.Variable((5, 5))
    best = _cvxpy(0.5 * cp.sum_squares(W @ cp.vec(U, order="C") - f) + alpha * _tv_cvxpy(U),
                  [U >= 0, U <= 0.8])
    assert res.stop_reason == "tol"
    assert host(res.u).shape == (5, 5)
    assert np.allclose(host(res.u), U.value, atol=1e-4)
    assert res.objective == pytest.approx(best, rel=1e-6)


def test_bregman_fidelity_of_a_single_layer_agrees_with_lifted_at_lambda_infinity() -> None:
    lp = lift_zoo("single_relu")
    rng = np.random.default_rng(7)
    f = np.maximum(output_of("single_relu", rng.normal(size=6)) + 0.1 * rng.normal(size=12), 0)
    terms, constraints = (Term(0.05, L1()),), (NonNeg(),)
    base = solve(InverseProblem(lp, f, terms=terms, constraints=constraints), _settings(tol=1e-10))
    lift = lifted.solve(InverseProblem(lp, f, terms=terms, constraints=constraints, lam=math.inf),
                        lifted.LiftedSettings(Stopping(max_iter=20000, tol=1e-10)))
    assert np.allclose(host(base.u), host(lift.u), atol=1e-6)
    assert base.objective == pytest.approx(lift.objective, rel=1e-8)


# ---------------------------------------------------------------- nonconvex: monotone

@pytest.mark.parametrize("name", ["ff3_mixed", "every_psi"])
def test_the_objective_never_increases_on_a_nonconvex_network(name: str) -> None:
    lp = lift_zoo(name)
    rng = np.random.default_rng(8)
    n0 = lp.u_blocks[0].size
    f = output_of(name, rng.normal(size=(1, n0))) + 0.05 * rng.normal(size=(1, lp.K.shape_out[0]))
    values: list[float] = []
    res = solve(InverseProblem(lp, f, terms=(Term(1e-3, L2Squared()),), fidelity="l2"),
                GradientSettings(Stopping(max_iter=300, tol=1e-10, check_every=1)),
                monitor=lambda k, m: values.append(m["objective"]))
    assert len(values) == res.iterations
    assert all(b <= a * (1 + 1e-12) + 1e-15 for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]


def test_gradient_refuses_the_lifted_problem_of_a_deep_network() -> None:
    lp = lift_zoo("ff3_mixed")
    problem = InverseProblem(lp, np.zeros((1, 4)))
    with pytest.raises(SolveError, match="`gradient`: .*single layer"):
        solve(problem)
    with pytest.raises(SolveError, match="; use the `lifted` solver"):
        require("gradient", problem)          # the registry names who takes it


def test_a_far_too_long_fixed_step_diverges_and_interrupt_stops(recwarn: Any) -> None:
    lp = lift_zoo("single_identity")
    problem = InverseProblem(lp, np.arange(8.0), fidelity="l2")
    with np.errstate(all="ignore"):
        res = solve(problem, _settings(max_iter=2000, lr=1e4, backtracking=False, momentum=0.9))
    assert res.stop_reason == "diverged" and np.all(np.isfinite(host(res.u)))

    def stop(k: int, metrics: dict[str, float]) -> None:
        raise KeyboardInterrupt

    cut = solve(problem, _settings(tol=1e-14), monitor=stop)
    assert cut.stop_reason == "interrupted" and cut.iterations == 10


def test_warm_start_from_the_solution() -> None:
    lp = lift_zoo("single_identity")
    problem = InverseProblem(lp, np.arange(8.0), terms=(Term(0.3, L1()),), fidelity="l2")
    first = solve(problem, _settings())
    again = solve(problem, _settings(), x0=first.u)
    assert again.iterations <= 10 and np.allclose(host(again.u), host(first.u), atol=1e-8)


# ---------------------------------------------------------------- backends and dtypes

def test_gradient_on_every_backend_and_in_float32(xp: Any) -> None:
    rng = np.random.default_rng(9)
    u_true = rng.normal(size=(2, 2))
    f = output_of("res_tied", u_true)
    want = None
    for dtype, tol, atol in ((xp.float64, 1e-10, 1e-5), (xp.float32, 1e-5, 1e-2)):
        lp = lift_zoo("res_tied", xp, dtype)
        res = solve(InverseProblem(lp, xp.asarray(f, dtype=dtype), fidelity="l2",
                                   terms=(Term(1e-8, L2Squared()),)), _settings(5000, tol))
        assert res.u.dtype == dtype and res.u.shape == (2, 2)
        want = host(res.u) if want is None else want
        assert np.allclose(host(res.u), u_true, atol=atol)
