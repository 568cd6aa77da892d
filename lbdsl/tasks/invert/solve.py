"""Running an ``invert`` task: the solver (chosen and configured), the α rule, the baseline.

The stages before this one (data, lift, certificate, projection) are the task's run in
:mod:`lbdsl.tasks.invert`; this module only runs solvers on the lowered problem:

* ``alpha`` fixed: one solve; ``apriori`` / ``discrepancy`` / ``sweep``: the rules of
  :mod:`lbdsl.solvers.alpha`, which call back ``solve(alpha, x0)`` (warm-started unless the
  solver says ``warm_start = false``); ``delta = auto`` is the true norm of the synthetic noise;
* ``baseline = true``: the quadratic-fidelity problem on the same (unprojected) data at the same
  α, by the ``auto`` solver of ``fidelity = l2`` (``lbfgs``) with the task's ``max_iter`` and
  ``tol``, from 0;
* ``fidelity = hybrid``: after the Bregman solve(s), the same quadratic problem from the Bregman
  solution (the *refinement*: one more solve, at the chosen α, recorded after the others); its
  result is the task's, the Bregman one is kept as ``start``;
* every solve shows a :class:`~lbdsl.tasks.progress.Progress` and honours Ctrl-C through the
  monitor;
* ``replay`` (``--resume``, :mod:`.checkpoint`): the solves an interrupted run finished
  are taken from its checkpoint instead of being run again, in the order the run made them,
  and the one it was stopped in goes on from its solver state.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console

from ...backend import to_numpy
from ...errors import LbdslError, SolveError, SpecError
from ...ir.tasks.records import AlphaRule, DiscrepancyAlpha, FixedAlpha, InvertTask, SweepAlpha
from ...lift.compact import LiftedProblem
from ...solvers import alpha as rules
from ...solvers import registry as solvers
from ...solvers.base import SolveResult
from ...solvers.info import SolverInfo
from ...solvers.problems import InverseProblem
from .. import checkpoint as ck
from .. import report as rp
from . import lower as lw
from ..data import Observed
from ..figures import is_image
from ..progress import InterruptGuard, Progress
from .checkpoint import Stored

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
    start: SolveResult | None = None     # fidelity = hybrid: the Bregman stage's result
    start_time_s: float | None = None
    refine_solver: str | None = None
    refine_settings: Any = None
    solves: list[tuple[float, SolveResult]] = dataclasses.field(default_factory=list)
    resumed_from: dict[str, Any] | None = None   # what a --resume took from the checkpoint
    groups: list[dict[str, Any]] | None = None   # chunk = K: how each group of rows ended
    stop_requested: bool = False   # Ctrl-C during this task: the run stops after it
    complete: bool = True          # every solve the task needs was made to its end
    misfit_ratio: float | None = None   # F(u*) / (½σ²m), :func:`.threshold.misfit_ratio`

    def stored(self, max_iter: int) -> Stored:
        """What the checkpoint of this run holds (its solvers ran under ``max_iter``)."""
        return Stored(list(self.solves), self.baseline, self.time_s,
                      self.baseline_time_s or 0.0, complete=self.complete, max_iter=max_iter,
                      alpha=self.alpha)

    @property
    def interrupted(self) -> bool:
        return self.stop_requested or not self.complete


def _solver(name: str, spec_solver: Any, common_only: bool = False) -> tuple[SolverInfo, Any]:
    """The solver ``name`` and its settings from the spec's ``solver(...)``."""
    info = solvers.SOLVERS[name]
    settings = lw.solver_settings(name, spec_solver, info.settings, spec_solver.spans,
                                  common_only=common_only)
    return info, settings


def _solve(info: SolverInfo, problem: InverseProblem, settings: Any, label: str,
           console: Console, guard: InterruptGuard, stored: SolveResult | None = None,
           x0: Any = None) -> SolveResult:
    """One solve with its progress line, stopped at its next check by a Ctrl-C (``guard``),
    going on from ``stored``'s state where it has one; ``x0`` a previous result (the solver
    takes its warm start from it) or a starting input."""
    start = info.warm_start(x0) if isinstance(x0, SolveResult) else x0
    with Progress(console, label, settings.stopping.max_iter) as bar:
        def monitor(iteration: int, metrics: dict[str, float]) -> None:
            bar(iteration, metrics)
            guard.check()
        return _call(info.solve, problem, settings, stored, x0=start, monitor=monitor)


