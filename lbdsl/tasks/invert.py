"""Running an ``invert`` task: the solver (chosen and configured), the α rule, the baseline.

The stages before this one (data, lift, certificate, projection) are :mod:`lbdsl.pipeline`'s;
this module only runs solvers on the lowered problem:

* ``alpha`` fixed: one solve; ``apriori`` / ``discrepancy``: the rules of
  :mod:`lbdsl.solvers.alpha`, which call back ``solve(alpha, x0)`` (warm-started unless the
  solver says ``warm_start = false``); ``delta = auto`` is the true norm of the synthetic noise;
* ``baseline = true``: the quadratic-fidelity problem on the same (unprojected) data at the same
  α, by the ``gradient`` solver with the task's ``max_iter`` and ``tol``;
* every solve shows a :class:`~.progress.Progress` and honours Ctrl-C through the monitor.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console

from ..errors import SolveError, SpecError
from ..ir.tasks.model import AprioriAlpha, DiscrepancyAlpha, FixedAlpha, InvertTask
from ..lift.compact import LiftedProblem
from ..solvers.base import SolveResult
from ..solvers.problems import InverseProblem
from . import lower as lw
from .data import Observed
from .progress import InterruptGuard, Progress

__all__ = ["Solved", "run"]


@dataclass
class Solved:
    """The outcome of the solver runs of one task."""

    result: SolveResult
    alpha: float
    rule: dict[str, Any]
    solver: str
    reason: str
    settings: Any
    time_s: float
    baseline: SolveResult | None = None
    baseline_settings: Any = None
    baseline_solver: str | None = None
    baseline_time_s: float | None = None

    @property
    def interrupted(self) -> bool:
        return self.result.stop_reason == "interrupted" or (
            self.baseline is not None and self.baseline.stop_reason == "interrupted")


def _solver(name: str, spec_solver: Any, common_only: bool = False) -> tuple[Callable, Any]:
    entry = lw.SOLVERS.get(name)
    if entry is None:  # pragma: no cover - the IR only admits known names
        raise SolveError(f"unknown solver `{name}`")
    solve, settings_cls = entry.load()
    settings = lw.solver_settings(name, spec_solver, settings_cls, spec_solver.spans,
                                  common_only=common_only)
    return solve, settings


def _max_iter(settings: Any, fallback: int) -> int:
    stopping = getattr(settings, "stopping", None)
    return int(getattr(stopping, "max_iter", getattr(settings, "max_iter", fallback)))


def _delta(rule: AprioriAlpha | DiscrepancyAlpha, observed: Observed) -> float:
    if rule.delta != "auto":
        return float(rule.delta)
    if observed.noise_norm is None:  # the IR refuses this combination
        raise SpecError.at(rule.spans.get("delta", rule.span), "`delta = auto` needs "
                           "synthetic noise, but the data has none")
    return float(observed.noise_norm)


def run(task: InvertTask, lp: LiftedProblem, f_solver: np.ndarray, f_raw: np.ndarray,
        observed: Observed, console: Console) -> Solved:
    """Solve ``task`` on ``lp`` from the data ``f_solver`` (projected) / ``f_raw`` (as given).

    A first Ctrl-C during the solves stops the running solver at its next check (its last
    iterate comes back with ``stop_reason = "interrupted"``) and skips the remaining solves.
    """
    with InterruptGuard() as guard:
        return _run(task, lp, f_solver, f_raw, observed, console, guard)


def _run(task: InvertTask, lp: LiftedProblem, f_solver: np.ndarray, f_raw: np.ndarray,
         observed: Observed, console: Console, guard: InterruptGuard) -> Solved:
    name, reason = lw.choose_solver(task, lp)
    solve, settings = _solver(name, task.solver)
    console.print(f"  solver: {name} ({reason})", highlight=False)
    total = _max_iter(settings, task.solver.max_iter)
    rule = task.alpha
    alpha0 = rule.value if isinstance(rule, FixedAlpha) else 1.0
    problem = lw.lower(task, lp, f_solver, alpha0)

    last: list[SolveResult] = []

    def solve_at(alpha: float, x0: Any = None, label: str | None = None) -> SolveResult:
        if guard.requested and last:  # Ctrl-C during an α rule: let it finish at once
            return last[-1]
        with Progress(console, label or f"{name} α={alpha:.3g}", total) as bar:
            def monitor(iteration: int, metrics: dict[str, float]) -> None:
                bar(iteration, metrics)
                guard.check()
            result = solve(lw.at_alpha(problem, task, alpha), settings,
                           x0=_start(name, x0), monitor=monitor)
        last.append(result)
        return result

    start = time.perf_counter()
    if isinstance(rule, FixedAlpha):
        result = solve_at(rule.value, label=name)
        alpha, info = float(rule.value), {"rule": "fixed", "value": float(rule.value)}
    else:
        alpha, result, info = _choose_alpha(rule, task, problem, observed, solve_at)
        console.print(f"  alpha: {alpha:.6g} ({info.get('rule', 'rule')}, "
                      f"{len(info.get('tried', [])) or 1} solve(s))"
                      + (f"; {info['note']}" if info.get("note") else ""), highlight=False)
    elapsed = time.perf_counter() - start
    if guard.requested and result.stop_reason != "interrupted":
        result = dataclasses.replace(result, stop_reason="interrupted",
                                     message="interrupted during the choice of alpha")
    solved = Solved(result, alpha, info, name, reason, settings, elapsed)
    if task.baseline and not guard.requested:
        _run_baseline(task, lp, f_raw, alpha, console, guard, solved)
    return solved


def _start(name: str, x0: Any) -> Any:
    """A warm start in the form each solver takes: ``pdhg`` reads a whole previous
    :class:`SolveResult` (iterate and dual), ``lifted`` its lifted variables, the others the
    input ``u``."""
    if not isinstance(x0, SolveResult):
        return x0
    if name == "pdhg":
        return x0
    if name == "lifted" and {"u", "z"} <= set(x0.lifted):
        return {"u": x0.lifted["u"], "z": x0.lifted["z"]}
    return x0.u


def _choose_alpha(rule: AprioriAlpha | DiscrepancyAlpha, task: InvertTask,
                  problem: InverseProblem, observed: Observed,
                  solve_at: Callable[..., SolveResult]) -> tuple[float, SolveResult, dict]:
    """α by the a-priori rule or the discrepancy principle of :mod:`lbdsl.solvers.alpha`."""
    try:
        from ..solvers import alpha as rules
    except ModuleNotFoundError as exc:
        if exc.name != "lbdsl.solvers.alpha":
            raise
        raise SolveError("parameter-choice rules (apriori, discrepancy) are not available in "
                         "this version of lbdsl; give alpha as a number") from None
    delta = _delta(rule, observed)
    warm = lw.warm_start(task.solver)
    return rules.choose(rule, problem, delta, solve_at, warm_start=warm,
                        truth=observed.truth)


def _run_baseline(task: InvertTask, lp: LiftedProblem, f_raw: np.ndarray, alpha: float,
                  console: Console, guard: InterruptGuard, solved: Solved) -> None:
    name, reason = lw.choose_solver(task, lp, fidelity="l2")
    solve, settings = _solver(name, task.solver, common_only=True)
    console.print(f"  baseline: quadratic fidelity, solver {name}", highlight=False)
    problem = lw.lower(task, lp, f_raw, alpha, fidelity="l2")
    start = time.perf_counter()
    with Progress(console, f"baseline {name}", _max_iter(settings, task.solver.max_iter)) as bar:
        def monitor(iteration: int, metrics: dict[str, float]) -> None:
            bar(iteration, metrics)
            guard.check()
        result = solve(problem, settings, x0=None, monitor=monitor)
    solved.baseline = result
    solved.baseline_settings = settings
    solved.baseline_solver = name
    solved.baseline_time_s = time.perf_counter() - start
