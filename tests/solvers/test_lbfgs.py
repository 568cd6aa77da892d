"""``lbfgs`` and its line searches against independent oracles.

- the strong Wolfe search: both conditions checked on the returned step for smooth functions
  from steps far too short and far too long; its cubic step against the interpolating cubic's
  minimiser in closed form; sufficient decrease on a kinked function; the projected Armijo search;
- convex instances: a linear network with l2sq against the normal equations (also a batch); TV
  smoothed as ``(|∇u|² + ε²)^½`` against CVXPY, which models it exactly as a second-order cone
  (with and without a box);
- a nonconvex ReLU network: descent within each ε stage, the reported objective against one
  computed here, and the gradient at the end against central finite differences of ``F_ε``;
- refusals, settings, a stall at an exact minimiser, array_api_strict and float32.
"""

from __future__ import annotations

import math
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.regularisers.indicators import Box, NonNeg
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.prox.regularisers.tv import TV
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.lbfgs import LBFGSSettings, solve
from lbdsl.solvers.line_search import Trial, backtracking, cubic_step, strong_wolfe
from lbdsl.solvers.registry import require
from lbdsl.solvers.problems import InverseProblem, Term
from lifted_zoo import host, lifted as lift_zoo, output_of


def _settings(max_iter: int = 5000, tol: float = 1e-10, **kw: Any) -> LBFGSSettings:
    return LBFGSSettings(Stopping(max_iter=max_iter, tol=tol), **kw)


# ---------------------------------------------------------------- line searches

def _phi(f: Any, df: Any) -> Any:
    return lambda t: Trial(t, float(f(t)), float(df(t)))


