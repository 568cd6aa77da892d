"""``resume``: every solver stopped by its monitor (Ctrl-C) at a check and resumed from the
``state`` it returned ends exactly where a run that was never interrupted ends — the same
iterate bit for bit, the same iteration count, stop reason and history.  Also when the check it
was stopped in had already met the tolerance, and after more than one interruption."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lbdsl.prox.regularisers.indicators import NonNeg
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.prox.regularisers.tv import TV
from lbdsl.solvers import coordinate, gradient, lbfgs, lifted
from lbdsl.solvers.base import SolveResult, Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from lbdsl.solvers.problems import InverseProblem, Term
from lifted_zoo import host, lifted as lift_zoo, output_of
from pdhg_cases import CASES, instance, inverse_problem, lifted_single_layer


def _pdhg_problem() -> InverseProblem:
    W, b, f, _ = instance((6, 6), 24, "relu", 0)
    return inverse_problem(lifted_single_layer(W, b, "relu", (6, 6)), f, (6, 6),
                           **CASES["tv+nonneg"])


def _zoo_problem(name: str, n: int, fidelity: str = "bregman") -> InverseProblem:
    lp = lift_zoo(name)
    u = np.linspace(0.2, 1.0, n)
    f = output_of(name, u) + 0.01 * np.random.default_rng(3).standard_normal(
        output_of(name, u).shape)
    return InverseProblem(lp, lp.xp.asarray(f), terms=(Term(0.05, TV((n,))),),
                          constraints=(NonNeg(),), fidelity=fidelity)


def _shallow_problem() -> InverseProblem:
    lp = lift_zoo("shallow")
    truth = np.linspace(0.0, 1.5, 6)[:, None]
    f = output_of("shallow", truth) + 1e-2 * np.random.default_rng(2).normal(size=(6, 1))
    return InverseProblem(lp, lp.xp.asarray(f), terms=(Term(0.1, L2Squared()),))


def _stopping(max_iter: int, tol: float = 1e-14) -> Stopping:
    return Stopping(max_iter=max_iter, tol=tol, check_every=5)


#: name → (solve(problem, max_iter, tol, **kw), problem)
SOLVERS: dict[str, tuple[Callable[..., SolveResult], Callable[[], InverseProblem]]] = {
    **{f"pdhg-{v}": ((lambda v: lambda p, n, tol, **kw: pdhg(
        p, PDHGSettings(_stopping(n, tol), variant=v), **kw))(v), _pdhg_problem)
       for v in ("admm", "precond", "condat_vu")},
    "lifted": (lambda p, n, tol, **kw: lifted.solve(
        p, lifted.LiftedSettings(stopping=_stopping(n, tol)), **kw),
        lambda: _zoo_problem("ff2_leaky", 4)),
    "gradient": (lambda p, n, tol, **kw: gradient.solve(
        p, gradient.GradientSettings(stopping=_stopping(n, tol)), **kw),
        lambda: _zoo_problem("ff3_mixed", 3, "l2")),
    "lbfgs": (lambda p, n, tol, **kw: lbfgs.solve(
        p, lbfgs.LBFGSSettings(stopping=_stopping(n, tol), memory=4), **kw),
        lambda: dataclasses.replace(_pdhg_problem(), fidelity="l2")),
    "coordinate": (lambda p, n, tol, **kw: coordinate.solve(
        p, coordinate.CoordinateSettings(stopping=_stopping(n, tol)), **kw), _shallow_problem),
}


def _interrupt_at(*iterations: int) -> Callable[[int, dict[str, float]], None]:
    def monitor(k: int, metrics: dict[str, float]) -> None:
        if k in iterations:
            raise KeyboardInterrupt
    return monitor


def _same(a: SolveResult, b: SolveResult) -> None:
    assert np.array_equal(host(a.u), host(b.u))
    assert (a.iterations, a.stop_reason, a.objective) == (b.iterations, b.stop_reason,
                                                          b.objective)
    assert a.history.iteration == b.history.iteration
    assert a.history.metrics == b.history.metrics


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_interrupted_then_resumed_equals_uninterrupted(name: str) -> None:
    solve, make = SOLVERS[name]
    whole = solve(make(), 60, 1e-14)
    assert whole.stop_reason == "max_iter"
    part = solve(make(), 60, 1e-14, monitor=_interrupt_at(25))
    assert part.stop_reason == "interrupted" and part.iterations == 25
    assert part.state is not None and part.history.iteration[-1] == 25
    assert not np.array_equal(host(part.u), host(whole.u))   # it did stop early
    _same(solve(make(), 60, 1e-14, resume=part.state), whole)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_two_interruptions_and_a_longer_max_iter_on_resume(name: str) -> None:
    solve, make = SOLVERS[name]
    whole = solve(make(), 50, 1e-14)
    first = solve(make(), 30, 1e-14, monitor=_interrupt_at(10))
    second = solve(make(), 30, 1e-14, monitor=_interrupt_at(20), resume=first.state)
    assert (second.stop_reason, second.iterations) == ("interrupted", 20)
    _same(solve(make(), 50, 1e-14, resume=second.state), whole)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_a_max_iter_stop_on_the_check_grid_goes_on_under_a_larger_max_iter(name: str) -> None:
    """60 iterations, then on to 100, is 100 iterations; a stop off the grid (63) keeps no
    state: a longer run would not have checked there."""
    solve, make = SOLVERS[name]
    whole = solve(make(), 100, 1e-14)
    first = solve(make(), 60, 1e-14)
    assert first.stop_reason == "max_iter" and first.state is not None
    _same(solve(make(), 100, 1e-14, resume=first.state), whole)
    assert solve(make(), 63, 1e-14).state is None


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_a_ctrl_c_at_the_check_that_meets_the_tolerance_is_not_an_interruption(name: str,
                                                                              ) -> None:
    """Every solver shows each check to the monitor, the converging one too, and a Ctrl-C
    there ends the run as it ended without one: converged, nothing to resume."""
    solve, make = SOLVERS[name]
    whole = solve(make(), 5000, 1e-4)
    assert whole.stop_reason == "tol"
    seen: list[int] = []

    def monitor(k: int, metrics: dict[str, float]) -> None:
        seen.append(k)
        _interrupt_at(whole.iterations)(k, metrics)

    part = solve(make(), 5000, 1e-4, monitor=monitor)
    assert seen[-1] == whole.iterations
    assert (part.stop_reason, part.state) == ("tol", None)
    _same(part, whole)


def test_pdhg_refuses_a_state_of_another_variant() -> None:
    from lbdsl.errors import SolveError
    part = pdhg(_pdhg_problem(), PDHGSettings(_stopping(40), variant="admm"),
                monitor=_interrupt_at(10))
    with pytest.raises(SolveError, match="cannot resume a `admm` run with the `precond`"):
        pdhg(_pdhg_problem(), PDHGSettings(_stopping(40), variant="precond"),
             resume=part.state)


def test_the_state_is_what_the_solver_keeps_and_nothing_it_can_recompute() -> None:
    part = lifted.solve(_zoo_problem("ff2_leaky", 4),
                        lifted.LiftedSettings(stopping=_stopping(40)), monitor=_interrupt_at(10))
    state: dict[str, Any] = part.state
    assert state["k"] == 10 and state["history"].iteration == [5, 10]
    assert state["iteration"]["problem"]["dual"] is not None  # the TV prox's warm start is kept
    assert state["iteration"]["problem"]["inner_iterations"] == part.lifted["inner_iterations"]


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_a_ctrl_c_at_the_last_check_is_not_an_interruption(name: str) -> None:
    """At ``max_iter`` (here off the check grid) the run is over: it ends as it would have,
    with nothing to resume — a state from there would add a check a longer run never makes."""
    solve, make = SOLVERS[name]
    whole = solve(make(), 63, 1e-14)
    last = solve(make(), 63, 1e-14, monitor=_interrupt_at(63))
    assert last.stop_reason == "max_iter" and last.state is None
    _same(last, whole)


#: a function each solver calls inside its loop, outside the monitor: (module, name)
INSIDE = {"lifted": ("lbdsl.solvers.fista", "norm"), "gradient": ("lbdsl.solvers.fista", "norm"),
          "lbfgs": ("lbdsl.solvers.lbfgs", "norm"),
          "coordinate": ("lbdsl.solvers.coordinate", "_diff_norm"),
          "pdhg-admm": ("lbdsl.solvers.pdhg.driver", "relative_change")}


@pytest.mark.parametrize("name", sorted(INSIDE))
def test_a_ctrl_c_outside_the_monitor_propagates(name: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the monitor's interrupt is a clean stop; a second Ctrl-C in the middle of an
    iteration is the user's way to stop at once, and must not pass for a resumable stop."""
    import importlib

    solve, make = SOLVERS[name]
    module, attr = INSIDE[name]
    original = getattr(importlib.import_module(module), attr)
    calls = []

    def interrupted(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(f"{module}.{attr}", interrupted)
    with pytest.raises(KeyboardInterrupt):
        solve(make(), 60, 1e-14)
