"""The solver contract of ``pdhg``: refused steps, divergence guard, warm start, interrupt, batches.

Every variant shares the loop of ``lbdsl.solvers.pdhg.driver``; each behaviour is checked on every
variant where it applies.  No test reads the clock.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.piecewise import ReLU
from lbdsl.prox.regularisers import MixedNorm21
from lbdsl.solvers.base import SolveResult, Stopping
from lbdsl.solvers.registry import require
from lbdsl.solvers.pdhg import PDHGSettings, StepSizeError, pdhg
from lbdsl.solvers.pdhg.condat_vu import lipschitz
from lbdsl.solvers.pdhg.problem import single_layer
from lbdsl.solvers.problems import InverseProblem, Term
from pdhg_cases import CASES, host, instance, inverse_problem, lifted_single_layer

SHAPE, M = (6, 6), 24
VARIANTS = ["admm", "precond", "condat_vu"]


def _problem(psi: str = "relu", case: str = "tv+nonneg", f=None, seed: int = 0):
    W, b, f0, _ = instance(SHAPE, M, psi, seed)
    lp = lifted_single_layer(W, b, psi, SHAPE)
    return inverse_problem(lp, f0 if f is None else f, SHAPE, **CASES[case])


# --- step sizes -------------------------------------------------------------------------------

def test_condat_vu_refuses_steps_that_break_the_rule_and_states_the_bound():
    problem = _problem()
    L = lipschitz(single_layer(problem), 1.01)
    sigma = 0.5
    bound = 1.0 / (L / 2 + sigma * 8.0)
    with pytest.raises(StepSizeError) as err:
        pdhg(problem, PDHGSettings(tau=2.0 * bound, sigma=sigma))
    message = str(err.value)
    assert "1/τ − σ‖∇‖² ≥ ‖W‖²/2" in message
    stated = float(re.search(r"tau <= ([0-9.eE+-]+)", message).group(1))
    assert stated == pytest.approx(bound, rel=1e-5)
    assert isinstance(err.value, ValueError) and isinstance(err.value, SolveError)
    # a step at the bound is accepted, and so is tau alone when some sigma > 0 fits
    pdhg(problem, PDHGSettings(Stopping(max_iter=20), tau=0.999 * bound, sigma=sigma))
    result = pdhg(problem, PDHGSettings(Stopping(max_iter=20), tau=0.5 * bound))
    assert result.solver == "pdhg (condat_vu)"   # given steps choose condat_vu


def test_condat_vu_refuses_tau_beyond_two_over_L_for_every_sigma():
    problem = _problem()
    L = lipschitz(single_layer(problem), 1.01)
    with pytest.raises(StepSizeError, match=r"tau < 2/‖W‖² = "):
        pdhg(problem, PDHGSettings(tau=3.0 / L))


def test_precond_refuses_tau_sigma_above_one():
    with pytest.raises(StepSizeError, match=r"τσ <= 1.*sigma <= 0.5"):
        pdhg(_problem(), PDHGSettings(variant="precond", tau=2.0, sigma=1.0))


@pytest.mark.parametrize("kwargs", [dict(tau=-1.0), dict(sigma=0.0), dict(rho=math.nan),
                                    dict(variant="fista"), dict(relaxation=2.0),
                                    dict(variant="admm", tau=1.0), dict(adapt_every=0)])
def test_settings_refuse_bad_values(kwargs):
    with pytest.raises(ValueError):
        PDHGSettings(**kwargs)


# --- refusals ---------------------------------------------------------------------------------

def test_refuses_the_quadratic_fidelity_and_foreign_regularisers():
    problem = _problem()
    quadratic = InverseProblem(problem.lifted, problem.f, problem.terms, fidelity="l2")
    with pytest.raises(SolveError, match="`fidelity = l2` asks for the quadratic problem$"):
        pdhg(quadratic)
    with pytest.raises(SolveError, match="`fidelity = l2` asks for the quadratic problem; use "
                                         "the `lbfgs` solver"):
        require("pdhg", quadratic)            # the registry names who takes it
    foreign = InverseProblem(problem.lifted, problem.f, (Term(1.0, MixedNorm21(axis=-1)),))
    with pytest.raises(SolveError, match="handles only tv, l1, l2sq, nonneg and box, not `l21`$"):
        pdhg(foreign)
    with pytest.raises(SolveError, match="handles only tv, l1, l2sq, nonneg and box, not `l21`; "
                                         "use the `lifted` solver"):
        require("pdhg", foreign)


def test_refuses_a_deeper_network():
    from lbdsl.program import build_module
    from lbdsl.lift.compact import lift
    from lbdsl.syntax.parser import parse

    src = """network n { input u : 4  param A : 5x4 = normal(seed = 1)  param B : 3x5 = normal()
             h = relu(A @ u)  y = relu(B @ h)  output y }"""
    lp = lift(build_module(parse(src, "<deep>")).networks["n"])
    with pytest.raises(SolveError, match="single layer"):
        pdhg(InverseProblem(lp, np.ones(3)))


# --- divergence guard -------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_divergence_keeps_the_last_finite_iterate(variant, monkeypatch):
    """Ψ's prox starts returning NaN after some calls: the solver stops at the next check with
    the iterate of the last check, which is finite, and says so."""
    problem = _problem()
    calls = {"n": 0}
    poison_after = 35
    original_prox, original_scaled = ReLU.prox, ReLU.prox_scaled

    def count(x):
        calls["n"] += 1
        return x if calls["n"] <= poison_after else x * math.nan

    monkeypatch.setattr(ReLU, "prox", lambda self, z: count(original_prox(self, z)))
    monkeypatch.setattr(ReLU, "prox_scaled", lambda self, v, c: count(original_scaled(self, v, c)))
    seen: list[tuple[int, np.ndarray]] = []
    stopping = Stopping(max_iter=1000, tol=1e-14, check_every=5)
    result = pdhg(problem, PDHGSettings(stopping, variant=variant),
                  monitor=lambda k, m: seen.append((k, m["objective"])))
    assert result.stop_reason == "diverged"
    assert "NaN or infinite" in result.message
    assert np.all(np.isfinite(host(result.u)))
    assert result.iterations % 5 == 0 and result.iterations < 1000
    assert math.isfinite(result.objective)
    # the returned iterate is the one of the last check that the monitor saw
    assert seen and seen[-1][0] == result.iterations
    assert result.history.iteration[-1] == result.iterations


# --- warm start -------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_warm_start_from_the_solution_stops_within_two_checks(variant):
    problem = _problem()
    stopping = Stopping(max_iter=100000, tol=1e-7, check_every=10)
    first = pdhg(problem, PDHGSettings(stopping, variant=variant))
    assert first.stop_reason == "tol"
    again = pdhg(problem, PDHGSettings(stopping, variant=variant), x0=first)
    assert again.stop_reason == "tol"
    assert again.iterations <= 2 * stopping.check_every
    assert np.linalg.norm(host(again.u) - host(first.u)) <= 1e-5 * np.linalg.norm(host(first.u))


def test_warm_start_takes_arrays_and_a_dual():
    problem = _problem()
    stopping = Stopping(max_iter=100000, tol=1e-7, check_every=10)
    first = pdhg(problem, PDHGSettings(stopping))
    again = pdhg(problem, PDHGSettings(stopping), x0=host(first.u).reshape(-1),
                 p0=first.lifted["p"])
    assert again.stop_reason == "tol" and again.iterations <= 2 * stopping.check_every
    cold = pdhg(problem, PDHGSettings(stopping))
    assert cold.iterations > again.iterations


# --- monitor and interrupt --------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_keyboard_interrupt_from_the_monitor_returns_the_current_iterate(variant):
    problem = _problem()
    calls: list[int] = []

    def monitor(k: int, metrics: dict[str, float]) -> None:
        calls.append(k)
        assert {"objective", "residual", "change"} <= set(metrics)
        if len(calls) == 3:
            raise KeyboardInterrupt

    result = pdhg(problem, PDHGSettings(Stopping(max_iter=10000, tol=1e-14, check_every=7),
                                        variant=variant), monitor=monitor)
    assert result.stop_reason == "interrupted"
    assert calls == [7, 14, 21] and result.iterations == 21
    assert np.all(np.isfinite(host(result.u))) and math.isfinite(result.objective)
    assert result.history.iteration == [7, 14, 21]


def test_max_iter_and_the_result_record():
    problem = _problem()
    result = pdhg(problem, PDHGSettings(Stopping(max_iter=23, tol=1e-14, check_every=10)))
    assert result.stop_reason == "max_iter" and result.iterations == 23
    assert result.history.iteration == [10, 20, 23]
    lifted = result.lifted
    u0 = host(result.u).reshape(-1)
    full = host(lifted["u"])
    # the lifted u is the forward pass: (u_0, σ(W u_0 + b))
    assert np.allclose(full[:u0.size], u0)
    assert np.allclose(full[u0.size:], host(lifted["z"]))
    assert host(lifted["p"]).shape == (2, *SHAPE)
    assert np.all(np.linalg.norm(host(lifted["p"]), axis=0) <= CASES["tv+nonneg"]["tv"] + 1e-12)


# --- batches ----------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["admm", "condat_vu"])
def test_a_batch_equals_its_columns_solved_one_by_one(variant):
    W, b, f0, _ = instance(SHAPE, M, "relu")
    lp = lifted_single_layer(W, b, "relu", SHAPE)
    rng = np.random.default_rng(7)
    fs = np.maximum(f0[None, :] + 0.3 * rng.standard_normal((3, M)), 0.0)
    stopping = Stopping(max_iter=100000, tol=1e-8)
    settings = PDHGSettings(stopping, variant=variant)
    batch = pdhg(inverse_problem(lp, fs, SHAPE, **CASES["tv"]), settings)
    assert batch.stop_reason == "tol"
    assert host(batch.u).shape == (3, *SHAPE)
    singles = [pdhg(inverse_problem(lp, fs[i], SHAPE, **CASES["tv"]), settings)
               for i in range(3)]
    for i, single in enumerate(singles):
        ref = host(single.u)
        assert np.linalg.norm(host(batch.u)[i] - ref) <= 1e-5 * np.linalg.norm(ref)
    assert batch.objective == pytest.approx(sum(s.objective for s in singles), rel=1e-7)
    assert host(batch.lifted["objectives"]).shape == (3,)


def test_a_batched_warm_start_accepts_one_unbatched_iterate():
    W, b, f0, _ = instance(SHAPE, M, "relu")
    lp = lifted_single_layer(W, b, "relu", SHAPE)
    single = pdhg(inverse_problem(lp, f0, SHAPE, **CASES["tv"]),
                  PDHGSettings(Stopping(max_iter=100000, tol=1e-8)))
    fs = np.stack([f0, f0])
    batch = pdhg(inverse_problem(lp, fs, SHAPE, **CASES["tv"]),
                 PDHGSettings(Stopping(max_iter=100000, tol=1e-7)), x0=single)
    assert batch.iterations <= 20
    assert isinstance(batch, SolveResult)