SMOOTH = {
    "quadratic": (lambda t: (t - 2.0) ** 2, lambda t: 2.0 * (t - 2.0)),
    "quartic": (lambda t: (t - 0.3) ** 4 - t, lambda t: 4.0 * (t - 0.3) ** 3 - 1.0),
    # Rosenbrock along the steepest descent direction from (-1.2, 1)
    "rosenbrock": (lambda t: (1 - (-1.2 + 215.6 * t)) ** 2
                   + 100 * ((1 + 88 * t) - (-1.2 + 215.6 * t) ** 2) ** 2,
                   lambda t: -2 * 215.6 * (1 - (-1.2 + 215.6 * t))
                   + 200 * ((1 + 88 * t) - (-1.2 + 215.6 * t) ** 2)
                   * (88 - 2 * 215.6 * (-1.2 + 215.6 * t))),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
@pytest.mark.parametrize("t0", [1e-6, 1e-3, 1.0, 1e3])
def test_strong_wolfe_returns_a_step_with_both_conditions(name: str, t0: float) -> None:
    f, df = SMOOTH[name]
    c1, c2 = 1e-4, 0.9
    start = Trial(0.0, f(0.0), df(0.0))
    assert start.slope < 0
    found = strong_wolfe(_phi(f, df), start, t0, c1=c1, c2=c2)
    t = found.trial.t
    assert found.wolfe and found.evaluations <= 25
    assert f(t) <= f(0.0) + c1 * t * df(0.0)
    assert abs(df(t)) <= -c2 * df(0.0)


def test_the_cubic_step_is_the_minimiser_of_the_interpolating_cubic() -> None:
    p = np.polynomial.Polynomial([1.0, -3.0, 0.5, 0.4])     # a cubic with a local minimum
    dp = p.deriv()
    a, b = 0.0, 2.5
    step = cubic_step(Trial(a, p(a), dp(a)), Trial(b, p(b), dp(b)), -10.0, 10.0)
    roots = dp.roots()
    local_min = max(r.real for r in roots if abs(r.imag) < 1e-12)   # p'' > 0 at the larger
    assert p.deriv(2)(local_min) > 0
    assert step == pytest.approx(local_min, rel=1e-12)
    # clamped to the interval asked for, and the midpoint where no minimiser exists
    assert cubic_step(Trial(a, p(a), dp(a)), Trial(b, p(b), dp(b)), 0.0, 1.0) == 1.0
    line = np.polynomial.Polynomial([0.0, -1.0])
    assert cubic_step(Trial(0, 0, -1), Trial(1, line(1), -1), 2.0, 4.0) == 3.0


def test_on_a_kink_the_search_still_decreases() -> None:
    f = lambda t: abs(t - 1.0) + 0.05 * t * t  # noqa: E731
    df = lambda t: math.copysign(1.0, t - 1.0) + 0.1 * t  # noqa: E731
    start = Trial(0.0, f(0.0), df(0.0))
    for t0 in (0.5, 1.0, 3.0, 100.0):
        found = strong_wolfe(_phi(f, df), start, t0)
        assert found.trial is not None and f(found.trial.t) < f(0.0) - 1e-4 * found.trial.t


def test_no_descent_direction_finds_nothing() -> None:
    f, df = SMOOTH["quadratic"]
    assert strong_wolfe(_phi(f, df), Trial(0.0, 4.0, 0.0), 1.0).trial is None


def test_projected_backtracking_accepts_the_first_step_with_sufficient_decrease() -> None:
    x, g = np.array([0.5, 0.9]), np.array([-1.0, -1.0])     # F(x) = −Σx on the box [0, 1]²
    seen = []

    def phi(t: float) -> Trial:
        seen.append(t)
        x_t = np.clip(x - t * g, 0.0, 1.0)
        return Trial(t, float(-x_t.sum()), math.nan, x_t)

    found = backtracking(phi, Trial(0.0, float(-x.sum()), math.nan),
                         lambda tr: float(g @ (tr.payload - x)), 8.0)
    assert seen == [8.0] and np.allclose(found.trial.payload, [1.0, 1.0])


# ---------------------------------------------------------------- convex instances

def test_a_linear_network_with_l2sq_matches_the_normal_equations() -> None:
    lp = lift_zoo("single_identity")
    W, b = lp.W.dense(np, np.float64)[:, :5], host(lp.b)
    f = np.random.default_rng(1).normal(size=(3, 8))        # a batch of three
    c = 0.7
    res = solve(InverseProblem(lp, f, terms=(Term(c, L2Squared()),), fidelity="l2"),
                _settings())
    want = np.linalg.solve(W.T @ W + c * np.eye(5), W.T @ (f - b).T).T
    assert res.stop_reason in ("tol", "stalled")
    assert np.allclose(host(res.u), want, atol=1e-7)


def _tv_eps_cvxpy(U: Any, eps: float) -> Any:
    """``Σ_i (|∇U|_i² + ε²)^½``, forward differences, Neumann boundary, as a cone."""
    n = U.shape[0]
    dx = cp.vstack([U[1:, :] - U[:-1, :], np.zeros((1, n))])
    dy = cp.hstack([U[:, 1:] - U[:, :-1], np.zeros((n, 1))])
    stacked = cp.vstack([cp.vec(dx, order="C"), cp.vec(dy, order="C"), eps * np.ones(n * n)])
    return cp.sum(cp.norm(stacked, 2, axis=0))


@pytest.mark.parametrize("box", [None, (0.0, 0.8)])
def test_smoothed_tv_matches_cvxpy(box: tuple[float, float] | None) -> None:
    lp = lift_zoo("linear_image")
    W = lp.W.dense(np, np.float64)[:, :25]
    truth = np.zeros((5, 5))
    truth[1:4, 2:5] = 1.0
    f = W @ truth.reshape(-1) + 0.05 * np.random.default_rng(6).normal(size=15)
    alpha, eps = 0.05, 1e-2
    constraints = (Box(*box),) if box else ()
    res = solve(InverseProblem(lp, f, terms=(Term(alpha, TV((5, 5))),), constraints=constraints,
                               fidelity="l2"), _settings(tol=1e-12, eps=eps))
    U = cp.Variable((5, 5))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(W @ cp.vec(U, order="C") - f)
                                     + alpha * _tv_eps_cvxpy(U, eps)),
                         [U >= box[0], U <= box[1]] if box else [])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status == cp.OPTIMAL
    assert res.history.metrics["eps"][-1] == eps
    assert res.history.metrics["smoothed"][-1] == pytest.approx(problem.value, rel=1e-8)
    assert np.allclose(host(res.u), U.value, atol=1e-5)
    if box:
        assert host(res.u).min() >= 0.0 and host(res.u).max() <= 0.8


# ---------------------------------------------------------------- a nonconvex network

def _relu_problem() -> InverseProblem:
    lp = lift_zoo("ff3_mixed")
    f = output_of("ff3_mixed", np.array([0.4, -0.2, 0.9])) + 0.01
    return InverseProblem(lp, f, terms=(Term(0.02, TV((3,))),), fidelity="l2")


def _objective_here(u: np.ndarray, eps: float | None) -> float:
    """``½‖N(u) − f‖² + 0.02·TV`` (TV smoothed with ε, or exact), by the reference forward."""
    f = output_of("ff3_mixed", np.array([0.4, -0.2, 0.9])) + 0.01
    r = output_of("ff3_mixed", u) - f
    d = np.append(np.diff(u), 0.0)           # the Neumann boundary's last difference is 0
    tv = np.sum(np.abs(d)) if eps is None else np.sum(np.sqrt(d * d + eps * eps))
    return 0.5 * float(r @ r) + 0.02 * float(tv)


def test_on_a_relu_network_it_descends_and_ends_stationary() -> None:
    settings = _settings(max_iter=400, tol=1e-9, eps=1e-3)
    res = solve(_relu_problem(), settings)
    hist = res.history.metrics
    for k in range(1, len(hist["smoothed"])):    # non-increasing within each ε stage
        if hist["eps"][k] == hist["eps"][k - 1]:
            assert hist["smoothed"][k] <= hist["smoothed"][k - 1] + 1e-12
    u = host(res.u)
    assert res.objective == pytest.approx(_objective_here(u, None), rel=1e-12)
    assert hist["smoothed"][-1] == pytest.approx(_objective_here(u, 1e-3), rel=1e-12)
    h = 1e-6
    fd = np.array([(_objective_here(u + h * e, 1e-3) - _objective_here(u - h * e, 1e-3))
                   / (2 * h) for e in np.eye(3)])
    start = np.array([(_objective_here(h * e, 1e-3) - _objective_here(-h * e, 1e-3)) / (2 * h)
                      for e in np.eye(3)])
    assert np.linalg.norm(fd) <= 1e-5 * np.linalg.norm(start)


