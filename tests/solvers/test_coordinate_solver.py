"""The seed's coordinate descent for shallow sums, against brute force and against ``lifted``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from lbdsl.errors import SolveError
from lbdsl.prox.regularisers.indicators import NonNeg
from lbdsl.prox.regularisers.l1 import L1
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.solvers import lifted
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.coordinate import CoordinateSettings, _Sweeps, shallow_structure, solve
from lbdsl.solvers.problems import InverseProblem, Term

from lifted_zoo import host, lifted as lift_zoo, output_of

ALPHA = 1e-2


def _problem(xp: Any = None, dtype: Any = None, lam: float = 1.0, batch: int = 8,
             noise: float = 1e-2) -> tuple[InverseProblem, np.ndarray]:
    lp = lift_zoo("shallow", xp, dtype)
    truth = np.linspace(0.0, 1.5, batch)[:, None]
    rng = np.random.default_rng(2)
    f = output_of("shallow", truth) + noise * rng.normal(size=(batch, 1))
    f_xp = lp.xp.asarray(f, dtype=lp.dtype)
    return InverseProblem(lp, f_xp, terms=(Term(ALPHA, L2Squared()),), lam=lam), truth


def test_the_structure_is_read_off_the_lifted_problem() -> None:
    net = shallow_structure(lift_zoo("shallow"))
    assert not isinstance(net, str)
    assert net.w == (1.0,) * 6 and len(net.c) == 6 and net.d == 0.0
    assert np.allclose(host(net.b), np.linspace(0, -1.2, 6))


@pytest.mark.parametrize("name, reason", [("ff3_mixed", "3 layers"), ("res_tied", "3 layers"),
                                          ("single_relu", "1 layers"),
                                          ("ff2_leaky", "2 layers|input has 4")])
def test_other_networks_are_refused_with_a_reason(name: str, reason: str) -> None:
    lp = lift_zoo(name)
    with pytest.raises(SolveError, match=reason):
        solve(InverseProblem(lp, np.zeros((1, lp.K.shape_out[0]))))


@pytest.mark.parametrize("terms, constraints", [((Term(0.1, L1()),), ()),
                                                ((Term(0.1, L2Squared()),), (NonNeg(),))])
def test_regularisers_other_than_l2sq_are_refused(terms: Any, constraints: Any) -> None:
    problem = InverseProblem(lift_zoo("shallow"), np.zeros((1, 1)), terms=terms,
                             constraints=constraints)
    with pytest.raises(SolveError, match="l2sq|½"):
        solve(problem)


def _objective(run: _Sweeps, u0: float, h: np.ndarray) -> float:
    return run.objective(np.asarray(u0), [np.asarray(v) for v in h])


@pytest.mark.parametrize("lam", [1.0, 4.0, math.inf])
def test_each_unit_update_is_the_exact_coordinate_minimiser(lam: float) -> None:
    problem, _ = _problem(lam=lam, batch=1)
    net = shallow_structure(problem.lifted)
    gamma = 1.0 if math.isinf(lam) else lam / (1 + lam)
    run = _Sweeps(net, np.asarray(float(problem.f[0, 0])), gamma, ALPHA)
    rng = np.random.default_rng(0)
    for _ in range(5):
        u0 = float(rng.normal())
        h = np.abs(rng.normal(size=6))
        for j in range(6):
            rest = sum(net.c[i] * h[i] for i in range(6) if i != j)
            new = float(run.unit(j, np.asarray(rest), np.asarray(u0)))

            def along(t: float) -> float:
                trial = h.copy()
                trial[j] = t
                return _objective(run, u0, trial)

            best = minimize_scalar(along, bounds=(0.0, 5.0), method="bounded",
                                   options={"xatol": 1e-12})
            assert new == pytest.approx(best.x, abs=1e-6)
            assert along(new) <= best.fun + 1e-12


def test_the_input_update_is_the_proximal_linear_step_and_descends() -> None:
    """The seed's u_0 update minimises the majoriser g(u_0) + g'(u_0)δ + ‖w‖²δ²/2 + α(u_0+δ)²/2,
    which is exact when every ReLU is active and a strict descent step otherwise."""
    problem, _ = _problem(batch=1)
    net = shallow_structure(problem.lifted)
    run = _Sweeps(net, np.asarray(float(problem.f[0, 0])), 0.5, ALPHA)
    h = [np.asarray(v) for v in np.abs(np.random.default_rng(1).normal(size=6))]
    for u0 in (2.0, 0.5):   # all units active; some inactive
        new = float(run.input_step(np.asarray(u0), h))

        def majoriser(t: float) -> float:
            x = np.asarray(net.w) * u0 + host(net.b)
            g = np.sum(np.asarray(net.w) * (np.maximum(x, 0) - np.asarray(h)))
            return g * (t - u0) + 0.5 * sum(w * w for w in net.w) * (t - u0) ** 2 + \
                0.5 * ALPHA * t * t

        best = minimize_scalar(majoriser, bounds=(-5, 5), method="bounded",
                               options={"xatol": 1e-12})
        assert new == pytest.approx(best.x, abs=1e-7)
        assert _objective(run, new, np.asarray(h)) <= _objective(run, u0, np.asarray(h)) + 1e-15
        exact = minimize_scalar(lambda t: _objective(run, t, np.asarray(h)), bounds=(-5, 5),
                                method="bounded", options={"xatol": 1e-12})
        if u0 == 2.0 and new > 1.2:   # every unit active at both points: the step is exact
            assert new == pytest.approx(exact.x, abs=1e-6)


def test_the_objective_decreases_monotonically() -> None:
    problem, _ = _problem()
    values: list[float] = []
    solve(problem, CoordinateSettings(Stopping(max_iter=400, tol=1e-14, check_every=1)),
          monitor=lambda k, m: values.append(m["objective"]))
    assert len(values) == 400
    assert all(b <= a + 1e-13 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("lam", [1.0, math.inf])
def test_coordinate_and_lifted_find_the_same_minimiser(lam: float) -> None:
    """Both minimise E with the linear layer kept as an identity-Ψ step: the seed's
    ``½|f − cᵀh|² + Σ B + (α/2)u²`` is λ = ∞; λ = 1 weighs the misfit by γ = ½."""
    problem, _ = _problem(lam=lam)
    coord = solve(problem, CoordinateSettings(Stopping(max_iter=30000, tol=1e-9)))
    lift = lifted.solve(problem, lifted.LiftedSettings(Stopping(max_iter=20000, tol=1e-10)))
    assert coord.stop_reason == "tol" and lift.stop_reason == "tol"
    assert np.max(np.abs(host(coord.u) - host(lift.u))) <= 1e-4
    assert np.max(np.abs(host(coord.lifted["z"]) - host(lift.lifted["z"]))) <= 1e-4
    assert np.max(np.abs(host(coord.lifted["u"]) - host(lift.lifted["u"]))) <= 1e-4
    assert coord.objective == pytest.approx(lift.objective, rel=1e-7)


def test_warm_start_and_interrupt() -> None:
    problem, _ = _problem()
    first = solve(problem, CoordinateSettings(Stopping(max_iter=30000, tol=1e-9)))
    again = solve(problem, CoordinateSettings(Stopping(max_iter=30000, tol=1e-9)),
                  x0=first.lifted)
    assert again.iterations <= 10 and again.stop_reason == "tol"

    def stop(k: int, metrics: dict[str, float]) -> None:
        raise KeyboardInterrupt

    cut = solve(problem, CoordinateSettings(Stopping(max_iter=100, tol=1e-14)), monitor=stop)
    assert cut.stop_reason == "interrupted" and cut.iterations == 10


def test_coordinate_on_every_backend_and_in_float32(xp: Any) -> None:
    problem, _ = _problem(xp, batch=3)
    ref, _ = _problem(batch=3)
    got = solve(problem, CoordinateSettings(Stopping(max_iter=200, tol=1e-12)))
    want = solve(ref, CoordinateSettings(Stopping(max_iter=200, tol=1e-12)))
    assert np.allclose(host(got.u), host(want.u), atol=1e-12)
    single, _ = _problem(xp, xp.float32, batch=3)
    # the same 200 sweeps in float32 follow the float64 ones up to rounding
    res32 = solve(single, CoordinateSettings(Stopping(max_iter=200, tol=1e-12)))
    assert res32.u.dtype == xp.float32 and res32.u.shape == (3, 1)
    assert np.allclose(host(res32.u), host(want.u), atol=1e-3)
