"""The α rules against their definitions.

A closed-form "solver" (W = I, identity Ψ, ``J = ½‖·‖²``: ``u_α = f/(1 + α)``, so
``‖N(u_α) − f‖ = α‖f‖/(1 + α)`` and Morozov's α is ``τδ/(‖f‖ − τδ)``) tests the search logic
exactly; one run through ``pdhg`` tests the glue.  The a-priori rule is checked on a problem whose
source element is known by construction (``J = ½‖·‖²``, ``u† = Wᵀv₀`` ⇒ ``v† = v₀``), and the TV
subgradient it builds against the subgradient inequality.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lbdsl.backend import namespace
from lbdsl.solvers import alpha as rules
from lbdsl.solvers.base import History, SolveResult, Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from pdhg_cases import CASES, host, instance, inverse_problem, lifted_single_layer

F = np.array([3.0, -1.0, 2.0, 0.5])


def closed_form():
    """``solve(α, x0)`` for ``u_α = f/(1 + α)`` and its residual norm; records the calls."""
    calls: list[tuple[float, object]] = []

    def solve(alpha: float, x0: object) -> SolveResult:
        calls.append((alpha, x0))
        return SolveResult(u=F / (1.0 + alpha), iterations=1, stop_reason="tol", objective=0.0,
                           residual=0.0, history=History())

    def residual(result: SolveResult) -> float:
        return float(np.linalg.norm(result.u - F))

    return solve, residual, calls


@pytest.mark.parametrize("tau,delta", [(1.1, 0.3), (2.0, 0.05), (1.5, 1.0)])
def test_discrepancy_returns_the_largest_alpha_within_the_bound(tau, delta):
    solve, residual, calls = closed_form()
    choice = rules.discrepancy(delta, tau, solve, residual, alpha0=4.0, q=0.5, bisect=6)
    bound = tau * delta
    assert choice.info["satisfied"]
    r_chosen = residual(choice.result)
    assert r_chosen <= bound
    larger = [(a, r) for a, r in choice.tried if a > choice.alpha]
    assert larger, "some larger alpha was tried"
    next_alpha, next_r = min(larger)
    assert next_r > bound
    assert choice.info["bracket"] == (choice.alpha, next_alpha)
    # the exact Morozov alpha lies in the final bracket, which bisection made narrow
    exact = bound / (np.linalg.norm(F) - bound)
    assert choice.alpha <= exact <= next_alpha
    assert next_alpha / choice.alpha <= 2.0 ** (1 / 2 ** 6) + 1e-12
    # geometric decrease first, then warm starts from the nearest satisfying solution
    assert calls[0] == (4.0, None)
    assert all(isinstance(x0, SolveResult) for _, x0 in calls[1:])
    assert [a for a, _ in choice.tried] == [a for a, _ in calls]


def test_discrepancy_edge_cases():
    solve, residual, calls = closed_form()
    first = rules.discrepancy(100.0, 1.1, solve, residual, alpha0=0.5)
    assert first.alpha == 0.5 and len(first.tried) == 1 and "already" in first.info["note"]
    none = rules.discrepancy(1e-9, 1.1, solve, residual, alpha0=1.0, q=0.5, max_tries=4)
    assert not none.info["satisfied"] and none.alpha == pytest.approx(0.125)
    assert len(none.tried) == 4
    cold = rules.discrepancy(0.3, 1.1, solve, residual, warm_start=False)
    assert cold.info["satisfied"]
    with pytest.raises(ValueError):
        rules.discrepancy(0.3, 1.1, solve, residual, q=1.5)
    with pytest.raises(ValueError):
        rules.discrepancy(-1.0, 1.1, solve, residual)


def test_apriori_from_the_dual_is_morozov_with_tau_sqrt2():
    solve, residual, _ = closed_form()
    delta = 0.2
    choice = rules.apriori_from_dual(delta, solve, residual, alpha0=1.0, steps=30, rtol=1e-10)
    assert residual(choice.result) == pytest.approx(math.sqrt(2) * delta, rel=1e-6)
    # and α = √2 δ / ‖v_α‖ with v_α = (f − N(u_α))/α
    v_norm = residual(choice.result) / choice.alpha
    assert choice.alpha == pytest.approx(math.sqrt(2) * delta / v_norm, rel=1e-6)


def test_apriori_alpha_is_its_formula():
    assert rules.apriori_alpha(0.3, 2.0) == pytest.approx(math.sqrt(2) * 0.3 / 2.0)
    solve, _, calls = closed_form()
    choice = rules.apriori(0.3, solve, v_norm=2.0)
    assert calls == [(choice.alpha, None)] and choice.rule == "apriori"
    with pytest.raises(ValueError):
        rules.apriori_alpha(0.3, 0.0)


def test_apriori_with_a_known_source_element():
    """``J = ½‖·‖²`` has ``∂J(u†) = {u†}``; with ``u† = Wᵀv₀`` the source condition
    ``Wᵀv† = u†`` has the unique solution ``v₀`` (W of full row rank)."""
    rng = np.random.default_rng(0)
    shape, m = (4, 4), 6
    W = rng.standard_normal((m, 16))
    b = rng.standard_normal(m)
    v0 = rng.standard_normal(m)
    truth = (W.T @ v0).reshape(shape)
    lp = lifted_single_layer(W, b, "identity", shape)
    f = W @ truth.reshape(-1) + b
    problem = inverse_problem(lp, f, shape, l2sq=1.0)
    v, misfit = rules.source_element(problem, truth)
    assert misfit < 1e-10
    assert np.allclose(host(v), v0, atol=1e-10)
    delta = 0.05
    seen = []

    def solve_at(alpha, x0=None, label=None):
        seen.append(alpha)
        return pdhg(inverse_problem(lp, f, shape, l2sq=alpha),
                    PDHGSettings(Stopping(max_iter=5000, tol=1e-8)))

    rule = rules.Apriori()
    alpha, result, info = rules.choose(rule, problem, delta, solve_at, truth=truth)
    assert alpha == pytest.approx(math.sqrt(2) * delta / np.linalg.norm(v0), rel=1e-10)
    assert seen == [alpha]
    assert info["rule"] == "apriori" and info["source_misfit"] < 1e-10
    assert info["v_norm"] == pytest.approx(np.linalg.norm(v0), rel=1e-10)
    # a given scale bypasses v†
    alpha2, _, info2 = rules.choose(rules.Apriori(scale=3.0), problem, delta, solve_at)
    assert alpha2 == pytest.approx(3.0 * delta) and info2["scale"] == 3.0


def test_the_tv_source_subgradient_is_a_subgradient(xp):
    """``ξ = ∇ᵀq`` with ``q`` the unit gradient direction on the jump set and 0 elsewhere:
    ``⟨ξ, u†⟩ = TV(u†)`` and ``TV(w) ≥ ⟨ξ, w⟩`` for every ``w`` (TV is 1-homogeneous)."""
    from lbdsl.prox.regularisers import TV

    shape, m = (6, 5), 8
    W, b, f, truth = instance(shape, m, "relu")
    lp = lifted_single_layer(W, b, "relu", shape, xp, xp.float64)
    problem = inverse_problem(lp, f, shape, tv=1.0)
    xi = host(rules._subgradient(problem, xp.asarray(truth))).reshape(-1)
    tv = TV(shape)
    assert float(xi @ truth.reshape(-1)) == pytest.approx(float(tv.value(truth)), rel=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(20):
        w = rng.standard_normal(shape)
        assert float(tv.value(w)) >= float(xi @ w.reshape(-1)) - 1e-12


def test_discrepancy_through_pdhg_and_the_task_glue():
    shape, m = (6, 6), 24
    W, b, f, _ = instance(shape, m, "relu", seed=2, noise=0.2)
    lp = lifted_single_layer(W, b, "relu", shape)
    clean = np.maximum(W @ instance(shape, m, "relu", seed=2, noise=0.2)[3].reshape(-1) + b, 0)
    delta = float(np.linalg.norm(f - clean))
    problem = inverse_problem(lp, f, shape, tv=1.0)
    settings = PDHGSettings(Stopping(max_iter=20000, tol=1e-8))
    starts = []

    def solve_at(alpha, x0=None, label=None):
        starts.append(x0)
        return pdhg(inverse_problem(lp, f, shape, tv=alpha), settings, x0=x0)

    rule = rules.Discrepancy(tau=1.2, alpha0=8.0, q=0.5, max_tries=20)
    alpha, result, info = rules.choose(rule, problem, delta, solve_at)
    residual = rules.residual_norm_of(problem)
    assert info["satisfied"]
    assert residual(result) <= 1.2 * delta
    tried = {a: r for a, r in ((t["alpha"], t["residual"]) for t in info["tried"])}
    larger = min(a for a in tried if a > alpha)
    assert tried[larger] > 1.2 * delta
    assert starts[0] is None and all(isinstance(s, SolveResult) for s in starts[1:])
    assert info["residual"] == pytest.approx(residual(result))


def test_residual_norm_on_a_strict_backend():
    xp = namespace("array_api_strict")
    shape, m = (3, 3), 5
    W, b, f, truth = instance(shape, m, "relu")
    lp = lifted_single_layer(W, b, "relu", shape, xp, xp.float64)
    problem = inverse_problem(lp, f, shape, **CASES["tv"])
    result = SolveResult(u=xp.asarray(truth), iterations=0, stop_reason="tol", objective=0.0,
                         residual=0.0, history=History())
    expected = np.linalg.norm(np.maximum(W @ truth.reshape(-1) + b, 0) - f)
    assert rules.residual_norm_of(problem)(result) == pytest.approx(expected, rel=1e-12)


def test_the_rules_hand_the_previous_result_and_each_solver_takes_its_own_warm_start():
    """The rules pass the previous :class:`SolveResult` (None without warm starts); each solver
    declares the start it takes from it — pdhg the whole result (iterate, dual, penalties),
    the others its iterate."""
    from lbdsl.solvers.registry import SOLVERS

    starts = []

    def solve_at(alpha, x0=None, label=None):
        starts.append(x0)
        return SolveResult(u=F / (1.0 + alpha), iterations=1, stop_reason="tol", objective=0.0,
                           residual=0.0, history=History(), solver="gradient")

    shape = (2, 2)
    lp = lifted_single_layer(np.eye(4), np.zeros(4), "identity", shape)
    problem = inverse_problem(lp, F, shape, l2sq=1.0)
    rule = rules.Discrepancy(tau=1.1, alpha0=4.0, q=0.5, max_tries=10)
    rules.choose(rule, problem, 0.3, solve_at)
    assert starts[0] is None
    assert all(isinstance(s, SolveResult) for s in starts[1:]) and len(starts) > 2
    previous = starts[1]
    assert SOLVERS["pdhg"].warm_start(previous) is previous
    for name in ("gradient", "lifted", "lbfgs", "coordinate"):
        assert SOLVERS[name].warm_start(previous) is previous.u
    starts.clear()
    rules.choose(rule, problem, 0.3, solve_at, warm_start=False)
    assert all(s is None for s in starts)