def _delta(rule: AlphaRule, observed: Observed) -> float | None:
    if rule.delta is None:      # a sweep without delta: picked at the L-curve's corner
        return None
    if rule.delta != "auto":
        return float(rule.delta)
    if observed.noise_norm is None:  # the IR refuses this combination
        raise SpecError.at(rule.spans.get("delta", rule.span), "`delta = auto` needs "
                           "synthetic noise, but the data has none")
    return float(observed.noise_norm)


def run(task: InvertTask, lp: LiftedProblem, f_solver: np.ndarray, f_raw: np.ndarray,
        observed: Observed, console: Console, replay: Stored | None = None,
        points: Callable[[list[float]], list[SolveResult]] | None = None) -> Solved:
    """Solve ``task`` on ``lp`` from the data ``f_solver`` (projected) / ``f_raw`` (as given),
    taking the solves ``replay`` holds from it (``--resume``).  ``points``: where the points
    of a sweep without warm starts are solved (Dask workers, each by :func:`sweep_point`; the
    rule then takes them as if solved here).

    A first Ctrl-C during the solves stops the running solver at its next check (its last
    iterate comes back with ``stop_reason = "interrupted"``) and skips the remaining solves.
    """
    stored = replay or Stored()
    prefetched, elsewhere_s = None, 0.0
    grid = independent_points(task) if points is not None and not stored.solves else None
    if grid is not None:
        # outside the guard: a Ctrl-C while the workers solve must reach the Dask stop
        console.print(f"  sweep: {len(grid)} points without warm starts, on the Dask workers",
                      highlight=False)
        began = time.perf_counter()
        prefetched = (grid, points(grid))
        elsewhere_s = time.perf_counter() - began
    with InterruptGuard() as guard:
        return _run(task, lp, f_solver, f_raw, observed, console, guard, stored, prefetched,
                    elsewhere_s)


def _call(solve: Callable[..., SolveResult], problem: InverseProblem, settings: Any,
          stored: SolveResult | None, **kwargs: Any) -> SolveResult:
    """``solve(problem, settings, **kwargs)``, going on from ``stored``'s state if it has one;
    a state that does not fit the problem (a checkpoint edited by hand) is one line."""
    if stored is None or stored.state is None:
        return solve(problem, settings, **kwargs)
    try:
        return solve(problem, settings, resume=stored.state, **kwargs)
    except LbdslError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise SolveError(f"cannot resume from the checkpoint: the solver state in it does not "
                         f"fit this problem ({ck.reason(exc)}); run without --resume to start "
                         "over") from None


class _RuleStopped(Exception):
    """Ctrl-C during an α rule: raised at the rule's next solve, so that it stops there."""