def test_at_an_exact_minimiser_it_stops_at_the_first_check() -> None:
    lp = lift_zoo("single_identity")          # N(0) = b = f: the gradient is exactly 0
    res = solve(InverseProblem(lp, host(lp.b), fidelity="l2"), _settings())
    assert res.stop_reason == "tol" and res.iterations == 10
    assert np.array_equal(host(res.u), np.zeros(5))


# ---------------------------------------------------------------- refusals and settings

def test_refusals_name_the_solver_that_takes_the_problem() -> None:
    lp = lift_zoo("ff3_mixed")
    with pytest.raises(SolveError, match="`lbfgs`: "):
        solve(InverseProblem(lp, np.zeros(4)))
    with pytest.raises(SolveError, match="`lbfgs`: .*; use the `lifted` solver"):
        require("lbfgs", InverseProblem(lp, np.zeros(4)))
    with pytest.raises(SolveError, match="entries"):
        solve(InverseProblem(lp, np.zeros(5), fidelity="l2"))


@pytest.mark.parametrize("kwargs, match", [
    ({"memory": 0}, "memory"), ({"eps": 0.0}, "eps"), ({"eps": 1e-2, "eps_start": 1e-3},
                                                       "eps_start"),
    ({"eps_factor": 1.0}, "eps_factor"), ({"stage_tol": -1.0}, "stage_tol")])
def test_bad_settings_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LBFGSSettings(**kwargs)


def test_the_nonneg_constraint_holds_on_a_relu_network() -> None:
    p = _relu_problem()
    res = solve(InverseProblem(p.lifted, p.f, p.terms, constraints=(NonNeg(),),
                               fidelity="l2"), _settings(max_iter=300))
    assert host(res.u).min() >= 0.0


# ---------------------------------------------------------------- backends and dtypes

def test_lbfgs_on_every_backend_and_in_float32(xp: Any) -> None:
    rng = np.random.default_rng(9)
    u_true = rng.normal(size=(2, 2))
    f = output_of("res_tied", u_true)
    for dtype, tol, atol in ((xp.float64, 1e-10, 1e-5), (xp.float32, 1e-5, 1e-2)):
        lp = lift_zoo("res_tied", xp, dtype)
        res = solve(InverseProblem(lp, xp.asarray(f, dtype=dtype), fidelity="l2",
                                   terms=(Term(1e-8, L2Squared()),)), _settings(5000, tol))
        assert res.u.dtype == dtype and res.u.shape == (2, 2)
        assert np.allclose(host(res.u), u_true, atol=atol)


def test_a_coarse_stage_that_stalls_goes_on_to_the_final_eps(monkeypatch) -> None:
    """A stall (no decrease along any direction) at a coarse ε moves to the next ε instead of
    ending the run: forced here by a line search that finds nothing while ε > 0.01."""
    import lbdsl.solvers.lbfgs as lb
    from lbdsl.solvers.line_search import Found

    search = lb.QuasiNewton._search

    def nothing_while_coarse(self, d, first):
        return Found(None, 0) if self.eps > 0.01 else search(self, d, first)

    monkeypatch.setattr(lb.QuasiNewton, "_search", nothing_while_coarse)
    res = solve(_relu_problem(), _settings(max_iter=400, tol=1e-9, eps=1e-3))
    eps = res.history.metrics["eps"]
    assert eps[-1] == pytest.approx(1e-3) and max(eps) <= 0.01 + 1e-15
    assert res.objective == pytest.approx(_objective_here(host(res.u), None), rel=1e-12)


def test_a_coarse_stage_that_stopped_moving_goes_on_to_the_next_eps() -> None:
    """At a check where the mean relative change fell to ``tol`` during a coarse stage, the
    next ε (``eps_factor`` smaller) begins; at the final ε nothing changes."""
    from lbdsl.solvers.lbfgs import QuasiNewton

    problem = _relu_problem()
    settings = _settings(max_iter=400, tol=1e-6, eps=1e-3)
    it = QuasiNewton(problem, settings, np.zeros(3))
    assert it.eps == pytest.approx(0.1)            # the default start: 100·eps
    it.step()
    it.check(1)                                    # it moved: the stage goes on
    assert it.eps == pytest.approx(0.1)
    it.check(2)                                    # no step since: change 0 ≤ tol
    assert it.eps == pytest.approx(0.01) and it.pairs == ()
    it.eps = 1e-3
    it.check(3)
    assert it.eps == pytest.approx(1e-3)