class _Replay:
    """The solves of a checkpoint (``--resume``), taken in order while they fit this run.

    Each stored solve is either *taken* as it is (it finished under this run's ``max_iter``, or
    met ``tol`` at a check on the grid within it), or *gone on from* (its solver state: it was
    interrupted, or it stopped at a ``max_iter`` on the check grid that has since been raised),
    or neither (it is solved again).  The first solve not taken as it is ends the replay: what
    follows it was computed from it.
    """

    def __init__(self, stored: Stored, max_iter: int, check_every: int,
                 shape: tuple[int, ...]) -> None:
        self.stored, self.max_iter, self.shape = stored, max_iter, shape
        self.check_every = check_every
        self.same_limit = stored.max_iter == max_iter
        self.intact = True
        self.taken = 0
        self.baseline_taken = False
        self.resumed_at: int | None = None            # where the main solve went on from
        self.baseline_resumed_at: int | None = None   # and the baseline

    def solve(self, index: int, alpha: float) -> tuple[SolveResult | None, bool]:
        """``(stored solve, go on from it?)`` for this run's ``index``-th solve at ``alpha``;
        ``(None, False)``: solve it."""
        if not self.intact or index >= len(self.stored.solves):
            self.intact = False
            return None, False
        stored_alpha, result = self.stored.solves[index]
        if stored_alpha != alpha:  # the fingerprint rules this out; an edited file does not
            raise SolveError(f"cannot resume: solve {index + 1} of the checkpoint is at α = "
                             f"{stored_alpha:.17g}, this run asks for α = {alpha:.17g}; run "
                             "without --resume to start over")
        used, at = self._usable(result, f"solve {index + 1}")
        self.intact = used is not None and at is None
        self.taken += used is not None
        self.resumed_at = at if at is not None else self.resumed_at
        return used, at is not None

    def baseline(self, alpha: float) -> tuple[SolveResult | None, bool]:
        """The same for the baseline, if it was solved at this ``alpha`` (it depends on the
        main solves through α only)."""
        stored = self.stored.baseline
        if stored is None or self.stored.alpha != alpha:
            return None, False
        used, at = self._usable(stored, "the baseline")
        self.baseline_taken = used is not None
        self.baseline_resumed_at = at
        return used, at is not None

    def _usable(self, result: SolveResult, what: str) -> tuple[SolveResult | None, int | None]:
        """``(result, None)``: take it as it is; ``(result, k)``: go on from its state at
        iteration ``k``; ``(None, None)``: solve it again."""
        if tuple(result.u.shape) != self.shape:
            raise SolveError(f"cannot resume: {what} of the checkpoint has u of shape "
                             f"{tuple(result.u.shape)}, this problem's is {self.shape}; run "
                             "without --resume to start over")
        if result.stop_reason != "interrupted" and (self.same_limit or self._converged(result)):
            return result, None
        k = int(result.state.get("k", result.iterations)) if result.state else None
        if result.stop_reason == "interrupted" and k is not None:
            if k > self.max_iter:
                raise SolveError(f"cannot resume: {what} of the checkpoint is at iteration "
                                 f"{k}, beyond max_iter = {self.max_iter}")
            return result, k
        if result.stop_reason == "max_iter" and k is not None and k < self.max_iter:
            return result, k
        return None, None

    def _converged(self, result: SolveResult) -> bool:
        """A ``tol`` stop at a check on the grid, within this run's limit: a run under this
        ``max_iter`` makes the same checks up to there, and stops there too."""
        k = result.iterations
        return result.stop_reason == "tol" and k % self.check_every == 0 and k <= self.max_iter

    def report(self) -> dict[str, Any] | None:
        """For the report: what this run took from the checkpoint (None: nothing)."""
        if not self.taken and not self.baseline_taken:
            return None
        return {"solves": self.taken, "iteration": self.resumed_at,
                "baseline": self.baseline_taken, "baseline_iteration": self.baseline_resumed_at}


def independent_points(task: InvertTask) -> list[float] | None:
    """The α of a sweep whose points do not depend on each other (``warm_start = false``),
    largest first as the sweep solves them; None for any other rule."""
    rule = task.alpha
    if not isinstance(rule, SweepAlpha) or lw.warm_start(task.solver):
        return None
    return sorted(rules.sweep_grid(rule.lo, rule.hi, rule.n), reverse=True)


def sweep_point(task: InvertTask, lp: LiftedProblem, f_solver: np.ndarray, alpha: float,
                console: Console) -> SolveResult:
    """One point of a sweep without warm starts: the solve at ``alpha`` from the start, as the
    sweep makes it here (a Ctrl-C, or the run's stop event on a worker, ends it at a check)."""
    name, _ = lw.choose_solver(task, lp)
    info, settings = _solver(name, task.solver)
    problem = lw.lower(task, lp, f_solver, 1.0)
    with InterruptGuard() as guard:
        return _solve(info, lw.at_alpha(problem, task, alpha), settings,
                      f"{name} α={alpha:.3g}", console, guard)


def _points_taken(prefetched: tuple[list[float], list[Any]] | None,
                  guard: InterruptGuard) -> dict[float, SolveResult]:
    """The sweep points the workers solved, by α, that the rule may use: after a stop the
    sweep ends as a serial one would — at the first point that did not start (None), or just
    after the first one interrupted (``guard`` then says so)."""
    if prefetched is None:
        return {}
    grid, results = prefetched
    reached = next((k for k, r in enumerate(results) if r is None), len(results))
    cut = next((k + 1 for k, r in enumerate(results[:reached])
                if r.stop_reason == "interrupted"), reached)
    if cut == 0:
        raise KeyboardInterrupt            # stopped before any point ran: not run
    if cut < len(results):
        guard.requested = True
    return dict(zip(grid[:cut], results[:cut]))


def _run(task: InvertTask, lp: LiftedProblem, f_solver: np.ndarray, f_raw: np.ndarray,
         observed: Observed, console: Console, guard: InterruptGuard, stored: Stored,
         prefetched: tuple[list[float], list[Any]] | None = None,
         elsewhere_s: float = 0.0) -> Solved:
    name, reason = lw.choose_solver(task, lp)
    info, settings = _solver(name, task.solver)
    console.print(f"  solver: {name} ({reason})", highlight=False)
    rule = task.alpha
    alpha0 = rule.value if isinstance(rule, FixedAlpha) else 1.0
    problem = lw.lower(task, lp, f_solver, alpha0)
    solvers.require(name, problem)
    shape = (*observed.batch, *problem.input_shape)
    replay = _Replay(stored, task.solver.max_iter, settings.stopping.check_every, shape)
    done: list[tuple[float, SolveResult]] = []
    solved_elsewhere = _points_taken(prefetched, guard)

    def solve_at(alpha: float, x0: Any = None, label: str | None = None) -> SolveResult:
        if alpha in solved_elsewhere:           # a point a worker solved, from the start
            result = solved_elsewhere.pop(alpha)
            done.append((alpha, result))
            if result.stop_reason == "interrupted":
                guard.requested = True
            return result
        if guard.requested and done:
            raise _RuleStopped
        label = label or f"{name} α={alpha:.3g}"
        kept, goes_on = replay.solve(len(done), alpha)
        if kept is not None and not goes_on:
            console.print(f"  {label}: from the checkpoint ({kept.iterations} iterations, "
                          f"{kept.stop_reason})", highlight=False)
            done.append((alpha, kept))
            return kept
        if goes_on:
            label += f", resumed at iteration {replay.resumed_at}"
        result = _solve(info, lw.at_alpha(problem, task, alpha), settings, label, console,
                        guard, kept, x0)
        done.append((alpha, result))
        return result

    start = time.perf_counter()
    alpha, result, info, cut_short = _alpha_stage(task, problem, observed, solve_at, done, name,
                                                  console)
    unfinished = any(r.stop_reason == "interrupted" for _, r in done)
    # the points solved on the workers: the seconds this process waited for them
    elapsed = (time.perf_counter() - start + elsewhere_s
               + (stored.time_s if replay.taken else 0.0))
    refine = None
    if task.fidelity == "hybrid" and not guard.requested and not unfinished and not cut_short:
        refine = _refine(task, lp, f_raw, alpha, result, console, guard, replay, done)
    solved = Solved(result, alpha, info, name, reason, settings, elapsed, solves=done)
    if refine is not None:
        solved.start, solved.start_time_s = result, elapsed
        solved.result, solved.refine_solver, solved.refine_settings, refine_time = refine
        solved.time_s = elapsed + refine_time
    if task.baseline and not guard.requested:
        _run_baseline(task, lp, f_raw, alpha, console, guard, solved, replay)
    solved.resumed_from = replay.report()
    solved.stop_requested = guard.requested
    solved.complete = not cut_short and not unfinished and _stages_finished(task, solved)
    return solved


def _alpha_stage(task: InvertTask, problem: Any, observed: Observed,
                 solve_at: Callable[..., SolveResult], done: list[tuple[float, SolveResult]],
                 name: str, console: Console) -> tuple[float, SolveResult, dict[str, Any], bool]:
    """``(α, result, info, cut_short)``: the fixed α's solve, or the rule's choice (cut short by
    a stop: its last solve), said in one line."""
    rule = task.alpha
    if isinstance(rule, FixedAlpha):
        result = solve_at(rule.value, label=name)
        return float(rule.value), result, {"rule": "fixed", "value": float(rule.value)}, False
    cut_short = False
    try:
        alpha, result, info = _choose_alpha(rule, task, problem, observed, solve_at)
    except _RuleStopped:
        cut_short = True
        alpha, result = done[-1]
        info = {"rule": type(rule).__name__.removesuffix("Alpha").lower(),
                "tried": [{"alpha": a} for a, _ in done],
                "note": "interrupted before the rule had chosen: its last solve"}
    if not cut_short and any(r.stop_reason == "interrupted" for _, r in done):
        info["note"] = "interrupted: the rule's last decision rests on a solve that did not finish"
    console.print(f"  alpha: {alpha:.6g} ({info.get('rule', 'rule')}, "
                  f"{len(info.get('tried', [])) or 1} solve(s))"
                  + (f"; {info['note']}" if info.get("note") else ""), highlight=False)
    return alpha, result, info, cut_short


def _stages_finished(task: InvertTask, solved: Solved) -> bool:
    """Whether the baseline and the hybrid's second stage, where asked for, ran to their end."""
    baseline = not task.baseline or (solved.baseline is not None
                                     and solved.baseline.stop_reason != "interrupted")
    hybrid = task.fidelity != "hybrid" or (solved.start is not None
                                           and solved.result.stop_reason != "interrupted")
    return baseline and hybrid


def _refine(task: InvertTask, lp: LiftedProblem, f_raw: np.ndarray, alpha: float,
            start: SolveResult, console: Console, guard: InterruptGuard, replay: _Replay,
            done: list[tuple[float, SolveResult]]) -> tuple[SolveResult, str, Any, float]:
    """``fidelity = hybrid``'s second stage: the quadratic problem on the raw data at ``alpha``
    from the Bregman solution ``start``; ``(result, solver, settings, seconds)``."""
    name, _ = lw.choose_solver(task, lp, fidelity="l2")
    info, settings = _solver(name, task.solver, common_only=True)
    console.print(f"  refine: quadratic fidelity from the Bregman solution, solver {name}",
                  highlight=False)
    began = time.perf_counter()
    kept, goes_on = replay.solve(len(done), alpha)
    if kept is not None and not goes_on:
        console.print(f"  refine {name}: from the checkpoint ({kept.iterations} iterations, "
                      f"{kept.stop_reason})", highlight=False)
        done.append((alpha, kept))
        return kept, name, settings, 0.0   # its time is in the checkpoint's total
    problem = lw.lower(task, lp, f_raw, alpha, fidelity="l2")
    label = f"refine {name}" + (f", resumed at iteration {replay.resumed_at}" if goes_on else "")
    result = _solve(info, problem, settings, label, console, guard, kept, start.u)
    done.append((alpha, result))
    return result, name, settings, time.perf_counter() - began


def _choose_alpha(rule: AlphaRule, task: InvertTask, problem: InverseProblem,
                  observed: Observed, solve_at: Callable[..., SolveResult],
                  ) -> tuple[float, SolveResult, dict]:
    """α by the a-priori rule, the discrepancy principle or a sweep of
    :mod:`lbdsl.solvers.alpha`; a sweep's rows get PSNR/SSIM where the truth is known."""
    delta = _delta(rule, observed)
    warm = lw.warm_start(task.solver)
    quality = None
    if isinstance(rule, SweepAlpha) and observed.truth is not None:
        image = is_image(tuple(problem.input_shape)) and not observed.batch

        def quality(result: SolveResult) -> dict[str, Any]:
            q = rp.quality(observed.truth, to_numpy(result.u), image)
            return {"psnr": q["psnr"], "ssim": q["ssim"]}
    # δ is the distance of the data as measured from the clean data, so the residual is too
    # (the thresholded data are nearer N(u†) than δ: against them the rule over-smooths)
    measured = np.ascontiguousarray(observed.f.reshape(*observed.batch, -1))
    return rules.choose(_rule(rule), problem, delta, solve_at, warm_start=warm,
                        truth=observed.truth, quality=quality, measured=measured)


def _rule(rule: AlphaRule) -> rules.Rule:
    """The spec's α rule as the rules of :mod:`lbdsl.solvers.alpha` take it."""
    if isinstance(rule, SweepAlpha):
        return rules.Sweep(rule.lo, rule.hi, rule.n, rule.pick, rule.tau)
    if isinstance(rule, DiscrepancyAlpha):
        return rules.Discrepancy(rule.tau, rule.alpha0, rule.q, rule.max_tries)
    return rules.Apriori(rule.scale)


def _run_baseline(task: InvertTask, lp: LiftedProblem, f_raw: np.ndarray, alpha: float,
                  console: Console, guard: InterruptGuard, solved: Solved,
                  replay: _Replay) -> None:
    name, reason = lw.choose_solver(task, lp, fidelity="l2")
    info, settings = _solver(name, task.solver, common_only=True)
    console.print(f"  baseline: quadratic fidelity, solver {name}", highlight=False)
    start = time.perf_counter()
    stored, goes_on = replay.baseline(alpha)
    if stored is not None and not goes_on:
        console.print(f"  baseline {name}: from the checkpoint ({stored.iterations} "
                      f"iterations, {stored.stop_reason})", highlight=False)
        result = stored
    else:
        problem = lw.lower(task, lp, f_raw, alpha, fidelity="l2")
        label = f"baseline {name}" + (f", resumed at iteration {replay.baseline_resumed_at}"
                                      if stored is not None else "")
        result = _solve(info, problem, settings, label, console, guard, stored)
    solved.baseline = result
    solved.baseline_settings = settings
    solved.baseline_solver = name
    solved.baseline_time_s = time.perf_counter() - start + (
        replay.stored.baseline_time_s if stored is not None else 0.0)
